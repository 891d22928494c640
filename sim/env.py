"""The batched humanoid environment shared by training, evaluation and the viewer.

N characters, each in its own MuJoCo simulation, stepped together: 120 Hz
physics, 30 Hz control, joint-space PD targets from actions in [-1, 1],
300-step episodes, falls, resets (reference state, default pose, fall pool,
recovery), perturbations, and the policy and discriminator observations.
Rewards are not computed here: the LLC's come from its discriminator and
encoder (training/), task rewards from tasks/.

Arrays are numpy by default. With `device_arrays` (MuJoCo Warp backends) they
are torch tensors on the physics device: the per-step path (observations,
discriminator history, falls, timeouts) runs there, and restarts are drawn on
the host (numpy RNG, motion library) from the done flags, with only the
restarted environments' states copied to the device. Saved states are numpy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from sim.arrays import as_like, copy, index_like, namespace, to_numpy
from sim.backend import Backend, make_backend
from sim.character import Character, load_character
from sim.control import CONTROL_SUBSTEPS, actions_to_targets, character_state_size
from sim.observations import (
    NUM_AMP_FRAMES,
    JointIndex,
    amp_layout,
    amp_obs,
    clip_windows,
    joint_positions,
    layout_size,
    policy_layout,
    policy_obs,
    window_times,
)
from sim.perturbations import PROJECTILE_DISTANCE, PROJECTILE_SPEED, apply_impulse, projectile_state
from sim.rotations import quat_from_axis_angle, quat_mul, quat_rotate, quat_to_matrix
from sim.scene import build_scene, projectile_parking
from sim.terminations import FALL_CONTACT_FORCE, FALL_HEIGHT, FallRule

if TYPE_CHECKING:
    from motion.library import MotionLibrary

ResetMode = Literal["mix", "default", "reference", "fall"]

# why an episode started, reported per environment in StepResult.reset_kind
RESET_NONE, RESET_DEFAULT, RESET_REFERENCE, RESET_FALL_POOL, RESET_RECOVERY, RESET_UNSTABLE = range(6)


@dataclass
class ResetConfig:
    """The reset mix that makes get-up emerge (docs/method.md, "Resets and recovery")."""

    mode: ResetMode = "mix"  # "mix" for training; a single kind for evaluation or the viewer
    recovery_prob: float = 0.2  # after a fall: keep the state, start a new episode
    fall_pool_prob: float = 0.1  # otherwise: start from a fallen pose
    reference_prob: float = 0.5  # otherwise: reference state (else default pose)
    recovery_steps: int = 60  # control steps of suppressed fall termination
    fall_pool_seconds: float = 2.5
    fall_pool_action: float = 0.5
    fall_pool_random_3d: bool = True  # fully random root orientation (False: random heading only)
    lying_start_grace: bool = True  # reference starts already below the fall heights get recovery_steps of grace


# bumped when the fall pool's recipe changes, so a resumed run rebuilds a stored pool
FALL_POOL_VERSION = 2


@dataclass
class EnvConfig:
    character: str = "humanoid"
    num_envs: int = 64
    seed: int = 0
    backend: str = "cpu"
    nthread: int = 0  # 0: all cores
    control_substeps: int = CONTROL_SUBSTEPS  # physics steps per control step (120 Hz / 30 Hz)
    episode_steps: int = 300  # an episode times out when progress >= episode_steps - 1
    num_amp_frames: int = NUM_AMP_FRAMES
    early_termination: bool = True
    fall_check_after: int = 1  # falls count once progress > this
    fall_contact_force: float = FALL_CONTACT_FORCE  # N
    fall_height: float = FALL_HEIGHT  # m, per-body overrides in Character.fall_height
    auto_reset: bool = True
    reset: ResetConfig = field(default_factory=ResetConfig)
    projectiles: int = 0
    strike_target: bool = False
    # with a Warp backend: observations, falls and episode bookkeeping as torch tensors on its device (no host
    # copies of the state each step); resets draw on the host and copy only the restarted environments' states
    device_arrays: bool = False


@dataclass
class StepResult:
    """numpy arrays, or torch tensors on the physics device with `EnvConfig.device_arrays` (reset_kind and info
    stay on the host)."""

    obs: np.ndarray  # (N, obs_dim) after automatic resets
    final_obs: np.ndarray  # (N, obs_dim) before resets: bootstrap timeouts from here
    amp_obs: np.ndarray  # (N, frames * amp_dim) window of this transition, current frame first
    terminated: np.ndarray  # (N,) fell
    truncated: np.ndarray  # (N,) timed out or reset for unstable physics
    reset_kind: np.ndarray  # (N,) RESET_* of the episode that starts now, RESET_NONE if none
    info: dict[str, Any]

    @property
    def done(self) -> np.ndarray:
        return self.terminated | self.truncated


@dataclass(frozen=True)
class _CharacterGeoms:
    """The character's geoms (spheres, capsules/cylinders along z, boxes) for ground-clearance checks."""

    body: np.ndarray  # (G,) body index in Character.bodies
    pos: np.ndarray  # (G, 3) in the body frame
    quat: np.ndarray  # (G, 4)
    is_box: np.ndarray
    half: np.ndarray  # (G, 3) box half extents, or (0, 0, capsule half length)
    radius: np.ndarray  # (G,)

    @staticmethod
    def of(model, num_bodies: int) -> _CharacterGeoms:
        import mujoco

        ids = np.nonzero((model.geom_bodyid >= 1) & (model.geom_bodyid <= num_bodies))[0]
        types, size = model.geom_type[ids], model.geom_size[ids]
        is_box = types == mujoco.mjtGeom.mjGEOM_BOX
        half = np.where(is_box[:, None], size, 0.0)
        cap = (types == mujoco.mjtGeom.mjGEOM_CAPSULE) | (types == mujoco.mjtGeom.mjGEOM_CYLINDER)
        half[cap, 2] = size[cap, 1]
        radius = np.where(is_box, 0.0, size[:, 0])
        return _CharacterGeoms(
            model.geom_bodyid[ids] - 1, model.geom_pos[ids], model.geom_quat[ids], is_box, half, radius
        )

    def penetration(self, body_pos: np.ndarray, body_rot: np.ndarray) -> np.ndarray:
        """How far (m) the lowest point of each pose's geoms lies below z = 0, from world body poses (n, B, .)."""
        rot = body_rot[:, self.body]
        z = body_pos[:, self.body, 2] + quat_rotate(rot, self.pos)[..., 2]
        rz = quat_to_matrix(quat_mul(rot, self.quat))[..., 2, :]  # world z of each geom's local axes
        reach = np.where(self.is_box, (np.abs(rz) * self.half).sum(-1), np.abs(rz[..., 2]) * self.half[:, 2])
        return np.maximum(-(z - reach - self.radius).min(1), 0.0)


class HumanoidEnv:
    def __init__(self, cfg: EnvConfig, motions: MotionLibrary | None = None):
        self.cfg = cfg
        self.character: Character = load_character(cfg.character)
        self.motions = motions
        if motions is not None and getattr(motions, "character", self.character).name != self.character.name:
            raise ValueError(
                f"motion library is for character {motions.character.name!r}, environment is {self.character.name!r}"
            )
        self.model = build_scene(self.character, projectiles=cfg.projectiles, strike_target=cfg.strike_target)
        self.num_envs = cfg.num_envs
        self.backend: Backend = make_backend(cfg.backend, self.model, cfg.num_envs, cfg.nthread, cfg.device_arrays)
        self.xp = namespace(self.backend.qpos)  # numpy, or torch for device arrays
        self.rng = np.random.default_rng(cfg.seed)

        ch = self.character
        self.joints = JointIndex.build(ch)
        self.nb = ch.num_bodies
        self.nq_char, self.nv_char = character_state_size(ch)
        self.action_offset, self.action_scale = ch.action_offset_scale()
        self.action_dim = ch.num_dof
        self.obs_dim = layout_size(policy_layout(ch))
        self.amp_obs_dim = layout_size(amp_layout(ch))
        self.num_amp_frames = cfg.num_amp_frames
        self.control_dt = self.model.opt.timestep * cfg.control_substeps

        self.fall_rule = FallRule.of(ch, cfg.fall_height, cfg.fall_contact_force)  # host arrays (restarts)
        self._fall_rule_d = self.fall_rule.like(self.backend.qpos)  # the per-step check, on the physics' arrays
        self._key_ids = self.joints.key_bodies
        self._action_offset_d, self._action_scale_d = self._dev(self.action_offset), self._dev(self.action_scale)

        n = cfg.num_envs
        self.progress = self._dev(np.zeros(n, dtype=np.int64))
        self.suppress_fall = self._dev(np.zeros(n, dtype=np.int64))
        self.amp_hist = self._dev(np.zeros((n, cfg.num_amp_frames, self.amp_obs_dim), dtype=np.float32))
        self.obs = self._dev(np.zeros((n, self.obs_dim), dtype=np.float32))
        self._ctrl = self._dev(np.tile(self.action_offset, (n, 1)))
        self._xfrc: np.ndarray | None = None
        self._next_projectile = np.zeros(n, dtype=np.int64)
        # the clip and time a reference start began from (-1 / 0 for other starts): a skill trainer's tracking target
        self.episode_clip = np.full(n, -1, dtype=np.int64)
        self.episode_time0 = np.zeros(n)
        self.start_weights: np.ndarray | None = None  # clip weights of reference starts (None: the library's)
        self.counters = {"falls": 0, "unstable_resets": 0, "timeouts": 0, "episodes": 0, "style_terminations": 0}

        self._char_geoms = _CharacterGeoms.of(self.model, self.nb)
        self._default_qpos = np.array(self.model.qpos0[: self.nq_char])
        self._default_qpos[2] = ch.root_height
        self.fall_pool: np.ndarray | None = None
        if cfg.reset.mode == "fall" or (cfg.reset.mode == "mix" and cfg.reset.fall_pool_prob > 0):
            self.fall_pool = self._build_fall_pool()

    # ------------------------------------------------------------------ arrays
    def _dev(self, x: Any, dtype: Any = None) -> Any:
        """A host array as an array of the physics' kind (numpy itself, or a tensor on its device)."""
        return as_like(x, self.backend.qpos, dtype)

    def _idx(self, ids: np.ndarray) -> Any:
        """Host environment indices, for indexing the environment's arrays."""
        return index_like(ids, self.backend.qpos)

    # ------------------------------------------------------------------ state
    @property
    def pd_targets(self) -> Any:
        """(N, nu) the PD targets the actuators hold now (the last actions, or a restart's pose)."""
        return self._ctrl

    def _char_state(self) -> tuple[np.ndarray, np.ndarray]:
        return self.backend.qpos[:, : self.nq_char], self.backend.qvel[:, : self.nv_char]

    def _bodies(self, ids: np.ndarray | slice = slice(None)):
        pos, quat, lin, ang = self.backend.bodies()
        s = slice(1, 1 + self.nb)
        return pos[ids, s], quat[ids, s], lin[ids, s], ang[ids, s]

    def _observe(self, ids: np.ndarray | slice = slice(None)) -> tuple[np.ndarray, np.ndarray]:
        pos, quat, lin, ang = self._bodies(ids)
        qpos, qvel = self._char_state()
        return policy_obs(pos, quat, lin, ang), amp_obs(self.joints, qpos[ids], qvel[ids], pos[:, self._key_ids])

    def _write_state(self, ids: np.ndarray, qpos: np.ndarray, qvel: np.ndarray) -> None:
        """Write character states (props keep their defaults) and hold PD targets at the current pose."""
        full_q = np.tile(self.model.qpos0, (len(ids), 1))
        full_v = np.zeros((len(ids), self.model.nv))
        full_q[:, : self.nq_char] = qpos
        full_v[:, : self.nv_char] = qvel
        for k in range(self.cfg.projectiles):
            adr = self.model.jnt_qposadr[self.model.joint(f"projectile_{k}").id]
            full_q[:, adr : adr + 3] = projectile_parking(k)
        idx = self._idx(ids)
        self._ctrl[idx] = self._dev(joint_positions(self.joints, qpos), self._ctrl.dtype)
        self.backend.set_state(ids, full_q, full_v, self._ctrl[idx])

    def _default_states(self, k: int, random_yaw: bool) -> tuple[np.ndarray, np.ndarray]:
        qpos = np.tile(self._default_qpos, (k, 1))
        if random_yaw:
            yaw = self.rng.uniform(-np.pi, np.pi, k)
            qpos[:, 3:7] = quat_from_axis_angle(np.array([0.0, 0.0, 1.0]), yaw)
        return qpos, np.zeros((k, self.nv_char))

    def _build_fall_pool(self) -> np.ndarray:
        """One fallen pose per environment: the default pose with a random root orientation (lifted out of the
        floor), random constant actions for 2.5 s, velocities zeroed."""
        n, rc = self.num_envs, self.cfg.reset
        ids = np.arange(n)
        qpos, qvel = self._default_states(n, random_yaw=True)
        if rc.fall_pool_random_3d:
            q = self.rng.standard_normal((n, 4))
            qpos[:, 3:7] = q / np.linalg.norm(q, axis=1, keepdims=True)
            self._write_state(ids, qpos, qvel)
            pos, rot = self._bodies()[:2]
            qpos[:, 2] += self._char_geoms.penetration(to_numpy(pos), to_numpy(rot))
        self._write_state(ids, qpos, qvel)
        actions = self.rng.uniform(-rc.fall_pool_action, rc.fall_pool_action, (n, self.action_dim))
        steps = int(round(rc.fall_pool_seconds / self.model.opt.timestep))
        self.backend.step(self.actions_to_targets(actions), None, steps)
        pool = to_numpy(self.backend.qpos[:, : self.nq_char]).astype(np.float64)
        bad = to_numpy(self.backend.unstable()) | ~np.isfinite(pool).all(1)
        pool[bad] = self._default_qpos
        return pool

    # ------------------------------------------------------------------ resets
    def reset(self, ids: np.ndarray | None = None, mode: ResetMode | None = None) -> np.ndarray:
        """Start new episodes for `ids` (all by default); returns the full observation array."""
        ids = np.arange(self.num_envs) if ids is None else np.asarray(ids, dtype=np.int64)
        self._reset(ids, fell=np.zeros(len(ids), dtype=bool), mode=mode)
        return copy(self.obs)

    def _reset(self, ids: np.ndarray, fell: np.ndarray, mode: ResetMode | None = None) -> np.ndarray:
        kind = self._choose_resets(len(ids), fell, mode or self.cfg.reset.mode)
        fresh = kind != RESET_RECOVERY
        qpos, qvel = self._default_states(len(ids), random_yaw=False)
        pool = kind == RESET_FALL_POOL
        if pool.any():
            assert self.fall_pool is not None
            qpos[pool] = self.fall_pool[self.rng.integers(0, len(self.fall_pool), int(pool.sum()))]
        hist_from_clip = kind == RESET_REFERENCE
        self.episode_clip[ids], self.episode_time0[ids] = -1, 0.0
        if hist_from_clip.any():
            qpos[hist_from_clip], qvel[hist_from_clip] = self._reference_starts(ids[hist_from_clip])
        recovery = kind == RESET_RECOVERY
        if fresh.any():
            self._write_state(ids[fresh], qpos[fresh], qvel[fresh])
        if recovery.any():  # keep the state, hold the current pose
            qpos_now, _ = self._char_state()
            rec = self._idx(ids[recovery])
            self._ctrl[rec] = self._dev(joint_positions(self.joints, qpos_now[rec]), self._ctrl.dtype)
        idx = self._idx(ids)
        self.progress[idx] = 0
        rc = self.cfg.reset
        grace = recovery | (kind == RESET_FALL_POOL)
        if rc.lying_start_grace and hist_from_clip.any():
            grace[hist_from_clip] = self._below_fall_height(ids[hist_from_clip])
        self.suppress_fall[idx] = self._dev(np.where(grace, rc.recovery_steps, 0), self.suppress_fall.dtype)
        obs, amp = self._observe(idx)
        self.obs[idx] = obs
        # default and fall-pool starts repeat the current frame; reference starts took the clip's past and
        # recovery episodes keep the real frames of the fall that just ended
        fresh_hist, from_clip = self._idx(~hist_from_clip & ~recovery), self._idx(hist_from_clip)
        self.amp_hist[idx[fresh_hist]] = amp[fresh_hist, None]
        self.amp_hist[idx[from_clip], 0] = amp[from_clip]
        self.counters["episodes"] += len(ids)
        return kind

    def _below_fall_height(self, ids: np.ndarray) -> np.ndarray:
        """(len(ids),) whether a non-foot body is below its fall height (the height half of the fall rule)."""
        return self.fall_rule.low(to_numpy(self._bodies(self._idx(ids))[0][..., 2]))

    def _choose_resets(self, k: int, fell: np.ndarray, mode: ResetMode) -> np.ndarray:
        if mode == "default" or (mode == "reference" and self.motions is None):
            return np.full(k, RESET_DEFAULT)
        if mode == "reference":
            return np.full(k, RESET_REFERENCE)
        if mode == "fall":
            return np.full(k, RESET_FALL_POOL)
        rc, u = self.cfg.reset, self.rng.random((3, k))
        ref_or_default = np.where(
            (u[2] < rc.reference_prob) & (self.motions is not None), RESET_REFERENCE, RESET_DEFAULT
        )
        use_pool = (u[1] < rc.fall_pool_prob) & (self.fall_pool is not None)
        kind = np.where(use_pool, RESET_FALL_POOL, ref_or_default)
        return np.where(fell & (u[0] < rc.recovery_prob), RESET_RECOVERY, kind)

    def _reference_starts(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Random clip states for `ids`, lifted out of the floor, with the clip's past as discriminator history."""
        f, k = self.num_amp_frames, len(ids)
        if self.start_weights is None:
            clips = self.motions.sample_clips(k, self.rng)
        else:
            clips = self.rng.choice(self.motions.num_clips, size=k, p=self.start_weights)
        times = self.motions.sample_times(clips, self.rng)
        self.episode_clip[ids], self.episode_time0[ids] = clips, times
        lagged = window_times(times, self.control_dt, f)
        st = self.motions.sample(np.repeat(clips, f), lagged)  # frames t, t - dt, ..., current first
        lift = self._char_geoms.penetration(st.body_pos[::f], st.body_rot[::f])
        hist = amp_obs(self.joints, st.qpos, st.qvel, st.body_pos[:, self._key_ids]).reshape(k, f, -1)
        hist[..., 0] += np.repeat(lift[:, None], f, axis=1)  # root height slot follows the lift
        self.amp_hist[self._idx(ids), 1:] = self._dev(hist[:, 1:], self.amp_hist.dtype)
        qpos = st.qpos[::f].copy()
        qpos[:, 2] += lift
        return qpos, st.qvel[::f]

    def _motion_amp(self, clips: np.ndarray, times: np.ndarray) -> np.ndarray:
        st = self.motions.sample(clips, times)
        return amp_obs(self.joints, st.qpos, st.qvel, st.body_pos[:, self._key_ids])

    def demo_amp_windows(
        self, n: int, rng: np.random.Generator | None = None, with_clips: bool = False
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Dataset windows: clip by weight, t0 uniform in [(F-1) dt, length], frames t0, t0 - dt, ...
        with_clips: also the clip index of each window."""
        if self.motions is None:
            raise RuntimeError("demo_amp_windows needs a motion library")
        rng = rng or self.rng
        f = self.num_amp_frames
        clips = self.motions.sample_clips(n, rng)
        t0 = self.motions.sample_times(clips, rng, min_time=(f - 1) * self.control_dt)
        t = window_times(t0, self.control_dt, f)
        windows = self._motion_amp(np.repeat(clips, f), t).reshape(n, f * self.amp_obs_dim)
        return (windows, clips) if with_clips else windows

    def clip_amp_windows(self, clip: int, max_windows: int = 64) -> np.ndarray:
        """Windows (n, frames * amp_dim) evenly along one clip, current frame first (e.g. for its latent preset)."""
        if self.motions is None:
            raise RuntimeError("clip_amp_windows needs a motion library")
        return clip_windows(self.motions, self.joints, self.control_dt, clip, self.num_amp_frames, max_windows)

    # ------------------------------------------------------------------ stepping
    def actions_to_targets(self, actions: np.ndarray) -> np.ndarray:
        if isinstance(actions, np.ndarray):
            return actions_to_targets(self.action_offset, self.action_scale, actions)
        return actions_to_targets(self._action_offset_d, self._action_scale_d, actions)

    def step(self, actions: np.ndarray) -> StepResult:
        actions = np.asarray(actions, dtype=np.float64) if self.xp is np else self._dev(actions, self._ctrl.dtype)
        if tuple(actions.shape) != (self.num_envs, self.action_dim):
            raise ValueError(f"actions must be ({self.num_envs}, {self.action_dim}), got {tuple(actions.shape)}")
        self._ctrl[:] = self.actions_to_targets(actions)
        self.backend.step(self._ctrl, self._xfrc, self.cfg.control_substeps)
        self._xfrc = None
        self.progress += 1

        unstable = copy(self.backend.unstable())
        obs, amp = self._observe()
        # diverged physics: repeat the last good observation, then restart below (a select: no host round trip)
        obs = self.xp.where(unstable[:, None], self.obs, obs)
        amp = self.xp.where(unstable[:, None], self.amp_hist[:, 0], amp)
        # numpy copies overlapping slices correctly; torch needs a copy of the source
        self.amp_hist[:, 1:] = self.amp_hist[:, :-1] if self.xp is np else copy(self.amp_hist[:, :-1])
        self.amp_hist[:, 0] = amp
        self.obs = obs

        fell = self.fallen() & (self.progress > self.cfg.fall_check_after) & (self.suppress_fall == 0)
        sf = self.suppress_fall
        self.suppress_fall = self.xp.where(sf > 0, sf - 1, 0)  # steps 1..recovery_steps are exempt
        terminated = (fell & ~unstable) if self.cfg.early_termination else fell & False
        timeout = self.progress >= self.cfg.episode_steps - 1
        truncated = (timeout & ~terminated) | unstable
        final_obs = copy(obs)
        amp_window = copy(self.amp_hist.reshape(self.num_envs, -1))

        # the host decides the restarts (their draws are numpy): the flags and step counts cross in one transfer
        host = to_numpy(self.xp.stack([terminated * 1 + unstable * 2 + timeout * 4, self.progress]))
        term_h, unstable_h, timeout_h = (host[0] & 1) > 0, (host[0] & 2) > 0, (host[0] & 4) > 0
        done_h = term_h | timeout_h | unstable_h
        lengths = host[1][done_h].copy()  # ended: terminated | truncated
        reset_kind = np.full(self.num_envs, RESET_NONE)
        self.counters["falls"] += int(term_h.sum())
        self.counters["unstable_resets"] += int(unstable_h.sum())
        self.counters["timeouts"] += int((timeout_h & ~term_h & ~unstable_h).sum())
        bad = np.nonzero(unstable_h)[0]
        if bad.size:  # a clean default-pose restart whatever the mix says, with or without auto_reset
            self._reset(bad, fell=np.zeros(bad.size, dtype=bool), mode="default")
            reset_kind[bad] = RESET_UNSTABLE
        if self.cfg.auto_reset:
            done_ids = np.nonzero(done_h & ~unstable_h)[0]
            if done_ids.size:
                reset_kind[done_ids] = self._reset(done_ids, fell=term_h[done_ids])
        info = {"episode_lengths": lengths, "falls": int(term_h.sum()), "unstable_resets": int(unstable_h.sum())}
        return StepResult(copy(self.obs), final_obs, amp_window, terminated, truncated, reset_kind, info)

    def terminate(self, ids: np.ndarray) -> np.ndarray:
        """End the episodes of `ids` now, a termination decided outside the environment (the trainer's
        low-style rule), and start new ones from the reset mix (not recovery: they did not fall).
        Returns the new episodes' first observations (len(ids), obs_dim)."""
        ids = np.asarray(ids, dtype=np.int64)
        if ids.size:
            self.counters["style_terminations"] += len(ids)
            self._reset(ids, fell=np.zeros(len(ids), dtype=bool))
        return copy(self.obs[self._idx(ids)])

    def in_grace(self) -> np.ndarray:
        """(N,) whether each environment is inside a recovery / fall-pool / lying-start grace period."""
        return self.suppress_fall > 0

    def fallen(self) -> np.ndarray:
        """(N,) ASE's fall rule (`sim.terminations.FallRule`) on every character now."""
        force = self.backend.contact_force()[:, 1 : 1 + self.nb]
        return self._fall_rule_d(force, self._bodies()[0][..., 2])

    def body_states(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Host copies of every character's world body positions (N, B, 3), rotations (N, B, 4) and its joint
        velocities qvel (N, nv) in the motion library's layout (for tracking a reference state)."""
        pos, quat = self._bodies()[:2]
        return to_numpy(pos).copy(), to_numpy(quat).copy(), to_numpy(self._char_state()[1]).copy()

    def root_speed(self) -> np.ndarray:
        """(N,) every character's horizontal root speed (m/s)."""
        return np.linalg.norm(to_numpy(self._char_state()[1])[:, :2], axis=-1)

    def amp_window(self) -> np.ndarray:
        return copy(self.amp_hist.reshape(self.num_envs, -1))

    # ------------------------------------------------------------------ perturbations
    def apply_impulse(self, ids, body: str, impulse) -> None:
        """Push `body` of environments `ids` with an impulse (N s, world frame): `sim.perturbations.apply_impulse`
        over the next control step, as the viewer does."""
        ids = np.atleast_1d(np.asarray(ids, dtype=np.int64))
        bid = self.character.body_index(body) + 1
        if self._xfrc is None:
            self._xfrc = np.zeros((self.num_envs, self.model.nbody, 6))
        apply_impulse(self._xfrc, bid, impulse, self.control_dt, envs=ids)

    def launch_projectile(
        self, ids, target_body: str = "torso", speed: float = PROJECTILE_SPEED, distance: float = PROJECTILE_DISTANCE
    ) -> None:
        """Throw a ball at `target_body` of environments `ids` from a random bearing `distance` metres away."""
        if self.cfg.projectiles <= 0:
            raise RuntimeError("this environment has no projectiles: create it with EnvConfig(projectiles=K)")
        ids = np.atleast_1d(np.asarray(ids, dtype=np.int64))
        pos = to_numpy(self._bodies()[0])
        tb = self.character.body_index(target_body)
        qpos, qvel = to_numpy(self.backend.qpos).copy(), to_numpy(self.backend.qvel).copy()
        for i in ids:
            k = int(self._next_projectile[i] % self.cfg.projectiles)
            self._next_projectile[i] += 1
            jid = self.model.joint(f"projectile_{k}").id
            qa, va = self.model.jnt_qposadr[jid], self.model.jnt_dofadr[jid]
            qpos[i, qa : qa + 7], qvel[i, va : va + 6] = projectile_state(pos[i, tb], self.rng, speed, distance)
        self.backend.set_state(ids, qpos[ids], qvel[ids], self._ctrl[self._idx(ids)], reset=False)

    # ------------------------------------------------------------------ misc
    def get_data(self, i: int = 0):
        """A MuJoCo MjData of environment i (for rendering or any mj_ function)."""
        return self.backend.get_data(i)

    def get_state(self) -> dict[str, Any]:
        """Everything needed to continue exactly: physics, episode counters, history, RNG."""
        return {
            "physics": self.backend.get_full_state(),
            "ctrl": to_numpy(self._ctrl).copy(),  # host arrays: a state resumes on any backend
            "progress": to_numpy(self.progress).copy(),
            "suppress_fall": to_numpy(self.suppress_fall).copy(),
            "amp_hist": to_numpy(self.amp_hist).copy(),
            "obs": to_numpy(self.obs).copy(),
            "fall_pool": None if self.fall_pool is None else self.fall_pool.copy(),
            "fall_pool_version": FALL_POOL_VERSION,
            "rng": self.rng.bit_generator.state,
            "counters": dict(self.counters),
            "next_projectile": self._next_projectile.copy(),
            "episode_clip": self.episode_clip.copy(),
            "episode_time0": self.episode_time0.copy(),
        }

    def set_state(self, state: dict[str, Any]) -> None:
        if tuple(state["progress"].shape) != (self.num_envs,):
            raise ValueError(
                f"saved environment state has {state['progress'].shape[0]} environments, this one {self.num_envs}"
            )
        self.rng.bit_generator.state = state["rng"]
        self.fall_pool = None if state["fall_pool"] is None else state["fall_pool"].copy()
        if self.fall_pool is not None and state.get("fall_pool_version", 1) != FALL_POOL_VERSION:
            self.fall_pool = self._build_fall_pool()  # built by an older recipe: rebuild (steps the physics)
        self.backend.set_full_state(state["physics"])
        self._ctrl = copy(self._dev(state["ctrl"]))
        self.progress = copy(self._dev(state["progress"]))
        self.suppress_fall = copy(self._dev(state["suppress_fall"]))
        self.amp_hist = copy(self._dev(state["amp_hist"]))
        self.obs = copy(self._dev(state["obs"]))
        self.counters = {**self.counters, **state["counters"]}
        self._next_projectile = state["next_projectile"].copy()
        if "episode_clip" in state:
            self.episode_clip, self.episode_time0 = state["episode_clip"].copy(), state["episode_time0"].copy()
