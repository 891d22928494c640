"""The viewer window's input: keys, mouse and gamepad -> the session, the camera and the panels.

`WindowInput`'s event handlers are plain methods (`on_key_press`, `on_mouse_press`, ...), pushed onto the pyglet
window (`window.push_handlers`), so tests dispatch real events to them the way pyglet does. What each key does is
listed in `app.controls.KEY_HELP` (the keys panel), and tests/test_viewer_ui.py presses every row.
"""

from __future__ import annotations

import math

import mujoco
import numpy as np

from app.controls import FACING_KEYS, MOVE_KEYS, REACH_KEYS, Gamepad
from app.panels import PanelState
from app.render import SceneRenderer
from app.session import Session
from app.state import Camera, Mode

CLICK_PIXELS = 4  # a press and release closer than this is a click, not a drag
MODE_KEYS = {"_1": Mode.PLAYBACK, "_2": Mode.SIM, "_3": Mode.LLC, "_4": Mode.HLC}
ZOOM_PER_SCROLL = 0.02  # mjMOUSE_ZOOM units per wheel notch (forward: closer), as MuJoCo's simulate steps
GOAL_KEYS = {**{k: "move" for k in MOVE_KEYS}, **{k: "facing" for k in FACING_KEYS}, **{k: "reach" for k in REACH_KEYS}}


class WindowInput:
    """Keyboard, mouse and gamepad of `window` (a pyglet window) for `session`: actions, goals, the camera
    (`renderer`), the panels shown or not (`panels.shown`), a screenshot asked for, and `closed` (Esc, or the window's
    close button). Input over a panel is imgui's."""

    def __init__(self, session: Session, renderer: SceneRenderer, panels: PanelState, window) -> None:
        self.session, self.renderer, self.panels, self.window = session, renderer, panels, window
        self.gamepad = Gamepad()
        self.closed = False
        self._press: tuple[int, int, int, int, np.ndarray] | None = None  # x, y, button, geom, point
        self._drag_kind = ""  # "camera", "push" (spring to the cursor) or "flick" (shove along the drag)
        self._drag_body = -1
        self._moved = False
        self._ctrl = False

    @property
    def size(self) -> tuple[int, int]:
        return self.window.get_framebuffer_size()

    def poll_gamepad(self) -> None:
        """The sticks into the session's steering (once per frame)."""
        self.gamepad.read(self.session.steering)

    # ---- keyboard ------------------------------------------------------------------------
    def on_key_press(self, symbol: int, modifiers: int) -> None:
        from pyglet.window import key

        name = key.symbol_string(symbol).lower()
        s = self.session
        if self._imgui_wants_keyboard():
            return
        s.steering.key_down(name)
        if name in GOAL_KEYS:
            s.inputs.goal_key_outside_hlc(GOAL_KEYS[name], s.mode)
        actions = {
            "space": s.clock.toggle_pause,
            "n": s.clock.request_step,
            "t": lambda: s.event(f"speed x{s.clock.cycle_speed():g}"),
            "r": s.reset,
            "c": lambda: s.event(f"camera {self.renderer.cycle_camera().value}"),
            "b": s.shove,
            "x": s.throw,
            "v": s.spawn_strike_target,
            "z": s.random_latent,
            "tab": s.tasks.next_task,
            "g": self._toggle_ghost,
            "y": s.toggle_getup_assist,
            "h": self._toggle_panels,
            "f": self._toggle_facing_follow,
            "f12": self._request_screenshot,
            "bracketleft": lambda: s.select_clip(s.playback.clip - 1),
            "bracketright": lambda: s.select_clip(s.playback.clip + 1),
            "escape": self._close,
        }
        if name in MODE_KEYS:
            s.set_mode(MODE_KEYS[name])
        elif name in actions:
            actions[name]()

    def on_key_release(self, symbol: int, modifiers: int) -> None:
        from pyglet.window import key

        self.session.steering.key_up(key.symbol_string(symbol).lower())

    def _toggle_ghost(self) -> None:
        s = self.session
        s.playback.ghost = not s.playback.ghost
        s.reset()
        s.event(f"simulate beside the clip: {'on' if s.playback.ghost else 'off'}"
                + ("" if s.mode.value == "playback" else " (shown in playback mode)"))  # fmt: skip

    def _toggle_panels(self) -> None:
        self.panels.shown = not self.panels.shown

    def _toggle_facing_follow(self) -> None:
        g = self.session.goals
        g.facing_follows_heading = not g.facing_follows_heading

    def _request_screenshot(self) -> None:
        self.panels.screenshot = True

    def _close(self) -> None:
        self.closed = True

    def on_close(self) -> bool:
        self.closed = True
        return True  # the viewer closes the window itself (destroy), after its last frame

    # ---- mouse ---------------------------------------------------------------------------------
    def _imgui_wants_mouse(self, x: float, y: float) -> bool:
        """imgui's own flag lags a frame behind the cursor: a press that arrives with the motion that brought
        the mouse over a panel would also reach the scene, so the panels' last rectangles count too."""
        from imgui_bundle import imgui

        if not self.panels.shown:
            return False
        if imgui.get_io().want_capture_mouse:
            return True
        return self._over_panel(x, y)

    def _over_panel(self, x: float, y: float) -> bool:
        top = self.size[1] - y  # imgui measures down from the top
        rects = self.panels.windows.values()
        return any(wx <= x <= wx + ww and wy <= top <= wy + wh for wx, wy, ww, wh, _ in rects)

    def _imgui_wants_keyboard(self) -> bool:
        from imgui_bundle import imgui

        return self.panels.shown and imgui.get_io().want_capture_keyboard

    def pick(self, x: float, y: float) -> tuple[int, int, np.ndarray]:
        """Body, geom and world point under window pixel (x, y) (y up, as pyglet reports it)."""
        w, h = self.size
        return self.renderer.select(self.session.sim.data, x / w, y / h, w / h)

    def on_mouse_press(self, x: int, y: int, button: int, modifiers: int) -> None:
        from pyglet.window import key, mouse

        if self._imgui_wants_mouse(x, y):
            return
        body, geom, point = self.pick(x, y)
        s = self.session
        self._press = (x, y, button, geom, point)
        self._moved = False
        self._drag_kind = "camera"
        on_character = body > 0 and bool(self.renderer.char_bodies[body])
        if button == mouse.LEFT and on_character and s.why_not("shove") == "":
            self._drag_body = body
            if modifiers & key.MOD_SHIFT:  # shove along the drag when released
                self._drag_kind = "flick"
            else:  # MuJoCo viewer style: a spring pulls the body towards the cursor
                self._drag_kind = "push"
                self.renderer.start_drag(s.sim.data, body, point)
                s.sim.pert = self.renderer.pert
                s.event(f"pushing {s.sim.model.body(body).name}")
        self._ctrl = bool(modifiers & key.MOD_CTRL)

    def on_mouse_drag(self, x: int, y: int, dx: int, dy: int, buttons: int, modifiers: int) -> None:
        from pyglet.window import mouse

        if self._press is None:
            return
        px, py = self._press[:2]
        if abs(x - px) + abs(y - py) > CLICK_PIXELS:
            self._moved = True
        h = self.size[1]
        reldx, reldy = dx / h, -dy / h
        if self._drag_kind == "flick":
            return
        if self._drag_kind == "push":
            self.renderer.drag(self.session.sim.data, reldx, reldy)
        elif buttons & mouse.RIGHT:
            self.renderer.camera_mode = Camera.FREE
            self.renderer.move_camera(mujoco.mjtMouse.mjMOUSE_MOVE_V, reldx, reldy)
        elif buttons & mouse.LEFT:
            if self.renderer.camera_mode is Camera.ORBIT:
                self.renderer.camera_mode = Camera.FOLLOW
            self.renderer.move_camera(mujoco.mjtMouse.mjMOUSE_ROTATE_V, reldx, reldy)

    def on_mouse_release(self, x: int, y: int, button: int, modifiers: int) -> None:
        press, self._press = self._press, None
        if press is None:
            return
        if self._drag_kind == "push":
            self.renderer.end_drag()
            self.session.sim.pert = None
            return
        if self._drag_kind == "flick":
            dx, dy = x - press[0], y - press[1]
            yaw = self.drag_yaw(dx, dy) if self._moved else None  # a shift+click shoves the default way
            self.session.shove(yaw=yaw, body=self._drag_body)
            return
        _, _, _, geom, point = press
        if not self._moved and geom >= 0 and self.session.sim.model.geom_bodyid[geom] == 0:  # clicked the ground
            self.session.inputs.ground_click(point, ctrl=self._ctrl)

    def drag_yaw(self, dx: float, dy: float) -> float:
        """World yaw of a screen drag (pyglet pixels, y up): up the screen is the camera's view direction."""
        yaw = self.renderer.camera_yaw()
        fwd, right = np.array([math.cos(yaw), math.sin(yaw)]), np.array([math.sin(yaw), -math.cos(yaw)])
        v = dy * fwd + dx * right
        return math.atan2(v[1], v[0])

    def on_mouse_scroll(self, x: int, y: int, scroll_x: float, scroll_y: float) -> None:
        if not self._imgui_wants_mouse(x, y):
            self.renderer.move_camera(mujoco.mjtMouse.mjMOUSE_ZOOM, 0.0, ZOOM_PER_SCROLL * scroll_y)
