"""The viewer's model: what is simulated or replayed, with which controller, goals and HUD numbers.

No window and no OpenGL here: the window (app/window.py), the headless recorder (app/record.py) and the tests
all drive a `Session` through `frame(real_dt, camera_yaw)` and its actions (set_mode, reset, shove, throw, ...).

The physics is one `sim.single.SingleCharacter` (`sim`). A `Session` composes parts with one job each, and
its own job is the mode, the resets and the control step that runs through them:
  - `playback` (`app.playback.Playback`): playback mode's clip and the ghost beside a simulated twin;
  - `latents` (`app.latent_control.LatentControl`): the session's LLC, the latent it acts on in LLC mode, the
    presets and the blend;
  - `tasks` (`app.task_mode.TaskMode`): HLC mode's task controllers, the one driven now and its score;
  - `inputs` (`app.routing.InputRouter`): the user's goal inputs (keys, sticks, clicks) -> goals and tasks;
  - `perturb` (`app.perturb.Perturbations`): shoves and thrown balls, with the panel's settings;
  - `seen` (`app.monitors.SeenSkill`), `fall` (`app.state.FallMonitor`), `motion` (`app.hud.MeasuredMotion`):
    what is measured after each step; `clock`, `timings`, `events` (the HUD's event line).
What is loaded is `app.loading`'s, the presets `app.presets`', the HUD's rows `app.hud`'s.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from app import hud
from app.controls import Goals, Steering
from app.hud import MeasuredMotion, Timings
from app.latent_control import LatentControl
from app.loading import (  # noqa: F401 - re-exported: the loaders were part of this module
    BUNDLED_LLC,
    HLC_UNAVAILABLE,
    REPO,
    SessionConfig,
    SessionError,
    TaskController,
    bundled_hlcs,
    bundled_llcs,
    load_clips_and_llc,
    load_hlc_pair,
    load_motions,
    load_policy,
    task_rank,
)
from app.monitors import SeenSkill, StepReading
from app.perturb import Perturbations
from app.playback import ClipEnd, Playback
from app.routing import InputRouter
from app.state import EventLine, FallMonitor, Mode, SimClock
from app.task_mode import TaskMode
from sim.single import SingleCharacter

if TYPE_CHECKING:
    from controllers.protocols import Policy, TaskPolicy

PHYSICS_ACTIONS = ("shove", "throw")  # what kinematic playback refuses
SIM_HOLDS = ("pose", "default", "zero_action")  # sim mode: hold the pose at the reset, the default pose, action 0


class Session:
    """Everything the viewer shows and changes, stepped at the simulation's control rate.

    What the user asks for explicitly must work: a `cfg.llc` that does not load or a `cfg.mode` that
    is not available raises `SessionError` (the command line prints it as one line and exits 1);
    only the defaults fall back (no bundled checkpoint: playback; no clips: physics alone).
    """

    def __init__(
        self, cfg: SessionConfig, *, motions: Any = None, policy: Policy | None = None, load: bool = True
    ) -> None:
        self.cfg = cfg
        self.rng = np.random.default_rng(cfg.seed)
        hlc = None
        if cfg.hlc and load:  # first: the task controller says which character and which LLC
            hlc, policy = load_hlc_pair(cfg)
            cfg.character = hlc.character
        cfg.character = cfg.character or "humanoid"
        try:
            self.sim = SingleCharacter.scene(cfg.character, device=cfg.device)
        except (RuntimeError, ValueError) as exc:  # CudaUnavailableError is a RuntimeError: one line
            raise SessionError(f"--device {cfg.device}: {exc}") from None
        self.character = self.sim.character
        clips_line = motions is None and load
        self.motions, policy, self.controller_note, self.messages = load_clips_and_llc(
            cfg, self.character, motions, policy, load=load
        )
        if hlc is not None:  # after the clips' line, before the LLC's
            llc_file = Path(cfg.llc or hlc.llc["path"]).name
            self.messages.insert(int(clips_line), f"HLC {Path(cfg.hlc).name}: {hlc.task} task, LLC {llc_file}")
        self.events = EventLine()
        self.clock = SimClock(control_dt=self.sim.control_dt)
        self.steering = Steering()
        self.timings = Timings()
        self.fall, self.motion, self.seen = FallMonitor(), MeasuredMotion(), SeenSkill()
        self.sim_hold = "pose"  # sim mode's PD targets (`SIM_HOLDS`)
        self.camera_yaw = 0.0  # the camera's view direction (world yaw), updated every frame
        self.recording = False  # fixed-step video: the HUD shows simulated time, not live rates
        self._held_targets = self.sim.pd_targets_from_qpos(self.sim.default_qpos())
        self.playback = Playback(self.motions, self.sim, cfg.clip)
        self.latents = LatentControl(policy, cfg=cfg, motions=self.motions, sim=self.sim, rng=self.rng,
                                     events=self.events, messages=self.messages)  # fmt: skip
        self.tasks = TaskMode(self.sim, self.steering, self.events, self.latents)
        self.inputs = InputRouter(self.tasks, self.steering, self.events)
        self.perturb = Perturbations(self.sim, self.rng, self.events)
        self.mode = Mode.SIM
        if hlc is not None:
            self.attach_hlc(hlc, name=Path(cfg.hlc).name)
        elif policy is not None and load:  # the bundled LLC: its bundled task controllers, for HLC mode
            self.messages += self.tasks.attach_bundled(cfg)
        self._start_mode(cfg.mode, "hlc" if hlc is not None else "llc" if policy is not None else "playback")

    def _start_mode(self, asked: str | None, first: str) -> None:
        """The mode asked for (SessionError when unavailable), else the first available of `first`, playback, sim."""
        if asked and not self.set_mode(asked):
            raise SessionError(f"--mode {asked}: {self.available_modes()[Mode(asked)]}")
        if not asked:
            for mode in (first, Mode.PLAYBACK, Mode.SIM):
                if self.set_mode(mode):  # hlc or llc with a checkpoint, else playback, else physics alone
                    break
        self.events.say("")

    # ---- what the UI reads ----------------------------------------------------------
    @property
    def policy(self) -> Policy | None:
        """The session's LLC (LLC mode's, and HLC mode's unless the task controller brings its own)."""
        return self.latents.llc

    @property
    def acting_llc(self) -> Policy | None:
        """The LLC acting now: in HLC mode the current task controller's own LLC when it brings one."""
        return self.tasks.acting_llc

    @property
    def goals(self) -> Goals:
        return self.steering.goals

    @property
    def last_event(self) -> str:
        return self.events.text

    def event(self, text: str) -> None:
        self.events.say(text)

    def available_modes(self) -> dict[Mode, str]:
        """Mode -> "" when available, else why not."""
        return {
            Mode.PLAYBACK: "" if self.motions is not None else "no motion clips (python launch.py motions download)",
            Mode.SIM: "",
            Mode.LLC: "" if self.policy is not None else "no LLC checkpoint (--llc PATH)",
            Mode.HLC: "" if self.tasks.driver is not None else HLC_UNAVAILABLE,
        }

    def physics_mode(self) -> bool:
        return self.mode is not Mode.PLAYBACK or self.playback.ghost

    def nearest_preset(self) -> str:
        return self.latents.nearest_preset(self.acting_llc)

    def acting_note(self) -> str | None:
        """The measured summary (JSON card) of the LLC acting now."""
        return self.tasks.task_llc.llc_note if self.acting_llc is not self.policy else self.controller_note

    def scene(self) -> dict[str, Any]:
        """What the renderer draws beside the physics: `SceneRenderer.render`'s keyword arguments. In HLC mode
        the task's markers show the goals, as the task holds them. Outside HLC mode no goal is drawn: nothing
        there follows one (the keys say so when pressed)."""
        return {"ghost": self.playback.ghost_data, "goals": None, "markers": self.tasks.markers(),
                "root": self.sim.root_pos(), "hidden": self.sim.idle_props(), "hud": self.hud()}  # fmt: skip

    def hud(self) -> list[tuple[str, str]]:
        """Every HUD row (name, value) that means something in this mode (`app.hud.hud_rows`)."""
        return hud.hud_rows(self)

    # ---- mode, resets, controllers ------------------------------------------------------
    def set_mode(self, mode: str | Mode) -> bool:
        mode = Mode(mode)
        why = self.available_modes()[mode]
        if why:
            self.event(f"{mode.value}: {why}")
            return False
        self.mode = mode
        self.tasks.active = mode is Mode.HLC
        self.reset()
        return True

    def toggle_getup_assist(self) -> None:
        """The get-up assist on or off (a skill LLC: its get-up skill takes over while the character is down)."""
        g = self.latents.getup
        if not g.available:
            self.event("get-up assist: this LLC names no get-up skill")
            return
        g.enabled = not g.enabled
        g.reset()
        self.event(f"get-up assist: {'on' if g.enabled else 'off'}")

    def reset(self) -> None:
        """Restart the current mode: playback/physics from the clip's current frame, or the default pose."""
        self.event("")  # events belong to the episode that just ended
        self.fall.reset(falls=True)  # the falls count is this episode's
        self.motion.reset()
        self.seen.reset()
        self.latents.getup.reset()
        playing = self.mode is Mode.PLAYBACK
        if playing and self.motions is not None:
            st = self.playback.sample()
            self.sim.reset(st.qpos[0], st.qvel[0])  # kinematic replay, or physics from the clip's state
        else:
            self.sim.reset()
        self.sim.park_strike_target()  # out of sight until placed
        self.goals.location = None
        self.goals.strike_active = False
        self._held_targets = self.sim.pd_targets_from_qpos(self.sim.data.qpos[: self.sim.char_nq])
        self.playback.update_ghost(playing)
        self.steering.speed_range = self.tasks.speed_range()
        if self.tasks.driving:
            self.tasks.start()

    def select_clip(self, clip: int | str) -> None:
        if self.motions is not None:
            self.playback.select(clip)
            if self.mode is Mode.PLAYBACK:
                self.reset()

    def scrub(self, t: float) -> None:
        self.playback.scrub(t)
        if self.mode is Mode.PLAYBACK:
            self.reset()

    def load_hlc(self, path: str | Path, llc: str | Path | None = None, *, allow_other_llc: bool = False) -> None:
        """Load a task controller and the frozen LLC it was trained with (checked by SHA-256: `llc` defaults
        to the recorded file) and drive it in HLC mode; SessionError (one line) when refused."""
        cfg = SessionConfig(character=self.character.name, llc=None if llc is None else str(llc), hlc=str(path),
                            allow_other_llc=allow_other_llc, policy_backend="torch",
                            trust_checkpoint=self.cfg.trust_checkpoint)  # fmt: skip
        hlc, pol = load_hlc_pair(cfg)
        self.attach_hlc(hlc, pol, name=Path(path).name)

    def attach_hlc(
        self, hlc: TaskPolicy | None, llc: Policy | None = None, name: str = "", *, current: bool = True
    ) -> None:
        """Add `hlc` (controllers.hlc.HLCPolicy) to the task controllers, replacing the one of its task, and drive
        it in HLC mode (`current`; else it waits for `select_task`). None: no task controller at all. `llc`
        replaces the LLC (None: keep the current one, which must be the LLC the HLC was trained with); then the
        task controllers trained on another LLC file (SHA-256) go."""
        if hlc is None:
            self.tasks.clear()
            if self.mode is Mode.HLC:
                self.set_mode(Mode.LLC if self.policy is not None else Mode.SIM)
        elif self.tasks.attach(TaskController(hlc, name), llc, current=current) and self.mode is Mode.HLC:
            self.reset()  # HLC mode restarts with the new current controller

    # ---- per frame and per control step ---------------------------------------------------------
    def frame(self, real_dt: float, camera_yaw: float = 0.0) -> int:
        """Advance by one render frame: goals from input, then as many control steps as real time asks."""
        self.camera_yaw = camera_yaw
        self.steering.update(real_dt, camera_yaw)
        self.inputs.route_held()
        if self.mode is Mode.HLC:
            self.tasks.feed_goal()  # also while paused: the markers show the goal as it is set
        n = self.clock.advance(real_dt)
        for _ in range(n):
            self.control_step()
        self.clock.record_timing(n, real_dt)
        return n

    def control_step(self) -> None:
        """One control step, in one direction, each part once: the acting controller turns the observation into an
        action (`_action`; HLC mode: `tasks.decide` picks the latent, then the LLC acts), the physics steps, the
        simulation is read once (`StepReading`) and each monitor updates from that reading. No part calls back
        into the session. Playback steps its clip instead."""
        if self.mode is Mode.PLAYBACK:  # its twin tracks a clip open-loop: its falls are not counted
            end = self.playback.step(self.timings)
            if end is ClipEnd.LOOPED:
                self.reset()  # back to the clip's start (the simulated twin restarts too)
            elif end is ClipEnd.STOPPED:
                self.clock.paused = True
            return
        task, llc = self.tasks.driving, self.acting_llc
        action = self._action(llc, task)
        with self.timings.timed("physics_ms"):
            if action is not None:
                self.sim.step(action)
            else:  # sim mode holds PD targets: the default pose's, or those of the pose at the reset
                default = self.sim_hold == "default"
                self.sim.hold(self.sim.pd_targets_from_qpos(self.sim.default_qpos()) if default else self._held_targets)
        now = StepReading.of(self.sim, task=task, amp=SeenSkill.watches(llc))
        if task:
            self.tasks.score.update(self.tasks.driver, now.task_state)
        self.seen.update(llc, now.amp_frame)
        self.fall.update(now.time, now.fallen, *now.heights_rel, airborne=now.airborne)
        self.motion.update(now.root, self.sim.control_dt)

    def _action(self, llc: Policy | None, task: bool) -> np.ndarray | None:
        """This control step's action: the LLC's on the latent (in HLC mode the task controller's latent, decided
        every `llc_steps` control steps as in training), sim mode's zero action, or None when sim mode holds PD
        targets."""
        latents = self.latents
        if self.mode in (Mode.LLC, Mode.HLC) and latents.llc is not None and latents.latent is not None:
            obs = self.sim.observe()
            with self.timings.timed("policy_ms"):
                if task:
                    latents.latent = self.tasks.decide(obs)
                    return llc.act(obs, latents.latent[None])[0]
                sim = self.sim
                head, root_quat = sim.data.xpos[sim.head_id, 2], sim.data.xquat[sim.root_id]
                z = latents.acting_latent(float(head), root_quat, sim.control_dt)
                return llc.act(obs, z[None])[0]
        return np.zeros(self.sim.num_actuators) if self.sim_hold == "zero_action" else None

    # ---- the user's actions ------------------------------------------------------------------
    def why_not(self, action: str) -> str:
        """Why `action` (a scripted action name) cannot run now; "" when it can."""
        if action in PHYSICS_ACTIONS and not self.physics_mode():
            return f"{action}: switch to sim or LLC mode (playback is kinematic)"
        if action == "random_latent" and self.latents.latent is None:
            return "random latent: no LLC checkpoint (--llc PATH)"
        if action == "random_latent" and self.mode is Mode.HLC:
            return "random latent: in HLC mode the task controller picks the latent (LLC mode: 3)"
        return ""

    def _allowed(self, action: str) -> bool:
        """Whether `action` can run now; when not, the event line says why."""
        why = self.why_not(action)
        if why:
            self.event(why)
        return not why

    def shove(self, strength: float | None = None, yaw: float | None = None, body: int | None = None) -> bool:
        """Push the character (default: the torso) with an impulse; False (and the reason as event) if refused.

        Strength defaults to the panel's slider; direction to the panel's choice: the camera's view
        direction (away from the viewer) or a random bearing. The window passes a drag's direction.
        """
        if self._allowed("shove"):
            self.perturb.shove(strength, yaw, body, self.camera_yaw)
            return True
        return False

    def throw(self) -> bool:
        if self._allowed("throw"):
            self.perturb.throw()
            return True
        return False

    def random_latent(self) -> bool:
        if self._allowed("random_latent"):
            self.latents.randomize()
            return True
        return False

    def spawn_strike_target(self, xy: np.ndarray | None = None) -> None:
        """Place the strike target (the V key, the panel's button, a script's "strike"): `InputRouter`'s."""
        self.inputs.spawn_strike_target(xy)
