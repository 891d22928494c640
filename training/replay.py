"""Window buffers for the discriminator: the dataset (demo) buffer and the policy replay buffer.

The rows live on the trainer's device; the random draws come from the trainer's CPU generator (the same
numbers on every device) and their indices move to the device."""

from __future__ import annotations

import torch


class WindowBuffer:
    """A circular buffer of fixed-size rows (discriminator windows) with uniform sampling.

    `total` counts every row ever stored (ASE's replay policy depends on it).
    """

    def __init__(self, capacity: int, dim: int, device: torch.device | str = "cpu") -> None:
        self.data = torch.zeros(capacity, dim, dtype=torch.float32, device=device)
        self.capacity, self.head, self.size, self.total = capacity, 0, 0, 0

    def __len__(self) -> int:
        return self.size

    def store(self, rows: torch.Tensor) -> torch.Tensor:
        """Write rows at the head (wrapping around); returns the row indices they went to."""
        rows = rows[-self.capacity :]  # only the newest rows survive a wrap-around anyway
        n = rows.shape[0]
        idx = (self.head + torch.arange(n, device=self.data.device)) % self.capacity
        self.data[idx] = rows.to(self.data.device, torch.float32)
        self.head = (self.head + n) % self.capacity
        self.size = min(self.size + n, self.capacity)
        self.total += n
        return idx

    def sample_index(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """n uniform row indices (on the buffer's device) of the rows stored so far."""
        if self.size == 0:
            raise RuntimeError("sampling from an empty buffer")
        idx = torch.randint(0, self.size, (n,), generator=generator, device=generator.device)
        return idx.to(self.data.device)

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return self.data[self.sample_index(n, generator)]

    def state_dict(self) -> dict:
        return {"data": self.data[: self.size].clone(), "head": self.head, "total": self.total}

    def load_state_dict(self, state: dict) -> None:
        n = state["data"].shape[0]
        if n > self.capacity or state["data"].shape[1] != self.data.shape[1]:
            raise ValueError("buffer state does not fit this buffer's capacity / window size")
        self.data[:n] = state["data"].to(self.data.device)
        self.size, self.head, self.total = n, state["head"], state["total"]


class ReplayBuffer(WindowBuffer):
    """Policy windows: every window enters until `capacity` have ever been stored, then each with p = keep_prob."""

    def __init__(self, capacity: int, dim: int, keep_prob: float = 0.01, device: torch.device | str = "cpu") -> None:
        super().__init__(capacity, dim, device)
        self.keep_prob = keep_prob

    def add(self, rows: torch.Tensor, generator: torch.Generator) -> None:
        if self.total >= self.capacity:
            keep = torch.rand(rows.shape[0], generator=generator, device=generator.device) < self.keep_prob
            rows = rows[keep.to(rows.device)]
        if rows.shape[0]:
            self.store(rows)
