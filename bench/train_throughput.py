"""LLC training throughput (rollout + rewards + update) against the raw environment rate, same run.

The environment rate is the same HumanoidEnv stepping random actions (no policy), measured just before and
just after the training iterations; the ratio uses their mean, so load from other jobs on the machine hits
both sides. Target on 2 cores with the `cpu` preset at N = 256: training >= 0.3x the environment.

    python launch.py bench train_throughput [--envs 256] [--iterations 4] [--preset cpu] [--fp32]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402

DEFAULT_MOTIONS = Path(__file__).resolve().parent.parent.parent / "shared" / "motions" / "deepmimic"
DEFAULT_MOTIONS = DEFAULT_MOTIONS / "dataset_humanoid3d_clips_locomotion_getup.txt"


def env_rate(env, steps: int) -> float:
    rng = np.random.default_rng(0)
    actions = rng.uniform(-1, 1, (steps, env.num_envs, env.action_dim)).astype(np.float32)
    if getattr(env, "xp", np) is not np:  # device arrays: the actions start on the device, as a policy's would
        from sim.arrays import as_like

        actions = [as_like(a, env.obs) for a in actions]
    t = time.perf_counter()
    for a in actions:
        env.step(a)
    return env.num_envs * steps / (time.perf_counter() - t)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--envs", type=int, default=256)
    p.add_argument("--iterations", type=int, default=4, help="timed training iterations (after one warm-up)")
    p.add_argument("--env-steps", type=int, default=128, help="control steps of each raw environment measurement")
    p.add_argument("--preset", choices=["cpu", "reference"], default="cpu")
    p.add_argument("--fp32", action="store_true", help="no bf16 autocast")
    p.add_argument("--motions", default=str(DEFAULT_MOTIONS))
    p.add_argument("--device", default="cpu", help="cpu, cuda[:K] (physics and networks on the GPU) or warp-cpu")
    p.add_argument("--arrays", choices=["auto", "host", "device"], default="auto",
                   help="environment arrays: host numpy, or device tensors (auto: device on cuda)")  # fmt: skip
    args = p.parse_args(argv)

    from motion.library import MotionLibrary
    from sim.character import load_character
    from sim.env import EnvConfig, HumanoidEnv
    from training.cli import network_device
    from training.config import PRESETS
    from training.llc import LLCTrainer
    from training.precision import cpu_bf16_native

    motions = MotionLibrary.from_path(args.motions, load_character("humanoid"))
    over = {"num_envs": args.envs}
    if args.fp32:
        over["bf16"] = False
    cfg = PRESETS[args.preset](**over)
    if cfg.minibatch_size > cfg.batch_size:  # small runs: one minibatch per epoch
        cfg.minibatch_size = cfg.batch_size
        cfg.disc_batch = min(cfg.disc_batch, cfg.batch_size)
    device_arrays = args.arrays == "device" or (args.arrays == "auto" and args.device.startswith("cuda"))
    env = HumanoidEnv(EnvConfig(num_envs=args.envs, seed=0, backend=args.device, device_arrays=device_arrays), motions)
    trainer = LLCTrainer(cfg, env, device=network_device(args.device))
    net = cfg.network
    print(
        f"preset {cfg.preset}: N={cfg.num_envs}, {cfg.batch_size} samples/iteration, minibatch {cfg.minibatch_size}, "
        f"{cfg.epochs} epochs, actor {net.actor_hidden}, critic {net.critic_hidden}, disc/enc {net.disc_hidden}, "
        f"bf16 {trainer.bf16} (asked {cfg.bf16}, native here {cpu_bf16_native()}), "
        f"torch threads {torch.get_num_threads()}, physics {args.device} "
        f"({'device' if device_arrays else 'host'} arrays), networks {trainer.device}"
    )
    trainer.train_iteration()  # warm-up: fills the dataset buffer, first allocations

    env_before = env_rate(env, args.env_steps)
    t0 = time.perf_counter()
    rollout = update = 0.0
    for _ in range(args.iterations):
        s = trainer.train_iteration()
        rollout += s["perf/rollout_s"]
        update += s["perf/update_s"]
    train_time = time.perf_counter() - t0
    env_after = env_rate(env, args.env_steps)

    env_mean = 0.5 * (env_before + env_after)
    train = args.iterations * cfg.batch_size / train_time
    print(f"{'':<34}{'samples/s':>10}")
    print(f"{'environment alone (before/after)':<34}{env_before:>10.0f} / {env_after:.0f}")
    print(f"{'training loop (rollout + update)':<34}{train:>10.0f}")
    print(f"  rollout {rollout / train_time:.0%} of the time, rewards + GAE + update {update / train_time:.0%}")
    print(f"ratio training / environment: {train / env_mean:.2f} (target >= 0.30)")
    print(f"last iteration: clip fraction {s['ppo/clip_frac']:.2f}, ratio std {s['ppo/ratio_std']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
