"""A HumanoidEnv's resumable state: everything needed to continue exactly (physics, PD targets, episode
counters, discriminator history, fall pool, RNG), as host arrays so that a state resumes on any backend; and
the conversion of a state written with an older observation layout. The keys are the checkpoint format."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sim.arrays import copy, to_numpy
from sim.character import Character
from sim.observations import upgrade_amp_windows
from sim.resets import FALL_POOL_VERSION, build_fall_pool

if TYPE_CHECKING:
    from sim.env import HumanoidEnv


def env_state(env: HumanoidEnv) -> dict[str, Any]:
    """Everything needed to continue exactly: physics, episode counters, history, RNG."""
    return {
        "physics": env.backend.get_full_state(),
        "ctrl": to_numpy(env._ctrl).copy(),  # host arrays: a state resumes on any backend
        "progress": to_numpy(env.progress).copy(),
        "suppress_fall": to_numpy(env.suppress_fall).copy(),
        "amp_hist": to_numpy(env.amp_hist).copy(),
        "obs": to_numpy(env.obs).copy(),
        "fall_pool": None if env.fall_pool is None else env.fall_pool.copy(),
        "fall_pool_version": FALL_POOL_VERSION,
        "rng": env.rng.bit_generator.state,
        "counters": dict(env.counters),
        "next_projectile": env.perturbations.next_projectile.copy(),
        "episode_clip": env.episode_clip.copy(),
        "episode_time0": env.episode_time0.copy(),
    }


def restore_env_state(env: HumanoidEnv, state: dict[str, Any]) -> None:
    """Continue exactly from `state` (`env_state`, of an environment with as many envs on any backend)."""
    if tuple(state["progress"].shape) != (env.num_envs,):
        raise ValueError(
            f"saved environment state has {state['progress'].shape[0]} environments, this one {env.num_envs}"
        )
    env.rng.bit_generator.state = state["rng"]
    env.fall_pool = None if state["fall_pool"] is None else state["fall_pool"].copy()
    if env.fall_pool is not None and state.get("fall_pool_version", 1) != FALL_POOL_VERSION:
        env.fall_pool = build_fall_pool(env)  # built by an older recipe: rebuild (steps the physics)
    env.backend.set_full_state(state["physics"])
    env._ctrl = copy(env.as_array(state["ctrl"]))
    env.progress = copy(env.as_array(state["progress"]))
    env.suppress_fall = copy(env.as_array(state["suppress_fall"]))
    env.amp_hist = copy(env.as_array(state["amp_hist"]))
    env.obs = copy(env.as_array(state["obs"]))
    env.counters = {**env.counters, **state["counters"]}
    env.perturbations.next_projectile = state["next_projectile"].copy()
    if "episode_clip" in state:
        env.episode_clip, env.episode_time0 = state["episode_clip"].copy(), state["episode_time0"].copy()


def upgrade_state(state: dict[str, Any], character: Character, from_version: int) -> dict[str, Any]:
    """A saved environment state (`HumanoidEnv.get_state`) written with observation layout `from_version`, in this
    version's layout: its discriminator history converted (sim.observations.upgrade_amp_windows)."""
    return {**state, "amp_hist": upgrade_amp_windows(state["amp_hist"], character, from_version)}
