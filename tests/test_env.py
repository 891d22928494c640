"""Behaviour of the batched environment (no motion data needed)."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest

from sim.env import RESET_UNSTABLE, EnvConfig, HumanoidEnv, ResetConfig
from sim.observations import amp_layout, layout_size, policy_layout


@pytest.fixture(scope="module")
def env() -> HumanoidEnv:
    return HumanoidEnv(EnvConfig(num_envs=8, seed=0, nthread=1, projectiles=2))


def test_sizes_match_reference_layout(env: HumanoidEnv) -> None:
    assert (env.obs_dim, env.amp_obs_dim, env.action_dim) == (223, 125, 28)
    obs = env.reset()
    assert obs.shape == (8, 223) and obs.dtype == np.float32
    assert np.allclose(obs[:, 0], 0.89)
    res = env.step(np.zeros((8, 28), np.float32))
    assert res.amp_obs.shape == (8, 10 * 125)


def test_sword_shield_layout() -> None:
    from sim.character import load_character

    ch = load_character("humanoid_sword_shield")
    assert (ch.num_bodies, ch.num_dof) == (17, 31)
    assert layout_size(policy_layout(ch)) == 253 and layout_size(amp_layout(ch)) == 140
    env = HumanoidEnv(EnvConfig(character=ch.name, num_envs=2, nthread=1, reset=ResetConfig(mode="default")))
    env.reset()
    res = env.step(np.zeros((2, 31), np.float32))
    assert res.obs.shape == (2, 253) and res.amp_obs.shape == (2, 1400)


def test_policy_obs_matches_quaternion_definition() -> None:
    """The fast yaw-only frame change equals the textbook one (rotate by the inverse heading quaternion)."""
    from sim.observations import policy_obs
    from sim.rotations import heading_quat_inv, quat_mul, quat_normalize, quat_rotate, quat_to_tan_norm

    rng = np.random.default_rng(0)
    n, b = 5, 15
    pos, vel, ang = rng.normal(size=(3, n, b, 3))
    rot = quat_normalize(rng.normal(size=(n, b, 4)))
    h = np.broadcast_to(heading_quat_inv(rot[:, 0])[:, None], (n, b, 4))
    expected = np.concatenate(
        [
            pos[:, 0, 2:3],
            quat_rotate(h[:, 1:], pos[:, 1:] - pos[:, :1]).reshape(n, -1),
            quat_to_tan_norm(quat_mul(h, rot)).reshape(n, -1),
            quat_rotate(h, vel).reshape(n, -1),
            quat_rotate(h, ang).reshape(n, -1),
        ],
        axis=1,
    )
    np.testing.assert_allclose(policy_obs(pos, rot, vel, ang), expected, atol=1e-5)


def test_observation_is_heading_invariant() -> None:
    env = HumanoidEnv(EnvConfig(num_envs=2, seed=0, nthread=1, reset=ResetConfig(mode="default")))
    env.reset()
    q, v = env._char_state()
    q, v = q.copy(), v.copy()
    v[:, 0:3] = [0.5, 0.2, 0.0]
    yaw = 1.1
    q[1, 3:7] = [np.cos(yaw / 2), 0, 0, np.sin(yaw / 2)]
    q[1, 0:2] = [3.0, -2.0]
    c, s = np.cos(yaw), np.sin(yaw)
    v[1, 0:2] = [c * 0.5 - s * 0.2, s * 0.5 + c * 0.2]
    env.write_states(np.arange(2), q, v)
    obs, amp = env._observe()
    np.testing.assert_allclose(obs[0], obs[1], atol=1e-5)
    np.testing.assert_allclose(amp[0], amp[1], atol=1e-5)


def test_body_velocities_match_mujoco(env: HumanoidEnv) -> None:
    env.reset()
    rng = np.random.default_rng(1)
    for _ in range(5):
        env.step(rng.uniform(-1, 1, (8, 28)).astype(np.float32))
    pos, quat, lin, ang = env._bodies()
    d = env.get_data(3)
    m = env.model
    mujoco.mj_forward(m, d)
    res = np.zeros(6)
    for b in range(1, env.nb + 1):
        mujoco.mj_objectVelocity(m, d, mujoco.mjtObj.mjOBJ_XBODY, b, res, 0)  # world frame, at body origin
        np.testing.assert_allclose(ang[3, b - 1], res[:3], atol=1e-6)
        np.testing.assert_allclose(lin[3, b - 1], res[3:], atol=1e-6)


def test_falls_terminate_and_reset(env: HumanoidEnv) -> None:
    env.reset()
    terminated = np.zeros(8, bool)
    for _ in range(120):  # zero action: the PD pose is not balanced, everybody falls
        res = env.step(np.zeros((8, 28), np.float32))
        terminated |= res.terminated
        if terminated.all():
            break
    assert terminated.all()
    assert env.progress.max() < 120


def test_per_env_reset_leaves_others(env: HumanoidEnv) -> None:
    env.reset()
    for _ in range(5):
        env.step(np.zeros((8, 28), np.float32))
    before = env.backend.qpos.copy()
    env.reset(np.array([2]), mode="default")
    after = env.backend.qpos
    mask = np.arange(8) != 2
    np.testing.assert_array_equal(before[mask], after[mask])
    assert env.progress[2] == 0 and (env.progress[mask] == 5).all()


def test_shove_changes_velocity(env: HumanoidEnv) -> None:
    env.reset(mode="default")
    env.apply_impulse([1], "torso", [60.0, 0.0, 0.0])
    res = env.step(np.zeros((8, 28), np.float32))
    vx = env.backend.qvel[:, 0]
    assert vx[1] - vx[0] > 0.5  # same start, same actions: only the shove differs
    np.testing.assert_allclose(vx[0], vx[2])
    assert res.obs.shape == (8, 223)


def test_projectile_hits_character(env: HumanoidEnv) -> None:
    env.reset(mode="default")
    env.launch_projectile([0], target_body="torso", speed=15.0, distance=1.5)
    for _ in range(6):
        env.step(np.zeros((8, 28), np.float32))
    speed = np.linalg.norm(env.backend.qvel[:, 0:3], axis=1)
    assert speed[0] > speed[4] + 0.1


def test_unstable_physics_resets_that_env_only(env: HumanoidEnv) -> None:
    env.reset(mode="default")
    before = env.counters["unstable_resets"]
    episodes = env.counters["episodes"]
    env.backend.qvel[5, 10] = np.nan
    res = env.step(np.zeros((8, 28), np.float32))
    assert res.truncated[5] and not res.terminated[5]
    assert res.reset_kind[5] == RESET_UNSTABLE
    assert env.counters["unstable_resets"] == before + 1
    assert env.counters["episodes"] == episodes + 1  # restarted once, not by the mix and then again
    assert np.isfinite(env.backend.qpos).all() and np.isfinite(res.obs).all()
    assert np.isfinite(res.final_obs).all() and np.isfinite(res.amp_obs).all()
    assert np.abs(res.final_obs[5]).sum() > 0  # the last good observation, not zeros
    assert env.progress[5] == 0 and env.progress[4] == 1


def test_fall_pool_is_fallen() -> None:
    env = HumanoidEnv(EnvConfig(num_envs=16, seed=3, nthread=1, reset=ResetConfig(mode="fall_pool")))
    assert env.fall_pool is not None
    assert np.median(env.fall_pool[:, 2]) < 0.5  # root near the ground


def test_state_roundtrip_continues_exactly() -> None:
    cfg = EnvConfig(num_envs=4, seed=7, nthread=1)
    a, b = HumanoidEnv(cfg), HumanoidEnv(cfg)
    a.reset()
    rng = np.random.default_rng(0)
    acts = rng.uniform(-1, 1, (20, 4, 28)).astype(np.float32)
    for x in acts[:10]:
        a.step(x)
    b.set_state(a.get_state())
    for x in acts[10:]:
        ra, rb = a.step(x), b.step(x)
        np.testing.assert_array_equal(ra.obs, rb.obs)
        np.testing.assert_array_equal(ra.amp_obs, rb.amp_obs)


def test_fall_starts_are_exempt_from_termination_for_recovery_steps() -> None:
    cfg = EnvConfig(num_envs=4, seed=0, nthread=1, reset=ResetConfig(mode="fall_pool", recovery_steps=10))
    env = HumanoidEnv(cfg)
    env.reset()
    zero = np.zeros((4, 28), np.float32)
    for _ in range(10):
        assert not env.step(zero).terminated.any()  # lying on the floor, but exempt
    assert env.step(zero).terminated.all()  # step 11: the fallen state ends the episode


def test_observations_are_array_library_neutral(env: HumanoidEnv) -> None:
    """The same observation code runs on torch tensors (a GPU backend's arrays) and gives numpy's numbers."""
    torch = pytest.importorskip("torch")
    from sim.observations import amp_obs, joint_positions, policy_obs

    env.reset()
    rng = np.random.default_rng(3)
    for _ in range(4):
        env.step(rng.uniform(-1, 1, (8, 28)).astype(np.float32))
    pos, quat, lin, ang = (np.ascontiguousarray(a) for a in env._bodies())
    qpos, qvel = (np.ascontiguousarray(a) for a in env._char_state())
    key = pos[:, env._key_ids]
    t = torch.from_numpy
    np.testing.assert_allclose(
        policy_obs(t(pos), t(quat), t(lin), t(ang)).numpy(), policy_obs(pos, quat, lin, ang), atol=1e-5
    )
    np.testing.assert_allclose(
        amp_obs(env.joints, t(qpos), t(qvel), t(key)).numpy(), amp_obs(env.joints, qpos, qvel, key), atol=1e-5
    )
    np.testing.assert_allclose(
        joint_positions(env.joints, t(qpos)).numpy(), joint_positions(env.joints, qpos), atol=1e-9
    )


def test_recovery_episode_keeps_the_fallen_state() -> None:
    """After a fall, a recovery episode starts where the character lies, keeping the fall's real discriminator
    history (ASE's recovery ids re-initialize nothing), with fall grace."""
    from sim.env import RESET_RECOVERY

    reset = ResetConfig(mode="mix", recovery_steps=5).with_mix(recovery=1.0, fall_pool=0.0)
    env = HumanoidEnv(EnvConfig(num_envs=4, seed=0, nthread=1, reset=reset))
    env.reset()
    zero = np.zeros((4, 28), np.float32)
    for _ in range(150):
        before = env.backend.qpos.copy()
        res = env.step(zero)
        if res.terminated.any():
            break
    i = int(np.nonzero(res.terminated)[0][0])
    assert res.reset_kind[i] == RESET_RECOVERY
    lying = env.backend.qpos[i, :3].copy()
    assert lying[2] < 0.5 and not np.allclose(env.backend.qpos[i], before[i])  # not restarted: still down
    np.testing.assert_allclose(res.final_obs[i], res.obs[i])  # same state, new episode
    hist = env.amp_hist[i]
    np.testing.assert_array_equal(hist.reshape(-1), res.amp_obs[i])  # the fall's own frames
    assert not np.allclose(hist, hist[0])  # not copies of the current frame
    assert env.progress[i] == 0 and env.suppress_fall[i] == 5


def test_fall_pool_orientations_are_fully_random() -> None:
    """docs/method.md, "Resets and recovery": the pool starts from a uniformly random 3-D root rotation, so
    face-down is as common as face-up."""
    from sim.rotations import quat_rotate

    env = HumanoidEnv(EnvConfig(num_envs=64, seed=3, nthread=1, reset=ResetConfig(mode="fall_pool")))
    forward_z = quat_rotate(env.fall_pool[:, 3:7], np.array([1.0, 0.0, 0.0]))[:, 2]
    face_down, face_up = (forward_z < -0.5).mean(), (forward_z > 0.5).mean()
    assert face_down > 0.2 and face_up > 0.2, (face_down, face_up)


def test_resumed_state_rebuilds_a_fall_pool_of_an_older_recipe() -> None:
    cfg = EnvConfig(num_envs=4, seed=1, nthread=1)
    a, b = HumanoidEnv(cfg), HumanoidEnv(cfg)
    a.reset()
    state = a.get_state()
    old_pool = np.tile(a.default_qpos, (4, 1))
    state.update(fall_pool=old_pool, fall_pool_version=1)
    b.set_state(state)
    assert not np.allclose(b.fall_pool, old_pool)  # rebuilt
    np.testing.assert_array_equal(b.backend.qpos, a.backend.qpos)  # the physics state is the saved one
    np.testing.assert_array_equal(b._ctrl, a._ctrl)


def test_terminate_ends_episodes_from_outside() -> None:
    env = HumanoidEnv(EnvConfig(num_envs=4, seed=0, nthread=1, reset=ResetConfig(mode="default")))
    env.reset()
    for _ in range(5):
        env.step(np.zeros((4, 28), np.float32))
    obs = env.terminate(np.array([1, 3]))
    assert obs.shape == (2, env.obs_dim)
    np.testing.assert_array_equal(env.progress, [5, 0, 5, 0])
    assert env.counters["style_terminations"] == 2
    np.testing.assert_allclose(env.obs[[1, 3]], obs)
