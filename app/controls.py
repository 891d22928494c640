"""User input -> task goals. Pure: no window, no OpenGL, testable with plain key codes.

`Goals` holds what the HLC's task consumes (heading/speed/facing, location, reach, strike target; HLC mode
feeds them to the task's `set_goal` through its `viewer_goal`). Directions are world yaw angles (radians,
0 = +x, z up); keyboard and gamepad input is camera-relative: "forward" is where the camera looks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

WALK_SPEED = 1.2  # m/s
RUN_SPEED = 3.5  # m/s with shift or a full stick
FACING_RATE = math.radians(120)  # rad/s while a facing key is held
REACH_RATE = 0.8  # m/s while a reach key is held
REACH_Z = (0.2, 2.0)  # reach target height range (ASE's reach task)

# Key names (pyglet's symbolic key names, lower-cased), so this module needs no pyglet import.
MOVE_KEYS = {"w": (1, 0), "up": (1, 0), "s": (-1, 0), "down": (-1, 0), "a": (0, 1), "left": (0, 1), "d": (0, -1),
             "right": (0, -1)}  # fmt: skip
FACING_KEYS = {"q": 1.0, "e": -1.0}  # turn facing left / right
REACH_KEYS = {"i": (1, 0, 0), "k": (-1, 0, 0), "j": (0, 1, 0), "l": (0, -1, 0), "u": (0, 0, 1), "o": (0, 0, -1)}
RUN_KEYS = {"lshift", "rshift"}

# What the keys panel lists: (keys or gesture, what it does, the modes it works in: "" every mode, "physics" sim,
# LLC and HLC, else one mode's name), grouped by `KEY_GROUPS`. The window binds each one (app/window_input.py) and
# tests/test_viewer_ui.py presses every row.
KEY_HELP: tuple[tuple[str, str, str], ...] = (
    ("W A S D / arrows", "direction and speed goal (shift: run)", "hlc"),
    ("Q / E", "turn the facing goal", "hlc"),
    ("F", "facing follows the direction on/off", "hlc"),
    ("I K J L U O", "move the reach target (magenta ball)", "hlc"),
    ("B", "shove (strength, direction: panel)", "physics"),
    ("X", "throw a ball", "physics"),
    ("V", "place the strike target (R removes it)", "physics"),
    ("space", "pause / resume", ""),
    ("N", "one control step", ""),
    ("T", "slow motion x1, x0.5, x0.25, x0.1", ""),
    ("R", "reset", ""),
    ("C", "camera: follow, orbit, free", ""),
    ("Z", "random latent", "llc"),
    ("Y", "get-up assist on/off (a skill LLC: its get-up skill while down)", "llc"),
    ("1 2 3 4", "mode: playback, sim, LLC, HLC", ""),
    ("Tab", "next task controller", "hlc"),
    ("[ ]", "previous / next clip", "playback"),
    ("G", "simulate beside the clip", "playback"),
    ("H", "hide / show the panels", ""),
    ("F12", "screenshot (folder: the Simulation panel)", ""),
    ("Esc", "quit", ""),
    ("drag empty space", "orbit the camera", ""),
    ("right-drag", "pan the camera (free camera)", ""),
    ("scroll", "zoom", ""),
    ("drag a body", "pull it with a spring", "physics"),
    ("shift+drag a body", "shove it in the drag's direction", "physics"),
    ("click the ground", "location target (strike task: the box)", "hlc"),
    ("ctrl+click the ground", "reach target x, y", "hlc"),
)
KEY_GROUPS = {"": "every mode", "physics": "sim, LLC, HLC (physics)", "llc": "LLC mode: the latent",
              "hlc": "HLC mode: task goals", "playback": "playback mode"}  # fmt: skip


def key_applies(modes: str, mode: str) -> bool:
    """Whether a `KEY_HELP` row (its `modes` field) works in `mode` ("playback", "sim", "llc", "hlc")."""
    return modes == "" or modes == mode or (modes == "physics" and mode != "playback")


# HLC mode: the keys, sticks and clicks of each goal input a task can take (`tasks.common.ViewerInput.source`;
# the task window lists the current task's, with what each sets for it)
INPUT_KEYS = {
    "move input": "W A S D / arrows / left stick",
    "facing input": "Q / E / right stick, F",
    "reach keys": "I K J L U O",
    "click": "click the ground",
    "ctrl+click": "ctrl+click the ground",
    "box": "V",
    "goals panel": "goals panel",
}


@dataclass
class Goals:
    """Task goals set by the user; drawn as markers, fed to an HLC when one exists."""

    heading: float = 0.0  # direction of travel, world yaw
    speed: float = 0.0  # m/s
    facing: float = 0.0  # where the character should look, world yaw
    facing_follows_heading: bool = True
    location: np.ndarray | None = None  # (2,) world xy, set by clicking the ground
    reach: np.ndarray = field(default_factory=lambda: np.array([0.6, -0.3, 1.2]))  # (3,) world position
    reach_active: bool = False  # set once the user places the reach target; drawn only then
    strike_active: bool = False

    def heading_vector(self) -> np.ndarray:
        return np.array([math.cos(self.heading), math.sin(self.heading)])

    def facing_vector(self) -> np.ndarray:
        return np.array([math.cos(self.facing), math.sin(self.facing)])

    def set_location(self, xy) -> None:
        self.location = np.asarray(xy, dtype=np.float64)[:2].copy()

    def set_inputs(self, location=None, reach=None) -> None:
        """Inputs as a task starts them (`Task.viewer_start`): a ground point, a point in space (shown from now)."""
        if location is not None:
            self.set_location(location)
        if reach is not None:
            self.reach = np.array(reach, dtype=np.float64)
            self.reach_active = True

    def as_dict(self) -> dict:
        return {
            "heading": self.heading,
            "speed": self.speed,
            "facing": self.facing,
            "location": None if self.location is None else self.location.tolist(),
            "reach": self.reach.tolist() if self.reach_active else None,
            "strike_active": self.strike_active,
        }


@dataclass
class Steering:
    """Held keys and gamepad sticks -> `Goals`, camera-relative. Call `update` once per frame."""

    goals: Goals = field(default_factory=Goals)
    held: set[str] = field(default_factory=set)
    stick_move: tuple[float, float] = (0.0, 0.0)  # left stick (x right, y forward)
    stick_face: tuple[float, float] = (0.0, 0.0)  # right stick
    deadzone: float = 0.2
    speed_range: tuple[float, float] = (0.0, RUN_SPEED)  # m/s: no input, full stick or shift (HLC: the task's)

    def key_down(self, name: str) -> None:
        self.held.add(name.lower())

    def key_up(self, name: str) -> None:
        self.held.discard(name.lower())

    def release_all(self) -> None:
        self.held.clear()

    def live_inputs(self) -> set[str]:
        """Which goal inputs are in use now: "move" (move keys, left stick), "facing" (facing keys, right
        stick), "reach" (reach keys)."""
        live = set()
        if self.held & MOVE_KEYS.keys() or math.hypot(*self.stick_move) > self.deadzone:
            live.add("move")
        if self.held & FACING_KEYS.keys() or math.hypot(*self.stick_face) > self.deadzone:
            live.add("facing")
        if self.held & REACH_KEYS.keys():
            live.add("reach")
        return live

    def update(self, dt: float, camera_yaw: float) -> Goals:
        """Advance goals by `dt` seconds; `camera_yaw` is the camera's forward direction (world yaw, rad)."""
        g = self.goals
        fwd = left = 0.0
        for k in self.held:
            if k in MOVE_KEYS:
                f, l_ = MOVE_KEYS[k]
                fwd += f
                left += l_
        running = bool(self.held & RUN_KEYS)
        sx, sy = self.stick_move
        stick_mag = math.hypot(sx, sy)
        slow, fast = self.speed_range
        if fwd or left:
            g.heading = camera_yaw + math.atan2(left, fwd)
            g.speed = fast if running else min(max(WALK_SPEED, slow), fast)
        elif stick_mag > self.deadzone:
            g.heading = camera_yaw + math.atan2(-sx, sy)
            g.speed = slow + min(stick_mag, 1.0) * (fast - slow)
        else:
            g.speed = slow
        g.heading = wrap(g.heading)
        turn = sum(v for k, v in FACING_KEYS.items() if k in self.held)
        fx, fy = self.stick_face
        if turn:
            g.facing_follows_heading = False
            g.facing = wrap(g.facing + turn * FACING_RATE * dt)
        elif math.hypot(fx, fy) > self.deadzone:
            g.facing_follows_heading = False
            g.facing = wrap(camera_yaw + math.atan2(-fx, fy))
        elif g.facing_follows_heading:
            g.facing = g.heading
        # reach target: keys move it in the camera frame
        delta = np.zeros(3)
        for k in self.held:
            if k in REACH_KEYS:
                delta += REACH_KEYS[k]
        if delta.any():
            c, s = math.cos(camera_yaw), math.sin(camera_yaw)
            world = np.array([c * delta[0] - s * delta[1], s * delta[0] + c * delta[1], delta[2]])
            g.reach = g.reach + REACH_RATE * dt * world
            g.reach_active = True
            g.reach[2] = float(np.clip(g.reach[2], *REACH_Z))
        return g


def wrap(a: float) -> float:
    """Angle to [-pi, pi)."""
    return (a + math.pi) % (2 * math.pi) - math.pi


class Gamepad:
    """The first pyglet game controller, if any; every failure becomes `available = False` and a message."""

    def __init__(self) -> None:
        self.controller = None
        self.message = "no gamepad found (keyboard steering only)"
        try:
            import pyglet.input

            controllers = pyglet.input.get_controllers()
            if controllers:
                self.controller = controllers[0]
                self.controller.open()
                self.message = f"gamepad: {self.controller.name}"
        except Exception as exc:  # no input devices, no permission, headless: keep going without one
            self.controller = None
            self.message = "no gamepad found (keyboard steering only)"
            self.detail = f"{type(exc).__name__}: {exc}"

    @property
    def available(self) -> bool:
        return self.controller is not None

    def read(self, steering: Steering) -> None:
        """Copy the sticks into `steering` (left stick: move, right stick: facing)."""
        c = self.controller
        if c is None:
            return
        try:
            steering.stick_move = (float(c.leftx), float(c.lefty))
            steering.stick_face = (float(c.rightx), float(c.righty))
        except Exception:
            self.controller = None
            self.message = "gamepad disconnected"
