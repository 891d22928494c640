"""HLC mode: the task controllers the viewer can drive, the one it drives now, and its task on the viewer's MjData.

`TaskModeMixin` is the part of `app.session.Session` that loads and switches task controllers (Tab, or the
input that the current task does not take: `input_tasks`), feeds the user's goals (`app.controls.Goals`: keys,
sticks, clicks, the goals panel) to the task's `set_goal`, reads the task's state and scores each control step
(reward, success, the task's own failure) over the last `TASK_WINDOW_S` seconds. What is task-specific is the
task's own (`tasks.common.Task`: `viewer_inputs`, `viewer_goal`, `viewer_start`, `goal_text`). It uses the
session's simulation, goals, mode, LLC and event line.
"""

from __future__ import annotations

from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING

from app import hud
from app.controls import RUN_SPEED
from app.loading import HLC_UNAVAILABLE, SessionConfig, SessionError, TaskController, load_hlc_pair, task_rank
from app.state import Mode
from sim.task_state import TaskState
from tasks import TASKS
from tasks.common import ViewerInput
from tasks.single import HLCDriver

if TYPE_CHECKING:
    from controllers.protocols import Policy, TaskPolicy

TASK_WINDOW_S = 3.0  # s: the task reward's running mean and the success share cover this much simulated time


def input_takers(source: str) -> list[tuple[str, ViewerInput]]:
    """The registered tasks that take the viewer's input `source`, in registry order, with what it sets."""
    return [(name, i) for name, (cls, _) in TASKS.items() for i in cls.viewer_inputs if i.source == source]


def input_tasks(source: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """HLC mode, an input -> (the tasks it switches to, in order; other tasks that take it too, e.g. strike
    takes a click: it places the box there)."""
    takers = input_takers(source)
    return tuple(t for t, i in takers if i.switches), tuple(t for t, i in takers if not i.switches)


class TaskModeMixin:
    """HLC mode's half of `Session` (see the module's docstring)."""

    def _init_task_mode(self) -> None:
        # HLC mode: the task controller, its task on this MjData, the last task state and the HUD's numbers
        self.hlc: TaskPolicy | None = None
        self.driver: HLCDriver | None = None
        self.hlc_name = ""
        self.task_llc: TaskController | None = None  # the current controller, when it brings its own LLC
        self.task_state: TaskState | None = None  # what the task read after the last control step
        self.task_reward = float("nan")  # last control step's task reward
        self.task_success = False
        self.task_failed = False  # the task's own failure (strike: a foul) at the last control step
        self.target_failed = False  # ... at any step since the current target was placed (training would end there)
        self.task_targets = 0  # targets placed this HLC episode (strike: boxes)
        self.task_failures = 0  # of them, how many were failed (a box is fouled once, however often it is touched)
        window = max(1, round(TASK_WINDOW_S / self.sim.control_dt))
        self.task_rewards: deque[float] = deque(maxlen=window)
        self.task_successes: deque[bool] = deque(maxlen=window)
        # the task controllers HLC mode can drive (task -> TaskController); `hlc`/`driver` is the current one
        self.controllers: dict[str, TaskController] = {}

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
            self.controllers.clear()
            self._use_controller(None, None)
            if self.mode is Mode.HLC:
                self.set_mode(Mode.LLC if self.policy is not None else Mode.SIM)
            return
        self.attach_controller(TaskController(hlc, name), llc, current=current)

    def attach_controller(self, c: TaskController, llc: Policy | None = None, *, current: bool = True) -> None:
        """`attach_hlc` for a `TaskController`: one with its own LLC (`c.llc`) drives that LLC while its task is
        current, and the session's LLC stays for LLC mode and the other tasks."""
        hlc, name = c.hlc, c.name
        if hlc.character != self.character.name:
            raise SessionError(f"{name or 'HLC'}: trained for {hlc.character!r}, the viewer shows "
                               f"{self.character.name!r}")  # fmt: skip
        driver = HLCDriver(hlc, self.sim)
        pol = llc if llc is not None else c.llc if c.llc is not None else self.policy
        if pol is None or (pol.latent_dim, pol.obs_dim + driver.task.goal_dim) != (hlc.latent_dim, hlc.obs_dim):
            raise SessionError(f"{name or 'HLC'}: needs an LLC with latent {hlc.latent_dim} and observation "
                               f"{hlc.obs_dim - driver.task.goal_dim}")  # fmt: skip
        if llc is not None and llc is not self.policy:
            self.policy = llc
            self.latent = self._sample_latent(llc.latent_dim)
            self.presets = self._build_presets()
            sha = hlc.llc.get("sha256")  # the others stay when they were trained on the same LLC file
            self.controllers = {t: o for t, o in self.controllers.items()
                                if sha and o.llc is None and o.hlc.llc.get("sha256") == sha}  # fmt: skip
        self.controllers[hlc.task] = c
        self.controllers = dict(sorted(self.controllers.items(), key=lambda kv: task_rank(kv[0])))
        if not current and self.driver is not None:
            return
        self._use_controller(c, driver)
        if self.mode is Mode.HLC:
            self.reset()

    def _use_controller(self, c: TaskController | None, driver: HLCDriver | None) -> None:
        self.hlc, self.driver, self.hlc_name = (c.hlc, driver, c.name) if c is not None else (None, None, "")
        self.task_llc = c if c is not None and c.llc is not None else None
        self.task_state = None

    @property
    def acting_llc(self) -> Policy | None:
        """The LLC acting now: in HLC mode the current task controller's own LLC when it brings one."""
        if self.mode is Mode.HLC and self.task_llc is not None:
            return self.task_llc.llc
        return self.policy

    def select_task(self, task: str, why: str = "") -> bool:
        """Drive the loaded task controller of `task`. In HLC mode the character goes on from where it is: only
        the task starts afresh (its goals from the viewer's). False (and said) when none is loaded for it."""
        if task not in self.controllers:
            loaded = ", ".join(self.controllers) or "none"
            self.event(f"no {task} task controller loaded (loaded: {loaded})")
            return False
        if self.driver is not None and self.driver.task.name == task:
            return True
        c = self.controllers[task]
        self._use_controller(c, HLCDriver(c.hlc, self.sim))
        if self.mode is Mode.HLC:
            self.steering.speed_range = self._speed_range()
            self._start_task()
        self.event(f"task: {task} ({c.label})" + (f", {why}" if why else ""))
        return True

    def next_task(self) -> bool:
        """The next loaded task controller (Tab), in the task registry's order."""
        tasks = list(self.controllers)
        if len(tasks) < 2:
            self.event("one task controller loaded" if tasks else HLC_UNAVAILABLE)
            return False
        now = self.driver.task.name if self.driver is not None else tasks[-1]
        return self.select_task(tasks[(tasks.index(now) + 1) % len(tasks)])

    def _switch_for(self, source: str) -> str:
        """HLC mode: when the current task does not take input `source` (`input_tasks`), drive the first loaded
        controller that does. Returns the task switched to ("" when none)."""
        if self.mode is not Mode.HLC or self.driver is None:
            return ""
        switch_to, also_taken_by = input_tasks(source)
        if self.driver.task.name in switch_to + also_taken_by:
            return ""
        task = next((t for t in switch_to if t in self.controllers), "")
        if task:
            self.select_task(task, f"for the {source}")
        return task

    def _route_input(self) -> None:
        """Held keys and sticks in use now: the first of them the current task does not take switches."""
        live = self.steering.live_inputs()
        for name, source in (("facing", "facing input"), ("move", "move input"), ("reach", "reach keys")):
            if name in live and self._switch_for(source):
                break

    def _start_task(self) -> None:
        """An HLC-mode episode starts (the character in its default pose): the HLC decides afresh, and
        the goals the user has not set yet start where the character can see them."""
        task = self.driver.task
        self.driver.reset()
        self.goals.set_inputs(**task.viewer_start(self.sim.root_pos(), self.sim.root_heading()))
        self.task_state = self.sim.task_state()
        self.task_targets = self.task_failures = 0
        if task.uses_strike_target:
            self.spawn_strike_target()
            self.last_event = ""
        self.task_reward, self.task_success, self.task_failed = float("nan"), False, False
        self.task_rewards.clear()
        self.task_successes.clear()
        self.feed_task_goal()

    def feed_task_goal(self) -> None:
        """The viewer's goals (keys, sticks, clicks, the goals panel) -> the HLC task's `set_goal` (world
        frame; pinned, so never redrawn), through its `viewer_goal`. An input it reads that was cleared (the
        goals panel) starts again where the task starts it (`viewer_start`: a new location ahead). The strike
        target is placed instead (`spawn_strike_target`)."""
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

    def _speed_range(self) -> tuple[float, float]:
        """What no input .. full stick (or shift) means in m/s: the HLC task's own range in HLC mode."""
        cfg = getattr(self.driver.task, "cfg", None) if self.mode is Mode.HLC and self.driver is not None else None
        lo_hi = getattr(cfg, "speed_range", None)
        return (float(lo_hi[0]), float(lo_hi[1])) if lo_hi is not None else (0.0, RUN_SPEED)

    def _strike_task(self) -> bool:
        return self.mode is Mode.HLC and self.driver is not None and self.driver.task.uses_strike_target

    def task_goal(self) -> str:
        """The goal the HLC's task holds now, read back from the task, in words (`goal_text`)."""
        if self.driver is None or self.task_state is None:
            return "-"
        return self.driver.task.goal_text(0, self.task_state)

    def markers(self) -> list:
        """The HLC task's markers (tasks.common.Marker, world frame) in HLC mode, else none."""
        if self.mode is Mode.HLC and self.driver is not None and self.task_state is not None:
            return self.driver.task.markers(0, self.task_state)
        return []

    def _score_task(self) -> None:
        """After an HLC-mode control step: the task's state, reward and success (HUD, task window)."""
        self.task_state = self.sim.task_state()
        self.task_reward, self.task_success, failed = self.driver.score(self.task_state)
        self.task_failures += failed and not self.target_failed
        self.task_failed, self.target_failed = failed, self.target_failed or failed
        self.task_rewards.append(self.task_reward)
        self.task_successes.append(self.task_success)

    def _unused_goal_note(self, source: str) -> str:
        """When no loaded task controller follows the goal that input `source` set now, why: " (no reach
        controller loaded: steering ignores it)", or outside HLC mode where it is used; "" when the current task
        takes it (the task named is the first loaded one that switches on `source`, else the first registered)."""
        takers = input_tasks(source)[0]
        if not takers:
            return ""
        task = next((t for t in takers if t in self.controllers), takers[0])
        if self.mode is not Mode.HLC:
            return f" (a {task} controller follows it in HLC mode: 4)" if task in self.controllers else (
                f" (only a {task} task controller follows it; none loaded)")  # fmt: skip
        if task not in self.controllers:
            return f" (no {task} controller loaded: {self.driver.task.name if self.driver else 'the HLC'} ignores it)"
        return ""

    def goal_key_outside_hlc(self, what: str) -> None:
        """A goal key (move, facing, reach) pressed outside HLC mode: say that only a task controller follows it."""
        if self.mode is not Mode.HLC:
            where = "press 4 for HLC mode" if self.controllers else "no task controller loaded (--hlc)"
            self.event(f"{what} keys set a task controller's goal: {where}; nothing follows them in {self.mode.value} "
                       "mode")  # fmt: skip

    def task_failure_row(self) -> tuple[str, str] | None:
        return hud.task_failure_row(self)
