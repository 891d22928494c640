"""Observation layouts and the functions that compute them, vectorized over n.

One place for the layout: the environment, checkpoints and (later) the ONNX
sidecar read `policy_layout(character)` / `amp_layout(character)`.

Policy observation (223 for the plain humanoid, 253 for sword-and-shield):
    root height (1)
    positions of bodies 1..B-1 relative to the root, heading frame (3(B-1))
    rotations of all B bodies, 6D, heading frame (6B)
    linear velocities of all B bodies, heading frame (3B)
    angular velocities of all B bodies, heading frame (3B)
The root's 6D slot holds its rotation in the heading frame (yaw removed). The
ASE reference puts the world rotation there; we keep every term yaw-invariant.

Discriminator / encoder observation per frame (125 plain, 140 sword-and-shield):
    root height (1), root rotation 6D heading frame (6),
    root linear velocity (3) and angular velocity (3) in the heading frame,
    local joint rotations: 6D per actuated joint (a hinge's angle first made the
    rotation about its axis, as the reference's dof_to_obs does), joint velocities
    (DoF, MuJoCo's qvel order), key-body positions relative to the root in the
    heading frame (3K).
Windows of `num_amp_frames` frames are concatenated, current frame first.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.arrays import empty, namespace
from sim.character import Character
from sim.rotations import heading_angle, quat_from_axis_angle, quat_rotate, quat_to_rotvec, quat_to_tan_norm

# 2: hinge joints enter the discriminator observation as the 6D of their rotation (1: the angle x6).
# The policy observation is the same in both.
OBS_LAYOUT_VERSION = 2
NUM_AMP_FRAMES = 10  # discriminator window: current frame and the 9 before it (ASE)


@dataclass(frozen=True)
class Slice:
    name: str
    start: int
    size: int
    frame: str  # "heading", "local", "-"
    units: str

    @property
    def stop(self) -> int:
        return self.start + self.size


def _layout(parts: list[tuple[str, int, str, str]]) -> list[Slice]:
    out, start = [], 0
    for name, size, frame, units in parts:
        out.append(Slice(name, start, size, frame, units))
        start += size
    return out


def policy_layout(ch: Character) -> list[Slice]:
    b = ch.num_bodies
    return _layout(
        [
            ("root_height", 1, "-", "m"),
            ("body_pos", 3 * (b - 1), "heading", "m, bodies 1..B-1 relative to root"),
            ("body_rot", 6 * b, "heading", "6D [R x, R z]"),
            ("body_lin_vel", 3 * b, "heading", "m/s"),
            ("body_ang_vel", 3 * b, "heading", "rad/s"),
        ]
    )


def amp_layout(ch: Character) -> list[Slice]:
    return _layout(
        [
            ("root_height", 1, "-", "m"),
            ("root_rot", 6, "heading", "6D"),
            ("root_lin_vel", 3, "heading", "m/s"),
            ("root_ang_vel", 3, "heading", "rad/s"),
            ("joint_rot", 6 * ch.num_actuated_joints, "local", "6D per joint (hinge: rotation about its axis)"),
            ("joint_vel", ch.num_dof, "local", "rad/s (MuJoCo qvel)"),
            ("key_body_pos", 3 * len(ch.key_bodies), "heading", "m relative to root"),
        ]
    )


def layout_size(layout: list[Slice]) -> int:
    return layout[-1].stop


def describe_layouts(ch: Character, num_amp_frames: int = NUM_AMP_FRAMES) -> dict:
    """JSON-ready description of both observations (for checkpoints and the ONNX sidecar)."""
    from dataclasses import asdict

    return {
        "version": OBS_LAYOUT_VERSION,
        "character": ch.name,
        "quaternion_order": "wxyz",
        "heading_frame": "world rotated by minus the root's yaw about +z (z up, x forward)",
        "rotation_6d": "[R x_hat, R z_hat]",
        "policy": {"size": layout_size(policy_layout(ch)), "slices": [asdict(s) for s in policy_layout(ch)]},
        "discriminator": {
            "frame_size": layout_size(amp_layout(ch)),
            "frames": num_amp_frames,
            "order": "current frame first",
            "slices": [asdict(s) for s in amp_layout(ch)],
            "key_bodies": list(ch.key_bodies),
        },
        "bodies": ch.body_names,
    }


@dataclass(frozen=True)
class JointIndex:
    """Where each actuated joint lives in qpos/qvel."""

    is_ball: np.ndarray  # (J,) bool
    qpos_adr: np.ndarray  # (J,)
    ball_qpos: np.ndarray  # (Jb,) qpos start of each ball joint quaternion
    hinge_qpos: np.ndarray  # (Jh,)
    hinge_axis: np.ndarray  # (Jh, 3)
    ball_slot: np.ndarray  # (Jb,) joint index j of each ball joint
    hinge_slot: np.ndarray  # (Jh,)
    key_bodies: np.ndarray  # (K,) body indices
    num_dof: int
    ball_dof: np.ndarray  # (3 Jb,) DoF columns of the ball joints, joint-major
    hinge_dof: np.ndarray  # (Jh,)

    @staticmethod
    def build(ch: Character) -> JointIndex:
        adr, is_ball, axes, ball_dof, hinge_dof = [], [], [], [], []
        q, dof = 7, 0
        for b in ch.actuated:
            adr.append(q)
            is_ball.append(b.joint == "ball")
            axes.append(b.hinge_axis)
            if b.joint == "ball":
                ball_dof.extend(range(dof, dof + 3))
            else:
                hinge_dof.append(dof)
            q += 4 if b.joint == "ball" else 1
            dof += b.dof
        is_ball_a = np.array(is_ball)
        adr_a = np.array(adr)
        return JointIndex(
            is_ball=is_ball_a,
            qpos_adr=adr_a,
            ball_qpos=adr_a[is_ball_a],
            hinge_qpos=adr_a[~is_ball_a],
            hinge_axis=np.array(axes)[~is_ball_a],
            ball_slot=np.nonzero(is_ball_a)[0],
            hinge_slot=np.nonzero(~is_ball_a)[0],
            key_bodies=np.array([ch.body_index(n) for n in ch.key_bodies]),
            num_dof=ch.num_dof,
            ball_dof=np.array(ball_dof, dtype=np.int64),
            hinge_dof=np.array(hinge_dof, dtype=np.int64),
        )


def _heading(root_rot: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """cos and sin of the root's yaw, (n, 1) each."""
    yaw = heading_angle(root_rot)
    xp = namespace(yaw)
    return xp.cos(yaw)[:, None], xp.sin(yaw)[:, None]


def _to_heading(c: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    """World vectors (n, k, 3) into the heading frame: rotate by -yaw about z."""
    x, y = v[..., 0], v[..., 1]
    xp = namespace(v)
    out = empty(xp, v.shape, v, dtype=xp.float32)
    out[..., 0] = c * x + s * y
    out[..., 1] = c * y - s * x
    out[..., 2] = v[..., 2]
    return out


def policy_obs(pos: np.ndarray, rot: np.ndarray, vel: np.ndarray, ang_vel: np.ndarray) -> np.ndarray:
    """Policy observation from world-frame body states, each (n, B, ...)."""
    n, b = pos.shape[:2]
    root_pos = pos[:, 0]
    c, s = _heading(rot[:, 0])
    rel = _to_heading(c, s, pos[:, 1:] - root_pos[:, None])
    rot6 = _to_heading(c, s, quat_to_tan_norm(rot).reshape(n, 2 * b, 3))
    xp = namespace(pos)
    parts = [root_pos[:, 2:3], rel.reshape(n, -1), rot6.reshape(n, -1)]
    parts += [_to_heading(c, s, vel).reshape(n, -1), _to_heading(c, s, ang_vel).reshape(n, -1)]
    return xp.concat([xp.astype(p, xp.float32) for p in parts], axis=1)


def amp_obs(idx: JointIndex, qpos: np.ndarray, qvel: np.ndarray, key_pos: np.ndarray) -> np.ndarray:
    """One discriminator frame from MuJoCo state (n, nq), (n, nv) and key-body world positions (n, K, 3)."""
    n = qpos.shape[0]
    root_pos, root_rot = qpos[:, 0:3], qpos[:, 3:7]
    c, s = _heading(root_rot)
    root6 = _to_heading(c, s, quat_to_tan_norm(root_rot).reshape(n, 2, 3))
    ang_world = quat_rotate(root_rot, qvel[:, 3:6])  # free-joint angular velocity is root-local
    xp = namespace(qpos)
    root_vel = _to_heading(c, s, xp.stack([qvel[:, 0:3], ang_world], axis=1))
    joints = empty(xp, (n, len(idx.qpos_adr), 6), qpos)
    if len(idx.ball_qpos):
        quats = qpos[:, idx.ball_qpos[:, None] + np.arange(4)]  # (n, Jb, 4)
        joints[:, idx.ball_slot] = quat_to_tan_norm(quats)
    if len(idx.hinge_qpos):
        half = qpos[:, idx.hinge_qpos] * 0.5
        axis = idx.hinge_axis if xp is np else xp.asarray(idx.hinge_axis, dtype=qpos.dtype, device=qpos.device)
        hinge_quat = xp.concat([xp.cos(half)[..., None], xp.sin(half)[..., None] * axis], axis=-1)
        joints[:, idx.hinge_slot] = quat_to_tan_norm(hinge_quat)
    dof_vel = qvel[:, 6 : 6 + idx.num_dof]
    key = _to_heading(c, s, key_pos - root_pos[:, None])
    parts = [root_pos[:, 2:3], root6.reshape(n, -1), root_vel.reshape(n, -1), joints.reshape(n, -1), dof_vel]
    parts.append(key.reshape(n, -1))
    return xp.concat([xp.astype(p, xp.float32) for p in parts], axis=1)


def window_lags(control_dt: float, frames: int) -> np.ndarray:
    """(frames,) how far behind its current frame each frame of a discriminator window lies: 0, dt, 2 dt, ...
    The one lag rule of every window: simulated histories, reference starts' histories and dataset windows (a
    clip's first whole window ends at the last lag)."""
    return control_dt * np.arange(frames)


def window_times(t0: np.ndarray, control_dt: float, frames: int) -> np.ndarray:
    """(n * frames,) the times of a discriminator window's frames ending at each t0: t0, t0 - dt, ... (current
    frame first), never before the clip's start."""
    return np.maximum(np.asarray(t0)[:, None] - window_lags(control_dt, frames)[None], 0.0).reshape(-1)


def clip_windows(motions, idx: JointIndex, control_dt: float, clip: int, frames: int, max_windows: int = 64):
    """Discriminator windows (n, frames * amp_dim) evenly along one clip of a motion library (anything with
    `durations` and `sample(clip_ids, times)`), current frame first, as the trainer builds dataset windows."""
    dur = float(motions.durations[clip])
    first = window_lags(control_dt, frames)[-1]
    t0 = np.linspace(min(first, dur), dur, max(2, min(max_windows, int(dur / control_dt))))
    times = window_times(t0, control_dt, frames)
    st = motions.sample(np.full(times.shape, clip), times)
    return amp_obs(idx, st.qpos, st.qvel, st.body_pos[:, idx.key_bodies]).reshape(len(t0), -1)


def upgrade_amp_windows(x: np.ndarray, ch: Character, from_version: int) -> np.ndarray:
    """Discriminator frames or windows (..., k * frame_size) of an older layout version, in this version's
    layout. Version 1 -> 2 is exact: a hinge's 6 slots held its angle, now the 6D of that rotation."""
    if from_version == OBS_LAYOUT_VERSION:
        return x
    if from_version != 1 or OBS_LAYOUT_VERSION != 2:
        raise ValueError(f"no upgrade of discriminator features from layout {from_version} to {OBS_LAYOUT_VERSION}")
    idx = JointIndex.build(ch)
    size = layout_size(amp_layout(ch))
    start = next(s.start for s in amp_layout(ch) if s.name == "joint_rot")
    frames = np.array(x, copy=True).reshape(*x.shape[:-1], -1, size)
    cols = start + 6 * idx.hinge_slot[:, None] + np.arange(6)  # (Jh, 6)
    angle = frames[..., cols[:, 0]].astype(np.float64)
    hinge_quat = quat_from_axis_angle(idx.hinge_axis, angle)  # (..., Jh, 4)
    frames[..., cols] = quat_to_tan_norm(hinge_quat).astype(frames.dtype)
    return frames.reshape(x.shape)


def changed_amp_columns(ch: Character, num_frames: int, from_version: int) -> np.ndarray:
    """Window columns whose meaning differs between `from_version` and this version."""
    if from_version == OBS_LAYOUT_VERSION:
        return np.zeros(0, dtype=np.int64)
    idx, size = JointIndex.build(ch), layout_size(amp_layout(ch))
    start = next(s.start for s in amp_layout(ch) if s.name == "joint_rot")
    cols = (start + 6 * idx.hinge_slot[:, None] + np.arange(6)).reshape(-1)
    return (np.arange(num_frames)[:, None] * size + cols[None]).reshape(-1)


def joint_positions(idx: JointIndex, qpos: np.ndarray) -> np.ndarray:
    """Actuated joint positions in action units: ball rotation vectors (3) and hinge angles (1), in DoF order."""
    out = empty(namespace(qpos), (qpos.shape[0], idx.num_dof), qpos)
    if len(idx.ball_qpos):
        out[:, idx.ball_dof] = quat_to_rotvec(qpos[:, idx.ball_qpos[:, None] + np.arange(4)]).reshape(len(qpos), -1)
    if len(idx.hinge_qpos):
        out[:, idx.hinge_dof] = qpos[:, idx.hinge_qpos]
    return out


__all__ = [
    "OBS_LAYOUT_VERSION",
    "NUM_AMP_FRAMES",
    "Slice",
    "JointIndex",
    "policy_layout",
    "amp_layout",
    "layout_size",
    "describe_layouts",
    "policy_obs",
    "amp_obs",
    "joint_positions",
    "upgrade_amp_windows",
    "clip_windows",
    "window_lags",
    "window_times",
    "changed_amp_columns",
]
