"""ASE / AMP poselib `SkeletonMotion` .npy files and their dataset YAML, read and written.

A .npy holds a pickled dict (numpy object array): `rotation` {arr: (F, J, 4) local xyzw},
`root_translation` {arr: (F, 3)}, `global_velocity`, `global_angular_velocity`, `skeleton_tree`
{node_names, parent_indices {arr}, local_translation {arr}}, `is_local`, `fps`, `__name__`.

Pickles can run arbitrary code when loaded. By default we read them with a restricted unpickler that
only rebuilds numpy arrays, dtypes, scalars and plain containers; a file that needs anything else is
refused unless the caller passes trust_pickle=True (then numpy's own loader runs, for trusted files only).
"""

from __future__ import annotations

import pickle
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from motion.clip import MotionClip, MotionFileError, resample_uniform
from motion.dataset import name_some
from motion.joint_map import map_onto_character, normalize_quats
from motion.kinematics import Skeleton, forward_kinematics
from sim.character import Character
from sim.rotations import quat_conj, quat_mul, quat_to_rotvec

_MULTIARRAY = np._core.multiarray
_SAFE_GLOBALS = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("collections", "OrderedDict"): OrderedDict,
    **{(m, "_reconstruct"): _MULTIARRAY._reconstruct for m in ("numpy.core.multiarray", "numpy._core.multiarray")},
    **{(m, "scalar"): _MULTIARRAY.scalar for m in ("numpy.core.multiarray", "numpy._core.multiarray")},
    **{(m, "_frombuffer"): np._core.numeric._frombuffer for m in ("numpy.core.numeric", "numpy._core.numeric")},
}


class _Refused(pickle.UnpicklingError):
    """The pickle names a global the safe loader does not allow."""


class _SafeUnpickler(pickle.Unpickler):
    """Rebuilds numpy arrays and plain containers only; anything else raises UnpicklingError."""

    def find_class(self, module: str, name: str):
        if (module, name) in _SAFE_GLOBALS:
            return _SAFE_GLOBALS[(module, name)]
        if module.startswith("numpy.dtypes") and name.endswith("DType"):
            return getattr(np.dtypes, name)
        raise _Refused(f"{module}.{name}")


def read_npy_dict(path: str | Path, trust_pickle: bool = False) -> dict:
    """The dict inside a poselib .npy, via the safe unpickler (or numpy's loader when trusted)."""
    path = Path(path)
    try:
        if trust_pickle:
            obj = np.load(path, allow_pickle=True)
        else:
            with open(path, "rb") as f:
                version = np.lib.format.read_magic(f)
                read_header = (
                    np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                )
                shape, _, dtype = read_header(f)
                if not dtype.hasobject:
                    raise MotionFileError(path, f"holds a plain {dtype} array of shape {shape}, not a SkeletonMotion")
                obj = _SafeUnpickler(f).load()
    except MotionFileError:
        raise
    except _Refused as exc:
        raise MotionFileError(
            path,
            f"needs the Python object {exc}, which the safe loader refuses (loading pickles can run code); "
            "pass trust_pickle=True (--trust-pickle) only if you trust this file",
        ) from None
    except FileNotFoundError:
        raise MotionFileError(path, "file not found") from None
    except Exception as exc:  # a corrupt pickle can fail in many ways; report it, never a traceback
        raise MotionFileError(path, f"not a readable .npy file (truncated or corrupt?): {exc}") from None
    if isinstance(obj, np.ndarray) and obj.dtype.hasobject and obj.shape == ():
        obj = obj.item()
    if not isinstance(obj, dict):
        raise MotionFileError(path, f"expected a pickled dict (poselib SkeletonMotion), got {type(obj).__name__}")
    return obj


def _arr(path: Path, d: dict, key: str, ndim: int, last: int | None) -> np.ndarray:
    """d[key]['arr'] (poselib's tensor dict) or d[key] as float64, with a shape check."""
    if key not in d:
        raise MotionFileError(path, f"missing '{key}'")
    v = d[key]
    v = v.get("arr") if isinstance(v, dict) else v
    try:
        a = np.asarray(v, dtype=np.float64)
    except (TypeError, ValueError):
        raise MotionFileError(path, f"'{key}' is not a numeric array") from None
    if a.ndim != ndim or (last is not None and a.shape[-1] != last):
        want = "(" + ", ".join(["N"] * (ndim - 1) + [str(last) if last else "N"]) + ")"
        raise MotionFileError(path, f"'{key}' has shape {a.shape}, expected {want}")
    return a


@dataclass(frozen=True)
class NpyMotion:
    """The parts of a SkeletonMotion this project uses (quaternions already wxyz)."""

    node_names: list[str]
    parents: dict[str, str | None]
    local_translation: np.ndarray  # (J, 3)
    rotations: np.ndarray  # (F, J, 4) wxyz, local
    root_translation: np.ndarray  # (F, 3)
    fps: float


def parse_npy(path: str | Path, trust_pickle: bool = False) -> NpyMotion:
    path = Path(path)
    d = read_npy_dict(path, trust_pickle)
    kind = d.get("__name__", "SkeletonMotion")
    if kind == "SkeletonState":
        raise MotionFileError(path, "is a SkeletonState (a single pose such as a T-pose), not a motion")
    if kind != "SkeletonMotion":
        raise MotionFileError(path, f"holds a {kind!r}, expected a SkeletonMotion")
    if not d.get("is_local", True):
        raise MotionFileError(path, "holds global rotations (is_local False); only local rotations are supported")
    tree = d.get("skeleton_tree")
    if not isinstance(tree, dict) or "node_names" not in tree:
        raise MotionFileError(path, "missing 'skeleton_tree' with 'node_names'")
    names = [str(n) for n in tree["node_names"]]
    parent_idx = _arr(path, tree, "parent_indices", 1, None).astype(np.int64)
    local_t = _arr(path, tree, "local_translation", 2, 3)
    rot = _arr(path, d, "rotation", 3, 4)
    root = _arr(path, d, "root_translation", 2, 3)
    j = len(names)
    if parent_idx.shape != (j,) or local_t.shape != (j, 3) or rot.shape[1] != j:
        raise MotionFileError(
            path,
            f"skeleton has {j} joints but parent_indices {parent_idx.shape}, local_translation {local_t.shape}, "
            f"rotation {rot.shape}",
        )
    if root.shape[0] != rot.shape[0]:
        raise MotionFileError(path, f"rotation has {rot.shape[0]} frames but root_translation {root.shape[0]}")
    if rot.shape[0] < 1:
        raise MotionFileError(path, "has no frames")
    if not np.isfinite(root).all():
        raise MotionFileError(
            path, f"root_translation holds NaN values (first at frame {np.argwhere(~np.isfinite(root))[0][0]})"
        )
    fps = d.get("fps")
    try:
        fps = float(fps)
    except (TypeError, ValueError):
        raise MotionFileError(path, f"'fps' is {fps!r}, expected a number") from None
    if not fps > 0 or not np.isfinite(fps):
        raise MotionFileError(path, f"'fps' is {fps}, expected > 0")
    wxyz = normalize_quats(path, rot[..., [3, 0, 1, 2]], "rotation")
    parents = {n: (names[p] if 0 <= p < j else None) for n, p in zip(names, parent_idx)}
    return NpyMotion(names, parents, local_t, wxyz, root, fps)


SKELETON_TOLERANCE = 0.01  # m: a bone whose offset differs more than this from the character's is refused


def skeleton_differences(m: NpyMotion, character: Character) -> list[tuple[str, float]]:
    """(bone, metres) for the file's bones whose local_translation differs from the character's offset by
    more than SKELETON_TOLERANCE, largest first. The root's translation is the clip's start, not a bone."""
    index = {n: i for i, n in enumerate(m.node_names)}
    out = []
    for b in character.bodies[1:]:
        if b.name in index:
            d = float(np.linalg.norm(m.local_translation[index[b.name]] - np.asarray(b.offset)))
            if d > SKELETON_TOLERANCE:
                out.append((b.name, d))
    return sorted(out, key=lambda x: -x[1])


def load_npy_clip(path: str | Path, character: Character, trust_pickle: bool = False, loop: bool = False) -> MotionClip:
    """An ASE .npy clip on `character`, joints mapped by name. ASE clips do not loop unless told.

    A file whose bone offsets differ from the character's (beyond SKELETON_TOLERANCE) is refused, naming
    the bones: its rotations would put the character's hands and feet elsewhere. Retarget it instead
    (`motion.retarget_io.load_retargeted`, `motions convert --retarget`)."""
    path = Path(path)
    m = parse_npy(path, trust_pickle)
    rotations = map_onto_character(path, character, m.node_names, m.rotations, parents=m.parents)
    diff = skeleton_differences(m, character)
    if diff:
        bones = name_some([f"{b} {d * 100:.1f} cm" for b, d in diff], 4)
        raise MotionFileError(
            path,
            f"skeleton differs from character {character.name!r} by more than {SKELETON_TOLERANCE * 100:.0f} cm "
            f"({bones}); retarget it: `launch.py motions convert {path.name} --retarget --to out.npy`",
        )
    times = np.arange(m.rotations.shape[0]) / m.fps
    meta = {"source_joints": len(m.node_names), "root_offset": m.local_translation[0].copy()}
    return MotionClip(path.stem, m.root_translation, rotations, times, loop, character.name, meta)


def _tensor(a: np.ndarray) -> dict:
    return {"arr": a, "context": {"dtype": a.dtype.name}}


def write_npy_clip(clip: MotionClip, character: Character, path: str | Path) -> None:
    """Write a poselib-compatible SkeletonMotion .npy (float64, xyzw). Clips with uneven frame spacing
    (some DeepMimic clips) are first resampled onto even frames at their mean fps."""
    if not clip.uniform:
        clip = resample_uniform(clip)
    skel = Skeleton.of(character)
    pos, rot = forward_kinematics(skel, clip.root_pos, clip.rotations)
    fps = clip.fps if clip.num_frames > 1 else 30.0
    if clip.num_frames > 1:  # central differences, like poselib's np.gradient-style velocities
        vel = np.gradient(pos, 1.0 / fps, axis=0)
        dq = quat_mul(rot[1:], quat_conj(rot[:-1]))
        ang = quat_to_rotvec(dq) * fps
        ang = np.concatenate([ang, ang[-1:]], axis=0)
    else:
        vel = np.zeros_like(pos)
        ang = np.zeros_like(pos)
    offsets = character.offsets.astype(np.float64)
    if clip.meta.get("root_offset") is not None:  # keep the source skeleton's pelvis translation
        offsets[0] = np.asarray(clip.meta["root_offset"], dtype=np.float64)
    tree = OrderedDict(
        node_names=list(character.body_names),
        parent_indices=_tensor(character.parents.astype(np.int64)),
        local_translation=_tensor(offsets),
    )
    d = OrderedDict(
        rotation=_tensor(np.ascontiguousarray(clip.rotations[..., [1, 2, 3, 0]])),
        root_translation=_tensor(np.ascontiguousarray(clip.root_pos)),
        global_velocity=_tensor(vel),
        global_angular_velocity=_tensor(ang),
        skeleton_tree=tree,
        is_local=True,
        fps=float(fps),
        __name__="SkeletonMotion",
    )
    with open(path, "wb") as f:  # np.save with a file handle keeps the exact name (no .npy appended)
        np.save(f, np.array(d, dtype=object), allow_pickle=True)
