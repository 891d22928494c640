"""The web page (`launch.py export --web`, web/, docs/web.md): its JavaScript observation against the worked frame,
MuJoCo's WebAssembly build against Python MuJoCo, the page's control loop against the Python runtime (in Node),
and the page itself in headless Chromium (loads, walks, turns on a key press, matches Python).

Node tests skip without `node`; tests that need the vendored libraries skip when their npm tarballs can be
neither found in the cache (ASE_WEB_CACHE) nor downloaded; the browser test skips without Chromium.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from tests.onnx_fixtures import ROOT, full_export, tmp_dir

NODE = shutil.which("node")
needs_node = pytest.mark.skipif(NODE is None, reason="node is not installed (web/ is JavaScript)")
CHROMIUM = next((p for p in (shutil.which("chromium-headless-shell"), shutil.which("chromium")) if p), None)
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--window-size=1280,720"]  # fmt: skip
STEPS = 30  # control steps (1 s) of the page against the Python runtime
# Tolerances (measured: docs/web.md): open-loop physics after 300 steps ~2e-9; closed loop after 30 control steps
# ~1e-6 (float32 network inputs amplify MuJoCo 3.14 vs 4.0 rounding differences)
PHYSICS_TOL = 1e-6
CLOSED_LOOP_TOL = 1e-4


def run_node(page: Path, jobs: list[dict]) -> dict:
    spec = tmp_dir() / f"web_jobs_{os.getpid()}_{threading.get_ident()}.json"
    spec.write_text(json.dumps({"page": str(page), "jobs": jobs}))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    p = subprocess.run([NODE, str(ROOT / "web" / "tools" / "check.mjs"), str(spec)], capture_output=True, text=True,
                       timeout=300, env=env)  # fmt: skip
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(p.stdout)


@cache
def _page(kind: str) -> Path | str:
    """A page folder ("steering": the shipped steering controller; "round0": the worked frame's weights), or the
    reason it cannot be built (a string)."""
    from controllers.export_cli import main
    from controllers.web_page import WebPageError, build_page, fetch_all

    try:
        fetch_all()
    except WebPageError as exc:
        return f"the page's npm packages are unavailable: {exc}"
    folder = tmp_dir() / f"web_{kind}"
    if kind == "round0":
        shutil.copytree(full_export()[0], folder)
        build_page(folder)
    else:
        rc = main(["--hlc", str(ROOT / "checkpoints" / "hlc_steering.pt"), "--web", str(folder)])
        assert rc == 0
    return folder


def page(kind: str) -> Path:
    got = _page(kind)
    if isinstance(got, str):
        pytest.skip(got)
    return got


@pytest.fixture(scope="module")
def frame() -> dict:
    """The worked frame of docs/game-engines.md."""
    import re

    from tests.test_onnx_docs import DOC

    block = r"<!-- worked-example:begin -->\s*```json\n(.*?)```\s*<!-- worked-example:end -->"
    return json.loads(re.search(block, DOC.read_text(), re.S).group(1))


# ---- without the vendored libraries ---------------------------------------------------------------------------


@needs_node
def test_js_observation_of_the_documented_body_states(frame):
    """web/controller.js's observation from the worked frame's body states is the documented observation."""
    got = run_node(full_export()[0], [{"kind": "obs_from_bodies", "bodies": frame["bodies"]}])["results"][0]
    np.testing.assert_allclose(got["obs"], frame["obs"], atol=2e-6)


def test_strip_wasm_drops_custom_sections_only():
    from controllers.web_page import strip_wasm

    def section(sid: int, payload: bytes) -> bytes:
        assert len(payload) < 128
        return bytes([sid, len(payload)]) + payload

    header = b"\0asm\x01\0\0\0"
    custom = section(0, b"\x04name" + b"x" * 20)
    typesec = section(1, b"\x01\x60\x00\x00")  # one type: () -> ()
    assert strip_wasm(header + custom + typesec + custom) == header + typesec


def test_offline_error_names_the_file_to_provide(tmp_path, monkeypatch):
    import controllers.web_page as wp

    monkeypatch.setattr(wp, "REGISTRY", "http://127.0.0.1:9")  # nothing listens on the discard port
    with pytest.raises(wp.WebPageError, match="npm pack three@"):
        wp.fetch(wp.VENDOR[-1], cache=tmp_path, timeout=5)


def test_export_web_needs_out_or_web(capsys):
    from controllers.export_cli import main

    assert main(["--llc", "x.pt"]) == 2
    assert "--web DIR" in capsys.readouterr().err


# ---- in Node, with MuJoCo WebAssembly and onnxruntime-web ------------------------------------------------------


@needs_node
def test_export_web_writes_a_page():
    folder = page("steering")
    vendored = ("vendor/mujoco/mujoco.wasm", "vendor/ort/ort-wasm-simd-threaded.wasm", "vendor/three/three.module.js")
    for name in ("index.html", "main.js", "controller.js", "render.js", "controller.json", "llc.onnx", "hlc.onnx",
                 *vendored):  # fmt: skip
        assert (folder / name).is_file(), name
    info = json.loads((folder / "page.json").read_text())["vendor"]
    assert info["@mujoco/mujoco"]["version"].startswith("3.14.")
    assert (folder / "vendor" / "mujoco" / "mujoco.wasm").stat().st_size < 6e6  # debug sections stripped


@needs_node
def test_js_frame_matches_the_documented_frame(frame):
    """Example qpos/qvel -> MuJoCo WASM forward kinematics -> the page's observation -> onnxruntime-web LLC."""
    got = run_node(page("round0"), [{"kind": "frame", "qpos": frame["qpos"], "qvel": frame["qvel"]}])["results"][0]
    np.testing.assert_allclose(got["obs"], frame["obs"], atol=2e-6)
    np.testing.assert_allclose(got["action"], frame["action"], atol=1e-5)
    np.testing.assert_allclose(got["pd_target"], frame["pd_target"], atol=1e-5)


def _python_open_loop(folder: Path, qpos, qvel, ctrl) -> list[tuple[np.ndarray, np.ndarray]]:
    import mujoco

    from controllers.runtime import Controller

    ctl = Controller(folder)
    ctl.reset(qpos, qvel)
    m, d, out = ctl.model, ctl.data, []
    for c in ctrl:
        d.ctrl[: ctl.nu] = c
        for _ in range(ctl.substeps):
            mujoco.mj_step(m, d)
        mujoco.mj_fwdPosition(m, d)
        mujoco.mj_fwdVelocity(m, d)
        out.append((d.qpos[: ctl.nq].copy(), d.qvel.copy()))
    return out


@needs_node
def test_wasm_physics_matches_python_mujoco(frame):
    """From the worked frame's moving start, 300 physics steps (75 x 4) under random PD targets, many saturating:
    MuJoCo WebAssembly (@mujoco/mujoco 3.14) against Python MuJoCo, state by state."""
    folder = page("round0")
    rng = np.random.default_rng(0)
    nu = len(json.loads((folder / "controller.json").read_text())["action"]["offset"])
    ctrl = rng.uniform(-1.5, 1.5, size=(75, nu))
    ref = _python_open_loop(folder, np.array(frame["qpos"]), np.array(frame["qvel"]), ctrl)
    got = run_node(folder, [{"kind": "physics", "qpos": frame["qpos"], "qvel": frame["qvel"], "ctrl": ctrl.tolist()}])
    states = got["results"][0]["states"]
    dq = max(np.abs(np.array(s["qpos"]) - r[0]).max() for s, r in zip(states, ref))
    dv = max(np.abs(np.array(s["qvel"]) - r[1]).max() for s, r in zip(states, ref))
    assert dq < PHYSICS_TOL and dv < 100 * PHYSICS_TOL, (dq, dv)


def python_closed_loop(folder: Path, steps: int, goal: dict | None = None) -> np.ndarray:
    """qpos after `steps` control steps of the Python runtime from the default pose: the example latent, or the
    HLC with a world goal."""
    from controllers.runtime import Controller
    from controllers.runtime.reference_frame import example_latent

    ctl = Controller(folder)
    ctl.reset()
    if goal:
        ctl.set_goal(**goal)
    z = example_latent(ctl.policy.latent_dim)
    for _ in range(steps):
        ctl.step_task() if goal else ctl.step(z)
    return ctl.data.qpos[: ctl.nq].copy()


GOAL = {"direction": 0.5, "speed": 1.2, "facing": 0.5}


@needs_node
def test_page_control_loop_matches_the_python_runtime():
    """The page's loop (observation, LLC, HLC every 5 steps, PD targets, physics) in Node, against
    controllers/runtime, from the same start with the same latent / goal."""
    folder = page("steering")
    got = run_node(
        folder, [{"kind": "closed_loop", "steps": STEPS}, {"kind": "closed_loop", "steps": STEPS, "goal": GOAL}]
    )
    llc, hlc = (np.array(r["states"][-1]["qpos"]) for r in got["results"])
    assert np.abs(llc - python_closed_loop(folder, STEPS)).max() < CLOSED_LOOP_TOL
    assert np.abs(hlc - python_closed_loop(folder, STEPS, GOAL)).max() < CLOSED_LOOP_TOL


# ---- in headless Chromium -------------------------------------------------------------------------------------


class _Handler(http.server.SimpleHTTPRequestHandler):
    reports: list = []

    def do_POST(self):  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.reports.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def browser_selftest(folder: Path, timeout: float = 240.0, query: str = "") -> dict:
    """Serve `folder` on localhost, open index.html?selftest in headless Chromium, return the page's report."""
    handler = type("H", (_Handler,), {"reports": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), lambda *a: handler(*a, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/index.html?selftest&steps={STEPS}{query}"
    profile = tempfile.mkdtemp(prefix="ase-web-chromium-")
    args = [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0"]
    # its own process group: Chromium's zygotes and renderers outlive a terminated browser process otherwise
    proc = subprocess.Popen(
        [*args, url], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        import time

        t0 = time.monotonic()
        while not handler.reports and time.monotonic() - t0 < timeout and proc.poll() is None:
            time.sleep(0.2)
        if not handler.reports:
            err = proc.stderr.read() if proc.poll() is not None else ""
            pytest.fail(f"no self-test report from the page within {timeout:.0f} s (chromium: {err[-1500:]})")
        return handler.reports[0]
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # whatever of the group is left
        server.shutdown()
        shutil.rmtree(profile, ignore_errors=True)


@needs_node
@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium-headless-shell)")
def test_page_in_headless_chromium():
    """The page loads, runs 15 s of simulated time through its own controls without a JavaScript error: a named
    skill's button (controller.json `skills`, a malformed entry left out) sets its latent and the character
    stays up, W walks (stays up, travels the goal direction), A turns the travel direction left, B shoves;
    and its state after 30 control steps matches the Python runtime's (same start, same latent, same goal)."""
    folder = page("steering")
    skills = tmp_dir() / "web_steering_skills"  # the page with named skills in controller.json (not yet exported)
    if not skills.exists():
        shutil.copytree(folder, skills)
        sc = json.loads((skills / "controller.json").read_text())
        from controllers.runtime.reference_frame import example_latent

        sc["skills"] = {"example": (2 * example_latent(sc["latent"]["size"])).tolist(), "bad size": [1.0, 0.0]}
        (skills / "controller.json").write_text(json.dumps(sc))
    report = browser_selftest(skills)
    assert report["ok"], report["errors"]
    assert report["skill_buttons"] == ["example"] and report["skill_mode"] == "llc"
    assert report["skill_latent_error"] < 1e-6 and report["steps"]["skill"]["min_root_height"] > 0.6
    walk, turn = report["steps"]["walk"], report["steps"]["turn"]
    assert walk["min_root_height"] > 0.6 and turn["min_root_height"] > 0.6, report["steps"]
    assert walk["distance"] > 0.5, walk  # moving during the last second
    assert abs(np.degrees(np.angle(np.exp(1j * (walk["travel_yaw"] - walk["goal_direction"]))))) < 45, walk
    assert 45 < report["turned_deg"] < 135, report["turned_deg"]
    llc = np.array(report["llc_state"]["qpos"])
    hlc = np.array(report["hlc_state"]["qpos"])
    assert np.abs(llc - python_closed_loop(folder, STEPS)).max() < CLOSED_LOOP_TOL
    assert np.abs(hlc - python_closed_loop(folder, STEPS, GOAL)).max() < CLOSED_LOOP_TOL
