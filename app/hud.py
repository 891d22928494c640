"""The viewer's status numbers: frame timings, the character's measured motion, and the HUD rows.

With the panels shown the status window (app/panels.py) shows the short rows (`status_rows`) and the panels
show the rest; a recording or a window with its panels hidden gets every row in MuJoCo's overlay (`hud_rows`).
A rate is shown only once it is measured: the first frames say "measuring" instead of a start-up artefact.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from app.presets import short_names
from app.state import Mode
from tasks.common import STANDING_SPEED

if TYPE_CHECKING:
    from app.session import Session

WARM_FRAMES = 10  # frames timed before the frame rate is shown
WARM_MS = 300.0  # ... and at least this much wall time
MOTION_WINDOW_S = 0.5  # s: the measured speed is an exponential average over about this much simulated time
MOVING = STANDING_SPEED  # m/s: slower than this the character stands (no direction of travel to compare)


@dataclass
class Timings:
    """Exponential moving averages in milliseconds."""

    physics_ms: float = 0.0  # per control step
    policy_ms: float = 0.0  # per control step
    render_ms: float = 0.0  # per frame: scene + panels
    scene_ms: float = 0.0  # per frame: MuJoCo's scene
    panels_ms: float = 0.0  # per frame: imgui
    present_ms: float = 0.0  # per frame: buffer swap (includes deferred rasterization on software GL)
    frame_ms: float = 0.0  # whole frame
    alpha: float = 0.1
    totals: dict[str, list[float]] = field(default_factory=dict)  # name -> [sum ms, count] (benchmarks)

    def add(self, name: str, ms: float) -> None:
        old = getattr(self, name)
        setattr(self, name, ms if old == 0.0 else (1 - self.alpha) * old + self.alpha * ms)
        tot = self.totals.setdefault(name, [0.0, 0])
        tot[0] += ms
        tot[1] += 1

    @contextmanager
    def timed(self, name: str) -> Iterator[None]:
        """Time the `with` block's wall time into `name`."""
        t0 = time.perf_counter()
        yield
        self.add(name, 1e3 * (time.perf_counter() - t0))

    def mean(self, name: str) -> float:
        total, count = self.totals.get(name, (0.0, 0))
        return total / count if count else 0.0

    @property
    def warm(self) -> bool:
        """Whether enough frames were timed for a rate to mean something (the first frames of a window include
        start-up and have no previous frame to measure from)."""
        total, count = self.totals.get("frame_ms", (0.0, 0))
        return count >= WARM_FRAMES and total >= WARM_MS

    @property
    def render_fps(self) -> float:
        return 1000.0 / self.frame_ms if self.frame_ms > 0 else 0.0


@dataclass
class MeasuredMotion:
    """The character's horizontal root velocity, averaged over about `MOTION_WINDOW_S` of simulated time."""

    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2))
    _last: np.ndarray | None = None

    def reset(self) -> None:
        self.velocity = np.zeros(2)
        self._last = None

    def update(self, root_xy: np.ndarray, dt: float) -> None:
        root_xy = np.asarray(root_xy, dtype=np.float64)[:2]
        if self._last is not None and dt > 0:
            k = min(1.0, dt / MOTION_WINDOW_S)
            self.velocity = (1 - k) * self.velocity + k * (root_xy - self._last) / dt
        self._last = root_xy.copy()

    @property
    def speed(self) -> float:
        return float(np.hypot(*self.velocity))

    @property
    def heading(self) -> float | None:
        """The direction of travel (world yaw), None while standing."""
        return math.atan2(self.velocity[1], self.velocity[0]) if self.speed > MOVING else None


def motion_text(s: Session) -> str:
    """ "1.02 m/s towards 85 deg" or "standing" (the measured motion, every physics mode)."""
    m = s.motion
    return "standing" if m.heading is None else f"{m.speed:.2f} m/s towards {math.degrees(m.heading) % 360:.0f} deg"


def measured_goal(s: Session) -> str:
    """HLC mode: what the character does beside what its task asks, in the task's own terms (`measured_text`;
    "" without a task)."""
    if s.tasks.driver is None or s.tasks.score.state is None:
        return ""
    return s.tasks.driver.task.measured_text(0, s.tasks.score.state, s.motion)


def status_rows(s: Session) -> list[tuple[str, str]]:
    """The short status (name, value) rows: mode, time, rates, the measured motion, posture, the last event."""
    t, live, physics, c = s.timings, not s.recording, s.physics_mode(), s.clock
    rows = [("mode", s.mode.value + (" (paused)" if c.paused else "") + (f" x{c.speed:g}" if c.speed != 1 else ""))]
    if s.mode is Mode.PLAYBACK and s.motions is not None:
        name = short_names(s.playback.clip_names)[s.playback.clip]
        rows.append(("clip", f"{name} {s.playback.clip_time:.2f}/{s.playback.clip_duration:.2f} s"))
    if physics:
        rows.append(("time", f"{s.sim.time:.2f} s simulated"))
    if live:
        warm = t.warm
        rows.append(("render", f"{t.render_fps:.0f} FPS ({t.render_ms:.1f} ms draw)" if warm else "measuring..."))
        if physics:
            engine = "" if s.sim.device == "cpu" else f" (MuJoCo Warp, {s.sim.device})"
            rate = f"{c.real_time_factor:.2f}x real time" if c.real_time_factor > 0 and warm else "measuring..."
            rows.append(("physics", f"{rate}, {t.physics_ms:.2f} ms/step{engine}"))
        if s.mode in (Mode.LLC, Mode.HLC):
            rows.append(("policy", f"{t.policy_ms:.2f} ms/step"))
    if s.mode is not Mode.PLAYBACK:
        rows.append(("moving", motion_text(s)))
        rows.append(("posture", s.fall.label(s.sim.time) + f"; falls {s.fall.falls}"))
    elif s.playback.ghost:
        rows.append(("twin", "tracks the clip open-loop (no controller)"))
    if s.last_event:
        rows.append(("event", s.last_event))
    return rows


def hud_rows(s: Session) -> list[tuple[str, str]]:
    """Every row, for MuJoCo's overlay (a recording, or the panels hidden): the status, then the skill, the
    controller's measured summary and HLC mode's task rows (which the panels show otherwise)."""
    rows = status_rows(s)
    event = rows.pop() if s.last_event else None
    if s.mode in (Mode.LLC, Mode.HLC):
        rows.append(("skill", s.nearest_preset()))
        if s.seen.text:
            rows.append(("seen", s.seen.text))
        if s.mode is Mode.LLC and s.latents.getup.active:
            rows.append(("assist", f"getting up: {s.latents.getup.skill} (Y: assist off)"))
        note = s.acting_note()
        if note:  # one measured fact per row, so the HUD stays narrow
            rows += [("controller" if i == 0 else "", part) for i, part in enumerate(note.split("; "))]
    if s.mode is Mode.HLC and s.tasks.driver is not None:
        rows += task_rows(s)
    return rows + ([event] if event else [])


def task_rows(s: Session) -> list[tuple[str, str]]:
    """HLC mode's rows: the task, the measured motion beside its goal, its reward (last control step, running
    mean) and success."""
    rows = [("task", f"{s.tasks.driver.task.name} ({s.tasks.hlc_name or 'HLC'})")]
    if s.tasks.task_llc is not None:
        rows.append(("LLC", f"{s.tasks.task_llc.llc_name} (this task's own; LLC mode drives the other)"))
    if measured := measured_goal(s):
        rows.append(("measured", measured))
    if not s.tasks.score.rewards:
        return [*rows, ("task reward", "- (starts with the first step)"), ("success", "-")]
    span = len(s.tasks.score.rewards) * s.sim.control_dt
    mean, share = float(np.mean(s.tasks.score.rewards)), float(np.mean(s.tasks.score.successes))
    rows.append(("task reward", f"{s.tasks.score.reward:.3f} last step, {mean:.3f} mean of {span:.1f} s"))
    rows.append(("success", f"{'yes' if s.tasks.score.success else 'no'} ({share:.0%} of the last {span:.1f} s)"))
    failure = task_failure_row(s)
    return rows if failure is None else [*rows, failure]


def task_failure_row(s: Session) -> tuple[str, str] | None:
    """(name, "yes/no on this target (k of n targets this episode)") of the task's own failure, e.g. strike's
    fouls. A foul ends a training episode; here it marks the current target as failed until another one is
    placed, and counts once per target. None when the task has none."""
    if not s.tasks.driver.task.failure:
        return None
    name = s.tasks.driver.task.failure.split(":")[0]
    now = "yes" if s.tasks.score.target_failed else "no"
    return name, f"{now} on this target ({s.tasks.score.failures} of {s.tasks.score.targets} targets this episode)"
