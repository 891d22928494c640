"""Files whose skeleton is not the character's: BVH, and ASE .npy clips of another skeleton, retargeted.

`retarget_file` runs the whole import (read, map, retarget, report). `load_retargeted` is what
datasets use: the same, cached under the user data dir keyed by the file's SHA-256, the character,
the joint map, the unit/axis overrides and RETARGET_VERSION (bumped when the method changes), so a
dataset that lists BVH files converts each once.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from motion.ase_npy import parse_npy
from motion.bone_map import PRESETS, BoneMap, choose_map
from motion.bvh import UNITS, guess_units, guess_up, posed_points, read_bvh, to_source
from motion.bvh import height as skeleton_height
from motion.clip import MotionClip, MotionFileError
from motion.data import USER_DATA_DIR
from motion.retarget import RetargetConfig, Retargeted, retarget, standing_rest
from motion.retarget_report import RetargetReport, make_report
from motion.source import SourceMotion, check_tree, resample
from sim.character import Character

RETARGET_VERSION = 2


@dataclass(frozen=True)
class ImportOptions:
    bone_map: str | None = None  # preset name or YAML path; None: the first preset that fits
    units: str | None = None  # BVH: 'm', 'cm', 'mm', 'in'; None: guessed
    up: str | None = None  # BVH: 'y' or 'z'; None: guessed
    trust_pickle: bool = False  # .npy
    fps: float | None = None  # resample the source first; None: keep its rate
    clamp: bool = False  # hold the joints inside the character's limits (RetargetConfig.clamp)

    def key(self) -> str:
        """What, besides the file, decides the result (a YAML map by its content)."""
        m = self.bone_map
        if m is not None and m not in PRESETS:
            try:
                m = hashlib.sha256(Path(m).read_bytes()).hexdigest()
            except OSError:
                pass  # reading it later reports the problem
        return json.dumps([m, self.units, self.up, self.fps] + ([True] if self.clamp else []))


@dataclass(frozen=True)
class BvhSummary:
    """What `motions info` prints about a BVH before retargeting."""

    joints: list[str]
    frames: int
    fps: float
    units: str
    metres_per_unit: float
    height_m: float
    up: str
    up_guessed: bool
    units_guessed: bool
    bone_map: str | None  # the preset or map that fits, or None
    map_problem: str  # why none fits
    map_entries: dict[str, tuple[str, str]] = field(default_factory=dict)  # body -> (position, rotation joint)
    rest_stands: bool = True  # the zero-channel pose stands (else the rest alignment comes from the clip)


def _bvh_source(path: Path, character: Character, options: ImportOptions) -> tuple[SourceMotion, BoneMap, BvhSummary]:
    data = read_bvh(path)
    bone_map, problem = None, ""
    try:
        skeleton = (data.parents, data.offsets, posed_points(data))
        bone_map = choose_map(path, data.joints, character.body_names, options.bone_map, skeleton)
    except MotionFileError as exc:
        if exc.path != str(path):  # the YAML map itself is wrong: that error names the map
            raise
        problem = exc.problem
    spine = None
    if bone_map is not None:
        j = bone_map.resolve(data.joints)
        spine = (j["pelvis"][0], j["head"][0])
    up = options.up or guess_up(data, spine)
    if options.units is not None:
        if options.units not in UNITS:
            raise ValueError(f"units must be one of {', '.join(UNITS)}, got {options.units!r}")
        units, k = options.units, UNITS[options.units]
    else:
        units, k = guess_units(data, up, spine)
    height = skeleton_height(data, up, spine) * k
    source = to_source(data, path.stem, k, up)
    standing = bone_map is None or standing_rest(source, bone_map.resolve(source.joints))
    summary = BvhSummary(
        data.joints, data.num_frames, data.fps, units, k, height, up, options.up is None, options.units is None,
        bone_map.name if bone_map else None, problem, dict(bone_map.entries) if bone_map else {},
        standing,
    )  # fmt: skip
    return source, bone_map, summary


def bvh_summary(path: str | Path, character: Character, options: ImportOptions | None = None) -> BvhSummary:
    return _bvh_source(Path(path), character, options or ImportOptions())[2]


def npy_source(path: str | Path, trust_pickle: bool = False) -> SourceMotion:
    """An ASE .npy clip as a source skeleton (z-up metres already)."""
    path = Path(path)
    m = parse_npy(path, trust_pickle)
    parents = np.array([m.node_names.index(m.parents[n]) if m.parents[n] else -1 for n in m.node_names])
    problem = check_tree(parents)
    if problem:
        raise MotionFileError(path, f"skeleton_tree: {problem}")
    frames = m.rotations.shape[0]
    local_pos = np.broadcast_to(m.local_translation, (frames, *m.local_translation.shape)).copy()
    local_pos[:, 0] = m.root_translation
    return SourceMotion(path.stem, m.node_names, parents, m.local_translation.copy(), local_pos, m.rotations, m.fps)


def retarget_file(
    path: str | Path, character: Character, options: ImportOptions | None = None, config: RetargetConfig | None = None
) -> tuple[Retargeted, RetargetReport]:
    """Read a .bvh (or a foreign-skeleton .npy), map, retarget onto `character`, report."""
    path = Path(path)
    options = options or ImportOptions()
    if not path.exists():
        raise MotionFileError(path, "file not found")
    if path.suffix.lower() == ".bvh":
        source, bone_map, summary = _bvh_source(path, character, options)
        if bone_map is None:
            raise MotionFileError(path, summary.map_problem)
    elif path.suffix.lower() == ".npy":
        source = npy_source(path, options.trust_pickle)
        bone_map = choose_map(path, source.joints, character.body_names, options.bone_map or "character")
    else:
        raise MotionFileError(path, f"cannot retarget a {path.suffix or 'extension-less'} file: expected .bvh or .npy")
    if options.fps is not None:
        if not options.fps > 0:
            raise ValueError(f"--fps must be positive, got {options.fps}")
        source = resample(source, options.fps)
    if config is None:
        config = RetargetConfig(clamp=options.clamp)
    try:
        result = retarget(source, character, bone_map, config)
    except ValueError as exc:
        raise MotionFileError(path, f"cannot retarget: {exc}") from None
    report = make_report(result, character)
    result.clip.meta.update(source_joints=source.num_joints, report=report.to_dict())
    return result, report


# ---- the cache -----------------------------------------------------------------------------------


def cache_dir() -> Path:
    return USER_DATA_DIR / "cache" / "retargeted"


def _cache_path(path: Path, character: Character, options: ImportOptions) -> Path:
    h = hashlib.sha256(path.read_bytes())
    h.update(f"|{character.name}|{options.key()}|v{RETARGET_VERSION}".encode())
    return cache_dir() / f"{path.stem}-{h.hexdigest()[:24]}.npz"


def load_retargeted(
    path: str | Path, character: Character, options: ImportOptions | None = None, loop: bool = False
) -> MotionClip:
    """A retargeted clip from the cache, or converted now and cached (plain arrays, no pickle)."""
    path = Path(path)
    options = options or ImportOptions()
    if not path.is_file():
        raise MotionFileError(path, "file not found")
    cached = _cache_path(path, character, options)
    if cached.is_file():
        try:
            with np.load(cached, allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
                return MotionClip(path.stem, z["root_pos"], z["rotations"], z["times"], loop, character.name, meta)
        except (OSError, ValueError, KeyError):
            pass  # a damaged cache entry: convert again
    clip = retarget_file(path, character, options)[0].clip
    meta = {"source_joints": clip.meta["source_joints"], "report": clip.meta["report"]}
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_name(cached.name + f".{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        np.savez(f, root_pos=clip.root_pos, rotations=clip.rotations, times=clip.times, meta=json.dumps(meta))
    os.replace(tmp, cached)
    return MotionClip(path.stem, clip.root_pos, clip.rotations, clip.times, loop, character.name, meta)
