"""The math of ASE's LLC update, one small function per formula (docs/method.md, "Low-level controller (LLC)"
and "PPO")."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    next_values: torch.Tensor,
    terminated: torch.Tensor,
    done: torch.Tensor,
    gamma: float,
    lam: float,
) -> torch.Tensor:
    """Generalized advantage estimates, all inputs (T, N).

    next_values[t] = V(s_{t+1}) of the state the step ended in (before any reset), so timeouts bootstrap;
    it is zeroed only where the step ended in a fall (`terminated`). The recursion is cut at every
    episode end (`done`).
    """
    adv = torch.zeros_like(rewards)
    last = torch.zeros_like(rewards[0])
    not_term, not_done = 1.0 - terminated.float(), 1.0 - done.float()
    for t in reversed(range(rewards.shape[0])):
        delta = rewards[t] + gamma * next_values[t] * not_term[t] - values[t]
        last = delta + gamma * lam * not_done[t] * last
        adv[t] = last
    return adv


def masked_mean(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    if mask is None:
        return x.mean()
    m = mask.to(x.dtype)
    return (x * m).sum() / m.sum().clamp(min=1.0)


def normalize_advantages(adv: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """(adv - mean) / (std + 1e-8), statistics over the masked (stochastic) samples only."""
    mean = masked_mean(adv, mask)
    var = masked_mean((adv - mean).square(), mask)
    return (adv - mean) / (var.sqrt() + 1e-8)


def ppo_actor_loss(
    new_logp: torch.Tensor, old_logp: torch.Tensor, adv: torch.Tensor, clip: float, mask: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Clipped surrogate -min(r A, clip(r, 1-e, 1+e) A); returns (loss, clip fraction)."""
    ratio = torch.exp(new_logp - old_logp)
    surrogate = torch.minimum(ratio * adv, torch.clamp(ratio, 1.0 - clip, 1.0 + clip) * adv)
    clipped = ((ratio - 1.0).abs() > clip).float()
    return masked_mean(-surrogate, mask), masked_mean(clipped, mask)


def value_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Unclipped MSE (on normalized values)."""
    return (pred - target).square().mean()


def bound_loss(mean: torch.Tensor, mask: torch.Tensor | None = None, bound: float = 1.0) -> torch.Tensor:
    """sum_j max(mu_j - 1, 0)^2 + min(mu_j + 1, 0)^2, averaged over samples."""
    per = (F.relu(mean - bound).square() + F.relu(-bound - mean).square()).sum(-1)
    return masked_mean(per, mask)


def disc_bce(agent_logits: torch.Tensor, demo_logits: torch.Tensor) -> torch.Tensor:
    """0.5 * (BCE(policy windows, 0) + BCE(dataset windows, 1))."""
    agent = F.binary_cross_entropy_with_logits(agent_logits, torch.zeros_like(agent_logits))
    demo = F.binary_cross_entropy_with_logits(demo_logits, torch.ones_like(demo_logits))
    return 0.5 * (agent + demo)


def gradient_penalty(logits: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """E[||d logit / d x||^2] w.r.t. the (normalized) inputs, which must require grad; differentiable."""
    (grad,) = torch.autograd.grad(logits.sum(), inputs, create_graph=True)
    return grad.float().square().sum(-1).mean()


def weights_sq(weights: list[torch.Tensor]) -> torch.Tensor:
    return sum(w.square().sum() for w in weights)


def encoder_loss(enc_mu: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """mean(-mu . z): the von Mises-Fisher log-likelihood of the rollout latent, up to scale."""
    return -(enc_mu * z).sum(-1).mean()


def diversity_loss(
    mean: torch.Tensor, mean_new: torch.Tensor, z: torch.Tensor, z_new: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """(1 - D)^2 with D = mean_j (clip(mu) - clip(mu'))^2 / (0.5 (1 - z . z') + 1e-5)."""
    a_diff = (mean.clamp(-1.0, 1.0) - mean_new.clamp(-1.0, 1.0)).square().mean(-1)
    z_diff = 0.5 * (1.0 - (z * z_new).sum(-1))
    ratio = a_diff / (z_diff + 1e-5)
    return masked_mean((1.0 - ratio).square(), mask)


def eps_greedy_probs(n: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """Per-env probability of acting stochastically: 1 - exp(10 (i / (n - 1) - 1))."""
    i = torch.arange(n, dtype=torch.float64, device=device)
    return (1.0 - torch.exp(10.0 * (i / max(n - 1, 1) - 1.0))).float()
