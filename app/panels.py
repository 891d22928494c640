"""The imgui panels: mode, playback, latent exploration, goals, perturbation, simulation controls.

Each panel reads and changes the `Session` (and the renderer's camera/quality); no state lives here
except what the panel needs to remember between frames (`PanelState`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from imgui_bundle import imgui

from app.render import SceneRenderer
from app.session import HLC_UNAVAILABLE, Session
from app.state import SLOW_MOTION, Camera, Mode

PANEL_WIDTH = 330
MAP_SIZE = 220
LATENT_SLIDERS = 8  # how many latent dimensions get a slider (the rest stay as they are)

KEY_HELP = """WASD/arrows: heading (shift: run)   Q/E: facing
click ground: location target   ctrl+click: reach xy
I/K/J/L/U/O: move reach target   drag a body: push
B: shove   X: projectile   V: strike target
space: pause   N: step   T: slow motion   R: reset
C: camera   Z: random latent   1-4: mode
[ ]: clip   G: ghost   F12: screenshot   H: panels"""


@dataclass
class PanelState:
    screenshot: bool = False
    show_help: bool = False


def short_names(names: list[str]) -> list[str]:
    """Clip names without their common prefix ("humanoid3d_walk" -> "walk")."""
    import os

    prefix = os.path.commonprefix(names) if len(names) > 1 else ""
    prefix = prefix[: prefix.rfind("_") + 1] if "_" in prefix else ""
    return [n[len(prefix) :] or n for n in names]


def _rgba(r: float, g: float, b: float, a: float = 1.0) -> int:
    return imgui.get_color_u32(imgui.ImVec4(r, g, b, a))


def draw(s: Session, r: SceneRenderer, ps: PanelState, height: int) -> None:
    imgui.set_next_window_pos(imgui.ImVec2(8, 8), imgui.Cond_.first_use_ever)
    imgui.set_next_window_size(imgui.ImVec2(PANEL_WIDTH, height - 16), imgui.Cond_.first_use_ever)
    imgui.begin("ASE viewer")
    _mode_panel(s)
    if s.mode is Mode.PLAYBACK:
        _playback_panel(s)
    if s.mode is Mode.SIM:
        _sim_panel(s)
    if s.policy is not None:
        _latent_panel(s)
    _goals_panel(s)
    _perturb_panel(s)
    _controls_panel(s, r, ps)
    imgui.end()


def _mode_panel(s: Session) -> None:
    imgui.separator_text("Mode")
    avail = s.available_modes()
    for i, m in enumerate(Mode):
        if i:
            imgui.same_line()
        imgui.begin_disabled(bool(avail[m]))
        if imgui.radio_button(m.value, s.mode is m):
            s.set_mode(m)
        imgui.end_disabled()
        if avail[m]:
            imgui.set_item_tooltip(avail[m])
    imgui.text_colored(imgui.ImVec4(1.0, 0.75, 0.3, 1.0), HLC_UNAVAILABLE)
    for msg in s.messages:
        imgui.text_wrapped(msg)


def _playback_panel(s: Session) -> None:
    imgui.separator_text("Motion playback")
    if s.motions is None:
        imgui.text_wrapped("No motion clips. Run: python launch.py motions download")
        return
    changed, idx = imgui.combo("clip", s.clip, short_names(s.clip_names))
    if changed:
        s.select_clip(idx)
    changed, t = imgui.slider_float("time", s.clip_time, 0.0, max(s.clip_duration, 1e-3), "%.2f s")
    if changed:
        s.scrub(t)
    _, s.loop = imgui.checkbox("loop", s.loop)
    imgui.same_line()
    changed, ghost = imgui.checkbox("simulate beside the reference", s.ghost)
    if changed:
        s.ghost = ghost
        s.reset()


def _sim_panel(s: Session) -> None:
    imgui.separator_text("Physics without a controller")
    holds = ["pose", "default", "zero_action"]
    changed, i = imgui.combo("PD targets", holds.index(s.sim_hold), ["hold start pose", "default pose", "zero action"])
    if changed:
        s.sim_hold = holds[i]


def _latent_panel(s: Session) -> None:
    imgui.separator_text("Latent (skill)")
    if s.latent is None:
        return
    if imgui.button("random latent (Z)"):
        s.random_latent()
    imgui.same_line()
    imgui.text(f"nearest: {s.nearest_preset()}")
    sm = s.skill_map
    if sm is not None:
        imgui.text("presets (one per clip: mean encoder latent)")
        labels = short_names(sm.names)
        for i, name in enumerate(sm.names):
            if i % 4:
                imgui.same_line()
            if imgui.small_button(labels[i][:11] + f"##p{i}"):
                s.use_preset(name)
        a, b, t = s.blend
        ca, a = imgui.combo("from", a, labels)
        cb, b = imgui.combo("to", b, labels)
        ct, t = imgui.slider_float("slerp", t, 0.0, 1.0)
        if ca or cb or ct:
            s.set_blend(a, b, t)
        _skill_map(s)
    z = s.latent.copy()
    changed_any = False
    for i in range(min(LATENT_SLIDERS, len(z))):
        changed, v = imgui.slider_float(f"z[{i}]", float(z[i]), -1.0, 1.0)
        if changed:
            z[i], changed_any = v, True
    if changed_any:
        s.set_latent(z)
    imgui.plot_histogram("##z", s.latent.astype(np.float32), graph_size=imgui.ImVec2(0, 40), scale_min=-0.5,
                         scale_max=0.5)  # fmt: skip


def _skill_map(s: Session) -> None:
    """The presets on a 2-D PCA map; click or drag anywhere to pick the latent there."""
    sm = s.skill_map
    origin = imgui.get_cursor_screen_pos()
    size = imgui.ImVec2(MAP_SIZE, MAP_SIZE)
    imgui.invisible_button("skill_map", size)
    if imgui.is_item_active():
        mp = imgui.get_mouse_pos()
        xy = ((mp.x - origin.x) / MAP_SIZE * 2 - 1, 1 - (mp.y - origin.y) / MAP_SIZE * 2)
        s.set_latent(sm.to_latent(np.clip(xy, -1.2, 1.2)))
    dl = imgui.get_window_draw_list()
    dl.add_rect_filled(origin, imgui.ImVec2(origin.x + MAP_SIZE, origin.y + MAP_SIZE), _rgba(0.1, 0.12, 0.16, 1.0))

    def to_px(xy) -> imgui.ImVec2:
        x = origin.x + (0.5 + 0.45 * float(xy[0])) * MAP_SIZE
        y = origin.y + (0.5 - 0.45 * float(xy[1])) * MAP_SIZE
        return imgui.ImVec2(x, y)

    for name, xy in zip(short_names(sm.names), sm.coords):
        p = to_px(xy)
        dl.add_circle_filled(p, 4.0, _rgba(0.4, 0.7, 1.0))
        dl.add_text(imgui.ImVec2(p.x + 5, p.y - 7), _rgba(0.8, 0.85, 0.9), name[:12])
    if s.latent is not None:
        dl.add_circle_filled(to_px(sm.project(s.latent)), 6.0, _rgba(1.0, 0.4, 0.2))


def _goals_panel(s: Session) -> None:
    imgui.separator_text("Task goals (drawn; no HLC consumes them yet)")
    g = s.goals
    imgui.text(f"heading {math.degrees(g.heading):6.1f} deg  speed {g.speed:.1f} m/s")
    imgui.text(f"facing  {math.degrees(g.facing):6.1f} deg")
    _, g.facing_follows_heading = imgui.checkbox("facing follows heading", g.facing_follows_heading)
    loc = "-" if g.location is None else f"({g.location[0]:.1f}, {g.location[1]:.1f})"
    imgui.text(f"location {loc}  (click the ground)")
    if g.location is not None:
        imgui.same_line()
        if imgui.small_button("clear"):
            g.location = None
    changed, v = imgui.slider_float3("reach", g.reach.tolist(), -5.0, 5.0, "%.2f")
    if changed:
        g.reach = np.array(v, dtype=np.float64)
    if imgui.button("spawn / reset strike target (V)"):
        s.spawn_strike_target()


def _perturb_panel(s: Session) -> None:
    imgui.separator_text("Perturbation")
    if imgui.button("shove (B)"):
        s.shove()
    imgui.same_line()
    if imgui.button("projectile (X)"):
        s.throw()
    imgui.text(f"posture: {s.fall.label(s.sim.time)}   falls: {s.fall.falls}")


def _controls_panel(s: Session, r: SceneRenderer, ps: PanelState) -> None:
    imgui.separator_text("Simulation")
    if imgui.button("resume" if s.clock.paused else "pause"):
        s.clock.toggle_pause()
    imgui.same_line()
    if imgui.button("step"):
        s.clock.request_step()
    imgui.same_line()
    if imgui.button("reset"):
        s.reset()
    imgui.same_line()
    if imgui.button("screenshot"):
        ps.screenshot = True
    labels = [f"x{v:g}" for v in SLOW_MOTION]
    changed, i = imgui.combo("speed", SLOW_MOTION.index(s.clock.speed) if s.clock.speed in SLOW_MOTION else 0, labels)
    if changed:
        s.clock.speed = SLOW_MOTION[i]
    cams = list(Camera)
    changed, i = imgui.combo("camera", cams.index(r.camera_mode), [c.value for c in cams])
    if changed:
        r.camera_mode = cams[i]
    changed, hq = imgui.checkbox("shadows + reflections", r.high_quality)
    if changed:
        r.set_quality(hq)
    _, ps.show_help = imgui.checkbox("keys", ps.show_help)
    if ps.show_help:
        imgui.text(KEY_HELP)
