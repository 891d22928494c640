"""Tasks: rewards against hand-computed values, heading-frame goal observations, external goals, the strike box,
and TaskEnv's HLC step (latent held 5 LLC steps, reward composition, done aggregation)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from controllers.checkpoint import LLCPolicy, untrained_llc_checkpoint
from controllers.networks import NetworkConfig
from sim.rotations import quat_from_axis_angle
from tasks import TASKS, make_task, task_config
from tasks.common import GoalSchedule, PropState, TaskState
from tasks.location import LocationConfig, location_reward
from tasks.reach import ReachConfig, reach_reward
from tasks.speed import SpeedTask
from tasks.steering import SteeringConfig, steering_reward
from tasks.strike import StrikeConfig, strike_reward

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = NetworkConfig(actor_hidden=(32, 16), critic_hidden=(32, 16), disc_hidden=(32, 16), style_hidden=(16,))
Z = np.array([0.0, 0.0, 1.0])


def yaw_quat(yaw) -> np.ndarray:
    return quat_from_axis_angle(Z, np.atleast_1d(np.asarray(yaw, dtype=np.float64)))


def state(root_xy=(0.0, 0.0), yaw=0.0, vel=(0.0, 0.0), n_bodies=15, target=None) -> TaskState:
    root = np.array([[root_xy[0], root_xy[1], 0.9]])
    body = np.repeat(root[:, None], n_bodies, 1)
    v = np.array([[vel[0], vel[1], 0.0]])
    return TaskState(root, yaw_quat(yaw), v, body, np.zeros((1, n_bodies)), target)


def prop(pos, rot=None, push=0.0) -> PropState:
    rot = np.array([[1.0, 0, 0, 0]]) if rot is None else rot
    return PropState(np.array([pos], dtype=np.float64), rot, np.zeros((1, 3)), np.zeros((1, 3)), np.array([push]))


@pytest.fixture(scope="module")
def tiny_llc() -> LLCPolicy:
    torch.manual_seed(0)
    return LLCPolicy(untrained_llc_checkpoint("humanoid", TINY))


# ---------------------------------------------------------------------------------------------- rewards
def test_steering_reward_by_hand():
    cfg = SteeringConfig()
    d, face = np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]])
    # along 1.0, tangent (0, 0.5) -> sum 0.5: 0.7 exp(-0.25 (0.5^2 + 0.1 * 0.5^2)) + 0.3 * 1
    r = steering_reward(d, np.array([1.5]), face, np.array([[1.0, 0.5, 0.0]]), np.array([[0.0, 1.0]]), cfg)
    assert r[0] == pytest.approx(0.7 * math.exp(-0.25 * 0.275) + 0.3, abs=1e-9)
    # moving backwards: the direction term is 0; facing away: 0
    r = steering_reward(d, np.array([1.5]), face, np.array([[-0.2, 0.0, 0.0]]), np.array([[0.0, -1.0]]), cfg)
    assert r[0] == 0.0
    # the reference's signed sum of the tangential components: (0.5, -0.5) sums to 0
    d45 = np.array([[1.0, 1.0]]) / math.sqrt(2)
    r = steering_reward(d45, np.array([1.0]), face, np.array([[1.0, 0.0, 0.0]]), np.array([[1.0, 0.0]]), cfg)
    assert r[0] == pytest.approx(0.7 * math.exp(-0.25 * (1 - 1 / math.sqrt(2)) ** 2), abs=1e-9)
    # tangent_norm: the sideways speed itself, 1/sqrt(2) at 45 deg; 0.5 for (1, 0.5) along x, weight 10
    norm = SteeringConfig(tangent_weight=10.0, tangent_norm=True)
    r = steering_reward(d45, np.array([1.0]), face, np.array([[1.0, 0.0, 0.0]]), np.array([[1.0, 0.0]]), norm)
    assert r[0] == pytest.approx(0.7 * math.exp(-0.25 * ((1 - 1 / math.sqrt(2)) ** 2 + 10 * 0.5)), abs=1e-9)
    r = steering_reward(d, np.array([1.5]), face, np.array([[1.0, 0.5, 0.0]]), np.array([[0.0, 1.0]]), norm)
    assert r[0] == pytest.approx(0.7 * math.exp(-0.25 * (0.25 + 10 * 0.25)) + 0.3, abs=1e-9)


def test_speed_reward_is_steering_without_facing():
    task = SpeedTask(1)
    task.set_goal(0, direction=0.0, speed=2.0)
    r = task.reward(state(vel=(1.0, 0.5), yaw=2.0))  # facing does not matter
    assert r[0] == pytest.approx(math.exp(-0.25 * (1.0 + 0.1 * 0.25)), abs=1e-9)
    assert task.reward(state(vel=(0.0, 1.0)))[0] == 0.0  # v.d <= 0


def test_location_reward_by_hand():
    cfg = LocationConfig()
    root = np.array([[0.0, 0.0, 0.9]])
    vel = np.array([[0.3, 0.4, 0.0]])  # 0.5 m/s towards (3, 4)
    r = location_reward(np.array([[3.0, 4.0]]), root, vel, np.array([[1.0, 0.0]]), cfg)
    assert r[0] == pytest.approx(0.5 * math.exp(-12.5) + 0.4 * math.exp(-4 * 0.25) + 0.1 * 0.6, abs=1e-9)
    r = location_reward(np.array([[3.0, 4.0]]), root, -vel, np.array([[-1.0, 0.0]]), cfg)  # away, facing away
    assert r[0] == pytest.approx(0.5 * math.exp(-12.5), abs=1e-12)
    r = location_reward(np.array([[0.3, 0.4]]), root, -vel, np.array([[-1.0, 0.0]]), cfg)  # d^2 = 0.25 < 0.5
    assert r[0] == pytest.approx(0.5 * math.exp(-0.125) + 0.4 + 0.1, abs=1e-9)
    # faster than 1 m/s costs nothing: max(1 - v.u, 0)
    r = location_reward(np.array([[3.0, 4.0]]), root, 4 * vel, np.array([[0.6, 0.8]]), cfg)
    assert r[0] == pytest.approx(0.5 * math.exp(-12.5) + 0.4 + 0.1, abs=1e-9)


def test_reach_reward_by_hand():
    r = reach_reward(np.array([[0.5, 0.0, 1.0]]), np.array([[0.5, 0.3, 1.4]]), ReachConfig())
    assert r[0] == pytest.approx(math.exp(-1.0), abs=1e-12)


def test_strike_reward_by_hand():
    cfg, root, vel = StrikeConfig(), np.array([[0.0, 0.0, 0.9]]), np.array([[0.5, 0.0, 0.0]])
    box = np.array([[2.0, 0.0, 0.9]])
    upright = np.array([[1.0, 0.0, 0.0, 0.0]])
    assert strike_reward(box, upright, root, vel, cfg)[0] == pytest.approx(0.4 * math.exp(-1.0), abs=1e-9)
    tilt60 = quat_from_axis_angle(np.array([1.0, 0, 0]), np.array([math.radians(60)]))  # up.z = 0.5
    assert strike_reward(box, tilt60, root, vel, cfg)[0] == pytest.approx(0.6 * 0.5 + 0.4 * math.exp(-1.0), abs=1e-9)
    tilt80 = quat_from_axis_angle(np.array([0, 1.0, 0]), np.array([math.radians(80)]))  # up.z = 0.17 < 0.2
    assert strike_reward(box, tilt80, root, -vel, cfg)[0] == 1.0


def test_strike_failure_needs_a_push_and_an_illegal_contact():
    from sim.character import load_character

    ch = load_character("humanoid")
    task = make_task("strike", 1)
    task.bind(ch)
    st = state(target=prop([1.0, 0.0, 0.9], push=5.0))
    st.contact[0, ch.body_index("right_hand")] = 10.0
    st.contact[0, ch.body_index("left_foot")] = 400.0
    assert not task.failed(st)[0]  # striking with the right hand, standing on the feet
    st.contact[0, ch.body_index("torso")] = 10.0
    assert task.failed(st)[0]  # shoulder-charging the box
    st.target.push[:] = 0.5
    assert not task.failed(st)[0]  # torso touching something, the box not pushed


# ---------------------------------------------------------------------------------------------- observations
def scene_states(task_name: str, yaw: float, shift=(0.0, 0.0)):
    """The same scene (character, goal, box) rotated about z by yaw and shifted: the goal seen from the root
    must not change. Returns (task, state) with the goal set from outside."""
    from sim.character import load_character

    c, s = math.cos(yaw), math.sin(yaw)
    rot = np.array([[c, -s], [s, c]])

    def w(xy):  # a point of the reference scene in the world
        return rot @ np.asarray(xy, dtype=np.float64) + np.asarray(shift)

    task = make_task(task_name, 1)
    task.bind(load_character("humanoid"))
    target = None
    if task_name == "strike":
        box_rot = yaw_quat(yaw + 0.3)
        target = PropState(np.array([[*w([2.0, 1.0]), 0.9]]), box_rot, np.array([[*(rot @ [0.2, 0.1]), 0.05]]),
                           np.array([[0.0, 0.0, 0.4]]), np.zeros(1))  # fmt: skip
    st = state(root_xy=w([0.0, 0.0]), yaw=yaw + 0.5, target=target)
    goals = {
        "steering": dict(direction=yaw + 1.0, speed=1.2, facing=yaw - 2.0),
        "speed": dict(direction=yaw + 1.0, speed=2.0),
        "location": dict(target=w([3.0, -4.0])),
        "reach": dict(target=[*w([0.4, 0.2]), 1.3]),
        "strike": dict(pos=w([2.0, 1.0]), yaw=0.0),
    }[task_name]
    task.set_goal(0, **goals)
    return task, st


@pytest.mark.parametrize("name", sorted(TASKS))
def test_goal_observations_rotate_with_the_heading(name):
    task, st = scene_states(name, 0.0)
    obs0 = task.observe(st)
    assert obs0.shape == (1, task.goal_dim) and obs0.dtype == np.float32
    assert task.goal_layout()["size"] == task.goal_dim
    for yaw, shift in ((0.7, (0.0, 0.0)), (-2.5, (4.0, -3.0))):
        task, st = scene_states(name, yaw, shift)
        np.testing.assert_allclose(task.observe(st), obs0, atol=1e-5)  # the same scene seen from the root
    # turning only the character changes what it sees
    task, st = scene_states(name, 0.0)
    st.root_rot = yaw_quat(1.0)
    assert not np.allclose(task.observe(st), obs0, atol=1e-3)


def test_goal_observation_values():
    task, st = make_task("location", 1), state(yaw=math.pi / 2)  # facing +y
    task.set_goal(0, target=[1.0, 0.0])
    np.testing.assert_allclose(task.observe(st), [[0.0, -1.0]], atol=1e-6)  # to its right
    task = make_task("steering", 1)
    task.set_goal(0, direction=math.pi / 2, speed=1.5, facing=math.pi)
    np.testing.assert_allclose(task.observe(st), [[1.0, 0.0, 1.5, 0.0, 1.0]], atol=1e-6)
    task = make_task("reach", 1)
    task.set_goal(0, target=[0.0, 1.0, 1.5])
    np.testing.assert_allclose(task.observe(st), [[1.0, 0.0, 0.6]], atol=1e-6)  # relative to the root


# ---------------------------------------------------------------------------------------------- goals
def test_goal_schedule_redraws_on_the_llc_clock_and_pins_external_goals():
    rng = np.random.default_rng(0)
    sched = GoalSchedule(3, (2, 4))
    assert list(sched.on_reset(np.arange(3), rng)) == [0, 1, 2]
    sched.pin(np.array([1]))
    drawn = [sched.on_step(rng) for _ in range(40)]
    counts = np.bincount(np.concatenate(drawn), minlength=3)
    assert counts[1] == 0 and 10 <= counts[0] <= 20 and 10 <= counts[2] <= 20  # every 2-3 steps
    assert list(sched.on_reset(np.array([0, 1]), rng)) == [0]
    sched.release(np.array([1]))
    assert 1 in np.concatenate([sched.on_step(rng) for _ in range(4)])


def test_task_options_are_checked():
    assert task_config("steering", {"speed_range": [0.5, 2.0]}).speed_range == (0.5, 2.0)
    with pytest.raises(ValueError, match="no option speeed"):
        task_config("steering", {"speeed": 1})
    with pytest.raises(ValueError, match="unknown task"):
        make_task("dance", 2)


# ---------------------------------------------------------------------------------------------- TaskEnv
def task_env(llc, task="steering", n=4, **kw):
    from tasks.env import TaskEnv, TaskEnvConfig

    return TaskEnv(TaskEnvConfig(task=task, num_envs=n, seed=0, nthread=1, **kw), llc)


class SpyLLC:
    """The tiny LLC, recording every latent it is given."""

    def __init__(self, llc):
        self.llc, self.latents = llc, []
        self.character, self.obs_dim, self.latent_dim = llc.character, llc.obs_dim, llc.latent_dim

    def act(self, obs, z):
        self.latents.append(np.array(z, copy=True))
        return self.llc.act(obs, z)

    def disc_reward(self, window):
        return self.llc.disc_reward(window)


def test_latent_is_unit_and_held_for_five_llc_steps(tiny_llc):
    spy = SpyLLC(tiny_llc)
    env = task_env(spy)
    env.reset()
    rng = np.random.default_rng(0)
    actions = [rng.normal(0, 2.0, (4, 64)) for _ in range(3)]  # far outside [-1, 1]: clamped, then normalized
    for a in actions:
        env.step(a)
    assert len(spy.latents) == 15
    for k, a in enumerate(actions):
        held = spy.latents[5 * k : 5 * k + 5]
        expected = np.clip(a, -1, 1) / np.linalg.norm(np.clip(a, -1, 1), axis=1, keepdims=True)
        for z in held:
            np.testing.assert_array_equal(z, held[0])
            np.testing.assert_allclose(z, expected, atol=1e-6)
            np.testing.assert_allclose(np.linalg.norm(z, axis=1), 1.0, atol=1e-6)
    assert not np.allclose(spy.latents[4], spy.latents[5])


def test_reward_is_the_weighted_mean_over_llc_steps_and_done_if_any_step_was(tiny_llc):
    env = task_env(tiny_llc, n=3)
    env.reset()
    per_step = iter(np.arange(1.0, 100.0))
    env.task.reward = lambda st: np.full(3, next(per_step))  # 1, 2, 3, 4, 5 over the first HLC step
    failures = iter([False, True, False, False, False])
    env.task.failed = lambda st: np.array([next(failures), False, False])  # env 0 fails at LLC step 2
    res = env.step(np.ones((3, 64)))
    np.testing.assert_allclose(res.info["task_reward"], 3.0)
    np.testing.assert_allclose(res.reward, 0.9 * 3.0 + 0.1 * res.info["style_reward"], atol=1e-12)
    assert res.info["style_reward"].shape == (3,) and (res.info["style_reward"] > 0).all()
    assert list(res.terminated) == [True, False, False] and not res.truncated.any()
    assert list(res.info["failed"]) == [True, False, False]
    assert env.env.progress[0] == 0 and env.env.progress[1] == 5  # env 0 restarted after the HLC step


def test_episodes_last_300_llc_steps_from_the_default_pose(tiny_llc):
    env = task_env(tiny_llc, n=2, early_termination=False)
    obs = env.reset()
    assert obs.shape == (2, env.env.obs_dim + 5)
    np.testing.assert_allclose(env.state.root_pos[:, :2], 0.0, atol=1e-9)
    dones = [env.step(np.ones((2, 64))).done.copy() for _ in range(60)]
    assert not np.any(dones[:59]) and dones[59].all()  # 60 decisions
    assert (env.env.progress == 0).all()


def test_external_goals_override_sampled_ones(tiny_llc):
    env = task_env(tiny_llc, task="location", n=3, episode_steps=30)  # episodes of 6 HLC steps
    env.reset()
    env.set_goal(1, target=[2.0, -3.0])
    before = env.task.target.copy()
    for _ in range(45):  # 225 LLC steps: past redraws (100-199 steps) and several episode starts
        env.step(np.ones((3, 64)))
    np.testing.assert_array_equal(env.task.target[1], [2.0, -3.0])
    assert not np.allclose(env.task.target[[0, 2]], before[[0, 2]])
    obs = env.observe()
    expected = env.task.observe(env.state)[1]
    np.testing.assert_allclose(obs[1, -2:], expected)
    env.release_goal(1)
    for _ in range(45):
        env.step(np.ones((3, 64)))
    assert not np.allclose(env.task.target[1], [2.0, -3.0])


def test_strike_box_is_a_real_body_and_tipping_is_detected(tiny_llc):
    env = task_env(tiny_llc, task="strike", n=2, early_termination=False)
    m = env.env.model
    body = m.body("strike_target")
    geom = m.geom(m.body_geomadr[body.id])
    np.testing.assert_allclose(geom.size, [0.2, 0.2, 0.9])  # 0.4 x 0.4 x 1.8 m
    assert m.body_mass[body.id] == pytest.approx(0.4 * 0.4 * 1.8 * 30.0)  # density 30
    env.reset()
    dist = np.linalg.norm(env.state.target.pos[:, :2] - env.state.root_pos[:, :2], axis=1)
    assert ((dist >= 0.5) & (dist <= 10.0)).all()
    np.testing.assert_allclose(env.state.target.pos[:, 2], 0.9, atol=1e-6)
    assert not env.task.success(env.state).any()
    # a box leaning 30 degrees (past its 12.5 degree tipping point) 3 m away in env 0 falls over by itself
    env.set_goal(0, pos=[3.0, 0.0])
    tilt = quat_from_axis_angle(np.array([1.0, 0, 0]), np.array(math.radians(30)))
    leaning = [3.0, -0.9 * math.sin(math.radians(30)), 0.9 * math.cos(math.radians(30)) + 0.2 * 0.5]
    env.env.place_free_body(np.array([0]), "strike_target", np.array([leaning]), tilt[None])
    tipped, rewards = [], []
    for _ in range(12):  # 2 s
        res = env.step(np.ones((2, 64)))
        tipped.append(res.info["success"].copy())
        rewards.append(res.info["task_reward"].copy())
    tipped = np.array(tipped)
    assert tipped[-1, 0] and not tipped[:, 1].any()
    assert rewards[-1][0] == pytest.approx(1.0)
    assert env.state.target.pos[0, 2] < 0.5  # lying on the ground


def test_one_simulation_sees_the_same_goal_as_the_batch(tiny_llc):
    """The single-character core (the viewer's or a game's MjData) reads the same TaskState as TaskEnv, and the
    task driver built on it decides every `llc_steps` control steps."""
    from sim.single import SingleCharacter
    from tasks.single import HLCDriver

    env = task_env(tiny_llc, task="strike", n=2)
    env.reset()
    for _ in range(3):
        env.step(np.ones((2, 64)))
    data = env.env.get_data(1)
    sim = SingleCharacter(env.character, env.env.model)
    sim.reset(data.qpos, data.qvel)
    st = sim.task_state()
    np.testing.assert_allclose(env.task.observe(st)[0], env.observe()[1, -15:], atol=1e-4)
    np.testing.assert_allclose(st.body_pos[0], env.state.body_pos[1], atol=1e-9)
    np.testing.assert_allclose(st.target.pos[0], env.state.target.pos[1], atol=1e-9)

    class FixedHLC:
        task, task_config, calls = "strike", {}, 0

        def act(self, obs):
            self.calls += 1
            assert obs.shape == (1, env.obs_dim)
            return np.eye(1, 64, self.calls, dtype=np.float32)

    driver = HLCDriver(FixedHLC(), sim)
    zs = [driver.latent(env.env.obs[1]) for _ in range(11)]
    assert driver.hlc.calls == 3 and all(np.array_equal(zs[0], z) for z in zs[:5]) and zs[5][0, 2] == 1.0
