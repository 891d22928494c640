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

from controllers.checkpoint import save_atomic
from controllers.hlc import HLCActor, HLCCritic, HLCNetworkConfig
from controllers.normalizer import RunningNorm
from sim.control import HLC_HOLD_STEPS
from training import distributed as D
from training import losses as L
from training import ppo
from training.hlc_demos import Demonstrations, imitate
from training.hlc_state import hlc_state, restore, warm_start
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
        self.demos: Demonstrations | None = None  # set_demos / imitate: for the behaviour-cloning term

    # ------------------------------------------------------------------ warm start
    def warm_start(self, path: str | Path) -> str:
        """Start from another task's controller on the same LLC (training/hlc_state.py); returns what was copied,
        in one line; ValueError when the controllers do not fit. Pair it with `critic_warmup` iterations."""
        return warm_start(self, path)

    # ------------------------------------------------------------------ behaviour cloning
    def set_demos(self, arrays: dict[str, np.ndarray], meta: dict) -> None:
        """Hold demonstrations for the PPO update's behaviour-cloning term (training/hlc_demos.py)."""
        self.demos = Demonstrations(arrays, meta, self.cfg, self.env, self.device)

    def imitate(self, arrays: dict[str, np.ndarray], meta: dict, **kwargs) -> dict[str, float]:
        """Fit the actor to demonstrations before PPO (training/hlc_demos.py); returns the fit's numbers."""
        return imitate(self, arrays, meta, **kwargs)

    def bc_weight(self) -> float:
        """The behaviour-cloning term's weight in the PPO loss now: `bc_coef`, falling linearly to 0 over
        `bc_anneal` samples (0: constant); 0 without demonstrations."""
        cfg = self.cfg
        if cfg.bc_coef <= 0 or self.demos is None:
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
            idx = torch.randint(len(self.demos), (len(mb["obs"]),), generator=self.gen).to(self.device)
            bc_loss = self.demos.loss(self.actor, self.obs_norm, idx)
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
        return hlc_state(self, inference_only)

    def save(self, path: str | Path, inference_only: bool = False) -> Path:
        return save_atomic(self.checkpoint(inference_only), path)

    def load(self, path: str | Path) -> None:
        """Restore everything an exact resume needs (weights, optimizer, normalizers, counters, RNGs, env)."""
        restore(self, path)
