"""The discriminator's dataset: windows of discriminator frames cut from a motion library's clips.

The LLC trainer owns one (training/llc.py): `sample` refills its dataset buffer; `clip_windows` gives one clip's
windows (e.g. for its latent preset). A window is `frames` frames `control_dt` apart, current frame first, by the
lag rule the environment's histories follow (`sim.observations.window_lags`), computed by the observation
function of simulated frames (`sim.observations.amp_obs`), so dataset and rollout windows compare.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from motion.library import MotionLibrary
from sim.observations import JointIndex, amp_obs, clip_windows, window_lags, window_times


class AmpDataset:
    def __init__(self, motions: MotionLibrary, control_dt: float, frames: int) -> None:
        self.motions, self.control_dt, self.frames = motions, control_dt, frames
        self.joints = JointIndex.build(motions.character)

    @staticmethod
    def of(env: Any) -> AmpDataset:
        """The dataset of an environment's motion library, its windows shaped as the environment's
        (sim.env.HumanoidEnv: `motions`, `control_dt`, `num_amp_frames`)."""
        if getattr(env, "motions", None) is None:
            raise ValueError("the discriminator's dataset needs an environment with a motion library")
        return AmpDataset(env.motions, env.control_dt, env.num_amp_frames)

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """n windows (n, frames * amp_dim) and their clips (n,): clips by weight, current frames uniform in
        [the first whole window, the clip's end]."""
        f, dt = self.frames, self.control_dt
        clips = self.motions.sample_clips(n, rng)
        t0 = self.motions.sample_times(clips, rng, min_time=window_lags(dt, f)[-1])
        st = self.motions.sample(np.repeat(clips, f), window_times(t0, dt, f))
        windows = amp_obs(self.joints, st.qpos, st.qvel, st.body_pos[:, self.joints.key_bodies])
        return windows.reshape(n, -1), clips

    def clip_windows(self, clip: int, max_windows: int = 64) -> np.ndarray:
        """Windows (n, frames * amp_dim) evenly along one clip, current frame first."""
        return clip_windows(self.motions, self.joints, self.control_dt, clip, self.frames, max_windows)
