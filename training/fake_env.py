"""A tiny stand-in for sim.env.HumanoidEnv with the same interface, for fast trainer tests and dry runs.

Each environment is a point with `action_dim` coordinates that follows its PD-like action target. The
"dataset" is smooth sinusoidal motion of those coordinates; the discriminator frame is (position,
velocity). A coordinate leaving [-3, 3] is a fall; episodes time out after `episode_steps`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


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
    character = "fake"

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

    def demo_amp_windows(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Windows of sinusoids (amplitude 1, 1-2 Hz, random phase), current frame first."""
        freq = rng.uniform(1.0, 2.0, (n, 1, self.action_dim)) * 2 * np.pi
        phase = rng.uniform(0, 2 * np.pi, (n, 1, self.action_dim))
        t = -np.arange(self.num_amp_frames)[None, :, None] * self.dt
        pos, vel = np.sin(freq * t + phase), freq * np.cos(freq * t + phase)
        return np.concatenate([pos, vel], -1).reshape(n, -1).astype(np.float32)

    def get_state(self) -> dict:
        state = {k: getattr(self, k).copy() for k in ("pos", "vel", "progress", "history")}
        return {**state, "rng": self.rng.bit_generator.state}

    def set_state(self, state: dict) -> None:
        for k, v in state.items():
            if k == "rng":
                self.rng.bit_generator.state = v
            else:
                setattr(self, k, np.array(v, copy=True))
