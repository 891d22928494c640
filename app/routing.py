"""Where the user's goal inputs go: HLC mode drives the task controller that takes an input (keys held, sticks,
clicks on the ground, the strike target's key), and says so when no loaded controller follows what was set.

Which task takes which input is the task's own (`tasks.common.Task.viewer_inputs`); `app.controls.INPUT_KEYS`
names the keys of each input.
"""

from __future__ import annotations

import numpy as np

from app.controls import Steering
from app.state import EventLine, Mode
from app.task_mode import TaskMode
from tasks import TASKS
from tasks.common import ViewerInput

HELD_INPUTS = (("facing", "facing input"), ("move", "move input"), ("reach", "reach keys"))  # Steering's -> source


def input_takers(source: str) -> list[tuple[str, ViewerInput]]:
    """The registered tasks that take the viewer's input `source`, in registry order, with what it sets."""
    return [(name, i) for name, (cls, _) in TASKS.items() for i in cls.viewer_inputs if i.source == source]


def input_tasks(source: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """HLC mode, an input -> (the tasks it switches to, in order; other tasks that take it too, e.g. strike
    takes a click: it places the box there)."""
    takers = input_takers(source)
    return tuple(t for t, i in takers if i.switches), tuple(t for t, i in takers if not i.switches)


class InputRouter:
    """The user's goal inputs -> the goals (`steering.goals`) and, in HLC mode, the task controller that takes them."""

    def __init__(self, tasks: TaskMode, steering: Steering, events: EventLine) -> None:
        self.tasks, self.steering, self.events = tasks, steering, events

    def switch_for(self, source: str) -> str:
        """HLC mode: when the current task does not take input `source` (`input_tasks`), drive the first loaded
        controller that does. Returns the task switched to ("" when none)."""
        t = self.tasks
        if not t.driving:
            return ""
        switch_to, also_taken_by = input_tasks(source)
        if t.driver.task.name in switch_to + also_taken_by:
            return ""
        task = next((name for name in switch_to if name in t.controllers), "")
        if task:
            t.select_task(task, f"for the {source}")
        return task

    def route_held(self) -> None:
        """Held keys and sticks in use now: the first of them the current task does not take switches."""
        live = self.steering.live_inputs()
        for name, source in HELD_INPUTS:
            if name in live and self.switch_for(source):
                break

    def ground_click(self, point: np.ndarray, ctrl: bool = False) -> None:
        """A click on the ground at world `point`: the location target, with ctrl the reach target's x, y; in
        HLC strike mode a plain click places the box there."""
        g, t = self.steering.goals, self.tasks
        switched = self.switch_for("ctrl+click" if ctrl else "click")
        if ctrl:
            g.reach = np.array([point[0], point[1], g.reach[2]])
            g.reach_active = True
            self.events.say(f"reach target ({point[0]:.1f}, {point[1]:.1f})" + self.unused_goal_note("ctrl+click"))
        elif t.strike_task():
            self.spawn_strike_target(np.asarray(point)[:2])
            self.events.say(f"strike target at ({point[0]:.1f}, {point[1]:.1f})")
        else:
            g.set_location(point)
            self.events.say(f"location target ({point[0]:.1f}, {point[1]:.1f})" + self.unused_goal_note("click"))
        if switched:
            self.events.say(self.events.text + f"; task: {switched} ({t.hlc_name})")
        if t.active:
            t.feed_goal()

    def spawn_strike_target(self, xy: np.ndarray | None = None) -> None:
        """Place the strike target upright in front of the character or at world `xy` (again = reset it); in HLC
        mode the strike controller places it when it is loaded (`TaskMode.place_box`)."""
        if self.switch_for("box") and xy is None:  # the strike controller placed it through its task
            return
        self.tasks.place_box(xy)
        self.events.say("strike target placed" + self.unused_goal_note("box") + "; R removes it")

    def unused_goal_note(self, source: str) -> str:
        """When no loaded task controller follows the goal that input `source` set now, why: " (no reach
        controller loaded: steering ignores it)", or outside HLC mode where it is used; "" when the current task
        takes it (the task named is the first loaded one that switches on `source`, else the first registered)."""
        takers, t = input_tasks(source)[0], self.tasks
        if not takers:
            return ""
        task = next((name for name in takers if name in t.controllers), takers[0])
        if not t.active:
            return f" (a {task} controller follows it in HLC mode: 4)" if task in t.controllers else (
                f" (only a {task} task controller follows it; none loaded)")  # fmt: skip
        if task not in t.controllers:
            return f" (no {task} controller loaded: {t.driver.task.name if t.driver else 'the HLC'} ignores it)"
        return ""

    def goal_key_outside_hlc(self, what: str, mode: Mode) -> None:
        """A goal key (move, facing, reach) pressed outside HLC mode: say that only a task controller follows it."""
        if mode is not Mode.HLC:
            where = "press 4 for HLC mode" if self.tasks.controllers else "no task controller loaded (--hlc)"
            self.events.say(f"{what} keys set a task controller's goal: {where}; nothing follows them in {mode.value} "
                            "mode")  # fmt: skip
