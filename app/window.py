"""The pyglet window: OpenGL context, the frame loop, imgui's panels on top of MuJoCo's scene.

Its parts: the input (`app.window_input.WindowInput`: keys, mouse, gamepad), the frames kept (`app.capture`:
screenshots, a video writer's hooks) and the settings file; the panels are `app.panels`', the scene `app.render`'s.
"""

from __future__ import annotations

import time
from pathlib import Path

from app.capture import SCREENSHOT_DIR, SETTINGS_FILE, FrameCapture, ViewerSettings  # noqa: F401 - SCREENSHOT_DIR
from app.panels import PanelState
from app.render import SceneRenderer
from app.session import Session
from app.window_input import WindowInput


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
    """The session drawn in a window: each `frame` runs the input, the session's control steps for the elapsed time,
    the scene, the panels (when shown) and whatever wants the frame's pixels."""

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
        self.panel_state = PanelState()
        self.input = WindowInput(session, self.renderer, self.panel_state, self.window)
        self.window.push_handlers(self.input)  # after imgui's: the viewer's handlers see each event first
        session.messages.append(self.input.gamepad.message)
        self.capture = FrameCapture(screenshot_dir, session.events)
        self.panel_state.screenshot_dir = str(self.capture.folder)
        self.settings = ViewerSettings(settings_file)
        self.panel_state.show_hint = self.settings.path is not None and not self.settings.read().get("hint_dismissed")
        self.fps_cap = fps_cap
        self.frames = 0
        self._last = time.perf_counter()

    @property
    def size(self) -> tuple[int, int]:
        return self.window.get_framebuffer_size()

    @property
    def closed(self) -> bool:
        """Esc or the window's close button: the loop ends (the window itself closes in `destroy`)."""
        return self.input.closed

    def frame(self, dt: float | None = None, capture: bool = False) -> None:
        """One frame: input, control steps for the elapsed time (or `dt`), render scene + panels, flip; `capture`
        keeps the frame's pixels (`capture.last_image`)."""
        from imgui_bundle import imgui

        from app import panels

        now = time.perf_counter()
        real_dt = (now - self._last) if dt is None else dt
        self._last = now
        s, r, ps = self.session, self.renderer, self.panel_state
        self.window.switch_to()
        self.window.dispatch_events()
        self.input.poll_gamepad()
        s.frame(real_dt, r.camera_yaw())
        r.update_camera(s.sim.root_pos(), real_dt)
        w, h = self.size
        t0 = time.perf_counter()
        scene = s.scene()
        if ps.shown:  # the status window and the panels show the HUD's rows
            scene["hud"] = None
        r.render(w, h, s.sim.data, **scene)
        t1 = time.perf_counter()
        s.timings.add("scene_ms", 1e3 * (t1 - t0))
        if not ps.shown:
            ps.windows.clear()
        if ps.shown:
            self.imgui.process_inputs()
            imgui.new_frame()
            panels.draw(s, r, ps, h, w)
            imgui.render()
            self.imgui.render(imgui.get_draw_data())
            s.timings.add("panels_ms", 1e3 * (time.perf_counter() - t1))
            if ps.hint_dismissed and ps.show_hint:  # not shown on the next start
                ps.show_hint = False
                self.settings.remember(hint_dismissed=True)
        s.timings.add("render_ms", 1e3 * (time.perf_counter() - t0))
        if self.capture.wanted(capture, ps.screenshot):
            screenshot, ps.screenshot = ps.screenshot, False
            self.capture.take(r.read_pixels(w, h), screenshot)
        t2 = time.perf_counter()
        self.window.flip()  # on Mesa's llvmpipe most rasterization happens here
        s.timings.add("present_ms", 1e3 * (time.perf_counter() - t2))
        self.frames += 1
        s.timings.add("frame_ms", 1e3 * real_dt if dt is None else 1e3 * (time.perf_counter() - now))

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
