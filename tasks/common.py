"""Small parts every task is built from: the state a task reads (`sim.task_state`, re-exported here),
heading-frame helpers, the goal schedule, viewer markers and the goal layout description.

Tasks read a `TaskState` (plain arrays, world frame, one row per environment) and return plain arrays. The
heading frame is the root's yaw only (docs/architecture.md): x forward, y left, z up.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

import numpy as np

from sim.arrays import as_like, copy, index_like, namespace, to_numpy
from sim.observations import Slice
from sim.rotations import heading_angle
from sim.task_state import PropState, TaskState  # noqa: F401 - the state tasks read; built in sim/


# ---------------------------------------------------------------------------------------------- heading frame
def yaw_vec(angle: np.ndarray) -> np.ndarray:
    """(n,) world yaw angles -> (n, 2) unit xy directions (float64 numpy, or of a tensor's kind)."""
    xp = namespace(angle)
    if xp is np:
        angle = np.asarray(angle, dtype=np.float64)
    return xp.stack([xp.cos(angle), xp.sin(angle)], axis=-1)


def facing_xy(root_rot: np.ndarray) -> np.ndarray:
    """(n, 2) unit xy direction the character faces (its heading: the root's x axis projected, z up)."""
    return yaw_vec(heading_angle(root_rot))


def to_heading_xy(root_rot: np.ndarray, v: np.ndarray) -> np.ndarray:
    """World vectors (n, 2) or (n, 3) into the heading frame (rotate by minus the root's yaw about z)."""
    yaw = heading_angle(root_rot)
    xp = namespace(yaw)
    c, s = xp.cos(yaw), xp.sin(yaw)
    out = np.array(v, dtype=np.float64, copy=True) if xp is np else copy(v)
    out[:, 0] = c * v[:, 0] + s * v[:, 1]
    out[:, 1] = c * v[:, 1] - s * v[:, 0]
    return out


def unit_xy(v: np.ndarray, eps: float = 1e-8) -> np.ndarray:
    """(n, 2) directions of the xy parts of v, zero where v has no xy length."""
    xp = namespace(v)
    xy = (np.asarray(v, dtype=np.float64) if xp is np else v)[:, :2]
    norm = xp.linalg.vector_norm(xy, axis=1, keepdims=True)
    return xp.where(norm > eps, xy / xp.clip(norm, min=eps), 0.0)


# ---------------------------------------------------------------------------------------------- goal arrays
# A task's per-environment goals (`goal_arrays`: the attribute names) are of the environment's kind: float64
# numpy, or float32 tensors on the physics device, so that its terms read them without a host copy. Goals are
# drawn and set on the host (a goal redraw is an event, not every step) and written with `put`.
def put(dst: Any, ids: Any, values: Any) -> None:
    """dst[ids] = values (host ids and values, moved to dst's kind)."""
    dst[index_like(ids, dst)] = as_like(values, dst, dtype=dst.dtype)


def host_rows(x: Any, ids: Any) -> np.ndarray:
    """x[ids] as a host array (ids: host indices), e.g. the root positions of environments whose goal is drawn."""
    return to_numpy(x[index_like(ids, x)])


def goals_like(task: Any, like: Any) -> None:
    """Make the task's goal arrays of `like`'s kind (numpy, or tensors on its device, with its float dtype)."""
    for name in task.goal_arrays:
        setattr(task, name, as_like(np.array(to_numpy(getattr(task, name)), copy=True), like, like.dtype))


def goal_state(task: Any) -> dict[str, Any]:
    """Host copies of the goal arrays and the schedule (checkpoints resume on any device)."""
    return {**{k: to_numpy(getattr(task, k)).copy() for k in task.goal_arrays}, "schedule": task.schedule.state_dict()}


def load_goal_state(task: Any, state: dict[str, Any]) -> None:
    for k in task.goal_arrays:
        now = getattr(task, k)
        setattr(task, k, as_like(np.array(state[k], copy=True), now, now.dtype))
    task.schedule.load_state_dict(state["schedule"])


# ---------------------------------------------------------------------------------------------- goal schedule
@dataclass
class GoalSchedule:
    """When goals are redrawn: at every episode start and after a uniform random number of control steps in
    [steps[0], steps[1]) (None: only at episode starts). Pinned environments (goals set from outside: the
    viewer, a game, evaluation) are never redrawn until released."""

    num_envs: int
    steps: tuple[int, int] | None
    remaining: np.ndarray = field(init=False)
    pinned: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.remaining = np.zeros(self.num_envs, dtype=np.int64)
        self.pinned = np.zeros(self.num_envs, dtype=bool)

    def _restart(self, ids: np.ndarray, rng: np.random.Generator) -> None:
        if self.steps is not None and len(ids):
            self.remaining[ids] = rng.integers(self.steps[0], self.steps[1], len(ids))

    def on_reset(self, ids: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Episodes `ids` start: returns those whose goal is drawn now (the unpinned ones)."""
        ids = np.asarray(ids, dtype=np.int64)
        self._restart(ids, rng)
        return ids[~self.pinned[ids]]

    def on_step(self, rng: np.random.Generator) -> np.ndarray:
        """One control step passed: returns the environments whose goal is redrawn now."""
        if self.steps is None:
            return np.zeros(0, dtype=np.int64)
        self.remaining -= 1
        due = np.nonzero(self.remaining <= 0)[0]
        self._restart(due, rng)
        return due[~self.pinned[due]]

    def pin(self, ids: np.ndarray) -> None:
        self.pinned[ids] = True

    def release(self, ids: np.ndarray) -> None:
        self.pinned[ids] = False

    def state_dict(self) -> dict[str, np.ndarray]:
        return {"remaining": self.remaining.copy(), "pinned": self.pinned.copy()}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        self.remaining, self.pinned = state["remaining"].copy(), state["pinned"].copy()


# ---------------------------------------------------------------------------------------------- what is drawn
@dataclass(frozen=True)
class Marker:
    """A viewer marker in world coordinates: an arrow (pos, vector), a point (pos, radius) or a box outline
    (pos, half extents in `vector`, orientation `quat` (w, x, y, z)). Colors are RGBA in [0, 1]."""

    kind: Literal["arrow", "point", "box"]
    pos: tuple[float, float, float]
    vector: tuple[float, float, float] = (0.0, 0.0, 0.0)
    radius: float = 0.05
    quat: tuple[float, float, float, float] = (1.0, 0.0, 0.0, 0.0)
    color: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)
    label: str = ""


def xyz(v: Any) -> tuple[float, float, float]:
    v = np.asarray(v, dtype=np.float64).reshape(-1)
    return (float(v[0]), float(v[1]), float(v[2]) if len(v) > 2 else 0.0)


# ---------------------------------------------------------------------------------------------- goal layout
def goal_layout(
    task: str, parts: list[tuple[str, int, str, str]], inputs: dict[str, str], note: str = ""
) -> dict[str, Any]:
    """JSON-ready description of a task's goal observation (appended to the policy observation) and of the
    world-frame goal a caller sets (`inputs`), for checkpoints and the ONNX sidecar."""
    slices, start = [], 0
    for name, size, frame, units in parts:
        slices.append(asdict(Slice(name, start, size, frame, units)))
        start += size
    out = {"task": task, "size": start, "slices": slices, "inputs": inputs}
    if note:
        out["note"] = note
    return out


# ---------------------------------------------------------------------------------------------- the contract
class Task(Protocol):
    """What TaskEnv, the trainer, evaluation and the viewer use. Goals are per environment, world frame."""

    name: str
    goal_dim: int
    uses_strike_target: bool
    schedule: GoalSchedule
    goal_arrays: tuple[str, ...]  # attributes holding per-environment goals the terms read (see `goals_like`)
    failure: str  # "name: what it is" of the task's own failure (`failed`), "" when it has none

    def bind(self, character: Any) -> None: ...  # resolve body indices of the character

    def sample(self, ids: np.ndarray, state: TaskState, rng: np.random.Generator) -> None: ...

    def set_goal(self, ids: np.ndarray, **goal: Any) -> None: ...  # external goal: sets and pins

    def observe(self, state: TaskState) -> np.ndarray: ...  # (n, goal_dim) float32, heading frame

    def reward(self, state: TaskState) -> np.ndarray: ...  # (n,)

    def success(self, state: TaskState) -> np.ndarray: ...  # (n,) bool

    def failed(self, state: TaskState) -> np.ndarray: ...  # (n,) bool: an extra termination

    def markers(self, i: int, state: TaskState) -> list[Marker]: ...

    def goal_layout(self) -> dict[str, Any]: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


def as_ids(ids: Any, num_envs: int) -> np.ndarray:
    """None -> all environments; an int or a sequence -> an int64 index array."""
    if ids is None:
        return np.arange(num_envs)
    return np.atleast_1d(np.asarray(ids, dtype=np.int64))


def broadcast(value: Any, k: int, width: int | None = None) -> np.ndarray:
    """A goal value for k environments: a scalar / vector is repeated, an array of k rows is kept."""
    a = np.asarray(value, dtype=np.float64)
    shape = (k,) if width is None else (k, width)
    if a.shape == shape:
        return a.copy()
    return np.broadcast_to(a, shape).copy()
