"""ASE low-level controller networks: actor pi(a|s,z), critic V(s,z), discriminator + encoder.

Sizes come from `NetworkConfig`; `NetworkConfig.reference()` is ASE's (for GPUs), `NetworkConfig.cpu()` a
size that trains on two CPU cores. Inputs are already normalized observations (see controllers/normalizer.py);
the latent z (unit vector, 64-d) is never normalized.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from controllers.latents import sample_latents  # noqa: F401  (the one latent sampler; training imports it here)


@dataclass
class NetworkConfig:
    """Layer sizes of the four LLC networks; saved in every checkpoint so the runtime can rebuild them."""

    actor_hidden: tuple[int, ...] = (1024, 1024, 512)
    critic_hidden: tuple[int, ...] = (1024, 1024, 512)
    disc_hidden: tuple[int, ...] = (1024, 1024, 512)  # shared by discriminator and encoder
    style_hidden: tuple[int, ...] = (512, 256)  # the latent's own MLP inside the actor
    style_dim: int = 64  # its tanh output, concatenated with the observation
    latent_dim: int = 64
    action_log_std: float = -2.9  # fixed, not learned
    conditional: bool = False  # a skill LLC's discriminator: also a z-conditioned head (DiscEnc.cond_logit)

    @staticmethod
    def reference() -> NetworkConfig:
        return NetworkConfig()

    @staticmethod
    def cpu() -> NetworkConfig:
        return NetworkConfig(
            actor_hidden=(512, 256), critic_hidden=(512, 256), disc_hidden=(512, 256), style_hidden=(256, 128)
        )

    @staticmethod
    def from_dict(d: dict) -> NetworkConfig:
        d = dict(d)
        for k in ("actor_hidden", "critic_hidden", "disc_hidden", "style_hidden"):
            d[k] = tuple(d[k])
        return NetworkConfig(**d)


def mlp(sizes: list[int], act: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    """Linear + activation for each consecutive pair of sizes (activation after every layer), zero biases."""
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        lin = nn.Linear(a, b)
        nn.init.zeros_(lin.bias)
        layers += [lin, act()]
    return nn.Sequential(*layers)


def _uniform_(lin: nn.Linear, bound: float) -> nn.Linear:
    nn.init.uniform_(lin.weight, -bound, bound)
    nn.init.zeros_(lin.bias)
    return lin


class Actor(nn.Module):
    """Gaussian policy with fixed std: mean = W trunk([obs, tanh(style_mlp(z))])."""

    def __init__(self, obs_dim: int, action_dim: int, cfg: NetworkConfig) -> None:
        super().__init__()
        self.style = mlp([cfg.latent_dim, *cfg.style_hidden])
        self.style_out = _uniform_(nn.Linear(cfg.style_hidden[-1], cfg.style_dim), 1.0)
        self.trunk = mlp([obs_dim + cfg.style_dim, *cfg.actor_hidden])
        self.mean = nn.Linear(cfg.actor_hidden[-1], action_dim)
        nn.init.zeros_(self.mean.bias)
        self.log_std = cfg.action_log_std

    def forward(self, obs: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Action mean (unclipped) for normalized obs (n, obs_dim) and latents (n, latent_dim)."""
        s = torch.tanh(self.style_out(self.style(z)))
        return self.mean(self.trunk(torch.cat([obs, s], -1)))

    def log_prob(self, mean: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """Sum over action dims of the Gaussian log-density with the fixed std."""
        std = math.exp(self.log_std)
        return (-0.5 * ((actions - mean) / std).square() - self.log_std - 0.5 * math.log(2 * math.pi)).sum(-1)


class Critic(nn.Module):
    """V(s, z): predicts the normalized value (the trainer keeps the value's running statistics)."""

    def __init__(self, obs_dim: int, cfg: NetworkConfig) -> None:
        super().__init__()
        self.trunk = mlp([obs_dim + cfg.latent_dim, *cfg.critic_hidden])
        self.out = nn.Linear(cfg.critic_hidden[-1], 1)
        nn.init.zeros_(self.out.bias)

    def forward(self, obs: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.out(self.trunk(torch.cat([obs, z], -1))).squeeze(-1)


class DiscEnc(nn.Module):
    """Discriminator and skill encoder on a normalized window of AMP frames, sharing one trunk."""

    def __init__(self, amp_window_dim: int, cfg: NetworkConfig) -> None:
        super().__init__()
        self.trunk = mlp([amp_window_dim, *cfg.disc_hidden])
        self.logit = _uniform_(nn.Linear(cfg.disc_hidden[-1], 1), 1.0)
        self.enc = _uniform_(nn.Linear(cfg.disc_hidden[-1], cfg.latent_dim), 0.1)
        # skill LLCs: logit(x, z) = logit(x) + cond(h(x)) . z, zero at the start (a warm start is seamless)
        self.cond = nn.Linear(cfg.disc_hidden[-1], cfg.latent_dim, bias=False) if cfg.conditional else None
        if self.cond is not None:
            nn.init.zeros_(self.cond.weight)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(discriminator logit (n,), unit encoder mean (n, latent_dim))."""
        h = self.trunk(x)
        return self.logit(h).squeeze(-1), nn.functional.normalize(self.enc(h), dim=-1)

    def disc_logit(self, x: torch.Tensor) -> torch.Tensor:
        return self.logit(self.trunk(x)).squeeze(-1)

    def cond_residual(self, h: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """The conditional head's term cond(h) . z on trunk features h (n,); the conditional logit is the
        unconditional one plus this."""
        if self.cond is None:
            raise RuntimeError("this discriminator has no conditional head (NetworkConfig.conditional)")
        return (self.cond(h) * z).sum(-1)

    def cond_logit(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """The z-conditioned logit: does window x look like the skill whose latent is z?"""
        h = self.trunk(x)
        return self.logit(h).squeeze(-1) + self.cond_residual(h, z)

    def disc_weights(self) -> list[torch.Tensor]:
        """Weights (not biases) of every discriminator layer, logit included: the 1e-4 weight decay's target."""
        extra = [self.cond.weight] if self.cond is not None else []
        return [m.weight for m in self.trunk if isinstance(m, nn.Linear)] + [self.logit.weight] + extra


def style_reward(logit: torch.Tensor) -> torch.Tensor:
    """r_D = -log(max(1 - sigmoid(logit), 1e-4)) * 2 (ASE)."""
    return -torch.log(torch.clamp(1.0 - torch.sigmoid(logit), min=1e-4)) * 2.0


def encoder_reward(enc_mu: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """r_E = max(mu . z, 0)."""
    return torch.clamp((enc_mu * z).sum(-1), min=0.0)
