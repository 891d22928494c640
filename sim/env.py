"""The batched humanoid environment shared by training, evaluation and the viewer.

N characters, each in its own MuJoCo simulation, stepped together: 120 Hz
physics, 30 Hz control, joint-space PD targets from actions in [-1, 1],
300-step episodes, falls, resets (the reset terms of sim/resets.py: reference
state, default pose, fall pool, recovery), perturbations, and the policy and
discriminator observations. Callers read it through methods (`elapsed_steps`,
`episode_starts`, `character_bodies`, ...), not its buffers.
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
from typing import TYPE_CHECKING, Any

import numpy as np

from sim.arrays import as_like, copy, index_like, namespace, to_numpy
from sim.backend import Backend, make_backend
from sim.character import Character, load_character
from sim.control import CONTROL_SUBSTEPS, actions_to_targets, character_state_size
from sim.env_state import env_state, restore_env_state
from sim.observations import (
    NUM_AMP_FRAMES,
    JointIndex,
    amp_layout,
    amp_obs,
    joint_positions,
    layout_size,
    policy_layout,
    policy_obs,
)
from sim.perturbations import PROJECTILE_DISTANCE, PROJECTILE_SPEED, EnvPerturbations
from sim.resets import (  # noqa: F401  (RESET_* and ResetConfig: the environment's vocabulary, re-exported)
    FALL_POOL_VERSION,
    RESET_DEFAULT,
    RESET_FALL_POOL,
    RESET_NONE,
    RESET_RECOVERY,
    RESET_REFERENCE,
    RESET_TERMS,
    RESET_UNSTABLE,
    CharacterGeoms,
    ResetConfig,
    build_fall_pool,
    choose_resets,
)
from sim.rotations import quat_from_axis_angle
from sim.scene import build_scene, projectile_parking
from sim.terminations import FALL_CONTACT_FORCE, FALL_HEIGHT, FallRule

if TYPE_CHECKING:
    from motion.library import MotionLibrary


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
        self._action_offset_d = self.as_array(self.action_offset)
        self._action_scale_d = self.as_array(self.action_scale)

        n = cfg.num_envs
        self.progress = self.as_array(np.zeros(n, dtype=np.int64))
        self.suppress_fall = self.as_array(np.zeros(n, dtype=np.int64))
        self.amp_hist = self.as_array(np.zeros((n, cfg.num_amp_frames, self.amp_obs_dim), dtype=np.float32))
        self.obs = self.as_array(np.zeros((n, self.obs_dim), dtype=np.float32))
        self._ctrl = self.as_array(np.tile(self.action_offset, (n, 1)))
        self.perturbations = EnvPerturbations(self)  # shoves and balls
        # the clip and time a reference start began from (-1 / 0 for other starts): a skill trainer's tracking target
        self.episode_clip = np.full(n, -1, dtype=np.int64)
        self.episode_time0 = np.zeros(n)
        self.start_weights: np.ndarray | None = None  # clip weights of reference starts (None: the library's)
        self.counters = {"falls": 0, "unstable_resets": 0, "timeouts": 0, "episodes": 0, "style_terminations": 0}

        self.geoms = CharacterGeoms.of(self.model, self.nb)
        self.default_qpos = np.array(self.model.qpos0[: self.nq_char])
        self.default_qpos[2] = ch.root_height
        cfg.reset.validate()
        self.fall_pool: np.ndarray | None = None
        if cfg.reset.uses("fall_pool"):
            self.fall_pool = build_fall_pool(self)

    # ------------------------------------------------------------------ arrays
    def as_array(self, x: Any, dtype: Any = None) -> Any:
        """A host array as an array of the physics' kind (numpy itself, or a tensor on its device)."""
        return as_like(x, self.backend.qpos, dtype)

    def index(self, ids: np.ndarray) -> Any:
        """Host environment indices, for indexing the environment's arrays."""
        return index_like(ids, self.backend.qpos)

    @property
    def like(self) -> Any:
        """An array of the physics' kind and float type (`like` of sim.arrays.as_like): numpy float64, or a tensor
        on the physics device."""
        return self.backend.qpos

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

    def write_states(self, ids: np.ndarray, qpos: np.ndarray, qvel: np.ndarray) -> None:
        """Write character states (props keep their defaults) and hold PD targets at the current pose."""
        full_q = np.tile(self.model.qpos0, (len(ids), 1))
        full_v = np.zeros((len(ids), self.model.nv))
        full_q[:, : self.nq_char] = qpos
        full_v[:, : self.nv_char] = qvel
        for k in range(self.cfg.projectiles):
            adr = self.model.jnt_qposadr[self.model.joint(f"projectile_{k}").id]
            full_q[:, adr : adr + 3] = projectile_parking(k)
        idx = self.index(ids)
        self._ctrl[idx] = self.as_array(joint_positions(self.joints, qpos), self._ctrl.dtype)
        self.backend.set_state(ids, full_q, full_v, self._ctrl[idx])

    def default_states(self, k: int, random_yaw: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """k default poses at rest (qpos, qvel), facing +x or a random heading."""
        qpos = np.tile(self.default_qpos, (k, 1))
        if random_yaw:
            yaw = self.rng.uniform(-np.pi, np.pi, k)
            qpos[:, 3:7] = quat_from_axis_angle(np.array([0.0, 0.0, 1.0]), yaw)
        return qpos, np.zeros((k, self.nv_char))

    # ------------------------------------------------------------------ resets
    def reset(self, ids: np.ndarray | None = None, mode: str | None = None) -> np.ndarray:
        """Start new episodes for `ids` (all by default) by `mode`: "mix", or the name of one reset term
        (sim.resets.RESET_TERMS); the config's by default. Returns the full observation array."""
        ids = np.arange(self.num_envs) if ids is None else np.asarray(ids, dtype=np.int64)
        self._reset(ids, fell=np.zeros(len(ids), dtype=bool), mode=mode)
        return copy(self.obs)

    def _reset(self, ids: np.ndarray, fell: np.ndarray, mode: str | None = None) -> np.ndarray:
        """Start episodes for `ids` by the reset terms (sim/resets.py); returns each one's RESET_* code."""
        kind = choose_resets(self, fell, mode or self.cfg.reset.mode)
        k = len(ids)
        qpos, qvel = self.default_states(k)
        clip, time0 = np.full(k, -1, dtype=np.int64), np.zeros(k)
        keep, from_clip = np.zeros(k, dtype=bool), np.zeros(k, dtype=bool)
        started = []
        for term in RESET_TERMS.values():  # their starts draw in this order
            sel = kind == term.code
            if not sel.any():
                continue
            started.append((term, sel))
            new = term.start(self, ids[sel])
            if new is None:
                keep |= sel
                continue
            qpos[sel], qvel[sel] = new.qpos, new.qvel
            if new.history is not None:
                from_clip |= sel
                self.amp_hist[self.index(ids[sel]), 1:] = self.as_array(new.history, self.amp_hist.dtype)
            if new.clip is not None:
                clip[sel], time0[sel] = new.clip, new.time
        self.episode_clip[ids], self.episode_time0[ids] = clip, time0
        if (~keep).any():
            self.write_states(ids[~keep], qpos[~keep], qvel[~keep])
        if keep.any():  # the state stays: hold the current pose
            qpos_now, _ = self._char_state()
            kept = self.index(ids[keep])
            self._ctrl[kept] = self.as_array(joint_positions(self.joints, qpos_now[kept]), self._ctrl.dtype)
        idx = self.index(ids)
        self.progress[idx] = 0
        grace = np.zeros(k, dtype=bool)
        for term, sel in started:
            grace[sel] = term.grace(self, ids[sel])
        grace_steps = np.where(grace, self.cfg.reset.recovery_steps, 0)
        self.suppress_fall[idx] = self.as_array(grace_steps, self.suppress_fall.dtype)
        obs, amp = self._observe(idx)
        self.obs[idx] = obs
        # starts repeat their current frame, reference starts took the clip's past and kept states (recovery
        # episodes) keep the real frames of the fall that just ended
        repeat, after_clip = self.index(~from_clip & ~keep), self.index(from_clip)
        self.amp_hist[idx[repeat]] = amp[repeat, None]
        self.amp_hist[idx[after_clip], 0] = amp[after_clip]
        self.counters["episodes"] += len(ids)
        return kind

    def _below_fall_height(self, ids: np.ndarray) -> np.ndarray:
        """(len(ids),) whether a non-foot body is below its fall height (the height half of the fall rule)."""
        return self.fall_rule.low(to_numpy(self._bodies(self.index(ids))[0][..., 2]))

    # ------------------------------------------------------------------ stepping
    def actions_to_targets(self, actions: np.ndarray) -> np.ndarray:
        if isinstance(actions, np.ndarray):
            return actions_to_targets(self.action_offset, self.action_scale, actions)
        return actions_to_targets(self._action_offset_d, self._action_scale_d, actions)

    def step(self, actions: np.ndarray) -> StepResult:
        actions = np.asarray(actions, dtype=np.float64) if self.xp is np else self.as_array(actions, self._ctrl.dtype)
        if tuple(actions.shape) != (self.num_envs, self.action_dim):
            raise ValueError(f"actions must be ({self.num_envs}, {self.action_dim}), got {tuple(actions.shape)}")
        self._ctrl[:] = self.actions_to_targets(actions)
        self.backend.step(self._ctrl, self.perturbations.take_forces(), self.cfg.control_substeps)
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
        reset_kind, info = end_episodes(self, host[0], host[1])
        return StepResult(copy(self.obs), final_obs, amp_window, terminated, truncated, reset_kind, info)

    def terminate(self, ids: np.ndarray) -> np.ndarray:
        """End the episodes of `ids` now, a termination decided outside the environment (the trainer's
        low-style rule), and start new ones from the reset mix (not recovery: they did not fall).
        Returns the new episodes' first observations (len(ids), obs_dim)."""
        ids = np.asarray(ids, dtype=np.int64)
        if ids.size:
            self.counters["style_terminations"] += len(ids)
            self._reset(ids, fell=np.zeros(len(ids), dtype=bool))
        return copy(self.obs[self.index(ids)])

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

    def elapsed_steps(self) -> Any:
        """(N,) control steps each environment's episode has run (a copy, of the physics' kind)."""
        return copy(self.progress)

    def episode_starts(self) -> tuple[np.ndarray, np.ndarray]:
        """(N,) host copies of the clip and time each episode's reference start began from (-1 and 0 for other
        starts): a skill trainer's tracking target."""
        return self.episode_clip.copy(), self.episode_time0.copy()

    # ------------------------------------------------------------------ scene reads and props
    def character_bodies(self) -> tuple[Any, Any, Any, Any]:
        """World positions (N, B, 3), rotations (N, B, 4), linear and angular velocities (N, B, 3) of every
        character's bodies (views of the physics' arrays)."""
        return self._bodies()

    def contact_forces(self) -> Any:
        """(N, B) the norm of the external contact force on each character body (a view)."""
        return self.backend.contact_force()[:, 1 : 1 + self.nb]

    def scene_body(self, body: int) -> tuple[Any, Any, Any, Any]:
        """World position (N, 3), rotation (N, 4), linear and angular velocity (N, 3) of scene body `body` (a
        MuJoCo body id: a prop such as the strike target)."""
        pos, quat, lin, ang = self.backend.bodies()
        return pos[:, body], quat[:, body], lin[:, body], ang[:, body]

    def place_free_body(self, ids: np.ndarray, joint: str, pos: Any, quat: Any) -> None:
        """Put the free body of `joint` (a prop: the strike target) at world poses pos (k, 3), quat (k, 4), at rest,
        in environments `ids`; the characters and their PD targets stay."""
        jid = self.model.joint(joint).id
        qa, va = self.model.jnt_qposadr[jid], self.model.jnt_dofadr[jid]
        idx = self.index(ids)
        qpos, qvel = copy(self.backend.qpos[idx]), copy(self.backend.qvel[idx])
        qpos[:, qa : qa + 3], qpos[:, qa + 3 : qa + 7] = as_like(pos, qpos, qpos.dtype), as_like(quat, qpos, qpos.dtype)
        qvel[:, va : va + 6] = 0.0
        self.backend.set_state(ids, qpos, qvel, self._ctrl[idx], reset=False)

    # ------------------------------------------------------------------ perturbations
    def apply_impulse(self, ids, body: str, impulse) -> None:
        """Push `body` of environments `ids` with an impulse (N s, world frame) over the next control step."""
        self.perturbations.apply_impulse(ids, body, impulse)

    def launch_projectile(
        self, ids, target_body: str = "torso", speed: float = PROJECTILE_SPEED, distance: float = PROJECTILE_DISTANCE
    ) -> None:
        """Throw a ball at `target_body` of environments `ids` from a random bearing `distance` metres away."""
        self.perturbations.launch_projectile(ids, target_body, speed, distance)

    # ------------------------------------------------------------------ misc
    def get_data(self, i: int = 0):
        """A MuJoCo MjData of environment i (for rendering or any mj_ function)."""
        return self.backend.get_data(i)

    def get_state(self) -> dict[str, Any]:
        """Everything needed to continue exactly: physics, episode counters, history, RNG (sim/env_state.py)."""
        return env_state(self)

    def set_state(self, state: dict[str, Any]) -> None:
        restore_env_state(self, state)


def end_episodes(env: HumanoidEnv, flags: np.ndarray, steps: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
    """The host's side of a step's episode ends (bookkeeping and restarts), from each environment's flags
    (1: terminated, 2: unstable physics, 4: timed out) and step count: the counters, the ended episodes' lengths,
    and the restarts. Returns each environment's RESET_* code and the step's info."""
    term_h, unstable_h, timeout_h = (flags & 1) > 0, (flags & 2) > 0, (flags & 4) > 0
    done_h = term_h | timeout_h | unstable_h
    lengths = steps[done_h].copy()  # ended: terminated | truncated
    reset_kind = np.full(env.num_envs, RESET_NONE)
    env.counters["falls"] += int(term_h.sum())
    env.counters["unstable_resets"] += int(unstable_h.sum())
    env.counters["timeouts"] += int((timeout_h & ~term_h & ~unstable_h).sum())
    bad = np.nonzero(unstable_h)[0]
    if bad.size:  # a clean default-pose restart whatever the mix says, with or without auto_reset
        env._reset(bad, fell=np.zeros(bad.size, dtype=bool), mode="default")
        reset_kind[bad] = RESET_UNSTABLE
    if env.cfg.auto_reset:
        done_ids = np.nonzero(done_h & ~unstable_h)[0]
        if done_ids.size:
            reset_kind[done_ids] = env._reset(done_ids, fell=term_h[done_ids])
    info = {"episode_lengths": lengths, "falls": int(term_h.sum()), "unstable_resets": int(unstable_h.sum())}
    return reset_kind, info
