"""The imgui panels: mode, playback, perturbation, simulation controls, goals, the status, the latent, the task,
the keys and the first-run hint.

Where each window goes is `app.layout`'s: the controls window top left (sized to its content, scrolling above
the status window rather than covering it), the status (the HUD's rows, a window so that clicks on it stay in
it) bottom left, the latent window (LLC mode) or the task window (HLC mode) on the right, the keys and the
first-run hint in the middle. Windows are placed every frame and cannot be dragged, so none overlaps another.
Each panel reads and changes the `Session` (and the renderer's camera/quality); no state lives here except what
the panels remember between frames (`PanelState`), including where windows and widgets were drawn, for the
tests."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from imgui_bundle import imgui

from app import hud
from app.controls import INPUT_KEYS, KEY_GROUPS, KEY_HELP, key_applies
from app.latents import place_labels
from app.layout import MARGIN, layout
from app.perturb import SHOVE_DIRECTIONS
from app.presets import short_names  # noqa: F401 - the panels' name for clip names (tests import it from here)
from app.render import GHOST_RGBA, LOCATION_RGBA, REACH_RGBA, SceneRenderer
from app.routing import input_takers
from app.session import HLC_UNAVAILABLE, SIM_HOLDS, Session
from app.state import SLOW_MOTION, Camera, Mode

SHOVE_RANGE = (0.0, 400.0)  # N s
SHOVE_DIRECTION_LABELS = {"camera": "away from the camera", "random": "random bearing"}
FIXED = imgui.WindowFlags_.always_auto_resize | imgui.WindowFlags_.no_move | imgui.WindowFlags_.no_collapse
REPRODUCES_RGBA = (0.25, 0.55, 0.3, 1.0)  # clip preset buttons: reproduces its clip (measured)
TRAINED_RGBA = (0.55, 0.45, 0.15, 1.0)  # trained on, does not reproduce (measured) or not measured
UNTRAINED_RGBA = (0.3, 0.3, 0.33, 1.0)  # not trained on (or unknown)


@dataclass
class PanelState:
    shown: bool = True  # the panels are drawn (H hides them: the HUD's rows go to MuJoCo's overlay then)
    screenshot: bool = False  # a screenshot was asked for (F12, the Simulation panel's button): the next frame's
    show_help: bool = False
    show_hint: bool = False  # the first-run "try this" window (app/window.py decides, from the settings file)
    hint_dismissed: bool = False  # set when the user closes the hint (the window remembers it)
    screenshot_dir: str = ""  # where F12 and the screenshot button write (shown in the Simulation panel)
    status_height: float = 0.0  # the status window's height last frame (the controls window stops above it)
    # where things were drawn last frame (imgui screen pixels, y down), for tests and layout checks
    windows: dict[str, tuple[float, float, float, float, float]] = field(default_factory=dict)  # x, y, w, h, scroll
    items: dict[str, tuple[float, float, float, float]] = field(default_factory=dict)  # x0, y0, x1, y1
    map_labels: list[tuple[float, float, float, float]] = field(default_factory=list)  # drawn label rectangles
    keys_live: dict[str, bool] = field(default_factory=dict)  # keys window: group -> works in the current mode
    overflow: dict[str, float] = field(default_factory=dict)  # window -> px its widest line passes its inner edge


def _rgba(r: float, g: float, b: float, a: float = 1.0) -> int:
    return imgui.get_color_u32(imgui.ImVec4(r, g, b, a))


def _remember(ps: PanelState, name: str, frame_width: float | None = None) -> None:
    """Store the last widget's rectangle under `name` (for sliders: only the frame, without the label)."""
    a, b = imgui.get_item_rect_min(), imgui.get_item_rect_max()
    ps.items[name] = (a.x, a.y, b.x if frame_width is None else a.x + frame_width, b.y)


def _end_window(ps: PanelState, name: str) -> None:
    pos, size = imgui.get_window_pos(), imgui.get_window_size()
    ps.windows[name] = (pos.x, pos.y, size.x, size.y, imgui.get_scroll_max_y())
    # how far the widest line reaches past the window's inner edge (> 0: something is cut off on the right)
    window = imgui.internal.get_current_window()
    ps.overflow[name] = window.content_size_ideal.x + 2 * imgui.get_style().window_padding.x - size.x
    imgui.end()


def _place(x: float, y: float, w: float, max_h: float, pivot_y: float = 0.0) -> None:
    """The next window at (x, y) (its bottom there with `pivot_y` 1), `w` wide, at most `max_h` tall."""
    imgui.set_next_window_pos(imgui.ImVec2(x, y), imgui.Cond_.always, imgui.ImVec2(0.0, pivot_y))
    imgui.set_next_window_size_constraints(imgui.ImVec2(w, 0), imgui.ImVec2(w, max(max_h, 40.0)))


def _wrapped_disabled(text: str) -> None:
    imgui.push_text_wrap_pos(0.0)
    imgui.text_disabled(text)
    imgui.pop_text_wrap_pos()


def draw(s: Session, r: SceneRenderer, ps: PanelState, height: int, width: int = 1280) -> None:
    ps.windows.clear()
    status_h = ps.status_height or (len(hud.status_rows(s)) * imgui.get_text_line_height_with_spacing() + 16)
    lay = layout(width, height, status_h)
    c = lay.controls
    _place(c.x, c.y, c.w, c.h)
    imgui.begin("ASE viewer", None, FIXED)
    _mode_panel(s, ps, lay.compact)
    if s.mode is Mode.PLAYBACK:
        _playback_panel(s, ps)
    if s.mode is Mode.SIM:
        _sim_panel(s)
    _perturb_panel(s, ps)
    _controls_panel(s, r, ps)
    _goals_panel(s, ps)
    _end_window(ps, "controls")
    _status_window(s, ps, lay)
    keys_in_side = ps.show_help and lay.middle.w < 300  # no room in the middle: the keys take the right column
    if not keys_in_side:
        if s.mode is Mode.LLC and s.latents.latent is not None:
            _latent_window(s, ps, lay)
        if s.mode is Mode.HLC and s.tasks.driver is not None:
            _task_window(s, ps, lay)
    if ps.show_help:
        _keys_window(s, ps, lay.side if keys_in_side else lay.middle)
    elif ps.show_hint and not ps.hint_dismissed:
        _hint_window(s, ps, lay)


def _status_window(s: Session, ps: PanelState, lay) -> None:
    """The HUD's short rows (`app.hud.status_rows`), bottom left."""
    st = lay.status
    _place(st.x, lay.height - MARGIN, st.w, lay.height / 2, pivot_y=1.0)
    imgui.begin("Status", None, FIXED | imgui.WindowFlags_.no_title_bar)
    if imgui.begin_table("status", 2, imgui.TableFlags_.sizing_fixed_fit):
        imgui.table_setup_column("name", imgui.TableColumnFlags_.width_fixed)
        imgui.table_setup_column("value", imgui.TableColumnFlags_.width_stretch)
        for name, value in hud.status_rows(s):
            imgui.table_next_row()
            imgui.table_next_column()
            imgui.text_disabled(name)
            imgui.table_next_column()
            imgui.push_text_wrap_pos(0.0)
            imgui.text(value)
            imgui.pop_text_wrap_pos()
        imgui.end_table()
    ps.status_height = imgui.get_window_size().y
    _end_window(ps, "status")


def _mode_panel(s: Session, ps: PanelState, compact: bool) -> None:
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
    if s.tasks.driver is None:
        imgui.text_colored(imgui.ImVec4(1.0, 0.75, 0.3, 1.0), "HLC: none loaded (view --hlc CKPT)")
        imgui.set_item_tooltip(HLC_UNAVAILABLE)
    opened = imgui.tree_node_ex(f"Loaded ({len(s.messages)} notes)###loaded", 0)
    _remember(ps, "loaded")
    if opened:
        for msg in s.messages:
            _wrapped_disabled(msg)
        imgui.tree_pop()


def _playback_panel(s: Session, ps: PanelState) -> None:
    imgui.separator_text("Motion playback")
    if s.motions is None:
        imgui.text_wrapped("No motion clips. Run: python launch.py motions download")
        return
    imgui.set_next_item_width(-50)
    changed, idx = imgui.combo("clip", s.playback.clip, short_names(s.playback.clip_names))
    if changed:
        s.select_clip(idx)
    imgui.set_next_item_width(-50)
    changed, t = imgui.slider_float("time", s.playback.clip_time, 0.0, max(s.playback.clip_duration, 1e-3), "%.2f s")
    if changed:
        s.scrub(t)
    _, s.playback.loop = imgui.checkbox("loop", s.playback.loop)
    imgui.same_line()
    changed, ghost = imgui.checkbox("simulate beside the clip (G)", s.playback.ghost)
    _remember(ps, "ghost")
    if changed:
        s.playback.ghost = ghost
        s.reset()
    if s.playback.ghost:
        imgui.text_colored(imgui.ImVec4(*GHOST_RGBA[:3], 1.0), "translucent green: the clip (kinematic)")
        _wrapped_disabled("solid: simulated, tracking the clip's joints open-loop (no controller; its falls are "
                          "not counted)")  # fmt: skip


def _sim_panel(s: Session) -> None:
    imgui.separator_text("Physics without a controller")
    imgui.set_next_item_width(-90)
    labels = ["hold start pose", "default pose", "zero action"]
    changed, i = imgui.combo("PD targets", SIM_HOLDS.index(s.sim_hold), labels)
    if changed:
        s.sim_hold = SIM_HOLDS[i]


def _perturb_panel(s: Session, ps: PanelState) -> None:
    imgui.separator_text("Perturbation")
    imgui.set_next_item_width(-90)
    frame = imgui.calc_item_width()
    _, s.perturb.strength = imgui.slider_float("strength", s.perturb.strength, *SHOVE_RANGE, "%.0f N s")
    _remember(ps, "shove strength", frame)
    imgui.set_next_item_width(-90)
    i = SHOVE_DIRECTIONS.index(s.perturb.direction)
    changed, i = imgui.combo("direction", i, [SHOVE_DIRECTION_LABELS[d] for d in SHOVE_DIRECTIONS])
    _remember(ps, "shove direction")
    if changed:
        s.perturb.direction = SHOVE_DIRECTIONS[i]
    if imgui.button("shove (B)"):
        s.shove()
    _remember(ps, "shove")
    imgui.same_line()
    if imgui.button("ball (X)"):
        s.throw()
    _remember(ps, "throw")
    imgui.set_item_tooltip("throw a ball at the character")
    imgui.same_line()
    if imgui.button("box (V)"):
        s.spawn_strike_target()
    _remember(ps, "strike")
    imgui.set_item_tooltip("place the strike target in front of the character (again: stand it up; R removes it)")
    _wrapped_disabled("shift+drag a body: shove it along the drag; drag a body: pull it")


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
    if ps.screenshot_dir:
        imgui.set_item_tooltip(f"F12 too; PNG files go to {ps.screenshot_dir} (view --screenshot-dir DIR)")
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
    label = "shadows (slow: software GL)" if r.software else "shadows + reflections"
    changed, hq = imgui.checkbox(label, r.high_quality)
    _remember(ps, "shadows")
    if r.software:
        imgui.set_item_tooltip("shadows + reflections on Mesa's software renderer: about a third of the frame rate, "
                               "with jagged shadow edges; off by default here")  # fmt: skip
    if changed:
        r.set_quality(hq)
    imgui.same_line()
    _, ps.show_help = imgui.checkbox("keys", ps.show_help)
    _remember(ps, "keys")


def _goals_panel(s: Session, ps: PanelState) -> None:
    """HLC mode: the goals the user sets, as the viewer holds them (the task window shows the task's own)."""
    if s.mode is not Mode.HLC or s.tasks.driver is None:
        return
    opened = imgui.collapsing_header("Task goals###goals")
    imgui.set_item_tooltip("what the keys, the sticks and the clicks set; the task window shows the task's own")
    _remember(ps, "goals")
    if not opened:
        return
    g = s.goals
    imgui.text(f"direction {math.degrees(g.heading):4.0f} deg, speed {g.speed:.1f} m/s")
    imgui.text(f"facing    {math.degrees(g.facing):4.0f} deg")
    _, g.facing_follows_heading = imgui.checkbox("facing follows the direction (F)", g.facing_follows_heading)
    loc = "-" if g.location is None else f"({g.location[0]:.1f}, {g.location[1]:.1f})"
    imgui.text_colored(imgui.ImVec4(*LOCATION_RGBA[:3], 1.0), f"location {loc} (click the ground)")
    if g.location is not None:
        imgui.same_line()
        if imgui.small_button("clear"):
            g.location = None
    imgui.text_colored(imgui.ImVec4(*REACH_RGBA[:3], 1.0), "reach (ctrl+click, I K J L U O)")
    imgui.set_next_item_width(-1)
    changed, v = imgui.slider_float3("##reach", g.reach.tolist(), -5.0, 5.0, "%.1f")
    if changed:
        g.reach = np.array(v, dtype=np.float64)
        g.reach_active = True


# ---- the task window (HLC mode) ----------------------------------------------------------------------
def _task_window(s: Session, ps: PanelState, lay) -> None:
    """The loaded task controller: its task, which inputs set the goal, the goal as the task holds it beside what
    the character measurably does, the task reward and success, what the markers mean."""
    tm, score = s.tasks, s.tasks.score
    task = tm.driver.task
    _place(lay.side.x, lay.side.y, lay.side.w, lay.side.h)
    imgui.begin("Task controller (HLC)", None, FIXED)
    imgui.push_text_wrap_pos(0.0)  # wrap at the window's edge
    imgui.text(f"task: {task.name}   controller: {tm.hlc_name or '-'}")
    if tm.task_llc is not None:
        imgui.text_disabled(f"drives its own LLC, {tm.task_llc.llc_name} (LLC mode and other tasks: the bundled one)")
    if len(tm.controllers) > 1:  # the bundled ones: switch by hand (Tab) or by using another task's input
        for i, name in enumerate(tm.controllers):
            if i:
                imgui.same_line()
            if imgui.radio_button(f"{name}##task", name == task.name):
                tm.select_task(name)
            _remember(ps, f"task {name}")
        imgui.text_disabled("Tab: next; moving, a ground click or V switches to the task that takes it")
    imgui.text_disabled(f"picks a latent every {tm.driver.llc_steps} control steps; the frozen LLC acts on it")
    imgui.separator_text("Goal input")
    for i in task.viewer_inputs:
        imgui.bullet_text(INPUT_KEYS.get(i.source, i.source))
        imgui.indent()
        imgui.text_disabled(i.what)
        imgui.unindent()
    imgui.text(f"goal: {tm.task_goal()}")
    _remember(ps, "task goal")
    measured = hud.measured_goal(s)
    if measured:
        imgui.text_colored(imgui.ImVec4(0.6, 0.85, 1.0, 1.0), f"measured: {measured}")
        _remember(ps, "task measured")
    imgui.separator_text("Task reward and success")
    if score.rewards:
        span = len(score.rewards) * s.sim.control_dt
        imgui.text(f"reward {score.reward:.3f} last step, {np.mean(score.rewards):.3f} mean of {span:.1f} s")
        _remember(ps, "task reward")
        values = np.asarray(score.rewards, dtype=np.float32)
        imgui.plot_lines("##task reward", values, scale_min=0.0, scale_max=1.0, graph_size=imgui.ImVec2(-1, 40))
        ok = imgui.ImVec4(0.3, 0.9, 0.4, 1.0) if score.success else imgui.ImVec4(0.9, 0.5, 0.3, 1.0)
        imgui.text_colored(ok, f"success: {'yes' if score.success else 'no'}")
        imgui.same_line()
        imgui.text(f"({np.mean(score.successes):.0%} of the last {span:.1f} s)")
        failure = hud.task_failure_row(s)
        if failure is not None:
            imgui.text(": ".join(failure))
            imgui.text_disabled(f"{task.failure} (ends a training episode; counted here)")
    else:
        imgui.text_disabled("starts with the first control step")
    imgui.separator_text("Markers")
    for i, mk in enumerate(tm.markers()):
        imgui.color_button(f"##marker{i}", imgui.ImVec4(*mk.color), 0, imgui.ImVec2(12, 12))
        imgui.same_line()
        imgui.text(f"{mk.label or mk.kind} ({mk.kind})")
    imgui.text(f"skill now: {s.nearest_preset()}")
    if s.seen.text:
        imgui.text(f"encoder sees: {s.seen.text}")
    if note := s.acting_note():
        imgui.text_disabled(f"LLC (measured): {note}")
    if imgui.button("reset episode (R)"):
        s.reset()
    _remember(ps, "task reset")
    imgui.pop_text_wrap_pos()
    _end_window(ps, "task")


# ---- the latent window (LLC mode) -------------------------------------------------------------------
def _latent_window(s: Session, ps: PanelState, lay) -> None:
    _place(lay.side.x, lay.side.y, lay.side.w, lay.side.h)
    imgui.begin("Latent (skill)", None, FIXED)
    if imgui.button("random latent (Z)"):
        s.random_latent()
    _remember(ps, "random latent")
    imgui.push_text_wrap_pos(0.0)
    imgui.text(f"nearest preset: {s.nearest_preset()}")
    if s.seen.text:
        imgui.text(f"encoder sees: {s.seen.text}")
    imgui.pop_text_wrap_pos()
    if imgui.begin_tab_bar("latent tabs"):
        kind = "skills" if s.latents.presets is not None and s.latents.presets.kind == "skills" else "presets"
        if imgui.begin_tab_item(f"{kind}###presets" if lay.compact else f"{kind} and map###presets")[0]:
            _presets(s, ps)
            if not lay.compact:
                _skill_map(s, ps, lay.map_size)
            imgui.end_tab_item()
        _remember(ps, "tab presets")
        if lay.compact and s.latents.skill_map is not None:  # short windows: the map gets a tab of its own
            if imgui.begin_tab_item("map")[0]:
                _skill_map(s, ps, lay.map_size)
                imgui.end_tab_item()
            _remember(ps, "tab map")
        if imgui.begin_tab_item("all 64 dimensions" if len(s.latents.latent) == 64 else "all dimensions")[0]:
            _dimensions(s, ps, lay.compact)
            imgui.end_tab_item()
        _remember(ps, "tab dimensions")
        imgui.end_tab_bar()
    _end_window(ps, "latent")


def _preset_colour(s: Session, name: str) -> tuple[float, float, float, float] | None:
    if s.latents.presets.kind == "skills":
        return None
    info = s.latents.presets.info.get(name)
    if info is None or not info.trained:
        return UNTRAINED_RGBA
    return REPRODUCES_RGBA if info.reproduces else TRAINED_RGBA


def _presets(s: Session, ps: PanelState) -> None:
    sm = s.latents.skill_map
    if sm is None:
        imgui.text_wrapped("No presets: this LLC names no skills, and clip presets come from the motion clips "
                           "(python launch.py motions download).")  # fmt: skip
        return
    _wrapped_disabled(s.latents.presets.summary())
    if s.latents.presets.kind == "clips":
        for rgba, what in ((REPRODUCES_RGBA, "reproduces its clip"), (TRAINED_RGBA, "trained on, does not (or not "
                           "measured)"), (UNTRAINED_RGBA, "not trained on")):  # fmt: skip
            imgui.color_button(f"##legend{what}", imgui.ImVec4(*rgba), 0, imgui.ImVec2(10, 10))
            imgui.same_line()
            imgui.text_disabled(what)
    labels = sm.names
    avail = imgui.get_content_region_avail().x
    widest = max(imgui.calc_text_size(n).x for n in labels) + 2 * imgui.get_style().frame_padding.x
    spacing = imgui.get_style().item_spacing.x
    cols = int(max(1, min(3, (avail + spacing) // (widest + spacing))))  # never truncate a name
    button_w = (avail - (cols - 1) * spacing) / cols
    for i, name in enumerate(labels):
        if i % cols:
            imgui.same_line()
        rgba = _preset_colour(s, name)
        if rgba is not None:
            imgui.push_style_color(imgui.Col_.button, imgui.ImVec4(*rgba))
        if imgui.button(f"{name}##p{i}", imgui.ImVec2(button_w, 0)):
            s.latents.use_preset(name)
        if rgba is not None:
            imgui.pop_style_color()
        _remember(ps, f"preset {name}")
        info = s.latents.presets.info.get(name)
        tip = "named skill of this LLC" if s.latents.presets.kind == "skills" else info.note() if info else ""
        imgui.set_item_tooltip(f"{s.latents.presets.clip_of.get(name, name)}: {tip}")
    a, b, t = s.latents.blend
    imgui.align_text_to_frame_padding()
    imgui.text("blend")
    imgui.same_line()
    arrow = imgui.calc_text_size("->").x
    half = (imgui.get_content_region_avail().x - arrow - 2 * spacing) / 2
    imgui.set_next_item_width(half)
    ca, a = imgui.combo("##blend from", a, labels)
    _remember(ps, "blend from")
    imgui.same_line()
    imgui.text("->")
    imgui.same_line()
    imgui.set_next_item_width(half)
    cb, b = imgui.combo("##blend to", b, labels)
    _remember(ps, "blend to")
    imgui.set_next_item_width(-1)
    ct, t = imgui.slider_float("##blend t", t, 0.0, 1.0, f"{labels[a]} -> {labels[b]} %.2f")
    _remember(ps, "blend t")
    if ca or cb or ct:
        s.latents.set_blend(a, b, t)


def _skill_map(s: Session, ps: PanelState, map_size: int) -> None:
    """The presets on a 2-D PCA map; click or drag anywhere to pick the latent there."""
    sm = s.latents.skill_map
    if sm is None:
        return
    _wrapped_disabled("map (first two principal axes): click or drag")
    origin = imgui.get_cursor_screen_pos()
    size = min(map_size, imgui.get_content_region_avail().x)
    imgui.invisible_button("skill_map", imgui.ImVec2(size, size))
    _remember(ps, "skill map")
    hovered = imgui.is_item_hovered()
    if imgui.is_item_active():
        mp = imgui.get_mouse_pos()
        xy = ((mp.x - origin.x) / size * 2 - 1, 1 - (mp.y - origin.y) / size * 2)
        s.latents.set_latent(sm.to_latent(np.clip(xy, -1.2, 1.2)))
    dl = imgui.get_window_draw_list()
    x1, y1 = origin.x + size, origin.y + size
    dl.add_rect_filled(origin, imgui.ImVec2(x1, y1), _rgba(0.1, 0.12, 0.16, 1.0))

    def to_px(xy) -> tuple[float, float]:
        return origin.x + (0.5 + 0.45 * float(xy[0])) * size, origin.y + (0.5 - 0.45 * float(xy[1])) * size

    names = sm.names
    pts = np.array([to_px(xy) for xy in sm.coords])
    sizes = np.array([[imgui.calc_text_size(n).x, imgui.calc_text_size(n).y] for n in names])
    spots = place_labels(pts, sizes, (origin.x, origin.y, x1, y1))
    ps.map_labels = []
    for name, (px, py), spot, (w, h) in zip(names, pts, spots, sizes):
        dl.add_circle_filled(imgui.ImVec2(px, py), 4.0, _rgba(0.4, 0.7, 1.0))
        if spot is not None:
            dl.add_text(imgui.ImVec2(*spot), _rgba(0.8, 0.85, 0.9), name)
            ps.map_labels.append((spot[0], spot[1], spot[0] + w, spot[1] + h))
    if s.latents.latent is not None:
        cx, cy = to_px(sm.project(s.latents.latent))
        dl.add_circle_filled(imgui.ImVec2(cx, cy), 6.0, _rgba(1.0, 0.4, 0.2))
    if hovered:  # name the preset under the cursor (its label may have had no room)
        mp = imgui.get_mouse_pos()
        d = np.hypot(pts[:, 0] - mp.x, pts[:, 1] - mp.y)
        if d.min() < 12:
            imgui.set_tooltip(sm.names[int(d.argmin())])


def _dimensions(s: Session, ps: PanelState, compact: bool) -> None:
    """Sliders along the presets' principal axes, then every raw dimension (folded): all of the latent."""
    sm, z = s.latents.skill_map, s.latents.latent
    row = imgui.get_frame_height_with_spacing()
    _wrapped_disabled("Principal axes of the presets, then every raw dimension. A slider sets one component "
                      "exactly; the others rescale together to stay on the unit sphere.")  # fmt: skip
    if sm is not None:
        coords = sm.components @ z
        rows = min(len(coords), 8 if compact else 12)
        imgui.begin_child("pcs", imgui.ImVec2(0, rows * row + 4))
        for i, (axis, share) in enumerate(zip(sm.components, sm.explained)):
            imgui.set_next_item_width(-110)
            frame = imgui.calc_item_width()
            changed, v = imgui.slider_float(f"PC{i + 1} ({share:.0%})##pc{i}", float(coords[i]), -1.0, 1.0, "%.3f")
            _remember(ps, f"pc {i}", frame)
            if changed:
                s.latents.set_latent_component(axis, v)
        imgui.end_child()
    else:
        imgui.text_disabled("no principal axes without presets (no motion clips)")
    opened = imgui.collapsing_header(f"raw dimensions ({len(z)})")
    _remember(ps, "raw header")
    if opened:
        imgui.begin_child("raw", imgui.ImVec2(0, (6 if compact else 10) * row + 4))
        for i in range(len(z)):
            imgui.set_next_item_width(-60)
            frame = imgui.calc_item_width()
            changed, v = imgui.slider_float(f"z[{i}]", float(s.latents.latent[i]), -1.0, 1.0, "%.3f")
            _remember(ps, f"z {i}", frame)
            if changed:
                s.latents.set_latent_component(np.eye(len(z))[i], v)
        imgui.end_child()


# ---- keys and the first-run hint ------------------------------------------------------------------------
def _keys_window(s: Session, ps: PanelState, where) -> None:
    """Every key, grouped by the modes it works in; the groups that do nothing in the current mode are greyed."""
    _place(where.x, where.y, where.w, where.h)
    flags = imgui.WindowFlags_.no_move | imgui.WindowFlags_.no_collapse | imgui.WindowFlags_.always_auto_resize
    opened, ps.show_help = imgui.begin("Keys and mouse", ps.show_help, flags)
    if opened:
        mode = s.mode.value
        column = max(imgui.calc_text_size(k).x for k, *_ in KEY_HELP) + 2 * imgui.get_style().item_spacing.x
        for group, title in KEY_GROUPS.items():
            rows = [(k, w) for k, w, m in KEY_HELP if m == group]
            live = key_applies(group, mode)
            ps.keys_live[group] = live
            imgui.separator_text(title + (" (now)" if live and group else "" if live else " (not now)"))
            show = imgui.text if live else imgui.text_disabled
            for keys, what in rows:  # two columns: the keys, then what they do (wrapped at the window's edge)
                show(keys)
                imgui.same_line(column)
                imgui.push_text_wrap_pos(0.0)
                show(what)
                imgui.pop_text_wrap_pos()
    _end_window(ps, "keys")


def hint_lines(s: Session) -> list[str]:
    """The first-run "try this" lines, for what is loaded."""
    lines = []
    if s.tasks.controllers:
        lines.append("4: HLC mode, then W A S D to steer it (shift: run)")
        clicks = [i.what for t, i in input_takers("click") if i.switches and t in s.tasks.controllers]
        if clicks:  # a loaded controller follows ground clicks
            lines.append(f"click the ground (HLC mode): {clicks[0]}")
    elif s.policy is not None:
        lines.append("3: LLC mode; the presets on the right pick its latent")
    lines.append("B: shove it; X: throw a ball; drag a body to pull it")
    lines.append("drag empty space: orbit; scroll: zoom; H: hide the panels")
    lines.append("the 'keys' box (Simulation panel) lists every key for each mode")
    return lines


def _hint_window(s: Session, ps: PanelState, lay) -> None:
    m = lay.middle
    w = min(m.w, 420.0)
    _place(m.x + (m.w - w) / 2, m.y, w, m.h)
    imgui.begin("Try this", None, FIXED)
    imgui.push_text_wrap_pos(0.0)
    for line in hint_lines(s):
        imgui.bullet()
        imgui.same_line()
        imgui.text(line)
    imgui.pop_text_wrap_pos()
    if imgui.button("got it (not shown again)"):
        ps.hint_dismissed = True
    _remember(ps, "hint dismiss")
    _end_window(ps, "hint")
