"""Vectorized rotation math. Quaternions are (w, x, y, z), unit norm.

Every function takes arrays shaped (..., 4) / (..., 3) and broadcasts. The
functions observations use (`cross`, `quat_mul`, `quat_rotate`,
`quat_to_tan_norm`, `quat_to_rotvec`, `heading_angle`) accept numpy arrays or
torch tensors on any device (`sim/arrays.py`); the rest are numpy.
"""

from __future__ import annotations

import numpy as np

from sim.arrays import as_like, empty, namespace


def quat_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    aw, ax, ay, az = a[..., 0], a[..., 1], a[..., 2], a[..., 3]
    bw, bx, by, bz = b[..., 0], b[..., 1], b[..., 2], b[..., 3]
    xp = namespace(a)
    return xp.stack(
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ],
        axis=-1,
    )


def quat_conj(q: np.ndarray) -> np.ndarray:
    return q * np.array([1.0, -1.0, -1.0, -1.0], dtype=q.dtype)


def quat_normalize(q: np.ndarray) -> np.ndarray:
    return q / np.maximum(np.linalg.norm(q, axis=-1, keepdims=True), 1e-12)


def cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cross product over the last axis (faster than np.cross on small batches)."""
    ax, ay, az = a[..., 0], a[..., 1], a[..., 2]
    bx, by, bz = b[..., 0], b[..., 1], b[..., 2]
    xp = namespace(a)
    out = empty(xp, np.broadcast_shapes(a.shape, b.shape), a, dtype=xp.result_type(a, b))
    out[..., 0] = ay * bz - az * by
    out[..., 1] = az * bx - ax * bz
    out[..., 2] = ax * by - ay * bx
    return out


def quat_rotate(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rotate vectors v by quaternions q."""
    w = q[..., :1]
    u = q[..., 1:]
    t = 2.0 * cross(u, v)
    return v + w * t + cross(u, t)


def quat_to_matrix(q: np.ndarray) -> np.ndarray:
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    return np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
            np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
            np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
        ],
        axis=-2,
    )


def quat_to_tan_norm(q: np.ndarray) -> np.ndarray:
    """6D rotation: [R x_hat, R z_hat] (tangent, then normal)."""
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    out = empty(namespace(q), (*q.shape[:-1], 6), q)
    out[..., 0] = 1 - 2 * (y * y + z * z)
    out[..., 1] = 2 * (x * y + w * z)
    out[..., 2] = 2 * (x * z - w * y)
    out[..., 3] = 2 * (x * z + w * y)
    out[..., 4] = 2 * (y * z - w * x)
    out[..., 5] = 1 - 2 * (x * x + y * y)
    return out


def quat_from_axis_angle(axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Unit axis (3,) or (..., 3) and angles (...,) -> wxyz; float64 numpy, or of a tensor angle's kind."""
    if isinstance(angle, np.ndarray | np.generic | float | int):
        axis = np.asarray(axis, dtype=np.float64)
        angle = np.asarray(angle, dtype=np.float64)[..., None]
        return np.concatenate([np.cos(angle / 2), np.sin(angle / 2) * axis], axis=-1)
    xp, half = namespace(angle), angle[..., None] / 2
    return xp.concat([xp.cos(half), xp.sin(half) * as_like(axis, angle, angle.dtype)], axis=-1)


def quat_to_rotvec(q: np.ndarray) -> np.ndarray:
    """Logarithm map: quaternion -> rotation vector, angle in [0, pi]."""
    xp = namespace(q)
    q = xp.where(q[..., :1] < 0, -q, q)
    s = xp.linalg.vector_norm(q[..., 1:], axis=-1, keepdims=True)
    angle = 2.0 * xp.atan2(s, q[..., :1])
    k = xp.where(s > 1e-8, angle / xp.clip(s, min=1e-12), 2.0)
    return k * q[..., 1:]


def quat_slerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Spherical interpolation, shortest path; t broadcasts as (..., 1) or (...)."""
    t = np.asarray(t, dtype=np.float64)
    if t.ndim == a.ndim - 1:
        t = t[..., None]
    dot = np.sum(a * b, axis=-1, keepdims=True)
    b = np.where(dot < 0, -b, b)
    dot = np.abs(dot)
    theta = np.arccos(np.clip(dot, -1.0, 1.0))
    sin_theta = np.sin(theta)
    small = sin_theta < 1e-6
    wa = np.where(small, 1.0 - t, np.sin((1.0 - t) * theta) / np.where(small, 1.0, sin_theta))
    wb = np.where(small, t, np.sin(t * theta) / np.where(small, 1.0, sin_theta))
    return quat_normalize(wa * a + wb * b)


def heading_angle(q: np.ndarray) -> np.ndarray:
    """Yaw of the rotated x axis in the world xy plane."""
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    return namespace(q).atan2(2 * (x * y + w * z), 1 - 2 * (y * y + z * z))


def heading_quat_inv(q: np.ndarray) -> np.ndarray:
    """Quaternion that removes the heading (yaw) of q: world -> heading frame."""
    return quat_from_axis_angle(np.array([0.0, 0.0, 1.0]), -heading_angle(q))


def hinge_angle(q: np.ndarray, axis: np.ndarray) -> np.ndarray:
    """Twist angle of q about a unit axis (swing-twist decomposition)."""
    proj = np.sum(q[..., 1:] * np.asarray(axis), axis=-1)
    return wrap_angle(2.0 * np.arctan2(proj, q[..., 0]))


def wrap_angle(a: np.ndarray) -> np.ndarray:
    return (a + np.pi) % (2 * np.pi) - np.pi
