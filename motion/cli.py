"""`python launch.py motions download|info|convert`: fetch, inspect and convert motion data.

Exit codes: 0 ok, 1 download failed, 2 bad input. Errors are one line, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from motion.clip import MotionClip, MotionFileError
from motion.dataset import DatasetEntry, write_yaml_dataset
from motion.download import BASE_URL_ENV, DownloadError, base_url, default_dest, download
from motion.io import dataset_entries, load_clip, save_clip
from motion.library import MotionLibrary
from sim.character import CHARACTERS, Character, load_character


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="launch.py motions", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("download", help="fetch the DeepMimic humanoid3d clips (MIT), checksummed")
    d.add_argument("--dest", type=Path, default=None, help=f"target folder (default {default_dest()})")
    d.add_argument("--base-url", default=None, help=f"repository root URL (default ${BASE_URL_ENV} or {base_url()})")
    d.add_argument("--force", action="store_true", help="download again even if the files are there")
    for name, text in (("info", "summarize a clip, dataset or folder"), ("convert", "convert clips: .txt <-> .npy")):
        s = sub.add_parser(name, help=text)
        s.add_argument("input", type=Path, help="clip (.txt/.npy), dataset (.txt/.yaml) or folder")
        if name == "convert":
            s.add_argument("output", type=Path, help="output clip (.txt/.npy), or a folder when converting many")
            s.add_argument("--to", choices=("txt", "npy"), help="format when the output is a folder")
        s.add_argument("--character", choices=CHARACTERS, default=None, help="default: the first that fits")
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
        print(f"motions {args.cmd}: error: {exc}", file=sys.stderr)
        return 2


# ---- download ------------------------------------------------------------------


def _download(args) -> int:
    def progress(i: int, n: int, name: str) -> None:
        print(f"[{i + 1}/{n}] {name}", flush=True)

    try:
        res = download(args.dest, args.base_url, force=args.force, progress=progress)
    except DownloadError as exc:
        print(f"motions download: failed, nothing written: {exc}", file=sys.stderr)
        return 1
    print(f"{len(res.fetched)} files downloaded, {len(res.kept)} already present and verified, in {res.dest}")
    print("DeepMimic data (c) 2018 Xue Bin Peng, MIT license: https://github.com/xbpeng/DeepMimic")
    return 0


# ---- loading helpers -------------------------------------------------------------


def _characters(name: str | None) -> list[Character]:
    return [load_character(name)] if name else [load_character(n) for n in CHARACTERS]


def _load_entries(args) -> tuple[Character, list[MotionClip], list[DatasetEntry], list[str]]:
    """Clips of the input on the requested character, or on the first character they all fit."""
    entries = dataset_entries(args.input)
    error = None
    fits = []
    result = None
    for ch in _characters(args.character):
        try:
            clips = [load_clip(e.file, ch, trust_pickle=args.trust_pickle, loop=e.loop) for e in entries]
        except MotionFileError as exc:
            error = error or exc
            continue
        fits.append(ch.name)
        result = result or (ch, clips)
    if result is None:
        raise error
    return result[0], result[1], entries, fits


# ---- info ----------------------------------------------------------------------


def _clip_stats(lib: MotionLibrary, i: int) -> dict:
    c = lib.clips[i]
    s = lib.sample(np.full(c.num_frames, i), c.times)
    root_speed = np.linalg.norm(s.qvel[:, 0:2], axis=-1)
    joint_rate = np.abs(s.qvel[:, 6:]).max() if s.qvel.shape[1] > 6 else 0.0
    return {
        "clip": c.name,
        "frames": str(c.num_frames),
        "fps": f"{c.fps:.2f}" + ("" if c.uniform else "*"),
        "duration": f"{c.duration:.3f}s",
        "loop": "yes" if c.loop else "no",
        "weight": f"{lib.weights[i]:.3f}",
        "root z": f"{c.root_pos[:, 2].min():.2f}-{c.root_pos[:, 2].max():.2f}",
        "root speed": f"{root_speed.mean():.2f} (max {root_speed.max():.2f}) m/s",
        "max joint rate": f"{joint_rate:.1f} rad/s",
    }


def _info(args) -> int:
    ch, clips, entries, fits = _load_entries(args)
    lib = MotionLibrary(ch, clips, [e.weight for e in entries])
    rows = [_clip_stats(lib, i) for i in range(lib.num_clips)]
    print(
        f"{args.input}: {len(rows)} clip(s), {lib.durations.sum():.2f} s in all; fits character(s): {', '.join(fits)}"
    )
    try:
        from rich.console import Console
        from rich.table import Table

        table = Table(*rows[0].keys())
        for r in rows:
            table.add_row(*r.values())
        Console(width=200).print(table)
    except ImportError:
        keys = list(rows[0].keys())
        widths = [max(len(k), *(len(r[k]) for r in rows)) for k in keys]
        print("  ".join(k.ljust(w) for k, w in zip(keys, widths)))
        for r in rows:
            print("  ".join(r[k].ljust(w) for k, w in zip(keys, widths)))
    if any(not c.uniform for c in clips):
        print("* uneven frame spacing (mean fps shown); .npy export resamples to even frames at that fps")
    return 0


# ---- convert -------------------------------------------------------------------


def _convert(args) -> int:
    ch, clips, entries, _ = _load_entries(args)
    out: Path = args.output
    if out.suffix.lower() in (".txt", ".npy"):
        if len(clips) != 1:
            raise ValueError(f"{args.input} holds {len(clips)} clips: give a folder as output and --to txt|npy")
        save_clip(clips[0], ch, out)
        print(f"wrote {out} ({clips[0].num_frames} frames, character {ch.name})")
        return 0
    if args.to is None:
        raise ValueError(f"{out}: give a .txt or .npy file, or a folder with --to txt|npy")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for clip, e in zip(clips, entries):
        path = out / f"{clip.name}.{args.to}"
        save_clip(clip, ch, path)
        written.append(DatasetEntry(path, e.weight, True if args.to == "npy" and clip.loop else None))
    write_yaml_dataset(written, out / "dataset.yaml")
    print(f"wrote {len(written)} clips and {out / 'dataset.yaml'} (character {ch.name})")
    return 0
