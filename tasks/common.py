"""Small parts every task is built from: the state a task reads (`sim.task_state`, re-exported here),
heading-frame helpers, the goal schedule, viewer markers, the goal layout description, the viewer's goal
inputs, and the contract (`Task`).

Tasks read a `TaskState` (plain arrays, world frame, one row per environment) and return plain arrays. The
heading frame is the root's yaw only (docs/architecture.md): x forward, y left, z up.
"""

from __future__ import annotations

from collections.abc import Callable
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


def host_goals(task: Any, ids: Any, **attrs: str) -> dict[str, np.ndarray]:
    """{keyword: host copy of task.<attribute>[ids]}: a task's `goal_of` (`set_goal`'s keywords, world frame)."""
    return {k: np.array(to_numpy(getattr(task, attr))[ids], copy=True) for k, attr in attrs.items()}


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


# ---------------------------------------------------------------------------------------------- the viewer
STANDING_SPEED = 0.2  # m/s: slower than this a character stands (no direction of travel to compare)


@dataclass(frozen=True)
class ViewerInput:
    """A goal input of the viewer that a task takes, and what it sets for that task. The viewer binds keys,
    sticks and clicks to each `source` (app/controls.py `INPUT_KEYS`): "move input", "facing input",
    "reach keys", "click", "ctrl+click", "box", "goals panel". In HLC mode, using a source that the current
    task does not take switches to the first loaded task that takes it with `switches`."""

    source: str
    what: str
    switches: bool = True


class ViewerGoals(Protocol):
    """The goals the viewer's inputs hold (app.controls.Goals), world frame: what `Task.viewer_goal` reads."""

    heading: float  # direction of travel, world yaw (rad)
    speed: float  # m/s
    facing: float  # world yaw (rad)
    location: np.ndarray | None  # (2,) a point on the ground, None when cleared
    reach: np.ndarray  # (3,) a point in space


class Motion(Protocol):
    """What the viewer measures of its character (app.hud.MeasuredMotion), for a task's HUD line."""

    speed: float  # m/s, horizontal, averaged over about half a second
    heading: float | None  # world yaw of travel, None while standing (slower than STANDING_SPEED)


# a row of `eval --hlc`'s table: its label, and the cell text from one column's metrics (evaluation/tasks.py)
Row = tuple[str, Callable[[dict[str, Any]], str]]


# ---------------------------------------------------------------------------------------------- the contract
class Task(Protocol):
    """What TaskEnv, the trainer, evaluation and the viewer use. Goals are per environment, world frame.
    A new task is one module implementing this and one line in `tasks.TASKS`: training, `eval --hlc`,
    `eval --latent-search` and the viewer's HLC mode read everything task-specific from here."""

    name: str
    goal_dim: int
    uses_strike_target: bool
    schedule: GoalSchedule
    goal_arrays: tuple[str, ...]  # attributes holding per-environment goals the terms read (see `goals_like`)
    failure: str  # "name: what it is" of the task's own failure (`failed`), "" when it has none
    # the goal slice that starts with the goal's position (x, y) relative to the root in the heading frame, None
    # when it has none: a warm start from another task carries those columns over
    # (training.hlc_state.shared_goal_slices)
    goal_position: str | None
    eval_seconds: float  # how long `eval --hlc` measures (`evaluate`'s default) and `--latent-search`'s horizon
    viewer_inputs: tuple[ViewerInput, ...]  # the viewer's inputs that set its goal (HLC mode)

    def bind(self, character: Any) -> None: ...  # resolve body indices of the character

    def sample(self, ids: np.ndarray, state: TaskState, rng: np.random.Generator) -> None: ...

    # the goal round trip: set_goal(ids, **goal_of(ids)) sets what is set
    def set_goal(self, ids: np.ndarray, **goal: Any) -> None: ...  # external goal: sets and pins

    def goal_of(self, ids: Any) -> dict[str, np.ndarray]: ...  # set_goal's keywords for ids (host copies)

    def observe(self, state: TaskState) -> np.ndarray: ...  # (n, goal_dim) float32, heading frame

    def reward(self, state: TaskState) -> np.ndarray: ...  # (n,)

    def success(self, state: TaskState) -> np.ndarray: ...  # (n,) bool

    def failed(self, state: TaskState) -> np.ndarray: ...  # (n,) bool: an extra termination

    def markers(self, i: int, state: TaskState) -> list[Marker]: ...

    def goal_layout(self) -> dict[str, Any]: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...

    # evaluation (tasks/measure.py has the parts): the metrics of `policy` on `env` (a TaskEnv of this task,
    # nothing restarting) over `seconds`, goals drawn from `seed`; keywords: the task's own eval options
    def evaluate(self, policy: Any, env: Any, seconds: float, seed: int, **options: Any) -> dict[str, Any]: ...

    def table_rows(self, metrics: dict[str, Any]) -> list[Row]: ...  # the eval table, from `evaluate`'s metrics

    # the viewer (HLC mode on one character, environment i)
    def viewer_goal(self, goals: ViewerGoals) -> dict[str, Any] | None: ...  # set_goal's keywords, None: none

    def viewer_start(self, root: np.ndarray, yaw: float) -> dict[str, Any]: ...  # first inputs (ViewerGoals' names)

    def goal_text(self, i: int, state: TaskState) -> str: ...  # the goal as the task holds it, in words

    def measured_text(self, i: int, state: TaskState, motion: Motion) -> str: ...  # what the character does


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
