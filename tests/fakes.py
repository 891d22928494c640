"""Small stand-ins for the trainers' environments, for fast trainer tests (no physics).

`FakeEnv` has sim.env.HumanoidEnv's interface: each environment is a point with `action_dim` coordinates that
follows its PD-like action target. Its dataset (`FakeDataset`, motion.amp.AmpDataset's interface) is smooth
sinusoidal motion of those coordinates; the discriminator frame is (position, velocity). A coordinate leaving
[-3, 3] is a fall; episodes time out after `episode_steps`. `llc_trainer` builds an LLC trainer on either.

`PointTaskEnv` has tasks.env.TaskEnv's interface: each environment is a point on the plane with a heading. A
fixed random linear map stands in for the frozen LLC: the unit latent z sets the point's velocity in its heading
frame (|v| ~ 1.5 m/s for a random z), and the heading turns towards the motion. The task (a real one from tasks/,
by default `speed`) sees a TaskState of the point and gives the reward and goal observation, so the HLC must
learn which latent moves the point along the goal. Observation = [velocity in the heading frame (2), goal
observation]. No style reward.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sim.control import HLC_HOLD_STEPS, latent_from_action
from sim.rotations import quat_from_axis_angle
from tasks import make_task
from tasks.common import TaskState


@dataclass(frozen=True)
class FakeCharacter:
    """What the trainers read of an environment's `Character`: its name (the configs say `character="fake"`)."""

    name: str = "fake"


@dataclass
class FakeStepResult:
    obs: np.ndarray
    final_obs: np.ndarray
    amp_obs: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    done: np.ndarray
    info: dict = field(default_factory=dict)


class FakeEnv:
    character = FakeCharacter()
    xp = np  # host arrays, as HumanoidEnv without device arrays

    def __init__(
        self, num_envs: int = 8, action_dim: int = 4, num_amp_frames: int = 4, episode_steps: int = 50, seed: int = 0
    ) -> None:
        self.num_envs, self.action_dim, self.num_amp_frames = num_envs, action_dim, num_amp_frames
        self.amp_obs_dim = 2 * action_dim
        self.obs_dim = 2 * action_dim + 2
        self.episode_steps, self.dt = episode_steps, 1.0 / 30.0
        self.rng = np.random.default_rng(seed)
        self.pos = np.zeros((num_envs, action_dim))
        self.vel = np.zeros((num_envs, action_dim))
        self.progress = np.zeros(num_envs, dtype=np.int64)
        self.history = np.zeros((num_envs, num_amp_frames, self.amp_obs_dim))

    # --- observation functions -------------------------------------------
    def _frame(self) -> np.ndarray:
        return np.concatenate([self.pos, self.vel], -1)

    def _obs(self) -> np.ndarray:
        phase = self.progress[:, None] / self.episode_steps
        return np.concatenate([self.pos, self.vel, phase, np.ones_like(phase)], -1).astype(np.float32)

    def _reset_ids(self, ids: np.ndarray) -> None:
        self.pos[ids] = self.rng.uniform(-0.5, 0.5, (len(ids), self.action_dim))
        self.vel[ids] = 0.0
        self.progress[ids] = 0
        self.history[ids] = self._frame()[ids, None, :]

    # --- the HumanoidEnv contract -------------------------------------------
    def reset(self) -> np.ndarray:
        self._reset_ids(np.arange(self.num_envs))
        return self._obs()

    def step(self, actions: np.ndarray) -> FakeStepResult:
        a = np.clip(np.asarray(actions, dtype=np.float64), -1.0, 1.0)
        target = 1.5 * a
        acc = 40.0 * (target - self.pos) - 6.0 * self.vel
        self.vel = self.vel + self.dt * acc
        self.pos = self.pos + self.dt * self.vel
        self.progress += 1
        self.history = np.concatenate([self._frame()[:, None], self.history[:, :-1]], 1)
        amp = self.history.reshape(self.num_envs, -1).astype(np.float32)
        final_obs = self._obs()
        terminated = (np.abs(self.pos) > 3.0).any(-1)
        truncated = (self.progress >= self.episode_steps) & ~terminated
        done = terminated | truncated
        info = {"falls": int(terminated.sum()), "unstable_resets": 0, "episode_lengths": self.progress[done].copy()}
        ids = np.nonzero(done)[0]
        if len(ids):
            self._reset_ids(ids)
        return FakeStepResult(self._obs(), final_obs, amp, terminated, truncated, done, info)

    def terminate(self, ids: np.ndarray) -> np.ndarray:
        """End episodes now (a termination decided by the trainer); returns their new first observations."""
        ids = np.asarray(ids, dtype=np.int64)
        self._reset_ids(ids)
        return self._obs()[ids]

    def in_grace(self) -> np.ndarray:
        return np.zeros(self.num_envs, dtype=bool)

    def elapsed_steps(self) -> np.ndarray:
        return self.progress.copy()

    def get_state(self) -> dict:
        state = {k: getattr(self, k).copy() for k in ("pos", "vel", "progress", "history")}
        return {**state, "rng": self.rng.bit_generator.state}

    def set_state(self, state: dict) -> None:
        for k, v in state.items():
            if k == "rng":
                self.rng.bit_generator.state = v
            else:
                setattr(self, k, np.array(v, copy=True))


class FakeDataset:
    """A FakeEnv's dataset: windows of sinusoids (amplitude 1, 1-2 Hz, random phase), current frame first."""

    def __init__(self, env: FakeEnv) -> None:
        self.action_dim, self.frames, self.dt = env.action_dim, env.num_amp_frames, env.dt

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        freq = rng.uniform(1.0, 2.0, (n, 1, self.action_dim)) * 2 * np.pi
        phase = rng.uniform(0, 2 * np.pi, (n, 1, self.action_dim))
        t = -np.arange(self.frames)[None, :, None] * self.dt
        pos, vel = np.sin(freq * t + phase), freq * np.cos(freq * t + phase)
        return np.concatenate([pos, vel], -1).reshape(n, -1).astype(np.float32), np.zeros(n, dtype=np.int64)


def llc_trainer_on(cfg, env, **kw):
    """training.llc.LLCTrainer on `env`: a FakeEnv with its FakeDataset, or an environment with a motion library
    (its own dataset)."""
    from training.llc import LLCTrainer

    return LLCTrainer(cfg, env, dataset=FakeDataset(env) if isinstance(env, FakeEnv) else None, **kw)


@dataclass
class FakeTaskStepResult:
    obs: np.ndarray
    final_obs: np.ndarray
    reward: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    info: dict = field(default_factory=dict)

    @property
    def done(self) -> np.ndarray:
        return self.terminated | self.truncated


class PointTaskEnv:
    character = FakeCharacter()
    xp = np

    def __init__(
        self, num_envs: int = 32, task: str = "speed", episode_steps: int = 16, latent_dim: int = 64, seed: int = 0
    ) -> None:
        self.num_envs, self.episode_steps, self.action_dim = num_envs, episode_steps, latent_dim
        self.task = make_task(task, num_envs, {"speed_range": (0.5, 1.5), "resample_steps": (10_000, 10_001)})
        self.obs_dim = 2 + self.task.goal_dim
        self.dt = 1.0 / 6.0  # one HLC step
        self.rng = np.random.default_rng(seed)
        m = np.random.default_rng(1234).normal(size=(2, latent_dim))
        self.llc_map = m * 1.5 * np.sqrt(latent_dim) / np.linalg.norm(m)  # the stand-in LLC: z -> local velocity
        self.pos, self.yaw = np.zeros((num_envs, 2)), np.zeros(num_envs)
        self.vel, self.progress = np.zeros((num_envs, 2)), np.zeros(num_envs, dtype=np.int64)

    def _state(self) -> TaskState:
        n = self.num_envs
        root = np.concatenate([self.pos, np.full((n, 1), 0.9)], 1)
        rot = quat_from_axis_angle(np.array([0.0, 0.0, 1.0]), self.yaw)
        vel = np.concatenate([self.vel, np.zeros((n, 1))], 1)
        return TaskState(root, rot, vel, root[:, None].copy(), np.zeros((n, 1)))

    def _obs(self) -> np.ndarray:
        c, s = np.cos(self.yaw), np.sin(self.yaw)
        local = np.stack([c * self.vel[:, 0] + s * self.vel[:, 1], c * self.vel[:, 1] - s * self.vel[:, 0]], 1)
        return np.concatenate([local, self.task.observe(self._state())], 1).astype(np.float32)

    def _start(self, ids: np.ndarray) -> None:
        self.pos[ids], self.vel[ids], self.progress[ids] = 0.0, 0.0, 0
        self.yaw[ids] = self.rng.uniform(-np.pi, np.pi, len(ids))
        self.task.sample(self.task.schedule.on_reset(ids, self.rng), self._state(), self.rng)

    def reset(self) -> np.ndarray:
        self._start(np.arange(self.num_envs))
        return self._obs()

    def step(self, actions: np.ndarray) -> FakeTaskStepResult:
        local = latent_from_action(actions) @ self.llc_map.T
        c, s = np.cos(self.yaw), np.sin(self.yaw)
        self.vel = np.stack([c * local[:, 0] - s * local[:, 1], s * local[:, 0] + c * local[:, 1]], 1)
        self.pos += self.vel * self.dt
        self.yaw = self.yaw + 0.3 * np.arctan2(local[:, 1], local[:, 0])
        self.progress += 1
        st = self._state()
        reward = self.task.reward(st)
        final_obs = self._obs()
        truncated = self.progress >= self.episode_steps
        info = {"task_reward": reward, "style_reward": np.zeros(self.num_envs), "success": self.task.success(st),
                "failed": self.task.failed(st),
                "episode_lengths": self.progress[truncated] * HLC_HOLD_STEPS}  # fmt: skip
        if truncated.any():
            self._start(np.nonzero(truncated)[0])
        terminated = np.zeros(self.num_envs, dtype=bool)
        return FakeTaskStepResult(self._obs(), final_obs, reward, terminated, truncated, info)

    def get_state(self) -> dict:
        arrays = {k: getattr(self, k).copy() for k in ("pos", "yaw", "vel", "progress")}
        return {**arrays, "task": self.task.state_dict(), "rng": self.rng.bit_generator.state}

    def set_state(self, state: dict) -> None:
        for k in ("pos", "yaw", "vel", "progress"):
            setattr(self, k, state[k].copy())
        self.task.load_state_dict(state["task"])
        self.rng.bit_generator.state = state["rng"]
