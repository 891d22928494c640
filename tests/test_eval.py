"""`launch.py eval`: the metric helpers against hand-computed values, and the command end to end (small)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from controllers.checkpoint import LLCPolicy, untrained_llc_checkpoint
from evaluation.llc import EvalConfig, LatentDraw, _time_up, evaluate, nearest_pose_angle
from sim.rotations import quat_from_axis_angle

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_time_up_needs_a_held_streak_that_starts_in_time() -> None:
    up = np.zeros((10, 4), dtype=bool)
    up[2:6, 0] = True  # a 4-step streak from step 2
    up[1:3, 1] = True  # too short
    up[7:10, 2] = True  # starts at 7: too late for within=5
    up[:, 3] = True  # up from the start
    t = _time_up(up, hold=3, within=5, dt=0.5)
    assert t[0] == pytest.approx(1.5) and np.isnan(t[1]) and np.isnan(t[2]) and t[3] == pytest.approx(0.5)


def test_nearest_pose_angle_in_degrees() -> None:
    rng = np.random.default_rng(0)
    data = rng.standard_normal((20, 4, 4))
    data /= np.linalg.norm(data, axis=-1, keepdims=True)
    sim = data[[3, 7]].copy()
    assert nearest_pose_angle(sim, data) == pytest.approx([0.0, 0.0], abs=1e-4)
    turn = quat_from_axis_angle(np.array([0.0, 0.0, 1.0]), np.pi / 2)  # 90 degrees on one of 4 joints
    w, x, y, z = sim[0, 1]
    tw, _, _, tz = turn
    sim[0, 1] = [tw * w - tz * z, tw * x - tz * y, tw * y + tz * x, tw * z + tz * w]
    assert nearest_pose_angle(sim[:1], data[3:4])[0] == pytest.approx(90.0 / 4, abs=1e-3)


def test_latent_draw_holds_latents_for_their_interval() -> None:
    draw = LatentDraw(8, 64, (3, 4), np.random.default_rng(0))  # every 3 steps exactly
    zs = [draw.next().copy() for _ in range(7)]
    assert np.allclose(np.linalg.norm(zs[0], axis=1), 1.0)
    assert np.array_equal(zs[0], zs[2]) and not np.allclose(zs[2], zs[3]) and np.array_equal(zs[3], zs[5])


def test_latent_effect_against_hand_computed_values() -> None:
    from types import SimpleNamespace

    from evaluation.llc import latent_effect

    # actions = the latent's first 2 numbers times 2 (clipped to [-1, 1]), whatever the state
    policy = SimpleNamespace(act=lambda obs, z: np.clip(2.0 * np.asarray(z)[:, :2], -1.0, 1.0))
    z = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    z2 = np.array([[0.0, 1.0, 0.0], [0.0, 0.6, 0.8]])
    obs = np.zeros((2, 5))
    d = latent_effect(policy.act(obs, z), policy.act(obs, z2), z, z2)
    # row 0: actions (1, 0) vs (0, 1): mean square 1, latent distance 0.5 (1 - 0); row 1: (0, 0) vs (0, 1)
    assert d == pytest.approx([1.0 / (0.5 + 1e-5), 0.5 / (0.5 * (1 - 0.8) + 1e-5)])
    # a policy that ignores the latent has none
    still = SimpleNamespace(act=lambda obs, z: np.zeros((len(z), 2)))
    assert latent_effect(still.act(obs, z), still.act(obs, z2), z, z2) == pytest.approx([0.0, 0.0])


def test_lying_pose_reads_the_forward_axis() -> None:
    from evaluation.llc import lying_pose

    pitch = quat_from_axis_angle(np.array([0.0, 1.0, 0.0]), np.radians([90.0, -90.0, 20.0, -80.0]))
    roll = quat_from_axis_angle(np.array([1.0, 0.0, 0.0]), np.radians([90.0]))  # on its side, facing +x
    names = lying_pose(np.concatenate([pitch, roll]))
    assert list(names) == ["face_down", "face_up", "side", "face_up", "side"]


def test_evaluate_an_untrained_policy(deepmimic_dir: Path) -> None:
    from motion.library import MotionLibrary
    from sim.character import load_character

    torch.manual_seed(0)
    policy = LLCPolicy(untrained_llc_checkpoint())
    lib = MotionLibrary.from_path(deepmimic_dir / "humanoid3d_walk.txt", load_character("humanoid"))
    cfg = EvalConfig(num_envs=4, steps=60, recovery_seconds=1.0, hold_seconds=0.5, coverage_seconds=1.0)
    res = evaluate(policy, lib, cfg, baseline=policy)
    assert 0.0 <= res["upright"] <= 1.0
    assert (
        res["motion"]["mean_speed"] >= 0 and res["motion"]["path_per_10s"] >= res["motion"]["net_displacement_per_10s"]
    )
    assert 0.0 <= res["recovery_fall_pool"]["up_fraction"] <= 1.0
    assert res["motion"]["latent_effect"] > 0.0  # an untrained actor still reads its latent a little
    by_pose = res["recovery_fall_pool"]["by_pose"]
    assert set(by_pose) == {"face_down", "side", "face_up"} and sum(v["n"] for v in by_pose.values()) == 4
    assert res["realism"]["degrees"] == pytest.approx(res["realism"]["untrained_degrees"])  # same policy
    assert res["realism"]["degrees"] > 0
    assert res["coverage"]["fraction"] in (0.0, 1.0)  # one clip: nearest to itself or not
    held = res["held_latents"]
    for key in ("travel_deg_p10_p50_p90", "heading_change_deg_p10_p50_p90", "net_speed_p10_p50_p90"):
        lo, mid, hi = held[key]
        assert lo <= mid <= hi, key
    assert all(0.0 <= held[k] <= 1.0 for k in ("left", "right", "backwards")) and held["left"] + held["right"] <= 1
    json.dumps(res)


def test_cli_compares_and_writes_json(tmp_path: Path, deepmimic_dir: Path, capsys) -> None:
    from evaluation.cli import main

    torch.manual_seed(0)
    paths = [tmp_path / "a.pt", tmp_path / "arm1" / "llc.pt", tmp_path / "arm2" / "llc.pt"]  # a base and an A/B
    for path in paths:
        path.parent.mkdir(exist_ok=True)
        torch.save(untrained_llc_checkpoint(), path)
    walk = deepmimic_dir / "humanoid3d_walk.txt"
    out = tmp_path / "eval.json"
    args = ["--compare", *map(str, paths), "--motions", str(walk)]
    assert main([*args, "--envs", "2", "--steps", "30", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "upright" in text and all(name in text.splitlines()[0] for name in ("a", "arm1/llc", "arm2/llc"))
    data = json.loads(out.read_text())
    assert set(data["results"]) == {"a", "arm1/llc", "arm2/llc"} and "recovery_shove" in data["results"]["a"]
    res = data["results"]["a"]
    assert f"upright {res['upright']:.2f}" in res["summary"] and "gets up from" in res["summary"]
    # written beside a checkpoint as <name>.json, the summary is what the viewer shows for it
    from controllers.checkpoint import controller_summary

    assert controller_summary(tmp_path / "a.pt") is None
    out.rename(tmp_path / "a.json")
    assert controller_summary(tmp_path / "a.pt") == res["summary"]


def test_cli_errors_are_one_line(tmp_path: Path, capsys) -> None:
    from evaluation.cli import main

    assert main(["--llc", str(tmp_path / "missing.pt")]) == 2
    err = capsys.readouterr().err
    assert "missing.pt" in err and "Traceback" not in err
    assert main(["--compare", str(tmp_path / "one.pt")]) == 2
    assert "--compare needs two or more checkpoints" in capsys.readouterr().err
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    assert main(["--llc", str(tmp_path / "bad.pt")]) == 2
    assert "bad.pt" in capsys.readouterr().err
    other = untrained_llc_checkpoint()
    other["obs_layout_version"] = 99
    torch.save(other, tmp_path / "v99.pt")
    assert main(["--llc", str(tmp_path / "v99.pt")]) == 2
    assert "layout version 99" in capsys.readouterr().err
    assert main(["--hlc", "x.pt"]) == 2
    assert "HLC" in capsys.readouterr().err
