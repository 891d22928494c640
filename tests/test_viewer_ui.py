"""The viewer as a user drives it: the real window under Xvfb, input through pyglet's event dispatch.

Every event goes through `window.dispatch_event(...)`, is queued by pyglet and handled in the next
frame's `dispatch_events()`, by the viewer's handlers and imgui's, as real X input is. Every row of
the keys panel (`app.controls.KEY_HELP`) has a test here that checks the state change it promises;
mouse drags, right-drags and scrolls run on empty space and on the body; panel widgets are clicked
where imgui drew them. Each test starts from `fresh` state, so any order (or any one test alone) passes.
HLC mode runs small task controllers trained here by `launch.py train hlc` on the window's LLC.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import open_viewer, tiny_hlc_checkpoint, tiny_llc_checkpoint

LEFT, MIDDLE, RIGHT = 1, 2, 4  # pyglet.window.mouse buttons
SHIFT, CTRL = 1, 2  # pyglet.window.key modifiers
DT = 1 / 30


# ---- the window and input ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def llc_file(tmp_path_factory) -> Path:
    return tiny_llc_checkpoint(tmp_path_factory.mktemp("ckpt") / "llc.pt")


@pytest.fixture(scope="module")
def hlc_file(llc_file, tmp_path_factory):
    """hlc_file(task) -> an hlc.pt for the window's LLC, trained the first time a test asks for that task."""
    root, made = tmp_path_factory.mktemp("hlc"), {}

    def get(task: str) -> Path:
        if task not in made:
            made[task] = tiny_hlc_checkpoint(root / task, llc_file, task)
        return made[task]

    return get


@pytest.fixture(scope="module")
def ui(display, llc_file, tmp_path_factory):
    from app.session import Session, SessionConfig

    session = Session(SessionConfig(llc=str(llc_file), mode="sim"))
    win = open_viewer(session, screenshot_dir=tmp_path_factory.mktemp("shots"))
    pump(win, 3)
    yield win
    win.destroy()


@pytest.fixture
def fresh(ui):
    """The same starting point for every test: sim mode, standing, default camera, panels shown, keys closed."""
    from app.controls import Goals
    from app.perturb import SHOVE_DIRECTIONS
    from app.state import Camera
    from sim.perturbations import SHOVE_STRENGTH

    s, r = ui.session, ui.renderer
    for name in list(s.steering.held):
        s.steering.key_up(name)
    ui.window.dispatch_event("on_mouse_motion", 640, 700, 0, 0)  # park the mouse over the sky
    for button in (LEFT, RIGHT):
        ui.window.dispatch_event("on_mouse_release", 640, 700, button, 0)
    ui.input._press = None
    ui.input.closed = False
    ui.panel_state.shown = True
    ui.panel_state.show_help = ui.panel_state.show_hint = False
    resize(ui, 1280, 720)
    s.clock.paused, s.clock.speed = False, 1.0
    s.playback.ghost = False
    s.sim_hold = "default"
    s.perturb.strength, s.perturb.direction = SHOVE_STRENGTH, SHOVE_DIRECTIONS[0]
    s.steering.goals = Goals()
    s.steering.stick_move = s.steering.stick_face = (0.0, 0.0)
    s.sim.pert = None
    s.attach_hlc(None)  # HLC tests load their own task controller
    s.set_mode("sim")
    r.camera_mode = Camera.FOLLOW
    r.cam.distance, r.cam.elevation, r.cam.azimuth = 4.5, -14.0, 120.0
    r.cam.lookat[:] = (*s.sim.root_pos()[:2], 0.9)
    r.set_quality(False)
    pump(ui, 3)
    return ui


def pump(win, frames: int = 1) -> None:
    for _ in range(frames):
        win.frame(DT)


def symbol(name: str) -> int:
    from pyglet.window import key

    return getattr(key, f"_{name}" if name.isdigit() else name)


def tap(win, name: str, modifiers: int = 0, hold: int = 1) -> None:
    """Press a key, keep it down for `hold` frames, release it."""
    win.window.dispatch_event("on_key_press", symbol(name), modifiers)
    pump(win, hold)
    win.window.dispatch_event("on_key_release", symbol(name), modifiers)
    pump(win)


def click(win, x: float, y: float, button: int = LEFT, modifiers: int = 0) -> None:
    """Move there (one frame, so imgui knows what is under the cursor), press, release."""
    win.window.dispatch_event("on_mouse_motion", x, y, 0, 0)
    pump(win)
    win.window.dispatch_event("on_mouse_press", x, y, button, modifiers)
    pump(win)
    win.window.dispatch_event("on_mouse_release", x, y, button, modifiers)
    pump(win)


def drag(win, start, end, button: int = LEFT, modifiers: int = 0, steps: int = 10) -> None:
    """Press at `start`, move to `end` in `steps` frames, release (pyglet coordinates, y up)."""
    x, y = start
    win.window.dispatch_event("on_mouse_motion", x, y, 0, 0)
    pump(win)
    win.window.dispatch_event("on_mouse_press", x, y, button, modifiers)
    pump(win)
    for i in range(1, steps + 1):
        nx = start[0] + (end[0] - start[0]) * i / steps
        ny = start[1] + (end[1] - start[1]) * i / steps
        win.window.dispatch_event("on_mouse_drag", nx, ny, nx - x, ny - y, button, modifiers)
        x, y = nx, ny
        pump(win)
    win.window.dispatch_event("on_mouse_release", x, y, button, modifiers)
    pump(win, 2)  # imgui lets go of a dragged widget (and the keyboard) one frame after the release


def scroll(win, x: float, y: float, notches: float) -> None:
    win.window.dispatch_event("on_mouse_motion", x, y, 0, 0)
    pump(win)
    win.window.dispatch_event("on_mouse_scroll", x, y, 0.0, notches)
    pump(win)


def item_center(win, name: str) -> tuple[float, float]:
    """Where imgui drew widget `name`, in pyglet coordinates (y up)."""
    x0, y0, x1, y1 = win.panel_state.items[name]
    return (x0 + x1) / 2, win.size[1] - (y0 + y1) / 2


def click_item(win, name: str) -> None:
    """Click a panel widget, then one more frame: what a button asks for runs in the frame after it."""
    click(win, *item_center(win, name))
    pump(win)


def body_pixel(win) -> tuple[int, int]:
    """A window pixel (pyglet coordinates) that shows a character body, away from the panels."""
    w, h = win.size
    for y in range(h // 2, h // 5, -10):
        for x in range(w // 2 - 150, w // 2 + 150, 10):
            body, _, _ = win.input.pick(x, y)
            if body > 0 and win.renderer.char_bodies[body]:
                return x, y
    raise AssertionError("no character body found near the centre of the view")


def empty_pixel(win) -> tuple[int, int]:
    """A pixel of sky or floor, clear of the character and the panels."""
    w, h = win.size
    for x, y in ((w // 2, h - 60), (w // 2 + 60, h - 100), (w // 2, h // 8)):
        body, _, _ = win.input.pick(x, y)
        if body <= 0:
            return x, y
    raise AssertionError("no empty pixel found")


def root_speed_along(s, yaw: float) -> float:
    return float(s.sim.data.qvel[:2] @ [math.cos(yaw), math.sin(yaw)])


# ---- every row of the keys panel ------------------------------------------------------------------------
def b_heading(win):
    from app.controls import RUN_SPEED, WALK_SPEED

    s, g = win.session, win.session.goals
    win.renderer.cam.azimuth = 90.0  # the camera looks along +y
    tap(win, "W")
    assert g.heading == pytest.approx(math.pi / 2, abs=1e-6) and s.goals.speed == 0.0  # released: stops
    win.window.dispatch_event("on_key_press", symbol("W"), 0)
    win.window.dispatch_event("on_key_press", symbol("D"), 0)
    pump(win)
    assert g.heading == pytest.approx(math.pi / 4, abs=1e-6) and g.speed == WALK_SPEED
    win.window.dispatch_event("on_key_press", symbol("LSHIFT"), SHIFT)
    pump(win)
    assert g.speed == RUN_SPEED
    for name in ("LSHIFT", "D", "W"):
        win.window.dispatch_event("on_key_release", symbol(name), 0)
    win.window.dispatch_event("on_key_press", symbol("LEFT"), 0)  # arrows steer too
    pump(win)
    assert math.cos(g.heading) == pytest.approx(-1.0) and g.speed == WALK_SPEED  # +-pi: behind
    win.window.dispatch_event("on_key_release", symbol("LEFT"), 0)
    pump(win)
    assert g.speed == 0.0


def b_facing(win):
    g = win.session.goals
    f0 = g.facing
    tap(win, "Q", hold=6)
    assert not g.facing_follows_heading and g.facing > f0 + 0.3
    f1 = g.facing
    tap(win, "E", hold=3)
    assert g.facing < f1 - 0.1


def b_facing_follow(win):
    g = win.session.goals
    was = g.facing_follows_heading
    tap(win, "F")
    assert g.facing_follows_heading is not was


def b_reach(win):
    g = win.session.goals
    win.renderer.cam.azimuth = 0.0
    r0 = g.reach.copy()
    assert not g.reach_active
    tap(win, "I", hold=5)
    assert g.reach_active and g.reach[0] > r0[0] + 0.05
    r1 = g.reach.copy()
    tap(win, "U", hold=5)
    assert g.reach[2] > r1[2] + 0.05


def b_shove(win):
    s = win.session
    pump(win, 5)
    yaw = win.renderer.camera_yaw()
    tap(win, "B")
    assert s.last_event.startswith("shove 120 N s")
    assert root_speed_along(s, yaw) > 0.3  # pushed away from the camera
    falls = s.fall.falls
    pump(win, 60)
    assert s.fall.falls > falls and dict(s.hud())["posture"].startswith(("fallen", "getting up", "airborne"))
    s.set_mode("playback")  # kinematic: refused, said why, nothing breaks
    tap(win, "B")
    assert "playback is kinematic" in s.last_event


def b_throw(win):
    s = win.session
    tap(win, "X")
    assert s.last_event == "projectile thrown"
    assert np.linalg.norm(s.sim.data.qvel[s.sim.char_nv :]) > 5.0


def b_strike(win):
    s = win.session
    tap(win, "V")
    assert s.goals.strike_active
    target = s.sim.data.xpos[s.sim.model.body("strike_target").id]
    assert np.linalg.norm(target[:2] - s.sim.root_pos()[:2]) == pytest.approx(1.5, abs=0.1)


def b_pause(win):
    s = win.session
    tap(win, "SPACE")
    t = s.sim.time
    pump(win, 5)
    assert s.clock.paused and s.sim.time == t
    tap(win, "SPACE")
    pump(win, 3)
    assert not s.clock.paused and s.sim.time > t


def b_step(win):
    s = win.session
    t = s.sim.time
    tap(win, "N")
    assert s.clock.paused and s.sim.time == pytest.approx(t + s.sim.control_dt)
    pump(win, 3)
    assert s.sim.time == pytest.approx(t + s.sim.control_dt)


def b_slow(win):
    s = win.session
    tap(win, "T")
    assert s.clock.speed == 0.5
    tap(win, "T")
    assert s.clock.speed == 0.25


def b_reset(win):
    s = win.session
    tap(win, "X")
    pump(win, 10)
    assert s.sim.time > 0.2 and s.last_event
    tap(win, "R")
    assert s.sim.time < 0.1 and s.last_event == ""  # the event line starts over


def b_camera(win):
    from app.state import Camera

    r = win.renderer
    tap(win, "C")
    assert r.camera_mode is Camera.ORBIT
    az = r.cam.azimuth
    pump(win, 10)
    assert r.cam.azimuth != az  # orbits
    tap(win, "C")
    assert r.camera_mode is Camera.FREE


def b_random_latent(win):
    s = win.session
    tap(win, "Z")
    assert "no LLC" not in s.last_event  # sim mode still has the checkpoint's latent
    tap(win, "3")
    z0 = s.latents.latent.copy()
    tap(win, "Z")
    assert not np.allclose(z0, s.latents.latent) and np.linalg.norm(s.latents.latent) == pytest.approx(1.0)


def b_getup_assist(win):
    from controllers.getup import GetupAssist
    from sim.rotations import quat_from_axis_angle

    s = win.session
    tap(win, "3")
    tap(win, "Y")
    assert "no get-up skill" in s.last_event  # the tiny LLC names no skills
    rng = np.random.default_rng(0)
    names = ("idle", "getup_faceup", "getup_facedown")
    vecs = rng.standard_normal((3, len(s.latents.latent)))
    s.latents.getup = GetupAssist({n: v / np.linalg.norm(v) for n, v in zip(names, vecs)})
    tap(win, "Y")
    assert "off" in s.last_event and not s.latents.getup.enabled
    tap(win, "Y")
    assert "on" in s.last_event and s.latents.getup.enabled
    held = s.latents.latent.copy()
    qpos = s.sim.default_qpos().copy()
    qpos[2], qpos[3:7] = 0.2, quat_from_axis_angle(np.array([0.0, 1.0, 0.0]), -math.pi / 2)  # on its back
    s.sim.reset(qpos)
    pump(win, int(2.5 / DT))
    g = s.latents.getup
    assert g.active and g.skill in ("getup_faceup", "getup_facedown")
    assert np.array_equal(s.latents.latent, held)  # the user's latent stays; the assist only acts on top of it
    assert dict(s.hud()).get("assist", "").startswith(f"getting up: {g.skill}")
    tap(win, "R")
    assert not s.latents.getup.active


def b_modes(win):
    s = win.session
    tap(win, "3")
    assert s.mode.value == "llc"
    pump(win, 3)
    assert s.timings.policy_ms > 0
    tap(win, "4")  # no HLC loaded: said (with how to get one), not switched
    assert s.mode.value == "llc" and "no HLC checkpoint" in s.last_event and "launch.py train hlc" in s.last_event
    tap(win, "2")
    assert s.mode.value == "sim" and s.last_event == ""
    if s.motions is not None:
        tap(win, "1")
        assert s.mode.value == "playback"


def b_next_task(win, hlc_file):
    """Tab cycles the loaded task controllers; moving or a ground click switches to the one that takes it, and
    the character goes on from where it is (no reset)."""
    from app.state import Camera

    s = win.session
    tap(win, "TAB")
    assert "no HLC checkpoint" in s.last_event
    s.load_hlc(hlc_file("location"))
    s.load_hlc(hlc_file("steering"))
    assert (
        list(s.tasks.controllers) == ["steering", "location"] and s.tasks.hlc.task == "steering"
    )  # the task registry's order
    tap(win, "4")
    assert s.mode.value == "hlc" and s.tasks.driver.task.name == "steering"
    pump(win, 5)
    t0 = s.sim.time
    tap(win, "TAB")
    assert s.tasks.driver.task.name == "location" and s.last_event.startswith("task: location")
    assert s.sim.time > t0 and s.tasks.hlc_name == "hlc.pt"  # went on: not reset
    tap(win, "TAB")  # round again
    assert s.tasks.driver.task.name == "steering"
    win.renderer.camera_mode = Camera.FREE  # the point under the cursor stays put
    w, h = win.size
    x, y = int(w * 0.6), int(h * 0.12)
    _, _, point = win.input.pick(x, y)
    click(win, x, y)  # a ground click: the location controller, aimed there
    assert s.tasks.driver.task.name == "location" and np.allclose(s.tasks.driver.task.target[0], point[:2], atol=0.05)
    assert "task: location" in s.last_event and s.sim.time > t0
    tap(win, "W", hold=2)  # moving: the steering controller
    assert s.tasks.driver.task.name == "steering" and "move input" in s.last_event
    pump(win)
    click_item(win, "task location")  # the task window's buttons
    assert s.tasks.driver.task.name == "location"


def b_clips(win):
    s = win.session
    if s.motions is None:
        pytest.skip("no motion clips")
    tap(win, "1")
    c = s.playback.clip
    tap(win, "BRACKETRIGHT")
    assert s.playback.clip == (c + 1) % len(s.playback.clip_names)
    tap(win, "BRACKETLEFT")
    tap(win, "BRACKETLEFT")
    assert s.playback.clip == (c - 1) % len(s.playback.clip_names)


def b_ghost(win):
    s = win.session
    if s.motions is None:
        pytest.skip("no motion clips")
    tap(win, "1")
    tap(win, "G")
    pump(win, 3)
    assert s.playback.ghost and s.playback.ghost_data is not None
    assert s.playback.ghost_data.qpos[1] == pytest.approx(s.sim.data.qpos[1] + 1.2, abs=0.3)  # beside the simulated one
    tap(win, "G")
    assert not s.playback.ghost and s.playback.ghost_data is None


def b_panels(win):
    tap(win, "H")
    assert not win.panel_state.shown and "controls" not in win.panel_state.windows
    tap(win, "B")  # keys still work without panels
    assert win.session.last_event.startswith("shove")
    tap(win, "H")
    assert win.panel_state.shown and "controls" in win.panel_state.windows


def b_screenshot(win):
    shots = set(Path(win.capture.folder).glob("*.png"))
    tap(win, "F12")
    new = set(Path(win.capture.folder).glob("*.png")) - shots
    assert len(new) == 1 and next(iter(new)).stat().st_size > 10_000


def b_quit(win):
    tap(win, "ESCAPE")
    assert win.closed and not win.window.has_exit  # the viewer closes the window itself, in destroy()
    win.input.closed = False
    pump(win)  # still usable: the viewer closes the window itself


def b_orbit_drag(win):
    from app.state import Camera

    r = win.renderer
    r.camera_mode = Camera.ORBIT
    az, el = r.cam.azimuth, r.cam.elevation
    x, y = empty_pixel(win)
    drag(win, (x, y), (x + 150, y - 60))
    assert r.camera_mode is Camera.FOLLOW  # a drag stops the orbit
    assert abs(r.cam.azimuth - az) > 5 and abs(r.cam.elevation - el) > 1
    assert win.session.sim.pert is None


def b_pan(win):
    from app.state import Camera

    r = win.renderer
    look = r.cam.lookat.copy()
    x, y = empty_pixel(win)
    drag(win, (x, y), (x + 120, y + 40), button=RIGHT)
    assert r.camera_mode is Camera.FREE and np.linalg.norm(r.cam.lookat - look) > 0.1
    look = r.cam.lookat.copy()
    bx, by = body_pixel(win)  # a right-drag on the body pans too: no push
    drag(win, (bx, by), (bx - 100, by), button=RIGHT)
    assert np.linalg.norm(r.cam.lookat - look) > 0.1 and win.session.sim.pert is None


def b_zoom(win):
    r = win.renderer
    d = r.cam.distance
    scroll(win, *empty_pixel(win), 3)
    assert r.cam.distance < d - 0.1
    d = r.cam.distance
    scroll(win, *body_pixel(win), -3)  # over the body: zooms too
    assert r.cam.distance > d + 0.1


def b_pull(win):
    s = win.session
    x, y = body_pixel(win)
    x0 = s.sim.root_pos()
    win.window.dispatch_event("on_mouse_motion", x, y, 0, 0)
    pump(win)
    win.window.dispatch_event("on_mouse_press", x, y, LEFT, 0)
    pump(win)
    assert s.sim.pert is not None and s.sim.pert.select > 0 and s.last_event.startswith("pushing")
    for i in range(1, 21):
        win.window.dispatch_event("on_mouse_drag", x + 12 * i, y, 12, 0, LEFT, 0)
        pump(win)
    win.window.dispatch_event("on_mouse_release", x + 240, y, LEFT, 0)
    pump(win)
    assert s.sim.pert is None
    assert np.linalg.norm(s.sim.root_pos()[:2] - x0[:2]) > 0.1 or s.fall.state.value != "up"


def b_flick(win):
    s = win.session
    x, y = body_pixel(win)
    drag(win, (x, y), (x + 150, y), modifiers=SHIFT, steps=4)  # to the right on screen
    assert s.last_event.startswith("shove") and s.sim.pert is None
    right = win.renderer.camera_yaw() - math.pi / 2  # screen right, as a world direction
    assert root_speed_along(s, right) > 0.2 and abs(root_speed_along(s, right + math.pi / 2)) < 0.5 * root_speed_along(
        s, right
    )


def b_location(win):
    s = win.session
    w, h = win.size
    x, y = int(w * 0.6), int(h * 0.12)  # low on the screen: the floor in front of the camera
    body, geom, point = win.input.pick(x, y)
    assert body == 0 and geom >= 0
    click(win, x, y)
    assert s.goals.location is not None and np.allclose(s.goals.location, point[:2], atol=0.05)


def b_reach_click(win):
    s = win.session
    r = win.renderer
    from app.state import Camera

    r.camera_mode = Camera.FREE  # the point under the cursor stays put between frames
    w, h = win.size
    x, y = int(w * 0.6), int(h * 0.12)
    _, _, point = win.input.pick(x, y)
    click(win, x, y, modifiers=CTRL)
    assert s.goals.reach_active and np.allclose(s.goals.reach[:2], point[:2], atol=0.05)
    assert s.goals.location is None


BINDINGS = {
    "W A S D / arrows": b_heading,
    "Q / E": b_facing,
    "F": b_facing_follow,
    "I K J L U O": b_reach,
    "B": b_shove,
    "X": b_throw,
    "V": b_strike,
    "space": b_pause,
    "N": b_step,
    "T": b_slow,
    "R": b_reset,
    "C": b_camera,
    "Z": b_random_latent,
    "Y": b_getup_assist,
    "1 2 3 4": b_modes,
    "Tab": b_next_task,
    "[ ]": b_clips,
    "G": b_ghost,
    "H": b_panels,
    "F12": b_screenshot,
    "Esc": b_quit,
    "drag empty space": b_orbit_drag,
    "right-drag": b_pan,
    "scroll": b_zoom,
    "drag a body": b_pull,
    "shift+drag a body": b_flick,
    "click the ground": b_location,
    "ctrl+click the ground": b_reach_click,
}


def test_every_binding_in_the_keys_panel_is_tested():
    from app.controls import KEY_HELP

    assert [k for k, *_ in KEY_HELP] == list(BINDINGS)


@pytest.mark.parametrize("binding", list(BINDINGS))
def test_binding(fresh, binding, hlc_file):
    test = BINDINGS[binding]
    test(fresh, hlc_file) if test is b_next_task else test(fresh)


# ---- panels --------------------------------------------------------------------------------------------------
def test_panel_buttons_and_checkboxes(fresh):
    s, ps = fresh.session, fresh.panel_state
    click_item(fresh, "shove")
    assert s.last_event.startswith("shove")
    click_item(fresh, "throw")
    assert s.last_event == "projectile thrown"
    click_item(fresh, "pause")
    assert s.clock.paused
    t = s.sim.time
    click_item(fresh, "step")
    assert s.sim.time == pytest.approx(t + s.sim.control_dt)
    click_item(fresh, "pause")
    assert not s.clock.paused
    click_item(fresh, "reset")
    assert s.sim.time < 0.1
    click_item(fresh, "shadows")
    assert fresh.renderer.high_quality
    click_item(fresh, "shadows")
    assert not fresh.renderer.high_quality
    click_item(fresh, "keys")
    pump(fresh)
    assert ps.show_help and "keys" in ps.windows
    click_item(fresh, "mode llc")
    assert s.mode.value == "llc"
    pump(fresh)
    assert "latent" in ps.windows


def test_shove_strength_slider_and_direction(fresh):
    s = fresh.session
    x0, y0, x1, y1 = fresh.panel_state.items["shove strength"]
    h = fresh.size[1]
    y = h - (y0 + y1) / 2
    drag(fresh, (x0 + 0.5 * (x1 - x0), y), (x0 + 0.1 * (x1 - x0), y), steps=5)  # towards the low end
    assert s.perturb.strength < 100
    weak = s.perturb.strength
    s.perturb.direction = "random"
    tap(fresh, "B")
    assert s.last_event.startswith(f"shove {weak:.0f} N s")


def test_latent_window_presets_map_and_every_dimension(fresh):
    s, ps = fresh.session, fresh.panel_state
    tap(fresh, "3")
    pump(fresh)
    if s.latents.skill_map is None:
        pytest.skip("no presets without motion clips")
    name = next(k for k in ps.items if k.startswith("preset "))
    click_item(fresh, name)
    assert s.nearest_preset().split(" ")[0].endswith(name.removeprefix("preset "))
    z0 = s.latents.latent.copy()
    x0, y0, x1, y1 = ps.items["skill map"]
    click(fresh, x0 + 0.8 * (x1 - x0), fresh.size[1] - (y0 + 0.2 * (y1 - y0)))
    assert not np.allclose(z0, s.latents.latent) and np.linalg.norm(s.latents.latent) == pytest.approx(1.0)
    click_item(fresh, "tab dimensions")
    pump(fresh)
    pc = s.latents.skill_map.components[0]
    x0, y0, x1, y1 = ps.items["pc 0"]
    click(fresh, x0 + 0.9 * (x1 - x0), fresh.size[1] - (y0 + y1) / 2)  # near +1 on the first principal axis
    assert s.latents.latent @ pc > 0.6 and np.linalg.norm(s.latents.latent) == pytest.approx(1.0)
    click_item(fresh, "raw header")
    pump(fresh)
    x0, y0, x1, y1 = ps.items["z 3"]
    click(fresh, x0 + 0.1 * (x1 - x0), fresh.size[1] - (y0 + y1) / 2)  # raw dimension 3 near -1
    assert s.latents.latent[3] < -0.6 and np.linalg.norm(s.latents.latent) == pytest.approx(1.0)
    click_item(fresh, "raw header")  # fold it again
    click_item(fresh, "tab presets")


def resize(win, w: int, h: int) -> None:
    if tuple(win.size) != (w, h):
        win.window.set_size(w, h)
        pump(win, 3)
    assert tuple(win.size) == (w, h)


def rects_overlap(a, b) -> bool:
    ax, ay, aw, ah = a[:4]
    bx, by, bw, bh = b[:4]
    return ax < bx + bw and bx < ax + aw and ay < by + bh and by < ay + ah


@pytest.mark.parametrize("size", [(1280, 720), (1024, 600)])
@pytest.mark.parametrize("mode", ["sim", "playback", "llc", "hlc"])
def test_panels_fit(fresh, mode, size, hlc_file):
    """At 1280x720 and at 1024x600, with the keys or the first-run hint open: every window inside the screen, no
    line cut off at a window's edge, no two windows overlapping, no widget outside its window, and the scene
    keeping most of the view."""
    s, ps = fresh.session, fresh.panel_state
    if mode == "hlc":  # several task controllers: the task window lists them all
        for task in ("location", "speed", "steering"):
            s.load_hlc(hlc_file(task))
    if not s.set_mode(mode):
        pytest.skip(s.last_event)
    resize(fresh, *size)
    w, h = size
    for keys in (False, True):
        ps.show_help, ps.show_hint, ps.hint_dismissed = keys, not keys, False
        ps.items.clear()  # only what this state draws
        pump(fresh, 4)
        wins = ps.windows
        assert {"controls", "status"} <= set(wins) and ("keys" in wins) == keys and ("hint" in wins) != keys
        if not keys or w >= 1280:
            assert ("latent" in wins) == (mode == "llc") and ("task" in wins) == (mode == "hlc")
        for name, (x, y, ww, hh, scroll_max) in wins.items():
            assert x >= 0 and y >= 0 and x + ww <= w and y + hh <= h, (size, name, x, y, ww, hh)
            assert ps.overflow[name] <= 1, f"{size} {name}: a line runs {ps.overflow[name]:.0f} px past its edge"
            if name not in ("keys", "controls"):
                assert scroll_max == 0, f"{size} {name} needs scrolling ({scroll_max:.0f} px)"
        names = list(wins)
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                assert not rects_overlap(wins[a], wins[b]), (size, a, wins[a][:4], b, wins[b][:4])
        for item, (x0, y0, x1, y1) in ps.items.items():  # every widget drawn this frame lies in a window
            if y1 < 0 or y0 > h:  # scrolled out of view
                continue
            assert any(wx - 1 <= x0 and x1 <= wx + ww + 1 for wx, wy, ww, wh, _ in wins.values()), (
                size, item, (x0, y0, x1, y1), wins, ps.overflow)  # fmt: skip
        docked = sum(ww * hh for n, (_, _, ww, hh, _) in wins.items() if n not in ("keys", "hint"))
        assert docked < 0.55 * w * h, f"{size}: the panels cover {docked / (w * h):.0%} of the view"
        if mode == "hlc":
            if "task" in wins:
                tx, _, tw, _, _ = wins["task"]
                for task in s.tasks.controllers:  # every task's button inside the task window
                    assert ps.items[f"task {task}"][2] <= tx + tw, task
        if mode == "llc" and "latent" in wins:
            from imgui_bundle import imgui

            pad = 2 * imgui.get_style().frame_padding.x
            for key, (x0, _, x1, _) in ps.items.items():
                if key.startswith("preset "):  # full names, never cut
                    assert x1 - x0 >= imgui.calc_text_size(key.removeprefix("preset ")).x + pad - 1, key
            labels = ps.map_labels
            for i, a in enumerate(labels):
                for b in labels[i + 1 :]:
                    assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], (a, b)
    ps.show_help = ps.show_hint = False


def test_open_goals_panel_scrolls_above_the_status(fresh, hlc_file):
    """With the goals panel open the controls window stops above the status window and scrolls."""
    s, ps = fresh.session, fresh.panel_state
    for task in ("location", "speed", "steering"):
        s.load_hlc(hlc_file(task))
    if not s.set_mode("hlc"):
        pytest.skip(s.last_event)
    resize(fresh, 1024, 600)
    click_item(fresh, "goals")
    pump(fresh, 3)
    x, y, ww, hh, scroll_max = ps.windows["controls"]
    assert y + hh <= ps.windows["status"][1]
    assert scroll_max > 0  # what does not fit is reached by scrolling
    top = ps.items["goals"][1]
    scroll(fresh, x + ww / 2, fresh.size[1] - (y + hh / 2), -5)
    pump(fresh, 2)
    assert ps.items["goals"][1] < top  # the mouse wheel scrolls the panel
    scroll(fresh, x + ww / 2, fresh.size[1] - (y + hh / 2), 10)
    pump(fresh, 2)
    click_item(fresh, "goals")  # fold it again (the window is shared by the module's tests)
    pump(fresh, 2)


def test_a_quick_click_on_a_panel_stays_in_the_panel(fresh):
    """A press that comes with the motion that brought the mouse over a panel (imgui learns of the cursor a
    frame late) works the panel and places no ground target behind it, nor zooms the camera."""
    from app.state import Camera

    s, ps = fresh.session, fresh.panel_state
    fresh.renderer.camera_mode = Camera.FREE
    fresh.renderer.cam.elevation = -60.0  # looking down: the floor fills the view, behind the panels too
    pump(fresh, 2)
    x, y = item_center(fresh, "loaded")
    body, geom, _ = fresh.input.pick(x, y)
    assert body == 0 and geom >= 0  # the ground is behind the header
    folded = ps.windows["controls"][3]
    distance = fresh.renderer.cam.distance
    for name, args in (("on_mouse_motion", (x, y, 0, 0)), ("on_mouse_press", (x, y, LEFT, 0)),
                       ("on_mouse_release", (x, y, LEFT, 0)), ("on_mouse_scroll", (x, y, 0.0, -2.0))):  # fmt: skip
        fresh.window.dispatch_event(name, *args)  # all within one frame
    pump(fresh, 3)
    assert s.goals.location is None and fresh.renderer.cam.distance == distance
    assert "location" not in s.last_event
    assert ps.windows["controls"][3] > folded  # the notes opened
    click_item(fresh, "loaded")  # fold them again (the window is shared by the module's tests)
    pump(fresh, 2)
    assert ps.windows["controls"][3] == folded


def test_event_line_clears_on_reset_and_mode_change(fresh):
    s = fresh.session
    tap(fresh, "B")
    assert s.last_event
    tap(fresh, "3")
    assert s.last_event == "" and "event" not in dict(s.hud())
    tap(fresh, "X")
    tap(fresh, "R")
    assert s.last_event == ""


# ---- HLC mode: a task controller drives the LLC; the viewer's goal input feeds its task ----------------------
def use_hlc(win, hlc_file, task: str):
    """Load a task controller for `task` and switch to HLC mode with its key."""
    s = win.session
    s.load_hlc(hlc_file(task))
    tap(win, "4")
    assert s.mode.value == "hlc" and s.tasks.driver.task.name == task
    return s.tasks.driver.task


def test_hlc_steering_keys_set_the_tasks_goal_and_the_hud_scores_it(fresh, hlc_file):
    from app.controls import WALK_SPEED

    s, ps = fresh.session, fresh.panel_state
    task = use_hlc(fresh, hlc_file, "steering")
    slow, fast = task.cfg.speed_range
    fresh.renderer.cam.azimuth = 90.0  # the camera looks along +y
    fresh.window.dispatch_event("on_key_press", symbol("W"), 0)
    pump(fresh, 2)
    assert task.direction[0] == pytest.approx(math.pi / 2, abs=1e-6) and task.facing[0] == task.direction[0]
    assert task.speed[0] == min(max(WALK_SPEED, slow), fast) and task.schedule.pinned[0]  # set from outside
    fresh.window.dispatch_event("on_key_press", symbol("LSHIFT"), SHIFT)
    pump(fresh)
    assert task.speed[0] == fast  # the top of the task's own range
    for name in ("LSHIFT", "W"):
        fresh.window.dispatch_event("on_key_release", symbol(name), 0)
    pump(fresh)
    assert task.speed[0] == slow and task.direction[0] == pytest.approx(math.pi / 2, abs=1e-6)
    tap(fresh, "Q", hold=6)
    assert task.facing[0] > task.direction[0] + 0.3  # facing turns on its own
    s.steering.stick_move, s.steering.stick_face = (0.0, 0.5), (-1.0, 0.0)  # the gamepad's sticks (Gamepad.read)
    pump(fresh)
    assert task.speed[0] == pytest.approx(slow + 0.5 * (fast - slow))  # half a stick: half the task's range
    assert math.sin(task.direction[0]) == pytest.approx(1.0)
    assert math.cos(task.facing[0]) == pytest.approx(-1.0)  # right stick left: face the camera's left
    s.steering.stick_move = s.steering.stick_face = (0.0, 0.0)
    arrow = next(m for m in s.tasks.markers() if m.label == "direction")
    assert math.atan2(arrow.vector[1], arrow.vector[0]) == pytest.approx(math.pi / 2, abs=1e-6)
    # the HUD and the task window: the task's reward and success, last step and running mean
    n = len(s.tasks.score.rewards)
    pump(fresh, 10)
    assert len(s.tasks.score.rewards) > n and np.isfinite(s.tasks.score.reward)
    reward, success, failed = s.tasks.driver.score(s.tasks.score.state)
    assert (reward, success) == (s.tasks.score.reward, s.tasks.score.success)  # the task's own numbers
    hud = dict(s.hud())
    assert not failed and s.tasks.score.failures == 0 and "foul" not in hud  # steering has no failure of its own
    assert hud["task"].startswith("steering") and hud["task reward"].startswith(f"{s.tasks.score.reward:.3f} last step")
    assert f"{np.mean(s.tasks.score.rewards):.3f} mean" in hud["task reward"] and hud["success"].startswith(
        ("yes", "no")
    )
    assert "task" in ps.windows and "task reward" in ps.items and "latent" not in ps.windows
    assert np.linalg.norm(s.latents.latent) == pytest.approx(1.0, abs=1e-5) and s.timings.policy_ms > 0
    tap(fresh, "Z")  # the HLC owns the latent: said, not done
    assert "task controller picks the latent" in s.last_event


def test_hlc_ground_click_sets_the_location_goal(fresh, hlc_file):
    from app.state import Camera

    s = fresh.session
    task = use_hlc(fresh, hlc_file, "location")
    assert np.linalg.norm(task.target[0] - s.sim.root_pos()[:2]) == pytest.approx(3.0, abs=0.3)  # starts ahead
    fresh.renderer.camera_mode = Camera.FREE  # the point under the cursor stays put while it walks
    w, h = fresh.size
    x, y = int(w * 0.6), int(h * 0.12)
    body, _, point = fresh.input.pick(x, y)
    assert body == 0
    click(fresh, x, y)
    assert np.allclose(task.target[0], point[:2], atol=0.05) and np.allclose(s.goals.location, task.target[0])
    assert s.last_event.startswith("location target")
    (post,) = s.tasks.markers()
    assert post.kind == "point" and np.allclose(post.pos[:2], task.target[0])
    pump(fresh, 3)
    assert dict(s.hud())["success"].startswith("no") and f"{task.target[0, 0]:.2f}" in s.tasks.task_goal()


def test_hlc_reach_keys_and_the_strike_box(fresh, hlc_file):
    import mujoco

    from app.state import Camera
    from sim.rotations import quat_from_axis_angle

    s = fresh.session
    task = use_hlc(fresh, hlc_file, "reach")
    fresh.renderer.cam.azimuth = 0.0
    r0 = task.target[0].copy()
    tap(fresh, "I", hold=5)
    assert task.target[0, 0] > r0[0] + 0.05 and np.allclose(task.target[0], s.goals.reach)
    assert "strike" not in s.tasks.controllers  # a box with no strike controller to take it: the viewer says so
    tap(fresh, "V")
    assert s.last_event == "strike target placed (no strike controller loaded: reach ignores it); R removes it"
    # strike: the box is the scene's body, placed through the task
    task = use_hlc(fresh, hlc_file, "strike")
    m, d = s.sim.model, s.sim.data
    box = m.body("strike_target").id
    assert np.allclose(task.spawn_xy[0], d.xpos[box, :2]) and np.allclose(
        s.tasks.score.state.target.pos[0], d.xpos[box]
    )
    fresh.renderer.camera_mode = Camera.FREE
    w, h = fresh.size
    x, y = int(w * 0.4), int(h * 0.12)
    _, _, point = fresh.input.pick(x, y)
    click(fresh, x, y)
    assert np.allclose(d.xpos[box, :2], point[:2], atol=0.05) and np.allclose(task.spawn_xy[0], d.xpos[box, :2])
    (outline,) = s.tasks.markers()
    assert outline.kind == "box" and np.allclose(outline.pos, d.xpos[box], atol=1e-6)
    qa = m.jnt_qposadr[s.sim.strike_joint]  # knock it over by hand: the task sees it tipped
    d.qpos[qa : qa + 3] = [*d.xpos[box, :2], 0.25]
    d.qpos[qa + 3 : qa + 7] = quat_from_axis_angle(np.array([1.0, 0.0, 0.0]), np.array(math.pi / 2))
    mujoco.mj_forward(m, d)
    pump(fresh, 2)
    assert s.tasks.score.success and s.tasks.score.reward == 1.0
    (outline,) = s.tasks.markers()  # the outline lies down with the box
    lying = np.zeros(9)
    mujoco.mju_quat2Mat(lying, np.asarray(outline.quat))
    assert np.allclose(lying.reshape(3, 3), d.xmat[box].reshape(3, 3), atol=1e-6) and abs(lying[8]) < 1e-6
    # a foul (the box shoved while the torso touches it) marks this box and counts once, not an episode end
    assert dict(s.hud())["foul"] == "no on this target (0 of 2 targets this episode)" and s.tasks.score.failures == 0
    torso = d.xpos[m.body("torso").id]
    yaw = s.sim.root_heading()
    s.spawn_strike_target(torso[:2] + 0.25 * np.array([math.cos(yaw), math.sin(yaw)]))
    pump(fresh, 6)
    assert s.tasks.score.target_failed and s.tasks.score.failures == 1  # however many steps the torso keeps shoving it
    assert dict(s.hud())["foul"] == "yes on this target (1 of 3 targets this episode)"
    s.spawn_strike_target()  # a new box starts clean; the count stays
    assert dict(s.hud())["foul"] == "no on this target (1 of 4 targets this episode)"


@pytest.mark.parametrize(
    "args, expect",
    [
        (["--hlc", "{tmp}/missing.pt"], "missing.pt: no such checkpoint file"),
        (["--hlc", "{llc}"], "holds a 'llc' controller, expected 'hlc'"),
        (["--hlc", "{hlc}", "--llc", "{other}"], "but {other} is"),
        (["--mode", "hlc"], "--mode hlc: no HLC checkpoint (--hlc PATH; the bundled"),
        (["--hlc", "{hlc}", "--policy", "onnx"], "not an export folder"),
        (["--hlc", "{hlc}", "--character", "humanoid_sword_shield"], "trained for character 'humanoid'"),
        (["--allow-other-llc"], "--allow-other-llc goes with --hlc"),
    ],
)
def test_bad_hlc_inputs_are_one_line_and_exit_nonzero(args, expect, llc_file, hlc_file, tmp_path, capsys,
                                                      monkeypatch):  # fmt: skip
    from app import cli, loading
    from controllers.checkpoint import save_atomic, untrained_llc_checkpoint

    monkeypatch.setenv("DISPLAY", ":0")  # every check comes before a window would open
    monkeypatch.setattr(loading, "BUNDLED_LLC", tmp_path / "none.pt")
    names = {"{tmp}": str(tmp_path), "{llc}": str(llc_file)}
    if any("{other}" in a for a in args):  # an LLC file with another SHA-256
        names["{other}"] = str(save_atomic(untrained_llc_checkpoint("humanoid"), tmp_path / "other.pt"))
    if any("{hlc}" in a for a in args):
        names["{hlc}"] = str(hlc_file("steering"))
    for k, v in names.items():
        args, expect = [a.replace(k, v) for a in args], expect.replace(k, v)
    rc = cli.main(args)
    err = capsys.readouterr().err.strip()
    assert rc == 1 and expect in err, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    if "--mode" in args:
        assert "launch.py train hlc --task location --llc LLC" in err
    if "{other}" in names:
        assert "--allow-other-llc" in err


def test_hlc_on_another_llc_with_allow_other_llc_and_headless(tmp_path, llc_file, hlc_file):
    """`--allow-other-llc` drives another LLC file; `view --hlc` starts in HLC mode and records its task."""
    import subprocess
    import sys

    from app.session import Session, SessionConfig
    from controllers.checkpoint import save_atomic, untrained_llc_checkpoint

    other = save_atomic(untrained_llc_checkpoint("humanoid"), tmp_path / "other.pt")
    hlc = hlc_file("location")
    s = Session(SessionConfig(hlc=str(hlc), llc=str(other), allow_other_llc=True), motions=None, load=True)
    assert s.mode.value == "hlc" and s.tasks.driver.task.name == "location" and "LLC other.pt" in " ".join(s.messages)
    s.frame(1 / 30)
    out = tmp_path / "hlc.mp4"
    root = Path(__file__).resolve().parent.parent
    env = {**{k: v for k, v in os.environ.items() if k != "DISPLAY"}, "OMP_NUM_THREADS": "1"}
    env.setdefault("MUJOCO_GL", "egl")
    cmd = [sys.executable, str(root / "launch.py"), "view", "--hlc", str(hlc), "--headless", "--record", str(out),
           "--frames", "8", "--width", "320", "--height", "240"]  # fmt: skip
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    if p.returncode != 0 and "no offscreen OpenGL" in p.stderr:
        pytest.skip(p.stderr.strip())
    assert p.returncode == 0 and "location task" in p.stderr, p.stderr
    import imageio.v3 as iio

    assert iio.imread(out, index=None).shape == (8, 240, 320, 3)


# ---- what a first-time user meets ----------------------------------------------------------------------------
def test_first_frames_say_measuring_not_a_start_up_rate(fresh):
    """The first frame of a window has no previous frame to time: the status says "measuring", never a rate
    like "63203 FPS" or "0.00x real time"; once measured, the rates show."""
    import time

    from app import hud
    from app.hud import Timings

    s = fresh.session
    s.timings = Timings()
    c = s.clock
    c.real_time_factor, c._sim_time_window, c._real_time_window = 0.0, 0.0, 0.0
    fresh._last = time.perf_counter() - 1e-5  # the next frame comes microseconds after the last
    fresh.frame()
    rows = dict(hud.status_rows(s))
    assert rows["render"] == "measuring..." and rows["physics"].startswith("measuring...")
    assert "FPS" not in rows["render"] and "real time" not in rows["physics"]
    start = time.perf_counter()
    while time.perf_counter() - start < 0.8:
        fresh.frame()
    rows = dict(hud.status_rows(s))
    assert rows["render"].endswith("ms draw)") and "FPS" in rows["render"]
    fps = float(rows["render"].split()[0])
    assert 0 < fps < 1000 and "x real time" in rows["physics"]


def test_the_status_is_a_panel_clicks_on_it_stay_there(fresh, hlc_file):
    """The HUD's rows are a window: a click on it places no ground target behind it."""
    s, ps = fresh.session, fresh.panel_state
    use_hlc(fresh, hlc_file, "location")
    fresh.renderer.camera_mode = __import__("app.state", fromlist=["Camera"]).Camera.FREE
    fresh.renderer.cam.elevation = -45.0  # the floor fills the lower half: behind the status window
    pump(fresh, 2)
    target = s.tasks.driver.task.target[0].copy()
    x, y, ww, hh, _ = ps.windows["status"]
    px, py = x + ww / 2, fresh.size[1] - (y + hh / 2)
    body, geom, _ = fresh.input.pick(px, py)
    assert body == 0 and geom >= 0  # the ground is behind it
    click(fresh, px, py)
    assert np.allclose(s.tasks.driver.task.target[0], target) and not s.last_event.startswith("location")


def test_goal_keys_outside_hlc_mode_say_so_and_draw_nothing(fresh, hlc_file):
    """W A S D, Q / E, I K J L U O and ctrl+click only set a task controller's goal: outside HLC mode they say
    so (and how to get there) and no goal is drawn; ctrl+click with no reach controller says nothing follows it."""
    s = fresh.session
    tap(fresh, "3")
    for key in ("W", "Q", "I"):
        tap(fresh, key)
        assert "nothing follows them in llc mode" in s.last_event and "no task controller loaded" in s.last_event
        assert s.scene()["goals"] is None and s.tasks.markers() == []
    w, h = fresh.size
    click(fresh, int(w * 0.5), int(h * 0.12), modifiers=CTRL)
    assert s.last_event.startswith("reach target") and "only a reach task controller follows it" in s.last_event
    use_hlc(fresh, hlc_file, "location")
    tap(fresh, "W")
    assert "nothing follows" not in s.last_event
    fresh.renderer.camera_mode = __import__("app.state", fromlist=["Camera"]).Camera.FREE
    click(fresh, int(w * 0.5), int(h * 0.12), modifiers=CTRL)
    assert "no reach controller loaded: " in s.last_event and "ignores it" in s.last_event
    tap(fresh, "V")
    assert "R removes it" in s.last_event


def test_keys_window_groups_keys_by_mode(fresh, hlc_file):
    """The keys window says which keys work in which mode, greys what does nothing now, and opens in the middle
    (never over the latent or task window)."""
    from app.controls import KEY_GROUPS, KEY_HELP, key_applies

    s, ps = fresh.session, fresh.panel_state
    assert {m for *_, m in KEY_HELP} == set(KEY_GROUPS)
    assert [k for k, _, m in KEY_HELP if m == "hlc"][:2] == ["W A S D / arrows", "Q / E"]
    for mode, live, dead in (("llc", "llc", "hlc"), ("hlc", "hlc", "llc"), ("playback", "playback", "physics")):
        if mode == "hlc":
            use_hlc(fresh, hlc_file, "steering")
        else:
            s.set_mode(mode)
        ps.show_help = True
        pump(fresh, 3)
        assert ps.keys_live[live] and not ps.keys_live[dead] and ps.keys_live[""]
        assert key_applies(live, mode) and not key_applies(dead, mode)
        for other in ("latent", "task", "controls", "status"):
            if other in ps.windows:
                assert not rects_overlap(ps.windows["keys"], ps.windows[other]), other
    ps.show_help = False


def test_screenshots_go_to_runs_screenshots_and_the_event_says_where(fresh, tmp_path):
    """F12 never writes into the working directory: by default into the repository's git-ignored runs/screenshots,
    and the event line (and the screenshot button's tooltip) names the file."""
    from app import cli
    from app.window import SCREENSHOT_DIR

    assert cli.build_parser().parse_args([]).screenshot_dir is None  # the window's default, not "."
    assert SCREENSHOT_DIR.parent.name == "runs" and SCREENSHOT_DIR.parent.parent == Path(__file__).parents[1]
    assert "runs/" in (Path(__file__).parents[1] / ".gitignore").read_text().split()
    cwd_before = set(Path.cwd().glob("*.png"))
    tap(fresh, "F12")
    shot = Path(fresh.session.last_event.removeprefix("screenshot "))
    assert shot.parent == Path(fresh.capture.folder) and shot.is_file() and shot.stat().st_size > 10_000
    assert set(Path.cwd().glob("*.png")) == cwd_before
    assert fresh.panel_state.screenshot_dir == str(fresh.capture.folder)


def test_first_run_hint_is_shown_until_dismissed(fresh, tmp_path):
    """A "try this" window in the middle on first launch; its button closes it for good (the settings file)."""
    import json

    from app.panels import hint_lines

    ps = fresh.panel_state
    fresh.settings.path = tmp_path / "viewer.json"
    ps.show_hint, ps.hint_dismissed = True, False
    pump(fresh, 2)
    assert "hint" in ps.windows and any(line.startswith("B: shove") for line in hint_lines(fresh.session))
    click_item(fresh, "hint dismiss")
    pump(fresh, 2)
    assert "hint" not in ps.windows and json.loads(fresh.settings.path.read_text()) == {"hint_dismissed": True}
    assert fresh.settings.read()["hint_dismissed"]


def test_props_not_in_play_are_not_drawn_and_the_box_is_see_through(fresh):
    """Parked balls (never thrown since the reset) and the parked box are not drawn, wherever the character
    walks; a thrown ball is; the strike box is see-through so it never hides the character."""
    from app.render import STRIKE_ALPHA

    s, r = fresh.session, fresh.renderer
    m = s.sim.model

    def drawn_bodies() -> set[int]:
        scn = r.scene
        return {int(m.geom_bodyid[scn.geoms[i].objid]) for i in range(scn.ngeom) if scn.geoms[i].objtype == 5}

    balls = {int(m.jnt_bodyid[j]) for j in s.sim.projectiles}
    box = m.body("strike_target").id
    s.sim.data.qpos[:2] = [-45.0, 45.0]  # beside the parked balls
    pump(fresh)
    assert not (balls | {box}) & drawn_bodies() and set(s.sim.idle_props()) == balls | {box}
    s.reset()
    tap(fresh, "X")
    tap(fresh, "V")
    pump(fresh)
    assert len(balls & drawn_bodies()) == 1 and box in drawn_bodies()
    alphas = [r.scene.geoms[i].rgba[3] for i in range(r.scene.ngeom) if r.scene.geoms[i].objtype == 5
              and m.geom_bodyid[r.scene.geoms[i].objid] == box]  # fmt: skip
    assert alphas and max(alphas) <= STRIKE_ALPHA + 1e-6
    tap(fresh, "R")
    assert not (balls | {box}) & drawn_bodies()


def test_named_skills_replace_the_clip_presets(fresh):
    """An LLC that names skills: the presets are its skills by name, the blend row reads "walk -> run", and
    the HUD's nearest preset is a skill's name."""
    from app.presets import skill_presets

    s, ps = fresh.session, fresh.panel_state
    rng = np.random.default_rng(0)
    s.latents.presets = skill_presets({n: rng.standard_normal(s.policy.latent_dim) for n in ("walk", "run", "crouch")})
    s.latents.blend = s.latents.default_blend()
    tap(fresh, "3")
    ps.items.clear()
    pump(fresh, 2)
    assert {k for k in ps.items if k.startswith("preset ")} == {"preset walk", "preset run", "preset crouch"}
    click_item(fresh, "preset crouch")
    assert s.last_event == "skill crouch" and s.nearest_preset().startswith("crouch (cos 1.00)")
    assert s.latents.blend_text() == "blend walk -> run 0.00"
    s.latents.set_blend(0, 1, 0.3)
    assert s.last_event == s.latents.blend_text() == "blend walk -> run 0.30"
    s.latents.presets = (
        s.latents.build_presets()
    )  # back to the clip presets (the window is shared by the module's tests)
    s.latents.blend = s.latents.default_blend()
