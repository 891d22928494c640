"""Perturbations shared by the environment, evaluation and the viewer: shoves and thrown balls."""

from __future__ import annotations

import numpy as np

GRAVITY = 9.81


def random_shove(rng: np.random.Generator, magnitude: float, lift: float = 0.1) -> np.ndarray:
    """A mostly horizontal impulse (N s) in a random direction."""
    a = rng.uniform(-np.pi, np.pi)
    return magnitude * np.array([np.cos(a), np.sin(a), lift])


def projectile_launch(
    target: np.ndarray,
    rng: np.random.Generator,
    speed: float = 14.0,
    distance: float = 3.0,
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
