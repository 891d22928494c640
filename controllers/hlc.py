"""ASE high-level controller networks: omega(z_bar | s, g) and its critic, and the HLC for inference.

The actor is a Gaussian with a tanh mean and a fixed std exp(-2.3) ~ 0.1 over a 64-d z_bar; the latent the
frozen LLC receives is the sample clamped to [-1, 1] and normalized onto the unit sphere
(`sim.control.latent_from_action`). Network 1024 -> 512 (ReLU) for actor and critic (docs/method.md, "Task
controllers (HLC)"); `cpu()` is a smaller size for CPU training. Inputs are normalized observations: the LLC's
policy observation followed by the task's goal observation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from controllers.networks import mlp
from sim.control import latent_from_action


@dataclass
class HLCNetworkConfig:
    actor_hidden: tuple[int, ...] = (1024, 512)
    critic_hidden: tuple[int, ...] = (1024, 512)
    latent_dim: int = 64
    action_log_std: float = -2.3  # fixed, not learned

    @staticmethod
    def reference() -> HLCNetworkConfig:
        return HLCNetworkConfig()

    @staticmethod
    def cpu() -> HLCNetworkConfig:
        return HLCNetworkConfig(actor_hidden=(512, 256), critic_hidden=(512, 256))

    @staticmethod
    def from_dict(d: dict) -> HLCNetworkConfig:
        d = dict(d)
        for k in ("actor_hidden", "critic_hidden"):
            d[k] = tuple(d[k])
        return HLCNetworkConfig(**d)


class HLCActor(nn.Module):
    """mean = tanh(W trunk(obs)); Gaussian with the fixed std exp(action_log_std)."""

    def __init__(self, obs_dim: int, cfg: HLCNetworkConfig) -> None:
        super().__init__()
        self.trunk = mlp([obs_dim, *cfg.actor_hidden])
        self.mean = nn.Linear(cfg.actor_hidden[-1], cfg.latent_dim)
        nn.init.zeros_(self.mean.bias)
        self.log_std = cfg.action_log_std

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.mean(self.trunk(obs)))

    def log_prob(self, mean: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        std = math.exp(self.log_std)
        return (-0.5 * ((actions - mean) / std).square() - self.log_std - 0.5 * math.log(2 * math.pi)).sum(-1)


class HLCCritic(nn.Module):
    """V(s, g): predicts the normalized value."""

    def __init__(self, obs_dim: int, cfg: HLCNetworkConfig) -> None:
        super().__init__()
        self.trunk = mlp([obs_dim, *cfg.critic_hidden])
        self.out = nn.Linear(cfg.critic_hidden[-1], 1)
        nn.init.zeros_(self.out.bias)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.out(self.trunk(obs)).squeeze(-1)


class HLCPolicy:
    """A trained task controller for inference: act(obs (n, obs_dim)) -> unit latents (n, latent_dim), numpy.

    `obs` is the policy observation followed by the goal observation (tasks.env.TaskEnv.observe). `meta` holds
    the checkpoint's task, task config, goal layout and the SHA-256 of the LLC it was trained with."""

    def __init__(self, ckpt: dict) -> None:
        from controllers.normalizer import RunningNorm

        self.task: str = ckpt["task"]
        self.task_config: dict = ckpt.get("task_config", {})
        self.goal_layout: dict = ckpt.get("goal_layout", {})
        self.character: str = ckpt["character"]
        self.obs_dim: int = ckpt["obs_dim"]
        self.latent_dim: int = ckpt["latent_dim"]
        self.llc: dict = ckpt["llc"]
        self.config: dict = ckpt.get("config", {})
        self.network = HLCNetworkConfig.from_dict(ckpt["network"])
        self.actor = HLCActor(self.obs_dim, self.network)
        self.obs_norm = RunningNorm(self.obs_dim)
        self.actor.load_state_dict(ckpt["actor"])
        self.obs_norm.load_state_dict(ckpt["obs_norm"])
        self.actor.eval()
        self._rng = np.random.default_rng()

    @torch.no_grad()
    def action_mean(self, obs: np.ndarray) -> np.ndarray:
        """(n, latent_dim) the actor's tanh mean, before the clamp and the projection onto the sphere."""
        x = torch.as_tensor(np.asarray(obs, dtype=np.float32)).reshape(-1, self.obs_dim)
        return self.actor(self.obs_norm(x)).numpy()

    def act(self, obs: np.ndarray, deterministic: bool = True) -> np.ndarray:
        a = self.action_mean(obs)
        if not deterministic:
            a = a + math.exp(self.network.action_log_std) * self._rng.standard_normal(a.shape).astype(np.float32)
        return latent_from_action(a)
