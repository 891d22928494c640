"""The one simulated character the viewer shows: a single MjData stepped like one `HumanoidEnv` environment.

This is the viewer's seam to the physics; every fact it uses comes from `sim/`: the model
(`sim.scene.build_scene`: character first, then a strike target and projectiles), the control
rate (`sim.control`: the model's time step x `CONTROL_SUBSTEPS`), the action mapping, shoves
and projectiles (`sim.perturbations`), the fall rule and the policy observation, computed
exactly as `HumanoidEnv` does (tests/test_viewer_core.py checks they agree). One MjData rather
than a batch of one, so a drag push can be re-applied at every physics step, as MuJoCo's own
viewer does.

`device="cuda"` (or "warp-cpu") steps the same MjData with MuJoCo Warp, to watch the physics GPU training
uses: before each control step the MjData's state goes to one Warp world, the world takes the control
substeps, and the new state comes back (MjData stays the one source of truth). A drag push is computed once
per control step and held over its substeps there.
"""

from __future__ import annotations

import math

import mujoco
import numpy as np

from sim.backend import FULL_STATE_FIELDS, body_velocities
from sim.character import Character, load_character
from sim.control import actions_to_targets, character_state_size, control_dt
from sim.env import EnvConfig
from sim.observations import JointIndex, amp_obs, joint_positions, policy_obs
from sim.perturbations import SHOVE_BODY, apply_impulse, projectile_launch, shove_impulse
from sim.scene import build_scene
from sim.terminations import fallen

NUM_PROJECTILES = 6
PARKED = np.array([60.0, 60.0])  # where the strike target waits until it is spawned


class Simulation:
    """One character + scene extras, stepped at the control rate with PD targets as ctrl."""

    def __init__(
        self, character: str | Character = "humanoid", num_projectiles: int = NUM_PROJECTILES, device: str = "cpu"
    ) -> None:
        self.character = load_character(character) if isinstance(character, str) else character
        self.model = build_scene(self.character, projectiles=num_projectiles, strike_target=True)
        self.data = mujoco.MjData(self.model)
        self.device = device
        self._warp = None  # MuJoCo Warp world stepping the MjData (device != "cpu")
        if device != "cpu":
            from sim.backend import make_backend

            self._warp = make_backend(device, self.model, 1)  # CudaUnavailableError: one line for the caller
        m, ch = self.model, self.character
        env = EnvConfig()  # the environment's defaults: control substeps, fall rule
        self.substeps = env.control_substeps
        self.control_dt = control_dt(m, self.substeps)
        self.fall_contact_force = env.fall_contact_force
        self.body_ids = np.array([m.body(b.name).id for b in ch.bodies])
        self.root_id = int(self.body_ids[0])
        self.head_id = m.body("head").id if "head" in ch.body_names else self.root_id
        # the character's state comes first in qpos/qvel
        self.char_nq, self.char_nv = character_state_size(ch)
        self.num_actuators = ch.num_dof
        self.joints = JointIndex.build(ch)
        self._rootid = np.asarray(m.body_rootid)
        self.action_offset, self.action_scale = ch.action_offset_scale()
        # fall rule inputs, per character body
        self.non_foot = np.array([b.name not in ch.foot_bodies for b in ch.bodies])
        self.fall_heights = np.array([ch.fall_height.get(b.name, env.fall_height) for b in ch.bodies])
        self.shove_body = m.body(SHOVE_BODY).id if SHOVE_BODY in ch.body_names else self.root_id
        self._impulses = np.zeros((m.nbody, 6))  # impulse forces held over the next control step
        self.projectiles = [m.joint(f"projectile_{i}").id for i in range(num_projectiles)]
        self._next_projectile = 0
        self.strike_joint = m.joint("strike_target").id
        self.pert: mujoco.MjvPerturb | None = None  # drag push, set by the window
        self.reset()
        self.standing_root = float(self.data.xpos[self.root_id, 2])
        self.standing_head = float(self.data.xpos[self.head_id, 2])

    # ---- state ------------------------------------------------------------------
    @property
    def time(self) -> float:
        return float(self.data.time)

    def default_qpos(self) -> np.ndarray:
        return self.model.qpos0[: self.char_nq].copy()

    def reset(self, qpos: np.ndarray | None = None, qvel: np.ndarray | None = None) -> None:
        """Character to `qpos`/`qvel` (default pose at rest), extras parked, PD targets = current pose."""
        mujoco.mj_resetData(self.model, self.data)
        self._impulses[:] = 0.0
        self._next_projectile = 0  # every ball parked again
        if qpos is not None:
            self.data.qpos[: self.char_nq] = qpos
        if qvel is not None:
            self.data.qvel[: self.char_nv] = qvel
        self.park_strike_target()
        mujoco.mj_forward(self.model, self.data)
        self.data.ctrl[:] = self.pd_targets_from_qpos(self.data.qpos[: self.char_nq])

    def set_kinematic(self, qpos: np.ndarray, qvel: np.ndarray | None = None) -> None:
        """Pose the character without physics (motion playback)."""
        self.data.qpos[: self.char_nq] = qpos
        self.data.qvel[: self.char_nv] = 0.0 if qvel is None else qvel
        mujoco.mj_forward(self.model, self.data)

    def pd_targets_from_qpos(self, qpos: np.ndarray) -> np.ndarray:
        """Joint part of a character qpos -> PD targets (rotation vector per ball joint, angle per hinge)."""
        return joint_positions(self.joints, np.asarray(qpos)[None, : self.char_nq])[0]

    def targets_from_action(self, action: np.ndarray) -> np.ndarray:
        return actions_to_targets(self.action_offset, self.action_scale, action)

    # ---- stepping ---------------------------------------------------------------
    def step(self, pd_targets: np.ndarray) -> None:
        """One control step: hold `pd_targets` for the control substeps, with pending impulses and the drag push."""
        m, d = self.model, self.data
        d.ctrl[: self.num_actuators] = pd_targets
        if self._warp is not None:
            self._step_warp()
            return
        for _ in range(self.substeps):
            d.xfrc_applied[:] = 0.0
            if self.pert is not None and self.pert.active and self.pert.select > 0:
                mujoco.mjv_applyPerturbForce(m, d, self.pert)
            d.xfrc_applied += self._impulses
            mujoco.mj_step(m, d)
        d.xfrc_applied[:] = 0.0
        self._impulses[:] = 0.0
        mujoco.mj_forward(m, d)  # positions/velocities-derived fields of the new state (as the batch backend)

    def _step_warp(self) -> None:
        m, d, w = self.model, self.data, self._warp
        d.xfrc_applied[:] = 0.0
        if self.pert is not None and self.pert.active and self.pert.select > 0:
            mujoco.mjv_applyPerturbForce(m, d, self.pert)
        xfrc = d.xfrc_applied + self._impulses
        w.set_full_state(
            {name: np.array([d.time]) if name == "time" else getattr(d, name)[None] for name in FULL_STATE_FIELDS},
            forward=False,  # the step below recomputes everything
        )
        w.step(d.ctrl[None].copy(), xfrc[None], self.substeps)
        state = w.get_full_state()
        d.time = float(state["time"][0])
        d.qpos[:], d.qvel[:], d.qacc_warmstart[:] = state["qpos"][0], state["qvel"][0], state["qacc_warmstart"][0]
        d.xfrc_applied[:] = 0.0
        self._impulses[:] = 0.0
        mujoco.mj_forward(m, d)

    # ---- perturbations ----------------------------------------------------------
    def apply_impulse(self, body: str | int, impulse: np.ndarray) -> None:
        """Push `body` with an impulse (N s, world frame) over the next control step, as `HumanoidEnv` does."""
        bid = self.model.body(body).id if isinstance(body, str) else int(body)
        apply_impulse(self._impulses, bid, impulse, self.control_dt)

    def shove(self, strength: float, yaw: float, body: int | None = None) -> np.ndarray:
        """A shove of `strength` N s towards world yaw `yaw` on `body` (default: the torso); returns the impulse."""
        imp = shove_impulse(strength, yaw)
        self.apply_impulse(self.shove_body if body is None else body, imp)
        return imp

    def launch_projectile(self, rng: np.random.Generator, **kwargs) -> int:
        """Throw the next ball from a random direction at the character's torso; returns its joint id.

        `kwargs` (speed, distance) go to `sim.perturbations.projectile_launch`, which owns the defaults.
        """
        m, d = self.model, self.data
        jid = self.projectiles[self._next_projectile % len(self.projectiles)]
        self._next_projectile += 1
        start, vel = projectile_launch(d.xpos[self.shove_body].copy(), rng, **kwargs)
        qa, va = m.jnt_qposadr[jid], m.jnt_dofadr[jid]
        d.qpos[qa : qa + 7] = [*start, 1, 0, 0, 0]
        d.qvel[va : va + 6] = [*vel, 0, 0, 0]
        mujoco.mj_forward(m, d)
        return jid

    def idle_props(self) -> list[int]:
        """Body ids of the props not in play (projectiles never thrown since the reset, the parked strike
        target): the viewer does not draw them."""
        m = self.model
        idle = [int(m.jnt_bodyid[j]) for k, j in enumerate(self.projectiles) if k >= self._next_projectile]
        qa = m.jnt_qposadr[self.strike_joint]
        if np.abs(self.data.qpos[qa : qa + 2] - PARKED).max() < 1.0:
            idle.append(int(m.jnt_bodyid[self.strike_joint]))
        return idle

    def place_strike_target(self, xy: np.ndarray, yaw: float = 0.0) -> None:
        m, d = self.model, self.data
        qa, va = m.jnt_qposadr[self.strike_joint], m.jnt_dofadr[self.strike_joint]
        d.qpos[qa : qa + 7] = [xy[0], xy[1], 0.9, math.cos(yaw / 2), 0, 0, math.sin(yaw / 2)]
        d.qvel[va : va + 6] = 0.0
        mujoco.mj_forward(m, d)

    def park_strike_target(self) -> None:
        self.place_strike_target(PARKED)

    # ---- readouts ---------------------------------------------------------------
    def root_pos(self) -> np.ndarray:
        return self.data.xpos[self.root_id].copy()

    def root_heading(self) -> float:
        """Yaw of the root's x axis (radians)."""
        r = self.data.xmat[self.root_id].reshape(3, 3)
        return math.atan2(r[1, 0], r[0, 0])

    def bodies(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """World position, quaternion, linear and angular velocity of the character's bodies (B, .)."""
        d, ids = self.data, self.body_ids
        pos = d.xpos[ids].copy()
        lin, ang = body_velocities(pos, d.cvel[ids], d.subtree_com[self._rootid[ids]])
        return pos, d.xquat[ids].copy(), lin, ang.copy()

    def policy_obs(self) -> np.ndarray:
        """The LLC's observation (1, obs_dim), as `HumanoidEnv` computes it."""
        pos, quat, lin, ang = self.bodies()
        return policy_obs(pos[None], quat[None], lin[None], ang[None])

    def amp_frame(self) -> np.ndarray:
        """The discriminator's feature frame of the character now (amp_dim,), as `HumanoidEnv` computes it."""
        d = self.data
        pos = self.bodies()[0]
        qpos, qvel = d.qpos[None, : self.char_nq], d.qvel[None, : self.char_nv]
        return amp_obs(self.joints, qpos, qvel, pos[None, self.joints.key_bodies])[0]

    def fallen(self) -> bool:
        """ASE's fall rule, the environment's own function (`sim.terminations.fallen`)."""
        d = self.data
        force = np.linalg.norm(d.cfrc_ext[self.body_ids, 3:6], axis=-1)[None]
        height = d.xpos[self.body_ids, 2][None]
        return bool(fallen(force, height, self.non_foot, self.fall_heights, self.fall_contact_force)[0])

    def airborne(self) -> bool:
        """Whether no body of the character touches anything (thrown through the air by a shove)."""
        force = np.linalg.norm(self.data.cfrc_ext[self.body_ids, 3:6], axis=-1)
        return bool(force.max() < 1e-6)

    def heights_rel(self) -> tuple[float, float]:
        """Root and head heights as fractions of their standing heights."""
        return (
            float(self.data.xpos[self.root_id, 2]) / self.standing_root,
            float(self.data.xpos[self.head_id, 2]) / self.standing_head,
        )
