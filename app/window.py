"""The pyglet window: OpenGL context, event plumbing, the frame loop, imgui on top of MuJoCo's scene.

Event handlers are plain methods (`on_key_press`, `on_mouse_press`, ...) so tests can call
them directly, the same way pyglet does.
"""

from __future__ import annotations

import math
import time
from datetime import datetime
from pathlib import Path

import mujoco
import numpy as np

from app.controls import FACING_KEYS, MOVE_KEYS, REACH_KEYS, Gamepad
from app.loading import REPO
from app.panels import PanelState
from app.render import SceneRenderer
from app.session import Session
from app.state import Camera, Mode

CLICK_PIXELS = 4  # a press and release closer than this is a click, not a drag
MODE_KEYS = {"_1": Mode.PLAYBACK, "_2": Mode.SIM, "_3": Mode.LLC, "_4": Mode.HLC}
ZOOM_PER_SCROLL = 0.02  # mjMOUSE_ZOOM units per wheel notch (forward: closer), as MuJoCo's simulate steps
SCREENSHOT_DIR = REPO / "runs" / "screenshots"  # F12's default folder (runs/ is git-ignored)
SETTINGS_FILE = Path.home() / ".config" / "ase-runtime" / "viewer.json"  # what the viewer remembers: the hint seen
GOAL_KEYS = {**{k: "move" for k in MOVE_KEYS}, **{k: "facing" for k in FACING_KEYS}, **{k: "reach" for k in REACH_KEYS}}


class DisplayError(RuntimeError):
    """No display, no OpenGL, or no suitable context: the message says which, in one line."""


def open_window(width: int, height: int, visible: bool = True, title: str = "ASE viewer"):
    """A pyglet window with a compatibility-profile OpenGL context (MuJoCo's renderer needs one)."""
    try:
        import pyglet

        pyglet.options["shadow_window"] = False
        from pyglet import gl

        config = gl.Config(double_buffer=True, depth_size=24, opengl_api="gl_compat")
        return pyglet.window.Window(width, height, caption=title, config=config, visible=visible, vsync=False)
    except Exception as exc:  # pyglet raises many kinds: NoSuchDisplayException, ContextException, ImportError...
        name = type(exc).__name__
        if "Display" in name or "display" in str(exc).lower():
            raise DisplayError(
                "no display: set DISPLAY, run under `xvfb-run -a -s '-screen 0 1280x720x24'`, "
                "or record without a window: --headless --record out.mp4"
            ) from None
        raise DisplayError(f"cannot open an OpenGL window ({name}: {exc}); try --headless --record") from None


class ViewerWindow:
    def __init__(
        self,
        session: Session,
        width: int = 1280,
        height: int = 720,
        *,
        visible: bool = True,
        screenshot_dir: str | Path | None = None,
        fps_cap: float = 60.0,
        settings_file: str | Path | None = SETTINGS_FILE,
    ) -> None:
        """`screenshot_dir`: where F12 writes (default: the repository's runs/screenshots); `settings_file`: where
        the viewer remembers that the first-run hint was dismissed (None: nowhere, the hint is not shown)."""
        self.session = session
        self.window = open_window(width, height, visible)
        self.window.switch_to()
        try:
            self.renderer = SceneRenderer(session.sim.model)
        except Exception as exc:
            self.window.close()
            raise DisplayError(f"MuJoCo's renderer cannot start in this OpenGL context ({exc})") from None
        self.renderer.set_character_bodies(session.sim.body_ids)
        from imgui_bundle import imgui
        from imgui_bundle.python_backends import pyglet_backend

        self.imgui_ctx = imgui.create_context()
        imgui.get_io().set_ini_filename("")  # do not litter the working folder with imgui.ini
        style = imgui.get_style()
        style.grab_min_size = 6.0  # a narrow grab: a slider's value stays readable wherever the grab is
        self.imgui = pyglet_backend.create_renderer(self.window)
        self.window.push_handlers(self)
        self.panel_state = PanelState()
        self.show_panels = True
        self.gamepad = Gamepad()
        session.messages.append(self.gamepad.message)
        self.screenshot_dir = Path(screenshot_dir) if screenshot_dir else SCREENSHOT_DIR
        self.panel_state.screenshot_dir = str(self.screenshot_dir)
        self.settings_file = Path(settings_file) if settings_file else None
        self.panel_state.show_hint = self.settings_file is not None and not self._settings().get("hint_dismissed")
        self.fps_cap = fps_cap
        self.closed = False
        self.frames = 0
        self.last_image: np.ndarray | None = None  # filled when capture=True
        self._last = time.perf_counter()
        self._press: tuple[int, int, int, int, np.ndarray] | None = None  # x, y, button, geom, point
        self._drag_kind = ""  # "camera", "push" (spring to the cursor) or "flick" (shove along the drag)
        self._drag_body = -1
        self._moved = False
        self._ctrl = False
        self.frame_hooks: list = []  # callables(image) run after each captured frame (recording)

    # ---- settings -----------------------------------------------------------------------
    def _settings(self) -> dict:
        import json

        try:
            return json.loads(self.settings_file.read_text())
        except (OSError, ValueError, AttributeError):
            return {}

    def _remember_hint_dismissed(self) -> None:
        """The hint was closed: not shown on the next start (a settings file that cannot be written: shown again)."""
        import json

        self.panel_state.show_hint = False
        try:
            self.settings_file.parent.mkdir(parents=True, exist_ok=True)
            self.settings_file.write_text(json.dumps({**self._settings(), "hint_dismissed": True}))
        except OSError:
            pass

    # ---- size -------------------------------------------------------------------------
    @property
    def size(self) -> tuple[int, int]:
        return self.window.get_framebuffer_size()

    # ---- keyboard ------------------------------------------------------------------------
    def on_key_press(self, symbol: int, modifiers: int) -> None:
        from pyglet.window import key

        name = key.symbol_string(symbol).lower()
        s = self.session
        if self._imgui_wants_keyboard():
            return
        s.steering.key_down(name)
        if name in GOAL_KEYS:
            s.goal_key_outside_hlc(GOAL_KEYS[name])
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
            "tab": s.next_task,
            "g": self._toggle_ghost,
            "h": self._toggle_panels,
            "f": self._toggle_facing_follow,
            "f12": self.request_screenshot,
            "bracketleft": lambda: s.select_clip(s.clip - 1),
            "bracketright": lambda: s.select_clip(s.clip + 1),
            "escape": self.close,
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
        s.ghost = not s.ghost
        s.reset()
        s.event(f"simulate beside the clip: {'on' if s.ghost else 'off'}"
                + ("" if s.mode.value == "playback" else " (shown in playback mode)"))  # fmt: skip

    def _toggle_panels(self) -> None:
        self.show_panels = not self.show_panels

    def _toggle_facing_follow(self) -> None:
        g = self.session.goals
        g.facing_follows_heading = not g.facing_follows_heading

    # ---- mouse ---------------------------------------------------------------------------------
    def _imgui_wants_mouse(self, x: float, y: float) -> bool:
        """imgui's own flag lags a frame behind the cursor: a press that arrives with the motion that brought
        the mouse over a panel would also reach the scene, so the panels' last rectangles count too."""
        from imgui_bundle import imgui

        if not self.show_panels:
            return False
        if imgui.get_io().want_capture_mouse:
            return True
        return self._over_panel(x, y)

    def _over_panel(self, x: float, y: float) -> bool:
        top = self.size[1] - y  # imgui measures down from the top
        rects = self.panel_state.windows.values()
        return any(wx <= x <= wx + ww and wy <= top <= wy + wh for wx, wy, ww, wh, _ in rects)

    def _imgui_wants_keyboard(self) -> bool:
        from imgui_bundle import imgui

        return self.show_panels and imgui.get_io().want_capture_keyboard

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
            self.session.ground_click(point, ctrl=self._ctrl)

    def drag_yaw(self, dx: float, dy: float) -> float:
        """World yaw of a screen drag (pyglet pixels, y up): up the screen is the camera's view direction."""
        yaw = self.renderer.camera_yaw()
        fwd, right = np.array([math.cos(yaw), math.sin(yaw)]), np.array([math.sin(yaw), -math.cos(yaw)])
        v = dy * fwd + dx * right
        return math.atan2(v[1], v[0])

    def on_mouse_scroll(self, x: int, y: int, scroll_x: float, scroll_y: float) -> None:
        if not self._imgui_wants_mouse(x, y):
            self.renderer.move_camera(mujoco.mjtMouse.mjMOUSE_ZOOM, 0.0, ZOOM_PER_SCROLL * scroll_y)

    def on_close(self) -> bool:
        self.closed = True
        return True  # the viewer closes the window itself (destroy), after its last frame

    def close(self) -> None:
        self.closed = True

    # ---- frames ------------------------------------------------------------------------------
    def request_screenshot(self) -> None:
        self.panel_state.screenshot = True

    def frame(self, dt: float | None = None, capture: bool = False) -> None:
        """One frame: input, control steps for the elapsed time (or `dt`), render scene + panels, flip."""
        from imgui_bundle import imgui

        from app import panels

        now = time.perf_counter()
        real_dt = (now - self._last) if dt is None else dt
        self._last = now
        s, r = self.session, self.renderer
        self.window.switch_to()
        self.window.dispatch_events()
        self.gamepad.read(s.steering)
        s.frame(real_dt, r.camera_yaw())
        r.update_camera(s.sim.root_pos(), real_dt)
        w, h = self.size
        t0 = time.perf_counter()
        scene = s.scene()
        if self.show_panels:  # the status window and the panels show the HUD's rows
            scene["hud"] = None
        r.render(w, h, s.sim.data, **scene)
        t1 = time.perf_counter()
        s.timings.add("scene_ms", 1e3 * (t1 - t0))
        if not self.show_panels:
            self.panel_state.windows.clear()
        if self.show_panels:
            self.imgui.process_inputs()
            imgui.new_frame()
            panels.draw(s, r, self.panel_state, h, w)
            imgui.render()
            self.imgui.render(imgui.get_draw_data())
            s.timings.add("panels_ms", 1e3 * (time.perf_counter() - t1))
            if self.panel_state.hint_dismissed and self.panel_state.show_hint:
                self._remember_hint_dismissed()
        s.timings.add("render_ms", 1e3 * (time.perf_counter() - t0))
        if capture or self.panel_state.screenshot or self.frame_hooks:
            img = r.read_pixels(w, h)
            self.last_image = img
            for hook in self.frame_hooks:
                hook(img)
            if self.panel_state.screenshot:
                self.panel_state.screenshot = False
                self.save_screenshot(img)
        t2 = time.perf_counter()
        self.window.flip()  # on Mesa's llvmpipe most rasterization happens here
        s.timings.add("present_ms", 1e3 * (time.perf_counter() - t2))
        self.frames += 1
        s.timings.add("frame_ms", 1e3 * real_dt if dt is None else 1e3 * (time.perf_counter() - now))

    def save_screenshot(self, img: np.ndarray, path: str | Path | None = None) -> Path:
        import imageio.v3 as iio

        path = Path(path) if path else self.screenshot_dir / f"ase_viewer_{datetime.now():%Y%m%d_%H%M%S}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        iio.imwrite(path, img)
        self.session.event(f"screenshot {path}")
        return path

    def run(self, max_frames: int | None = None) -> None:
        """The interactive loop, paced to `fps_cap`, until the window closes (or `max_frames`)."""
        period = 1.0 / self.fps_cap if self.fps_cap > 0 else 0.0
        while not self.closed and (max_frames is None or self.frames < max_frames):
            start = time.perf_counter()
            self.frame()
            spare = period - (time.perf_counter() - start)
            if spare > 0:
                time.sleep(spare)

    def destroy(self) -> None:
        try:
            self.imgui.shutdown()
        except Exception:
            pass
        from imgui_bundle import imgui

        imgui.destroy_context(self.imgui_ctx)
        self.renderer.close()
        self.window.close()
