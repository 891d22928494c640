"""One character in one MjData, stepped at the control rate: the core that the viewer (app/), the torch-free
runtime (controllers/runtime/) and the single-character task driver (tasks/single.py) are built on.

    sim = SingleCharacter.scene("humanoid")   # the character, then a strike target and projectiles
    sim.step(action)                          # action in [-1, 1] -> PD targets, held for the control substeps
    obs = sim.observe()                       # the policy observation, as HumanoidEnv computes it
    state = sim.task_state()                  # what a task reads (tasks.common.TaskState, one row)

Every fact comes from the terms `HumanoidEnv` uses: the control rate (`sim.control`: the model's time step x
substeps), the action mapping (`sim.control.actions_to_targets`), the fall rule (`sim.terminations.FallRule`),
shoves and thrown balls (`sim.perturbations`) and the observations (`sim.observations`);
tests/test_viewer_core.py checks both give the same states and observations. One MjData rather than a batch
of one, so that a drag push (`pert`, as MuJoCo's own viewer makes it) acts at every physics step.

`device="cuda"` (or "warp-cpu") steps the same MjData with MuJoCo Warp, to watch the physics GPU training
uses: before each control step the MjData's state goes to one Warp world, the world takes the control
substeps, and the new state comes back (MjData stays the one source of truth). A drag push is computed once
per control step and held over its substeps there.
"""

from __future__ import annotations

import math

import mujoco
import numpy as np

from sim.backend import FULL_STATE_FIELDS, Backend, body_velocities, make_backend
from sim.character import Character, load_character
from sim.control import CONTROL_SUBSTEPS, actions_to_targets, character_state_size, control_dt
from sim.observations import JointIndex, amp_obs, joint_positions, policy_obs
from sim.perturbations import (
    PROJECTILE_DISTANCE,
    PROJECTILE_SPEED,
    SHOVE_BODY,
    apply_impulse,
    projectile_state,
    shove_impulse,
)
from sim.scene import STRIKE_TARGET_SIZE, build_scene
from sim.task_state import PropState, TaskState
from sim.terminations import FallRule

NUM_PROJECTILES = 6  # balls in the viewer's scene
PARKED_XY = np.array([60.0, 60.0])  # where the strike target waits until it is placed (`park_strike_target`)


class SingleCharacter:
    """A character (bodies first in the model, its state first in qpos/qvel) and the scene's props in one MjData,
    stepped at the control rate with PD targets as `ctrl`."""

    def __init__(
        self, character: Character, model: mujoco.MjModel, *, substeps: int = CONTROL_SUBSTEPS, device: str = "cpu"
    ) -> None:
        self.character, self.model, self.data = character, model, mujoco.MjData(model)
        self.device = device
        # MuJoCo Warp world stepping the MjData (device != "cpu"); CudaUnavailableError: one line for the caller
        self._warp: Backend | None = None if device == "cpu" else make_backend(device, model, 1)
        m, ch = model, character
        self.substeps = substeps
        self.control_dt = control_dt(m, substeps)
        self.fall_rule = FallRule.of(ch)
        self.body_ids = np.array([m.body(b.name).id for b in ch.bodies])
        self.root_id = int(self.body_ids[0])
        self.head_id = m.body("head").id if "head" in ch.body_names else self.root_id
        self.char_nq, self.char_nv = character_state_size(ch)
        self.num_actuators = ch.num_dof
        self.joints = JointIndex.build(ch)
        self._rootid = np.asarray(m.body_rootid)
        self.action_offset, self.action_scale = ch.action_offset_scale()
        self.shove_body = m.body(SHOVE_BODY).id if SHOVE_BODY in ch.body_names else self.root_id
        self._impulses = np.zeros((m.nbody, 6))  # impulse forces held over the next control step
        self.projectiles = [j for j in range(m.njnt) if m.joint(j).name.startswith("projectile_")]
        self._next_projectile = 0
        box = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, "strike_target")  # the strike task's box, if any
        self._target_body = box if box >= 0 else None
        self.strike_joint = int(m.body_jntadr[box]) if box >= 0 and m.body_jntnum[box] else None
        self.pert: mujoco.MjvPerturb | None = None  # a drag push (the viewer's window sets it)
        self.reset()
        self.standing_root = float(self.data.xpos[self.root_id, 2])
        self.standing_head = float(self.data.xpos[self.head_id, 2])

    @classmethod
    def scene(
        cls, character: str | Character = "humanoid", *, projectiles: int = NUM_PROJECTILES, device: str = "cpu"
    ) -> SingleCharacter:
        """The character in `sim.scene.build_scene`'s scene with a strike target and `projectiles` balls."""
        ch = load_character(character) if isinstance(character, str) else character
        return cls(ch, build_scene(ch, projectiles=projectiles, strike_target=True), device=device)

    # ---- state ------------------------------------------------------------------
    @property
    def time(self) -> float:
        return float(self.data.time)

    def default_qpos(self) -> np.ndarray:
        return self.model.qpos0[: self.char_nq].copy()

    def reset(self, qpos: np.ndarray | None = None, qvel: np.ndarray | None = None) -> None:
        """The character to `qpos`/`qvel` (the character's part, or more; default: the model's pose at rest), props
        where the model puts them, PD targets holding the pose; no impulse pending, no step taken."""
        m, d = self.model, self.data
        mujoco.mj_resetData(m, d)
        self._impulses[:] = 0.0
        self._next_projectile = 0  # every ball parked again
        if qpos is not None:
            d.qpos[: len(qpos)] = qpos
        if qvel is not None:
            d.qvel[: len(qvel)] = qvel
        mujoco.mj_forward(m, d)
        d.ctrl[: self.num_actuators] = self.pd_targets_from_qpos(d.qpos[: self.char_nq])
        self.steps = 0  # control steps since the reset
        self._prev_root: np.ndarray | None = None  # root position and target velocity before the last step
        self._prev_target_vel: np.ndarray | None = None

    def set_kinematic(self, qpos: np.ndarray, qvel: np.ndarray | None = None) -> None:
        """Pose the character without physics (motion playback)."""
        self.data.qpos[: self.char_nq] = qpos
        self.data.qvel[: self.char_nv] = 0.0 if qvel is None else qvel
        mujoco.mj_forward(self.model, self.data)

    def pd_targets_from_qpos(self, qpos: np.ndarray) -> np.ndarray:
        """Joint part of a character qpos -> PD targets (rotation vector per ball joint, angle per hinge)."""
        return joint_positions(self.joints, np.asarray(qpos)[None, : self.char_nq])[0]

    # ---- stepping ---------------------------------------------------------------
    def step(self, action: np.ndarray) -> None:
        """One control step on an action in [-1, 1] (clipped): its PD targets held for the control substeps."""
        self.hold(actions_to_targets(self.action_offset, self.action_scale, np.asarray(action)))

    def hold(self, pd_targets: np.ndarray) -> None:
        """One control step holding `pd_targets` for the control substeps, with pending impulses and the drag push;
        positions and velocities (and what follows from them) of the new state are computed."""
        m, d = self.model, self.data
        self._prev_root = d.xpos[self.root_id].copy()
        self._prev_target_vel = None if self._target_body is None else self._target_velocities()[0]
        self.steps += 1
        d.ctrl[: self.num_actuators] = pd_targets
        for _ in range(self.substeps if self._warp is None else 1):  # Warp: the forces held over the substeps
            d.xfrc_applied[:] = 0.0
            if self.pert is not None and self.pert.active and self.pert.select > 0:
                mujoco.mjv_applyPerturbForce(m, d, self.pert)
            d.xfrc_applied += self._impulses
            if self._warp is None:
                mujoco.mj_step(m, d)
            else:
                warp_step(self._warp, d, self.substeps)
        d.xfrc_applied[:] = 0.0
        self._impulses[:] = 0.0
        mujoco.mj_forward(m, d)

    # ---- perturbations and props ------------------------------------------------
    def apply_impulse(self, body: str | int, impulse: np.ndarray) -> None:
        """Push `body` with an impulse (N s, world frame) over the next control step, as `HumanoidEnv` does."""
        bid = self.model.body(body).id if isinstance(body, str) else int(body)
        apply_impulse(self._impulses, bid, impulse, self.control_dt)

    def shove(self, strength: float, yaw: float, body: int | None = None) -> np.ndarray:
        """A shove of `strength` N s towards world yaw `yaw` on `body` (default: the torso); returns the impulse."""
        imp = shove_impulse(strength, yaw)
        self.apply_impulse(self.shove_body if body is None else body, imp)
        return imp

    def launch_projectile(
        self, rng: np.random.Generator, speed: float = PROJECTILE_SPEED, distance: float = PROJECTILE_DISTANCE
    ) -> int:
        """Throw the next ball from a random direction at the character's torso; returns its joint id."""
        jid = self.projectiles[self._next_projectile % len(self.projectiles)]
        self._next_projectile += 1
        qpos, qvel = projectile_state(self.data.xpos[self.shove_body].copy(), rng, speed, distance)
        self._set_free_joint(jid, qpos, qvel)
        return jid

    def place_strike_target(self, xy: np.ndarray, yaw: float = 0.0, quat: np.ndarray | None = None) -> None:
        """The strike target upright at rest at world `xy`, turned by `yaw` (or by the quaternion `quat`)."""
        quat = [math.cos(yaw / 2), 0, 0, math.sin(yaw / 2)] if quat is None else quat
        self._set_free_joint(self.strike_joint, [xy[0], xy[1], STRIKE_TARGET_SIZE[2], *quat], np.zeros(6))
        self._prev_target_vel = None  # moved by hand: no push until the next step

    def park_strike_target(self) -> None:
        self.place_strike_target(PARKED_XY)

    def _set_free_joint(self, jid: int, qpos: np.ndarray, qvel: np.ndarray) -> None:
        m, d = self.model, self.data
        qa, va = m.jnt_qposadr[jid], m.jnt_dofadr[jid]
        d.qpos[qa : qa + 7], d.qvel[va : va + 6] = qpos, qvel
        mujoco.mj_forward(m, d)

    def idle_props(self) -> list[int]:
        """Body ids of the props not in play (balls not thrown since the reset, the parked strike target)."""
        m = self.model
        idle = [int(m.jnt_bodyid[j]) for k, j in enumerate(self.projectiles) if k >= self._next_projectile]
        if self.strike_joint is not None:
            qa = m.jnt_qposadr[self.strike_joint]
            if np.abs(self.data.qpos[qa : qa + 2] - PARKED_XY).max() < 1.0:
                idle.append(self._target_body)
        return idle

    # ---- readouts ---------------------------------------------------------------
    def root_pos(self) -> np.ndarray:
        return self.data.xpos[self.root_id].copy()

    def root_heading(self) -> float:
        """Yaw of the root's x axis (radians)."""
        r = self.data.xmat[self.root_id].reshape(3, 3)
        return math.atan2(r[1, 0], r[0, 0])

    def bodies(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """World position, quaternion (wxyz), linear velocity of the origin, angular velocity: (B, .) each."""
        d, ids = self.data, self.body_ids
        pos = d.xpos[ids].copy()
        lin, ang = body_velocities(pos, d.cvel[ids], d.subtree_com[self._rootid[ids]])
        return pos, d.xquat[ids].copy(), lin, ang.copy()

    def observe(self) -> np.ndarray:
        """The policy observation (1, obs_dim) float32, as `HumanoidEnv` computes it."""
        pos, quat, lin, ang = self.bodies()
        return policy_obs(pos[None], quat[None], lin[None], ang[None])

    def amp_frame(self) -> np.ndarray:
        """The discriminator's frame (amp_dim,) of the character now, as `HumanoidEnv` computes it."""
        d = self.data
        key = d.xpos[self.body_ids[self.joints.key_bodies]][None]
        return amp_obs(self.joints, d.qpos[None, : self.char_nq], d.qvel[None, : self.char_nv], key)[0]

    def contact_forces(self) -> np.ndarray:
        """(B,) norm of each character body's external contact force (N)."""
        return np.linalg.norm(self.data.cfrc_ext[self.body_ids, 3:6], axis=-1)

    def fallen(self) -> bool:
        """ASE's fall rule, the environment's own (`sim.terminations.FallRule`)."""
        return bool(self.fall_rule(self.contact_forces()[None], self.data.xpos[self.body_ids, 2][None])[0])

    def airborne(self) -> bool:
        """Whether no body of the character touches anything (thrown through the air by a shove)."""
        return bool(self.contact_forces().max() < 1e-6)

    def heights_rel(self) -> tuple[float, float]:
        """Root and head heights as fractions of their standing heights."""
        return (
            float(self.data.xpos[self.root_id, 2]) / self.standing_root,
            float(self.data.xpos[self.head_id, 2]) / self.standing_head,
        )

    def _target_velocities(self) -> tuple[np.ndarray, np.ndarray]:
        b, d = self._target_body, self.data
        return body_velocities(d.xpos[b], d.cvel[b], d.subtree_com[self._rootid[b]])

    def task_state(self) -> TaskState:
        """What a task reads now (one row, world frame): the character's root, bodies and contact forces, and the
        strike target when the scene has one. Velocities and the target's push are over the last control step
        (zero before the first step after a reset)."""
        d, ids, dt = self.data, self.body_ids, self.control_dt
        pos, rot = np.array(d.xpos[None, ids]), np.array(d.xquat[None, ids])
        root = pos[:, 0]
        vel = np.zeros_like(root) if self._prev_root is None else (root - self._prev_root.reshape(1, 3)) / dt
        contact = np.array([[np.linalg.norm(d.cfrc_ext[b, 3:6]) for b in ids]])
        target = None
        if self._target_body is not None:
            b = self._target_body
            lin, ang = self._target_velocities()
            push = np.zeros(1)
            if self._prev_target_vel is not None:
                push[0] = self.model.body_subtreemass[b] * np.linalg.norm(lin[:2] - self._prev_target_vel[:2]) / dt
            target = PropState(d.xpos[None, b].copy(), d.xquat[None, b].copy(), lin[None], ang[None], push)
        return TaskState(root.copy(), rot[:, 0].copy(), vel, pos, contact, target)


def warp_step(world: Backend, d: mujoco.MjData, substeps: int) -> None:
    """`substeps` physics steps of `d` (its ctrl and xfrc_applied held) in a one-world MuJoCo Warp backend: the
    state goes to the world and comes back."""
    state = {name: np.array([d.time]) if name == "time" else getattr(d, name)[None] for name in FULL_STATE_FIELDS}
    world.set_full_state(state, forward=False)  # the step recomputes everything
    world.step(d.ctrl[None].copy(), d.xfrc_applied[None].copy(), substeps)
    state = world.get_full_state()
    d.time = float(state["time"][0])
    d.qpos[:], d.qvel[:], d.qacc_warmstart[:] = state["qpos"][0], state["qvel"][0], state["qacc_warmstart"][0]


class AmpHistory:
    """The last `frames` discriminator frames of one character, current frame first: the window an LLC's
    encoder and discriminator read (`window()`)."""

    def __init__(self, frames: int) -> None:
        self.frames = frames
        self.buffer: np.ndarray | None = None  # (frames, amp_dim) float32, what the networks take

    def reset(self, frame: np.ndarray | None = None) -> None:
        """Every slot holding `frame` (a fresh start repeats its first frame), or empty: the next push fills it."""
        self.buffer = None if frame is None else np.repeat(np.asarray(frame, dtype=np.float32)[None], self.frames, 0)

    def push(self, frame: np.ndarray) -> None:
        """The frame after a control step becomes the current one (an empty history, or one of another frame
        size, starts from it)."""
        frame = np.asarray(frame, dtype=np.float32)
        if self.buffer is None or self.buffer.shape[1:] != frame.shape:
            self.reset(frame)
        self.buffer = np.concatenate([frame[None], self.buffer[:-1]])

    def window(self) -> np.ndarray:
        """(1, frames * amp_dim) float32."""
        return self.buffer.reshape(1, -1)
