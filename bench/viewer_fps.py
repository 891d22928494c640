"""Viewer frame time split into physics, policy and rendering, with baselines from the same run.

Window part (pyglet + Xvfb/Mesa or a real display): the viewer's own frame loop in LLC mode with an
LLC of ASE's reference size (randomly initialized: inference cost does not depend on the weights),
at 60 frames per simulated second, so a control step runs every other frame as on a 60 Hz display.
Baselines: bare `mj_step` x 4 for physics, a bare `mjr_render` of the same scene for rendering.
Headless part (a subprocess, MUJOCO_GL=egl): `launch.py view --headless --record`, per frame.

Targets (issue 6): physics real time (control step + policy well under 33 ms), policy < 1 ms per
control step, 60 FPS where there is a GPU.

    python launch.py bench viewer_fps [--frames 240] [--width 1280 --height 720] [--no-headless]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def start_xvfb(width: int, height: int) -> subprocess.Popen | None:
    """A private Xvfb when there is no display (None if there is one or Xvfb is missing)."""
    if os.environ.get("DISPLAY") or not shutil.which("Xvfb"):
        return None
    r, w = os.pipe()
    proc = subprocess.Popen(["Xvfb", "-displayfd", str(w), "-screen", "0", f"{width}x{height}x24", "-nolisten", "tcp"],
                            pass_fds=(w,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    os.close(w)
    with os.fdopen(r) as f:
        os.environ["DISPLAY"] = ":" + f.readline().strip()
    return proc


def reference_llc(path: Path, sizes: str) -> Path:
    """An LLC checkpoint with ASE's network sizes ("reference") or the project's CPU sizes ("cpu")."""
    from controllers.checkpoint import save_atomic, untrained_llc_checkpoint
    from controllers.networks import NetworkConfig

    net = NetworkConfig.reference() if sizes == "reference" else NetworkConfig.cpu()
    return save_atomic(untrained_llc_checkpoint("humanoid", net), path)


def baseline_physics(model, steps: int = 300) -> float:
    """ms per control step of a bare MjData (4 x mj_step), no viewer."""
    import mujoco

    d = mujoco.MjData(model)
    t = time.perf_counter()
    for _ in range(steps):
        for _ in range(4):
            mujoco.mj_step(model, d)
    return 1e3 * (time.perf_counter() - t) / steps


def baseline_policy(policy, obs, z, calls: int = 300) -> float:
    t = time.perf_counter()
    for _ in range(calls):
        policy.act(obs, z)
    return 1e3 * (time.perf_counter() - t) / calls


def bench_window(args, ckpt: Path) -> dict[str, float]:
    import mujoco
    import torch

    from app.session import Session, SessionConfig
    from app.window import ViewerWindow
    from controllers.checkpoint import load_llc

    torch.set_num_threads(args.torch_threads or 1)  # as app.session.load_policy does
    policy = load_llc(ckpt)
    session = Session(SessionConfig(mode="llc"), policy=policy, load=False)
    win = ViewerWindow(session, args.width, args.height)
    out = {"gl_renderer": win.renderer.renderer_name}
    for _ in range(20):  # warm up
        win.frame(1 / 60)
    session.timings.totals.clear()
    t = time.perf_counter()
    for i in range(args.frames):
        if i % 90 == 0:
            session.reset()
        win.frame(1 / 60)
    wall = 1e3 * (time.perf_counter() - t) / args.frames
    tm = session.timings
    out.update(frame_ms=wall, physics_ms=tm.mean("physics_ms"), policy_ms=tm.mean("policy_ms"),
               scene_ms=tm.mean("scene_ms"), panels_ms=tm.mean("panels_ms"),
               present_ms=tm.mean("present_ms"))  # fmt: skip
    # baselines in the same run: bare physics, bare policy call, bare scene render
    out["base_physics_ms"] = baseline_physics(session.sim.model)
    out["base_policy_ms"] = baseline_policy(policy, session.sim.observe(), session.latents.latent[None])
    r, w, h = win.renderer, *win.size
    scn, ctx, d = r.scene, r.ctx, session.sim.data
    mujoco.mjr_setBuffer(mujoco.mjtFramebuffer.mjFB_WINDOW, ctx)
    t = time.perf_counter()
    for _ in range(args.frames // 2):
        mujoco.mjv_updateScene(session.sim.model, d, r.opt, None, r.cam, mujoco.mjtCatBit.mjCAT_ALL, scn)
        mujoco.mjr_render(mujoco.MjrRect(0, 0, w, h), scn, ctx)
        win.window.flip()
    out["base_scene_ms"] = 1e3 * (time.perf_counter() - t) / (args.frames // 2)
    win.destroy()
    return out


def bench_headless(args) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    env.setdefault("MUJOCO_GL", "egl")
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, str(ROOT / "launch.py"), "view", "--headless", "--record", f"{tmp}/bench.mp4",
               "--frames", str(args.frames // 2), "--width", str(args.width), "--height", str(args.height),
               "--mode", "sim"]  # fmt: skip
        p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    m = re.search(r"simulation ([\d.]+) ms, rendering ([\d.]+) ms, encoding ([\d.]+) ms", p.stdout)
    if p.returncode != 0 or not m:
        return {"error": (p.stderr or p.stdout).strip().splitlines()[-1:] or ["failed"]}
    return {"sim_ms": float(m[1]), "render_ms": float(m[2]), "encode_ms": float(m[3])}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, default=240)
    p.add_argument("--width", type=int, default=1280)
    p.add_argument("--height", type=int, default=720)
    p.add_argument("--net", choices=("reference", "cpu"), default="reference", help="LLC network sizes")
    p.add_argument("--torch-threads", type=int, default=0, help="torch threads (0: the viewer's 1)")
    p.add_argument("--no-headless", action="store_true", help="skip the offscreen recording part")
    args = p.parse_args(argv)
    xvfb = start_xvfb(args.width, args.height)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            ckpt = reference_llc(Path(tmp) / "llc.pt", args.net)
            if not os.environ.get("DISPLAY"):
                print("window part skipped: no display and no Xvfb")
                win = None
            else:
                win = bench_window(args, ckpt)
    finally:
        if xvfb is not None:
            xvfb.terminate()
            xvfb.wait(10)
            os.environ.pop("DISPLAY", None)
    print(f"viewer_fps at {args.width}x{args.height}, LLC net: {args.net}, torch threads: {_torch_threads()}")
    if win:
        step = win["physics_ms"] + win["policy_ms"]
        print(f"window ({win['gl_renderer']}), {args.frames} frames at 60 frames per simulated second:")
        rows = [
            ("physics / control step", win["physics_ms"], win["base_physics_ms"], "bare 4 x mj_step"),
            ("policy / control step", win["policy_ms"], win["base_policy_ms"], "bare LLCPolicy.act"),
            ("scene submit / frame", win["scene_ms"], None, ""),
            ("imgui panels / frame", win["panels_ms"], None, ""),
            ("swap (raster) / frame", win["present_ms"], None, ""),
            ("whole frame", win["frame_ms"], win["base_scene_ms"], "bare mjr_render + swap"),
        ]
        print(f"  {'part':<24} {'ms':>7} {'baseline ms':>12} {'ratio':>6}")
        for name, ms, base, what in rows:
            b = f"{base:>12.2f} {ms / base:>6.2f}  ({what})" if base else ""
            print(f"  {name:<24} {ms:>7.2f} {b}")
        print(f"  => {1e3 / win['frame_ms']:.0f} FPS; control step {step:.2f} ms of a 33.3 ms budget "
              f"(physics {33.33 / step:.0f}x faster than real time); policy target < 1 ms: "
              f"{'met' if win['policy_ms'] < 1 else 'NOT met'}")  # fmt: skip
    if not args.no_headless:
        hl = bench_headless(args)
        if "error" in hl:
            print(f"headless (MUJOCO_GL={os.environ.get('MUJOCO_GL', 'egl')}): {hl['error'][0]}")
        else:
            total = hl["sim_ms"] + hl["render_ms"] + hl["encode_ms"]
            print(f"headless --record (MUJOCO_GL={os.environ.get('MUJOCO_GL', 'egl')}), per frame: simulation "
                  f"{hl['sim_ms']:.1f} ms, render+readback {hl['render_ms']:.1f} ms, encode {hl['encode_ms']:.1f} ms"
                  f" => {1e3 / total:.0f} frames/s")  # fmt: skip
    return 0


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


if __name__ == "__main__":
    sys.exit(main())
