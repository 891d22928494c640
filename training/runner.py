"""Running a trainer from its command line, the same for `train llc` (training/cli.py) and `train hlc`
(training/hlc_cli.py): the networks' device for --device, the checkpoint --resume names, loading it, training to
the end."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from controllers.checkpoint import CheckpointError


def checkpoint_to_resume(resume: str, out: str | None, default_out: str) -> Path:
    """The file of `--resume [FILE]`: FILE, or OUT/checkpoint.pt for a bare --resume ("auto")."""
    return Path(out or default_out) / "checkpoint.pt" if resume == "auto" else Path(resume)


def network_device(device: str) -> str:
    """The torch device of the networks for --device: the GPU for cuda[:K], else the CPU (cpu, warp-cpu).
    CudaUnavailableError (one line) when torch sees no such CUDA device, ValueError for a malformed name."""
    if not device.startswith("cuda"):
        return "cpu"
    import torch

    from sim.warp_backend import CudaUnavailableError

    if not torch.cuda.is_available():
        raise CudaUnavailableError("no CUDA device found (torch sees none); use --device cpu")
    try:
        index = torch.device(device).index or 0
    except RuntimeError:
        raise ValueError(f"unknown device {device!r}: use cpu, cuda[:K] or warp-cpu") from None
    if index >= torch.cuda.device_count():
        raise CudaUnavailableError(f"no CUDA device {index} (torch sees {torch.cuda.device_count()}); use --device cpu")
    return device


def resume_into(trainer: Any, path: Path, dist: Any) -> str | None:
    """Load a resumable checkpoint into the trainer; the problem, or None."""
    try:
        trainer.load(path)
    except (CheckpointError, ValueError) as exc:
        return str(exc)
    if dist.is_main:
        print(f"resumed {path} at iteration {trainer.iteration} ({trainer.global_step} samples)")
    return None


def run_to_end(trainer: Any, kind: str, out: Path, iterations: int | None, dist: Any, progress: bool) -> int:
    """Train until `iterations` (default: the sample budget). Ctrl-C saves and says how to resume (exit 130);
    under torchrun the process group is closed either way."""
    try:
        trainer.train(iterations, out, progress=progress)
    except KeyboardInterrupt:
        if dist.is_main:
            resume = f"python launch.py train {kind} --resume {out / 'checkpoint.pt'}"
            print(f"stopped; resume with: {resume}", file=sys.stderr)
        return 130
    finally:
        if dist.active:
            import torch.distributed

            torch.distributed.destroy_process_group()
    if dist.is_main:
        print(f"done: {trainer.iteration} iterations, {trainer.global_step} samples; controller: {out / f'{kind}.pt'}")
    return 0
