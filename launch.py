#!/usr/bin/env python
"""ASE character controller runtime: the one command line.

    python launch.py --viewer                 # play with the bundled controllers
    python launch.py view [options]           # the same, with options
    python launch.py train llc --motions ...  # train a low-level controller
    python launch.py train hlc --task steering --llc CKPT   # train a task controller
    python launch.py eval ...                 # evaluate checkpoints
    python launch.py export ...               # ONNX export
    python launch.py motions download|info    # motion data
    python launch.py bench NAME               # run a benchmark from bench/

Each subcommand owns its options: `python launch.py SUBCOMMAND --help`.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# subcommand -> (module with main(argv) -> int, one-line summary); None = not built yet
SUBCOMMANDS: dict[str, tuple[str | None, str]] = {
    "view": ("app.cli", "interactive viewer (also: --viewer)"),
    "train": ("training.cli", "train a controller: `train llc ...`, `train hlc --task NAME --llc CKPT ...`"),
    "eval": ("evaluation.cli", "evaluate checkpoints: LLC (upright, motion, recovery, realism, coverage), HLC tasks"),
    "export": ("controllers.export_cli", "export an LLC (and an HLC) to ONNX with a controller.json sidecar"),
    "motions": ("motion.cli", "motion data: download the DeepMimic clips, inspect or convert a clip"),
    "bench": ("bench.cli", "run a benchmark from bench/ (env_throughput, train_throughput, viewer_fps)"),
}


def watch_window(env, env_index: int):
    """`train llc --watch`: the viewer's window on one training environment (training/ never imports app/)."""
    from app.watch import TrainingWatcher

    return TrainingWatcher(env, env_index=env_index)


def usage() -> str:
    lines = [__doc__.strip(), "", "subcommands:"]
    lines += [f"  {name:<9} {summary}" for name, (_, summary) in SUBCOMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    if argv[0] == "--viewer":
        argv = ["view", *argv[1:]]
    name, rest = argv[0], argv[1:]
    if name not in SUBCOMMANDS:
        print(f"launch.py: unknown subcommand {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module, summary = SUBCOMMANDS[name]
    if module is None:
        print(f"launch.py {name}: {summary}", file=sys.stderr)
        return 2
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        print(f"launch.py {name}: cannot start ({exc}). Install the project: see README.md.", file=sys.stderr)
        return 1
    if name == "train":  # the command line joins training and the viewer's --watch window
        return int(mod.main(rest, watcher_factory=watch_window) or 0)
    return int(mod.main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
