"""Retarget a source skeleton's motion onto a character: rest-pose alignment, scale, IK, ground.

1. Scale: the source is scaled by the character's leg length (hip-knee-ankle) over the source's, so
   strides, root path and jump heights keep their proportion to the legs.
2. Rest alignment: for each mapped body, a constant rotation Q_b such that the character body's world
   rotation is R_src(t) Q_b. Q_b is fitted in the rest poses from bone directions (Kabsch over the
   body's mapped children; one child: the smallest swing after the parent's alignment; none: the
   parent's), so any rest pose works (T, A, bent elbows) as long as hands, feet and head are
   neutral relative to their parent bone in it.
3. IK (mink, on the character's own MJCF): per frame, position targets at the scaled source joints
   (the pelvis: between the source's hips) and orientation targets R_src Q_b for every mapped body,
   a light posture task towards the direct rotation copy (which settles what positions leave open,
   like a forearm's twist), hinge and ball-cone limits. Gauss-Newton steps (dt = 1) from the direct
   copy until the step is small.
4. Ground: source foot contacts (a foot joint near the source's floor and slow) pin the character's
   lowest contact-foot point to z = 0 (smoothed, interpolated between contacts) by moving the root
   height. A foot still in the ground gets its target raised and the frame is solved again (the
   legs lift it); what is left lifts the root. Heading and path are kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from motion.bone_map import BoneMap
from motion.clip import MotionClip
from motion.kinematics import Skeleton, forward_kinematics, from_qpos, to_qpos
from motion.source import SourceMotion
from sim.character import Character
from sim.rotations import hinge_angle, quat_conj, quat_from_axis_angle, quat_mul, quat_rotate, quat_to_rotvec

# IK costs per body: (position per metre, orientation per radian)
DEFAULT_COSTS: dict[str, tuple[float, float]] = {
    "pelvis": (10.0, 2.0),
    "torso": (2.0, 2.0),
    "head": (2.0, 1.0),
    "right_upper_arm": (4.0, 0.5),
    "left_upper_arm": (4.0, 0.5),
    "right_lower_arm": (4.0, 0.5),
    "left_lower_arm": (4.0, 0.5),
    "right_hand": (4.0, 0.5),
    "left_hand": (4.0, 0.5),
    "right_thigh": (6.0, 0.5),
    "left_thigh": (6.0, 0.5),
    "right_shin": (6.0, 0.5),
    "left_shin": (6.0, 0.5),
    "right_foot": (10.0, 1.0),
    "left_foot": (10.0, 1.0),
}


@dataclass(frozen=True)
class RetargetConfig:
    scale: float | None = None  # None: leg length ratio
    iterations: int = 20  # most IK steps per frame
    step_tolerance: float = 1e-4  # stop a frame when the step's norm is below this
    posture_cost: float = 0.05
    damping: float = 1e-3
    costs: dict[str, tuple[float, float]] = field(default_factory=lambda: dict(DEFAULT_COSTS))
    ground: bool = True
    contact_height: float = 0.03  # m above the source's floor (scaled) for a foot to count as in contact
    contact_speed: float = 0.5  # m/s
    ground_rounds: int = 4  # IK rounds that lift a foot out of the ground before the root is lifted
    rest: str = "auto"  # rest alignment from the file's zero-channel pose ("file") or the clip ("clip"); auto:
    # the file's when it stands (motion.retarget.standing_rest)
    clamp: bool = False  # hold every joint inside the character's limits, the IK keeping the end effectors close


@dataclass
class Retargeted:
    """The clip, and what the report and preview need."""

    clip: MotionClip
    source: SourceMotion
    scale: float
    bone_map: BoneMap
    bodies: list[str]  # mapped bodies
    targets: np.ndarray  # (F, len(bodies), 3) scaled source positions of their joints, ground shift included
    target_rot: np.ndarray  # (F, len(bodies), 4) their target world rotations
    source_pos: np.ndarray  # (F, J, 3) scaled source joints, ground shift included
    contacts: dict[str, np.ndarray]  # foot body -> (F,) bool, from the source
    ground_shift: np.ndarray  # (F,) root height added by the ground step
    iterations: float  # mean IK steps per frame
    rest: str = "file"  # where the rest alignment came from: the file's zero-channel pose, or the clip
    clamps: list[Clamp] = field(default_factory=list)  # joints held inside their limits (config.clamp)


# ---- small rotation helpers ----------------------------------------------------------------------


def _quat_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Smallest rotation taking direction a to direction b."""
    a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)
    d = float(a @ b)
    if d < -1.0 + 1e-9:  # opposite: half a turn about any perpendicular axis
        axis = np.cross(a, [1.0, 0.0, 0.0] if abs(a[0]) < 0.9 else [0.0, 1.0, 0.0])
        return np.concatenate([[0.0], axis / np.linalg.norm(axis)])
    q = np.concatenate([[1.0 + d], np.cross(a, b)])
    return q / np.linalg.norm(q)


def _matrix_to_quat(m: np.ndarray) -> np.ndarray:
    import mujoco

    q = np.empty(4)
    mujoco.mju_mat2Quat(q, np.ascontiguousarray(m, dtype=np.float64).ravel())
    return q


def _kabsch(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Rotation (quaternion) R minimizing sum |R a_i - b_i|^2 over unit vectors (rows)."""
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    u, _, vt = np.linalg.svd(a.T @ b)
    d = np.sign(np.linalg.det(vt.T @ u.T))
    return _matrix_to_quat(vt.T @ np.diag([1.0, 1.0, d]) @ u.T)


# ---- steps ---------------------------------------------------------------------------------------


def leg_scale(character: Character, source: SourceMotion, joints: dict[str, tuple[int, int]]) -> float:
    """Character leg length (hip-knee-ankle, both legs) over the source's, measured in the rest poses."""
    rest = source.rest_positions()
    src = char = 0.0
    for side in ("right", "left"):
        hip, knee, ankle = (joints[f"{side}_{b}"][0] for b in ("thigh", "shin", "foot"))
        src += np.linalg.norm(rest[knee] - rest[hip]) + np.linalg.norm(rest[ankle] - rest[knee])
        for b in ("shin", "foot"):
            char += np.linalg.norm(character.bodies[character.body_index(f"{side}_{b}")].offset)
    if src <= 0:
        raise ValueError("the source's legs have no length in its rest pose")
    return float(char / src)


HIPS = ("right_thigh", "left_thigh")


def hip_centre(character: Character, joints: dict[str, tuple[int, int]], pos: np.ndarray) -> np.ndarray | None:
    """Where the character's pelvis origin sits among source joint positions pos (..., J, 3): between the
    source's hip joints, as on the character (whose hips are at +-y from it). A source's root joint is often
    well above its hips (CMU about 10 cm, Mixamo 7), so following it would pull the legs up. None when a
    hip is not mapped."""
    if not all(h in joints for h in HIPS):
        return None
    mean_offset = np.mean([character.bodies[character.body_index(h)].offset for h in HIPS], axis=0)
    if np.linalg.norm(mean_offset) > 1e-6:
        return None  # a character whose pelvis is not between its hips: follow the mapped joint
    return np.mean([pos[..., joints[h][0], :] for h in HIPS], axis=0)


def rest_alignment(character: Character, source: SourceMotion, joints: dict[str, tuple[int, int]]) -> np.ndarray:
    """Q (B, 4): character body world rotation = source joint world rotation * Q_b (see module doc)."""
    rest = source.rest_positions()
    centre = hip_centre(character, joints, rest)
    q = np.zeros((character.num_bodies, 4))
    for i, b in enumerate(character.bodies):
        parent_q = q[b.parent] if b.parent >= 0 else np.array([1.0, 0.0, 0.0, 0.0])
        if b.name not in joints:
            q[i] = parent_q
            continue
        kids = [c for c, k in enumerate(character.bodies) if k.parent == i and k.name in joints]
        here = centre if b.parent < 0 and centre is not None else rest[joints[b.name][0]]
        char_dirs = np.array([character.bodies[c].offset for c in kids]).reshape(-1, 3)
        src_dirs = np.array([rest[joints[character.bodies[c].name][0]] - here for c in kids]).reshape(-1, 3)
        keep = (np.linalg.norm(char_dirs, axis=1) > 1e-6) & (np.linalg.norm(src_dirs, axis=1) > 1e-6)
        char_dirs, src_dirs = char_dirs[keep], src_dirs[keep]
        if len(char_dirs) >= 2 and np.linalg.matrix_rank(char_dirs, tol=1e-6) >= 2:
            q[i] = _kabsch(char_dirs, src_dirs)
        elif len(char_dirs) >= 1:
            q[i] = quat_mul(_quat_between(quat_rotate(parent_q, char_dirs[0]), src_dirs[0]), parent_q)
        elif b.parent < 0:
            raise ValueError("cannot align the root: its mapped children have no length in the rest pose")
        else:
            q[i] = parent_q
    return q


# ---- rigs whose zero-channel pose is no standing pose ------------------------------------------------

STANDING_COS = np.cos(np.radians(45.0))  # a standing rest pose's spine and legs are within this of vertical


def standing_rest(source: SourceMotion, joints: dict[str, tuple[int, int]]) -> bool:
    """Whether the source's rest pose (all rotations identity) stands: the spine (pelvis to head joint) up
    and each mapped thigh and shin down, within 45 degrees. Studio rigs whose bones run along a local axis
    (each joint's frame turned so its bone is +X, say) are a line, or worse, with zero channels: their
    T-pose lives only in the joints' orientations, and the rest alignment must come from the clip."""
    rest = source.rest_positions()

    def along(a: int, b: int, z: float) -> bool:
        d = rest[b] - rest[a]
        n = np.linalg.norm(d)
        return n < 1e-9 or d[2] * z / n > STANDING_COS

    if "pelvis" in joints and "head" in joints and not along(joints["pelvis"][0], joints["head"][0], 1.0):
        return False
    for side in ("right", "left"):
        chain = [joints[f"{side}_{b}"][0] for b in ("thigh", "shin", "foot") if f"{side}_{b}" in joints]
        if any(not along(a, b, -1.0) for a, b in zip(chain, chain[1:])):
            return False
    return True


def _mean_quat(q: np.ndarray) -> np.ndarray:
    """Mean rotation of unit quaternions (F, 4): the principal eigenvector of sum q q^T."""
    _, vecs = np.linalg.eigh(q.T @ q)
    m = vecs[:, -1]
    return m if m[0] >= 0 else -m


def _mid_range(body) -> float:
    """A hinge's mid-range angle (radians; a quarter turn when it has no limits)."""
    return float(np.radians(np.mean(body.limits_deg[0]))) if body.limits_deg else np.pi / 2


def _hinge_normal(character: Character, i: int, joints, pos, rot_inv) -> tuple[np.ndarray, np.ndarray] | None:
    """For body i next to a hinge (its child's joint or its own) with mapped bones on both sides: the bend
    plane's normal on the character (body frame, at mid-range) and in the source (i's rotation joint's
    frame, averaged over the clip, weighted by the bend). None when there is no such hinge or the source
    barely bends it (then the twist comes from the parent)."""
    bodies = character.bodies

    def mapped_kid(k: int) -> int | None:
        kids = [c for c, b in enumerate(bodies) if b.parent == k and b.name in joints]
        return kids[0] if len(kids) == 1 else None

    b = bodies[i]
    c = mapped_kid(i)
    if c is not None and bodies[c].joint == "hinge" and (g := mapped_kid(c)) is not None:
        top, mid, low, hinge = i, c, g, bodies[c]
        d1 = np.array(bodies[c].offset)
        d2_local = np.array(bodies[g].offset)
        axis, theta = np.array(hinge.hinge_axis), _mid_range(hinge)
        n_char = np.cross(d1, quat_rotate(quat_from_axis_angle(axis, np.array(theta)), d2_local))
    elif b.joint == "hinge" and b.parent >= 0 and bodies[b.parent].name in joints and c is not None:
        top, mid, low = b.parent, i, c
        axis, theta = np.array(b.hinge_axis), _mid_range(b)
        d1 = quat_rotate(quat_from_axis_angle(axis, np.array(-theta)), np.array(b.offset))
        n_char = np.cross(d1, np.array(bodies[c].offset))
    else:
        return None
    if np.linalg.norm(n_char) < 1e-9:
        return None
    p = [pos[:, joints[bodies[k].name][0]] for k in (top, mid, low)]
    n = np.cross(p[1] - p[0], p[2] - p[1])
    n = n / np.maximum(np.linalg.norm(p[1] - p[0], axis=-1) * np.linalg.norm(p[2] - p[1], axis=-1), 1e-12)[:, None]
    n_src = quat_rotate(rot_inv, n).sum(axis=0)
    strength = np.linalg.norm(n, axis=-1).sum()
    if strength < 0.05 * len(n) or np.linalg.norm(n_src) < 0.5 * strength:
        return None  # nearly straight all along, or bent different ways: no plane to trust
    return n_char / np.linalg.norm(n_char), n_src / np.linalg.norm(n_src)


def clip_alignment(
    character: Character,
    source: SourceMotion,
    joints: dict[str, tuple[int, int]],
    pos: np.ndarray,
    rot: np.ndarray,
    flat_feet: dict[str, np.ndarray] | None = None,
) -> np.ndarray:
    """Q (B, 4) as `rest_alignment`'s, found from the clip instead of the zero-channel pose, for rigs whose
    rest pose does not stand (see `standing_rest`). Each body's bone directions are measured in its source
    joint's own frame (constant for a bone, averaged over the clip when joints lie between): Kabsch over
    two or more of them. A limb (one mapped child) has its direction exact and its twist from the hinge
    next to it: the knee's (elbow's) bend plane, from the child joint positions, is put on the character's
    hinge plane; without a hinge or a bend, from the source's own twist relative to its parent, averaged
    over the clip (so never a half turn). Feet with `flat_feet` contacts (foot body -> (F,) bool) lie flat
    in stance, pointing along the source's toes; other leaves (hands, head) turn with their parent as the
    source's do on average. pos, rot: source world joint positions and rotations (F, J, ...)."""
    flat_feet = {f: c for f, c in (flat_feet or {}).items() if c.sum() >= 3}
    centre = hip_centre(character, joints, pos)
    frame_joint = np.full(character.num_bodies, -1)
    q = np.zeros((character.num_bodies, 4))
    ident = np.array([1.0, 0.0, 0.0, 0.0])
    for i, b in enumerate(character.bodies):
        parent_q = q[b.parent] if b.parent >= 0 else ident
        if b.name not in joints:
            q[i], frame_joint[i] = parent_q, frame_joint[b.parent] if b.parent >= 0 else -1
            continue
        rj = joints[b.name][1]
        frame_joint[i] = rj
        rot_inv = quat_conj(rot[:, rj])
        if b.parent >= 0 and frame_joint[b.parent] >= 0:  # the mean rotation relative to the parent's frame
            rel = quat_mul(quat_conj(rot[:, frame_joint[b.parent]]), rot[:, rj])
            start = quat_mul(quat_conj(_mean_quat(rel)), parent_q)
        else:
            start = ident
        kids = [c for c, k in enumerate(character.bodies) if k.parent == i and k.name in joints]
        here = centre if b.parent < 0 and centre is not None else pos[:, joints[b.name][0]]
        char_dirs, src_dirs = [], []
        for c in kids:
            d = quat_rotate(rot_inv, pos[:, joints[character.bodies[c].name][0]] - here)
            n = np.linalg.norm(d, axis=-1)
            if np.linalg.norm(character.bodies[c].offset) < 1e-6 or n.min() < 1e-6:
                continue
            char_dirs.append(character.bodies[c].offset)
            src_dirs.append((d / n[:, None]).mean(axis=0))
        char_dirs, src_dirs = np.array(char_dirs).reshape(-1, 3), np.array(src_dirs).reshape(-1, 3)
        if len(char_dirs) >= 2 and np.linalg.matrix_rank(char_dirs, tol=1e-6) >= 2:
            q[i] = _kabsch(char_dirs, src_dirs)
        elif len(char_dirs) == 1:
            q[i] = quat_mul(_quat_between(quat_rotate(start, char_dirs[0]), src_dirs[0]), start)
            hinge = _hinge_normal(character, i, joints, pos, rot_inv)
            if hinge is not None:  # turn about the bone so the bend planes agree
                bone = src_dirs[0] / np.linalg.norm(src_dirs[0])
                a = quat_rotate(q[i], hinge[0])
                a, t = a - (a @ bone) * bone, hinge[1] - (hinge[1] @ bone) * bone
                if np.linalg.norm(a) > 1e-6 and np.linalg.norm(t) > 1e-6:
                    ang = np.arctan2(np.cross(a, t) @ bone, a @ t)
                    q[i] = quat_mul(quat_from_axis_angle(bone, np.array(ang)), q[i])
        elif b.parent < 0:
            raise ValueError("cannot align the root: its mapped children have no length in the clip")
        elif b.name in flat_feet:
            q[i] = _flat_foot(source, joints[b.name], pos, rot, flat_feet[b.name])
        else:
            q[i] = start
    return q


def _flat_foot(source: SourceMotion, joint: tuple[int, int], pos: np.ndarray, rot: np.ndarray, contact: np.ndarray):
    """A foot's alignment from its stance: while the source foot is in contact the character's foot lies flat
    (its body z up) and points where the source's toes do (from the foot joint towards its descendants and
    End Sites, on the ground plane)."""
    pj, rj = joint
    chain = source.descendants(pj)
    toe = [pos[:, c] - pos[:, pj] for c in chain]
    toe += [
        quat_rotate(rot[:, c], source.end_sites[c]) + pos[:, c] - pos[:, pj]
        for c in [pj, *chain]
        if c in source.end_sites
    ]
    d = np.mean(toe, axis=0)[contact]
    yaw = np.arctan2(d[:, 1], d[:, 0])
    flat = quat_from_axis_angle(np.array([0.0, 0.0, 1.0]), yaw)
    return _mean_quat(quat_mul(quat_conj(rot[contact, rj]), flat))


def _clamp_limits(character: Character, rotations: np.ndarray) -> np.ndarray:
    """Hinges into their range and ball joints into their MJCF cone (what the IK's limits allow)."""
    out = rotations.copy()
    for i, b in enumerate(character.bodies):
        if b.joint == "hinge":
            axis = np.array(b.hinge_axis)
            lo, hi = np.radians(b.limits_deg[0])
            out[:, i] = quat_from_axis_angle(axis, np.clip(hinge_angle(out[:, i], axis), lo, hi))
        elif b.joint == "ball" and b.limits_deg:
            cone = np.radians(min(max(abs(x) for lim in b.limits_deg for x in lim), 180.0))
            rv = quat_to_rotvec(out[:, i])
            ang = np.linalg.norm(rv, axis=-1, keepdims=True)
            rv = np.where(ang > cone, rv * (cone - 1e-6) / np.maximum(ang, 1e-12), rv)
            out[:, i] = _rotvec_to_quat(rv)
    return out


def clamp_rotations(character: Character, rotations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Local rotations (F, B, 4) inside the character's limits as the report checks them (ball joints per
    axis of the rotation vector, hinges on their angle), and how far each was moved (F, B) in degrees."""
    out = rotations.copy()
    excess = np.zeros(rotations.shape[:2])
    for i, b in enumerate(character.bodies):
        if b.joint not in ("ball", "hinge") or not b.limits_deg:
            continue
        lim = np.radians(np.array(b.limits_deg, dtype=np.float64))
        if b.joint == "hinge":
            axis = np.array(b.hinge_axis)
            ang = hinge_angle(out[:, i], axis)
            clipped = np.clip(ang, lim[0, 0], lim[0, 1])
            excess[:, i] = np.degrees(np.abs(ang - clipped))
            out[:, i] = quat_from_axis_angle(axis, clipped)
        else:
            rv = quat_to_rotvec(out[:, i])
            clipped = np.clip(rv, lim[:, 0], lim[:, 1])
            excess[:, i] = np.degrees(np.abs(rv - clipped).max(axis=-1))
            out[:, i] = np.where((excess[:, i] > 0)[:, None], _rotvec_to_quat(clipped), out[:, i])
    return out, excess


@dataclass
class Clamp:
    """One joint held inside its limits (--clamp): on how many frames, by how much, and how far that moved
    the end effectors below it (hands, feet, head; after the IK made up for it as it could)."""

    joint: str
    frames: int
    max_clamp_deg: float
    effector_mean_cm: float
    effector_max_cm: float
    effector: str  # the one that moved most


CLAMP_MIN_DEG = 0.5  # as the report: below this it is rounding


def _clamp_frames(
    character: Character,
    skel: Skeleton,
    solver: _Solver,
    qpos: np.ndarray,
    targets: np.ndarray,
    target_rot: np.ndarray,
    bodies: list[str],
) -> tuple[np.ndarray, list[Clamp]]:
    """qpos with every joint inside its limits: frames with a joint beyond them are clamped and solved
    again with the clamped joints held (a heavy posture cost on their DoFs), so the other joints keep the
    end effectors near their targets; then clamped exactly. targets: (F, n, 3) with the ground shift."""
    import mujoco

    root, rot = from_qpos(skel, qpos)
    clamped, excess = clamp_rotations(character, rot)
    bad = excess > CLAMP_MIN_DEG
    frames = np.flatnonzero(bad.any(axis=1))
    if not len(frames):
        return qpos, []
    before, _ = forward_kinematics(skel, root, rot)
    q_start = to_qpos(skel, root, clamped)
    model = solver.model
    dofs = {}
    for i, b in enumerate(character.bodies):
        if b.joint in ("ball", "hinge"):
            j = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, b.joint_name)
            adr, n = int(model.jnt_dofadr[j]), 3 if b.joint == "ball" else 1
            dofs[i] = np.arange(adr, adr + n)
    out = qpos.copy()
    for t in frames:
        cost = np.full(model.nv, solver.config.posture_cost)
        for i in np.flatnonzero(bad[t]):
            cost[dofs[i]] = 1e3
        solver.posture.set_cost(cost)
        out[t], _ = solver.solve(q_start[t], targets[t], target_rot[t])
    solver.posture.set_cost(solver.config.posture_cost)
    root2, rot2 = from_qpos(skel, out)
    rot2, _ = clamp_rotations(character, rot2)
    out = to_qpos(skel, root2, rot2)
    after, _ = forward_kinematics(skel, root2, rot2)
    mapped = [character.body_index(b) for b in bodies]
    ends = [i for i in mapped if not any(character.bodies[c].parent == i for c in mapped)]
    moved = np.linalg.norm(after[:, ends] - before[:, ends], axis=-1) * 100.0  # (F, E) cm
    clamps = []
    for i in np.flatnonzero(bad.any(axis=0)):
        below = [k for k, e in enumerate(ends) if i in _body_ancestors(character, e)]
        rows = moved[bad[:, i]][:, below] if below else np.zeros((int(bad[:, i].sum()), 1))
        worst = rows.max(axis=0)
        clamps.append(
            Clamp(
                joint=character.bodies[i].joint_name,
                frames=int(bad[:, i].sum()),
                max_clamp_deg=float(excess[:, i].max()),
                effector_mean_cm=float(rows.max(axis=1).mean()),
                effector_max_cm=float(worst.max()),
                effector=character.bodies[ends[below[int(worst.argmax())]]].name if below else "",
            )
        )
    return out, clamps


def _body_ancestors(character: Character, i: int) -> list[int]:
    out = [i]
    while character.bodies[out[-1]].parent >= 0:
        out.append(character.bodies[out[-1]].parent)
    return out


def _rotvec_to_quat(rv: np.ndarray) -> np.ndarray:
    ang = np.linalg.norm(rv, axis=-1)
    axis = rv / np.where(ang > 1e-12, ang, 1.0)[..., None]
    return quat_from_axis_angle(axis, ang)


def direct_copy(
    character: Character, world_rot: np.ndarray, root_pos: np.ndarray, mapped: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Local rotations (F, B, 4) that give mapped bodies the world rotations `world_rot` (F, B, 4); other
    bodies keep their parent's (fixed joints the identity). Hinges keep their twist; limits clamped."""
    world = np.zeros_like(world_rot)
    local = np.zeros_like(world_rot)
    local[..., 0] = 1.0
    for i, b in enumerate(character.bodies):
        if b.parent < 0:
            world[:, i] = world_rot[:, i]
            local[:, i] = world_rot[:, i]
            continue
        pw = world[:, b.parent]
        if b.name in mapped and b.joint in ("ball", "hinge"):
            local[:, i] = quat_mul(quat_conj(pw), world_rot[:, i])
            if b.joint == "hinge":
                axis = np.array(b.hinge_axis)
                local[:, i] = quat_from_axis_angle(axis, hinge_angle(local[:, i], axis))
        world[:, i] = quat_mul(pw, local[:, i])
    return root_pos.copy(), _clamp_limits(character, local)


class _Solver:
    """mink IK on the character's MJCF: one FrameTask per mapped body, a posture task, limits."""

    def __init__(self, character: Character, bodies: list[str], config: RetargetConfig):
        import mink
        import mujoco

        self.mink = mink
        self.model = mujoco.MjModel.from_xml_path(str(character.mjcf_path))
        self.cfg = mink.Configuration(self.model)
        self.bodies = bodies
        self.tasks = []
        for name in bodies:
            b = character.bodies[character.body_index(name)]
            pos_cost, rot_cost = config.costs.get(name, (4.0, 0.5))
            if b.joint == "fixed":
                rot_cost = 0.0  # it turns with its parent: only its position is a target
            self.tasks.append(mink.FrameTask(name, "body", position_cost=pos_cost, orientation_cost=rot_cost))
        self.posture = mink.PostureTask(self.model, cost=config.posture_cost)
        self.limits = [mink.ConfigurationLimit(self.model)]
        self.config = config

    def solve(self, q0: np.ndarray, pos: np.ndarray, rot: np.ndarray) -> tuple[np.ndarray, int]:
        """qpos fitting the targets pos (n, 3) / rot (n, 4) of the mapped bodies, from q0; and the steps."""
        mink = self.mink
        self.cfg.update(q0)
        self.posture.set_target(q0)
        for task, p, r in zip(self.tasks, pos, rot):
            task.set_target(mink.SE3.from_rotation_and_translation(mink.SO3(r), p))
        tasks = [*self.tasks, self.posture]
        steps = 0
        while steps < self.config.iterations:
            v = mink.solve_ik(self.cfg, tasks, 1.0, "daqp", damping=self.config.damping, limits=self.limits)
            self.cfg.integrate_inplace(v, 1.0)
            steps += 1
            if np.linalg.norm(v) < self.config.step_tolerance:
                break
        return self.cfg.q.copy(), steps


# ---- ground contact ------------------------------------------------------------------------------


def _geom_points(geom) -> np.ndarray:
    """Points whose lowest one is the geom's lowest point once radii are subtracted: (n, 4) = xyz, radius."""
    from sim.rotations import quat_to_matrix

    rot = np.eye(3)
    if any(geom.euler):
        ex, ey, ez = np.radians(geom.euler)
        qx = quat_from_axis_angle(np.array([1.0, 0, 0]), np.array(ex))
        qy = quat_from_axis_angle(np.array([0, 1.0, 0]), np.array(ey))
        qz = quat_from_axis_angle(np.array([0, 0, 1.0]), np.array(ez))
        rot = quat_to_matrix(quat_mul(quat_mul(qx, qy), qz))
    c = np.asarray(geom.pos, dtype=np.float64)
    if geom.shape == "box":
        signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], dtype=np.float64)
        pts, r = c + (signs * geom.size) @ rot.T, 0.0
    elif geom.shape in ("capsule", "cylinder"):
        pts = c + np.array([[0, 0, -geom.size[1]], [0, 0, geom.size[1]]]) @ rot.T
        r = geom.size[0]
    else:
        pts, r = c[None], geom.size[0]
    return np.concatenate([pts, np.full((len(pts), 1), r)], axis=1)


def lowest_point(character: Character, body: str, body_pos: np.ndarray, body_rot: np.ndarray) -> np.ndarray:
    """Height (F,) of a body's lowest geometry point, from world body positions (F, B, 3) / rotations."""
    i = character.body_index(body)
    pts = np.concatenate([_geom_points(g) for g in character.bodies[i].geoms])
    world = body_pos[:, i, None, :] + quat_rotate(body_rot[:, i, None, :], pts[None, :, :3])
    return (world[..., 2] - pts[None, :, 3]).min(axis=1)


def source_contacts(
    source: SourceMotion, pos: np.ndarray, rot: np.ndarray, scale: float, foot_joint: int, config: RetargetConfig
) -> np.ndarray:
    """(F,) True where a source foot is in contact: its lowest point (the foot joint, its descendants and
    their End Sites; positions already scaled) is near the clip's floor (5th percentile) and it is slow."""
    chain = [foot_joint, *source.descendants(foot_joint)]
    pts = [pos[:, chain]]
    for j in chain:
        if j in source.end_sites:
            pts.append((pos[:, j] + quat_rotate(rot[:, j], source.end_sites[j] * scale))[:, None])
    sole = np.concatenate(pts, axis=1)[..., 2].min(axis=1)
    floor = np.percentile(sole, 5)
    speed = np.zeros(len(sole))
    if len(sole) > 1:
        v = np.linalg.norm(np.diff(pos[:, foot_joint, :2], axis=0), axis=-1) * source.fps
        speed = np.concatenate([v[:1], np.minimum(v[1:], v[:-1]), v[-1:]])
    return (sole - floor < config.contact_height) & (speed < config.contact_speed)


def contact_shift(soles: np.ndarray, contacts: np.ndarray, fps: float) -> np.ndarray:
    """Root height change (F,) that puts the lowest in-contact foot on z = 0, smoothed (about 65 ms) and
    interpolated between contact frames. soles, contacts: (feet, F)."""
    frames = soles.shape[1]
    touching = contacts.any(axis=0)
    if not touching.any():
        return np.full(frames, -soles.min())
    lowest = np.where(contacts, soles, np.inf).min(axis=0)
    idx = np.flatnonzero(touching)
    shift = np.interp(np.arange(frames), idx, -lowest[idx])
    sigma = max(fps / 15.0, 1.0)
    half = int(3 * sigma)
    k = np.exp(-0.5 * (np.arange(-half, half + 1) / sigma) ** 2)
    return np.convolve(np.pad(shift, half, mode="edge"), k / k.sum(), mode="valid")


def _soles(character: Character, skel: Skeleton, qpos: np.ndarray, feet: list[str]) -> np.ndarray:
    """Lowest point height (feet, F) of each foot body."""
    root, rotations = from_qpos(skel, qpos)
    pos, rot = forward_kinematics(skel, root, rotations)
    return np.stack([lowest_point(character, f, pos, rot) for f in feet])


# ---- the whole thing -----------------------------------------------------------------------------


def retarget(
    source: SourceMotion,
    character: Character,
    bone_map: BoneMap,
    config: RetargetConfig | None = None,
    loop: bool = False,
) -> Retargeted:
    config = config or RetargetConfig()
    joints = {b: j for b, j in bone_map.resolve(source.joints).items() if b in character.body_names}
    bodies = [b.name for b in character.bodies if b.name in joints]
    scale = config.scale or leg_scale(character, source, joints)
    src_pos, src_rot = source.world()
    rest = config.rest if config.rest != "auto" else ("file" if standing_rest(source, joints) else "clip")
    if rest == "file":
        q_align = rest_alignment(character, source, joints)
    elif rest == "clip":
        feet = [f for f in character.foot_bodies if f in joints]
        stance = {f: source_contacts(source, src_pos * scale, src_rot, scale, joints[f][0], config) for f in feet}
        q_align = clip_alignment(character, source, joints, src_pos, src_rot, stance)
    else:
        raise ValueError(f"rest must be auto, file or clip, got {config.rest!r}")

    src_pos = src_pos * scale
    idx = [character.body_index(b) for b in bodies]
    target_pos = src_pos[:, [joints[b][0] for b in bodies]]
    target_rot = quat_mul(src_rot[:, [joints[b][1] for b in bodies]], q_align[idx][None])
    centre = hip_centre(character, joints, src_pos)
    if centre is not None:
        target_pos[:, bodies.index(character.bodies[0].name)] = centre

    world = np.zeros((source.num_frames, character.num_bodies, 4))
    world[..., 0] = 1.0
    world[:, idx] = target_rot
    root0, local0 = direct_copy(character, world, target_pos[:, bodies.index(character.bodies[0].name)], bodies)
    skel = Skeleton.of(character)
    q0 = to_qpos(skel, root0, local0)

    solver = _Solver(character, bodies, config)
    qpos = np.empty_like(q0)
    steps = 0
    for t in range(source.num_frames):
        qpos[t], n = solver.solve(q0[t], target_pos[t], target_rot[t])
        steps += n

    contacts: dict[str, np.ndarray] = {}
    shift = np.zeros(source.num_frames)
    feet = [f for f in character.foot_bodies if f in joints]
    if config.ground and feet:
        contacts = {f: source_contacts(source, src_pos, src_rot, scale, joints[f][0], config) for f in feet}
        soles = _soles(character, skel, qpos, feet)
        shift = contact_shift(soles, np.stack([contacts[f] for f in feet]), source.fps)
        qpos[:, 2] += shift
        # a foot still in the ground: raise that foot's target by the depth and solve the frame again
        # (the IK gives up about half of it to the other targets, so a few rounds, adding what is left)
        raise_by = np.zeros_like(soles)
        depth = np.maximum(-(soles + shift), 0.0)  # (feet, F)
        for _ in range(config.ground_rounds):
            redo = np.flatnonzero((depth > 1e-3).any(axis=0))
            if not len(redo):
                break
            raise_by += depth
            for t in redo:
                pos_t = target_pos[t] + [0.0, 0.0, shift[t]]
                for k, f in enumerate(feet):
                    pos_t[bodies.index(f), 2] += raise_by[k, t]
                qpos[t], n = solver.solve(qpos[t], pos_t, target_rot[t])
                steps += n
            depth = np.maximum(-_soles(character, skel, qpos, feet), 0.0)
        # what the legs could not fix: lift the root
        lift = np.maximum(-_soles(character, skel, qpos, feet).min(axis=0), 0.0)
        qpos[:, 2] += lift
        shift = shift + lift
    clamps: list[Clamp] = []
    if config.clamp:
        qpos, clamps = _clamp_frames(
            character, skel, solver, qpos, target_pos + shift[:, None, None] * [0.0, 0.0, 1.0], target_rot, bodies
        )
        if config.ground and feet and clamps:  # a clamped leg may put a foot in the ground: lift the root
            lift = np.maximum(-_soles(character, skel, qpos, feet).min(axis=0), 0.0)
            qpos[:, 2] += lift
            shift = shift + lift
    root, rotations = from_qpos(skel, qpos)

    times = np.arange(source.num_frames) / source.fps
    clip = MotionClip(source.name, root, rotations, times, loop, character.name)
    lift = np.array([0.0, 0.0, 1.0]) * np.median(shift)
    return Retargeted(
        clip=clip,
        source=source,
        scale=scale,
        bone_map=bone_map,
        bodies=bodies,
        targets=target_pos + lift,
        target_rot=target_rot,
        source_pos=src_pos + lift,
        contacts=contacts,
        ground_shift=shift,
        iterations=steps / max(source.num_frames, 1),
        rest=rest,
        clamps=clamps,
    )
