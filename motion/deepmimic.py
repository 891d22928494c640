"""DeepMimic humanoid3d clips (.txt JSON, y-up) and dataset files, read and written.

A frame is 44 numbers: [duration, root pos (3), root rot wxyz (4), chest, neck, right hip (4 each),
right knee (1), right ankle, right shoulder (4 each), right elbow (1), left hip (4), left knee (1),
left ankle, left shoulder (4 each), left elbow (1)]. The duration is the time to the next frame.
Conversion to z-up: positions (x, y, z) -> (x, -z, y); rotations q' = r q r^-1 with r = +90 degrees
about x; DeepMimic hinges turn about local z, which becomes -y, so our +y hinge angle = -angle_DM.
Wrists are fixed in DeepMimic (identity here).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from motion.clip import MotionClip, MotionFileError
from motion.dataset import DatasetEntry, name_some
from motion.joint_map import map_onto_character, normalize_quats
from sim.character import DEEPMIMIC_TO_BODY, Character
from sim.rotations import hinge_angle, quat_conj, quat_from_axis_angle, quat_mul

# (DeepMimic joint, numbers in the frame), after the duration
FRAME_LAYOUT: list[tuple[str, int]] = [
    ("root_pos", 3),
    ("root", 4),
    ("chest", 4),
    ("neck", 4),
    ("right_hip", 4),
    ("right_knee", 1),
    ("right_ankle", 4),
    ("right_shoulder", 4),
    ("right_elbow", 1),
    ("left_hip", 4),
    ("left_knee", 1),
    ("left_ankle", 4),
    ("left_shoulder", 4),
    ("left_elbow", 1),
]
FRAME_SIZE = 1 + sum(n for _, n in FRAME_LAYOUT)  # 44
FIXED_JOINTS = ("right_wrist", "left_wrist")

_R = quat_from_axis_angle(np.array([1.0, 0.0, 0.0]), np.array(np.pi / 2))  # y-up -> z-up
_HINGE_AXIS = np.array([0.0, 1.0, 0.0])


def yup_to_zup_pos(p: np.ndarray) -> np.ndarray:
    return np.stack([p[..., 0], -p[..., 2], p[..., 1]], axis=-1)


def zup_to_yup_pos(p: np.ndarray) -> np.ndarray:
    return np.stack([p[..., 0], p[..., 2], -p[..., 1]], axis=-1)


def yup_to_zup_quat(q: np.ndarray) -> np.ndarray:
    return quat_mul(quat_mul(_R, q), quat_conj(_R))


def zup_to_yup_quat(q: np.ndarray) -> np.ndarray:
    return quat_mul(quat_mul(quat_conj(_R), q), _R)


def _read_json(path: Path) -> dict:
    try:
        text = path.read_text()
    except OSError as exc:
        raise MotionFileError(path, f"cannot read ({exc.strerror or exc})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MotionFileError(path, f"not valid JSON (truncated or corrupt?): {exc.msg} at line {exc.lineno}") from None
    if not isinstance(data, dict):
        raise MotionFileError(path, "expected a JSON object with 'Frames' or 'Motions'")
    return data


def is_dataset(path: Path) -> bool:
    """True when a DeepMimic .txt is a dataset ({"Motions": [...]}) rather than a clip."""
    return "Motions" in _read_json(Path(path))


def read_frames(path: str | Path) -> tuple[np.ndarray, bool]:
    """The raw (F, 44) frame table and the loop flag, validated."""
    path = Path(path)
    data = _read_json(path)
    if "Frames" not in data:
        raise MotionFileError(path, "not a DeepMimic clip: no 'Frames' list")
    frames = data["Frames"]
    if not isinstance(frames, list) or not frames:
        raise MotionFileError(path, "'Frames' is empty or not a list")
    for i, f in enumerate(frames):
        if not isinstance(f, list):
            raise MotionFileError(path, f"frame {i} is not a list of numbers")
        if len(f) != FRAME_SIZE:
            raise MotionFileError(path, f"frame {i} has {len(f)} numbers, expected {FRAME_SIZE}")
        if not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in f):
            raise MotionFileError(path, f"frame {i} holds something other than numbers")
    table = np.array(frames, dtype=np.float64)
    if not np.isfinite(table).all():
        frame = int(np.argwhere(~np.isfinite(table))[0][0])
        raise MotionFileError(path, f"frame {frame} holds NaN or infinite values")
    loop = data.get("Loop", "none")
    if loop not in ("wrap", "none"):
        raise MotionFileError(path, f"'Loop' is {loop!r}, expected 'wrap' or 'none'")
    return table, loop == "wrap"


def load_deepmimic_clip(path: str | Path, character: Character) -> MotionClip:
    """A DeepMimic humanoid3d clip on `character` (the plain humanoid, or one that adds fixed bodies)."""
    path = Path(path)
    table, loop = read_frames(path)
    durations = table[:, 0]
    if len(table) > 1 and (durations[:-1] <= 0).any():
        i = int(np.argmax(durations[:-1] <= 0))
        raise MotionFileError(path, f"frame {i} has duration {durations[i]:g}, expected > 0")
    times = np.concatenate([[0.0], np.cumsum(durations[:-1])])  # the last frame's duration is unused
    col = 1
    names, rots = [], []
    root_pos = None
    for joint, n in FRAME_LAYOUT:
        vals = table[:, col : col + n]
        col += n
        if joint == "root_pos":
            root_pos = yup_to_zup_pos(vals)
        elif n == 4:
            rots.append(yup_to_zup_quat(normalize_quats(path, vals, f"{joint} rotations")))
            names.append(DEEPMIMIC_TO_BODY[joint][0])
        else:
            rots.append(quat_from_axis_angle(_HINGE_AXIS, -vals[:, 0]))
            names.append(DEEPMIMIC_TO_BODY[joint][0])
    fixed = tuple(DEEPMIMIC_TO_BODY[j][0] for j in FIXED_JOINTS)
    rotations = map_onto_character(path, character, names, np.stack(rots, axis=1), fixed_in_source=fixed)
    meta = {"source_joints": len(FRAME_LAYOUT) - 1 + len(FIXED_JOINTS)}  # humanoid3d: 15 joints, wrists included
    return MotionClip(path.stem, root_pos, rotations, times, loop, character.name, meta)


def write_deepmimic_clip(clip: MotionClip, character: Character, path: str | Path) -> None:
    """Write a clip as DeepMimic humanoid3d JSON. Joints DeepMimic lacks must not move (else ValueError)."""
    index = {n: i for i, n in enumerate(character.body_names)}
    known = {DEEPMIMIC_TO_BODY[j][0] for j, _ in FRAME_LAYOUT if j != "root_pos"}
    for i, b in enumerate(character.bodies):
        if b.name not in known and b.joint in ("ball", "hinge"):
            q = clip.rotations[:, i]
            if np.abs(np.abs(q[:, 0]) - 1.0).max() > 1e-6:
                raise MotionFileError(
                    path, f"DeepMimic's humanoid3d has no {b.name} joint, and clip {clip.name!r} moves it (write .npy)"
                )
    cols = [np.append(np.diff(clip.times), 0.0)[:, None]]
    for joint, n in FRAME_LAYOUT:
        if joint == "root_pos":
            cols.append(zup_to_yup_pos(clip.root_pos))
            continue
        body = DEEPMIMIC_TO_BODY[joint][0]
        if body not in index:
            raise ValueError(f"character {character.name!r} has no body {body} for DeepMimic joint {joint}")
        q = clip.rotations[:, index[body]]
        if n == 4:
            cols.append(zup_to_yup_quat(q))
        else:
            cols.append(-hinge_angle(q, _HINGE_AXIS)[:, None])
    table = np.concatenate(cols, axis=1)
    lines = [",".join(repr(float(x)) for x in row) for row in table]
    loop = "wrap" if clip.loop else "none"
    text = '{\n"Loop": "' + loop + '",\n"Frames":\n[\n[' + "],\n[".join(lines) + "]\n]\n}\n"
    Path(path).write_text(text)


def read_deepmimic_dataset(path: str | Path, search_dirs: list[Path]) -> list[DatasetEntry]:
    """Entries of a DeepMimic dataset ({"Motions": [{"Weight", "File"}]}).

    Files are named relative to DeepMimic's repository root (data/motions/x.txt): they are looked up by
    basename in the dataset's own folder, then in `search_dirs`. Missing clips are named in the error.
    """
    path = Path(path)
    data = _read_json(path)
    motions = data.get("Motions")
    if not isinstance(motions, list) or not motions:
        raise MotionFileError(path, "not a DeepMimic dataset: 'Motions' is missing or empty")
    dirs = list(dict.fromkeys(d.resolve() for d in [path.parent, *search_dirs]))
    entries, missing = [], []
    for i, m in enumerate(motions):
        if not isinstance(m, dict) or "File" not in m:
            raise MotionFileError(path, f"motion {i} has no 'File'")
        weight = m.get("Weight", 1.0)
        if not isinstance(weight, (int, float)) or weight < 0 or not np.isfinite(weight):
            raise MotionFileError(path, f"motion {i} has an invalid weight {weight!r}")
        name = Path(str(m["File"])).name
        found = next((d / name for d in dirs if (d / name).is_file()), None)
        if found is None:
            missing.append(name)
        else:
            entries.append(DatasetEntry(found, float(weight)))
    if missing:
        where = ", ".join(str(d) for d in dirs)
        n = f"{len(missing)} of {len(motions)}"
        raise MotionFileError(path, f"{n} clips not found: {name_some(missing)} (looked in {where})")
    return entries
