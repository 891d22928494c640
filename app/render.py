"""MuJoCo's renderer for the viewer: scene, camera modes, goal and task markers, the reference ghost, HUD text.

Needs a current OpenGL context (a pyglet window's compatibility-profile context, or
`mujoco.GLContext` when headless). Draws into the window or the offscreen buffer.
"""

from __future__ import annotations

import math

import mujoco
import numpy as np

from app.controls import Goals
from app.state import Camera

GHOST_RGBA = (0.35, 0.85, 0.55, 0.35)
ORBIT_RATE = 12.0  # degrees per second
# goal markers: colour and what the goals panel's legend calls them
HEADING_RGBA = (0.2, 0.9, 0.3, 0.9)  # arrow on the floor, longer when faster
FACING_RGBA = (0.25, 0.5, 1.0, 0.9)
LOCATION_RGBA = (1.0, 0.25, 0.2, 0.9)
REACH_RGBA = (0.95, 0.2, 0.85, 0.9)
STRIKE_ALPHA = 0.45  # the strike target is drawn see-through: it stands between the follow camera and the character
LABEL_HEIGHT = 0.45  # m above the root: where "simulated" / "reference" labels float


class SceneRenderer:
    def __init__(self, model: mujoco.MjModel, *, max_geom: int = 2000, font_scale: int = 100) -> None:
        self.model = model
        self.scene = mujoco.MjvScene(model, maxgeom=max_geom)
        self.opt = mujoco.MjvOption()
        self.pert = mujoco.MjvPerturb()
        self.cam = mujoco.MjvCamera()
        self.cam.type = mujoco.mjtCamera.mjCAMERA_FREE
        self.cam.distance, self.cam.elevation, self.cam.azimuth = 4.5, -14.0, 120.0
        self.cam.lookat[:] = (0.0, 0.0, 0.9)
        self.camera_mode = Camera.FOLLOW
        scale = {100: mujoco.mjtFontScale.mjFONTSCALE_100, 150: mujoco.mjtFontScale.mjFONTSCALE_150}
        self.ctx = mujoco.MjrContext(model, scale.get(font_scale, mujoco.mjtFontScale.mjFONTSCALE_150))
        self.char_bodies = np.zeros(model.nbody, bool)
        self.strike_body = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, "strike_target")
        self.renderer_name = _gl_renderer()
        self.software = "llvmpipe" in self.renderer_name or "softpipe" in self.renderer_name
        self.set_quality(high=False)
        self.hud_px = 0  # height of the HUD drawn last (the controls window stops above it)

    # ---- settings ------------------------------------------------------------------
    def set_quality(self, high: bool) -> None:
        """Shadows and reflections: off by default (3x frame time on Mesa's software renderer, and the
        directional light's shadow map draws a dark patch on the horizon); the panel turns them on."""
        self.high_quality = high
        self.scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = high
        self.scene.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = high

    def set_character_bodies(self, body_ids: np.ndarray) -> None:
        self.char_bodies[:] = False
        self.char_bodies[body_ids] = True

    def camera_yaw(self) -> float:
        """The camera's forward direction as a world yaw (radians)."""
        return math.radians(self.cam.azimuth)

    def update_camera(self, target: np.ndarray, dt: float) -> None:
        """Follow/orbit: the look-at point eases towards the character; free: untouched."""
        if self.camera_mode is Camera.FREE:
            return
        goal = np.array([target[0], target[1], 0.9])
        k = 1.0 - math.exp(-6.0 * max(dt, 0.0))
        self.cam.lookat[:] = self.cam.lookat + k * (goal - self.cam.lookat)
        if self.camera_mode is Camera.ORBIT:
            self.cam.azimuth = (self.cam.azimuth + ORBIT_RATE * dt) % 360.0

    def cycle_camera(self) -> Camera:
        modes = list(Camera)
        self.camera_mode = modes[(modes.index(self.camera_mode) + 1) % len(modes)]
        return self.camera_mode

    def move_camera(self, action: int, reldx: float, reldy: float) -> None:
        """Rotate (`mjMOUSE_ROTATE_V`), pan (`mjMOUSE_MOVE_V`) or zoom (`mjMOUSE_ZOOM`) the free camera.

        MuJoCo 4.0's `mjv_moveCamera(m, action, reldx, reldy, cam)` takes no scene argument.
        """
        mujoco.mjv_moveCamera(self.model, action, reldx, reldy, self.cam)

    # ---- picking ---------------------------------------------------------------------
    def select(self, data: mujoco.MjData, relx: float, rely: float, aspect: float) -> tuple[int, int, np.ndarray]:
        """What is under the cursor (relx, rely in [0, 1], y up): (body id or -1, geom id or -1, world point)."""
        pnt = np.zeros(3)
        geom, flex, skin = (np.array([-1], dtype=np.int32) for _ in range(3))
        body = mujoco.mjv_select(self.model, data, self.opt, aspect, relx, rely, self.scene, pnt, geom, flex, skin)
        return int(body), int(geom[0]), pnt

    def start_drag(self, data: mujoco.MjData, body: int, point: np.ndarray) -> None:
        """Begin a drag push on `body` at world `point` (MuJoCo viewer style: a spring to the cursor)."""
        p = self.pert
        p.select, p.skinselect = body, -1
        p.localpos[:] = data.xmat[body].reshape(3, 3).T @ (point - data.xpos[body])
        p.active = mujoco.mjtPertBit.mjPERT_TRANSLATE
        mujoco.mjv_initPerturb(self.model, data, self.scene, p)

    def drag(self, data: mujoco.MjData, reldx: float, reldy: float) -> None:
        mujoco.mjv_movePerturb(self.model, data, mujoco.mjtMouse.mjMOUSE_MOVE_V, reldx, reldy, self.scene, self.pert)

    def end_drag(self) -> None:
        self.pert.active = 0
        self.pert.select = 0

    # ---- drawing -------------------------------------------------------------------
    def render(
        self,
        width: int,
        height: int,
        data: mujoco.MjData,
        *,
        ghost: mujoco.MjData | None = None,
        goals: Goals | None = None,
        markers: list | None = None,
        root: np.ndarray | None = None,
        hud: list[tuple[str, str]] | None = None,
        hidden: list[int] | None = None,
        offscreen: bool = False,
    ) -> None:
        """The scene; `hidden`: body ids not to draw (props not in play); `hud`: rows for MuJoCo's overlay."""
        m, scn = self.model, self.scene
        mujoco.mjv_updateScene(m, data, self.opt, self.pert, self.cam, mujoco.mjtCatBit.mjCAT_ALL, scn)
        if root is not None:
            self._hide_parked(root, hidden or [])
        if ghost is not None:
            self._add_ghost(ghost)
            if root is not None:  # which is which: the ghost stands beside the simulated character
                self._label(np.asarray(root) + [0, 0, LABEL_HEIGHT], "simulated")
                self._label(ghost.xpos[1] + [0, 0, LABEL_HEIGHT], "reference clip (kinematic)")
        if goals is not None and root is not None:
            self._add_goal_markers(goals, root)
        if markers:
            self._add_task_markers(markers)
        fb = mujoco.mjtFramebuffer.mjFB_OFFSCREEN if offscreen else mujoco.mjtFramebuffer.mjFB_WINDOW
        mujoco.mjr_setBuffer(fb, self.ctx)
        rect = mujoco.MjrRect(0, 0, width, height)
        mujoco.mjr_render(rect, scn, self.ctx)
        self.hud_px = self.hud_height(len(hud)) if hud else 0
        if hud:
            left = "\n".join(k for k, _ in hud)
            right = "\n".join(v for _, v in hud)
            # bottom left: the controls window sits above it, the latent window takes the right side
            mujoco.mjr_overlay(mujoco.mjtFont.mjFONT_NORMAL, mujoco.mjtGridPos.mjGRID_BOTTOMLEFT, rect, left, right,
                               self.ctx)  # fmt: skip

    def hud_height(self, rows: int) -> int:
        """Pixels the HUD's box takes at the bottom of the window: MuJoCo's overlay spaces lines about 1.25
        character heights apart (23 px at font scale 100); rounded up, with room for the box's margin."""
        return math.ceil(rows * 1.3 * self.ctx.charHeight) + 8 if rows else 0

    def read_pixels(self, width: int, height: int) -> np.ndarray:
        """The current buffer as (height, width, 3) uint8, top row first."""
        rgb = np.empty((height, width, 3), dtype=np.uint8)
        mujoco.mjr_readPixels(rgb, None, mujoco.MjrRect(0, 0, width, height), self.ctx)
        return rgb[::-1]

    def _room(self) -> bool:
        return self.scene.ngeom < self.scene.maxgeom

    def _hide_parked(self, root: np.ndarray, hidden: list[int], radius: float = 30.0) -> None:
        """Drop the props not in play (`hidden` bodies) and any prop far away (a ball that flew off); the strike
        target is drawn see-through, so that it never hides the character from the camera."""
        scn, keep, bodies = self.scene, 0, self.model.geom_bodyid
        for i in range(scn.ngeom):
            g = scn.geoms[i]
            if g.objtype == mujoco.mjtObj.mjOBJ_GEOM and bodies[g.objid] > 0 and not self.char_bodies[bodies[g.objid]]:
                if bodies[g.objid] in hidden or np.abs(np.asarray(g.pos[:2]) - root[:2]).max() > radius:
                    continue
                if bodies[g.objid] == self.strike_body:
                    g.rgba[3] = min(float(g.rgba[3]), STRIKE_ALPHA)
            if keep != i:
                _copy_geom(scn.geoms[keep], g)
            keep += 1
        scn.ngeom = keep

    def _add_ghost(self, ghost: mujoco.MjData) -> None:
        scn = self.scene
        start = scn.ngeom
        mujoco.mjv_addGeoms(self.model, ghost, self.opt, mujoco.MjvPerturb(), mujoco.mjtCatBit.mjCAT_DYNAMIC, scn)
        keep = start
        for i in range(start, scn.ngeom):  # keep the character's geoms only, tinted and translucent
            g = scn.geoms[i]
            if g.objtype != mujoco.mjtObj.mjOBJ_GEOM or not self.char_bodies[self.model.geom_bodyid[g.objid]]:
                continue
            if keep != i:
                _copy_geom(scn.geoms[keep], g)
            scn.geoms[keep].rgba[:] = GHOST_RGBA
            scn.geoms[keep].segid = -1
            keep += 1
        scn.ngeom = keep

    def _add_goal_markers(self, goals: Goals, root: np.ndarray) -> None:
        base = np.array([root[0], root[1], 0.03])
        hv = np.array([*goals.heading_vector(), 0.0])
        fv = np.array([*goals.facing_vector(), 0.0])
        self._arrow(base, base + hv * (0.4 + 0.35 * goals.speed), 0.03, HEADING_RGBA)
        self._arrow(base + [0, 0, 0.05], base + [0, 0, 0.05] + fv * 0.6, 0.018, FACING_RGBA)
        if goals.location is not None:
            loc = np.array([goals.location[0], goals.location[1], 0.0])
            self._geom(mujoco.mjtGeom.mjGEOM_CYLINDER, [0.25, 0.01, 0], loc + [0, 0, 0.01], LOCATION_RGBA)
            self._geom(mujoco.mjtGeom.mjGEOM_CAPSULE, [0.02, 0.5, 0], loc + [0, 0, 0.5], LOCATION_RGBA)
        if goals.reach_active:  # drawn once the user places it (ctrl+click, I/K/J/L/U/O, the panel)
            self._geom(mujoco.mjtGeom.mjGEOM_SPHERE, [0.06, 0, 0], np.asarray(goals.reach), REACH_RGBA)

    def _add_task_markers(self, markers: list) -> None:
        """An HLC task's markers (tasks.common.Marker, world frame): arrows; points (a ball, standing on a
        post along `vector` when it has one, the location target's); box outlines (half extents, orientation)."""
        for mk in markers:
            pos, vec = np.asarray(mk.pos, dtype=np.float64), np.asarray(mk.vector, dtype=np.float64)
            if mk.kind == "arrow":
                self._arrow(pos, pos + vec, 0.03, mk.color)
            elif mk.kind == "point" and vec.any():
                self._geom(mujoco.mjtGeom.mjGEOM_CYLINDER, [2.5 * mk.radius, 0.01, 0], pos + [0, 0, 0.01], mk.color)
                self._connector(mujoco.mjtGeom.mjGEOM_CAPSULE, 0.02, pos, pos + vec, mk.color)
                self._geom(mujoco.mjtGeom.mjGEOM_SPHERE, [mk.radius, 0, 0], pos + vec, mk.color)
            elif mk.kind == "point":
                self._geom(mujoco.mjtGeom.mjGEOM_SPHERE, [mk.radius, 0, 0], pos, mk.color)
            elif mk.kind == "box":
                rot = np.zeros(9)
                mujoco.mju_quat2Mat(rot, np.asarray(mk.quat, dtype=np.float64))
                self._geom(mujoco.mjtGeom.mjGEOM_LINEBOX, vec + 0.03, pos, mk.color, rot)

    def _geom(self, kind: int, size, pos: np.ndarray, rgba, rot: np.ndarray | None = None) -> None:
        if not self._room():
            return
        g = self.scene.geoms[self.scene.ngeom]
        mat = (np.eye(3) if rot is None else np.asarray(rot, dtype=np.float64)).reshape(-1)
        mujoco.mjv_initGeom(g, kind, np.asarray(size, dtype=np.float64), np.asarray(pos, dtype=np.float64), mat,
                            np.asarray(rgba, dtype=np.float32))  # fmt: skip
        g.category = mujoco.mjtCatBit.mjCAT_DECOR
        self.scene.ngeom += 1

    def _label(self, pos: np.ndarray, text: str) -> None:
        """A text label at a world point (no shape)."""
        if not self._room():
            return
        g = self.scene.geoms[self.scene.ngeom]
        mujoco.mjv_initGeom(g, mujoco.mjtGeom.mjGEOM_LABEL, np.zeros(3), np.asarray(pos, dtype=np.float64),
                            np.eye(3).reshape(-1), np.ones(4, dtype=np.float32))  # fmt: skip
        g.label = text
        g.category = mujoco.mjtCatBit.mjCAT_DECOR
        self.scene.ngeom += 1

    def _arrow(self, a: np.ndarray, b: np.ndarray, width: float, rgba) -> None:
        self._connector(mujoco.mjtGeom.mjGEOM_ARROW, width, a, b, rgba)

    def _connector(self, kind: int, width: float, a: np.ndarray, b: np.ndarray, rgba) -> None:
        """An arrow, capsule or line from world point a to b."""
        if not self._room():
            return
        g = self.scene.geoms[self.scene.ngeom]
        mujoco.mjv_initGeom(g, kind, np.zeros(3), np.zeros(3), np.eye(3).reshape(-1),
                            np.asarray(rgba, dtype=np.float32))  # fmt: skip
        mujoco.mjv_connector(g, kind, width, np.asarray(a, float), np.asarray(b, float))
        g.category = mujoco.mjtCatBit.mjCAT_DECOR
        self.scene.ngeom += 1

    def close(self) -> None:
        self.ctx.free()


_GEOM_FIELDS = [a for a in dir(mujoco.MjvGeom()) if not a.startswith("_")]


def _copy_geom(dst, src) -> None:
    for name in _GEOM_FIELDS:
        val = getattr(src, name)
        if isinstance(val, np.ndarray):
            getattr(dst, name)[...] = val
        else:
            setattr(dst, name, val)


def _gl_renderer() -> str:
    """GL_RENDERER of the current context ('' when it cannot be read)."""
    try:
        import ctypes

        from OpenGL import GL

        s = GL.glGetString(GL.GL_RENDERER)
        return (s.decode() if isinstance(s, bytes) else ctypes.string_at(s).decode()) if s else ""
    except Exception:
        return ""
