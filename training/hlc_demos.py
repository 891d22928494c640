"""An HLC's demonstrations (controllers/demos.py: HLC observations and the actions played on them): checked
against the run, the behaviour-cloning loss towards them, and `imitate`, the fit of the actor to them before PPO.
The PPO update's behaviour-cloning term (`bc_coef`) uses the same loss (training/hlc.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from training import distributed as D

if TYPE_CHECKING:
    from training.hlc import HLCConfig, HLCTrainer


class Demonstrations:
    """Demonstrated observations and action targets on `device`. The target of an action a is
    clamp(a, -0.95, 0.95): the environment clamps to [-1, 1] anyway, and tanh reaches +-0.95 at finite weights.
    ValueError when the demonstrations do not fit the run (task, sizes, LLC)."""

    def __init__(self, arrays: dict[str, np.ndarray], meta: dict, cfg: HLCConfig, env, device: torch.device) -> None:
        if meta.get("task") != cfg.task:
            raise ValueError(f"demonstrations of task {meta.get('task')!r}, this run trains {cfg.task!r}")
        if meta.get("obs_dim") != env.obs_dim or meta.get("action_dim") != env.action_dim:
            theirs, mine = (meta.get("obs_dim"), meta.get("action_dim")), (env.obs_dim, env.action_dim)
            raise ValueError(f"demonstrations observe and act in {theirs[0]} and {theirs[1]} numbers, this run "
                             f"{mine[0]} and {mine[1]}")  # fmt: skip
        sha = meta.get("llc_sha256", "")
        if cfg.llc_sha256 and sha and sha != cfg.llc_sha256:
            raise ValueError(f"demonstrations played on another LLC (sha256 {sha[:12]}, this run's is "
                             f"{cfg.llc_sha256[:12]})")  # fmt: skip
        self.obs = torch.as_tensor(arrays["obs"], dtype=torch.float32, device=device)
        self.target = torch.as_tensor(arrays["actions"], dtype=torch.float32, device=device).clamp(-0.95, 0.95)

    def __len__(self) -> int:
        return len(self.obs)

    def loss(self, actor: torch.nn.Module, obs_norm: torch.nn.Module, idx: torch.Tensor) -> torch.Tensor:
        """Mean over the demonstrations `idx` of |mean(s) - target|^2 (summed over the latent's dimensions)."""
        return (actor(obs_norm(self.obs[idx])) - self.target[idx]).square().sum(-1).mean()


def imitate(
    trainer: HLCTrainer,
    arrays: dict[str, np.ndarray],
    meta: dict,
    steps: int = 3000,
    lr: float = 1e-3,
    minibatch: int = 512,
    holdout: float = 0.1,
    norm_rollouts: int = 4,
) -> dict[str, float]:
    """Fit the actor's mean to demonstrations before PPO (behaviour cloning): the observation
    normalizer takes the statistics of `norm_rollouts` rollouts of the environment (as training will see it:
    without them, PPO's first updates move the normalizer under the fitted weights and undo the fit) and of
    the demonstrations, then Adam (its own, at `lr`) runs `steps` minibatches of `Demonstrations.loss`. A `holdout`
    fraction of the goals is kept out to report how well the fit carries to new goals (sequences that start
    from the same observation share a goal: the search plays every sequence of a goal from the same start).
    Returns the losses and the mean cosine between fitted and demonstrated latents. The critic is
    untouched: pair it with `critic_warmup`."""
    demos = trainer.demos = Demonstrations(arrays, meta, trainer.cfg, trainer.env, trainer.device)
    obs, target, episode = demos.obs, demos.target, np.asarray(arrays["episode"])
    gen = torch.Generator().manual_seed(trainer.cfg.seed + 7)
    n_eps = int(episode.max()) + 1
    first = np.flatnonzero(np.diff(episode, prepend=-1))  # each sequence's first step
    goal_of = np.unique(arrays["obs"][first], axis=0, return_inverse=True)[1].reshape(-1)  # per sequence
    n_goals = int(goal_of.max()) + 1
    held_goals = torch.randperm(n_goals, generator=gen)[: int(holdout * n_goals)].numpy()
    val = np.isin(episode, np.flatnonzero(np.isin(goal_of, held_goals)))
    fit_idx, val_idx = (torch.as_tensor(np.flatnonzero(m), device=trainer.device) for m in (~val, val))
    with torch.no_grad():
        for _ in range(norm_rollouts):
            D.update_norm(trainer.obs_norm, trainer.rollout()["obs"], trainer.dist)
        D.update_norm(trainer.obs_norm, obs, trainer.dist)
    opt = torch.optim.Adam(trainer.actor.parameters(), lr=lr)

    def measure(idx: torch.Tensor) -> tuple[float, float]:
        if not len(idx):
            return float("nan"), float("nan")
        with torch.no_grad():
            mean = trainer.actor(trainer.obs_norm(obs[idx]))
            loss = (mean - target[idx]).square().sum(-1).mean()
            cos = torch.nn.functional.cosine_similarity(mean.clamp(-1, 1), target[idx], dim=-1).mean()
        return float(loss), float(cos)

    done = 0
    while done < steps:  # epochs over the fitted sequences until `steps` minibatches
        perm = fit_idx[torch.randperm(len(fit_idx), generator=gen).to(trainer.device)]
        for start in range(0, len(perm), minibatch):
            if done == steps:
                break
            loss = demos.loss(trainer.actor, trainer.obs_norm, perm[start : start + minibatch])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            done += 1
    D.broadcast_parameters([trainer.actor, trainer.obs_norm], trainer.dist)
    (fit_loss, fit_cos), (val_loss, val_cos) = measure(fit_idx), measure(val_idx)
    return {"samples": len(obs), "sequences": n_eps, "goals": n_goals, "fit_loss": fit_loss, "fit_cos": fit_cos,
            "holdout_loss": val_loss, "holdout_cos": val_cos}  # fmt: skip
