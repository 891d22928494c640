"""Joint maps without a map file: by the joints' names (common naming families), else by the skeleton's shape.

By name (`match_names`): each joint name is split into words (separators, camelCase, a namespace dropped)
and a side word (`Left`/`Right`, `L`/`R`, `_l`/`_r`, `.L`/`.R`) taken out; what is left names the limb
joint, most specific first:

| body | names (any case, any side form) |
|---|---|
| thigh | UpLeg, UpperLeg, Thigh, Femur, Hip (SMPL's L_Hip; a sided hip only) |
| shin | LowerLeg, LowLeg, Calf, Shin, Knee, Tibia, Leg |
| foot | Ankle, Foot (SMPL's L_Foot is the toe: Ankle first) |
| upper arm | UpperArm, UpArm, Humerus, Arm, Shoulder (SMPL's; a clavicle where UpperArm/Arm exists) |
| lower arm | ForeArm, LowerArm, LowArm, Elbow |
| hand | Wrist, Hand |

which covers Mixamo (LeftUpLeg, LeftLeg), CMU, UpperLeg_L/LowerLeg_L (with Chest), Unreal (thigh_l,
calf_l, upperarm_l, lowerarm_l), Blender (thigh.L, shin.L, upper_arm.L, forearm.L) and SMPL (L_Hip,
L_Knee, L_Ankle, L_Shoulder, L_Elbow, L_Wrist). The rest comes from the tree: the pelvis is where the
thighs meet, the torso turns with the joint where the arms meet (the chest) and sits on the spine joint
closest to the character's own proportion between pelvis and neck; the head is [Neck, Head] (a joint
named Neck*, and one named Head*, or the end of that branch).

By shape (`match_topology`), for names none of this knows: the pelvis is the first joint with three
branches (two legs alike, the spine the largest); the chest the first joint of the spine with three
(two arms alike, the neck the rest); along each limb's longest chain, the two longest consecutive bones
are the upper and lower limb. Left is told from the clip: the foot points forward, up is the spine, left
is up x forward.
"""

from __future__ import annotations

import re

import numpy as np

SIDES = {"l": "left", "left": "left", "r": "right", "right": "right"}
# body -> base names, most specific first
LIMB_NAMES: dict[str, tuple[str, ...]] = {
    "thigh": ("upleg", "upperleg", "thigh", "femur", "legupper", "hip"),
    "shin": ("lowerleg", "lowleg", "calf", "shin", "knee", "tibia", "leglower", "leg"),
    "foot": ("ankle", "foot"),
    "upper_arm": ("upperarm", "uparm", "humerus", "armupper", "arm", "shoulder"),
    "lower_arm": ("forearm", "lowerarm", "lowarm", "elbow", "armlower"),
    "hand": ("wrist", "hand"),
}
LEG = ("thigh", "shin", "foot")
ARM = ("upper_arm", "lower_arm", "hand")
# the character's torso joint sits this far from the pelvis towards the neck base (plain humanoid: 0.236 of 0.460 m)
TORSO_FRACTION = 0.513
_WORDS = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
_NOISE = {"bip", "mixamorig", "def", "jnt", "joint", "bone", "b", "j", "ctrl", "rig"}


def words(name: str) -> list[str]:
    """'mixamorig:LeftUpLeg' -> ['left', 'up', 'leg']; 'UpperLeg_L' -> ['upper', 'leg', 'l']."""
    name = name.replace("|", ":").rsplit(":", 1)[-1]
    return [w.lower() for part in re.split(r"[\s_.\-]+", name) for w in _WORDS.findall(part)]


def side_and_base(name: str) -> tuple[str | None, str]:
    """('left' | 'right' | None, the other words joined without digits or rig noise)."""
    ws = words(name)
    side = None
    rest = []
    for w in ws:
        if w in SIDES and side is None:
            side = SIDES[w]
        elif not w.isdigit() and w not in _NOISE:
            rest.append(w)
    return side, "".join(rest)


# ---- tree helpers ---------------------------------------------------------------------------------


def _children(parents: np.ndarray, j: int) -> list[int]:
    return [int(c) for c in np.flatnonzero(parents == j)]


def _ancestors(parents: np.ndarray, j: int) -> list[int]:
    """j, its parent, ..., the root."""
    out = [j]
    while parents[out[-1]] >= 0:
        out.append(int(parents[out[-1]]))
    return out


def _common_ancestor(parents: np.ndarray, a: int, b: int) -> int:
    up = set(_ancestors(parents, b))
    return next(j for j in _ancestors(parents, a) if j in up)


def _path(parents: np.ndarray, top: int, low: int) -> list[int] | None:
    """top, ..., low along the tree, or None when low is not below top."""
    chain = _ancestors(parents, low)
    if top not in chain:
        return None
    return chain[: chain.index(top) + 1][::-1]


def _length(offsets: np.ndarray, chain: list[int]) -> np.ndarray:
    """Cumulative bone length along a chain (pose-independent)."""
    return np.concatenate([[0.0], np.cumsum([np.linalg.norm(offsets[j]) for j in chain[1:]])])


def _torso_and_head(joints, parents, offsets, pelvis: int, chest: int, neck: int, head: int) -> dict:
    """torso: [the spine joint nearest TORSO_FRACTION of pelvis -> neck, the chest]; head: [neck, head]."""
    chain = _path(parents, pelvis, neck)
    if chain is None or chest not in chain:
        return {}
    spine = chain[1 : chain.index(chest) + 1]
    if not spine:
        return {}
    along = _length(offsets, chain)
    frac = along / max(along[-1], 1e-9)
    pos = min(spine, key=lambda j: abs(frac[chain.index(j)] - TORSO_FRACTION))
    return {"torso": (joints[pos], joints[chest]), "head": (joints[neck], joints[head])}


# ---- by name ------------------------------------------------------------------------------------


def match_names(joints: list[str], parents: np.ndarray, offsets: np.ndarray) -> dict[str, tuple[str, str]] | None:
    """body -> (position joint, rotation joint) from the joints' names and the tree; None when a required
    body cannot be found (see the module doc)."""
    parents = np.asarray(parents)
    parsed = [side_and_base(j) for j in joints]
    found: dict[str, int] = {}
    for side in ("left", "right"):
        for limb in (LEG, ARM):
            top = None  # each limb joint below the previous one
            for part in limb:
                pick = None
                for base in LIMB_NAMES[part]:
                    hits = [
                        j for j, (s, b) in enumerate(parsed)
                        if s == side and b == base and j not in found.values()
                        and (top is None or top in _ancestors(parents, j)[1:])
                    ]  # fmt: skip
                    if hits:
                        pick = hits[0]
                        break
                if pick is None:
                    if part == "hand":
                        break  # hands are optional
                    return None
                found[f"{side}_{part}"] = pick
                top = pick
    pelvis = _common_ancestor(parents, found["left_thigh"], found["right_thigh"])
    chest = _common_ancestor(parents, found["left_upper_arm"], found["right_upper_arm"])
    if pelvis not in _ancestors(parents, chest) or chest in (found["left_upper_arm"], found["right_upper_arm"]):
        return None
    below_chest = [j for j in range(len(joints)) if chest in _ancestors(parents, j)[1:]]
    # the chest's branches that hold the arms, and what is left (the neck and head)
    arm_roots = {_path(parents, chest, found[k])[1] for k in ("left_upper_arm", "right_upper_arm")}
    head_side = [j for j in below_chest if not arm_roots & set(_ancestors(parents, j))]
    necks = [j for j in head_side if parsed[j][1].startswith("neck")]
    heads = [j for j in head_side if parsed[j][1].startswith("head")]
    if not heads and not necks:
        return None
    neck = necks[0] if necks else heads[0]
    head = heads[0] if heads else neck
    entries = {b: (joints[j], joints[j]) for b, j in found.items()}
    entries["pelvis"] = (joints[pelvis], joints[pelvis])
    rest = _torso_and_head(joints, parents, offsets, pelvis, chest, neck, head)
    if not rest:
        return None
    entries.update(rest)
    return entries


# ---- by shape -----------------------------------------------------------------------------------


def _subtree(parents: np.ndarray, j: int) -> list[int]:
    return [k for k in range(len(parents)) if j in _ancestors(parents, k)]


def _longest_chain(parents: np.ndarray, offsets: np.ndarray, top: int) -> list[int]:
    """top down to the leaf farthest along the bones."""
    best, best_len = [top], -1.0
    for leaf in _subtree(parents, top):
        if _children(parents, leaf):
            continue
        chain = _path(parents, top, leaf)
        n = _length(offsets, chain)[-1]
        if n > best_len:
            best, best_len = chain, n
    return best


def _limb(offsets: np.ndarray, chain: list[int]) -> list[int] | None:
    """The three joints starting the two longest consecutive bones of a chain (hip, knee, ankle)."""
    if len(chain) < 3:
        return None
    bone = [np.linalg.norm(offsets[j]) for j in chain[1:]]  # bone k runs chain[k] -> chain[k+1]
    k = max(range(len(bone) - 1), key=lambda i: bone[i] + bone[i + 1]) if len(bone) >= 2 else 0
    return chain[k : k + 3]


def _branch_split(parents: np.ndarray, node: int) -> tuple[int, list[int]] | None:
    """(the other branch, the two most alike branches by size) at a joint with three or more branches: the
    legs and the spine at the pelvis, the arms and the neck at the chest (the largest other branch when
    there are more)."""
    kids = _children(parents, node)
    if len(kids) < 3:
        return None
    size = {c: len(_subtree(parents, c)) for c in kids}
    pair = min(
        ((a, b) for i, a in enumerate(kids) for b in kids[i + 1 :]),
        key=lambda p: (abs(size[p[0]] - size[p[1]]), -min(size[p[0]], size[p[1]])),
    )
    other = max((c for c in kids if c not in pair), key=lambda c: size[c])
    return other, list(pair)


def match_topology(
    joints: list[str], parents: np.ndarray, offsets: np.ndarray, points: np.ndarray
) -> dict[str, tuple[str, str]] | None:
    """body -> (position joint, rotation joint) from the tree's shape; `points` (F, J, 3) are the joints'
    world positions in the clip (to tell left from right). None when the shape is not a humanoid's."""
    parents = np.asarray(parents)
    order = list(range(len(joints)))  # parents come first: the first joint with 3 branches is the pelvis
    pelvis = next((j for j in order if _branch_split(parents, j)), None)
    if pelvis is None:
        return None
    spine_top, legs = _branch_split(parents, pelvis)
    chest = next((j for j in _subtree(parents, spine_top) if _branch_split(parents, j)), None)
    if chest is None:
        return None
    neck_top, arms = _branch_split(parents, chest)
    leg_j = [_limb(offsets, _longest_chain(parents, offsets, t)) for t in legs]
    arm_j = [_limb(offsets, _longest_chain(parents, offsets, t)) for t in arms]
    if any(x is None for x in leg_j + arm_j):
        return None
    head_chain = _longest_chain(parents, offsets, neck_top)
    neck, head = head_chain[0], head_chain[-1]
    # left = up x forward, forward along the feet (foot -> its longest chain's end)
    up = np.median(points[:, neck] - points[:, pelvis], axis=0)
    fwd = np.zeros(3)
    for _, _, ankle in leg_j:
        toe = _longest_chain(parents, offsets, ankle)[-1]
        if toe != ankle:
            fwd += np.median(points[:, toe] - points[:, ankle], axis=0)
    left = np.cross(up, fwd)
    if np.linalg.norm(left) < 1e-9:
        return None
    leg_left = [float(np.median(points[:, hip] - points[:, pelvis], axis=0) @ left) for hip, _, _ in leg_j]
    arm_left = [float(np.median(points[:, sh] - points[:, chest], axis=0) @ left) for sh, _, _ in arm_j]
    if np.sign(leg_left[0]) == np.sign(leg_left[1]) or np.sign(arm_left[0]) == np.sign(arm_left[1]):
        return None
    entries: dict[str, tuple[str, str]] = {"pelvis": (joints[pelvis], joints[pelvis])}
    for chains, sides, parts in ((leg_j, leg_left, LEG), (arm_j, arm_left, ARM)):
        for chain, s in zip(chains, sides):
            side = "left" if s > 0 else "right"
            for part, j in zip(parts, chain):
                entries[f"{side}_{part}"] = (joints[j], joints[j])
    chest_joint = _common_ancestor(parents, arm_j[0][0], arm_j[1][0])
    rest = _torso_and_head(joints, parents, offsets, pelvis, chest_joint, neck, head)
    if not rest:
        return None
    entries.update(rest)
    return entries
