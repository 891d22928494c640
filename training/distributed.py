"""Multi-process training with torch.distributed, launched by torchrun (one process per GPU, or per CPU group).

    torchrun --nproc-per-node K [--nnodes M --rdzv-endpoint HOST:PORT ...] launch.py train llc ...

Each rank steps its own environments (seeded by rank) and computes its losses on its own samples; after
each backward pass the gradients are averaged over ranks, so every rank applies the same Adam step to the
same weights (the result of one process holding all ranks' samples). Running statistics (observation,
discriminator and value normalizers, advantage normalization) merge moments gathered from all ranks, so
they stay identical too. Rank 0 alone logs and writes checkpoints. Backend: NCCL with CUDA (rank r on the GPU
cuda:LOCAL_RANK, where its networks and the collectives' tensors live), gloo on CPUs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

# rank r seeds its environments and sampling with seed + r * RANK_SEED_STRIDE (rank 0: the single-process run)
RANK_SEED_STRIDE = 1000


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    device: str = "cpu"  # where the collectives' tensors live: this rank's GPU under NCCL, the CPU under gloo

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1


def rank_device(device: str) -> str:
    """This process's device for `--device`: under torchrun a CUDA run's rank r uses cuda:LOCAL_RANK."""
    if device.startswith("cuda") and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        return f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    return device


def init_from_env(device: str = "cpu") -> DistInfo:
    """Join the process group torchrun describes (RANK, WORLD_SIZE, MASTER_ADDR...); a single process otherwise.
    `device`: the run's --device; CUDA runs use NCCL on this rank's GPU (rank_device), others gloo."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    cuda = device.startswith("cuda")
    coll_device = rank_device(device) if cuda else "cpu"
    if cuda:
        torch.cuda.set_device(coll_device)  # NCCL's communicator binds to the current device
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if cuda else "gloo")
    return DistInfo(rank=dist.get_rank(), world_size=dist.get_world_size(), device=coll_device)


def broadcast_parameters(modules: list[torch.nn.Module], info: DistInfo) -> None:
    """Start every rank from rank 0's weights and buffers."""
    if info.active:
        for m in modules:
            for t in [*m.parameters(), *m.buffers()]:
                dist.broadcast(t.data, src=0)


def average_gradients(params: list[torch.nn.Parameter], info: DistInfo) -> None:
    """grad <- mean over ranks of grad, in one flat all-reduce (a missing grad counts as zero)."""
    if not info.active:
        return
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= info.world_size
    offset = 0
    for p, g in zip(params, grads, strict=True):
        n = g.numel()
        p.grad = flat[offset : offset + n].view_as(p).clone()
        offset += n


def global_moments(x: torch.Tensor, info: DistInfo) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Mean, biased variance (float64) and count of the rows of x over all ranks."""
    x = x.reshape(x.shape[0], -1).to(torch.float64)
    count = torch.tensor([x.shape[0]], dtype=torch.float64, device=x.device)
    stats = torch.cat([count, x.sum(0), x.square().sum(0)])
    if info.active:
        dist.all_reduce(stats)
    n = float(stats[0])
    d = x.shape[1]
    mean = stats[1 : 1 + d] / max(n, 1.0)
    var = (stats[1 + d :] / max(n, 1.0) - mean.square()).clamp_min(0.0)
    return mean, var, n


def update_norm(norm, x: torch.Tensor, info: DistInfo) -> None:
    """RunningNorm.update with the batch statistics of all ranks."""
    if not info.active:
        norm.update(x)
        return
    mean, var, n = global_moments(x.reshape(-1, norm.mean.shape[0]), info)
    if n > 0:
        norm.merge(mean, var, n)


def mean_over_ranks(stats: dict[str, float], info: DistInfo) -> dict[str, float]:
    """Each scalar averaged over ranks (NaN-free values assumed; NaNs stay NaN)."""
    if not info.active or not stats:
        return stats
    names = sorted(stats)
    t = torch.tensor([float(stats[k]) for k in names], dtype=torch.float64, device=info.device)
    dist.all_reduce(t)
    return dict(zip(names, (t / info.world_size).tolist(), strict=True))


def any_rank(flag: bool, info: DistInfo) -> bool:
    """True on every rank when `flag` is True on any (e.g. a Ctrl-C that reached only some processes)."""
    if not info.active:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=info.device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)
