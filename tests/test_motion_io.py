"""Motion files: DeepMimic <-> ASE .npy round trip, datasets, the safe unpickler, clear errors, the CLI."""

from __future__ import annotations

import fractions
import json
from pathlib import Path

import numpy as np
import pytest

from motion.ase_npy import read_npy_dict
from motion.cli import main
from motion.clip import MotionFileError
from motion.deepmimic import read_frames
from motion.io import load_clip, save_clip
from motion.library import MotionLibrary
from sim.character import load_character
from sim.rotations import quat_conj, quat_mul, quat_to_rotvec


def _angle(a, b):
    return np.linalg.norm(quat_to_rotvec(quat_mul(quat_conj(a), b)), axis=-1)


def _same_clip(a, b, tol=1e-12) -> None:
    assert a.num_frames == b.num_frames
    assert np.abs(a.times - b.times).max() < tol
    assert np.abs(a.root_pos - b.root_pos).max() < tol
    assert _angle(a.rotations, b.rotations).max() < 1e-7  # arccos-free angle: ~sqrt(eps) floor


def test_deepmimic_npy_deepmimic_round_trip(deepmimic_dir, humanoid, tmp_path) -> None:
    src = deepmimic_dir / "humanoid3d_walk.txt"
    a = load_clip(src, humanoid)
    save_clip(a, humanoid, tmp_path / "walk.npy")
    b = load_clip(tmp_path / "walk.npy", humanoid)
    _same_clip(a, b)
    save_clip(b, humanoid, tmp_path / "walk.txt")
    c = load_clip(tmp_path / "walk.txt", humanoid)
    _same_clip(a, c)
    # the rewritten DeepMimic numbers equal the original ones (quaternions normalized, up to sign)
    orig, _ = read_frames(src)
    back, loop = read_frames(tmp_path / "walk.txt")
    assert not loop  # .npy carries no loop flag
    assert np.abs(orig[:-1, 0] - back[:-1, 0]).max() < 1e-12 and back[-1, 0] == 0.0
    assert np.abs(orig[:, 1:4] - back[:, 1:4]).max() < 1e-12
    for col in (4, 8, 12, 16, 21, 25, 30, 35, 39):
        q = orig[:, col : col + 4] / np.linalg.norm(orig[:, col : col + 4], axis=-1, keepdims=True)
        assert _angle(q, back[:, col : col + 4]).max() < 1e-7
    for col in (20, 29, 34, 43):  # knees and elbows
        assert np.abs(orig[:, col] - back[:, col]).max() < 1e-12


def test_npy_layout_matches_poselib(deepmimic_dir, humanoid, tmp_path) -> None:
    save_clip(load_clip(deepmimic_dir / "humanoid3d_run.txt", humanoid), humanoid, tmp_path / "run.npy")
    d = np.load(tmp_path / "run.npy", allow_pickle=True).item()
    assert d["__name__"] == "SkeletonMotion" and d["is_local"] is True and d["fps"] == pytest.approx(30.0, abs=1e-2)
    f = d["rotation"]["arr"].shape[0]
    assert d["rotation"]["arr"].shape == (f, 15, 4) and d["rotation"]["context"]["dtype"] == "float64"
    assert d["root_translation"]["arr"].shape == (f, 3)
    assert d["global_velocity"]["arr"].shape == (f, 15, 3) and d["global_angular_velocity"]["arr"].shape == (f, 15, 3)
    tree = d["skeleton_tree"]
    assert tree["node_names"] == humanoid.body_names
    assert tree["parent_indices"]["arr"].tolist() == humanoid.parents.tolist()
    assert tree["local_translation"]["arr"].shape == (15, 3)
    q = d["rotation"]["arr"]
    assert np.allclose(np.linalg.norm(q, axis=-1), 1.0)  # xyzw unit quaternions


def test_uneven_clip_is_resampled_for_npy(deepmimic_dir, humanoid, tmp_path) -> None:
    roll = load_clip(deepmimic_dir / "humanoid3d_roll.txt", humanoid)
    assert not roll.uniform
    save_clip(roll, humanoid, tmp_path / "roll.npy")
    back = load_clip(tmp_path / "roll.npy", humanoid)
    assert back.uniform and back.num_frames == roll.num_frames
    assert back.duration == pytest.approx(roll.duration) and back.fps == pytest.approx(roll.fps)


def test_sword_shield_takes_deepmimic_and_plain_npy(deepmimic_dir, humanoid, tmp_path) -> None:
    ss = load_character("humanoid_sword_shield")
    clip = load_clip(deepmimic_dir / "humanoid3d_walk.txt", ss)
    assert clip.rotations.shape[1] == 17
    save_clip(load_clip(deepmimic_dir / "humanoid3d_walk.txt", humanoid), humanoid, tmp_path / "walk.npy")
    on_ss = load_clip(tmp_path / "walk.npy", ss)  # sword and shield are fixed bodies: identity
    assert np.allclose(on_ss.rotations[:, ss.body_index("sword"), 0], 1.0)
    # a moving wrist cannot go onto the plain humanoid (its wrist is fixed)
    moved = on_ss.rotations.copy()
    moved[:, ss.body_index("right_hand")] = [np.cos(0.3), np.sin(0.3), 0.0, 0.0]
    on_ss.rotations = moved
    save_clip(on_ss, ss, tmp_path / "wrist.npy")
    with pytest.raises(MotionFileError, match="right_hand moves"):
        load_clip(tmp_path / "wrist.npy", humanoid)


def test_datasets_directories_and_yaml(deepmimic_dir, humanoid, tmp_path) -> None:
    lib = MotionLibrary.from_path(deepmimic_dir / "dataset_humanoid3d_clips_locomotion_getup.txt", humanoid)
    assert lib.clip_names == [
        "humanoid3d_run",
        "humanoid3d_walk",
        "humanoid3d_getup_facedown",
        "humanoid3d_getup_faceup",
    ]
    with pytest.raises(MotionFileError, match=r"clips not found: humanoid3d_long_zombie\.txt") as err:
        MotionLibrary.from_path(deepmimic_dir / "dataset_humanoid3d_clips_zombie.txt", humanoid)
    assert str(err.value).startswith(str(deepmimic_dir / "dataset_humanoid3d_clips_zombie.txt"))
    # a project dataset mixing both formats, with weights and a loop override
    save_clip(load_clip(deepmimic_dir / "humanoid3d_jog.txt", humanoid), humanoid, tmp_path / "jog.npy")
    kick = deepmimic_dir / "humanoid3d_kick.txt"
    (tmp_path / "mix.yaml").write_text(
        f"motions:\n  - {{file: jog.npy, weight: 3, loop: true}}\n  - {{file: {kick}}}\n"
    )
    lib = MotionLibrary.from_path(tmp_path / "mix.yaml", humanoid)
    assert lib.clip_names == ["jog", "humanoid3d_kick"] and lib.clips[0].loop
    assert np.allclose(lib.weights, [0.75, 0.25])
    (tmp_path / "bad.yaml").write_text("motions:\n  - {file: nowhere.npy}\n")
    with pytest.raises(MotionFileError, match="clips not found: nowhere.npy"):
        MotionLibrary.from_path(tmp_path / "bad.yaml", humanoid)
    assert MotionLibrary.from_path(tmp_path, humanoid).clip_names == ["jog"]  # a folder of clips


# ---- bad files -------------------------------------------------------------------------------------


def _walk_json(deepmimic_dir) -> dict:
    return json.loads((deepmimic_dir / "humanoid3d_walk.txt").read_text())


def _expect_error(path: Path, character, pattern: str) -> None:
    with pytest.raises(MotionFileError, match=pattern) as err:
        load_clip(path, character)
    assert str(err.value).startswith(str(path))


def test_bad_deepmimic_files_name_the_file_and_problem(deepmimic_dir, humanoid, tmp_path) -> None:
    text = (deepmimic_dir / "humanoid3d_walk.txt").read_text()
    (tmp_path / "truncated.txt").write_text(text[: len(text) // 2])
    _expect_error(tmp_path / "truncated.txt", humanoid, "truncated")
    d = _walk_json(deepmimic_dir)
    d["Frames"][12] = d["Frames"][12][:40]
    (tmp_path / "short.txt").write_text(json.dumps(d))
    _expect_error(tmp_path / "short.txt", humanoid, "frame 12 has 40 numbers, expected 44")
    d = _walk_json(deepmimic_dir)
    d["Frames"][3][9] = float("nan")
    (tmp_path / "nan.txt").write_text(json.dumps(d))
    _expect_error(tmp_path / "nan.txt", humanoid, "frame 3 holds NaN")
    d = _walk_json(deepmimic_dir)
    d["Frames"][5][8:12] = [0, 0, 0, 0]
    (tmp_path / "zero.txt").write_text(json.dumps(d))
    _expect_error(tmp_path / "zero.txt", humanoid, "chest rotations: frame 5 has a quaternion of length 0")
    d = _walk_json(deepmimic_dir)
    d["Frames"][2][0] = 0.0
    (tmp_path / "dur.txt").write_text(json.dumps(d))
    _expect_error(tmp_path / "dur.txt", humanoid, "frame 2 has duration 0")
    (tmp_path / "none.txt").write_text('{"Loop": "wrap"}')
    _expect_error(tmp_path / "none.txt", humanoid, "no 'Frames'")
    _expect_error(tmp_path / "missing.txt", humanoid, "file not found")
    (tmp_path / "clip.fbx").write_text("Kaydara FBX Binary")
    _expect_error(tmp_path / "clip.fbx", humanoid, "unknown clip format")


def _npy_dict(deepmimic_dir, humanoid, tmp_path) -> dict:
    save_clip(load_clip(deepmimic_dir / "humanoid3d_walk.txt", humanoid), humanoid, tmp_path / "ok.npy")
    return read_npy_dict(tmp_path / "ok.npy")


def _save(d, path: Path) -> Path:
    with open(path, "wb") as f:
        np.save(f, np.array(d, dtype=object), allow_pickle=True)
    return path


def test_bad_npy_files_name_the_file_and_problem(deepmimic_dir, humanoid, tmp_path) -> None:
    d = _npy_dict(deepmimic_dir, humanoid, tmp_path)
    keep = [i for i, n in enumerate(d["skeleton_tree"]["node_names"]) if n not in ("left_foot", "head")]
    d["skeleton_tree"]["node_names"] = [d["skeleton_tree"]["node_names"][i] for i in keep]
    d["skeleton_tree"]["local_translation"]["arr"] = d["skeleton_tree"]["local_translation"]["arr"][keep]
    d["skeleton_tree"]["parent_indices"]["arr"] = d["skeleton_tree"]["parent_indices"]["arr"][keep]
    d["rotation"]["arr"] = d["rotation"]["arr"][:, keep]
    _expect_error(_save(d, tmp_path / "skeleton.npy"), humanoid, "missing joints head, left_foot")

    d = _npy_dict(deepmimic_dir, humanoid, tmp_path)
    d["rotation"]["arr"] = d["rotation"]["arr"][..., :3]
    _expect_error(_save(d, tmp_path / "shape.npy"), humanoid, r"'rotation' has shape \(39, 15, 3\)")
    d = _npy_dict(deepmimic_dir, humanoid, tmp_path)
    d["root_translation"]["arr"] = d["root_translation"]["arr"][:10]
    _expect_error(_save(d, tmp_path / "frames.npy"), humanoid, "39 frames but root_translation 10")
    d = _npy_dict(deepmimic_dir, humanoid, tmp_path)
    d["root_translation"]["arr"][7, 1] = np.nan
    _expect_error(_save(d, tmp_path / "nan.npy"), humanoid, "NaN")
    d = _npy_dict(deepmimic_dir, humanoid, tmp_path)
    del d["fps"]
    _expect_error(_save(d, tmp_path / "fps.npy"), humanoid, "'fps'")

    raw = (tmp_path / "ok.npy").read_bytes()
    (tmp_path / "cut.npy").write_bytes(raw[: len(raw) // 2])
    _expect_error(tmp_path / "cut.npy", humanoid, "truncated or corrupt")
    np.save(tmp_path / "plain.npy", np.zeros((3, 4)))
    _expect_error(tmp_path / "plain.npy", humanoid, "plain float64 array")


def test_safe_unpickler_refuses_other_objects(deepmimic_dir, humanoid, tmp_path) -> None:
    d = _npy_dict(deepmimic_dir, humanoid, tmp_path)
    d["extra"] = fractions.Fraction(1, 3)  # harmless, but not an array or plain container
    path = _save(d, tmp_path / "odd.npy")
    _expect_error(path, humanoid, "fractions.Fraction.*can run code.*trust_pickle=True")
    clip = load_clip(path, humanoid, trust_pickle=True)  # explicitly trusted: numpy's own loader
    assert clip.num_frames == 39


# ---- command line --------------------------------------------------------------------------------------


def test_cli_info_convert_and_errors(deepmimic_dir, tmp_path, capsys) -> None:
    assert main(["info", str(deepmimic_dir / "dataset_humanoid3d_clips_locomotion_getup.txt")]) == 0
    out = capsys.readouterr().out
    assert "humanoid3d_getup_faceup" in out and "4 clip(s)" in out
    assert main(["convert", str(deepmimic_dir / "humanoid3d_walk.txt"), str(tmp_path / "walk.npy")]) == 0
    dataset = str(deepmimic_dir / "dataset_humanoid3d_clips_locomotion_getup.txt")
    assert main(["convert", dataset, str(tmp_path / "ase"), "--to", "npy"]) == 0
    lib = MotionLibrary.from_path(tmp_path / "ase" / "dataset.yaml", load_character("humanoid"))
    assert lib.num_clips == 4 and lib.clips[0].loop and not lib.clips[2].loop
    capsys.readouterr()

    (tmp_path / "bad.txt").write_text('{"Loop": "wrap", "Frames": [[0.1, 2')
    assert main(["info", str(tmp_path / "bad.txt")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err and str(tmp_path / "bad.txt") in err
    assert main(["convert", str(tmp_path / "walk.npy"), str(tmp_path / "out.bvh")]) == 2
    assert main(["info"]) == 2


# ---- .npy skeletons, info, datasets ------------------------------------------------------------


def test_npy_of_another_skeleton_is_refused_naming_bones_or_retargeted(deepmimic_dir, humanoid, tmp_path) -> None:
    d = _npy_dict(deepmimic_dir, humanoid, tmp_path)
    names = d["skeleton_tree"]["node_names"]
    lt = d["skeleton_tree"]["local_translation"]["arr"]
    lt[names.index("right_shin")] *= 1.15  # a 6 cm longer thigh
    lt[names.index("left_shin")] *= 1.15
    lt[names.index("left_lower_arm")] *= 1.02  # 5 mm: within the tolerance
    lt[0] = (0.0, 0.0, 0.93)  # the pelvis translation is the clip's start, never compared
    path = _save(d, tmp_path / "long_legs.npy")
    _expect_error(
        path, humanoid, r"skeleton differs .* by more than 1 cm \(right_shin 6\.3 cm, left_shin 6\.3 cm\).*--retarget"
    )
    clip = load_clip(path, humanoid, retarget=True)
    thigh, shin = (np.linalg.norm(humanoid.offsets[humanoid.body_index(b)]) for b in ("right_shin", "right_foot"))
    assert clip.meta["report"]["scale"] == pytest.approx((thigh + shin) / (1.15 * thigh + shin))  # leg length ratio
    assert max(b["mean_cm"] for b in clip.meta["report"]["bodies"]) < 3.0
    assert main(["convert", str(path), "--retarget", "--to", str(tmp_path / "fixed.npy")]) == 0
    assert load_clip(tmp_path / "fixed.npy", humanoid).num_frames == 39


def test_npy_export_keeps_the_source_pelvis_translation(deepmimic_dir, humanoid, tmp_path) -> None:
    d = _npy_dict(deepmimic_dir, humanoid, tmp_path)
    d["skeleton_tree"]["local_translation"]["arr"][0] = (0.1, -0.2, 0.9)
    clip = load_clip(_save(d, tmp_path / "src.npy"), humanoid)
    save_clip(clip, humanoid, tmp_path / "out.npy")
    out = np.load(tmp_path / "out.npy", allow_pickle=True).item()
    np.testing.assert_array_equal(out["skeleton_tree"]["local_translation"]["arr"][0], (0.1, -0.2, 0.9))
    np.testing.assert_array_equal(out["skeleton_tree"]["local_translation"]["arr"][1:], humanoid.offsets[1:])


def test_info_counts_joints_and_skips_files_that_are_not_clips(deepmimic_dir, humanoid, tmp_path, capsys) -> None:
    save_clip(load_clip(deepmimic_dir / "humanoid3d_walk.txt", humanoid), humanoid, tmp_path / "walk.npy")
    (tmp_path / "run.txt").write_text((deepmimic_dir / "humanoid3d_run.txt").read_text())
    (tmp_path / "README.md").write_text("notes")
    (tmp_path / "set.txt").write_text('{"Motions": [{"Weight": 1, "File": "run.txt"}]}')
    np.save(tmp_path / "weights.npy", np.zeros(3))
    assert main(["info", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "2 clip(s)" in out and "skipped 3 file(s) that are not clips: README.md, set.txt, weights.npy" in out
    assert "12 actuated joints" in out and "joints" in out
    assert "│ 15 " in out or " 15 " in out  # DeepMimic's humanoid3d and the .npy: 15 joints


def test_dataset_with_many_missing_clips_names_a_few(humanoid, tmp_path) -> None:
    names = [f"clip_{i:02d}.npy" for i in range(40)]
    (tmp_path / "big.yaml").write_text("motions:\n" + "".join(f"  - {{file: {n}}}\n" for n in names))
    with pytest.raises(MotionFileError) as err:
        MotionLibrary.from_path(tmp_path / "big.yaml", humanoid)
    msg = str(err.value)
    assert (
        "40 of 40 clips not found: clip_00.npy, clip_01.npy, clip_02.npy, clip_03.npy, clip_04.npy and 35 more" in msg
    )
    assert len(msg) < 400 and "\n" not in msg
