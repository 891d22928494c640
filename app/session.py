"""The viewer's model: what is simulated or replayed, with which controller, goals and HUD numbers.

No window and no OpenGL here: the window (app/window.py), the headless recorder
(app/record.py) and the tests all drive a `Session` through `frame(real_dt, camera_yaw)`
and its action methods (shove, throw, reset, set_mode, ...).

The physics is one `sim.single.SingleCharacter` (`self.sim`): each control step the acting controller's action
goes to its `step`, which maps it to PD targets and steps the physics, as the training environment does.
HLC mode drives a task controller on it through `tasks.single.HLCDriver` (task state, goal observation,
reward, success, markers and how the viewer's inputs make its goal are the task module's): the user's goals
(`app.controls.Goals`: keys, sticks, clicks, the goals panel) go to the task's `set_goal`, the HLC picks a
latent every few control steps and the frozen LLC acts on it (`app.task_mode`).

The rest lives beside it, one job each: what is loaded (`app.loading`), the presets (`app.presets`), the
HUD's rows and timings (`app.hud`), modes, clock and falls (`app.state`).
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from app import hud
from app.controls import Goals, Steering
from app.hud import MeasuredMotion, Timings
from app.latents import SkillMap, normalize, set_component, slerp
from app.loading import (  # noqa: F401 - re-exported: the loaders were part of this module
    BUNDLED_LLC,
    HLC_UNAVAILABLE,
    REPO,
    SessionConfig,
    SessionError,
    TaskController,
    bundled_hlcs,
    bundled_llcs,
    load_hlc_pair,
    load_motions,
    load_policy,
    task_rank,
)
from app.presets import Presets, blend_label, clip_presets, short_names, skill_presets
from app.state import FallMonitor, Mode, SimClock
from app.task_mode import TaskModeMixin
from controllers.latents import clip_preset, recognise_skill
from sim.observations import clip_windows
from sim.perturbations import SHOVE_STRENGTH
from sim.single import AmpHistory, SingleCharacter

if TYPE_CHECKING:
    from controllers.protocols import Policy

GHOST_OFFSET = np.array([0.0, 1.2, 0.0])  # the reference ghost stands beside the simulated character
STRIKE_AHEAD = 1.5  # m: where the strike target is placed in front of the character
SHOVE_DIRECTIONS = ("camera", "random")  # away from the viewer along the camera's view, or any bearing
PHYSICS_ACTIONS = ("shove", "throw")  # what kinematic playback refuses
NEAR_COS = 0.5  # a latent this close (cosine) to a preset is shown as near it


class Session(TaskModeMixin):
    """Everything the viewer shows and changes, stepped at the simulation's control rate.

    What the user asks for explicitly must work: a `cfg.llc` that does not load or a `cfg.mode` that
    is not available raises `SessionError` (the command line prints it as one line and exits 1);
    only the defaults fall back (no bundled checkpoint: playback; no clips: physics alone).
    """

    def __init__(
        self, cfg: SessionConfig, *, motions: Any = None, policy: Policy | None = None, load: bool = True
    ) -> None:
        self.cfg = cfg
        # the skill the encoder sees in the acting LLC's last discriminator frames (named-skill LLCs)
        self.seen, self._amp, self._seen_step = "", None, 0
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
        self.ghost_data = None  # an MjData posed from the reference clip, drawn translucent
        self.messages: list[str] = []
        if motions is None and load:
            motions, msg = load_motions(cfg, self.character)
            self.messages.append(msg)
        if hlc is not None:
            llc_file = Path(cfg.llc or hlc.llc["path"]).name
            self.messages.append(f"HLC {Path(cfg.hlc).name}: {hlc.task} task, LLC {llc_file}")
        if policy is None and load:
            explicit = bool(cfg.llc)
            policy, msg = load_policy(cfg)
            if policy is None and explicit:
                raise SessionError(msg)
            self.messages.append(msg)
        self.motions = motions
        self.policy = policy
        self.controller_note = None  # measured summary of the LLC (checkpoints/llc.json for the bundled one)
        if policy is not None and cfg.llc and cfg.policy_backend == "torch":
            from controllers.checkpoint import controller_summary

            self.controller_note = controller_summary(cfg.llc)
        self.clock = SimClock(control_dt=self.sim.control_dt)
        self.steering = Steering()
        self.fall = FallMonitor()
        self.motion = MeasuredMotion()  # the character's measured horizontal velocity (HUD, task window)
        self.timings = Timings()
        self.sim_hold = "pose"  # sim mode PD targets: "pose" (hold the current pose), "default", "zero_action"
        self.shove_strength = SHOVE_STRENGTH  # N s
        self.shove_direction = SHOVE_DIRECTIONS[0]
        self.camera_yaw = 0.0  # the camera's view direction (world yaw), updated every frame
        self.recording = False  # fixed-step video: the HUD shows simulated time, not live rates
        self._held_targets = self.sim.pd_targets_from_qpos(self.sim.default_qpos())
        # playback
        self.clip = 0
        self.clip_time = 0.0
        self.loop = True
        self.ghost = False  # playback: simulate beside the kinematic reference
        if motions is not None:
            wanted = [cfg.clip] if cfg.clip else []
            for name in [*wanted, "walk"]:  # a walk is the friendliest first sight
                if (found := self.find_clip(name)) is not None:
                    self.clip = found
                    break
        # latent
        self.latent: np.ndarray | None = None
        self.presets: Presets | None = None
        self.blend = (0, 1, 0.0)  # preset a, preset b, t
        if policy is not None:
            self.latent = self._sample_latent(policy.latent_dim)
            self.presets = self._build_presets()
            self.blend = self._default_blend()
        self.last_event = ""
        self.mode = Mode.SIM
        self._init_task_mode()
        if hlc is not None:
            self.attach_hlc(hlc, name=Path(cfg.hlc).name)
        elif policy is not None and load:  # the bundled LLC: its bundled task controllers, for HLC mode
            bundled, why = bundled_hlcs(cfg)
            for i, c in enumerate(bundled):
                try:
                    self.attach_controller(c, current=i == 0)
                except SessionError as exc:
                    why = "; ".join(filter(None, [why, str(exc)]))
            if self.controllers:
                names = ", ".join(f"{t} ({c.label})" for t, c in self.controllers.items())
                self.messages.append(f"task controllers (HLC mode): {names}")
            if why:
                self.messages.append(f"bundled task controller not loaded: {why}")
        if cfg.mode and not self.set_mode(cfg.mode):
            raise SessionError(f"--mode {cfg.mode}: {self.available_modes()[Mode(cfg.mode)]}")
        if not cfg.mode:
            first = "hlc" if hlc is not None else "llc" if policy is not None else "playback"
            for mode in (first, Mode.PLAYBACK, Mode.SIM):
                if self.set_mode(mode):  # hlc or llc with a checkpoint, else playback, else physics alone
                    break
        self.last_event = ""

    # ---- properties used by the UI ----------------------------------------------
    @property
    def goals(self) -> Goals:
        return self.steering.goals

    @property
    def clip_names(self) -> list[str]:
        return list(self.motions.clip_names) if self.motions is not None else []

    def find_clip(self, name: str) -> int | None:
        """The clip called `name`, by its full name ("humanoid3d_walk") or the short one the panels show
        ("walk"); None when there is none."""
        names = self.clip_names
        for candidates in (names, short_names(names)):
            if name in candidates:
                return candidates.index(name)
        ends = [i for i, n in enumerate(names) if n.endswith(f"_{name}")]  # one clip: no common prefix to drop
        return ends[0] if len(ends) == 1 else None

    @property
    def clip_duration(self) -> float:
        return float(self.motions.durations[self.clip]) if self.motions is not None else 0.0

    def available_modes(self) -> dict[Mode, str]:
        """Mode -> "" when available, else why not."""
        return {
            Mode.PLAYBACK: "" if self.motions is not None else "no motion clips (python launch.py motions download)",
            Mode.SIM: "",
            Mode.LLC: "" if self.policy is not None else "no LLC checkpoint (--llc PATH)",
            Mode.HLC: "" if self.driver is not None else HLC_UNAVAILABLE,
        }

    def scene(self) -> dict[str, Any]:
        """What the renderer draws beside the physics: `SceneRenderer.render`'s keyword arguments. In HLC mode
        the task's markers show the goals, as the task holds them. Outside HLC mode no goal is drawn: nothing
        there follows one (the keys say so when pressed)."""
        return {"ghost": self.ghost_data, "goals": None, "markers": self.markers(), "root": self.sim.root_pos(),
                "hidden": self.sim.idle_props(), "hud": self.hud()}  # fmt: skip

    # ---- mode and resets ----------------------------------------------------------
    def set_mode(self, mode: str | Mode) -> bool:
        mode = Mode(mode)
        why = self.available_modes()[mode]
        if why:
            self.event(f"{mode.value}: {why}")
            return False
        self.mode = mode
        self.reset()
        return True

    def reset(self) -> None:
        """Restart the current mode: playback/physics from the clip's current frame, or the default pose."""
        self.last_event = ""  # events belong to the episode that just ended
        self.fall.reset(falls=True)  # the falls count is this episode's
        self.motion.reset()
        self.seen, self._amp = "", None
        if self.mode is Mode.PLAYBACK and self.motions is not None:
            st = self._sample(self.clip_time)
            self.sim.reset(st.qpos[0], st.qvel[0])  # kinematic replay, or physics from the clip's state
        else:
            self.sim.reset()
        self.sim.park_strike_target()  # out of sight until placed
        self.goals.location = None
        self.goals.strike_active = False
        self._held_targets = self.sim.pd_targets_from_qpos(self.sim.data.qpos[: self.sim.char_nq])
        self._update_ghost()
        self.steering.speed_range = self._speed_range()
        if self.mode is Mode.HLC and self.driver is not None:
            self._start_task()

    def select_clip(self, clip: int | str) -> None:
        if self.motions is None:
            return
        if isinstance(clip, str):
            found = self.find_clip(clip)
            if found is None:
                raise ValueError(f"no clip named {clip!r}")
            self.clip = found
        else:
            self.clip = int(clip) % self.motions.num_clips
        self.clip_time = 0.0
        if self.mode is Mode.PLAYBACK:
            self.reset()

    def scrub(self, t: float) -> None:
        self.clip_time = float(np.clip(t, 0.0, self.clip_duration))
        if self.mode is Mode.PLAYBACK:
            self.reset()

    # ---- per frame ------------------------------------------------------------------
    def frame(self, real_dt: float, camera_yaw: float = 0.0) -> int:
        """Advance by one render frame: goals from input, then as many control steps as real time asks."""
        self.camera_yaw = camera_yaw
        self.steering.update(real_dt, camera_yaw)
        self._route_input()
        if self.mode is Mode.HLC:
            self.feed_task_goal()  # also while paused: the markers show the goal as it is set
        n = self.clock.advance(real_dt)
        for _ in range(n):
            self.control_step()
        self.clock.record_timing(n, real_dt)
        return n

    def control_step(self) -> None:
        """One control step: playback's clip, or the acting controller's action (`_action`) on the physics."""
        if self.mode is Mode.PLAYBACK:  # its twin tracks a clip open-loop: its falls are not counted
            self._playback_step()
            return
        task = self.mode is Mode.HLC and self.driver is not None
        if task:
            self.feed_task_goal()
        action = self._action()
        t0 = time.perf_counter()
        if action is not None:
            self.sim.step(action)
        else:  # sim mode holds PD targets: the default pose's, or those of the pose at the reset
            default = self.sim_hold == "default"
            self.sim.hold(self.sim.pd_targets_from_qpos(self.sim.default_qpos()) if default else self._held_targets)
        self.timings.add("physics_ms", 1e3 * (time.perf_counter() - t0))
        if task:
            self._score_task()
        self._track_seen_skill()
        self.fall.update(self.sim.time, self.sim.fallen(), *self.sim.heights_rel(), airborne=self.sim.airborne())
        self.motion.update(self.sim.root_pos(), self.sim.control_dt)

    def _action(self) -> np.ndarray | None:
        """This control step's action: the LLC's on the latent, sim mode's zero action, or None when sim mode holds
        PD targets (`sim_hold` "pose": the pose at the reset, "default": the default pose).

        HLC mode: every `llc_steps` control steps the HLC turns (policy observation, the task's goal
        observation) into `self.latent` (tasks.single.HLCDriver, as in training), then the LLC acts on it.
        """
        if self.mode in (Mode.LLC, Mode.HLC) and self.policy is not None and self.latent is not None:
            obs = self.sim.observe()
            t0 = time.perf_counter()
            if self.mode is Mode.HLC and self.driver is not None:
                self.latent = self.driver.latent(obs)[0]
            action = self.acting_llc.act(obs, self.latent[None])[0]
            self.timings.add("policy_ms", 1e3 * (time.perf_counter() - t0))
            return action
        return np.zeros(self.sim.num_actuators) if self.sim_hold == "zero_action" else None

    def _sample(self, t: float):
        return self.motions.sample(np.array([self.clip]), np.array([t]))

    def _playback_step(self) -> None:
        dur = self.clip_duration
        self.clip_time += self.sim.control_dt
        if self.clip_time > dur:
            if self.loop:
                self.clip_time = 0.0
                self.reset()  # back to the clip's start (the simulated twin restarts too)
                return
            self.clip_time = dur
            self.clock.paused = True
        st = self._sample(self.clip_time)
        if self.ghost:  # physics tracks the clip's joint angles open-loop; the kinematic reference is the ghost
            t0 = time.perf_counter()
            self.sim.hold(self.sim.pd_targets_from_qpos(st.qpos[0]))
            self.timings.add("physics_ms", 1e3 * (time.perf_counter() - t0))
        else:
            self.sim.set_kinematic(st.qpos[0], st.qvel[0])
        self._update_ghost(st)

    def _update_ghost(self, st: Any = None) -> None:
        import mujoco

        if not (self.ghost and self.mode is Mode.PLAYBACK and self.motions is not None):
            self.ghost_data = None
            return
        st = st if st is not None else self._sample(self.clip_time)
        if self.ghost_data is None:
            self.ghost_data = mujoco.MjData(self.sim.model)
        g = self.ghost_data
        g.qpos[:] = self.sim.model.qpos0
        g.qpos[: self.sim.char_nq] = st.qpos[0]
        g.qpos[:3] += GHOST_OFFSET
        mujoco.mj_kinematics(self.sim.model, g)

    # ---- perturbations ------------------------------------------------------------------
    def physics_mode(self) -> bool:
        return self.mode is not Mode.PLAYBACK or self.ghost

    def why_not(self, action: str) -> str:
        """Why `action` (a scripted action name) cannot run now; "" when it can."""
        if action in PHYSICS_ACTIONS and not self.physics_mode():
            return f"{action}: switch to sim or LLC mode (playback is kinematic)"
        if action == "random_latent" and self.latent is None:
            return "random latent: no LLC checkpoint (--llc PATH)"
        if action == "random_latent" and self.mode is Mode.HLC:
            return "random latent: in HLC mode the task controller picks the latent (LLC mode: 3)"
        return ""

    def shove(self, strength: float | None = None, yaw: float | None = None, body: int | None = None) -> bool:
        """Push the character (default: the torso) with an impulse; False (and the reason as event) if refused.

        Strength defaults to the panel's slider; direction to the panel's choice: the camera's view
        direction (away from the viewer) or a random bearing. The window passes a drag's direction.
        """
        if why := self.why_not("shove"):
            self.event(why)
            return False
        strength = self.shove_strength if strength is None else float(strength)
        if yaw is None:
            yaw = self.camera_yaw if self.shove_direction == "camera" else float(self.rng.uniform(-math.pi, math.pi))
        self.sim.shove(strength, yaw, body)
        self.event(f"shove {strength:.0f} N s towards {math.degrees(yaw) % 360:.0f} deg")
        return True

    def throw(self) -> bool:
        if why := self.why_not("throw"):
            self.event(why)
            return False
        self.sim.launch_projectile(self.rng)
        self.event("projectile thrown")
        return True

    def spawn_strike_target(self, xy: np.ndarray | None = None) -> None:
        """Place the strike target upright, 1.5 m in front of the character or at world `xy` (again = reset it).

        In HLC strike mode the task places it (its `set_goal`, then the placement it asks for is written to
        this MjData's box): the box the task reads and scores is this body of the scene.
        """
        if self._switch_for("box") and xy is None:  # the strike controller placed it through its task
            return
        root, yaw = self.sim.root_pos(), self.sim.root_heading()
        if xy is None:
            xy = root[:2] + STRIKE_AHEAD * np.array([np.cos(yaw), np.sin(yaw)])
        if self._strike_task():
            self.driver.set_goal(pos=np.asarray(xy)[:2], yaw=yaw)  # the task's placement, written to self.sim
        else:
            self.sim.place_strike_target(np.asarray(xy), yaw)
        if self.task_state is not None:  # moved by hand: the task sees it where it stands, at rest
            self.task_state = self.sim.task_state()
        self.goals.strike_active = True
        self.target_failed = False  # a new box: a new attempt
        self.task_targets += 1
        self.event("strike target placed" + self._unused_goal_note("box") + "; R removes it")

    def ground_click(self, point: np.ndarray, ctrl: bool = False) -> None:
        """A click on the ground at world `point`: the location target, with ctrl the reach target's x, y; in
        HLC strike mode a plain click places the box there."""
        g = self.goals
        switched = self._switch_for("ctrl+click" if ctrl else "click")
        if ctrl:
            g.reach = np.array([point[0], point[1], g.reach[2]])
            g.reach_active = True
            self.event(f"reach target ({point[0]:.1f}, {point[1]:.1f})" + self._unused_goal_note("ctrl+click"))
        elif self._strike_task():
            self.spawn_strike_target(np.asarray(point)[:2])
            self.event(f"strike target at ({point[0]:.1f}, {point[1]:.1f})")
        else:
            g.set_location(point)
            self.event(f"location target ({point[0]:.1f}, {point[1]:.1f})" + self._unused_goal_note("click"))
        if switched:
            self.last_event += f"; task: {switched} ({self.hlc_name})"
        if self.mode is Mode.HLC:
            self.feed_task_goal()

    def event(self, text: str) -> None:
        self.last_event = text

    # ---- latents ------------------------------------------------------------------------
    def _build_presets(self) -> Presets | None:
        """The LLC's named skills when it has some, else one preset per clip (normalized mean encoder output over
        the clip's windows), marked with what is known of each (`app.presets`)."""
        if self.policy is None:
            return None
        if named := skill_presets(getattr(self.policy, "skills", None) or {}):
            return named
        if self.motions is None:
            return None
        try:
            lat = []
            for c in range(len(self.clip_names)):
                windows = clip_windows(
                    self.motions, self.sim.joints, self.sim.control_dt, c, self.policy.num_amp_frames
                )
                lat.append(clip_preset(self.policy.encode(windows)))
            config = getattr(self.policy, "config", None)
            llc_file = self.cfg.llc if self.cfg.policy_backend == "torch" else None
            return clip_presets(self.clip_names, np.stack(lat), llc_file, config if isinstance(config, dict) else None)
        except Exception as exc:  # presets are a convenience: keep the viewer running without them
            self.messages.append(f"latent presets unavailable ({type(exc).__name__}: {exc})")
            return None

    def _default_blend(self) -> tuple[int, int, float]:
        """walk -> run when there are such presets, else the first two."""
        names = self.skill_map.names if self.skill_map is not None else []
        a = names.index("walk") if "walk" in names else 0
        b = names.index("run") if "run" in names else min(1, max(len(names) - 1, 0))
        return a, b, 0.0

    @property
    def skill_map(self) -> SkillMap | None:
        """The presets' names, latents and 2-D map (None without presets)."""
        return self.presets.map if self.presets is not None else None

    def set_latent(self, z: np.ndarray) -> None:
        self.latent = normalize(z)

    def set_latent_component(self, axis: np.ndarray, value: float) -> None:
        """Set the latent's component along unit `axis` (a principal axis or a raw dimension), staying on the sphere."""
        if self.latent is not None:
            self.latent = set_component(self.latent, axis, value)

    def _sample_latent(self, dim: int) -> np.ndarray:
        """One latent from ASE's prior: the trainer's own sampler (`controllers.latents`), without torch."""
        from controllers.latents import sample_latents

        return sample_latents(1, dim, self.rng)[0]

    def random_latent(self) -> bool:
        if why := self.why_not("random_latent"):
            self.event(why)
            return False
        self.set_latent(self._sample_latent(len(self.latent)))
        self.event("random latent")
        return True

    def use_preset(self, name: str) -> None:
        """Hold preset `name` (a skill's or a clip's short name)."""
        if self.skill_map is not None:
            self.set_latent(self.skill_map.latent(name))
            kind = "skill" if self.presets.kind == "skills" else "clip preset"
            self.event(f"{kind} {name}")

    def set_blend(self, a: int, b: int, t: float) -> None:
        """Slerp from preset `a` (t=0) to preset `b` (t=1)."""
        self.blend = (a, b, t)
        if self.skill_map is not None:
            self.set_latent(slerp(self.skill_map.latents[a], self.skill_map.latents[b], t))
            self.event(blend_label(self.skill_map.names[a], self.skill_map.names[b], t))

    def blend_text(self) -> str:
        """The blend in words: "blend walk -> run 0.30"."""
        if self.skill_map is None:
            return ""
        a, b, t = self.blend
        return blend_label(self.skill_map.names[a], self.skill_map.names[b], t)

    def nearest_preset(self) -> str:
        if self.skill_map is None or self.latent is None:
            return "-"
        if self.acting_llc is not self.policy:  # the presets are the session LLC's, not this task's
            return "- (this task's LLC has its own latents)"
        name, cos = self.skill_map.nearest(self.latent)
        return f"{name} (cos {cos:.2f})" if cos >= NEAR_COS else f"none near ({name}, cos {cos:.2f})"

    def _track_seen_skill(self) -> None:
        """Keep the last discriminator frames and, every few steps, the named skill the LLC's encoder sees in
        them (an LLC with named skills: the encoder was trained to map each clip's windows onto its anchor)."""
        llc = self.acting_llc
        skills = getattr(llc, "skills", None) or {}
        if not skills or not hasattr(llc, "encode"):
            self.seen = ""
            return
        if self._amp is None or self._amp.frames != llc.num_amp_frames:
            self._amp = AmpHistory(llc.num_amp_frames)  # starts from the first frame it is given
        self._amp.push(self.sim.amp_frame())
        self._seen_step += 1
        if self._seen_step % 5 == 0 or not self.seen:
            name, cos = recognise_skill(llc.encode(self._amp.window())[0], skills)
            self.seen = f"{name} (cos {cos:.2f})"

    def seen_skill(self) -> str:
        """What the encoder recognises in the motion now ("" for an LLC without named skills)."""
        return self.seen

    def acting_note(self) -> str | None:
        """The measured summary (JSON card) of the LLC acting now."""
        return self.task_llc.llc_note if self.acting_llc is not self.policy else self.controller_note

    # ---- HUD ------------------------------------------------------------------------------
    def hud(self) -> list[tuple[str, str]]:
        """Every HUD row (name, value) that means something in this mode (`app.hud.hud_rows`).

        While recording (a fixed step per video frame) live rates describe the recorder, not the
        simulation, so the video shows simulated time instead.
        """
        return hud.hud_rows(self)
