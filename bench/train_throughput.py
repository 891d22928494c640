"""LLC training throughput (rollout + rewards + update) against the raw environment rate, same run.

The environment rate is the same HumanoidEnv stepping random actions (no policy), measured just before and
just after the training iterations; the ratio uses their mean, so load from other jobs on the machine hits
both sides. Target on 2 cores with the `cpu` preset at N = 256: training >= 0.3x the environment.

    python launch.py bench train_throughput [--envs 256] [--iterations 4] [--preset cpu] [--fp32] [--overlap]
        [--skills] [--threads 1 --env-threads 1]

--overlap measures the loop twice in the same run, sequential and with overlapped rollouts (the next rollout on
a second thread beside the update), each against the environment rate.
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
    p.add_argument("--overlap", action="store_true", help="also measure overlapped rollouts, same run")
    p.add_argument("--skills", action="store_true", help="a skill LLC (datasets/deepmimic_skills.yaml)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--env-threads", type=int, default=0, help="physics threads (0: all cores)")
    p.add_argument("--arrays", choices=["auto", "host", "device"], default="auto",
                   help="environment arrays: host numpy, or device tensors (auto: device on cuda)")  # fmt: skip
    args = p.parse_args(argv)

    from dataclasses import replace

    from motion.library import MotionLibrary
    from sim.character import load_character
    from sim.env import EnvConfig, HumanoidEnv
    from training.cli import SKILL_MOTIONS
    from training.config import PRESETS
    from training.llc import LLCTrainer
    from training.precision import cpu_bf16_native
    from training.runner import network_device

    if args.threads:
        torch.set_num_threads(args.threads)
    motions_path = SKILL_MOTIONS if args.skills and args.motions == str(DEFAULT_MOTIONS) else args.motions
    motions = MotionLibrary.from_path(motions_path, load_character("humanoid"))
    over = {"num_envs": args.envs, "torch_threads": args.threads}
    if args.fp32:
        over["bf16"] = False
    if args.skills:
        over["skills"] = True
    cfg = PRESETS[args.preset](**over)
    if args.skills:
        cfg.network = replace(cfg.network, conditional=True)
    if cfg.ppo.minibatch_size > cfg.batch_size:  # small runs: one minibatch per epoch
        cfg.ppo.minibatch_size = cfg.batch_size
        cfg.disc_batch = min(cfg.disc_batch, cfg.batch_size)
    device_arrays = args.arrays == "device" or (args.arrays == "auto" and args.device.startswith("cuda"))

    def make_env():
        env_cfg = EnvConfig(
            num_envs=args.envs, seed=0, backend=args.device, device_arrays=device_arrays, nthread=args.env_threads
        )
        return HumanoidEnv(env_cfg, motions)

    def measure(overlap: bool) -> tuple[float, float, float, dict]:
        env = make_env()
        trainer = LLCTrainer(replace(cfg, overlap=overlap), env, device=network_device(args.device))
        trainer.train_iteration()  # warm-up: fills the dataset buffer, first allocations (and the first rollout)
        if overlap:
            trainer.finish_rollout()
        t0 = time.perf_counter()
        rollout = 0.0
        for _ in range(args.iterations):
            s = trainer.train_iteration()
            rollout += s.get("perf/rollout_work_s", s["perf/rollout_s"])
        train_time = time.perf_counter() - t0
        if overlap:
            trainer.finish_rollout()
        return args.iterations * cfg.batch_size / train_time, rollout / train_time, train_time, s

    net = cfg.network
    print(
        f"preset {cfg.preset}{' (skills)' if args.skills else ''}: N={cfg.num_envs}, "
        f"{cfg.batch_size} samples/iteration, minibatch {cfg.ppo.minibatch_size}, {cfg.ppo.epochs} epochs, "
        f"actor {net.actor_hidden}, critic {net.critic_hidden}, "
        f"disc/enc {net.disc_hidden}, bf16 asked {cfg.bf16} (native here {cpu_bf16_native()}), "
        f"torch threads {torch.get_num_threads()}, physics {args.device} threads {args.env_threads or 'all'} "
        f"({'device' if device_arrays else 'host'} arrays)"
    )
    env = make_env()
    env_before = env_rate(env, args.env_steps)
    rows = [("training loop (rollout + update)", *measure(False))]
    if args.overlap:
        rows.append(("overlapped rollouts", *measure(True)))
    env_after = env_rate(env, args.env_steps)
    env_mean = 0.5 * (env_before + env_after)
    print(f"{'':<34}{'samples/s':>10}{'ratio':>8}")
    print(f"{'environment alone (before/after)':<34}{env_before:>10.0f} / {env_after:.0f}")
    for name, rate, rollout_share, _, s in rows:
        print(
            f"{name:<34}{rate:>10.0f}{rate / env_mean:>8.2f}   rollout work {rollout_share:.0%} of the time, "
            f"last clip fraction {s['ppo/clip_frac']:.2f}"
        )
    if args.overlap:
        print(f"overlapped / sequential: {rows[1][1] / rows[0][1]:.2f}x")
    print("target: training >= 0.5x the environment")
    return 0


if __name__ == "__main__":
    sys.exit(main())
