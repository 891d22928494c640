"""LLC networks and the checkpoint format (controllers/), without training/."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from controllers.checkpoint import CheckpointError, llc_checkpoint, load_llc, save_atomic
from controllers.networks import Actor, Critic, DiscEnc, NetworkConfig
from controllers.normalizer import RunningNorm

pytestmark = pytest.mark.usefixtures("one_torch_thread")


ROOT = Path(__file__).resolve().parent.parent
OBS, AMP, FRAMES, ACT = 223, 125, 10, 28


def make_ckpt(net: NetworkConfig, character: str = "humanoid", layout: int = 1) -> dict:
    torch.manual_seed(0)
    obs_norm, amp_norm = RunningNorm(OBS), RunningNorm(AMP * FRAMES)
    obs_norm.update(torch.randn(64, OBS) * 3 + 1)
    amp_norm.update(torch.randn(64, AMP * FRAMES))
    return llc_checkpoint(
        character=character, obs_layout_version=layout, obs_dim=OBS, amp_obs_dim=AMP, num_amp_frames=FRAMES,
        action_dim=ACT, network=net, config={"preset": "test"}, actor=Actor(OBS, ACT, net),
        disc_enc=DiscEnc(AMP * FRAMES, net), obs_norm=obs_norm, amp_norm=amp_norm,
    )  # fmt: skip


def test_network_shapes_and_initialization():
    net = NetworkConfig.cpu()
    actor, critic, de = Actor(OBS, ACT, net), Critic(OBS, net), DiscEnc(AMP * FRAMES, net)
    obs, z = torch.randn(5, OBS), torch.nn.functional.normalize(torch.randn(5, 64), dim=-1)
    assert actor(obs, z).shape == (5, ACT) and critic(obs, z).shape == (5,)
    logit, mu = de(torch.randn(5, AMP * FRAMES))
    assert logit.shape == (5,) and mu.shape == (5, 64)
    assert torch.allclose(mu.norm(dim=-1), torch.ones(5), atol=1e-5)
    assert de.logit.weight.abs().max() <= 1.0 and de.logit.weight.abs().max() > 0.5  # U(-1, 1)
    assert de.enc.weight.abs().max() <= 0.1  # U(-0.1, 0.1)
    assert actor.style_out.weight.abs().max() > 0.5  # U(-1, 1)
    assert all(m.bias.abs().sum() == 0 for m in actor.modules() if isinstance(m, torch.nn.Linear))
    assert len(de.disc_weights()) == len(net.disc_hidden) + 1
    ref = NetworkConfig.reference()
    assert ref.actor_hidden == (1024, 1024, 512) and ref.style_hidden == (512, 256) and ref.action_log_std == -2.9


def test_inference_checkpoint_round_trip_and_size(tmp_path):
    ckpt = make_ckpt(NetworkConfig.cpu())
    path = save_atomic(ckpt, tmp_path / "llc.pt")
    assert path.stat().st_size < 10e6
    assert not list(tmp_path.glob("*.tmp"))
    pol = load_llc(path, character="humanoid", obs_layout_version=1)
    obs = np.random.default_rng(0).normal(size=(3, OBS)).astype(np.float32)
    z = np.tile(np.eye(64, dtype=np.float32)[:1], (3, 1))
    a = pol.act(obs, z)
    assert a.shape == (3, ACT) and a.dtype == np.float32 and np.abs(a).max() <= 1.0
    # same numbers as the networks in the dict
    net = NetworkConfig.cpu()
    actor, norm = Actor(OBS, ACT, net), RunningNorm(OBS)
    actor.load_state_dict(ckpt["actor"])
    norm.load_state_dict(ckpt["obs_norm"])
    with torch.no_grad():
        expected = actor(norm(torch.tensor(obs)), torch.tensor(z)).clamp(-1, 1).numpy()
    np.testing.assert_allclose(a, expected, atol=1e-6)
    sto = pol.act(obs, z, deterministic=False)
    assert 0 < np.abs(sto - a).mean() < 5 * math.exp(-2.9)
    w = np.random.default_rng(1).normal(size=(4, AMP * FRAMES)).astype(np.float32)
    mu = pol.encode(w)
    assert mu.shape == (4, 64) and np.allclose(np.linalg.norm(mu, axis=-1), 1.0, atol=1e-5)
    assert pol.disc_reward(w).shape == (4,) and (pol.disc_reward(w) >= 0).all()
    assert pol.enc_reward(w, mu).tolist() == pytest.approx([1.0] * 4, abs=1e-5)


def test_checkpoint_errors_are_clear(tmp_path):
    path = save_atomic(make_ckpt(NetworkConfig(actor_hidden=(8,), critic_hidden=(8,), disc_hidden=(8,),
                                               style_hidden=(8,))), tmp_path / "llc.pt")  # fmt: skip
    with pytest.raises(CheckpointError, match=r"llc\.pt.*trained for character 'humanoid'.*humanoid_sword_shield"):
        load_llc(path, character="humanoid_sword_shield")
    with pytest.raises(CheckpointError, match=r"llc\.pt.*observation layout version 1 .* version 2"):
        load_llc(path, obs_layout_version=2)
    with pytest.raises(CheckpointError, match="no such checkpoint file"):
        load_llc(tmp_path / "missing.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match=r"junk\.pt: not a readable torch checkpoint"):
        load_llc(junk)
    other = save_atomic({"weights": 1}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a controller checkpoint"):
        load_llc(other)
    hlc = make_ckpt(NetworkConfig(actor_hidden=(8,), critic_hidden=(8,), disc_hidden=(8,), style_hidden=(8,)))
    hlc["kind"] = "hlc"
    with pytest.raises(CheckpointError, match="holds a 'hlc' controller"):
        load_llc(save_atomic(hlc, tmp_path / "hlc.pt"))


def test_loading_does_not_import_training(tmp_path):
    path = save_atomic(make_ckpt(NetworkConfig(actor_hidden=(8,), critic_hidden=(8,), disc_hidden=(8,),
                                               style_hidden=(8,))), tmp_path / "llc.pt")  # fmt: skip
    code = (
        "import sys, numpy as np; from controllers.checkpoint import load_llc; "
        f"p = load_llc({str(path)!r}, obs_layout_version=1); "
        f"p.act(np.zeros((1, {OBS}), np.float32), np.eye(64, dtype=np.float32)[:1]); "
        "assert not any(m == 'training' or m.startswith('training.') for m in sys.modules), 'training imported'"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
