"""`python launch.py motions download|info|convert`: fetch, inspect and convert motion data.

    motions info CLIP|DATASET|FOLDER           clips, joints, frames, fps; a BVH's units and map
    motions convert in.bvh --to out.npy        retarget a BVH (or `--retarget` a foreign .npy) onto the
        [--map cmu|mixamo|map.yaml] [--character NAME] [--units cm] [--up y] [--report r.json]
        [--clamp] [--preview [video.mp4]]      joints held in their limits; source and result side by side
    motions convert dataset.txt out/ --to npy  convert many clips: .txt <-> .npy

Exit codes: 0 ok, 1 download failed, 2 bad input. Errors are one line, never a traceback.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

import cli_common
from motion.bone_map import PRESETS
from motion.bvh import UNITS, UP_AXES
from motion.clip import MotionClip, MotionFileError
from motion.dataset import DatasetEntry, name_some, write_yaml_dataset
from motion.download import BASE_URL_ENV, DownloadError, base_url, default_dest, download
from motion.io import dataset_entries, folder_clips, load_entry, save_clip
from motion.library import MotionLibrary
from motion.retarget_io import ImportOptions, bvh_summary, load_retargeted, retarget_file
from sim.character import CHARACTERS, Character, load_character

OUT_FORMATS = ("txt", "npy")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="launch.py motions", description=__doc__.splitlines()[0], formatter_class=argparse.RawTextHelpFormatter
    )
    sub = p.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("download", help="fetch the DeepMimic humanoid3d clips (MIT), checksummed")
    d.add_argument("--dest", type=Path, default=None, help=f"target folder (default {default_dest()})")
    d.add_argument("--base-url", default=None, help=f"repository root URL (default ${BASE_URL_ENV} or {base_url()})")
    d.add_argument("--force", action="store_true", help="download again even if the files are there")
    texts = (("info", "summarize a clip, BVH, dataset or folder"), ("convert", "convert clips; retarget BVH files"))
    for name, text in texts:
        s = sub.add_parser(name, help=text)
        s.add_argument("input", type=Path, help="clip (.txt/.npy/.bvh), dataset (.txt/.yaml) or folder")
        if name == "convert":
            s.add_argument("output", type=Path, nargs="?", help="output clip (.txt/.npy), or a folder for many")
            s.add_argument("--to", help="output file (out.npy, out.txt), or the format (txt, npy) for a folder")
            s.add_argument("--report", type=Path, help="write the retarget report as JSON")
            s.add_argument(
                "--preview",
                nargs="?",
                const="window",
                metavar="VIDEO",
                help="show source and retargeted skeletons side by side (a window; or record VIDEO.mp4)",
            )
        s.add_argument("--character", choices=CHARACTERS, default=None, help="default: the first that fits")
        s.add_argument("--map", help=f"joint map for BVH files: {', '.join(PRESETS)} or a YAML file (default: guess)")
        s.add_argument("--units", choices=tuple(UNITS), help="BVH length unit (default: guessed from the height)")
        s.add_argument("--up", choices=UP_AXES, help="BVH up axis (default: guessed from the spine)")
        s.add_argument("--fps", type=float, help="retarget at this frame rate (default: the file's), e.g. 30")
        s.add_argument(
            "--clamp",
            action="store_true",
            help="hold every joint inside the character's limits (the IK keeps hands and feet close; the report "
            "says how far each clamp moved them)",
        )
        s.add_argument("--retarget", action="store_true", help="retarget .npy clips whose skeleton differs")
        s.add_argument(
            "--trust-pickle",
            action="store_true",
            help="allow .npy files that the safe loader refuses (pickles can run code: trusted files only)",
        )
    return p


def main(argv: list[str]) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse already printed usage and the error
        return int(exc.code or 0)
    try:
        if args.cmd == "download":
            return _download(args)
        if args.cmd == "info":
            return _info(args)
        return _convert(args)
    except (MotionFileError, ValueError, OSError) as exc:
        return cli_common.error(f"motions {args.cmd}", f"error: {exc}")


# ---- download ------------------------------------------------------------------


def _download(args) -> int:
    def progress(i: int, n: int, name: str) -> None:
        print(f"[{i + 1}/{n}] {name}", flush=True)

    try:
        res = download(args.dest, args.base_url, force=args.force, progress=progress)
    except DownloadError as exc:
        return cli_common.error("motions download", f"failed, nothing written: {exc}", 1)
    print(f"{len(res.fetched)} files downloaded, {len(res.kept)} already present and verified, in {res.dest}")
    print("DeepMimic data (c) 2018 Xue Bin Peng, MIT license: https://github.com/xbpeng/DeepMimic")
    return 0


# ---- loading helpers -------------------------------------------------------------


def _options(args, entry: DatasetEntry | None = None) -> ImportOptions:
    return ImportOptions(
        bone_map=(entry.bone_map if entry and entry.bone_map else args.map),
        units=args.units,
        up=args.up,
        trust_pickle=args.trust_pickle,
        fps=args.fps,
        clamp=args.clamp,
    )


def _needs_retarget(e: DatasetEntry, args) -> bool:
    return e.file.suffix.lower() == ".bvh" or (e.file.suffix.lower() == ".npy" and (e.retarget or args.retarget))


def _load_entries(args) -> tuple[Character, list[MotionClip], list[DatasetEntry], list[str]]:
    """Clips of the input on the requested character, or on the first character they all fit.
    Retargeted inputs (BVH, --retarget) fit any character: they go onto --character or the plain one."""
    entries = dataset_entries(args.input)
    if any(_needs_retarget(e, args) for e in entries):
        ch = load_character(args.character or "humanoid")
        clips = [
            load_retargeted(e.file, ch, _options(args, e), loop=bool(e.loop))
            if _needs_retarget(e, args)
            else load_entry(e, ch, args.trust_pickle)
            for e in entries
        ]
        return ch, clips, entries, [ch.name]
    error = None
    fits = []
    result = None
    for ch in _characters(args.character):
        try:
            clips = [load_entry(e, ch, args.trust_pickle) for e in entries]
        except MotionFileError as exc:
            error = error or exc
            continue
        fits.append(ch.name)
        result = result or (ch, clips)
    if result is None:
        raise error
    return result[0], result[1], entries, fits


def _characters(name: str | None) -> list[Character]:
    return [load_character(name)] if name else [load_character(n) for n in CHARACTERS]


# ---- info ----------------------------------------------------------------------


def _clip_stats(lib: MotionLibrary, i: int) -> dict:
    c = lib.clips[i]
    s = lib.sample(np.full(c.num_frames, i), c.times)
    root_speed = np.linalg.norm(s.qvel[:, 0:2], axis=-1)
    joint_rate = np.abs(s.qvel[:, 6:]).max() if s.qvel.shape[1] > 6 else 0.0
    row = {
        "clip": c.name,
        "joints": str(c.meta.get("source_joints", "?")),
        "frames": str(c.num_frames),
        "fps": f"{c.fps:.2f}" + ("" if c.uniform else "*"),
        "duration": f"{c.duration:.3f}s",
        "loop": "yes" if c.loop else "no",
        "weight": f"{lib.weights[i]:.3f}",
        "root z": f"{c.root_pos[:, 2].min():.2f}-{c.root_pos[:, 2].max():.2f}",
        "root speed": f"{root_speed.mean():.2f} (max {root_speed.max():.2f}) m/s",
        "max joint rate": f"{joint_rate:.1f} rad/s",
    }
    report = c.meta.get("report")
    if report:
        errs = [b["mean_cm"] for b in report["bodies"]]
        row["retarget error"] = f"{np.mean(errs):.1f} (max {max(b['max_cm'] for b in report['bodies']):.1f}) cm"
    return row


def _print_table(rows: list[dict]) -> None:
    keys = list(dict.fromkeys(k for r in rows for k in r))
    rows = [{k: r.get(k, "") for k in keys} for r in rows]
    try:
        from rich.console import Console
        from rich.table import Table

        table = Table(*keys)
        for r in rows:
            table.add_row(*r.values())
        Console(width=220).print(table)
    except ImportError:
        widths = [max(len(k), *(len(r[k]) for r in rows)) for k in keys]
        print("  ".join(k.ljust(w) for k, w in zip(keys, widths)))
        for r in rows:
            print("  ".join(r[k].ljust(w) for k, w in zip(keys, widths)))


def _bvh_info(args) -> None:
    ch = load_character(args.character or "humanoid")
    s = bvh_summary(args.input, ch, _options(args))
    guessed = " (guessed)" if s.units_guessed else ""
    print(f"{args.input}: BVH, {len(s.joints)} joints, {s.frames} frames at {s.fps:.2f} fps ({s.frames / s.fps:.2f} s)")
    print(f"  joints: {name_some(s.joints, 12)}")
    pose = "at rest" if s.rest_stands else "in the clip (its zero-channel pose does not stand)"
    print(f"  units: {s.units}{guessed}, {s.metres_per_unit:g} m per unit: {s.height_m:.2f} m tall {pose}")
    print(f"  up axis: {s.up}{' (guessed)' if s.up_guessed else ''}")
    if s.bone_map is None:
        raise MotionFileError(args.input, s.map_problem)
    print(f"  joint map: {s.bone_map}")
    for line in map_lines(s.map_entries):
        print(f"    {line}")
    if not s.rest_stands:
        print("  rest alignment: from the clip (bone directions, knee/elbow bend planes), not the zero-channel pose")


def map_lines(entries: dict[str, tuple[str, str]], width: int = 100) -> list[str]:
    """'body: Joint' (or '[Position, Rotation]') items, several to a line."""
    items = [f"{b}: {p if p == r else f'[{p}, {r}]'}" for b, (p, r) in entries.items()]
    lines, cur = [], ""
    for it in items:
        if cur and len(cur) + len(it) + 2 > width:
            lines.append(cur.rstrip(", "))
            cur = ""
        cur += it + ", "
    return lines + ([cur.rstrip(", ")] if cur else [])


def _info(args) -> int:
    if args.input.is_file() and args.input.suffix.lower() == ".bvh":
        _bvh_info(args)
    skipped = folder_clips(args.input)[1] if args.input.is_dir() else []
    ch, clips, entries, fits = _load_entries(args)
    lib = MotionLibrary(ch, clips, [e.weight for e in entries])
    rows = [_clip_stats(lib, i) for i in range(lib.num_clips)]
    print(
        f"{args.input}: {len(rows)} clip(s), {lib.durations.sum():.2f} s in all; fits character(s): {', '.join(fits)} "
        f"({ch.num_bodies} bodies, {ch.num_actuated_joints} actuated joints, {ch.num_dof} DoF)"
    )
    if skipped:
        print(f"skipped {len(skipped)} file(s) that are not clips: {name_some([f.name for f in skipped])}")
    _print_table(rows)
    if any(not c.uniform for c in clips):
        print("* uneven frame spacing (mean fps shown); .npy export resamples to even frames at that fps")
    if len(clips) == 1 and clips[0].meta.get("report"):
        print("\n".join(_report_lines(clips[0].meta["report"])))
    return 0


def _report_lines(report: dict) -> list[str]:
    from motion.retarget_report import BodyError, ClampReport, FootReport, LimitViolation, RetargetReport

    r = dict(report)
    r["bodies"] = [BodyError(**b) for b in r["bodies"]]
    r["feet"] = [FootReport(**f) for f in r["feet"]]
    r["limits"] = [LimitViolation(**v) for v in r["limits"]]
    r["clamps"] = [ClampReport(**c) for c in r.get("clamps", [])]
    return RetargetReport(**r).lines()


# ---- convert -------------------------------------------------------------------


def _output(args) -> tuple[Path, str | None]:
    """(output path, folder format or None)."""
    to = args.to
    if to is not None and to.lower() not in OUT_FORMATS:
        if args.output is not None:
            raise ValueError(f"give the output once: {args.output} or --to {to}")
        return Path(to), None
    if args.output is None:
        raise ValueError("give an output: --to out.npy|out.txt, or a folder and --to txt|npy")
    return args.output, to.lower() if to else None


def _convert(args) -> int:
    out, fmt = _output(args)
    single = args.input.is_file() and out.suffix.lower() in (".txt", ".npy")
    suffix = args.input.suffix.lower()
    if single and (suffix == ".bvh" or (suffix == ".npy" and args.retarget)):
        return _convert_retarget(args, out)
    if args.preview or args.report:
        raise ValueError("--preview and --report need one .bvh input (or a .npy with --retarget) and one output file")
    ch, clips, entries, _ = _load_entries(args)
    if out.suffix.lower() in (".txt", ".npy"):
        if len(clips) != 1:
            raise ValueError(f"{args.input} holds {len(clips)} clips: give a folder as output and --to txt|npy")
        save_clip(clips[0], ch, out)
        print(f"wrote {out} ({clips[0].num_frames} frames, character {ch.name})")
        return 0
    if fmt is None:
        raise ValueError(f"{out}: give a .txt or .npy file, or a folder with --to txt|npy")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for clip, e in zip(clips, entries):
        path = out / f"{clip.name}.{fmt}"
        save_clip(clip, ch, path)
        written.append(DatasetEntry(path, e.weight, True if fmt == "npy" and clip.loop else None))
    write_yaml_dataset(written, out / "dataset.yaml")
    print(f"wrote {len(written)} clips and {out / 'dataset.yaml'} (character {ch.name})")
    return 0


def _convert_retarget(args, out: Path) -> int:
    ch = load_character(args.character or "humanoid")
    result, report = retarget_file(args.input, ch, _options(args))
    save_clip(result.clip, ch, out)
    print("\n".join(report.lines()))
    print(f"wrote {out} ({result.clip.num_frames} frames, character {ch.name})")
    if args.report:
        args.report.write_text(json.dumps(report.to_dict(), indent=1) + "\n")
        print(f"wrote {args.report}")
    if args.preview:
        from motion.preview import preview

        video = None if args.preview == "window" else Path(args.preview)
        preview(result, ch, video)
        if video is not None:
            print(f"wrote {video}")
    return 0
