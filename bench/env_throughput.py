"""Environment throughput against raw `mujoco.batch` stepping of the same model, same run.

Both count control steps (4 physics steps each) over N characters. The
environment adds random actions -> PD targets, observations (policy and
discriminator), fall detection and resets; the raw loop steps with constant
controls. Target: environment >= 0.8x raw.

    python bench/env_throughput.py [--envs 64 256] [--steps 300]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import mujoco  # noqa: E402
import numpy as np  # noqa: E402
from mujoco import batch as mjbatch  # noqa: E402

from sim.env import EnvConfig, HumanoidEnv  # noqa: E402


def measure(model: mujoco.MjModel, n: int, steps: int, nthread: int, motions, block: int = 25) -> tuple[float, float]:
    """Raw and environment control steps/s, timed in alternating blocks so machine noise hits both alike."""
    raw = mjbatch.Batch(model, n, nthread=nthread, persistent=True)
    raw.reset()
    raw.bind("ctrl")[:] = 0.0
    env = HumanoidEnv(EnvConfig(num_envs=n, seed=0, nthread=nthread), motions)
    env.reset()
    rng = np.random.default_rng(0)
    actions = rng.uniform(-1, 1, (steps, n, env.action_dim)).astype(np.float32)
    raw.step(nstep=4, stage=mujoco.mjtStage.mjSTAGE_VEL)  # warm up both
    env.step(actions[0])
    t_raw = t_env = 0.0
    for start in range(0, steps, block):
        t = time.perf_counter()
        for _ in range(start, min(start + block, steps)):
            raw.step(nstep=4, stage=mujoco.mjtStage.mjSTAGE_VEL)
        t_raw += time.perf_counter() - t
        t = time.perf_counter()
        for a in actions[start : start + block]:
            env.step(a)
        t_env += time.perf_counter() - t
    return n * steps / t_raw, n * steps / t_env


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--envs", type=int, nargs="+", default=[64, 256])
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--nthread", type=int, default=0)
    p.add_argument("--motions", default=None, help="motion clips for reference-state resets (default: none)")
    args = p.parse_args(argv)
    motions = None
    if args.motions:
        from motion.library import MotionLibrary
        from sim.character import load_character

        motions = MotionLibrary.from_path(args.motions, load_character("humanoid"))
    model = HumanoidEnv(EnvConfig(num_envs=1, reset=_no_pool())).model
    print(f"{'N':>5} {'raw steps/s':>12} {'env steps/s':>12} {'ratio':>6}")
    for n in args.envs:
        raw, env = measure(model, n, args.steps, args.nthread, motions)
        print(f"{n:>5} {raw:>12.0f} {env:>12.0f} {env / raw:>6.2f}")
    return 0


def _no_pool():
    from sim.env import ResetConfig

    return ResetConfig(mode="default")


if __name__ == "__main__":
    sys.exit(main())
