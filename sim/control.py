"""Control facts shared by the batched environment, the task environment, the viewer and the runtime.

120 Hz physics comes from the model (`opt.timestep`); a control step is `CONTROL_SUBSTEPS`
physics steps (30 Hz). Actions in [-1, 1] map to joint PD targets as `offset + scale * a`
(`Character.action_offset_scale`).

One level up, a task controller (HLC) decides every `HLC_HOLD_STEPS` control steps, and its action becomes the
latent the low-level controller holds in between (`latent_from_action`): plain functions, numpy or torch, shared
by the task environment, the torch HLC and the single-simulation driver (docs/method.md, "Task controllers").
"""

from __future__ import annotations

from typing import Any

import mujoco
import numpy as np

from sim.character import Character

CONTROL_SUBSTEPS = 4  # physics steps per control step: 120 Hz physics, 30 Hz control
# a task controller (HLC) picks a latent every 5 control steps and the LLC holds it in between (an HLC at 6 Hz over
# a 30 Hz LLC). The one default of the project: HLC configs, task environments, the viewer's driver and exports
# start from it; an HLC checkpoint or export records its own number.
HLC_HOLD_STEPS = 5


def control_dt(model: mujoco.MjModel, substeps: int = CONTROL_SUBSTEPS) -> float:
    """Seconds per control step, from the model's physics time step."""
    return float(model.opt.timestep) * substeps


def actions_to_targets(offset: np.ndarray, scale: np.ndarray, actions: np.ndarray) -> np.ndarray:
    """Actions (..., A), clipped to [-1, 1] -> PD targets (rotation-vector components and hinge angles)."""
    if isinstance(actions, np.ndarray):
        return offset + scale * np.clip(actions, -1.0, 1.0)
    return offset + scale * actions.clamp(-1.0, 1.0)  # a torch tensor on the physics device


def latent_from_action(a: Any) -> Any:
    """HLC action (n, latent_dim) -> unit latent: clamp to [-1, 1], then normalize (numpy float32, or a torch
    tensor computed as `torch.nn.functional.normalize` does)."""
    if hasattr(a, "clamp"):  # a torch tensor, on any device
        a = a.clamp(-1.0, 1.0)
        return a / a.norm(2, -1, keepdim=True).clamp_min(1e-12).expand_as(a)
    a = np.clip(np.asarray(a, dtype=np.float32), -1.0, 1.0)
    return a / np.maximum(np.linalg.norm(a, axis=-1, keepdims=True), 1e-12)


def character_state_size(ch: Character) -> tuple[int, int]:
    """(nq, nv) of the character's part of qpos/qvel: free root, then a quaternion or an angle per joint."""
    nq = 7 + sum(4 if b.joint == "ball" else 1 for b in ch.actuated)
    return nq, 6 + ch.num_dof
