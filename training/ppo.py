"""PPO plumbing shared by the LLC and HLC trainers (training/llc.py, training/hlc.py).

The formulas (GAE, clipped surrogate, value loss, advantage normalization) are in training/losses.py; this
module holds what surrounds them: value normalization, the RNG state a checkpoint carries for an exact
resume, and the training loop (progress bar, TensorBoard, periodic atomic checkpoints, Ctrl-C saves).
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from controllers.normalizer import RunningNorm
from training import losses as L
from training.distributed import DistInfo, any_rank, global_moments, mean_over_ranks, update_norm

# torchrun's launcher forwards a SIGINT to its workers at once; one sent to every process (`pkill -INT -f`) thus
# reaches each worker twice: a second SIGINT this soon after the first is that copy, not a request to abort
TORCHRUN_FORWARD_S = 5.0


# ---------------------------------------------------------------------------------------------- config
@dataclass
class PPOConfig:
    """The PPO settings of both trainers (LLCConfig.ppo, HLCConfig.ppo); defaults are ASE's reference values."""

    horizon: int = 32  # steps of every environment per iteration: the batch is num_envs x horizon
    minibatch_size: int = 16384  # samples per gradient step
    epochs: int = 6  # passes over the batch per iteration
    lr: float = 2e-5
    adam_eps: float = 1e-8
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip: float = 0.2
    critic_coef: float = 5.0
    normalize_value: bool = True  # the critic predicts normalized values (running statistics of the returns)


PPO_FIELDS = frozenset(f.name for f in fields(PPOConfig))


def nest_ppo(d: dict) -> dict:
    """A config dict or a preset's overrides with PPO's fields under "ppo": flat names (`lr=...`, as checkpoints
    written before PPOConfig hold them and presets take them) are moved there, over what "ppo" already holds."""
    flat = {k: v for k, v in d.items() if k in PPO_FIELDS}
    nested = d.get("ppo") or {}
    nested = asdict(nested) if isinstance(nested, PPOConfig) else dict(nested)
    rest = {k: v for k, v in d.items() if k not in PPO_FIELDS}
    return {**rest, "ppo": PPOConfig(**{k: v for k, v in {**nested, **flat}.items() if k in PPO_FIELDS})}


def flat_name(name: str) -> str:
    """A setting's flat name: `ppo.clip` is `clip` (the flags and `--set` take either)."""
    return name.removeprefix("ppo.") if name.removeprefix("ppo.") in PPO_FIELDS else name


def owner(cfg: Any, name: str) -> Any:
    """The object holding a trainer config's setting `name`: its `ppo` for PPO's fields, else the config itself
    (flags and `--set` name settings flat: `lr`, `epochs`, `clip`)."""
    return cfg.ppo if name in PPO_FIELDS else cfg


# ---------------------------------------------------------------------------------------------- values
def critic_values(value_norm: RunningNorm, v: torch.Tensor, normalize_value: bool) -> torch.Tensor:
    """Values from critic outputs (n,): the critic predicts normalized values when `normalize_value`."""
    return value_norm.denormalize(v[:, None])[:, 0] if normalize_value else v


def normalize_advantages(adv: torch.Tensor, dist: DistInfo, mask: torch.Tensor | None = None) -> torch.Tensor:
    """(adv - mean) / (std + 1e-8) over the (masked) samples of all ranks under torchrun."""
    if not dist.active:
        return L.normalize_advantages(adv, mask)
    mean, var, _ = global_moments((adv if mask is None else adv[mask])[:, None], dist)
    return (adv - mean.float()) / (var.float().sqrt() + 1e-8)


def value_targets(
    value_norm: RunningNorm, returns: torch.Tensor, normalize_value: bool, dist: DistInfo | None = None
) -> torch.Tensor:
    """Critic targets (B,) from returns (B, 1); with `normalize_value` the statistics take in the returns first
    (those of all ranks under torchrun)."""
    if not normalize_value:
        return returns.reshape(-1)
    update_norm(value_norm, returns, dist or DistInfo())
    return value_norm.normalize(returns).reshape(-1)


# ---------------------------------------------------------------------------------------------- exact resume
def rng_state(gen: torch.Generator, np_rng: np.random.Generator | None = None) -> dict:
    """The trainer's random state: its torch generator, torch's global generator, its numpy generator if any."""
    state = {"torch_gen": gen.get_state(), "torch_global": torch.get_rng_state()}
    if np_rng is not None:
        state["np_rng"] = np_rng.bit_generator.state
    return state


def load_rng_state(state: dict, gen: torch.Generator, np_rng: np.random.Generator | None = None) -> None:
    gen.set_state(state["torch_gen"])
    torch.set_rng_state(state["torch_global"])
    if np_rng is not None:
        np_rng.bit_generator.state = state["np_rng"]


def budget_end(iteration: int, global_step: int, total_samples: int, samples_per_iteration: int) -> int:
    """The iteration at which `total_samples` are reached from where a run stands: a budget in samples, so a
    run resumed on another number of processes (another samples per iteration) still stops at it."""
    return iteration + max(0, -(-(total_samples - global_step) // samples_per_iteration))


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """A resumed run's configured learning rate wins over the one stored with the optimizer."""
    for group in optimizer.param_groups:
        group["lr"] = lr


# ---------------------------------------------------------------------------------------------- the loop
class Trainer(Protocol):
    iteration: int
    global_step: int
    dist: DistInfo
    cfg: Any  # batch_size (samples per process per iteration), total_samples, checkpoint_every

    def train_iteration(self) -> dict[str, float]: ...


def timed_iteration(
    trainer: Trainer, collect: Callable[[], dict], learn: Callable[[dict], dict[str, float]]
) -> dict[str, float]:
    """One iteration: `collect()` a rollout (a dict with its own "stats"), `learn(buf)` from it, advance the
    counters. Returns the statistics averaged over processes, samples/s counted over all of them."""
    t0 = time.perf_counter()
    buf = collect()
    t1 = time.perf_counter()
    stats = learn(buf)
    t2 = time.perf_counter()
    trainer.iteration += 1
    trainer.global_step += trainer.cfg.batch_size * trainer.dist.world_size
    stats.update(buf["stats"])
    stats["perf/samples_per_s"] = trainer.cfg.batch_size / (t2 - t0)
    stats["perf/rollout_s"] = t1 - t0
    stats["perf/update_s"] = t2 - t1
    stats = mean_over_ranks(stats, trainer.dist)
    stats["perf/samples_per_s"] *= trainer.dist.world_size
    return stats


def samples_end(trainer: Trainer) -> int:
    """The iteration at which the trainer's sample budget (cfg.total_samples) is reached."""
    per_iteration = trainer.cfg.batch_size * trainer.dist.world_size
    return budget_end(trainer.iteration, trainer.global_step, trainer.cfg.total_samples, per_iteration)


def run(
    trainer: Trainer,
    iterations: int | None,
    out_dir: str | Path | None,
    *,
    save: Callable[[Path], Path],
    postfix: Callable[[dict[str, float]], dict[str, str]],
    progress: bool = True,
    on_iteration: Callable[[int, dict], None] | None = None,
) -> dict[str, float]:
    """train_loop until `iterations` (default: the sample budget); under torchrun rank 0 alone logs and saves,
    and all ranks stop after the same iteration."""
    main = trainer.dist.is_main
    return train_loop(
        trainer, iterations if iterations is not None else samples_end(trainer), out_dir if main else None,
        checkpoint_every=trainer.cfg.checkpoint_every, save=save, postfix=postfix, progress=progress and main,
        on_iteration=on_iteration,
        sync_stop=(lambda requested: any_rank(requested, trainer.dist)) if trainer.dist.active else None,
    )  # fmt: skip


def train_loop(
    trainer: Trainer,
    end: int,
    out: str | Path | None,
    *,
    checkpoint_every: int,
    save: Callable[[Path], Path],
    postfix: Callable[[dict[str, float]], dict[str, str]],
    progress: bool = True,
    on_iteration: Callable[[int, dict], None] | None = None,
    sync_stop: Callable[[bool], bool] | None = None,
) -> dict[str, float]:
    """Run `trainer.train_iteration()` until `end` iterations are done. Under `out`: TensorBoard scalars (tb/)
    and `save(out)` (returns the resume checkpoint's path) every `checkpoint_every` iterations, at the end and on
    Ctrl-C. Ctrl-C finishes the running iteration, saves and raises KeyboardInterrupt (a second Ctrl-C aborts at
    once): saving only between iterations keeps every checkpoint an exact resume point. `sync_stop(requested)`
    (torchrun) makes all processes agree on stopping after the same iteration; there a second Ctrl-C within
    TORCHRUN_FORWARD_S of the first is the launcher forwarding it and does not abort."""
    from tqdm import tqdm

    out = Path(out) if out else None
    writer = None
    if out is not None:
        from torch.utils.tensorboard import SummaryWriter

        # a resumed run drops the events an interrupted run logged after its last checkpoint
        writer = SummaryWriter(str(out / "tb"), purge_step=trainer.global_step + 1 if trainer.iteration else None)
    bar = tqdm(total=end, initial=trainer.iteration, disable=not progress, unit="it", dynamic_ncols=True)
    stats: dict[str, float] = {}
    stop = {"requested": False, "at": 0.0}
    same_request_s = TORCHRUN_FORWARD_S if sync_stop is not None else 0.0
    previous_handler = None
    if threading.current_thread() is threading.main_thread():

        def request_stop(signum, frame):
            now = time.monotonic()
            if stop["requested"]:
                if now - stop["at"] < same_request_s:
                    return
                raise KeyboardInterrupt
            stop["requested"], stop["at"] = True, now
            bar.write("stopping after this iteration (Ctrl-C again to abort without saving)")

        previous_handler = signal.signal(signal.SIGINT, request_stop)
    try:
        saved = None
        while trainer.iteration < end and not stop["requested"]:
            stats = trainer.train_iteration()
            if writer is not None:
                for name, val in stats.items():
                    writer.add_scalar(name, val, trainer.global_step)
            bar.set_postfix(**postfix(stats))
            bar.update(1)
            if on_iteration is not None:
                on_iteration(trainer.iteration, stats)
            if sync_stop is not None:
                stop["requested"] = sync_stop(stop["requested"])
            at_checkpoint = trainer.iteration % checkpoint_every == 0 or trainer.iteration == end
            if out is not None and (at_checkpoint or stop["requested"]):
                saved = save(out)
        if stop["requested"]:
            bar.write(f"stopped at iteration {trainer.iteration}" + (f"; saved {saved}" if saved else ""))
            raise KeyboardInterrupt
    finally:
        if previous_handler is not None:
            signal.signal(signal.SIGINT, previous_handler)
        bar.close()
        if writer is not None:
            writer.close()
    return stats
