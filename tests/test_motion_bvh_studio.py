"""Studio rigs (issue 36): BVH files whose bones run along each joint's local +X, so the zero-channel pose is
no standing pose and the joints' frames are not the world's at the T-pose; names no preset knows.

The file (tests/bvh_synth.py, `write_studio_bvh`) has the issue's shape: 22 joints (joint_Root, Hips, Spine,
Chest, Neck, Head, Shoulder/UpperArm/LowerArm/Hand and UpperLeg/LowerLeg/Foot/Toes with _L/_R), 6 channels
on every joint, ZXY, centimetres, y-up, the walk's translation on Hips below joint_Root (the run's on
joint_Root); written from the DeepMimic clips, so the truth is the clip itself. Bounds are those of the
issue-17 files (tests/test_motion_bvh.py): same proportions mean < 1 cm, max < 3; other proportions
mean < 2.5, max < 7 (8 on the run, whose landing foot is lifted out of the floor), and the thigh's twist
within 30 degrees of the source's (the zero-channel path gave half a turn).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from motion.bvh import read_bvh, to_source
from motion.cli import main
from motion.io import load_clip
from motion.joint_match import match_names, match_topology, side_and_base
from motion.kinematics import Skeleton, forward_kinematics
from motion.retarget import RetargetConfig, standing_rest
from motion.retarget_io import ImportOptions, retarget_file
from sim.rotations import hinge_angle, wrap_angle
from tests.bvh_synth import STUDIO_JOINTS, write_studio_bvh

pytestmark = pytest.mark.usefixtures("private_bvh_cache")


@pytest.fixture(scope="module")
def run(deepmimic_dir, humanoid):
    return load_clip(deepmimic_dir / "humanoid3d_run.txt", humanoid)


def _errors_cm(result, ch) -> np.ndarray:
    pos, _ = forward_kinematics(Skeleton.of(ch), result.clip.root_pos, result.clip.rotations)
    idx = [ch.body_index(b) for b in result.bodies]
    return np.linalg.norm(pos[:, idx] - result.targets, axis=-1) * 100.0


def _thigh_twist_error_deg(result, truth, ch) -> float:
    """Largest difference (degrees) between the retargeted hips' twist about the thigh (its z) and the truth's."""
    worst = 0.0
    for side in ("left", "right"):
        i = ch.body_index(f"{side}_thigh")
        z = np.array([0.0, 0.0, 1.0])
        n = result.clip.num_frames
        d = wrap_angle(hinge_angle(result.clip.rotations[:, i], z) - hinge_angle(truth.rotations[:n, i], z))
        worst = max(worst, float(np.degrees(np.abs(d)).max()))
    return worst


def _travel(xy: np.ndarray) -> float:
    return float(np.linalg.norm(np.diff(xy, axis=0), axis=-1).sum())


def test_studio_file_has_the_issues_shape(walk, humanoid, tmp_path) -> None:
    syn = write_studio_bvh(walk, humanoid, tmp_path / "walk.bvh")
    data = read_bvh(syn.path)
    assert len(data.joints) == STUDIO_JOINTS == 22 and data.joints[:2] == ["joint_Root", "Hips"]
    assert all(c == "Xposition Yposition Zposition Zrotation Xrotation Yrotation".split() for c in data.channels)
    # each joint's first child lies along its +X; Hips moves in joint_Root's frame, joint_Root stays put
    for j, name in enumerate(data.joints):
        kids = np.flatnonzero(data.parents == j)
        if len(kids):
            o = data.offsets[kids[0]]
            assert np.linalg.norm(o[1:]) < 1e-4 * np.linalg.norm(o) and o[0] > 0, name
    assert np.ptp(data.local_pos[:, 1], axis=0).max() > 50.0 and np.ptp(data.local_pos[:, 0]) == 0.0
    # the reader's forward kinematics puts every joint where the writer did
    source = to_source(data, "walk", 0.01, "y")
    order = [syn.names.index(n) for n in source.joints]
    assert np.abs(source.world()[0] - syn.positions[:, order]).max() < 1e-5
    joints = {b: (source.joints.index(p), source.joints.index(r)) for b, (p, r) in _issue_map().items()}
    assert not standing_rest(source, joints)  # with zero channels the rig is no standing pose


def _issue_map() -> dict[str, tuple[str, str]]:
    limbs = {"upper_arm": "UpperArm", "lower_arm": "LowerArm", "hand": "Hand"}
    limbs |= {"thigh": "UpperLeg", "shin": "LowerLeg", "foot": "Foot"}
    out = {"pelvis": ("Hips", "Hips"), "torso": ("Chest", "Chest"), "head": ("Neck", "Head")}
    for side, s in (("left", "L"), ("right", "R")):
        out |= {f"{side}_{b}": (f"{j}_{s}", f"{j}_{s}") for b, j in limbs.items()}
    return out


@pytest.mark.parametrize("proportions", [False, True])
def test_studio_walk_converts_without_a_map(walk, humanoid, tmp_path, proportions) -> None:
    syn = write_studio_bvh(walk, humanoid, tmp_path / "walk.bvh", proportions=proportions)
    result, report = retarget_file(syn.path, humanoid)
    assert report.bone_map == "matched by name" and result.bone_map.entries == _issue_map()
    assert report.rest == "clip" and result.scale == pytest.approx(1 / 1.12 if not proportions else 0.8714, rel=1e-3)
    err = _errors_cm(result, humanoid)
    mean, top = (1.0, 3.0) if not proportions else (2.5, 7.0)
    assert err.mean() < mean and err.max() < top, "\n".join(report.lines())
    assert not report.limits, "\n".join(report.lines())
    assert _thigh_twist_error_deg(result, walk, humanoid) < (5.0 if not proportions else 30.0)
    # the root travels the source's path times the scale (the source's pelvis joint: Hips)
    src = _travel(syn.positions[:, syn.names.index("Hips"), :2])
    assert _travel(result.clip.root_pos[:, :2]) == pytest.approx(src * result.scale, rel=0.01)
    for f in report.feet:
        assert f.penetration_cm < 0.1 and f.contact_frames > 10
        assert f.skating_cm_s < f.source_skating_cm_s + 2.0


def test_studio_run_with_translation_on_the_root(run, humanoid, tmp_path) -> None:
    syn = write_studio_bvh(run, humanoid, tmp_path / "run.bvh", translation_on="joint_Root")
    data = read_bvh(syn.path)
    assert np.ptp(data.local_pos[:, 0], axis=0).max() > 50.0 and np.ptp(data.local_pos[:, 1], axis=0).max() < 1e-3
    result, report = retarget_file(syn.path, humanoid)
    err = _errors_cm(result, humanoid)
    assert err.mean() < 2.5 and err.max() < 8.0, "\n".join(report.lines())
    assert all(v.max_excess_deg < 20.0 for v in report.limits), "\n".join(report.lines())
    assert _thigh_twist_error_deg(result, run, humanoid) < 30.0
    src = _travel(syn.positions[:, syn.names.index("Hips"), :2])
    assert _travel(result.clip.root_pos[:, :2]) == pytest.approx(src * result.scale, rel=0.01)


def test_zero_channel_rest_would_turn_the_thighs_half_a_turn(walk, humanoid, tmp_path) -> None:
    """What issue 36 saw: aligning at the zero-channel pose twists the thighs about half a turn."""
    syn = write_studio_bvh(walk, humanoid, tmp_path / "walk.bvh", frames=15)
    bad, report = retarget_file(syn.path, humanoid, config=RetargetConfig(rest="file"))
    assert _thigh_twist_error_deg(bad, walk, humanoid) > 90.0 and report.limits
    good, _ = retarget_file(syn.path, humanoid, config=RetargetConfig(rest="clip"))
    assert _thigh_twist_error_deg(good, walk, humanoid) < 5.0


def test_topology_fallback_for_names_nobody_uses(walk, humanoid, tmp_path) -> None:
    syn = write_studio_bvh(walk, humanoid, tmp_path / "walk.bvh", frames=20, proportions=False)
    text = syn.path.read_text()
    rename = {n: f"J{k:02d}" for k, n in enumerate(sorted(syn.names, key=len, reverse=True))}
    for n, new in rename.items():  # longest first: UpperLeg_L before Leg... (none is a prefix of another here)
        text = text.replace(f"JOINT {n}\n", f"JOINT {new}\n").replace(f"ROOT {n}\n", f"ROOT {new}\n")
    (tmp_path / "anon.bvh").write_text(text)
    result, report = retarget_file(tmp_path / "anon.bvh", humanoid)
    assert report.bone_map == "matched by skeleton shape"
    assert result.bone_map.entries == {b: (rename[p], rename[r]) for b, (p, r) in _issue_map().items()}
    assert _errors_cm(result, humanoid).mean() < 1.0


def _tree(names: dict[str, str | None], layout: list[tuple[str, str | None, tuple[float, float, float]]]):
    """(joints, parents, offsets) from (role, parent role, offset) rows; names[role] None: the joint is absent
    (its children hang from its parent)."""
    joints, parents, offsets, index = [], [], [], {}
    carry: dict[str, tuple[str | None, np.ndarray]] = {}
    for role, parent, off in layout:
        off = np.array(off, dtype=np.float64)
        while parent in carry:  # an absent parent: go up and add its offset
            parent, extra = carry[parent]
            off = off + extra
        if names.get(role) is None:
            carry[role] = (parent, off)
            continue
        index[role] = len(joints)
        joints.append(names[role])
        parents.append(index[parent] if parent else -1)
        offsets.append(off)
    return joints, np.array(parents), np.array(offsets)


_LAYOUT = [
    ("root", None, (0, 0, 0)), ("pelvis", "root", (0, 0, 95)), ("spine", "pelvis", (0, 0, 10)),
    ("spine1", "spine", (0, 0, 12)), ("chest", "spine1", (0, 0, 12)), ("neck", "chest", (0, 0, 18)),
    ("head", "neck", (0, 0, 10)),
] + [
    row
    for s, y in (("l", 1), ("r", -1))
    for row in [
        (f"clav_{s}", "chest", (0, 3 * y, 15)), (f"upper_arm_{s}", f"clav_{s}", (0, 15 * y, 0)),
        (f"lower_arm_{s}", f"upper_arm_{s}", (0, 0, -28)), (f"hand_{s}", f"lower_arm_{s}", (0, 0, -26)),
        (f"finger_{s}", f"hand_{s}", (0, 0, -8)), (f"hipjoint_{s}", "pelvis", (0, 4 * y, -4)),
        (f"thigh_{s}", f"hipjoint_{s}", (0, 5 * y, -3)), (f"shin_{s}", f"thigh_{s}", (0, 0, -42)),
        (f"foot_{s}", f"shin_{s}", (0, 0, -42)), (f"toe_{s}", f"foot_{s}", (12, 0, -6)),
    ]
]  # fmt: skip


def _family(spine, neck, head, limbs, side_fmt, extra=None):
    names = {"root": None, "pelvis": spine[0], "spine": spine[1], "spine1": spine[2], "chest": spine[3]}
    names |= {"neck": neck, "head": head}
    for s, side in (("l", "Left"), ("r", "Right")):
        for role, base in limbs.items():
            names[f"{role}_{s}"] = None if base is None else side_fmt(side, base)
    names |= extra or {}
    return names


FAMILIES = {
    "mixamo": _family(
        ["Hips", "Spine", "Spine1", "Spine2"], "Neck", "Head",
        {"clav": "Shoulder", "upper_arm": "Arm", "lower_arm": "ForeArm", "hand": "Hand", "finger": "HandIndex1",
         "hipjoint": None, "thigh": "UpLeg", "shin": "Leg", "foot": "Foot", "toe": "ToeBase"},
        lambda side, b: f"mixamorig:{side}{b}",
    ),
    "cmu": _family(
        ["Hips", "LowerBack", "Spine", "Spine1"], "Neck", "Head",
        {"clav": "Shoulder", "upper_arm": "Arm", "lower_arm": "ForeArm", "hand": "Hand", "finger": "HandIndex1",
         "hipjoint": "HipJoint", "thigh": "UpLeg", "shin": "Leg", "foot": "Foot", "toe": "ToeBase"},
        lambda side, b: f"{side[0]}{b}" if b == "HipJoint" else f"{side}{b}",
    ),
    "studio": _family(
        ["Hips", "Spine", None, "Chest"], "Neck", "Head",
        {"clav": "Shoulder", "upper_arm": "UpperArm", "lower_arm": "LowerArm", "hand": "Hand", "finger": None,
         "hipjoint": None, "thigh": "UpperLeg", "shin": "LowerLeg", "foot": "Foot", "toe": "Toes"},
        lambda side, b: f"{b}_{side[0]}", {"root": "joint_Root"},
    ),
    "unreal": _family(
        ["pelvis", "spine_01", "spine_02", "spine_03"], "neck_01", "head",
        {"clav": "clavicle", "upper_arm": "upperarm", "lower_arm": "lowerarm", "hand": "hand", "finger": "index_01",
         "hipjoint": None, "thigh": "thigh", "shin": "calf", "foot": "foot", "toe": "ball"},
        lambda side, b: f"{b}_{side[0].lower()}", {"root": "root"},
    ),
    "blender": _family(
        ["hips", "spine", "spine.001", "chest"], "neck", "head",
        {"clav": "shoulder", "upper_arm": "upper_arm", "lower_arm": "forearm", "hand": "hand", "finger": None,
         "hipjoint": None, "thigh": "thigh", "shin": "shin", "foot": "foot", "toe": "toe"},
        lambda side, b: f"{b}.{side[0]}",
    ),
    "left_right_words": _family(
        ["Pelvis", "Spine", None, "Chest"], "Neck", "Head",
        {"clav": "Collar", "upper_arm": "Shoulder", "lower_arm": "Elbow", "hand": "Wrist", "finger": None,
         "hipjoint": None, "thigh": "Hip", "shin": "Knee", "foot": "Ankle", "toe": "Toe"},
        lambda side, b: f"{side}{b}",
    ),
    "smpl": _family(
        ["Pelvis", "Spine1", "Spine2", "Spine3"], "Neck", "Head",
        {"clav": "Collar", "upper_arm": "Shoulder", "lower_arm": "Elbow", "hand": "Wrist", "finger": "Hand",
         "hipjoint": None, "thigh": "Hip", "shin": "Knee", "foot": "Ankle", "toe": "Foot"},
        lambda side, b: f"{side[0]}_{b}",
    ),
}  # fmt: skip


@pytest.mark.parametrize("family", FAMILIES)
def test_name_families_match_without_a_map(family) -> None:
    names = FAMILIES[family]
    joints, parents, offsets = _tree(names, _LAYOUT)
    entries = match_names(joints, parents, offsets)
    assert entries is not None, joints
    for s, side in (("l", "left"), ("r", "right")):
        for role in ("thigh", "shin", "foot", "upper_arm", "lower_arm", "hand"):
            assert entries[f"{side}_{role}"] == (names[f"{role}_{s}"],) * 2, (family, role)
    assert entries["pelvis"] == (names["pelvis"],) * 2
    assert entries["head"] == (names["neck"], names["head"])
    assert entries["torso"][1] == names["chest"]  # turns with the chest; sits mid-back
    assert entries["torso"][0] in (names["spine1"], names["chest"], names["spine"])


def test_side_words() -> None:
    assert side_and_base("mixamorig:LeftUpLeg") == ("left", "upleg")
    assert side_and_base("UpperLeg_L") == ("left", "upperleg")
    assert side_and_base("LowerLeg_R") == ("right", "lowerleg")  # the L of Lower is no side
    assert side_and_base("thigh.L") == ("left", "thigh")
    assert side_and_base("calf_r") == ("right", "calf")
    assert side_and_base("LHipJoint") == ("left", "hip")
    assert side_and_base("Bip01 R Thigh") == ("right", "thigh")
    assert side_and_base("Chest") == (None, "chest")


def test_topology_on_a_tree_without_names() -> None:
    joints, parents, offsets = _tree({r: f"j{k}" for k, (r, _, _) in enumerate(_LAYOUT)}, _LAYOUT)
    pts = np.zeros((1, len(joints), 3))  # z-up, facing +x: the rest pose stands
    for j, p in enumerate(parents):
        pts[0, j] = offsets[j] + (pts[0, p] if p >= 0 else 0)
    entries = match_topology(joints, parents, offsets, pts)
    role = {f"j{k}": r for k, (r, _, _) in enumerate(_LAYOUT)}
    got = {b: (role[p], role[r]) for b, (p, r) in entries.items()}
    assert got["left_thigh"] == ("thigh_l", "thigh_l") and got["right_shin"] == ("shin_r", "shin_r")
    assert got["left_upper_arm"] == ("upper_arm_l",) * 2 and got["right_hand"] == ("hand_r",) * 2
    assert got["pelvis"] == ("pelvis", "pelvis") and got["head"] == ("neck", "head") and got["torso"][1] == "chest"


def test_clamp_holds_the_limits_and_says_what_it_cost(walk, humanoid, tmp_path, capsys) -> None:
    """The zero-channel path on the studio rig bends the hips far beyond their limits; --clamp holds every joint
    inside them and reports how far that moved the hands, feet and head."""
    syn = write_studio_bvh(walk, humanoid, tmp_path / "walk.bvh", frames=12)
    _, loose = retarget_file(syn.path, humanoid, config=RetargetConfig(rest="file"))
    held, report = retarget_file(syn.path, humanoid, config=RetargetConfig(rest="file", clamp=True))
    assert {v.joint for v in loose.limits} >= {"left_hip", "right_hip"}
    assert not report.limits and {c.joint for c in report.clamps} == {v.joint for v in loose.limits}
    for c in report.clamps:
        assert c.frames >= 1 and c.max_clamp_deg > 0.5 and 0.0 <= c.effector_mean_cm <= c.effector_max_cm < 30.0
    hip = next(c for c in report.clamps if c.joint == "left_hip")
    assert hip.effector == "left_foot"
    assert "clamped into the limits" in "\n".join(report.lines())
    # the CLI: --clamp on convert; the JSON report lists the clamps; a clip inside its limits clamps nothing
    out = tmp_path / "w.npy"
    assert main(["convert", str(syn.path), "--to", str(out), "--clamp", "--report", str(tmp_path / "r.json")]) == 0
    assert json.loads((tmp_path / "r.json").read_text())["clamps"] == []
    assert "joint limits: none exceeded" in capsys.readouterr().out


def test_info_shows_the_map_it_chose(walk, humanoid, tmp_path, capsys) -> None:
    syn = write_studio_bvh(walk, humanoid, tmp_path / "walk.bvh", frames=10)
    assert main(["info", str(syn.path)]) == 0
    out = capsys.readouterr().out
    assert "BVH, 22 joints" in out and "units: cm (guessed)" in out and "up axis: y (guessed)" in out
    assert "joint map: matched by name" in out and "left_thigh: UpperLeg_L" in out and "head: [Neck, Head]" in out
    assert "rest alignment: from the clip" in out
    (tmp_path / "map.yaml").write_text("".join(f"{b}: [{p}, {r}]\n" for b, (p, r) in _issue_map().items()))
    assert main(["info", str(syn.path), "--map", str(tmp_path / "map.yaml")]) == 0  # a map file still wins
    assert f"joint map: {tmp_path / 'map.yaml'}" in capsys.readouterr().out
    result, _ = retarget_file(syn.path, humanoid, ImportOptions(bone_map=str(tmp_path / "map.yaml")))
    assert result.bone_map.name == str(tmp_path / "map.yaml")
