"""`controller.json`: the sidecar of an exported controller folder (writing and reading; no torch).

Everything a game engine needs beside the ONNX files, generated from the code's own description:
the character and its MJCF (copied into the folder), joint order with DoF, PD gains and the action
mapping (`sim/character.py`), physics and control rates (the MJCF and `sim.env.EnvConfig`), the latent,
the observation layouts (`sim.observations.describe_layouts`), goal layouts per task, the task controller
(`hlc`: task, its config, goal size, hold steps), the models' files and tensors, and the SHA-256 of every
source checkpoint. docs/game-engines.md explains each field.

Format version 1 throughout: the `hlc` section was added compatibly (null, or absent in folders written
before HLC export, when there is no task controller), and readers ignore keys they do not know.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from sim.character import Character
from sim.control import HLC_HOLD_STEPS
from sim.observations import describe_layouts

SIDECAR_NAME = "controller.json"
FORMAT = "ase-runtime/controller"
FORMAT_VERSION = 1
# an export with an HLC records its checkpoint's own number (training.hlc.HLCConfig.llc_steps); without one, the
# project's default (sim.control.HLC_HOLD_STEPS)
REQUIRED = ("format", "format_version", "character", "rates", "joints", "action", "latent", "observations",
            "goal_layouts", "models", "sources")  # fmt: skip


class ControllerFormatError(ValueError):
    """An exported controller folder is missing, corrupt or does not fit this code (one line, names the file)."""


def _floats(a: np.ndarray) -> list[float]:
    return [float(x) for x in np.asarray(a, dtype=np.float64)]


def joints_section(ch: Character, model: Any) -> list[dict]:
    """One entry per actuated joint in action order: DoF, where it lives in qpos/qvel/ctrl, gains, action map."""
    offset, scale = ch.action_offset_scale()
    out, dof = [], 0
    for b in ch.actuated:
        jid = model.joint(b.joint_name).id
        ctrl = [int(i) for i in np.nonzero(model.actuator_trnid[:, 0] == jid)[0]]
        if ctrl != list(range(dof, dof + b.dof)):
            raise ControllerFormatError(f"{ch.mjcf_path}: actuators of joint {b.joint_name} are not in action order")
        out.append({
            "name": b.joint_name,
            "body": b.name,
            "type": b.joint,
            "dof": b.dof,
            "action_index": list(range(dof, dof + b.dof)),
            "actuators": [model.actuator(i).name for i in ctrl],
            "qpos_address": int(model.jnt_qposadr[jid]),
            "qvel_address": int(model.jnt_dofadr[jid]),
            "kp": float(b.kp),
            "kd": float(b.kd),
            "torque_limit": float(b.torque_limit),
            "limits_deg": [list(map(float, lim)) for lim in b.limits_deg],
            "hinge_axis": list(map(float, b.hinge_axis)) if b.joint == "hinge" else None,
            "action_offset": _floats(offset[dof : dof + b.dof]),
            "action_scale": _floats(scale[dof : dof + b.dof]),
        })  # fmt: skip
        dof += b.dof
    return out


def build_sidecar(
    *,
    character: Character,
    model: Any,
    mjcf_file: str,
    mjcf_sha256: str,
    control_substeps: int,
    llc: dict,
    models: dict[str, dict | None],
    sources: dict[str, dict | None],
    generator: str,
    hlc: dict | None = None,
    skills: dict | None = None,
) -> dict:
    """The sidecar dict. `llc` holds the checkpoint's sizes (obs_dim, action_dim, latent_dim, amp_obs_dim,
    num_amp_frames, latent_steps); `models` / `sources` map "llc", "encoder", "hlc" to entries or None;
    `hlc` (with an HLC model) holds task, task_config, goal_layout and hold_steps; `skills` a skill LLC's
    {name: anchor latent}."""
    ch = character
    hold = int(hlc["hold_steps"]) if hlc else HLC_HOLD_STEPS
    dt = float(model.opt.timestep)
    kp, kd = ch.pd_gains()
    offset, scale = ch.action_offset_scale()
    layouts = describe_layouts(ch, llc["num_amp_frames"])
    if layouts["policy"]["size"] != llc["obs_dim"] or layouts["discriminator"]["frame_size"] != llc["amp_obs_dim"]:
        raise ControllerFormatError(
            f"observation sizes of the checkpoint ({llc['obs_dim']}, {llc['amp_obs_dim']}) differ from the code's "
            f"layout ({layouts['policy']['size']}, {layouts['discriminator']['frame_size']})"
        )
    parents = ch.parents
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "generator": generator,
        "conventions": {
            "up": "+z",
            "forward": "+x at heading 0",
            "left": "+y",
            "handedness": "right",
            "units": "metres, seconds, radians, kilograms, newtons",
            "quaternion_order": "wxyz",
            "heading_frame": layouts["heading_frame"],
            "rotation_6d": layouts["rotation_6d"],
        },  # fmt: skip
        "character": {
            "name": ch.name,
            "mjcf": mjcf_file,
            "mjcf_sha256": mjcf_sha256,
            "bodies": [
                {"name": b.name, "parent": ch.bodies[int(p)].name if p >= 0 else None}
                for b, p in zip(ch.bodies, parents)
            ],
            "root_body": ch.bodies[0].name,
            "key_bodies": list(ch.key_bodies),
            "foot_bodies": list(ch.foot_bodies),
            "default_root_height": float(ch.root_height),
            "qpos_size": 7 + sum(4 if b.joint == "ball" else 1 for b in ch.actuated),
            "qvel_size": 6 + ch.num_dof,
        },
        "rates": {
            "physics_dt": dt,
            "physics_hz": round(1.0 / dt, 6),
            "physics_steps_per_control": int(control_substeps),
            "control_hz": round(1.0 / (dt * control_substeps), 6),
            "hlc_hz": round(1.0 / (dt * control_substeps * hold), 6),
        },
        "joints": joints_section(ch, model),
        "action": {
            "size": int(ch.num_dof),
            "range": [-1.0, 1.0],
            "pd_target": "offset + scale * clip(action, -1, 1)",
            "units": "rad: rotation vector (x, y, z) of each ball joint in its parent's frame, angle of each hinge",
            "offset": _floats(offset),
            "scale": _floats(scale),
            "kp": _floats(kp),
            "kd": _floats(kd),
            "torque_limit": _floats(np.concatenate([[b.torque_limit] * b.dof for b in ch.actuated])),
            "pd_law": "torque = clamp(kp (target - q) - kd qdot, -torque_limit, torque_limit), q in action units",
        },
        "latent": {
            "size": int(llc["latent_dim"]),
            "unit_length": True,
            "hold_steps": hold,
            "training_hold_steps": llc.get("latent_steps"),
        },
        # a skill LLC's named skills: the latent to hold for each (unit length); {} for an LLC without names
        "skills": {str(k): _floats(np.asarray(v)) for k, v in (skills or {}).items()},
        "observations": layouts,
        "goal_layouts": [hlc["goal_layout"]] if hlc else [],  # per task: task.goal_layout() (tasks/common.py)
        "hlc": None if hlc is None else {
            "task": hlc["task"],
            "task_config": hlc["task_config"],
            "goal_size": int(hlc["goal_layout"]["size"]),
            "hold_steps": hold,
            "latent": "unit: the tanh mean, clamped to [-1, 1], divided by its length (the deterministic action)",
            "inputs": "obs: the policy observation (observations.policy), goal: the task's goal observation "
                      "(goal_layouts, heading frame); both raw: normalization is inside the model",
        },
        "models": models,
        "sources": sources,
    }  # fmt: skip


def write_sidecar(folder: str | Path, sidecar: dict) -> Path:
    path = Path(folder) / SIDECAR_NAME
    path.write_text(json.dumps(sidecar, indent=1) + "\n")
    return path


def read_sidecar(folder: str | Path) -> dict:
    """Load and check `controller.json` of an exported folder; ControllerFormatError names the file."""
    folder = Path(folder)
    if folder.is_file() and folder.name != SIDECAR_NAME:
        raise ControllerFormatError(f"{folder}: not an export folder (pass the folder `launch.py export --out` wrote)")
    path = folder if folder.name == SIDECAR_NAME else folder / SIDECAR_NAME
    if not path.is_file():
        raise ControllerFormatError(f"{path}: no such file (export a controller with `launch.py export`)")
    try:
        sc = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ControllerFormatError(f"{path}: not readable JSON ({type(exc).__name__}: {exc})") from None
    if not isinstance(sc, dict) or sc.get("format") != FORMAT:
        raise ControllerFormatError(f"{path}: not an exported controller sidecar (format is not {FORMAT!r})")
    if not isinstance(sc.get("format_version"), int) or sc["format_version"] > FORMAT_VERSION:
        raise ControllerFormatError(
            f"{path}: sidecar format {sc.get('format_version')} is newer than this code reads ({FORMAT_VERSION})"
        )
    missing = [k for k in REQUIRED if k not in sc]
    if missing:
        raise ControllerFormatError(f"{path}: incomplete sidecar, missing {', '.join(missing)}")
    return sc
