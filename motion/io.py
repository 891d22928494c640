"""Load and save clips by file type, and expand any motion path into weighted clip files.

Accepted paths: a DeepMimic clip or dataset (.txt), an ASE clip (.npy), a dataset YAML
(.yaml/.yml, ASE's or this project's), or a directory of clips.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from motion.ase_npy import load_npy_clip, write_npy_clip
from motion.clip import MotionClip, MotionFileError
from motion.data import deepmimic_dir
from motion.dataset import DatasetEntry, read_yaml_dataset
from motion.deepmimic import is_dataset, load_deepmimic_clip, read_deepmimic_dataset, write_deepmimic_clip
from sim.character import Character

CLIP_SUFFIXES = (".txt", ".npy")
DATASET_SUFFIXES = (".yaml", ".yml")


def _check_exists(path: Path) -> None:
    if not path.exists():
        raise MotionFileError(path, "file not found")


def load_clip(
    path: str | Path, character: Character, trust_pickle: bool = False, loop: bool | None = None
) -> MotionClip:
    """One clip file (.txt DeepMimic or .npy ASE) on `character`; `loop` overrides the file's flag."""
    path = Path(path)
    _check_exists(path)
    suffix = path.suffix.lower()
    if suffix == ".txt":
        if is_dataset(path):
            raise MotionFileError(path, "is a DeepMimic dataset, not a clip (load it with MotionLibrary.from_path)")
        clip = load_deepmimic_clip(path, character)
    elif suffix == ".npy":
        clip = load_npy_clip(path, character, trust_pickle=trust_pickle)
    else:
        raise MotionFileError(path, f"unknown clip format {suffix or '(no extension)'}: expected .txt or .npy")
    return clip if loop is None else dataclasses.replace(clip, loop=loop)


def save_clip(clip: MotionClip, character: Character, path: str | Path) -> None:
    """Write a clip as DeepMimic .txt or ASE .npy, by extension."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".txt":
        write_deepmimic_clip(clip, character, path)
    elif suffix == ".npy":
        write_npy_clip(clip, character, path)
    else:
        raise MotionFileError(path, f"unknown output format {suffix or '(no extension)'}: use .txt or .npy")


def _is_clip_file(path: Path) -> bool:
    if path.suffix.lower() == ".npy":
        return True
    if path.suffix.lower() != ".txt":
        return False
    try:
        return not is_dataset(path)
    except MotionFileError:
        return True  # a broken clip: let loading report it


def dataset_entries(path: str | Path) -> list[DatasetEntry]:
    """The clip files (with weights) that `path` stands for."""
    path = Path(path)
    _check_exists(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and _is_clip_file(p))
        if not files:
            raise MotionFileError(path, "directory holds no .txt or .npy clips")
        return [DatasetEntry(f, 1.0) for f in files]
    suffix = path.suffix.lower()
    if suffix in DATASET_SUFFIXES:
        return read_yaml_dataset(path)
    if suffix == ".txt" and is_dataset(path):
        try:
            search = [deepmimic_dir()]
        except FileNotFoundError:
            search = []
        return read_deepmimic_dataset(path, search)
    if suffix in CLIP_SUFFIXES:
        return [DatasetEntry(path, 1.0)]
    raise MotionFileError(path, f"unknown motion format {suffix or '(no extension)'}: expected .txt, .npy, .yaml")
