"""`motions convert --preview`: the source skeleton and the retargeted character side by side.

A standalone MuJoCo rendering (the viewer in app/ is not involved): the character's own MJCF plays the
retargeted clip, the source skeleton (scaled, grounded like the clip) is drawn beside it as orange
bones, and small green dots mark where each mapped body was asked to be. In a window (MuJoCo's
passive viewer, looping until closed) or, given a file name, recorded offscreen (set MUJOCO_GL=egl
or osmesa where there is no display).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from motion.kinematics import Skeleton, to_qpos
from motion.retarget import Retargeted
from sim.character import Character
from sim.rotations import heading_angle, quat_rotate

BONE_RGBA = np.array([0.95, 0.55, 0.15, 1.0], dtype=np.float32)
TARGET_RGBA = np.array([0.2, 0.9, 0.3, 0.9], dtype=np.float32)
SIDE = 1.0  # m between the character and the source skeleton


def facing(root_rot: np.ndarray) -> float:
    """The clip's mean heading (radians): the root's yaw averaged on the circle."""
    h = heading_angle(root_rot)
    return float(np.arctan2(np.sin(h).mean(), np.cos(h).mean()))


def side_offset(heading: float) -> np.ndarray:
    """Where the source skeleton goes: SIDE metres to the character's left, so the two never overlap."""
    return np.array([-np.sin(heading), np.cos(heading), 0.0]) * SIDE


def source_segments(result: Retargeted) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Source points (F, P, 3) (joints, then End Sites, scaled and grounded) and bones (index pairs)."""
    src = result.source
    pos = result.source_pos
    _, rot = src.world()
    ends = sorted(src.end_sites)
    end_pos = [pos[:, j] + quat_rotate(rot[:, j], src.end_sites[j] * result.scale) for j in ends]
    points = np.concatenate([pos, np.stack(end_pos, axis=1)], axis=1) if ends else pos
    bones = [(int(p), j) for j, p in enumerate(src.parents) if p >= 0]
    bones += [(j, src.num_joints + k) for k, j in enumerate(ends)]
    return points, bones


def _add_geoms(scene, points: np.ndarray, bones: list[tuple[int, int]], targets: np.ndarray) -> None:
    import mujoco

    eye = np.eye(3).ravel()

    def new():
        if scene.ngeom >= scene.maxgeom:
            return None
        g = scene.geoms[scene.ngeom]
        scene.ngeom += 1
        return g

    for a, b in bones:
        g = new()
        if g is None:
            return
        mujoco.mjv_initGeom(g, mujoco.mjtGeom.mjGEOM_CAPSULE, np.zeros(3), np.zeros(3), eye, BONE_RGBA)
        mujoco.mjv_connector(g, mujoco.mjtGeom.mjGEOM_CAPSULE, 0.018, points[a], points[b])
    for p in targets:
        g = new()
        if g is None:
            return
        mujoco.mjv_initGeom(g, mujoco.mjtGeom.mjGEOM_SPHERE, np.full(3, 0.025), p, eye, TARGET_RGBA)


def preview(result: Retargeted, character: Character, video: Path | None = None, width: int = 768, height: int = 432):
    """Play the clip with its source beside it: in a window (loops until closed), or into `video` once."""
    import mujoco

    clip = result.clip
    model = mujoco.MjModel.from_xml_path(str(character.mjcf_path))
    data = mujoco.MjData(model)
    qpos = to_qpos(Skeleton.of(character), clip.root_pos, clip.rotations)
    points, bones = source_segments(result)
    heading = facing(clip.rotations[:, 0])
    points = points + side_offset(heading)
    azimuth = float(np.degrees(heading)) + 180.0 - 15.0  # in front of the character, a little to its right

    def pose(t: int) -> None:
        data.qpos[: qpos.shape[1]] = qpos[t]
        mujoco.mj_forward(model, data)

    def aim(cam, t: int) -> None:
        cam.lookat[:] = (clip.root_pos[t] + points[t, 0]) / 2
        cam.lookat[2] = 0.9
        cam.distance, cam.elevation, cam.azimuth = 4.5, -12.0, azimuth

    if video is None:
        import mujoco.viewer

        with mujoco.viewer.launch_passive(model, data) as viewer:
            t = 0
            while viewer.is_running():
                start = time.perf_counter()
                with viewer.lock():
                    pose(t)
                    viewer.user_scn.ngeom = 0
                    _add_geoms(viewer.user_scn, points[t], bones, result.targets[t])
                viewer.sync()
                t = (t + 1) % clip.num_frames
                time.sleep(max(0.0, 1.0 / max(clip.fps, 1.0) - (time.perf_counter() - start)))
        return

    import imageio.v2 as imageio

    cam = mujoco.MjvCamera()
    kwargs = {"fps": clip.fps}
    if video.suffix.lower() in (".mp4", ".mkv", ".mov", ".avi"):
        kwargs.update(codec="libx264", quality=7, macro_block_size=8, pixelformat="yuv420p")
    video.parent.mkdir(parents=True, exist_ok=True)
    with mujoco.Renderer(model, height, width) as renderer, imageio.get_writer(str(video), **kwargs) as writer:
        for flag in (mujoco.mjtRndFlag.mjRND_SHADOW, mujoco.mjtRndFlag.mjRND_REFLECTION):
            renderer.scene.flags[flag] = False  # several times faster on software OpenGL
        for t in range(clip.num_frames):
            pose(t)
            aim(cam, t)
            renderer.update_scene(data, camera=cam)
            _add_geoms(renderer.scene, points[t], bones, result.targets[t])
            writer.append_data(renderer.render())
