"""MotionLibrary: FK against MuJoCo, interpolation at frame boundaries, velocities, time handling."""

from __future__ import annotations

import time

import mujoco
import numpy as np
import pytest

from motion.kinematics import Skeleton, forward_kinematics
from motion.library import MotionLibrary, load_clip
from sim.character import load_character
from sim.rotations import heading_angle, quat_conj, quat_mul, quat_to_rotvec


@pytest.fixture(scope="module")
def library(deepmimic_dir, humanoid) -> MotionLibrary:
    return MotionLibrary.from_path(deepmimic_dir, humanoid)


def _angle(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Rotation angle between quaternions (sign-invariant)."""
    return np.linalg.norm(quat_to_rotvec(quat_mul(quat_conj(a), b)), axis=-1)


def _mujoco_fk(character, qpos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    model = mujoco.MjModel.from_xml_path(str(character.mjcf_path))
    data = mujoco.MjData(model)
    ids = [model.body(n).id for n in character.body_names]
    pos, rot = [], []
    for q in qpos:
        data.qpos[:] = q
        mujoco.mj_kinematics(model, data)
        pos.append(data.xpos[ids].copy())
        rot.append(data.xquat[ids].copy())
    return np.array(pos), np.array(rot)


def test_library_holds_all_shared_clips(library) -> None:
    assert library.num_clips == 20
    assert "humanoid3d_walk" in library.clip_names
    assert library.durations.shape == (20,)
    assert np.all(library.durations > 0.5)


@pytest.mark.parametrize("name", ["humanoid", "humanoid_sword_shield"])
def test_fk_matches_mujoco(deepmimic_dir, name) -> None:
    ch = load_character(name)
    lib = MotionLibrary.from_path(deepmimic_dir, ch)
    rng = np.random.default_rng(0)
    clips = lib.sample_clips(300, rng)
    times = lib.sample_times(clips, rng) * 2.5  # also beyond the end: loops wrap, others clamp
    s = lib.sample(clips, times)
    model = mujoco.MjModel.from_xml_path(str(ch.mjcf_path))
    assert s.qpos.shape == (300, model.nq) and s.qvel.shape == (300, model.nv)
    assert s.body_pos.shape == (300, ch.num_bodies, 3) and s.body_rot.shape == (300, ch.num_bodies, 4)
    assert s.body_vel.shape == (300, ch.num_bodies, 3) and s.body_ang_vel.shape == (300, ch.num_bodies, 3)
    pos, rot = _mujoco_fk(ch, s.qpos)
    assert np.abs(pos - s.body_pos).max() < 1e-6
    assert _angle(rot, s.body_rot).max() < 1e-6


def test_walk_is_upright_faces_x_and_touches_ground(library, humanoid) -> None:
    i = library.clip_index("humanoid3d_walk")
    clip = library.clips[i]
    s = library.sample(np.full(clip.num_frames, i), clip.times)
    assert 0.83 < clip.root_pos[:, 2].min() and clip.root_pos[:, 2].max() < 0.9
    feet = s.body_pos[:, [humanoid.body_index("right_foot"), humanoid.body_index("left_foot")], 2]
    assert 0.03 < feet.min() < 0.08
    assert abs(np.degrees(heading_angle(clip.rotations[0, 0]))) < 10
    assert clip.root_pos[-1, 0] - clip.root_pos[0, 0] > 1.0  # walks along +x
    assert s.body_pos[:, humanoid.body_index("head"), 2].min() > 1.25  # the neck joint, upright


def test_sampling_at_frame_times_returns_the_frames(library, humanoid) -> None:
    skel = Skeleton.of(humanoid)
    for name in ("humanoid3d_walk", "humanoid3d_roll", "humanoid3d_kick"):  # roll: uneven frame spacing
        i = library.clip_index(name)
        clip = library.clips[i]
        f = clip.num_frames - 1 if clip.loop else clip.num_frames  # a loop's end time is the next cycle's start
        s = library.sample(np.full(f, i), clip.times[:f])
        assert np.abs(s.qpos[:, :3] - clip.root_pos[:f]).max() < 1e-12
        assert _angle(s.qpos[:, 3:7], clip.rotations[:f, 0]).max() < 1e-7
        for body, start, width in skel.qpos_slots:
            if width == 4:
                assert _angle(s.qpos[:, start : start + 4], clip.rotations[:f, body]).max() < 1e-7
        pos, rot = forward_kinematics(skel, clip.root_pos[:f], clip.rotations[:f])  # the per-frame (AoS) FK
        assert np.abs(pos - s.body_pos).max() < 1e-12 and _angle(rot, s.body_rot).max() < 1e-7


def test_slerp_midpoint_is_a_unit_quaternion_halfway(library, humanoid) -> None:
    skel = Skeleton.of(humanoid)
    i = library.clip_index("humanoid3d_walk")
    clip = library.clips[i]
    mid = 0.5 * (clip.times[:-1] + clip.times[1:])
    s = library.sample(np.full(mid.shape, i), mid)
    assert np.allclose(s.qpos[:, :3], 0.5 * (clip.root_pos[:-1] + clip.root_pos[1:]), atol=1e-12)
    slots = [(0, 3)] + [(b, st) for b, st, w in skel.qpos_slots if w == 4]
    for body, start in slots:
        q = s.qpos[:, start : start + 4]
        assert np.allclose(np.linalg.norm(q, axis=-1), 1.0, atol=1e-12)
        a, b = clip.rotations[:-1, body], clip.rotations[1:, body]
        assert np.allclose(_angle(a, q), 0.5 * _angle(a, b), atol=1e-9)
        assert np.allclose(_angle(q, b), 0.5 * _angle(a, b), atol=1e-9)


def test_qvel_integrates_to_the_next_frame(library, humanoid) -> None:
    model = mujoco.MjModel.from_xml_path(str(humanoid.mjcf_path))
    for name in ("humanoid3d_run", "humanoid3d_roll"):
        i = library.clip_index(name)
        clip = library.clips[i]
        f_end = clip.num_frames - 1 if clip.loop else clip.num_frames  # a loop's end is the next cycle
        s = library.sample(np.full(f_end, i), clip.times[:f_end])
        nxt = []
        for f in range(f_end - 1):
            q = s.qpos[f].copy()
            mujoco.mj_integratePos(model, q, s.qvel[f], clip.times[f + 1] - clip.times[f])
            nxt.append(q)
        pos, rot = _mujoco_fk(humanoid, np.array(nxt))
        assert np.abs(pos - s.body_pos[1:]).max() < 1e-9
        assert _angle(rot, s.body_rot[1:]).max() < 1e-9


def test_velocities_come_from_the_earlier_frame(library) -> None:
    i = library.clip_index("humanoid3d_walk")
    clip = library.clips[i]
    t = clip.times[5] + np.array([0.0, 0.3, 0.9]) * (clip.times[6] - clip.times[5])
    s = library.sample(np.full(3, i), t)
    assert np.allclose(s.qvel, s.qvel[0]) and np.allclose(s.body_vel, s.body_vel[0])
    expect = (clip.root_pos[6] - clip.root_pos[5]) / (clip.times[6] - clip.times[5])
    assert np.allclose(s.qvel[0, :3], expect)
    assert np.allclose(s.body_vel[0, 0], expect)


def test_looping_clip_wraps_and_keeps_moving_forward(library) -> None:
    i = library.clip_index("humanoid3d_walk")
    clip = library.clips[i]
    assert clip.loop
    t = np.array([0.3, 0.3 + clip.duration, 0.3 + 2 * clip.duration])
    s = library.sample(np.full(3, i), t)
    step = clip.root_pos[-1, :2] - clip.root_pos[0, :2]
    assert np.allclose(s.qpos[1, :2] - s.qpos[0, :2], step, atol=1e-9)
    assert np.allclose(s.qpos[2, :2] - s.qpos[0, :2], 2 * step, atol=1e-9)
    assert np.allclose(s.qpos[:, 2:], s.qpos[0, 2:], atol=1e-9)  # same height, orientation and joints
    assert np.allclose(s.qvel, s.qvel[0], atol=1e-9)


def test_looping_clip_can_carry_yaw(deepmimic_dir, humanoid) -> None:
    clip = load_clip(deepmimic_dir / "humanoid3d_walk.txt", humanoid)
    lib = MotionLibrary(humanoid, [clip], cycle_yaw=True)
    s0, s1 = (lib.sample(np.zeros(1, int), np.array([t])) for t in (0.0, clip.duration))
    assert np.allclose(s1.qpos[0, :2], clip.root_pos[-1, :2], atol=1e-9)  # continues from the last frame
    dyaw = heading_angle(clip.rotations[-1, 0]) - heading_angle(clip.rotations[0, 0])
    assert np.isclose(heading_angle(s1.qpos[0, 3:7]) - heading_angle(s0.qpos[0, 3:7]), dyaw)
    # positions stay consistent with the velocities after the turn
    s = lib.sample(np.zeros(2, int), np.array([1.0, 1.0]) + np.array([0.0, 1e-4]) + 3 * clip.duration)
    assert np.allclose((s.qpos[1, :3] - s.qpos[0, :3]) / 1e-4, s.qvel[0, :3], rtol=0.05, atol=0.05)


def test_non_looping_clip_clamps(library) -> None:
    i = library.clip_index("humanoid3d_kick")
    clip = library.clips[i]
    assert not clip.loop
    s = library.sample(np.full(3, i), np.array([-1.0, clip.duration, clip.duration + 5.0]))
    assert np.allclose(s.qpos[0, :3], clip.root_pos[0])
    assert np.allclose(s.qpos[1], s.qpos[2]) and np.allclose(s.qpos[1, :3], clip.root_pos[-1])


def test_weighted_clip_sampling_and_times(deepmimic_dir, humanoid) -> None:
    clips = [load_clip(deepmimic_dir / f"humanoid3d_{n}.txt", humanoid) for n in ("walk", "run")]
    lib = MotionLibrary(humanoid, clips, [1.0, 3.0])
    rng = np.random.default_rng(1)
    ids = lib.sample_clips(20000, rng)
    assert abs(np.mean(ids == 1) - 0.75) < 0.02
    t = lib.sample_times(ids, rng, min_time=0.3)
    assert (t >= 0.3).all() and (t <= lib.durations[ids]).all()
    with pytest.raises(ValueError, match="weights"):
        MotionLibrary(humanoid, clips, [1.0])


def test_sample_is_fast(library) -> None:
    rng = np.random.default_rng(2)
    ids = library.sample_clips(4096, rng)
    t = library.sample_times(ids, rng)
    library.sample(ids, t)
    start = time.perf_counter()
    for _ in range(5):
        library.sample(ids, t)
    per_call = (time.perf_counter() - start) / 5
    assert per_call < 0.25, f"sample(4096) took {per_call * 1e3:.1f} ms"  # a few ms on an idle core
