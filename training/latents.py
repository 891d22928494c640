"""The per-environment latent schedule of ASE: resample z every 1-149 steps and at every episode start."""

from __future__ import annotations

import torch

from controllers.networks import sample_latents


class LatentSchedule:
    def __init__(self, num_envs: int, dim: int, steps_min: int, steps_max: int, generator: torch.Generator) -> None:
        self.dim, self.steps_min, self.steps_max, self.gen = dim, steps_min, steps_max, generator
        self.z = sample_latents(num_envs, dim, generator)
        self.remaining = torch.randint(steps_min, steps_max, (num_envs,), generator=generator)

    def resample(self, mask: torch.Tensor) -> None:
        """New latent and a new interval (uniform in [steps_min, steps_max)) for the envs in `mask`."""
        n = int(mask.sum())
        if n:
            self.z[mask] = sample_latents(n, self.dim, self.gen)
            self.remaining[mask] = torch.randint(self.steps_min, self.steps_max, (n,), generator=self.gen)

    def current(self) -> torch.Tensor:
        """The latents to act with this step (resampling the ones whose interval ran out); counts the step."""
        self.resample(self.remaining <= 0)
        self.remaining -= 1
        return self.z.clone()

    def state_dict(self) -> dict:
        return {"z": self.z.clone(), "remaining": self.remaining.clone()}

    def load_state_dict(self, state: dict) -> None:
        self.z, self.remaining = state["z"].clone(), state["remaining"].clone()
