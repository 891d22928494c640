"""One character driven by an exported LLC on a MuJoCo MjData: the reference control loop for game engines.

    ctl = Controller("exports/llc")        # controller.json, llc.onnx and the character's MJCF
    ctl.reset()                            # default pose, PD targets hold it
    for _ in range(300):
        ctl.step(latent)                   # observe -> LLC -> PD targets -> 4 physics steps at 120 Hz

With a task controller in the export (`launch.py export --hlc`), the HLC picks the latent:

    ctl.set_goal(direction=0.5, speed=1.5) # world frame, as the task's set_goal (tasks/<task>.py)
    for _ in range(300):
        ctl.step_task()                    # every hold_steps (5) steps: goal observation -> HLC -> latent
    ctl.step_task(goal=g)                  # or the goal observation itself (heading frame, goal_layouts)

Observations come from the same functions the training environment uses (`sim.observations`), on the
same body quantities (`sim.backend.body_velocities`), so a policy sees here what it saw in training.
"""

from __future__ import annotations

from pathlib import Path

import mujoco
import numpy as np

from controllers.runtime.policy import OnnxHLC, OnnxLLC
from controllers.runtime.sidecar import ControllerFormatError
from sim.backend import body_velocities
from sim.character import Character, load_character
from sim.observations import JointIndex, amp_obs, joint_positions, policy_obs


def check_character(sidecar: dict, ch: Character, where: Path) -> None:
    """The export's joints (order, DoF, gains, action map) must be this code's character's."""
    offset, scale = ch.action_offset_scale()
    want = [(j["name"], j["dof"], j["kp"], j["kd"]) for j in sidecar["joints"]]
    have = [(b.joint_name, b.dof, float(b.kp), float(b.kd)) for b in ch.actuated]
    if want != have or not (np.allclose(sidecar["action"]["offset"], offset)
                            and np.allclose(sidecar["action"]["scale"], scale)):  # fmt: skip
        raise ControllerFormatError(f"{where}: joints or action mapping differ from this code's {ch.name!r}")


class Controller:
    """An exported LLC (and task controller, when the export has one: `hlc`) driving one character in its own
    MjData (or a scene whose character comes first: the strike task needs a scene with its box)."""

    def __init__(
        self, folder: str | Path, *, model: mujoco.MjModel | None = None, precision: str = "fp32", threads: int = 1
    ) -> None:
        self.folder = Path(folder)
        self.policy = OnnxLLC(self.folder, precision=precision, threads=threads)
        sc = self.sidecar = self.policy.sidecar
        has_hlc = bool(sc["models"].get("hlc"))
        self.hlc = OnnxHLC(self.folder, precision=precision, threads=threads) if has_hlc else None
        self.task = None  # the HLC's task (tasks/<task>.py), made when a world-frame goal is first set
        where = self.folder / "controller.json"
        self.character = load_character(sc["character"]["name"])
        check_character(sc, self.character, where)
        if model is None:
            mjcf = self.folder / sc["character"]["mjcf"]
            try:
                model = mujoco.MjModel.from_xml_path(str(mjcf))
            except Exception as exc:  # noqa: BLE001 - MuJoCo's parser raises ValueError with its message
                raise ControllerFormatError(f"{mjcf}: MuJoCo cannot load it ({exc})".replace("\n", " ")) from None
        self.model = model
        self.data = mujoco.MjData(model)
        try:
            self.body_ids = np.array([model.body(b["name"]).id for b in sc["character"]["bodies"]])
            qpos_adr = [int(model.jnt_qposadr[model.joint(j["name"]).id]) for j in sc["joints"]]
        except KeyError as exc:
            raise ControllerFormatError(f"{where}: the MuJoCo model lacks {exc}") from None
        if qpos_adr != [j["qpos_address"] for j in sc["joints"]] or model.nu < sc["action"]["size"]:
            raise ControllerFormatError(f"{where}: the MuJoCo model's joints or actuators are not the sidecar's")
        self.joints = JointIndex.build(self.character)
        self.nq = sc["character"]["qpos_size"]
        self.nu = sc["action"]["size"]
        self.substeps = sc["rates"]["physics_steps_per_control"]
        self._rootid = np.asarray(model.body_rootid)
        self._key = self.joints.key_bodies
        frames = self.policy.num_amp_frames
        self.amp_history = np.zeros((frames, self.policy.amp_obs_dim), dtype=np.float32)  # current frame first
        self.hold_steps = self.hlc.hold_steps if self.hlc is not None else sc["latent"]["hold_steps"]
        self.latent = np.zeros(self.policy.latent_dim, dtype=np.float32)  # the HLC's latent, held
        self.goal_obs: np.ndarray | None = None  # the goal observation of the HLC's last decision
        # a skill LLC's named skills: hold skills[name] as the latent (empty for an LLC without names)
        self.skills = self.policy.skills
        self.reset()

    # ---- state ------------------------------------------------------------------------
    def reset(self, qpos: np.ndarray | None = None, qvel: np.ndarray | None = None) -> None:
        """Character state (default pose at rest unless given); PD targets hold the pose; history repeats it."""
        m, d = self.model, self.data
        mujoco.mj_resetData(m, d)
        if qpos is not None:
            d.qpos[: self.nq] = qpos
        if qvel is not None:
            d.qvel[: len(qvel)] = qvel
        mujoco.mj_forward(m, d)
        d.ctrl[: self.nu] = joint_positions(self.joints, d.qpos[None, : self.nq])[0]
        self.amp_history[:] = self.amp_frame()
        self.control_steps = 0  # since the reset: the HLC decides when this is a multiple of hold_steps
        self._prev_root: np.ndarray | None = None

    def bodies(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """World position, quaternion (wxyz), linear velocity of the origin, angular velocity: (B, .) each."""
        d, ids = self.data, self.body_ids
        pos = d.xpos[ids]
        lin, ang = body_velocities(pos, d.cvel[ids], d.subtree_com[self._rootid[ids]])
        return pos.copy(), d.xquat[ids].copy(), lin, ang.copy()

    def observe(self) -> np.ndarray:
        """The LLC's observation (obs_dim,) float32."""
        pos, quat, lin, ang = self.bodies()
        return policy_obs(pos[None], quat[None], lin[None], ang[None])[0]

    def amp_frame(self) -> np.ndarray:
        """One discriminator/encoder frame (amp_obs_dim,) of the current state."""
        d = self.data
        key = d.xpos[self.body_ids[self._key]][None]
        return amp_obs(self.joints, d.qpos[None, : self.nq], d.qvel[None, : 6 + self.nu], key)[0]

    # ---- control ------------------------------------------------------------------------
    def step(self, latent: np.ndarray) -> np.ndarray:
        """One 30 Hz control step with a unit latent: returns the action (action_dim,) in [-1, 1]."""
        action, target = self.policy.run(self.observe()[None], np.asarray(latent, dtype=np.float32)[None])
        m, d = self.model, self.data
        d.ctrl[: self.nu] = target[0]
        self._prev_root = d.xpos[self.body_ids[0]].copy()
        self.control_steps += 1
        for _ in range(self.substeps):
            mujoco.mj_step(m, d)
        mujoco.mj_fwdPosition(m, d)  # positions and velocities of the new state, for the next observation
        mujoco.mj_fwdVelocity(m, d)
        self.amp_history[1:] = self.amp_history[:-1]
        self.amp_history[0] = self.amp_frame()
        return action[0]

    def encode(self) -> tuple[float, np.ndarray]:
        """(discriminator logit, encoder's unit latent) of the last `num_amp_frames` control steps."""
        logit, latent = self.policy.discriminate(self.amp_history.reshape(1, -1))
        return float(logit[0]), latent[0]

    # ---- task controller ------------------------------------------------------------------
    def _need_hlc(self) -> OnnxHLC:
        if self.hlc is None:
            raise ControllerFormatError(f"{self.folder}: exported without a task controller (export with --hlc CKPT)")
        return self.hlc

    def set_goal(self, **goal) -> None:
        """The task's goal in the world frame, as its `set_goal` takes it (controller.json goal_layouts[].inputs):
        steering direction=yaw, speed=m/s, facing=yaw; speed direction, speed; location target=xy; reach
        target=xyz. (Strike reads the box of the scene: pass `model=` a scene with body 'strike_target'.)"""
        from tasks import make_task

        hlc = self._need_hlc()
        if self.task is None:
            self.task = make_task(hlc.task, 1, hlc.task_config)
            self.task.bind(self.character)
            self.task.schedule.pin(np.array([0]))  # goals come from outside only
        if goal:
            self.task.set_goal(np.array([0]), **goal)

    def task_state(self):
        """The task's view of the current state (tasks.common.TaskState, one row); velocities over the last
        control step. The task's reward and success: `ctl.task.reward(ctl.task_state())`."""
        from tasks.single import task_state_from_data

        dt = self.model.opt.timestep * self.substeps
        return task_state_from_data(self.model, self.data, self.character, dt, self._prev_root)

    def goal_observation(self) -> np.ndarray:
        """The goal observation (goal_dim,) float32 of the goal set with `set_goal`, in the heading frame now."""
        if self.task is None:
            raise ValueError("no goal set: call set_goal(...) first, or pass the goal observation to step_task")
        return self.task.observe(self.task_state())[0]

    def step_task(self, goal: np.ndarray | None = None) -> np.ndarray:
        """One control step driven by the task controller: every `hold_steps` steps (from the reset) the HLC
        picks a latent from the observation and the goal observation (`goal`, heading frame, or the one of the
        goal set with `set_goal`); the LLC acts on the held latent. Returns the action."""
        hlc = self._need_hlc()
        if self.control_steps % self.hold_steps == 0:
            g = self.goal_observation() if goal is None else np.asarray(goal, dtype=np.float32).reshape(-1)
            self.goal_obs = g
            self.latent = hlc.latent(self.observe()[None], g[None])[0]
        return self.step(self.latent)
