"""What the viewer, the single-character task driver and the runtime call on a controller, torch or ONNX alike.

`Policy`: a low-level controller (`controllers.checkpoint.LLCPolicy`, `controllers.runtime.OnnxLLC`).
`TaskPolicy`: a task controller (`controllers.hlc.HLCPolicy`, `controllers.runtime.OnnxHLC`).
Typing only: no torch here, so the torch-free runtime may import it.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np


class Policy(Protocol):
    """act(obs (n, obs_dim), z (n, latent_dim)) -> actions (n, action_dim) in [-1, 1]; encode(windows
    (n, num_amp_frames * amp_obs_dim), current frame first) -> the encoder's unit latents (n, latent_dim)."""

    character: str
    obs_dim: int
    action_dim: int
    latent_dim: int
    amp_obs_dim: int
    num_amp_frames: int
    skills: dict[str, np.ndarray]  # a skill LLC's named anchor latents; {} for an LLC without names

    def act(self, obs: np.ndarray, z: np.ndarray) -> np.ndarray: ...

    def encode(self, amp_window: np.ndarray) -> np.ndarray: ...


class TaskPolicy(Protocol):
    """act(obs (n, obs_dim)) -> unit latents (n, latent_dim), where obs is the LLC's policy observation followed by
    the task's goal observation (tasks.env.TaskEnv.observe)."""

    character: str
    task: str  # the task's name (tasks.TASKS)
    task_config: dict[str, Any]  # overrides of the task's config dataclass
    obs_dim: int  # policy observation + goal observation
    latent_dim: int
    llc: dict[str, Any]  # the LLC it was trained with: {"sha256": ..., "path": ...}
    config: dict[str, Any]  # the training config ("llc_steps": LLC steps per decision)

    def act(self, obs: np.ndarray) -> np.ndarray: ...
