"""`launch.py export`: ONNX files, the controller.json sidecar, parity with torch, clear errors."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch

from controllers.checkpoint import load_llc
from controllers.runtime import OnnxLLC
from tests.onnx_fixtures import full_export, tmp_dir, trained_checkpoint, untrained_checkpoint

pytestmark = pytest.mark.usefixtures("one_torch_thread")
TOL = 1e-5


@pytest.fixture(scope="module")
def exported():
    folder, stdout = full_export()
    return folder, stdout, load_llc(trained_checkpoint())


def real_states(policy, n: int = 64, steps: int = 45):
    """Policy and discriminator inputs from the environment: a policy with noise, falls and resets included."""
    from sim.env import EnvConfig, HumanoidEnv, ResetConfig

    env = HumanoidEnv(EnvConfig(num_envs=n, seed=3, nthread=1, reset=ResetConfig(mode="default")))
    obs, rng = env.reset(), np.random.default_rng(3)
    z = rng.standard_normal((n, policy.latent_dim)).astype(np.float32)
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    for _ in range(steps):
        res = env.step(policy.act(obs, z) + rng.normal(0.0, 0.4, (n, env.action_dim)))
        obs = res.obs
    return obs, z, res.amp_obs


def test_export_writes_a_verified_self_contained_folder(exported):
    folder, stdout, _ = exported
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["controller.json", "encoder.onnx", "encoder_fp16.onnx", "humanoid.xml", "llc.onnx",
                     "llc_fp16.onnx"]  # fmt: skip
    assert "verified" in stdout and "opset 18" in stdout
    for name in ("llc.onnx", "encoder.onnx", "llc_fp16.onnx"):
        model = onnx.load(str(folder / name))  # self-contained: no external data files beside it
        onnx.checker.check_model(model, full_check=True)
        assert model.opset_import[0].version == 18
        assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    assert not list(tmp_dir().glob(".export_full.*")), "the temporary build folder was left behind"


def test_sidecar_comes_from_the_code(exported):
    from sim.character import load_character
    from sim.env import EnvConfig
    from sim.observations import describe_layouts

    folder, _, policy = exported
    sc = json.loads((folder / "controller.json").read_text())
    ch = load_character("humanoid")
    assert sc["observations"] == json.loads(json.dumps(describe_layouts(ch, policy.num_amp_frames)))
    assert [j["name"] for j in sc["joints"]] == [b.joint_name for b in ch.actuated]
    assert sum(j["dof"] for j in sc["joints"]) == sc["action"]["size"] == ch.num_dof
    offset, scale = ch.action_offset_scale()
    kp, kd = ch.pd_gains()
    np.testing.assert_allclose(sc["action"]["offset"], offset)
    np.testing.assert_allclose(sc["action"]["scale"], scale)
    np.testing.assert_allclose(sc["action"]["kp"], kp)
    np.testing.assert_allclose(sc["action"]["kd"], kd)
    np.testing.assert_allclose(np.concatenate([j["action_scale"] for j in sc["joints"]]), scale)
    assert sc["rates"]["physics_hz"] == 120.0 and sc["rates"]["control_hz"] == 30.0
    assert sc["rates"]["physics_steps_per_control"] == EnvConfig.control_substeps
    assert sc["latent"]["size"] == policy.latent_dim and sc["latent"]["hold_steps"] == 5
    assert sc["goal_layouts"] == [] and sc["models"]["hlc"] is None and sc["sources"]["hlc"] is None
    assert sc["hlc"] is None  # an LLC-only export (HLC exports: tests/test_onnx_hlc.py)
    assert (folder / sc["character"]["mjcf"]).read_text() == ch.mjcf_path.read_text()
    from controllers.files import sha256_file

    assert sc["sources"]["llc"]["sha256"] == sha256_file(trained_checkpoint())
    assert sc["models"]["llc"]["inputs"][0] == {"name": "obs", "shape": ["batch", policy.obs_dim], "dtype": "float32"}


@pytest.mark.parametrize("n", [1, 64])
def test_parity_on_random_inputs(exported, n):
    from controllers.onnx_export import sample_inputs, unit_latents

    folder, _, policy = exported
    onnx_pol, rng = OnnxLLC(folder), np.random.default_rng(n)
    obs, z = sample_inputs(policy.obs_norm, n, rng), unit_latents(n, policy.latent_dim, rng)
    action, target = onnx_pol.run(obs, z)
    want = policy.act(obs, z)
    assert action.shape == (n, policy.action_dim)
    assert np.abs(action - want).max() < TOL
    offset, scale = (np.array(json.loads((folder / "controller.json").read_text())["action"][k]) for k in
                     ("offset", "scale"))  # fmt: skip
    assert np.abs(target - (offset + scale * want)).max() < TOL
    windows = sample_inputs(policy.amp_norm, n, rng)
    assert np.abs(onnx_pol.encode(windows) - policy.encode(windows)).max() < TOL


def test_parity_on_real_states_batch_1_and_64(exported):
    folder, _, policy = exported
    onnx_pol = OnnxLLC(folder)
    obs, z, windows = real_states(policy)
    for sl in (slice(0, 1), slice(None)):
        assert np.abs(onnx_pol.act(obs[sl], z[sl]) - policy.act(obs[sl], z[sl])).max() < TOL
        assert np.abs(onnx_pol.encode(windows[sl]) - policy.encode(windows[sl])).max() < TOL
        with torch.no_grad():
            logit = policy.disc_enc.disc_logit(policy.amp_norm(torch.as_tensor(windows[sl]))).numpy()
        assert np.abs(onnx_pol.disc_logit(windows[sl]) - logit).max() < TOL * max(1.0, np.abs(logit).max())


def test_fp16_copy_runs_close_to_fp32(exported):
    from controllers.onnx_export import sample_inputs, unit_latents

    folder, _, policy = exported
    rng = np.random.default_rng(0)
    obs, z = sample_inputs(policy.obs_norm, 64, rng), unit_latents(64, policy.latent_dim, rng)
    half, full = OnnxLLC(folder, precision="fp16"), OnnxLLC(folder)
    assert np.abs(half.act(obs, z) - full.act(obs, z)).max() < 1e-2
    assert (folder / "llc_fp16.onnx").stat().st_size < 0.6 * (folder / "llc.onnx").stat().st_size


def run_cli(capsys, *args: str) -> tuple[int, str]:
    from controllers.export_cli import main

    rc = main(list(args))
    return rc, capsys.readouterr().err.strip()


def test_other_layout_version_missing_and_corrupt_checkpoints_fail_in_one_line(capsys):
    from controllers.checkpoint import read_checkpoint, save_atomic
    from sim.observations import OBS_LAYOUT_VERSION

    ckpt = read_checkpoint(untrained_checkpoint())
    ckpt["obs_layout_version"] = OBS_LAYOUT_VERSION + 1
    other = save_atomic(ckpt, tmp_dir() / "other_layout.pt")
    corrupt = tmp_dir() / "corrupt.pt"
    corrupt.write_bytes(untrained_checkpoint().read_bytes()[:5000])
    for path, words in ((other, "layout version"), (corrupt, "not a readable"), (tmp_dir() / "nope.pt", "no such")):
        rc, err = run_cli(capsys, "--llc", str(path), "--out", str(tmp_dir() / "never"))
        assert rc == 1 and words in err and str(path) in err and len(err.splitlines()) == 1, err
    assert not (tmp_dir() / "never").exists()


def test_out_folder_that_is_not_an_export_is_left_alone(capsys):
    out = tmp_dir() / "precious"
    out.mkdir(exist_ok=True)
    (out / "notes.txt").write_text("mine")
    rc, err = run_cli(capsys, "--llc", str(untrained_checkpoint()), "--out", str(out))
    assert rc == 1 and "not an earlier export folder" in err and (out / "notes.txt").read_text() == "mine"
