"""ASE high-level controller (task) training: PPO over unit latents for a frozen LLC, readable top to bottom.

One iteration =
  1. rollout: `horizon` HLC steps of all environments (tasks.env.TaskEnv): the actor's Gaussian sample
     (tanh mean, fixed std exp(-2.3)) is clamped and normalized into the latent the frozen LLC holds for 5 LLC
     steps; reward 0.9 task + 0.1 frozen style reward, averaged over those steps;
  2. values and bootstrap values of the whole batch; GAE (gamma 0.99 per HLC step, lambda 0.95);
  3. update: `epochs` x minibatches of L = L_ppo + critic_coef * L_critic (value normalization on), one Adam
     optimizer over actor and critic.
The PPO plumbing (value normalization, RNG state, progress bar, TensorBoard, checkpoints, Ctrl-C) is shared
with the LLC trainer: training/ppo.py; the formulas: training/losses.py. Method: docs/method.md, "Task
controllers (HLC)".
As in the LLC trainer, networks, optimizer state, rollout storage and the update live on the trainer's `device`,
and random draws come from the CPU generator. The environment (with the frozen LLC inside it) is numpy, or, with
`TaskEnvConfig.device_arrays` (MuJoCo Warp), torch tensors on the physics device that the rollout takes as they
are: no host copy per step.

Presets: `reference` is ASE's (4096 environments, horizon 32, minibatch 16384, 6 epochs, lr 2e-5, networks
1024-512). `cpu` trains on one or two cores: 64 environments (each HLC sample costs 5 LLC steps of physics),
minibatch 1024 (2 per epoch), 4 epochs, networks 512-256, the reference's lr 2e-5: with a fixed std of 0.1 over
64 dimensions the PPO ratio is sensitive to the mean (measured on the humanoid: lr 1e-4 clipped ~50% of the
samples in every update, 5e-5 ~35%, 2e-5 ~15%).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch

from controllers.checkpoint import check_compatible, hlc_checkpoint, read_checkpoint, save_atomic
from controllers.hlc import HLCActor, HLCCritic, HLCNetworkConfig
from controllers.normalizer import RunningNorm
from sim.control import HLC_HOLD_STEPS
from training import distributed as D
from training import losses as L
from training import ppo
from training.ppo import PPOConfig, nest_ppo


@dataclass
class HLCConfig:
    """Everything the HLC trainer needs; defaults are the ASE reference values."""

    # run
    preset: str = "reference"
    task: str = "steering"
    task_config: dict = field(default_factory=dict)  # overrides of the task's config (tasks/<task>.py)
    llc: str = ""  # the frozen LLC checkpoint
    llc_sha256: str = ""  # filled in by the trainer
    character: str = "humanoid"
    seed: int = 0
    num_envs: int = 4096
    total_samples: int = 500_000_000  # HLC samples (each 5 LLC steps); a budget, not a figure of the reference
    torch_threads: int = 0  # 0: leave torch's default
    out_dir: str = "runs/hlc"
    checkpoint_every: int = 50
    # task environment
    llc_steps: int = HLC_HOLD_STEPS
    task_weight: float = 0.9
    style_weight: float = 0.1
    episode_steps: int = 300  # LLC steps
    ppo: PPOConfig = field(default_factory=PPOConfig)  # gamma and lambda per HLC step
    network: HLCNetworkConfig = field(default_factory=HLCNetworkConfig.reference)
    init_from: str = ""  # the other task's controller this run started from (`HLCTrainer.warm_start`), if any
    critic_warmup: int = 0  # first iterations that fit only the critic (warm starts: its values are another task's)
    demos: list[str] = field(default_factory=list)  # the demonstration files the actor was first fitted to
    bc_coef: float = 0.0  # weight of the behaviour-cloning term on the demonstrations in the PPO loss
    bc_anneal: float = 0.0  # samples over which bc_coef falls linearly to 0 (0: constant)

    @property
    def batch_size(self) -> int:
        return self.num_envs * self.ppo.horizon

    def validate(self) -> None:
        if self.num_envs < 1:
            raise ValueError("num_envs must be at least 1")
        mb = self.ppo.minibatch_size
        if mb > self.batch_size or self.batch_size % mb:
            raise ValueError(f"minibatch_size {mb} must divide num_envs*horizon = {self.batch_size}")
        if self.llc_steps < 1:
            raise ValueError("llc_steps must be at least 1")

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict) -> HLCConfig:
        """A config from its checkpoint dict, with PPO's settings flat (written before PPOConfig) or not."""
        d = nest_ppo(d)
        d = {k: v for k, v in d.items() if k in {f.name for f in fields(HLCConfig)}}
        d["network"] = HLCNetworkConfig.from_dict(d.get("network", {}))
        return HLCConfig(**d)

    def env_config(self, nthread: int = 1, backend: str = "cpu", device_arrays: bool = False):
        """The task environment's config; `backend`: the physics (--device: cpu, cuda[:K], warp-cpu);
        `device_arrays`: keep its arrays on the physics device (Warp backends)."""
        from tasks.env import TaskEnvConfig

        return TaskEnvConfig(
            task=self.task, task_config=dict(self.task_config), num_envs=self.num_envs, seed=self.seed,
            nthread=nthread, backend=backend, llc_steps=self.llc_steps, task_weight=self.task_weight,
            style_weight=self.style_weight, episode_steps=self.episode_steps, device_arrays=device_arrays,
        )  # fmt: skip


def goal_position(task: str) -> str | None:
    """The goal slice of `task` that starts with the goal's position relative to the root in the heading frame
    (x, y), the task's `goal_position` (None: none, or a task no longer registered): what a warm start carries
    from one task to another."""
    from tasks import TASKS

    return TASKS[task][0].goal_position if task in TASKS else None


def goal_slice_start(layout: dict, name: str | None) -> int | None:
    """Where the goal slice `name` starts in a goal layout (tasks.common.goal_layout), None if absent."""
    return next((s["start"] for s in layout["slices"] if s["name"] == name), None) if name else None


def shared_goal_slices(src: dict, dst: dict) -> dict[str, tuple[int, int, int]]:
    """The goal inputs two tasks' layouts share, as {name: (start in src, start in dst, size)}: slices of the
    same name, size, frame and units (steering's target direction and speed are speed's whole goal), and the
    goal position relative to the root (x, y) where both observe one (`goal_position`), named 'a -> b'."""
    out: dict[str, tuple[int, int, int]] = {}
    theirs = {s["name"]: s for s in src["slices"]}
    for mine in dst["slices"]:
        other = theirs.get(mine["name"])
        if other and all(other[k] == mine[k] for k in ("size", "frame", "units")):
            out[mine["name"]] = (other["start"], mine["start"], mine["size"])
    names = goal_position(src["task"]), goal_position(dst["task"])
    src_xy, dst_xy = goal_slice_start(src, names[0]), goal_slice_start(dst, names[1])
    if src_xy is not None and dst_xy is not None and names[0] not in out:
        out[f"{names[0]} -> {names[1]}" if names[0] != names[1] else names[0]] = (src_xy, dst_xy, 2)
    return out


def reference_preset(**overrides) -> HLCConfig:
    """ASE's sizes and hyperparameters; overrides may name PPO's settings flat (`lr=...`)."""
    return HLCConfig(**nest_ppo({"preset": "reference", **overrides}))


def cpu_preset(**overrides) -> HLCConfig:
    base = dict(
        preset="cpu", num_envs=64, total_samples=10_000_000, torch_threads=1, minibatch_size=1024, epochs=4,
        lr=5e-5, checkpoint_every=20, network=HLCNetworkConfig.cpu(),
    )  # fmt: skip
    # 10M samples, lr 5e-5: what the first location and steering runs needed (docs/campaign.md); the task reward stays
    # flat for the first ~3M, so a shorter default would stop inside that stretch
    base.update(overrides)
    return HLCConfig(**nest_ppo(base))


PRESETS = {"reference": reference_preset, "cpu": cpu_preset}


class HLCTrainer:
    def __init__(self, cfg: HLCConfig, env, device: torch.device | str = "cpu", dist: D.DistInfo | None = None) -> None:
        """`env` follows tasks.env.TaskEnv's interface: num_envs, obs_dim, action_dim, reset(), step(actions) ->
        (obs, final_obs, reward, terminated, done, info), get_state(), set_state(). `device`: where the networks,
        rollout storage and update run. `dist`: this process's rank under torchrun (training/distributed.py), as
        in the LLC trainer; its env should be seeded by rank."""
        cfg.validate()
        if env.num_envs != cfg.num_envs:
            raise ValueError(f"environment has {env.num_envs} envs, config says {cfg.num_envs}")
        if env.action_dim != cfg.network.latent_dim:
            raise ValueError(
                f"the LLC takes {env.action_dim}-d latents, the HLC network makes {cfg.network.latent_dim}"
            )
        self.cfg, self.env = cfg, env
        if cfg.torch_threads:
            torch.set_num_threads(cfg.torch_threads)
        self.device = dev = torch.device(device)
        self.dist = dist or D.DistInfo()
        if self.dist.device.startswith("cuda") and torch.device(self.dist.device) != dev:
            raise ValueError(f"NCCL collectives run on {self.dist.device}: the networks must be there, not on {dev}")
        torch.manual_seed(cfg.seed)  # network initialization, the same on every rank
        rank_seed = cfg.seed + D.RANK_SEED_STRIDE * self.dist.rank
        self.gen = torch.Generator().manual_seed(rank_seed + 1)  # action noise, minibatches (CPU; goals: the env's)

        with torch.device("cpu"):  # initialized by the CPU generator: the same weights on every device
            self.actor = HLCActor(env.obs_dim, cfg.network).to(dev)
            self.critic = HLCCritic(env.obs_dim, cfg.network).to(dev)
            self.obs_norm = RunningNorm(env.obs_dim).to(dev)
            self.value_norm = RunningNorm(1).to(dev)
        self.params = [*self.actor.parameters(), *self.critic.parameters()]
        self.optimizer = torch.optim.Adam(self.params, lr=cfg.ppo.lr, eps=cfg.ppo.adam_eps)
        D.broadcast_parameters([self.actor, self.critic, self.obs_norm, self.value_norm], self.dist)
        self.action_std = math.exp(cfg.network.action_log_std)

        self.env_tensors = env.xp is not np  # a TaskEnv with device arrays
        self.obs = torch.as_tensor(env.reset(), device=dev)
        self.iteration, self.global_step = 0, 0
        self.on_env_step: Callable[[], None] | None = None
        self.demo_obs: torch.Tensor | None = None  # demonstrations (set_demos), for imitate and the BC term

    # ------------------------------------------------------------------ warm start
    @torch.no_grad()
    def warm_start(self, path: str | Path) -> str:
        """Start from another task's controller on the same LLC (its checkpoint.pt, or an hlc.pt for the actor
        alone): every weight is copied, except that the first layers' goal columns are rebuilt for this task
        (a controller of the same task, with the same goal layout, carries over whole).
        The LLC observation columns carry over one to one, and so do the goal inputs both tasks observe
        (`shared_goal_slices`: the same named slice, or the goal position relative to the root in the heading
        frame); this task's other goal columns start at zero. The observation normalizer is copied for the
        columns that carry over (with its count, so that they stay put) and starts at mean 0, variance 1 for the
        rest (this task's goal inputs are of order 1). Returns what was copied, in one line; ValueError when
        the controllers do not fit.
        Pair it with `critic_warmup` iterations when the critic comes too: its values are the other task's."""
        ckpt = read_checkpoint(path, "hlc")
        check_compatible(ckpt, path, self.cfg.character, None)
        src_sha = ckpt["llc"]["sha256"]
        if self.cfg.llc_sha256 and src_sha != self.cfg.llc_sha256:
            raise ValueError(f"{path}: trained on another LLC (sha256 {src_sha[:12]}, this run's is "
                             f"{self.cfg.llc_sha256[:12]}); a warm start needs the same frozen LLC")  # fmt: skip
        src_net = HLCNetworkConfig.from_dict(ckpt["network"])
        if (src_net.actor_hidden, src_net.critic_hidden, src_net.latent_dim) != (
            self.cfg.network.actor_hidden,
            self.cfg.network.critic_hidden,
            self.cfg.network.latent_dim,
        ):
            mine = self.cfg.network
            raise ValueError(f"{path}: networks {src_net.actor_hidden}/{src_net.critic_hidden}, this run "
                             f"{mine.actor_hidden}/{mine.critic_hidden} (--hidden)")  # fmt: skip
        src_goal, dst_goal = ckpt["goal_layout"], self.env.task.goal_layout()
        proprio = ckpt["obs_dim"] - src_goal["size"]
        if proprio != self.env.obs_dim - dst_goal["size"]:
            mine = self.env.obs_dim - dst_goal["size"]
            raise ValueError(f"{path}: observes {proprio} LLC numbers, this environment {mine}")
        src_cols, dst_cols = list(range(proprio)), list(range(proprio))
        shared = ""
        if src_goal == dst_goal:  # the same task: every goal column carries over
            src_cols = dst_cols = list(range(self.env.obs_dim))
            shared = " and the whole goal"
        else:
            pairs = shared_goal_slices(src_goal, dst_goal)
            for src_start, dst_start, size in pairs.values():
                src_cols += range(proprio + src_start, proprio + src_start + size)
                dst_cols += range(proprio + dst_start, proprio + dst_start + size)
            if pairs:
                shared = f" and the goal's {', '.join(pairs)}"
        nets = [("actor", self.actor, None), ("critic", self.critic, "value_norm")]
        copied = []
        for name, net, norm in nets:
            if name not in ckpt:
                continue
            state = dict(ckpt[name])
            first = state["trunk.0.weight"]
            w = torch.zeros(first.shape[0], self.env.obs_dim, dtype=first.dtype)
            w[:, dst_cols] = first[:, src_cols]
            state["trunk.0.weight"] = w
            net.load_state_dict(state)
            if norm is not None:
                getattr(self, norm).load_state_dict(ckpt[norm])
            copied.append(name)
        src_norm, norm = ckpt["obs_norm"], self.obs_norm
        norm.mean.zero_(), norm.var.fill_(1.0)
        norm.mean[dst_cols] = src_norm["mean"][src_cols].to(norm.mean)
        norm.var[dst_cols] = src_norm["var"][src_cols].to(norm.var)
        norm.count.copy_(src_norm["count"].to(norm.count))
        D.broadcast_parameters([self.actor, self.critic, self.obs_norm, self.value_norm], self.dist)
        self.cfg.init_from = str(path)
        return f"started from {path} ({ckpt['task']}): {' and '.join(copied)}, the LLC observation{shared}"

    # ------------------------------------------------------------------ behaviour cloning
    def set_demos(self, arrays: dict[str, np.ndarray], meta: dict) -> None:
        """Hold demonstrations (controllers/demos.py: HLC observations and the actions played on them) for
        `imitate` and for the PPO update's behaviour-cloning term (`bc_coef`). The target of an action a is
        clamp(a, -0.95, 0.95): the environment clamps to [-1, 1] anyway, and tanh reaches +-0.95 at finite
        weights. ValueError when the demonstrations do not fit this run (task, sizes, LLC)."""
        cfg, dev = self.cfg, self.device
        if meta.get("task") != cfg.task:
            raise ValueError(f"demonstrations of task {meta.get('task')!r}, this run trains {cfg.task!r}")
        if meta.get("obs_dim") != self.env.obs_dim or meta.get("action_dim") != self.env.action_dim:
            theirs, mine = (meta.get("obs_dim"), meta.get("action_dim")), (self.env.obs_dim, self.env.action_dim)
            raise ValueError(f"demonstrations observe and act in {theirs[0]} and {theirs[1]} numbers, this run "
                             f"{mine[0]} and {mine[1]}")  # fmt: skip
        sha = meta.get("llc_sha256", "")
        if cfg.llc_sha256 and sha and sha != cfg.llc_sha256:
            raise ValueError(f"demonstrations played on another LLC (sha256 {sha[:12]}, this run's is "
                             f"{cfg.llc_sha256[:12]})")  # fmt: skip
        self.demo_obs = torch.as_tensor(arrays["obs"], dtype=torch.float32, device=dev)
        self.demo_target = torch.as_tensor(arrays["actions"], dtype=torch.float32, device=dev).clamp(-0.95, 0.95)

    def demo_loss(self, idx: torch.Tensor) -> torch.Tensor:
        """Mean over the demonstrations `idx` of |mean(s) - target|^2 (summed over the latent's dimensions)."""
        return (self.actor(self.obs_norm(self.demo_obs[idx])) - self.demo_target[idx]).square().sum(-1).mean()

    def imitate(
        self,
        arrays: dict[str, np.ndarray],
        meta: dict,
        steps: int = 3000,
        lr: float = 1e-3,
        minibatch: int = 512,
        holdout: float = 0.1,
        norm_rollouts: int = 4,
    ) -> dict[str, float]:
        """Fit the actor's mean to demonstrations before PPO (behaviour cloning, `set_demos`): the observation
        normalizer takes the statistics of `norm_rollouts` rollouts of the environment (as training will see it:
        without them, PPO's first updates move the normalizer under the fitted weights and undo the fit) and of
        the demonstrations, then Adam (its own, at `lr`) runs `steps` minibatches of `demo_loss`. A `holdout`
        fraction of the goals is kept out to report how well the fit carries to new goals (sequences that start
        from the same observation share a goal: the search plays every sequence of a goal from the same start).
        Returns the losses and the mean cosine between fitted and demonstrated latents. The critic is
        untouched: pair it with `critic_warmup`."""
        self.set_demos(arrays, meta)
        obs, target, episode = self.demo_obs, self.demo_target, np.asarray(arrays["episode"])
        gen = torch.Generator().manual_seed(self.cfg.seed + 7)
        n_eps = int(episode.max()) + 1
        first = np.flatnonzero(np.diff(episode, prepend=-1))  # each sequence's first step
        goal_of = np.unique(arrays["obs"][first], axis=0, return_inverse=True)[1].reshape(-1)  # per sequence
        n_goals = int(goal_of.max()) + 1
        held_goals = torch.randperm(n_goals, generator=gen)[: int(holdout * n_goals)].numpy()
        val = np.isin(episode, np.flatnonzero(np.isin(goal_of, held_goals)))
        fit_idx, val_idx = (torch.as_tensor(np.flatnonzero(m), device=self.device) for m in (~val, val))
        with torch.no_grad():
            for _ in range(norm_rollouts):
                D.update_norm(self.obs_norm, self.rollout()["obs"], self.dist)
            D.update_norm(self.obs_norm, obs, self.dist)
        opt = torch.optim.Adam(self.actor.parameters(), lr=lr)

        def measure(idx: torch.Tensor) -> tuple[float, float]:
            if not len(idx):
                return float("nan"), float("nan")
            with torch.no_grad():
                mean = self.actor(self.obs_norm(obs[idx]))
                loss = (mean - target[idx]).square().sum(-1).mean()
                cos = torch.nn.functional.cosine_similarity(mean.clamp(-1, 1), target[idx], dim=-1).mean()
            return float(loss), float(cos)

        done = 0
        while done < steps:  # epochs over the fitted sequences until `steps` minibatches
            perm = fit_idx[torch.randperm(len(fit_idx), generator=gen).to(self.device)]
            for start in range(0, len(perm), minibatch):
                if done == steps:
                    break
                loss = self.demo_loss(perm[start : start + minibatch])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                done += 1
        D.broadcast_parameters([self.actor, self.obs_norm], self.dist)
        (fit_loss, fit_cos), (val_loss, val_cos) = measure(fit_idx), measure(val_idx)
        return {"samples": len(obs), "sequences": n_eps, "goals": n_goals, "fit_loss": fit_loss, "fit_cos": fit_cos,
                "holdout_loss": val_loss, "holdout_cos": val_cos}  # fmt: skip

    def bc_weight(self) -> float:
        """The behaviour-cloning term's weight in the PPO loss now: `bc_coef`, falling linearly to 0 over
        `bc_anneal` samples (0: constant); 0 without demonstrations."""
        cfg = self.cfg
        if cfg.bc_coef <= 0 or self.demo_obs is None:
            return 0.0
        if cfg.bc_anneal <= 0:
            return cfg.bc_coef
        return cfg.bc_coef * max(0.0, 1.0 - self.global_step / cfg.bc_anneal)

    # ------------------------------------------------------------------ rollout
    @torch.no_grad()
    def rollout(self) -> dict:
        T, N, env, dev = self.cfg.ppo.horizon, self.cfg.num_envs, self.env, self.device
        buf = {
            "obs": torch.zeros(T, N, env.obs_dim, device=dev),
            "final_obs": torch.zeros(T, N, env.obs_dim, device=dev),
            "actions": torch.zeros(T, N, env.action_dim, device=dev),
            "logp": torch.zeros(T, N, device=dev),
            "rewards": torch.zeros(T, N, device=dev),
            "terminated": torch.zeros(T, N, dtype=torch.bool, device=dev),
            "done": torch.zeros(T, N, dtype=torch.bool, device=dev),
        }
        task_r, style_r, success, failed, lengths = [], [], [], [], []  # per-step tensors: one host sync per rollout
        for t in range(T):
            mean = self.actor(self.obs_norm(self.obs))
            noise = torch.randn(mean.shape, generator=self.gen, device=self.gen.device).to(dev)  # CPU draws
            actions = mean + noise * self.action_std
            # the environment clamps and normalizes onto the sphere
            res = env.step(actions if self.env_tensors else actions.cpu().numpy())
            if self.on_env_step is not None:
                self.on_env_step()
            buf["obs"][t], buf["actions"][t] = self.obs, actions
            buf["logp"][t] = self.actor.log_prob(mean, actions)
            buf["rewards"][t] = torch.as_tensor(res.reward, dtype=torch.float32, device=dev)
            buf["final_obs"][t] = torch.as_tensor(res.final_obs, device=dev)
            buf["terminated"][t] = torch.as_tensor(res.terminated, device=dev)
            buf["done"][t] = torch.as_tensor(res.done, device=dev)
            self.obs = torch.as_tensor(res.obs, device=dev)
            for out, name in zip(
                (task_r, style_r, success, failed), ("task_reward", "style_reward", "success", "failed")
            ):
                out.append(torch.as_tensor(res.info[name], device=dev).double().mean())
            lengths.append(torch.as_tensor(res.info.get("episode_lengths", []), device=dev).reshape(-1).double())
        done = int(buf["done"].sum())
        ended = torch.cat(lengths)
        buf["stats"] = {
            "reward/total": buf["rewards"].mean().item(),
            "reward/task": torch.stack(task_r).mean().item(),
            "reward/style": torch.stack(style_r).mean().item(),
            "task/success": torch.stack(success).mean().item(),
            "task/failed": torch.stack(failed).mean().item(),  # the task's own failures (strike: illegal contact)
            "episode/length": ended.mean().item() if len(ended) else float("nan"),  # LLC steps
            "episode/termination_rate": int(buf["terminated"].sum()) / max(done, 1),
        }
        return buf

    @torch.no_grad()
    def compute_advantages(self, buf: dict) -> None:
        cfg, flat = self.cfg.ppo, lambda x: x.reshape(-1, x.shape[-1])
        T, N = buf["rewards"].shape
        values = ppo.critic_values(self.value_norm, self.critic(self.obs_norm(flat(buf["obs"]))), cfg.normalize_value)
        next_values = self.critic(self.obs_norm(flat(buf["final_obs"])))
        next_values = ppo.critic_values(self.value_norm, next_values, cfg.normalize_value)
        values, next_values = values.reshape(T, N), next_values.reshape(T, N)
        adv = L.gae(buf["rewards"], values, next_values, buf["terminated"], buf["done"], cfg.gamma, cfg.gae_lambda)
        buf.update(values=values, advantages=adv, returns=adv + values)

    # ------------------------------------------------------------------ update
    def update(self, buf: dict) -> dict[str, float]:
        cfg, B = self.cfg, self.cfg.batch_size
        obs, actions, old_logp = buf["obs"].reshape(B, -1), buf["actions"].reshape(B, -1), buf["logp"].reshape(B)
        adv = ppo.normalize_advantages(buf["advantages"].reshape(B), self.dist)
        returns_n = ppo.value_targets(self.value_norm, buf["returns"].reshape(B, 1), cfg.ppo.normalize_value, self.dist)

        sums: dict[str, torch.Tensor] = {}
        count = 0
        for _epoch in range(cfg.ppo.epochs):
            perm = torch.randperm(B, generator=self.gen, device=self.gen.device).to(self.device)
            for start in range(0, B, cfg.ppo.minibatch_size):
                idx = perm[start : start + cfg.ppo.minibatch_size]
                mb = {"obs": obs[idx], "actions": actions[idx], "old_logp": old_logp[idx], "adv": adv[idx],
                      "returns_n": returns_n[idx]}  # fmt: skip
                loss, mb_stats = self.minibatch_loss(mb)
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                D.average_gradients(self.params, self.dist)  # every rank steps with the all-rank gradient
                self.optimizer.step()
                for name, val in mb_stats.items():  # float64 sums on the device: no host sync per minibatch
                    sums[name] = sums.get(name, 0.0) + val.detach().double()
                count += 1
        return {name: float(s) / count for name, s in sums.items()}

    def minibatch_loss(self, mb: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """L = L_ppo + critic_coef L_critic on one minibatch (this rank's part of it under torchrun: both terms
        are means over samples, so averaging the ranks' gradients gives the whole minibatch's gradient).
        Updates the observation normalizer with the minibatch first (all ranks' statistics)."""
        D.update_norm(self.obs_norm, mb["obs"], self.dist)
        o = self.obs_norm(mb["obs"])
        new_logp = self.actor.log_prob(self.actor(o), mb["actions"])
        actor_loss, clip_frac = L.ppo_actor_loss(new_logp, mb["old_logp"], mb["adv"], self.cfg.ppo.clip)
        critic_loss = L.value_loss(self.critic(o), mb["returns_n"])
        actor_on = float(self.iteration >= self.cfg.critic_warmup)
        loss = actor_on * actor_loss + self.cfg.ppo.critic_coef * critic_loss
        bc_w = self.bc_weight()  # also during the critic warm-up: the actor follows the moving normalizer
        bc_loss = torch.zeros((), device=self.device)
        if bc_w > 0:  # pulls the mean towards demonstrated actions: L += w |mean(s_demo) - a_demo|^2
            idx = torch.randint(len(self.demo_obs), (len(mb["obs"]),), generator=self.gen).to(self.device)
            bc_loss = self.demo_loss(idx)
            loss = loss + bc_w * bc_loss
        with torch.no_grad():
            ratio = torch.exp(new_logp - mb["old_logp"])
            stats = {
                "loss/total": loss.detach(),
                "loss/actor": actor_loss.detach(),
                "loss/critic": critic_loss.detach(),
                "loss/bc": bc_loss.detach(),
                "bc/weight": torch.tensor(bc_w, dtype=torch.float64, device=self.device),
                "ppo/clip_frac": clip_frac,
                "ppo/ratio_mean": ratio.mean(),
                "ppo/ratio_std": (ratio - 1).square().mean().sqrt(),
            }
        return loss, stats

    # ------------------------------------------------------------------ loop
    def train_iteration(self) -> dict[str, float]:
        def learn(buf: dict) -> dict[str, float]:
            self.compute_advantages(buf)
            return {**self.update(buf), "value/mean": buf["values"].mean().item()}

        return ppo.timed_iteration(self, self.rollout, learn)

    @property
    def total_iterations(self) -> int:
        return ppo.samples_end(self)

    def train(
        self,
        iterations: int | None = None,
        out_dir: str | Path | None = None,
        progress: bool = True,
        on_iteration: Callable[[int, dict], None] | None = None,
    ) -> dict[str, float]:
        """Run until `iterations` (default: total_samples) are done; `checkpoint.pt` (resume), `hlc.pt`
        (inference) and TensorBoard under out_dir."""

        def save(out: Path) -> Path:
            path = self.save(out / "checkpoint.pt")
            self.save(out / "hlc.pt", inference_only=True)
            return path

        def postfix(stats: dict[str, float]) -> dict[str, str]:
            return {
                "sps": f"{stats['perf/samples_per_s']:.0f}",
                "r_task": f"{stats['reward/task']:.3f}",
                "r_style": f"{stats['reward/style']:.3f}",
                "success": f"{stats['task/success']:.2f}",
                "ep_len": f"{stats['episode/length']:.0f}",
            }

        return ppo.run(
            self, iterations, out_dir, save=save, postfix=postfix, progress=progress, on_iteration=on_iteration
        )

    # ------------------------------------------------------------------ checkpoints
    def checkpoint(self, inference_only: bool = False) -> dict:
        from sim.observations import OBS_LAYOUT_VERSION

        env, train = self.env, None
        if not inference_only:
            train = {
                "iteration": self.iteration,
                "global_step": self.global_step,
                "optimizer": self.optimizer.state_dict(),
                **ppo.rng_state(self.gen),
                "env_state": env.get_state(),
                "obs": self.obs.clone(),
            }
        return hlc_checkpoint(
            character=env.character.name,
            obs_layout_version=OBS_LAYOUT_VERSION,
            task=self.cfg.task,
            task_config=asdict(env.task.cfg) if hasattr(env, "task") else dict(self.cfg.task_config),
            goal_layout=env.task.goal_layout() if hasattr(env, "task") else {},
            obs_dim=env.obs_dim,
            network=self.cfg.network,
            config=self.cfg.to_dict(),
            llc_path=self.cfg.llc,
            llc_sha256=self.cfg.llc_sha256,
            actor=self.actor,
            obs_norm=self.obs_norm,
            critic=None if inference_only else self.critic,
            value_norm=None if inference_only else self.value_norm,
            train=train,
        )

    def save(self, path: str | Path, inference_only: bool = False) -> Path:
        return save_atomic(self.checkpoint(inference_only), path)

    def load(self, path: str | Path) -> None:
        """Restore everything an exact resume needs (weights, optimizer, normalizers, counters, RNGs, env)."""
        ckpt = read_checkpoint(path, "hlc")
        if "train" not in ckpt:
            raise ValueError(f"{path}: an inference-only checkpoint cannot resume training (use checkpoint.pt)")
        check_compatible(ckpt, path, self.cfg.character, None)
        if ckpt["task"] != self.cfg.task:
            raise ValueError(f"{path}: trains task {ckpt['task']!r}, this run is {self.cfg.task!r}")
        for name in ("actor", "critic", "obs_norm", "value_norm"):
            getattr(self, name).load_state_dict(ckpt[name])
        tr = ckpt["train"]
        self.optimizer.load_state_dict(tr["optimizer"])
        ppo.set_lr(self.optimizer, self.cfg.ppo.lr)
        self.iteration, self.global_step = tr["iteration"], tr["global_step"]
        if self.dist.is_main:  # the checkpoint holds rank 0's environments; other ranks keep their fresh ones
            ppo.load_rng_state(tr, self.gen)
            self.env.set_state(tr["env_state"])
            self.obs = tr["obs"].to(self.device, copy=True)
