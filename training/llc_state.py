"""An LLC trainer's checkpoint: the dict it writes (weights, optimizer, normalizers, counters, generators,
environment, buffers; controllers/checkpoint.py assembles the file) and what restores it: an exact resume,
older observation layouts, and a warm start from another LLC's weights. The keys are the checkpoint format."""

from __future__ import annotations

import copy
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING

import numpy as np
import torch

from controllers.checkpoint import check_compatible, llc_checkpoint, read_checkpoint, save_atomic
from sim.env_state import upgrade_state
from sim.observations import OBS_LAYOUT_VERSION
from training import ppo

if TYPE_CHECKING:
    from training.llc import LLCTrainer


def llc_state(trainer: LLCTrainer, inference_only: bool = False, buffers: bool = True) -> dict:
    """inference_only: actor, discriminator/encoder, normalizers. buffers=False: a compact resumable state
    (networks, optimizer, normalizers, counters, RNGs) without the dataset and replay windows, which a
    resume refills (the dataset buffer from the clips, the replay buffer from new rollouts)."""
    env = trainer.env
    train = None
    if not inference_only:
        # overlapped: the rollout now running started from `launch`, with the behaviour weights
        live = trainer.overlap.launch if trainer.overlap.pending is not None else None
        train = {
            "iteration": trainer.iteration,
            "global_step": trainer.global_step,
            "optimizer": trainer.optimizer.state_dict(),
            **ppo.rng_state(trainer.gen, trainer.np_rng),
            "env_state": live["env_state"] if live else env.get_state(),
            "obs": (live["obs"] if live else trainer.obs).clone(),
            "latents": live["latents"] if live else trainer.latents.state_dict(),
            "low_style_count": (live["low_style_count"] if live else trainer.low_style_count).clone(),
            "demo": trainer.demo.state_dict() if buffers else None,
            "replay": trainer.replay.state_dict() if buffers else None,
        }
        if trainer.cfg.skills:
            train["skill_score"] = torch.as_tensor(trainer.skills.score)
        if trainer.cfg.overlap:
            train["rollout_gen"] = live["rollout_gen"] if live else trainer.rollout_gen.get_state()
            if live:
                train["behaviour"] = {k: v.state_dict() for k, v in vars(trainer.overlap.behaviour).items()}
            if trainer.overlap.focal_next is not None:
                train["focal_next"] = torch.as_tensor(trainer.overlap.focal_next)
    return llc_checkpoint(
        character=trainer.cfg.character,
        obs_layout_version=OBS_LAYOUT_VERSION,
        obs_dim=env.obs_dim,
        amp_obs_dim=env.amp_obs_dim,
        num_amp_frames=env.num_amp_frames,
        action_dim=env.action_dim,
        network=trainer.cfg.network,
        config=trainer.cfg.to_dict(),
        actor=trainer.actor,
        disc_enc=trainer.disc_enc,
        obs_norm=trainer.obs_norm,
        amp_norm=trainer.amp_norm,
        critic=None if inference_only else trainer.critic,
        value_norm=None if inference_only else trainer.value_norm,
        train=train,
        skills=trainer.skills.entry() if trainer.cfg.skills else None,
    )


def restore(trainer: LLCTrainer, path: str | Path) -> None:
    """Restore everything a resume needs (weights, optimizer, normalizers, counters, RNGs, env, buffers)."""
    ckpt = read_checkpoint(path, "llc")
    if "train" not in ckpt:
        raise ValueError(f"{path}: an inference-only checkpoint cannot resume training (use checkpoint.pt)")
    old_layout = ckpt["obs_layout_version"]
    upgrade = old_layout != OBS_LAYOUT_VERSION and old_layout == 1
    check_compatible(ckpt, path, trainer.cfg.character, old_layout if upgrade else OBS_LAYOUT_VERSION)
    for name in ("actor", "critic", "disc_enc", "obs_norm", "amp_norm", "value_norm"):
        getattr(trainer, name).load_state_dict(ckpt[name])
    tr = ckpt["train"]
    trainer.optimizer.load_state_dict(tr["optimizer"])
    ppo.set_lr(trainer.optimizer, trainer.cfg.ppo.lr)  # the config's rate wins: a resume may change it
    trainer.iteration, trainer.global_step = tr["iteration"], tr["global_step"]
    if trainer.dist.is_main:  # the checkpoint holds rank 0's environments; other ranks keep their fresh ones
        ppo.load_rng_state(tr, trainer.gen, trainer.np_rng)
        env_state = upgrade_state(tr["env_state"], trainer.env.character, old_layout) if upgrade else tr["env_state"]
        trainer.env.set_state(env_state)
        trainer.obs = tr["obs"].to(trainer.device, copy=True)
        trainer.latents.load_state_dict(tr["latents"])
        if "low_style_count" in tr:
            trainer.low_style_count = tr["low_style_count"].to(trainer.device, copy=True)
        if tr["demo"] is not None:  # a compact state has none: the first iteration refills them
            trainer.demo.load_state_dict(tr["demo"])
        if tr["replay"] is not None:
            trainer.replay.load_state_dict(tr["replay"])
        if trainer.cfg.skills:
            trainer.skills.score = tr["skill_score"].numpy().copy()
            trainer.env.start_weights = trainer.latents.weights.copy()
        if trainer.cfg.overlap:
            load_overlap_state(trainer, tr)
    if upgrade:
        upgrade_layout(trainer, old_layout)


def load_overlap_state(trainer: LLCTrainer, tr: dict) -> None:
    """An overlapped run resumes by first repeating the rollout that was running when it saved: the same
    start state (restored above), generator and behaviour weights. A state from a sequential run starts
    its first rollout with the current weights."""
    if "rollout_gen" in tr:
        trainer.rollout_gen.set_state(tr["rollout_gen"])
    overlap = trainer.overlap
    if "focal_next" in tr:
        overlap.focal_next = tr["focal_next"].numpy().copy()
    if "behaviour" in tr:
        overlap.behaviour = SimpleNamespace(**{k: copy.deepcopy(getattr(trainer, k)) for k in tr["behaviour"]})
        for name, state in tr["behaviour"].items():
            getattr(overlap.behaviour, name).load_state_dict(state)
        overlap.restored = True


def upgrade_layout(trainer: LLCTrainer, old: int) -> None:
    """Continue a run whose discriminator features used layout `old` (the policy observation is the same; the
    environment's saved history was converted as it loaded): convert the stored windows exactly, and
    re-estimate the normalizer of the changed columns from the dataset (the discriminator and encoder then
    adapt to the new features as training goes on)."""
    from sim.observations import changed_amp_columns, upgrade_amp_windows

    ch = trainer.env.character
    for buf in (trainer.demo, trainer.replay):
        if len(buf):
            buf.data[: len(buf)] = trainer.tensor(upgrade_amp_windows(buf.data[: len(buf)].cpu().numpy(), ch, old))
    cols = trainer.tensor(changed_amp_columns(ch, trainer.env.num_amp_frames, old))
    demo = trainer.tensor(trainer.dataset.sample(4096, np.random.default_rng(0))[0], dtype=torch.float64)
    var, mean = torch.var_mean(demo[:, cols], dim=0, unbiased=False)
    trainer.amp_norm.mean[cols], trainer.amp_norm.var[cols] = mean, var
    print(f"upgraded discriminator features from layout {old} to {OBS_LAYOUT_VERSION} ({len(cols)} columns)")


def init_from(trainer: LLCTrainer, path: str | Path) -> None:
    """Warm start a new run from another LLC's weights and normalizers (a fresh optimizer; counters at 0):
    a skill LLC from an ASE one (its conditional head starts at zero)."""
    ckpt = read_checkpoint(path, "llc")
    check_compatible(ckpt, path, trainer.cfg.character, OBS_LAYOUT_VERSION)
    if "critic" not in ckpt:
        raise ValueError(f"{path}: an inference-only checkpoint has no critic to warm-start from (use a state)")
    for name in ("actor", "critic", "obs_norm", "amp_norm", "value_norm"):
        getattr(trainer, name).load_state_dict(ckpt[name])
    missing, unexpected = trainer.disc_enc.load_state_dict(ckpt["disc_enc"], strict=False)
    if unexpected or any(not k.startswith("cond.") for k in missing):
        raise ValueError(f"{path}: its discriminator does not fit this network ({missing or unexpected})")
    trainer.cfg.init_from = str(path)


class RunSaver:
    """A run's files under its out dir: checkpoint.pt (the resumable state), llc.pt (the controller) and, at the
    first save of each `snapshot_every` period, a snapshot of the controller."""

    def __init__(self, trainer: LLCTrainer) -> None:
        self.trainer, self.every = trainer, trainer.cfg.snapshot_every
        self.period = trainer.iteration // self.every if self.every else 0

    def __call__(self, out: Path) -> Path:
        t, every = self.trainer, self.every
        path = t.save(out / "checkpoint.pt")
        weights = t.checkpoint(inference_only=True)
        save_atomic(weights, out / "llc.pt")
        if every and t.iteration // every > self.period:
            self.period = t.iteration // every
            save_atomic(weights, out / "snapshots" / f"llc_{t.global_step:012d}.pt")
        return path
