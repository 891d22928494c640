"""The simulated scene: a character's MJCF plus optional props, composed with MjSpec."""

from __future__ import annotations

import mujoco

from sim.character import Character

PROJECTILE_RADIUS = 0.08
PROJECTILE_MASS = 2.0
STRIKE_TARGET_SIZE = (0.2, 0.2, 0.9)  # half extents: 0.4 x 0.4 x 1.8 m
STRIKE_TARGET_DENSITY = 30.0


def projectile_parking(k: int) -> list[float]:
    """Where unused projectiles rest, far from any character."""
    return [-50.0 - 1.0 * k, 50.0, PROJECTILE_RADIUS]


def build_scene(ch: Character, *, projectiles: int = 0, strike_target: bool = False) -> mujoco.MjModel:
    """Compile the character's MJCF with extra free bodies appended after the character.

    The character's bodies keep ids 1..B and its qpos/qvel come first, so
    observations do not change with the props.
    """
    try:
        spec = mujoco.MjSpec.from_file(str(ch.mjcf_path))
    except Exception as exc:  # mujoco raises ValueError with the parser's message
        raise ValueError(f"{ch.mjcf_path}: cannot load the character's MJCF ({exc})") from exc
    if strike_target:
        body = spec.worldbody.add_body(name="strike_target", pos=[3.0, 0.0, STRIKE_TARGET_SIZE[2]])
        body.add_freejoint(name="strike_target")
        body.add_geom(
            type=mujoco.mjtGeom.mjGEOM_BOX,
            size=list(STRIKE_TARGET_SIZE),
            density=STRIKE_TARGET_DENSITY,
            rgba=[0.8, 0.3, 0.2, 1.0],
            condim=3,
        )
    for k in range(projectiles):
        body = spec.worldbody.add_body(name=f"projectile_{k}", pos=projectile_parking(k))
        body.add_freejoint(name=f"projectile_{k}")
        body.add_geom(
            type=mujoco.mjtGeom.mjGEOM_SPHERE,
            size=[PROJECTILE_RADIUS, 0, 0],
            mass=PROJECTILE_MASS,
            rgba=[0.9, 0.75, 0.2, 1.0],
            condim=3,
        )
    return spec.compile()
