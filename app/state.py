"""Viewer state that needs no window: modes, the event line, the simulation clock, the fall/get-up monitor. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class Mode(str, Enum):
    PLAYBACK = "playback"  # kinematic replay of motion clips
    SIM = "sim"  # physics, PD targets held (no policy): for shoves and projectiles without a checkpoint
    LLC = "llc"  # low-level controller, the user drives the latent
    HLC = "hlc"  # a task controller (HLC) picks the latent for its task; the goals come from the user


@dataclass
class EventLine:
    """The last thing the user did or was refused, in words (the HUD's event row). The session's parts share one:
    whichever part acts says so here."""

    text: str = ""

    def say(self, text: str) -> None:
        self.text = text


class Camera(str, Enum):
    FOLLOW = "follow"  # tracks the character, keeps its own angle
    ORBIT = "orbit"  # tracks the character and slowly circles it
    FREE = "free"  # stays where the user puts it


SLOW_MOTION = (1.0, 0.5, 0.25, 0.1)


@dataclass
class SimClock:
    """Decouples fixed-rate control steps from the render frame rate.

    `advance(real_dt)` returns how many control steps to run this frame: simulated time
    follows real time x `speed`, unless the machine cannot keep up (then at most
    `max_steps_per_frame` run and the rest is dropped; the real-time factor shows it).
    """

    control_dt: float = 1.0 / 30.0
    speed: float = 1.0
    paused: bool = False
    max_steps_per_frame: int = 4
    _debt: float = 0.0
    _step_once: bool = False
    # real-time factor bookkeeping
    _sim_time_window: float = 0.0
    _real_time_window: float = 0.0
    real_time_factor: float = 0.0

    def toggle_pause(self) -> None:
        self.paused = not self.paused
        self._debt = 0.0

    def request_step(self) -> None:
        """Run exactly one control step on the next frame (pauses)."""
        self.paused = True
        self._step_once = True

    def cycle_speed(self) -> float:
        i = SLOW_MOTION.index(self.speed) if self.speed in SLOW_MOTION else 0
        self.speed = SLOW_MOTION[(i + 1) % len(SLOW_MOTION)]
        return self.speed

    def advance(self, real_dt: float) -> int:
        real_dt = max(0.0, min(real_dt, 0.25))
        if self._step_once:
            self._step_once = False
            return 1
        if self.paused:
            return 0
        self._debt += real_dt * self.speed
        n = int(self._debt / self.control_dt)
        self._debt -= n * self.control_dt
        if n > self.max_steps_per_frame:
            n = self.max_steps_per_frame
            self._debt = 0.0  # drop what cannot be caught up
        return n

    def record_timing(self, steps: int, real_dt: float) -> None:
        """Update the physics real-time factor (simulated seconds / wall seconds, speed included)."""
        self._sim_time_window += steps * self.control_dt
        self._real_time_window += real_dt
        if self._real_time_window >= 0.5:
            self.real_time_factor = self._sim_time_window / self._real_time_window
            self._sim_time_window = self._real_time_window = 0.0


class Posture(str, Enum):
    UP = "up"
    FALLEN = "fallen"
    GETTING_UP = "getting up"
    RECOVERED = "recovered"


@dataclass
class FallMonitor:
    """fallen -> getting up -> recovered, with the time the recovery took.

    Inputs per control step: the fall rule (ASE's: a non-foot body in contact and low),
    and root/head heights relative to standing. Getting up starts when the root
    and head rise above `getup_root`/`getup_head` of standing height; recovered when the head stays above
    `recovered_head` of standing height for `hold` seconds.
    """

    getup_root: float = 0.5
    getup_head: float = 0.5
    recovered_head: float = 0.85
    hold: float = 0.5
    show_recovered: float = 3.0  # seconds "recovered" stays on the HUD
    state: Posture = Posture.UP
    fell_at: float | None = None
    last_recovery_time: float | None = None  # seconds from the fall to recovered
    falls: int = 0
    _since: float = 0.0  # time the current state started
    _high_since: float | None = None  # time the head rose above `recovered_head`
    history: list[tuple[float, Posture]] = field(default_factory=list)

    airborne: bool = False  # no part of the body touches anything (after a big shove): not "getting up"

    def reset(self, falls: bool = False) -> None:
        """Standing again; `falls`: the count starts over too (a new episode)."""
        self.state, self.fell_at, self._since, self._high_since = Posture.UP, None, 0.0, None
        self.airborne = False
        if falls:
            self.falls = 0

    def _set(self, t: float, s: Posture) -> None:
        self.state = s
        self._since = t
        self._high_since = None
        self.history.append((t, s))
        del self.history[:-50]

    def update(self, t: float, fallen: bool, root_rel: float, head_rel: float, airborne: bool = False) -> Posture:
        """`root_rel`, `head_rel`: heights divided by their standing heights; `airborne`: nothing of the body
        touches anything. A fallen body thrown into the air is not getting up: that waits for a landing."""
        s = self.state
        self.airborne = airborne
        if airborne and s is Posture.GETTING_UP:
            self._set(t, Posture.FALLEN)
        elif airborne:
            pass
        elif s in (Posture.UP, Posture.RECOVERED) and fallen:
            self.falls += 1
            self.fell_at = t
            self._set(t, Posture.FALLEN)
        elif s is Posture.FALLEN and not fallen and root_rel > self.getup_root and head_rel > self.getup_head:
            self._set(t, Posture.GETTING_UP)
        elif s is Posture.GETTING_UP:
            if fallen and root_rel < self.getup_root:
                self._set(t, Posture.FALLEN)
            elif head_rel > self.recovered_head and root_rel > 0.7:
                if self._high_since is None:
                    self._high_since = t
                elif t - self._high_since >= self.hold:
                    self.last_recovery_time = t - (self.fell_at or t)
                    self._set(t, Posture.RECOVERED)
            else:
                self._high_since = None  # the hold restarts
        elif s is Posture.RECOVERED and t - self._since > self.show_recovered:
            self._set(t, Posture.UP)
        return self.state

    def label(self, t: float) -> str:
        if self.airborne and self.state is Posture.FALLEN:  # (a run's flight phase is no fall)
            return "airborne" + (f", down {t - self.fell_at:.1f} s" if self.fell_at is not None else "")
        if self.state in (Posture.FALLEN, Posture.GETTING_UP) and self.fell_at is not None:
            return f"{self.state.value} ({t - self.fell_at:.1f} s)"
        if self.state is Posture.RECOVERED and self.last_recovery_time is not None:
            return f"recovered in {self.last_recovery_time:.1f} s"
        return self.state.value
