"""How well a retargeted clip follows its source: per-body error, feet against the ground, joint limits.

- Position error: distance (cm) between each mapped body's joint and the scaled source joint (after
  the clip's median ground shift), mean and max over frames. Orientation error: angle (degrees)
  between the body's rotation and its target.
- Feet: deepest point below z = 0 (cm) and skating, the mean horizontal speed (cm/s) of the foot
  over the frames the source foot is in contact, beside the same number for the scaled source.
- Joint limits: per actuated joint, frames outside the character's limits and the largest excess in
  degrees. Ball joints are checked per axis on the rotation vector (the action's x, y, z, see
  docs/architecture.md); hinges on their angle. With clamping (RetargetConfig.clamp, `--clamp`), the
  joints that were clamped, by how much, and how far that moved the end effector below them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from motion.kinematics import Skeleton, forward_kinematics
from motion.retarget import Retargeted, lowest_point
from sim.character import Character
from sim.rotations import hinge_angle, quat_conj, quat_mul, quat_to_rotvec


@dataclass
class BodyError:
    body: str
    mean_cm: float
    max_cm: float
    rot_mean_deg: float


@dataclass
class FootReport:
    foot: str
    contact_frames: int
    penetration_cm: float  # deepest point below the ground (0 when none)
    skating_cm_s: float  # retargeted foot's mean horizontal speed in contact
    source_skating_cm_s: float


@dataclass
class LimitViolation:
    joint: str
    frames: int
    max_excess_deg: float


@dataclass
class ClampReport:
    joint: str
    frames: int
    max_clamp_deg: float  # how far beyond its limits the joint was before the clamp
    effector_mean_cm: float  # how far that moved the end effector below it (mean, max over those frames)
    effector_max_cm: float
    effector: str


@dataclass
class RetargetReport:
    clip: str
    character: str
    frames: int
    fps: float
    source_joints: int
    bone_map: str
    scale: float
    ik_steps: float
    ground_shift_cm: tuple[float, float, float]  # min, median, max
    bodies: list[BodyError]
    feet: list[FootReport]
    limits: list[LimitViolation]
    rest: str = "file"  # the rest alignment's source: the file's zero-channel pose, or the clip (a rig that lies)
    clamps: list[ClampReport] = field(default_factory=list)  # --clamp: joints held inside their limits

    @property
    def mean_error_cm(self) -> float:
        return float(np.mean([b.mean_cm for b in self.bodies]))

    @property
    def max_error_cm(self) -> float:
        return float(max(b.max_cm for b in self.bodies))

    def to_dict(self) -> dict:
        return asdict(self)

    def lines(self) -> list[str]:
        out = [
            f"retarget {self.clip} -> {self.character}: {self.frames} frames at {self.fps:.2f} fps, "
            f"{self.source_joints} source joints, map {self.bone_map}, scale {self.scale:.4f}, "
            f"{self.ik_steps:.1f} IK steps/frame",
            f"  error per body (cm, mean / max; rotation deg): mean {self.mean_error_cm:.2f}, "
            f"max {self.max_error_cm:.2f}",
        ]
        for b in self.bodies:
            rot = f"{b.rot_mean_deg:5.1f}" if np.isfinite(b.rot_mean_deg) else "    -"
            out.append(f"    {b.body:<16} {b.mean_cm:6.2f} {b.max_cm:6.2f}  {rot}")
        lo, med, hi = self.ground_shift_cm
        out.append(f"  ground: root height moved {med:+.1f} cm (per frame {lo:+.1f} .. {hi:+.1f})")
        for f in self.feet:
            out.append(
                f"    {f.foot:<16} contact {f.contact_frames} frames, penetration {f.penetration_cm:.2f} cm, "
                f"skating {f.skating_cm_s:.1f} cm/s (source {f.source_skating_cm_s:.1f})"
            )
        if self.limits:
            out.append("  joint limits exceeded:")
            out += [f"    {v.joint:<16} {v.frames} frames, up to {v.max_excess_deg:.1f} deg" for v in self.limits]
        else:
            out.append("  joint limits: none exceeded" + (" (after the clamps below)" if self.clamps else ""))
        if self.clamps:
            out.append("  clamped into the limits (end effector moved, cm mean / max):")
            out += [
                f"    {c.joint:<16} {c.frames} frames, up to {c.max_clamp_deg:.1f} deg; "
                f"{c.effector or '-'} {c.effector_mean_cm:.2f} / {c.effector_max_cm:.2f}"
                for c in self.clamps
            ]
        return out


def _speed_in_contact(xy: np.ndarray, contact: np.ndarray, fps: float) -> float:
    if len(xy) < 2 or not contact.any():
        return 0.0
    v = np.linalg.norm(np.diff(xy, axis=0), axis=-1) * fps
    both = contact[1:] & contact[:-1]
    return float(v[both].mean() * 100.0) if both.any() else 0.0


def limit_violations(character: Character, rotations: np.ndarray) -> list[LimitViolation]:
    out = []
    for i, b in enumerate(character.bodies):
        if b.joint not in ("ball", "hinge") or not b.limits_deg:
            continue
        lim = np.array(b.limits_deg, dtype=np.float64)  # (axes, 2)
        if b.joint == "hinge":
            val = np.degrees(hinge_angle(rotations[:, i], np.array(b.hinge_axis)))[:, None]
        else:
            val = np.degrees(quat_to_rotvec(rotations[:, i]))
        excess = np.maximum(lim[:, 0] - val, 0.0) + np.maximum(val - lim[:, 1], 0.0)
        worst = excess.max(axis=1)
        bad = worst > 0.5  # degrees: below this it is rounding
        if bad.any():
            out.append(LimitViolation(b.joint_name, int(bad.sum()), float(worst.max())))
    return out


def make_report(result: Retargeted, character: Character) -> RetargetReport:
    clip = result.clip
    skel = Skeleton.of(character)
    pos, rot = forward_kinematics(skel, clip.root_pos, clip.rotations)
    idx = [character.body_index(b) for b in result.bodies]
    err = np.linalg.norm(pos[:, idx] - result.targets, axis=-1) * 100.0
    rel = quat_mul(quat_conj(rot[:, idx]), result.target_rot)
    ang = np.degrees(np.linalg.norm(quat_to_rotvec(rel), axis=-1))
    bodies = []
    for k, (b, i) in enumerate(zip(result.bodies, idx)):
        rot_mean = float(ang[:, k].mean()) if character.bodies[i].joint != "fixed" else float("nan")
        bodies.append(BodyError(b, float(err[:, k].mean()), float(err[:, k].max()), rot_mean))
    feet = []
    for foot in character.foot_bodies:
        if foot not in result.bodies:
            continue
        contact = result.contacts.get(foot, np.zeros(clip.num_frames, bool))
        sole = lowest_point(character, foot, pos, rot)
        src_xy = result.targets[:, result.bodies.index(foot), :2]
        feet.append(
            FootReport(
                foot=foot,
                contact_frames=int(contact.sum()),
                penetration_cm=float(max(0.0, -sole.min()) * 100.0),
                skating_cm_s=_speed_in_contact(pos[:, character.body_index(foot), :2], contact, clip.fps),
                source_skating_cm_s=_speed_in_contact(src_xy, contact, clip.fps),
            )
        )
    shift = result.ground_shift * 100.0
    return RetargetReport(
        clip=clip.name,
        character=character.name,
        frames=clip.num_frames,
        fps=clip.fps,
        source_joints=result.source.num_joints,
        bone_map=result.bone_map.name,
        scale=result.scale,
        ik_steps=result.iterations,
        ground_shift_cm=(float(shift.min()), float(np.median(shift)), float(shift.max())),
        bodies=bodies,
        feet=feet,
        limits=limit_violations(character, clip.rotations),
        rest=result.rest,
        clamps=[ClampReport(**asdict(c)) for c in result.clamps],
    )
