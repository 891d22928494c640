"""Strike: knock over a free-standing box, a real body of the MuJoCo scene (`sim.scene`, "strike_target":
0.4 x 0.4 x 1.8 m, density 30 kg/m^3 = 8.64 kg, centre at z 0.9 m).

Goal observation (15, heading frame): [target position relative to the root in xy with absolute z (3),
target 6D rotation (6), linear velocity (3), angular velocity (3)]. Reward (docs/method.md, "Tasks"):
    0.6 max(1 - up.up_0, 0) + 0.4 exp(-4 max(1 - v.u, 0)^2),   r = 1 once up.up_0 < 0.2
up the box's up axis, up_0 world up, u the unit xy direction from the root to the box, v the root's xy
velocity over one control step (approach speed 1 m/s), the velocity term 0 when v.u <= 0. Success = tipped
(up.up_0 < 0.2). Extra failure (a termination): the box is pushed (horizontal force > 1 N) while a body other
than the feet and the striking bodies (right hand, right forearm, sword) has a contact force > 1 N.
The box's horizontal force is its mass times its horizontal velocity change over the control step (gravity
is vertical, so this is the net horizontal contact force, averaged over the step).
Placement at each episode start: distance U(0.5, 1.5) m with probability 0.5, else U(0.5, 10) m, random
bearing and yaw, around the character's root; no redraws during an episode.
Eval (`eval --hlc`): boxes placed as in training; success = tipped within `eval_seconds` (10 s) with no foul
before it (a foul in the same HLC step as the tipping counts against it, as it ends a training episode);
tipped at all and fouled are reported beside it. Viewer: V places the box in front of the character, a
ground click places it there (the box is the scene's body: the viewer writes the placement the task asks for).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.arrays import copy, index_like, namespace, to_numpy
from sim.rotations import heading_angle, quat_from_axis_angle, quat_mul, quat_to_tan_norm
from sim.scene import STRIKE_TARGET_SIZE
from tasks.common import (
    GoalSchedule,
    Marker,
    Motion,
    Row,
    TaskState,
    ViewerGoals,
    ViewerInput,
    as_ids,
    broadcast,
    goal_layout,
    host_goals,
    host_rows,
    to_heading_xy,
    unit_xy,
    xyz,
)
from tasks.measure import COMMON_ROWS, hlc_steps, number, pin_sampled_goals, run, seconds_at

Z_AXIS = np.array([0.0, 0.0, 1.0])


@dataclass
class StrikeConfig:
    near_prob: float = 0.5
    near_dist: tuple[float, float] = (0.5, 1.5)  # m
    far_dist: tuple[float, float] = (0.5, 10.0)  # m
    rot_weight: float = 0.6
    vel_weight: float = 0.4
    target_speed: float = 1.0  # m/s
    vel_err_scale: float = 4.0
    tipped_up: float = 0.2  # success once up.up_0 < this
    contact_force: float = 1.0  # N, both the push and the illegal-contact thresholds
    strike_bodies: tuple[str, ...] = ("right_hand", "right_lower_arm", "sword")  # those absent are skipped
    fail_on_illegal_contact: bool = True


def target_up(rot: np.ndarray) -> np.ndarray:
    """(n,) z component of the box's up axis (1 upright, 0 lying): 1 - 2 (x^2 + y^2)."""
    return 1.0 - 2.0 * (rot[:, 1] ** 2 + rot[:, 2] ** 2)


def strike_reward(
    target_pos: np.ndarray, target_rot: np.ndarray, root_pos: np.ndarray, root_vel: np.ndarray, cfg: StrikeConfig
) -> np.ndarray:
    xp = namespace(target_pos)
    up = target_up(target_rot)
    tip = xp.clip(1.0 - up, min=0.0)
    u = unit_xy(target_pos - root_pos)
    along = (u * root_vel[:, :2]).sum(-1)
    vel = xp.exp(-cfg.vel_err_scale * xp.clip(cfg.target_speed - along, min=0.0) ** 2)
    vel = xp.where(along <= 0.0, 0.0, vel)
    r = cfg.rot_weight * tip + cfg.vel_weight * vel
    return xp.where(up < cfg.tipped_up, 1.0, r)


def strike_observation(
    root_pos: np.ndarray, root_rot: np.ndarray, pos: np.ndarray, rot: np.ndarray, lin: np.ndarray, ang: np.ndarray
) -> np.ndarray:
    """(n, 15) target position (xy relative to the root, absolute z), 6D rotation, velocities; heading frame."""
    xp = namespace(pos)
    rel = pos - root_pos
    rel[:, 2] = pos[:, 2]
    local_rot = quat_mul(quat_from_axis_angle(Z_AXIS, -heading_angle(root_rot)), rot)
    parts = [to_heading_xy(root_rot, rel), quat_to_tan_norm(local_rot), to_heading_xy(root_rot, lin)]
    parts.append(to_heading_xy(root_rot, ang))
    return xp.concat([xp.astype(p, xp.float32) for p in parts], axis=1)


class StrikeTask:
    name = "strike"
    goal_dim = 15
    failure = "foul: the box pushed while a body other than the feet or the striking arm touched something"
    uses_strike_target = True
    goal_arrays = ()  # the terms read the simulated box, not a set value
    goal_position = "target_pos"
    eval_seconds = 10.0
    viewer_inputs = (
        ViewerInput("box", "the box, 1.5 m in front (again: stand it up)"),
        ViewerInput("click", "the box there", switches=False),
    )

    def __init__(self, num_envs: int, cfg: StrikeConfig | None = None) -> None:
        self.cfg = cfg or StrikeConfig()
        self.num_envs = num_envs
        self.schedule = GoalSchedule(num_envs, None)  # placed at episode starts only
        # placements stay host arrays: they are written to physics at episode starts, never read by the terms
        self.spawn_xy = np.zeros((num_envs, 2))  # world xy where the box was (or is to be) placed
        self.spawn_yaw = np.zeros(num_envs)
        self.pending = np.zeros(num_envs, dtype=bool)  # placements TaskEnv has not written to physics yet
        self.allowed = np.zeros(0, dtype=np.int64)  # body indices allowed to touch (feet, striking bodies)

    def bind(self, character: Any) -> None:
        names = [*character.foot_bodies, *(b for b in self.cfg.strike_bodies if b in character.body_names)]
        self.allowed = np.array([character.body_index(n) for n in names], dtype=np.int64)

    # goals: where the box stands
    def sample(self, ids: np.ndarray, state: TaskState, rng: np.random.Generator) -> None:
        k, c = len(ids), self.cfg
        near = rng.random(k) < c.near_prob
        dist = np.where(near, rng.uniform(*c.near_dist, k), rng.uniform(*c.far_dist, k))
        bearing = rng.uniform(0.0, 2 * math.pi, k)
        offset = dist[:, None] * np.stack([np.cos(bearing), np.sin(bearing)], 1)
        self.spawn_xy[ids] = host_rows(state.root_pos, ids)[:, :2] + offset
        self.spawn_yaw[ids] = rng.uniform(0.0, 2 * math.pi, k)
        self.pending[ids] = True

    def set_goal(self, ids: Any = None, *, pos: Any, yaw: Any = 0.0) -> None:
        """Place the box upright at world xy `pos` (m) with yaw (rad); pinned: episode starts put it back there."""
        ids = as_ids(ids, self.num_envs)
        self.spawn_xy[ids] = broadcast(np.asarray(pos, dtype=np.float64)[..., :2], len(ids), 2)
        self.spawn_yaw[ids] = broadcast(yaw, len(ids))
        self.pending[ids] = True
        self.schedule.pin(ids)

    def goal_of(self, ids: Any) -> dict[str, np.ndarray]:
        return host_goals(self, ids, pos="spawn_xy", yaw="spawn_yaw")

    def take_placements(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(ids, centre positions (k, 3), quaternions (k, 4)) of placements to write, and clears them."""
        ids = np.nonzero(self.pending)[0]
        self.pending[ids] = False
        pos = np.concatenate([self.spawn_xy[ids], np.full((len(ids), 1), STRIKE_TARGET_SIZE[2])], 1)
        return ids, pos, quat_from_axis_angle(Z_AXIS, self.spawn_yaw[ids])

    # terms
    def _target(self, state: TaskState):
        if state.target is None:
            raise RuntimeError("the strike task needs a scene with the strike target (EnvConfig(strike_target=True))")
        return state.target

    def observe(self, state: TaskState) -> np.ndarray:
        t = self._target(state)
        return strike_observation(state.root_pos, state.root_rot, t.pos, t.rot, t.lin_vel, t.ang_vel)

    def reward(self, state: TaskState) -> np.ndarray:
        t = self._target(state)
        return strike_reward(t.pos, t.rot, state.root_pos, state.root_vel, self.cfg)

    def success(self, state: TaskState) -> np.ndarray:
        return target_up(self._target(state).rot) < self.cfg.tipped_up

    def failed(self, state: TaskState) -> np.ndarray:
        if not self.cfg.fail_on_illegal_contact:
            return state.none()
        pushed = self._target(state).push > self.cfg.contact_force
        contact = copy(state.contact)
        contact[:, index_like(self.allowed, contact)] = 0.0
        return pushed & (contact > self.cfg.contact_force).any(1)

    def markers(self, i: int, state: TaskState) -> list[Marker]:
        t = self._target(state)
        rot = to_numpy(t.rot[i])
        tipped = bool(target_up(rot[None])[0] < self.cfg.tipped_up)
        color = (0.2, 0.8, 0.3, 1.0) if tipped else (0.8, 0.3, 0.2, 1.0)
        quat = tuple(float(q) for q in rot)  # the box as it lies: upright, leaning or down
        pos = xyz(to_numpy(t.pos[i]))
        return [Marker("box", pos, STRIKE_TARGET_SIZE, quat=quat, color=color, label="strike target")]

    # evaluation
    def evaluate(self, policy: Any, env: Any, seconds: float, seed: int) -> dict[str, Any]:
        env.reset()
        pin_sampled_goals(self, env, seed + 13)
        n = env.num_envs
        t_hit, t_foul = np.full(n, np.inf), np.full(n, np.inf)

        def each(t: int, res: Any) -> None:
            now = seconds_at(env, t + 1)
            t_hit[res.info["success"] & np.isinf(t_hit)] = now
            t_foul[res.info["failed"] & np.isinf(t_foul)] = now

        reward, fallen = run(policy, env, hlc_steps(env, seconds), each)
        clean = t_hit < t_foul  # a foul in the same HLC step as the tipping counts against it
        return {
            "success": float(clean.mean()),
            "median_seconds": float(np.median(t_hit[clean])) if clean.any() else float("nan"),
            "tipped": float(np.isfinite(t_hit).mean()),
            "fouled": float((np.isfinite(t_foul) & (t_foul <= t_hit)).mean()),
            "fallen": float(fallen.mean()),
            "task_reward": reward,
        }

    def table_rows(self, metrics: dict[str, Any]) -> list[Row]:
        return [
            (f"success (tipped, no foul) in {self.eval_seconds:g} s", number("success", digits=2)),
            ("  median time (s)", number("median_seconds", digits=1)),
            ("tipped, fouls included", number("tipped", digits=2)),
            ("fouled before tipping", number("fouled", digits=2)),
            *COMMON_ROWS,
        ]

    # the viewer: the box is placed through `set_goal` and `take_placements` (app.session.spawn_strike_target)
    def viewer_goal(self, goals: ViewerGoals) -> None:
        return None

    def viewer_start(self, root: np.ndarray, yaw: float) -> dict[str, Any]:
        return {}

    def goal_text(self, i: int, state: TaskState) -> str:
        if state.target is None:
            return "-"
        x, y = state.target.pos[i, :2]
        return f"box at ({x:.1f}, {y:.1f}), {self._box_distance(i, state):.1f} m away"

    def measured_text(self, i: int, state: TaskState, motion: Motion) -> str:
        return "" if state.target is None else f"{self._box_distance(i, state):.2f} m from the box"

    def _box_distance(self, i: int, state: TaskState) -> float:
        return float(np.linalg.norm(to_numpy(state.target.pos[i, :2] - state.root_pos[i, :2])))

    def goal_layout(self) -> dict[str, Any]:
        return goal_layout(
            self.name,
            [
                ("target_pos", 3, "heading", "m: xy relative to the root, z absolute"),
                ("target_rot", 6, "heading", "6D [R x, R z]"),
                ("target_lin_vel", 3, "heading", "m/s"),
                ("target_ang_vel", 3, "heading", "rad/s"),
            ],
            {"pos": "world xy (m) of the box (centre at z 0.9 m)", "yaw": "rad"},
            note="read from the simulated box (body 'strike_target'), not from a set value",
        )

    def state_dict(self) -> dict[str, Any]:
        keys = ("spawn_xy", "spawn_yaw", "pending")
        return {**{k: getattr(self, k).copy() for k in keys}, "schedule": self.schedule.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for k in ("spawn_xy", "spawn_yaw", "pending"):
            setattr(self, k, state[k].copy())
        self.schedule.load_state_dict(state["schedule"])
