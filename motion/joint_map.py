"""Map a file's named joints onto a character's bodies, refusing skeletons that do not match."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from motion.clip import MotionFileError
from sim.character import Character
from sim.rotations import hinge_angle, quat_from_axis_angle, quat_to_rotvec

FIXED_TOLERANCE_DEG = 2.0  # a joint fixed on the character may wobble this much in the file


def normalize_quats(path: str | Path, q: np.ndarray, what: str) -> np.ndarray:
    """Unit quaternions. DeepMimic files hold lengths from 0.58 to 1.12 (normalized on load, as DeepMimic
    does); only degenerate ones (length < 0.1 or > 10) are refused."""
    if not np.isfinite(q).all():
        frame = int(np.argwhere(~np.isfinite(q))[0][0])
        raise MotionFileError(path, f"{what} hold NaN or infinite values (first at frame {frame})")
    norm = np.linalg.norm(q, axis=-1, keepdims=True)
    bad = (norm[..., 0] < 0.1) | (norm[..., 0] > 10.0)
    if bad.any():
        idx = np.argwhere(bad)[0]
        raise MotionFileError(
            path, f"{what}: frame {idx[0]} has a quaternion of length {norm[tuple(idx)][0]:.3g}, expected 1"
        )
    return q / norm


def map_onto_character(
    path: str | Path,
    character: Character,
    names: list[str],
    local_rots: np.ndarray,
    parents: dict[str, str | None] | None = None,
    fixed_in_source: tuple[str, ...] = (),
) -> np.ndarray:
    """Rotations (F, B, 4) in the character's body order from the file's joints (F, J, 4) named `names`.

    Bodies the character keeps fixed (sword, shield, plain-humanoid wrists) and joints the file itself
    declares fixed (`fixed_in_source`) get the identity. Hinges keep only the twist about their axis.
    """
    index = {n: i for i, n in enumerate(names)}
    body_names = character.body_names
    missing = [
        b.name for b in character.bodies if b.name not in index and b.joint != "fixed" and b.name not in fixed_in_source
    ]
    if missing:
        raise MotionFileError(
            path, f"skeleton does not match character {character.name!r}: missing joints {', '.join(missing)}"
        )
    if parents is not None:
        for b in character.bodies:
            want = body_names[b.parent] if b.parent >= 0 else None
            if b.name in parents and parents[b.name] != want:
                raise MotionFileError(
                    path,
                    f"skeleton does not match character {character.name!r}: joint {b.name}'s parent is "
                    f"{parents[b.name]} in the file, {want} on the character",
                )
    frames = local_rots.shape[0]
    out = np.zeros((frames, character.num_bodies, 4))
    out[..., 0] = 1.0
    for i, b in enumerate(character.bodies):
        if b.name not in index:
            continue
        q = local_rots[:, index[b.name]]
        if b.joint == "fixed":
            worst = float(np.degrees(np.linalg.norm(quat_to_rotvec(q), axis=-1).max()))
            if worst > FIXED_TOLERANCE_DEG:
                raise MotionFileError(
                    path,
                    f"joint {b.name} moves in the file (up to {worst:.0f} degrees) but is fixed on character "
                    f"{character.name!r}",
                )
        elif b.joint == "hinge":
            axis = np.array(b.hinge_axis, dtype=np.float64)
            out[:, i] = quat_from_axis_angle(axis, hinge_angle(q, axis))
        else:
            out[:, i] = q
    return out
