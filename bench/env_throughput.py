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


def raw_rate(model: mujoco.MjModel, n: int, steps: int, nthread: int) -> float:
    b = mjbatch.Batch(model, n, nthread=nthread, persistent=True)
    b.reset()
    b.bind("ctrl")[:] = 0.0
    b.step(nstep=4, stage=mujoco.mjtStage.mjSTAGE_VEL)
    t = time.perf_counter()
    for _ in range(steps):
        b.step(nstep=4, stage=mujoco.mjtStage.mjSTAGE_VEL)
    return n * steps / (time.perf_counter() - t)


def env_rate(n: int, steps: int, nthread: int, motions) -> tuple[float, dict]:
    env = HumanoidEnv(EnvConfig(num_envs=n, seed=0, nthread=nthread), motions)
    env.reset()
    rng = np.random.default_rng(0)
    actions = rng.uniform(-1, 1, (steps, n, env.action_dim)).astype(np.float32)
    env.step(actions[0])
    t = time.perf_counter()
    for a in actions:
        env.step(a)
    return n * steps / (time.perf_counter() - t), env.counters


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--envs", type=int, nargs="+", default=[64, 256])
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--nthread", type=int, default=0)
    p.add_argument("--repeats", type=int, default=3, help="alternate raw/env this many times, report the best")
    p.add_argument("--motions", default=None, help="motion clips for reference-state resets (default: none)")
    args = p.parse_args(argv)
    motions = None
    if args.motions:
        from motion.library import MotionLibrary

        from sim.character import load_character

        motions = MotionLibrary.from_path(args.motions, load_character("humanoid"))
    model = HumanoidEnv(EnvConfig(num_envs=1, reset=_no_pool())).model
    print(f"{'N':>5} {'raw steps/s':>12} {'env steps/s':>12} {'ratio':>6}  resets/step")
    for n in args.envs:
        raws, envs = [], []
        for _ in range(args.repeats):
            raws.append(raw_rate(model, n, args.steps, args.nthread))
            rate, counters = env_rate(n, args.steps, args.nthread, motions)
            envs.append(rate)
        raw, env = max(raws), max(envs)
        resets = counters["episodes"] / (args.steps + 1) - n / (args.steps + 1)
        print(f"{n:>5} {raw:>12.0f} {env:>12.0f} {env / raw:>6.2f}  {resets:.1f}")
    return 0


def _no_pool():
    from sim.env import ResetConfig

    return ResetConfig(mode="default")


if __name__ == "__main__":
    sys.exit(main())
