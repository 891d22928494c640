"""The MuJoCo Warp backend (on Warp's CPU device: no GPU needed) against mujoco.batch, and the CUDA-missing
message. The first run compiles Warp's kernels (about a minute; cached afterwards in ~/.cache/warp)."""

from __future__ import annotations

import os
from pathlib import Path

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


# ------------------------------------------------------------------------------------------- device arrays
@pytest.fixture(scope="module")
def host_and_device(deepmimic_dir) -> tuple[HumanoidEnv, HumanoidEnv]:
    """The same Warp environment with host numpy arrays and with torch views of the device arrays (on Warp's CPU
    device here: the path a GPU takes, without the GPU). Training mix with fall-pool and reference starts, and
    12-step episodes, so falls, timeouts and every kind of restart happen within the rollout below."""
    from motion.library import MotionLibrary
    from sim.character import load_character

    lib = MotionLibrary.from_path(deepmimic_dir / "humanoid3d_walk.txt", load_character("humanoid"))

    def make(device_arrays: bool) -> HumanoidEnv:
        cfg = EnvConfig(num_envs=6, seed=3, nthread=1, backend="warp-cpu", device_arrays=device_arrays,
                        episode_steps=12, reset=ResetConfig().with_mix(fall_pool=0.3, recovery=0.6))  # fmt: skip
        return HumanoidEnv(cfg, lib)

    return make(False), make(True)


def test_device_arrays_match_host_arrays_through_falls_and_restarts(host_and_device) -> None:
    import torch

    host, dev = host_and_device
    obs_h, obs_d = host.reset(), dev.reset()
    assert isinstance(obs_d, torch.Tensor) and isinstance(dev.backend.qpos, torch.Tensor)
    np.testing.assert_allclose(obs_d.numpy(), obs_h, atol=1e-5)
    rng = np.random.default_rng(0)
    kinds = set()
    for _ in range(40):
        a = rng.uniform(-1, 1, (host.num_envs, host.action_dim))
        rh, rd = host.step(a), dev.step(torch.as_tensor(a))
        for name in ("obs", "final_obs", "amp_obs", "terminated", "truncated"):
            got = getattr(rd, name)
            assert isinstance(got, torch.Tensor), name  # stays on the physics device
            np.testing.assert_allclose(got.numpy().astype(float), getattr(rh, name).astype(float), atol=1e-4)
        np.testing.assert_array_equal(rd.reset_kind, rh.reset_kind)  # the same restarts, drawn on the host
        kinds |= set(rh.reset_kind.tolist())
    assert host.counters == dev.counters and host.counters["falls"] > 0 and host.counters["timeouts"] > 0
    assert {1, 2, 3, 4} <= kinds  # default, reference, fall-pool and recovery starts all happened
    # perturbations, terminations decided outside, and a host-array state that resumes either kind
    host.apply_impulse([1], "torso", [60.0, 0.0, 0.0]), dev.apply_impulse([1], "torso", [60.0, 0.0, 0.0])
    np.testing.assert_allclose(dev.step(torch.zeros(6, dev.action_dim)).obs.numpy(),
                               host.step(np.zeros((6, host.action_dim))).obs, atol=1e-4)  # fmt: skip
    assert isinstance(dev.terminate(np.array([2])), torch.Tensor) and dev.in_grace().dtype == torch.bool
    host.terminate(np.array([2]))
    state = dev.get_state()
    assert all(isinstance(state[k], np.ndarray) for k in ("ctrl", "progress", "amp_hist", "obs"))
    host.set_state(state)
    np.testing.assert_allclose(dev.amp_window().numpy(), host.amp_window(), atol=1e-6)


# every way a torch tensor's values reach the host (on CUDA: a copy and a wait for the GPU)
HOST_READS = ("cpu", "item", "tolist", "__array__", "__bool__", "__int__", "__float__", "__index__")


def count_host_reads(monkeypatch) -> list[str]:
    """Patch torch.Tensor's host reads to log their names (restored after the test)."""
    import torch

    log: list[str] = []
    for name in HOST_READS:
        method = getattr(torch.Tensor, name)

        def logged(self, *a, _name=name, _method=method, **k):
            log.append(_name)
            return _method(self, *a, **k)

        monkeypatch.setattr(torch.Tensor, name, logged)
    return log


def test_a_device_step_reads_one_array_back(host_and_device, monkeypatch) -> None:
    """Observations, rewards and terminations stay on the device: a step brings back one small array (the
    per-character end flags and step counts the host's restart draws need), and a step that restarts
    characters a few more."""
    import torch

    _, dev = host_and_device
    dev.reset()
    actions = torch.as_tensor(np.random.default_rng(4).uniform(-1, 1, (40, dev.num_envs, dev.action_dim)))
    log = count_host_reads(monkeypatch)
    quiet, restarting = [], []
    for a in actions:
        n = len(log)
        res = dev.step(a)
        (restarting if (res.reset_kind > 0).any() else quiet).append(len(log) - n)
    assert quiet and restarting and set(quiet) == {1}, (quiet, restarting)
    assert max(restarting) <= 4, restarting


def test_llc_trainer_runs_on_device_arrays(host_and_device) -> None:
    from controllers.networks import NetworkConfig
    from training.config import cpu_preset
    from training.llc import LLCTrainer

    _, dev = host_and_device
    tiny = NetworkConfig(actor_hidden=(32, 16), critic_hidden=(32, 16), disc_hidden=(32, 16), style_hidden=(16,))
    cfg = cpu_preset(character="humanoid", num_envs=6, horizon=8, minibatch_size=48, disc_batch=32, epochs=1,
                     demo_buffer_size=256, demo_refresh=32, replay_size=256, torch_threads=1, network=tiny)  # fmt: skip
    trainer = LLCTrainer(cfg, dev)
    assert trainer.env_tensors
    stats = trainer.train_iteration()
    assert np.isfinite(stats["loss/total"]) and trainer.global_step == 48


def test_device_arrays_need_the_warp_backend() -> None:
    with pytest.raises(ValueError, match="device arrays need the MuJoCo Warp backend"):
        HumanoidEnv(EnvConfig(num_envs=2, device_arrays=True))


def test_viewer_simulation_steps_with_warp_like_mujoco() -> None:
    """`view --device warp-cpu|cuda`: the viewer's one MjData stepped by a Warp world, shove included."""
    from sim.single import SingleCharacter

    cpu, warp = SingleCharacter.scene("humanoid"), SingleCharacter.scene("humanoid", device="warp-cpu")
    hold = cpu.pd_targets_from_qpos(cpu.data.qpos[: cpu.char_nq])
    start = warp.root_pos()
    for t in range(6):
        if t == 2:
            cpu.shove(80.0, 0.5), warp.shove(80.0, 0.5)
        cpu.hold(hold), warp.hold(hold)
    assert warp.time == pytest.approx(cpu.time, abs=1e-6)
    np.testing.assert_allclose(warp.data.qpos, cpu.data.qpos, atol=2e-3)  # float32 solver, 6 control steps
    assert np.linalg.norm(warp.root_pos()[:2] - start[:2]) > 0.05  # the shove pushed it


def test_viewer_device_without_cuda_is_one_line(capsys, monkeypatch) -> None:
    import warp as wp

    from app import cli

    if wp.is_cuda_available():
        pytest.skip("this machine has CUDA")
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.setenv("MUJOCO_GL", os.environ.get("MUJOCO_GL", "egl"))
    assert cli.main(["--device", "cuda"]) == 1  # refused before any window opens
    err = capsys.readouterr().err.strip()
    assert "--device cuda: no CUDA device found" in err and len(err.splitlines()) == 1, err


# ------------------------------------------------------------------------------------- the HLC's TaskEnv
@pytest.fixture(scope="module")
def tiny_llc():
    import torch

    from controllers.checkpoint import LLCPolicy, untrained_llc_checkpoint
    from controllers.networks import NetworkConfig

    torch.manual_seed(0)
    tiny = NetworkConfig(actor_hidden=(32, 16), critic_hidden=(32, 16), disc_hidden=(32, 16), style_hidden=(16,))
    return LLCPolicy(untrained_llc_checkpoint("humanoid", tiny))


def task_pair(llc, task: str):
    from tasks.env import TaskEnv, TaskEnvConfig

    def make(device_arrays: bool) -> TaskEnv:
        cfg = TaskEnvConfig(task=task, num_envs=3, seed=2, nthread=1, backend="warp-cpu", episode_steps=15,
                            device_arrays=device_arrays)  # fmt: skip
        return TaskEnv(cfg, llc)

    return make(False), make(True)


@pytest.mark.parametrize("task", ["steering", "speed", "location", "reach", "strike"])
def test_task_env_on_device_arrays_matches_host_arrays(tiny_llc, task) -> None:
    """Goals, rewards, success, terminations, restarts and the frozen LLC on the device give what the host
    arrays give, through 3-HLC-step episodes (15 LLC steps) and a goal set from outside."""
    import torch

    host, dev = task_pair(tiny_llc, task)
    obs_h, obs_d = host.reset(), dev.reset()
    assert isinstance(obs_d, torch.Tensor)
    np.testing.assert_allclose(obs_d.numpy(), obs_h, atol=1e-4)
    rng = np.random.default_rng(1)
    restarts = 0
    for k in range(7):
        if k == 4:
            goal = {"steering": {"direction": 1.0, "speed": 2.0, "facing": -0.5},
                    "speed": {"direction": 1.0, "speed": 2.0}, "location": {"target": [3.0, -2.0]},
                    "reach": {"target": [0.3, 0.2, 1.2]}, "strike": {"pos": [1.0, 0.5], "yaw": 0.3}}[task]  # fmt: skip
            host.set_goal([1], **goal), dev.set_goal([1], **goal)
        a = rng.normal(0.0, 1.0, (3, 64))
        rh, rd = host.step(a), dev.step(torch.as_tensor(a))
        for name in ("obs", "final_obs"):  # angular velocities: float32 on the device, so relative
            np.testing.assert_allclose(getattr(rd, name).numpy(), getattr(rh, name), rtol=1e-3, atol=1e-3)
        for name in ("reward", "terminated", "truncated"):
            got = getattr(rd, name)
            assert isinstance(got, torch.Tensor), name  # stays on the physics device
            np.testing.assert_allclose(got.numpy().astype(float), getattr(rh, name).astype(float), atol=1e-4)
        for name in ("task_reward", "style_reward", "success"):
            np.testing.assert_allclose(rd.info[name].numpy().astype(float), rh.info[name].astype(float), atol=1e-4)
        restarts += int(rh.done.sum())
    assert restarts >= 3
    # a device state resumes on host arrays
    state = dev.get_state()
    assert isinstance(state["latent"], np.ndarray) and isinstance(state["state"]["root_pos"], np.ndarray)
    host.set_state(state)
    a = rng.normal(0.0, 1.0, (3, 64))
    np.testing.assert_allclose(dev.step(torch.as_tensor(a)).reward.numpy(), host.step(a).reward, atol=1e-4)


def test_a_device_task_step_reads_back_once_per_llc_step(tiny_llc, monkeypatch) -> None:
    """A task step (5 LLC steps) brings back the environment's flags once per LLC step and the done flags once,
    plus the host's goal draws when episodes restart."""
    import torch

    from tasks.env import TaskEnv, TaskEnvConfig

    cfg = TaskEnvConfig(task="strike", num_envs=3, seed=2, nthread=1, backend="warp-cpu", episode_steps=15,
                        device_arrays=True)  # fmt: skip
    env = TaskEnv(cfg, tiny_llc)
    env.reset()
    log = count_host_reads(monkeypatch)
    quiet = []
    for a in torch.randn(6, 3, 64):
        n = len(log)
        res = env.step(a)
        reads = len(log) - n
        if not bool(res.done.any()):
            quiet.append(reads)
    assert quiet and set(quiet) == {cfg.llc_steps + 1}, quiet


def test_hlc_trainer_runs_on_device_arrays(tiny_llc) -> None:
    from tasks.env import TaskEnv
    from training.hlc import HLCTrainer, cpu_preset

    _, dev = task_pair(tiny_llc, "location")
    cfg = cpu_preset(num_envs=3, horizon=4, minibatch_size=6, epochs=1, task="location", llc="tiny.pt")
    trainer = HLCTrainer(cfg, TaskEnv(dev.cfg, tiny_llc))
    assert trainer.env_tensors
    stats = trainer.train_iteration()
    assert np.isfinite(stats["loss/total"]) and trainer.global_step == 12 and np.isfinite(stats["reward/task"])


def test_skill_llc_trainer_runs_on_device_arrays(deepmimic_dir) -> None:
    """A skill LLC (anchors, tracking, the conditional head) on an environment whose arrays are device tensors."""
    from dataclasses import replace

    from motion.library import MotionLibrary
    from sim.character import load_character
    from training.config import cpu_preset
    from training.llc import LLCTrainer

    lib = MotionLibrary.from_path(Path(__file__).resolve().parent.parent / "datasets" / "deepmimic_skills.yaml",
                                  load_character("humanoid"))  # fmt: skip
    env = HumanoidEnv(EnvConfig(num_envs=3, nthread=1, backend="warp-cpu", device_arrays=True,
                                reset=ResetConfig().with_mix(reference=1.0, fall_pool=0.0)), lib)  # fmt: skip
    cfg = cpu_preset(num_envs=3, horizon=4, minibatch_size=12, disc_batch=6, epochs=1, skills=True,
                     demo_buffer_size=64, demo_refresh=8, replay_size=64, torch_threads=1)  # fmt: skip
    cfg.network = replace(cfg.network, conditional=True)
    trainer = LLCTrainer(cfg, env)
    assert trainer.env_tensors
    stats = trainer.train_iteration()
    assert np.isfinite(stats["loss/total"]) and trainer.global_step == 12 and stats["skills/tracked_frac"] > 0
