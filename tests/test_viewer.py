"""The viewer's window under Xvfb + Mesa: rendering, panels, injected input, perturbations, recording, memory.

Uses $DISPLAY when set; otherwise starts its own Xvfb (skips, saying why, when there is none).
One window serves the whole module (opening windows is the slow part).
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent


# ---- display -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def display():
    """A display: $DISPLAY, or a private Xvfb on a free display number (Xvfb -displayfd picks it)."""
    if os.environ.get("DISPLAY"):
        yield os.environ["DISPLAY"]
        return
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        pytest.skip("no DISPLAY and no Xvfb: install xvfb and libgl1-mesa-dri (see .ci/run) to run viewer tests")
    r, w = os.pipe()
    proc = subprocess.Popen(
        [xvfb, "-displayfd", str(w), "-screen", "0", "1280x720x24", "-nolisten", "tcp"],
        pass_fds=(w,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    os.close(w)
    with os.fdopen(r) as f:
        number = f.readline().strip()
    if not number:
        proc.kill()
        pytest.skip("Xvfb did not start")
    os.environ["DISPLAY"] = f":{number}"
    try:
        yield os.environ["DISPLAY"]
    finally:
        os.environ.pop("DISPLAY", None)
        proc.terminate()
        proc.wait(10)


def make_llc_checkpoint(path: Path) -> Path:
    """A tiny randomly initialized LLC checkpoint in the real format (enough to drive the viewer)."""
    from controllers.checkpoint import save_atomic, untrained_llc_checkpoint
    from controllers.networks import NetworkConfig

    net = NetworkConfig(actor_hidden=(64, 64), critic_hidden=(64,), disc_hidden=(64,), style_hidden=(32,), style_dim=16)
    return save_atomic(untrained_llc_checkpoint("humanoid", net), path)


@pytest.fixture(scope="module")
def viewer(display, tmp_path_factory):
    from app.session import Session, SessionConfig
    from app.window import ViewerWindow

    ckpt = make_llc_checkpoint(tmp_path_factory.mktemp("ckpt") / "llc.pt")
    session = Session(SessionConfig(llc=str(ckpt), mode="sim"))
    win = ViewerWindow(session, 1280, 720, screenshot_dir=tmp_path_factory.mktemp("shots"))
    for _ in range(3):
        win.frame(1 / 30)
    yield win
    win.destroy()


def capture(win, frames: int = 2):
    for _ in range(frames - 1):
        win.frame(1 / 30)
    win.frame(1 / 30, capture=True)
    return win.last_image.astype(np.int16)


def key(name: str) -> int:
    from pyglet.window import key as k

    return getattr(k, name)


def press(win, name: str, frames: int = 1) -> None:
    win.on_key_press(key(name), 0)
    for _ in range(frames):
        win.frame(1 / 30)
    win.on_key_release(key(name), 0)


def character_pixel(win) -> tuple[int, int]:
    """A window pixel (pyglet coordinates) that shows a character body."""
    w, h = win.size
    for y in range(h // 2, h // 5, -12):
        for x in range(w // 2 - 120, w // 2 + 200, 12):
            body, _, _ = win.pick(x, y)
            if body > 0 and win.renderer.char_bodies[body]:
                return x, y
    raise AssertionError("no character body found near the centre of the view")


# ---- tests ------------------------------------------------------------------------------------------
def test_window_shows_character_and_panels(viewer, tmp_path):
    from app.state import Camera

    s, r = viewer.session, viewer.renderer
    s.set_mode("sim")
    s.clock.paused = True
    r.camera_mode = Camera.FREE
    r.cam.lookat[:] = s.sim.root_pos() + [0, 0, 0.0]
    full = capture(viewer)
    assert full.std() > 20, "blank screenshot"
    viewer.show_panels = False
    no_panels = capture(viewer)
    viewer.show_panels = True
    s.sim.set_kinematic(s.sim.data.qpos[: s.sim.char_nq] + np.r_[100.0, np.zeros(s.sim.char_nq - 1)])
    no_character = capture(viewer)
    panel = np.abs(full - no_panels).sum(-1) > 30
    assert panel[:, :300].mean() > 0.3 and panel[:, 400:].mean() < 0.01  # panels on the left only
    char = np.abs(full - no_character).sum(-1) > 30
    h, w = char.shape
    char[:200, w * 3 // 4 :] = False  # the HUD's numbers change between frames
    ys, xs = np.nonzero(char)
    assert char.mean() > 0.01, "character not drawn"
    assert abs(xs.mean() - w / 2) < w / 8 and abs(ys.mean() - h / 2) < h / 4  # where the camera looks
    viewer.save_screenshot(viewer.last_image, tmp_path / "shot.png")
    assert (tmp_path / "shot.png").stat().st_size > 10_000
    s.clock.paused = False
    r.camera_mode = Camera.FOLLOW
    s.reset()


def test_keys_change_heading_and_latent(viewer):
    s, r = viewer.session, viewer.renderer
    r.cam.azimuth = 90.0  # the camera looks along +y
    press(viewer, "W", frames=2)
    assert s.goals.heading == pytest.approx(math.pi / 2) and s.goals.speed > 0
    viewer.on_key_press(key("D"), 0)
    viewer.on_key_press(key("W"), 0)
    viewer.frame(1 / 30)
    assert s.goals.heading == pytest.approx(math.pi / 4)
    viewer.on_key_release(key("D"), 0)
    viewer.on_key_release(key("W"), 0)
    viewer.frame(1 / 30)
    assert s.goals.speed == 0.0
    s.set_mode("llc")
    z0 = s.latent.copy()
    press(viewer, "Z")
    assert not np.allclose(z0, s.latent) and np.linalg.norm(s.latent) == pytest.approx(1.0)
    assert s.skill_map is not None and len(s.skill_map.names) == len(s.clip_names)
    name = s.skill_map.names[3]
    s.use_preset(name)
    assert s.nearest_preset().startswith(name)
    assert s.timings.policy_ms > 0
    press(viewer, "_2")
    assert s.mode.value == "sim"


def test_ground_click_sets_location_target(viewer):
    s = viewer.session
    w, h = viewer.size
    x, y = int(w * 0.75), int(h * 0.12)  # low on the screen: the floor in front of the camera
    body, geom, point = viewer.pick(x, y)
    assert body == 0 and geom >= 0
    viewer.on_mouse_press(x, y, 1, 0)
    viewer.on_mouse_release(x, y, 1, 0)
    assert s.goals.location is not None and np.allclose(s.goals.location, point[:2])
    viewer.frame(1 / 30)
    from pyglet.window import key as k

    _, _, point = viewer.pick(x, y)  # the follow camera may have moved
    viewer.on_mouse_press(x, y, 1, k.MOD_CTRL)  # ctrl+click: reach target
    viewer.on_mouse_release(x, y, 1, k.MOD_CTRL)
    assert np.allclose(s.goals.reach[:2], point[:2])


def test_shove_makes_it_fall_and_hud_reports_it(viewer):
    s = viewer.session
    s.set_mode("sim")
    s.sim_hold = "default"
    s.reset()
    capture(viewer, 5)
    assert s.fall.state.value == "up"
    press(viewer, "B")
    states = set()
    for _ in range(75):
        viewer.frame(1 / 30)
        states.add(s.fall.state.value)
    assert "fallen" in states
    assert dict(s.hud())["posture"].startswith(("fallen", "getting up"))
    press(viewer, "R")
    assert s.fall.state.value == "up"


def test_drag_pushes_a_body_and_projectiles_fly(viewer):
    s = viewer.session
    s.set_mode("sim")
    s.sim_hold = "default"
    s.reset()
    root = s.sim.root_pos()
    viewer.renderer.cam.lookat[:] = (root[0], root[1], 0.9)
    viewer.frame(1 / 30)
    x, y = character_pixel(viewer)
    x0 = s.sim.root_pos()
    viewer.on_mouse_press(x, y, 1, 0)
    assert s.sim.pert is not None and s.sim.pert.select > 0
    for i in range(20):
        viewer.on_mouse_drag(x + 12 * (i + 1), y, 12, 0, 1, 0)
        viewer.frame(1 / 30)
    viewer.on_mouse_release(x + 240, y, 1, 0)
    assert s.sim.pert is None
    assert np.linalg.norm(s.sim.root_pos()[:2] - x0[:2]) > 0.1 or s.fall.state.value != "up"
    s.reset()
    press(viewer, "X")
    assert "projectile" in s.last_event


def test_many_frames_do_not_grow_memory(viewer):
    def rss_mb() -> float:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    s = viewer.session
    s.set_mode("sim")
    for _ in range(60):
        viewer.frame(1 / 30)
    before = rss_mb()
    for i in range(300):
        if i % 60 == 0:
            s.reset()
        viewer.frame(1 / 30, capture=(i % 10 == 0))
    growth = rss_mb() - before
    assert growth < 15.0, f"memory grew {growth:.1f} MB over 300 frames"


def test_headless_record_writes_a_playable_video(tmp_path):
    out = tmp_path / "out.mp4"
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    env.setdefault("MUJOCO_GL", "egl")
    cmd = [sys.executable, str(ROOT / "launch.py"), "view", "--headless", "--record", str(out), "--frames", "24",
           "--width", "640", "--height", "360", "--mode", "sim", "--script", "0.3:shove"]  # fmt: skip
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    if p.returncode != 0 and "no offscreen OpenGL" in p.stderr:
        pytest.skip(p.stderr.strip())
    assert p.returncode == 0, p.stderr
    import imageio.v3 as iio

    frames = iio.imread(out, index=None)
    assert frames.shape == (24, 360, 640, 3)
    assert frames[-1].std() > 10


def test_missing_display_is_one_clear_line():
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    p = subprocess.run([sys.executable, str(ROOT / "launch.py"), "--viewer"], capture_output=True, text=True,
                       timeout=60, env=env)  # fmt: skip
    assert p.returncode == 1
    assert "no display" in p.stderr and "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1


def test_training_watcher_draws_and_fails_soft(display, monkeypatch):
    from app import window
    from app.watch import TrainingWatcher
    from sim.env import EnvConfig, HumanoidEnv, ResetConfig

    env = HumanoidEnv(EnvConfig(num_envs=2, nthread=1, reset=ResetConfig(mode="default")))
    env.reset()
    w = TrainingWatcher(env, env_index=1, max_fps=0)
    env.step(np.zeros((2, env.action_dim)))
    assert w.update({"iteration": 1, "reward": 0.5})
    assert w.update({"iteration": 2})
    w.close()
    assert not w.update()

    def no_display(*a, **k):
        raise window.DisplayError("no display")

    monkeypatch.setattr(window, "open_window", no_display)
    w = TrainingWatcher(env)
    assert not w.update() and not w.update() and "no display" in w.message


def test_train_watch_flag_draws_the_trainers_own_environment(display, tmp_path, monkeypatch, deepmimic_dir):
    """`launch.py train llc --watch` renders the environment the trainer steps, every env step."""
    import launch
    from app import watch
    from training.cli import main as train_main

    drawn = []
    original = watch.TrainingWatcher.update

    def spy(self, info=None):
        ok = original(self, info)
        drawn.append((ok, self.env.progress[self.env_index]))
        return ok

    monkeypatch.setattr(watch.TrainingWatcher, "update", spy)
    args = ["llc", "--motions", str(deepmimic_dir / "humanoid3d_walk.txt"), "--envs", "4", "--out", str(tmp_path)]
    assert launch.main(["train", *args, "--iterations", "1", "--no-progress", "--threads", "1", "--watch", "2"]) == 0
    assert len(drawn) == 32 and drawn[0][0]  # one call per rollout step; the first one drew a frame
    # training/ alone has no window to open: it says so instead of importing the viewer
    assert train_main([*args, "--iterations", "1", "--no-progress", "--watch", "0"]) != 0
