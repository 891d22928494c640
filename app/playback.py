"""Playback mode's clip: which clip, where in it, whether it loops, and the kinematic ghost drawn beside a
simulated twin (`ghost`: the physics tracks the clip's joint angles open-loop)."""

from __future__ import annotations

from enum import Enum
from typing import Any

import mujoco
import numpy as np

from app.hud import Timings
from app.presets import short_names
from sim.single import SingleCharacter

GHOST_OFFSET = np.array([0.0, 1.2, 0.0])  # the reference ghost stands beside the simulated character


class ClipEnd(Enum):
    NO = "no"  # still inside the clip
    LOOPED = "looped"  # back at the clip's start: the twin restarts too
    STOPPED = "stopped"  # held at the clip's end (no loop): the clock pauses


class Playback:
    """A clip of `motions` replayed on `sim` (kinematic), or tracked by the physics beside a ghost."""

    def __init__(self, motions: Any, sim: SingleCharacter, clip: str | None = None) -> None:
        self.motions, self.sim = motions, sim
        self.clip = 0
        self.clip_time = 0.0
        self.loop = True
        self.ghost = False  # simulate beside the kinematic reference
        self.ghost_data: mujoco.MjData | None = None  # an MjData posed from the clip, drawn translucent
        if motions is not None:
            for name in [*([clip] if clip else []), "walk"]:  # a walk is the friendliest first sight
                if (found := self.find_clip(name)) is not None:
                    self.clip = found
                    break

    @property
    def clip_names(self) -> list[str]:
        return list(self.motions.clip_names) if self.motions is not None else []

    def find_clip(self, name: str) -> int | None:
        """The clip called `name`, by its full name ("humanoid3d_walk") or the short one the panels show
        ("walk"); None when there is none."""
        names = self.clip_names
        for candidates in (names, short_names(names)):
            if name in candidates:
                return candidates.index(name)
        ends = [i for i, n in enumerate(names) if n.endswith(f"_{name}")]  # one clip: no common prefix to drop
        return ends[0] if len(ends) == 1 else None

    @property
    def clip_duration(self) -> float:
        return float(self.motions.durations[self.clip]) if self.motions is not None else 0.0

    def select(self, clip: int | str) -> None:
        """Clip `clip` (index, wrapping, or name: ValueError when there is none), from its start."""
        if isinstance(clip, str):
            found = self.find_clip(clip)
            if found is None:
                raise ValueError(f"no clip named {clip!r}")
            self.clip = found
        else:
            self.clip = int(clip) % self.motions.num_clips
        self.clip_time = 0.0

    def scrub(self, t: float) -> None:
        self.clip_time = float(np.clip(t, 0.0, self.clip_duration))

    def sample(self) -> Any:
        """The clip's state at `clip_time` (a batch of one)."""
        return self.motions.sample(np.array([self.clip]), np.array([self.clip_time]))

    def step(self, timings: Timings) -> ClipEnd:
        """One control step along the clip: the character posed from it (or, with the ghost, the physics holding its
        joint angles for a step), the ghost posed beside it. At the end of a looping clip nothing is posed: the
        caller restarts from the clip's start (LOOPED)."""
        sim, end = self.sim, ClipEnd.NO
        self.clip_time += sim.control_dt
        if self.clip_time > self.clip_duration:
            if self.loop:
                self.clip_time = 0.0
                return ClipEnd.LOOPED
            self.clip_time, end = self.clip_duration, ClipEnd.STOPPED
        st = self.sample()
        if self.ghost:  # physics tracks the clip's joint angles open-loop; the kinematic reference is the ghost
            with timings.timed("physics_ms"):
                sim.hold(sim.pd_targets_from_qpos(st.qpos[0]))
        else:
            sim.set_kinematic(st.qpos[0], st.qvel[0])
        self.update_ghost(True, st)
        return end

    def update_ghost(self, playing: bool, st: Any = None) -> None:
        """Pose the ghost from the clip (`st`, default: the clip now); none outside playback (`playing` False) or
        without the ghost."""
        if not (self.ghost and playing and self.motions is not None):
            self.ghost_data = None
            return
        st = st if st is not None else self.sample()
        m = self.sim.model
        if self.ghost_data is None:
            self.ghost_data = mujoco.MjData(m)
        g = self.ghost_data
        g.qpos[:] = m.qpos0
        g.qpos[: self.sim.char_nq] = st.qpos[0]
        g.qpos[:3] += GHOST_OFFSET
        mujoco.mj_kinematics(m, g)
