"""What the user does to the character: shoves (an impulse, from the keys, a flick of the mouse or a script) and
thrown balls, with the perturbation panel's settings."""

from __future__ import annotations

import math

import numpy as np

from app.state import EventLine
from sim.perturbations import SHOVE_STRENGTH
from sim.single import SingleCharacter

SHOVE_DIRECTIONS = ("camera", "random")  # away from the viewer along the camera's view, or any bearing


class Perturbations:
    """Shoves and thrown balls on `sim`; `strength` (N s) and `direction` (`SHOVE_DIRECTIONS`) are the panel's."""

    def __init__(self, sim: SingleCharacter, rng: np.random.Generator, events: EventLine) -> None:
        self.sim, self.rng, self.events = sim, rng, events
        self.strength = SHOVE_STRENGTH
        self.direction = SHOVE_DIRECTIONS[0]

    def shove(self, strength: float | None, yaw: float | None, body: int | None, camera_yaw: float) -> None:
        """Push `body` (None: the torso) with an impulse of `strength` (None: the panel's) towards world `yaw` (None:
        the panel's direction: away from the camera, looking along `camera_yaw`, or a random bearing)."""
        strength = self.strength if strength is None else float(strength)
        if yaw is None:
            yaw = camera_yaw if self.direction == "camera" else float(self.rng.uniform(-math.pi, math.pi))
        self.sim.shove(strength, yaw, body)
        self.events.say(f"shove {strength:.0f} N s towards {math.degrees(yaw) % 360:.0f} deg")

    def throw(self) -> None:
        """A ball at the character's torso, from a random direction."""
        self.sim.launch_projectile(self.rng)
        self.events.say("projectile thrown")
