"""Viewer logic without a window: controls, clock, fall monitor, latents, the simulation seam, the session."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from app.controls import RUN_SPEED, WALK_SPEED, Steering
from app.latents import MAX_COMPONENT, SkillMap, normalize, place_labels, set_component, slerp
from app.state import FallMonitor, Posture, SimClock


# ---- controls -------------------------------------------------------------------------------
def test_keys_steer_relative_to_the_camera():
    st = Steering()
    yaw = math.radians(30)
    st.key_down("w")
    g = st.update(0.1, yaw)
    assert g.heading == pytest.approx(yaw) and g.speed == WALK_SPEED
    st.key_down("lshift")
    st.key_down("d")  # forward + right = 45 degrees to the right of the camera
    g = st.update(0.1, yaw)
    assert g.heading == pytest.approx(yaw - math.pi / 4) and g.speed == RUN_SPEED
    assert g.facing == pytest.approx(g.heading)  # facing follows heading by default
    st.release_all()
    assert st.update(0.1, yaw).speed == 0.0


def test_facing_keys_gamepad_and_reach():
    st = Steering()
    st.key_down("q")
    g = st.update(0.5, 0.0)
    assert not g.facing_follows_heading and g.facing == pytest.approx(math.radians(60))
    st.release_all()
    st.stick_move = (1.0, 0.0)  # stick right = camera right
    g = st.update(0.1, math.pi / 2)
    assert g.heading == pytest.approx(0.0, abs=1e-9) and g.speed == pytest.approx(RUN_SPEED)
    st.stick_move = (0.05, 0.05)  # inside the dead zone
    assert st.update(0.1, 0.0).speed == 0.0
    z0 = g.reach.copy()
    st.key_down("u")
    st.key_down("i")
    g = st.update(0.5, 0.0)
    assert g.reach[2] > z0[2] and g.reach[0] > z0[0]


# ---- clock and fall monitor ------------------------------------------------------------------
def test_clock_is_real_time_pausable_and_steppable():
    c = SimClock()
    assert sum(c.advance(1 / 60) for _ in range(60)) in (29, 30, 31)
    c.toggle_pause()
    assert c.advance(0.1) == 0
    c.request_step()
    assert c.advance(0.1) == 1 and c.advance(0.1) == 0
    c.toggle_pause()
    c.speed = 0.25
    assert sum(c.advance(1 / 30) for _ in range(120)) == pytest.approx(30, abs=1)
    assert c.advance(10.0) <= c.max_steps_per_frame  # never a spiral of death


def test_fall_monitor_times_the_recovery():
    m = FallMonitor()
    assert m.update(0.0, False, 1.0, 1.0) is Posture.UP
    assert m.update(1.0, True, 0.2, 0.2) is Posture.FALLEN
    assert m.update(2.0, False, 0.3, 0.3) is Posture.FALLEN  # still on the ground
    assert m.update(3.0, False, 0.7, 0.6) is Posture.GETTING_UP
    assert m.update(3.5, False, 0.95, 0.95) is Posture.GETTING_UP  # the hold starts
    assert m.update(4.1, False, 1.0, 1.0) is Posture.RECOVERED
    assert m.last_recovery_time == pytest.approx(3.1)
    assert "recovered in 3.1 s" in m.label(4.2)
    assert m.update(8.0, False, 1.0, 1.0) is Posture.UP


def test_fall_monitor_waits_for_a_landing_and_counts_per_episode():
    """Thrown into the air after a fall the body is "airborne", not "getting up"; a reset starts the count over."""
    m = FallMonitor()
    m.update(0.0, True, 0.2, 0.2)
    assert m.update(0.5, False, 0.9, 0.9, airborne=True) is Posture.FALLEN and m.label(0.5).startswith("airborne")
    assert m.update(0.7, False, 0.9, 0.9) is Posture.GETTING_UP  # landed on its feet
    assert m.update(0.8, False, 0.9, 0.9, airborne=True) is Posture.FALLEN  # and thrown again
    assert m.update(1.0, False, 1.0, 1.0, airborne=True) is Posture.FALLEN and "getting up" not in m.label(1.0)
    m2 = FallMonitor()
    assert m2.update(0.0, False, 1.0, 1.0, airborne=True) is Posture.UP and m2.label(0.0) == "up"  # a run's flight
    assert m.falls == 1
    m.reset(falls=True)
    assert m.falls == 0 and m.state is Posture.UP


# ---- latents -----------------------------------------------------------------------------------
def random_latent(rng: np.random.Generator, dim: int) -> np.ndarray:
    return normalize(rng.standard_normal(dim))


def test_slerp_and_skill_map():
    rng = np.random.default_rng(0)
    a, b = random_latent(rng, 64), random_latent(rng, 64)
    assert np.linalg.norm(slerp(a, b, 0.3)) == pytest.approx(1.0)
    assert np.allclose(slerp(a, b, 0.0), a) and np.allclose(slerp(a, b, 1.0), b)
    mid = slerp(a, b, 0.5)
    assert mid @ a == pytest.approx(mid @ b)
    lat = np.stack([random_latent(rng, 64) for _ in range(5)])
    sm = SkillMap.build([f"c{i}" for i in range(5)], lat)
    assert sm.coords.shape == (5, 2) and np.abs(sm.coords).max() == pytest.approx(1.0)
    assert np.allclose(sm.project(lat[2]), sm.coords[2])
    assert sm.nearest(lat[3])[0] == "c3"
    z = sm.to_latent(sm.coords[1])
    assert np.linalg.norm(z) == pytest.approx(1.0) and sm.nearest(z)[0] == "c1"
    assert np.allclose(normalize(np.ones(4)), 0.5)
    assert sm.components.shape == (4, 64)  # 5 presets: 4 principal axes, orthonormal, shares sum to 1
    assert np.allclose(sm.components @ sm.components.T, np.eye(4), atol=1e-9)
    assert sm.explained.sum() == pytest.approx(1.0) and np.all(np.diff(sm.explained) <= 1e-12)


def test_set_component_is_exact_and_stable():
    """A slider sets its component exactly, keeps the latent unit, and the other components keep their ratios."""
    rng = np.random.default_rng(2)
    z = random_latent(rng, 64)
    axis = random_latent(rng, 64)
    w = set_component(z, axis, 0.6)
    assert np.linalg.norm(w) == pytest.approx(1.0) and w @ axis == pytest.approx(0.6)
    others = [random_latent(rng, 64) for _ in range(3)]
    others = [o - (o @ axis) * axis for o in others]  # directions orthogonal to the slider's axis
    ratios = [(w @ o) / (z @ o) for o in others]
    assert np.allclose(ratios, ratios[0])  # one common scale factor
    assert np.allclose(set_component(w, axis, 0.6), w)  # idempotent: no drift while the slider is held
    back = set_component(w, axis, float(z @ axis))
    assert np.allclose(back, z)  # moving the slider back restores the latent
    for _ in range(200):  # a long drag back and forth stays on the sphere
        w = set_component(w, axis, rng.uniform(-1.5, 1.5))
    assert np.linalg.norm(w) == pytest.approx(1.0) and abs(w @ axis) <= MAX_COMPONENT + 1e-12
    e0 = np.eye(64)[0]
    edge = set_component(e0, e0, 0.3)  # on the axis itself: continues along another direction
    assert np.linalg.norm(edge) == pytest.approx(1.0) and edge[0] == pytest.approx(0.3)


def test_skill_map_labels_never_overlap():
    rng = np.random.default_rng(3)
    pts = rng.uniform(20, 200, (20, 2))
    pts[:6] = [100, 100] + rng.normal(0, 3, (6, 2))  # a tight cluster
    sizes = np.tile([70.0, 13.0], (20, 1))
    spots = place_labels(pts, sizes, (0, 0, 230, 230))
    rects = [(x, y, x + 70, y + 13) for s in spots if s is not None for x, y in [s]]
    assert len(rects) >= 10
    for i, a in enumerate(rects):
        assert 0 <= a[0] and 0 <= a[1] and a[2] <= 230 and a[3] <= 230
        for b in rects[i + 1 :]:
            assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], (a, b)


# ---- simulation seam -----------------------------------------------------------------------------
def test_simulation_matches_the_environment():
    """The single-character core (the viewer's, the runtime's) gives the same states and observations as
    HumanoidEnv, before and after the same shove, and the same fall rule."""
    from sim.env import EnvConfig, HumanoidEnv, ResetConfig
    from sim.single import SingleCharacter

    env = HumanoidEnv(EnvConfig(num_envs=1, early_termination=False, auto_reset=False, projectiles=6,
                                strike_target=True, nthread=1, reset=ResetConfig(mode="default")))  # fmt: skip
    env.reset()
    s = SingleCharacter.scene()
    assert s.model.nq == env.model.nq and s.char_nq == env.nq_char
    rng = np.random.default_rng(1)
    for _ in range(4):
        a = rng.uniform(-0.5, 0.5, (1, env.action_dim))
        r = env.step(a)
        s.step(a[0])
    assert np.allclose(env.get_data(0).qpos[: s.char_nq], s.data.qpos[: s.char_nq], atol=1e-9)
    assert np.allclose(r.obs, s.observe(), atol=1e-5)
    assert np.allclose(r.amp_obs[0, : env.amp_obs_dim], s.amp_frame(), atol=1e-5)
    assert s.control_dt == env.control_dt == pytest.approx(s.model.opt.timestep * s.substeps)
    # one shove semantics: the same impulse on the same body moves both simulations identically
    from sim.perturbations import shove_impulse

    imp = shove_impulse(120.0, 0.7)
    env.apply_impulse([0], "torso", imp)
    s.apply_impulse("torso", imp)
    a = rng.uniform(-0.5, 0.5, (1, env.action_dim))
    r = env.step(a)
    s.step(a[0])
    assert np.allclose(env.get_data(0).qvel[: s.char_nv], s.data.qvel[: s.char_nv], atol=1e-7)
    assert np.allclose(r.obs, s.observe(), atol=1e-5)
    # one fall rule: the same object's inputs, gathered once from the character
    assert np.array_equal(s.fall_rule.non_foot, env.fall_rule.non_foot)
    assert np.array_equal(s.fall_rule.height_limit, env.fall_rule.height_limit)
    assert s.fall_rule.min_force == env.fall_rule.min_force == env.cfg.fall_contact_force


def test_shove_delivers_its_impulse():
    """A shove changes the character's momentum by the impulse (free-floating, no gravity or contacts)."""
    import mujoco

    from sim.single import SingleCharacter

    s = SingleCharacter.scene()
    s.model.opt.gravity[:] = 0.0
    s.data.qpos[2] += 2.0  # in the air: no contacts
    mujoco.mj_forward(s.model, s.data)
    mass = s.model.body_subtreemass[s.root_id]
    v0 = s.data.subtree_linvel[s.root_id].copy()
    imp = s.shove(90.0, math.radians(30))
    s.hold(s.pd_targets_from_qpos(s.data.qpos[: s.char_nq]))
    mujoco.mj_subtreeVel(s.model, s.data)
    assert np.allclose(mass * (s.data.subtree_linvel[s.root_id] - v0), imp, rtol=0.02, atol=0.5)


def test_shove_and_projectile_knock_the_character_over():
    from sim.perturbations import SHOVE_STRENGTH
    from sim.single import SingleCharacter

    s = SingleCharacter.scene()
    hold = s.pd_targets_from_qpos(s.default_qpos())
    for _ in range(15):
        s.hold(hold)
    assert not s.fallen() and s.heights_rel()[1] > 0.95  # stands on its own for a moment
    s.shove(SHOVE_STRENGTH, yaw=0.0)
    for _ in range(60):
        s.hold(hold)
    assert s.fallen()
    s.reset()
    s.launch_projectile(np.random.default_rng(0))
    assert np.linalg.norm(s.data.qvel[s.char_nv :]) > 5.0


# ---- session -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def motions():
    try:
        from motion.data import deepmimic_dir
        from motion.library import MotionLibrary
        from sim.character import load_character

        return MotionLibrary.from_path(deepmimic_dir() / "humanoid3d_walk.txt", load_character("humanoid"))
    except (ImportError, FileNotFoundError) as exc:
        pytest.skip(f"motion clips not available: {exc}")


def test_playback_replays_the_clip(motions):
    from app.session import Session, SessionConfig
    from app.state import Mode

    s = Session(SessionConfig(), motions=motions, load=False)
    assert s.mode is Mode.PLAYBACK
    s.scrub(0.5)
    ref = motions.sample(np.array([0]), np.array([0.5]))
    assert np.allclose(s.sim.data.qpos[: s.sim.char_nq], ref.qpos[0])
    x0 = s.sim.root_pos()[0]
    for _ in range(15):
        s.control_step()
    assert s.playback.clip_time == pytest.approx(1.0) and s.sim.root_pos()[0] > x0 + 0.3  # walks forward
    s.playback.loop = True
    s.scrub(s.playback.clip_duration - 0.01)
    s.control_step()
    assert s.playback.clip_time == 0.0  # looped
    s.playback.ghost = True  # physics tracks the clip beside a kinematic ghost
    s.reset()
    for _ in range(3):
        s.control_step()
    assert s.playback.ghost_data is not None
    assert s.playback.ghost_data.qpos[1] == pytest.approx(s.sim.data.qpos[1] + 1.2, abs=0.2)


def test_modes_without_checkpoint_or_clips():
    from app.session import HLC_UNAVAILABLE, Session, SessionConfig
    from app.state import Mode

    s = Session(SessionConfig(), load=False)
    assert s.mode is Mode.SIM  # nothing to replay: physics
    assert not s.set_mode("llc") and not s.set_mode("hlc")
    assert HLC_UNAVAILABLE in s.last_event and s.mode is Mode.SIM
    s.throw()
    s.spawn_strike_target()
    assert s.goals.strike_active
    s.frame(1 / 30)


def test_bundled_llc_is_the_default_when_present(tmp_path, monkeypatch):
    from app import loading, session
    from controllers.checkpoint import save_atomic, untrained_llc_checkpoint
    from controllers.networks import NetworkConfig

    monkeypatch.setattr(loading, "BUNDLED_LLC", tmp_path / "llc.pt")
    policy, why = session.load_policy(session.SessionConfig())
    assert policy is None and "no bundled" in why
    tiny = NetworkConfig(actor_hidden=(32,), critic_hidden=(32,), disc_hidden=(32,), style_hidden=(16,), style_dim=8)
    save_atomic(untrained_llc_checkpoint("humanoid", tiny), tmp_path / "llc.pt")
    policy, why = session.load_policy(session.SessionConfig())
    assert policy is not None and policy.action_dim == 28


def test_the_bundled_llc_brings_its_bundled_task_controllers(tmp_path, monkeypatch):
    import shutil

    from app import loading, session
    from app.state import Mode
    from tests.conftest import tiny_hlc_checkpoint, tiny_llc_checkpoint

    monkeypatch.setattr(loading, "BUNDLED_LLC", tmp_path / "llc.pt")
    tiny_llc_checkpoint(tmp_path / "llc.pt")
    shutil.copy(tiny_hlc_checkpoint(tmp_path / "run", tmp_path / "llc.pt", "location"), tmp_path / "hlc_location.pt")
    shutil.copy(tmp_path / "run" / "checkpoint.pt", tmp_path / "hlc_a_state.pt")  # a resumable state: not a choice
    s = session.Session(session.SessionConfig(), motions=None)
    assert (
        s.mode is Mode.LLC and s.tasks.hlc is not None and s.tasks.hlc.task == "location"
    )  # LLC mode first, HLC a click away
    assert s.tasks.hlc_name == "hlc_location.pt" and any("hlc_location.pt" in m for m in s.messages)
    assert s.set_mode("hlc") and s.tasks.driver.task.name == "location"
    assert not s.tasks.next_task() and s.last_event == "one task controller loaded"
    # a second task: HLC mode starts with steering (the keyboard's task); inputs pick the controller that takes them
    shutil.copy(tiny_hlc_checkpoint(tmp_path / "run3", tmp_path / "llc.pt", "steering"), tmp_path / "hlc_steering.pt")
    s = session.Session(session.SessionConfig(), motions=None)
    assert list(s.tasks.controllers) == ["steering", "location"] and s.tasks.hlc_name == "hlc_steering.pt"
    assert any("steering (hlc_steering.pt), location (hlc_location.pt)" in m for m in s.messages)
    assert s.set_mode("hlc") and s.tasks.driver.task.name == "steering"
    for _ in range(10):
        s.frame(1 / 30)
    t0, root = s.sim.time, s.sim.root_pos()[:2].copy()
    s.inputs.ground_click(np.array([root[0] + 2.0, root[1], 0.0]))
    assert s.tasks.driver.task.name == "location" and s.tasks.hlc_name == "hlc_location.pt"
    assert np.allclose(s.tasks.driver.task.target[0], root + [2.0, 0.0]) and "task: location" in s.last_event
    s.frame(1 / 30)
    assert s.sim.time > t0  # the character went on: a switch is not a reset
    s.steering.key_down("w")
    s.frame(1 / 30)
    assert s.tasks.driver.task.name == "steering" and s.tasks.driver.task.schedule.pinned[0]
    s.steering.key_up("w")
    assert s.tasks.next_task() and s.tasks.driver.task.name == "location"
    assert (
        not s.tasks.select_task("reach")
        and "no reach task controller loaded (loaded: steering, location)" in s.last_event
    )
    s.attach_hlc(None)
    assert not s.tasks.controllers and s.mode is Mode.LLC and s.tasks.driver is None
    # another LLC: the bundled task controllers do not apply
    tiny_llc_checkpoint(tmp_path / "other.pt")
    assert session.Session(session.SessionConfig(llc=str(tmp_path / "other.pt")), motions=None).tasks.hlc is None
    # a bundled one trained on another LLC is refused in one line, and the viewer goes on without it
    (tmp_path / "hlc_steering.pt").unlink()
    shutil.copy(tiny_hlc_checkpoint(tmp_path / "run2", tmp_path / "other.pt", "location"), tmp_path / "hlc_location.pt")
    s = session.Session(session.SessionConfig(), motions=None)
    assert s.tasks.hlc is None and s.mode is Mode.LLC and not s.tasks.controllers
    assert any(m.startswith("bundled task controller not loaded") and "sha256" in m.lower() for m in s.messages)


def test_a_bundled_task_controller_on_another_bundled_llc_drives_that_llc(tmp_path, monkeypatch):
    import shutil

    from app import loading, session
    from tests.conftest import tiny_hlc_checkpoint, tiny_llc_checkpoint

    monkeypatch.setattr(loading, "BUNDLED_LLC", tmp_path / "llc.pt")
    tiny_llc_checkpoint(tmp_path / "llc.pt")
    tiny_llc_checkpoint(tmp_path / "llc_other.pt")  # another bundled LLC (other weights, other SHA-256)
    shutil.copy(tiny_hlc_checkpoint(tmp_path / "a", tmp_path / "llc.pt", "steering"), tmp_path / "hlc_steering.pt")
    shutil.copy(tiny_hlc_checkpoint(tmp_path / "b", tmp_path / "llc_other.pt", "strike"), tmp_path / "hlc_strike.pt")
    s = session.Session(session.SessionConfig(), motions=None)
    assert (
        list(s.tasks.controllers) == ["steering", "strike"] and s.tasks.controllers["strike"].llc_name == "llc_other.pt"
    )
    assert s.tasks.controllers["steering"].llc is None and s.tasks.controllers["strike"].llc is not s.policy
    assert any("strike (hlc_strike.pt on llc_other.pt)" in m for m in s.messages)
    calls = {"own": 0, "other": 0}
    for key, pol in (("own", s.policy), ("other", s.tasks.controllers["strike"].llc)):
        act = pol.act
        monkeypatch.setattr(
            pol, "act", lambda obs, z, _act=act, _k=key: calls.__setitem__(_k, calls[_k] + 1) or _act(obs, z)
        )
    assert s.set_mode("hlc") and s.acting_llc is s.policy
    s.frame(1 / 30)
    assert calls["own"] > 0 and calls["other"] == 0
    assert s.tasks.select_task("strike") and s.acting_llc is s.tasks.controllers["strike"].llc
    assert "llc_other.pt" in s.last_event and s.nearest_preset().startswith("-")
    own = calls["own"]
    for _ in range(5):
        s.frame(1 / 30)
    assert calls["other"] > 0 and calls["own"] == own  # the strike task's LLC acts, the bundled one rests
    assert ("LLC", "llc_other.pt (this task's own; LLC mode drives the other)") in s.hud()
    assert s.set_mode("llc") and s.acting_llc is s.policy  # LLC mode: the session's LLC
    s.frame(1 / 30)
    assert calls["own"] > own
    assert (
        s.set_mode("hlc") and s.tasks.driver.task.name == "strike" and s.acting_llc is s.tasks.controllers["strike"].llc
    )
    assert s.tasks.next_task() and s.acting_llc is s.policy  # steering: back on the bundled LLC


def test_one_latent_sampler_for_training_and_viewer():
    """Training (torch generator) and the viewer (numpy generator) draw from the same function."""
    from types import SimpleNamespace

    import torch

    from app.session import Session, SessionConfig
    from controllers import networks
    from controllers.latents import sample_latents

    assert networks.sample_latents is sample_latents  # what training imports
    z = sample_latents(4000, 64, np.random.default_rng(0))
    assert np.allclose(np.linalg.norm(z, axis=1), 1.0) and np.abs(z.mean(0)).max() < 0.01
    t = sample_latents(3, 64, torch.Generator().manual_seed(0))
    assert isinstance(t, torch.Tensor) and torch.allclose(t.norm(dim=1), torch.ones(3))
    policy = SimpleNamespace(latent_dim=16, num_amp_frames=10)
    a, b = (Session(SessionConfig(seed=3), policy=policy, load=False) for _ in range(2))
    assert np.allclose(a.latents.latent, b.latents.latent) and np.linalg.norm(a.latents.latent) == pytest.approx(1.0)
    assert a.random_latent() and not np.allclose(a.latents.latent, b.latents.latent)


def test_control_rate_comes_from_the_model():
    from sim.control import CONTROL_SUBSTEPS, control_dt
    from sim.single import SingleCharacter

    s = SingleCharacter.scene()
    assert s.substeps == CONTROL_SUBSTEPS and s.control_dt == control_dt(s.model) == pytest.approx(1 / 30)


# ---- presets, clips, docs ------------------------------------------------------------------------------------
def test_clip_presets_say_what_was_trained_and_measured(tmp_path):
    """Clip presets are marked from the LLC's config (`motions`: the clips it was trained on) and its JSON card
    (`coverage.nearest`: measured reproduction); what was not measured says so; named skills replace them."""
    import json

    from app.presets import clip_presets, skill_presets

    names = ["humanoid3d_walk", "humanoid3d_run", "humanoid3d_backflip"]
    (tmp_path / "set.yaml").write_text("motions:\n  - {file: humanoid3d_walk.txt, weight: 1}\n"
                                       "  - {file: humanoid3d_run.txt, weight: 1}\n")  # fmt: skip
    for n in names[:2]:
        (tmp_path / f"{n}.txt").write_text("{}")
    card = {"results": {"x": {"coverage": {"nearest": {"humanoid3d_walk": "humanoid3d_walk",
                                                       "humanoid3d_run": "humanoid3d_walk"}}}}}  # fmt: skip
    (tmp_path / "llc.json").write_text(json.dumps(card))
    rng = np.random.default_rng(0)
    lat = np.stack([random_latent(rng, 8) for _ in names])
    p = clip_presets(names, lat, str(tmp_path / "llc.pt"), {"motions": str(tmp_path / "set.yaml")})
    assert p.kind == "clips" and p.names == ["walk", "run", "backflip"] and p.clip_of["walk"] == "humanoid3d_walk"
    assert p.info["walk"].note() == "trained on; reproduces its clip (measured)"
    assert p.info["run"].note() == "trained on; does not reproduce its clip (measured: moves like walk)"
    assert p.info["backflip"].note() == "not trained on; reproduction not measured"
    text = p.summary()
    assert "Not guaranteed to reproduce" in text and "trained on 2 of these 3" in text and "1 of the 2 measured" in text
    bare = clip_presets(names, lat, None, {})
    assert bare.info["walk"].trained is None and "training set is unknown" in bare.summary()
    assert skill_presets({}) is None
    named = skill_presets({"walk": lat[0] * 3, "run": lat[1]})
    assert named.kind == "skills" and named.names == ["walk", "run"] and "named by this LLC" in named.summary()
    assert np.allclose(np.linalg.norm(named.map.latents, axis=1), 1.0)


def test_the_bundled_llc_card_marks_its_training_clips(deepmimic_dir):
    """With checkpoints/llc.pt (a skill LLC): its config names the 7 clip files of its dataset (idle is the punch
    file's first frame held), it names its 8 skills, and its card's coverage counts the clips it reproduces."""
    import json

    import torch

    from app.presets import measured_coverage, trained_clips
    from controllers.checkpoint import load_llc

    root = Path(__file__).resolve().parents[1] / "checkpoints"
    config = torch.load(root / "llc.pt", map_location="cpu", weights_only=False)["config"]
    trained = trained_clips(config)
    assert trained is not None and len(trained) == 7 and "humanoid3d_walk" in trained
    assert list(load_llc(root / "llc.pt").skills) == [
        "walk", "jog", "run", "punch", "kick", "getup_faceup", "getup_facedown", "idle"
    ]  # fmt: skip
    cov = measured_coverage(str(root / "llc.pt"))
    card = next(iter(json.loads((root / "llc.json").read_text())["results"].values()))
    assert set(cov) == trained
    assert sum(k == v for k, v in cov.items()) == round(card["coverage"]["fraction"] * len(trained))


def test_readme_recovery_figures_are_the_bundled_cards():
    """The README quotes checkpoints/llc.json's recovery numbers (the HUD shows the same card)."""
    import json
    import re

    root = Path(__file__).resolve().parents[1]
    rec = next(iter(json.loads((root / "checkpoints" / "llc.json").read_text())["results"].values()))
    falls, shoves = (
        round(100 * rec["recovery_fall_pool"]["up_fraction"]),
        round(100 * rec["recovery_shove"]["up_fraction"]),
    )
    readme = " ".join((root / "README.md").read_text().split())
    quoted = re.findall(r"(\d+)% of (falls|shoves)", readme)
    assert quoted, "the README quotes no recovery figures"
    for value, what in quoted:
        assert int(value) == {"falls": falls, "shoves": shoves}[what], (value, what, falls, shoves)


def test_clips_by_the_name_the_panel_shows(motions):
    from app.session import Session, SessionConfig

    s = Session(SessionConfig(clip="walk"), motions=motions, load=False)
    assert (
        s.playback.find_clip("walk") == s.playback.find_clip("humanoid3d_walk") == 0
        and s.playback.find_clip("run") is None
    )
    s.select_clip("walk")
    with pytest.raises(ValueError, match="no clip named 'run'"):
        s.select_clip("run")


def test_a_skill_llc_shows_its_skills_and_what_the_encoder_sees(tmp_path):
    """An LLC checkpoint that names skills: the presets are its skills, and in LLC mode the HUD says which of them
    the encoder recognises in the motion (nearest anchor to the encoding of the last discriminator frames)."""
    import torch

    from app.session import Session, SessionConfig
    from app.state import Mode
    from controllers.checkpoint import save_atomic, untrained_llc_checkpoint
    from training.skills import skill_anchors

    ckpt = untrained_llc_checkpoint()
    ckpt["skills"] = {"names": ["walk", "run", "idle"], "anchors": skill_anchors(3, 64)}
    save_atomic(ckpt, tmp_path / "llc.pt")
    s = Session(SessionConfig(llc=str(tmp_path / "llc.pt"), mode="llc"), motions=None)
    assert s.mode is Mode.LLC and s.latents.presets is not None and s.latents.presets.kind == "skills"
    assert s.seen.text == ""  # nothing seen before the first step
    for _ in range(5):  # the encoder looks every 5th step
        s.control_step()
    name = s.seen.text.split(" ")[0]
    assert name in ("walk", "run", "idle") and ("seen", s.seen.text) in s.hud()
    window = s.seen.history.window()
    mu = s.policy.encode(window)[0]
    best = max(s.policy.skills, key=lambda k: float(mu @ s.policy.skills[k]))
    assert s.seen.text.startswith(best) and torch.is_tensor(ckpt["skills"]["anchors"])
    s.reset()
    assert s.seen.text == ""


def test_a_skill_llc_opens_on_its_idle_skill(deepmimic_dir):
    """The viewer on the bundled skill LLC holds `idle` at the start (a random latent would be near no skill)."""
    from app.session import Session, SessionConfig
    from controllers.checkpoint import load_llc

    root = Path(__file__).resolve().parents[1] / "checkpoints"
    s = Session(SessionConfig(llc=str(root / "llc.pt"), mode="llc"))
    idle = np.asarray(load_llc(root / "llc.pt").skills["idle"], dtype=np.float64)
    assert np.allclose(s.latents.latent, idle / np.linalg.norm(idle))
    assert s.nearest_preset().startswith("idle")
