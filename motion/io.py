"""Load and save clips by file type, and expand any motion path into weighted clip files.

Accepted paths: a DeepMimic clip or dataset (.txt), an ASE clip (.npy), a BVH file (.bvh,
retargeted on load and cached), a dataset YAML (.yaml/.yml, ASE's or this project's), or a
directory of clips.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from motion.ase_npy import load_npy_clip, write_npy_clip
from motion.clip import MotionClip, MotionFileError
from motion.data import deepmimic_dir
from motion.dataset import DatasetEntry, read_yaml_dataset
from motion.deepmimic import is_dataset, load_deepmimic_clip, read_deepmimic_dataset, write_deepmimic_clip
from sim.character import Character

CLIP_SUFFIXES = (".txt", ".npy", ".bvh")
DATASET_SUFFIXES = (".yaml", ".yml")


def _check_exists(path: Path) -> None:
    if not path.exists():
        raise MotionFileError(path, "file not found")


def load_clip(
    path: str | Path,
    character: Character,
    trust_pickle: bool = False,
    loop: bool | None = None,
    *,
    bone_map: str | None = None,
    retarget: bool = False,
) -> MotionClip:
    """One clip file on `character`; `loop` overrides the file's flag.

    .txt DeepMimic and .npy ASE clips load as they are (a .npy of another skeleton is refused unless
    `retarget`); .bvh files are retargeted (joint map `bone_map`: a preset or a YAML path; default: the
    first preset that fits) and cached (motion/retarget_io.py)."""
    path = Path(path)
    _check_exists(path)
    suffix = path.suffix.lower()
    if suffix == ".txt":
        if is_dataset(path):
            raise MotionFileError(path, "is a DeepMimic dataset, not a clip (load it with MotionLibrary.from_path)")
        clip = load_deepmimic_clip(path, character)
    elif suffix == ".bvh" or (suffix == ".npy" and retarget):
        from motion.retarget_io import ImportOptions, load_retargeted

        clip = load_retargeted(path, character, ImportOptions(bone_map=bone_map, trust_pickle=trust_pickle))
    elif suffix == ".npy":
        clip = load_npy_clip(path, character, trust_pickle=trust_pickle)
    else:
        raise MotionFileError(path, f"unknown clip format {suffix or '(no extension)'}: expected .txt, .npy or .bvh")
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
    suffix = path.suffix.lower()
    if suffix == ".bvh":
        return True
    if suffix == ".npy":
        try:  # poselib clips are pickled objects; a plain array is something else
            with open(path, "rb") as f:
                version = np.lib.format.read_magic(f)
                read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                return bool(read(f)[2].hasobject)
        except (OSError, ValueError):
            return True  # a broken clip: let loading report it
    if suffix != ".txt":
        return False
    try:
        return not is_dataset(path)
    except MotionFileError:
        return True  # a broken clip: let loading report it


def folder_clips(path: str | Path) -> tuple[list[Path], list[Path]]:
    """(clip files, other files) in a folder, sorted; datasets, notes and plain arrays are the others."""
    files = sorted(p for p in Path(path).iterdir() if p.is_file())
    clips = [f for f in files if _is_clip_file(f)]
    return clips, [f for f in files if f not in clips]


def dataset_entries(path: str | Path) -> list[DatasetEntry]:
    """The clip files (with weights) that `path` stands for."""
    path = Path(path)
    _check_exists(path)
    if path.is_dir():
        files = folder_clips(path)[0]
        if not files:
            raise MotionFileError(path, "directory holds no .txt, .npy or .bvh clips")
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
    raise MotionFileError(
        path, f"unknown motion format {suffix or '(no extension)'}: expected .txt, .npy, .bvh, .yaml or a folder"
    )


def load_entry(entry: DatasetEntry, character: Character, trust_pickle: bool = False) -> MotionClip:
    """The clip a dataset entry names, with its loop override, joint map, retarget flag, name and hold."""
    clip = load_clip(entry.file, character, trust_pickle, entry.loop, bone_map=entry.bone_map, retarget=entry.retarget)
    if entry.hold_frame is not None:
        clip = held_clip(clip, entry.hold_frame, entry.hold_seconds, entry.file)
    if entry.name:
        clip = dataclasses.replace(clip, name=entry.name)
    return clip


def held_clip(clip: MotionClip, frame: int, seconds: float, path: str | Path = "") -> MotionClip:
    """A looping static clip: `frame` of `clip` held for `seconds` at 30 frames/s (zero velocities)."""
    if frame >= clip.num_frames:
        raise MotionFileError(path, f"hold frame {frame} is beyond the clip's {clip.num_frames} frames")
    n = max(2, int(round(seconds * 30)) + 1)
    return dataclasses.replace(
        clip,
        name=f"{clip.name}_hold{frame}",
        root_pos=np.repeat(clip.root_pos[frame : frame + 1], n, axis=0),
        rotations=np.repeat(clip.rotations[frame : frame + 1], n, axis=0),
        times=np.arange(n) / 30.0,
        loop=True,
    )
