"""Demonstrations for an HLC: HLC observations and the actions played on them, from sequences that solved
their goal (written by `launch.py eval --latent-search TASK --demos FILE`, read by `train hlc --demos FILE`).

File: a compressed .npz with `obs` (M, obs_dim) float32, `actions` (M, action_dim) float32 (raw HLC actions,
before the clamp and the projection onto the sphere), `episode` (M,) int32 numbering the sequences, and `meta`
(JSON: task, llc_sha256, obs_dim, action_dim, goals searched). Each sequence runs up to and including the step
its goal was reached. Written atomically (temp file, then rename).
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


class DemoError(ValueError):
    """A demonstrations file that cannot be used; the message names the file and the problem."""


@dataclass
class Demos:
    obs: list[np.ndarray] = field(default_factory=list)
    actions: list[np.ndarray] = field(default_factory=list)
    goals: int = 0  # goals searched so far (with or without a success)

    @property
    def sequences(self) -> int:
        return len(self.obs)

    @property
    def samples(self) -> int:
        return sum(len(o) for o in self.obs)

    def add(self, out: dict[str, np.ndarray], actions: np.ndarray, order: np.ndarray, limit: int) -> int:
        """From one round of played sequences (`out["obs"]` (steps, N, obs_dim), `out["t_success"]` (N,),
        `actions` (steps, N, action_dim)) keep up to `limit` successes in `order`; returns how many."""
        kept = [int(j) for j in order if np.isfinite(out["t_success"][j])][:limit]
        for j in kept:
            end = int(out["t_success"][j]) + 1
            self.obs.append(np.array(out["obs"][:end, j], dtype=np.float32))
            self.actions.append(np.array(actions[:end, j], dtype=np.float32))
        return len(kept)

    def arrays(self, obs_dim: int, action_dim: int) -> dict[str, np.ndarray]:
        if not self.obs:
            return {"obs": np.zeros((0, obs_dim), np.float32), "actions": np.zeros((0, action_dim), np.float32),
                    "episode": np.zeros(0, np.int32)}  # fmt: skip
        episode = np.concatenate([np.full(len(o), i, np.int32) for i, o in enumerate(self.obs)])
        return {"obs": np.concatenate(self.obs), "actions": np.concatenate(self.actions), "episode": episode}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], goals: int) -> Demos:
        """The inverse of `arrays`: the file's rows split back into sequences."""
        if not len(arrays["episode"]):
            return cls([], [], goals)
        ends = np.flatnonzero(np.diff(arrays["episode"], append=-1)) + 1
        starts = np.concatenate([[0], ends[:-1]]).astype(int)
        cut = [(int(a), int(b)) for a, b in zip(starts, ends, strict=True)]
        return cls([arrays["obs"][a:b] for a, b in cut], [arrays["actions"][a:b] for a, b in cut], goals)

    def save(self, path: str | Path, meta: dict[str, Any]) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        meta = {**meta, "goals": self.goals, "sequences": self.sequences}
        np.savez_compressed(buf, **self.arrays(meta["obs_dim"], meta["action_dim"]), meta=np.array(json.dumps(meta)))
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
        tmp.write_bytes(buf.getvalue())
        os.replace(tmp, path)
        return path


def load_demos(path: str | Path, allow_empty: bool = False) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """(arrays, meta) of a demonstrations file; DemoError naming the file on anything unusable."""
    path = Path(path)
    if not path.is_file():
        raise DemoError(f"{path}: no such demonstrations file (write one with `launch.py eval --latent-search "
                        "TASK --demos FILE`)")  # fmt: skip
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in ("obs", "actions", "episode")}
            meta = json.loads(str(z["meta"]))
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, json.JSONDecodeError) as e:
        raise DemoError(f"{path}: not a demonstrations file ({type(e).__name__}: {e})") from None
    obs, act, ep = arrays["obs"], arrays["actions"], arrays["episode"]
    if obs.ndim != 2 or act.ndim != 2 or not (len(obs) == len(act) == len(ep)):
        raise DemoError(f"{path}: obs {obs.shape}, actions {act.shape} and episode {ep.shape} do not line up")
    for k in ("task", "obs_dim", "action_dim"):
        if k not in meta:
            raise DemoError(f"{path}: its meta has no {k!r}")
    if obs.shape[1] != meta["obs_dim"] or act.shape[1] != meta["action_dim"]:
        raise DemoError(f"{path}: arrays of width {obs.shape[1]} and {act.shape[1]}, its meta says "
                        f"{meta['obs_dim']} and {meta['action_dim']}")  # fmt: skip
    if not len(obs) and not allow_empty:
        raise DemoError(f"{path}: holds no demonstrations (the search found no success)")
    if not (np.isfinite(obs).all() and np.isfinite(act).all()):
        raise DemoError(f"{path}: holds NaN or infinite values")
    return arrays, meta


def load_demos_files(paths: list[str | Path]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Several demonstrations files as one set (sequences renumbered); they must agree on the task, the
    observation and action sizes and the LLC. DemoError naming the file that does not."""
    if not paths:
        raise DemoError("no demonstrations files given")
    arrays, meta = load_demos(paths[0])
    parts, first = [arrays], meta
    for path in paths[1:]:
        a, m = load_demos(path)
        differ = [k for k in ("task", "obs_dim", "action_dim", "llc_sha256") if m.get(k) != first.get(k)]
        if differ:
            raise DemoError(f"{path}: {', '.join(differ)} not the same as in {paths[0]}")
        parts.append({**a, "episode": a["episode"] + int(parts[-1]["episode"].max()) + 1})
    merged = {k: np.concatenate([p[k] for p in parts]) for k in ("obs", "actions", "episode")}
    return merged, {**first, "files": [str(p) for p in paths], "sequences": int(merged["episode"].max()) + 1}
