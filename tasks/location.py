"""Location: walk to a point on the ground.

Goal observation (2, heading frame): the target's xy relative to the root. Reward (docs/method.md, "Tasks"):
    0.5 exp(-0.5 d^2) + 0.4 exp(-4 max(1 - v.u, 0)^2) + 0.1 max(f.u, 0)
d the horizontal distance, u the unit direction to the target, v the root's xy velocity over one control step
(target speed 1 m/s), the velocity term 0 when v.u <= 0, f the facing; within d^2 < 0.5 (d < 0.707 m) the
velocity and facing terms count as 1. Targets uniform in a +-10 m square around the character, redrawn every
100-199 control steps. Success: within 0.5 m.
Eval (`eval --hlc`): targets drawn as in training; success = the root within `success_dist` at some point in
`eval_seconds` (10 s), with the median time to get there. Viewer: a ground click sets the target (the first
one 3 m ahead).
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
    facing_xy,
    goal_layout,
    goal_state,
    host_goals,
    host_rows,
    load_goal_state,
    put,
    to_heading_xy,
    unit_xy,
)
from tasks.measure import COMMON_ROWS, hlc_steps, number, pin_sampled_goals, run, seconds_at

VIEWER_AHEAD = 3.0  # m: the viewer's first target, straight ahead


@dataclass
class LocationConfig:
    half_extent: float = 10.0  # m: targets uniform in a square of +-half_extent around the character
    resample_steps: tuple[int, int] = (100, 200)
    target_speed: float = 1.0  # m/s
    pos_weight: float = 0.5
    vel_weight: float = 0.4
    facing_weight: float = 0.1
    pos_err_scale: float = 0.5
    vel_err_scale: float = 4.0
    near_sq_dist: float = 0.5  # m^2: inside, the velocity and facing terms count as 1
    success_dist: float = 0.5  # m


def location_reward(
    target_xy: np.ndarray, root_pos: np.ndarray, root_vel: np.ndarray, facing: np.ndarray, cfg: LocationConfig
) -> np.ndarray:
    """(n,) from the target (n, 2), root position and velocity (n, 3) and facing (n, 2), world frame."""
    xp = namespace(root_pos)
    diff = target_xy - root_pos[:, :2]
    sq = (diff**2).sum(-1)
    u = unit_xy(diff)
    along = (u * root_vel[:, :2]).sum(-1)
    vel = xp.exp(-cfg.vel_err_scale * xp.clip(cfg.target_speed - along, min=0.0) ** 2)
    vel = xp.where(along <= 0.0, 0.0, vel)
    face = xp.clip((u * facing).sum(-1), min=0.0)
    near = sq < cfg.near_sq_dist
    vel, face = xp.where(near, 1.0, vel), xp.where(near, 1.0, face)
    return cfg.pos_weight * xp.exp(-cfg.pos_err_scale * sq) + cfg.vel_weight * vel + cfg.facing_weight * face


class LocationTask:
    name = "location"
    goal_dim = 2
    failure = ""
    uses_strike_target = False
    goal_arrays = ("target",)
    goal_position = "target_xy"
    eval_seconds = 10.0
    viewer_inputs = (ViewerInput("click", "the point to walk to"),)

    def __init__(self, num_envs: int, cfg: LocationConfig | None = None) -> None:
        self.cfg = cfg or LocationConfig()
        self.num_envs = num_envs
        self.schedule = GoalSchedule(num_envs, self.cfg.resample_steps)
        self.target = np.zeros((num_envs, 2))  # world xy

    def bind(self, character: Any) -> None:
        pass

    def sample(self, ids: np.ndarray, state: TaskState, rng: np.random.Generator) -> None:
        h = self.cfg.half_extent
        put(self.target, ids, host_rows(state.root_pos, ids)[:, :2] + rng.uniform(-h, h, (len(ids), 2)))

    def set_goal(self, ids: Any = None, *, target: Any) -> None:
        """World xy (m) of the point to reach."""
        ids = as_ids(ids, self.num_envs)
        put(self.target, ids, broadcast(np.asarray(target, dtype=np.float64)[..., :2], len(ids), 2))
        self.schedule.pin(ids)

    def goal_of(self, ids: Any) -> dict[str, np.ndarray]:
        return host_goals(self, ids, target="target")

    def distance(self, state: TaskState) -> np.ndarray:
        return namespace(self.target).linalg.vector_norm(self.target - state.root_pos[:, :2], axis=1)

    def observe(self, state: TaskState) -> np.ndarray:
        rel = to_heading_xy(state.root_rot, self.target - state.root_pos[:, :2])
        return namespace(rel).astype(rel, namespace(rel).float32)

    def reward(self, state: TaskState) -> np.ndarray:
        return location_reward(self.target, state.root_pos, state.root_vel, facing_xy(state.root_rot), self.cfg)

    def success(self, state: TaskState) -> np.ndarray:
        return self.distance(state) < self.cfg.success_dist

    def failed(self, state: TaskState) -> np.ndarray:
        return state.none()

    def markers(self, i: int, state: TaskState) -> list[Marker]:
        x, y = to_numpy(self.target[i])
        return [Marker("point", (float(x), float(y), 0.0), (0.0, 0.0, 1.0), radius=0.1, color=(0.9, 0.2, 0.2, 1.0),
                       label="location")]  # fmt: skip

    # evaluation
    def evaluate(self, policy: Any, env: Any, seconds: float, seed: int) -> dict[str, Any]:
        env.reset()
        pin_sampled_goals(self, env, seed + 11)
        n = env.num_envs
        reached, t_reach = np.zeros(n, dtype=bool), np.full(n, np.nan)
        start = self.distance(env.state).copy()

        def each(t: int, res: Any) -> None:
            now = self.distance(env.state) < self.cfg.success_dist
            t_reach[now & ~reached] = seconds_at(env, t + 1)
            reached[now] = True

        reward, fallen = run(policy, env, hlc_steps(env, seconds), each)
        return {
            "success": float(reached.mean()),
            "median_seconds": float(np.nanmedian(t_reach)) if reached.any() else float("nan"),
            "start_distance": float(start.mean()),
            "final_distance": float(self.distance(env.state).mean()),
            "fallen": float(fallen.mean()),
            "task_reward": reward,
        }

    def table_rows(self, metrics: dict[str, Any]) -> list[Row]:
        return [
            (f"success within {self.cfg.success_dist:g} m in {self.eval_seconds:g} s", number("success", digits=2)),
            ("  median time (s)", number("median_seconds", digits=1)),
            ("final distance (m)", number("final_distance", digits=2)),
            *COMMON_ROWS,
        ]

    # the viewer
    def viewer_goal(self, goals: ViewerGoals) -> dict[str, Any] | None:
        return None if goals.location is None else {"target": goals.location}

    def viewer_start(self, root: np.ndarray, yaw: float) -> dict[str, Any]:
        return {"location": root[:2] + VIEWER_AHEAD * np.array([math.cos(yaw), math.sin(yaw)])}

    def goal_text(self, i: int, state: TaskState) -> str:
        where = ", ".join(f"{v:.2f}" for v in self.target[i])
        return f"target ({where}), {self.distance(state)[i]:.2f} m away"

    def measured_text(self, i: int, state: TaskState, motion: Motion) -> str:
        return f"{float(self.distance(state)[i]):.2f} m from the target (success within {self.cfg.success_dist:g} m)"

    def goal_layout(self) -> dict[str, Any]:
        return goal_layout(
            self.name, [("target_xy", 2, "heading", "m, relative to the root")], {"target": "world xy (m)"}
        )

    def state_dict(self) -> dict[str, Any]:
        return goal_state(self)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        load_goal_state(self, state)
