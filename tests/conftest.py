"""Shared fixtures. Motion data comes from wherever `motion.data.deepmimic_dir` finds the DeepMimic clips (never
committed); tests skip clearly without them."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@pytest.fixture(scope="session")
def deepmimic_dir() -> Path:
    from motion.data import deepmimic_dir as find

    try:
        return find()
    except FileNotFoundError as exc:
        pytest.skip(f"DeepMimic clips not available: {exc}")


@pytest.fixture(scope="module")
def humanoid():
    """The plain humanoid character."""
    from sim.character import load_character

    return load_character("humanoid")


@pytest.fixture(scope="module")
def walk(deepmimic_dir, humanoid):
    """The DeepMimic walk clip on the humanoid."""
    from motion.io import load_clip

    return load_clip(deepmimic_dir / "humanoid3d_walk.txt", humanoid)


@pytest.fixture
def private_bvh_cache(tmp_path, monkeypatch):
    """Converted BVH clips are cached under the user data dir: a fresh one per test (the BVH modules use it)."""
    import motion.retarget_io as rio

    monkeypatch.setattr(rio, "USER_DATA_DIR", tmp_path / "data")


@pytest.fixture(scope="session")
def display():
    """An X display for the viewer tests: $DISPLAY, or a private Xvfb on a free display number (skips without)."""
    import os
    import shutil
    import subprocess

    if os.environ.get("DISPLAY"):
        yield os.environ["DISPLAY"]
        return
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        pytest.skip("no DISPLAY and no Xvfb: install xvfb and libgl1-mesa-dri (scripts/system-deps.sh)")
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


def open_viewer(session, width: int = 1280, height: int = 720, **kwargs):
    """A `ViewerWindow` on the display, or a skip that says why none can open."""
    from app.window import DisplayError, ViewerWindow

    kwargs.setdefault("settings_file", None)  # no first-run hint, nothing written to the user's settings
    try:
        return ViewerWindow(session, width, height, **kwargs)
    except DisplayError as exc:
        pytest.skip(f"no viewer window: {exc}")


def tiny_llc_checkpoint(path: Path) -> Path:
    """A tiny randomly initialized LLC checkpoint in the real format (enough to drive the viewer)."""
    from controllers.checkpoint import save_atomic, untrained_llc_checkpoint
    from controllers.networks import NetworkConfig

    net = NetworkConfig(actor_hidden=(64, 64), critic_hidden=(64,), disc_hidden=(64,), style_hidden=(32,), style_dim=16)
    return save_atomic(untrained_llc_checkpoint("humanoid", net), path)


def tiny_hlc_checkpoint(out: Path, llc: Path, task: str = "steering") -> Path:
    """A small task controller for `llc`, trained for two iterations by `launch.py train hlc` (about a second);
    returns its hlc.pt (beside checkpoint.pt under `out`)."""
    import launch

    args = ["train", "hlc", "--task", task, "--llc", str(llc), "--envs", "2", "--hidden", "16,16", "--iterations",
            "2", "--out", str(out), "--no-progress", "--threads", "1"]  # fmt: skip
    assert launch.main(args) == 0, f"launch.py {' '.join(args)} failed"
    return out / "hlc.pt"


@pytest.fixture
def one_torch_thread():
    """Deterministic, contention-free torch math: one thread for the test, restored after."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
