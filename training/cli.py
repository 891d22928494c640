"""`python launch.py train llc ...`: train a low-level controller (`train hlc`: training/hlc_cli.py).

    python launch.py train llc --motions datasets/deepmimic_core.yaml \\
        --preset cpu --envs 256 --out runs/llc
    python launch.py train llc --resume runs/llc/checkpoint.pt      # continue exactly where it stopped

Writes under --out: checkpoint.pt (resume: weights, optimizer, normalizers, counters, RNGs, buffers),
llc.pt (inference only, for the viewer and export), tb/ (TensorBoard scalars) and, with --snapshot-every N,
snapshots/llc_<samples>.pt (llc.pt kept every N iterations: evaluate them and pick one).

--device cuda[:K] puts the physics (MuJoCo Warp) and the networks, buffers and update (torch) on that GPU;
under torchrun rank r uses cuda:LOCAL_RANK. Checkpoints do not depend on the device: a run resumes on any.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import cli_common
from controllers.checkpoint import CheckpointError, read_checkpoint, trusting_checkpoints
from training import ppo
from training.config import PRESETS, LLCConfig
from training.precision import cpu_bf16_native
from training.runner import checkpoint_to_resume, network_device, resume_into, run_to_end

DEFAULT_MOTIONS = Path(__file__).resolve().parent.parent / "datasets" / "deepmimic_core.yaml"
SKILL_MOTIONS = DEFAULT_MOTIONS.parent / "deepmimic_skills.yaml"
# (env, env_index) -> an object with update(info) -> bool and close(): the `--watch` window
WatcherFactory = Callable[[Any, int], Any]


def _error(msg: str) -> int:
    return cli_common.error("train", msg)


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="launch.py train llc", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--motions",
        help=f"clip, dataset (.yaml / DeepMimic .txt) or folder of clips (default: {DEFAULT_MOTIONS})",
    )
    cli_common.add_training_flags(p, list(PRESETS), "llc")
    p.add_argument("--envs", type=int, help="number of environments (preset default: cpu 256, reference 4096)")
    p.add_argument("--character", help="humanoid (default) or humanoid_sword_shield")
    p.add_argument("--samples", type=float, help="total environment samples to train for (e.g. 5e7)")
    p.add_argument(
        "--out",
        help="output folder for checkpoints and TensorBoard (default runs/llc; on resume the checkpoint's folder)",
    )
    p.add_argument(
        "--snapshot-every", type=int, metavar="N",
        help="also keep the inference weights every N iterations as snapshots/llc_<samples>.pt (a policy drifts "
        "between checkpoints: evaluate the snapshots and pick one; 0: none)",
    )  # fmt: skip
    p.add_argument("--env-threads", type=int, default=0, help="physics threads (0: all cores)")
    p.add_argument(
        "--hidden",
        type=cli_common.layer_sizes,
        metavar="N,N,...",
        help="hidden layer sizes of actor, critic and discriminator/encoder (preset default: cpu 512,256; "
        "reference 1024,1024,512)",
    )
    p.add_argument(
        "--horizon", type=int, metavar="STEPS",
        help="steps per environment per iteration (preset default 32); the batch is envs x horizon; may change on "
        "resume: a larger batch per update with the same environments",
    )  # fmt: skip
    p.add_argument(
        "--minibatch", type=int, metavar="SAMPLES",
        help="samples per gradient step (preset default: cpu 4096, reference 16384; must divide the batch); the "
        "discriminator takes a quarter of it from each of dataset, rollout and replay; may change on resume",
    )  # fmt: skip
    p.add_argument(
        "--no-bf16",
        action="store_true",
        help="float32 everywhere (the cpu preset autocasts to bf16 where the CPU has it in hardware; "
        "may change on resume)",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set a training setting of LLCConfig (training/config.py), e.g. div_coef=0.05 or "
        "low_style_termination=false; repeatable; applies on --resume too (an A/B from a shared start)",
    )
    p.add_argument(
        "--skills", action="store_true",
        help="train a skill LLC: every clip of --motions is a named skill with its own anchor latent (default "
        "motions then: datasets/deepmimic_skills.yaml); a conditional discriminator, a supervised encoder and "
        "tracking shaping tie each anchor to its clip (training/skills.py)",
    )  # fmt: skip
    p.add_argument(
        "--init-from", metavar="CHECKPOINT",
        help="a new run starts from this LLC state's weights and normalizers (a fresh optimizer, counters at 0), "
        "e.g. a skill LLC from checkpoints/llc_ase_state.pt",
    )  # fmt: skip
    cli_common.add_trust_pickle(p)
    cli_common.add_trust_checkpoint(p, "--resume, --init-from")
    p.add_argument(
        "--write-compact",
        metavar="PATH",
        help="with --resume: write the run's compact resumable state (no dataset/replay windows, ~20 MB for the "
        "cpu preset; what checkpoints/ commits) to PATH and exit",
    )
    p.add_argument(
        "--watch",
        nargs="?",
        type=int,
        const=0,
        metavar="ENV",
        help="show training environment ENV (default 0) live in a window, from the simulation the trainer steps",
    )
    return p.parse_args(argv)


def build_config(args: argparse.Namespace) -> LLCConfig:
    over: dict = {"character": args.character or "humanoid", "seed": args.seed or 0, "out_dir": args.out or "runs/llc"}
    if args.motions:
        over["motions"] = str(args.motions)
    if args.envs is not None:
        over["num_envs"] = args.envs
    if args.samples is not None:
        over["total_samples"] = int(args.samples)
    for name in ("checkpoint_every", "snapshot_every", "lr", "epochs", "horizon"):
        if getattr(args, name) is not None:
            over[name] = getattr(args, name)
    if args.minibatch is not None:
        over["minibatch_size"] = args.minibatch
    if args.threads is not None:
        over["torch_threads"] = args.threads
    if args.no_bf16:
        over["bf16"] = False
    if args.skills:
        over["skills"] = True
        over.setdefault("motions", str(SKILL_MOTIONS))
    cfg = PRESETS[args.preset or "cpu"](**over)
    if args.skills:
        cfg.network = replace(cfg.network, conditional=True)
    if args.minibatch is not None:
        follow_minibatch(cfg)
    apply_settings(cfg, args)
    if args.hidden:
        cfg.network = replace(cfg.network, actor_hidden=args.hidden, critic_hidden=args.hidden, disc_hidden=args.hidden)
    # small runs: keep the preset's minibatch dividing the batch (a --minibatch given is checked, not changed)
    mb = cfg.ppo.minibatch_size
    if args.minibatch is None and (cfg.batch_size < mb or cfg.batch_size % mb):
        mb = min(mb, cfg.batch_size)
        while cfg.batch_size % mb:
            mb -= 1
        cfg = replace(cfg, ppo=replace(cfg.ppo, minibatch_size=mb), disc_batch=min(cfg.disc_batch, mb))
    return cfg


# what a resumed run may change (flag: setting), and what it cannot (the networks, environments and data layout)
RESUME_CHANGEABLE = {
    "samples": "total_samples",
    "checkpoint_every": "checkpoint_every",
    "snapshot_every": "snapshot_every",
    "lr": "lr",
    "threads": "torch_threads",
    "motions": "motions",
    "horizon": "horizon",
    "minibatch": "minibatch_size",
}
RESUME_FIXED = {
    "preset": "preset",
    "envs": "num_envs",
    "character": "character",
    "seed": "seed",
    "hidden": "network sizes",
    "epochs": "epochs",
}


def apply_resume_overrides(cfg: LLCConfig, args: argparse.Namespace) -> list[str]:
    """Apply the flags a resumed run may change; refuse (ValueError) flags it cannot. Returns what changed."""
    fixed = [name for name in RESUME_FIXED if getattr(args, name, None)]
    if fixed:
        flags = ", ".join(f"--{name.replace('_', '-')}" for name in fixed)
        what = ", ".join(RESUME_FIXED[name] for name in fixed)
        raise ValueError(f"{flags}: the checkpoint fixes {what}, which cannot change on resume; start a new run")
    changes, recorded_minibatch = [], cfg.ppo.minibatch_size
    for flag, name in RESUME_CHANGEABLE.items():
        value, holder = getattr(args, flag), ppo.owner(cfg, name)
        if value is None:
            continue
        value = type(getattr(holder, name))(value) if name != "motions" else str(value)
        if value != getattr(holder, name):
            changes.append(f"{name} {getattr(holder, name)} -> {value}")
            setattr(holder, name, value)
    if cfg.ppo.minibatch_size != recorded_minibatch:
        follow_minibatch(cfg, changes)
    if getattr(args, "no_bf16", False) and cfg.bf16:  # numerics only: the weights are float32 either way
        changes.append("bf16 True -> False")
        cfg.bf16 = False
    return changes + apply_settings(cfg, args)


def follow_minibatch(cfg: LLCConfig, changes: list[str] | None = None) -> None:
    """Keep the discriminator's windows per minibatch at a quarter of it (the reference's 4096 per 16384)."""
    disc = max(1, cfg.ppo.minibatch_size // 4)
    if disc != cfg.disc_batch:
        if changes is not None:
            changes.append(f"disc_batch {cfg.disc_batch} -> {disc}")
        cfg.disc_batch = disc


def setting_names(args: argparse.Namespace) -> list[str]:
    return [item.partition("=")[0].strip() for item in getattr(args, "set", None) or []]


def apply_settings(cfg: LLCConfig, args: argparse.Namespace) -> list[str]:
    """`--set NAME=VALUE` flags onto cfg; ValueError for a malformed or unknown one. Returns what changed."""
    changes = []
    for item in getattr(args, "set", None) or []:
        name, sep, text = item.partition("=")
        if not sep:
            raise ValueError(f"--set {item}: expected NAME=VALUE")
        name = ppo.flat_name(name.strip())
        old = cfg.setting(name) if name in cfg.settable() else None
        change = cfg.set_field(name, text.strip())
        if cfg.setting(name) != old:
            changes.append(change)
    return changes


def env_config(cfg: LLCConfig, seed: int, nthread: int, device: str):
    """The training environment of an LLC run: its characters, physics device and the config's resets."""
    from sim.env import EnvConfig

    return EnvConfig(
        character=cfg.character, num_envs=cfg.num_envs, seed=seed, nthread=nthread, backend=device,
        device_arrays=device.startswith("cuda"),  # on the GPU: observations and bookkeeping stay there
        reset=cfg.reset,
    )  # fmt: skip


def train_llc(argv: list[str], watcher_factory: WatcherFactory | None = None) -> int:
    """`train llc`; `watcher_factory(env, index)` opens the `--watch` window (the command line passes the
    viewer's; training/ never imports app/)."""
    args = parse_args(argv)
    if args.init_from and args.resume:
        return _error("--init-from starts a new run; it cannot go with --resume")
    with trusting_checkpoints(args.trust_checkpoint):  # --resume's and --init-from's files
        return _train_llc(args, watcher_factory)


def _train_llc(args: argparse.Namespace, watcher_factory: WatcherFactory | None) -> int:
    resume_path = None
    if args.resume:
        resume_path = checkpoint_to_resume(args.resume, args.out, "runs/llc")
        try:
            ckpt = read_checkpoint(resume_path, "llc")
        except CheckpointError as exc:
            return _error(str(exc))
        if "train" not in ckpt:
            return _error(f"{resume_path}: an inference-only checkpoint cannot resume training (use checkpoint.pt)")
        cfg = LLCConfig.from_dict(ckpt["config"])
        del ckpt
        try:
            changes = apply_resume_overrides(cfg, args)
            cfg.validate()
        except ValueError as exc:
            return _error(f"{resume_path}: {exc}")
        for change in changes:
            print(f"resume: {change}")
        out = Path(args.out) if args.out else resume_path.parent
    else:
        try:
            cfg = build_config(args)
            cfg.validate()
        except ValueError as exc:
            return _error(str(exc))
        if args.set:
            print("settings: " + ", ".join(f"{name} = {cfg.setting(name)}" for name in setting_names(args)))
        out = Path(cfg.out_dir)
    if not cfg.motions:
        cfg.motions = str(DEFAULT_MOTIONS)

    from sim.warp_backend import CudaUnavailableError
    from training.distributed import RANK_SEED_STRIDE, init_from_env, rank_device

    device = rank_device(args.device)  # torchrun with CUDA: this rank's GPU
    try:
        net_device = network_device(device)
    except (CudaUnavailableError, ValueError) as exc:
        return _error(f"--device {args.device}: {exc}")
    if cfg.bf16 and net_device == "cpu" and not cpu_bf16_native():
        print("bf16 autocast off: this CPU has no native bf16 (avx512_bf16/amx_bf16), where emulated bf16 is "
              "many times slower than float32")  # fmt: skip

    from motion.clip import MotionFileError
    from motion.library import MotionLibrary
    from sim.character import load_character
    from sim.env import HumanoidEnv
    from training.llc import LLCTrainer

    try:
        character = load_character(cfg.character)
    except (KeyError, ValueError, FileNotFoundError) as exc:
        return _error(f"unknown character {cfg.character!r} ({exc})")
    try:
        motions = MotionLibrary.from_path(cfg.motions, character, trust_pickle=args.trust_pickle)
    except (MotionFileError, FileNotFoundError, ValueError) as exc:
        return _error(f"cannot load motions: {exc}")

    dist = init_from_env(args.device)  # torchrun: join the process group; one process otherwise
    seed = cfg.seed + RANK_SEED_STRIDE * dist.rank  # each rank simulates its own characters
    try:
        env = HumanoidEnv(env_config(cfg, seed, args.env_threads, device), motions)
    except (CudaUnavailableError, ValueError) as exc:
        return _error(f"--device {args.device}: {exc}")
    try:
        trainer = LLCTrainer(cfg, env, dist, device=net_device)
    except ValueError as exc:
        return _error(str(exc))
    if resume_path is not None and (problem := resume_into(trainer, resume_path, dist)):
        return _error(problem)
    if args.init_from:
        try:
            trainer.init_from(args.init_from)
        except (CheckpointError, ValueError) as exc:
            return _error(str(exc))
        if dist.is_main:
            print(f"warm start: weights and normalizers from {args.init_from}")
    if args.write_compact:
        if resume_path is None:
            return _error("--write-compact needs --resume CHECKPOINT")
        path = trainer.save(args.write_compact, buffers=False)
        print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB): resume it with --resume {path}")
        return 0
    watcher = None
    if args.watch is not None and cfg.overlap:
        return _error("--watch draws from the rollout, which overlap runs on another thread: set overlap=false")
    if args.watch is not None:
        if not 0 <= args.watch < cfg.num_envs:
            return _error(f"--watch {args.watch}: there are {cfg.num_envs} environments (0..{cfg.num_envs - 1})")
        if watcher_factory is None:
            return _error("--watch needs the viewer: run it as `python launch.py train llc ... --watch`")
        watcher = watcher_factory(env, args.watch)
        trainer.on_env_step = lambda: watcher.update({"iteration": trainer.iteration, "samples": trainer.global_step})
    if dist.active:
        print(f"rank {dist.rank} of {dist.world_size}: {cfg.num_envs} environments, seed {seed}")
    if dist.is_main:
        print(
            f"training LLC ({cfg.preset} preset, {dist.world_size} x {cfg.num_envs} envs, "
            f"{cfg.batch_size * dist.world_size} samples/iteration) -> {out}/checkpoint.pt, {out}/llc.pt; "
            f"TensorBoard: tensorboard --logdir {out}/tb"
        )
    try:
        return run_to_end(trainer, "llc", out, args.iterations, dist, progress=not args.no_progress)
    finally:
        if watcher is not None:
            watcher.close()


def main(argv: list[str] | None = None, *, watcher_factory: WatcherFactory | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(
            "usage: launch.py train {llc,hlc} [options]\n\n  llc   train a low-level controller (ASE)\n"
            "  hlc   train a task controller on a frozen LLC (steering, speed, location, reach, strike)\n\n"
            "`launch.py train llc --help`, `launch.py train hlc --help` for options."
        )
        return 0
    kind, rest = argv[0], argv[1:]
    if kind == "llc":
        return train_llc(rest, watcher_factory)
    if kind == "hlc":
        from training.hlc_cli import train_hlc

        return train_hlc(rest)
    return _error(f"unknown controller kind {kind!r}: use `train llc` or `train hlc`")
