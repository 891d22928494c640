"""One control step's numbers for an export, to check a game-engine port against (docs/game-engines.md).

    python -m controllers.runtime.reference_frame EXPORT_DIR > frame.json

A fixed, deliberately non-trivial character state (turned and tilted root, bent joints, moving) goes
through MuJoCo's forward kinematics, the observation formulas and the exported LLC; the JSON holds every
intermediate: qpos/qvel, world body states, the observation, the latent, the action and the PD targets.
docs/game-engines.md shows this frame for checkpoints/llc_cpu_round0.pt and a test keeps it current.
"""

from __future__ import annotations

import json
import math
import sys

import numpy as np

from controllers.runtime.controller import Controller


def example_state(ctl: Controller) -> tuple[np.ndarray, np.ndarray]:
    """qpos, qvel of the example: root at (0.3, -0.2, 0.85) turned 120 degrees (yaw) and pitched 10 degrees
    forward, ball joints at rotation vectors 0.2 * (sin k, cos k, sin 2k) (k = joint index), hinges at 40 %
    of their range from its middle, root moving (0.8, 0.3, -0.1) m/s, turning (0.2, -0.1, 0.5) rad/s in its
    own frame, joint rates 0.5 cos(j) (j = DoF index)."""
    yaw, pitch = math.radians(120.0), math.radians(10.0)
    q_yaw = np.array([math.cos(yaw / 2), 0.0, 0.0, math.sin(yaw / 2)])
    q_pitch = np.array([math.cos(pitch / 2), 0.0, math.sin(pitch / 2), 0.0])
    w1, v1, w2, v2 = q_yaw[0], q_yaw[1:], q_pitch[0], q_pitch[1:]
    root_quat = np.concatenate([[w1 * w2 - v1 @ v2], w1 * v2 + w2 * v1 + np.cross(v1, v2)])
    qpos = [0.3, -0.2, 0.85, *root_quat]
    for k, j in enumerate(ctl.sidecar["joints"]):
        if j["type"] == "ball":
            rv = 0.2 * np.array([math.sin(k), math.cos(k), math.sin(2 * k)])
            angle = float(np.linalg.norm(rv))
            qpos += [math.cos(angle / 2), *(math.sin(angle / 2) * rv / angle)]
        else:
            lo, hi = np.radians(j["limits_deg"][0])
            qpos.append(0.5 * (lo + hi) + 0.4 * 0.5 * (hi - lo))
    dof = ctl.sidecar["action"]["size"]
    qvel = [0.8, 0.3, -0.1, 0.2, -0.1, 0.5, *(0.5 * np.cos(np.arange(dof)))]
    return np.array(qpos), np.array(qvel)


def example_latent(dim: int) -> np.ndarray:
    """(+1, -1, +1, ...) / sqrt(dim): a unit latent anyone can type."""
    return ((-1.0) ** np.arange(dim) / math.sqrt(dim)).astype(np.float32)


def _f(x: np.ndarray, digits: int = 9) -> list[float]:
    return [float(f"{v:.{digits}g}") for v in np.asarray(x, dtype=np.float64).reshape(-1)]


def reference_frame(ctl: Controller) -> dict:
    """The example frame's numbers for the controller's export (no physics step is taken)."""
    qpos, qvel = example_state(ctl)
    ctl.reset(qpos, qvel)
    pos, quat, lin, ang = ctl.bodies()
    obs = ctl.observe()
    z = example_latent(ctl.policy.latent_dim)
    action, target = ctl.policy.run(obs[None], z[None])
    names = [b["name"] for b in ctl.sidecar["character"]["bodies"]]
    bodies = {n: {"pos": _f(pos[i]), "quat": _f(quat[i]), "lin_vel": _f(lin[i]), "ang_vel": _f(ang[i])}
              for i, n in enumerate(names)}  # fmt: skip
    return {
        "source": ctl.sidecar["sources"]["llc"]["file"],
        "qpos": _f(qpos),
        "qvel": _f(qvel),
        "bodies": bodies,
        "obs": _f(obs, 8),
        "latent": "(+1, -1, +1, ...) / sqrt(latent size)",
        "action": _f(action[0], 8),
        "pd_target": _f(target[0], 8),
    }


def dumps(frame: dict) -> str:
    """JSON with each list of numbers on one line (readable in a document, diff-friendly)."""
    text = json.dumps(frame, indent=1)
    out, buf = [], []
    for line in text.splitlines():  # fold lines of plain numbers into their list's opening line
        stripped = line.strip().rstrip(",")
        if buf and (stripped.startswith("]")):
            out.append(buf[0] + ", ".join(buf[1:]) + line.strip())
            buf = []
        elif buf:
            buf.append(stripped)
        elif line.rstrip().endswith("["):
            buf = [line.rstrip()]
        else:
            out.append(line)
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or argv[0].startswith("-"):
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    print(dumps(reference_frame(Controller(argv[0]))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
