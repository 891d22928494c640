"""An HLC trainer's checkpoint: the dict it writes (weights, optimizer, normalizers, counters, generator,
environment; controllers/checkpoint.py assembles the file), the exact resume from it, and the warm start from
another task's controller on the same LLC. The keys are the checkpoint format."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from controllers.checkpoint import check_compatible, hlc_checkpoint, read_checkpoint
from controllers.hlc import HLCNetworkConfig
from sim.observations import OBS_LAYOUT_VERSION
from training import distributed as D
from training import ppo

if TYPE_CHECKING:
    from training.hlc import HLCTrainer


def hlc_state(trainer: HLCTrainer, inference_only: bool = False) -> dict:
    env, train = trainer.env, None
    if not inference_only:
        train = {
            "iteration": trainer.iteration,
            "global_step": trainer.global_step,
            "optimizer": trainer.optimizer.state_dict(),
            **ppo.rng_state(trainer.gen),
            "env_state": env.get_state(),
            "obs": trainer.obs.clone(),
        }
    return hlc_checkpoint(
        character=env.character.name,
        obs_layout_version=OBS_LAYOUT_VERSION,
        task=trainer.cfg.task,
        task_config=asdict(env.task.cfg) if hasattr(env, "task") else dict(trainer.cfg.task_config),
        goal_layout=env.task.goal_layout() if hasattr(env, "task") else {},
        obs_dim=env.obs_dim,
        network=trainer.cfg.network,
        config=trainer.cfg.to_dict(),
        llc_path=trainer.cfg.llc,
        llc_sha256=trainer.cfg.llc_sha256,
        actor=trainer.actor,
        obs_norm=trainer.obs_norm,
        critic=None if inference_only else trainer.critic,
        value_norm=None if inference_only else trainer.value_norm,
        train=train,
    )


def restore(trainer: HLCTrainer, path: str | Path) -> None:
    """Restore everything an exact resume needs (weights, optimizer, normalizers, counters, RNGs, env)."""
    ckpt = read_checkpoint(path, "hlc")
    if "train" not in ckpt:
        raise ValueError(f"{path}: an inference-only checkpoint cannot resume training (use checkpoint.pt)")
    check_compatible(ckpt, path, trainer.cfg.character, None)
    if ckpt["task"] != trainer.cfg.task:
        raise ValueError(f"{path}: trains task {ckpt['task']!r}, this run is {trainer.cfg.task!r}")
    for name in ("actor", "critic", "obs_norm", "value_norm"):
        getattr(trainer, name).load_state_dict(ckpt[name])
    tr = ckpt["train"]
    trainer.optimizer.load_state_dict(tr["optimizer"])
    ppo.set_lr(trainer.optimizer, trainer.cfg.ppo.lr)
    trainer.iteration, trainer.global_step = tr["iteration"], tr["global_step"]
    if trainer.dist.is_main:  # the checkpoint holds rank 0's environments; other ranks keep their fresh ones
        ppo.load_rng_state(tr, trainer.gen)
        trainer.env.set_state(tr["env_state"])
        trainer.obs = tr["obs"].to(trainer.device, copy=True)


def goal_position(task: str) -> str | None:
    """The goal slice of `task` that starts with the goal's position relative to the root in the heading frame
    (x, y), the task's `goal_position` (None: none, or a task no longer registered): what a warm start carries
    from one task to another."""
    from tasks import TASKS

    return TASKS[task][0].goal_position if task in TASKS else None


def goal_slice_start(layout: dict, name: str | None) -> int | None:
    """Where the goal slice `name` starts in a goal layout (tasks.common.goal_layout), None if absent."""
    return next((s["start"] for s in layout["slices"] if s["name"] == name), None) if name else None


def shared_goal_slices(src: dict, dst: dict) -> dict[str, tuple[int, int, int]]:
    """The goal inputs two tasks' layouts share, as {name: (start in src, start in dst, size)}: slices of the
    same name, size, frame and units (steering's target direction and speed are speed's whole goal), and the
    goal position relative to the root (x, y) where both observe one (`goal_position`), named 'a -> b'."""
    out: dict[str, tuple[int, int, int]] = {}
    theirs = {s["name"]: s for s in src["slices"]}
    for mine in dst["slices"]:
        other = theirs.get(mine["name"])
        if other and all(other[k] == mine[k] for k in ("size", "frame", "units")):
            out[mine["name"]] = (other["start"], mine["start"], mine["size"])
    names = goal_position(src["task"]), goal_position(dst["task"])
    src_xy, dst_xy = goal_slice_start(src, names[0]), goal_slice_start(dst, names[1])
    if src_xy is not None and dst_xy is not None and names[0] not in out:
        out[f"{names[0]} -> {names[1]}" if names[0] != names[1] else names[0]] = (src_xy, dst_xy, 2)
    return out


@torch.no_grad()
def warm_start(trainer: HLCTrainer, path: str | Path) -> str:
    """Start from another task's controller on the same LLC (its checkpoint.pt, or an hlc.pt for the actor
    alone): every weight is copied, except that the first layers' goal columns are rebuilt for this task
    (a controller of the same task, with the same goal layout, carries over whole).
    The LLC observation columns carry over one to one, and so do the goal inputs both tasks observe
    (`shared_goal_slices`: the same named slice, or the goal position relative to the root in the heading
    frame); this task's other goal columns start at zero. The observation normalizer is copied for the
    columns that carry over (with its count, so that they stay put) and starts at mean 0, variance 1 for the
    rest (this task's goal inputs are of order 1). Returns what was copied, in one line; ValueError when
    the controllers do not fit.
    Pair it with `critic_warmup` iterations when the critic comes too: its values are the other task's."""
    ckpt = read_checkpoint(path, "hlc")
    check_compatible(ckpt, path, trainer.cfg.character, None)
    src_sha = ckpt["llc"]["sha256"]
    if trainer.cfg.llc_sha256 and src_sha != trainer.cfg.llc_sha256:
        raise ValueError(f"{path}: trained on another LLC (sha256 {src_sha[:12]}, this run's is "
                         f"{trainer.cfg.llc_sha256[:12]}); a warm start needs the same frozen LLC")  # fmt: skip
    src_net = HLCNetworkConfig.from_dict(ckpt["network"])
    if (src_net.actor_hidden, src_net.critic_hidden, src_net.latent_dim) != (
        trainer.cfg.network.actor_hidden,
        trainer.cfg.network.critic_hidden,
        trainer.cfg.network.latent_dim,
    ):
        mine = trainer.cfg.network
        raise ValueError(f"{path}: networks {src_net.actor_hidden}/{src_net.critic_hidden}, this run "
                         f"{mine.actor_hidden}/{mine.critic_hidden} (--hidden)")  # fmt: skip
    src_goal, dst_goal = ckpt["goal_layout"], trainer.env.task.goal_layout()
    proprio = ckpt["obs_dim"] - src_goal["size"]
    if proprio != trainer.env.obs_dim - dst_goal["size"]:
        mine = trainer.env.obs_dim - dst_goal["size"]
        raise ValueError(f"{path}: observes {proprio} LLC numbers, this environment {mine}")
    src_cols, dst_cols = list(range(proprio)), list(range(proprio))
    shared = ""
    if src_goal == dst_goal:  # the same task: every goal column carries over
        src_cols = dst_cols = list(range(trainer.env.obs_dim))
        shared = " and the whole goal"
    else:
        pairs = shared_goal_slices(src_goal, dst_goal)
        for src_start, dst_start, size in pairs.values():
            src_cols += range(proprio + src_start, proprio + src_start + size)
            dst_cols += range(proprio + dst_start, proprio + dst_start + size)
        if pairs:
            shared = f" and the goal's {', '.join(pairs)}"
    nets = [("actor", trainer.actor, None), ("critic", trainer.critic, "value_norm")]
    copied = []
    for name, net, norm in nets:
        if name not in ckpt:
            continue
        state = dict(ckpt[name])
        first = state["trunk.0.weight"]
        w = torch.zeros(first.shape[0], trainer.env.obs_dim, dtype=first.dtype)
        w[:, dst_cols] = first[:, src_cols]
        state["trunk.0.weight"] = w
        net.load_state_dict(state)
        if norm is not None:
            getattr(trainer, norm).load_state_dict(ckpt[norm])
        copied.append(name)
    src_norm, norm = ckpt["obs_norm"], trainer.obs_norm
    norm.mean.zero_(), norm.var.fill_(1.0)
    norm.mean[dst_cols] = src_norm["mean"][src_cols].to(norm.mean)
    norm.var[dst_cols] = src_norm["var"][src_cols].to(norm.var)
    norm.count.copy_(src_norm["count"].to(norm.count))
    D.broadcast_parameters([trainer.actor, trainer.critic, trainer.obs_norm, trainer.value_norm], trainer.dist)
    trainer.cfg.init_from = str(path)
    return f"started from {path} ({ckpt['task']}): {' and '.join(copied)}, the LLC observation{shared}"
