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

The character lives in `sim.single.SingleCharacter` (one MjData, stepped and observed by the terms the training
environment uses: `sim.observations`, `sim.backend.body_velocities`), so a policy sees here what it saw in
training; the HLC's decisions are `tasks.single.HLCDriver`'s, as in the viewer.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import mujoco
import numpy as np

from controllers.runtime.policy import OnnxHLC, OnnxLLC
from controllers.runtime.sidecar import ControllerFormatError
from sim.character import Character, load_character
from sim.single import AmpHistory, SingleCharacter
from sim.task_state import TaskState

if TYPE_CHECKING:
    from tasks.common import Task
    from tasks.single import HLCDriver


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
        where = self.folder / "controller.json"
        self.character = load_character(sc["character"]["name"])
        check_character(sc, self.character, where)
        if model is None:
            mjcf = self.folder / sc["character"]["mjcf"]
            try:
                model = mujoco.MjModel.from_xml_path(str(mjcf))
            except Exception as exc:  # noqa: BLE001 - MuJoCo's parser raises ValueError with its message
                raise ControllerFormatError(f"{mjcf}: MuJoCo cannot load it ({exc})".replace("\n", " ")) from None
        try:
            body_ids = [model.body(b["name"]).id for b in sc["character"]["bodies"]]
            qpos_adr = [int(model.jnt_qposadr[model.joint(j["name"]).id]) for j in sc["joints"]]
        except KeyError as exc:
            raise ControllerFormatError(f"{where}: the MuJoCo model lacks {exc}") from None
        if qpos_adr != [j["qpos_address"] for j in sc["joints"]] or model.nu < sc["action"]["size"]:
            raise ControllerFormatError(f"{where}: the MuJoCo model's joints or actuators are not the sidecar's")
        self.sim = SingleCharacter(self.character, model, substeps=sc["rates"]["physics_steps_per_control"])
        if body_ids != self.sim.body_ids.tolist():
            raise ControllerFormatError(f"{where}: the sidecar's bodies are not the character's, in its order")
        self.amp = AmpHistory(self.policy.num_amp_frames)  # the encoder's window, current frame first
        self.hold_steps = self.hlc.hold_steps if self.hlc is not None else sc["latent"]["hold_steps"]
        self.driver: HLCDriver | None = None  # the HLC's decisions and its task (tasks/<task>.py)
        if self.hlc is not None:
            from tasks.single import HLCDriver

            self.driver = HLCDriver(self.hlc, self.sim, self.hold_steps)
        self._goal_set = False  # the task's goal comes from set_goal (or each step_task call gives one)
        # a skill LLC's named skills: hold skills[name] as the latent (empty for an LLC without names)
        self.skills = self.policy.skills
        self.reset()

    # the MjData and the sizes of the character's part of it
    @property
    def model(self) -> mujoco.MjModel:
        return self.sim.model

    @property
    def data(self) -> mujoco.MjData:
        return self.sim.data

    @property
    def nq(self) -> int:
        return self.sim.char_nq

    @property
    def nu(self) -> int:
        return self.sim.num_actuators

    @property
    def substeps(self) -> int:
        """Physics steps per control step (controller.json rates)."""
        return self.sim.substeps

    @property
    def body_ids(self) -> np.ndarray:
        """The character's body ids in the model, in the sidecar's body order."""
        return self.sim.body_ids

    @property
    def control_steps(self) -> int:
        """Control steps since the reset: the HLC decides when this is a multiple of hold_steps."""
        return self.sim.steps

    # ---- state ------------------------------------------------------------------------
    def reset(self, qpos: np.ndarray | None = None, qvel: np.ndarray | None = None) -> None:
        """Character state (default pose at rest unless given); PD targets hold the pose; history repeats it."""
        self.sim.reset(qpos, qvel)
        self.amp.reset(self.sim.amp_frame())
        if self.driver is not None:
            self.driver.reset()

    def bodies(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """World position, quaternion (wxyz), linear velocity of the origin, angular velocity: (B, .) each."""
        return self.sim.bodies()

    def observe(self) -> np.ndarray:
        """The LLC's observation (obs_dim,) float32."""
        return self.sim.observe()[0]

    def amp_frame(self) -> np.ndarray:
        """One discriminator/encoder frame (amp_obs_dim,) of the current state."""
        return self.sim.amp_frame()

    # ---- control ------------------------------------------------------------------------
    def step(self, latent: np.ndarray) -> np.ndarray:
        """One 30 Hz control step with a unit latent: returns the action (action_dim,) in [-1, 1]."""
        return self._act(self.sim.observe(), latent)

    def _act(self, obs: np.ndarray, latent: np.ndarray) -> np.ndarray:
        """The LLC on `obs` (1, obs_dim), its PD targets (the export's own output) held for a control step."""
        action, target = self.policy.run(obs, np.asarray(latent, dtype=np.float32)[None])
        self.sim.hold(target[0])
        self.amp.push(self.sim.amp_frame())
        return action[0]

    def encode(self) -> tuple[float, np.ndarray]:
        """(discriminator logit, encoder's unit latent) of the last `num_amp_frames` control steps."""
        logit, latent = self.policy.discriminate(self.amp.window())
        return float(logit[0]), latent[0]

    # ---- task controller ------------------------------------------------------------------
    def _need_driver(self) -> HLCDriver:
        if self.driver is None:
            raise ControllerFormatError(f"{self.folder}: exported without a task controller (export with --hlc CKPT)")
        return self.driver

    @property
    def task(self) -> Task | None:
        """The HLC's task (tasks/<task>.py), holding the goal set with `set_goal`."""
        return None if self.driver is None else self.driver.task

    @property
    def latent(self) -> np.ndarray:
        """The latent the HLC decided last (latent_dim,), held between decisions (zeros before the first)."""
        if self.driver is None or self.driver.z is None:
            return np.zeros(self.policy.latent_dim, dtype=np.float32)
        return self.driver.z[0]

    @property
    def goal_obs(self) -> np.ndarray | None:
        """The goal observation (goal_dim,) of the HLC's last decision."""
        return None if self.driver is None or self.driver.goal_obs is None else self.driver.goal_obs[0]

    def set_goal(self, **goal) -> None:
        """The task's goal in the world frame, as its `set_goal` takes it (controller.json goal_layouts[].inputs):
        steering direction=yaw, speed=m/s, facing=yaw; speed direction, speed; location target=xy; reach
        target=xyz; strike pos=xy, yaw (places the box). Strike reads the box of the scene: pass `model=` a scene
        with body 'strike_target'; `set_goal()` without arguments takes the box where it stands."""
        driver = self._need_driver()
        if goal:
            driver.set_goal(**goal)
        self._goal_set = True

    def task_state(self) -> TaskState:
        """The task's view of the current state (tasks.common.TaskState, one row); velocities over the last
        control step. The task's reward and success: `ctl.task.reward(ctl.task_state())`."""
        return self.sim.task_state()

    def goal_observation(self) -> np.ndarray:
        """The goal observation (goal_dim,) float32 of the goal set with `set_goal`, in the heading frame now."""
        if self.driver is None or not self._goal_set:
            raise ValueError("no goal set: call set_goal(...) first, or pass the goal observation to step_task")
        return self.driver.task.observe(self.sim.task_state())[0]

    def step_task(self, goal: np.ndarray | None = None) -> np.ndarray:
        """One control step driven by the task controller: every `hold_steps` steps (from the reset) the HLC
        picks a latent from the observation and the goal observation (`goal`, heading frame, or the one of the
        goal set with `set_goal`); the LLC acts on the held latent. Returns the action."""
        driver = self._need_driver()
        if goal is None and not self._goal_set:
            raise ValueError("no goal set: call set_goal(...) first, or pass the goal observation to step_task")
        obs = self.sim.observe()
        return self._act(obs, driver.latent(obs, goal)[0])
