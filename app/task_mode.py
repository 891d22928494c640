"""HLC mode: the task controllers the viewer can drive, the one it drives now, and its task on the viewer's MjData.

`TaskMode` holds the loaded task controllers (task -> `TaskController`, in the task registry's order) and drives
the current one (`tasks.single.HLCDriver`) on the session's simulation while HLC mode is on (`active`): it starts
the task, feeds it the user's goals (`app.controls.Goals`: keys, sticks, clicks, the goals panel) through the
task's `viewer_goal`, asks the HLC for the latent each control step and places the strike target for a task that
uses one. Which task an input switches to is `app.routing`'s; the task's state and score after each step are
`app.monitors.TaskScore`'s. What is task-specific is the task's own (`tasks.common.Task`: `viewer_inputs`,
`viewer_goal`, `viewer_start`, `goal_text`, `markers`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from app.controls import RUN_SPEED, Goals, Steering
from app.latent_control import LatentControl
from app.loading import HLC_UNAVAILABLE, SessionConfig, SessionError, TaskController, bundled_hlcs, task_rank
from app.monitors import TaskScore
from app.state import EventLine
from sim.single import SingleCharacter
from tasks.single import HLCDriver

if TYPE_CHECKING:
    from controllers.protocols import Policy, TaskPolicy

TASK_WINDOW_S = 3.0  # s: the task reward's running mean and the success share cover this much simulated time
STRIKE_AHEAD = 1.5  # m: where the strike target is placed in front of the character


class TaskMode:
    """The task controllers and the one driven now (see the module's docstring)."""

    def __init__(self, sim: SingleCharacter, steering: Steering, events: EventLine, latents: LatentControl) -> None:
        self.sim, self.steering, self.events = sim, steering, events
        self.latents = latents  # the session's LLC (`latents.llc`), which a controller may replace
        self.active = False  # HLC mode is on: the current controller drives the character
        self.controllers: dict[str, TaskController] = {}  # what HLC mode can drive, in the task registry's order
        self.hlc: TaskPolicy | None = None  # the current controller's HLC, its driver on `sim` and its file name
        self.driver: HLCDriver | None = None
        self.hlc_name = ""
        self.task_llc: TaskController | None = None  # the current controller, when it brings its own LLC
        self.score = TaskScore(max(1, round(TASK_WINDOW_S / sim.control_dt)))

    @property
    def goals(self) -> Goals:
        return self.steering.goals

    # ---- the controllers ------------------------------------------------------------
    def attach(self, c: TaskController, llc: Policy | None = None, *, current: bool = True) -> bool:
        """Add `c` to the task controllers, replacing the one of its task, and drive it (`current`; else it waits for
        `select_task`). `llc` replaces the session's LLC (None: keep it; it must be the LLC the HLC was trained
        with), and then the controllers trained on another LLC file (SHA-256) go; a controller with its own LLC
        (`c.llc`) drives that one while its task is current. SessionError when `c` does not fit; returns whether
        `c` is driven now."""
        own = self.latents.llc
        driver = self.driver_for(c, llc if llc is not None else c.llc if c.llc is not None else own)
        if llc is not None and llc is not own:
            self.latents.use_llc(llc)
            self.keep_trained_on(c.hlc.llc.get("sha256"))  # those trained on the same LLC file stay
        return self.add(c, driver, current=current)

    def attach_bundled(self, cfg: SessionConfig) -> list[str]:
        """The bundled task controllers that go with the bundled LLC (`app.loading.bundled_hlcs`), the first one
        current; returns what was loaded and what was refused, one message each."""
        bundled, why = bundled_hlcs(cfg)
        for i, c in enumerate(bundled):
            try:
                self.attach(c, current=i == 0)
            except SessionError as exc:
                why = "; ".join(filter(None, [why, str(exc)]))
        messages = []
        if self.controllers:
            names = ", ".join(f"{t} ({c.label})" for t, c in self.controllers.items())
            messages.append(f"task controllers (HLC mode): {names}")
        if why:
            messages.append(f"bundled task controller not loaded: {why}")
        return messages

    def driver_for(self, c: TaskController, llc: Policy | None) -> HLCDriver:
        """`c`'s driver on this simulation, when `c` fits the character and `llc` (the LLC it would drive);
        SessionError (one line) when not."""
        hlc, name = c.hlc, c.name or "HLC"
        if hlc.character != self.sim.character.name:
            raise SessionError(f"{name}: trained for {hlc.character!r}, the viewer shows {self.sim.character.name!r}")
        driver = HLCDriver(hlc, self.sim)
        if llc is None or (llc.latent_dim, llc.obs_dim + driver.task.goal_dim) != (hlc.latent_dim, hlc.obs_dim):
            raise SessionError(f"{name}: needs an LLC with latent {hlc.latent_dim} and observation "
                               f"{hlc.obs_dim - driver.task.goal_dim}")  # fmt: skip
        return driver

    def keep_trained_on(self, sha: str | None) -> None:
        """Another LLC drives the session: only the controllers trained on that LLC file (SHA-256) stay."""
        self.controllers = {t: o for t, o in self.controllers.items()
                            if sha and o.llc is None and o.hlc.llc.get("sha256") == sha}  # fmt: skip

    def add(self, c: TaskController, driver: HLCDriver, *, current: bool = True) -> bool:
        """Add `c` (replacing the controller of its task); drive it when `current` or none is driven. Returns
        whether it is driven now."""
        self.controllers[c.hlc.task] = c
        self.controllers = dict(sorted(self.controllers.items(), key=lambda kv: task_rank(kv[0])))
        if not current and self.driver is not None:
            return False
        self._use(c, driver)
        return True

    def clear(self) -> None:
        """No task controller at all."""
        self.controllers.clear()
        self._use(None, None)

    def _use(self, c: TaskController | None, driver: HLCDriver | None) -> None:
        self.hlc, self.driver, self.hlc_name = (c.hlc, driver, c.name) if c is not None else (None, None, "")
        self.task_llc = c if c is not None and c.llc is not None else None
        self.score.state = None

    @property
    def acting_llc(self) -> Policy | None:
        """The LLC acting now: while HLC mode is on, the current controller's own LLC when it brings one, else
        the session's."""
        return self.task_llc.llc if self.active and self.task_llc is not None else self.latents.llc

    def select_task(self, task: str, why: str = "") -> bool:
        """Drive the loaded task controller of `task`. In HLC mode the character goes on from where it is: only
        the task starts afresh (its goals from the viewer's). False (and said) when none is loaded for it."""
        if task not in self.controllers:
            loaded = ", ".join(self.controllers) or "none"
            self.events.say(f"no {task} task controller loaded (loaded: {loaded})")
            return False
        if self.driver is not None and self.driver.task.name == task:
            return True
        c = self.controllers[task]
        self._use(c, HLCDriver(c.hlc, self.sim))
        if self.active:
            self.steering.speed_range = self.speed_range()
            self.start()
        self.events.say(f"task: {task} ({c.label})" + (f", {why}" if why else ""))
        return True

    def next_task(self) -> bool:
        """The next loaded task controller (Tab), in the task registry's order."""
        tasks = list(self.controllers)
        if len(tasks) < 2:
            self.events.say("one task controller loaded" if tasks else HLC_UNAVAILABLE)
            return False
        now = self.driver.task.name if self.driver is not None else tasks[-1]
        return self.select_task(tasks[(tasks.index(now) + 1) % len(tasks)])

    # ---- driving the current one -------------------------------------------------------
    @property
    def driving(self) -> bool:
        """HLC mode is on and a task controller is loaded: it decides the latent."""
        return self.active and self.driver is not None

    def start(self) -> None:
        """An HLC-mode episode starts (the character in its default pose): the HLC decides afresh, and
        the goals the user has not set yet start where the character can see them."""
        task = self.driver.task
        self.driver.reset()
        self.goals.set_inputs(**task.viewer_start(self.sim.root_pos(), self.sim.root_heading()))
        self.score.start(self.sim.task_state())
        if task.uses_strike_target:
            self.place_box()
            self.events.say("")
        self.feed_goal()

    def feed_goal(self) -> None:
        """The viewer's goals (keys, sticks, clicks, the goals panel) -> the HLC task's `set_goal` (world
        frame; pinned, so never redrawn), through its `viewer_goal`. An input it reads that was cleared (the
        goals panel) starts again where the task starts it (`viewer_start`: a new location ahead). The strike
        target is placed instead (`place_box`)."""
        if self.driver is None:
            return
        task, g = self.driver.task, self.goals
        goal = task.viewer_goal(g)
        if goal is None:
            start = task.viewer_start(self.sim.root_pos(), self.sim.root_heading())
            if not start:  # none from the viewer's inputs (strike: the box is placed)
                return
            g.set_inputs(**start)
            goal = task.viewer_goal(g)
        task.set_goal(0, **goal)

    def decide(self, obs: np.ndarray) -> np.ndarray:
        """This control step's latent (latent_dim,): the user's goals to the task, then the HLC's decision on the
        policy observation and the task's goal observation (held for `llc_steps` steps, as in training)."""
        self.feed_goal()
        return self.driver.latent(obs)[0]

    def speed_range(self) -> tuple[float, float]:
        """What no input .. full stick (or shift) means in m/s: the HLC task's own range in HLC mode."""
        cfg = getattr(self.driver.task, "cfg", None) if self.driving else None
        lo_hi = getattr(cfg, "speed_range", None)
        return (float(lo_hi[0]), float(lo_hi[1])) if lo_hi is not None else (0.0, RUN_SPEED)

    def strike_task(self) -> bool:
        """The task driven now places the strike target itself."""
        return self.driving and self.driver.task.uses_strike_target

    def place_box(self, xy: np.ndarray | None = None) -> None:
        """The strike target upright, `STRIKE_AHEAD` in front of the character or at world `xy`: placed by the task
        in HLC strike mode (its `set_goal`, written to this MjData's box, the body it reads and scores), else in
        the scene. A new box: a new target."""
        yaw = self.sim.root_heading()
        if xy is None:
            xy = self.sim.root_pos()[:2] + STRIKE_AHEAD * np.array([np.cos(yaw), np.sin(yaw)])
        if self.strike_task():
            self.driver.set_goal(pos=np.asarray(xy)[:2], yaw=yaw)
        else:
            self.sim.place_strike_target(np.asarray(xy), yaw)
        if self.score.state is not None:  # moved by hand: the task sees it where it stands, at rest
            self.score.state = self.sim.task_state()
        self.goals.strike_active = True
        self.score.new_target()

    def task_goal(self) -> str:
        """The goal the HLC's task holds now, read back from the task, in words (`goal_text`)."""
        if self.driver is None or self.score.state is None:
            return "-"
        return self.driver.task.goal_text(0, self.score.state)

    def markers(self) -> list:
        """The HLC task's markers (tasks.common.Marker, world frame) in HLC mode, else none."""
        if self.driving and self.score.state is not None:
            return self.driver.task.markers(0, self.score.state)
        return []
