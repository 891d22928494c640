"""The viewer's window under Xvfb + Mesa: rendering, memory, recording, the command line's errors, --watch.

Interaction (keys, mouse, panels) is tests/test_viewer_ui.py. Uses $DISPLAY when set, otherwise a
private Xvfb (tests/conftest.py; skips, saying why, when there is none). One window serves the module.
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import open_viewer, tiny_llc_checkpoint

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def viewer(display, tmp_path_factory):
    from app.session import Session, SessionConfig

    ckpt = tiny_llc_checkpoint(tmp_path_factory.mktemp("ckpt") / "llc.pt")
    session = Session(SessionConfig(llc=str(ckpt), mode="sim"))
    win = open_viewer(session, screenshot_dir=tmp_path_factory.mktemp("shots"))
    for _ in range(3):
        win.frame(1 / 30)
    yield win
    win.destroy()


def capture(win, frames: int = 2):
    for _ in range(frames - 1):
        win.frame(1 / 30)
    win.frame(1 / 30, capture=True)
    return win.capture.last_image.astype(np.int16)


def test_window_shows_character_and_panels(viewer, tmp_path):
    from app.state import Camera

    s, r = viewer.session, viewer.renderer
    s.set_mode("sim")
    s.clock.paused = True
    r.camera_mode = Camera.FREE
    r.cam.lookat[:] = s.sim.root_pos()
    try:
        full = capture(viewer)
        assert full.std() > 20, "blank screenshot"
        viewer.panel_state.shown = False
        no_panels = capture(viewer)
        viewer.panel_state.shown = True
        s.sim.set_kinematic(s.sim.data.qpos[: s.sim.char_nq] + np.r_[100.0, np.zeros(s.sim.char_nq - 1)])
        no_character = capture(viewer)
    finally:
        viewer.panel_state.shown = True
        s.clock.paused = False
        r.camera_mode = Camera.FOLLOW
        s.reset()
    panel = np.abs(full - no_panels).sum(-1) > 30
    assert panel[:300, :330].mean() > 0.5 and panel[:, 400:].mean() < 0.01  # sim mode: controls on the left only
    char = np.abs(full - no_character).sum(-1) > 30
    h, w = char.shape
    char[h * 2 // 3 :, : w // 3] = False  # the HUD (bottom left) changes between frames
    ys, xs = np.nonzero(char)
    assert char.mean() > 0.01, "character not drawn"
    assert abs(xs.mean() - w / 2) < w / 8 and abs(ys.mean() - h / 2) < h / 4  # where the camera looks
    viewer.capture.save(viewer.capture.last_image, tmp_path / "shot.png")
    assert (tmp_path / "shot.png").stat().st_size > 10_000


def test_many_frames_do_not_grow_memory(viewer):
    """No per-frame leak: Python allocations (tracemalloc) and process memory stay flat once warm.

    Both are measured after a warm-up, between later windows of frames, so whatever earlier tests
    left behind (allocator caches, lazily compiled GL state, imported modules) does not count.
    """

    def rss_mb() -> float:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    s = viewer.session
    s.set_mode("sim")

    def run(frames: int) -> None:
        for i in range(frames):
            if i % 60 == 0:
                s.reset()
                s.throw()
            viewer.frame(1 / 30, capture=(i % 10 == 0))

    def settle() -> None:
        viewer.capture.last_image = None  # the last captured frame is kept on purpose: not a leak
        gc.collect()

    run(120)  # warm-up
    settle()
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        rss0 = rss_mb()
        run(150)
        rss1 = rss_mb()
        run(150)
        rss2 = rss_mb()
        settle()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    py_growth = sum(d.size_diff for d in after.compare_to(before, "filename")) / 2**20
    assert py_growth < 0.5, f"Python allocations grew {py_growth:.2f} MB over 300 frames"
    second = rss2 - rss1
    assert second < 8.0, f"memory grew {second:.1f} MB over frames 150..300 after warm-up ({rss1 - rss0:.1f} before)"


def _headless(tmp_path: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    env.setdefault("MUJOCO_GL", "egl")
    env.setdefault("OMP_NUM_THREADS", "1")
    cmd = [sys.executable, str(ROOT / "launch.py"), "view", "--headless", "--width", "640", "--height", "360", *args]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=tmp_path)
    if p.returncode != 0 and "no offscreen OpenGL" in p.stderr:
        pytest.skip(p.stderr.strip())
    return p


def test_headless_record_writes_a_playable_video(tmp_path):
    out = tmp_path / "out.mp4"
    p = _headless(tmp_path, "--record", str(out), "--frames", "24", "--mode", "sim", "--script", "0.3:shove")
    assert p.returncode == 0, p.stderr
    import imageio.v3 as iio

    frames = iio.imread(out, index=None)
    assert frames.shape == (24, 360, 640, 3)
    assert frames[-1].std() > 10


def test_readme_headless_example_records_a_shove_and_a_throw(tmp_path):
    """`view --headless --record out.mp4 --script 2:shove,5:throw` (shortened): starts where shoves work: LLC mode
    on the bundled checkpoints/llc.pt when it exists, else sim mode; and the shove shows in the video."""
    out = tmp_path / "out.mp4"
    script = ["--seconds", "2", "--fps", "15", "--script", "0.5:shove,1.2:throw"]
    p = _headless(tmp_path, "--record", str(out), *script)
    assert p.returncode == 0, p.stderr
    bundled = (ROOT / "checkpoints" / "llc.pt").is_file()
    assert ("viewer: LLC llc.pt" in p.stderr) if bundled else ("starting in sim mode" in p.stderr), p.stderr
    import imageio.v3 as iio

    assert len(iio.imread(out, index=None)) == 30
    # in sim mode the character holds still until the shove: the shove is what makes it move
    p = _headless(tmp_path, "--record", str(out), "--mode", "sim", *script)
    assert p.returncode == 0, p.stderr
    f = iio.imread(out, index=None).astype(np.int16)
    f[:, 360 * 2 // 3 :, : 640 // 3] = 0  # the HUD's numbers change every frame

    def change(a: int, b: int) -> float:
        return float(np.abs(f[a] - f[b]).mean())

    assert change(1, 6) < 0.5  # standing still before the shove (0.5 s: frame 7 shows it)
    assert change(8, 13) > 2 * change(1, 6) + 1.0  # then it moves


@pytest.mark.parametrize(
    "args, expect",
    [
        (["--llc", "{tmp}/missing.pt"], "missing.pt: no such checkpoint file"),
        (["--llc", "{tmp}/junk.pt"], "junk.pt: not a readable torch checkpoint"),
        (["--llc", "{tmp}/sword.pt"], "trained for character 'humanoid_sword_shield'"),
        (["--mode", "llc"], "--mode llc: no LLC checkpoint"),
        (["--mode", "hlc"], "--mode hlc: no HLC checkpoint (--hlc PATH; the bundled checkpoints/hlc_*.pt go with"),
        (["--hlc", "{tmp}/x.pt"], "x.pt: no such checkpoint file"),
        (["--mode", "playback", "--headless", "--record", "{tmp}/o.mp4", "--script", "1:shove"],
         "--script 1:shove: shove: switch to sim or LLC mode"),
        (["--script", "1:shove"], "--script runs while recording"),
        (["--headless", "--record", "{tmp}/o.mp4", "--script", "1:dance"], "unknown action 'dance'"),
        (["--device", "tpu"], "--device tpu: unknown physics backend 'tpu'"),
    ],
)  # fmt: skip
def test_bad_inputs_are_one_line_and_exit_nonzero(args, expect, tmp_path, capsys, monkeypatch):
    """Never a silent fallback to playback: every bad input is one line on stderr and exit code 1."""
    from app import cli, loading
    from controllers.checkpoint import save_atomic, untrained_llc_checkpoint
    from controllers.networks import NetworkConfig

    monkeypatch.setenv("DISPLAY", os.environ.get("DISPLAY", ":0"))  # the checks come before any window opens
    monkeypatch.setenv("MUJOCO_GL", os.environ.get("MUJOCO_GL", "egl"))
    monkeypatch.setattr(loading, "BUNDLED_LLC", tmp_path / "none.pt")
    (tmp_path / "junk.pt").write_text("not a checkpoint")
    tiny = NetworkConfig(actor_hidden=(16,), critic_hidden=(16,), disc_hidden=(16,), style_hidden=(8,), style_dim=8)
    save_atomic(untrained_llc_checkpoint("humanoid_sword_shield", tiny), tmp_path / "sword.pt")
    rc = cli.main([a.replace("{tmp}", str(tmp_path)) for a in args])
    err = capsys.readouterr().err.strip()
    assert rc == 1 and expect in err, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert not (tmp_path / "o.mp4").exists()


def test_help_does_not_promise_a_missing_checkpoint(capsys):
    from app import cli

    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    assert "--llc checkpoints/llc.pt" not in out
    assert "checkpoints/llc.pt when present" in " ".join(out.split())
    assert "hlc needs --hlc" not in " ".join(out.split())  # the bundled task controllers count too
    assert "hlc needs a task controller: --hlc, or the bundled" in " ".join(out.split())


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
