"""BVH import and retargeting, on BVH files the tests write from the DeepMimic clips (tests/bvh_synth.py):
another skeleton (other bone lengths, a 3-joint spine, clavicles, fingers, toes), other rotation orders and a
6-channel joint, an A-pose rest with bent elbows and knees, y-up facing +z, centimetres.

Stated accuracy (forward kinematics of the retargeted clip against the source joints, scaled by leg length):
- the character's own proportions: every body within 3 cm (the source's spine bends at three joints where the
  character's bends at one; the rest is IK tolerance), mean under 1 cm;
- other proportions (arms 10 % shorter, shins 5 % longer relative to the legs): mean under 2.5 cm, every body
  within 7 cm (a hand cannot sit where a shorter source arm puts it while its arm keeps the source's angles).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from motion.bone_map import choose_map, preset
from motion.bvh import read_bvh
from motion.cli import main
from motion.clip import MotionFileError
from motion.io import load_clip
from motion.kinematics import Skeleton, forward_kinematics
from motion.library import MotionLibrary
from motion.retarget_io import ImportOptions, bvh_summary, cache_dir, retarget_file
from sim.character import load_character
from sim.rotations import heading_angle, quat_conj, quat_mul, quat_to_rotvec, wrap_angle
from tests.bvh_synth import YAW, YAW_ZUP, write_bvh

pytestmark = pytest.mark.usefixtures("private_bvh_cache")


def _fk(clip, ch):
    return forward_kinematics(Skeleton.of(ch), clip.root_pos, clip.rotations)


def _errors_cm(result, ch) -> np.ndarray:
    pos, _ = _fk(result.clip, ch)
    idx = [ch.body_index(b) for b in result.bodies]
    return np.linalg.norm(pos[:, idx] - result.targets, axis=-1) * 100.0


def _chain_bvh(path: Path) -> Path:
    """A 4-joint chain: no humanoid by any name or shape."""
    joints = ["ROOT Base", "JOINT Seg1", "JOINT Seg2", "JOINT Tip"]
    lines = ["HIERARCHY"]
    for k, j in enumerate(joints):
        pad = "  " * k
        chans = (
            "6 Xposition Yposition Zposition Zrotation Xrotation Yrotation"
            if k == 0
            else "3 Zrotation Xrotation Yrotation"
        )
        lines += [f"{pad}{j}", f"{pad}{{", f"{pad}  OFFSET 0 {20 * k} 0", f"{pad}  CHANNELS {chans}"]
    lines += ["      End Site", "      {", "        OFFSET 0 20 0", "      }"] + [
        "  " * k + "}" for k in range(3, -1, -1)
    ]
    lines += ["MOTION", "Frames: 3", "Frame Time: 0.0333333"] + [" ".join(["0"] * 15)] * 3
    path.write_text("\n".join(lines) + "\n")
    return path


def test_reader_gives_the_written_skeleton(walk, humanoid, tmp_path) -> None:
    syn = write_bvh(walk, humanoid, tmp_path / "walk.bvh")
    data = read_bvh(syn.path)
    assert data.num_frames == walk.num_frames and data.fps == pytest.approx(30.0, rel=1e-4)
    assert len(data.joints) == 28 and data.joints[0] == "mixamorig:Hips"
    assert ["Xposition", "Yposition", "Zposition"] == data.channels[data.joints.index("mixamorig:Spine1")][:3]
    assert len(data.end_sites) == 7  # head, 2 x (index finger, thumb, toe)
    result, report = retarget_file(syn.path, humanoid)
    # the reader's forward kinematics (cm, y-up -> m, z-up) puts every joint where the writer did (float32 inside)
    pos, _ = result.source.world()
    order = [syn.names.index(n.split(":")[1]) for n in result.source.joints]
    assert np.abs(pos - syn.positions[:, order]).max() < 1e-5
    assert report.bone_map == "mixamo" and report.source_joints == 28


def test_same_proportions_retarget_closely_and_keep_heading_and_path(walk, humanoid, tmp_path) -> None:
    syn = write_bvh(walk, humanoid, tmp_path / "walk.bvh", size=1.12, proportions=False)
    result, report = retarget_file(syn.path, humanoid)
    assert result.scale == pytest.approx(1 / 1.12, rel=1e-6)
    err = _errors_cm(result, humanoid)
    assert err.max() < 3.0 and err.mean() < 1.0, report.lines()
    # against the original clip: the same motion, turned by YAW about z
    pos, rot = _fk(result.clip, humanoid)
    orig_pos, orig_rot = _fk(walk, humanoid)
    c, s = np.cos(YAW), np.sin(YAW)
    turned = orig_pos @ np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]).T
    dz = np.median(pos[..., 2] - turned[..., 2])  # the ground step's lift
    assert abs(dz) < 0.02
    np.testing.assert_allclose(pos[..., :2], turned[..., :2], atol=0.03)
    heading = wrap_angle(heading_angle(rot[:, 0]) - heading_angle(orig_rot[:, 0]) - YAW)
    assert np.abs(heading).max() < np.radians(3)
    # local joint rotations follow the original's (what the discriminator sees)
    rel = quat_mul(quat_conj(walk.rotations[:, 1:]), result.clip.rotations[:, 1:])
    ang = np.degrees(np.linalg.norm(quat_to_rotvec(rel), axis=-1))
    assert np.median(ang) < 3.0 and ang.max() < 20.0


def test_z_up_metres_file(walk, humanoid, tmp_path) -> None:
    """A z-up file in metres (facing +y): both guessed, the same motion, turned by YAW_ZUP."""
    syn = write_bvh(walk, humanoid, tmp_path / "walk.bvh", up="z", units_per_metre=1.0, proportions=False, frames=20)
    summary = bvh_summary(syn.path, humanoid)
    assert (summary.up, summary.units) == ("z", "m") and 1.7 < summary.height_m < 1.9  # 1.12 x the character
    result, report = retarget_file(syn.path, humanoid)
    assert report.mean_error_cm < 1.0
    _, rot = _fk(result.clip, humanoid)
    heading = wrap_angle(heading_angle(rot[:, 0]) - heading_angle(walk.rotations[:20, 0]) - YAW_ZUP)
    assert np.abs(heading).max() < np.radians(3)


@pytest.mark.parametrize("character", ["humanoid", "humanoid_sword_shield"])
def test_other_proportions_within_stated_error(walk, tmp_path, character) -> None:
    plain = load_character("humanoid")
    ch = load_character(character)
    syn = write_bvh(walk, plain, tmp_path / "walk.bvh")
    result, report = retarget_file(syn.path, ch)
    err = _errors_cm(result, ch)
    assert err.mean() < 2.5 and err.max() < 7.0, "\n".join(report.lines())
    assert report.mean_error_cm == pytest.approx(err.mean(axis=0).mean())
    # feet: on the ground in contact, never in it; no skating beyond the source's own
    pos, rot = _fk(result.clip, ch)
    for f in report.feet:
        assert f.penetration_cm < 0.1 and f.contact_frames > 10
        assert f.skating_cm_s < f.source_skating_cm_s + 2.0
    assert not report.limits  # the walk stays inside the joint limits
    clip = result.clip
    assert clip.num_bodies == ch.num_bodies and clip.fps == pytest.approx(30.0, rel=1e-4)
    if character == "humanoid_sword_shield":  # its wrist turns; sword and shield stay fixed
        assert np.allclose(clip.rotations[:, ch.body_index("sword"), 0], 1.0)


def test_feet_are_put_on_and_kept_out_of_the_ground(deepmimic_dir, humanoid, tmp_path) -> None:
    """DeepMimic's run puts a foot 7 cm into the floor at landing; the retargeted one never goes in."""
    from motion.retarget import lowest_point

    run = load_clip(deepmimic_dir / "humanoid3d_run.txt", humanoid)
    syn = write_bvh(run, humanoid, tmp_path / "run.bvh", proportions=False)
    result, report = retarget_file(syn.path, humanoid)
    pos, rot = _fk(result.clip, humanoid)
    for foot in humanoid.foot_bodies:
        sole = lowest_point(humanoid, foot, pos, rot)
        assert sole.min() > -1e-3
        contact = result.contacts[foot]
        assert contact.sum() >= 4 and np.median(sole[contact]) < 0.015  # on the ground while in contact
    assert np.ptp(result.ground_shift) < 0.04  # the legs, not the root, lift the landing foot


def test_map_presets_yaml_and_unmappable_files(walk, humanoid, tmp_path) -> None:
    cmu = (
        "Hips LHipJoint LeftUpLeg LeftLeg LeftFoot RHipJoint RightUpLeg RightLeg RightFoot LowerBack Spine Spine1 "
        "Neck Neck1 Head LeftShoulder LeftArm LeftForeArm LeftHand RightShoulder RightArm RightForeArm RightHand"
    ).split()
    assert choose_map("x.bvh", cmu, humanoid.body_names).name == "cmu"
    assert choose_map("x.bvh", cmu, humanoid.body_names).entries["torso"] == ("Spine", "Spine1")
    mixamo = [f"mixamorig:{j}" for j in cmu if j not in ("LowerBack", "Neck1", "LHipJoint", "RHipJoint")] + ["Spine2"]
    assert choose_map("x.bvh", mixamo, humanoid.body_names).name == "mixamo"
    assert preset("mixamo").resolve(mixamo)["pelvis"] == (0, 0)

    syn = write_bvh(walk, humanoid, tmp_path / "walk.bvh", prefix="rig_", frames=12)  # names no preset knows
    result, report = retarget_file(syn.path, humanoid)  # ... but the name matcher does (rig_LeftUpLeg)
    assert report.bone_map == "matched by name" and result.bone_map.entries == {
        b: (f"rig_{p}", f"rig_{r}") for b, (p, r) in preset("mixamo").entries.items()
    }
    assert _errors_cm(result, humanoid).mean() < 2.5
    chain = _chain_bvh(tmp_path / "chain.bvh")  # no humanoid: neither names nor shape
    with pytest.raises(MotionFileError, match=r"no joint-map preset fits its 4 joints.*shape.*--map") as err:
        retarget_file(chain, humanoid)
    assert str(err.value).startswith(str(chain)) and "\n" not in str(err.value)
    lines = [
        f"{b}: [rig_{p}, rig_{r}]" if p != r else f"{b}: rig_{p}" for b, (p, r) in preset("mixamo").entries.items()
    ]
    (tmp_path / "map.yaml").write_text("# body: joint, or [position joint, rotation joint]\n" + "\n".join(lines) + "\n")
    result, report = retarget_file(syn.path, humanoid, ImportOptions(bone_map=str(tmp_path / "map.yaml")))
    assert _errors_cm(result, humanoid).mean() < 2.5 and report.bone_map.endswith("map.yaml")  # a map file wins
    (tmp_path / "bad.yaml").write_text("extends: mixamo\nleft_tail: Tail\n")
    with pytest.raises(MotionFileError, match=r"bad\.yaml: 'left_tail' is not a body of the character"):
        retarget_file(syn.path, humanoid, ImportOptions(bone_map=str(tmp_path / "bad.yaml")))
    (tmp_path / "short.yaml").write_text("extends: mixamo\nleft_foot: rig_LeftFoot\n")
    with pytest.raises(MotionFileError, match=r"walk\.bvh: cannot map onto the character with .*short\.yaml: no joint"):
        retarget_file(syn.path, humanoid, ImportOptions(bone_map=str(tmp_path / "short.yaml")))


def test_bad_bvh_files_give_one_line_errors_naming_the_file(walk, humanoid, tmp_path) -> None:
    syn = write_bvh(walk, humanoid, tmp_path / "ok.bvh", frames=10)
    text = syn.path.read_text()
    cases = {
        "truncated.bvh": (text[: int(len(text) * 0.9)], r"truncated BVH: declares 10 frames but holds \d"),
        "no_motion.bvh": (text[: text.index("MOTION")], "no MOTION section"),
        "half_line.bvh": (text.rstrip("\n")[:-25] + "\n", "frame 9 has"),
        "empty.bvh": ("", "not a BVH file"),
        "garbage.bvh": ("\x00\x01binary", "not a BVH file"),
        "braces.bvh": (text.replace("  JOINT mixamorig:Spine\n  {\n", "  JOINT mixamorig:Spine\n", 1), "malformed BVH"),
        "offset.bvh": (text.replace("OFFSET", "OFFSET x", 1), "malformed BVH"),
        "nan.bvh": (text.replace("MOTION\nFrames: 10", "MOTION\nFrames: 0"), "BVH has no frames"),
        "time.bvh": (text.replace("Frame Time: ", "Frame Time: -"), "frame time is -"),
    }
    for name, (body, pattern) in cases.items():
        path = tmp_path / name
        path.write_bytes(body.encode("latin-1"))
        with pytest.raises(MotionFileError, match=pattern) as err:
            load_clip(path, humanoid)
        msg = str(err.value)
        assert msg.startswith(str(path)) and "\n" not in msg, (name, msg)
    with pytest.raises(MotionFileError, match="file not found"):
        load_clip(tmp_path / "missing.bvh", humanoid)


def test_datasets_list_bvh_files_converted_once(walk, humanoid, tmp_path, deepmimic_dir) -> None:
    write_bvh(walk, humanoid, tmp_path / "walk.bvh", frames=20)
    (tmp_path / "set.yaml").write_text(
        f"motions:\n  - {{file: walk.bvh, weight: 2, loop: true, map: mixamo}}\n"
        f"  - {{file: {deepmimic_dir / 'humanoid3d_jog.txt'}}}\n"
    )
    lib = MotionLibrary.from_path(tmp_path / "set.yaml", humanoid)
    assert lib.clip_names == ["walk", "humanoid3d_jog"] and lib.clips[0].loop
    cached = list(cache_dir().glob("walk-*.npz"))
    assert len(cached) == 1
    before = cached[0].stat().st_mtime_ns
    again = MotionLibrary.from_path(tmp_path / "set.yaml", humanoid)  # from the cache this time
    assert cached[0].stat().st_mtime_ns == before
    np.testing.assert_array_equal(again.clips[0].rotations, lib.clips[0].rotations)
    assert again.clips[0].meta["report"]["bodies"][0]["body"] == "pelvis"
    (tmp_path / "walk.bvh").write_text((tmp_path / "walk.bvh").read_text().replace("Frames: 20", "Frames: 19"))
    MotionLibrary.from_path(tmp_path / "set.yaml", humanoid)  # another file: converted again
    assert len(list(cache_dir().glob("walk-*.npz"))) == 2


def test_cli_convert_info_report_and_preview(walk, humanoid, tmp_path, capsys) -> None:
    syn = write_bvh(walk, humanoid, tmp_path / "walk.bvh", frames=15)
    assert main(["info", str(syn.path)]) == 0
    out = capsys.readouterr().out
    assert "BVH, 28 joints, 15 frames at 30.00 fps" in out and "units: cm (guessed)" in out
    assert "up axis: y (guessed)" in out and "joint map: mixamo" in out and "retarget error" in out
    rc = main(["convert", str(syn.path), "--to", str(tmp_path / "walk.npy"), "--report", str(tmp_path / "r.json")])
    assert rc == 0
    out = capsys.readouterr().out
    assert "error per body" in out and "left_foot" in out and "skating" in out and "joint limits" in out
    report = json.loads((tmp_path / "r.json").read_text())
    assert {b["body"] for b in report["bodies"]} >= {"pelvis", "left_hand", "right_foot"}
    clip = load_clip(tmp_path / "walk.npy", humanoid)
    assert clip.num_frames == 15
    assert main(["convert", str(syn.path), "--to", str(tmp_path / "w15.npy"), "--fps", "15"]) == 0
    half = load_clip(tmp_path / "w15.npy", humanoid)
    assert half.num_frames == 8 and half.fps == pytest.approx(15.0)
    np.testing.assert_allclose(half.root_pos[1:3], clip.root_pos[2:6:2], atol=0.01)  # same motion, every other frame
    assert (
        main(["convert", str(syn.path), "--to", str(tmp_path / "walk.txt"), "--character", "humanoid_sword_shield"])
        == 2
    )
    err = capsys.readouterr().err  # DeepMimic's format has no wrist joint
    assert f"{tmp_path / 'walk.txt'}: DeepMimic's humanoid3d has no right_hand joint" in err
    assert main(["convert", str(syn.path), str(tmp_path / "w.npy"), "--character", "humanoid_sword_shield"]) == 0
    capsys.readouterr()
    odd = _chain_bvh(tmp_path / "odd.bvh")  # no map fits
    assert main(["info", str(odd)]) == 2
    out, err = capsys.readouterr()
    assert "BVH, 4 joints, 3 frames" in out and f"{odd}: no joint-map preset fits" in err
    (tmp_path / "bad.bvh").write_text("HIERARCHY\nROOT Hips\n{\n")
    assert main(["convert", str(tmp_path / "bad.bvh"), "--to", str(tmp_path / "bad.npy")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and str(tmp_path / "bad.bvh") in err and "Traceback" not in err


def test_preview_records_source_and_character(walk, humanoid, tmp_path) -> None:
    """--preview VIDEO renders offscreen (MUJOCO_GL=egl, in a subprocess: the GL backend is chosen on import)."""
    import os
    import subprocess
    import sys

    syn = write_bvh(walk, humanoid, tmp_path / "walk.bvh", frames=8)
    root = Path(__file__).resolve().parent.parent
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    env.setdefault("MUJOCO_GL", "egl")
    env["ASE_DATA_DIR"] = str(tmp_path / "data")
    cmd = [sys.executable, str(root / "launch.py"), "motions", "convert", str(syn.path), "--to",
           str(tmp_path / "w.npy"), "--preview", str(tmp_path / "p.mp4")]  # fmt: skip
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    if p.returncode != 0 and ("OpenGL" in p.stderr or "EGL" in p.stderr or "gladLoadGL" in p.stderr):
        pytest.skip(f"no offscreen OpenGL here: {p.stderr.strip().splitlines()[-1]}")
    assert p.returncode == 0, p.stderr
    import imageio.v2 as imageio

    with imageio.get_reader(str(tmp_path / "p.mp4")) as reader:  # (list() would ask its infinite length)
        frames = [f for f in reader]
    assert len(frames) == 8
    img = frames[4].astype(np.int32)
    orange = (img[..., 0] > 180) & (img[..., 1] > 90) & (img[..., 1] < 170) & (img[..., 2] < 90)
    assert orange.sum() > 200  # the source skeleton is drawn
