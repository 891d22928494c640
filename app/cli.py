"""`python launch.py --viewer` / `python launch.py view [options]`: the interactive viewer and recorder.

Every failure a user can cause (no display, no OpenGL, a missing, unreadable or other character's
checkpoint, an HLC beside an LLC it was not trained with, a mode that is not available, a scripted
action the mode refuses) ends in one line on stderr and exit code 1, never a traceback (set
ASE_DEBUG=1 to see one) and never a silent fallback.
"""

from __future__ import annotations

import argparse
import os
import sys

import cli_common

EXAMPLES = """examples:
  python launch.py --viewer                                  # the bundled LLC (checkpoints/llc.pt), else playback
  python launch.py view --llc runs/llc/llc.pt                # drive your trained LLC's latent
  python launch.py view --mode sim                           # physics only: shove it, throw things at it
  python launch.py view --hlc runs/hlc_steering/hlc.pt       # a task controller (train one: launch.py train hlc)
  python launch.py view --headless --record out.mp4 --seconds 10 --script 2:shove,5:throw
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="launch.py view",
        description="Interactive viewer: motion playback, LLC latent exploration, goals, perturbations.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--character", choices=("humanoid", "humanoid_sword_shield"),
                   help="default: the HLC's character, else humanoid")  # fmt: skip
    p.add_argument(
        "--llc",
        help="LLC checkpoint (.pt); default: the bundled checkpoints/llc.pt when present, else none "
        "(playback); with --hlc: its LLC (default: the recorded file)",
    )
    p.add_argument(
        "--hlc",
        help="HLC (task controller) checkpoint: drives its task (steering, speed, location, "
        "reach, strike) with the frozen LLC it was trained on; default with the bundled LLC: every bundled "
        "checkpoints/hlc_*.pt, one per task, in HLC mode (Tab cycles them; train others: launch.py train hlc)",
    )
    cli_common.add_allow_other_llc(p, "with --hlc --llc")
    p.add_argument("--policy", default="torch", choices=("torch", "onnx"),
                   help="inference runtime; onnx: --llc (or --hlc) is an export folder (onnxruntime)")  # fmt: skip
    cli_common.add_device(p, "cuda and warp-cpu need pip install -r requirements-gpu.txt")
    p.add_argument("--motions", help="clip file, dataset file or folder (default: the DeepMimic clips)")
    p.add_argument("--mode", choices=("playback", "sim", "llc", "hlc"),
                   help="initial mode (default: hlc with --hlc, llc with a checkpoint, else playback; sim when "
                   "--script shoves or throws); hlc needs a task controller: --hlc, or the bundled "
                   "checkpoints/hlc_*.pt that come with the bundled LLC")  # fmt: skip
    p.add_argument("--clip", help="initial clip for playback: walk, or in full humanoid3d_walk")
    p.add_argument("--width", type=int, default=1280)
    p.add_argument("--height", type=int, default=720)
    p.add_argument("--record", metavar="OUT.mp4", help="write a video (with a window, or --headless)")
    p.add_argument("--frames", type=int, help="frames to record (default: 10 s worth; windowed: until closed)")
    p.add_argument("--seconds", type=float, help="seconds to record (alternative to --frames)")
    p.add_argument("--fps", type=float, default=30.0, help="video frame rate (simulation advances 1/fps per frame)")
    p.add_argument("--headless", action="store_true", help="no window: offscreen OpenGL (EGL or OSMesa)")
    p.add_argument("--script", help="timed actions while recording, e.g. 2:shove,4:throw,6:reset")
    p.add_argument("--screenshot-dir", help="where F12 screenshots go (default: runs/screenshots in the repository)")
    p.add_argument("--seed", type=int, default=0)
    cli_common.add_trust_checkpoint(p, "--llc, --hlc; never the files the viewer finds in checkpoints/ itself")
    return p


def fail(msg: str) -> int:
    return cli_common.error("viewer", msg, 1)  # one line, whatever the exception said


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.headless and not args.record:
        return fail("--headless needs --record OUT.mp4 (there is nothing to show without a window)")
    if args.headless:
        os.environ.setdefault("MUJOCO_GL", "egl")  # must precede the first `import mujoco`
    if os.environ.get("ASE_DEBUG"):
        return _run(args)
    try:
        return _run(args)
    except KeyboardInterrupt:
        return 0
    except Exception as exc:  # the one-line promise; ASE_DEBUG=1 shows the traceback
        return fail(f"{type(exc).__name__}: {exc} (ASE_DEBUG=1 shows the traceback)")


def _frames(args) -> int | None:
    if args.frames is not None:
        return max(1, args.frames)
    if args.seconds is not None:
        return max(1, round(args.seconds * args.fps))
    return None


def _run(args) -> int:
    from app.record import ScriptError, needs_physics, parse_script
    from app.session import Session, SessionConfig, SessionError
    from app.state import Mode

    try:
        script = parse_script(args.script)
    except ValueError as exc:
        return fail(str(exc))
    if args.allow_other_llc and not (args.hlc and args.llc):
        return fail("--allow-other-llc goes with --hlc CKPT --llc OTHER_LLC")
    if args.script and not args.record:
        return fail("--script runs while recording: add --record OUT.mp4")
    cfg = SessionConfig(character=args.character, llc=args.llc, hlc=args.hlc, allow_other_llc=args.allow_other_llc,
                        motions=args.motions, mode=args.mode, clip=args.clip, seed=args.seed,
                        policy_backend=args.policy, device=args.device,
                        trust_checkpoint=args.trust_checkpoint)  # fmt: skip
    if not args.headless and (msg := _display_problem()):
        return fail(msg)
    try:
        session = Session(cfg)
    except SessionError as exc:
        return fail(str(exc))
    if args.clip and session.motions is not None and session.playback.find_clip(args.clip) is None:
        from app.presets import short_names

        return fail(f"no clip named {args.clip!r}; clips: {', '.join(short_names(session.playback.clip_names))}")
    if needs_physics(script) and not args.mode and session.mode is Mode.PLAYBACK:
        session.set_mode(Mode.SIM)  # shoves and throws need physics; playback is kinematic
        print("viewer: --script shoves or throws: starting in sim mode (playback is kinematic)", file=sys.stderr)
    for t, action in script:  # refuse up front rather than record a video of nothing happening
        if why := session.why_not(action):
            return fail(f"--script {t:g}:{action}: {why}")
    for msg in session.messages:
        print(f"viewer: {msg}", file=sys.stderr)
    frames = _frames(args)
    try:
        if args.headless:
            return _record_headless(session, args, frames or round(10 * args.fps), script)
        return _interactive(session, args, frames, script)
    except ScriptError as exc:
        return fail(str(exc))


def _record_headless(session, args, frames: int, script) -> int:
    try:
        import mujoco

        mujoco.GLContext(1, 1).free()
    except Exception as exc:
        backend = os.environ.get("MUJOCO_GL", "")
        other = "osmesa" if backend == "egl" else "egl"
        return fail(f"no offscreen OpenGL with MUJOCO_GL={backend} ({type(exc).__name__}: {exc}); "
                    f"try MUJOCO_GL={other} (Debian: libegl1 / libosmesa6)")  # fmt: skip
    from app.record import record_headless

    t = record_headless(session, args.record, frames, args.width, args.height, args.fps, script)
    print(f"viewer: wrote {args.record}: {frames} frames at {args.fps:g} fps ({args.width}x{args.height}); "
          f"per frame: simulation {t['sim_ms']:.1f} ms, rendering {t['render_ms']:.1f} ms, "
          f"encoding {t['encode_ms']:.1f} ms")  # fmt: skip
    return 0


def _display_problem() -> str:
    if sys.platform.startswith("linux") and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        return ("no display (DISPLAY is not set): run under `xvfb-run -a -s '-screen 0 1280x720x24'`, "
                "or record without a window: --headless --record out.mp4")  # fmt: skip
    return ""


def _interactive(session, args, frames: int | None, script) -> int:
    from app.record import VideoWriter, run_script
    from app.window import DisplayError, ViewerWindow

    try:
        win = ViewerWindow(session, args.width, args.height, screenshot_dir=args.screenshot_dir)
    except DisplayError as exc:
        return fail(str(exc))
    writer = None
    try:
        if args.record:  # fixed time step per frame, so the video plays at real speed
            writer = VideoWriter(args.record, args.fps)
            win.capture.hooks.append(writer)
            session.recording = True
            dt = 1.0 / args.fps
            while not win.closed and (frames is None or win.frames < frames):
                session.camera_yaw = win.renderer.camera_yaw()
                run_script(session, script, win.frames * dt, (win.frames + 1) * dt)
                win.frame(dt)
        else:
            win.run(max_frames=frames)
    finally:
        if writer is not None:
            writer.close()
            print(f"viewer: wrote {args.record}: {writer.frames} frames", file=sys.stderr)
        win.destroy()
    return 0


if __name__ == "__main__":
    sys.exit(main())
