"""Forward kinematics, the MuJoCo qpos/qvel layout, and finite-difference velocities for a character.

All functions are vectorized over leading dimensions: root_pos (..., 3), rotations (..., B, 4).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.character import Character
from sim.rotations import hinge_angle, quat_conj, quat_mul, quat_rotate, quat_to_rotvec, wrap_angle


@dataclass(frozen=True)
class Skeleton:
    """The arrays FK and the qpos layout need, taken once from a Character."""

    parents: np.ndarray  # (B,)
    offsets: np.ndarray  # (B, 3) joint position in the parent's frame
    ball: np.ndarray  # indices of ball-joint bodies, in body order
    hinge: np.ndarray  # indices of hinge bodies
    hinge_axes: np.ndarray  # (len(hinge), 3)
    levels: list[tuple[np.ndarray, np.ndarray]]  # (bodies, their parents) per tree depth >= 1
    qpos_slots: list[tuple[int, int, int]]  # (body, qpos start, width) per actuated body
    qvel_slots: list[tuple[int, int, int]]  # (body, qvel start, width)
    nq: int
    nv: int

    @classmethod
    def of(cls, character: Character) -> Skeleton:
        qpos_slots, qvel_slots = [], []
        nq, nv = 7, 6
        for i, b in enumerate(character.bodies):
            if b.joint == "ball":
                qpos_slots.append((i, nq, 4))
                qvel_slots.append((i, nv, 3))
                nq, nv = nq + 4, nv + 3
            elif b.joint == "hinge":
                qpos_slots.append((i, nq, 1))
                qvel_slots.append((i, nv, 1))
                nq, nv = nq + 1, nv + 1
        kinds = [b.joint for b in character.bodies]
        hinge = np.array([i for i, k in enumerate(kinds) if k == "hinge"], dtype=np.int64)
        parents = character.parents
        depth = [0] * len(parents)
        for i in range(1, len(parents)):  # parents come before children in body order
            depth[i] = depth[parents[i]] + 1
        levels = []
        for d in range(1, max(depth) + 1):
            bodies = np.array([i for i in range(len(parents)) if depth[i] == d], dtype=np.int64)
            levels.append((bodies, parents[bodies]))
        return cls(
            parents=character.parents,
            offsets=character.offsets,
            ball=np.array([i for i, k in enumerate(kinds) if k == "ball"], dtype=np.int64),
            hinge=hinge,
            hinge_axes=np.array([character.bodies[i].hinge_axis for i in hinge], dtype=np.float64).reshape(-1, 3),
            levels=levels,
            qpos_slots=qpos_slots,
            qvel_slots=qvel_slots,
            nq=nq,
            nv=nv,
        )


def forward_kinematics(skel: Skeleton, root_pos: np.ndarray, rotations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World body positions (..., B, 3) and rotations (..., B, 4) from root position and local rotations.
    Bodies at the same tree depth are done together (5 steps for the humanoid, not 14)."""
    pos = np.empty(rotations.shape[:-1] + (3,))
    rot = np.empty_like(rotations)
    pos[..., 0, :] = root_pos
    rot[..., 0, :] = rotations[..., 0, :]
    for bodies, parents in skel.levels:
        prot = rot[..., parents, :]
        pos[..., bodies, :] = pos[..., parents, :] + quat_rotate(prot, skel.offsets[bodies])
        rot[..., bodies, :] = quat_mul(prot, rotations[..., bodies, :])
    return pos, rot


def to_qpos(skel: Skeleton, root_pos: np.ndarray, rotations: np.ndarray) -> np.ndarray:
    """MuJoCo qpos (..., nq): root pos, root quat, then ball quats / hinge angles in body order."""
    qpos = np.empty(rotations.shape[:-2] + (skel.nq,))
    qpos[..., 0:3] = root_pos
    qpos[..., 3:7] = rotations[..., 0, :]
    angles = hinge_angle(rotations[..., skel.hinge, :], skel.hinge_axes)
    kh = 0
    for body, start, width in skel.qpos_slots:
        if width == 4:
            qpos[..., start : start + 4] = rotations[..., body, :]
        else:
            qpos[..., start] = angles[..., kh]
            kh += 1
    return qpos


def from_qpos(skel: Skeleton, qpos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The inverse of to_qpos: root position (..., 3) and local rotations (..., B, 4); fixed bodies get
    the identity."""
    nb = len(skel.parents)
    rot = np.zeros(qpos.shape[:-1] + (nb, 4))
    rot[..., 0] = 1.0
    rot[..., 0, :] = qpos[..., 3:7]
    kh = 0
    for body, start, width in skel.qpos_slots:
        if width == 4:
            rot[..., body, :] = qpos[..., start : start + 4]
        else:
            axis = skel.hinge_axes[kh]
            half = 0.5 * qpos[..., start]
            rot[..., body, :] = np.stack([np.cos(half), *(np.sin(half) * a for a in axis)], axis=-1)
            kh += 1
    norm = np.linalg.norm(rot, axis=-1, keepdims=True)
    return qpos[..., 0:3].copy(), rot / norm


def rotation_rate(qa: np.ndarray, qb: np.ndarray, dt: np.ndarray, local: bool) -> np.ndarray:
    """Angular velocity that turns qa into qb in dt: in the rotated (local) frame or in the world frame."""
    rel = quat_mul(quat_conj(qa), qb) if local else quat_mul(qb, quat_conj(qa))
    return quat_to_rotvec(rel) / dt[..., None]


def to_qvel(skel: Skeleton, pos_a, rot_a, pos_b, rot_b, dt: np.ndarray) -> np.ndarray:
    """MuJoCo qvel (..., nv) that moves pose a to pose b in dt (forward difference).

    Root: world linear velocity, root-local angular velocity; ball joints: child-local angular velocity;
    hinges: angle rate. Integrating qpos_a by qvel * dt with mj_integratePos gives qpos_b.
    """
    qvel = np.empty(rot_a.shape[:-2] + (skel.nv,))
    qvel[..., 0:3] = (pos_b - pos_a) / dt[..., None]
    qvel[..., 3:6] = rotation_rate(rot_a[..., 0, :], rot_b[..., 0, :], dt, local=True)
    ball_rate = rotation_rate(rot_a[..., skel.ball, :], rot_b[..., skel.ball, :], dt[..., None], local=True)
    ang_a = hinge_angle(rot_a[..., skel.hinge, :], skel.hinge_axes)
    ang_b = hinge_angle(rot_b[..., skel.hinge, :], skel.hinge_axes)
    hinge_rate = wrap_angle(ang_b - ang_a) / dt[..., None]
    kb = kh = 0
    for _, start, width in skel.qvel_slots:
        if width == 3:
            qvel[..., start : start + 3] = ball_rate[..., kb, :]
            kb += 1
        else:
            qvel[..., start] = hinge_rate[..., kh]
            kh += 1
    return qvel


def body_velocities(xpos_a, xrot_a, xpos_b, xrot_b, dt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World linear (..., B, 3) and angular (..., B, 3) body velocities by forward difference."""
    lin = (xpos_b - xpos_a) / dt[..., None, None]
    ang = rotation_rate(xrot_a, xrot_b, dt[..., None], local=False)
    return lin, ang


# ---- component-major variants for fast batched sampling ------------------------------------------
# Quaternions as (4, ..., n) and vectors as (3, ..., n): each component is a contiguous row, which is
# several times faster in numpy than (n, ..., 4) for the thousands of samples the environment asks for.


def _qmul_cm(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    aw, ax, ay, az = a
    bw, bx, by, bz = b
    return np.stack(
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ]
    )


def _qrot_cm(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    w, x, y, z = q
    vx, vy, vz = v
    tx, ty, tz = 2 * (y * vz - z * vy), 2 * (z * vx - x * vz), 2 * (x * vy - y * vx)
    return np.stack([vx + w * tx + y * tz - z * ty, vy + w * ty + z * tx - x * tz, vz + w * tz + x * ty - y * tx])


def forward_kinematics_cm(skel: Skeleton, root_pos: np.ndarray, rotations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """forward_kinematics with root_pos (3, n) and rotations (4, B, n); returns (3, B, n), (4, B, n)."""
    n = root_pos.shape[-1]
    pos = np.empty((3, len(skel.parents), n))
    rot = np.empty_like(rotations)
    pos[:, 0] = root_pos
    rot[:, 0] = rotations[:, 0]
    for bodies, parents in skel.levels:
        prot = rot[:, parents]
        pos[:, bodies] = pos[:, parents] + _qrot_cm(prot, skel.offsets[bodies].T[:, :, None])
        rot[:, bodies] = _qmul_cm(prot, rotations[:, bodies])
    return pos, rot


def to_qpos_cm(skel: Skeleton, root_pos: np.ndarray, rotations: np.ndarray) -> np.ndarray:
    """to_qpos with root_pos (3, n) and rotations (4, B, n); returns qpos (n, nq)."""
    n = root_pos.shape[-1]
    qpos = np.empty((skel.nq, n))
    qpos[0:3] = root_pos
    qpos[3:7] = rotations[:, 0]
    h = rotations[:, skel.hinge]  # (4, H, n)
    proj = np.einsum("chn,hc->hn", h[1:], skel.hinge_axes)
    angles = wrap_angle(2.0 * np.arctan2(proj, h[0]))
    kh = 0
    for body, start, width in skel.qpos_slots:
        if width == 4:
            qpos[start : start + 4] = rotations[:, body]
        else:
            qpos[start] = angles[kh]
            kh += 1
    return np.ascontiguousarray(qpos.T)
