"""The per-environment latent schedule of ASE: resample z every 1-149 steps and at every episode start.

Latents and counters live on `device`; every draw comes from the (CPU) generator, then moves there."""

from __future__ import annotations

import torch

from controllers.networks import sample_latents


class LatentSchedule:
    def __init__(
        self,
        num_envs: int,
        dim: int,
        steps_min: int,
        steps_max: int,
        generator: torch.Generator,
        device: torch.device | str = "cpu",
    ) -> None:
        self.dim, self.steps_min, self.steps_max, self.gen = dim, steps_min, steps_max, generator
        self.device = torch.device(device)
        self.z = sample_latents(num_envs, dim, generator).to(self.device)
        self.remaining = self._intervals(num_envs)

    def _intervals(self, n: int) -> torch.Tensor:
        """n intervals, uniform in [steps_min, steps_max)."""
        steps = torch.randint(self.steps_min, self.steps_max, (n,), generator=self.gen, device=self.gen.device)
        return steps.to(self.device)

    def resample(self, mask: torch.Tensor) -> None:
        """New latent and a new interval for the envs in `mask`."""
        n = int(mask.sum())
        if n:
            self.z[mask] = sample_latents(n, self.dim, self.gen).to(self.device)
            self.remaining[mask] = self._intervals(n)

    def current(self) -> torch.Tensor:
        """The latents to act with this step (resampling the ones whose interval ran out); counts the step."""
        self.resample(self.remaining <= 0)
        self.remaining -= 1
        return self.z.clone()

    def state_dict(self) -> dict:
        return {"z": self.z.clone(), "remaining": self.remaining.clone()}

    def load_state_dict(self, state: dict) -> None:
        self.z = state["z"].to(self.device, copy=True)
        self.remaining = state["remaining"].to(self.device, copy=True)
