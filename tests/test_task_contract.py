"""A task owns its contract (`tasks.common.Task`): a task defined here and registered in `tasks.TASKS` alone is
trained, evaluated (`eval --hlc`, `eval --latent-search`) and steered in the viewer's HLC mode, with no other
file knowing its name; every registered task's goal round trip (`set_goal` and `goal_of`) holds."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from tasks import TASKS, make_task
from tasks.common import (
    GoalSchedule,
    Marker,
    Row,
    Task,
    TaskState,
    ViewerInput,
    as_ids,
    broadcast,
    facing_xy,
    goal_layout,
    goal_state,
    host_goals,
    load_goal_state,
    put,
    to_heading_xy,
    xyz,
    yaw_vec,
)
from tasks.measure import COMMON_ROWS, hlc_steps, number, pin_sampled_goals, run
from tests.conftest import tiny_hlc_checkpoint, tiny_llc_checkpoint

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ---------------------------------------------------------------------------------------------- a toy task
@dataclass
class CompassConfig:
    resample_steps: tuple[int, int] = (50, 100)
    success_deg: float = 30.0


class CompassTask:
    """Face a world direction. Goal observation (2, heading frame): the direction to face. Reward: the cosine
    between facing and goal, clipped at 0. Eval: the facing error after `eval_seconds`. Viewer: the facing keys."""

    name = "compass"
    goal_dim = 2
    failure = ""
    uses_strike_target = False
    goal_arrays = ("facing",)
    goal_position = None
    eval_seconds = 0.5
    viewer_inputs = (ViewerInput("facing input", "the direction to face"),)

    def __init__(self, num_envs: int, cfg: CompassConfig | None = None) -> None:
        self.cfg = cfg or CompassConfig()
        self.num_envs = num_envs
        self.schedule = GoalSchedule(num_envs, self.cfg.resample_steps)
        self.facing = np.zeros(num_envs)

    def bind(self, character: Any) -> None:
        pass

    def sample(self, ids: np.ndarray, state: TaskState, rng: np.random.Generator) -> None:
        put(self.facing, ids, rng.uniform(-math.pi, math.pi, len(ids)))

    def set_goal(self, ids: Any = None, *, facing: Any) -> None:
        ids = as_ids(ids, self.num_envs)
        put(self.facing, ids, broadcast(facing, len(ids)))
        self.schedule.pin(ids)

    def goal_of(self, ids: Any) -> dict[str, np.ndarray]:
        return host_goals(self, ids, facing="facing")

    def cosine(self, state: TaskState) -> np.ndarray:
        return (yaw_vec(self.facing) * facing_xy(state.root_rot)).sum(-1)

    def observe(self, state: TaskState) -> np.ndarray:
        return to_heading_xy(state.root_rot, yaw_vec(self.facing)).astype(np.float32)

    def reward(self, state: TaskState) -> np.ndarray:
        return np.clip(self.cosine(state), 0.0, None)

    def success(self, state: TaskState) -> np.ndarray:
        return self.cosine(state) > math.cos(math.radians(self.cfg.success_deg))

    def failed(self, state: TaskState) -> np.ndarray:
        return state.none()

    def markers(self, i: int, state: TaskState) -> list[Marker]:
        return [Marker("arrow", xyz(state.root_pos[i]), xyz([*yaw_vec(float(self.facing[i])), 0.0]), label="compass")]

    def goal_layout(self) -> dict[str, Any]:
        return goal_layout(self.name, [("facing", 2, "heading", "unit xy")], {"facing": "world yaw (rad)"})

    def state_dict(self) -> dict[str, Any]:
        return goal_state(self)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        load_goal_state(self, state)

    def evaluate(self, policy: Any, env: Any, seconds: float, seed: int) -> dict[str, Any]:
        env.reset()
        pin_sampled_goals(self, env, seed)
        reward, fallen = run(policy, env, hlc_steps(env, seconds))
        error = np.degrees(np.arccos(np.clip(self.cosine(env.state), -1.0, 1.0)))
        return {"facing_error_deg": float(error.mean()), "fallen": float(fallen.mean()), "task_reward": reward}

    def table_rows(self, metrics: dict[str, Any]) -> list[Row]:
        return [("facing error at the end (deg)", number("facing_error_deg", digits=1)), *COMMON_ROWS]

    def viewer_goal(self, goals: Any) -> dict[str, Any]:
        return {"facing": goals.facing}

    def viewer_start(self, root: np.ndarray, yaw: float) -> dict[str, Any]:
        return {}

    def goal_text(self, i: int, state: TaskState) -> str:
        return f"face {math.degrees(self.facing[i]):.0f} deg"

    def measured_text(self, i: int, state: TaskState, motion: Any) -> str:
        return f"cosine {float(self.cosine(state)[i]):.2f} to the goal"


@pytest.fixture
def compass(monkeypatch):
    """The toy task, registered for the test only."""
    monkeypatch.setitem(TASKS, "compass", (CompassTask, CompassConfig))


def test_every_registered_task_keeps_the_contract_and_its_goal_round_trip():
    """Every task has what the trainer, evaluation and the viewer read, and `set_goal(ids, **goal_of(ids))`
    sets what `goal_of` read: the drawn goal of one environment copied onto two others."""
    from sim.character import load_character

    members = [m for m in Task.__annotations__] + [m for m in vars(Task) if not m.startswith("_")]
    character = load_character("humanoid")
    n, b = 3, character.num_bodies
    state = TaskState(np.zeros((n, 3)), np.tile([1.0, 0, 0, 0], (n, 1)), np.zeros((n, 3)), np.zeros((n, b, 3)),
                      np.zeros((n, b)))  # fmt: skip
    for name in TASKS:
        task = make_task(name, n)
        missing = [m for m in members if not hasattr(task, m)]
        assert not missing and task.name == name, (name, missing)
        task.bind(character)
        task.sample(np.arange(n), state, np.random.default_rng(0))
        drawn = task.goal_of(np.arange(n))
        assert all(not np.array_equal(v[0], v[2]) for v in drawn.values()), name  # three different goals
        task.set_goal([0, 1], **task.goal_of([2, 2]))
        for k, v in task.goal_of(np.arange(n)).items():
            assert np.array_equal(v[0], drawn[k][2]) and np.array_equal(v[1], v[2]), (name, k)
            assert np.array_equal(v[2], drawn[k][2]), (name, k)
        assert task.schedule.pinned[:2].all() and not task.schedule.pinned[2]


def test_a_toy_task_trains_evaluates_and_is_steered_in_the_viewer(compass, tmp_path, capsys):
    """The compass task, defined and registered here only: `train hlc --task compass`, `eval --hlc` and
    `eval --latent-search compass` run on it and print its rows; the viewer's HLC mode feeds its facing keys to
    the task's goal and shows its goal and measured lines."""
    from app.routing import input_tasks
    from app.session import Session, SessionConfig
    from evaluation.cli import main as eval_main

    llc = tiny_llc_checkpoint(tmp_path / "llc.pt")
    hlc = tiny_hlc_checkpoint(tmp_path / "run", llc, "compass")  # launch.py train hlc --task compass
    capsys.readouterr()

    out = tmp_path / "eval.json"
    assert eval_main(["--hlc", str(hlc), "--envs", "2", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "task: compass" in printed and "facing error at the end (deg)" in printed
    results = json.loads(out.read_text())["results"]
    for col in ("hlc", "random_latents"):
        assert 0.0 <= results[col]["facing_error_deg"] <= 180.0 and math.isfinite(results[col]["task_reward"])
    args = ["--latent-search", "compass", "--llc", str(llc), "--envs", "2", "--goals", "1", "--rounds", "1"]
    assert eval_main(args) == 0
    assert "latent search, compass: 1 goals, 0.5 s (3 HLC steps of 5 LLC steps" in capsys.readouterr().out

    assert input_tasks("facing input") == (("steering", "compass"), ())  # the registry's order
    s = Session(SessionConfig(hlc=str(hlc), llc=str(llc)), motions=None, load=True)
    assert s.mode.value == "hlc" and s.tasks.driver.task.name == "compass"
    s.steering.key_down("q")  # turn the facing goal left: the compass task takes it, no switch
    for _ in range(5):
        s.frame(1 / 30)
    task = s.tasks.driver.task
    assert s.goals.facing > 0.1 and task.facing[0] == pytest.approx(s.goals.facing) and task.schedule.pinned[0]
    assert s.tasks.task_goal() == f"face {math.degrees(s.goals.facing):.0f} deg"
    hud = dict(s.hud())
    assert hud["task"].startswith("compass") and hud["measured"].startswith("cosine ")
    assert np.isfinite(s.tasks.score.reward) and s.tasks.markers()[0].label == "compass"
