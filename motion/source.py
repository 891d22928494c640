"""A source skeleton's motion before retargeting: any joint tree, z-up metres, local transforms per frame.

BVH files (motion/bvh.py) and .npy files whose skeleton differs from the character's become one of
these; motion/retarget.py fits the character to it. At rest every joint's rotation is the identity, so
the rest pose is set by the offsets alone (the BVH convention).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from sim.rotations import quat_mul, quat_rotate, quat_slerp


@dataclass(frozen=True)
class SourceMotion:
    name: str
    joints: list[str]
    parents: np.ndarray  # (J,) parent index, -1 for the root; parents come before children
    offsets: np.ndarray  # (J, 3) rest offset of each joint in its parent's frame (the root's: its rest position)
    local_pos: np.ndarray  # (F, J, 3) per-frame translation in the parent's frame (= offsets without position channels)
    local_rot: np.ndarray  # (F, J, 4) wxyz, local to the parent (the root's: world)
    fps: float
    end_sites: dict[int, np.ndarray] = field(default_factory=dict)  # joint -> End Site offset (drawing only)

    @property
    def num_frames(self) -> int:
        return int(self.local_rot.shape[0])

    @property
    def num_joints(self) -> int:
        return len(self.joints)

    def index(self, name: str) -> int:
        return self.joints.index(name)

    def world(self) -> tuple[np.ndarray, np.ndarray]:
        """World joint positions (F, J, 3) and rotations (F, J, 4)."""
        return _fk(self.parents, self.local_pos, self.local_rot)

    def rest_positions(self) -> np.ndarray:
        """World joint positions (J, 3) in the rest pose (all rotations identity, root at its offset)."""
        pos = np.zeros((self.num_joints, 3))
        for j, p in enumerate(self.parents):
            pos[j] = self.offsets[j] + (pos[p] if p >= 0 else 0.0)
        return pos

    def children(self, j: int) -> list[int]:
        return [int(c) for c in np.flatnonzero(self.parents == j)]

    def descendants(self, j: int) -> list[int]:
        out, todo = [], self.children(j)
        while todo:
            c = todo.pop()
            out.append(c)
            todo += self.children(c)
        return out


def resample(source: SourceMotion, fps: float) -> SourceMotion:
    """The motion at another frame rate (same duration, rounded to whole frames): translations lerp,
    rotations slerp. Mocap at 120 Hz retargets four times faster at 30 Hz, ASE's rate."""
    if source.num_frames < 2 or abs(fps - source.fps) < 1e-9:
        return source
    duration = (source.num_frames - 1) / source.fps
    n = int(round(duration * fps)) + 1  # as motion.clip.resample_uniform
    t = np.minimum(np.arange(n) / fps * source.fps, source.num_frames - 1)  # in source frames
    i0 = np.minimum(np.floor(t).astype(np.int64), source.num_frames - 2)
    a = (t - i0)[:, None, None]
    pos = source.local_pos[i0] + a * (source.local_pos[i0 + 1] - source.local_pos[i0])
    rot = quat_slerp(source.local_rot[i0], source.local_rot[i0 + 1], a)
    return replace(source, local_pos=pos, local_rot=rot, fps=float(fps))


def _fk(parents: np.ndarray, local_pos: np.ndarray, local_rot: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pos = np.empty_like(local_pos)
    rot = np.empty_like(local_rot)
    for j, p in enumerate(parents):
        if p < 0:
            pos[:, j] = local_pos[:, j]
            rot[:, j] = local_rot[:, j]
        else:
            pos[:, j] = pos[:, p] + quat_rotate(rot[:, p], local_pos[:, j])
            rot[:, j] = quat_mul(rot[:, p], local_rot[:, j])
    return pos, rot


def check_tree(parents: np.ndarray) -> str:
    """'' when every parent index comes before its child (a single root first), else the problem."""
    if len(parents) == 0 or parents[0] != -1:
        return "the first joint must be the root"
    for j, p in enumerate(parents[1:], start=1):
        if not 0 <= p < j:
            return f"joint {j}'s parent index {p} does not come before it"
    return ""
