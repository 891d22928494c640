"""Reach: bring the right hand (the sword tip on the sword-and-shield character) to a point in space.

Goal observation (3, heading frame): the target relative to the root (the clean design; the reference rotates
the target into the heading frame without subtracting the root position, docs/method.md "Tasks"). Reward:
    exp(-4 |p - p_target|^2)
p the effector body's origin. Targets: x, y uniform in +-1 m around the character's root, z uniform in
0.2-2.0 m (absolute height), redrawn every 50-99 control steps. The reference draws x, y around the
environment origin, where the character starts; drawing around the character keeps the task the same
wherever it has walked to. Success: within 0.1 m.
Eval (`eval --hlc`): targets drawn as in training; the effector's distance after `eval_seconds` (2 s), mean
and median. Viewer: the reach keys, ctrl+click (x, y) and the goals panel move the target (the first one in
front of the character, a little to the right, chest high).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.arrays import namespace, to_numpy
from tasks.common import (
    GoalSchedule,
    Marker,
    Motion,
    Row,
    TaskState,
    ViewerGoals,
    ViewerInput,
    as_ids,
    broadcast,
    goal_layout,
    goal_state,
    host_goals,
    host_rows,
    load_goal_state,
    put,
    to_heading_xy,
    xyz,
)
from tasks.measure import COMMON_ROWS, hlc_steps, number, pin_sampled_goals, run


@dataclass
class ReachConfig:
    effector: str = ""  # body name; "" = "sword" when the character has one, else "right_hand"
    half_extent: float = 1.0  # m, x and y around the root
    height_range: tuple[float, float] = (0.2, 2.0)  # m
    resample_steps: tuple[int, int] = (50, 100)
    pos_err_scale: float = 4.0
    success_dist: float = 0.1  # m


def reach_reward(effector_pos: np.ndarray, target: np.ndarray, cfg: ReachConfig) -> np.ndarray:
    return namespace(target).exp(-cfg.pos_err_scale * ((target - effector_pos) ** 2).sum(-1))


class ReachTask:
    name = "reach"
    goal_dim = 3
    failure = ""
    uses_strike_target = False
    goal_arrays = ("target",)
    goal_position = "target_pos"
    eval_seconds = 2.0
    viewer_inputs = (
        ViewerInput("reach keys", "move the point (camera-relative; U / O: up / down)"),
        ViewerInput("ctrl+click", "the point's x, y"),
        ViewerInput("goals panel", "reach x, y, z", switches=False),
    )

    def __init__(self, num_envs: int, cfg: ReachConfig | None = None) -> None:
        self.cfg = cfg or ReachConfig()
        self.num_envs = num_envs
        self.schedule = GoalSchedule(num_envs, self.cfg.resample_steps)
        self.target = np.zeros((num_envs, 3))  # world
        self.body = -1  # index of the effector in Character.bodies, set by bind

    def bind(self, character: Any) -> None:
        name = self.cfg.effector or ("sword" if "sword" in character.body_names else "right_hand")
        self.body = character.body_index(name)

    def effector(self, state: TaskState) -> np.ndarray:
        if self.body < 0:
            raise RuntimeError("ReachTask.bind(character) must be called before use")
        return state.body_pos[:, self.body]

    def sample(self, ids: np.ndarray, state: TaskState, rng: np.random.Generator) -> None:
        k, h = len(ids), self.cfg.half_extent
        xy = host_rows(state.root_pos, ids)[:, :2] + rng.uniform(-h, h, (k, 2))
        put(self.target, ids, np.concatenate([xy, rng.uniform(*self.cfg.height_range, k)[:, None]], 1))

    def set_goal(self, ids: Any = None, *, target: Any) -> None:
        """World position (m) for the effector."""
        ids = as_ids(ids, self.num_envs)
        put(self.target, ids, broadcast(target, len(ids), 3))
        self.schedule.pin(ids)

    def goal_of(self, ids: Any) -> dict[str, np.ndarray]:
        return host_goals(self, ids, target="target")

    def distance(self, state: TaskState) -> np.ndarray:
        return namespace(self.target).linalg.vector_norm(self.target - self.effector(state), axis=1)

    def observe(self, state: TaskState) -> np.ndarray:
        rel = to_heading_xy(state.root_rot, self.target - state.root_pos)
        return namespace(rel).astype(rel, namespace(rel).float32)

    def reward(self, state: TaskState) -> np.ndarray:
        return reach_reward(self.effector(state), self.target, self.cfg)

    def success(self, state: TaskState) -> np.ndarray:
        return self.distance(state) < self.cfg.success_dist

    def failed(self, state: TaskState) -> np.ndarray:
        return state.none()

    def markers(self, i: int, state: TaskState) -> list[Marker]:
        return [Marker("point", xyz(to_numpy(self.target[i])), radius=0.05, color=(0.9, 0.2, 0.9, 1.0), label="reach")]

    # evaluation
    def evaluate(self, policy: Any, env: Any, seconds: float, seed: int) -> dict[str, Any]:
        env.reset()
        pin_sampled_goals(self, env, seed + 12)
        reward, fallen = run(policy, env, hlc_steps(env, seconds))
        dist = self.distance(env.state)
        return {"distance": float(dist.mean()), "median_distance": float(np.median(dist)),
                "fallen": float(fallen.mean()), "task_reward": reward}  # fmt: skip

    def table_rows(self, metrics: dict[str, Any]) -> list[Row]:
        return [
            (f"distance after {self.eval_seconds:g} s (m)", number("distance", digits=2)),
            ("  median (m)", number("median_distance", digits=2)),
            *COMMON_ROWS,
        ]

    # the viewer
    def viewer_goal(self, goals: ViewerGoals) -> dict[str, Any]:
        return {"target": goals.reach}

    def viewer_start(self, root: np.ndarray, yaw: float) -> dict[str, Any]:
        ahead = np.array([math.cos(yaw), math.sin(yaw)])  # in front, a little to the right (the right hand's side)
        return {"reach": np.array([*(root[:2] + 0.6 * ahead + 0.3 * np.array([ahead[1], -ahead[0]])), 1.2])}

    def goal_text(self, i: int, state: TaskState) -> str:
        where = ", ".join(f"{v:.2f}" for v in self.target[i])
        return f"target ({where}), {self.distance(state)[i]:.2f} m away"

    def measured_text(self, i: int, state: TaskState, motion: Motion) -> str:
        return f"{float(self.distance(state)[i]):.2f} m from the target (success within {self.cfg.success_dist:g} m)"

    def goal_layout(self) -> dict[str, Any]:
        return goal_layout(
            self.name,
            [("target_pos", 3, "heading", "m, relative to the root")],
            {
                "target": "world xyz (m)",
                "effector": self.cfg.effector or "sword if the character has one, else right_hand",
            },
        )

    def state_dict(self) -> dict[str, Any]:
        return goal_state(self)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        load_goal_state(self, state)
