"""Checkpoint format of the project's controllers, and loading an LLC for inference (no training/ import).

An LLC checkpoint is a torch `.pt` dict:

    format_version, kind="llc", character, obs_layout_version, obs_dim, amp_obs_dim, num_amp_frames,
    action_dim, latent_dim, network (NetworkConfig as a dict), config (the trainer's config as a dict),
    actor, disc_enc, [critic] (state dicts), obs_norm, amp_norm, [value_norm] (normalizer state dicts),
    [train] (optimizer, counters, RNG states, buffers: only in the trainer's resume checkpoints)

An HLC (task controller) checkpoint: format_version, kind="hlc", character, obs_layout_version, task,
task_config, goal_layout, obs_dim (policy + goal observation), latent_dim, network (HLCNetworkConfig), config,
actor, obs_norm, [critic, value_norm, train], and llc = {sha256, path}: the LLC file it was trained with.
`load_hlc` refuses another LLC file unless told to (`allow_other_llc=True`).

Files are written atomically (temp file in the same folder, then os.replace), with every tensor on the CPU, and
read with map_location="cpu": a checkpoint written by a GPU run loads on any machine, and the trainers move
what they load onto their own device.

Loading never runs code from the file: `read_checkpoint` uses torch.load(weights_only=True), which rebuilds
tensors, dicts, lists, tuples, numbers, strings and None and refuses every other Python object a pickle names
(a hostile file's `os.system` as much as a numpy array). What the trainers keep as numpy (environment states,
task states) is written as tensors tagged `{"__ndarray__": tensor}` (`{"__npscalar__": tensor}` for a numpy
scalar) and read back as the same numpy arrays, bit for bit; RNG states are plain dicts of ints and strings;
`save_atomic` checks every file it writes loads that way. A file that needs anything else (a third-party file,
or a resumable state written before this format) is refused with one line naming the file and what it needs
(UnsafeCheckpointError), unless trust is given for it: `read_checkpoint(..., trust=True)`, or inside
`trusting_checkpoints()` (the command lines' --trust-checkpoint), which unpickles it in full. Only for files
you trust: unpickling can run any code the file holds. `python -m controllers.checkpoint_convert FILE` rewrites
such a file of this project in the safe format once, verified.
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
import math
import os
import pickle
import re
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from controllers.files import sha256_file
from controllers.networks import Actor, DiscEnc, NetworkConfig, encoder_reward, style_reward
from controllers.normalizer import RunningNorm

FORMAT_VERSION = 1
REQUIRED_KEYS = (
    "format_version", "kind", "character", "obs_layout_version", "obs_dim", "amp_obs_dim", "num_amp_frames",
    "action_dim", "latent_dim", "network", "actor", "disc_enc", "obs_norm", "amp_norm",
)  # fmt: skip
# an HLC checkpoint: the task controller and the SHA-256 of the LLC file it was trained with (`llc`)
HLC_REQUIRED_KEYS = (
    "format_version", "kind", "character", "obs_layout_version", "task", "task_config", "goal_layout", "obs_dim",
    "latent_dim", "network", "actor", "obs_norm", "llc",
)  # fmt: skip


class CheckpointError(ValueError):
    """A checkpoint file is missing, unreadable, or does not fit the character / observation layout."""


class UnsafeCheckpointError(CheckpointError):
    """Safe loading refused a checkpoint: its pickle names Python objects (`needs`) beyond plain data."""

    def __init__(self, path: str | Path, needs: list[str], hint: str | None = None) -> None:
        self.path, self.needs = Path(path), list(needs)
        shown = ", ".join(self.needs[:6]) + (f" and {len(self.needs) - 6} more" if len(self.needs) > 6 else "")
        hint = hint or "pass --trust-checkpoint only for files you trust"
        super().__init__(f"{path}: needs {shown}, which safe loading refuses (unpickling it could run code); {hint}")


NDARRAY_TAG = "__ndarray__"  # {NDARRAY_TAG: tensor}: a numpy array, stored as a tensor of its dtype and shape
NPSCALAR_TAG = "__npscalar__"  # {NPSCALAR_TAG: 0-d tensor}: a numpy scalar (np.float64(1.5), np.int64(3), ...)
_TRUST: contextvars.ContextVar[bool] = contextvars.ContextVar("trust_checkpoints", default=False)


@contextlib.contextmanager
def trusting_checkpoints(trust: bool = True) -> Iterator[None]:
    """Within this block, `read_checkpoint` (and load_llc, load_hlc, the trainers' load) unpickles in full the
    files that safe loading refuses when `trust` (the command lines' --trust-checkpoint), and never when not
    (the viewer's scan of checkpoints/). Unpickling runs whatever code a file holds: trusted files only."""
    token = _TRUST.set(bool(trust))
    try:
        yield
    finally:
        _TRUST.reset(token)


def _array_tensor(a: np.ndarray) -> torch.Tensor:
    """The tensor holding `a` bit for bit (C order, native byte order; no copy when `a` already is)."""
    a = np.require(a, a.dtype.newbyteorder("="), ["C_CONTIGUOUS", "WRITEABLE"])
    try:
        return torch.from_numpy(a)
    except TypeError:
        raise TypeError(f"a checkpoint cannot hold a numpy array of dtype {a.dtype} (tensors only)") from None


def map_tree(obj: Any, leaf: Callable[[Any], Any]) -> Any:
    """`obj` with `leaf` applied to every item first, then dicts, lists and tuples rebuilt from their mapped items
    (dicts keep their type and attributes, e.g. a state dict's `_metadata`); what `leaf` returns is mapped on."""
    obj = leaf(obj)
    if isinstance(obj, dict):
        out = copy.copy(obj)
        for k, v in obj.items():
            out[k] = map_tree(v, leaf)
        return out
    if isinstance(obj, list | tuple):
        return type(obj)(map_tree(v, leaf) for v in obj)
    return obj


def _safe_leaf(obj: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.cpu()
    if isinstance(obj, np.ndarray):
        return {NDARRAY_TAG: _array_tensor(obj)}
    if isinstance(obj, np.generic):
        return {NPSCALAR_TAG: _array_tensor(np.asarray(obj))}
    return obj


def safe_tree(obj: Any) -> Any:
    """`obj` as weights-only data to save: tensors on the CPU (cpu_tensors), numpy arrays and scalars as tagged
    tensors (NDARRAY_TAG, NPSCALAR_TAG); dicts keep their type and attributes. `plain_tree` undoes it."""
    return map_tree(obj, _safe_leaf)


def plain_tree(obj: Any) -> Any:
    """A loaded checkpoint with its tagged tensors back as the numpy arrays and scalars they were (sharing the
    tensors' memory); what holds none is returned as it is (the same objects)."""
    if isinstance(obj, dict):
        if len(obj) == 1:
            k, v = next(iter(obj.items()))
            if k == NDARRAY_TAG and isinstance(v, torch.Tensor):
                return v.numpy()
            if k == NPSCALAR_TAG and isinstance(v, torch.Tensor):
                return v.numpy()[()]
        out = None
        for k, v in obj.items():
            new = plain_tree(v)
            if new is not v:
                out = copy.copy(obj) if out is None else out
                out[k] = new
        return obj if out is None else out
    if isinstance(obj, list | tuple):
        items = [plain_tree(v) for v in obj]
        if any(new is not old for new, old in zip(items, obj)):
            return type(obj)(items)
    return obj


def unsafe_globals(path: str | Path) -> list[str]:
    """The Python objects (module.name) the pickle of checkpoint `path` names that weights-only loading refuses,
    read from the pickle's opcodes without running it; [] for a plain-data file."""
    return sorted(torch.serialization.get_unsafe_globals_in_checkpoint(str(path)))


def cpu_tensors(obj: Any) -> Any:
    """`obj` with every tensor inside dicts, lists and tuples on the CPU (CPU tensors are kept, not copied);
    dicts keep their type and attributes (a state dict's `_metadata`)."""
    return map_tree(obj, lambda x: x.cpu() if isinstance(x, torch.Tensor) else x)


def save_atomic(obj: Any, path: str | Path) -> Path:
    """torch.save to a temp file next to `path`, then os.replace: a crash never leaves a half-written file.
    Tensors are saved on the CPU, so the file does not depend on the device that wrote it, and numpy arrays as
    tagged tensors (safe_tree): the file loads with weights_only=True (TypeError when `obj` holds anything that
    would not, e.g. a dataclass)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(safe_tree(obj), f)
        if needs := unsafe_globals(tmp):  # every file written here loads with weights_only=True
            raise TypeError(f"{path}: a checkpoint cannot hold {', '.join(needs)} (plain data and tensors only)")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _refused(path: Path, exc: Exception) -> list[str]:
    """What weights-only loading refused in `path`: the pickle's unsafe globals, else the one the error names."""
    try:
        needs = unsafe_globals(path)
    except Exception:  # noqa: BLE001 - not a zip checkpoint (a legacy torch file): the error's own name
        needs = []
    return needs or re.findall(r"GLOBAL (\S+) was not an allowed global", str(exc))[:1]


def _load(path: Path, trust: bool) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        needs = _refused(path, exc)
        if not needs:
            raise
        if not trust:
            raise UnsafeCheckpointError(path, needs) from None
    print(f"{path}: trusted (--trust-checkpoint), unpickled in full for {', '.join(needs[:4])}", file=sys.stderr)
    return torch.load(path, map_location="cpu", weights_only=False)


def read_checkpoint(path: str | Path, kind: str = "llc", *, trust: bool | None = None) -> dict:
    """Load and validate a checkpoint dict; raises CheckpointError with the file name and the problem.
    Weights-only loading (nothing in the file runs); a file that needs more raises UnsafeCheckpointError
    unless `trust` (None: as `trusting_checkpoints` says, by default not), which unpickles it in full."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        ckpt = plain_tree(_load(path, _TRUST.get() if trust is None else trust))
    except CheckpointError:
        raise
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means "not a checkpoint"
        msg = " ".join(str(exc).split())[:300]
        raise CheckpointError(f"{path}: not a readable torch checkpoint ({type(exc).__name__}: {msg})") from None
    if not isinstance(ckpt, dict) or "format_version" not in ckpt:
        raise CheckpointError(f"{path}: not a controller checkpoint of this project (no format_version)")
    if ckpt["format_version"] > FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format {ckpt['format_version']} is newer than this code reads ({FORMAT_VERSION})"
        )
    if ckpt.get("kind") != kind:
        raise CheckpointError(f"{path}: holds a {ckpt.get('kind')!r} controller, expected {kind!r}")
    missing = [k for k in (HLC_REQUIRED_KEYS if kind == "hlc" else REQUIRED_KEYS) if k not in ckpt]
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
    Numpy in, numpy out; torch tensors in (e.g. an environment's arrays on a GPU): the networks run on their
    device and tensors come out.
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
        # named skills (a skill LLC): name -> its anchor latent (unit, latent_dim); empty for an ASE LLC
        self.skills: dict[str, np.ndarray] = skills_from_checkpoint(ckpt)
        self.network = NetworkConfig.from_dict(ckpt["network"])
        amp_window = self.amp_obs_dim * self.num_amp_frames
        self.actor = Actor(self.obs_dim, self.action_dim, self.network)
        self.disc_enc = DiscEnc(amp_window, self.network)
        self.obs_norm, self.amp_norm = RunningNorm(self.obs_dim), RunningNorm(amp_window)
        for name in ("actor", "disc_enc", "obs_norm", "amp_norm"):
            getattr(self, name).load_state_dict(ckpt[name])
            getattr(self, name).eval()
        self._rng = np.random.default_rng()
        self._gen = torch.Generator()  # noise for tensor inputs (CPU draws)
        self._device = torch.device("cpu")

    def _tensor(self, x: Any, like: Any = None) -> torch.Tensor:
        """float32 on the networks' device: a tensor's own device (the networks move there), else the CPU."""
        ref = x if like is None else like
        device = ref.device if isinstance(ref, torch.Tensor) else torch.device("cpu")
        if device != self._device:
            for name in ("actor", "disc_enc", "obs_norm", "amp_norm"):
                getattr(self, name).to(device)
            self._device = device
        if isinstance(x, torch.Tensor):
            return x.to(device, torch.float32)
        return torch.as_tensor(np.asarray(x, dtype=np.float32), device=device)

    @staticmethod
    def _out(y: torch.Tensor, like: Any) -> Any:
        return y if isinstance(like, torch.Tensor) else y.cpu().numpy()

    @torch.no_grad()
    def act(self, obs: Any, z: Any, deterministic: bool = True) -> Any:
        obs_t = self._tensor(obs).reshape(-1, self.obs_dim)
        z_t = self._tensor(z, obs).reshape(-1, self.latent_dim)
        mean = self.actor(self.obs_norm(obs_t), z_t)
        if isinstance(obs, torch.Tensor):
            if not deterministic:
                noise = torch.randn(mean.shape, generator=self._gen).to(mean.device)
                mean = mean + math.exp(self.network.action_log_std) * noise
            return mean.clamp(-1.0, 1.0)
        mean = mean.cpu().numpy()
        if not deterministic:
            mean = mean + np.exp(self.network.action_log_std) * self._rng.standard_normal(mean.shape)
        return np.clip(mean, -1.0, 1.0).astype(np.float32)

    def _window(self, amp_window: Any) -> torch.Tensor:
        return self.amp_norm(self._tensor(amp_window).reshape(-1, self.amp_obs_dim * self.num_amp_frames))

    @torch.no_grad()
    def encode(self, amp_window: Any) -> Any:
        """The encoder's unit latent for each window (e.g. the latent of a motion clip)."""
        return self._out(self.disc_enc(self._window(amp_window))[1], amp_window)

    @torch.no_grad()
    def disc_reward(self, amp_window: Any) -> Any:
        return self._out(style_reward(self.disc_enc.disc_logit(self._window(amp_window))), amp_window)

    @torch.no_grad()
    def enc_reward(self, amp_window: Any, z: Any) -> Any:
        mu = self.disc_enc(self._window(amp_window))[1]
        return self._out(encoder_reward(mu, self._tensor(z, amp_window)), amp_window)


def skills_from_checkpoint(ckpt: dict) -> dict[str, np.ndarray]:
    """{skill name: anchor latent} from a checkpoint's `skills` entry ({"names": [...], "anchors": (K, D)})."""
    entry = ckpt.get("skills")
    if not entry:
        return {}
    anchors = np.asarray(torch.as_tensor(entry["anchors"]).cpu().numpy(), dtype=np.float32)
    return {str(name): anchors[i] for i, name in enumerate(entry["names"])}


def controller_summary(path: str | Path) -> str | None:
    """The measured one-line summary of a checkpoint, from `launch.py eval --json` written beside it as
    `<name>.json` (checkpoints/llc.json for the bundled LLC); None when there is none."""
    import json

    card = Path(path).with_suffix(".json")
    try:
        results = json.loads(card.read_text())["results"]
        return str(next(iter(results.values()))["summary"])
    except (OSError, ValueError, KeyError, StopIteration, TypeError):
        return None


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
    skills: dict | None = None,
) -> dict:
    """Assemble the checkpoint dict (inference-only when critic/value_norm/train are None). `skills`: a skill
    LLC's {"names": [K names], "anchors": (K, latent_dim) tensor}."""
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
    if skills:
        ckpt["skills"] = {"names": list(skills["names"]), "anchors": torch.as_tensor(skills["anchors"]).float()}
    return ckpt


def untrained_llc_checkpoint(character: str = "humanoid", network: NetworkConfig | None = None) -> dict:
    """A randomly initialized LLC in the real format: for tests, benchmarks and trying the viewer's plumbing."""
    from sim.character import load_character
    from sim.observations import NUM_AMP_FRAMES, OBS_LAYOUT_VERSION, amp_layout, layout_size, policy_layout

    ch = load_character(character)
    net = network or NetworkConfig.cpu()
    obs, amp, frames = layout_size(policy_layout(ch)), layout_size(amp_layout(ch)), NUM_AMP_FRAMES
    return llc_checkpoint(
        character=ch.name, obs_layout_version=OBS_LAYOUT_VERSION, obs_dim=obs, amp_obs_dim=amp,
        num_amp_frames=frames, action_dim=ch.num_dof, network=net, config={}, actor=Actor(obs, ch.num_dof, net),
        disc_enc=DiscEnc(amp * frames, net), obs_norm=RunningNorm(obs), amp_norm=RunningNorm(amp * frames),
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------- HLC
def hlc_checkpoint(
    *,
    character: str,
    obs_layout_version: int,
    task: str,
    task_config: dict,
    goal_layout: dict,
    obs_dim: int,
    network: Any,
    config: dict,
    llc_path: str | Path,
    llc_sha256: str,
    actor: torch.nn.Module,
    obs_norm: RunningNorm,
    critic: torch.nn.Module | None = None,
    value_norm: RunningNorm | None = None,
    train: dict | None = None,
) -> dict:
    """Assemble an HLC checkpoint dict (inference-only when critic/value_norm/train are None)."""
    ckpt = {
        "format_version": FORMAT_VERSION,
        "kind": "hlc",
        "character": character,
        "obs_layout_version": obs_layout_version,
        "task": task,
        "task_config": task_config,
        "goal_layout": goal_layout,
        "obs_dim": obs_dim,
        "latent_dim": network.latent_dim,
        "network": asdict(network),
        "config": config,
        "llc": {"sha256": llc_sha256, "path": str(llc_path)},
        "actor": actor.state_dict(),
        "obs_norm": obs_norm.state_dict(),
    }
    if critic is not None:
        ckpt["critic"] = critic.state_dict()
    if value_norm is not None:
        ckpt["value_norm"] = value_norm.state_dict()
    if train is not None:
        ckpt["train"] = train
    return ckpt


def recorded_llc_path(path: str | Path, ckpt: dict) -> Path:
    """Where the HLC's LLC file is: the recorded path, else beside the HLC checkpoint under the recorded name,
    whichever holds the recorded SHA-256; else an LLC beside it with that SHA-256 (a renamed copy, e.g. once
    bundled, or a new LLC promoted to the recorded name); else the first of those two names that exists (its
    mismatch is then reported), else the recorded one."""
    recorded = Path(ckpt["llc"]["path"])
    want = ckpt["llc"]["sha256"]
    candidates = [c for c in (recorded, Path(path).parent / recorded.name) if c.is_file()]
    for candidate in candidates:
        if sha256_file(candidate) == want:
            return candidate
    same = llc_files_by_sha(Path(path).parent).get(want)
    if same is not None:
        return same
    if candidates:
        return candidates[0]
    return recorded if recorded.is_absolute() else Path(path).parent / recorded.name


def llc_files_by_sha(folder: str | Path) -> dict[str, Path]:
    """SHA-256 -> path of the LLC weights in `folder` (llc*.pt, not the resumable *_state.pt; the first by name)."""
    out: dict[str, Path] = {}
    for p in sorted(Path(folder).glob("llc*.pt")):
        if not p.name.endswith("_state.pt"):
            out.setdefault(sha256_file(p), p)
    return out


def check_llc_file(path: str | Path, ckpt: dict, llc_path: str | Path, allow_other_llc: bool = False) -> str:
    """The SHA-256 of `llc_path`; CheckpointError if it is not the LLC the HLC `ckpt` was trained with."""
    llc_path = Path(llc_path)
    if not llc_path.is_file():
        raise CheckpointError(f"{path}: its LLC {llc_path} does not exist; pass the LLC checkpoint it was trained with")
    sha, want = sha256_file(llc_path), ckpt["llc"]["sha256"]
    if sha != want and not allow_other_llc:
        own = llc_files_by_sha(Path(path).parent).get(want)
        hint = f"; its own LLC is {own}" if own is not None else ""
        raise CheckpointError(
            f"{path}: trained with LLC sha256 {want[:12]} ({ckpt['llc']['path']}), but {llc_path} is {sha[:12]}; "
            f"an HLC only drives its own LLC (allow_other_llc=True / --allow-other-llc to try anyway){hint}"
        )
    return sha


def load_hlc(
    path: str | Path, llc_path: str | Path | None = None, *, allow_other_llc: bool = False
) -> tuple[Any, LLCPolicy]:
    """Load a task controller and its frozen LLC: (HLCPolicy, LLCPolicy). `llc_path` defaults to the recorded
    one; an LLC file whose SHA-256 differs from the recorded one is refused unless `allow_other_llc`."""
    return hlc_from_checkpoint(read_checkpoint(path, "hlc"), path, llc_path, allow_other_llc=allow_other_llc)


def hlc_from_checkpoint(
    ckpt: dict, path: str | Path, llc_path: str | Path | None = None, *, allow_other_llc: bool = False
) -> tuple[Any, LLCPolicy]:
    """`load_hlc` for a checkpoint dict already read from `path` (read_checkpoint(path, "hlc"))."""
    from controllers.hlc import HLCPolicy

    check_compatible(ckpt, path, None, None)
    llc_file = Path(llc_path) if llc_path is not None else recorded_llc_path(path, ckpt)
    check_llc_file(path, ckpt, llc_file, allow_other_llc)
    llc = load_llc(llc_file, character=ckpt["character"])
    goal = int(ckpt["goal_layout"].get("size", 0))
    if llc.latent_dim != ckpt["latent_dim"] or llc.obs_dim + goal != ckpt["obs_dim"]:
        raise CheckpointError(
            f"{path}: expects an LLC with latent {ckpt['latent_dim']} and observation {ckpt['obs_dim'] - goal}, "
            f"{llc_file} has {llc.latent_dim} and {llc.obs_dim}"
        )
    try:
        return HLCPolicy(ckpt), llc
    except (RuntimeError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{path}: weights do not fit the stored network sizes ({exc})") from None
