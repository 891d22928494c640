"""Video recording: a frame writer (imageio-ffmpeg) and the headless recorder (offscreen OpenGL, no window).

Headless rendering picks its OpenGL through MUJOCO_GL, which must be set before mujoco is
imported: app/cli.py sets `egl` (GPU or Mesa) unless the user chose (`osmesa` also works).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from app.session import Session


class VideoWriter:
    """Frames (h, w, 3) uint8 -> an H.264 mp4 (or any format imageio knows from the suffix)."""

    def __init__(self, path: str | Path, fps: float = 30.0) -> None:
        import imageio.v2 as imageio

        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        kwargs = {"fps": fps}
        if self.path.suffix.lower() in (".mp4", ".mkv", ".mov", ".avi"):
            kwargs.update(codec="libx264", quality=7, macro_block_size=8, pixelformat="yuv420p")
        self._writer = imageio.get_writer(str(self.path), **kwargs)
        self.frames = 0

    def __call__(self, image: np.ndarray) -> None:
        self._writer.append_data(np.ascontiguousarray(image))
        self.frames += 1

    def close(self) -> None:
        self._writer.close()


class ScriptError(RuntimeError):
    """A scripted action the session refused (e.g. a shove during kinematic playback): one line."""


def parse_script(text: str | None) -> list[tuple[float, str]]:
    """'1.0:shove,2.5:throw' -> [(1.0, 'shove'), (2.5, 'throw')] (seconds of video time)."""
    if not text:
        return []
    out = []
    for item in text.split(","):
        t, _, action = item.strip().partition(":")
        if action not in SCRIPT_ACTIONS:
            raise ValueError(f"--script: unknown action {action!r} in {item.strip()!r}; "
                             f"choose from {', '.join(SCRIPT_ACTIONS)}")  # fmt: skip
        try:
            out.append((float(t), action))
        except ValueError:
            raise ValueError(f"--script: {item.strip()!r} is not SECONDS:ACTION") from None
    return sorted(out)


# action name -> call; False means refused (the session's last_event says why)
SCRIPT_ACTIONS = {
    "shove": lambda s: s.shove(),
    "throw": lambda s: s.throw(),
    "reset": lambda s: s.reset(),
    "random_latent": lambda s: s.random_latent(),
    "strike": lambda s: s.spawn_strike_target(),
}


def needs_physics(script: list[tuple[float, str]]) -> bool:
    """Whether the script shoves or throws (kinematic playback refuses both)."""
    from app.session import PHYSICS_ACTIONS

    return any(action in PHYSICS_ACTIONS for _, action in script)


def run_script(session: Session, script: list[tuple[float, str]], t_prev: float, t_now: float) -> None:
    """Run the actions due in [t_prev, t_now); raises ScriptError when the session refuses one."""
    for t, action in script:
        if t_prev <= t < t_now and SCRIPT_ACTIONS[action](session) is False:
            raise ScriptError(f"--script {t:g}:{action} refused: {session.last_event}")


def record_headless(
    session: Session,
    path: str | Path,
    frames: int,
    width: int = 1280,
    height: int = 720,
    fps: float = 30.0,
    script: list[tuple[float, str]] | None = None,
) -> dict[str, float]:
    """Render `frames` frames offscreen into `path`; the simulation advances 1/fps per frame.

    Returns mean milliseconds per frame for physics+policy (session), rendering, readback+encoding.
    """
    import mujoco

    from app.render import SceneRenderer

    model = session.sim.model
    model.vis.global_.offwidth = max(model.vis.global_.offwidth, width)
    model.vis.global_.offheight = max(model.vis.global_.offheight, height)
    gl = mujoco.GLContext(width, height)
    gl.make_current()
    from app.render import _gl_renderer

    if "llvmpipe" in _gl_renderer():  # 4x multisampling costs ~4x on Mesa's software rasterizer
        model.vis.quality.offsamples = 0
    r = SceneRenderer(model)
    r.set_character_bodies(session.sim.body_ids)
    writer = VideoWriter(path, fps)
    dt = 1.0 / fps
    session.recording = True
    t_sim = t_render = t_write = 0.0
    try:
        for i in range(frames):
            t0 = time.perf_counter()
            session.camera_yaw = r.camera_yaw()  # a scripted shove goes along the camera's view
            run_script(session, script or [], i * dt, (i + 1) * dt)
            session.frame(dt, r.camera_yaw())
            r.update_camera(session.sim.root_pos(), dt)
            t1 = time.perf_counter()
            r.render(width, height, session.sim.data, offscreen=True, **session.scene())
            img = r.read_pixels(width, height)
            t2 = time.perf_counter()
            writer(img)
            t3 = time.perf_counter()
            t_sim, t_render, t_write = t_sim + t1 - t0, t_render + t2 - t1, t_write + t3 - t2
            session.timings.add("render_ms", 1e3 * (t2 - t1))
            session.timings.add("frame_ms", 1e3 * (t3 - t0))
    finally:
        writer.close()
        r.close()
        gl.free()
    n = max(frames, 1)
    return {"sim_ms": 1e3 * t_sim / n, "render_ms": 1e3 * t_render / n, "encode_ms": 1e3 * t_write / n}
