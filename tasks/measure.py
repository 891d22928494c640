"""The parts of a task's eval measure (`Task.evaluate`, run by `launch.py eval --hlc` beside random latents).

A measurement runs on a `tasks.env.TaskEnv` with nothing ending or restarting (falls are counted, not reset):
every character starts in the default pose, its goal set from outside (pinned, never redrawn), and the
policy acts on the observation. Each task's `evaluate` sets the goals, calls `run` and turns what it saw
into plain numbers; its `table_rows` print them (`number`, `pair`, `COMMON_ROWS`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from tasks.common import Row


def hlc_steps(env: Any, seconds: float) -> int:
    """HLC steps in `seconds` (at least one)."""
    return max(1, round(seconds / (env.control_dt * env.cfg.llc_steps)))


def seconds_at(env: Any, steps: int) -> float:
    """Simulated seconds after `steps` HLC steps."""
    return steps * env.cfg.llc_steps * env.control_dt


def pin_sampled_goals(task: Any, env: Any, seed: int) -> None:
    """Draw every environment's goal the way training does (a fixed seed) and pin it."""
    rng = np.random.default_rng(seed)
    ids = np.arange(env.num_envs)
    task.sample(ids, env.state, rng)
    env.set_goal(ids, **task.goal_of(ids))


def run(policy: Any, env: Any, steps: int, each: Callable[[int, Any], None] | None = None) -> tuple[float, np.ndarray]:
    """`steps` HLC steps of `policy.act` from the environment's current state; `each(t, result)` after step t.
    Returns the mean task reward per HLC step and which characters fell at some point."""
    obs, fallen, reward = env.observe(), np.zeros(env.num_envs, dtype=bool), []
    for t in range(steps):
        res = env.step(policy.act(obs))
        obs = res.obs
        reward.append(res.info["task_reward"].mean())
        fallen |= env.env.fallen()
        if each is not None:
            each(t, res)
    return float(np.mean(reward)), fallen


# ---------------------------------------------------------------------------------------------- table cells
def number(*path: str, digits: int) -> Callable[[dict[str, Any]], str]:
    """The cell of metrics[path[0]][path[1]]...: `digits` decimals, "-" when absent or NaN."""

    def cell(metrics: dict[str, Any]) -> str:
        v: Any = metrics
        for k in path:
            v = v.get(k) if isinstance(v, dict) else None
        return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"

    return cell


def pair(a: str, b: str) -> Callable[[dict[str, Any]], str]:
    """Two metrics side by side ("12.3 / 4.5"), "-" when either is absent."""

    def cell(metrics: dict[str, Any]) -> str:
        values = [metrics.get(a), metrics.get(b)]
        return "-" if None in values else f"{values[0]:.1f} / {values[1]:.1f}"

    return cell


# the rows every task's table ends its main part with
COMMON_ROWS: list[Row] = [
    ("fallen", number("fallen", digits=2)),
    ("task reward (mean per step)", number("task_reward", digits=3)),
]
