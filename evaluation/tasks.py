"""Evaluation of a task controller (HLC) on fixed seeds, beside the same LLC driven by random latents.

What is measured is the task's own (`Task.evaluate`, `Task.table_rows`; the parts in tasks/measure.py):
characters start in the default pose; goals are set from outside (pinned, never redrawn) and nothing ends or
restarts during a measurement (falls are counted, not reset). The HLC acts with its mean (deterministic).
Every task reports the mean task reward per HLC step over the measurement and the share that fell.
The random-latent baseline holds each latent for 1-29 HLC steps (the LLC's own schedule).
Functions return plain dicts of numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from controllers.latents import sample_latents
from tasks import make_task
from tasks.env import TaskEnv, TaskEnvConfig


@dataclass
class TaskEvalConfig:
    num_envs: int = 32
    seed: int = 0
    nthread: int = 1
    seconds: float | None = None  # how long each measurement runs; None: the task's own `eval_seconds`
    options: dict = field(default_factory=dict)  # the task's own eval settings (`evaluate`'s keywords)


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


def evaluate_hlc(hlc: Any, llc: Any, cfg: TaskEvalConfig) -> dict[str, Any]:
    """The HLC's task metrics and the same metrics for the LLC driven by random latents."""
    out: dict[str, Any] = {"task": hlc.task, "task_config": dict(hlc.task_config)}
    for label, policy in (("hlc", hlc), ("random_latents", RandomLatents(cfg.num_envs, llc.latent_dim, cfg.seed))):
        env = make_task_env(hlc.task, hlc.task_config, llc, cfg)
        seconds = env.task.eval_seconds if cfg.seconds is None else cfg.seconds
        out[label] = env.task.evaluate(policy, env, seconds, cfg.seed, **cfg.options)
    return out


def table(result: dict[str, Any]) -> str:
    """The task's rows (`Task.table_rows`), its HLC beside random latents."""
    task = make_task(result["task"], 1, result.get("task_config"))
    rows = task.table_rows(result["hlc"])
    width = max(len(label) for label, _ in rows) + 2
    lines = [f"task: {result['task']}", "metric".ljust(width) + "HLC".rjust(14) + "random latents".rjust(16)]
    for label, cell in rows:
        lines.append(label.ljust(width) + cell(result["hlc"]).rjust(14) + cell(result["random_latents"]).rjust(16))
    return "\n".join(lines)
