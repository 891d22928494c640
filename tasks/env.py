"""TaskEnv: the humanoid, a task and a frozen low-level controller, stepped at the HLC's rate.

One HLC step (ase-facts.md, "HLC"):
  1. the HLC action is clamped to [-1, 1] and normalized: the unit latent z;
  2. z is held for `llc_steps` (5) LLC steps; each one the frozen LLC acts with its mean action (clamped to
     [-1, 1]) on the policy observation (no goal), through its own normalizer;
  3. after each LLC step: the task reward, the frozen discriminator's style reward (x2 included), falls and
     the task's extra failures; goals due for a redraw are redrawn (the task's clock is the LLC's);
  4. reward = 0.9 mean(task) + 0.1 mean(style) over the LLC steps; the HLC step is done if any LLC step was;
  5. finished episodes restart from the default pose (episodes of 300 LLC steps = 60 decisions), with new
     goals (and, for strike, the box placed again).
Observation = the LLC's policy observation followed by the task's goal observation (heading frame).
`HumanoidEnv` is wrapped, not changed: it runs with its own automatic resets off so that every LLC step of an
HLC step belongs to one episode, as in the reference.

Arrays are numpy by default. With `device_arrays` (MuJoCo Warp backends) the physics state, observations,
rewards, terminations and the task's goals are torch tensors on the physics device, and the frozen LLC acts
there: only goal redraws, restarts and the ids of finished episodes cross to the host.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from controllers.hlc import latent_from_action
from sim.arrays import as_like, copy, index_like, to_numpy
from sim.control import HLC_HOLD_STEPS
from sim.env import EnvConfig, HumanoidEnv, ResetConfig
from tasks import make_task
from tasks.common import PropState, Task, TaskState, as_ids, goals_like


@dataclass
class TaskEnvConfig:
    task: str = "steering"
    task_config: dict = field(default_factory=dict)  # overrides of the task's config dataclass
    num_envs: int = 64
    seed: int = 0
    nthread: int = 1  # physics threads (0: all cores)
    backend: str = "cpu"  # physics: cpu (mujoco.batch), cuda[:K] (MuJoCo Warp on an NVIDIA GPU) or warp-cpu
    device_arrays: bool = False  # Warp backends: arrays stay torch tensors on the physics device
    llc_steps: int = HLC_HOLD_STEPS  # LLC steps per HLC step (HLC 6 Hz, LLC 30 Hz)
    task_weight: float = 0.9
    style_weight: float = 0.1
    episode_steps: int = 300  # LLC steps
    early_termination: bool = True  # falls (and the task's failures) end episodes
    auto_reset: bool = True  # False: nothing restarts (evaluation: each character lives through the measurement)


@dataclass
class TaskStepResult:
    # numpy, or torch tensors on the physics device with `TaskEnvConfig.device_arrays` (info["episode_lengths"]
    # too; the other info entries likewise)
    obs: np.ndarray  # (N, obs_dim) after automatic resets
    final_obs: np.ndarray  # (N, obs_dim) before resets: bootstrap timeouts from here
    reward: np.ndarray  # (N,)
    terminated: np.ndarray  # (N,) fell or failed the task in one of the LLC steps
    truncated: np.ndarray  # (N,) timed out or restarted for unstable physics, and not terminated
    info: dict[str, Any]

    @property
    def done(self) -> np.ndarray:
        return self.terminated | self.truncated


class TaskEnv:
    def __init__(self, cfg: TaskEnvConfig, llc: Any, task: Task | None = None) -> None:
        """`llc`: a frozen LLC with `character`, `obs_dim`, `latent_dim`, `act(obs, z)` and `disc_reward(window)`
        (controllers.checkpoint.LLCPolicy)."""
        self.cfg, self.llc = cfg, llc
        self.task = task or make_task(cfg.task, cfg.num_envs, cfg.task_config)
        if getattr(self.task, "num_envs", cfg.num_envs) != cfg.num_envs:
            raise ValueError(f"task holds goals for {self.task.num_envs} environments, config says {cfg.num_envs}")
        env_cfg = EnvConfig(
            character=llc.character, num_envs=cfg.num_envs, seed=cfg.seed, nthread=cfg.nthread, backend=cfg.backend,
            episode_steps=cfg.episode_steps, early_termination=cfg.early_termination, auto_reset=False,
            reset=ResetConfig(mode="default"), strike_target=self.task.uses_strike_target,
            device_arrays=cfg.device_arrays,
        )  # fmt: skip
        self.env = HumanoidEnv(env_cfg)
        self.xp = self.env.xp  # numpy, or torch for device arrays
        if llc.obs_dim != self.env.obs_dim:
            raise ValueError(
                f"the LLC observes {llc.obs_dim} numbers, the {llc.character!r} environment gives {self.env.obs_dim}"
            )
        self.character = self.env.character
        self.task.bind(self.character)
        goals_like(self.task, self.env.backend.qpos)  # goals where the terms read them
        self.num_envs = cfg.num_envs
        self.obs_dim = self.env.obs_dim + self.task.goal_dim
        self.action_dim = llc.latent_dim
        self.control_dt = self.env.control_dt
        self.rng = np.random.default_rng(cfg.seed + 1)  # goals (the environment has its own generator)
        self.latent = self._dev(np.zeros((self.num_envs, llc.latent_dim), dtype=np.float32))  # drives the LLC
        self._target = self._find_target() if self.task.uses_strike_target else None
        self.state: TaskState = self._read_state()

    # ------------------------------------------------------------------ physics reads and writes
    def _dev(self, x: Any, dtype: Any = None) -> Any:
        """A host array as an array of the physics' kind (numpy itself, or a tensor on its device)."""
        return as_like(x, self.env.backend.qpos, dtype)

    def _idx(self, ids: np.ndarray) -> Any:
        """Host environment indices, for indexing the environment's arrays."""
        return index_like(ids, self.env.backend.qpos)

    def _find_target(self) -> tuple[int, int, int, float]:
        m = self.env.model
        body, joint = m.body("strike_target").id, m.joint("strike_target").id
        return body, int(m.jnt_qposadr[joint]), int(m.jnt_dofadr[joint]), float(m.body_subtreemass[body])

    def _read_state(self, prev_root: np.ndarray | None = None, prev_target_vel: np.ndarray | None = None) -> TaskState:
        """The world-frame state after a control step; velocities from the positions before it (None: zero)."""
        pos, quat, lin, ang = self.env.backend.bodies()
        xp, nb, dt = self.xp, self.env.nb, self.control_dt
        body_pos = copy(pos[:, 1 : 1 + nb])
        root_pos = body_pos[:, 0]
        root_vel = xp.zeros_like(root_pos) if prev_root is None else (root_pos - prev_root) / dt
        contact = copy(self.env.backend.contact_force()[:, 1 : 1 + nb])
        target = None
        if self._target is not None:
            b, mass = self._target[0], self._target[3]
            t_lin = copy(lin[:, b])
            push = xp.zeros_like(t_lin[:, 0])
            if prev_target_vel is not None:
                push = mass * xp.linalg.vector_norm(t_lin[:, :2] - prev_target_vel[:, :2], axis=1) / dt
            target = PropState(copy(pos[:, b]), copy(quat[:, b]), t_lin, copy(ang[:, b]), push)
        return TaskState(root_pos, copy(quat[:, 1]), root_vel, body_pos, contact, target)

    def _place_target(self) -> None:
        """Write the strike target placements the task asked for (upright, at rest)."""
        if self._target is None:
            return
        ids, pos, quat = self.task.take_placements()  # type: ignore[attr-defined]
        if not len(ids):
            return
        _, qa, va, _ = self._target
        backend, idx = self.env.backend, self._idx(ids)
        qpos, qvel = copy(backend.qpos[idx]), copy(backend.qvel[idx])
        qpos[:, qa : qa + 3], qpos[:, qa + 3 : qa + 7] = as_like(pos, qpos, qpos.dtype), as_like(quat, qpos, qpos.dtype)
        qvel[:, va : va + 6] = 0.0
        backend.set_state(ids, qpos, qvel, self.env.pd_targets[idx], reset=False)  # the PD targets stay

    # ------------------------------------------------------------------ episodes
    def observe(self) -> np.ndarray:
        """(N, obs_dim): the LLC's policy observation followed by the goal observation."""
        xp = self.xp
        return xp.astype(xp.concat([self.env.obs, self.task.observe(self.state)], axis=1), xp.float32)

    def reset(self) -> np.ndarray:
        self.env.reset()
        self._start_episodes(np.arange(self.num_envs))
        return self.observe()

    def _start_episodes(self, ids: np.ndarray) -> None:
        """New goals for episodes `ids` that just restarted from the default pose (pinned goals stay)."""
        old_vel = self.state.root_vel
        self.state = self._read_state()
        keep = np.ones(self.num_envs, dtype=bool)  # other environments keep their velocity; restarted ones rest
        keep[ids] = False
        keep = self._idx(np.nonzero(keep)[0])
        self.state.root_vel[keep] = old_vel[keep]
        self.task.sample(self.task.schedule.on_reset(ids, self.rng), self.state, self.rng)
        if self._target is not None:
            self.task.pending[ids] = True  # type: ignore[attr-defined]  # the reset moved the box: place it again
            self._place_target()
            self.state.target = self._read_state().target

    def step(self, actions: np.ndarray) -> TaskStepResult:
        cfg, env, task, n, xp = self.cfg, self.env, self.task, self.num_envs, self.xp
        actions = np.asarray(actions) if xp is np else self._dev(actions)
        if tuple(actions.shape) != (n, self.action_dim):
            raise ValueError(f"HLC actions must be ({n}, {self.action_dim}), got {tuple(actions.shape)}")
        z = xp.astype(latent_from_action(actions), xp.float32)
        self.latent = z
        task_sum, style_sum = 0.0, 0.0
        terminated, truncated, task_failed = self.state.none(), self.state.none(), self.state.none()
        for _ in range(cfg.llc_steps):
            prev_root = self.state.root_pos
            prev_tvel = None if self.state.target is None else self.state.target.lin_vel
            res = env.step(self.llc.act(env.obs, z))
            self.state = st = self._read_state(prev_root, prev_tvel)
            task_sum = task_sum + task.reward(st)
            style = self.llc.disc_reward(res.amp_obs)
            style_sum = style_sum + (np.asarray(style, dtype=np.float64) if xp is np else style).reshape(n)
            failed = task.failed(st)
            task_failed = task_failed | failed
            terminated = terminated | res.terminated | (failed & cfg.early_termination)
            truncated = truncated | res.truncated
            due = task.schedule.on_step(self.rng)
            if len(due):
                task.sample(due, st, self.rng)
                self._place_target()
        k = cfg.llc_steps
        task_r, style_r = task_sum / k, style_sum / k
        reward = cfg.task_weight * task_r + cfg.style_weight * style_r
        final_obs = self.observe()
        truncated &= ~terminated
        done = terminated | truncated
        info = {
            "task_reward": task_r,
            "style_reward": style_r,
            "success": task.success(self.state),
            "failed": task_failed,  # the task's own failure in one of the LLC steps (strike: an illegal contact)
            "episode_lengths": copy(env.progress[done]),
        }
        ids = np.nonzero(to_numpy(done))[0] if cfg.auto_reset else []  # one host transfer per HLC step
        if len(ids):
            env.reset(ids)
            self._start_episodes(ids)
        return TaskStepResult(self.observe(), final_obs, reward, terminated, truncated, info)

    # ------------------------------------------------------------------ goals from outside
    def set_goal(self, ids: Any = None, **goal: Any) -> None:
        """Set (and pin) the goal of environments `ids` (None: all), world frame, e.g.
        steering: direction=yaw, speed=m/s, facing=yaw; location: target=xy; reach: target=xyz;
        strike: pos=xy, yaw=rad. Pinned goals are never redrawn until `release_goal`."""
        self.task.set_goal(as_ids(ids, self.num_envs), **goal)
        if self._target is not None:
            self._place_target()
            self.state.target = self._read_state().target

    def release_goal(self, ids: Any = None) -> None:
        """Let training's goal sampling take over again for `ids` at their next redraw."""
        self.task.schedule.release(as_ids(ids, self.num_envs))

    def markers(self, i: int = 0) -> list:
        return self.task.markers(i, self.state)

    # ------------------------------------------------------------------ exact resume
    def get_state(self) -> dict[str, Any]:
        return {
            "env": self.env.get_state(),
            "task": self.task.state_dict(),
            "rng": self.rng.bit_generator.state,
            "latent": to_numpy(self.latent).copy(),
            # host arrays, as a plain dict: resumes on any backend, loads without unpickling a TaskState
            "state": self.state.map(lambda a: to_numpy(a).copy()).to_dict(),
        }

    def set_state(self, state: dict[str, Any]) -> None:
        self.env.set_state(state["env"])
        self.task.load_state_dict(state["task"])
        self.rng.bit_generator.state = state["rng"]
        self.latent = self._dev(np.array(state["latent"], copy=True))
        like = self.env.backend.qpos
        saved = state["state"]  # a dict; a TaskState in a state written before plain-data checkpoints
        saved = TaskState.from_dict(saved) if isinstance(saved, dict) else saved
        self.state = saved.map(lambda a: as_like(np.array(a, copy=True), like, like.dtype))
