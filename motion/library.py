"""MotionLibrary: weighted clips sampled at any time, as MuJoCo states with forward kinematics.

Time: looping clips wrap modulo their duration and carry the root's xy displacement from cycle to
cycle (so a looped walk keeps walking forward; yaw too with cycle_yaw=True); other clips clamp to
[0, duration].
Pose: root position lerps and rotations slerp between the two frames around the time.
Velocities: forward differences from the earlier of those two frames to the next, not interpolated, as
in the ASE reference's motion library (which also Gaussian-smooths the root's velocity; we do not).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from motion.clip import MotionClip, MotionFileError
from motion.io import dataset_entries, load_clip, load_entry
from motion.kinematics import Skeleton, body_velocities, forward_kinematics, forward_kinematics_cm, to_qpos_cm, to_qvel
from sim.character import Character
from sim.rotations import heading_angle, quat_from_axis_angle, quat_mul, quat_rotate, wrap_angle

__all__ = ["MotionLibrary", "MotionState", "load_clip"]

_Z = np.array([0.0, 0.0, 1.0])


@dataclass
class MotionState:
    """Reference states for n samples, in the character's MuJoCo layout (see docs/architecture.md)."""

    qpos: np.ndarray  # (n, nq)
    qvel: np.ndarray  # (n, nv)
    body_pos: np.ndarray  # (n, B, 3) world
    body_rot: np.ndarray  # (n, B, 4) world, wxyz
    body_vel: np.ndarray  # (n, B, 3) world
    body_ang_vel: np.ndarray  # (n, B, 3) world


class MotionLibrary:
    def __init__(
        self,
        character: Character,
        clips: list[MotionClip],
        weights: list[float] | None = None,
        *,
        cycle_yaw: bool = False,
    ):
        """cycle_yaw: also turn each new loop cycle by the clip's first-to-last-frame yaw. Off by default:
        in the DeepMimic loops that yaw is gait sway (walk 6.9, run -5.3 degrees), not a turn, and carrying
        it would bend a straight walk into a circle. The xy displacement is always carried."""
        if not clips:
            raise ValueError("a motion library needs at least one clip")
        for c in clips:
            if c.character != character.name or c.num_bodies != character.num_bodies:
                raise ValueError(
                    f"clip {c.name!r} is for character {c.character!r} ({c.num_bodies} bodies), "
                    f"not {character.name!r} ({character.num_bodies} bodies)"
                )
        w = np.ones(len(clips)) if weights is None else np.asarray(weights, dtype=np.float64)
        if w.shape != (len(clips),) or not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
            raise ValueError(f"weights must be {len(clips)} non-negative numbers with a positive sum, got {weights}")
        self.character = character
        self.cycle_yaw = cycle_yaw
        self.clips = list(clips)
        self.weights = w / w.sum()
        self.skeleton = Skeleton.of(character)
        self._local = threading.local()
        self._flatten()

    # ---- construction ------------------------------------------------------------
    @classmethod
    def from_path(cls, path: str | Path, character: Character, trust_pickle: bool = False) -> MotionLibrary:
        """Load a clip (.txt, .npy), a dataset (DeepMimic .txt, ASE/project .yaml) or a directory of clips."""
        entries = dataset_entries(path)
        clips = [load_entry(e, character, trust_pickle) for e in entries]
        weights = [e.weight for e in entries]
        if sum(weights) <= 0:
            raise MotionFileError(path, "all clip weights are zero")
        return cls(character, clips, weights)

    def _flatten(self) -> None:
        """Concatenate all frames and precompute per-frame FK and forward-difference velocities."""
        skel = self.skeleton
        counts = np.array([c.num_frames for c in self.clips])
        self._start = np.concatenate([[0], np.cumsum(counts)[:-1]])
        self._count = counts
        self.durations = np.array([c.duration for c in self.clips])
        self._loop = np.array([c.loop and c.duration > 0 for c in self.clips])
        self._times = np.concatenate([c.times for c in self.clips])
        self._root = np.concatenate([c.root_pos for c in self.clips])
        self._rots = np.concatenate([c.rotations for c in self.clips])
        # searchsorted key: clip index * stride + time (sorted, since times increase within each clip)
        self._stride = float(self.durations.max()) + 1.0
        clip_of_frame = np.repeat(np.arange(len(self.clips)), counts)
        self._keys = clip_of_frame * self._stride + self._times

        xpos, xrot = forward_kinematics(skel, self._root, self._rots)
        # forward-difference pairs (a -> a+1) inside each clip; a clip's last frame reuses the previous pair
        last = self._start + counts - 1
        a = np.arange(len(self._times))
        a = np.where(np.isin(a, last) & (counts[clip_of_frame] > 1), a - 1, a)
        b = np.minimum(a + 1, last[clip_of_frame])
        dt = self._times[b] - self._times[a]
        single = dt <= 0  # one-frame clips: zero velocity
        dt = np.where(single, 1.0, dt)
        b = np.where(single, a, b)
        self._qvel = to_qvel(skel, self._root[a], self._rots[a], self._root[b], self._rots[b], dt)
        self._body_vel, self._body_ang_vel = body_velocities(xpos[a], xrot[a], xpos[b], xrot[b], dt)
        self._pose_pairs()

        # per-cycle root motion of looping clips: xy displacement and yaw from first to last frame
        first, lastf = self._start, last
        self._p0 = self._root[first, :2]
        self._cycle_d = self._root[lastf, :2] - self._p0
        self._cycle_yaw = wrap_angle(heading_angle(self._rots[lastf, 0]) - heading_angle(self._rots[first, 0]))

    def _pose_pairs(self) -> None:
        """Per frame, everything sample() gathers, in one component-major table (rows, N) so a single
        np.take fetches it: root position now / next (3 + 3), rotation now / next (4B + 4B, the next one
        flipped onto the shortest path), the angle between them and 1 / sin of it (B + B)."""
        last = self._start + self._count - 1
        nxt = np.minimum(np.arange(len(self._times)) + 1, np.repeat(last, self._count))
        a, b = self._rots, self._rots[nxt]
        dot = np.sum(a * b, axis=-1)
        b = np.where(dot[..., None] < 0, -b, b)
        # angles below 1e-6 use 1e-6: sin(t x) / sin(x) = t to 1e-13 there, so no special case is needed
        theta = np.maximum(np.arccos(np.clip(np.abs(dot), 0.0, 1.0)), 1e-6)
        n = len(self._times)
        parts = [
            self._root.T,
            self._root[nxt].T,
            a.transpose(2, 1, 0).reshape(-1, n),
            b.transpose(2, 1, 0).reshape(-1, n),
        ]
        parts += [theta.T, 1.0 / np.sin(theta).T]
        self._pose_table = np.ascontiguousarray(np.concatenate(parts, axis=0))

    # ---- queries -----------------------------------------------------------------
    @property
    def num_clips(self) -> int:
        return len(self.clips)

    @property
    def clip_names(self) -> list[str]:
        return [c.name for c in self.clips]

    def clip_index(self, name: str) -> int:
        return self.clip_names.index(name)

    def sample_clips(self, n: int, rng: np.random.Generator | None = None) -> np.ndarray:
        """n clip ids drawn by weight."""
        rng = np.random.default_rng() if rng is None else rng
        return rng.choice(self.num_clips, size=n, p=self.weights)

    def sample_times(self, clip_ids, rng: np.random.Generator | None = None, min_time: float = 0.0) -> np.ndarray:
        """Times uniform in [min_time, duration] per clip (min_time itself for clips shorter than that)."""
        rng = np.random.default_rng() if rng is None else rng
        d = self.durations[np.asarray(clip_ids)]
        return min_time + rng.random(d.shape) * np.maximum(d - min_time, 0.0)

    def sample(self, clip_ids, times) -> MotionState:
        """States of the given clips at the given times (arrays of equal length, or broadcastable)."""
        c, t = np.broadcast_arrays(np.asarray(clip_ids, dtype=np.int64), np.asarray(times, dtype=np.float64))
        c, t = c.ravel(), t.ravel()
        dur = self.durations[c]
        loop = self._loop[c]
        cycles = np.where(loop, np.floor(t / np.where(loop, dur, 1.0)), 0.0)
        tau = np.clip(t - cycles * dur, 0.0, dur)

        start, count = self._start[c], self._count[c]
        i0 = np.searchsorted(self._keys, c * self._stride + tau, side="right") - 1
        i0 = np.clip(i0, start, start + np.maximum(count - 2, 0))
        i1 = np.minimum(i0 + 1, start + count - 1)
        span = self._times[i1] - self._times[i0]
        alpha = np.clip((tau - self._times[i0]) / np.where(span > 0, span, 1.0), 0.0, 1.0)
        alpha = np.where(span > 0, alpha, 0.0)

        # pose: lerp / slerp in component-major layout (see kinematics.forward_kinematics_cm)
        nb, n = self.character.num_bodies, len(c)
        g = np.take(self._pose_table, i0, axis=1, out=self._work(n))
        pa, pb = g[0:3], g[3:6]
        qa = g[6 : 6 + 4 * nb].reshape(4, nb, n)
        qb = g[6 + 4 * nb : 6 + 8 * nb].reshape(4, nb, n)
        theta, inv_sin = g[6 + 8 * nb : 6 + 9 * nb], g[6 + 9 * nb : 6 + 10 * nb]  # (B, n)
        root = pa + alpha * (pb - pa)  # (3, n)
        qa *= np.sin((1.0 - alpha) * theta) * inv_sin  # slerp weights, in place on the gathered table
        qb *= np.sin(alpha * theta) * inv_sin
        rots = np.add(qa, qb, out=qa)  # (4, B, n)
        qvel = np.take(self._qvel, i0, axis=0)
        body_vel = np.take(self._body_vel, i0, axis=0)
        body_ang_vel = np.take(self._body_ang_vel, i0, axis=0)

        moved = cycles != 0
        if moved.any():  # carry the root's displacement (and yaw, if asked) across loop cycles
            yaw = cycles * self._cycle_yaw[c] if self.cycle_yaw else np.zeros_like(cycles)
            root[:2] = self._cycle_xy(c, cycles, root[:2], yaw)
            if self.cycle_yaw:
                turn = quat_from_axis_angle(_Z, yaw)  # (n, 4)
                rots[:, 0] = quat_mul(turn, rots[:, 0].T).T
                qvel[:, 0:3] = quat_rotate(turn, qvel[:, 0:3])
                body_vel = quat_rotate(turn[:, None], body_vel)
                body_ang_vel = quat_rotate(turn[:, None], body_ang_vel)

        body_pos, body_rot = forward_kinematics_cm(self.skeleton, root, rots)
        return MotionState(
            qpos=to_qpos_cm(self.skeleton, root, rots),
            qvel=qvel,
            body_pos=np.ascontiguousarray(body_pos.transpose(2, 1, 0)),
            body_rot=np.ascontiguousarray(body_rot.transpose(2, 1, 0)),
            body_vel=body_vel,
            body_ang_vel=body_ang_vel,
        )

    def _work(self, n: int) -> np.ndarray:
        """A reused (per thread) buffer for the gathered pose table: allocating these 5 MB afresh on
        every call made glibc return and re-fault pages, which cost more than the sampling itself."""
        buf = getattr(self._local, "buf", None)
        if buf is None or buf.shape[1] != n:
            buf = self._local.buf = np.empty((self._pose_table.shape[0], n))
        return buf

    def _cycle_xy(self, c: np.ndarray, k: np.ndarray, xy: np.ndarray, yaw: np.ndarray) -> np.ndarray:
        """Apply the clip's cycle transform k times to xy (2, n): T(x) = Rz(dyaw) (x - p0) + p_last."""
        p0 = self._p0[c]
        d = self._cycle_d[c, 0] + 1j * self._cycle_d[c, 1]
        dyaw = self._cycle_yaw[c] if self.cycle_yaw else np.zeros(len(c))
        w = np.exp(1j * dyaw)
        small = np.abs(dyaw) < 1e-9
        # sum_{j<k} w^j d  (geometric series; k d when the clip does not turn)
        series = np.where(small, k, (1 - w**k) / np.where(small, 1.0, 1 - w)) * d
        rel = ((xy[0] - p0[:, 0]) + 1j * (xy[1] - p0[:, 1])) * np.exp(1j * yaw)
        out = p0[:, 0] + 1j * p0[:, 1] + series + rel
        return np.stack([out.real, out.imag])
