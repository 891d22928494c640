"""The HLC trainer: learning on a point-mass stand-in, a humanoid run with exact resume, checkpoints that refuse
another LLC, the command line."""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from controllers.checkpoint import CheckpointError, load_hlc, save_atomic, untrained_llc_checkpoint
from controllers.hlc import HLCActor, HLCNetworkConfig
from controllers.networks import NetworkConfig
from sim.control import latent_from_action
from tests.fakes import PointTaskEnv
from training.hlc import HLCTrainer, cpu_preset

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY_LLC = NetworkConfig(actor_hidden=(32, 16), critic_hidden=(32, 16), disc_hidden=(32, 16), style_hidden=(16,))
SMALL_HLC = HLCNetworkConfig(actor_hidden=(64, 64), critic_hidden=(64, 64))


def test_hlc_network_shapes_std_and_latents():
    actor = HLCActor(10, SMALL_HLC)
    mean = actor(torch.randn(100, 10) * 100)
    assert mean.shape == (100, 64) and mean.abs().max() <= 1.0  # tanh mean
    assert actor.log_std == -2.3 and HLCNetworkConfig.reference().actor_hidden == (1024, 512)
    assert HLCNetworkConfig.reference().critic_hidden == (1024, 512)
    a = torch.tensor([[3.0, -0.5] + [0.0] * 62])
    z = latent_from_action(a)
    assert torch.allclose(z[0, :2], torch.tensor([1.0, -0.5]) / math.sqrt(1.25))  # clamped, then normalized
    np.testing.assert_allclose(latent_from_action(a.numpy()), z.numpy(), atol=1e-7)
    b = torch.randn(256, 64, generator=torch.Generator().manual_seed(0)) * 2  # the torch formula of earlier runs
    assert torch.equal(latent_from_action(b), torch.nn.functional.normalize(b.clamp(-1.0, 1.0), dim=-1))


def test_hlc_learns_on_a_point_mass_stand_in():
    """Synthetic: a fixed linear map stands in for the LLC (tasks/, tests/fakes.py) and the real speed
    task gives the reward; the HLC must find the latents that move along the goal. The humanoid is too slow on
    a CPU for a learning check in seconds (the humanoid run below checks plumbing and exact resume)."""
    env = PointTaskEnv(32, seed=1)
    env.reset()
    rng = np.random.default_rng(0)
    random_latents = np.mean([env.step(rng.normal(size=(32, 64))).reward.mean() for _ in range(100)])
    cfg = cpu_preset(num_envs=32, horizon=16, minibatch_size=256, epochs=4, lr=3e-3, network=SMALL_HLC,
                     task="speed", character="fake")  # fmt: skip
    trainer = HLCTrainer(cfg, PointTaskEnv(32))
    rewards = [trainer.train_iteration()["reward/task"] for _ in range(60)]
    trained = np.mean(rewards[-5:])
    print(f"speed task reward: random latents {random_latents:.3f}, after 60 iterations {trained:.3f}")
    assert trained > random_latents + 0.2, (random_latents, rewards)


def test_the_sample_budget_holds_when_a_run_resumes_on_another_number_of_processes():
    """The budget is in samples: a run stopped after 2547 iterations of 2048 samples (one process) and resumed
    under torchrun x2 (4096 per iteration) trains the rest of it, rather than stopping at once."""
    from training.ppo import budget_end

    assert budget_end(0, 0, 10_000, 2048) == 5
    assert budget_end(2547, 2547 * 2048, 10_000_000, 4096) == 2547 + math.ceil((10_000_000 - 2547 * 2048) / 4096)
    assert budget_end(9, 20_000, 10_000, 2048) == 9  # past the budget: nothing left
    cfg = cpu_preset(num_envs=32, horizon=16, minibatch_size=256, network=SMALL_HLC, task="speed", character="fake",
                     total_samples=10_000)  # fmt: skip
    trainer = HLCTrainer(cfg, PointTaskEnv(32))
    assert trainer.total_iterations == 20  # 512 samples per iteration
    trainer.iteration, trainer.global_step = 4, 4 * 2048  # as if 4 iterations ran on four processes
    assert trainer.total_iterations == 4 + 4


# ---------------------------------------------------------------------------------------------- the humanoid
@pytest.fixture(scope="module")
def llc_file(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("llc") / "llc.pt"
    save_atomic(untrained_llc_checkpoint("humanoid", TINY_LLC), path)
    return path


def humanoid_trainer(llc_file: Path, task: str = "strike"):
    from controllers.checkpoint import load_llc
    from controllers.files import sha256_file
    from tasks.env import TaskEnv

    cfg = cpu_preset(num_envs=4, horizon=4, minibatch_size=8, epochs=2, network=SMALL_HLC, task=task,
                     llc=str(llc_file), llc_sha256=sha256_file(llc_file), checkpoint_every=1)  # fmt: skip
    return HLCTrainer(cfg, TaskEnv(cfg.env_config(), load_llc(llc_file)))


def comparable(stats: dict) -> dict:
    return {k: "nan" if math.isnan(v) else v for k, v in stats.items() if not k.startswith("perf/")}


def test_humanoid_hlc_run_resumes_exactly(tmp_path, llc_file):
    a = humanoid_trainer(llc_file)
    stats_a: dict[int, dict] = {}
    a.train(3, tmp_path / "a", progress=False, on_iteration=lambda i, s: stats_a.__setitem__(i, s))
    for key in ("reward/task", "reward/style", "task/success", "loss/critic", "ppo/clip_frac"):
        assert math.isfinite(stats_a[3][key]), key
    assert (tmp_path / "a" / "hlc.pt").is_file() and list((tmp_path / "a" / "tb").glob("events.*"))

    b = humanoid_trainer(llc_file)
    b.train(2, tmp_path / "b", progress=False)
    c = humanoid_trainer(llc_file)
    c.env.reset()
    c.load(tmp_path / "b" / "checkpoint.pt")
    stats_c: dict[int, dict] = {}
    c.train(3, None, progress=False, on_iteration=lambda i, s: stats_c.__setitem__(i, s))
    assert comparable(stats_a[3]) == comparable(stats_c[3])
    for name in ("actor", "critic", "obs_norm", "value_norm"):
        sa, sc = getattr(a, name).state_dict(), getattr(c, name).state_dict()
        assert all(torch.equal(sa[k], sc[k]) for k in sa), name
    np.testing.assert_array_equal(a.env.state.target.pos, c.env.state.target.pos)  # the box too


def test_hlc_checkpoint_refuses_another_llc(tmp_path, llc_file):
    trainer = humanoid_trainer(llc_file, task="location")
    trainer.save(tmp_path / "hlc.pt", inference_only=True)
    hlc, llc = load_hlc(tmp_path / "hlc.pt")
    assert hlc.task == "location" and hlc.goal_layout["size"] == 2 and llc.character == "humanoid"
    obs = trainer.env.reset()
    z = hlc.act(obs)
    np.testing.assert_allclose(np.linalg.norm(z, axis=1), 1.0, atol=1e-6)
    torch.manual_seed(1)
    other = save_atomic(untrained_llc_checkpoint("humanoid", TINY_LLC), tmp_path / "other.pt")
    with pytest.raises(CheckpointError) as err:
        load_hlc(tmp_path / "hlc.pt", other)
    msg = str(err.value)
    assert "\n" not in msg and "hlc.pt" in msg and "allow_other_llc" in msg
    assert load_hlc(tmp_path / "hlc.pt", other, allow_other_llc=True)[0].task == "location"
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_hlc(tmp_path / "missing.pt")


def test_an_hlc_finds_its_llc_renamed_beside_it_by_sha(tmp_path, llc_file):
    """Bundling renames files: an HLC whose recorded LLC path is gone, or holds another LLC now, loads the LLC
    beside it with the recorded SHA-256, never another one."""
    import shutil

    from controllers.checkpoint import read_checkpoint, recorded_llc_path

    shutil.copy(llc_file, tmp_path / "trained_on.pt")
    humanoid_trainer(tmp_path / "trained_on.pt", task="location").save(tmp_path / "run_hlc.pt", inference_only=True)
    (tmp_path / "trained_on.pt").unlink()
    (tmp_path / "moved").mkdir()
    shutil.copy(tmp_path / "run_hlc.pt", tmp_path / "moved" / "hlc.pt")
    torch.manual_seed(2)
    save_atomic(untrained_llc_checkpoint("humanoid", TINY_LLC), tmp_path / "moved" / "llc_a.pt")  # first by name
    shutil.copy(llc_file, tmp_path / "moved" / "llc_b.pt")
    ckpt = read_checkpoint(tmp_path / "run_hlc.pt", "hlc")
    assert recorded_llc_path(tmp_path / "moved" / "hlc.pt", ckpt).name == "llc_b.pt"
    assert load_hlc(tmp_path / "moved" / "hlc.pt")[0].task == "location"
    with pytest.raises(CheckpointError, match="does not exist"):  # none with that SHA-256: the recorded name
        load_hlc(tmp_path / "run_hlc.pt")
    # a new LLC promoted to the recorded name: the renamed old one is still found
    shutil.copy(tmp_path / "moved" / "llc_a.pt", tmp_path / "moved" / "trained_on.pt")
    assert recorded_llc_path(tmp_path / "moved" / "hlc.pt", ckpt).name == "llc_b.pt"
    with pytest.raises(CheckpointError, match="its own LLC is .*llc_b.pt"):  # given the other one: named
        load_hlc(tmp_path / "moved" / "hlc.pt", tmp_path / "moved" / "trained_on.pt")
    (tmp_path / "moved" / "llc_b.pt").unlink()  # and gone: the file under the recorded name is refused, by name
    with pytest.raises(CheckpointError, match="trained_on.pt is"):
        load_hlc(tmp_path / "moved" / "hlc.pt")


def test_cli_trains_resumes_and_checks_the_llc(tmp_path, llc_file, capsys):
    from training.cli import main

    out = tmp_path / "run"
    args = ["hlc", "--task", "reach", "--llc", str(llc_file), "--envs", "2", "--out", str(out), "--no-progress"]
    assert main([*args, "--hidden", "16,16", "--iterations", "1", "--task-option", "height_range=0.5,1.5"]) == 0
    assert (out / "checkpoint.pt").is_file() and (out / "hlc.pt").is_file()
    assert main(["hlc", "--resume", str(out / "checkpoint.pt"), "--iterations", "2", "--no-progress"]) == 0
    assert "resumed" in capsys.readouterr().out
    ckpt = torch.load(out / "checkpoint.pt", weights_only=True)
    assert ckpt["train"]["iteration"] == 2 and ckpt["task"] == "reach"
    assert tuple(ckpt["task_config"]["height_range"]) == (0.5, 1.5)
    torch.manual_seed(2)
    other = save_atomic(untrained_llc_checkpoint("humanoid", TINY_LLC), tmp_path / "other.pt")
    resume = ["hlc", "--resume", str(out / "checkpoint.pt"), "--iterations", "3", "--no-progress", "--llc", str(other)]
    assert main(resume) == 2
    assert "--allow-other-llc" in capsys.readouterr().err
    assert main(["hlc"]) == 2
    assert "--task" in capsys.readouterr().err
    assert main(["hlc", "--task", "reach", "--llc", str(tmp_path / "nope.pt")]) == 2
    assert "nope.pt: no such checkpoint file" in capsys.readouterr().err
    assert main(["hlc", "--resume", str(out / "checkpoint.pt"), "--envs", "8"]) == 2
    assert "cannot change on resume" in capsys.readouterr().err


def test_warm_start_carries_the_llc_observation_and_the_goal_position(tmp_path, llc_file, capsys):
    """A strike run started from a location controller: every weight is the source's except the first layers'
    goal columns, where location's target xy lands on the box's xy and strike's other goal inputs start at
    zero; the normalizer follows the same columns. Mismatches are one-line errors."""
    from training.cli import main

    src = humanoid_trainer(llc_file, task="location")
    src.train(1, tmp_path / "loc", progress=False)
    dst = humanoid_trainer(llc_file, task="strike")
    line = dst.warm_start(tmp_path / "loc" / "checkpoint.pt")
    assert "(location): actor and critic" in line and "target_xy -> target_pos" in line
    p = src.env.obs_dim - 2  # the LLC observation; location's goal: target xy; strike's: 15 numbers
    assert dst.env.obs_dim == p + 15
    for name in ("actor", "critic"):
        s, d = getattr(src, name).state_dict(), getattr(dst, name).state_dict()
        w_s, w_d = s.pop("trunk.0.weight"), d.pop("trunk.0.weight")
        assert torch.equal(w_d[:, :p], w_s[:, :p]) and torch.equal(w_d[:, p : p + 2], w_s[:, p:])
        assert not w_d[:, p + 2 :].any()
        assert all(torch.equal(s[k], d[k]) for k in s), name
    assert torch.equal(dst.obs_norm.mean[: p + 2], src.obs_norm.mean) and not dst.obs_norm.mean[p + 2 :].any()
    assert torch.equal(dst.obs_norm.var[: p + 2], src.obs_norm.var) and (dst.obs_norm.var[p + 2 :] == 1).all()
    assert torch.equal(dst.obs_norm.count, src.obs_norm.count)
    # critic warm-up: the first iterations move the critic only; then both train
    dst.cfg.critic_warmup = 1
    actor0, critic0 = ([q.clone() for q in net.parameters()] for net in (dst.actor, dst.critic))
    dst.train(1, tmp_path / "strike", progress=False)
    assert all(torch.equal(a, b) for a, b in zip(actor0, dst.actor.parameters(), strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(critic0, dst.critic.parameters(), strict=True))
    dst.train(2, tmp_path / "strike", progress=False)
    assert not all(torch.equal(a, b) for a, b in zip(actor0, dst.actor.parameters(), strict=True))
    ckpt = torch.load(tmp_path / "strike" / "hlc.pt", weights_only=True)  # it says where it started
    assert ckpt["config"]["init_from"] == str(tmp_path / "loc" / "checkpoint.pt")

    # a controller of the same task carries over whole (fine-tuning it, e.g. on new demonstrations)
    again = humanoid_trainer(llc_file, task="strike")
    assert "and the whole goal" in again.warm_start(tmp_path / "strike" / "checkpoint.pt")
    assert all(torch.equal(a, b) for a, b in zip(again.actor.parameters(), dst.actor.parameters(), strict=True))
    assert torch.equal(again.obs_norm.mean, dst.obs_norm.mean)
    # steering shares no goal input with location: only the LLC observation carries over
    assert humanoid_trainer(llc_file, task="steering").warm_start(tmp_path / "loc" / "hlc.pt").endswith("observation")
    # speed's goal is steering's direction and speed: those columns carry over, facing's do not
    steering = humanoid_trainer(llc_file, task="steering")
    steering.save(tmp_path / "steering.pt")
    speed = humanoid_trainer(llc_file, task="speed")
    assert speed.warm_start(tmp_path / "steering.pt").endswith("the goal's target_direction, target_speed")
    for name in ("actor", "critic"):
        w_s, w_d = (getattr(t, name).state_dict()["trunk.0.weight"] for t in (steering, speed))
        assert torch.equal(w_d, w_s[:, : p + 3])
    args = ["hlc", "--task", "strike", "--llc", str(llc_file), "--envs", "2", "--no-progress", "--iterations", "1"]
    assert main([*args, "--out", str(tmp_path / "x"), "--init-from", str(tmp_path / "loc" / "checkpoint.pt")]) == 2
    assert "networks (64, 64)/(64, 64), this run (512, 256)/(512, 256) (--hidden)" in capsys.readouterr().err
    torch.manual_seed(3)
    other = save_atomic(untrained_llc_checkpoint("humanoid", TINY_LLC), tmp_path / "other.pt")
    args = [*args, "--hidden", "64,64", "--out", str(tmp_path / "y"), "--init-from", str(tmp_path / "loc" / "hlc.pt")]
    assert main([*args[:4], str(other), *args[5:]]) == 2
    assert "trained on another LLC" in capsys.readouterr().err
    assert main([*args, "--resume", str(tmp_path / "loc" / "checkpoint.pt")]) == 2
    assert "--init-from starts a new run" in capsys.readouterr().err
    assert main(args) == 0 and "started from" in capsys.readouterr().out
    assert torch.load(tmp_path / "y" / "checkpoint.pt", weights_only=True)["config"]["critic_warmup"] == 10


def test_eval_hlc_reports_task_metrics_beside_random_latents(tmp_path, llc_file, capsys):
    from evaluation.cli import main as eval_main
    from evaluation.tasks import TaskEvalConfig, evaluate_hlc, table

    velocity = {"speeds": (1.0,), "measure_seconds": 0.5}  # steering's and speed's own eval options
    cases = (
        ("steering", "direction_error_deg", 0.5, velocity),
        ("location", "success", 1.0, {}),
        ("reach", "distance", 0.5, {}),
        ("strike", "success", 1.0, {}),
        ("speed", "speed_error", 0.5, velocity),
    )
    for task, key, seconds, options in cases:
        trainer = humanoid_trainer(llc_file, task=task)
        trainer.save(tmp_path / f"{task}.pt", inference_only=True)
        short = TaskEvalConfig(num_envs=2, seconds=seconds, options=options)
        res = evaluate_hlc(*load_hlc(tmp_path / f"{task}.pt"), short)
        assert math.isfinite(res["hlc"][key]) and math.isfinite(res["random_latents"][key]), task
        assert table(res).startswith(f"task: {task}")
    assert eval_main(["--hlc", str(tmp_path / "reach.pt"), "--envs", "2", "--json", str(tmp_path / "e.json")]) == 0
    assert "distance after 2 s" in capsys.readouterr().out and (tmp_path / "e.json").is_file()
    # judged under other task settings than it was trained with (a strike controller trained without fouls)
    args = ["--hlc", str(tmp_path / "strike.pt"), "--envs", "2", "--json", str(tmp_path / "s.json")]
    assert eval_main([*args, "--task-option", "fail_on_illegal_contact=0"]) == 0
    assert "fail_on_illegal_contact True -> 0" in capsys.readouterr().out
    assert json.loads((tmp_path / "s.json").read_text())["results"]["task_config"]["fail_on_illegal_contact"] == 0
    assert eval_main([*args, "--task-option", "bogus=1"]) == 2
    assert "--task-option: task 'strike' has no option bogus" in capsys.readouterr().err
    assert eval_main(["--latent-search", "strike", "--task-option", "fail_on_illegal_contact=0"]) == 2
    assert "it goes with --hlc" in capsys.readouterr().err


def test_direction_errors_split_left_right_and_keep_the_sign():
    """Targets at +90 deg (left) and -90 deg (right): headings 10 deg left of the first and 30 deg right of
    the second give errors 10 and 30, signed +10 and -30."""
    from tasks.steering import direction_errors

    directions = np.array([math.pi / 2, -math.pi / 2])
    headings = directions + np.radians([10.0, -30.0])
    vel = 1.3 * np.stack([np.cos(headings), np.sin(headings)], axis=1)
    e = direction_errors(directions, vel)
    assert e["direction_error_deg"] == pytest.approx(20.0)
    assert e["direction_error_left_deg"] == pytest.approx(10.0)
    assert e["direction_error_right_deg"] == pytest.approx(30.0)
    assert e["direction_bias_deg"] == pytest.approx(-10.0)
    assert e["direction_error_p90_deg"] == pytest.approx(28.0)  # numpy's linear interpolation: 10 + 0.9 * 20
    backwards = direction_errors(np.array([0.0]), np.array([[-1.0, 1e-9]]))  # walking away: 180 deg off
    assert backwards["direction_error_deg"] == pytest.approx(180.0)
    assert math.isnan(backwards["direction_error_left_deg"])  # no target to the left


def test_strike_eval_counts_a_tip_after_a_foul_as_no_success():
    """A foul (the box pushed during an illegal contact) before or in the same HLC step as the tipping
    takes the success away, as it ends a training episode; tipped and fouled are reported beside it."""
    from types import SimpleNamespace

    from tasks.strike import StrikeTask

    n = 4
    # per HLC step (1-based): tipped (a tipped box stays down) and fouled
    tipped_from, fouled_at = np.array([2, 3, 2, 99]), np.array([0, 1, 2, 0])

    class ScriptedStrikeEnv:
        num_envs, control_dt = n, 1.0 / 30.0
        cfg = SimpleNamespace(llc_steps=5)
        env = SimpleNamespace(fallen=lambda: np.zeros(n, dtype=bool))
        state = None
        t = 0

        def reset(self):
            self.t = 0

        def set_goal(self, ids, **goal):
            pass

        def observe(self):
            return np.zeros((n, 1))

        def step(self, actions):
            self.t += 1
            info = {"task_reward": np.zeros(n), "success": self.t >= tipped_from, "failed": self.t == fouled_at}
            return SimpleNamespace(obs=self.observe(), info=info)

    policy = SimpleNamespace(act=lambda obs: np.zeros((n, 64)))
    task = StrikeTask(n)
    task.sample = lambda ids, state, rng: None  # the script places nothing
    res = task.evaluate(policy, ScriptedStrikeEnv(), seconds=1.0, seed=0)
    assert res["success"] == 0.25  # env 0 only: env 1 fouled first, env 2 fouled in the tipping step
    assert res["tipped"] == 0.75 and res["fouled"] == 0.5
    assert res["median_seconds"] == pytest.approx(2 * 5 / 30)


def test_bundled_task_controllers_go_with_the_bundled_llc_and_carry_their_eval():
    """Every checkpoints/hlc_<task>.pt loads with a bundled LLC (checkpoints/llc*.pt, found by its recorded
    SHA-256; most with llc.pt), is one task, and has its eval beside it (hlc_<task>.json from `launch.py eval
    --hlc ... --json`), measured on that pair."""
    import json

    from app.session import bundled_llcs
    from tasks import TASKS

    root = Path(__file__).resolve().parents[1] / "checkpoints"
    bundled = sorted(p for p in root.glob("hlc_*.pt") if not p.name.endswith("_state.pt"))
    assert bundled, "no task controllers in checkpoints/"
    llcs = bundled_llcs()
    for path in bundled:
        hlc, _ = load_hlc(path)  # the recorded LLC, else the bundled file with its SHA-256
        assert hlc.llc["sha256"] in llcs, f"{path.name}: its LLC is not bundled"
        assert path.name == f"hlc_{hlc.task}.pt" and hlc.task in TASKS
        results = json.loads(path.with_suffix(".json").read_text())["results"]
        assert results["task"] == hlc.task and results["llc"]["sha256"] == hlc.llc["sha256"], path.name
        assert Path(results["checkpoint"]).name == path.name and results["hlc"] and results["random_latents"]


# ---------------------------------------------------------------------------------------------- demonstrations
def point_expert(env: PointTaskEnv, obs: np.ndarray) -> np.ndarray:
    """The speed task's answer on the point stand-in: the unit latent whose velocity is the goal's (its
    least-norm solution plus a fixed null-space direction that makes it unit length)."""
    goal_local = obs[:, 2:4] * obs[:, 4:5]  # direction in the heading frame times the target speed
    least = goal_local @ np.linalg.pinv(env.llc_map).T
    null = np.linalg.svd(env.llc_map)[2][-1]  # llc_map @ null = 0
    z = least + np.sqrt(np.clip(1 - (least**2).sum(1, keepdims=True), 0, None)) * null
    return 0.9 * z / np.abs(z).max(axis=1, keepdims=True)


def mean_task_reward(env: PointTaskEnv, policy, steps: int = 40) -> float:
    obs, total = env.reset(), 0.0
    for _ in range(steps):
        res = env.step(policy(obs))
        obs, total = res.obs, total + res.reward.mean()
    return total / steps


def test_imitate_fits_the_actor_to_demonstrations_then_ppo_goes_on():
    """Behaviour cloning on the point stand-in: demonstrations of the expert's latents, the fitted actor's mean
    then does the task about as well as the expert and far better than random latents."""
    from controllers.demos import Demos

    env = PointTaskEnv(32, seed=2)
    demos, obs = Demos(), env.reset()
    for _ in range(6):  # sequences of 8 steps
        o, a = [], []
        for _ in range(8):
            act = point_expert(env, obs)
            o.append(obs), a.append(act)
            obs = env.step(act).obs
        for j in range(env.num_envs):
            demos.obs.append(np.stack(o)[:, j]), demos.actions.append(np.stack(a)[:, j].astype(np.float32))
    arrays = demos.arrays(env.obs_dim, env.action_dim)
    meta = {"task": "speed", "obs_dim": env.obs_dim, "action_dim": env.action_dim}
    assert len(arrays["obs"]) == 6 * 8 * 32 and arrays["episode"].max() == 6 * 32 - 1

    cfg = cpu_preset(num_envs=32, horizon=16, minibatch_size=256, network=SMALL_HLC, task="speed", character="fake")
    trainer = HLCTrainer(cfg, PointTaskEnv(32))
    count0 = float(trainer.obs_norm.count)
    fit = trainer.imitate(arrays, meta, steps=400)
    # the normalizer saw 4 rollouts (what training sees) and the demonstrations
    assert float(trainer.obs_norm.count) == count0 + 4 * cfg.batch_size + len(arrays["obs"])
    assert fit["fit_cos"] > 0.95 and fit["holdout_cos"] > 0.9, fit

    def policy(o: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return trainer.actor(trainer.obs_norm(torch.as_tensor(o))).numpy()

    rng = np.random.default_rng(0)
    random_r = mean_task_reward(PointTaskEnv(32, seed=5), lambda o: rng.normal(size=(len(o), 64)))
    expert_r = mean_task_reward(PointTaskEnv(32, seed=5), lambda o: point_expert(env, o))
    cloned_r = mean_task_reward(PointTaskEnv(32, seed=5), policy)
    print(f"task reward: random {random_r:.3f}, expert {expert_r:.3f}, cloned {cloned_r:.3f}")
    assert cloned_r > random_r + 0.3 and cloned_r > 0.8 * expert_r
    assert trainer.train_iteration()["bc/weight"] == 0.0  # PPO takes it from there
    # the behaviour-cloning term in the PPO loss: its weight falls linearly over bc_anneal samples
    trainer.cfg.bc_coef, trainer.cfg.bc_anneal = 2.0, 4 * trainer.cfg.batch_size
    stats = trainer.train_iteration()
    assert stats["bc/weight"] == pytest.approx(2.0 * 3 / 4) and stats["loss/bc"] > 0
    assert trainer.bc_weight() == pytest.approx(1.0)
    trainer.global_step = 10 * trainer.cfg.batch_size
    assert trainer.bc_weight() == 0.0

    for bad, msg in (({**meta, "task": "strike"}, "demonstrations of task 'strike'"),
                     ({**meta, "obs_dim": 3}, "observe and act in 3 and 64 numbers, this run 5 and 64"),
                     ({**meta, "llc_sha256": "ab" * 32}, None)):  # fmt: skip
        if msg is None:  # another LLC's demonstrations: refused once the run knows its LLC
            trainer.cfg.llc_sha256 = "cd" * 32
            msg = "played on another LLC"
        with pytest.raises(ValueError, match=msg):
            trainer.imitate(arrays, bad, steps=1)


def test_demos_file_round_trip_and_clear_errors(tmp_path):
    from controllers.demos import DemoError, Demos, load_demos

    demos = Demos()
    out = {"obs": np.arange(3 * 2 * 4, dtype=np.float32).reshape(3, 2, 4), "t_success": np.array([1.0, np.inf])}
    actions = np.ones((3, 2, 5))
    assert demos.add(out, actions, np.array([1, 0]), limit=4) == 1  # only sequence 0 succeeded, at step 1
    demos.goals = 1
    meta = {"task": "strike", "obs_dim": 4, "action_dim": 5, "llc_sha256": "x"}
    path = demos.save(tmp_path / "d.npz", meta)
    arrays, got = load_demos(path)
    assert np.array_equal(arrays["obs"], out["obs"][:2, 0]) and arrays["actions"].shape == (2, 5)
    assert got["goals"] == 1 and got["sequences"] == 1 and got["task"] == "strike"
    back = Demos.from_arrays(arrays, goals=1)
    assert back.sequences == 1 and np.array_equal(back.obs[0], demos.obs[0]) and back.goals == 1
    assert not list(tmp_path.glob("*.tmp"))

    with pytest.raises(DemoError, match="no such demonstrations file"):
        load_demos(tmp_path / "none.npz")
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(DemoError, match="bad.npz: not a demonstrations file"):
        load_demos(tmp_path / "bad.npz")
    empty = Demos().save(tmp_path / "empty.npz", meta)
    with pytest.raises(DemoError, match="holds no demonstrations"):
        load_demos(empty)
    assert len(load_demos(empty, allow_empty=True)[0]["obs"]) == 0
    head = np.array('{"task": "strike", "obs_dim": 4, "action_dim": 5}')
    np.savez(tmp_path / "nan.npz", obs=np.full((1, 4), np.nan, np.float32), actions=np.zeros((1, 5), np.float32),
             episode=np.zeros(1, np.int32), meta=head)  # fmt: skip
    with pytest.raises(DemoError, match="NaN"):
        load_demos(tmp_path / "nan.npz")


def test_cli_fits_demonstrations_before_ppo_and_refuses_what_does_not_fit(tmp_path, llc_file, capsys):
    from controllers.demos import Demos
    from training.cli import main

    env = humanoid_trainer(llc_file, task="strike").env
    rng = np.random.default_rng(0)
    demos = Demos([rng.normal(size=(6, env.obs_dim)).astype(np.float32) for _ in range(10)],
                  [rng.normal(size=(6, 64)).astype(np.float32) for _ in range(10)], goals=3)  # fmt: skip
    from controllers.files import sha256_file

    meta = {"task": "strike", "obs_dim": env.obs_dim, "action_dim": 64, "llc_sha256": sha256_file(llc_file)}
    good = demos.save(tmp_path / "strike.npz", meta)
    reach = demos.save(tmp_path / "reach.npz", {**meta, "task": "reach"})
    args = ["hlc", "--task", "strike", "--llc", str(llc_file), "--envs", "2", "--no-progress", "--iterations", "1",
            "--hidden", "64,64", "--bc-steps", "2"]  # fmt: skip
    assert main([*args, "--out", str(tmp_path / "a"), "--demos", str(good)]) == 0
    assert "fitted the actor to" in capsys.readouterr().out
    cfg = torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=True)["config"]
    assert cfg["demos"] == [str(good)] and cfg["critic_warmup"] == 10
    only_fit = [*args[:-6], "--iterations", "0", "--hidden", "64,64", "--bc-steps", "2"]
    assert main([*only_fit, "--out", str(tmp_path / "fit"), "--demos", str(good)]) == 0  # the fit alone is saved
    assert (tmp_path / "fit" / "hlc.pt").is_file() and (tmp_path / "fit" / "checkpoint.pt").is_file()
    assert main([*args, "--out", str(tmp_path / "two"), "--demos", str(good), "--demos", str(good)]) == 0
    assert "20 sequences of 10 goals, 120 steps" in capsys.readouterr().out  # two files: one set
    assert main([*args, "--out", str(tmp_path / "mixed"), "--demos", str(good), "--demos", str(reach)]) == 2
    assert "reach.npz: task not the same as in" in capsys.readouterr().err
    assert main([*args, "--out", str(tmp_path / "b"), "--demos", str(reach)]) == 2
    assert "--demos demonstrations of task 'reach', this run trains 'strike'" in capsys.readouterr().err
    assert main([*args, "--out", str(tmp_path / "c"), "--demos", str(tmp_path / "none.npz")]) == 2
    assert "none.npz: no such demonstrations file" in capsys.readouterr().err
    # a term that keeps cloning during PPO comes back on resume, with its demonstrations
    assert main([*args, "--out", str(tmp_path / "bc"), "--demos", str(good), "--bc-coef", "0.5"]) == 0
    resume = ["hlc", "--resume", str(tmp_path / "bc" / "checkpoint.pt"), "--iterations", "2", "--no-progress"]
    capsys.readouterr()
    assert main(resume) == 0 and "resumed" in capsys.readouterr().out
    good.rename(tmp_path / "moved.npz")
    assert main([*resume[:-2], "3", "--no-progress"]) == 2
    assert "its behaviour-cloning term's demonstrations" in capsys.readouterr().err
    (tmp_path / "moved.npz").rename(good)
    assert main([*args, "--out", str(tmp_path / "nobc"), "--bc-coef", "0.5"]) == 2
    assert "--bc-coef and --bc-anneal need --demos" in capsys.readouterr().err
    assert main([*args, "--demos", str(good), "--resume", str(tmp_path / "a" / "checkpoint.pt")]) == 2
    assert "--demos starts a new run" in capsys.readouterr().err


def signal_by_command_line(part: str, sig: int) -> int:
    """`pkill -f` in Python: send `sig` to every process whose command line contains `part`; how many."""
    hits = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if part in (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                os.kill(int(entry.name), sig)
                hits += 1
        except OSError:
            continue
    return hits


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs /proc to find the processes")
def test_sigint_to_every_torchrun_process_stops_after_one_iteration_and_saves(tmp_path, llc_file):
    """`pkill -INT -f` on a torchrun run signals the launcher and each worker, and the launcher forwards the
    signal to the workers once more: each worker gets two at once. The run still finishes its iteration on
    every rank, saves and stops, instead of taking the second as "abort without saving"."""
    import signal
    import subprocess
    import sys
    import time

    out, log = tmp_path / "run", tmp_path / "log.txt"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "launch.py",
           "train", "hlc", "--task", "speed", "--llc", str(llc_file), "--envs", "32", "--hidden", "16,16",
           "--iterations", "100000", "--checkpoint-every", "1", "--threads", "1", "--env-threads", "1",
           "--out", str(out), "--no-progress"]  # fmt: skip
    repo = Path(__file__).resolve().parents[1]
    with open(log, "w") as f:
        proc = subprocess.Popen(cmd, cwd=repo, stdout=f, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 120
        while not (out / "checkpoint.pt").exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert (out / "checkpoint.pt").exists(), log.read_text()[-3000:]
        assert signal_by_command_line(str(out), signal.SIGINT) == 3  # the launcher and its two workers
        proc.wait(timeout=90)
    text = log.read_text()
    stopped = re.search(r"stopped at iteration (\d+); saved", text)
    assert stopped, text[-3000:]
    assert "Connection closed by peer" not in text and "resume with: python launch.py train hlc --resume" in text
    assert torch.load(out / "checkpoint.pt", weights_only=True)["train"]["iteration"] == int(stopped.group(1))


def test_both_trainers_share_one_ppo_config_and_old_flat_configs_load():
    """HLCConfig.ppo and LLCConfig.ppo are one PPOConfig; the presets take PPO's settings flat, and config dicts
    of checkpoints written before the nesting (the committed states) load with the same values."""
    from training.config import cpu_preset as llc_preset
    from training.hlc import HLCConfig
    from training.ppo import PPOConfig

    hlc, llc = cpu_preset(lr=1e-4, horizon=8), llc_preset(lr=1e-4, horizon=8)
    assert type(hlc.ppo) is type(llc.ppo) is PPOConfig and hlc.ppo.lr == llc.ppo.lr == 1e-4
    assert (hlc.ppo.epochs, hlc.ppo.minibatch_size, hlc.batch_size) == (4, 1024, 64 * 8)
    flat = {k: v for k, v in hlc.to_dict().items() if k != "ppo"} | {"lr": 5e-5, "epochs": 4, "gamma": 0.97}
    old = HLCConfig.from_dict(flat)
    assert (old.ppo.lr, old.ppo.epochs, old.ppo.gamma, old.ppo.horizon) == (5e-5, 4, 0.97, 32)
    assert HLCConfig.from_dict(hlc.to_dict()) == hlc
    root = Path(__file__).resolve().parent.parent
    for state in sorted(root.glob("checkpoints/hlc_*_state.pt")):
        saved = torch.load(state, map_location="cpu", weights_only=True)["config"]
        cfg = HLCConfig.from_dict(saved)
        assert (cfg.ppo.lr, cfg.ppo.epochs, cfg.batch_size) == (saved["lr"], saved["epochs"], 64 * 32), state
