"""High-level tasks: one module per task (goal sampling, an external goal and its inverse, the goal observation
in the heading frame, the reward, a success measure, viewer markers, the goal layout, its eval measure and what
the viewer's inputs mean for it: the contract `tasks.common.Task`), composed with the humanoid and a frozen
low-level controller by `tasks.env.TaskEnv`. A new task is a module and a line in `TASKS`: training,
evaluation and the viewer read everything task-specific from the task. Method: docs/method.md
("Task controllers (HLC)", "Tasks")."""

from __future__ import annotations

import argparse
from dataclasses import asdict, fields
from typing import Any

from tasks.common import Task
from tasks.location import LocationConfig, LocationTask
from tasks.reach import ReachConfig, ReachTask
from tasks.speed import SpeedConfig, SpeedTask
from tasks.steering import SteeringConfig, SteeringTask
from tasks.strike import StrikeConfig, StrikeTask

# name -> (task class, its config dataclass)
TASKS: dict[str, tuple[type, type]] = {
    "steering": (SteeringTask, SteeringConfig),
    "speed": (SpeedTask, SpeedConfig),
    "location": (LocationTask, LocationConfig),
    "reach": (ReachTask, ReachConfig),
    "strike": (StrikeTask, StrikeConfig),
}


def task_config(name: str, overrides: dict[str, Any] | None = None) -> Any:
    """The task's config dataclass with `overrides` (e.g. from a checkpoint); unknown names fail clearly."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; choose one of {', '.join(TASKS)}")
    cls = TASKS[name][1]
    known = {f.name for f in fields(cls)}
    bad = sorted(set(overrides or {}) - known)
    if bad:
        raise ValueError(f"task {name!r} has no option {', '.join(bad)}; options: {', '.join(sorted(known))}")
    flags = {f.name for f in fields(cls) if isinstance(f.default, bool)}
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in (overrides or {}).items()}
    values |= {k: bool(v) for k, v in values.items() if k in flags and v in (0, 1)}  # `--task-option NAME=1`
    return cls(**values)


def parse_task_option(text: str) -> tuple[str, Any]:
    """`NAME=VALUE` (the command lines' --task-option): the value read as a number, a comma list of numbers, or
    a string. argparse.ArgumentTypeError (a one-line usage error) without the `=`."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected name=value, got {text!r}")
    name, value = text.split("=", 1)
    try:
        parts = [float(v) if "." in v or "e" in v else int(v) for v in value.split(",")]
        return name, parts[0] if len(parts) == 1 else tuple(parts)
    except ValueError:
        return name, value


def make_task(name: str, num_envs: int, overrides: dict[str, Any] | None = None) -> Task:
    cfg = task_config(name, overrides)
    return TASKS[name][0](num_envs, cfg)


def task_config_dict(task: Task) -> dict[str, Any]:
    return asdict(task.cfg)  # type: ignore[attr-defined]


__all__ = ["TASKS", "Task", "make_task", "parse_task_option", "task_config", "task_config_dict"]
