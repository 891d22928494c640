"""Running mean / standard deviation normalization (saved with every checkpoint).

Matches the ASE reference: running statistics in float64 (batch statistics in the input's precision),
y = clamp((x - mean) / sqrt(var + 1e-5), -5, 5).
Statistics change only when `update` is called (the trainer calls it on training minibatches).
"""

from __future__ import annotations

import torch
from torch import nn


class RunningNorm(nn.Module):
    """Per-feature running mean/var; its buffers travel in `state_dict()`."""

    def __init__(self, size: int, eps: float = 1e-5, clip: float = 5.0) -> None:
        super().__init__()
        self.eps, self.clip = eps, clip
        self.register_buffer("mean", torch.zeros(size, dtype=torch.float64))
        self.register_buffer("var", torch.ones(size, dtype=torch.float64))
        self.register_buffer("count", torch.tensor(1e-4, dtype=torch.float64))

    @torch.no_grad()
    def update(self, x: torch.Tensor) -> None:
        """Merge the statistics of a batch x (..., size) (parallel variance formula)."""
        x = x.reshape(-1, self.mean.shape[0])
        if x.shape[0] == 0:
            return
        b_var, b_mean = torch.var_mean(x, dim=0, unbiased=False)  # batch statistics in the input's precision
        self.merge(b_mean, b_var, x.shape[0])

    @torch.no_grad()
    def merge(self, b_mean: torch.Tensor, b_var: torch.Tensor, n: int | float) -> None:
        """Merge a batch's mean, (biased) variance and count, e.g. statistics gathered across processes."""
        b_var, b_mean = b_var.to(torch.float64), b_mean.to(torch.float64)
        delta, total = b_mean - self.mean, self.count + n
        m2 = self.var * self.count + b_var * n + delta.square() * self.count * n / total
        self.mean += delta * n / total
        self.var.copy_(m2 / total)
        self.count.fill_(total)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        std = torch.sqrt(self.var + self.eps).to(x.dtype)
        return torch.clamp((x - self.mean.to(x.dtype)) / std, -self.clip, self.clip)

    def denormalize(self, y: torch.Tensor) -> torch.Tensor:
        std = torch.sqrt(self.var + self.eps).to(y.dtype)
        return torch.clamp(y, -self.clip, self.clip) * std + self.mean.to(y.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.normalize(x)
