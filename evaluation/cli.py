"""`python launch.py eval`: measure LLC checkpoints on fixed seeds (CPU, a few minutes) and print a table.

    python launch.py eval                                  # checkpoints/llc.pt
    python launch.py eval --llc runs/llc/llc.pt --json eval.json
    python launch.py eval --compare A.pt B.pt [C.pt ...]   # side by side

    python launch.py eval --hlc runs/hlc_steering/hlc.pt    # task metrics beside random latents
    python launch.py eval --latent-search reach             # can the LLC do the task at all? (no HLC needed)

Metrics and their definitions: evaluation/llc.py (LLC), evaluation/tasks.py (HLC tasks).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import cli_common

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_LLC = ROOT / "checkpoints" / "llc.pt"
DEFAULT_MOTIONS = ROOT / "datasets" / "deepmimic_core.yaml"


def _error(msg: str) -> int:
    return cli_common.error("eval", msg)


def parse_args(argv: list[str]) -> argparse.Namespace:
    from tasks import parse_task_option

    p = argparse.ArgumentParser(
        prog="launch.py eval", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--llc", help=f"LLC checkpoint (default: {DEFAULT_LLC.relative_to(ROOT)} when present)")
    p.add_argument(
        "--compare", nargs="+", metavar="CKPT", help="evaluate two or more LLC checkpoints side by side (e.g. an A/B "
        "and the state both arms started from)",
    )  # fmt: skip
    p.add_argument("--hlc", help="HLC checkpoint: its task's metrics beside the same LLC with random latents")
    cli_common.add_allow_other_llc(p, "with --hlc --llc")
    p.add_argument(
        "--latent-search", metavar="TASK", help="search latent sequences for the task's goals on the LLC (--envs "
        "sequences per round): the best any HLC could reach from the default pose (evaluation/latent_search.py)",
    )  # fmt: skip
    p.add_argument("--goals", type=int, default=8, help="--latent-search: goals searched (default 8)")
    p.add_argument("--rounds", type=int, default=8, help="--latent-search: search rounds per goal (default 8)")
    p.add_argument("--hold", type=int, default=1, help="--latent-search: HLC steps each latent is held (default 1)")
    p.add_argument("--prior", metavar="HLC", help="--latent-search: start each goal's search from this task "
                   "controller's own choices (an hlc.pt), spread --prior-std, not from random latents")  # fmt: skip
    p.add_argument("--prior-std", type=float, default=0.3, help="--prior: the first round's spread (default 0.3)")
    p.add_argument("--demos", metavar="FILE", help="--latent-search: write the clean successes to this .npz (for "
                   "`train hlc --demos`); an existing file from the same search is continued")  # fmt: skip
    p.add_argument(
        "--skills", action="store_true", help="measure the LLC's named skills (or its clip presets): distinct skills "
        "by a frozen clip classifier, speeds and other signatures, transitions (evaluation/skills.py); motions "
        "default to datasets/deepmimic_skills.yaml",
    )  # fmt: skip
    p.add_argument("--rollouts", type=int, default=32, help="--skills: rollouts per skill and start (default 32)")
    p.add_argument(
        "--train-classifier", action="store_true",
        help="--skills: train the clip classifier afresh on --motions and save it beside the eval code",
    )  # fmt: skip
    p.add_argument("--motions", help=f"dataset for realism and coverage (default: {DEFAULT_MOTIONS.name})")
    p.add_argument("--envs", type=int, default=64, help="characters per measurement (default 64)")
    p.add_argument("--steps", type=int, default=300, help="control steps of the random-latent run (default 300)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    cli_common.add_device(p)
    p.add_argument(
        "--task-option", type=parse_task_option, action="append", default=[], metavar="NAME=VALUE",
        help="--hlc: judge the controller with this field of the task's config changed from the one it was "
        "trained with, e.g. fail_on_illegal_contact=1 (tasks/TASK.py)",
    )  # fmt: skip
    p.add_argument("--json", help="also write the results to this JSON file")
    cli_common.add_trust_pickle(p)
    cli_common.add_trust_checkpoint(p)
    return p.parse_args(argv)


def load_policy(path: Path) -> tuple[Any, bool]:
    """The policy, and whether its discriminator/encoder reads this code's discriminator layout.

    The policy observation has not changed across layout versions, so the actor of an older layout still
    runs; only encoder-based metrics (coverage) need the current discriminator layout."""
    from controllers.checkpoint import check_compatible, load_llc, read_checkpoint
    from sim.observations import OBS_LAYOUT_VERSION

    ckpt = read_checkpoint(path, "llc")
    version = ckpt["obs_layout_version"]
    if version not in (1, OBS_LAYOUT_VERSION):
        check_compatible(ckpt, path, None, OBS_LAYOUT_VERSION)  # raises with the file and both versions
    del ckpt
    return load_llc(path, obs_layout_version=version), version == OBS_LAYOUT_VERSION


def _untrained_like(policy: Any) -> Any:
    import torch

    from controllers.checkpoint import LLCPolicy, untrained_llc_checkpoint

    torch.manual_seed(0)
    return LLCPolicy(untrained_llc_checkpoint(policy.character, policy.network))


def _fmt(v: Any, digits: int = 2) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{v:.{digits}f}" if isinstance(v, float) else str(v)


ROWS = [
    ("upright (head > 1 m)", lambda r: r["upright"], 3),
    ("mean speed (m/s)", lambda r: r["motion"]["mean_speed"], 2),
    ("root path per 10 s (m)", lambda r: r["motion"]["path_per_10s"], 1),
    ("net displacement per 10 s (m)", lambda r: r["motion"]["net_displacement_per_10s"], 1),
    ("latent effect on actions (1 = ref. aim)", lambda r: r["motion"].get("latent_effect"), 3),
    ("get-up from fall pool within 5 s", lambda r: r["recovery_fall_pool"]["up_fraction"], 2),
    ("  median time (s)", lambda r: r["recovery_fall_pool"]["median_seconds"], 2),
    (
        "  face down / side / face up",
        lambda r: " / ".join(_fmt(v["up_fraction"]) for v in r["recovery_fall_pool"]["by_pose"].values()),
        0,
    ),
    ("shove: knocked down", lambda r: r["recovery_shove"]["knocked_down"], 2),
    ("shove: of those, up within 5 s", lambda r: r["recovery_shove"]["up_fraction"], 2),
    ("  median time (s)", lambda r: r["recovery_shove"]["median_seconds"], 2),
    ("realism: pose error (deg)", lambda r: r.get("realism", {}).get("degrees"), 1),
    ("  untrained policy (deg)", lambda r: r.get("realism", {}).get("untrained_degrees"), 1),
    ("coverage (clips)", lambda r: r.get("coverage", {}).get("fraction"), 2),
    ("held latent 5 s: travel dir p50 (deg)", lambda r: r["held_latents"]["travel_deg_p10_p50_p90"][1], 0),
    ("  p10 .. p90 (deg)", lambda r: "{:.0f} .. {:.0f}".format(*r["held_latents"]["travel_deg_p10_p50_p90"][::2]), 0),
    (
        "  turning left / right",
        lambda r: "{:.2f} / {:.2f}".format(r["held_latents"]["left"], r["held_latents"]["right"]),
        0,
    ),
    (
        "  net speed p10 .. p90 (m/s)",
        lambda r: "{:.2f} .. {:.2f}".format(*r["held_latents"]["net_speed_p10_p50_p90"][::2]),
        0,
    ),
]


def summary(r: dict) -> str:
    """One line of what a controller does, from its measurements (the viewer shows it for a bundled LLC)."""
    speed, upright = r["motion"]["mean_speed"], r["upright"]
    moves = "walks" if speed >= 0.4 else "stands, barely moves"
    parts = [f"{moves} ({speed:.1f} m/s, upright {upright:.2f} under random latents)"]
    up = r["recovery_fall_pool"]["up_fraction"]
    parts.append(f"gets up from {up:.0%} of falls within 5 s")
    cov = r.get("coverage", {}).get("fraction")
    if cov is not None:
        n = len(r["coverage"]["nearest"])
        parts.append(f"{round(cov * n)}/{n} clip presets produce their clip")
    return "; ".join(parts)


def table(results: dict[str, dict]) -> str:
    """Plain-text table, one column per checkpoint."""
    names = list(results)
    width = max(32, *(len(label) + 2 for label, _, _ in ROWS))
    grid = []
    for _label, get, digits in ROWS:
        row = []
        for n in names:
            try:
                row.append(_fmt(get(results[n]), digits))
            except (KeyError, TypeError):
                row.append("-")
        grid.append(row)
    cols = [max(12, len(n) + 2, *(len(row[i]) + 2 for row in grid)) for i, n in enumerate(names)]
    lines = ["metric".ljust(width) + "".join(n.rjust(c) for n, c in zip(names, cols, strict=True))]
    for (label, _, _), row in zip(ROWS, grid, strict=True):
        lines.append(label.ljust(width) + "".join(cell.rjust(c) for cell, c in zip(row, cols, strict=True)))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(list(sys.argv[1:] if argv is None else argv))
    from controllers.checkpoint import trusting_checkpoints

    with trusting_checkpoints(args.trust_checkpoint):
        return _main(args)


def _main(args: argparse.Namespace) -> int:
    if args.hlc:
        return eval_hlc(args)
    if args.task_option:
        return _error("--task-option changes a task controller's task: it goes with --hlc")
    if args.latent_search:
        return eval_latent_search(args)
    if args.skills:
        return eval_skills(args)
    if args.compare and args.llc:
        return _error("give either --llc or --compare, not both")
    if args.compare and len(args.compare) < 2:
        return _error("--compare needs two or more checkpoints")
    paths = [Path(p) for p in args.compare] if args.compare else [Path(args.llc) if args.llc else DEFAULT_LLC]
    if not args.llc and not args.compare and not DEFAULT_LLC.is_file():
        return _error(f"{DEFAULT_LLC.relative_to(ROOT)} does not exist yet; pass --llc PATH")
    if args.envs < 2 or args.steps < 30:
        return _error("need --envs >= 2 and --steps >= 30")

    import torch

    from controllers.checkpoint import CheckpointError
    from evaluation.llc import EvalConfig, evaluate
    from motion.clip import MotionFileError
    from motion.library import MotionLibrary
    from sim.character import load_character

    torch.set_num_threads(args.threads)
    policies = {}
    for path in paths:
        try:
            policies[path] = load_policy(path)
        except CheckpointError as exc:
            return _error(str(exc))
    characters = {p.character for p, _ in policies.values()}
    if len(characters) > 1:
        return _error(f"the checkpoints drive different characters ({', '.join(sorted(characters))})")
    character = load_character(characters.pop())
    motions_path = Path(args.motions) if args.motions else DEFAULT_MOTIONS
    try:
        motions = MotionLibrary.from_path(motions_path, character, trust_pickle=args.trust_pickle)
    except (MotionFileError, FileNotFoundError, ValueError) as exc:
        return _error(f"cannot load motions for realism and coverage: {exc}")

    from sim.warp_backend import CudaUnavailableError, warp_device

    if args.device not in ("cpu", "warp-cpu") and not args.device.startswith("cuda"):
        return _error(f"--device {args.device}: choose cpu, cuda[:K] or warp-cpu")
    if args.device != "cpu":
        try:
            warp_device("cpu" if args.device == "warp-cpu" else args.device)
        except CudaUnavailableError as exc:
            return _error(f"--device {args.device}: {exc}")
    cfg = EvalConfig(num_envs=args.envs, steps=args.steps, seed=args.seed, backend=args.device)
    results: dict[str, dict] = {}
    labels = _labels(paths)
    for path, label in zip(paths, labels, strict=True):
        policy, encoder_ok = policies[path]
        t0 = time.perf_counter()
        print(f"evaluating {path} ...", file=sys.stderr)
        res = evaluate(policy, motions, cfg, baseline=_untrained_like(policy), encoder_ok=encoder_ok)
        res["checkpoint"] = str(path)
        res["summary"] = summary(res)
        res["seconds"] = round(time.perf_counter() - t0, 1)
        results[label] = res
    print(table(results))
    for label, res in results.items():
        if "nearest" in res.get("coverage", {}):
            misses = {k: v for k, v in res["coverage"]["nearest"].items() if k != v}
            if misses:
                print(f"{label}: presets nearest another clip: " + ", ".join(f"{k} -> {v}" for k, v in misses.items()))
    if args.json:
        out = {"config": vars(cfg), "motions": str(motions_path), "results": results}
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(out, indent=2, default=float))
        print(f"wrote {args.json}")
    return 0


def eval_skills(args: argparse.Namespace) -> int:
    """`eval --skills`: evaluation/skills.py on one LLC."""
    if args.rollouts < 1:
        return _error("--rollouts must be at least 1")
    path = Path(args.llc) if args.llc else DEFAULT_LLC
    import torch

    from controllers.checkpoint import CheckpointError
    from evaluation import skills as S
    from motion.clip import MotionFileError
    from motion.library import MotionLibrary
    from sim.character import load_character
    from sim.env import EnvConfig, HumanoidEnv, ResetConfig

    torch.set_num_threads(args.threads)
    try:
        policy, _ = load_policy(path)
    except CheckpointError as exc:
        return _error(str(exc))
    motions_path = Path(args.motions) if args.motions else ROOT / "datasets" / "deepmimic_skills.yaml"
    try:
        motions = MotionLibrary.from_path(motions_path, load_character(policy.character), args.trust_pickle)
    except (MotionFileError, FileNotFoundError, ValueError) as exc:
        return _error(f"cannot load motions for the skills: {exc}")
    env = HumanoidEnv(EnvConfig(num_envs=2, reset=ResetConfig(mode="default")), motions)
    window_dim = env.amp_obs_dim * env.num_amp_frames
    classifier = None if args.train_classifier else S.load_classifier(motions.clip_names, window_dim)
    if classifier is None:
        print(f"training the clip classifier on {motions_path.name} ...", file=sys.stderr)
        classifier, accuracy = S.train_classifier(env)
        print(f"classifier accuracy on clean dataset windows: {accuracy:.3f}", file=sys.stderr)
        if args.train_classifier or motions_path.resolve() == (ROOT / "datasets" / "deepmimic_skills.yaml"):
            S.save_classifier(classifier, motions.clip_names, accuracy)
            print(f"saved {S.CLASSIFIER_PATH.relative_to(ROOT)}", file=sys.stderr)
    cfg = S.SkillEvalConfig(rollouts=args.rollouts, seed=args.seed)
    t0 = time.perf_counter()
    res = S.evaluate_skills(policy, motions, cfg, classifier)
    res["checkpoint"], res["seconds"] = str(path), round(time.perf_counter() - t0, 1)
    print(S.skills_summary(res))
    if args.json:
        write_skills_card(Path(args.json), {"config": vars(cfg), "motions": str(motions_path), **res})
    return 0


def write_skills_card(path: Path, skills: dict) -> None:
    """Put `eval --skills` results into a JSON card: beside `eval --json`'s results when the file holds them (the
    viewer's one-line summary then starts with the distinct skills), else a card of their own."""
    card: dict = {}
    if path.is_file():
        try:
            card = json.loads(path.read_text())
        except ValueError:
            card = {}
    card = card if isinstance(card, dict) else {}
    card["skills"] = skills
    line = f"{len(skills['distinct'])} of {len(skills['skills'])} skills distinct"
    line += f" ({', '.join(skills['distinct'])})" if skills["distinct"] else ""
    for result in (card.get("results") or {}).values():
        base = str(result.get("summary", ""))
        head, sep, rest = base.partition(" | ")
        if sep and "skills distinct" in head:  # measured again: replace the earlier line
            base = rest
        result["summary"] = f"{line} | {base}" if base else line
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(card, indent=2, default=float))
    tmp.replace(path)
    print(f"wrote {path}")


def _labels(paths: list[Path]) -> list[str]:
    names = [p.stem if p.stem not in ("llc", "checkpoint") else f"{p.parent.name}/{p.stem}" for p in paths]
    if len(set(names)) < len(names):
        names = [str(p) for p in paths]
    return names


def eval_hlc(args: argparse.Namespace) -> int:
    """`eval --hlc CKPT [--llc CKPT]`: the task's metrics (evaluation/tasks.py) beside random latents."""
    if args.compare or args.envs < 2:
        return _error("--hlc takes one checkpoint (no --compare) and --envs >= 2")
    import torch

    from controllers.checkpoint import CheckpointError, load_hlc
    from evaluation.tasks import TaskEvalConfig, evaluate_hlc, table

    torch.set_num_threads(args.threads)
    try:
        hlc, llc = load_hlc(args.hlc, args.llc, allow_other_llc=args.allow_other_llc)
    except CheckpointError as exc:
        return _error(f"HLC checkpoint {exc}")
    if args.task_option:
        from tasks import task_config

        changed = {**hlc.task_config, **dict(args.task_option)}
        try:
            task_config(hlc.task, changed)
        except (ValueError, TypeError) as exc:
            return _error(f"--task-option: {exc}")
        notes = ", ".join(f"{k} {hlc.task_config.get(k)!r} -> {v!r}" for k, v in args.task_option)
        print(f"judged with the task's config changed from training's: {notes}")
        hlc.task_config = changed
    cfg = TaskEvalConfig(num_envs=args.envs, seed=args.seed)
    print(f"evaluating {args.hlc} ({hlc.task}) ...", file=sys.stderr)
    t0 = time.perf_counter()
    res = evaluate_hlc(hlc, llc, cfg)
    res.update(checkpoint=str(args.hlc), llc=hlc.llc, task_config=hlc.task_config,
               seconds=round(time.perf_counter() - t0, 1))  # fmt: skip
    print(table(res))
    _write_json(args.json, cfg, res)
    return 0


def eval_latent_search(args: argparse.Namespace) -> int:
    """`eval --latent-search TASK [--llc CKPT]`: the best latent sequences found per goal (no HLC involved)."""
    from tasks import TASKS

    if args.latent_search not in TASKS:
        return _error(f"--latent-search {args.latent_search}: choose one of {', '.join(sorted(TASKS))}")
    if args.compare or args.hlc or args.envs < 2 or min(args.goals, args.rounds, args.hold) < 1:
        return _error("--latent-search takes one LLC (--llc), --envs >= 2 and --goals, --rounds, --hold >= 1")
    llc_path = Path(args.llc) if args.llc else DEFAULT_LLC
    import torch

    from controllers.checkpoint import CheckpointError, load_llc
    from controllers.demos import DemoError
    from controllers.files import sha256_file
    from evaluation.latent_search import LatentSearchConfig, format_search, latent_search

    torch.set_num_threads(args.threads)
    try:
        llc = load_llc(llc_path)
    except CheckpointError as exc:
        return _error(str(exc))
    cfg = LatentSearchConfig(task=args.latent_search, goals=args.goals, candidates=args.envs, rounds=args.rounds,
                             hold=args.hold, seed=args.seed, demos=args.demos, prior=args.prior,
                             prior_std=args.prior_std)  # fmt: skip
    print(f"latent search on {llc_path} ({args.latent_search}) ...", file=sys.stderr)
    t0 = time.perf_counter()
    try:
        res = latent_search(llc, cfg, progress=lambda line: print(line, file=sys.stderr),
                            llc_sha256=sha256_file(llc_path))  # fmt: skip
    except (DemoError, CheckpointError, ValueError) as exc:
        return _error(str(exc))
    res.update(llc=str(llc_path), seconds=round(time.perf_counter() - t0, 1))
    print(format_search(res))
    _write_json(args.json, cfg, res)
    return 0


def _write_json(path: str | None, cfg: Any, res: dict) -> None:
    """--json: the config and the results (task evals and the latent search)."""
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps({"config": vars(cfg), "results": res}, indent=2, default=float))
        print(f"wrote {path}")
