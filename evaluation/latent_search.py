"""Can this LLC do the task at all? A search over latent sequences with the simulator as the model.

An HLC can only pick latents. Before training one for hours, search for the best sequence of latents for
one goal directly: every candidate sequence is played open loop from the same default-pose start (the
simulation is deterministic up to float32 rounding in the batched LLC, so open loop loses next to nothing
against a closed-loop policy from that start),
scored by its mean task reward (counted until a fall or the task's own failure, which end training
episodes), and a cross-entropy search refits a Gaussian over the sequences to the best
tenth of them, round after round. The best sequence found is a lower bound on what any HLC could reach for
that goal on this LLC; round 0's candidates are random latents (what an untrained HLC does).

    python launch.py eval --latent-search reach [--llc checkpoints/llc.pt] [--goals 8] [--rounds 6]

Per goal it reports the mean task reward and success (a success before the task's own failure), the
distance at the end and the closest (tasks with a `distance`: reach, location), tipped and fouled first
(tasks with a failure of their own: strike) for random latents, the best sequence found, and the search's
last round. It does not search closed-loop policies, goals from other starts, or longer than `seconds`
(default: the task's `eval_seconds`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from controllers.demos import DemoError, Demos, load_demos
from tasks.env import TaskEnv, TaskEnvConfig
from tasks.measure import hlc_steps


@dataclass
class LatentSearchConfig:
    task: str
    goals: int = 8  # goals drawn as in training, each searched on its own
    candidates: int = 64  # sequences per round (one environment each)
    rounds: int = 6  # round 0 draws random latents
    elite_fraction: float = 0.1
    min_std: float = 0.05  # keeps the search from collapsing onto one sequence too early
    seconds: float | None = None  # horizon; None: the task's `eval_seconds`
    hold: int = 1  # HLC steps each searched latent is held: fewer dimensions for long horizons
    seed: int = 0
    nthread: int = 1
    demos: str | None = None  # write the clean successes here (demonstrations for `train hlc --demos`)
    demos_per_round: int = 8  # at most this many successful sequences kept per round (the best first)
    prior: str | None = None  # an HLC (hlc.pt) whose own choices on each goal start the search, instead of 0
    prior_std: float = 0.3  # the search's first spread around the prior's actions


def play(env: TaskEnv, goal: dict[str, Any], actions: np.ndarray, record: bool = False) -> dict[str, np.ndarray]:
    """Play (steps, N, latent_dim) HLC actions from the default pose with every environment given `goal`.
    Returns per environment: mean task reward, the task measure(s) at the end, fouls and falls; with `record`
    also "obs" (steps, N, obs_dim), the HLC observation each action was chosen on, and "t_success", the step
    of a success before any fall or failure (inf: none)."""
    steps, n = actions.shape[:2]
    env.reset()
    env.set_goal(None, **goal)
    reward, fallen, ended = np.zeros(n), np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    t_hit, t_foul, t_end = np.full(n, np.inf), np.full(n, np.inf), np.full(n, np.inf)
    distance = closest = np.full(n, np.inf)
    obs = np.zeros((steps, n, env.obs_dim), dtype=np.float32) if record else None
    for t in range(steps):
        if obs is not None:
            obs[t] = np.asarray(env.observe())
        res = env.step(actions[t])
        reward += np.where(ended, 0.0, res.info["task_reward"])  # as in training, nothing after a fall or a foul
        fallen |= env.env.fallen()
        t_end[(fallen | res.info["failed"]) & ~ended] = t
        ended |= fallen | res.info["failed"]
        t_hit[res.info["success"] & np.isinf(t_hit)] = t
        t_foul[res.info["failed"] & np.isinf(t_foul)] = t
        if hasattr(env.task, "distance"):
            distance = env.task.distance(env.state)
            closest = np.minimum(closest, distance)
    out = {"reward": reward / steps, "fallen": fallen, "success": t_hit < t_foul}
    if hasattr(env.task, "distance"):
        out["distance"], out["closest"] = distance, closest
    if env.task.failure:  # a success only counts before the task's own failure
        out["tipped"], out["fouled"] = np.isfinite(t_hit), np.isfinite(t_foul) & (t_foul <= t_hit)
    if record:
        out["obs"], out["t_success"] = obs, np.where(t_hit < t_end, t_hit, np.inf)
    return out


def search_goal(
    env: TaskEnv,
    goal: dict[str, Any],
    steps: int,
    cfg: LatentSearchConfig,
    rng: np.random.Generator,
    demos: Demos | None = None,
    start: np.ndarray | None = None,
) -> dict[str, Any]:
    """Cross-entropy search over action sequences for one goal: ceil(steps / hold) latents, each held `hold`
    HLC steps, from N(0, 1) or, given `start` (steps, action_dim), from N(start, prior_std^2) at the knots.
    With `demos`, each round's clean successes are added to it. Returns the mean results of round 0 ("round_0"),
    of the best sequence ("best") and of the last round ("last_round")."""
    n, dim = env.num_envs, env.action_dim
    knots = -(-steps // cfg.hold)
    mean, std = np.zeros((knots, dim)), np.ones((knots, dim))
    if start is not None:
        mean, std = np.array(start[:: cfg.hold], dtype=np.float64), np.full((knots, dim), cfg.prior_std)
    n_elite = max(1, round(cfg.elite_fraction * n))
    best: dict[str, Any] = {"reward": -np.inf}
    rounds = []
    for _ in range(cfg.rounds):
        actions = mean[:, None] + std[:, None] * rng.standard_normal((knots, n, dim))
        played = np.repeat(actions, cfg.hold, axis=0)[:steps]
        out = play(env, goal, played, record=demos is not None)
        order = np.argsort(-out["reward"])
        if demos is not None:
            demos.add(out, played, order, cfg.demos_per_round)
            out = {k: v for k, v in out.items() if k not in ("obs", "t_success")}
        rounds.append({k: float(np.mean(v)) for k, v in out.items()})
        if out["reward"][order[0]] > best["reward"]:
            best = {k: float(v[order[0]]) for k, v in out.items()}
        elite = actions[:, order[:n_elite]]
        mean, std = elite.mean(axis=1), np.maximum(elite.std(axis=1), cfg.min_std)
    return {"round_0": rounds[0], "best": best, "last_round": rounds[-1]}


def load_prior(cfg: LatentSearchConfig, env: TaskEnv, llc_sha256: str) -> Any:
    """The HLC of `cfg.prior` (controllers.hlc.HLCPolicy); ValueError when it is for another task or LLC."""
    from controllers.checkpoint import check_compatible, read_checkpoint
    from controllers.hlc import HLCPolicy

    ckpt = read_checkpoint(cfg.prior, "hlc")
    check_compatible(ckpt, cfg.prior, None, None)
    if ckpt["task"] != cfg.task:
        raise ValueError(f"{cfg.prior}: a {ckpt['task']} controller, the search is for {cfg.task}")
    if llc_sha256 and ckpt["llc"]["sha256"] != llc_sha256:
        raise ValueError(f"{cfg.prior}: trained on another LLC (sha256 {ckpt['llc']['sha256'][:12]})")
    if ckpt["obs_dim"] != env.obs_dim:
        raise ValueError(f"{cfg.prior}: observes {ckpt['obs_dim']} numbers, this environment {env.obs_dim}")
    return HLCPolicy(ckpt)


def prior_actions(env: TaskEnv, goal: dict[str, Any], policy: Any, steps: int) -> np.ndarray:
    """(steps, action_dim): the HLC's mean actions on `goal` from the default pose, closed loop (every
    environment plays the same; the first one's are returned)."""
    env.reset()
    env.set_goal(None, **goal)
    actions = []
    for _ in range(steps):
        a = policy.action_mean(np.asarray(env.observe()))
        env.step(a)
        actions.append(a[0])
    return np.stack(actions)


def draw_goals(env: TaskEnv, count: int, seed: int) -> list[dict[str, Any]]:
    """`count` goals drawn the way training draws them from the default pose (fixed seed), num_envs at a time."""
    env.reset()
    rng, goals = np.random.default_rng(seed + 12), []
    while len(goals) < count:
        env.task.sample(np.arange(env.num_envs), env.state, rng)
        goals += [env.task.goal_of(i) for i in range(min(count - len(goals), env.num_envs))]
    return goals


def latent_search(
    llc: Any, cfg: LatentSearchConfig, progress: Callable[[str], None] | None = None, llc_sha256: str = ""
) -> dict[str, Any]:
    """Search every goal; per-goal rows and their means (random latents, best found, last round).
    With `cfg.demos` the clean successes go to that file after every goal; an existing file from the same
    search (task, LLC, seed, hold, horizon) is continued after its last goal, whose rows are not repeated."""
    env_cfg = TaskEnvConfig(task=cfg.task, num_envs=cfg.candidates, seed=cfg.seed, nthread=cfg.nthread,
                            early_termination=False, auto_reset=False)  # fmt: skip
    env = TaskEnv(env_cfg, llc)
    steps = hlc_steps(env, cfg.seconds if cfg.seconds is not None else env.task.eval_seconds)
    goals = draw_goals(env, cfg.goals, cfg.seed)
    demos, meta = None, {}
    if cfg.demos:
        meta = {"task": cfg.task, "llc_sha256": llc_sha256, "obs_dim": env.obs_dim, "action_dim": env.action_dim,
                "seed": cfg.seed, "hold": cfg.hold, "hlc_steps": steps, "candidates": cfg.candidates,
                "rounds": cfg.rounds, "prior": cfg.prior, "prior_std": cfg.prior_std}  # fmt: skip
        demos = continue_demos(cfg.demos, meta)
    prior = load_prior(cfg, env, llc_sha256) if cfg.prior else None
    first = "around_prior" if prior is not None else "random"  # what round 0 samples
    rows, t0 = [], time.perf_counter()
    for i, goal in enumerate(goals):
        if demos is not None and i < demos.goals:
            continue
        rng = np.random.default_rng([cfg.seed, i])  # per goal: a continued search draws what a whole one does
        row: dict[str, Any] = {"goal": {k: np.asarray(v).round(3).tolist() for k, v in goal.items()}}
        start = None
        if prior is not None:
            start = prior_actions(env, goal, prior, steps)
            out = play(env, goal, np.repeat(start[:, None], env.num_envs, axis=1))
            row["prior"] = {k: float(v[0]) for k, v in out.items()}
        found = search_goal(env, goal, steps, cfg, rng, demos, start)
        rows.append({**row, first: found.pop("round_0"), **found})
        line = ""
        if demos is not None:
            demos.goals = i + 1
            demos.save(cfg.demos, meta)
            line = f", {demos.sequences} demonstrations ({demos.samples} steps)"
        if progress is not None:
            base = "prior" if prior is not None else "random"
            b, r = rows[-1]["best"], rows[-1][base]
            progress(f"goal {i + 1}/{len(goals)}: task reward {r['reward']:.3f} {base} -> {b['reward']:.3f} best"
                     f"{line} ({time.perf_counter() - t0:.0f} s)")  # fmt: skip
    parts = ("prior",) * (prior is not None) + (first, "best", "last_round")
    summary = {}  # stays empty for a continued search that had every goal already
    if rows:
        summary = {part: {k: float(np.mean([row[part][k] for row in rows])) for k in rows[0][part]} for part in parts}
    out = {"task": cfg.task, "horizon_s": steps * env.control_dt * env.cfg.llc_steps, "hlc_steps": steps,
           "llc_steps": env.cfg.llc_steps, "hold": cfg.hold, "candidates": cfg.candidates, "rounds": cfg.rounds,
           "goals": len(rows), "summary": summary, "per_goal": rows}  # fmt: skip
    if demos is not None:
        out["demos"] = {"file": cfg.demos, "goals": demos.goals, "sequences": demos.sequences, "steps": demos.samples}
    return out


def continue_demos(path: str, meta: dict[str, Any]) -> Demos:
    """The demonstrations already in `path` when it came from the same search, else a new set (an existing
    file from another search is refused rather than overwritten)."""
    if not Path(path).exists():
        return Demos()
    arrays, old = load_demos(path, allow_empty=True)
    keys = ("task", "llc_sha256", "obs_dim", "action_dim", "seed", "hold", "hlc_steps", "candidates", "rounds",
            "prior", "prior_std")  # fmt: skip
    differ = [k for k in keys if old.get(k) != meta[k]]
    if differ:
        short = lambda v: v[:12] if isinstance(v, str) and len(v) == 64 else v  # noqa: E731  (a SHA-256)
        what = ", ".join(f"{k} {short(old.get(k))!r} vs {short(meta[k])!r}" for k in differ)
        raise DemoError(f"{path}: written by another search ({what}); pass another --demos file")
    return Demos.from_arrays(arrays, int(old["goals"]))


def format_search(res: dict[str, Any]) -> str:
    """A table of the means: random latents (round 0), the best sequence found per goal, the last round."""
    s = res["summary"]
    if not s:
        d = res["demos"]
        return f"latent search, {res['task']}: nothing left to search ({d['file']} holds all {d['goals']} goals)"
    keys = [k for k in ("reward", "distance", "closest", "success", "tipped", "fouled", "fallen") if k in s["best"]]
    names = {"reward": "task reward per step", "distance": "distance at the end (m)", "closest": "closest (m)",
             "success": "success", "tipped": "tipped", "fouled": "fouled first", "fallen": "fallen"}  # fmt: skip
    lines = [
        f"latent search, {res['task']}: {res['goals']} goals, {res['horizon_s']:.1f} s ({res['hlc_steps']} HLC "
        f"steps of {res['llc_steps']} LLC steps, {-(-res['hlc_steps'] // res['hold'])} latents each held "
        f"{res['hold']}), {res['candidates']} sequences x {res['rounds']} rounds per goal",
    ]
    if "prior" in s:  # round 0 is the prior's neighbourhood, not random latents
        lines.append(f"{'':28}{'the prior HLC':>16}{'round 0':>12}{'best found':>12}{'last round':>12}")
        for k in keys:
            row = [s[part][k] for part in ("prior", "around_prior", "best", "last_round")]
            lines.append(f"{names[k]:28}{row[0]:>16.3f}" + "".join(f"{v:>12.3f}" for v in row[1:]))
        return "\n".join(lines)
    lines.append(f"{'':28}{'random latents':>16}{'best found':>12}{'last round':>12}")
    for k in keys:
        lines.append(f"{names[k]:28}{s['random'][k]:>16.3f}{s['best'][k]:>12.3f}{s['last_round'][k]:>12.3f}")
    return "\n".join(lines)
