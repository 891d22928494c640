"""BVH files written by the tests from DeepMimic clips, on a skeleton unlike the character's.

The skeleton has Mixamo names (with the `mixamorig:` prefix), a three-joint spine that shares the
torso's bend, a clavicle, a two-joint neck, fingers that curl, toes; other bone lengths; an A-pose rest
with bent elbows and knees; y-up facing +z, in centimetres; several rotation orders, and one joint
below the root with 6 channels. It is written by hand (scipy for Euler angles), independent of the
reader under test.

Truth: the source joints' world positions are known here (`SynthBvh.positions`, z-up metres, the
character's heading turned by YAW), so tests compare the retargeted clip against them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from motion.clip import MotionClip
from motion.kinematics import Skeleton, forward_kinematics
from sim.character import Character
from sim.rotations import quat_conj, quat_from_axis_angle, quat_mul, quat_rotate, quat_slerp

YAW = -np.pi / 2  # facing +z in a y-up file = facing -y once read back as z-up
YAW_ZUP = np.pi / 2  # a z-up file here faces +y
# char (x fwd, y left, z up) -> y-up file facing +z: x -> z, y -> x, z -> y; z-up file facing +y: x -> y, y -> -x
_FILE_AXES = {
    "y": np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]),
    "z": np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]),
}
_X, _Y, _Z = np.eye(3)
HIPS_ABOVE = np.array([0.0, 0.0, 0.06])  # the root joint sits above the hip joints, as in mocap rigs


@dataclass
class _Joint:
    name: str
    parent: str | None
    offset: np.ndarray  # char space, in the parent's rotating frame, before the bone factor
    rule: str  # how the joint turns: a character body name, 'spine_half', 'curl', or 'parent'
    channels: str
    factor: float = 1.0  # bone length change
    rest: np.ndarray | None = None  # rest-pose local rotation (wxyz)
    end: np.ndarray | None = None  # End Site offset (char space)


def _rot(axis: np.ndarray, deg: float) -> np.ndarray:
    return quat_from_axis_angle(axis, np.radians(deg))


def skeleton(ch: Character) -> list[_Joint]:
    off = {b.name: np.array(b.offset) for b in ch.bodies}
    t, h = off["torso"], off["head"]
    zyx, xzy, yxz = "Zrotation Yrotation Xrotation", "Xrotation Zrotation Yrotation", "Yrotation Xrotation Zrotation"
    joints = [
        _Joint("Hips", None, np.zeros(3), "pelvis", "Xposition Yposition Zposition Yrotation Xrotation Zrotation"),
        _Joint("Spine", "Hips", 0.45 * t - HIPS_ABOVE, "spine_half", zyx, 1.08),
        _Joint("Spine1", "Spine", 0.55 * t, "torso", "Xposition Yposition Zposition " + xzy, 1.08),
        _Joint("Spine2", "Spine1", 0.4 * h, "torso", zyx, 1.08),
        _Joint("Neck", "Spine2", 0.6 * h, "head", yxz, 1.08),
        _Joint("Head", "Neck", np.array([0.0, 0.0, 0.1]), "head", zyx, end=np.array([0.0, 0.0, 0.15])),
    ]
    for side, s in (("Left", 1.0), ("Right", -1.0)):
        lo = side.lower()
        u = off[f"{lo}_upper_arm"] - 0.4 * h
        clav = u * np.array([1.0, 0.35, 1.0])
        joints += [
            _Joint(f"{side}Shoulder", "Spine2", clav, "torso", zyx, 1.08),
            _Joint(f"{side}Arm", f"{side}Shoulder", u - clav, f"{lo}_upper_arm", xzy, rest=_rot(_X, 45 * s)),
            _Joint(f"{side}ForeArm", f"{side}Arm", off[f"{lo}_lower_arm"], f"{lo}_lower_arm", zyx, 0.94, _rot(_Y, -20)),
            _Joint(f"{side}Hand", f"{side}ForeArm", off[f"{lo}_hand"], f"{lo}_hand", yxz, 0.94),
            _Joint(f"{side}HandIndex1", f"{side}Hand", np.array([0.0, 0.0, -0.06]), "curl", zyx),
            _Joint(f"{side}HandIndex2", f"{side}HandIndex1", np.array([0.0, 0.0, -0.03]), "curl", zyx),
            _Joint(f"{side}HandThumb1", f"{side}Hand", np.array([0.02, 0.0, -0.02]), "parent", zyx),
            _Joint(f"{side}UpLeg", "Hips", off[f"{lo}_thigh"] - HIPS_ABOVE, f"{lo}_thigh", xzy, 1.1, _rot(_X, 8 * s)),
            _Joint(f"{side}Leg", f"{side}UpLeg", off[f"{lo}_shin"], f"{lo}_shin", zyx, 1.0, _rot(_Y, 10)),
            _Joint(f"{side}Foot", f"{side}Leg", off[f"{lo}_foot"], f"{lo}_foot", yxz, 1.05),
            _Joint(f"{side}ToeBase", f"{side}Foot", np.array([0.12, 0.0, -0.045]), f"{lo}_foot", zyx),
        ]
        joints[-6].end = np.array([0.0, 0.0, -0.02])  # index 2
        joints[-5].end = np.array([0.025, 0.0, -0.01])  # thumb
        joints[-1].end = np.array([0.05, 0.0, 0.0])  # toe
    return joints


@dataclass
class SynthBvh:
    path: Path
    names: list[str]
    positions: np.ndarray  # (F, J, 3) source joints' world positions: z-up metres, heading turned by YAW
    scale: float  # source metres per character metre (global size factor)


def _source_motion(clip: MotionClip, ch: Character, joints: list, frames: int | None, proportions: bool):
    """What both writers start from: the frame count, the character's body poses over them, body and joint
    indices, and the half-way spine rotation; proportions=False sets every bone's factor to 1."""
    if not proportions:
        for j in joints:
            j.factor = 1.0
    n = clip.num_frames if frames is None else min(frames, clip.num_frames)
    body_pos, body_rot = forward_kinematics(Skeleton.of(ch), clip.root_pos[:n], clip.rotations[:n])
    bi = {b: i for i, b in enumerate(ch.body_names)}
    names = [j.name for j in joints]
    idx = {nm: i for i, nm in enumerate(names)}
    t_local = quat_mul(quat_conj(body_rot[:, bi["pelvis"]]), body_rot[:, bi["torso"]])
    half = quat_slerp(np.broadcast_to([1.0, 0, 0, 0], t_local.shape), t_local, 0.5)
    return n, body_pos, body_rot, bi, names, idx, half


def write_bvh(
    clip: MotionClip,
    ch: Character,
    path: Path,
    size: float = 1.12,
    prefix: str = "mixamorig:",
    frames: int | None = None,
    proportions: bool = True,
    up: str = "y",
    units_per_metre: float = 100.0,
) -> SynthBvh:
    """Write `clip` (on the plain humanoid) as a BVH on the synthetic skeleton, `size` times as large;
    proportions=False keeps the character's bone lengths (then a retarget can be exact). Default: y-up
    centimetres; up="z" writes a z-up file facing +y."""
    axes = _FILE_AXES[up]
    axes_quat = Rotation.from_matrix(axes).as_quat()[[3, 0, 1, 2]]
    joints = skeleton(ch)
    n, body_pos, body_rot, bi, names, idx, half = _source_motion(clip, ch, joints, frames, proportions)
    curl = np.stack([_rot(_Y, 25 + 20 * np.sin(2 * np.pi * k / 20)) for k in range(n)])

    # motion world rotations R_j(t) and rest world rotations W_j (char space)
    world = np.zeros((n, len(joints), 4))
    rest_w = np.zeros((len(joints), 4))
    for i, j in enumerate(joints):
        p = idx[j.parent] if j.parent else None
        if j.rule == "spine_half":
            world[:, i] = quat_mul(body_rot[:, bi["pelvis"]], half)
        elif j.rule == "curl":
            world[:, i] = quat_mul(world[:, p], curl)
        elif j.rule == "parent":
            world[:, i] = world[:, p]
        else:
            world[:, i] = body_rot[:, bi[j.rule]]
        local_rest = j.rest if j.rest is not None else np.array([1.0, 0, 0, 0])
        rest_w[i] = local_rest if p is None else quat_mul(rest_w[p], local_rest)

    # world positions (char space, metres, the source's own bone lengths)
    k = size
    pos = np.zeros((n, len(joints), 3))
    for i, j in enumerate(joints):
        if j.parent is None:
            pos[:, i] = (body_pos[:, bi["pelvis"]] + quat_rotate(world[:, i], HIPS_ABOVE)) * k
        else:
            p = idx[j.parent]
            pos[:, i] = pos[:, p] + quat_rotate(world[:, p], j.offset * j.factor * k)
    # file: S_j = R_j W_j^-1 (so rest offsets W_p o rotate into place), local = S_p^-1 S_j, then y-up
    src = quat_mul(world, quat_conj(rest_w)[None])
    g = np.broadcast_to(axes_quat, src.shape)
    src_file = quat_mul(quat_mul(g, src), quat_conj(g))
    lines = ["HIERARCHY"]
    motion_cols: list[np.ndarray] = []

    def emit(i: int, depth: int) -> None:
        j = joints[i]
        pad = "  " * depth
        p = idx[j.parent] if j.parent else None
        off_char = np.zeros(3) if p is None else quat_rotate(rest_w[p], j.offset * j.factor * k)
        off = axes @ off_char * units_per_metre
        lines.append(f"{pad}{'ROOT' if p is None else 'JOINT'} {prefix}{j.name}")
        lines.append(f"{pad}{{")
        lines.append(f"{pad}  OFFSET {off[0]:.6f} {off[1]:.6f} {off[2]:.6f}")
        chans = j.channels.split()
        lines.append(f"{pad}  CHANNELS {len(chans)} {j.channels}")
        local = src_file[:, i] if p is None else quat_mul(quat_conj(src_file[:, p]), src_file[:, i])
        order = "".join(c[0] for c in chans if c.endswith("rotation"))
        eul = Rotation.from_quat(local[:, [1, 2, 3, 0]]).as_euler(order.upper(), degrees=True)
        root_file = (pos[:, i] @ axes.T) * units_per_metre
        cols = []
        for c in chans:
            axis = "XYZ".index(c[0])
            if c.endswith("position"):
                cols.append(root_file[:, axis] if p is None else np.full(n, off[axis]))
            else:
                cols.append(eul[:, order.index(c[0])])
        motion_cols.append(np.stack(cols, axis=1))
        kids = [c for c, jj in enumerate(joints) if jj.parent == j.name]
        for c in kids:
            emit(c, depth + 1)
        if not kids:
            e = axes @ quat_rotate(rest_w[i], (j.end if j.end is not None else np.array([0.0, 0, 0.05])) * k)
            e = e * units_per_metre
            end = f"{pad}    OFFSET {e[0]:.6f} {e[1]:.6f} {e[2]:.6f}"
            lines.extend([f"{pad}  End Site", f"{pad}  {{", end, f"{pad}  }}"])
        lines.append(f"{pad}}}")

    emit(0, 0)
    data = np.concatenate(motion_cols, axis=1)
    dt = clip.times[1] - clip.times[0] if clip.num_frames > 1 else 1 / 30
    lines += ["MOTION", f"Frames: {n}", f"Frame Time: {dt:.8f}"]
    lines += [" ".join(f"{x:.6f}" for x in row) for row in data]
    path.write_text("\n".join(lines) + "\n")
    yaw = _rot(_Z, np.degrees(YAW if up == "y" else YAW_ZUP))
    return SynthBvh(path, names, quat_rotate(np.broadcast_to(yaw, pos.shape[:-1] + (4,)), pos), k)


# ---- a studio-style rig: bones along each joint's local +X ---------------------------------------

STUDIO_JOINTS = 22
_ZXY = "Zrotation Xrotation Yrotation"
_SIX = "Xposition Yposition Zposition " + _ZXY


def studio_skeleton(ch: Character) -> list[_Joint]:
    """The rig of issue 36 (a public studio dataset's): joint_Root on the floor, Hips, Spine, Chest, Neck,
    Head, Shoulder/UpperArm/LowerArm/Hand and UpperLeg/LowerLeg/Foot/Toes with _L/_R. Offsets here are in
    the character's space at the rig's T-pose (arms out); the file writes them along each joint's +X."""
    off = {b.name: np.array(b.offset) for b in ch.bodies}
    t, h = off["torso"], off["head"]
    joints = [
        _Joint("joint_Root", None, np.zeros(3), "ground", _SIX),
        _Joint("Hips", "joint_Root", np.zeros(3), "pelvis", _SIX),  # offset set by the writer (pelvis height)
        _Joint("Spine", "Hips", 0.45 * t - HIPS_ABOVE, "spine_half", _SIX, 1.08),
        _Joint("Chest", "Spine", 0.55 * t, "torso", _SIX, 1.08),
        _Joint("Neck", "Chest", h, "head", _SIX, 1.08),
        _Joint("Head", "Neck", np.array([0.0, 0.0, 0.1]), "head", _SIX, end=np.array([0.0, 0.0, 0.15])),
    ]
    for side, s in (("L", 1.0), ("R", -1.0)):
        lo = "left" if s > 0 else "right"
        ua = off[f"{lo}_upper_arm"]
        clav = 0.4 * h + (ua - 0.4 * h) * np.array([1.0, 0.35, 1.0])
        joints += [
            _Joint(f"Shoulder_{side}", "Chest", clav, "torso", _SIX, 1.08),
            _Joint(f"UpperArm_{side}", f"Shoulder_{side}", ua - clav, f"{lo}_upper_arm", _SIX, rest=_rot(_X, 90 * s)),
            _Joint(f"LowerArm_{side}", f"UpperArm_{side}", off[f"{lo}_lower_arm"], f"{lo}_lower_arm", _SIX, 0.94),
            _Joint(f"Hand_{side}", f"LowerArm_{side}", off[f"{lo}_hand"], f"{lo}_hand", _SIX, 0.94),
            _Joint(f"UpperLeg_{side}", "Hips", off[f"{lo}_thigh"] - HIPS_ABOVE, f"{lo}_thigh", _SIX, 1.1),
            _Joint(f"LowerLeg_{side}", f"UpperLeg_{side}", off[f"{lo}_shin"], f"{lo}_shin", _SIX),
            _Joint(f"Foot_{side}", f"LowerLeg_{side}", off[f"{lo}_foot"], f"{lo}_foot", _SIX, 1.05),
            _Joint(f"Toes_{side}", f"Foot_{side}", np.array([0.12, 0.0, -0.045]), f"{lo}_foot", _SIX),
        ]
        joints[-5].end = np.array([0.0, 0.0, -0.08])  # hand
        joints[-1].end = np.array([0.05, 0.0, 0.0])  # toe
    return joints


def _frame_along(x: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """A rotation (wxyz) whose +X is along x and whose +Z is as close as it can be to ref."""
    x = x / np.linalg.norm(x)
    z = ref - (ref @ x) * x
    if np.linalg.norm(z) < 1e-6:
        z = np.cross(x, [0.3, 0.5, 0.8])
    z = z / np.linalg.norm(z)
    return Rotation.from_matrix(np.stack([x, np.cross(z, x), z], axis=1)).as_quat()[[3, 0, 1, 2]]


def write_studio_bvh(
    clip: MotionClip,
    ch: Character,
    path: Path,
    size: float = 1.12,
    frames: int | None = None,
    proportions: bool = True,
    translation_on: str = "Hips",
) -> SynthBvh:
    """Write `clip` (on the plain humanoid) as a BVH of the issue-36 studio rig: 22 joints, 6 channels on
    every joint (ZXY), centimetres, y-up facing +z; every joint's frame has its bone along local +X (so the
    zero-channel pose is no standing pose: the rig's T-pose is only in the joints' orientations); the
    walk's translation on Hips under a joint_Root that stays on the floor (translation_on="joint_Root":
    there instead, the run's way). Truth as `write_bvh`."""
    axes = _FILE_AXES["y"]
    axes_quat = Rotation.from_matrix(axes).as_quat()[[3, 0, 1, 2]]
    joints = studio_skeleton(ch)
    n, body_pos, body_rot, bi, names, idx, half = _source_motion(clip, ch, joints, frames, proportions)
    kids = {nm: [c for c, jj in enumerate(joints) if jj.parent == nm] for nm in names}
    k = size
    pelvis_height = float(clip.root_pos[0, 2] + HIPS_ABOVE[2])
    joints[1].offset = np.array([0.0, 0.0, pelvis_height])  # joint_Root's child Hips, at rest

    # motion world rotations R_j(t) and the T-pose's world rotations W_j (char space)
    ident = np.array([1.0, 0.0, 0.0, 0.0])
    world = np.zeros((n, len(joints), 4))
    rest_w = np.zeros((len(joints), 4))
    for i, j in enumerate(joints):
        p = idx[j.parent] if j.parent else None
        if j.rule == "ground":
            world[:, i] = ident
        elif j.rule == "spine_half":
            world[:, i] = quat_mul(body_rot[:, bi["pelvis"]], half)
        else:
            world[:, i] = body_rot[:, bi[j.rule]]
        local_rest = j.rest if j.rest is not None else ident
        rest_w[i] = local_rest if p is None else quat_mul(rest_w[p], local_rest)

    # world positions (char space, metres, the source's own bone lengths)
    pos = np.zeros((n, len(joints), 3))
    pelvis = (body_pos[:, bi["pelvis"]] + quat_rotate(body_rot[:, bi["pelvis"]], HIPS_ABOVE)) * k
    for i, j in enumerate(joints):
        if j.rule == "ground":
            pos[:, i] = 0.0 if translation_on == "Hips" else pelvis - joints[1].offset * k
        elif j.rule == "pelvis":
            pos[:, i] = pelvis
        else:
            p = idx[j.parent]
            pos[:, i] = pos[:, p] + quat_rotate(world[:, p], j.offset * j.factor * k)

    # each joint's frame at the T-pose: +X along its bone (to its first child, or its End Site); the roll
    # differs from joint to joint, so no two frames line up
    phi = np.zeros((len(joints), 4))
    for i, j in enumerate(joints):
        c = kids[j.name]
        bone = joints[c[0]].offset * joints[c[0]].factor if c else (j.end if j.end is not None else _Z * 0.05)
        bone = quat_rotate(rest_w[i], bone)
        ref = quat_rotate(_rot(_Z, 37.0 * i), np.array([1.0, 0.4, 0.2]))
        phi[i] = quat_mul(_frame_along(bone, ref), axes_quat)  # +X along the bone once in the file's axes

    def offset_in_parent(i: int) -> np.ndarray:
        """Joint i's T-pose offset in its parent's frame (char space, metres)."""
        j, p = joints[i], idx[joints[i].parent]
        return quat_rotate(quat_conj(phi[p]), quat_rotate(rest_w[p], j.offset * j.factor * k))

    # joint frames F_j = R_j W_j^-1 Phi_j; local = F_p^-1 F_j; then y-up
    frame = quat_mul(quat_mul(world, quat_conj(rest_w)[None]), phi[None])
    g = np.broadcast_to(axes_quat, frame.shape)
    frame_file = quat_mul(quat_mul(g, frame), quat_conj(g))
    lines = ["HIERARCHY"]
    motion_cols: list[np.ndarray] = []

    def emit(i: int, depth: int) -> None:
        j = joints[i]
        pad = "  " * depth
        p = idx[j.parent] if j.parent else None
        off = np.zeros(3) if p is None else axes @ offset_in_parent(i) * 100.0
        lines.append(f"{pad}{'ROOT' if p is None else 'JOINT'} {j.name}")
        lines.append(f"{pad}{{")
        lines.append(f"{pad}  OFFSET {off[0]:.6f} {off[1]:.6f} {off[2]:.6f}")
        lines.append(f"{pad}  CHANNELS 6 {_SIX}")
        local = frame_file[:, i] if p is None else quat_mul(quat_conj(frame_file[:, p]), frame_file[:, i])
        eul = Rotation.from_quat(local[:, [1, 2, 3, 0]]).as_euler("ZXY", degrees=True)
        if p is None:
            trans = pos[:, i] @ axes.T * 100.0
        else:  # the translation in the parent's frame: the offset, or Hips' motion
            rel = quat_rotate(quat_conj(frame[:, p]), pos[:, i] - pos[:, p])
            trans = rel @ axes.T * 100.0
        motion_cols.append(np.concatenate([trans, eul], axis=1))
        for c in kids[j.name]:
            emit(c, depth + 1)
        if not kids[j.name]:
            e = axes @ quat_rotate(quat_conj(phi[i]), quat_rotate(rest_w[i], j.end * k)) * 100.0
            end = f"{pad}    OFFSET {e[0]:.6f} {e[1]:.6f} {e[2]:.6f}"
            lines.extend([f"{pad}  End Site", f"{pad}  {{", end, f"{pad}  }}"])
        lines.append(f"{pad}}}")

    emit(0, 0)
    data = np.concatenate(motion_cols, axis=1)
    dt = clip.times[1] - clip.times[0] if clip.num_frames > 1 else 1 / 30
    lines += ["MOTION", f"Frames: {n}", f"Frame Time: {dt:.8f}"]
    lines += [" ".join(f"{x:.6f}" for x in row) for row in data]
    path.write_text("\n".join(lines) + "\n")
    yaw = _rot(_Z, np.degrees(YAW))
    return SynthBvh(path, names, quat_rotate(np.broadcast_to(yaw, pos.shape[:-1] + (4,)), pos), k)
