"""`launch.py bench NAME [ARGS]`: run a benchmark from bench/."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

BENCHES = {
    "env_throughput": "environment env-steps/s against raw mujoco.batch stepping",
    "train_throughput": "LLC training samples/s against the raw environment rate",
    "viewer_fps": "viewer frame time split into physics, policy and rendering",
    "inference_latency": "LLC latency p50/p99 in onnxruntime against eager torch, batch 1 and 64",
    "gpu_throughput": "LLC training samples/s on the MuJoCo Warp backend (GPU; Warp's CPU device without one)",
}


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: launch.py bench NAME [ARGS]\n\nbenchmarks:")
        for name, what in BENCHES.items():
            print(f"  {name:<17} {what}")
        return 0
    name = argv[0]
    if name not in BENCHES:
        print(f"launch.py bench: unknown benchmark {name!r}; choose one of {', '.join(BENCHES)}", file=sys.stderr)
        return 2
    if not (Path(__file__).parent / f"{name}.py").is_file():
        print(f"launch.py bench: {name} is not built yet", file=sys.stderr)
        return 2
    return int(importlib.import_module(f"bench.{name}").main(argv[1:]) or 0)
