"""Evaluation of a task controller (HLC) on fixed seeds, beside the same LLC driven by random latents.

Characters start in the default pose; goals are set from outside (pinned, never redrawn) and nothing ends or
restarts during a measurement (falls are counted, not reset). The HLC acts with its mean (deterministic).
- steering / speed: for each target speed, directions spread evenly around the circle (steering: facing the
  direction of travel); after `settle_seconds`, the mean root velocity over `measure_seconds` gives the
  direction error (degrees between it and the target direction) and the speed error (|speed along the
  direction - target|, m/s); steering also the facing error (degrees);
- location: targets drawn as in training (+-10 m square); success = root within 0.5 m at some point in 10 s;
- reach: targets drawn as in training; effector distance after 2 s (mean and median, m);
- strike: boxes placed as in training; success = tipped (up.up_0 < 0.2) within 10 s with no foul before it
  (a foul: the box pushed while a body other than the feet and the striking bodies touches something, the
  task's failure, which ends a training episode); tipped at all and fouled are reported beside it;
- every task: the mean task reward per HLC step over the measurement.
The random-latent baseline holds each latent for 1-29 HLC steps (5-145 LLC steps, the LLC's own schedule).
Functions return plain dicts of numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from controllers.latents import sample_latents
from sim.arrays import to_numpy
from tasks.common import facing_xy, yaw_vec
from tasks.env import TaskEnv, TaskEnvConfig


@dataclass
class TaskEvalConfig:
    num_envs: int = 32
    seed: int = 0
    nthread: int = 1
    speeds: tuple[float, ...] = (0.5, 1.0, 1.5, 2.5)  # m/s, steering and speed
    settle_seconds: float = 4.0
    measure_seconds: float = 3.0
    location_seconds: float = 10.0
    location_success: float = 0.5  # m
    reach_seconds: float = 2.0
    strike_seconds: float = 10.0


class RandomLatents:
    """Unit latents redrawn per environment every 1-29 HLC steps (numpy RNG)."""

    def __init__(self, n: int, dim: int, seed: int) -> None:
        self.rng, self.n, self.dim = np.random.default_rng(seed), n, dim
        self.z = self._draw(n)
        self.left = self.rng.integers(1, 30, n)

    def _draw(self, k: int) -> np.ndarray:
        return sample_latents(k, self.dim, self.rng).astype(np.float32)

    def act(self, obs: np.ndarray) -> np.ndarray:
        due = self.left <= 0
        if due.any():
            self.z[due], self.left[due] = self._draw(int(due.sum())), self.rng.integers(1, 30, int(due.sum()))
        self.left -= 1
        return self.z.copy()


def make_task_env(task: str, task_config: dict, llc: Any, cfg: TaskEvalConfig) -> TaskEnv:
    env_cfg = TaskEnvConfig(
        task=task, task_config=dict(task_config), num_envs=cfg.num_envs, seed=cfg.seed, nthread=cfg.nthread,
        early_termination=False, auto_reset=False,
    )  # fmt: skip
    return TaskEnv(env_cfg, llc)


def _hlc_steps(env: TaskEnv, seconds: float) -> int:
    return max(1, round(seconds / (env.control_dt * env.cfg.llc_steps)))


def _fallen(env: TaskEnv) -> np.ndarray:
    return env.env.fallen()


def goal_kwargs(task: Any, ids: Any) -> dict[str, Any]:
    """The task's drawn goals of environments `ids` (an index or an index array) as `TaskEnv.set_goal`
    keywords (world frame, host copies)."""
    if task.name in ("location", "reach"):
        names = {"target": "target"}
    elif task.name == "strike":
        names = {"pos": "spawn_xy", "yaw": "spawn_yaw"}
    else:  # steering, speed
        names = {k: k for k in ("direction", "speed", "facing") if hasattr(task, k)}
    return {k: np.array(to_numpy(getattr(task, attr))[ids], copy=True) for k, attr in names.items()}


def _sampled_goals(env: TaskEnv, seed: int) -> None:
    """Draw goals the way training does (fixed seed) and pin them (location, reach and strike)."""
    rng = np.random.default_rng(seed)
    ids = np.arange(env.num_envs)
    env.task.sample(ids, env.state, rng)
    env.set_goal(ids, **goal_kwargs(env.task, ids))


def direction_errors(directions: np.ndarray, vel: np.ndarray) -> dict[str, float]:
    """How far the xy velocities `vel` (n, 2) head from the target `directions` (n,) (yaw, rad; each character
    starts facing +x, so a positive yaw is a target to its left): mean, 90th percentile, mean over the targets
    to the left and to the right, and the mean signed angle (positive: left of the target), in degrees."""
    d = yaw_vec(directions)
    signed = np.degrees(np.arctan2(d[:, 0] * vel[:, 1] - d[:, 1] * vel[:, 0], (vel * d).sum(-1)))
    err, left = np.abs(signed), directions > 0
    return {
        "direction_error_deg": float(err.mean()),
        "direction_error_p90_deg": float(np.percentile(err, 90)),
        "direction_error_left_deg": float(err[left].mean()) if left.any() else math.nan,
        "direction_error_right_deg": float(err[~left].mean()) if (~left).any() else math.nan,
        "direction_bias_deg": float(signed.mean()),
    }


def steering_metrics(policy: Any, env: TaskEnv, cfg: TaskEvalConfig) -> dict[str, Any]:
    n, per_speed = env.num_envs, {}
    directions = -math.pi + 2 * math.pi * (np.arange(n) + 0.5) / n
    settle, measure = _hlc_steps(env, cfg.settle_seconds), _hlc_steps(env, cfg.measure_seconds)
    for speed in cfg.speeds:
        obs = env.reset()
        goal = {"direction": directions, "speed": speed}
        if env.task.name == "steering":
            goal["facing"] = directions
        env.set_goal(None, **goal)
        obs = env.observe()
        facing_err, fallen, reward = [], np.zeros(n, dtype=bool), []
        for t in range(settle + measure):
            if t == settle:
                start = env.state.root_pos[:, :2].copy()
            res = env.step(policy.act(obs))
            obs = res.obs
            reward.append(res.info["task_reward"].mean())
            fallen |= _fallen(env)
            if t >= settle:
                cos = (yaw_vec(directions) * facing_xy(env.state.root_rot)).sum(-1)
                facing_err.append(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))
        vel = (env.state.root_pos[:, :2] - start) / (measure * env.cfg.llc_steps * env.control_dt)
        along = (vel * yaw_vec(directions)).sum(-1)
        row = {
            **direction_errors(directions, vel),
            "speed_error": float(np.abs(along - speed).mean()),
            "speed": float(along.mean()),
            "fallen": float(fallen.mean()),
            "task_reward": float(np.mean(reward)),
        }
        if env.task.name == "steering":
            row["facing_error_deg"] = float(np.mean(facing_err))
        per_speed[f"{speed:g}"] = row
    keys = next(iter(per_speed.values())).keys()
    mean = {k: float(np.mean([r[k] for r in per_speed.values()])) for k in keys if k != "speed"}
    return {**mean, "per_speed": per_speed}


def location_metrics(policy: Any, env: TaskEnv, cfg: TaskEvalConfig) -> dict[str, Any]:
    env.reset()
    _sampled_goals(env, cfg.seed + 11)
    obs, n = env.observe(), env.num_envs
    reached, t_reach, fallen = np.zeros(n, dtype=bool), np.full(n, np.nan), np.zeros(n, dtype=bool)
    start = env.task.distance(env.state).copy()
    steps, reward = _hlc_steps(env, cfg.location_seconds), []
    for t in range(steps):
        res = env.step(policy.act(obs))
        obs = res.obs
        reward.append(res.info["task_reward"].mean())
        fallen |= _fallen(env)
        now = env.task.distance(env.state) < cfg.location_success
        t_reach[now & ~reached] = (t + 1) * env.cfg.llc_steps * env.control_dt
        reached |= now
    return {
        "success": float(reached.mean()),
        "median_seconds": float(np.nanmedian(t_reach)) if reached.any() else float("nan"),
        "start_distance": float(start.mean()),
        "final_distance": float(env.task.distance(env.state).mean()),
        "fallen": float(fallen.mean()),
        "task_reward": float(np.mean(reward)),
    }


def reach_metrics(policy: Any, env: TaskEnv, cfg: TaskEvalConfig) -> dict[str, Any]:
    env.reset()
    _sampled_goals(env, cfg.seed + 12)
    obs, fallen, reward = env.observe(), np.zeros(env.num_envs, dtype=bool), []
    for _ in range(_hlc_steps(env, cfg.reach_seconds)):
        res = env.step(policy.act(obs))
        obs = res.obs
        reward.append(res.info["task_reward"].mean())
        fallen |= _fallen(env)
    dist = env.task.distance(env.state)
    return {"distance": float(dist.mean()), "median_distance": float(np.median(dist)), "fallen": float(fallen.mean()),
            "task_reward": float(np.mean(reward))}  # fmt: skip


def strike_metrics(policy: Any, env: TaskEnv, cfg: TaskEvalConfig) -> dict[str, Any]:
    env.reset()
    _sampled_goals(env, cfg.seed + 13)
    obs, n = env.observe(), env.num_envs
    t_hit, t_foul, fallen = np.full(n, np.inf), np.full(n, np.inf), np.zeros(n, dtype=bool)
    reward = []
    for t in range(_hlc_steps(env, cfg.strike_seconds)):
        res = env.step(policy.act(obs))
        obs = res.obs
        reward.append(res.info["task_reward"].mean())
        fallen |= _fallen(env)
        seconds = (t + 1) * env.cfg.llc_steps * env.control_dt
        t_hit[res.info["success"] & np.isinf(t_hit)] = seconds
        t_foul[res.info["failed"] & np.isinf(t_foul)] = seconds
    clean = t_hit < t_foul  # a foul in the same HLC step as the tipping counts against it
    return {
        "success": float(clean.mean()),
        "median_seconds": float(np.median(t_hit[clean])) if clean.any() else float("nan"),
        "tipped": float(np.isfinite(t_hit).mean()),
        "fouled": float((np.isfinite(t_foul) & (t_foul <= t_hit)).mean()),
        "fallen": float(fallen.mean()),
        "task_reward": float(np.mean(reward)),
    }


METRICS = {
    "steering": steering_metrics,
    "speed": steering_metrics,
    "location": location_metrics,
    "reach": reach_metrics,
    "strike": strike_metrics,
}


def evaluate_hlc(hlc: Any, llc: Any, cfg: TaskEvalConfig) -> dict[str, Any]:
    """The HLC's task metrics and the same metrics for the LLC driven by random latents."""
    out: dict[str, Any] = {"task": hlc.task}
    for label, policy in (("hlc", hlc), ("random_latents", RandomLatents(cfg.num_envs, llc.latent_dim, cfg.seed))):
        env = make_task_env(hlc.task, hlc.task_config, llc, cfg)
        out[label] = METRICS[hlc.task](policy, env, cfg)
    return out


# rows of the printed table, per task: (label, key path, digits)
DIRECTION_ROWS = [
    ("direction error (deg)", ("direction_error_deg",), 1),
    ("  90th percentile", ("direction_error_p90_deg",), 1),
    ("  targets to the left / right", ("direction_error_left_deg", "direction_error_right_deg"), -2),
    ("  mean signed (+: left of the target)", ("direction_bias_deg",), 1),
]
ROWS: dict[str, list[tuple[str, tuple[str, ...], int]]] = {
    "steering": [*DIRECTION_ROWS, ("speed error (m/s)", ("speed_error",), 2),
                 ("facing error (deg)", ("facing_error_deg",), 1), ("fallen", ("fallen",), 2)],
    "speed": [*DIRECTION_ROWS, ("speed error (m/s)", ("speed_error",), 2), ("fallen", ("fallen",), 2)],
    "location": [("success within 0.5 m in 10 s", ("success",), 2), ("  median time (s)", ("median_seconds",), 1),
                 ("final distance (m)", ("final_distance",), 2), ("fallen", ("fallen",), 2)],
    "reach": [("distance after 2 s (m)", ("distance",), 2), ("  median (m)", ("median_distance",), 2),
              ("fallen", ("fallen",), 2)],
    "strike": [("success (tipped, no foul) in 10 s", ("success",), 2), ("  median time (s)", ("median_seconds",), 1),
               ("tipped, fouls included", ("tipped",), 2), ("fouled before tipping", ("fouled",), 2),
               ("fallen", ("fallen",), 2)],
}  # fmt: skip


def table(result: dict[str, Any]) -> str:
    task = result["task"]
    rows = [*ROWS[task], ("task reward (mean per step)", ("task_reward",), 3)]
    if task in ("steering", "speed"):
        for s in result["hlc"]["per_speed"]:
            rows.append((f"  at {s} m/s: direction / speed error", ("per_speed", s), -1))
    width = max(len(r[0]) for r in rows) + 2
    lines = [f"task: {task}", "metric".ljust(width) + "HLC".rjust(14) + "random latents".rjust(16)]
    for label, path, digits in rows:
        cells = []
        for col, w in (("hlc", 14), ("random_latents", 16)):
            v: Any = result[col]
            if digits == -2:  # two numbers side by side
                pair = [v.get(k) for k in path]
                cells.append(("-" if None in pair else f"{pair[0]:.1f} / {pair[1]:.1f}").rjust(w))
                continue
            for k in path:
                v = v.get(k) if isinstance(v, dict) else None
            if digits < 0 and isinstance(v, dict):
                text = f"{v['direction_error_deg']:.0f} / {v['speed_error']:.2f}"
            elif v is None or (isinstance(v, float) and math.isnan(v)):
                text = "-"
            else:
                text = f"{v:.{digits}f}"
            cells.append(text.rjust(w))
        lines.append(label.ljust(width) + "".join(cells))
    return "\n".join(lines)
