"""`python launch.py train hlc --task NAME --llc CKPT ...`: train a task controller on a frozen LLC.

    python launch.py train hlc --task steering --llc checkpoints/llc.pt --preset cpu --out runs/hlc_steering
    python launch.py train hlc --resume runs/hlc_steering/checkpoint.pt     # continue exactly where it stopped

Tasks: steering, speed, location, reach, strike (tasks/). Writes under --out: checkpoint.pt (resume), hlc.pt
(inference: the HLC with the SHA-256 of its LLC file) and tb/ (TensorBoard scalars).

--device cuda[:K] puts the physics (MuJoCo Warp), the task environment's arrays, the frozen LLC and the HLC's
networks and update on that GPU. Checkpoints do not depend on the device: a run resumes on any.

Several processes (training/distributed.py), as for the LLC: each rank steps its own environments, gradients and
normalizer statistics are merged, rank 0 logs and writes checkpoints, and a checkpoint resumes on any world size:

    torchrun --nproc-per-node 2 launch.py train hlc --task steering --llc checkpoints/llc.pt --threads 1
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import cli_common
from controllers.checkpoint import CheckpointError, read_checkpoint, trusting_checkpoints
from sim.control import HLC_HOLD_STEPS
from training import ppo
from training.hlc import PRESETS, HLCConfig
from training.runner import checkpoint_to_resume, network_device, resume_into, run_to_end


def _error(msg: str) -> int:
    return cli_common.error("train hlc", msg)


def parse_args(argv: list[str]) -> argparse.Namespace:
    from tasks import TASKS, parse_task_option

    p = argparse.ArgumentParser(
        prog="launch.py train hlc", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--task", choices=sorted(TASKS), help="the task to learn")
    p.add_argument("--llc", help="the frozen LLC checkpoint (llc.pt); on resume: the recorded one by default")
    cli_common.add_allow_other_llc(p, "on resume (--llc)")
    cli_common.add_training_flags(p, list(PRESETS), "hlc")
    p.add_argument("--envs", type=int, help="number of environments (preset default: cpu 64, reference 4096)")
    p.add_argument("--samples", type=float, help=f"total HLC samples to train for (each is {HLC_HOLD_STEPS} LLC steps)")
    p.add_argument("--out", help="output folder (default runs/hlc_TASK; on resume the checkpoint's folder)")
    p.add_argument(
        "--init-from", metavar="CKPT", help="start from another task's controller on the same LLC (its checkpoint.pt "
        "or hlc.pt): the LLC observation and the goal inputs both tasks observe carry over (HLCTrainer.warm_start)",
    )  # fmt: skip
    p.add_argument(
        "--demos", metavar="FILE", action="append", help="first fit the actor to these demonstrations (`launch.py "
        "eval --latent-search TASK --demos FILE`: sequences that solved their goal), then train with PPO; repeat to "
        "use several files",
    )  # fmt: skip
    p.add_argument("--bc-steps", type=int, default=3000, help="--demos: minibatches of the fit (default 3000)")
    p.add_argument(
        "--bc-coef", type=float, help="--demos: keep a behaviour-cloning term of this weight in the PPO loss "
        "(default 0: the demonstrations only start the actor)",
    )  # fmt: skip
    p.add_argument("--bc-anneal", type=float, help="--bc-coef: samples over which it falls to 0 (default 0: constant)")
    p.add_argument(
        "--critic-warmup", type=int, metavar="N", help="first N iterations fit only the critic (default: 10 with "
        "--init-from or --demos, else 0)",
    )  # fmt: skip
    p.add_argument("--env-threads", type=int, default=1, help="physics threads (default 1; 0: all cores)")
    p.add_argument("--hidden", type=cli_common.layer_sizes, metavar="N,N,...", help="hidden sizes of actor and critic")
    p.add_argument(
        "--task-option",
        type=parse_task_option,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a field of the task's config, e.g. speed_range=0.5,2.5 (tasks/TASK.py)",
    )
    cli_common.add_trust_checkpoint(p, "--resume, --llc, --init-from")
    return p.parse_args(argv)


def build_config(args: argparse.Namespace) -> HLCConfig:
    over: dict = {"task": args.task, "llc": str(args.llc), "seed": args.seed or 0}
    over["out_dir"] = args.out or f"runs/hlc_{args.task}"
    over["task_config"] = dict(args.task_option)
    for flag, name in (("envs", "num_envs"), ("checkpoint_every", "checkpoint_every"), ("lr", "lr")):
        if getattr(args, flag) is not None:
            over[name] = getattr(args, flag)
    if args.epochs is not None:
        over["epochs"] = args.epochs
    if args.samples is not None:
        over["total_samples"] = int(args.samples)
    if args.threads is not None:
        over["torch_threads"] = args.threads
    for flag in ("bc_coef", "bc_anneal"):
        if getattr(args, flag) is not None:
            over[flag] = getattr(args, flag)
    if args.critic_warmup is not None or args.init_from or args.demos:
        over["critic_warmup"] = args.critic_warmup if args.critic_warmup is not None else 10
    cfg = PRESETS[args.preset or "cpu"](**over)
    if args.hidden:
        cfg.network = replace(cfg.network, actor_hidden=args.hidden, critic_hidden=args.hidden)
    mb = cfg.ppo.minibatch_size
    if cfg.batch_size < mb or cfg.batch_size % mb:  # small runs
        mb = min(mb, cfg.batch_size)
        while cfg.batch_size % mb:
            mb -= 1
        cfg.ppo = replace(cfg.ppo, minibatch_size=mb)
    return cfg


# flag: setting (PPO's by their flat names)
RESUME_CHANGEABLE = {"samples": "total_samples", "checkpoint_every": "checkpoint_every", "lr": "lr",
                     "threads": "torch_threads", "bc_coef": "bc_coef", "bc_anneal": "bc_anneal"}  # fmt: skip
RESUME_FIXED = ("task", "preset", "envs", "seed", "hidden", "epochs", "task_option", "critic_warmup")


def resume_config(path: Path, args: argparse.Namespace) -> HLCConfig:
    """The checkpoint's config with the flags a resume may change; ValueError for flags it cannot."""
    ckpt = read_checkpoint(path, "hlc")
    if "train" not in ckpt:
        raise ValueError(f"{path}: an inference-only checkpoint cannot resume training (use checkpoint.pt)")
    cfg = HLCConfig.from_dict(ckpt["config"])
    fixed = [name for name in RESUME_FIXED if getattr(args, name, None)]
    if fixed:
        flags = ", ".join(f"--{name.replace('_', '-')}" for name in fixed)
        raise ValueError(f"{path}: {flags} cannot change on resume; start a new run")
    for flag, name in RESUME_CHANGEABLE.items():
        value, holder = getattr(args, flag), ppo.owner(cfg, name)
        if value is None:
            continue
        value = type(getattr(holder, name))(value)
        if value != getattr(holder, name):
            print(f"resume: {name} {getattr(holder, name)} -> {value}")
            setattr(holder, name, value)
    if args.llc:
        cfg.llc = str(args.llc)
    return cfg


def train_hlc(argv: list[str]) -> int:
    args = parse_args(argv)
    with trusting_checkpoints(args.trust_checkpoint):
        return _train_hlc(args)


def _train_hlc(args: argparse.Namespace) -> int:
    resume_path = None
    try:
        if args.resume and (args.init_from or args.demos):
            flag = "--init-from" if args.init_from else "--demos"
            return _error(f"{flag} starts a new run; a resumed run already holds its weights")
        if args.bc_steps < 1:
            return _error("--bc-steps must be at least 1")
        if (args.bc_coef or args.bc_anneal) and not (args.demos or args.resume):
            return _error("--bc-coef and --bc-anneal need --demos (the demonstrations the term clones)")
        if args.resume:
            resume_path = checkpoint_to_resume(args.resume, args.out, "runs/hlc")
            recorded_sha = None
            cfg = resume_config(resume_path, args)
            recorded_sha = cfg.llc_sha256
            out = Path(args.out) if args.out else resume_path.parent
        else:
            if not args.task or not args.llc:
                return _error("HLC training needs --task NAME and --llc CKPT (the frozen LLC), or --resume")
            cfg = build_config(args)
            cfg.validate()
            out = Path(cfg.out_dir)
    except (CheckpointError, ValueError) as exc:
        return _error(str(exc))

    from sim.warp_backend import CudaUnavailableError
    from training.distributed import RANK_SEED_STRIDE, init_from_env, rank_device

    physics = rank_device(args.device)  # torchrun with CUDA: this rank's GPU
    try:
        device = network_device(physics)
    except (CudaUnavailableError, ValueError) as exc:
        return _error(f"--device {args.device}: {exc}")

    import torch

    from controllers.checkpoint import load_llc
    from controllers.files import sha256_file
    from tasks import task_config
    from tasks.env import TaskEnv
    from training.hlc import HLCTrainer

    try:
        task_config(cfg.task, cfg.task_config)
        llc = load_llc(cfg.llc)
    except (CheckpointError, ValueError) as exc:
        return _error(str(exc))
    sha = sha256_file(cfg.llc)
    if resume_path is not None and sha != recorded_sha and not args.allow_other_llc:
        return _error(
            f"{resume_path}: trained with LLC sha256 {recorded_sha[:12]}, {cfg.llc} is {sha[:12]}; "
            "pass --allow-other-llc to continue on it anyway"
        )
    cfg.llc_sha256, cfg.character = sha, llc.character
    if cfg.torch_threads:
        torch.set_num_threads(cfg.torch_threads)
    dist = init_from_env(args.device)  # torchrun: join the process group; one process otherwise
    # on the GPU: observations, rewards, goals and the frozen LLC stay there
    env_cfg = cfg.env_config(nthread=args.env_threads, backend=physics, device_arrays=physics.startswith("cuda"))
    env_cfg.seed = cfg.seed + RANK_SEED_STRIDE * dist.rank  # each rank simulates its own characters
    try:
        env = TaskEnv(env_cfg, llc)
    except CudaUnavailableError as exc:
        return _error(f"--device {args.device}: {exc}")
    except ValueError as exc:  # an unknown --device, or an LLC that does not fit the environment
        return _error(str(exc))
    trainer = HLCTrainer(cfg, env, device, dist)
    if args.init_from:
        try:
            line = trainer.warm_start(args.init_from)
        except (CheckpointError, ValueError) as exc:
            return _error(f"--init-from {exc}")
        if dist.is_main:
            print(line)
    if args.demos:
        from controllers.demos import DemoError, load_demos_files

        try:
            arrays, meta = load_demos_files(args.demos)
            fit = trainer.imitate(arrays, meta, steps=args.bc_steps)
        except (DemoError, ValueError) as exc:
            return _error(f"--demos {exc}")
        cfg.demos = [str(f) for f in args.demos]
        if dist.is_main:
            print(f"fitted the actor to {', '.join(cfg.demos)}: {fit['sequences']} sequences of {fit['goals']} goals, "
                  f"{fit['samples']} steps; latent cosine {fit['fit_cos']:.3f} fitted, {fit['holdout_cos']:.3f} "
                  "on held-out goals")  # fmt: skip
            trainer.save(out / "checkpoint.pt")  # the fitted controller, before PPO (--iterations 0: only that)
            trainer.save(out / "hlc.pt", inference_only=True)
    if resume_path is not None:
        if problem := resume_into(trainer, resume_path, dist):
            return _error(problem)
        if cfg.bc_coef > 0 and cfg.demos:  # the behaviour-cloning term needs its demonstrations again
            from controllers.demos import DemoError, load_demos_files

            try:
                trainer.set_demos(*load_demos_files(cfg.demos))
            except (DemoError, ValueError) as exc:
                return _error(f"{resume_path}: its behaviour-cloning term's demonstrations: {exc}")
    if dist.is_main:
        ranks = f"{dist.world_size} x " if dist.active else ""
        print(
            f"training HLC {cfg.task!r} on {cfg.llc} ({cfg.preset} preset, {ranks}{cfg.num_envs} envs, "
            f"{cfg.batch_size * dist.world_size} samples/iteration) -> {out}/checkpoint.pt, {out}/hlc.pt; "
            f"TensorBoard: tensorboard --logdir {out}/tb"
        )
    return run_to_end(trainer, "hlc", out, args.iterations, dist, progress=not args.no_progress)
