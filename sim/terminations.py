"""Termination terms: ASE's fall rule, one object for the batched environment and the single-character core."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from sim.arrays import as_like
from sim.character import Character

FALL_CONTACT_FORCE = 0.1  # N
FALL_HEIGHT = 0.15  # m, per-body overrides in Character.fall_height


@dataclass(frozen=True, eq=False)
class FallRule:
    """ASE's fall rule on per-body arrays (n, B) in `Character.bodies` order: (a non-foot body has a contact force
    above `min_force`) and (a non-foot body origin is below its height limit); the two need not be the same body.
    Its inputs are gathered from the character once (`of`)."""

    non_foot: np.ndarray  # (B,) bool, host
    height_limit: np.ndarray  # (B,) m: numpy, or a tensor on the physics device (`like`)
    min_force: float = FALL_CONTACT_FORCE  # N

    @classmethod
    def of(cls, ch: Character, fall_height: float = FALL_HEIGHT, min_force: float = FALL_CONTACT_FORCE) -> FallRule:
        """The rule for `ch`: its foot bodies are exempt, `fall_height` unless the character overrides a body's."""
        names = ch.body_names
        non_foot = np.array([n not in ch.foot_bodies for n in names])
        return cls(non_foot, np.array([ch.fall_height.get(n, fall_height) for n in names]), min_force)

    def like(self, x: Any) -> FallRule:
        """The same rule with its height limits as an array of `x`'s kind (a tensor on the physics device)."""
        return replace(self, height_limit=as_like(self.height_limit, x))

    def low(self, body_height: np.ndarray) -> np.ndarray:
        """(n,) whether a non-foot body is below its height limit (the height half of the rule)."""
        return (body_height[:, self.non_foot] < self.height_limit[self.non_foot]).any(1)

    def __call__(self, contact_force: np.ndarray, body_height: np.ndarray) -> np.ndarray:
        """(n,) fallen, from contact force norms and body origin heights (n, B)."""
        touching = (contact_force[:, self.non_foot] > self.min_force).any(1)
        return touching & self.low(body_height)
