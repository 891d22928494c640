"""Checkpoint format of the project's controllers, and loading an LLC for inference (no training/ import).

An LLC checkpoint is a torch `.pt` dict:

    format_version, kind="llc", character, obs_layout_version, obs_dim, amp_obs_dim, num_amp_frames,
    action_dim, latent_dim, network (NetworkConfig as a dict), config (the trainer's config as a dict),
    actor, disc_enc, [critic] (state dicts), obs_norm, amp_norm, [value_norm] (normalizer state dicts),
    [train] (optimizer, counters, RNG states, buffers: only in the trainer's resume checkpoints)

Files are written atomically (temp file in the same folder, then os.replace).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from controllers.networks import Actor, DiscEnc, NetworkConfig, encoder_reward, style_reward
from controllers.normalizer import RunningNorm

FORMAT_VERSION = 1
REQUIRED_KEYS = (
    "format_version", "kind", "character", "obs_layout_version", "obs_dim", "amp_obs_dim", "num_amp_frames",
    "action_dim", "latent_dim", "network", "actor", "disc_enc", "obs_norm", "amp_norm",
)  # fmt: skip


class CheckpointError(ValueError):
    """A checkpoint file is missing, unreadable, or does not fit the character / observation layout."""


def save_atomic(obj: Any, path: str | Path) -> Path:
    """torch.save to a temp file next to `path`, then os.replace: a crash never leaves a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_checkpoint(path: str | Path, kind: str = "llc") -> dict:
    """Load and validate a checkpoint dict; raises CheckpointError with the file name and the problem."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        # weights_only=False: resume checkpoints hold numpy RNG states; load only checkpoints you trust.
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means "not a checkpoint"
        raise CheckpointError(f"{path}: not a readable torch checkpoint ({type(exc).__name__}: {exc})") from None
    if not isinstance(ckpt, dict) or "format_version" not in ckpt:
        raise CheckpointError(f"{path}: not a controller checkpoint of this project (no format_version)")
    if ckpt["format_version"] > FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format {ckpt['format_version']} is newer than this code reads ({FORMAT_VERSION})"
        )
    if ckpt.get("kind") != kind:
        raise CheckpointError(f"{path}: holds a {ckpt.get('kind')!r} controller, expected {kind!r}")
    missing = [k for k in REQUIRED_KEYS if k not in ckpt]
    if missing:
        raise CheckpointError(f"{path}: incomplete checkpoint, missing {', '.join(missing)}")
    return ckpt


def check_compatible(
    ckpt: dict, path: str | Path, character: str | None = None, obs_layout_version: int | None = None
) -> None:
    """Fail clearly when a checkpoint was trained for another character or observation layout."""
    if character is not None and ckpt["character"] != character:
        raise CheckpointError(f"{path}: trained for character {ckpt['character']!r}, cannot drive {character!r}")
    if obs_layout_version is None:
        try:
            from sim.observations import OBS_LAYOUT_VERSION as obs_layout_version
        except ImportError:
            obs_layout_version = None
    if obs_layout_version is not None and ckpt["obs_layout_version"] != obs_layout_version:
        raise CheckpointError(
            f"{path}: observation layout version {ckpt['obs_layout_version']} does not match this code's "
            f"version {obs_layout_version}; retrain or use a matching release"
        )


class LLCPolicy:
    """A trained low-level controller for inference: actor, encoder/discriminator and their normalizers.

    act(obs (n, obs_dim), z (n, latent_dim)) -> actions (n, action_dim), numpy float32, clipped to [-1, 1].
    encode(amp_window (n, num_amp_frames * amp_obs_dim)) -> unit latents (n, latent_dim).
    disc_reward(amp_window) -> style reward r_D (n,).
    """

    def __init__(self, ckpt: dict) -> None:
        self.meta = {k: ckpt[k] for k in REQUIRED_KEYS if not isinstance(ckpt[k], dict)}
        self.character: str = ckpt["character"]
        self.obs_dim: int = ckpt["obs_dim"]
        self.action_dim: int = ckpt["action_dim"]
        self.latent_dim: int = ckpt["latent_dim"]
        self.amp_obs_dim: int = ckpt["amp_obs_dim"]
        self.num_amp_frames: int = ckpt["num_amp_frames"]
        self.config: dict = ckpt.get("config", {})
        self.network = NetworkConfig.from_dict(ckpt["network"])
        amp_window = self.amp_obs_dim * self.num_amp_frames
        self.actor = Actor(self.obs_dim, self.action_dim, self.network)
        self.disc_enc = DiscEnc(amp_window, self.network)
        self.obs_norm, self.amp_norm = RunningNorm(self.obs_dim), RunningNorm(amp_window)
        for name in ("actor", "disc_enc", "obs_norm", "amp_norm"):
            getattr(self, name).load_state_dict(ckpt[name])
            getattr(self, name).eval()
        self._rng = np.random.default_rng()

    @torch.no_grad()
    def act(self, obs: np.ndarray, z: np.ndarray, deterministic: bool = True) -> np.ndarray:
        obs_t = torch.as_tensor(np.asarray(obs, dtype=np.float32)).reshape(-1, self.obs_dim)
        z_t = torch.as_tensor(np.asarray(z, dtype=np.float32)).reshape(-1, self.latent_dim)
        mean = self.actor(self.obs_norm(obs_t), z_t).numpy()
        if not deterministic:
            mean = mean + np.exp(self.network.action_log_std) * self._rng.standard_normal(mean.shape)
        return np.clip(mean, -1.0, 1.0).astype(np.float32)

    def _window(self, amp_window: np.ndarray) -> torch.Tensor:
        x = torch.as_tensor(np.asarray(amp_window, dtype=np.float32))
        return self.amp_norm(x.reshape(-1, self.amp_obs_dim * self.num_amp_frames))

    @torch.no_grad()
    def encode(self, amp_window: np.ndarray) -> np.ndarray:
        """The encoder's unit latent for each window (e.g. the latent of a motion clip)."""
        return self.disc_enc(self._window(amp_window))[1].numpy()

    @torch.no_grad()
    def disc_reward(self, amp_window: np.ndarray) -> np.ndarray:
        return style_reward(self.disc_enc.disc_logit(self._window(amp_window))).numpy()

    @torch.no_grad()
    def enc_reward(self, amp_window: np.ndarray, z: np.ndarray) -> np.ndarray:
        mu = self.disc_enc(self._window(amp_window))[1]
        return encoder_reward(mu, torch.as_tensor(np.asarray(z, dtype=np.float32))).numpy()


def load_llc(path: str | Path, character: str | None = None, obs_layout_version: int | None = None) -> LLCPolicy:
    """Load an LLC checkpoint for inference. Pass `character` to refuse checkpoints of other characters;
    the observation layout is checked against `sim.observations.OBS_LAYOUT_VERSION` unless given."""
    ckpt = read_checkpoint(path, "llc")
    check_compatible(ckpt, path, character, obs_layout_version)
    try:
        return LLCPolicy(ckpt)
    except (RuntimeError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{path}: weights do not fit the stored network sizes ({exc})") from None


def llc_checkpoint(
    *,
    character: str,
    obs_layout_version: int,
    obs_dim: int,
    amp_obs_dim: int,
    num_amp_frames: int,
    action_dim: int,
    network: NetworkConfig,
    config: dict,
    actor: torch.nn.Module,
    disc_enc: torch.nn.Module,
    obs_norm: RunningNorm,
    amp_norm: RunningNorm,
    critic: torch.nn.Module | None = None,
    value_norm: RunningNorm | None = None,
    train: dict | None = None,
) -> dict:
    """Assemble the checkpoint dict (inference-only when critic/value_norm/train are None)."""
    ckpt = {
        "format_version": FORMAT_VERSION,
        "kind": "llc",
        "character": character,
        "obs_layout_version": obs_layout_version,
        "obs_dim": obs_dim,
        "amp_obs_dim": amp_obs_dim,
        "num_amp_frames": num_amp_frames,
        "action_dim": action_dim,
        "latent_dim": network.latent_dim,
        "network": asdict(network),
        "config": config,
        "actor": actor.state_dict(),
        "disc_enc": disc_enc.state_dict(),
        "obs_norm": obs_norm.state_dict(),
        "amp_norm": amp_norm.state_dict(),
    }
    if critic is not None:
        ckpt["critic"] = critic.state_dict()
    if value_norm is not None:
        ckpt["value_norm"] = value_norm.state_dict()
    if train is not None:
        ckpt["train"] = train
    return ckpt


def untrained_llc_checkpoint(character: str = "humanoid", network: NetworkConfig | None = None) -> dict:
    """A randomly initialized LLC in the real format: for tests, benchmarks and trying the viewer's plumbing."""
    from sim.character import load_character
    from sim.observations import OBS_LAYOUT_VERSION, amp_layout, layout_size, policy_layout

    ch = load_character(character)
    net = network or NetworkConfig.cpu()
    obs, amp, frames = layout_size(policy_layout(ch)), layout_size(amp_layout(ch)), 10
    return llc_checkpoint(
        character=ch.name, obs_layout_version=OBS_LAYOUT_VERSION, obs_dim=obs, amp_obs_dim=amp,
        num_amp_frames=frames, action_dim=ch.num_dof, network=net, config={}, actor=Actor(obs, ch.num_dof, net),
        disc_enc=DiscEnc(amp * frames, net), obs_norm=RunningNorm(obs), amp_norm=RunningNorm(amp * frames),
    )  # fmt: skip
