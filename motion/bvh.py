"""BVH motion capture files, read with `bvhio` and turned into a z-up, metre SourceMotion.

Why bvhio (1.5.4) and not pybvh (0.9.0), the two maintained BVH readers on PyPI:
- bvhio reads any CHANNELS line: 3 or 6 channels on any joint (pybvh refuses position channels
  below the root and requires exactly 3 rotations per joint), any rotation order (intrinsic, in
  channel order, as BVH means it), End Sites and the frame time; small dependencies (PyGLM,
  spatial-transform) where pybvh pulls matplotlib.
- Its costs, handled here: it loops forever on a file that ends early (so the text is checked for
  a complete MOTION section first), reports problems as SyntaxError without the file's name (we
  wrap every error in one line naming the file), holds numbers as float32 (1e-7 relative) and
  builds Python objects per joint and frame (about 1 s per 100k joint-frames).

Conversion: file units -> metres (guessed from the skeleton's height, or given) and the file's up
axis (y, the BVH convention, or z; guessed from the spine) -> z-up, both applied to offsets,
translations and rotations (q' = c q c^-1). The world heading is kept as it is in the file.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from motion.clip import MotionFileError
from motion.joint_map import normalize_quats
from motion.source import SourceMotion
from sim.rotations import quat_conj, quat_from_axis_angle, quat_mul, quat_rotate

UNITS = {"m": 1.0, "cm": 0.01, "mm": 0.001, "in": 0.0254}
UP_AXES = ("y", "z")
HUMAN_HEIGHT = 1.7  # metres, for files whose unit cannot be told


@dataclass(frozen=True)
class BvhData:
    """A BVH file as written: file units and axes, rotations already quaternions (wxyz, local)."""

    path: Path
    joints: list[str]
    parents: np.ndarray  # (J,)
    offsets: np.ndarray  # (J, 3)
    channels: list[list[str]]
    local_pos: np.ndarray  # (F, J, 3)
    local_rot: np.ndarray  # (F, J, 4)
    frame_time: float
    end_sites: dict[int, np.ndarray]

    @property
    def num_frames(self) -> int:
        return int(self.local_rot.shape[0])

    @property
    def fps(self) -> float:
        return 1.0 / self.frame_time

    def rest_points(self) -> np.ndarray:
        """Rest-pose world positions of all joints and End Sites (file units)."""
        pos = np.zeros((len(self.joints), 3))
        for j, p in enumerate(self.parents):
            pos[j] = self.offsets[j] + (pos[p] if p >= 0 else 0.0)
        ends = [pos[j] + e for j, e in self.end_sites.items()]
        return np.concatenate([pos, np.array(ends).reshape(-1, 3)])


# ---- reading -------------------------------------------------------------------------------------

_FRAMES = re.compile(r"^\s*Frames:\s*(\S+)\s*$", re.MULTILINE)
_FRAME_TIME = re.compile(r"^\s*Frame\s+Time:\s*(\S+)\s*$", re.MULTILINE)
_CHANNELS = re.compile(r"^\s*CHANNELS\s+(\d+)", re.MULTILINE)


def _check_text(path: Path, text: str) -> None:
    """The checks bvhio needs done first (it never returns on a file that ends early)."""
    head = text.lstrip()[:9]
    if head.upper() != "HIERARCHY":
        raise MotionFileError(path, "not a BVH file: it does not start with HIERARCHY")
    motion = re.search(r"^\s*MOTION\s*$", text, re.MULTILINE)
    if motion is None:
        raise MotionFileError(path, "truncated or malformed BVH: no MOTION section")
    frames, frame_time = _FRAMES.search(text, motion.end()), _FRAME_TIME.search(text, motion.end())
    if frames is None or frame_time is None:
        raise MotionFileError(path, "truncated or malformed BVH: the MOTION section lacks 'Frames:' or 'Frame Time:'")
    try:
        n, dt = int(frames.group(1)), float(frame_time.group(1))
    except ValueError:
        raise MotionFileError(
            path, f"malformed BVH: 'Frames: {frames.group(1)}', 'Frame Time: {frame_time.group(1)}'"
        ) from None
    if n < 1:
        raise MotionFileError(path, "BVH has no frames")
    if not np.isfinite(dt) or dt <= 0:
        raise MotionFileError(path, f"BVH frame time is {dt:g}, expected > 0")
    lines = [ln for ln in text[frame_time.end() :].splitlines() if ln.strip()]
    if len(lines) < n:
        raise MotionFileError(path, f"truncated BVH: declares {n} frames but holds {len(lines)}")
    width = sum(int(c) for c in _CHANNELS.findall(text, 0, motion.start()))
    for i, ln in enumerate(lines[:n]):
        k = len(ln.split())
        if k != width:
            raise MotionFileError(path, f"malformed BVH: frame {i} has {k} values, the hierarchy declares {width}")


def read_bvh(path: str | Path) -> BvhData:
    """Parse a BVH file (any channel order, 3 or 6 channels per joint, End Sites). One-line errors."""
    with warnings.catch_warnings():  # PyGLM announces a rename of its module name on import
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        import bvhio

    path = Path(path)
    try:
        text = path.read_text(errors="strict")
    except FileNotFoundError:
        raise MotionFileError(path, "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MotionFileError(path, f"cannot read as text ({exc})") from None
    _check_text(path, text)
    try:
        root = bvhio.readAsBvh(str(path))
    except SyntaxError as exc:
        msg = exc.args[0] if exc.args else str(exc)
        info = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], tuple) else None
        where = f" (line {info[1]})" if info and len(info) > 1 else ""
        raise MotionFileError(path, f"malformed BVH: {msg}{where}") from None
    except Exception as exc:  # bvhio raises IndexError, ValueError, ... on odd input
        raise MotionFileError(path, f"malformed BVH: {type(exc).__name__}: {exc}") from None

    layout = root.Root.layout()  # [(joint, index, depth)] depth-first, parents first
    joints = [j for j, _, _ in layout]
    index = {id(j): i for i, j in enumerate(joints)}
    parents = np.full(len(joints), -1, dtype=np.int64)
    for j in joints:
        for c in j.Children:
            parents[index[id(c)]] = index[id(j)]
    names = [j.Name for j in joints]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise MotionFileError(path, f"BVH names several joints {dup[0]!r}")
    frames = root.FrameCount
    pos = np.empty((frames, len(joints), 3))
    rot = np.empty((frames, len(joints), 4))
    for i, j in enumerate(joints):
        if len(j.Keyframes) != frames:
            raise MotionFileError(path, f"malformed BVH: joint {j.Name} has {len(j.Keyframes)} frames, not {frames}")
        pos[:, i] = [tuple(k.Position) for k in j.Keyframes]
        rot[:, i] = [tuple(k.Rotation) for k in j.Keyframes]  # glm quats iterate as w, x, y, z
    rot = normalize_quats(path, rot, "BVH rotations")
    if not np.isfinite(pos).all():
        raise MotionFileError(path, "BVH positions hold NaN or infinite values")
    end_sites = {i: np.array(tuple(j.EndSite), dtype=np.float64) for i, j in enumerate(joints) if not j.Children}
    return BvhData(
        path=path,
        joints=names,
        parents=parents,
        offsets=np.array([tuple(j.Offset) for j in joints], dtype=np.float64),
        channels=[list(j.Channels) for j in joints],
        local_pos=pos,
        local_rot=rot,
        frame_time=float(root.FrameTime),
        end_sites=end_sites,
    )


# ---- units and axes ------------------------------------------------------------------------------


def posed_points(data: BvhData) -> np.ndarray:
    """World positions (F, J, 3) of the joints in every frame (file units and axes)."""
    from motion.source import _fk

    return _fk(data.parents, data.local_pos, data.local_rot)[0]


def _rest_stands(data: BvhData, spine: tuple[int, int]) -> bool:
    """Whether the spine (hips to neck) runs along y or z at rest (within 45 degrees). Rigs whose bones run
    along each joint's +X lie along x with zero channels: their height and up axis come from the frames."""
    rest = data.rest_points()
    d = rest[spine[1]] - rest[spine[0]]
    return max(abs(d[1]), abs(d[2])) > np.cos(np.radians(45.0)) * max(float(np.linalg.norm(d)), 1e-12)


def guess_up(data: BvhData, spine: tuple[int, int] | None = None) -> str:
    """'y' or 'z': the axis from the hips up the spine (`spine` = (hips, neck) joint indices) in the rest
    pose (in the frames, median, when the rest pose does not stand); without a spine, the axis the rest
    skeleton spans most of (y when they tie)."""
    if spine is not None:
        if _rest_stands(data, spine):
            rest = data.rest_points()
            d = rest[spine[1]] - rest[spine[0]]
        else:
            pos = posed_points(data)
            d = np.median(pos[:, spine[1]] - pos[:, spine[0]], axis=0)
        return "z" if abs(d[2]) > abs(d[1]) else "y"
    ext = np.ptp(data.rest_points(), axis=0)
    return "z" if ext[2] > 1.2 * ext[1] else "y"


def height(data: BvhData, up: str, spine: tuple[int, int] | None = None) -> float:
    """The skeleton's height along `up` (file units): at rest, or the median over the frames when the rest
    pose does not stand (see `_rest_stands`)."""
    axis = "xyz".index(up)
    if spine is None or _rest_stands(data, spine):
        return float(np.ptp(data.rest_points()[:, axis]))
    return float(np.median(np.ptp(posed_points(data)[..., axis], axis=1)))


def guess_units(data: BvhData, up: str, spine: tuple[int, int] | None = None) -> tuple[str, float]:
    """(label, metres per file unit) from the skeleton's height along `up` (`height`): a person is 1-2.5 m
    tall, so 0.3-3 units is metres, 40-100 inches, 100-300 centimetres, 1000-3000 millimetres; anything
    else is scaled to a 1.7 m person ('unknown')."""
    h = height(data, up, spine)
    for label, lo, hi in (("m", 0.3, 3.0), ("in", 40.0, 100.0), ("cm", 100.0, 300.0), ("mm", 1000.0, 3000.0)):
        if lo <= h < hi:
            return label, UNITS[label]
    return "unknown", HUMAN_HEIGHT / h if h > 0 else 1.0


def _to_zup(up: str) -> np.ndarray:
    """The rotation taking the file's up axis to +z: y-up (x, y, z) -> (x, -z, y) is +90 degrees about x."""
    if up == "z":
        return np.array([1.0, 0.0, 0.0, 0.0])
    return quat_from_axis_angle(np.array([1.0, 0.0, 0.0]), np.array(np.pi / 2))


def to_source(data: BvhData, name: str, metres_per_unit: float, up: str) -> SourceMotion:
    """The file's motion in z-up metres."""
    if up not in UP_AXES:
        raise ValueError(f"up axis must be one of {', '.join(UP_AXES)}, got {up!r}")
    c = _to_zup(up)
    k = float(metres_per_unit)

    def vec(v: np.ndarray) -> np.ndarray:
        return quat_rotate(np.broadcast_to(c, v.shape[:-1] + (4,)), v) * k

    rot = quat_mul(quat_mul(c, data.local_rot), quat_conj(c))
    return SourceMotion(
        name=name,
        joints=list(data.joints),
        parents=data.parents.copy(),
        offsets=vec(data.offsets),
        local_pos=vec(data.local_pos),
        local_rot=rot,
        fps=data.fps,
        end_sites={j: vec(e) for j, e in data.end_sites.items()},
    )
