"""Dataset YAML: `motions: [{file, weight}]`, paths relative to the YAML's folder.

The same format serves ASE's datasets (.npy clips) and this project's (DeepMimic .txt, .npy, BVH, or a
mix). An entry may add `loop: true|false` to override the clip's own flag (ASE and BVH clips carry
none), `map: PRESET|map.yaml` for a BVH file's joint map (a path is relative to the YAML's folder), and
`retarget: true` for a .npy clip of another skeleton, `name: NAME` to name the clip (a skill LLC's skill
names are its clips' names), and `hold: {frame: K, seconds: S}` to make a static clip of the file's frame K
held for S seconds with zero velocities (e.g. an idle pose, which no clip holds).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from motion.clip import MotionFileError


@dataclass(frozen=True)
class DatasetEntry:
    file: Path
    weight: float
    loop: bool | None = None  # None: the clip's own flag
    bone_map: str | None = None  # BVH joint map: a preset name or a YAML path
    retarget: bool = False  # .npy of another skeleton: retarget instead of refusing it
    name: str | None = None  # None: the file's stem
    hold_frame: int | None = None  # a static clip of this frame of the file ...
    hold_seconds: float = 0.0  # ... held this long


def name_some(names: list[str], shown: int = 5) -> str:
    """'a, b, c' or 'a, b, c, d, e and 37 more': error messages stay one readable line."""
    head = ", ".join(names[:shown])
    return head if len(names) <= shown else f"{head} and {len(names) - shown} more"


def _bundled_clip(name: str) -> Path | None:
    """A DeepMimic clip by file name from the folder `motion.data.deepmimic_dir` finds, so that the project's
    dataset files can name clips without saying where the user keeps them."""
    from motion.data import deepmimic_dir

    try:
        f = deepmimic_dir() / Path(name).name
    except FileNotFoundError:
        return None
    return f if f.is_file() else None


def read_yaml_dataset(path: str | Path) -> list[DatasetEntry]:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise MotionFileError(path, f"cannot read ({exc.strerror or exc})") from None
    except yaml.YAMLError as exc:
        raise MotionFileError(path, f"not valid YAML: {str(exc).splitlines()[0]}") from None
    motions = data.get("motions") if isinstance(data, dict) else None
    if not isinstance(motions, list) or not motions:
        raise MotionFileError(path, "expected a YAML dataset with a non-empty 'motions: [{file, weight}]' list")
    entries, missing = [], []
    for i, m in enumerate(motions):
        if isinstance(m, str):
            m = {"file": m}
        if not isinstance(m, dict) or "file" not in m:
            raise MotionFileError(path, f"motion {i} has no 'file'")
        weight = m.get("weight", 1.0)
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not np.isfinite(weight) or weight < 0:
            raise MotionFileError(path, f"motion {i} ({m['file']}) has an invalid weight {weight!r}")
        loop = m.get("loop")
        if loop is not None and not isinstance(loop, bool):
            raise MotionFileError(path, f"motion {i} ({m['file']}) has 'loop: {loop!r}', expected true or false")
        bone_map = m.get("map")
        if bone_map is not None:
            from motion.bone_map import PRESETS

            if not isinstance(bone_map, str) or not bone_map:
                raise MotionFileError(path, f"motion {i} ({m['file']}): 'map: {bone_map!r}' is not a preset or a path")
            if bone_map not in PRESETS:
                bone_map = str((path.parent / bone_map).resolve())
        retarget = m.get("retarget", False)
        if not isinstance(retarget, bool):
            raise MotionFileError(path, f"motion {i} ({m['file']}): 'retarget: {retarget!r}', expected true or false")
        name = m.get("name")
        if name is not None and (not isinstance(name, str) or not name.strip()):
            raise MotionFileError(path, f"motion {i} ({m['file']}): 'name: {name!r}' is not a non-empty string")
        hold_frame, hold_seconds = None, 0.0
        if "hold" in m:
            hold = m["hold"]
            ok = isinstance(hold, dict) and set(hold) <= {"frame", "seconds"}
            frame, seconds = (hold.get("frame", 0), hold.get("seconds", 2.0)) if ok else (None, None)
            if not ok or not isinstance(frame, int) or isinstance(frame, bool) or frame < 0:
                raise MotionFileError(
                    path, f"motion {i} ({m['file']}): 'hold' must be {{frame: K >= 0, seconds: S > 0}}"
                )
            if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 < seconds <= 600:
                raise MotionFileError(
                    path, f"motion {i} ({m['file']}): hold seconds must be in (0, 600], got {seconds!r}"
                )
            hold_frame, hold_seconds = frame, float(seconds)
        f = (path.parent / str(m["file"])).resolve()
        if not f.is_file():
            f = _bundled_clip(str(m["file"])) or f
        if not f.is_file():
            missing.append(str(m["file"]))
        entries.append(DatasetEntry(f, float(weight), loop, bone_map, retarget, name, hold_frame, hold_seconds))
    if missing:
        raise MotionFileError(
            path,
            f"{len(missing)} of {len(motions)} clips not found: {name_some(missing)} (paths are relative to "
            f"{path.parent}; DeepMimic clips are also looked up by name after `python launch.py motions download`)",
        )
    return entries


def write_yaml_dataset(entries: list[DatasetEntry], path: str | Path) -> None:
    """Write a dataset YAML with paths relative to its folder where possible."""
    path = Path(path)
    rows = []
    for e in entries:
        try:
            f = str(Path(e.file).resolve().relative_to(path.parent.resolve()))
        except ValueError:
            f = str(e.file)
        row = {"file": f, "weight": e.weight}
        if e.loop is not None:
            row["loop"] = e.loop
        if e.bone_map is not None:
            row["map"] = e.bone_map
        if e.retarget:
            row["retarget"] = True
        rows.append(row)
    path.write_text(yaml.safe_dump({"motions": rows}, sort_keys=False))
