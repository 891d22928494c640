"""A trained task controller driving one character (`sim.single.SingleCharacter`: the viewer's, the runtime's or a
game's), as in training (tasks/env.py): the HLC decides a latent every `llc_steps` control steps from the policy
observation and the task's goal observation, and the LLC acts on the held latent in between.

    driver = HLCDriver(hlc, sim)                 # the HLC's task, bound to the character
    driver.set_goal(direction=0.5, speed=1.5)    # world frame, as the task's set_goal (strike: places the box)
    z = driver.latent(sim.observe())             # (1, latent_dim), once per control step
    reward, success, failed = driver.score(sim.task_state())
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from sim.control import HLC_HOLD_STEPS
from sim.single import SingleCharacter
from sim.task_state import TaskState
from tasks import make_task

if TYPE_CHECKING:
    from controllers.protocols import TaskPolicy


class HLCDriver:
    """The latents of a task controller `hlc` for the character of `sim`: `latent(policy_obs)` once per control
    step. Goals are set through `set_goal` (or on `task`, world frame); they are pinned, never redrawn."""

    def __init__(self, hlc: TaskPolicy, sim: SingleCharacter, llc_steps: int | None = None) -> None:
        self.hlc, self.sim = hlc, sim
        self.llc_steps = llc_steps or int(getattr(hlc, "config", {}).get("llc_steps", HLC_HOLD_STEPS))
        self.task = make_task(hlc.task, 1, hlc.task_config)
        self.task.bind(sim.character)
        self.task.schedule.pin(np.array([0]))  # goals come from outside only
        self.reset()

    def reset(self) -> None:
        """The next `latent` call decides afresh."""
        self._count = 0
        self.z: np.ndarray | None = None  # (1, latent_dim): the held latent
        self.goal_obs: np.ndarray | None = None  # (1, goal_dim): the goal observation of the last decision

    def set_goal(self, **goal: Any) -> None:
        """The task's goal in the world frame (its `set_goal`); a strike target the task places is written to the
        simulation's box, upright at rest."""
        self.task.set_goal(0, **goal)
        if getattr(self.task, "uses_strike_target", False):
            ids, pos, quat = self.task.take_placements()  # type: ignore[attr-defined]
            if len(ids):
                self.sim.place_strike_target(pos[0, :2], quat=quat[0])

    def latent(self, policy_obs: np.ndarray, goal: np.ndarray | None = None) -> np.ndarray:
        """(1, latent_dim): a new decision every `llc_steps` calls (and at the first call after a reset), the held
        latent in between. A decision reads the policy observation and the goal observation: `goal` (heading
        frame, goal_dim numbers) when given, else the task's of the simulation now."""
        if self.z is None or self._count % self.llc_steps == 0:
            if goal is None:
                g = self.task.observe(self.sim.task_state())
            else:
                g = np.asarray(goal, dtype=np.float32).reshape(1, -1)
            self.goal_obs = g
            obs = np.concatenate([np.asarray(policy_obs, dtype=np.float32).reshape(1, -1), g], 1)
            self.z = self.hlc.act(obs)
        self._count += 1
        return self.z

    def score(self, state: TaskState) -> tuple[float, bool, bool]:
        """The task reward, success and the task's own failure (strike: a foul) of `state` (a HUD)."""
        t = self.task
        return float(t.reward(state)[0]), bool(t.success(state)[0]), bool(t.failed(state)[0])
