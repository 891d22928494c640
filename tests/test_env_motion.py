"""Environment behaviour that needs motion clips: reference-state init, dataset windows."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from sim.character import load_character
from sim.env import RESET_REFERENCE, EnvConfig, HumanoidEnv, ResetConfig
from sim.observations import joint_positions


@pytest.fixture(scope="module")
def walk_library(deepmimic_dir):
    from motion.library import MotionLibrary

    return MotionLibrary.from_path(deepmimic_dir / "humanoid3d_walk.txt", load_character("humanoid"))


def test_reference_init_held_by_pd_tracks_clip(walk_library) -> None:
    n = 8
    env = HumanoidEnv(EnvConfig(num_envs=n, seed=0, nthread=1, reset=ResetConfig(mode="reference")), walk_library)
    env.reset()
    t0 = np.linspace(0.0, 0.8 * walk_library.durations[0], n)
    clips = np.zeros(n, dtype=np.int64)
    start = walk_library.sample(clips, t0)
    env._write_state(np.arange(n), start.qpos, start.qvel)
    errors = []
    for k in range(1, 4):
        ref = walk_library.sample(clips, t0 + k * env.control_dt)
        action = (joint_positions(env.joints, ref.qpos) - env.action_offset) / env.action_scale
        res = env.step(action)
        assert not res.done.any()
        errors.append(np.linalg.norm(env._bodies()[0] - ref.body_pos, axis=-1).mean())
    assert errors[0] < 0.02 and max(errors) < 0.05, errors


def test_reference_resets_start_on_the_clip_with_clip_history(walk_library) -> None:
    env = HumanoidEnv(EnvConfig(num_envs=4, seed=1, nthread=1, reset=ResetConfig(mode="reference")), walk_library)
    env.reset()
    hist = env.amp_hist
    # the history is the clip's past, not copies of the current frame
    assert not np.allclose(hist[:, 0], hist[:, 1])
    assert np.abs(env.obs[:, 0] - 0.85).max() < 0.1


def test_demo_windows_match_simulated_layout(walk_library) -> None:
    env = HumanoidEnv(EnvConfig(num_envs=2, seed=0, nthread=1, reset=ResetConfig(mode="reference")), walk_library)
    w = env.demo_amp_windows(64)
    assert w.shape == (64, 10 * env.amp_obs_dim) and np.isfinite(w).all()
    frames = w.reshape(64, 10, -1)
    # consecutive frames of a walk differ but not wildly: the window really is a time series
    step = np.abs(frames[:, 0, :1] - frames[:, 1, :1]).max()
    assert 0 < step < 0.1
    env.reset()
    res = env.step(np.zeros((2, env.action_dim), np.float32))
    assert res.amp_obs.shape[1] == w.shape[1]


def test_mix_resets_use_all_kinds(walk_library) -> None:
    env = HumanoidEnv(EnvConfig(num_envs=64, seed=0, nthread=1), walk_library)
    kinds = env._choose_resets(4000, np.ones(4000, bool), "mix")
    frac = np.bincount(kinds, minlength=6) / 4000
    assert frac[4] == pytest.approx(0.2, abs=0.03)  # recovery after a fall
    assert frac[3] == pytest.approx(0.8 * 0.1, abs=0.02)  # fall pool
    assert frac[RESET_REFERENCE] == pytest.approx(0.8 * 0.9 * 0.5, abs=0.03)


def test_reference_starts_are_lifted_out_of_the_floor(deepmimic_dir) -> None:
    import mujoco

    from motion.library import MotionLibrary

    lib = MotionLibrary.from_path(deepmimic_dir / "humanoid3d_getup_faceup.txt", load_character("humanoid"))
    env = HumanoidEnv(EnvConfig(num_envs=16, seed=2, nthread=1, reset=ResetConfig(mode="reference")), lib)
    env.reset()
    deepest = []
    for i in range(16):
        d = env.get_data(i)
        mujoco.mj_forward(env.model, d)
        deepest.append(min([d.contact[c].dist for c in range(d.ncon)] or [0.0]))
    assert min(deepest) > -2e-3  # the clip itself sinks up to ~4.5 cm


def test_lying_reference_starts_get_grace(deepmimic_dir) -> None:
    """Reference starts on the get-up clips' lying frames would trip the fall rule at once: they get the
    recovery grace, standing starts do not."""
    from motion.library import MotionLibrary

    ch = load_character("humanoid")
    lib = MotionLibrary.from_path(deepmimic_dir / "humanoid3d_getup_facedown.txt", ch)
    reset = ResetConfig(mode="reference", recovery_steps=60)
    env = HumanoidEnv(EnvConfig(num_envs=64, seed=4, nthread=1, reset=reset), lib)
    env.reset()
    low = env._below_fall_height(np.arange(64))
    assert 0 < low.sum() < 64  # the clip lies, then stands
    np.testing.assert_array_equal(env.suppress_fall, np.where(low, 60, 0))
    off = HumanoidEnv(EnvConfig(num_envs=8, seed=4, nthread=1, reset=replace(reset, lying_start_grace=False)), lib)
    off.reset()
    assert not off.suppress_fall.any()
