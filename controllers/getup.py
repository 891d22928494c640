"""Get-up assist for a skill LLC: while the character is down, hold the get-up skill that fits how it lies.

A skill LLC's named skills include get-ups (`getup_faceup`, `getup_facedown`). Under most other anchors it
gets up by itself (walk, jog, run), but a held stance (idle, punch, kick) often stays down: its skill is
to stand, not to rise. A game does what a task controller would: when the character has been down for a
moment, switch to the get-up that matches its posture, and hand the held skill back once it stands.
Plain arrays in, a latent out; torch-free (the viewer and the runtime use it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from controllers.latents import GETUP_PREFIX

FACE_UP, FACE_DOWN = f"{GETUP_PREFIX}_faceup", f"{GETUP_PREFIX}_facedown"


def lying_face_up(root_quat: np.ndarray) -> bool:
    """Whether a character lies on its back: the pelvis's forward axis (+x, wxyz quaternion) points up."""
    w, x, y, z = np.asarray(root_quat, dtype=np.float64).reshape(4)
    forward_z = 2.0 * (x * z - w * y)  # third row, first column of the rotation matrix
    return bool(forward_z >= 0.0)


def getup_skill(skills: dict[str, np.ndarray], root_quat: np.ndarray) -> str | None:
    """The get-up skill for this posture (face up or face down), the other one if the LLC has only one, or None
    when it names no get-up."""
    first, second = (FACE_UP, FACE_DOWN) if lying_face_up(root_quat) else (FACE_DOWN, FACE_UP)
    return first if first in skills else second if second in skills else None


@dataclass
class GetupAssist:
    """Per character: after `down_seconds` down, the get-up skill replaces the held latent until the character
    has been up for `up_seconds`. `latent(...)` once per control step; `active` says whether it has taken over
    (and `skill` which get-up it holds)."""

    skills: dict[str, np.ndarray]
    down_head: float = 1.0  # m: a head below this is down (lying, sitting, kneeling)
    up_head: float = 1.2  # m: a head above this stands
    down_seconds: float = 2.0
    up_seconds: float = 0.5
    enabled: bool = True
    active: bool = False
    skill: str = ""
    _down: float = 0.0
    _up: float = 0.0

    @property
    def available(self) -> bool:
        return any(n.startswith(GETUP_PREFIX) for n in self.skills)

    def reset(self) -> None:
        self.active, self.skill, self._down, self._up = False, "", 0.0, 0.0

    def latent(self, held: np.ndarray, head_height: float, root_quat: np.ndarray, dt: float) -> np.ndarray:
        """The latent to act with this step: `held`, or a get-up anchor while the assist has taken over.
        `head_height`: the head's height above the ground (m); `root_quat`: the pelvis's (wxyz)."""
        if not (self.enabled and self.available):
            self.reset()
            return held
        self._down = self._down + dt if head_height < self.down_head else 0.0
        self._up = self._up + dt if head_height > self.up_head else 0.0
        if not self.active and self._down >= self.down_seconds - 1e-9:
            self.active, self.skill = True, getup_skill(self.skills, root_quat) or ""
        elif self.active and self._up >= self.up_seconds - 1e-9:
            self.active, self.skill = False, ""
        return np.asarray(self.skills[self.skill]) if self.active else held
