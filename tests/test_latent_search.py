"""evaluation/latent_search.py: the cross-entropy search over latent sequences, on a toy objective with a known
optimum and on the real simulation with a tiny LLC, and its `launch.py eval --latent-search` front end."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from evaluation.latent_search import LatentSearchConfig, format_search, latent_search, play, search_goal
from tests.conftest import tiny_llc_checkpoint

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class DirectionEnv:
    """Each step rewards the unit latent's alignment with the goal direction: random latents average 0, the
    best sequence scores 1 at every step. Success: alignment above 0.9 at the last step."""

    def __init__(self, n: int, dim: int = 6) -> None:
        self.num_envs, self.action_dim, self.obs_dim = n, dim, dim + 1
        self.task = SimpleNamespace(name="speed", failure="")
        self.env = SimpleNamespace(fallen=lambda: np.zeros(n, dtype=bool))
        self.goal = np.zeros(dim)
        self.played: list[np.ndarray] = []

    def reset(self) -> None:
        self.t = 0

    def observe(self) -> np.ndarray:
        """The goal direction and the step count."""
        return np.tile(np.append(self.goal, self.t), (self.num_envs, 1)).astype(np.float32)

    def set_goal(self, ids, direction: np.ndarray) -> None:
        self.goal = np.asarray(direction) / np.linalg.norm(direction)

    def step(self, actions: np.ndarray):
        self.played.append(actions.copy())
        self.t += 1
        z = actions / np.linalg.norm(actions, axis=1, keepdims=True)
        r = z @ self.goal
        return SimpleNamespace(info={"task_reward": r, "success": r > 0.9, "failed": np.zeros(len(r), dtype=bool)})


def test_search_finds_the_known_optimum_that_random_latents_miss() -> None:
    env = DirectionEnv(48)
    goal = {"direction": np.array([1.0, -2.0, 0.5, 0.0, 1.0, 0.0])}
    cfg = LatentSearchConfig(task="speed", candidates=48, rounds=10)
    res = search_goal(env, goal, steps=3, cfg=cfg, rng=np.random.default_rng(0))
    assert abs(res["round_0"]["reward"]) < 0.15  # unit latents in 6-d: alignment averages 0
    assert res["best"]["reward"] > 0.9 and res["best"]["success"] == 1.0
    assert res["last_round"]["reward"] > 0.8 > res["round_0"]["reward"] + 0.5  # the search itself moved

    # held latents: 5 steps searched as 3 latents, held 2, 2 and 1 steps
    env.played.clear()
    search_goal(
        env, goal, steps=5, cfg=LatentSearchConfig(task="speed", rounds=1, hold=2), rng=np.random.default_rng(1)
    )
    a = env.played
    assert len(a) == 5 and np.array_equal(a[0], a[1]) and np.array_equal(a[2], a[3]) and not np.array_equal(a[1], a[2])


def test_play_is_deterministic_and_the_search_runs_on_the_simulation(tmp_path: Path) -> None:
    """Identical sequences from the default pose give the same results (what open-loop search relies on);
    the search returns per-goal rows whose best is at least the random latents' mean."""
    from controllers.checkpoint import load_llc
    from tasks.env import TaskEnv, TaskEnvConfig

    llc = load_llc(tiny_llc_checkpoint(tmp_path / "tiny.pt"))
    env = TaskEnv(TaskEnvConfig(task="reach", num_envs=3, early_termination=False, auto_reset=False), llc)
    one = np.random.default_rng(1).normal(size=(4, 1, llc.latent_dim))
    out = play(env, {"target": np.array([0.4, -0.3, 1.1])}, np.repeat(one, 3, axis=1))
    for key in ("reward", "distance", "closest"):  # up to float32 rounding of the batched LLC
        assert np.ptp(out[key]) < 1e-5, key
    assert (out["closest"] <= out["distance"]).all()

    cfg = LatentSearchConfig(task="reach", goals=2, candidates=4, rounds=2, seconds=0.5)
    res = latent_search(llc, cfg)
    assert res["goals"] == 2 and res["hlc_steps"] == 3 and len(res["per_goal"]) == 2
    for row in res["per_goal"]:
        assert len(row["goal"]["target"]) == 3
        assert row["best"]["reward"] >= row["random"]["reward"] - 1e-12
    assert set(res["summary"]["best"]) >= {"reward", "distance", "closest", "success", "fallen"}


def test_cli_latent_search_writes_json_and_rejects_unknown_tasks(tmp_path: Path, capsys) -> None:
    from evaluation.cli import main

    llc = tiny_llc_checkpoint(tmp_path / "tiny.pt")
    out = tmp_path / "search.json"
    args = ["--latent-search", "strike", "--llc", str(llc), "--envs", "3", "--goals", "1", "--rounds", "1"]
    assert main([*args, "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "latent search, strike: 1 goals" in printed and "tipped" in printed and "fouled first" in printed
    res = json.loads(out.read_text())["results"]
    assert res["task"] == "strike" and res["hlc_steps"] == 60 and res["horizon_s"] == pytest.approx(10.0)
    assert "tipped" in res["summary"]["random"] and res["seconds"] > 0  # horizon and wall time apart

    assert main(["--latent-search", "juggle", "--llc", str(llc)]) == 2
    assert "--latent-search juggle: choose one of" in capsys.readouterr().err
    assert main(["--latent-search", "reach", "--llc", str(tmp_path / "none.pt")]) == 2
    assert "none.pt" in capsys.readouterr().err


def test_the_search_keeps_clean_successes_as_demonstrations(tmp_path: Path) -> None:
    """Each round's successes (best first, at most `demos_per_round`) are kept up to and including the step of
    success, with the observation each action was chosen on."""
    from controllers.demos import Demos, load_demos

    env, demos = DirectionEnv(16), Demos()
    goal = {"direction": np.array([1.0, 0.0, 0.0, 0.0, 0.0, 0.0])}
    cfg = LatentSearchConfig(task="speed", candidates=16, rounds=6, demos_per_round=3)
    search_goal(env, goal, steps=4, cfg=cfg, rng=np.random.default_rng(0), demos=demos)
    assert 3 <= demos.sequences <= 6 * 3
    for obs, act in zip(demos.obs, demos.actions, strict=True):
        t = len(obs) - 1  # succeeded at step t and not before
        assert len(act) == len(obs) and np.array_equal(obs[:, -1], np.arange(t + 1))
        z = act / np.linalg.norm(act, axis=1, keepdims=True)
        assert z[t] @ env.goal > 0.9 and (t == 0 or z[t - 1] @ env.goal <= 0.9)
        assert np.array_equal(obs[0, :-1], env.goal.astype(np.float32))
    meta = {"task": "speed", "obs_dim": env.obs_dim, "action_dim": env.action_dim}
    arrays, _ = load_demos(demos.save(tmp_path / "d.npz", meta))
    assert len(arrays["obs"]) == demos.samples and arrays["episode"][-1] == demos.sequences - 1


def test_a_search_with_demos_continues_where_it_stopped(tmp_path: Path, capsys) -> None:
    """A stopped search continued on the same file searches only the goals it had not, with the draws a whole
    run makes; a file from another search is refused, not overwritten."""
    from controllers.checkpoint import load_llc
    from evaluation.cli import main

    path = tiny_llc_checkpoint(tmp_path / "tiny.pt")
    llc = load_llc(path)
    cfg = LatentSearchConfig(task="reach", goals=2, candidates=3, rounds=2, seconds=0.5)
    whole = latent_search(llc, cfg)
    demos = str(tmp_path / "demos.npz")
    first = latent_search(llc, LatentSearchConfig(**{**vars(cfg), "goals": 1, "demos": demos}))
    rest = latent_search(llc, LatentSearchConfig(**{**vars(cfg), "demos": demos}))
    assert first["goals"] == 1 and rest["goals"] == 1 and rest["demos"]["goals"] == 2
    assert rest["per_goal"][0] == whole["per_goal"][1]
    done = latent_search(llc, LatentSearchConfig(**{**vars(cfg), "demos": demos}))  # nothing left
    assert done["goals"] == 0 and "nothing left to search" in format_search(done)
    args = ["--latent-search", "reach", "--llc", str(path), "--envs", "3", "--goals", "2", "--rounds", "2"]
    assert main([*args, "--hold", "2", "--demos", demos]) == 2
    err = capsys.readouterr().err
    assert "demos.npz: written by another search (" in err and "hold 1 vs 2" in err and "pass another" in err


def test_a_prior_hlc_starts_the_search_from_its_own_choices(tmp_path: Path, capsys) -> None:
    """--prior: the first round samples around the controller's closed-loop actions (replayed open loop they
    give its own result, the "prior" row); a controller of another task is refused in one line."""
    from controllers.checkpoint import load_llc
    from evaluation.cli import main
    from evaluation.latent_search import prior_actions
    from tasks.env import TaskEnv, TaskEnvConfig
    from tests.conftest import tiny_hlc_checkpoint

    llc_path = tiny_llc_checkpoint(tmp_path / "tiny.pt")
    hlc = tiny_hlc_checkpoint(tmp_path / "reach", llc_path, task="reach")
    llc = load_llc(llc_path)
    cfg = LatentSearchConfig(task="reach", goals=1, candidates=3, rounds=1, seconds=0.5, prior=str(hlc),
                             prior_std=1e-6)  # fmt: skip
    res = latent_search(llc, cfg)
    row = res["per_goal"][0]
    # a spread of 1e-6 around the prior's own actions replays its closed-loop result
    assert "random" not in row  # round 0 is the prior's neighbourhood, named so
    assert row["around_prior"]["reward"] == pytest.approx(row["prior"]["reward"], abs=1e-4)
    assert row["around_prior"]["distance"] == pytest.approx(row["prior"]["distance"], abs=1e-3)
    env = TaskEnv(TaskEnvConfig(task="reach", num_envs=3, early_termination=False, auto_reset=False), llc)
    from controllers.checkpoint import read_checkpoint
    from controllers.hlc import HLCPolicy

    policy = HLCPolicy(read_checkpoint(hlc, "hlc"))
    acts = prior_actions(env, {"target": np.array([0.3, 0.2, 1.0])}, policy, 3)
    assert acts.shape == (3, llc.latent_dim) and np.abs(acts).max() <= 1.0  # tanh means, not unit latents

    args = ["--latent-search", "strike", "--llc", str(llc_path), "--envs", "3", "--goals", "1", "--rounds", "1"]
    assert main([*args, "--prior", str(hlc)]) == 2
    assert "a reach controller, the search is for strike" in capsys.readouterr().err
    assert main(["--latent-search", "reach", *args[2:], "--prior", str(hlc)]) == 0
    assert "the prior HLC" in capsys.readouterr().out
