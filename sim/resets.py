"""How episodes start: reset kinds as listed terms, each a function with a probability (as mjlab's `EventCfg`
lists its reset terms with their functions and probabilities).

A `ResetTerm` is one kind of start: `start(env, ids)` gives the new character states of the environments `ids`
(None: they keep theirs), `may_start(env, fell)` which environments it can start at all, and `grace(env, ids)`
which of them begin inside a fall grace. `RESET_TERMS` lists them; `ResetConfig.mix` is the one place of the
reset mix: the terms a training reset draws among, with their probabilities, in draw order. Every restarting
environment draws one uniform number per term of the mix (one (terms, k) draw), and the first term it may take
whose number falls below its probability starts it; none does: the default pose. With the reference's mix that
is docs/method.md, "Resets and recovery": after a fall 20 % continue as recovery episodes, otherwise 10 % start
from the fall pool, otherwise reference states or the default pose 50/50.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from sim.arrays import to_numpy
from sim.observations import amp_obs, window_times
from sim.rotations import quat_mul, quat_rotate, quat_to_matrix

if TYPE_CHECKING:
    from sim.env import HumanoidEnv

# why an episode started, reported per environment in StepResult.reset_kind
RESET_NONE, RESET_DEFAULT, RESET_REFERENCE, RESET_FALL_POOL, RESET_RECOVERY, RESET_UNSTABLE = range(6)

# bumped when the fall pool's recipe changes, so a resumed run rebuilds a stored pool
FALL_POOL_VERSION = 2


def reference_mix() -> dict[str, float]:
    """The reference's reset mix: term -> probability, in draw order."""
    return {"recovery": 0.2, "fall_pool": 0.1, "reference": 0.5}


@dataclass
class ResetConfig:
    """The reset mix and its terms' settings (docs/method.md, "Resets and recovery")."""

    mode: str = "mix"  # "mix" for training; one term's name (e.g. "default") for evaluation or the viewer
    mix: dict[str, float] = field(default_factory=reference_mix)  # term -> probability, in draw order
    recovery_steps: int = 60  # control steps of suppressed fall termination
    fall_pool_seconds: float = 2.5
    fall_pool_action: float = 0.5
    fall_pool_random_3d: bool = True  # fully random root orientation (False: random heading only)
    lying_start_grace: bool = True  # reference starts already below the fall heights get recovery_steps of grace

    def with_mix(self, **probs: float) -> ResetConfig:
        """A copy whose mix takes these probabilities (new terms go last in the draw order)."""
        return replace(self, mix={**self.mix, **probs})

    def uses(self, term: str) -> bool:
        """Whether resets may start episodes with `term`."""
        return self.mode == term or (self.mode == "mix" and self.mix.get(term, 0.0) > 0)

    def validate(self) -> None:
        """ValueError for an unknown mode or term, or a probability outside [0, 1] (named `<term>_prob`, the name
        `train llc --set` takes)."""
        if self.mode != "mix" and self.mode not in RESET_TERMS:
            raise ValueError(f"reset mode {self.mode!r}: expected mix or one of {', '.join(RESET_TERMS)}")
        for name, p in self.mix.items():
            if name not in RESET_TERMS:
                raise ValueError(f"reset term {name!r}: expected one of {', '.join(RESET_TERMS)}")
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"{name}_prob must be in [0, 1], got {p}")

    @staticmethod
    def from_dict(d: dict) -> ResetConfig:
        known = {f.name for f in fields(ResetConfig)} - {"mix"}
        mix = dict(d.get("mix", reference_mix()))
        return ResetConfig(**{k: v for k, v in d.items() if k in known}, mix=mix)


@dataclass
class Starts:
    """New character states for the environments a term starts."""

    qpos: np.ndarray  # (k, nq) character qpos
    qvel: np.ndarray  # (k, nv)
    history: np.ndarray | None = None  # (k, frames - 1, amp_dim) discriminator frames before the start; None: repeat
    clip: np.ndarray | None = None  # (k,) the clip and time a reference start began from (a skill's tracking target)
    time: np.ndarray | None = None


@dataclass(frozen=True)
class ResetTerm:
    """One kind of episode start (a reset term): its start function and which environments it may start."""

    code: int  # RESET_*, reported in StepResult.reset_kind
    start: Callable[[HumanoidEnv, np.ndarray], Starts | None]  # None: keep the state, hold the current pose
    may_start: Callable[[HumanoidEnv, np.ndarray], Any]  # (env, fell) -> bool or (k,) bool
    grace: Callable[[HumanoidEnv, np.ndarray], Any]  # after the write: which begin with recovery_steps of grace


# ---------------------------------------------------------------------------------------------- terms
def default_start(env: HumanoidEnv, ids: np.ndarray) -> Starts:
    """The default pose, at rest."""
    return Starts(*env.default_states(len(ids)))


def fall_pool_start(env: HumanoidEnv, ids: np.ndarray) -> Starts:
    """A random pose of the fall pool, at rest."""
    pose = env.fall_pool[env.rng.integers(0, len(env.fall_pool), len(ids))]
    return Starts(pose, np.zeros((len(ids), env.nv_char)))


def reference_start(env: HumanoidEnv, ids: np.ndarray) -> Starts:
    """A random clip state (clips by `env.start_weights`, else the library's weights), lifted out of the floor, with
    the clip's past as discriminator history."""
    motions, f, k = env.motions, env.num_amp_frames, len(ids)
    if env.start_weights is None:
        clips = motions.sample_clips(k, env.rng)
    else:
        clips = env.rng.choice(motions.num_clips, size=k, p=env.start_weights)
    times = motions.sample_times(clips, env.rng)
    st = motions.sample(np.repeat(clips, f), window_times(times, env.control_dt, f))  # frames t, t - dt, ...
    lift = env.geoms.penetration(st.body_pos[::f], st.body_rot[::f])
    hist = amp_obs(env.joints, st.qpos, st.qvel, st.body_pos[:, env.joints.key_bodies]).reshape(k, f, -1)
    hist[..., 0] += np.repeat(lift[:, None], f, axis=1)  # root height slot follows the lift
    qpos = st.qpos[::f].copy()
    qpos[:, 2] += lift
    return Starts(qpos, st.qvel[::f], hist[:, 1:], clips, times)


def keep_state(env: HumanoidEnv, ids: np.ndarray) -> None:
    """A recovery episode: nothing reset (the state, the discriminator history), a new episode all the same."""
    return None


def lying_grace(env: HumanoidEnv, ids: np.ndarray) -> np.ndarray | bool:
    """Reference starts already below the fall heights (a get-up clip's lying frames) get the grace."""
    return env._below_fall_height(ids) if env.cfg.reset.lying_start_grace else False


# every kind of start; HumanoidEnv calls their starts in this order (so the fall pool draws before reference starts)
RESET_TERMS: dict[str, ResetTerm] = {
    "recovery": ResetTerm(RESET_RECOVERY, keep_state, lambda env, fell: fell, lambda env, ids: True),
    "fall_pool": ResetTerm(
        RESET_FALL_POOL, fall_pool_start, lambda env, fell: env.fall_pool is not None, lambda env, ids: True
    ),
    "reference": ResetTerm(RESET_REFERENCE, reference_start, lambda env, fell: env.motions is not None, lying_grace),
    "default": ResetTerm(RESET_DEFAULT, default_start, lambda env, fell: True, lambda env, ids: False),
}


def choose_resets(env: HumanoidEnv, fell: np.ndarray, mode: str) -> np.ndarray:
    """(k,) the RESET_* code of each restarting environment: `mode`'s term where it may start them (else the
    default pose), or for "mix" a draw from `env.cfg.reset.mix`."""
    if mode != "mix":
        term = RESET_TERMS[mode]
        return np.where(np.broadcast_to(term.may_start(env, fell), fell.shape), term.code, RESET_DEFAULT)
    mix = env.cfg.reset.mix
    u = env.rng.random((len(mix), len(fell)))
    kind = np.full(len(fell), RESET_DEFAULT)
    for i, (name, p) in reversed(list(enumerate(mix.items()))):  # the first listed term wins
        term = RESET_TERMS[name]
        kind = np.where((u[i] < p) & term.may_start(env, fell), term.code, kind)
    return kind


# ---------------------------------------------------------------------------------------------- fall pool
def build_fall_pool(env: HumanoidEnv) -> np.ndarray:
    """One fallen pose per environment: the default pose with a random root orientation (lifted out of the
    floor), random constant actions for `fall_pool_seconds`, velocities zeroed. Steps the physics."""
    n, rc = env.num_envs, env.cfg.reset
    ids = np.arange(n)
    qpos, qvel = env.default_states(n, random_yaw=True)
    if rc.fall_pool_random_3d:
        q = env.rng.standard_normal((n, 4))
        qpos[:, 3:7] = q / np.linalg.norm(q, axis=1, keepdims=True)
        env.write_states(ids, qpos, qvel)
        pos, rot = env.body_states()[:2]
        qpos[:, 2] += env.geoms.penetration(pos, rot)
    env.write_states(ids, qpos, qvel)
    actions = env.rng.uniform(-rc.fall_pool_action, rc.fall_pool_action, (n, env.action_dim))
    steps = int(round(rc.fall_pool_seconds / env.model.opt.timestep))
    env.backend.step(env.actions_to_targets(actions), None, steps)
    pool = to_numpy(env.backend.qpos[:, : env.nq_char]).astype(np.float64)
    bad = to_numpy(env.backend.unstable()) | ~np.isfinite(pool).all(1)
    pool[bad] = env.default_qpos
    return pool


@dataclass(frozen=True)
class CharacterGeoms:
    """The character's geoms (spheres, capsules/cylinders along z, boxes) for ground-clearance checks."""

    body: np.ndarray  # (G,) body index in Character.bodies
    pos: np.ndarray  # (G, 3) in the body frame
    quat: np.ndarray  # (G, 4)
    is_box: np.ndarray
    half: np.ndarray  # (G, 3) box half extents, or (0, 0, capsule half length)
    radius: np.ndarray  # (G,)

    @staticmethod
    def of(model, num_bodies: int) -> CharacterGeoms:
        import mujoco

        ids = np.nonzero((model.geom_bodyid >= 1) & (model.geom_bodyid <= num_bodies))[0]
        types, size = model.geom_type[ids], model.geom_size[ids]
        is_box = types == mujoco.mjtGeom.mjGEOM_BOX
        half = np.where(is_box[:, None], size, 0.0)
        cap = (types == mujoco.mjtGeom.mjGEOM_CAPSULE) | (types == mujoco.mjtGeom.mjGEOM_CYLINDER)
        half[cap, 2] = size[cap, 1]
        radius = np.where(is_box, 0.0, size[:, 0])
        return CharacterGeoms(
            model.geom_bodyid[ids] - 1, model.geom_pos[ids], model.geom_quat[ids], is_box, half, radius
        )

    def penetration(self, body_pos: np.ndarray, body_rot: np.ndarray) -> np.ndarray:
        """How far (m) the lowest point of each pose's geoms lies below z = 0, from world body poses (n, B, .)."""
        rot = body_rot[:, self.body]
        z = body_pos[:, self.body, 2] + quat_rotate(rot, self.pos)[..., 2]
        rz = quat_to_matrix(quat_mul(rot, self.quat))[..., 2, :]  # world z of each geom's local axes
        reach = np.where(self.is_box, (np.abs(rz) * self.half).sum(-1), np.abs(rz[..., 2]) * self.half[:, 2])
        return np.maximum(-(z - reach - self.radius).min(1), 0.0)
