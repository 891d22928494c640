"""Evaluation of a low-level controller: does it stay up, move, get up, look like the data, cover the skills?

Every measurement runs the batched environment on the CPU from fixed seeds with the policy's mean action:

- upright: fraction of steps with the head above 1 m; characters start in the default pose and their latents
  are redrawn every 1-149 control steps (the training schedule);
- motion: root path length per 10 s, mean horizontal root speed and net displacement per 10 s, same run;
- recovery: from fall-pool starts, and after a hard shove, the fraction that is up (root above 0.7 m and head
  above 1.2 m, held 1 s) within 5 s, and the median time to get up;
- realism: mean distance from simulated poses to the nearest dataset pose (mean geodesic angle over the
  actuated joints, degrees), beside the same figure for an untrained policy of the same size;
- coverage: for each clip's latent preset (the normalized mean encoder output over the clip's windows), whether
  the motion it produces is nearest to that clip (nearest dataset frame in standardized discriminator features,
  majority over the run), as a fraction of the clips.
Functions take a policy with `act(obs, z)` / `encode(windows)` (controllers.checkpoint.LLCPolicy) and return
plain dicts of numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from controllers.latents import clip_preset, sample_latents
from motion.amp import AmpDataset
from sim.arrays import to_numpy
from sim.env import EnvConfig, HumanoidEnv, ResetConfig
from sim.perturbations import SHOVE_BODY, SHOVE_STRENGTH, random_shove
from sim.rotations import quat_from_axis_angle, quat_rotate


@dataclass
class EvalConfig:
    num_envs: int = 64
    steps: int = 300  # control steps of the random-latent run (10 s)
    seed: int = 0
    upright_head: float = 1.0  # m
    up_root: float = 0.7  # m: "up" = root above this and head above up_head, held hold_seconds
    up_head: float = 1.2
    hold_seconds: float = 1.0
    recovery_seconds: float = 5.0
    shove_after_seconds: float = 1.0
    shove_impulse: float = SHOVE_STRENGTH  # N s on the shove body, horizontal, random direction
    down_head: float = 0.6  # m: a shove "knocked down" a character whose head went below this
    latent_steps: tuple[int, int] = (1, 150)  # redraw interval, [min, max)
    pose_stride: int = 5  # realism: every k-th step's pose
    coverage_seconds: float = 8.0
    coverage_skip_seconds: float = 2.0
    held_seconds: float = 5.0  # steerability: each character holds one random latent this long
    nthread: int = 1
    backend: str = "cpu"  # sim.backend.make_backend: cpu, cuda, warp-cpu


class LatentDraw:
    """Unit latents redrawn per environment at uniform random intervals (the training schedule, numpy RNG)."""

    def __init__(self, n: int, dim: int, steps: tuple[int, int], rng: np.random.Generator) -> None:
        self.n, self.dim, self.steps, self.rng = n, dim, steps, rng
        self.z = self._sample(n)
        self.left = rng.integers(*steps, n)

    def _sample(self, k: int) -> np.ndarray:
        return sample_latents(k, self.dim, self.rng).astype(np.float32)

    def next(self) -> np.ndarray:
        due = self.left <= 0
        if due.any():
            self.z[due] = self._sample(int(due.sum()))
            self.left[due] = self.rng.integers(*self.steps, int(due.sum()))
        self.left -= 1
        return self.z


def make_env(cfg: EvalConfig, motions: Any = None, mode: str = "default", seed_offset: int = 0) -> HumanoidEnv:
    """No early termination and no automatic resets: each character lives through the whole measurement."""
    env_cfg = EnvConfig(
        num_envs=cfg.num_envs,
        seed=cfg.seed + seed_offset,
        nthread=cfg.nthread,
        backend=cfg.backend,
        early_termination=False,
        auto_reset=False,
        reset=ResetConfig(mode=mode),
    )
    return HumanoidEnv(env_cfg, motions)


def _heights(env: HumanoidEnv) -> tuple[np.ndarray, np.ndarray]:
    pos = env.backend.bodies()[0]
    head = env.character.body_index("head") + 1
    return pos[:, 1, 2].copy(), pos[:, head, 2].copy()


def _joint_quats(env: HumanoidEnv, qpos: np.ndarray) -> np.ndarray:
    """(n, J, 4) local rotation of every actuated joint (hinges as rotations about their axis)."""
    idx = env.joints
    out = np.empty((len(qpos), len(idx.qpos_adr), 4))
    out[:, idx.ball_slot] = qpos[:, idx.ball_qpos[:, None] + np.arange(4)]
    out[:, idx.hinge_slot] = quat_from_axis_angle(idx.hinge_axis, qpos[:, idx.hinge_qpos])
    return out / np.linalg.norm(out, axis=-1, keepdims=True)


def nearest_pose_angle(sim: np.ndarray, data: np.ndarray, chunk: int = 256) -> np.ndarray:
    """(n,) degrees: for each simulated pose (n, J, 4), the mean joint angle to the nearest dataset pose (m, J, 4)."""
    out = np.empty(len(sim))
    for s in range(0, len(sim), chunk):
        dots = np.abs(np.einsum("njk,mjk->nmj", sim[s : s + chunk], data))
        angle = 2.0 * np.arccos(np.clip(dots, 0.0, 1.0))  # (n, m, J)
        out[s : s + chunk] = angle.mean(-1).min(1)
    return np.degrees(out)


def dataset_frames(env: HumanoidEnv) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every clip sampled at the control rate: (qpos (m, nq), discriminator frames (m, amp_dim), clip id (m,))."""
    lib, dt = env.motions, env.control_dt
    clips = [np.full(max(int(d / dt), 1), c) for c, d in enumerate(lib.durations)]
    times = [np.arange(len(c)) * dt for c in clips]
    clip_ids, t = np.concatenate(clips), np.concatenate(times)
    st = lib.sample(clip_ids, t)
    from sim.observations import amp_obs

    frames = amp_obs(env.joints, st.qpos, st.qvel, st.body_pos[:, env.joints.key_bodies])
    return st.qpos, frames, clip_ids


def latent_effect(actions: np.ndarray, actions_other: np.ndarray, z: np.ndarray, z_other: np.ndarray) -> np.ndarray:
    """(n,) how much the actions change with the latent in the same states: the mean over action dimensions of
    (a(s, z) - a(s, z'))^2 / (0.5 (1 - z.z') + 1e-5), from the mean actions (clipped to [-1, 1]) under z and z'.
    It is the quantity the LLC's diversity loss pulls toward 1 (docs/method.md, "Low-level controller (LLC)");
    about 0 means the latent barely matters."""
    a, b = to_numpy(actions).astype(np.float64), to_numpy(actions_other).astype(np.float64)
    dz = 0.5 * (1.0 - (to_numpy(z) * to_numpy(z_other)).sum(1)) + 1e-5
    return ((a - b) ** 2).mean(1) / dz


def random_latent_run(policy: Any, cfg: EvalConfig) -> dict[str, Any]:
    """Default-pose starts, latents redrawn every 1-149 steps: upright and motion metrics, sampled poses, and
    the latent's effect on the actions in the visited states (against fresh latents from their own stream)."""
    env = make_env(cfg)
    obs = env.reset()
    draw = LatentDraw(env.num_envs, policy.latent_dim, cfg.latent_steps, np.random.default_rng(cfg.seed))
    other = LatentDraw(env.num_envs, policy.latent_dim, (1, 2), np.random.default_rng(cfg.seed + 3))
    upright, path = np.zeros(env.num_envs), np.zeros(env.num_envs)
    start = env.backend.qpos[:, :2].copy()
    prev = start.copy()
    poses, effect = [], []
    for t in range(cfg.steps):
        z = draw.next()
        actions = policy.act(obs, z)
        if t % cfg.pose_stride == 0:
            z_other = other.next()
            effect.append(latent_effect(actions, policy.act(obs, z_other), z, z_other))
        obs = env.step(actions).obs
        root = env.backend.qpos[:, :2]
        path += np.linalg.norm(root - prev, axis=1)
        prev = root.copy()
        upright += _heights(env)[1] > cfg.upright_head
        if t % cfg.pose_stride == cfg.pose_stride - 1:
            poses.append(_joint_quats(env, env.backend.qpos[:, : env.nq_char]))
    seconds = cfg.steps * env.control_dt
    net = np.linalg.norm(prev - start, axis=1)
    return {
        "upright": float(upright.mean() / cfg.steps),
        "path_per_10s": float(path.mean() * 10.0 / seconds),
        "mean_speed": float(path.mean() / seconds),
        "net_displacement_per_10s": float(net.mean() * 10.0 / seconds),
        "unstable_resets": env.counters["unstable_resets"],
        "latent_effect": float(np.mean(effect)),
        "_poses": np.concatenate(poses),
    }


def _time_up(up: np.ndarray, hold: int, within: int, dt: float) -> np.ndarray:
    """(n,) seconds until `up` (T, n) starts a run of `hold` steps that begins within `within` steps; nan if never."""
    T, n = up.shape
    run = np.zeros(n, dtype=np.int64)
    first = np.full(n, np.nan)
    for t in range(T - 1, -1, -1):  # run[t] = length of the up-streak starting at t
        run = np.where(up[t], run + 1, 0)
        ok = (run >= hold) & (t < within)
        first = np.where(ok, t, first)
    return (first + 1) * dt


LYING_POSES = ("face_down", "side", "face_up")


def lying_pose(root_quat: np.ndarray) -> np.ndarray:
    """(n,) how each character lies, from the root's forward (x) axis: more than 30 degrees below the horizon
    (z < -0.5) is face down, more than 30 degrees above it face up, else on its side."""
    fwd_z = quat_rotate(root_quat, np.tile([1.0, 0.0, 0.0], (len(root_quat), 1)))[:, 2]
    return np.where(fwd_z < -0.5, "face_down", np.where(fwd_z > 0.5, "face_up", "side"))


def recovery_from_fall_pool(policy: Any, cfg: EvalConfig) -> dict[str, Any]:
    env = make_env(cfg, mode="fall_pool", seed_offset=1)
    obs = env.reset()
    pose = lying_pose(np.array(env.backend.qpos[:, 3:7]))
    draw = LatentDraw(env.num_envs, policy.latent_dim, cfg.latent_steps, np.random.default_rng(cfg.seed + 1))
    res = _recovery(env, obs, draw, policy, cfg)
    up = np.isfinite(res["_t_up"])
    res["by_pose"] = {}
    for name in LYING_POSES:
        mine = pose == name
        fraction = float(up[mine].mean()) if mine.any() else float("nan")
        res["by_pose"][name] = {"n": int(mine.sum()), "up_fraction": fraction}
    return res


def _recovery(env: HumanoidEnv, obs: np.ndarray, draw: LatentDraw, policy: Any, cfg: EvalConfig) -> dict[str, float]:
    dt = env.control_dt
    hold, within = round(cfg.hold_seconds / dt), round(cfg.recovery_seconds / dt)
    ups, lowest = [], np.full(env.num_envs, np.inf)
    for _ in range(within + hold):
        obs = env.step(policy.act(obs, draw.next())).obs
        root, head = _heights(env)
        ups.append((root > cfg.up_root) & (head > cfg.up_head))
        lowest = np.minimum(lowest, head)
    t_up = _time_up(np.array(ups), hold, within, dt)
    got_up = np.isfinite(t_up)
    return {
        "up_fraction": float(got_up.mean()),
        "median_seconds": float(np.median(t_up[got_up])) if got_up.any() else float("nan"),
        "_t_up": t_up,
        "_lowest_head": lowest,
    }


def recovery_after_shove(policy: Any, cfg: EvalConfig) -> dict[str, float]:
    """Stand/move for `shove_after_seconds`, shove the torso hard, then time the get-up of those knocked down."""
    env = make_env(cfg, seed_offset=2)
    obs = env.reset()
    rng = np.random.default_rng(cfg.seed + 2)
    draw = LatentDraw(env.num_envs, policy.latent_dim, cfg.latent_steps, rng)
    for _ in range(round(cfg.shove_after_seconds / env.control_dt)):
        obs = env.step(policy.act(obs, draw.next())).obs
    for i in range(env.num_envs):
        env.apply_impulse(i, SHOVE_BODY, random_shove(rng, cfg.shove_impulse))
    res = _recovery(env, obs, draw, policy, cfg)
    down = res["_lowest_head"] < cfg.down_head
    t_up = res["_t_up"][down]
    up = np.isfinite(t_up)
    return {
        "knocked_down": float(down.mean()),
        "up_fraction": float(up.mean()) if down.any() else float("nan"),
        "median_seconds": float(np.median(t_up[up])) if up.any() else float("nan"),
    }


def coverage(policy: Any, cfg: EvalConfig, motions: Any) -> dict[str, Any]:
    """Drive one character per clip with that clip's preset; is the produced motion nearest to that clip?"""
    n = motions.num_clips
    env_cfg = EnvConfig(
        num_envs=n, seed=cfg.seed + 3, nthread=cfg.nthread, backend=cfg.backend, early_termination=False,
        auto_reset=False,
        reset=ResetConfig(mode="default"),
    )  # fmt: skip
    env = HumanoidEnv(env_cfg, motions)
    dataset = AmpDataset.of(env)
    presets = np.stack([clip_preset(policy.encode(dataset.clip_windows(c))) for c in range(n)]).astype(np.float32)
    _, data, clip_of = dataset_frames(env)
    std = data.std(0) + 1e-3
    obs = env.reset()
    votes = np.zeros((n, n), dtype=np.int64)
    skip = round(cfg.coverage_skip_seconds / env.control_dt)
    for t in range(round(cfg.coverage_seconds / env.control_dt)):
        obs = env.step(policy.act(obs, presets)).obs
        if t >= skip:
            frame = env.amp_hist[:, 0] / std
            d = ((frame[:, None] - (data / std)[None]) ** 2).sum(-1)
            votes[np.arange(n), clip_of[d.argmin(1)]] += 1
    nearest = votes.argmax(1)
    names = motions.clip_names
    return {
        "fraction": float((nearest == np.arange(n)).mean()),
        "nearest": {names[c]: names[int(nearest[c])] for c in range(n)},
    }


def held_latent_run(policy: Any, cfg: EvalConfig) -> dict[str, Any]:
    """Steerability: each character holds one random latent for `held_seconds` from the default pose (facing +x).
    Where the latents take it is what a task controller can choose from: travel direction relative to the start
    heading (degrees, + = left), the heading change, and the net speed; fractions turning left (> 20 degrees)
    and right (< -20) and going backwards (beyond 120 degrees either way)."""
    env = make_env(cfg, seed_offset=7)
    obs = env.reset()
    z = LatentDraw(env.num_envs, policy.latent_dim, (1, 2), np.random.default_rng(cfg.seed + 7)).z.copy()
    start = env.backend.qpos[:, :2].copy()
    steps = int(round(cfg.held_seconds / env.control_dt))
    for _ in range(steps):
        obs = env.step(policy.act(obs, z)).obs
    d = env.backend.qpos[:, :2] - start
    travel = np.degrees(np.arctan2(d[:, 1], d[:, 0]))
    q = env.backend.qpos[:, 3:7]  # heading of the root's x axis from its quaternion (w, x, y, z)
    heading = np.degrees(np.arctan2(2 * (q[:, 0] * q[:, 3] + q[:, 1] * q[:, 2]), 1 - 2 * (q[:, 2] ** 2 + q[:, 3] ** 2)))
    pct = (10, 50, 90)
    return {
        "travel_deg_p10_p50_p90": [float(v) for v in np.percentile(travel, pct)],
        "heading_change_deg_p10_p50_p90": [float(v) for v in np.percentile(heading, pct)],
        "net_speed_p10_p50_p90": [float(v) for v in np.percentile(np.linalg.norm(d, axis=1) / cfg.held_seconds, pct)],
        "left": float((travel > 20).mean()),
        "right": float((travel < -20).mean()),
        "backwards": float((np.abs(travel) > 120).mean()),
    }


def evaluate(
    policy: Any, motions: Any, cfg: EvalConfig, baseline: Any | None = None, encoder_ok: bool = True
) -> dict[str, Any]:
    """All LLC metrics as a JSON-ready dict. `baseline`: an untrained policy of the same size for realism."""
    run = random_latent_run(policy, cfg)
    poses = run.pop("_poses")
    out: dict[str, Any] = {"upright": run.pop("upright"), "motion": run}
    fall = recovery_from_fall_pool(policy, cfg)
    out["recovery_fall_pool"] = {k: v for k, v in fall.items() if not k.startswith("_")}
    out["recovery_shove"] = recovery_after_shove(policy, cfg)
    out["held_latents"] = held_latent_run(policy, cfg)
    if motions is not None:
        ref_env = make_env(EvalConfig(num_envs=2, seed=cfg.seed, nthread=cfg.nthread), motions)
        data_q = _joint_quats(ref_env, dataset_frames(ref_env)[0][:, : ref_env.nq_char])
        real = {"degrees": float(nearest_pose_angle(poses, data_q).mean())}
        if baseline is not None:
            base_poses = random_latent_run(baseline, cfg)["_poses"]
            real["untrained_degrees"] = float(nearest_pose_angle(base_poses, data_q).mean())
        out["realism"] = real
        if encoder_ok:
            out["coverage"] = coverage(policy, cfg, motions)
        else:
            out["coverage"] = {"fraction": None, "note": "the checkpoint's discriminator layout differs from this code"}
    return out
