"""What a task reads from a simulation after a control step: the character's root, bodies and contacts, and the
scene's prop (the strike target). Built by the batched `tasks.env.TaskEnv` and the single-character core
(`sim.single.SingleCharacter.task_state`); read by the tasks (tasks/).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from sim.arrays import namespace


@dataclass
class PropState:
    """A free body of the scene (the strike target), world frame."""

    pos: np.ndarray  # (n, 3)
    rot: np.ndarray  # (n, 4) wxyz
    lin_vel: np.ndarray  # (n, 3)
    ang_vel: np.ndarray  # (n, 3)
    push: np.ndarray  # (n,) N: horizontal net force over the last control step, mass * |dv_xy| / dt


@dataclass
class TaskState:
    """What a task reads after a control step (the character and, for strike, the target). Host numpy arrays,
    or torch tensors on the physics device for an environment with device arrays; tasks' terms return arrays
    of the same kind."""

    root_pos: np.ndarray  # (n, 3)
    root_rot: np.ndarray  # (n, 4) wxyz
    root_vel: np.ndarray  # (n, 3) root displacement over the last control step / dt (the reference's velocity)
    body_pos: np.ndarray  # (n, B, 3) world positions of the character's bodies (Character.bodies order)
    contact: np.ndarray  # (n, B) contact force norm per body (N)
    target: PropState | None = None

    @property
    def num_envs(self) -> int:
        return len(self.root_pos)

    def map(self, fn: Any) -> TaskState:
        """The same state with every array passed through `fn` (e.g. host copies for a checkpoint)."""
        t = self.target
        sub = None if t is None else PropState(*(fn(getattr(t, f.name)) for f in fields(t)))
        return TaskState(*(fn(getattr(self, f.name)) for f in fields(self) if f.name != "target"), sub)

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict (`target` a dict or None): what a checkpoint stores (plain data only)."""
        t = self.target
        out: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "target"}
        return {**out, "target": None if t is None else {f.name: getattr(t, f.name) for f in fields(t)}}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TaskState:
        """`to_dict`'s inverse."""
        t = d.get("target")
        names = [f.name for f in fields(cls) if f.name != "target"]
        return cls(*(d[name] for name in names), None if t is None else PropState(**t))

    def none(self) -> np.ndarray:
        """(n,) all False, of the state's kind."""
        if isinstance(self.root_pos, np.ndarray):
            return np.zeros(self.num_envs, dtype=bool)
        xp = namespace(self.root_pos)
        return xp.zeros(self.num_envs, dtype=xp.bool, device=self.root_pos.device)

    def select(self, ids: np.ndarray) -> TaskState:
        """The rows `ids` only."""
        t = self.target
        sub = None if t is None else PropState(t.pos[ids], t.rot[ids], t.lin_vel[ids], t.ang_vel[ids], t.push[ids])
        return TaskState(
            self.root_pos[ids], self.root_rot[ids], self.root_vel[ids], self.body_pos[ids], self.contact[ids], sub
        )
