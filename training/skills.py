"""Named skills for the LLC: clip-anchored latents, their schedule, and DeepMimic-style tracking shaping.

A skill LLC keeps ASE's interface pi(a | s, z), z on the unit sphere, and ties one fixed latent (the skill's
anchor) to each clip of its dataset:
- anchors: the first K rows of a seeded random orthogonal matrix (unit, mutually orthogonal);
- anchored draws (probability `anchor_prob`): a skill c by the focal weights, z = normalize(a_c + noise),
  held `skill_steps_min..max` steps, then a new draw without a reset (transitions are trained);
- the rest are ASE's uniform-sphere draws, trained exactly as before, so any z an HLC picks stays valid;
- an episode that starts from a reference state of clip c is anchored to skill c (most of the time) and,
  while the clip lasts, rewarded for tracking the clip from the phase it started at.
`SkillTerms` (below) is what a skill LLC adds to ASE's trainer (training/llc.py): the reward mix of anchored
envs, tracking, the pace reward, per-skill scores and the focal weights they drive, and the losses of the
discriminator's conditional head and the supervised encoder.
"""

from __future__ import annotations

import numpy as np
import torch

from controllers.latents import GETUP_PREFIX
from controllers.networks import sample_latents, style_reward
from sim.arrays import to_numpy
from sim.rotations import quat_conj, quat_mul
from training.losses import gradient_penalty


def skill_anchors(k: int, dim: int, seed: int = 0) -> torch.Tensor:
    """(k, dim) mutually orthogonal unit latents: rows of a seeded random orthogonal matrix."""
    if not 1 <= k <= dim:
        raise ValueError(f"need 1 <= skills <= latent_dim, got {k} skills for {dim} dimensions")
    g = torch.Generator().manual_seed(seed)
    q, r = torch.linalg.qr(torch.randn(dim, dim, generator=g, dtype=torch.float64))
    q = q * torch.sign(torch.diagonal(r))[None]  # a unique (Haar) orthogonal matrix
    return q.T[:k].float().contiguous()


def near_anchor(anchors: torch.Tensor, skills: torch.Tensor, noise: float, gen: torch.Generator) -> torch.Tensor:
    """Unit latents normalize(a_c + noise * g), g ~ N(0, I): a cluster around each skill's anchor
    (cos ~ 1 / sqrt(1 + noise^2 dim), 0.95 for 0.04 in 64-d)."""
    g = torch.randn(len(skills), anchors.shape[1], generator=gen, device=gen.device)
    return torch.nn.functional.normalize(anchors[skills.cpu()] + noise * g, dim=-1)


class SkillSchedule:
    """Per-environment latents of a skill LLC: skill index (-1: an ASE draw), latent, steps left, steps since
    the last change, and the clip/phase being tracked (-1: none). Tensors on `device`, tracking on the host."""

    def __init__(
        self,
        num_envs: int,
        anchors: torch.Tensor,
        anchor_prob: float,
        noise: float,
        skill_steps: tuple[int, int],
        ase_steps: tuple[int, int],
        generator: torch.Generator,
        device: torch.device | str = "cpu",
    ) -> None:
        self.anchors, self.gen = anchors.cpu(), generator
        self.anchor_prob, self.noise = anchor_prob, noise
        self.skill_steps, self.ase_steps = skill_steps, ase_steps
        self.device = torch.device(device)
        self.weights = np.full(len(anchors), 1.0 / len(anchors))  # skill draws (the focal weights)
        self.z = torch.zeros(num_envs, anchors.shape[1], device=self.device)
        self.skill = torch.full((num_envs,), -1, dtype=torch.long, device=self.device)
        self.remaining = torch.zeros(num_envs, dtype=torch.long, device=self.device)
        self.since_switch = torch.zeros(num_envs, dtype=torch.long, device=self.device)
        self.track_clip = np.full(num_envs, -1, dtype=np.int64)
        self.track_t0 = np.zeros(num_envs)
        self.track_until = np.zeros(num_envs)
        self.draw(torch.ones(num_envs, dtype=torch.bool, device=self.device))

    def _rand(self, n: int) -> torch.Tensor:
        return torch.rand(n, generator=self.gen, device=self.gen.device)

    def _weighted_skills(self, n: int) -> torch.Tensor:
        w = torch.as_tensor(self.weights, dtype=torch.float64)
        return torch.multinomial(w, n, replacement=True, generator=self.gen)

    def _set(self, ids: torch.Tensor, skills: torch.Tensor) -> None:
        """Latents for envs `ids` (host indices): anchored for skills >= 0, uniform on the sphere for -1."""
        n = len(ids)
        anchored = skills >= 0
        z = sample_latents(n, self.anchors.shape[1], self.gen)
        if anchored.any():
            z[anchored] = near_anchor(self.anchors, skills[anchored], self.noise, self.gen)
        lo = torch.where(anchored, self.skill_steps[0], self.ase_steps[0])
        hi = torch.where(anchored, self.skill_steps[1], self.ase_steps[1])
        steps = lo + (self._rand(n) * (hi - lo).float()).long()
        dev = ids.to(self.device)
        self.z[dev], self.skill[dev] = z.to(self.device), skills.to(self.device)
        self.remaining[dev] = steps.to(self.device)
        self.since_switch[dev] = 0
        self.track_clip[ids.numpy()] = -1

    def draw(self, mask: torch.Tensor) -> None:
        """New draws (anchored with anchor_prob, else ASE) for the envs in `mask`; tracking stops there."""
        ids = mask.nonzero()[:, 0].cpu()
        if len(ids):
            anchored = self._rand(len(ids)) < self.anchor_prob
            skills = torch.where(anchored, self._weighted_skills(len(ids)), -1)
            self._set(ids, skills)

    def start_episodes(
        self, mask: torch.Tensor, episode_clip: np.ndarray, episode_time0: np.ndarray, durations: np.ndarray,
        loops: np.ndarray, loop_seconds: float,
    ) -> None:  # fmt: skip
        """New episodes for the envs in `mask`. One that starts from clip c's reference state is anchored to
        skill c (with anchor_prob) and tracks c from its start time to the clip's end (a loop: for
        `loop_seconds`); others draw as usual."""
        ids = mask.nonzero()[:, 0].cpu()
        if not len(ids):
            return
        clip = torch.as_tensor(episode_clip[ids.numpy()])
        anchored = self._rand(len(ids)) < self.anchor_prob
        skills = torch.where(anchored, torch.where(clip >= 0, clip, self._weighted_skills(len(ids))), -1)
        self._set(ids, skills)
        tracked = (anchored & (clip >= 0)).numpy()
        t_ids, c = ids.numpy()[tracked], episode_clip[ids.numpy()][tracked]
        self.track_clip[t_ids], self.track_t0[t_ids] = c, episode_time0[t_ids]
        t0 = episode_time0[t_ids]
        self.track_until[t_ids] = np.where(loops[c], t0 + loop_seconds, durations[c])

    def current(self) -> torch.Tensor:
        """The latents to act with this step (redrawing those whose interval ran out); counts the step."""
        self.draw(self.remaining <= 0)
        self.remaining -= 1
        self.since_switch += 1
        return self.z.clone()

    def state_dict(self) -> dict:
        return {
            "z": self.z.clone(), "skill": self.skill.clone(), "remaining": self.remaining.clone(),
            "since_switch": self.since_switch.clone(), "weights": torch.from_numpy(self.weights.copy()),
            "track_clip": torch.from_numpy(self.track_clip.copy()), "track_t0": torch.from_numpy(self.track_t0.copy()),
            "track_until": torch.from_numpy(self.track_until.copy()),
        }  # fmt: skip

    def load_state_dict(self, state: dict) -> None:
        for name in ("z", "skill", "remaining", "since_switch"):
            setattr(self, name, state[name].to(self.device, copy=True))
        self.weights = state["weights"].numpy().copy()
        self.track_clip = state["track_clip"].numpy().copy()
        self.track_t0 = state["track_t0"].numpy().copy()
        self.track_until = state["track_until"].numpy().copy()


def steady_speeds(motions, samples: int = 200) -> np.ndarray:
    """(K,) each clip's mean horizontal root speed (m/s) where the clip loops (a steady pace: walk, jog, run,
    a held pose), NaN for the others (a punch or a get-up has no one pace)."""
    out = np.full(motions.num_clips, np.nan)
    for c in np.nonzero(motions._loop)[0]:
        t = np.linspace(0.0, motions.durations[c], samples, endpoint=False)
        qvel = motions.sample(np.full(samples, c), t).qvel
        out[c] = np.linalg.norm(qvel[:, :2], axis=-1).mean()
    return out


def speed_reward(speed: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """exp(-((v - v_c) / (0.25 + 0.25 v_c))^2): 1 at the skill's pace, a tolerance that grows with it."""
    return torch.exp(-torch.square((speed - target) / (0.25 + 0.25 * target)))


# DeepMimic-style tracking terms: weights and error scales (pose, joint velocity, root pose, root velocity,
# key bodies), as in MimicKit's humanoid imitation config
TRACK_WEIGHTS = (0.5, 0.1, 0.15, 0.1, 0.15)
TRACK_SCALES = (0.25, 0.01, 5.0, 1.0, 10.0)


def _angle(q1: np.ndarray, q2: np.ndarray) -> np.ndarray:
    """Rotation angle between unit quaternions (wxyz), (...)."""
    return 2.0 * np.arccos(np.clip(np.abs((q1 * q2).sum(-1)), 0.0, 1.0))


def tracking_reward(
    pos: np.ndarray, rot: np.ndarray, qvel: np.ndarray, ref, key_ids: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(reward in [0, 1], mean body position error in m), per env, of simulated bodies (n, B, 3/4) and joint
    velocities (n, nv) against reference states `ref` (motion.library.MotionState, same n)."""
    root_rel = quat_mul(quat_conj(rot[:, :1]), rot[:, 1:])
    ref_rel = quat_mul(quat_conj(ref.body_rot[:, :1]), ref.body_rot[:, 1:])
    pose_err = np.square(_angle(root_rel, ref_rel)).sum(-1)
    vel_err = np.square(qvel[:, 6:] - ref.qvel[:, 6:]).sum(-1)
    root_err = np.square(pos[:, 0] - ref.body_pos[:, 0]).sum(-1) + 0.1 * np.square(
        _angle(rot[:, 0], ref.body_rot[:, 0])
    )
    root_vel_err = np.square(qvel[:, :3] - ref.qvel[:, :3]).sum(-1) + 0.1 * np.square(
        qvel[:, 3:6] - ref.qvel[:, 3:6]
    ).sum(-1)
    key = pos[:, key_ids] - pos[:, :1]
    ref_key = ref.body_pos[:, key_ids] - ref.body_pos[:, :1]
    key_err = np.square(key - ref_key).sum(-1).sum(-1)
    errs = (pose_err, vel_err, root_err, root_vel_err, key_err)
    reward = sum(w * np.exp(-s * e) for w, s, e in zip(TRACK_WEIGHTS, TRACK_SCALES, errs))
    mean_dist = np.linalg.norm(pos - ref.body_pos, axis=-1).mean(-1)
    return reward, mean_dist


class LabelledWindows:
    """The demo buffer of a skill LLC: dataset windows and the clip (skill) each came from."""

    def __init__(self, capacity: int, dim: int, device: torch.device | str = "cpu") -> None:
        from training.replay import WindowBuffer

        self.windows = WindowBuffer(capacity, dim, device)
        self.labels = torch.zeros(capacity, dtype=torch.long, device=device)

    def __len__(self) -> int:
        return len(self.windows)

    def store(self, rows: torch.Tensor, labels: torch.Tensor) -> None:
        idx = self.windows.store(rows)
        self.labels[idx] = labels[-len(idx) :].to(self.labels.device)

    def sample(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        idx = self.windows.sample_index(n, generator)
        return self.windows.data[idx], self.labels[idx]

    def state_dict(self) -> dict:
        return {**self.windows.state_dict(), "labels": self.labels[: len(self)].clone()}

    def load_state_dict(self, state: dict) -> None:
        self.windows.load_state_dict(state)
        self.labels[: len(state["labels"])] = state["labels"].to(self.labels.device)


class SkillTerms:
    """A skill LLC's named skills and the terms beside ASE's: anchors of the dataset's clips, the reward mix of
    anchored envs (conditional style, a get-up bonus after a fall, tracking, pace), the running per-skill score
    and the focal weights it drives, and the conditional discriminator and supervised encoder losses. `cfg` is
    the trainer's LLCConfig (read live)."""

    def __init__(self, cfg, dataset, device: torch.device) -> None:
        motions = dataset.motions
        self.cfg, self.dataset = cfg, dataset
        self.names: list[str] = list(motions.clip_names)
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"skill names must differ (name the clips in the dataset YAML): {self.names}")
        self.anchors = skill_anchors(len(self.names), cfg.network.latent_dim).to(device)
        self.base_weights = np.asarray(motions.weights, dtype=np.float64).copy()
        self.score = np.zeros(len(self.names))  # running mean conditional reward per skill
        self.getup = [i for i, name in enumerate(self.names) if name.startswith(GETUP_PREFIX)]
        self.speed_targets = torch.as_tensor(steady_speeds(motions), dtype=torch.float32, device=device)

    def schedule(self, num_envs: int, generator: torch.Generator, device: torch.device) -> SkillSchedule:
        """The per-environment latent schedule, drawing skills by the dataset's weights (then the focal ones)."""
        cfg = self.cfg
        sched = SkillSchedule(
            num_envs, self.anchors, cfg.anchor_prob, cfg.anchor_noise, (cfg.skill_steps_min, cfg.skill_steps_max),
            (cfg.latent_steps_min, cfg.latent_steps_max), generator, device,
        )  # fmt: skip
        sched.weights = self.base_weights.copy()
        return sched

    def entry(self) -> dict:
        """What a checkpoint stores about the skills."""
        return {"names": self.names, "anchors": self.anchors.cpu()}

    def start_episodes(self, latents: SkillSchedule, env, done: torch.Tensor) -> None:
        """Latents for new episodes: a reference start of clip c anchors skill c and tracks the clip."""
        m, (clip, time0) = self.dataset.motions, env.episode_starts()
        latents.start_episodes(done, clip, time0, m.durations, m._loop, self.cfg.track_loop_seconds)

    def tracking(self, latents: SkillSchedule, env, done: np.ndarray) -> np.ndarray:
        """(N,) this step's tracking reward of the envs tracking a clip (0 elsewhere); tracking stops at the
        clip's end or once the body is `track_max_error` off the reference."""
        reward = np.zeros(self.cfg.num_envs, dtype=np.float32)
        ids = np.nonzero((latents.track_clip >= 0) & ~done)[0]
        if not len(ids):
            return reward
        t = latents.track_t0[ids] + to_numpy(env.elapsed_steps())[ids] * env.control_dt
        over = t > latents.track_until[ids]
        latents.track_clip[ids[over]] = -1
        ids, t = ids[~over], t[~over]
        if len(ids):
            pos, rot, qvel = env.body_states()
            ref = self.dataset.motions.sample(latents.track_clip[ids], t)
            r, err = tracking_reward(pos[ids], rot[ids], qvel[ids], ref, self.dataset.joints.key_bodies)
            reward[ids] = r
            latents.track_clip[ids[err > self.cfg.track_max_error]] = -1
        return reward

    def track_weight(self, global_step: int) -> float:
        cfg = self.cfg
        return cfg.track_weight * max(0.0, 1.0 - global_step / max(cfg.track_anneal_samples, 1.0))

    def rewards(
        self, buf: dict, rewards: torch.Tensor, r_disc: torch.Tensor, r_enc: torch.Tensor, enc_mu: torch.Tensor,
        cond_logit: torch.Tensor, global_step: int,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:  # fmt: skip
        """ASE's (T, N) `rewards` with the skill terms: anchored envs outside grace get the conditional mix,
        fallen anchored ones a get-up encoder reward, tracked ones the tracking term, steady skills the pace
        term. Returns (rewards, conditional style reward, anchored mask)."""
        cfg = self.cfg
        T, N = rewards.shape
        r_cond = style_reward(cond_logit).reshape(T, N)
        anchored = (buf["skill"] >= 0) & ~buf["grace"]
        mix = cfg.cond_reward_weight * r_cond + cfg.anchored_style_weight * r_disc + cfg.anchored_enc_weight * r_enc
        rewards = torch.where(anchored, mix, rewards)
        if cfg.grace_getup_reward and self.getup:
            # after a fall, whatever skill is held: the encoder term rewards looking like a get-up (holding
            # idle or walk while lying would otherwise pay for lying still)
            r_getup = (enc_mu.float() @ self.anchors[self.getup].T).max(-1).values.clamp(min=0.0).reshape(T, N)
            fallen = (buf["skill"] >= 0) & buf["grace"]
            rewards = torch.where(fallen, cfg.style_weight * r_disc + cfg.enc_weight * r_getup, rewards)
        rewards = rewards + self.track_weight(global_step) * buf["track"]
        if cfg.speed_weight:
            target = self.speed_targets[buf["skill"].clamp(min=0)]
            paced = anchored & ~buf["done"] & ~torch.isnan(target)
            r_speed = speed_reward(buf["speed"], target.nan_to_num())
            rewards = rewards + cfg.speed_weight * torch.where(paced, r_speed, 0.0)
        return rewards, r_cond, anchored

    def record(self, buf: dict, r_cond: torch.Tensor, anchored: torch.Tensor, global_step: int) -> None:
        """Per-skill conditional reward (its running mean drives the focal weights) and tracking statistics."""
        stats, skill = buf["stats"], buf["skill"]
        for c, name in enumerate(self.names):
            m = anchored & (skill == c)
            if m.any():
                r = r_cond[m].mean().item()
                self.score[c] = r if self.score[c] == 0 else 0.9 * self.score[c] + 0.1 * r
                stats[f"skill_cond/{name}"] = r
                stats[f"skill_speed/{name}"] = buf["speed"][m & ~buf["done"]].mean().item()
        tracked = buf["tracked"]
        stats.update({
            "reward/cond": r_cond[anchored].mean().item() if anchored.any() else float("nan"),
            "reward/track": buf["track"][tracked].mean().item() if tracked.any() else float("nan"),
            "skills/tracked_frac": tracked.float().mean().item(),
            "skills/anchored_frac": (skill >= 0).float().mean().item(),
            "skills/track_weight": self.track_weight(global_step),
        })  # fmt: skip

    def focal_weights(self) -> np.ndarray:
        """Skills whose conditional reward is low get drawn (and started from) more: w ~ base (1.5 - s / max s)."""
        s = self.score
        w = self.base_weights * (1.5 - s / s.max()) if s.max() > 0 else self.base_weights.copy()
        return w / w.sum()

    def losses(
        self, de, mb: dict, h_agent: torch.Tensor, agent_logit: torch.Tensor, h_demo: torch.Tensor,
        demo_logit: torch.Tensor, demo_n: torch.Tensor, gen: torch.Generator, autocast,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:  # fmt: skip
        """A skill LLC's extra terms: the conditional discriminator and the supervised encoder.
        Conditional logit = unconditional logit (detached: ASE's head trains as before) + cond(h) . z.
        Positives: dataset windows of skill c with z near c's anchor; negatives: anchored rollout windows with
        their own z, and mismatches: dataset windows with another skill's z. Supervised encoder: a dataset
        window of skill c encodes to c's anchor: -mean(mu . a_c). `de`: the discriminator/encoder (DiscEnc), `h_*`
        its trunk features of the minibatch's rollout and dataset windows; `autocast`: the trainer's."""
        cfg, anchors, dev = self.cfg, self.anchors, self.anchors.device
        labels, K = mb["demo_c"], len(self.names)
        z_pos = near_anchor(anchors.cpu(), labels.cpu(), cfg.anchor_noise, gen).to(dev)
        m = int(len(labels) * cfg.mismatch_frac)
        other = (labels[:m] + torch.randint(1, K, (m,), generator=gen).to(dev)) % K
        z_mis = near_anchor(anchors.cpu(), other.cpu(), cfg.anchor_noise, gen).to(dev)
        with autocast():
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
        cond_gp = gradient_penalty(res_pos, demo_n)
        sup_enc = -(mu_demo * anchors[labels]).sum(-1).mean()
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
