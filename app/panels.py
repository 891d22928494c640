"""The imgui panels: mode, playback, perturbation, simulation controls, goals, the latent, the task, the keys.

Layout at 1280x720 and up: the controls window on the left (sized to its content), the latent window on the
right in LLC mode (the task window in HLC mode), the HUD (MuJoCo's overlay) bottom left (the controls window
stops above it and scrolls), the keys in a window of their own. Each panel reads and changes the `Session`
(and the renderer's camera/quality); no state lives here except what the panels remember between frames
(`PanelState`), including where windows and widgets were drawn, for the tests."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

import numpy as np
from imgui_bundle import imgui

from app.controls import KEY_HELP, TASK_INPUTS
from app.latents import place_labels
from app.render import FACING_RGBA, GHOST_RGBA, HEADING_RGBA, LOCATION_RGBA, REACH_RGBA, SceneRenderer
from app.session import HLC_UNAVAILABLE, SHOVE_DIRECTIONS, Session
from app.state import SLOW_MOTION, Camera, Mode

MARGIN = 8
CONTROLS_WIDTH = 340
LATENT_WIDTH = 390
MAP_SIZE = 230
MIN_CONTROLS_HEIGHT = 240  # below this the controls window may cover the HUD
SHOVE_RANGE = (0.0, 400.0)  # N s
SHOVE_DIRECTION_LABELS = {"camera": "camera's view (away from you)", "random": "random bearing"}


@dataclass
class PanelState:
    screenshot: bool = False
    show_help: bool = False
    # where things were drawn last frame (imgui screen pixels, y down), for tests and layout checks
    windows: dict[str, tuple[float, float, float, float, float]] = field(default_factory=dict)  # x, y, w, h, scroll
    items: dict[str, tuple[float, float, float, float]] = field(default_factory=dict)  # x0, y0, x1, y1
    map_labels: list[tuple[float, float, float, float]] = field(default_factory=list)  # drawn label rectangles


def short_names(names: list[str]) -> list[str]:
    """Clip names without their common prefix ("humanoid3d_walk" -> "walk")."""
    prefix = os.path.commonprefix(names) if len(names) > 1 else ""
    prefix = prefix[: prefix.rfind("_") + 1] if "_" in prefix else ""
    return [n[len(prefix) :] or n for n in names]


def _rgba(r: float, g: float, b: float, a: float = 1.0) -> int:
    return imgui.get_color_u32(imgui.ImVec4(r, g, b, a))


def _remember(ps: PanelState, name: str, frame_width: float | None = None) -> None:
    """Store the last widget's rectangle under `name` (for sliders: only the frame, without the label)."""
    a, b = imgui.get_item_rect_min(), imgui.get_item_rect_max()
    ps.items[name] = (a.x, a.y, b.x if frame_width is None else a.x + frame_width, b.y)


def _end_window(ps: PanelState, name: str) -> None:
    pos, size = imgui.get_window_pos(), imgui.get_window_size()
    ps.windows[name] = (pos.x, pos.y, size.x, size.y, imgui.get_scroll_max_y())
    imgui.end()


def draw(s: Session, r: SceneRenderer, ps: PanelState, height: int, width: int = 1280) -> None:
    ps.windows.clear()
    imgui.set_next_window_pos(imgui.ImVec2(MARGIN, MARGIN), imgui.Cond_.first_use_ever)
    # above the HUD (bottom left): a taller panel scrolls rather than cover it, unless the window is tiny
    room = max(height - 2 * MARGIN - r.hud_px, min(MIN_CONTROLS_HEIGHT, height - 2 * MARGIN))
    imgui.set_next_window_size_constraints(imgui.ImVec2(CONTROLS_WIDTH, 0), imgui.ImVec2(CONTROLS_WIDTH, room))
    imgui.begin("ASE viewer", None, imgui.WindowFlags_.always_auto_resize)
    _mode_panel(s, ps)
    if s.mode is Mode.PLAYBACK:
        _playback_panel(s, ps)
    if s.mode is Mode.SIM:
        _sim_panel(s)
    _perturb_panel(s, ps)
    _controls_panel(s, r, ps)
    _goals_panel(s, ps)
    _end_window(ps, "controls")
    if s.mode is Mode.LLC and s.latent is not None:
        _latent_window(s, ps, width, height)
    if s.mode is Mode.HLC and s.driver is not None:
        _task_window(s, ps, width, height)
    if ps.show_help:
        _keys_window(ps, width, height)


def _mode_panel(s: Session, ps: PanelState) -> None:
    imgui.separator_text("Mode")
    avail = s.available_modes()
    for i, m in enumerate(Mode):
        if i:
            imgui.same_line()
        imgui.begin_disabled(bool(avail[m]))
        if imgui.radio_button(m.value, s.mode is m):
            s.set_mode(m)
        imgui.end_disabled()
        _remember(ps, f"mode {m.value}")
        if avail[m]:
            imgui.set_item_tooltip(avail[m])
    if s.driver is None:
        imgui.text_colored(imgui.ImVec4(1.0, 0.75, 0.3, 1.0), "HLC: none loaded (view --hlc CKPT)")
        imgui.set_item_tooltip(HLC_UNAVAILABLE)
    for msg in s.messages:
        imgui.text_disabled(msg if len(msg) < 48 else msg[:45] + "...")
        if len(msg) >= 48:
            imgui.set_item_tooltip(msg)


def _playback_panel(s: Session, ps: PanelState) -> None:
    imgui.separator_text("Motion playback")
    if s.motions is None:
        imgui.text_wrapped("No motion clips. Run: python launch.py motions download")
        return
    imgui.set_next_item_width(-50)
    changed, idx = imgui.combo("clip", s.clip, short_names(s.clip_names))
    if changed:
        s.select_clip(idx)
    imgui.set_next_item_width(-50)
    changed, t = imgui.slider_float("time", s.clip_time, 0.0, max(s.clip_duration, 1e-3), "%.2f s")
    if changed:
        s.scrub(t)
    _, s.loop = imgui.checkbox("loop", s.loop)
    imgui.same_line()
    changed, ghost = imgui.checkbox("simulate beside the clip (G)", s.ghost)
    _remember(ps, "ghost")
    if changed:
        s.ghost = ghost
        s.reset()
    if s.ghost:
        imgui.text_colored(imgui.ImVec4(*GHOST_RGBA[:3], 1.0), "translucent green: the clip (kinematic)")
        imgui.text_disabled("solid: simulated (tracks the clip's joints)")


def _sim_panel(s: Session) -> None:
    imgui.separator_text("Physics without a controller")
    holds = ["pose", "default", "zero_action"]
    imgui.set_next_item_width(-90)
    changed, i = imgui.combo("PD targets", holds.index(s.sim_hold), ["hold start pose", "default pose", "zero action"])
    if changed:
        s.sim_hold = holds[i]


def _perturb_panel(s: Session, ps: PanelState) -> None:
    imgui.separator_text("Perturbation")
    imgui.set_next_item_width(-90)
    frame = imgui.calc_item_width()
    _, s.shove_strength = imgui.slider_float("strength", s.shove_strength, *SHOVE_RANGE, "%.0f N s")
    _remember(ps, "shove strength", frame)
    imgui.set_next_item_width(-90)
    i = SHOVE_DIRECTIONS.index(s.shove_direction)
    changed, i = imgui.combo("direction", i, [SHOVE_DIRECTION_LABELS[d] for d in SHOVE_DIRECTIONS])
    _remember(ps, "shove direction")
    if changed:
        s.shove_direction = SHOVE_DIRECTIONS[i]
    if imgui.button("shove (B)"):
        s.shove()
    _remember(ps, "shove")
    imgui.same_line()
    if imgui.button("throw a ball (X)"):
        s.throw()
    _remember(ps, "throw")
    imgui.same_line()
    imgui.text_disabled("shift+drag: aim")
    imgui.set_item_tooltip("shift+drag a body: shove it along the drag, at this strength")
    imgui.text(f"posture: {s.fall.label(s.sim.time)}   falls: {s.fall.falls}")


def _controls_panel(s: Session, r: SceneRenderer, ps: PanelState) -> None:
    imgui.separator_text("Simulation")
    if imgui.button("resume" if s.clock.paused else "pause"):
        s.clock.toggle_pause()
    _remember(ps, "pause")
    imgui.same_line()
    if imgui.button("step"):
        s.clock.request_step()
    _remember(ps, "step")
    imgui.same_line()
    if imgui.button("reset"):
        s.reset()
    _remember(ps, "reset")
    imgui.same_line()
    if imgui.button("screenshot"):
        ps.screenshot = True
    _remember(ps, "screenshot")
    labels = [f"x{v:g}" for v in SLOW_MOTION]
    imgui.set_next_item_width(70)
    changed, i = imgui.combo("speed", SLOW_MOTION.index(s.clock.speed) if s.clock.speed in SLOW_MOTION else 0, labels)
    if changed:
        s.clock.speed = SLOW_MOTION[i]
    imgui.same_line()
    cams = list(Camera)
    imgui.set_next_item_width(90)
    changed, i = imgui.combo("camera", cams.index(r.camera_mode), [c.value for c in cams])
    if changed:
        r.camera_mode = cams[i]
    changed, hq = imgui.checkbox("shadows + reflections", r.high_quality)
    _remember(ps, "shadows")
    if changed:
        r.set_quality(hq)
    imgui.same_line()
    _, ps.show_help = imgui.checkbox("keys", ps.show_help)
    _remember(ps, "keys")


def _goals_panel(s: Session, ps: PanelState) -> None:
    hlc = s.mode is Mode.HLC and s.driver is not None
    opened = imgui.collapsing_header(f"Task goals ({'feed the HLC' if hlc else 'drawn; HLC mode uses them'})###goals")
    _remember(ps, "goals")
    if not opened:
        return
    g = s.goals
    legend = ((HEADING_RGBA, "green arrow: heading"), (FACING_RGBA, "blue arrow: facing"),
              (LOCATION_RGBA, "red post: location (click the ground)"),
              (REACH_RGBA, "magenta ball: reach (ctrl+click, I/K/J/L/U/O)"))  # fmt: skip
    for rgba, text in legend:
        imgui.text_colored(imgui.ImVec4(*rgba[:3], 1.0), text)
    imgui.text(f"heading {math.degrees(g.heading):6.1f} deg  speed {g.speed:.1f} m/s")
    imgui.text(f"facing  {math.degrees(g.facing):6.1f} deg")
    _, g.facing_follows_heading = imgui.checkbox("facing follows heading (F)", g.facing_follows_heading)
    loc = "-" if g.location is None else f"({g.location[0]:.1f}, {g.location[1]:.1f})"
    imgui.text(f"location {loc}")
    if g.location is not None:
        imgui.same_line()
        if imgui.small_button("clear"):
            g.location = None
    imgui.set_next_item_width(-50)
    changed, v = imgui.slider_float3("reach", g.reach.tolist(), -5.0, 5.0, "%.2f")
    if changed:
        g.reach = np.array(v, dtype=np.float64)
        g.reach_active = True
    if imgui.button("spawn / reset strike target (V)"):
        s.spawn_strike_target()


# ---- the task window (HLC mode) ----------------------------------------------------------------------
def _task_window(s: Session, ps: PanelState, width: int, height: int) -> None:
    """The loaded task controller: its task, which inputs set the goal, the goal as the task holds it, the task
    reward and success, what the markers mean."""
    task = s.driver.task
    imgui.set_next_window_pos(imgui.ImVec2(width - LATENT_WIDTH - MARGIN, MARGIN), imgui.Cond_.first_use_ever)
    imgui.set_next_window_size_constraints(imgui.ImVec2(LATENT_WIDTH, 0), imgui.ImVec2(LATENT_WIDTH, height - 16))
    imgui.begin("Task controller (HLC)", None, imgui.WindowFlags_.always_auto_resize)
    imgui.push_text_wrap_pos(0.0)  # wrap at the window's edge
    imgui.text(f"task: {task.name}   controller: {s.hlc_name or '-'}")
    if s.task_llc is not None:
        imgui.text_disabled(f"drives its own LLC, {s.task_llc.llc_name} (LLC mode and other tasks: the bundled one)")
    if len(s.controllers) > 1:  # the bundled ones: switch by hand (Tab) or by using another task's input
        for i, name in enumerate(s.controllers):
            if i:
                imgui.same_line()
            if imgui.radio_button(f"{name}##task", name == task.name):
                s.select_task(name)
            _remember(ps, f"task {name}")
        imgui.text_disabled("Tab: next; moving, a ground click or V switches to the task that takes it")
    imgui.text_disabled(f"picks a latent every {s.driver.llc_steps} control steps; the frozen LLC acts on it")
    imgui.separator_text("Goal input")
    for keys, what in TASK_INPUTS.get(task.name, ()):
        imgui.bullet_text(keys)
        imgui.indent()
        imgui.text_disabled(what)
        imgui.unindent()
    imgui.text(f"goal: {s.task_goal()}")
    _remember(ps, "task goal")
    imgui.pop_text_wrap_pos()
    imgui.separator_text("Task reward and success")
    if s.task_rewards:
        span = len(s.task_rewards) * s.sim.control_dt
        imgui.text(f"reward {s.task_reward:.3f} (last step), {np.mean(s.task_rewards):.3f} (mean of {span:.1f} s)")
        _remember(ps, "task reward")
        values = np.asarray(s.task_rewards, dtype=np.float32)
        imgui.plot_lines("##task reward", values, scale_min=0.0, scale_max=1.0, graph_size=imgui.ImVec2(-1, 40))
        ok = imgui.ImVec4(0.3, 0.9, 0.4, 1.0) if s.task_success else imgui.ImVec4(0.9, 0.5, 0.3, 1.0)
        imgui.text_colored(ok, f"success: {'yes' if s.task_success else 'no'}")
        imgui.same_line()
        imgui.text(f"({np.mean(s.task_successes):.0%} of the last {span:.1f} s)")
        failure = s.task_failure_row()
        if failure is not None:
            imgui.text(": ".join(failure))
            imgui.push_text_wrap_pos(0.0)
            imgui.text_disabled(f"{task.failure} (ends a training episode; counted here)")
            imgui.pop_text_wrap_pos()
    else:
        imgui.text_disabled("starts with the first control step")
    imgui.separator_text("Markers")
    for i, mk in enumerate(s.markers()):
        imgui.color_button(f"##marker{i}", imgui.ImVec4(*mk.color), 0, imgui.ImVec2(12, 12))
        imgui.same_line()
        imgui.text(f"{mk.label or mk.kind} ({mk.kind})")
    imgui.text(f"skill now: {_nearest(s)}")
    if imgui.button("reset episode (R)"):
        s.reset()
    _remember(ps, "task reset")
    _end_window(ps, "task")


# ---- the latent window (LLC mode) -------------------------------------------------------------------
def _latent_window(s: Session, ps: PanelState, width: int, height: int) -> None:
    imgui.set_next_window_pos(imgui.ImVec2(width - LATENT_WIDTH - MARGIN, MARGIN), imgui.Cond_.first_use_ever)
    imgui.set_next_window_size(imgui.ImVec2(LATENT_WIDTH, height - 2 * MARGIN), imgui.Cond_.first_use_ever)
    imgui.begin("Latent (skill)")
    if imgui.button("random latent (Z)"):
        s.random_latent()
    _remember(ps, "random latent")
    imgui.same_line()
    imgui.text(f"nearest preset: {_nearest(s)}")
    if imgui.begin_tab_bar("latent tabs"):
        if imgui.begin_tab_item("presets and map")[0]:
            _presets(s, ps)
            imgui.end_tab_item()
        _remember(ps, "tab presets")
        if imgui.begin_tab_item("all 64 dimensions" if len(s.latent) == 64 else "all dimensions")[0]:
            _dimensions(s, ps)
            imgui.end_tab_item()
        _remember(ps, "tab dimensions")
        imgui.end_tab_bar()
    _end_window(ps, "latent")


def _nearest(s: Session) -> str:
    if s.skill_map is None or s.latent is None or s.acting_llc is not s.policy:
        return s.nearest_preset()
    name, cos = s.skill_map.nearest(s.latent)
    return f"{short_names(s.skill_map.names)[s.skill_map.names.index(name)]} (cos {cos:.2f})"


def _presets(s: Session, ps: PanelState) -> None:
    sm = s.skill_map
    if sm is None:
        imgui.text_wrapped("No presets: they come from the motion clips (python launch.py motions download).")
        return
    imgui.text_disabled("one preset per clip: its mean encoder latent")
    labels = short_names(sm.names)
    avail = imgui.get_content_region_avail().x
    widest = max(imgui.calc_text_size(n).x for n in labels) + 2 * imgui.get_style().frame_padding.x
    cols = int(max(1, min(3, avail // (widest + imgui.get_style().item_spacing.x))))  # never truncate a name
    if imgui.begin_table("presets", cols):
        for i, name in enumerate(sm.names):
            imgui.table_next_column()
            if imgui.button(f"{labels[i]}##p{i}", imgui.ImVec2(-1, 0)):
                s.use_preset(name)
            _remember(ps, f"preset {labels[i]}")
        imgui.end_table()
    a, b, t = s.blend
    half = (imgui.get_content_region_avail().x - imgui.get_style().item_spacing.x) / 2
    imgui.set_next_item_width(half - 30)
    ca, a = imgui.combo("from", a, labels)
    imgui.same_line()
    imgui.set_next_item_width(half - 30)
    cb, b = imgui.combo("to", b, labels)
    imgui.set_next_item_width(-50)
    ct, t = imgui.slider_float("slerp", t, 0.0, 1.0)
    if ca or cb or ct:
        s.set_blend(a, b, t)
    imgui.text_disabled("skill map (first two principal axes): click or drag")
    _skill_map(s, ps)


def _skill_map(s: Session, ps: PanelState) -> None:
    """The presets on a 2-D PCA map; click or drag anywhere to pick the latent there."""
    sm = s.skill_map
    origin = imgui.get_cursor_screen_pos()
    size = min(MAP_SIZE, imgui.get_content_region_avail().x)
    imgui.invisible_button("skill_map", imgui.ImVec2(size, size))
    _remember(ps, "skill map")
    hovered = imgui.is_item_hovered()
    if imgui.is_item_active():
        mp = imgui.get_mouse_pos()
        xy = ((mp.x - origin.x) / size * 2 - 1, 1 - (mp.y - origin.y) / size * 2)
        s.set_latent(sm.to_latent(np.clip(xy, -1.2, 1.2)))
    dl = imgui.get_window_draw_list()
    x1, y1 = origin.x + size, origin.y + size
    dl.add_rect_filled(origin, imgui.ImVec2(x1, y1), _rgba(0.1, 0.12, 0.16, 1.0))

    def to_px(xy) -> tuple[float, float]:
        return origin.x + (0.5 + 0.45 * float(xy[0])) * size, origin.y + (0.5 - 0.45 * float(xy[1])) * size

    names = short_names(sm.names)
    pts = np.array([to_px(xy) for xy in sm.coords])
    sizes = np.array([[imgui.calc_text_size(n).x, imgui.calc_text_size(n).y] for n in names])
    spots = place_labels(pts, sizes, (origin.x, origin.y, x1, y1))
    ps.map_labels = []
    for name, (px, py), spot, (w, h) in zip(names, pts, spots, sizes):
        dl.add_circle_filled(imgui.ImVec2(px, py), 4.0, _rgba(0.4, 0.7, 1.0))
        if spot is not None:
            dl.add_text(imgui.ImVec2(*spot), _rgba(0.8, 0.85, 0.9), name)
            ps.map_labels.append((spot[0], spot[1], spot[0] + w, spot[1] + h))
    if s.latent is not None:
        cx, cy = to_px(sm.project(s.latent))
        dl.add_circle_filled(imgui.ImVec2(cx, cy), 6.0, _rgba(1.0, 0.4, 0.2))
    if hovered:  # name the preset under the cursor (its label may have had no room)
        mp = imgui.get_mouse_pos()
        d = np.hypot(pts[:, 0] - mp.x, pts[:, 1] - mp.y)
        if d.min() < 12:
            imgui.set_tooltip(sm.names[int(d.argmin())])


def _dimensions(s: Session, ps: PanelState) -> None:
    """Sliders along the presets' principal axes, then every raw dimension (folded): all of the latent."""
    sm, z = s.skill_map, s.latent
    imgui.push_text_wrap_pos(0.0)
    imgui.text_disabled("Principal axes of the presets, then every raw dimension. A slider sets one "
                        "component exactly; the others rescale together to stay on the unit sphere.")  # fmt: skip
    imgui.pop_text_wrap_pos()
    if sm is not None:
        coords = sm.components @ z
        rows = min(len(coords), 16)
        imgui.begin_child("pcs", imgui.ImVec2(0, rows * imgui.get_frame_height_with_spacing() + 4))
        for i, (axis, share) in enumerate(zip(sm.components, sm.explained)):
            imgui.set_next_item_width(-110)
            frame = imgui.calc_item_width()
            changed, v = imgui.slider_float(f"PC{i + 1} ({share:.0%})##pc{i}", float(coords[i]), -1.0, 1.0, "%.3f")
            _remember(ps, f"pc {i}", frame)
            if changed:
                s.set_latent_component(axis, v)
        imgui.end_child()
    else:
        imgui.text_disabled("no principal axes without presets (no motion clips)")
    opened = imgui.collapsing_header(f"raw dimensions ({len(z)})")
    _remember(ps, "raw header")
    if opened:
        imgui.begin_child("raw", imgui.ImVec2(0, 0))
        for i in range(len(z)):
            imgui.set_next_item_width(-60)
            frame = imgui.calc_item_width()
            changed, v = imgui.slider_float(f"z[{i}]", float(s.latent[i]), -1.0, 1.0, "%.3f")
            _remember(ps, f"z {i}", frame)
            if changed:
                s.set_latent_component(np.eye(len(z))[i], v)
        imgui.end_child()


# ---- keys -------------------------------------------------------------------------------------------------
def _keys_window(ps: PanelState, width: int, height: int) -> None:
    # top right, over the latent window rather than the character
    imgui.set_next_window_pos(imgui.ImVec2(width - MARGIN, MARGIN), imgui.Cond_.appearing, imgui.ImVec2(1.0, 0.0))
    opened, ps.show_help = imgui.begin("Keys and mouse", ps.show_help, imgui.WindowFlags_.always_auto_resize)
    if opened and imgui.begin_table("keys", 2, imgui.TableFlags_.row_bg):
        for keys, what in KEY_HELP:
            imgui.table_next_column()
            imgui.text(keys)
            imgui.table_next_column()
            imgui.text(what)
        imgui.end_table()
    _end_window(ps, "keys")
