"""The MuJoCo Warp backend (on Warp's CPU device: no GPU needed) against mujoco.batch, and the CUDA-missing
message. The first run compiles Warp's kernels (about a minute; cached afterwards in ~/.cache/warp)."""

from __future__ import annotations

import numpy as np
import pytest

from sim.env import EnvConfig, HumanoidEnv, ResetConfig
from sim.observations import amp_layout

pytest.importorskip("mujoco_warp", reason="mujoco-warp not installed")

N = 3


@pytest.fixture(scope="module")
def pair() -> tuple[HumanoidEnv, HumanoidEnv]:
    def make(backend: str) -> HumanoidEnv:
        cfg = EnvConfig(num_envs=N, seed=5, nthread=1, backend=backend, reset=ResetConfig(mode="default"))
        return HumanoidEnv(cfg)

    return make("cpu"), make("warp-cpu")


def test_warp_matches_mujoco_batch_after_reset_and_over_a_rollout(pair) -> None:
    cpu, warp = pair
    obs_c, obs_w = cpu.reset(), warp.reset()
    np.testing.assert_allclose(obs_w, obs_c, atol=1e-5)  # the same default pose, observed the same way
    rng = np.random.default_rng(0)
    worst: dict[str, float] = {}
    for _ in range(4):  # 133 ms: later, contact events (a heel touching down a step apart) make the two diverge
        a = rng.uniform(-0.3, 0.3, (N, cpu.action_dim)).astype(np.float32)
        rc, rw = cpu.step(a), warp.step(a)
        frame_c, frame_w = rc.amp_obs[:, : cpu.amp_obs_dim], rw.amp_obs[:, : cpu.amp_obs_dim]
        for sl in amp_layout(cpu.character):
            diff = float(np.abs(frame_w[:, sl.start : sl.stop] - frame_c[:, sl.start : sl.stop]).max())
            worst[sl.name] = max(worst.get(sl.name, 0.0), diff)
    print("largest Warp - mujoco.batch difference over 4 control steps:", worst)
    # Warp computes in float32 and its constraint solver differs in detail. Stated tolerance over 4 control
    # steps: poses within 0.02 (metres, or 6D components: about 1 degree), velocities within 0.3 (m/s, rad/s)
    for name in ("root_height", "root_rot", "joint_rot", "key_body_pos"):
        assert worst[name] < 0.02, (name, worst[name])
    for name in ("root_lin_vel", "root_ang_vel", "joint_vel"):
        assert worst[name] < 0.3, (name, worst[name])
    assert not warp.backend.unstable().any()


def test_warp_contact_forces_and_state_roundtrip(pair) -> None:
    cpu, warp = pair
    cpu.reset(), warp.reset()
    hold = np.tile(-cpu.action_offset / cpu.action_scale, (N, 1)).astype(np.float32)  # PD targets = default pose
    for _ in range(2):
        cpu.step(hold), warp.step(hold)
    fc, fw = cpu.backend.contact_force()[:, 1:].sum(1), warp.backend.contact_force()[:, 1:].sum(1)
    assert (fw > 100).all()  # standing on the floor
    np.testing.assert_allclose(fw, fc, rtol=0.05)
    state = warp.get_state()
    a = np.full((N, cpu.action_dim), 0.2, np.float32)
    first = warp.step(a).obs
    warp.set_state(state)
    np.testing.assert_allclose(warp.step(a).obs, first, atol=1e-5)


def test_missing_cuda_is_one_clear_line() -> None:
    import warp as wp

    from sim.warp_backend import CudaUnavailableError, warp_device

    warp_device("cpu")
    if wp.is_cuda_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(CudaUnavailableError, match="no CUDA device"):
        warp_device("cuda")
    with pytest.raises(CudaUnavailableError):
        HumanoidEnv(EnvConfig(num_envs=2, backend="cuda"))
