"""LLC inference latency: onnxruntime (the exported model) against eager torch, same run, same weights.

Both are called the way a game or the viewer calls them, numpy in and numpy out, one thread each:
`controllers.runtime.OnnxLLC.act` and `controllers.checkpoint.LLCPolicy.act` (torch.no_grad). Per-call
times are taken in alternating blocks of 500 so machine noise hits both alike; p50 and p99 per batch size,
for the `cpu` preset's network and ASE's reference size. Weights are random (cost does not depend on
them); each export is verified as `launch.py export` does. Targets: onnxruntime >= 2x faster than torch
at batch 1, and LLC p99 < 0.2 ms at the cpu preset's size.

    python launch.py bench inference_latency [--calls 3000] [--sizes cpu reference]
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402


def timed_calls(fns: dict, calls: int, block: int = 500, warmup: int = 200) -> dict[str, np.ndarray]:
    """Per-call seconds of each function, in alternating blocks of `block` calls (garbage collector paused:
    a game has no Python GC; blocks of 500 keep the cache-cold first call after each switch below 1 %)."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times = {name: np.empty(calls) for name in fns}
    clock = time.perf_counter
    gc.disable()
    try:
        for start in range(0, calls, block):
            for name, fn in fns.items():
                out = times[name]
                for i in range(start, min(start + block, calls)):
                    t = clock()
                    fn()
                    out[i] = clock() - t
    finally:
        gc.enable()
    return times


def build(size: str, folder: Path):
    """(torch policy, onnxruntime policy) of an untrained LLC of the named size, exported and verified."""
    import torch

    from controllers.checkpoint import load_llc, save_atomic, untrained_llc_checkpoint
    from controllers.export_cli import export
    from controllers.networks import NetworkConfig
    from controllers.runtime import OnnxLLC

    torch.manual_seed(0)
    net = NetworkConfig.cpu() if size == "cpu" else NetworkConfig.reference()
    ckpt = save_atomic(untrained_llc_checkpoint(network=net), folder / f"llc_{size}.pt")
    export(ckpt, folder / f"export_{size}")
    return load_llc(ckpt), OnnxLLC(folder / f"export_{size}", threads=1)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--calls", type=int, default=3000, help="timed calls per runtime at batch 1 (batch 64: a third)")
    p.add_argument("--sizes", nargs="+", default=["cpu", "reference"], choices=["cpu", "reference"])
    args = p.parse_args(argv)
    import onnxruntime
    import torch

    torch.set_num_threads(1)
    print(f"torch {torch.__version__} (1 thread), onnxruntime {onnxruntime.__version__} (1 thread), "
          f"{args.calls} calls at batch 1, {args.calls // 3} at batch 64")  # fmt: skip
    print(f"{'size':<10} {'batch':>5} {'torch p50':>10} {'p99':>8} {'ort p50':>9} {'p99':>8} {'speedup':>8}  (ms)")
    rng = np.random.default_rng(0)
    verdicts = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            policy, onnx_policy = build(size, Path(tmp))
            for n in (1, 64):
                obs = rng.standard_normal((n, policy.obs_dim)).astype(np.float32)
                z = rng.standard_normal((n, policy.latent_dim)).astype(np.float32)
                z /= np.linalg.norm(z, axis=1, keepdims=True)
                calls = {"torch": partial(policy.act, obs, z), "ort": partial(onnx_policy.act, obs, z)}
                t = timed_calls(calls, args.calls if n == 1 else max(100, args.calls // 3))
                (tp50, tp99), (op50, op99) = (1e3 * np.percentile(t[k], [50, 99]) for k in ("torch", "ort"))
                print(f"{size:<10} {n:>5} {tp50:>10.3f} {tp99:>8.3f} {op50:>9.3f} {op99:>8.3f} {tp50 / op50:>7.1f}x")
                if n == 1:
                    verdicts.append(f"{size}: onnxruntime {tp50 / op50:.1f}x torch at batch 1 (target >= 2x): "
                                    + ("met" if tp50 / op50 >= 2 else "NOT met"))  # fmt: skip
                    if size == "cpu":
                        verdicts.append(f"cpu: onnxruntime p99 {op99:.3f} ms at batch 1 (target < 0.2 ms): "
                                        + ("met" if op99 < 0.2 else "NOT met"))  # fmt: skip
    print("\n".join(verdicts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
