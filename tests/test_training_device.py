"""Device-aware trainers without a GPU: every tensor the LLC and HLC trainers make names its device (checked by
training under a "meta" default device), checkpoints load onto any device, and `--device cuda` without CUDA
is one clear line. The CUDA paths themselves (autocast on cuda, NCCL collectives) need a GPU to run."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch

from controllers.checkpoint import cpu_tensors, save_atomic, untrained_llc_checkpoint
from controllers.hlc import HLCNetworkConfig
from controllers.networks import NetworkConfig
from tests.fakes import FakeEnv, PointTaskEnv, llc_trainer_on
from training import hlc as hlc_training
from training.config import cpu_preset
from training.distributed import DistInfo
from training.hlc import HLCTrainer
from training.llc import LLCTrainer, bf16_native

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = NetworkConfig(actor_hidden=(32, 16), critic_hidden=(32, 16), disc_hidden=(32, 16), style_hidden=(16,))
SMALL_HLC = HLCNetworkConfig(actor_hidden=(32, 32), critic_hidden=(32, 32))


def llc_trainer(device: str = "cpu") -> LLCTrainer:
    cfg = cpu_preset(
        character="fake", num_envs=8, horizon=16, minibatch_size=64, disc_batch=32, epochs=2, demo_buffer_size=256,
        demo_refresh=32, replay_size=128, torch_threads=1, network=TINY, lr=3e-4, low_style_steps=4,
    )  # fmt: skip
    return llc_trainer_on(cfg, FakeEnv(8, num_amp_frames=4, episode_steps=20), device=device)


def hlc_trainer(device: str = "cpu") -> HLCTrainer:
    cfg = hlc_training.cpu_preset(num_envs=8, horizon=8, minibatch_size=32, epochs=2, network=SMALL_HLC,
                                  task="speed", character="fake")  # fmt: skip
    return HLCTrainer(cfg, PointTaskEnv(8, episode_steps=6), device=device)


def held_tensors(trainer) -> Iterator[tuple[str, torch.Tensor]]:
    """Every tensor a trainer holds between iterations: weights, normalizers, optimizer moments, buffers, state."""
    for name in ("actor", "critic", "disc_enc", "obs_norm", "amp_norm", "value_norm"):
        if hasattr(trainer, name):
            for key, t in getattr(trainer, name).state_dict().items():
                yield f"{name}.{key}", t
    for i, state in enumerate(trainer.optimizer.state.values()):
        for key, t in state.items():
            if key != "step":  # torch keeps Adam's step counter on the CPU for every device
                yield f"optimizer.{i}.{key}", t
    yield "obs", trainer.obs
    if isinstance(trainer, LLCTrainer):
        yield from [("low_style_count", trainer.low_style_count), ("stochastic_prob", trainer.stochastic_prob)]
        yield from [("latents.z", trainer.latents.z), ("latents.remaining", trainer.latents.remaining)]
        yield from [("demo", trainer.demo.data), ("replay", trainer.replay.data)]


def assert_on(trainer, device: str) -> None:
    wrong = [f"{name} on {t.device}" for name, t in held_tensors(trainer) if t.device.type != device]
    assert not wrong, wrong


@contextmanager
def meta_default_device():
    """Tensors made without an explicit device land on "meta" (no data): mixed with real ones math fails, and
    copied into real ones (x[i] = meta) they write nothing, which the comparison with a plain run catches."""
    previous = torch.get_default_device()
    torch.set_default_device("meta")
    try:
        yield
    finally:
        torch.set_default_device(None if previous.type == "cpu" else previous)


def comparable(stats: dict) -> dict:
    return {k: "nan" if math.isnan(v) else v for k, v in stats.items() if not k.startswith("perf/")}


def train_save_resume(make, tmp_path: Path, name: str) -> list[dict]:
    """Two iterations, a checkpoint, a third iteration in a fresh trainer resumed from it; every trainer's
    tensors must be on its device (the CPU)."""
    a = make()
    if isinstance(a, LLCTrainer):
        with torch.no_grad():
            a.disc_enc.logit.bias.fill_(-10.0)  # every window looks fake: low-style terminations in the rollout
    stats = [a.train_iteration(), a.train_iteration()]  # the second feeds the LLC's replay buffer
    assert_on(a, "cpu")
    a.save(tmp_path / name)
    b = make()
    b.load(tmp_path / name)
    stats.append(b.train_iteration())
    assert_on(b, "cpu")
    return [comparable(s) for s in stats]


@pytest.mark.parametrize("make", [llc_trainer, hlc_trainer], ids=["llc", "hlc"])
def test_trainers_name_the_device_of_every_tensor(tmp_path, make):
    expected = train_save_resume(make, tmp_path, "plain.pt")
    with meta_default_device():
        got = train_save_resume(make, tmp_path, "meta.pt")
    assert got == expected  # the same numbers: nothing was dropped into a "meta" tensor
    if make is llc_trainer:
        assert got[0]["episode/style_terminations"] > 0 and got[2]["loss/total"] == expected[2]["loss/total"]


def storage_locations(path: Path) -> set[str]:
    """The devices a checkpoint file recorded for its tensors."""
    seen: set[str] = set()

    def record(storage, location: str):
        seen.add(location)
        return storage

    torch.load(path, map_location=record, weights_only=True)
    return seen


@pytest.mark.parametrize("make", [llc_trainer, hlc_trainer], ids=["llc", "hlc"])
def test_checkpoints_are_cpu_files_that_resume_on_another_device(tmp_path, make):
    a = make()
    a.train_iteration()
    a.save(tmp_path / "c.pt")
    assert storage_locations(tmp_path / "c.pt") == {"cpu"}
    # read with map_location="cpu", then moved onto the trainer's device ("meta" stands in for a GPU here)
    with pytest.warns(UserWarning, match="meta parameter"):  # torch: loading into meta weights copies nothing
        b = make("meta")
        b.load(tmp_path / "c.pt")
    assert b.iteration == 1 and b.obs.shape == a.obs.shape
    assert_on(b, "meta")
    c = make()  # and back onto the CPU: the same state as the run that wrote it
    c.load(tmp_path / "c.pt")
    assert torch.equal(c.obs, a.obs)
    for name in ("actor", "critic", "obs_norm", "value_norm"):
        sa, sc = getattr(a, name).state_dict(), getattr(c, name).state_dict()
        assert all(torch.equal(sa[k], sc[k]) for k in sa), name


def test_cpu_tensors_keeps_structure_and_cpu_tensors_as_they_are(tmp_path):
    sd = torch.nn.Linear(2, 3).state_dict()
    out = cpu_tensors({"net": sd, "groups": [{"betas": (0.9, 0.999), "params": [0, 1]}], "rng": np.zeros(2)})
    assert type(out["net"]) is type(sd) and out["net"]._metadata == sd._metadata  # load_state_dict reads it
    assert out["net"]["weight"] is sd["weight"]  # no copy of what is already on the CPU
    assert out["groups"] == [{"betas": (0.9, 0.999), "params": [0, 1]}] and isinstance(out["rng"], np.ndarray)
    path = save_atomic(untrained_llc_checkpoint("humanoid", TINY), tmp_path / "llc.pt")
    assert storage_locations(path) == {"cpu"}


def test_bf16_autocast_follows_the_device(monkeypatch):
    from training import llc as llc_module

    monkeypatch.setattr(llc_module, "cpu_bf16_native", lambda: False)
    assert bf16_native(torch.device("cuda")) and not bf16_native(torch.device("cpu"))
    assert not bf16_native(torch.device("meta"))
    trainer = llc_trainer()
    assert not trainer.bf16 and isinstance(trainer.autocast(), contextlib.nullcontext)  # no autocast context at all
    trainer.bf16 = True
    assert trainer.autocast().device == "cpu"  # autocast's device type is the trainer's


# ---------------------------------------------------------------------------------------------- command line
def test_rank_and_network_devices(monkeypatch):
    from training.distributed import rank_device
    from training.runner import network_device

    assert network_device("cpu") == "cpu" and network_device("warp-cpu") == "cpu"
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert rank_device("cuda") == "cuda:1" and rank_device("cuda:0") == "cuda:1" and rank_device("cpu") == "cpu"
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert rank_device("cuda:3") == "cuda:3"
    with pytest.raises(ValueError, match="NCCL collectives run on cuda:1"):  # NCCL takes only GPU tensors
        llc_trainer_on(llc_trainer().cfg, FakeEnv(8, num_amp_frames=4), dist=DistInfo(1, 2, "cuda:1"), device="cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
@pytest.mark.parametrize("kind", ["llc", "hlc"])
def test_device_cuda_without_cuda_is_one_clear_line(tmp_path, capsys, kind):
    from training.cli import main

    llc = save_atomic(untrained_llc_checkpoint("humanoid", TINY), tmp_path / "llc.pt")
    args = ["--iterations", "1", "--envs", "2", "--out", str(tmp_path / "run"), "--no-progress", "--device", "cuda"]
    if kind == "hlc":
        args += ["--task", "steering", "--llc", str(llc)]
    assert main([kind, *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--device cuda: no CUDA device found" in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()
