"""`launch.py export --hlc`: hlc.onnx against torch, the HLC + LLC control loop of the torch-free runtime against
TaskEnv, torch blocked, and one-line errors (another LLC, a corrupt hlc.onnx, a sidecar that does not fit).

The HLC is a tiny steering controller trained for two iterations by `launch.py train hlc` on the trained LLC
fixture (tests/onnx_fixtures.py): these tests check that torch and onnxruntime compute the same thing."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import onnx
import pytest

from controllers.checkpoint import load_hlc
from controllers.runtime import Controller, ControllerFormatError, OnnxHLC
from tests.onnx_fixtures import (
    ROOT,
    copy_of,
    full_export,
    hlc_checkpoint,
    hlc_export,
    tmp_dir,
    trained_checkpoint,
    untrained_checkpoint,
)
from tests.test_onnx_runtime import BLOCK_TORCH, edit_sidecar, one_line

pytestmark = pytest.mark.usefixtures("one_torch_thread")
TOL = 1e-5
# Closed loop: 60 HLC decisions = 300 control steps (10 s) of TaskEnv + torch against Controller.step_task +
# onnxruntime from one seed and one goal. Measured: goal observations within 2e-6, latents within 1.4e-5,
# character qpos within 2.3e-6 (the tiny HLC's barely trained normalizer magnifies float32 differences).
# Stated tolerance:
LOOP_TOL = 1e-4
GOAL = {"direction": 0.7, "speed": 1.5, "facing": -0.4}


@pytest.fixture(scope="module")
def exported():
    folder, stdout = hlc_export()
    hlc, llc = load_hlc(hlc_checkpoint(), trained_checkpoint())
    return folder, stdout, hlc, llc


def run_cli(capsys, *args: str) -> tuple[int, str]:
    from controllers.export_cli import main

    rc = main(list(args))
    return rc, capsys.readouterr().err.strip()


def test_hlc_export_folder_and_sidecar(exported):
    from controllers.checkpoint import read_checkpoint
    from controllers.files import sha256_file

    folder, stdout, hlc, llc = exported
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["controller.json", "hlc.onnx", "hlc_fp16.onnx", "humanoid.xml", "llc.onnx", "llc_fp16.onnx"]
    assert "verified" in stdout and "hlc_latent" in stdout
    model = onnx.load(str(folder / "hlc.onnx"))
    onnx.checker.check_model(model, full_check=True)
    assert model.opset_import[0].version == 18
    assert [i.type.tensor_type.shape.dim[0].dim_param for i in model.graph.input] == ["batch", "batch"]
    sc = json.loads((folder / "controller.json").read_text())
    ckpt = read_checkpoint(hlc_checkpoint(), "hlc")
    layout = json.loads(json.dumps(ckpt["goal_layout"]))
    assert sc["format_version"] == 1 and sc["goal_layouts"] == [layout]
    assert sc["hlc"]["task"] == "steering" and sc["hlc"]["task_config"] == json.loads(json.dumps(ckpt["task_config"]))
    assert sc["hlc"]["hold_steps"] == sc["latent"]["hold_steps"] == ckpt["config"]["llc_steps"] == 5
    assert sc["hlc"]["goal_size"] == 5 and sc["rates"]["hlc_hz"] == 6.0
    assert sc["models"]["hlc"]["inputs"] == [{"name": "obs", "shape": ["batch", llc.obs_dim], "dtype": "float32"},
                                             {"name": "goal", "shape": ["batch", 5], "dtype": "float32"}]  # fmt: skip
    assert sc["models"]["hlc"]["outputs"] == [{"name": "latent", "shape": ["batch", 64], "dtype": "float32"}]
    src = sc["sources"]["hlc"]
    assert src["sha256"] == sha256_file(hlc_checkpoint()) and src["task"] == "steering"
    assert src["llc_sha256"] == sc["sources"]["llc"]["sha256"] == sha256_file(trained_checkpoint())
    assert src["other_llc_allowed"] is False


@pytest.mark.parametrize("n", [1, 64])
def test_hlc_parity_on_random_inputs(exported, n):
    from controllers.onnx_export import sample_inputs

    folder, _, hlc, llc = exported
    onnx_hlc, rng = OnnxHLC(folder), np.random.default_rng(n)
    x = sample_inputs(hlc.obs_norm, n, rng)
    obs, goal = x[:, : llc.obs_dim], x[:, llc.obs_dim :]
    got = onnx_hlc.latent(obs, goal)
    assert got.shape == (n, 64)
    assert np.abs(got - hlc.act(x)).max() < TOL
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-6)
    half = OnnxHLC(folder, precision="fp16")
    assert np.abs(half.latent(obs, goal) - got).max() < 5e-2


def test_hlc_parity_on_real_states_batch_1_and_64(exported):
    """Observations and goals from TaskEnv: 64 characters driven by the HLC with noise for 8 decisions."""
    from tasks.env import TaskEnv, TaskEnvConfig

    folder, _, hlc, llc = exported
    env = TaskEnv(TaskEnvConfig(task="steering", num_envs=64, seed=5), llc)
    obs, rng = env.reset(), np.random.default_rng(5)
    for _ in range(8):
        obs = env.step(hlc.act(obs) + rng.normal(0.0, 0.3, (64, 64)).astype(np.float32)).obs
    onnx_hlc = OnnxHLC(folder)
    for sl in (slice(0, 1), slice(None)):
        got = onnx_hlc.latent(obs[sl, : llc.obs_dim], obs[sl, llc.obs_dim :])
        assert np.abs(got - hlc.act(obs[sl])).max() < TOL
        assert np.array_equal(onnx_hlc.act(obs[sl]), got)


def test_closed_loop_hlc_and_llc_match_the_task_environment(exported):
    from tasks.env import TaskEnv, TaskEnvConfig

    folder, _, hlc, llc = exported
    env = TaskEnv(TaskEnvConfig(task="steering", num_envs=1, seed=0, early_termination=False, auto_reset=False), llc)
    env.reset()
    env.set_goal(0, **GOAL)
    ctl = Controller(folder)
    ctl.set_goal(**GOAL)
    assert ctl.hold_steps == 5
    worst_goal = worst_latent = worst_qpos = 0.0
    for _ in range(60):
        obs = env.observe()
        z = hlc.act(obs)
        env.step(z)
        for i in range(5):
            ctl.step_task()
            if i == 0:  # the goal observation the HLC decided on, from the task's own formulas on each side
                worst_goal = max(worst_goal, float(np.abs(ctl.goal_obs - obs[0, llc.obs_dim :]).max()))
        worst_latent = max(worst_latent, float(np.abs(ctl.latent - z[0]).max()))
        worst_qpos = max(worst_qpos, float(np.abs(ctl.data.qpos[: ctl.nq] - env.env.get_data(0).qpos[: ctl.nq]).max()))
    assert ctl.control_steps == 300
    assert max(worst_goal, worst_latent, worst_qpos) < LOOP_TOL, (worst_goal, worst_latent, worst_qpos)
    assert ctl.data.qpos[2] > 0.7, "the fixture policy stands"
    assert np.isfinite(ctl.task.reward(ctl.task_state())).all()


def test_latent_is_held_for_five_steps_and_a_goal_can_be_given_directly(exported):
    folder = exported[0]
    ctl = Controller(folder)
    goal = np.array([1.0, 0.0, 2.0, 0.0, 1.0], dtype=np.float32)  # ahead at 2 m/s, facing left
    latents = []
    for _ in range(11):
        ctl.step_task(goal)
        latents.append(ctl.latent.copy())
    assert all(np.array_equal(latents[0], z) for z in latents[:5])
    assert not np.array_equal(latents[4], latents[5]) and all(np.array_equal(latents[5], z) for z in latents[5:10])
    ctl.reset()
    assert ctl.control_steps == 0


def test_hlc_runtime_runs_with_torch_blocked(exported):
    folder = exported[0]
    code = (
        BLOCK_TORCH
        + f"""
import json
from controllers.runtime import Controller
ctl = Controller({str(folder)!r})
ctl.set_goal(direction=0.7, speed=1.5, facing=-0.4)
actions = [ctl.step_task().tolist() for _ in range(12)]
assert not any(m.split('.')[0] in ('torch', 'training') for m in sys.modules)
print(json.dumps({{"actions": actions, "latent": ctl.latent.tolist(), "qpos": ctl.data.qpos.tolist()}}))
"""
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout.strip().splitlines()[-1])
    ctl = Controller(folder)
    ctl.set_goal(**GOAL)
    np.testing.assert_array_equal([ctl.step_task() for _ in range(12)], np.array(out["actions"], dtype=np.float32))
    np.testing.assert_array_equal(ctl.latent, np.array(out["latent"], dtype=np.float32))
    np.testing.assert_array_equal(ctl.data.qpos, out["qpos"])


def test_hlc_of_another_llc_is_refused_in_one_line_unless_allowed(capsys):
    out = tmp_dir() / "never_hlc"
    rc, err = run_cli(capsys, "--llc", str(untrained_checkpoint()), "--hlc", str(hlc_checkpoint()), "--out", str(out))
    assert rc == 1 and len(err.splitlines()) == 1, err
    assert "trained with LLC sha256" in err and "--allow-other-llc" in err and str(hlc_checkpoint()) in err
    assert not out.exists()
    rc, err = run_cli(capsys, "--llc", str(untrained_checkpoint()), "--allow-other-llc", "--out", str(out))
    assert rc == 2 and "--allow-other-llc goes with --hlc" in err and not out.exists()
    rc, err = run_cli(capsys, "--llc", str(trained_checkpoint()), "--hlc", str(untrained_checkpoint()), "--out",
                      str(out))  # fmt: skip
    assert rc == 1 and "expected 'hlc'" in err and len(err.splitlines()) == 1 and not out.exists()
    rc, _ = run_cli(capsys, "--llc", str(untrained_checkpoint()), "--hlc", str(hlc_checkpoint()), "--out", str(out),
                    "--allow-other-llc")  # fmt: skip
    assert rc == 0
    sc = json.loads((out / "controller.json").read_text())
    assert sc["sources"]["hlc"]["other_llc_allowed"] is True
    assert sc["sources"]["hlc"]["llc_sha256"] != sc["sources"]["llc"]["sha256"]
    assert Controller(out).hlc is not None  # recorded as allowed: the runtime drives the pair


def test_an_hlc_alone_exports_with_its_own_llc(capsys):
    import shutil

    from controllers.files import sha256_file

    out = tmp_dir() / "own_llc"
    rc, err = run_cli(capsys, "--out", str(out))
    assert rc == 2 and "--hlc alone" in err and not out.exists()
    rc, _ = run_cli(capsys, "--hlc", str(hlc_checkpoint()), "--out", str(out))
    assert rc == 0
    sc = json.loads((out / "controller.json").read_text())
    assert sc["sources"]["llc"]["sha256"] == sha256_file(trained_checkpoint()) == sc["sources"]["hlc"]["llc_sha256"]
    lone = tmp_dir() / "lone"  # moved away from its LLC: one line naming the file, nothing written
    lone.mkdir(exist_ok=True)
    shutil.copy(hlc_checkpoint(), lone / "hlc.pt")
    import torch

    ckpt = torch.load(lone / "hlc.pt", weights_only=True)
    ckpt["llc"]["path"] = "gone/llc_elsewhere.pt"
    torch.save(ckpt, lone / "hlc.pt")
    rc, err = run_cli(capsys, "--hlc", str(lone / "hlc.pt"), "--out", str(lone / "x"))
    assert (
        rc == 1
        and len(err.splitlines()) == 1
        and "llc_elsewhere.pt does not exist" in err
        and not (lone / "x").exists()
    )


def test_damaged_or_mismatched_hlc_fails_in_one_line(exported):
    from controllers.files import sha256_file

    folder = exported[0]
    # corrupt bytes: the SHA-256 says so
    f = copy_of(folder, "hlc_corrupt")
    data = bytearray((f / "hlc.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (f / "hlc.onnx").write_bytes(bytes(data))
    for load in (OnnxHLC, Controller):
        with pytest.raises(ControllerFormatError) as e:
            load(f)
        one_line(e, "hlc.onnx", "SHA-256")
    # truncated, hash updated: onnxruntime meets it
    f = copy_of(folder, "hlc_truncated")
    (f / "hlc.onnx").write_bytes((folder / "hlc.onnx").read_bytes()[:2000])
    edit_sidecar(f, lambda sc: sc["models"]["hlc"].update(sha256=sha256_file(f / "hlc.onnx")))
    with pytest.raises(ControllerFormatError) as e:
        OnnxHLC(f)
    one_line(e, "hlc.onnx", "cannot load")
    # the LLC's model in the HLC's place (hash updated)
    f = copy_of(folder, "hlc_swapped")
    (f / "hlc.onnx").write_bytes((folder / "llc.onnx").read_bytes())
    edit_sidecar(f, lambda sc: sc["models"]["hlc"].update(sha256=sha256_file(f / "hlc.onnx")))
    with pytest.raises(ControllerFormatError) as e:
        OnnxHLC(f)
    one_line(e, "hlc.onnx", "do not match controller.json")
    # sidecar and model disagree: the goal layout's size, the LLC the HLC was trained with, the HLC section
    for name, change, where, words in (
        ("goal_size", lambda sc: sc["goal_layouts"][0].update(size=4), "controller.json", "do not fit"),
        ("hlc_llc", lambda sc: sc["sources"]["hlc"].update(llc_sha256="0" * 64), "hlc.onnx", "another LLC"),
        ("pair", lambda sc: sc["sources"]["llc"].update(sha256="0" * 64), "controller.json", "export the pair again"),
        ("no_section", lambda sc: sc.pop("hlc"), "controller.json", "no hlc model"),
        ("no_layout", lambda sc: sc.update(goal_layouts=[]), "controller.json", "no goal layout"),
    ):
        f = copy_of(folder, f"hlc_{name}")
        edit_sidecar(f, change)
        with pytest.raises(ControllerFormatError) as e:
            OnnxHLC(f)
        one_line(e, where, words)


def test_folders_without_an_hlc_still_load(capsys):
    """An LLC-only export, and one written before HLC export (no `hlc` key at all), load as before."""
    f = copy_of(full_export()[0], "pre_hlc")
    edit_sidecar(f, lambda sc: sc.pop("hlc", None))
    ctl = Controller(f)
    assert ctl.hlc is None and ctl.hold_steps == 5
    ctl.step(np.full(64, 0.125, dtype=np.float32))
    with pytest.raises(ControllerFormatError) as e:
        ctl.step_task(np.zeros(5))
    one_line(e, "exported without a task controller", "--hlc")
    with pytest.raises(ControllerFormatError) as e:
        OnnxHLC(f)
    one_line(e, "controller.json", "no hlc model")


def test_viewer_drives_an_exported_hlc_with_policy_onnx(exported):
    """`view --policy onnx --hlc DIR`: both models from the export folder, HLC mode, the task's goal obeyed."""
    from app.session import Session, SessionConfig, SessionError, load_hlc_pair
    from controllers.runtime import OnnxLLC

    folder = exported[0]
    s = Session(SessionConfig(hlc=str(folder), policy_backend="onnx"), motions=None, load=True)
    assert isinstance(s.tasks.hlc, OnnxHLC) and isinstance(s.policy, OnnxLLC)
    assert s.mode.value == "hlc" and s.tasks.driver.task.name == "steering" and s.tasks.driver.llc_steps == 5
    for _ in range(6):
        s.frame(1 / 30)
    assert np.isfinite(s.sim.data.qpos).all()
    for cfg, words in (
        (SessionConfig(hlc=str(hlc_checkpoint()), policy_backend="onnx"), "not an export folder"),
        (SessionConfig(hlc=str(full_export()[0]), policy_backend="onnx"), "no hlc model"),
        (SessionConfig(hlc=str(folder), llc=str(full_export()[0]), policy_backend="onnx"), "same export folder"),
    ):
        with pytest.raises(SessionError) as e:
            load_hlc_pair(cfg)
        one_line(e, words)


def test_goal_observation_is_the_documented_formula(exported):
    """docs/game-engines.md, "Task controllers (HLC)" (goal observations): steering [cos(a - psi), sin(a - psi),
    s, cos(f - psi), sin(f - psi)] for a character turned by psi, as the runtime computes it from a world-frame
    goal."""
    ctl = Controller(exported[0])
    psi, a, f, speed = 2.0, -2.5, 0.3, 1.2
    qpos = ctl.data.qpos[: ctl.nq].copy()
    qpos[3:7] = [np.cos(psi / 2), 0.0, 0.0, np.sin(psi / 2)]
    ctl.reset(qpos)
    ctl.set_goal(direction=a, speed=speed, facing=f)
    want = [np.cos(a - psi), np.sin(a - psi), speed, np.cos(f - psi), np.sin(f - psi)]
    np.testing.assert_allclose(ctl.goal_observation(), want, atol=1e-6)
