"""The generated characters against DeepMimic's file and the ASE reference's numbers."""

from __future__ import annotations

import json

import mujoco
import numpy as np
import pytest

from sim.character import (
    CHARACTERS,
    DEEPMIMIC_TO_BODY,
    build_mjcf,
    load_character,
    plain_humanoid_from_deepmimic,
    yup_to_zup,
)


def test_offsets_match_deepmimic_file(deepmimic_dir) -> None:
    spec = json.loads((deepmimic_dir / "character_humanoid3d.json").read_text())
    ch = load_character("humanoid")
    for j in spec["Skeleton"]["Joints"]:
        body_name = DEEPMIMIC_TO_BODY[j["Name"]][0]
        body = ch.bodies[ch.body_index(body_name)]
        np.testing.assert_allclose(body.offset, yup_to_zup((j["AttachX"], j["AttachY"], j["AttachZ"])), atol=1e-9)
        parent = ch.bodies[body.parent].name if body.parent >= 0 else None
        dm_parent = spec["Skeleton"]["Joints"][j["Parent"]]["Name"] if j["Parent"] >= 0 else None
        assert parent == (DEEPMIMIC_TO_BODY[dm_parent][0] if dm_parent else None)
        if j["Type"] == "revolute":  # DeepMimic hinges turn about -y here: the range flips sign
            lo, hi = np.degrees([j["LimLow0"], j["LimHigh0"]])
            ref_lo, ref_hi = body.limits_deg[0]
            assert -hi - 1 <= ref_lo < ref_hi <= -lo + 1  # reference range lies inside DeepMimic's
    assert sum(g.mass for b in ch.bodies for g in b.geoms) == pytest.approx(45.0)


def test_bundled_description_is_current(deepmimic_dir) -> None:
    fresh = plain_humanoid_from_deepmimic(deepmimic_dir / "character_humanoid3d.json")
    assert fresh == load_character("humanoid")


@pytest.mark.parametrize("name", CHARACTERS)
def test_assets_are_generated_from_description(name: str) -> None:
    ch = load_character(name)
    assert ch.mjcf_path.read_text() == build_mjcf(ch), "run `python -m sim.character` to regenerate assets/"


def test_reference_limits_and_action_mapping() -> None:
    ch = load_character("humanoid")
    limits = {b.joint_name: b.limits_deg for b in ch.actuated}
    assert limits["right_shoulder"] == ((-180, 45), (-180, 60), (-90, 90))
    assert limits["left_hip"] == ((-15, 60), (-140, 60), (-35, 60))
    assert limits["right_knee"] == ((0, 160),) and limits["left_elbow"] == ((-160, 0),)
    offset, scale = ch.action_offset_scale()
    per_joint = {}
    col = 0
    for b in ch.actuated:
        per_joint[b.joint_name] = (offset[col], scale[col])
        col += b.dof
    expected_scale = {"abdomen": 1.885, "neck": 1.257, "right_shoulder": np.pi, "right_hip": 2.932, "left_ankle": 1.152}
    for name, s in expected_scale.items():
        assert per_joint[name][1] == pytest.approx(s, abs=1e-3)
    assert per_joint["right_elbow"] == pytest.approx((-1.396, 1.955), abs=1e-3)
    assert per_joint["left_knee"] == pytest.approx((1.396, 1.955), abs=1e-3)


@pytest.mark.parametrize("name,bodies,dof", [("humanoid", 15, 28), ("humanoid_sword_shield", 17, 31)])
def test_mjcf_compiles_with_pd_actuators(name: str, bodies: int, dof: int) -> None:
    ch = load_character(name)
    m = mujoco.MjModel.from_xml_path(str(ch.mjcf_path))
    assert m.nbody - 1 == bodies and m.nu == dof
    assert m.opt.timestep == pytest.approx(1 / 120)
    assert m.opt.integrator == mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    kp, kd = ch.pd_gains()
    np.testing.assert_allclose(m.actuator_gainprm[:, 0], kp)
    np.testing.assert_allclose(-m.actuator_biasprm[:, 2], kd)
    assert (m.jnt_stiffness == 0).all()  # PD lives in actuators, not passive springs
    for i, b in enumerate(ch.bodies):
        np.testing.assert_allclose(m.body_pos[i + 1], b.offset if b.parent >= 0 else (0, 0, ch.root_height))
    for b in ch.actuated:
        j = m.joint(b.joint_name)
        if b.joint == "hinge":
            np.testing.assert_allclose(np.degrees(j.range), b.limits_deg[0], atol=1e-6)


def test_sword_tip_and_shield() -> None:
    ch = load_character("humanoid_sword_shield")
    sword = ch.bodies[ch.body_index("sword")]
    assert ch.body_names.index("sword") == 6 and ch.body_names.index("shield") == 9
    assert ch.bodies[sword.parent].name == "right_hand" and sword.offset == (0.74, 0.0, 0.0)
    assert ch.bodies[ch.bodies[ch.body_index("shield")].parent].name == "left_lower_arm"
    wrist = ch.bodies[ch.body_index("right_hand")]
    assert wrist.joint == "ball" and wrist.kp == 100 and wrist.kd == 10


def test_sword_and_shield_geometry_match_the_reference() -> None:
    """Shield body at (0, 0.07, -0.12) in left_lower_arm, cylinder fromto (0,0,0)-(0,0.03,0); the hilt's fromto
    ends (end-cap centres) at hand-frame x -0.13 and 0.10, radius 0.023."""
    ch = load_character("humanoid_sword_shield")
    m = mujoco.MjModel.from_xml_path(str(ch.mjcf_path))
    shield = m.body("shield")
    assert m.body(shield.parentid[0]).name == "left_lower_arm"
    np.testing.assert_allclose(shield.pos, (0.0, 0.07, -0.12), atol=1e-9)
    (disc,) = [g for g in range(m.ngeom) if m.geom_bodyid[g] == shield.id]
    axis = m.geom_quat[disc]
    np.testing.assert_allclose(m.geom_pos[disc], (0.0, 0.015, 0.0), atol=1e-9)  # centre of (0,0,0)-(0,0.03,0)
    np.testing.assert_allclose(m.geom_size[disc][:2], (0.3, 0.015), atol=1e-9)
    z = np.zeros(3)
    mujoco.mju_rotVecQuat(z, np.array([0.0, 0.0, 1.0]), axis)
    np.testing.assert_allclose(np.abs(z), (0.0, 1.0, 0.0), atol=1e-9)  # the cylinder's axis is the forearm's y
    sword = m.body("sword")
    np.testing.assert_allclose(sword.pos, (0.74, 0.0, 0.0), atol=1e-9)
    capsule = mujoco.mjtGeom.mjGEOM_CAPSULE
    (hilt,) = [g for g in range(m.ngeom) if m.geom_bodyid[g] == sword.id and m.geom_type[g] == capsule]
    centre = sword.pos[0] + m.geom_pos[hilt][0]
    half = m.geom_size[hilt][1]
    np.testing.assert_allclose((centre - half, centre + half), (-0.13, 0.10), atol=1e-9)
    assert m.geom_size[hilt][0] == pytest.approx(0.023)
