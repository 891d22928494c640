"""Perturbations shared by the environment, evaluation and the viewer: shoves and thrown balls.

One shove semantics everywhere: an impulse (N s, world frame) on one body, delivered as a constant
force over the next control step (`apply_impulse`), so the batched environment and the viewer's
single simulation push the same way through `xfrc_applied`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from sim.arrays import to_numpy

if TYPE_CHECKING:
    from sim.env import HumanoidEnv

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


class EnvPerturbations:
    """A batched environment's shoves and balls (sim/env.py's HumanoidEnv): impulses wait in `xfrc` until the
    next control step takes them; each environment's balls cycle through the scene's `projectiles` free bodies
    (`next_projectile` counts them: part of the environment's resumable state)."""

    def __init__(self, env: HumanoidEnv) -> None:
        self.env = env
        self.xfrc: np.ndarray | None = None
        self.next_projectile = np.zeros(env.num_envs, dtype=np.int64)

    def take_forces(self) -> np.ndarray | None:
        """The external forces for the next control step (None: none); they act for that step only."""
        xfrc, self.xfrc = self.xfrc, None
        return xfrc

    def apply_impulse(self, ids, body: str, impulse) -> None:
        """Push `body` of environments `ids` with an impulse (N s, world frame): `apply_impulse` over the next
        control step, as the viewer does."""
        env = self.env
        ids = np.atleast_1d(np.asarray(ids, dtype=np.int64))
        bid = env.character.body_index(body) + 1
        if self.xfrc is None:
            self.xfrc = np.zeros((env.num_envs, env.model.nbody, 6))
        apply_impulse(self.xfrc, bid, impulse, env.control_dt, envs=ids)

    def launch_projectile(self, ids, target_body: str, speed: float, distance: float) -> None:
        """Throw a ball at `target_body` of environments `ids` from a random bearing `distance` metres away."""
        env = self.env
        if env.cfg.projectiles <= 0:
            raise RuntimeError("this environment has no projectiles: create it with EnvConfig(projectiles=K)")
        ids = np.atleast_1d(np.asarray(ids, dtype=np.int64))
        pos = to_numpy(env.character_bodies()[0])
        tb = env.character.body_index(target_body)
        qpos, qvel = to_numpy(env.backend.qpos).copy(), to_numpy(env.backend.qvel).copy()
        for i in ids:
            k = int(self.next_projectile[i] % env.cfg.projectiles)
            self.next_projectile[i] += 1
            jid = env.model.joint(f"projectile_{k}").id
            qa, va = env.model.jnt_qposadr[jid], env.model.jnt_dofadr[jid]
            qpos[i, qa : qa + 7], qvel[i, va : va + 6] = projectile_state(pos[i, tb], env.rng, speed, distance)
        env.backend.set_state(ids, qpos[ids], qvel[ids], env.pd_targets[env.index(ids)], reset=False)
