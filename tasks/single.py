"""Driving a trained task controller on one MuJoCo simulation (the viewer's MjData, a game's own physics).

`TaskState` from an MjData, and `HLCDriver`: the HLC decides a latent every `llc_steps` control steps from the
policy observation and the goal observation, and the LLC acts on it in between, as in training
(tasks/env.py). Goals are set on the driver's task (`driver.task.set_goal(0, ...)`, world frame).
"""

from __future__ import annotations

from typing import Any

import mujoco
import numpy as np

from sim.backend import body_velocities
from sim.control import HLC_HOLD_STEPS
from tasks import make_task
from tasks.common import PropState, TaskState


def task_state_from_data(
    model: mujoco.MjModel,
    data: mujoco.MjData,
    character: Any,
    dt: float,
    prev_root: np.ndarray | None = None,
    prev_target_vel: np.ndarray | None = None,
) -> TaskState:
    """A one-row TaskState of the character (bodies 1..B of the scene) and the strike target if the scene has
    one. Velocities over the last control step come from `prev_root` / `prev_target_vel` (None: zero)."""
    nb = character.num_bodies
    pos, rot = np.array(data.xpos[None, 1 : 1 + nb]), np.array(data.xquat[None, 1 : 1 + nb])
    root = pos[:, 0]
    vel = np.zeros_like(root) if prev_root is None else (root - np.asarray(prev_root).reshape(1, 3)) / dt
    contact = np.array([[np.linalg.norm(data.cfrc_ext[b, 3:6]) for b in range(1, 1 + nb)]])
    target = None
    if mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, "strike_target") >= 0:
        b = model.body("strike_target").id
        lin, ang = body_velocities(data.xpos[b], data.cvel[b], data.subtree_com[model.body_rootid[b]])
        push = np.zeros(1)
        if prev_target_vel is not None:
            push[0] = model.body_subtreemass[b] * np.linalg.norm(lin[:2] - np.asarray(prev_target_vel)[:2]) / dt
        target = PropState(data.xpos[None, b].copy(), data.xquat[None, b].copy(), lin[None], ang[None], push)
    return TaskState(root.copy(), rot[:, 0].copy(), vel, pos, contact, target)


class HLCDriver:
    """Latents for one character from a task controller: `latent(policy_obs, state)` once per control step."""

    def __init__(self, hlc: Any, character: Any, llc_steps: int | None = None) -> None:
        self.hlc = hlc
        self.llc_steps = llc_steps or int(getattr(hlc, "config", {}).get("llc_steps", HLC_HOLD_STEPS))
        self.task = make_task(hlc.task, 1, hlc.task_config)
        self.task.bind(character)
        self.task.schedule.pin(np.array([0]))  # goals come from outside only
        self._count, self._z = 0, None

    def reset(self) -> None:
        self._count, self._z = 0, None

    def latent(self, policy_obs: np.ndarray, state: TaskState) -> np.ndarray:
        """(1, latent_dim): a new decision every `llc_steps` calls, the held latent in between."""
        if self._z is None or self._count % self.llc_steps == 0:
            goal = self.task.observe(state)
            obs = np.concatenate([np.asarray(policy_obs, dtype=np.float32).reshape(1, -1), goal], 1)
            self._z = self.hlc.act(obs)
        self._count += 1
        return self._z

    def score(self, state: TaskState) -> tuple[float, bool, bool]:
        """The task reward, success and the task's own failure (strike: a foul) of the current state (a HUD)."""
        t = self.task
        return float(t.reward(state)[0]), bool(t.success(state)[0]), bool(t.failed(state)[0])
