"""Named skills for the LLC: clip-anchored latents, their schedule, and DeepMimic-style tracking shaping.

A skill LLC keeps ASE's interface pi(a | s, z), z on the unit sphere, and ties one fixed latent (the skill's
anchor) to each clip of its dataset:
- anchors: the first K rows of a seeded random orthogonal matrix (unit, mutually orthogonal);
- anchored draws (probability `anchor_prob`): a skill c by the focal weights, z = normalize(a_c + noise),
  held `skill_steps_min..max` steps, then a new draw without a reset (transitions are trained);
- the rest are ASE's uniform-sphere draws, trained exactly as before, so any z an HLC picks stays valid;
- an episode that starts from a reference state of clip c is anchored to skill c (most of the time) and,
  while the clip lasts, rewarded for tracking the clip from the phase it started at.
The discriminator's conditional head, the supervised encoder term and the reward mix live in training/llc.py.
"""

from __future__ import annotations

import numpy as np
import torch

from controllers.networks import sample_latents
from sim.rotations import quat_conj, quat_mul


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
