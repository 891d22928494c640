"""The LLC's rollout collector: `horizon` steps of all environments with the trainer's latent schedule and
eps-greedy actions, the skill buffers and the low-style early terminations; and the overlapped variant that
runs the next rollout on a second thread beside the update. Functions of the trainer (training/llc.py), whose
state (observations, latents, generators, environment) they advance."""

from __future__ import annotations

import copy
import time
from concurrent.futures import Future, ThreadPoolExecutor
from types import SimpleNamespace
from typing import TYPE_CHECKING

import numpy as np
import torch

from controllers.networks import style_reward
from sim.arrays import to_numpy

if TYPE_CHECKING:
    from training.llc import LLCTrainer


@torch.no_grad()
def collect(trainer: LLCTrainer, nets: SimpleNamespace | None = None) -> dict[str, torch.Tensor]:
    """Collect horizon x num_envs transitions; returns (T, N, ...) tensors and episode statistics. `nets`
    (actor, obs_norm, disc_enc, amp_norm) act and judge low style; the trainer's own by default."""
    nets = nets or trainer
    t_start = time.perf_counter()
    T, N, env, dev = trainer.cfg.ppo.horizon, trainer.cfg.num_envs, trainer.env, trainer.device
    buf = {
        "obs": torch.zeros(T, N, env.obs_dim, device=dev),
        "final_obs": torch.zeros(T, N, env.obs_dim, device=dev),
        "z": torch.zeros(T, N, trainer.cfg.network.latent_dim, device=dev),
        "actions": torch.zeros(T, N, env.action_dim, device=dev),
        "logp": torch.zeros(T, N, device=dev),
        "stochastic": torch.zeros(T, N, dtype=torch.bool, device=dev),
        "amp": torch.zeros(T, N, trainer.window_dim, device=dev),
        "terminated": torch.zeros(T, N, dtype=torch.bool, device=dev),
        "done": torch.zeros(T, N, dtype=torch.bool, device=dev),
    }
    if trainer.cfg.skills:
        buf["skill"] = torch.zeros(T, N, dtype=torch.long, device=dev)
        buf["grace"] = torch.zeros(T, N, dtype=torch.bool, device=dev)
        buf["track"] = torch.zeros(T, N, device=dev)
        buf["tracked"] = torch.zeros(T, N, dtype=torch.bool, device=dev)
        buf["speed"] = torch.zeros(T, N, device=dev)
    ep_lengths, falls, unstable, style_ends = [], 0, 0, 0
    for t in range(T):
        z = trainer.latents.current()
        if trainer.cfg.skills:
            buf["skill"][t] = trainer.latents.skill
            buf["grace"][t] = trainer.tensor(env.in_grace())
            buf["tracked"][t] = trainer.tensor(trainer.latents.track_clip >= 0)
        mean = trainer.actor_mean(nets.obs_norm(trainer.obs), z, actor=nets.actor)
        # draws from the CPU generator (the same numbers on every device), then onto the device
        g = trainer.rollout_gen
        stochastic = torch.rand(N, generator=g, device=g.device).to(dev) < trainer.stochastic_prob
        noise = torch.randn(mean.shape, generator=g, device=g.device).to(dev) * trainer.action_std
        actions = torch.where(stochastic[:, None], mean + noise, mean)
        res = env.step(actions if trainer.env_tensors else actions.cpu().numpy())
        if trainer.on_env_step is not None:
            trainer.on_env_step()

        buf["obs"][t], buf["z"][t], buf["actions"][t] = trainer.obs, z, actions
        buf["logp"][t], buf["stochastic"][t] = trainer.actor.log_prob(mean, actions), stochastic
        buf["final_obs"][t] = trainer.tensor(res.final_obs)
        buf["amp"][t] = amp = trainer.tensor(res.amp_obs)
        terminated, done = trainer.tensor(res.terminated), trainer.tensor(res.done)
        trainer.obs = trainer.tensor(res.obs)
        if trainer.cfg.skills:
            track = trainer.skills.tracking(trainer.latents, env, to_numpy(res.done))
            buf["track"][t] = trainer.tensor(track, torch.float32)
            buf["speed"][t] = trainer.tensor(env.root_speed(), torch.float32)
        if trainer.cfg.low_style_termination:
            ended = low_style_ends(trainer, amp, done, z, nets)
            if ended.any():
                ids = ended.nonzero()[:, 0].cpu().numpy()
                ep_lengths += [int(x) for x in to_numpy(env.elapsed_steps())[ids]]
                trainer.obs[ids] = trainer.tensor(env.terminate(ids))
                terminated, done = terminated | ended, done | ended
                style_ends += len(ids)
        buf["terminated"][t], buf["done"][t] = terminated, done
        if trainer.cfg.skills:
            trainer.skills.start_episodes(trainer.latents, env, done)
        else:
            trainer.latents.resample(done)  # every new episode (recovery ones included) gets a new latent
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
    trainer: LLCTrainer,
    amp: torch.Tensor,
    done: torch.Tensor,
    z: torch.Tensor | None = None,
    nets: SimpleNamespace | None = None,
) -> torch.Tensor:
    """(N,) envs whose unscaled style reward -log(1 - D) stayed below the threshold for `low_style_steps`
    steps in a row, outside grace periods; counts reset at every episode end. A skill LLC judges anchored
    envs by the conditional reward, except while they track their clip or just switched skill."""
    de = (nets or trainer).disc_enc
    # overlapped: float32 here, bf16 autocast only on the update's thread (two threads autocasting at once
    # made the numbers irreproducible)
    with trainer.autocast(not trainer.cfg.overlap):
        h = de.trunk((nets or trainer).amp_norm(amp))
        logit = de.logit(h).float().reshape(-1)
        if trainer.cfg.skills:
            cond = logit + de.cond_residual(h, z).float()
    if trainer.cfg.skills:
        sched = trainer.latents
        judged = (sched.skill >= 0) & (sched.since_switch > trainer.cfg.switch_grace)
        judged &= ~trainer.tensor(sched.track_clip >= 0)
        logit = torch.where(judged, cond, logit)
    low = (style_reward(logit) / 2 < trainer.cfg.low_style_threshold) & ~trainer.tensor(trainer.env.in_grace())
    trainer.low_style_count = torch.where(low & ~done, trainer.low_style_count + 1, 0)
    ended = trainer.low_style_count >= trainer.cfg.low_style_steps
    trainer.low_style_count[ended] = 0
    return ended


class OverlappedRollouts:
    """overlap: the rollout of iteration k+1 runs on a second thread while iteration k's batch is learned, acting
    with the weights from before that update (`behaviour`, one update behind); `launch` is what a checkpoint
    written during it must hold to resume exactly, `focal_next` the focal weights the next rollout takes."""

    def __init__(self, trainer: LLCTrainer) -> None:
        t = self.trainer = trainer
        self.behaviour = SimpleNamespace(actor=t.actor, obs_norm=t.obs_norm, disc_enc=t.disc_enc, amp_norm=t.amp_norm)
        self.pending: Future | None = None
        self.launch: dict | None = None
        self.restored = False  # a resume restored the behaviour weights of the rollout to repeat
        self.focal_next: np.ndarray | None = None
        self._pool: ThreadPoolExecutor | None = None

    def next_batch(self) -> dict:
        """This iteration's rollout; the next one then starts beside the update."""
        if self.pending is None:
            self.start()
        buf = self.pending.result()
        self.start()
        return buf

    def start(self) -> None:
        """Start the next rollout on the second thread with the current weights (after a resume: the stored
        behaviour weights); first record what a checkpoint written during it must hold to resume exactly."""
        trainer = self.trainer
        if self.behaviour.actor is trainer.actor:  # first launch: private copies the update cannot touch
            self.behaviour = SimpleNamespace(**{k: copy.deepcopy(v) for k, v in vars(self.behaviour).items()})
            self.restored = False
        if self.restored:
            self.restored = False
        else:
            for name, net in vars(self.behaviour).items():
                net.load_state_dict(getattr(trainer, name).state_dict())
            if self.focal_next is not None:
                trainer.latents.weights, self.focal_next = self.focal_next, None
                trainer.env.start_weights = trainer.latents.weights.copy()
        self.launch = {
            "env_state": trainer.env.get_state(),
            "obs": trainer.obs.clone(),
            "latents": trainer.latents.state_dict(),
            "low_style_count": trainer.low_style_count.clone(),
            "rollout_gen": trainer.rollout_gen.get_state(),
        }
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rollout")
        self.pending = self._pool.submit(trainer.rollout, self.behaviour)

    def finish(self) -> None:
        """Wait for a rollout still running (the end of train(), before anything else touches the env); its
        batch stays pending for the next iteration, as a resume from the last checkpoint would repeat it."""
        if self.pending is not None:
            self.pending.result()


def set_skill_weights(trainer: LLCTrainer, w: np.ndarray) -> None:
    """New focal weights for skill draws and reference starts; an overlapped rollout running beside this update
    reads the current ones: the next one takes them."""
    if trainer.cfg.overlap:
        trainer.overlap.focal_next = w
        return
    trainer.latents.weights = w
    trainer.env.start_weights = trainer.latents.weights.copy()
