"""Speed: hold a target speed along a direction, facing wherever the motion goes.

In the ASE paper but not in the released code; defined here as the steering task without its facing term
(docs/method.md, "Tasks"): goal observation (3, heading frame) [target direction (2), target speed (1)], reward
    exp(-0.25 ((s* - v.d)^2 + 0.1 t^2)), 0 when v.d <= 0
(`tasks.steering.heading_reward`, weight 1). Goals as in steering: direction uniform in [-pi, pi), speed
uniform in 0-3.5 m/s, redrawn every 100-199 control steps. Eval and viewer inputs as in steering, without
the facing.
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
    as_ids,
    broadcast,
    goal_layout,
    goal_state,
    host_goals,
    load_goal_state,
    put,
    to_heading_xy,
    xyz,
    yaw_vec,
)
from tasks.steering import (
    EVAL_MEASURE_SECONDS,
    EVAL_SPEEDS,
    MOVE_INPUT,
    heading_reward,
    measured_speed_text,
    velocity_errors,
    velocity_metrics,
    velocity_rows,
)


@dataclass
class SpeedConfig:
    speed_range: tuple[float, float] = (0.0, 3.5)  # m/s
    resample_steps: tuple[int, int] = (100, 200)
    vel_err_scale: float = 0.25
    tangent_weight: float = 0.1
    tangent_norm: bool = False  # project option, as in steering: t^2 = the sideways speed squared
    success_speed_tol: float = 0.3  # m/s, along the direction and sideways


class SpeedTask:
    name = "speed"
    goal_dim = 3
    failure = ""
    uses_strike_target = False
    goal_arrays = ("direction", "speed")
    goal_position = None
    eval_seconds = 4.0  # settling on each goal; then measured over EVAL_MEASURE_SECONDS
    viewer_inputs = (MOVE_INPUT,)

    def __init__(self, num_envs: int, cfg: SpeedConfig | None = None) -> None:
        self.cfg = cfg or SpeedConfig()
        self.num_envs = num_envs
        self.schedule = GoalSchedule(num_envs, self.cfg.resample_steps)
        self.direction = np.zeros(num_envs)
        self.speed = np.zeros(num_envs)

    def bind(self, character: Any) -> None:
        pass

    def sample(self, ids: np.ndarray, state: TaskState, rng: np.random.Generator) -> None:
        put(self.direction, ids, rng.uniform(-math.pi, math.pi, len(ids)))
        put(self.speed, ids, rng.uniform(*self.cfg.speed_range, len(ids)))

    def set_goal(self, ids: Any = None, *, direction: Any, speed: Any) -> None:
        """World yaw (rad) of travel and speed (m/s)."""
        ids = as_ids(ids, self.num_envs)
        put(self.direction, ids, broadcast(direction, len(ids)))
        put(self.speed, ids, broadcast(speed, len(ids)))
        self.schedule.pin(ids)

    def goal_of(self, ids: Any) -> dict[str, np.ndarray]:
        return host_goals(self, ids, direction="direction", speed="speed")

    def observe(self, state: TaskState) -> np.ndarray:
        d = to_heading_xy(state.root_rot, yaw_vec(self.direction))
        xp = namespace(d)
        return xp.astype(xp.concat([d, self.speed[:, None]], axis=1), xp.float32)

    def reward(self, state: TaskState) -> np.ndarray:
        c = self.cfg
        return heading_reward(
            yaw_vec(self.direction), self.speed, state.root_vel, c.vel_err_scale, c.tangent_weight, c.tangent_norm
        )

    def success(self, state: TaskState) -> np.ndarray:
        speed_err, side, _ = velocity_errors(yaw_vec(self.direction), self.speed, state.root_vel)
        return (abs(speed_err) < self.cfg.success_speed_tol) & (side < self.cfg.success_speed_tol)

    def failed(self, state: TaskState) -> np.ndarray:
        return state.none()

    def markers(self, i: int, state: TaskState) -> list[Marker]:
        base = to_numpy(state.root_pos[i]) * np.array([1.0, 1.0, 0.0]) + np.array([0.0, 0.0, 0.05])
        vec = (0.3 + 0.4 * float(self.speed[i])) * yaw_vec(float(self.direction[i]))
        return [Marker("arrow", xyz(base), xyz([*vec, 0.0]), color=(0.9, 0.6, 0.1, 1.0), label="speed")]

    # evaluation
    def evaluate(
        self,
        policy: Any,
        env: Any,
        seconds: float,
        seed: int,
        speeds: tuple[float, ...] = EVAL_SPEEDS,
        measure_seconds: float = EVAL_MEASURE_SECONDS,
    ) -> dict[str, Any]:
        return velocity_metrics(policy, env, seconds, measure_seconds, speeds, facing=False)

    def table_rows(self, metrics: dict[str, Any]) -> list[Row]:
        return velocity_rows(metrics, facing=False)

    # the viewer
    def viewer_goal(self, goals: ViewerGoals) -> dict[str, Any]:
        return {"direction": goals.heading, "speed": goals.speed}

    def viewer_start(self, root: np.ndarray, yaw: float) -> dict[str, Any]:
        return {}

    def goal_text(self, i: int, state: TaskState) -> str:
        return f"direction {math.degrees(self.direction[i]):.0f} deg, speed {self.speed[i]:.2f} m/s"

    def measured_text(self, i: int, state: TaskState, motion: Motion) -> str:
        return measured_speed_text(motion, float(self.direction[i]), float(self.speed[i]))

    def goal_layout(self) -> dict[str, Any]:
        return goal_layout(
            self.name,
            [("target_direction", 2, "heading", "unit xy"), ("target_speed", 1, "-", "m/s")],
            {"direction": "world yaw (rad) of travel", "speed": "m/s"},
        )

    def state_dict(self) -> dict[str, Any]:
        return goal_state(self)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        load_goal_state(self, state)
