"""torch.distributed training (torchrun): 2 gloo processes on the CPU against one process with the combined batch,
for the LLC and the HLC trainer."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from controllers.networks import NetworkConfig
from tests.fakes import FakeEnv, PointTaskEnv, llc_trainer_on
from training.config import cpu_preset
from training.distributed import DistInfo, average_gradients, global_moments, update_norm
from training.hlc import HLCTrainer
from training.hlc import cpu_preset as hlc_preset
from training.llc import LLCTrainer

TINY = NetworkConfig(actor_hidden=(32, 16), critic_hidden=(32, 16), disc_hidden=(32, 16), style_hidden=(16,))
MB = 64  # combined minibatch; each of the 2 ranks holds half


def tiny_config(**kw):
    base = dict(
        character="fake", num_envs=8, horizon=16, minibatch_size=64, disc_batch=32, epochs=1, demo_buffer_size=256,
        demo_refresh=32, replay_size=512, torch_threads=1, network=TINY, lr=3e-4, bf16=False,
    )  # fmt: skip
    base.update(kw)
    return cpu_preset(**base)


def combined_minibatch(trainer: LLCTrainer) -> dict[str, torch.Tensor]:
    """A fixed minibatch of MB samples (all stochastic, so every masked mean divides by the same count)."""
    g = torch.Generator().manual_seed(7)
    env = trainer.env
    window = env.amp_obs_dim * env.num_amp_frames
    z = torch.nn.functional.normalize(torch.randn(MB, 64, generator=g), dim=-1)
    return {
        "obs": torch.randn(MB, env.obs_dim, generator=g) * 2 + 1,
        "z": z,
        "actions": torch.randn(MB, env.action_dim, generator=g) * 0.3,
        "old_logp": torch.randn(MB, generator=g),
        "adv": torch.randn(MB, generator=g),
        "returns_n": torch.randn(MB, generator=g),
        "stochastic": torch.ones(MB, dtype=torch.bool),
        "agent_w": torch.randn(MB // 2, window, generator=g),
        "agent_z": torch.nn.functional.normalize(torch.randn(MB // 2, 64, generator=g), dim=-1),
        "demo_w": torch.randn(MB // 2, window, generator=g) + 0.5,
        "replay_w": torch.randn(MB // 2, window, generator=g) - 0.5,
        "z_new": torch.nn.functional.normalize(torch.randn(MB, 64, generator=g), dim=-1),
    }


def half(mb: dict[str, torch.Tensor], rank: int) -> dict[str, torch.Tensor]:
    return {k: v.chunk(2)[rank] for k, v in mb.items()}


def grads_and_norms(
    trainer: LLCTrainer | HLCTrainer, mb: dict[str, torch.Tensor], norms: tuple[str, ...] = ("obs_norm", "amp_norm")
) -> dict[str, torch.Tensor]:
    """One minibatch's rank-averaged gradients and the normalizers' statistics after it (either trainer)."""
    loss, _ = trainer.minibatch_loss(mb)
    trainer.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    average_gradients(trainer.params, trainer.dist)
    out = {f"grad{i}": p.grad.clone() for i, p in enumerate(trainer.params)}
    for name in norms:
        out[f"{name}.mean"], out[f"{name}.var"] = (
            getattr(trainer, name).mean.clone(),
            getattr(trainer, name).var.clone(),
        )
    return out


def hlc_config():
    from controllers.hlc import HLCNetworkConfig

    net = HLCNetworkConfig(actor_hidden=(32, 32), critic_hidden=(32, 32))
    return hlc_preset(num_envs=8, horizon=8, minibatch_size=32, epochs=2, network=net, task="speed",
                      character="fake", lr=1e-3)  # fmt: skip


def hlc_minibatch(trainer: HLCTrainer) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(11)
    return {
        "obs": torch.randn(MB, trainer.env.obs_dim, generator=g) * 2 + 1,
        "actions": torch.randn(MB, 64, generator=g) * 0.3,
        "old_logp": torch.randn(MB, generator=g),
        "adv": torch.randn(MB, generator=g),
        "returns_n": torch.randn(MB, generator=g),
    }


def _worker(rank: int, store_file: str, out_dir: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{store_file}", rank=rank, world_size=2)
    info = DistInfo(rank=dist.get_rank(), world_size=2)
    try:
        # 1. one minibatch: each rank its half, gradients averaged
        trainer = llc_trainer_on(tiny_config(), FakeEnv(8, num_amp_frames=4, seed=rank), dist=info)
        res = grads_and_norms(trainer, half(combined_minibatch(trainer), rank))
        moments = global_moments(torch.arange(6.0).reshape(6, 1)[3 * rank : 3 * rank + 3], info)
        res["moments"] = torch.stack([moments[0][0], moments[1][0], torch.tensor(moments[2])])
        torch.save(res, Path(out_dir) / f"rank{rank}.pt")
        # 2. two iterations of training; rank 0 writes the checkpoint
        trainer = llc_trainer_on(tiny_config(), FakeEnv(8, num_amp_frames=4, seed=1000 * rank), dist=info)
        trainer.train(2, Path(out_dir) / "run", progress=False)
        torch.save({n: p.detach().clone() for n, p in trainer.actor.named_parameters()}, Path(out_dir) / f"w{rank}.pt")
        # 3. the HLC trainer: one minibatch, then two iterations with rank 0's checkpoint
        hlc = HLCTrainer(hlc_config(), PointTaskEnv(8, seed=rank), dist=info)
        torch.save(
            grads_and_norms(hlc, half(hlc_minibatch(hlc), rank), ("obs_norm",)), Path(out_dir) / f"hlc_rank{rank}.pt"
        )
        hlc = HLCTrainer(hlc_config(), PointTaskEnv(8, seed=1000 * rank), dist=info)
        hlc.train(2, Path(out_dir) / "hlc_run", progress=False)
        torch.save({n: p.detach().clone() for n, p in hlc.actor.named_parameters()}, Path(out_dir) / f"hw{rank}.pt")
        dist.barrier()
        (Path(out_dir) / f"done{rank}").touch()
    finally:
        dist.destroy_process_group()


def _run_two_ranks(out: Path) -> None:
    """Both ranks to the end. A rank that aborts at exit after both finished their work (gloo's teardown has,
    now and then: "terminate called without an active exception") does not spoil the results; one that dies
    before is tried once more, then reported."""
    for attempt in range(2):
        run = out / f"try{attempt}"
        run.mkdir()
        try:
            mp.start_processes(_worker, args=(str(run / "store"), str(run)), nprocs=2, join=True, start_method="spawn")
        except mp.ProcessExitedException:
            if not all((run / f"done{r}").is_file() for r in range(2)):
                if attempt == 0:
                    continue
                raise
        for f in run.iterdir():
            f.rename(out / f.name)
        return


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ddp")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    _run_two_ranks(out)
    return out


def test_two_ranks_take_the_gradient_of_the_combined_minibatch(two_ranks: Path) -> None:
    single = llc_trainer_on(tiny_config(), FakeEnv(8, num_amp_frames=4, seed=0))
    expected = grads_and_norms(single, combined_minibatch(single))
    for rank in (0, 1):
        got = torch.load(two_ranks / f"rank{rank}.pt")
        for name, value in expected.items():
            torch.testing.assert_close(got[name].to(value.dtype), value, rtol=1e-4, atol=1e-6, msg=name)
    mean, var, n = torch.load(two_ranks / "rank0.pt")["moments"]
    assert (mean, var, n) == (2.5, pytest.approx(35 / 12), 6.0)


def test_ranks_keep_identical_weights_and_rank0_checkpoint_resumes_on_one(two_ranks: Path) -> None:
    w0, w1 = torch.load(two_ranks / "w0.pt"), torch.load(two_ranks / "w1.pt")
    assert all(torch.equal(w0[k], w1[k]) for k in w0)  # the same Adam steps on every rank
    ckpt = two_ranks / "run" / "checkpoint.pt"
    assert ckpt.is_file() and (two_ranks / "run" / "llc.pt").is_file()
    one = llc_trainer_on(tiny_config(), FakeEnv(8, num_amp_frames=4, seed=0))
    one.load(ckpt)
    assert one.iteration == 2 and one.global_step == 2 * 2 * one.cfg.batch_size  # samples of both ranks
    assert all(torch.equal(p, w0[n]) for n, p in one.actor.named_parameters())
    stats = one.train(3, None, progress=False)
    assert one.iteration == 3 and np.isfinite(stats["loss/total"])


def test_hlc_two_ranks_take_the_gradient_of_the_combined_minibatch(two_ranks: Path) -> None:
    single = HLCTrainer(hlc_config(), PointTaskEnv(8, seed=0))
    expected = grads_and_norms(single, hlc_minibatch(single), ("obs_norm",))
    for rank in (0, 1):
        got = torch.load(two_ranks / f"hlc_rank{rank}.pt")
        for name, value in expected.items():
            torch.testing.assert_close(got[name].to(value.dtype), value, rtol=1e-4, atol=1e-6, msg=name)


def test_hlc_ranks_keep_identical_weights_and_rank0_checkpoint_resumes_on_one(two_ranks: Path) -> None:
    w0, w1 = torch.load(two_ranks / "hw0.pt"), torch.load(two_ranks / "hw1.pt")
    assert all(torch.equal(w0[k], w1[k]) for k in w0)
    start = HLCTrainer(hlc_config(), PointTaskEnv(8, seed=0))
    assert any(not torch.equal(p, w0[n]) for n, p in start.actor.named_parameters())  # training moved them
    one = HLCTrainer(hlc_config(), PointTaskEnv(8, seed=0))
    one.load(two_ranks / "hlc_run" / "checkpoint.pt")
    assert (two_ranks / "hlc_run" / "hlc.pt").is_file()
    assert one.iteration == 2 and one.global_step == 2 * 2 * one.cfg.batch_size  # samples of both ranks
    assert all(torch.equal(p, w0[n]) for n, p in one.actor.named_parameters())
    stats = one.train(3, None, progress=False)
    assert one.iteration == 3 and np.isfinite(stats["loss/total"])


def test_single_process_helpers_are_plain() -> None:
    from controllers.normalizer import RunningNorm

    info = DistInfo()
    a, b = RunningNorm(3), RunningNorm(3)
    x = torch.randn(50, 3)
    a.update(x)
    update_norm(b, x, info)
    torch.testing.assert_close(a.mean, b.mean)
    mean, var, n = global_moments(x.double(), info)
    torch.testing.assert_close(mean, x.double().mean(0)) and torch.testing.assert_close(var, x.double().var(0, False))
    assert n == 50
