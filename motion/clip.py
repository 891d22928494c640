"""One motion clip in the character's body order, and the error every importer raises."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sim.rotations import quat_slerp


class MotionFileError(ValueError):
    """A motion file that cannot be used. The message starts with the file's path."""

    def __init__(self, path: str | Path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


@dataclass
class MotionClip:
    """A clip: root position (F, 3) world z-up metres; rotations (F, B, 4) wxyz in body order
    (index 0 = the root's world rotation, others local to the parent body); times (F,) seconds from 0.

    meta: what the file said beyond the motion: `source_joints` (joint count in the file),
    `root_offset` (an ASE skeleton's pelvis local_translation, written back on .npy export),
    `report` (a RetargetReport for retargeted clips)."""

    name: str
    root_pos: np.ndarray
    rotations: np.ndarray
    times: np.ndarray
    loop: bool
    character: str
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.root_pos = np.asarray(self.root_pos, dtype=np.float64)
        self.rotations = np.asarray(self.rotations, dtype=np.float64)
        self.times = np.asarray(self.times, dtype=np.float64)
        problem = clip_problem(self.root_pos, self.rotations, self.times)
        if problem:
            raise ValueError(f"clip {self.name!r}: {problem}")

    @property
    def num_frames(self) -> int:
        return int(self.times.shape[0])

    @property
    def num_bodies(self) -> int:
        return int(self.rotations.shape[1])

    @property
    def duration(self) -> float:
        return float(self.times[-1])

    @property
    def fps(self) -> float:
        """Mean frame rate (frames may be unevenly spaced)."""
        return (self.num_frames - 1) / self.duration if self.duration > 0 else 0.0

    @property
    def uniform(self) -> bool:
        """True when every frame step equals the mean step (to 1e-6 s)."""
        dt = np.diff(self.times)
        return dt.size == 0 or bool(np.max(np.abs(dt - dt.mean())) < 1e-6)


def clip_problem(root_pos: np.ndarray, rotations: np.ndarray, times: np.ndarray) -> str:
    """A short description of what is wrong with these arrays, or '' when they form a valid clip."""
    if times.ndim != 1 or times.shape[0] < 1:
        return f"times must have shape (F,) with F >= 1, got {times.shape}"
    f = times.shape[0]
    if root_pos.shape != (f, 3):
        return f"root positions have shape {root_pos.shape}, expected ({f}, 3)"
    if rotations.ndim != 3 or rotations.shape[0] != f or rotations.shape[2] != 4:
        return f"rotations have shape {rotations.shape}, expected ({f}, bodies, 4)"
    for label, arr in (("times", times), ("root positions", root_pos), ("rotations", rotations)):
        bad = ~np.isfinite(arr)
        if bad.any():
            frame = int(np.argwhere(bad)[0][0]) if arr.ndim > 1 else int(np.argmax(bad))
            return f"{label} hold NaN or infinite values (first at frame {frame})"
    if times[0] != 0.0:
        return f"times must start at 0, got {times[0]}"
    steps = np.diff(times)
    if (steps <= 0).any():
        i = int(np.argmax(steps <= 0))
        return f"frame {i} has a non-positive duration ({steps[i]:g} s)"
    return ""


def resample_uniform(clip: MotionClip, fps: float | None = None) -> MotionClip:
    """The clip on evenly spaced frames (ASE .npy needs one fps). Default: the clip's mean fps, keeping
    the frame count and the duration; root positions lerp, rotations slerp."""
    if clip.num_frames < 2:
        return clip
    n = clip.num_frames if fps is None else max(int(round(clip.duration * fps)) + 1, 2)
    t = np.linspace(0.0, clip.duration, n)
    i0 = np.clip(np.searchsorted(clip.times, t, side="right") - 1, 0, clip.num_frames - 2)
    alpha = np.clip((t - clip.times[i0]) / (clip.times[i0 + 1] - clip.times[i0]), 0.0, 1.0)
    root = clip.root_pos[i0] + alpha[:, None] * (clip.root_pos[i0 + 1] - clip.root_pos[i0])
    rot = quat_slerp(clip.rotations[i0], clip.rotations[i0 + 1], np.broadcast_to(alpha[:, None], i0.shape + (1,)))
    return MotionClip(clip.name, root, rot, t, clip.loop, clip.character, dict(clip.meta))
