"""Training throughput on the MuJoCo Warp backend: the full LLC loop with the `reference` preset at 4096
characters beside stepping the same environment without networks, in the same run (bench/train_throughput.py).

    python launch.py bench gpu_throughput [--device cuda] [--envs 4096] [--iterations 4]

Without CUDA it runs on Warp's CPU device at 16 characters with the `cpu` preset and says so: those figures
check the plumbing, they are not GPU figures. The networks, buffers and update run on the GPU with the physics,
and the environment's observations and bookkeeping stay there as torch tensors (pass `--arrays host` for the
host-copy environment, to compare).
The ASE reference trained ~12k samples/s on one A100, and the target is 5x that on one H100/H200-class GPU.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda")
    p.add_argument("--envs", type=int)
    p.add_argument("--iterations", type=int, default=4)
    args, rest = p.parse_known_args(argv)

    from bench import train_throughput
    from sim.warp_backend import CudaUnavailableError, warp_device
    from training.runner import network_device

    try:
        warp_device(args.device)  # the physics
        network_device(args.device)  # the networks (torch)
        device, envs, preset = args.device, args.envs or 4096, "reference"
    except CudaUnavailableError as exc:
        device, envs, preset = "warp-cpu", args.envs or 16, "cpu"
        reason = str(exc).split(";")[0]
        print(f"{reason}: Warp's CPU device at N={envs}, cpu preset (a plumbing check, not GPU figures)")
    argv2 = ["--device", device, "--envs", str(envs), "--preset", preset, "--iterations", str(args.iterations)]
    if preset == "cpu" and "--env-steps" not in rest:
        argv2 += ["--env-steps", "16"]
    return train_throughput.main(argv2 + rest)


if __name__ == "__main__":
    sys.exit(main())
