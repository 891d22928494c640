"""Environment behaviour that needs motion clips: reference-state init, dataset windows."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from motion.amp import AmpDataset
from sim.character import load_character
from sim.env import RESET_REFERENCE, EnvConfig, HumanoidEnv, ResetConfig
from sim.observations import joint_positions
from sim.resets import choose_resets


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
    env.write_states(np.arange(n), start.qpos, start.qvel)
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
    w, clips = AmpDataset.of(env).sample(64, np.random.default_rng(0))
    assert (clips == 0).all() and w.shape == (64, 10 * env.amp_obs_dim) and np.isfinite(w).all()
    frames = w.reshape(64, 10, -1)
    # consecutive frames of a walk differ but not wildly: the window really is a time series
    step = np.abs(frames[:, 0, :1] - frames[:, 1, :1]).max()
    assert 0 < step < 0.1
    env.reset()
    res = env.step(np.zeros((2, env.action_dim), np.float32))
    assert res.amp_obs.shape[1] == w.shape[1]


def test_mix_resets_use_all_kinds(walk_library) -> None:
    env = HumanoidEnv(EnvConfig(num_envs=64, seed=0, nthread=1), walk_library)
    kinds = choose_resets(env, np.ones(4000, bool), "mix")
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


def test_the_reset_mix_is_listed_terms_drawn_in_order(walk_library) -> None:
    """sim/resets.py: one (terms, k) uniform draw, the first listed term that may start an environment and whose
    number falls below its probability starts it; the numbers are those of the formula every committed run
    drew with (recovery, then fall pool, then reference state, else the default pose)."""
    from sim.resets import RESET_DEFAULT, RESET_FALL_POOL, RESET_RECOVERY

    env = HumanoidEnv(
        EnvConfig(num_envs=4, seed=0, nthread=1, reset=ResetConfig().with_mix(fall_pool=0.3)), walk_library
    )
    fell = np.arange(500) % 3 == 0
    state = env.rng.bit_generator.state
    kinds = choose_resets(env, fell, "mix")
    env.rng.bit_generator.state = state
    u = env.rng.random((3, 500))
    legacy = np.where(u[2] < 0.5, RESET_REFERENCE, RESET_DEFAULT)
    legacy = np.where(u[1] < 0.3, RESET_FALL_POOL, legacy)
    np.testing.assert_array_equal(kinds, np.where(fell & (u[0] < 0.2), RESET_RECOVERY, legacy))
    assert (kinds[~fell] != RESET_RECOVERY).all()  # recovery only after a fall
    # a term listed first with probability 1 takes every environment it may start
    first = replace(env.cfg.reset, mix={"reference": 1.0, "recovery": 1.0})
    env.cfg.reset = first
    assert (choose_resets(env, fell, "mix") == RESET_REFERENCE).all()
    env.motions = None  # a term that cannot start them leaves them to the next one, or the default pose
    np.testing.assert_array_equal(choose_resets(env, fell, "mix"), np.where(fell, RESET_RECOVERY, RESET_DEFAULT))
    with pytest.raises(ValueError, match="fall_pool_prob must be in"):
        ResetConfig().with_mix(fall_pool=1.5).validate()
    with pytest.raises(ValueError, match="reset term 'teleport'"):
        HumanoidEnv(EnvConfig(num_envs=2, nthread=1, reset=ResetConfig().with_mix(teleport=0.5)))


def test_reference_starts_are_read_through_the_environment(walk_library) -> None:
    """The trainer reads episode starts and step counts as copies, not the environment's buffers."""
    env = HumanoidEnv(EnvConfig(num_envs=3, seed=1, nthread=1, reset=ResetConfig(mode="reference")), walk_library)
    env.reset()
    clip, time0 = env.episode_starts()
    assert (clip == 0).all() and (time0 >= 0).all() and len(np.unique(time0)) == 3
    clip[:] = -1
    steps = env.elapsed_steps()
    steps += 7
    env.step(np.zeros((3, env.action_dim), np.float32))
    assert (env.episode_starts()[0] == 0).all() and (env.elapsed_steps() == 1).all()
