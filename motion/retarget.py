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
    q_align = rest_alignment(character, source, joints)

    src_pos, src_rot = source.world()
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
    )
