"""Characters: one Python description per humanoid, compiled to MJCF.

The plain humanoid is read from DeepMimic's `character_humanoid3d.json`
(offsets, shapes, masses) with the ASE reference's joint limits, PD gains and
torque limits (numbers: docs/method.md, "Characters"; frames and layouts:
docs/architecture.md, "Conventions"). The sword-and-shield humanoid adds a
3-DoF right wrist, a sword and a shield. Both share `build_mjcf`.

World frame: z up, x forward when the character's heading is 0. Quaternions
are (w, x, y, z) everywhere in this project, as in MuJoCo.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Literal

import numpy as np

ASSETS_DIR = Path(__file__).resolve().parent.parent / "assets"

JointKind = Literal["free", "ball", "hinge", "fixed"]


@dataclass(frozen=True)
class Geom:
    """A collision/visual shape in its body's frame (z-up, metres)."""

    shape: Literal["sphere", "capsule", "box", "cylinder"]
    pos: tuple[float, float, float]
    size: tuple[float, ...]  # sphere (r,), capsule (r, half_len along z), box half-extents, cylinder (r, half_h)
    mass: float
    euler: tuple[float, float, float] = (0.0, 0.0, 0.0)  # degrees, xyz
    rgba: tuple[float, float, float, float] = (0.47, 0.55, 0.69, 1.0)


@dataclass(frozen=True)
class Body:
    """One rigid body and the joint that attaches it to its parent."""

    name: str
    parent: int  # index into Character.bodies, -1 for the root
    offset: tuple[float, float, float]  # joint position in the parent's frame
    joint: JointKind
    joint_name: str = ""
    # Per-axis limits in degrees (x, y, z) for ball joints; (lo, hi) for hinges.
    limits_deg: tuple[tuple[float, float], ...] = ()
    hinge_axis: tuple[float, float, float] = (0.0, 1.0, 0.0)
    kp: float = 0.0
    kd: float = 0.0
    torque_limit: float = 0.0
    geoms: tuple[Geom, ...] = ()

    @property
    def dof(self) -> int:
        return {"free": 6, "ball": 3, "hinge": 1, "fixed": 0}[self.joint]


@dataclass(frozen=True)
class Character:
    name: str
    bodies: tuple[Body, ...]
    key_bodies: tuple[str, ...]  # for the discriminator observation
    foot_bodies: tuple[str, ...]  # allowed to touch the ground without falling
    fall_height: dict[str, float] = field(default_factory=dict)  # per-body override of 0.15 m
    root_height: float = 0.89  # standing root height of the default pose

    # ---- derived layout -------------------------------------------------
    @property
    def num_bodies(self) -> int:
        return len(self.bodies)

    @property
    def body_names(self) -> list[str]:
        return [b.name for b in self.bodies]

    @property
    def parents(self) -> np.ndarray:
        return np.array([b.parent for b in self.bodies], dtype=np.int64)

    @property
    def offsets(self) -> np.ndarray:
        return np.array([b.offset for b in self.bodies], dtype=np.float64)

    @property
    def actuated(self) -> list[Body]:
        """Bodies whose joint is actuated (ball or hinge), in body order."""
        return [b for b in self.bodies if b.joint in ("ball", "hinge")]

    @property
    def num_dof(self) -> int:
        """Actuated degrees of freedom = action size."""
        return sum(b.dof for b in self.actuated)

    @property
    def num_actuated_joints(self) -> int:
        return len(self.actuated)

    @property
    def mjcf_path(self) -> Path:
        return ASSETS_DIR / f"{self.name}.xml"

    def body_index(self, name: str) -> int:
        return self.body_names.index(name)

    def action_offset_scale(self) -> tuple[np.ndarray, np.ndarray]:
        """PD target = offset + scale * clip(action, -1, 1), per actuated DoF.

        3-DoF joints: offset 0, one scale min(1.2 * max_axis max(|lo|, |hi|), pi).
        Hinges: offset = range middle, scale = 0.7 * range.
        """
        offset, scale = [], []
        for b in self.actuated:
            lim = np.radians(np.array(b.limits_deg, dtype=np.float64))
            if b.joint == "ball":
                s = min(1.2 * float(np.max(np.abs(lim))), math.pi)
                offset += [0.0] * 3
                scale += [s] * 3
            else:
                lo, hi = lim[0]
                offset.append(0.5 * (lo + hi))
                scale.append(0.7 * (hi - lo))
        return np.array(offset), np.array(scale)

    def pd_gains(self) -> tuple[np.ndarray, np.ndarray]:
        kp = np.concatenate([[b.kp] * b.dof for b in self.actuated])
        kd = np.concatenate([[b.kd] * b.dof for b in self.actuated])
        return kp, kd


# ---------------------------------------------------------------------------
# The plain humanoid from DeepMimic's character file
# ---------------------------------------------------------------------------

# DeepMimic joint name -> (ASE body name, MJCF joint name)
DEEPMIMIC_TO_BODY = {
    "root": ("pelvis", "root"),
    "chest": ("torso", "abdomen"),
    "neck": ("head", "neck"),
    "right_shoulder": ("right_upper_arm", "right_shoulder"),
    "right_elbow": ("right_lower_arm", "right_elbow"),
    "right_wrist": ("right_hand", "right_wrist"),
    "left_shoulder": ("left_upper_arm", "left_shoulder"),
    "left_elbow": ("left_lower_arm", "left_elbow"),
    "left_wrist": ("left_hand", "left_wrist"),
    "right_hip": ("right_thigh", "right_hip"),
    "right_knee": ("right_shin", "right_knee"),
    "right_ankle": ("right_foot", "right_ankle"),
    "left_hip": ("left_thigh", "left_hip"),
    "left_knee": ("left_shin", "left_knee"),
    "left_ankle": ("left_foot", "left_ankle"),
}

# ASE body order (the order of the .npy SkeletonMotion files).
PLAIN_BODY_ORDER = [
    "pelvis", "torso", "head",
    "right_upper_arm", "right_lower_arm", "right_hand",
    "left_upper_arm", "left_lower_arm", "left_hand",
    "right_thigh", "right_shin", "right_foot",
    "left_thigh", "left_shin", "left_foot",
]  # fmt: skip

# ASE reference limits in degrees (x, y, z) and gains / torque limits (gear).
REFERENCE_JOINTS: dict[str, dict] = {
    "abdomen": dict(lim=((-60, 60), (-60, 90), (-50, 50)), kp=1000, kd=100, tau=200),
    "neck": dict(lim=((-50, 50), (-40, 60), (-45, 45)), kp=100, kd=10, tau=50),
    "right_shoulder": dict(lim=((-180, 45), (-180, 60), (-90, 90)), kp=400, kd=40, tau=100),
    "left_shoulder": dict(lim=((-45, 180), (-180, 60), (-90, 90)), kp=400, kd=40, tau=100),
    "right_elbow": dict(lim=((-160, 0),), kp=300, kd=30, tau=70),
    "left_elbow": dict(lim=((-160, 0),), kp=300, kd=30, tau=70),
    "right_hip": dict(lim=((-60, 15), (-140, 60), (-60, 35)), kp=500, kd=50, tau=200),
    "left_hip": dict(lim=((-15, 60), (-140, 60), (-35, 60)), kp=500, kd=50, tau=200),
    "right_knee": dict(lim=((0, 160),), kp=500, kd=50, tau=150),
    "left_knee": dict(lim=((0, 160),), kp=500, kd=50, tau=150),
    "right_ankle": dict(lim=((-30, 30), (-55, 55), (-40, 40)), kp=400, kd=40, tau=90),
    "left_ankle": dict(lim=((-30, 30), (-55, 55), (-40, 40)), kp=400, kd=40, tau=90),
    "right_wrist": dict(lim=((-90, 90), (-90, 90), (-90, 90)), kp=100, kd=10, tau=50),
}


def yup_to_zup(v) -> tuple[float, float, float]:
    """(x, y, z) y-up -> (x, -z, y) z-up (+90 degrees about x)."""
    x, y, z = (float(c) for c in v)
    return (x, -z, y)


def _round(v, nd: int = 6) -> tuple[float, ...]:
    return tuple(round(float(c), nd) + 0.0 for c in v)


def _geom_from_deepmimic(bdef: dict, rgba) -> Geom:
    pos = _round(yup_to_zup((bdef["AttachX"], bdef["AttachY"], bdef["AttachZ"])))
    p0, p1, p2 = bdef["Param0"], bdef["Param1"], bdef["Param2"]
    shape = bdef["Shape"]
    if shape == "sphere":
        return Geom("sphere", pos, (p0 / 2,), bdef["Mass"], rgba=rgba)
    if shape == "capsule":  # along the body's y (DeepMimic) = z here
        return Geom("capsule", pos, (p0 / 2, p1 / 2), bdef["Mass"], rgba=rgba)
    if shape == "box":  # full extents (x, y, z) y-up -> half extents (x, z, y) z-up
        return Geom("box", pos, (p0 / 2, p2 / 2, p1 / 2), bdef["Mass"], rgba=rgba)
    raise ValueError(f"unsupported DeepMimic shape {shape!r} on body {bdef['Name']}")


def plain_humanoid_from_deepmimic(path: Path) -> Character:
    """Build the plain humanoid from DeepMimic's character file."""
    import json

    try:
        spec = json.loads(Path(path).read_text())
        joints = {j["Name"]: j for j in spec["Skeleton"]["Joints"]}
        bodydefs = {b["Name"]: b for b in spec["BodyDefs"]}
    except (OSError, ValueError, KeyError) as exc:
        raise ValueError(f"{path}: not a DeepMimic character file ({exc})") from exc
    dm_by_body = {v[0]: k for k, v in DEEPMIMIC_TO_BODY.items()}
    id_to_name = {j["ID"]: j["Name"] for j in spec["Skeleton"]["Joints"]}
    color = (0.47, 0.55, 0.69, 1.0)
    bodies = []
    for name in PLAIN_BODY_ORDER:
        dm = dm_by_body[name]
        j = joints[dm]
        parent = -1 if j["Parent"] < 0 else PLAIN_BODY_ORDER.index(DEEPMIMIC_TO_BODY[id_to_name[j["Parent"]]][0])
        joint_name = DEEPMIMIC_TO_BODY[dm][1]
        kind: JointKind = {"none": "free", "spherical": "ball", "revolute": "hinge", "fixed": "fixed"}[j["Type"]]
        ref = REFERENCE_JOINTS.get(joint_name, {}) if kind in ("ball", "hinge") else {}
        geom = _geom_from_deepmimic(bodydefs[dm], color)
        bodies.append(
            Body(
                name=name,
                parent=parent,
                offset=_round(yup_to_zup((j["AttachX"], j["AttachY"], j["AttachZ"]))),
                joint=kind,
                joint_name=joint_name,
                limits_deg=ref.get("lim", ()),
                kp=ref.get("kp", 0.0),
                kd=ref.get("kd", 0.0),
                torque_limit=ref.get("tau", 0.0),
                geoms=(geom,),
            )
        )
    return Character(
        name="humanoid",
        bodies=tuple(bodies),
        key_bodies=("right_hand", "left_hand", "right_foot", "left_foot"),
        foot_bodies=("right_foot", "left_foot"),
        fall_height={"head": 0.30},
    )


def sword_shield_from_plain(plain: Character) -> Character:
    """ASE's sword-and-shield humanoid: 3-DoF right wrist, sword and shield (17 bodies, 31 DoF)."""
    by_name = {b.name: b for b in plain.bodies}
    order = [
        "pelvis", "torso", "head", "right_upper_arm", "right_lower_arm", "right_hand", "sword",
        "left_upper_arm", "left_lower_arm", "shield", "left_hand",
        "right_thigh", "right_shin", "right_foot", "left_thigh", "left_shin", "left_foot",
    ]  # fmt: skip
    metal = (0.75, 0.75, 0.8, 1.0)
    wood = (0.55, 0.35, 0.2, 1.0)
    new: dict[str, Body] = {}
    for name in order:
        if name == "sword":
            # origin at the blade tip, 0.74 m along the hand's x; geometry in the tip's frame
            new[name] = Body(
                name="sword", parent=-2, offset=(0.74, 0.0, 0.0), joint="fixed", joint_name="sword",
                geoms=(
                    Geom("box", (-0.34, 0.0, 0.0), (0.34, 0.01, 0.035), 0.55, rgba=metal),
                    # hilt: the reference's fromto runs hand-frame x -0.13..0.10, the centres of its end caps
                    # (tip frame -0.87..-0.64): centre -0.755, half-length 0.115, radius 0.023
                    Geom("capsule", (-0.755, 0.0, 0.0), (0.023, 0.115), 0.15, euler=(0, 90, 0), rgba=wood),
                ),
            )  # fmt: skip
        elif name == "shield":
            # a disc on the outside of the left forearm, face pointing outwards (+y): the reference's
            # cylinder fromto (0,0,0)-(0,0.03,0) in a body at (0, 0.07, -0.12), so its centre is at y 0.015
            new[name] = Body(
                name="shield", parent=-2, offset=(0.0, 0.07, -0.12), joint="fixed", joint_name="shield",
                geoms=(Geom("cylinder", (0.0, 0.015, 0.0), (0.3, 0.015), 2.1, euler=(90, 0, 0), rgba=wood),),
            )  # fmt: skip
        elif name == "right_hand":
            ref = REFERENCE_JOINTS["right_wrist"]
            b = by_name[name]
            new[name] = Body(
                name=b.name, parent=-2, offset=b.offset, joint="ball", joint_name="right_wrist",
                limits_deg=ref["lim"], kp=ref["kp"], kd=ref["kd"], torque_limit=ref["tau"], geoms=b.geoms,
            )  # fmt: skip
        else:
            new[name] = by_name[name]
    parent_name = {
        **{b.name: (plain.bodies[b.parent].name if b.parent >= 0 else None) for b in plain.bodies},
        "sword": "right_hand",
        "shield": "left_lower_arm",
    }
    bodies = []
    for name in order:
        b = new[name]
        p = parent_name[name]
        bodies.append(_replace(b, parent=order.index(p) if p else -1))
    return Character(
        name="humanoid_sword_shield",
        bodies=tuple(bodies),
        key_bodies=("right_hand", "left_hand", "right_foot", "left_foot", "sword", "shield"),
        foot_bodies=("right_foot", "left_foot"),
        fall_height={"head": 0.30, "left_lower_arm": 0.32},
    )


def _replace(b: Body, **kw) -> Body:
    from dataclasses import replace

    return replace(b, **kw)


CHARACTERS = ("humanoid", "humanoid_sword_shield")


@cache
def load_character(name: str = "humanoid") -> Character:
    """The named character, built from the bundled description.

    The plain humanoid's numbers are frozen in `assets/humanoid.json` (generated
    from DeepMimic's file by `python -m sim.character`), so no data download is
    needed to simulate.
    """
    if name not in CHARACTERS:
        raise ValueError(f"unknown character {name!r}; choose one of {', '.join(CHARACTERS)}")
    plain = character_from_json(ASSETS_DIR / "humanoid.json")
    return plain if name == "humanoid" else sword_shield_from_plain(plain)


# ---- JSON snapshot of a Character (so assets need no external data) -------


def character_to_json(ch: Character) -> str:
    import json
    from dataclasses import asdict

    return json.dumps(asdict(ch), indent=1)


def character_from_json(path: Path) -> Character:
    import json

    try:
        d = json.loads(Path(path).read_text())
        bodies = tuple(
            Body(
                **{
                    **b,
                    "offset": tuple(b["offset"]),
                    "hinge_axis": tuple(b["hinge_axis"]),
                    "limits_deg": tuple(tuple(x) for x in b["limits_deg"]),
                    "geoms": tuple(
                        Geom(**{**g, "pos": tuple(g["pos"]), "size": tuple(g["size"]),
                                "euler": tuple(g["euler"]), "rgba": tuple(g["rgba"])})
                        for g in b["geoms"]
                    ),
                }
            )
            for b in d["bodies"]
        )  # fmt: skip
        return Character(
            name=d["name"],
            bodies=bodies,
            key_bodies=tuple(d["key_bodies"]),
            foot_bodies=tuple(d["foot_bodies"]),
            fall_height=dict(d["fall_height"]),
            root_height=d["root_height"],
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path}: not a valid character description ({exc})") from exc


# ---------------------------------------------------------------------------
# MJCF
# ---------------------------------------------------------------------------


def _fmt(v) -> str:
    return " ".join(f"{float(c):.6g}" for c in v)


def _geom_xml(g: Geom, indent: str) -> str:
    attrs = f'type="{g.shape}" pos="{_fmt(g.pos)}" size="{_fmt(g.size)}" mass="{g.mass:.6g}" rgba="{_fmt(g.rgba)}"'
    if any(g.euler):
        attrs += f' euler="{_fmt(g.euler)}"'
    return f"{indent}<geom {attrs}/>\n"


def build_mjcf(ch: Character, *, strike_target: bool = False) -> str:
    """MJCF for one character on a floor: 120 Hz, implicitfast, position actuators.

    Ball joints get three position actuators (gears x, y, z) that servo the
    rotation vector; hinges get one. Ball-joint cone limits use the largest
    per-axis limit (MuJoCo has no per-axis limit on a ball joint); hinges keep
    their exact range.
    """
    children: dict[int, list[int]] = {}
    for i, b in enumerate(ch.bodies):
        children.setdefault(b.parent, []).append(i)

    def body_xml(i: int, depth: int) -> str:
        b = ch.bodies[i]
        ind = "  " * depth
        pos = (0.0, 0.0, ch.root_height) if b.parent < 0 else b.offset
        s = f'{ind}<body name="{b.name}" pos="{_fmt(pos)}">\n'
        if b.joint == "free":
            s += f'{ind}  <freejoint name="{b.joint_name}"/>\n'
        elif b.joint == "ball":
            cone = min(max(abs(x) for lim in b.limits_deg for x in lim), 180.0)
            lim = f' range="0 {cone:.6g}"' if cone < 180.0 else ""
            s += f'{ind}  <joint name="{b.joint_name}" type="ball"{lim}/>\n'
        elif b.joint == "hinge":
            lo, hi = b.limits_deg[0]
            axis = _fmt(b.hinge_axis)
            s += f'{ind}  <joint name="{b.joint_name}" type="hinge" axis="{axis}" range="{lo:.6g} {hi:.6g}"/>\n'
        for g in b.geoms:
            s += _geom_xml(g, ind + "  ")
        s += f'{ind}  <site name="{b.name}" size="0.01" rgba="0 0 0 0"/>\n'
        for c in children.get(i, []):
            s += body_xml(c, depth + 1)
        return s + f"{ind}</body>\n"

    actuators = ""
    for b in ch.actuated:
        gears = ["1 0 0", "0 1 0", "0 0 1"] if b.joint == "ball" else ["1"]
        for k, gear in enumerate(gears):
            suffix = "_xyz"[k + 1] if b.joint == "ball" else ""
            name = f"{b.joint_name}{'_' + suffix if suffix else ''}"
            actuators += (
                f'    <position name="{name}" joint="{b.joint_name}" gear="{gear}" kp="{b.kp:.6g}" '
                f'kv="{b.kd:.6g}" forcerange="{-b.torque_limit:.6g} {b.torque_limit:.6g}"/>\n'
            )

    target = ""
    if strike_target:
        target = (
            '    <body name="strike_target" pos="2 0 0.9">\n'
            '      <freejoint name="strike_target"/>\n'
            '      <geom type="box" size="0.2 0.2 0.9" density="30" rgba="0.8 0.3 0.2 1" condim="3"/>\n'
            "    </body>\n"
        )
    root = children[-1][0]
    return f"""<!-- Generated by `python -m sim.character` from one Python description; do not edit. -->
<mujoco model="{ch.name}">
  <compiler angle="degree"/>
  <option timestep="{1 / 120:.10f}" integrator="implicitfast"/>
  <size memory="4M"/>
  <visual>
    <global offwidth="1920" offheight="1080"/>
    <quality shadowsize="2048"/>
    <headlight ambient="0.4 0.4 0.4" diffuse="0.6 0.6 0.6"/>
  </visual>
  <asset>
    <texture name="grid" type="2d" builtin="checker" rgb1="0.32 0.36 0.4" rgb2="0.26 0.3 0.34"
      width="512" height="512"/>
    <material name="grid" texture="grid" texrepeat="1 1" texuniform="true" reflectance="0.1"/>
    <texture name="sky" type="skybox" builtin="gradient" rgb1="0.55 0.7 0.85" rgb2="0.1 0.12 0.15"
      width="256" height="256"/>
  </asset>
  <default>
    <joint armature="0.05" limited="auto"/>
    <geom condim="1" friction="1 0.005 0.0001" solref="0.02 1" margin="0.0"/>
    <position ctrllimited="false" forcelimited="true"/>
  </default>
  <worldbody>
    <light name="sun" pos="0 0 6" dir="0 0 -1" directional="true" castshadow="true"/>
    <geom name="floor" type="plane" size="0 0 0.5" material="grid" condim="3" friction="1 0.005 0.0001"/>
{body_xml(root, 2)}{target}  </worldbody>
  <actuator>
{actuators}  </actuator>
  <sensor>
    <accelerometer name="contact_force_trigger" site="{ch.bodies[root].name}"/>
  </sensor>
</mujoco>
"""


def write_assets(deepmimic_file: Path) -> list[Path]:
    """Regenerate assets/humanoid.json (from DeepMimic's `character_humanoid3d.json`) and every MJCF."""
    ASSETS_DIR.mkdir(exist_ok=True)
    plain = plain_humanoid_from_deepmimic(deepmimic_file)
    (ASSETS_DIR / "humanoid.json").write_text(character_to_json(plain) + "\n")
    load_character.cache_clear()
    written = [ASSETS_DIR / "humanoid.json"]
    for name in CHARACTERS:
        ch = load_character(name)
        ch.mjcf_path.write_text(build_mjcf(ch))
        written.append(ch.mjcf_path)
    return written


def main(argv: list[str] | None = None) -> int:
    """`python -m sim.character DEEPMIMIC`: regenerate assets/ from DeepMimic's character file.

    sim/ does not look for motion data (motion/ depends on sim/, not the reverse): name the
    DeepMimic folder (or its character_humanoid3d.json) yourself.
    """
    import sys

    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or argv[0] in ("-h", "--help"):
        print("usage: python -m sim.character DEEPMIMIC_DIR  (the folder with character_humanoid3d.json; "
              "`python launch.py motions download` fetches it to ~/.cache/ase-runtime/motions/deepmimic)")  # fmt: skip
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    path = Path(argv[0]).expanduser()
    path = path / "character_humanoid3d.json" if path.is_dir() else path
    if not path.is_file():
        print(f"sim.character: {path}: no such file (DeepMimic's character_humanoid3d.json)", file=sys.stderr)
        return 1
    for p in write_assets(path):
        print("wrote", p)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
