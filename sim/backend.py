"""Physics backends: N copies of one MuJoCo model stepped together.

The environment talks to physics only through `Backend`: write state, write
controls, step, read arrays. `CpuBackend` uses `mujoco.batch` (C threads); a
MuJoCo Warp backend implements the same methods on the GPU.
"""

from __future__ import annotations

from typing import Protocol

import mujoco
import numpy as np
from mujoco import batch as mjbatch

from sim.rotations import cross

# qvel magnitude we call unstable even before MuJoCo's own NaN check fires
MAX_QVEL = 1e3
# what get_full_state saves (an exact resume point), and what a fresh start clears, in every backend
FULL_STATE_FIELDS = ("time", "qpos", "qvel", "qacc_warmstart", "ctrl")
CLEARED_ON_RESET = ("time", "qacc_warmstart", "qfrc_applied", "xfrc_applied")


def body_velocities(xpos: np.ndarray, cvel: np.ndarray, root_com: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World linear velocity of each body's origin and its angular velocity, from MuJoCo's `cvel`.

    `cvel` is [angular, linear] at the subtree centre of mass of the body's tree root (`root_com`,
    `subtree_com[body_rootid]`); the origin moves at linear + angular x (xpos - root_com).
    """
    ang = cvel[..., 0:3]
    return cvel[..., 3:6] + cross(ang, xpos - root_com), ang


class Backend(Protocol):
    model: mujoco.MjModel
    num_envs: int

    def set_state(
        self, ids: np.ndarray, qpos: np.ndarray, qvel: np.ndarray, ctrl: np.ndarray, reset: bool = True
    ) -> None: ...

    def get_full_state(self) -> dict[str, np.ndarray]: ...

    # forward=False: the caller steps next (a step recomputes everything), so skip the forward pass
    def set_full_state(self, state: dict[str, np.ndarray], forward: bool = True) -> None: ...

    def step(self, ctrl: np.ndarray, xfrc: np.ndarray | None, nstep: int) -> None: ...

    @property
    def qpos(self) -> np.ndarray: ...  # (N, nq)

    @property
    def qvel(self) -> np.ndarray: ...  # (N, nv)

    def bodies(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]: ...  # world pos, quat, lin/ang vel

    def contact_force(self) -> np.ndarray: ...  # (N, nbody) norm of external contact force

    def unstable(self) -> np.ndarray: ...  # (N,) bool: diverged or auto-reset by MuJoCo in the last step

    def get_data(self, i: int) -> mujoco.MjData: ...


class CpuBackend:
    """`mujoco.batch.Batch`, persistent, stepping with positions/velocities kept current."""

    def __init__(self, model: mujoco.MjModel, num_envs: int, nthread: int = 0):
        # let a diverging simulation keep its NaNs so that we see it, instead of MuJoCo's silent reset
        model.opt.disableflags |= mujoco.mjtDisableBit.mjDSBL_AUTORESET
        self.model = model
        self.num_envs = num_envs
        self.batch = mjbatch.Batch(model, num_envs, nthread=nthread, persistent=True)
        b = self.batch
        self._qpos, self._qvel, self._ctrl = b.bind("qpos"), b.bind("qvel"), b.bind("ctrl")
        self._time, self._xfrc = b.bind("time"), b.bind("xfrc_applied")
        self._xpos, self._xquat = b.bind("xpos"), b.bind("xquat")
        self._cvel, self._subtree_com = b.bind("cvel"), b.bind("subtree_com")
        self._cfrc_ext = b.bind("cfrc_ext")
        self._rootid = np.asarray(model.body_rootid)
        self._unstable = np.zeros(num_envs, dtype=bool)
        b.reset()

    @property
    def qpos(self) -> np.ndarray:
        return self._qpos

    @property
    def qvel(self) -> np.ndarray:
        return self._qvel

    def set_state(
        self, ids: np.ndarray, qpos: np.ndarray, qvel: np.ndarray, ctrl: np.ndarray, reset: bool = True
    ) -> None:
        """Write states of simulations `ids`; reset=True starts them afresh (time 0, no warm start)."""
        ids = np.asarray(ids)
        if ids.size == 0:
            return
        if reset:  # a fresh start without mj_resetData's cost: clear time, warm start and applied forces
            for name in self._CLEARED_ON_RESET:
                self.batch.bind(name)[ids] = 0.0
        self._qpos[ids] = qpos
        self._qvel[ids] = qvel
        self._ctrl[ids] = ctrl
        self.batch.forward(ids)

    def step(self, ctrl: np.ndarray, xfrc: np.ndarray | None, nstep: int) -> None:
        t0 = self._time.copy()
        self._ctrl[:] = ctrl
        if xfrc is not None:
            self._xfrc[:] = xfrc
        try:
            self.batch.step(nstep=nstep, stage=mujoco.mjtStage.mjSTAGE_VEL)
            failed = np.zeros(self.num_envs, dtype=bool)
        except mjbatch.SimulationError as err:  # those simulations kept their old state
            failed = np.zeros(self.num_envs, dtype=bool)
            failed[np.asarray(err.ids)] = True
        if xfrc is not None:
            self._xfrc[:] = 0.0
        # MuJoCo resets a diverging simulation itself (time goes back to 0)
        finite = np.isfinite(self._qpos).all(1) & np.isfinite(self._qvel).all(1)
        dt = self.model.opt.timestep
        reset_by_mujoco = np.abs(self._time - (t0 + nstep * dt)) > 0.5 * dt
        self._unstable = failed | ~finite | reset_by_mujoco | (np.abs(self._qvel).max(1) > MAX_QVEL)

    _FULL_STATE = FULL_STATE_FIELDS
    _CLEARED_ON_RESET = CLEARED_ON_RESET

    def get_full_state(self) -> dict[str, np.ndarray]:
        return {name: self.batch.bind(name).copy() for name in self._FULL_STATE}

    def set_full_state(self, state: dict[str, np.ndarray], forward: bool = True) -> None:
        for name in self._FULL_STATE:
            self.batch.bind(name)[:] = state[name]
        if forward:
            self.batch.forward(stage=mujoco.mjtStage.mjSTAGE_VEL)

    def bodies(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        lin, ang = body_velocities(self._xpos, self._cvel, self._subtree_com[:, self._rootid])
        return self._xpos, self._xquat, lin, ang

    def contact_force(self) -> np.ndarray:
        return np.linalg.norm(self._cfrc_ext[..., 3:6], axis=-1)

    def unstable(self) -> np.ndarray:
        return self._unstable

    def get_data(self, i: int) -> mujoco.MjData:
        return self.batch.get_data(i)


BACKENDS = ("cpu", "cuda", "warp-cpu")


def make_backend(
    name: str, model: mujoco.MjModel, num_envs: int, nthread: int = 0, device_arrays: bool = False
) -> Backend:
    """'cpu': mujoco.batch; 'cuda' (or 'cuda:K'): MuJoCo Warp on an NVIDIA GPU; 'warp-cpu': MuJoCo Warp on
    Warp's CPU device (slow; for tests without a GPU). A missing GPU raises CudaUnavailableError.
    `device_arrays`: the Warp backend hands out torch views of its device arrays instead of host copies."""
    if name == "cpu":
        if device_arrays:
            raise ValueError("device arrays need the MuJoCo Warp backend (cuda or warp-cpu); cpu is host numpy")
        return CpuBackend(model, num_envs, nthread)
    if name.startswith("cuda") or name in ("warp", "gpu", "warp-cpu"):
        from sim.warp_backend import WarpBackend

        device = "cpu" if name == "warp-cpu" else name.replace("gpu", "cuda")
        return WarpBackend(model, num_envs, device=device, arrays="torch" if device_arrays else "numpy")
    raise ValueError(f"unknown physics backend {name!r}; choose one of {', '.join(BACKENDS)}")
