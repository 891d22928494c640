"""The torch-free runtime (controllers/runtime/): closed loop against the training environment, torch blocked,
clear one-line errors for damaged or mismatched export folders, and the viewer's `--policy onnx`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from controllers.runtime import Controller, ControllerFormatError, OnnxLLC
from tests.onnx_fixtures import ROOT, copy_of, full_export, trained_checkpoint, untrained_export

pytestmark = pytest.mark.usefixtures("one_torch_thread")
# Closed loop: 300 control steps (10 s) of HumanoidEnv + torch against Controller + onnxruntime from one
# seed. Measured: actions within 3e-7, character qpos within 3e-7 (a standing policy). Stated tolerance:
LOOP_TOL = 1e-4


@pytest.fixture(scope="module")
def folder() -> Path:
    return full_export()[0]


def test_closed_loop_matches_the_training_environment(folder):
    from controllers.checkpoint import load_llc
    from sim.env import EnvConfig, HumanoidEnv, ResetConfig

    policy = load_llc(trained_checkpoint())
    env = HumanoidEnv(EnvConfig(num_envs=1, early_termination=False, auto_reset=False, nthread=1,
                                reset=ResetConfig(mode="default")))  # fmt: skip
    obs = env.reset()
    ctl = Controller(folder)
    z = np.random.default_rng(0).standard_normal(policy.latent_dim)
    z = (z / np.linalg.norm(z)).astype(np.float32)
    assert np.array_equal(ctl.observe(), obs[0])
    worst_action = worst_qpos = 0.0
    for _ in range(300):
        want = policy.act(obs, z[None])
        obs = env.step(want).obs
        got = ctl.step(z)
        worst_action = max(worst_action, float(np.abs(got - want[0]).max()))
        worst_qpos = max(worst_qpos, float(np.abs(ctl.data.qpos[: ctl.nq] - env.get_data(0).qpos[: ctl.nq]).max()))
    assert worst_action < LOOP_TOL and worst_qpos < LOOP_TOL, (worst_action, worst_qpos)
    assert np.abs(ctl.observe() - obs[0]).max() < 10 * LOOP_TOL
    assert ctl.data.qpos[2] > 0.7, "the fixture policy stands"


BLOCK_TORCH = """
import sys
class BlockTorch:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('torch', 'training'):
            raise ImportError(f'{name} is blocked in this test')
sys.meta_path.insert(0, BlockTorch())
"""


def test_runtime_runs_with_torch_blocked(folder):
    code = (
        BLOCK_TORCH
        + f"""
import json
import numpy as np
from controllers.runtime import Controller
ctl = Controller({str(folder)!r})
z = np.full(ctl.policy.latent_dim, ctl.policy.latent_dim ** -0.5, dtype=np.float32)
actions = [ctl.step(z).tolist() for _ in range(5)]
logit, latent = ctl.encode()
assert not any(m.split('.')[0] in ('torch', 'training') for m in sys.modules)
print(json.dumps({{"actions": actions, "logit": logit, "qpos": ctl.data.qpos.tolist()}}))
"""
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout.strip().splitlines()[-1])
    ctl = Controller(folder)  # the same steps here give the same numbers
    z = np.full(ctl.policy.latent_dim, ctl.policy.latent_dim**-0.5, dtype=np.float32)
    np.testing.assert_array_equal([ctl.step(z) for _ in range(5)], np.array(out["actions"], dtype=np.float32))
    np.testing.assert_array_equal(ctl.data.qpos, out["qpos"])


def one_line(exc_info, *words: str) -> None:
    msg = str(exc_info.value)
    assert len(msg.splitlines()) == 1, msg
    for w in words:
        assert w in msg, msg


def edit_sidecar(folder: Path, change) -> None:
    path = folder / "controller.json"
    sc = json.loads(path.read_text())
    change(sc)
    path.write_text(json.dumps(sc))


def test_damaged_or_mismatched_folders_fail_in_one_line(folder):
    from controllers.files import sha256_file

    # a model file swapped for another export's
    f = copy_of(folder, "swapped")
    (f / "llc.onnx").write_bytes((untrained_export() / "llc.onnx").read_bytes())
    with pytest.raises(ControllerFormatError) as e:
        OnnxLLC(f)
    one_line(e, "llc.onnx", "SHA-256")
    # ... with the sidecar's hash updated too: the model names another source checkpoint
    edit_sidecar(f, lambda sc: sc["models"]["llc"].update(sha256=sha256_file(f / "llc.onnx")))
    with pytest.raises(ControllerFormatError) as e:
        OnnxLLC(f)
    one_line(e, "llc.onnx", "another checkpoint")
    # the sidecar's sizes do not fit the model
    f = copy_of(folder, "sizes")
    edit_sidecar(f, lambda sc: sc["models"]["llc"]["inputs"][0].update(shape=["batch", 253]))
    with pytest.raises(ControllerFormatError) as e:
        OnnxLLC(f)
    one_line(e, "llc.onnx", "do not match controller.json")
    # a truncated model (hash updated, so onnxruntime itself meets it)
    f = copy_of(folder, "truncated")
    (f / "llc.onnx").write_bytes((folder / "llc.onnx").read_bytes()[:100_000])
    edit_sidecar(f, lambda sc: sc["models"]["llc"].update(sha256=sha256_file(f / "llc.onnx")))
    with pytest.raises(ControllerFormatError) as e:
        OnnxLLC(f)
    one_line(e, "llc.onnx", "cannot load")
    # a corrupt sidecar, a missing one, a newer format, another layout version, another character
    f = copy_of(folder, "bad_sidecar")
    (f / "controller.json").write_text('{"format": "ase-runtime/controller", ')
    with pytest.raises(ControllerFormatError) as e:
        OnnxLLC(f)
    one_line(e, "controller.json", "not readable JSON")
    (f / "controller.json").unlink()
    with pytest.raises(ControllerFormatError) as e:
        OnnxLLC(f)
    one_line(e, "controller.json", "no such file")
    for change, words in (
        (lambda sc: sc.update(format_version=99), "newer"),
        (lambda sc: sc["observations"].update(version=-1), "layout version -1"),
    ):
        f = copy_of(folder, "edited")
        edit_sidecar(f, change)
        with pytest.raises(ControllerFormatError) as e:
            OnnxLLC(f)
        one_line(e, "controller.json", words)
    with pytest.raises(ControllerFormatError) as e:
        OnnxLLC(folder, character="humanoid_sword_shield")
    one_line(e, "controller.json", "humanoid_sword_shield")
    f = copy_of(folder, "no_mjcf")
    (f / "humanoid.xml").write_text("<mujoco><worldbody>")
    with pytest.raises(ControllerFormatError) as e:
        Controller(f)
    one_line(e, "humanoid.xml", "MuJoCo cannot load it")


def test_viewer_drives_an_export_with_policy_onnx(folder):
    from app.session import SessionConfig, load_policy

    policy, msg = load_policy(SessionConfig(llc=str(folder), policy_backend="onnx"))
    assert isinstance(policy, OnnxLLC) and "ONNX" in msg
    obs = Controller(folder).observe()
    assert policy.act(obs[None], np.eye(policy.latent_dim, dtype=np.float32)[:1]).shape == (1, policy.action_dim)
    policy, msg = load_policy(SessionConfig(llc=str(trained_checkpoint()), policy_backend="onnx"))
    assert policy is None and "not an export folder" in msg
