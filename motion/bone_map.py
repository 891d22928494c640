"""Which source joint drives which character body: presets for common naming schemes and YAML maps.

A map entry is `body: Joint` or `body: [PositionJoint, RotationJoint]` when the body's joint sits at
one source joint and turns with another (the character's head starts at the neck base but turns with
the skull). Names match without case and without a namespace prefix (`mixamorig:Hips` = `hips`).

A YAML map names character bodies (see `sim/character.py`) and may start from a preset:

    extends: mixamo        # optional
    torso: [Spine1, Spine2]
    head: [Neck, Head]
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from motion.clip import MotionFileError

# Bodies every map must drive; hands are optional (the plain humanoid's wrists are fixed).
REQUIRED_BODIES = (
    "pelvis", "torso", "head",
    "right_upper_arm", "right_lower_arm", "left_upper_arm", "left_lower_arm",
    "right_thigh", "right_shin", "right_foot", "left_thigh", "left_shin", "left_foot",
)  # fmt: skip
OPTIONAL_BODIES = ("right_hand", "left_hand")

_LIMBS = {
    "right_upper_arm": "RightArm", "right_lower_arm": "RightForeArm", "right_hand": "RightHand",
    "left_upper_arm": "LeftArm", "left_lower_arm": "LeftForeArm", "left_hand": "LeftHand",
    "right_thigh": "RightUpLeg", "right_shin": "RightLeg", "right_foot": "RightFoot",
    "left_thigh": "LeftUpLeg", "left_shin": "LeftLeg", "left_foot": "LeftFoot",
}  # fmt: skip

# name -> (entries, joints that tell this scheme from the others when guessing)
PRESETS: dict[str, tuple[dict[str, str | tuple[str, str]], tuple[str, ...]]] = {
    # CMU mocap BVH (Hips, LowerBack, Spine, Spine1, Neck, Neck1, Head, ...): Spine sits mid-back
    "cmu": ({"pelvis": "Hips", "torso": ("Spine", "Spine1"), "head": ("Neck", "Head"), **_LIMBS}, ("LowerBack",)),
    # Mixamo (mixamorig:Hips, Spine, Spine1, Spine2, Neck, Head, ...)
    "mixamo": ({"pelvis": "Hips", "torso": ("Spine1", "Spine2"), "head": ("Neck", "Head"), **_LIMBS}, ("Spine2",)),
    # this project's own body names (ASE .npy skeletons)
    "character": ({b: b for b in (*REQUIRED_BODIES, *OPTIONAL_BODIES)}, ()),
}


def normalize_name(name: str) -> str:
    """'mixamorig:LeftArm' -> 'leftarm'."""
    return name.replace("|", ":").rsplit(":", 1)[-1].strip().lower()


@dataclass(frozen=True)
class BoneMap:
    name: str  # preset name or YAML path
    entries: dict[str, tuple[str, str]]  # body -> (position joint, rotation joint)
    signature: tuple[str, ...] = ()

    def missing(self, joints: list[str]) -> list[str]:
        """Mapped joints (and signature joints) absent from `joints`."""
        have = {normalize_name(j) for j in joints}
        want = [j for pr in self.entries.values() for j in pr] + list(self.signature)
        return list(dict.fromkeys(j for j in want if normalize_name(j) not in have))

    def resolve(self, joints: list[str]) -> dict[str, tuple[int, int]]:
        """body -> (position joint index, rotation joint index) in `joints` (all must be there)."""
        index = {normalize_name(j): i for i, j in enumerate(joints)}
        return {b: (index[normalize_name(p)], index[normalize_name(r)]) for b, (p, r) in self.entries.items()}


def _entry(v) -> tuple[str, str] | None:
    if isinstance(v, str) and v:
        return (v, v)
    if isinstance(v, (list, tuple)) and len(v) == 2 and all(isinstance(x, str) and x for x in v):
        return (v[0], v[1])
    return None


def preset(name: str) -> BoneMap:
    if name not in PRESETS:
        raise ValueError(f"unknown joint-map preset {name!r}; choose one of {', '.join(PRESETS)} or a .yaml file")
    entries, signature = PRESETS[name]
    return BoneMap(name, {b: _entry(v) for b, v in entries.items()}, signature)


def read_map(path: str | Path, bodies: list[str]) -> BoneMap:
    """A YAML joint map for a character whose bodies are `bodies`."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise MotionFileError(path, "joint map not found") from None
    except OSError as exc:
        raise MotionFileError(path, f"cannot read ({exc.strerror or exc})") from None
    except yaml.YAMLError as exc:
        raise MotionFileError(path, f"not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise MotionFileError(path, "expected a YAML mapping of character body -> source joint")
    data = dict(data)
    entries: dict[str, tuple[str, str]] = {}
    base = data.pop("extends", None)
    if base is not None:
        if base not in PRESETS:
            raise MotionFileError(path, f"'extends: {base}' is not a preset ({', '.join(PRESETS)})")
        entries.update(preset(base).entries)
    for body, v in data.items():
        if body not in bodies:
            raise MotionFileError(path, f"{body!r} is not a body of the character ({', '.join(bodies)})")
        e = _entry(v)
        if e is None:
            raise MotionFileError(path, f"{body}: expected a joint name or [position joint, rotation joint], got {v!r}")
        entries[body] = e
    missing = [b for b in REQUIRED_BODIES if b not in entries]
    if missing:
        raise MotionFileError(path, f"joint map does not drive {', '.join(missing)}")
    return BoneMap(str(path), entries)


MATCHED_BY_NAME = "matched by name"
MATCHED_BY_SHAPE = "matched by skeleton shape"


def choose_map(
    file: str | Path,
    joints: list[str],
    bodies: list[str],
    spec: str | Path | None = None,
    skeleton: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> BoneMap:
    """The map `spec` (a preset name or a YAML path) or, without one, the first preset that fits `joints`,
    else one matched by the joints' names, else by the skeleton's shape (motion/joint_match.py; these two
    need `skeleton` = (parents, offsets, clip positions (F, J, 3))). Errors name the file and what is
    missing."""
    if spec is not None:
        spec_s = str(spec)
        m = preset(spec_s) if spec_s in PRESETS else read_map(spec_s, bodies)
        missing = [j for j in m.missing(joints) if j not in m.signature]
        if missing:
            raise MotionFileError(
                file, f"cannot map onto the character with {m.name}: no joint {', '.join(missing)} in the file"
            )
        return m
    tried = []
    for name in PRESETS:
        m = preset(name)
        missing = m.missing(joints)
        if not missing:
            return m
        tried.append(f"{name} lacks {', '.join(missing[:4])}{' ...' if len(missing) > 4 else ''}")
    if skeleton is not None:
        from motion.joint_match import match_names, match_topology

        parents, offsets, points = skeleton
        for label, found in (
            (MATCHED_BY_NAME, lambda: match_names(joints, parents, offsets)),
            (MATCHED_BY_SHAPE, lambda: match_topology(joints, parents, offsets, points)),
        ):
            entries = found()
            if entries is not None and all(b in entries for b in REQUIRED_BODIES):
                return BoneMap(label, {b: e for b, e in entries.items() if b in bodies})
        tried.append("neither the names nor the skeleton's shape tell the limbs")
    raise MotionFileError(
        file,
        f"no joint-map preset fits its {len(joints)} joints ({'; '.join(tried)}); write a YAML map and pass --map",
    )
