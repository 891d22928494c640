"""Perturbations shared by the environment, evaluation and the viewer: shoves and thrown balls.

One shove semantics everywhere: an impulse (N s, world frame) on one body, delivered as a constant
force over the next control step (`apply_impulse`), so the batched environment and the viewer's
single simulation push the same way through `xfrc_applied`.
"""

from __future__ import annotations

import numpy as np

GRAVITY = 9.81
SHOVE_BODY = "torso"  # the body a shove pushes (the root where a character has no torso)
SHOVE_STRENGTH = 120.0  # N s: knocks over a standing humanoid holding its pose, from any side
SHOVE_LIFT = 0.0  # vertical part of a shove, relative to its horizontal part (0: horizontal)
PROJECTILE_SPEED = 14.0  # m/s
PROJECTILE_DISTANCE = 3.0  # m from the target at launch


def shove_impulse(strength: float, yaw: float, lift: float = SHOVE_LIFT) -> np.ndarray:
    """An impulse of `strength` N s towards world yaw `yaw` (radians, 0 = +x), tilted up by `lift`."""
    direction = np.array([np.cos(yaw), np.sin(yaw), lift])
    return strength * direction / np.linalg.norm(direction)


def random_shove(rng: np.random.Generator, strength: float = SHOVE_STRENGTH, lift: float = SHOVE_LIFT) -> np.ndarray:
    """A shove impulse in a uniformly random horizontal direction."""
    return shove_impulse(strength, rng.uniform(-np.pi, np.pi), lift)


def apply_impulse(
    xfrc: np.ndarray, body: int, impulse: np.ndarray, duration: float, envs: np.ndarray | None = None
) -> None:
    """Add the constant force that delivers `impulse` (N s, world) to `body` over `duration` seconds.

    `xfrc` is an `xfrc_applied` array, (nbody, 6) for one simulation or (N, nbody, 6) for a batch
    (then `envs` picks the rows; `impulse` is (3,) or one per picked row). The force acts at the
    body's centre of mass; hold it for `duration` of physics and the momentum change is `impulse`.
    """
    force = np.asarray(impulse, dtype=np.float64) / duration
    if envs is None:
        xfrc[..., body, 0:3] += force
    else:
        xfrc[envs, body, 0:3] += force


def projectile_launch(
    target: np.ndarray,
    rng: np.random.Generator,
    speed: float = PROJECTILE_SPEED,
    distance: float = PROJECTILE_DISTANCE,
    height: tuple[float, float] = (-0.2, 0.5),
    min_height: float = 0.1,
) -> tuple[np.ndarray, np.ndarray]:
    """Start point and velocity of a ball thrown at `target` from a random bearing.

    The ball leaves `distance` metres away at the given height offset and is aimed
    up just enough to cancel its drop over the flight.
    """
    a = rng.uniform(-np.pi, np.pi)
    start = np.asarray(target, dtype=np.float64) + [distance * np.cos(a), distance * np.sin(a), rng.uniform(*height)]
    start[2] = max(start[2], min_height)
    flight = np.linalg.norm(target - start) / speed
    vel = (target - start) / flight
    vel[2] += 0.5 * GRAVITY * flight
    return start, vel


def projectile_state(
    target: np.ndarray, rng: np.random.Generator, speed: float = PROJECTILE_SPEED, distance: float = PROJECTILE_DISTANCE
) -> tuple[np.ndarray, np.ndarray]:
    """A ball thrown at `target` (`projectile_launch`) as its free joint's qpos (7: start, no rotation) and
    qvel (6: velocity, no spin): what the environment and the single-character core write."""
    start, vel = projectile_launch(target, rng, speed=speed, distance=distance)
    return np.array([*start, 1.0, 0.0, 0.0, 0.0]), np.array([*vel, 0.0, 0.0, 0.0])
