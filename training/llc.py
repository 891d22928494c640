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
import copy
import math
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

from controllers.checkpoint import check_compatible, llc_checkpoint, read_checkpoint, save_atomic
from controllers.latents import GETUP_PREFIX
from controllers.networks import Actor, Critic, DiscEnc, encoder_reward, sample_latents, style_reward
from controllers.normalizer import RunningNorm
from motion.amp import AmpDataset
from sim.arrays import to_numpy
from sim.env import upgrade_state
from sim.observations import OBS_LAYOUT_VERSION
from training import distributed as D
from training import losses as L
from training import ppo
from training.config import LLCConfig
from training.latents import LatentSchedule
from training.precision import cpu_bf16_native
from training.replay import ReplayBuffer, WindowBuffer
from training.skills import (
    LabelledWindows,
    SkillSchedule,
    near_anchor,
    skill_anchors,
    speed_reward,
    steady_speeds,
    tracking_reward,
)


def bf16_native(device: torch.device) -> bool:
    """Whether bf16 autocast pays on `device`: CUDA GPUs compute bf16 natively, CPUs only some (precision.py)."""
    return device.type == "cuda" or (device.type == "cpu" and cpu_bf16_native())


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
        cfg.validate()
        if env.num_envs != cfg.num_envs:
            raise ValueError(f"environment has {env.num_envs} envs, config says {cfg.num_envs}")
        self.cfg, self.env = cfg, env
        if env.character.name != cfg.character:
            raise ValueError(f"environment simulates {env.character.name!r}, config says {cfg.character!r}")
        if cfg.torch_threads:
            torch.set_num_threads(cfg.torch_threads)
        self.dist = dist or D.DistInfo()
        self.device = dev = torch.device(device)
        if self.dist.device.startswith("cuda") and torch.device(self.dist.device) != dev:
            raise ValueError(f"NCCL collectives run on {self.dist.device}: the networks must be there, not on {dev}")
        self.bf16 = cfg.bf16 and bf16_native(dev)  # emulated bf16 is far slower than float32
        torch.manual_seed(cfg.seed)  # network initialization, the same on every rank
        rank_seed = cfg.seed + D.RANK_SEED_STRIDE * self.dist.rank
        self.gen = torch.Generator().manual_seed(rank_seed + 1)  # latents, noise, minibatches, buffers (CPU)
        # overlapped rollouts draw their latents and noise from their own generator (the update runs beside them)
        self.rollout_gen = torch.Generator().manual_seed(rank_seed + 3) if cfg.overlap else self.gen
        if cfg.overlap and self.dist.active:
            raise ValueError("overlapped rollouts (overlap) do not run under torchrun yet: set overlap=false")
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
        self.skill_names: list[str] = []
        if cfg.skills:  # every clip is a named skill with its own anchor latent (training/skills.py)
            motions = self.dataset.motions
            self.skill_names = list(motions.clip_names)
            if len(set(self.skill_names)) != len(self.skill_names):
                raise ValueError(f"skill names must differ (name the clips in the dataset YAML): {self.skill_names}")
            self.anchors = skill_anchors(len(self.skill_names), net.latent_dim).to(dev)
            self.base_weights = np.asarray(motions.weights, dtype=np.float64).copy()
            self.skill_score = np.zeros(len(self.skill_names))  # running mean conditional reward per skill
            self.getup_skills = [i for i, name in enumerate(self.skill_names) if name.startswith(GETUP_PREFIX)]
            self.speed_targets = torch.as_tensor(steady_speeds(motions), dtype=torch.float32, device=dev)
            self.demo: WindowBuffer | LabelledWindows = LabelledWindows(cfg.demo_buffer_size, self.window_dim, dev)
            self.latents: LatentSchedule | SkillSchedule = SkillSchedule(
                n, self.anchors, cfg.anchor_prob, cfg.anchor_noise, (cfg.skill_steps_min, cfg.skill_steps_max),
                (cfg.latent_steps_min, cfg.latent_steps_max), self.rollout_gen, dev,
            )  # fmt: skip
            self.latents.weights = self.base_weights.copy()
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
            self.start_skill_episodes(torch.ones(n, dtype=torch.bool, device=dev))
        self.low_style_count = torch.zeros(n, dtype=torch.long, device=dev)  # consecutive low-style steps per env
        self.iteration, self.global_step = 0, 0
        self.on_env_step: Callable[[], None] | None = None  # e.g. the viewer's --watch window
        # overlap: the rollout of iteration k+1 runs on a second thread while iteration k's batch is learned, acting
        # with the weights from before that update (`behaviour`, one update behind); `launch` is what a resume needs
        self.behaviour = SimpleNamespace(actor=self.actor, obs_norm=self.obs_norm, disc_enc=self.disc_enc,
                                         amp_norm=self.amp_norm)  # fmt: skip
        self.pending: Future | None = None
        self.launch: dict | None = None
        self.restored_launch = False
        self.focal_next: np.ndarray | None = None
        self._pool: ThreadPoolExecutor | None = None

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

    @torch.no_grad()
    def rollout(self, nets: SimpleNamespace | None = None) -> dict[str, torch.Tensor]:
        """Collect horizon x num_envs transitions; returns (T, N, ...) tensors and episode statistics. `nets`
        (actor, obs_norm, disc_enc, amp_norm) act and judge low style; the trainer's own by default."""
        nets = nets or self
        t_start = time.perf_counter()
        T, N, env, dev = self.cfg.ppo.horizon, self.cfg.num_envs, self.env, self.device
        buf = {
            "obs": torch.zeros(T, N, env.obs_dim, device=dev),
            "final_obs": torch.zeros(T, N, env.obs_dim, device=dev),
            "z": torch.zeros(T, N, self.cfg.network.latent_dim, device=dev),
            "actions": torch.zeros(T, N, env.action_dim, device=dev),
            "logp": torch.zeros(T, N, device=dev),
            "stochastic": torch.zeros(T, N, dtype=torch.bool, device=dev),
            "amp": torch.zeros(T, N, self.window_dim, device=dev),
            "terminated": torch.zeros(T, N, dtype=torch.bool, device=dev),
            "done": torch.zeros(T, N, dtype=torch.bool, device=dev),
        }
        if self.cfg.skills:
            buf["skill"] = torch.zeros(T, N, dtype=torch.long, device=dev)
            buf["grace"] = torch.zeros(T, N, dtype=torch.bool, device=dev)
            buf["track"] = torch.zeros(T, N, device=dev)
            buf["tracked"] = torch.zeros(T, N, dtype=torch.bool, device=dev)
            buf["speed"] = torch.zeros(T, N, device=dev)
        ep_lengths, falls, unstable, style_ends = [], 0, 0, 0
        for t in range(T):
            z = self.latents.current()
            if self.cfg.skills:
                buf["skill"][t] = self.latents.skill
                buf["grace"][t] = self.tensor(env.in_grace())
                buf["tracked"][t] = self.tensor(self.latents.track_clip >= 0)
            mean = self.actor_mean(nets.obs_norm(self.obs), z, actor=nets.actor)
            # draws from the CPU generator (the same numbers on every device), then onto the device
            g = self.rollout_gen
            stochastic = torch.rand(N, generator=g, device=g.device).to(dev) < self.stochastic_prob
            noise = torch.randn(mean.shape, generator=g, device=g.device).to(dev) * self.action_std
            actions = torch.where(stochastic[:, None], mean + noise, mean)
            res = env.step(actions if self.env_tensors else actions.cpu().numpy())
            if self.on_env_step is not None:
                self.on_env_step()

            buf["obs"][t], buf["z"][t], buf["actions"][t] = self.obs, z, actions
            buf["logp"][t], buf["stochastic"][t] = self.actor.log_prob(mean, actions), stochastic
            buf["final_obs"][t] = self.tensor(res.final_obs)
            buf["amp"][t] = amp = self.tensor(res.amp_obs)
            terminated, done = self.tensor(res.terminated), self.tensor(res.done)
            self.obs = self.tensor(res.obs)
            if self.cfg.skills:
                buf["track"][t] = self.tensor(self.tracking_rewards(to_numpy(res.done)), torch.float32)
                buf["speed"][t] = self.tensor(env.root_speed(), torch.float32)
            if self.cfg.low_style_termination:
                ended = self.low_style_ends(amp, done, z, nets)
                if ended.any():
                    ids = ended.nonzero()[:, 0].cpu().numpy()
                    ep_lengths += [int(x) for x in to_numpy(env.elapsed_steps())[ids]]
                    self.obs[ids] = self.tensor(env.terminate(ids))
                    terminated, done = terminated | ended, done | ended
                    style_ends += len(ids)
            buf["terminated"][t], buf["done"][t] = terminated, done
            if self.cfg.skills:
                self.start_skill_episodes(done)
            else:
                self.latents.resample(done)  # every new episode (recovery ones included) gets a new latent
            ep_lengths += list(np.asarray(res.info.get("episode_lengths", [])))
            falls += int(res.info.get("falls", 0))
            unstable += int(res.info.get("unstable_resets", 0))
        buf["stats"] = {
            "episode/length": float(np.mean(ep_lengths)) if ep_lengths else float("nan"),
            "episode/fall_rate": falls / max(int(buf["done"].sum()), 1),
            "episode/falls": falls,
            "episode/unstable_resets": unstable,
            "episode/style_terminations": style_ends / max(int(buf["done"].sum()), 1),
            "perf/rollout_work_s": time.perf_counter() - t_start,
        }
        return buf

    @torch.no_grad()
    def low_style_ends(
        self, amp: torch.Tensor, done: torch.Tensor, z: torch.Tensor | None = None, nets: SimpleNamespace | None = None
    ) -> torch.Tensor:
        """(N,) envs whose unscaled style reward -log(1 - D) stayed below the threshold for `low_style_steps`
        steps in a row, outside grace periods; counts reset at every episode end. A skill LLC judges anchored
        envs by the conditional reward, except while they track their clip or just switched skill."""
        de = (nets or self).disc_enc
        # overlapped: float32 here, bf16 autocast only on the update's thread (two threads autocasting at once
        # made the numbers irreproducible)
        with self.autocast(not self.cfg.overlap):
            h = de.trunk((nets or self).amp_norm(amp))
            logit = de.logit(h).float().reshape(-1)
            if self.cfg.skills:
                cond = logit + de.cond_residual(h, z).float()
        if self.cfg.skills:
            sched = self.latents
            judged = (sched.skill >= 0) & (sched.since_switch > self.cfg.switch_grace)
            judged &= ~self.tensor(sched.track_clip >= 0)
            logit = torch.where(judged, cond, logit)
        low = (style_reward(logit) / 2 < self.cfg.low_style_threshold) & ~self.tensor(self.env.in_grace())
        self.low_style_count = torch.where(low & ~done, self.low_style_count + 1, 0)
        ended = self.low_style_count >= self.cfg.low_style_steps
        self.low_style_count[ended] = 0
        return ended

    # ------------------------------------------------------------------ skills
    def start_skill_episodes(self, done: torch.Tensor) -> None:
        """Latents for new episodes: a reference start of clip c anchors skill c and tracks the clip."""
        m, (clip, time0) = self.dataset.motions, self.env.episode_starts()
        self.latents.start_episodes(done, clip, time0, m.durations, m._loop, self.cfg.track_loop_seconds)

    def tracking_rewards(self, done: np.ndarray) -> np.ndarray:
        """(N,) this step's tracking reward of the envs tracking a clip (0 elsewhere); tracking stops at the
        clip's end or once the body is `track_max_error` off the reference."""
        sched, env = self.latents, self.env
        reward = np.zeros(self.cfg.num_envs, dtype=np.float32)
        ids = np.nonzero((sched.track_clip >= 0) & ~done)[0]
        if not len(ids):
            return reward
        t = sched.track_t0[ids] + to_numpy(env.elapsed_steps())[ids] * env.control_dt
        over = t > sched.track_until[ids]
        sched.track_clip[ids[over]] = -1
        ids, t = ids[~over], t[~over]
        if len(ids):
            pos, rot, qvel = env.body_states()
            ref = self.dataset.motions.sample(sched.track_clip[ids], t)
            r, err = tracking_reward(pos[ids], rot[ids], qvel[ids], ref, self.dataset.joints.key_bodies)
            reward[ids] = r
            sched.track_clip[ids[err > self.cfg.track_max_error]] = -1
        return reward

    def track_weight(self) -> float:
        cfg = self.cfg
        return cfg.track_weight * max(0.0, 1.0 - self.global_step / max(cfg.track_anneal_samples, 1.0))

    def update_focal_weights(self) -> None:
        """Skills whose conditional reward is low get drawn (and started from) more: w ~ base (1.5 - s / max s)."""
        s = self.skill_score
        w = self.base_weights * (1.5 - s / s.max()) if s.max() > 0 else self.base_weights.copy()
        if self.cfg.overlap:  # the rollout running beside this update reads them: the next one takes them
            self.focal_next = w / w.sum()
            return
        self.latents.weights = w / w.sum()
        self.env.start_weights = self.latents.weights.copy()

    def skills_entry(self) -> dict | None:
        return {"names": self.skill_names, "anchors": self.anchors.cpu()} if self.cfg.skills else None

    def init_from(self, path: str | Path) -> None:
        """Warm start a new run from another LLC's weights and normalizers (a fresh optimizer; counters at 0):
        a skill LLC from an ASE one (its conditional head starts at zero)."""
        ckpt = read_checkpoint(path, "llc")
        check_compatible(ckpt, path, self.cfg.character, OBS_LAYOUT_VERSION)
        if "critic" not in ckpt:
            raise ValueError(f"{path}: an inference-only checkpoint has no critic to warm-start from (use a state)")
        for name in ("actor", "critic", "obs_norm", "amp_norm", "value_norm"):
            getattr(self, name).load_state_dict(ckpt[name])
        missing, unexpected = self.disc_enc.load_state_dict(ckpt["disc_enc"], strict=False)
        if unexpected or any(not k.startswith("cond.") for k in missing):
            raise ValueError(f"{path}: its discriminator does not fit this network ({missing or unexpected})")
        self.cfg.init_from = str(path)

    def value_from_critic(self, v: torch.Tensor) -> torch.Tensor:
        """The critic predicts normalized values (running statistics of the returns) when normalize_value."""
        return ppo.critic_values(self.value_norm, v, self.cfg.ppo.normalize_value)

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
        if cfg.skills:
            r_cond = style_reward(cond_logit).reshape(T, N)
            anchored = (buf["skill"] >= 0) & ~buf["grace"]
            mix = cfg.cond_reward_weight * r_cond + cfg.anchored_style_weight * r_disc + cfg.anchored_enc_weight * r_enc
            rewards = torch.where(anchored, mix, rewards)
            getup = self.getup_skills
            if cfg.grace_getup_reward and getup:
                # after a fall, whatever skill is held: the encoder term rewards looking like a get-up (holding
                # idle or walk while lying would otherwise pay for lying still)
                r_getup = (enc_mu.float() @ self.anchors[getup].T).max(-1).values.clamp(min=0.0).reshape(T, N)
                fallen = (buf["skill"] >= 0) & buf["grace"]
                rewards = torch.where(fallen, cfg.style_weight * r_disc + cfg.enc_weight * r_getup, rewards)
            rewards = rewards + self.track_weight() * buf["track"]
            if cfg.speed_weight:
                target = self.speed_targets[buf["skill"].clamp(min=0)]
                paced = anchored & ~buf["done"] & ~torch.isnan(target)
                r_speed = speed_reward(buf["speed"], target.nan_to_num())
                rewards = rewards + cfg.speed_weight * torch.where(paced, r_speed, 0.0)
            self.skill_reward_stats(buf, r_cond, anchored)
        values = self.value_from_critic(values_n.float()).reshape(T, N)
        next_values = self.value_from_critic(next_values_n.float()).reshape(T, N)
        adv = L.gae(rewards, values, next_values, buf["terminated"], buf["done"], cfg.ppo.gamma, cfg.ppo.gae_lambda)
        buf.update(rewards=rewards, values=values, advantages=adv, returns=adv + values)
        buf["stats"].update(
            {
                "reward/total": rewards.mean().item(),
                "reward/disc": r_disc.mean().item(),
                "reward/enc": r_enc.mean().item(),
                "disc/rollout_prob": torch.sigmoid(logit.float()).mean().item(),
            }
        )

    def skill_reward_stats(self, buf: dict, r_cond: torch.Tensor, anchored: torch.Tensor) -> None:
        """Per-skill conditional reward (its running mean drives the focal weights) and tracking statistics."""
        stats, skill = buf["stats"], buf["skill"]
        for c, name in enumerate(self.skill_names):
            m = anchored & (skill == c)
            if m.any():
                r = r_cond[m].mean().item()
                self.skill_score[c] = r if self.skill_score[c] == 0 else 0.9 * self.skill_score[c] + 0.1 * r
                stats[f"skill_cond/{name}"] = r
                stats[f"skill_speed/{name}"] = buf["speed"][m & ~buf["done"]].mean().item()
        tracked = buf["tracked"]
        stats.update({
            "reward/cond": r_cond[anchored].mean().item() if anchored.any() else float("nan"),
            "reward/track": buf["track"][tracked].mean().item() if tracked.any() else float("nan"),
            "skills/tracked_frac": tracked.float().mean().item(),
            "skills/anchored_frac": (skill >= 0).float().mean().item(),
            "skills/track_weight": self.track_weight(),
        })  # fmt: skip
        if self.cfg.focal_every and (self.iteration + 1) % self.cfg.focal_every == 0:
            self.update_focal_weights()

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
            skill_loss, skill_stats = self.skill_losses(mb, h[:k], agent_logit[:k], h_demo, demo_logit, demo_n)
            loss = loss + skill_loss
        with torch.no_grad():
            ratio = torch.exp(new_logp - mb["old_logp"])
            stats = {
                "loss/total": loss,
                "loss/actor": actor_loss,
                "loss/critic": critic_loss,
                "loss/bound": bound_loss,
                "loss/disc": disc_loss,
                "loss/disc_bce": bce,
                "loss/grad_penalty": gp,
                "loss/enc": enc_loss,
                "loss/diversity": div_loss,
                "ppo/clip_frac": clip_frac,
                "ppo/ratio_mean": L.masked_mean(ratio, mask),
                "ppo/ratio_std": L.masked_mean((ratio - 1).square(), mask).sqrt(),
                "disc/agent_acc": (agent_logit[:k] < 0).float().mean(),
                "disc/demo_acc": (demo_logit > 0).float().mean(),
                "disc/demo_logit": demo_logit.mean(),
                "disc/agent_logit": agent_logit[:k].mean(),
                "enc/alignment": -enc_loss,
                **skill_stats,
            }
        return loss, stats

    def skill_losses(
        self, mb: dict, h_agent: torch.Tensor, agent_logit: torch.Tensor, h_demo: torch.Tensor,
        demo_logit: torch.Tensor, demo_n: torch.Tensor,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:  # fmt: skip
        """A skill LLC's extra terms: the conditional discriminator and the supervised encoder.
        Conditional logit = unconditional logit (detached: ASE's head trains as before) + cond(h) . z.
        Positives: dataset windows of skill c with z near c's anchor; negatives: anchored rollout windows with
        their own z, and mismatches: dataset windows with another skill's z. Supervised encoder: a dataset
        window of skill c encodes to c's anchor: -mean(mu . a_c)."""
        cfg, de = self.cfg, self.disc_enc
        labels, K = mb["demo_c"], len(self.skill_names)
        z_pos = near_anchor(self.anchors.cpu(), labels.cpu(), cfg.anchor_noise, self.gen).to(self.device)
        m = int(len(labels) * cfg.mismatch_frac)
        other = (labels[:m] + torch.randint(1, K, (m,), generator=self.gen).to(self.device)) % K
        z_mis = near_anchor(self.anchors.cpu(), other.cpu(), cfg.anchor_noise, self.gen).to(self.device)
        with self.autocast():
            res_pos = de.cond_residual(h_demo, z_pos).float()
            res_mis = de.cond_residual(h_demo[:m], z_mis).float()
            res_agent = de.cond_residual(h_agent, mb["agent_z"]).float()
            mu_demo = torch.nn.functional.normalize(de.enc(h_demo).float(), dim=-1)
        pos = demo_logit.detach() + res_pos
        mis = demo_logit[:m].detach() + res_mis
        agent = agent_logit.detach() + res_agent
        anchored = (mb["agent_skill"] >= 0).float()
        bce = torch.nn.functional.binary_cross_entropy_with_logits
        n_anch = anchored.sum().clamp(min=1)
        agent_bce = (bce(agent, torch.zeros_like(agent), reduction="none") * anchored).sum() / n_anch
        cond_bce = 0.5 * bce(pos, torch.ones_like(pos)) + 0.25 * bce(mis, torch.zeros_like(mis)) + 0.25 * agent_bce
        cond_gp = L.gradient_penalty(res_pos, demo_n)
        sup_enc = -(mu_demo * self.anchors[labels]).sum(-1).mean()
        loss = cfg.cond_coef * (cond_bce + cfg.cond_grad_penalty * cond_gp) + cfg.skill_enc_coef * sup_enc
        with torch.no_grad():
            stats = {
                "cond/bce": cond_bce,
                "cond/grad_penalty": cond_gp,
                "cond/pos_acc": (pos > 0).float().mean(),
                "cond/mismatch_acc": (mis < 0).float().mean(),
                "cond/agent_acc": ((agent < 0).float() * anchored).sum() / n_anch,
                "enc/skill_alignment": -sup_enc,
            }
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

        if not self.cfg.overlap:
            return ppo.timed_iteration(self, self.rollout, learn)

        def collect() -> dict:  # this iteration's rollout, then the next one starts beside the update
            if self.pending is None:
                self.launch_rollout()
            buf = self.pending.result()
            self.launch_rollout()
            return buf

        return ppo.timed_iteration(self, collect, learn)

    # ------------------------------------------------------------------ overlapped rollouts
    def launch_rollout(self) -> None:
        """Start the next rollout on the second thread with the current weights (after a resume: the stored
        behaviour weights); first record what a checkpoint written during it must hold to resume exactly."""
        if self.behaviour.actor is self.actor:  # first launch: private copies the update cannot touch
            self.behaviour = SimpleNamespace(**{k: copy.deepcopy(v) for k, v in vars(self.behaviour).items()})
            self.restored_launch = False
        if self.restored_launch:
            self.restored_launch = False
        else:
            for name, net in vars(self.behaviour).items():
                net.load_state_dict(getattr(self, name).state_dict())
            if self.focal_next is not None:
                self.latents.weights, self.focal_next = self.focal_next, None
                self.env.start_weights = self.latents.weights.copy()
        self.launch = {
            "env_state": self.env.get_state(),
            "obs": self.obs.clone(),
            "latents": self.latents.state_dict(),
            "low_style_count": self.low_style_count.clone(),
            "rollout_gen": self.rollout_gen.get_state(),
        }
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rollout")
        self.pending = self._pool.submit(self.rollout, self.behaviour)

    def finish_rollout(self) -> None:
        """Wait for a rollout still running (the end of train(), before anything else touches the env); its
        batch stays pending for the next iteration, as a resume from the last checkpoint would repeat it."""
        if self.pending is not None:
            self.pending.result()

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

        every = self.cfg.snapshot_every
        period = [self.iteration // every if every else 0]  # snapshots at the first save of each new period

        def save(out: Path) -> Path:
            path = self.save(out / "checkpoint.pt")
            weights = self.checkpoint(inference_only=True)
            save_atomic(weights, out / "llc.pt")
            if every and self.iteration // every > period[0]:
                period[0] = self.iteration // every
                save_atomic(weights, out / "snapshots" / f"llc_{self.global_step:012d}.pt")
            return path

        def postfix(stats: dict[str, float]) -> dict[str, str]:
            return {
                "sps": f"{stats['perf/samples_per_s']:.0f}",
                "r_disc": f"{stats['reward/disc']:.3f}",
                "r_enc": f"{stats['reward/enc']:.3f}",
                "ep_len": f"{stats['episode/length']:.0f}",
                "falls": f"{stats['episode/fall_rate']:.2f}",
            }

        try:
            return ppo.run(
                self, iterations, out_dir, save=save, postfix=postfix, progress=progress, on_iteration=on_iteration
            )
        finally:
            self.finish_rollout()

    # ------------------------------------------------------------------ checkpoints
    def checkpoint(self, inference_only: bool = False, buffers: bool = True) -> dict:
        """inference_only: actor, discriminator/encoder, normalizers. buffers=False: a compact resumable state
        (networks, optimizer, normalizers, counters, RNGs) without the dataset and replay windows, which a
        resume refills (the dataset buffer from the clips, the replay buffer from new rollouts)."""
        env = self.env
        train = None
        if not inference_only:
            # overlapped: the rollout now running started from `launch`, with the behaviour weights
            live = self.launch if self.pending is not None else None
            train = {
                "iteration": self.iteration,
                "global_step": self.global_step,
                "optimizer": self.optimizer.state_dict(),
                **ppo.rng_state(self.gen, self.np_rng),
                "env_state": live["env_state"] if live else env.get_state(),
                "obs": (live["obs"] if live else self.obs).clone(),
                "latents": live["latents"] if live else self.latents.state_dict(),
                "low_style_count": (live["low_style_count"] if live else self.low_style_count).clone(),
                "demo": self.demo.state_dict() if buffers else None,
                "replay": self.replay.state_dict() if buffers else None,
            }
            if self.cfg.skills:
                train["skill_score"] = torch.as_tensor(self.skill_score)
            if self.cfg.overlap:
                train["rollout_gen"] = live["rollout_gen"] if live else self.rollout_gen.get_state()
                if live:
                    train["behaviour"] = {k: v.state_dict() for k, v in vars(self.behaviour).items()}
                if self.focal_next is not None:
                    train["focal_next"] = torch.as_tensor(self.focal_next)
        return llc_checkpoint(
            character=self.cfg.character,
            obs_layout_version=OBS_LAYOUT_VERSION,
            obs_dim=env.obs_dim,
            amp_obs_dim=env.amp_obs_dim,
            num_amp_frames=env.num_amp_frames,
            action_dim=env.action_dim,
            network=self.cfg.network,
            config=self.cfg.to_dict(),
            actor=self.actor,
            disc_enc=self.disc_enc,
            obs_norm=self.obs_norm,
            amp_norm=self.amp_norm,
            critic=None if inference_only else self.critic,
            value_norm=None if inference_only else self.value_norm,
            train=train,
            skills=self.skills_entry(),
        )

    def save(self, path: str | Path, inference_only: bool = False, buffers: bool = True) -> Path:
        return save_atomic(self.checkpoint(inference_only, buffers), path)

    def load(self, path: str | Path) -> None:
        """Restore everything a resume needs (weights, optimizer, normalizers, counters, RNGs, env, buffers)."""
        ckpt = read_checkpoint(path, "llc")
        if "train" not in ckpt:
            raise ValueError(f"{path}: an inference-only checkpoint cannot resume training (use checkpoint.pt)")
        old_layout = ckpt["obs_layout_version"]
        upgrade = old_layout != OBS_LAYOUT_VERSION and old_layout == 1
        check_compatible(ckpt, path, self.cfg.character, old_layout if upgrade else OBS_LAYOUT_VERSION)
        for name in ("actor", "critic", "disc_enc", "obs_norm", "amp_norm", "value_norm"):
            getattr(self, name).load_state_dict(ckpt[name])
        tr = ckpt["train"]
        self.optimizer.load_state_dict(tr["optimizer"])
        ppo.set_lr(self.optimizer, self.cfg.ppo.lr)  # the config's rate wins: a resume may change it
        self.iteration, self.global_step = tr["iteration"], tr["global_step"]
        if self.dist.is_main:  # the checkpoint holds rank 0's environments; other ranks keep their fresh ones
            ppo.load_rng_state(tr, self.gen, self.np_rng)
            env_state = upgrade_state(tr["env_state"], self.env.character, old_layout) if upgrade else tr["env_state"]
            self.env.set_state(env_state)
            self.obs = tr["obs"].to(self.device, copy=True)
            self.latents.load_state_dict(tr["latents"])
            if "low_style_count" in tr:
                self.low_style_count = tr["low_style_count"].to(self.device, copy=True)
            if tr["demo"] is not None:  # a compact state has none: the first iteration refills them
                self.demo.load_state_dict(tr["demo"])
            if tr["replay"] is not None:
                self.replay.load_state_dict(tr["replay"])
            if self.cfg.skills:
                self.skill_score = tr["skill_score"].numpy().copy()
                self.env.start_weights = self.latents.weights.copy()
            if self.cfg.overlap:
                self.load_overlap_state(tr)
        if upgrade:
            self.upgrade_layout(old_layout)

    def load_overlap_state(self, tr: dict) -> None:
        """An overlapped run resumes by first repeating the rollout that was running when it saved: the same
        start state (restored above), generator and behaviour weights. A state from a sequential run starts
        its first rollout with the current weights."""
        if "rollout_gen" in tr:
            self.rollout_gen.set_state(tr["rollout_gen"])
        if "focal_next" in tr:
            self.focal_next = tr["focal_next"].numpy().copy()
        if "behaviour" in tr:
            self.behaviour = SimpleNamespace(**{k: copy.deepcopy(getattr(self, k)) for k in tr["behaviour"]})
            for name, state in tr["behaviour"].items():
                getattr(self.behaviour, name).load_state_dict(state)
            self.restored_launch = True

    def upgrade_layout(self, old: int) -> None:
        """Continue a run whose discriminator features used layout `old` (the policy observation is the same; the
        environment's saved history was converted as it loaded): convert the stored windows exactly, and
        re-estimate the normalizer of the changed columns from the dataset (the discriminator and encoder then
        adapt to the new features as training goes on)."""
        from sim.observations import changed_amp_columns, upgrade_amp_windows

        ch = self.env.character
        for buf in (self.demo, self.replay):
            if len(buf):
                buf.data[: len(buf)] = self.tensor(upgrade_amp_windows(buf.data[: len(buf)].cpu().numpy(), ch, old))
        cols = self.tensor(changed_amp_columns(ch, self.env.num_amp_frames, old))
        demo = self.tensor(self.dataset.sample(4096, np.random.default_rng(0))[0], dtype=torch.float64)
        var, mean = torch.var_mean(demo[:, cols], dim=0, unbiased=False)
        self.amp_norm.mean[cols], self.amp_norm.var[cols] = mean, var
        print(f"upgraded discriminator features from layout {old} to {OBS_LAYOUT_VERSION} ({len(cols)} columns)")
