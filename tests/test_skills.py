"""Named skills: dataset names and held clips, anchors, the skill schedule, tracking shaping, the skill trainer
(conditional discriminator, supervised encoder, exact resume, warm start) and `eval --skills`."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from controllers.checkpoint import load_llc
from motion.clip import MotionFileError
from tests.test_training_llc import TINY, run_and_resume, tiny_config
from training.llc import LLCTrainer
from training.skills import SkillSchedule, near_anchor, skill_anchors, speed_reward, steady_speeds, tracking_reward

ROOT = Path(__file__).resolve().parent.parent
SKILLS_YAML = ROOT / "datasets" / "deepmimic_skills.yaml"

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def skill_library(deepmimic_dir):
    from motion.library import MotionLibrary
    from sim.character import load_character

    return MotionLibrary.from_path(SKILLS_YAML, load_character("humanoid"))


def skill_env(n: int, motions, seed: int = 0):
    from sim.env import EnvConfig, HumanoidEnv, ResetConfig

    reset = ResetConfig().with_mix(reference=0.8, fall_pool=0.1)
    return HumanoidEnv(EnvConfig(num_envs=n, seed=seed, nthread=1, reset=reset), motions)


def skill_config(n: int, **kw):
    return tiny_config(n, character="humanoid", skills=True, network=replace(TINY, conditional=True), **kw)


# ---------------------------------------------------------------------------- data
def test_skill_dataset_names_its_clips_and_holds_an_idle_frame(skill_library):
    lib = skill_library
    assert lib.clip_names == ["walk", "jog", "run", "punch", "kick", "getup_faceup", "getup_facedown", "idle"]
    idle = lib.clip_index("idle")
    assert lib.durations[idle] == pytest.approx(2.0) and lib._loop[idle]
    st = lib.sample(np.full(5, idle), np.linspace(0.0, 5.0, 5))  # looping: any time, same pose, no motion
    assert np.abs(st.qvel).max() < 1e-9 and np.abs(st.body_vel).max() < 1e-9
    assert np.allclose(st.qpos, st.qpos[0]) and st.qpos[0, 2] > 0.7
    first_punch = lib.sample([lib.clip_index("punch")], [0.0])
    assert np.allclose(st.qpos[0], first_punch.qpos[0])


def test_bad_hold_and_name_entries_name_the_file(tmp_path, deepmimic_dir):
    from motion.dataset import read_yaml_dataset
    from motion.io import load_entry
    from sim.character import load_character

    walk = deepmimic_dir / "humanoid3d_walk.txt"
    for body, why in (
        ("{file: %s, hold: {frame: -1}}", "hold"),
        ("{file: %s, hold: {frame: 0, seconds: 0}}", "seconds"),
        ("{file: %s, name: ''}", "name"),
    ):
        f = tmp_path / "d.yaml"
        f.write_text("motions:\n  - " + body % walk + "\n")
        with pytest.raises(MotionFileError) as exc:
            read_yaml_dataset(f)
        assert "d.yaml" in str(exc.value) and why in str(exc.value)
    f.write_text(f"motions:\n  - {{file: {walk}, hold: {{frame: 10000}}}}\n")
    with pytest.raises(MotionFileError, match="beyond the clip"):
        load_entry(read_yaml_dataset(f)[0], load_character("humanoid"))


# ---------------------------------------------------------------------------- anchors and schedule
def test_anchors_are_orthonormal_fixed_and_their_clusters_tight():
    a = skill_anchors(8, 64)
    assert torch.allclose(a @ a.T, torch.eye(8), atol=1e-5)
    assert torch.equal(a, skill_anchors(8, 64))  # the same anchors in every run
    z = near_anchor(a, torch.arange(8).repeat(50), 0.04, torch.Generator().manual_seed(0))
    cos = (z * a[torch.arange(8).repeat(50)]).sum(-1)
    assert torch.allclose(z.norm(dim=-1), torch.ones(400)) and 0.9 < cos.mean() < 0.99
    with pytest.raises(ValueError):
        skill_anchors(65, 64)


def test_schedule_anchors_reference_starts_to_their_clip_and_tracks_them():
    gen = torch.Generator().manual_seed(0)
    n = 400
    sched = SkillSchedule(n, skill_anchors(3, 64), 0.8, 0.04, (30, 150), (1, 150), gen)
    clip = np.where(np.arange(n) % 2 == 0, 2, -1)  # half start from clip 2, half from the default pose
    t0 = np.full(n, 0.5)
    durations, loops = np.array([1.0, 1.0, 2.0]), np.array([True, True, False])
    sched.start_episodes(torch.ones(n, dtype=torch.bool), clip, t0, durations, loops, 3.0)
    ref = clip >= 0
    anchored = (sched.skill >= 0).numpy()
    assert 0.7 < anchored.mean() < 0.9
    assert (sched.skill.numpy()[ref & anchored] == 2).all()
    assert (sched.track_clip[ref & anchored] == 2).all() and (sched.track_clip[~(ref & anchored)] == -1).all()
    assert np.allclose(sched.track_until[ref & anchored], 2.0)  # a one-shot clip: its end
    z = sched.current()
    assert torch.allclose(z.norm(dim=-1), torch.ones(n), atol=1e-5)
    held = sched.remaining.numpy()[anchored]
    assert held.min() >= 28 and held.max() <= 149
    sched.remaining[:] = 0  # every interval runs out: redraws, tracking stops, no reset needed
    sched.current()
    assert (sched.track_clip == -1).all() and (sched.since_switch == 1).all()


def test_tracking_reward_is_one_on_the_reference_and_falls_off_with_error(skill_library):
    lib = skill_library
    c = np.repeat(lib.clip_index("run"), 4)
    st = lib.sample(c, np.array([0.1, 0.2, 0.3, 0.4]))
    keys = np.array([lib.character.body_index(b) for b in lib.character.key_bodies])
    r, err = tracking_reward(st.body_pos, st.body_rot, st.qvel, st, keys)
    assert np.allclose(r, 1.0) and np.allclose(err, 0.0)
    shifted = st.body_pos + np.array([0.3, 0.0, 0.0])
    r2, err2 = tracking_reward(shifted, st.body_rot, st.qvel, st, keys)
    # only the root position term (weight 0.15, scale 5) sees a shift of the whole body
    assert np.allclose(err2, 0.3) and np.allclose(r2, 1.0 - 0.15 * (1.0 - np.exp(-5.0 * 0.09)))
    other = lib.sample(np.repeat(lib.clip_index("idle"), 4), np.zeros(4))
    r3, _ = tracking_reward(other.body_pos, other.body_rot, other.qvel, st, keys)
    assert (r3 < r2).all()


def test_steady_skills_have_their_clip_pace_and_a_speed_reward_peaked_there(skill_library):
    v = dict(zip(skill_library.clip_names, steady_speeds(skill_library)))
    assert v["walk"] == pytest.approx(1.0, abs=0.1) and v["jog"] == pytest.approx(2.8, abs=0.1)
    assert v["run"] == pytest.approx(3.55, abs=0.1) and v["idle"] == pytest.approx(0.0, abs=1e-6)
    assert all(np.isnan(v[k]) for k in ("punch", "kick", "getup_faceup", "getup_facedown"))
    target = torch.tensor([0.0, 2.8, 2.8, 2.8])
    r = speed_reward(torch.tensor([0.0, 2.8, 1.7, 4.0]), target)
    assert r[0] == r[1] == 1.0 and 0.0 < r[2] < 0.5 and 0.0 < r[3] < 1.0
    assert speed_reward(torch.tensor([0.27]), torch.tensor([0.0])) < 0.4  # idle drifting at 0.27 m/s


def test_speed_weight_adds_the_pace_reward_to_anchored_steady_skills_only(skill_library):
    t = LLCTrainer(skill_config(8), skill_env(8, skill_library))
    buf = t.rollout()
    t.compute_rewards_and_advantages(buf)
    base = buf["rewards"].clone()
    t.cfg.speed_weight = 0.3
    t.compute_rewards_and_advantages(buf)
    target = t.skills.speed_targets[buf["skill"].clamp(min=0)]
    paced = (buf["skill"] >= 0) & ~buf["grace"] & ~buf["done"] & ~torch.isnan(target)
    assert paced.any() and (~paced).any()
    expected = 0.3 * speed_reward(buf["speed"], target.nan_to_num())
    assert torch.allclose((buf["rewards"] - base)[paced], expected[paced], atol=1e-5)
    assert torch.equal(buf["rewards"][~paced], base[~paced])
    assert (buf["speed"] >= 0).all() and buf["speed"].max() > 0


# ---------------------------------------------------------------------------- the trainer
def test_skill_trainer_learns_the_conditional_head_and_saves_named_skills(tmp_path, skill_library):
    cfg = skill_config(8, checkpoint_every=100)
    t = LLCTrainer(cfg, skill_env(8, skill_library))
    assert torch.count_nonzero(t.disc_enc.cond.weight) == 0
    stats = [t.train_iteration() for _ in range(3)]
    assert all(np.isfinite(s["loss/total"]) for s in stats)
    assert torch.count_nonzero(t.disc_enc.cond.weight) > 0  # the conditional head learns
    for key in ("cond/mismatch_acc", "cond/pos_acc", "enc/skill_alignment", "reward/cond", "skills/tracked_frac"):
        assert key in stats[-1]
    assert 0.0 < stats[-1]["skills/anchored_frac"] <= 1.0
    t.save(tmp_path / "llc.pt", inference_only=True)
    policy = load_llc(tmp_path / "llc.pt")
    assert list(policy.skills) == skill_library.clip_names
    assert np.allclose(policy.skills["walk"], skill_anchors(8, 64)[0].numpy())


def test_skill_trainer_resumes_exactly(tmp_path, skill_library):
    cfg = skill_config(8, checkpoint_every=1)
    run_and_resume(lambda: skill_env(8, skill_library), cfg, tmp_path, first=1, total=2)


def test_warm_start_from_an_ase_state_keeps_its_weights_and_zero_conditional_head(tmp_path, skill_library):
    from sim.env import EnvConfig, HumanoidEnv

    ase = LLCTrainer(tiny_config(8, character="humanoid"), HumanoidEnv(EnvConfig(num_envs=8, nthread=1), skill_library))
    ase.train_iteration()
    ase.save(tmp_path / "state.pt")
    ase.save(tmp_path / "weights.pt", inference_only=True)
    skills = LLCTrainer(skill_config(8), skill_env(8, skill_library))
    skills.init_from(tmp_path / "state.pt")
    for name in ("actor", "critic", "obs_norm", "amp_norm", "value_norm"):
        sa, sb = getattr(ase, name).state_dict(), getattr(skills, name).state_dict()
        assert all(torch.equal(sa[k], sb[k]) for k in sa), name
    assert torch.count_nonzero(skills.disc_enc.cond.weight) == 0 and skills.global_step == 0
    assert skills.cfg.init_from == str(tmp_path / "state.pt")
    with pytest.raises(ValueError, match="inference-only"):
        skills.init_from(tmp_path / "weights.pt")


def test_cli_skill_run_needs_named_clips_and_refuses_init_from_with_resume(tmp_path, capsys, deepmimic_dir):
    from training.cli import main

    dup = tmp_path / "dup.yaml"
    walk = deepmimic_dir / "humanoid3d_walk.txt"
    dup.write_text(f"motions:\n  - {{file: {walk}, name: a}}\n  - {{file: {walk}, name: a}}\n")
    assert main(["llc", "--skills", "--motions", str(dup), "--envs", "4", "--out", str(tmp_path / "r")]) == 2
    assert "skill names must differ" in capsys.readouterr().err
    code = main(["llc", "--resume", str(tmp_path / "s" / "checkpoint.pt"), "--init-from", str(tmp_path / "x.pt")])
    assert code == 2 and "cannot go with --resume" in capsys.readouterr().err


# ---------------------------------------------------------------------------- eval --skills
def test_eval_skills_reports_recall_signatures_and_transitions(skill_library):
    from controllers.checkpoint import LLCPolicy, untrained_llc_checkpoint
    from evaluation import skills as S
    from sim.env import EnvConfig, HumanoidEnv

    env = HumanoidEnv(EnvConfig(num_envs=2, nthread=1), skill_library)
    classifier, accuracy = S.train_classifier(env, steps=300, windows=4000)
    assert accuracy > 0.6  # 300 steps: far from the committed classifier, but it must learn
    policy = LLCPolicy(untrained_llc_checkpoint())
    cfg = S.SkillEvalConfig(rollouts=1, seconds=4.0, switch_seconds=2.0, transition_envs=4)
    res = S.evaluate_skills(policy, skill_library, cfg, classifier)
    assert res["latents"].startswith("clip presets")  # an LLC without named skills
    assert set(res["skills"]) == set(skill_library.clip_names)
    for name, s in res["skills"].items():
        assert 0.0 <= s["recall"] <= 1.0 and s["mean_speed"] >= 0.0
        assert sum(res["confusion"][name].values()) == pytest.approx(1.0, abs=1e-2)
        worst_other = max(v for k, v in res["confusion"][name].items() if k != name)
        assert s["distinct"] == (s["recall"] >= 0.8 and worst_other <= 0.2 + 1e-3)
    assert res["transitions"]["switches"] == 4 and 0.0 <= res["transitions"]["success"] <= 1.0
    assert "walk_speed" in res["signatures"] and "gaits_in_order" in res["signatures"]
    assert "distinct skills" in S.skills_summary(res)


def test_committed_classifier_labels_clean_dataset_windows(skill_library):
    from evaluation import skills as S
    from motion.amp import AmpDataset
    from sim.env import EnvConfig, HumanoidEnv

    env = HumanoidEnv(EnvConfig(num_envs=2, nthread=1), skill_library)
    model = S.load_classifier(skill_library.clip_names, env.amp_obs_dim * env.num_amp_frames)
    assert model is not None, "skill_classifier.pt missing or stale: launch.py eval --skills --train-classifier"
    lib = skill_library
    lib_w = lib.weights.copy()
    lib.weights = np.full(lib.num_clips, 1.0 / lib.num_clips)
    try:
        x, y = AmpDataset.of(env).sample(2000, np.random.default_rng(5))
    finally:
        lib.weights = lib_w
    assert (model.labels(x) == y).mean() > 0.9


def test_slerp_and_skill_recognition_are_plain_functions():
    from controllers.latents import recognise_skill, slerp

    a, b = np.eye(4)[0], np.eye(4)[1]
    mid = slerp(a, b, 0.5)
    assert np.allclose(mid, np.array([1, 1, 0, 0]) / np.sqrt(2)) and np.allclose(slerp(a, b, 1.0), b)
    assert np.allclose(np.linalg.norm(slerp(a, -a, 0.3)), 1.0)  # opposite latents still blend on the sphere
    skills = {"walk": a, "run": b}
    assert recognise_skill(0.2 * a + 0.9 * b, skills)[0] == "run" and recognise_skill(a, {}) == ("", 0.0)


# ---------------------------------------------------------------------------- overlapped rollouts
def test_overlapped_rollouts_resume_exactly_on_a_fake_env(tmp_path):
    from tests.fakes import FakeEnv

    cfg = tiny_config(8, checkpoint_every=1, overlap=True)
    run_and_resume(lambda: FakeEnv(8, num_amp_frames=4, episode_steps=20), cfg, tmp_path, first=2, total=4)


def test_overlapped_skill_rollouts_resume_exactly(tmp_path, skill_library):
    cfg = skill_config(8, checkpoint_every=1, overlap=True, focal_every=1)
    run_and_resume(lambda: skill_env(8, skill_library), cfg, tmp_path, first=1, total=3)


def test_overlapped_rollouts_act_one_update_behind():
    from tests.fakes import FakeEnv, llc_trainer_on

    t = llc_trainer_on(tiny_config(8, overlap=True), FakeEnv(8, num_amp_frames=4, episode_steps=20))
    t.train_iteration()  # learned from the first rollout; the second one runs with the weights before that update
    t.finish_rollout()
    behaviour = t.overlap.behaviour.actor.state_dict()
    assert any(not torch.equal(v, t.actor.state_dict()[k]) for k, v in behaviour.items())
    before = {k: v.clone() for k, v in t.actor.state_dict().items()}
    stats = t.train_iteration()
    assert np.isfinite(stats["loss/total"])
    assert all(torch.equal(v, before[k]) for k, v in t.overlap.behaviour.actor.state_dict().items())
    t.finish_rollout()


def test_skills_results_join_the_eval_card_and_its_summary(tmp_path):
    import json

    from controllers.checkpoint import controller_summary
    from evaluation.cli import write_skills_card

    card = tmp_path / "llc.json"
    card.write_text(json.dumps({"results": {"llc": {"summary": "up 84% of falls"}}}))
    skills = {"skills": {"walk": {}, "run": {}, "idle": {}}, "distinct": ["walk", "idle"]}
    write_skills_card(card, skills)
    assert controller_summary(tmp_path / "llc.pt") == "2 of 3 skills distinct (walk, idle) | up 84% of falls"
    write_skills_card(card, {**skills, "distinct": []})  # measured again: the line is replaced, not stacked
    assert controller_summary(tmp_path / "llc.pt") == "0 of 3 skills distinct | up 84% of falls"
    assert json.loads(card.read_text())["skills"]["distinct"] == []
    write_skills_card(tmp_path / "new.json", skills)  # no eval card yet: a card of its own
    assert json.loads((tmp_path / "new.json").read_text())["skills"]["distinct"] == ["walk", "idle"]


def test_an_exported_skill_llc_names_its_skills_without_torch(tmp_path):
    from controllers.checkpoint import save_atomic, untrained_llc_checkpoint
    from controllers.export_cli import export
    from controllers.runtime import OnnxLLC
    from controllers.runtime.controller import Controller

    ckpt = untrained_llc_checkpoint()
    anchors = skill_anchors(2, 64)
    ckpt["skills"] = {"names": ["walk", "idle"], "anchors": anchors}
    save_atomic(ckpt, tmp_path / "llc.pt")
    export(tmp_path / "llc.pt", tmp_path / "out")
    for runtime in (OnnxLLC(tmp_path / "out"), Controller(tmp_path / "out")):
        assert list(runtime.skills) == ["walk", "idle"]
        assert np.allclose(runtime.skills["idle"], anchors[1].numpy(), atol=1e-6)


def test_getup_assist_takes_over_after_a_while_down_with_the_posture_s_getup_and_hands_back():
    from controllers.getup import GetupAssist, getup_skill, lying_face_up
    from sim.rotations import quat_from_axis_angle

    face_up = quat_from_axis_angle(np.array([0.0, 1.0, 0.0]), -np.pi / 2)  # forward (+x) turned to +z
    face_down = quat_from_axis_angle(np.array([0.0, 1.0, 0.0]), np.pi / 2)
    assert lying_face_up(face_up) and not lying_face_up(face_down)
    skills = {n: np.eye(4)[i] for i, n in enumerate(("idle", "getup_faceup", "getup_facedown", "walk"))}
    assert getup_skill(skills, face_down) == "getup_facedown"
    assert getup_skill({"idle": skills["idle"], "getup_faceup": skills["getup_faceup"]}, face_down) == "getup_faceup"
    assert getup_skill({"idle": skills["idle"]}, face_up) is None
    a, held, dt = GetupAssist(skills, down_seconds=1.0, up_seconds=0.5), skills["idle"], 0.1
    zs = [a.latent(held, 0.3, face_down, dt) for _ in range(9)]
    assert all(np.array_equal(z, held) for z in zs) and not a.active  # not yet a second down
    assert np.array_equal(a.latent(held, 0.3, face_down, dt), skills["getup_facedown"]) and a.active
    for _ in range(3):  # rising but not yet upright: the get-up keeps going
        assert np.array_equal(a.latent(held, 1.1, face_up, dt), skills["getup_facedown"])
    zs = [a.latent(held, 1.5, face_up, dt) for _ in range(5)]
    assert np.array_equal(zs[-1], held) and not a.active  # upright for 0.5 s: the held skill is back
    a.enabled = False
    assert all(np.array_equal(a.latent(held, 0.3, face_up, 1.0), held) for _ in range(3))
    assert not GetupAssist({"idle": held}).available
