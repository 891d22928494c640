"""ASE low-level controller training: PPO + adversarial imitation + skill encoder, readable top to bottom.

One iteration =
  1. rollout: `horizon` steps of all environments with per-env latents (resampled every 1-149 steps and at
     every episode start) and eps-greedy actions;
  2. rewards: r = 0.5 r_D (discriminator) + 0.5 r_E (encoder) on each transition's 10-frame window;
     values and bootstrap values of the whole batch; GAE;
  3. update: `epochs` x minibatches of one combined loss
        L = L_ppo + 5 L_critic + 10 L_bound + 5 L_disc + 5 L_enc + 0.01 L_div
     with one Adam optimizer over actor, critic, discriminator and encoder;
  4. the rollout's windows go into the replay buffer.
Networks, normalizers, optimizer state, rollout storage, window buffers and the update live on the trainer's
`device`; the environment stays numpy (tensors cross at the boundary), and every random draw comes from the
CPU generator `gen`, so a run's numbers do not depend on where the networks are.
Method: docs/method.md. Config and presets: training/config.py.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

from controllers.checkpoint import save_atomic
from controllers.networks import Actor, Critic, DiscEnc, encoder_reward, sample_latents, style_reward
from controllers.normalizer import RunningNorm
from motion.amp import AmpDataset
from training import distributed as D
from training import losses as L
from training import ppo
from training.config import LLCConfig
from training.latents import LatentSchedule
from training.llc_rollout import OverlappedRollouts, collect, set_skill_weights
from training.llc_state import RunSaver, init_from, llc_state, restore
from training.precision import cpu_bf16_native
from training.replay import ReplayBuffer, WindowBuffer
from training.skills import LabelledWindows, SkillSchedule, SkillTerms


def bf16_native(device: torch.device) -> bool:
    """Whether bf16 autocast pays on `device`: CUDA GPUs compute bf16 natively, CPUs only some (precision.py)."""
    return device.type == "cuda" or (device.type == "cpu" and cpu_bf16_native())


def progress_postfix(stats: dict[str, float]) -> dict[str, str]:
    """The progress bar's numbers."""
    return {
        "sps": f"{stats['perf/samples_per_s']:.0f}",
        "r_disc": f"{stats['reward/disc']:.3f}",
        "r_enc": f"{stats['reward/enc']:.3f}",
        "ep_len": f"{stats['episode/length']:.0f}",
        "falls": f"{stats['episode/fall_rate']:.2f}",
    }


def check_setup(cfg: LLCConfig, env, dist: D.DistInfo, device: torch.device) -> None:
    """ValueError when the config, environment, ranks and device do not fit together."""
    cfg.validate()
    if env.num_envs != cfg.num_envs:
        raise ValueError(f"environment has {env.num_envs} envs, config says {cfg.num_envs}")
    if env.character.name != cfg.character:
        raise ValueError(f"environment simulates {env.character.name!r}, config says {cfg.character!r}")
    if dist.device.startswith("cuda") and torch.device(dist.device) != device:
        raise ValueError(f"NCCL collectives run on {dist.device}: the networks must be there, not on {device}")
    if cfg.overlap and dist.active:
        raise ValueError("overlapped rollouts (overlap) do not run under torchrun yet: set overlap=false")


class LLCTrainer:
    def __init__(
        self,
        cfg: LLCConfig,
        env,
        dist: D.DistInfo | None = None,
        device: torch.device | str = "cpu",
        dataset: AmpDataset | None = None,
    ) -> None:
        """`env` follows sim.env.HumanoidEnv's interface (tests/fakes.py has a tiny stand-in).
        `dist`: this process's rank under torchrun (training/distributed.py); its env should be seeded by rank.
        `device`: where the networks, buffers and update run (under NCCL, the rank's GPU: dist.device).
        `dataset`: the discriminator's dataset windows (motion.amp.AmpDataset: `sample(n, rng)` -> windows, clips);
        by default the environment's motion library's."""
        self.cfg, self.env = cfg, env
        self.dist = dist or D.DistInfo()
        self.device = dev = torch.device(device)
        check_setup(cfg, env, self.dist, dev)
        if cfg.torch_threads:
            torch.set_num_threads(cfg.torch_threads)
        self.bf16 = cfg.bf16 and bf16_native(dev)  # emulated bf16 is far slower than float32
        torch.manual_seed(cfg.seed)  # network initialization, the same on every rank
        rank_seed = cfg.seed + D.RANK_SEED_STRIDE * self.dist.rank
        self.gen = torch.Generator().manual_seed(rank_seed + 1)  # latents, noise, minibatches, buffers (CPU)
        # overlapped rollouts draw their latents and noise from their own generator (the update runs beside them)
        self.rollout_gen = torch.Generator().manual_seed(rank_seed + 3) if cfg.overlap else self.gen
        self.np_rng = np.random.default_rng(rank_seed + 2)  # dataset windows
        self.dataset = dataset if dataset is not None else AmpDataset.of(env)

        n, net = cfg.num_envs, cfg.network
        self.window_dim = env.amp_obs_dim * env.num_amp_frames
        with torch.device("cpu"):  # initialized by the CPU generator: the same weights on every device
            self.actor = Actor(env.obs_dim, env.action_dim, net).to(dev)
            self.critic = Critic(env.obs_dim, net).to(dev)
            self.disc_enc = DiscEnc(self.window_dim, net).to(dev)
            self.obs_norm = RunningNorm(env.obs_dim).to(dev)  # policy/critic observation
            self.amp_norm = RunningNorm(self.window_dim).to(dev)  # discriminator/encoder window
            self.value_norm = RunningNorm(1).to(dev)  # the critic predicts normalized values
        self.params = [*self.actor.parameters(), *self.critic.parameters(), *self.disc_enc.parameters()]
        self.optimizer = torch.optim.Adam(self.params, lr=cfg.ppo.lr, eps=cfg.ppo.adam_eps)
        D.broadcast_parameters([self.actor, self.critic, self.disc_enc], self.dist)

        self.replay = ReplayBuffer(cfg.replay_size, self.window_dim, cfg.replay_keep_prob, dev)
        self.skills: SkillTerms | None = None
        if cfg.skills:  # every clip is a named skill with its own anchor latent (training/skills.py)
            self.skills = SkillTerms(cfg, self.dataset, dev)
            self.demo: WindowBuffer | LabelledWindows = LabelledWindows(cfg.demo_buffer_size, self.window_dim, dev)
            self.latents: LatentSchedule | SkillSchedule = self.skills.schedule(n, self.rollout_gen, dev)
        else:
            self.demo = WindowBuffer(cfg.demo_buffer_size, self.window_dim, dev)
            self.latents = LatentSchedule(
                n, net.latent_dim, cfg.latent_steps_min, cfg.latent_steps_max, self.rollout_gen, dev
            )
        self.stochastic_prob = L.eps_greedy_probs(n, dev) if cfg.eps_greedy else torch.ones(n, device=dev)
        self.action_std = math.exp(net.action_log_std)

        # an environment with device arrays (EnvConfig.device_arrays) takes and returns torch tensors
        self.env_tensors = env.xp is not np
        self.obs = self.tensor(env.reset())
        if cfg.skills:
            self.skills.start_episodes(self.latents, env, torch.ones(n, dtype=torch.bool, device=dev))
        self.low_style_count = torch.zeros(n, dtype=torch.long, device=dev)  # consecutive low-style steps per env
        self.iteration, self.global_step = 0, 0
        self.on_env_step: Callable[[], None] | None = None  # e.g. the viewer's --watch window
        self.overlap = OverlappedRollouts(self)  # cfg.overlap: the next rollout runs beside the update

    # ------------------------------------------------------------------ device boundary
    def tensor(self, x: np.ndarray, dtype: torch.dtype | None = None) -> torch.Tensor:
        """An environment array on the trainer's device."""
        return torch.as_tensor(x, dtype=dtype, device=self.device)

    def autocast(self, enabled: bool = True):
        """bf16 autocast where it pays; no autocast context at all otherwise: torch's autocast weight-cast cache
        is cleared by nesting counts that overlapped rollouts (another thread) would otherwise disturb."""
        if not (self.bf16 and enabled):
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16)

    # ------------------------------------------------------------------ rollout
    def actor_mean(
        self, obs_n: torch.Tensor, z: torch.Tensor, low_precision: bool = False, actor: torch.nn.Module | None = None
    ) -> torch.Tensor:
        """Action means. Float32 for everything that enters a PPO ratio: with the fixed std exp(-2.9), bf16's
        rounding of the means would add ~0.2 of noise to the log-ratio after every weight update."""
        with self.autocast(low_precision):
            return (actor or self.actor)(obs_n, z).float()

    def rollout(self, nets: SimpleNamespace | None = None) -> dict[str, torch.Tensor]:
        """horizon x num_envs transitions (training/llc_rollout.py); `nets` act (by default the trainer's own)."""
        return collect(self, nets)

    # ------------------------------------------------------------------ rewards
    @torch.no_grad()
    def compute_rewards_and_advantages(self, buf: dict) -> None:
        """Rewards from the discriminator and encoder, values, bootstrap values and GAE for the whole batch."""
        cfg, flat = self.cfg, lambda x: x.reshape(-1, x.shape[-1])
        T, N = buf["logp"].shape
        with self.autocast():
            z = flat(buf["z"])
            h = self.disc_enc.trunk(self.amp_norm(flat(buf["amp"])))
            logit = self.disc_enc.logit(h).squeeze(-1)
            enc_mu = torch.nn.functional.normalize(self.disc_enc.enc(h).float(), dim=-1)
            cond_logit = logit.float() + self.disc_enc.cond_residual(h, z).float() if cfg.skills else None
            values_n = self.critic(self.obs_norm(flat(buf["obs"])), z)
            next_values_n = self.critic(self.obs_norm(flat(buf["final_obs"])), z)
        r_disc = style_reward(logit.float()).reshape(T, N)
        r_enc = encoder_reward(enc_mu.float(), z).reshape(T, N)
        rewards = cfg.style_weight * r_disc + cfg.enc_weight * r_enc
        if cfg.skills:  # the reward mix of anchored envs, tracking, pace (training/skills.py)
            skills, step = self.skills, self.global_step
            rewards, r_cond, anchored = skills.rewards(buf, rewards, r_disc, r_enc, enc_mu, cond_logit, step)
            skills.record(buf, r_cond, anchored, step)
            if cfg.focal_every and (self.iteration + 1) % cfg.focal_every == 0:
                set_skill_weights(self, self.skills.focal_weights())
        norm, on = self.value_norm, cfg.ppo.normalize_value  # the critic predicts normalized values
        values = ppo.critic_values(norm, values_n.float(), on).reshape(T, N)
        next_values = ppo.critic_values(norm, next_values_n.float(), on).reshape(T, N)
        adv = L.gae(rewards, values, next_values, buf["terminated"], buf["done"], cfg.ppo.gamma, cfg.ppo.gae_lambda)
        buf.update(rewards=rewards, values=values, advantages=adv, returns=adv + values)
        buf["stats"].update({
            "reward/total": rewards.mean().item(), "reward/disc": r_disc.mean().item(),
            "reward/enc": r_enc.mean().item(), "disc/rollout_prob": torch.sigmoid(logit.float()).mean().item(),
        })  # fmt: skip

    # ------------------------------------------------------------------ update
    def update(self, buf: dict) -> dict[str, float]:
        cfg, B = self.cfg, self.cfg.batch_size
        obs, z, actions = buf["obs"].reshape(B, -1), buf["z"].reshape(B, -1), buf["actions"].reshape(B, -1)
        old_logp, stochastic = buf["logp"].reshape(B), buf["stochastic"].reshape(B)
        amp = buf["amp"].reshape(B, -1)
        adv = ppo.normalize_advantages(buf["advantages"].reshape(B), self.dist, stochastic)
        returns_n = ppo.value_targets(self.value_norm, buf["returns"].reshape(B, 1), cfg.ppo.normalize_value, self.dist)

        # dataset windows: refresh part of the demo buffer (the minibatches draw from it below)
        self.refresh_demo(cfg.demo_refresh)
        skill = buf["skill"].reshape(B) if cfg.skills else None

        k, sums, count = cfg.disc_batch, {}, 0
        for _epoch in range(cfg.ppo.epochs):
            perm = torch.randperm(B, generator=self.gen, device=self.gen.device).to(self.device)
            for start in range(0, B, cfg.ppo.minibatch_size):
                idx = perm[start : start + cfg.ppo.minibatch_size]
                di = idx[:k]
                # policy windows from earlier iterations; on the first iteration the current batch stands in
                replay_w = self.replay.sample(len(di), self.gen) if len(self.replay) else amp[idx[-len(di) :]]
                mb_data = {
                    "obs": obs[idx], "z": z[idx], "actions": actions[idx], "old_logp": old_logp[idx],
                    "adv": adv[idx], "returns_n": returns_n[idx], "stochastic": stochastic[idx],
                    "agent_w": amp[di], "agent_z": z[di], "replay_w": replay_w,
                    "z_new": sample_latents(len(idx), cfg.network.latent_dim, self.gen).to(self.device),
                }  # fmt: skip
                if cfg.skills:
                    mb_data["demo_w"], mb_data["demo_c"] = self.demo.sample(len(di), self.gen)
                    mb_data["agent_skill"] = skill[di]
                else:
                    mb_data["demo_w"] = self.demo.sample(len(di), self.gen)
                loss, mb = self.minibatch_loss(mb_data)
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                D.average_gradients(self.params, self.dist)  # every rank steps with the all-rank gradient
                self.optimizer.step()
                for name, val in mb.items():  # float64 sums on the device: no host sync per minibatch
                    sums[name] = sums.get(name, 0.0) + val.detach().double()
                count += 1

        self.replay.add(amp, self.gen)
        return {name: float(s) / count for name, s in sums.items()}

    def minibatch_loss(self, mb: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """L = L_ppo + 5 L_critic + 10 L_bound + 5 L_disc + 5 L_enc + 0.01 L_div on one minibatch (this rank's
        part of it under torchrun: every term is a mean over samples, so averaging the ranks' gradients gives
        the gradient of the whole minibatch). Updates the observation and discriminator normalizers first."""
        cfg = self.cfg
        mask = mb["stochastic"]

        # actor: clipped PPO on the stochastic samples, action-bound loss, diversity loss
        D.update_norm(self.obs_norm, mb["obs"], self.dist)
        o, zi = self.obs_norm(mb["obs"]), mb["z"]
        mean = self.actor_mean(o, zi)
        new_logp = self.actor.log_prob(mean, mb["actions"])
        actor_loss, clip_frac = L.ppo_actor_loss(new_logp, mb["old_logp"], mb["adv"], cfg.ppo.clip, mask)
        bound_loss = L.bound_loss(mean, mask)
        z_new = mb["z_new"]
        mean_new = self.actor_mean(o, z_new, low_precision=True)  # no ratio here: bf16 is fine
        div_loss = L.diversity_loss(mean, mean_new, zi, z_new, mask)

        # critic: MSE on normalized returns
        with self.autocast():
            v = self.critic(o, zi)
        critic_loss = L.value_loss(v.float(), mb["returns_n"])

        # discriminator (rollout + replay vs dataset windows) and encoder (rollout windows); the dataset windows
        # go through the trunk on their own so the gradient penalty's double backward only spans them
        agent_w, demo_w, replay_w = mb["agent_w"], mb["demo_w"], mb["replay_w"]
        k = len(agent_w)
        D.update_norm(self.amp_norm, torch.cat([agent_w, replay_w, demo_w]), self.dist)
        demo_n = self.amp_norm(demo_w).requires_grad_(True)
        with self.autocast():
            h = self.disc_enc.trunk(self.amp_norm(torch.cat([agent_w, replay_w])))
            agent_logit = self.disc_enc.logit(h).squeeze(-1).float()
            enc_mu = torch.nn.functional.normalize(self.disc_enc.enc(h[:k]).float(), dim=-1)
            h_demo = self.disc_enc.trunk(demo_n)
            demo_logit = self.disc_enc.logit(h_demo).squeeze(-1).float()
        bce = L.disc_bce(agent_logit, demo_logit)
        gp = L.gradient_penalty(demo_logit, demo_n)
        logit_reg = self.disc_enc.logit.weight.square().sum()
        wd = L.weights_sq(self.disc_enc.disc_weights())
        reg = cfg.disc_logit_reg * logit_reg + cfg.disc_grad_penalty * gp + cfg.disc_weight_decay * wd
        disc_loss = bce + reg
        enc_loss = L.encoder_loss(enc_mu, mb["agent_z"])  # the latent active at each rollout window

        loss = (
            actor_loss
            + cfg.ppo.critic_coef * critic_loss
            + cfg.bound_coef * bound_loss
            + cfg.disc_coef * disc_loss
            + cfg.enc_coef * enc_loss
            + cfg.div_coef * div_loss
        )
        skill_stats: dict[str, torch.Tensor] = {}
        if cfg.skills:
            skill_loss, skill_stats = self.skills.losses(
                self.disc_enc, mb, h[:k], agent_logit[:k], h_demo, demo_logit, demo_n, self.gen, self.autocast
            )
            loss = loss + skill_loss
        with torch.no_grad():
            ratio = torch.exp(new_logp - mb["old_logp"])
            stats = {
                "loss/total": loss, "loss/actor": actor_loss, "loss/critic": critic_loss, "loss/bound": bound_loss,
                "loss/disc": disc_loss, "loss/disc_bce": bce, "loss/grad_penalty": gp, "loss/enc": enc_loss,
                "loss/diversity": div_loss, "ppo/clip_frac": clip_frac, "ppo/ratio_mean": L.masked_mean(ratio, mask),
                "ppo/ratio_std": L.masked_mean((ratio - 1).square(), mask).sqrt(),
                "disc/agent_acc": (agent_logit[:k] < 0).float().mean(),
                "disc/demo_acc": (demo_logit > 0).float().mean(), "disc/demo_logit": demo_logit.mean(),
                "disc/agent_logit": agent_logit[:k].mean(), "enc/alignment": -enc_loss, **skill_stats,
            }  # fmt: skip
        return loss, stats

    def refresh_demo(self, n: int) -> None:
        """Store n fresh dataset windows (with their clip labels for a skill LLC)."""
        windows, clips = self.dataset.sample(n, self.np_rng)
        if self.cfg.skills:
            self.demo.store(self.tensor(windows), self.tensor(clips, torch.long))
        else:
            self.demo.store(self.tensor(windows))

    # ------------------------------------------------------------------ loop
    def train_iteration(self) -> dict[str, float]:
        if len(self.demo) == 0:  # fill the dataset buffer once (a resumed run restores it instead)
            self.refresh_demo(self.cfg.demo_buffer_size)

        def learn(buf: dict) -> dict[str, float]:
            self.compute_rewards_and_advantages(buf)
            return self.update(buf)

        collect = self.overlap.next_batch if self.cfg.overlap else self.rollout
        return ppo.timed_iteration(self, collect, learn)

    def finish_rollout(self) -> None:
        """Wait for an overlapped rollout still running (`OverlappedRollouts.finish`)."""
        self.overlap.finish()

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
        """Run until `iterations` (default: total_samples) are done; checkpoints and TensorBoard under out_dir
        (training/ppo.py: progress bar, periodic and Ctrl-C checkpoints)."""

        try:
            save, postfix = RunSaver(self), progress_postfix
            return ppo.run(
                self, iterations, out_dir, save=save, postfix=postfix, progress=progress, on_iteration=on_iteration
            )
        finally:
            self.finish_rollout()

    # ------------------------------------------------------------------ checkpoints
    def checkpoint(self, inference_only: bool = False, buffers: bool = True) -> dict:
        """The checkpoint dict (training/llc_state.py: inference_only, buffers=False: a compact state)."""
        return llc_state(self, inference_only, buffers)

    def save(self, path: str | Path, inference_only: bool = False, buffers: bool = True) -> Path:
        return save_atomic(self.checkpoint(inference_only, buffers), path)

    def load(self, path: str | Path) -> None:
        """Restore everything a resume needs (weights, optimizer, normalizers, counters, RNGs, env, buffers)."""
        restore(self, path)

    def init_from(self, path: str | Path) -> None:
        """Warm start from another LLC's weights and normalizers (training/llc_state.py)."""
        init_from(self, path)
