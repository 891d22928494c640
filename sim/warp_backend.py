"""MuJoCo Warp physics backend: N worlds of one MJCF stepped by `mujoco-warp` on an NVIDIA GPU (or Warp's CPU
device, which is slow but needs no GPU: tests and machines without CUDA).

It implements `sim.backend.Backend` with the same semantics as `CpuBackend`: after `step`, positions and
velocities (and the body quantities derived from them) describe the new state, contact forces the last
substep. Arrays cross to the host as numpy, as the environment's bookkeeping is numpy today (the trainers'
networks run on the GPU and take them at that boundary): observations, rewards and resets on the device without
host copies are the next step of the GPU work.
"""

from __future__ import annotations

import mujoco
import numpy as np

from sim.backend import CLEARED_ON_RESET, FULL_STATE_FIELDS, MAX_QVEL, body_velocities


class CudaUnavailableError(RuntimeError):
    """Asked for the GPU backend on a machine without a CUDA device (one-line message)."""


def warp_device(device: str) -> str:
    """'cuda' / 'cuda:K' / 'cpu' -> a Warp device name, or CudaUnavailableError with a one-line reason."""
    try:
        import warp as wp
    except ImportError:
        raise CudaUnavailableError(
            "the GPU backend needs mujoco-warp (pip install mujoco-warp==4.0.0); or use --device cpu"
        ) from None
    wp.config.log_level = wp.LOG_WARNING  # no start-up banner or per-kernel load lines
    _quiet_init(wp)
    if device.startswith("cuda") and not wp.is_cuda_available():
        raise CudaUnavailableError("no CUDA device found (Warp sees none); use --device cpu")
    return device


def _quiet_init(wp) -> None:
    """wp.init() without the driver's "could not load CUDA" note on stderr: no CUDA is reported once, below."""
    import os
    import sys

    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            wp.init()
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class WarpBackend:
    """`mujoco_warp` Data with `num_envs` worlds; numpy in, numpy out."""

    def __init__(self, model: mujoco.MjModel, num_envs: int, device: str = "cuda", nconmax: int = 48, njmax: int = 256):
        self.device = warp_device(device)  # before importing mujoco_warp: quiet, initialized Warp
        import mujoco_warp as mjw
        import warp as wp

        self._wp, self._mjw = wp, mjw
        self.model, self.num_envs = model, num_envs
        self._rootid = np.asarray(model.body_rootid)
        with wp.ScopedDevice(self.device):
            self.m = mjw.put_model(model)
            d0 = mujoco.MjData(model)
            mujoco.mj_forward(model, d0)
            self.d = mjw.put_data(model, d0, nworld=num_envs, nconmax=nconmax, njmax=njmax)
        self._unstable = np.zeros(num_envs, dtype=bool)
        self._host: dict[str, np.ndarray] = {}

    # ---- host views --------------------------------------------------------------------------------------
    def _get(self, name: str) -> np.ndarray:
        """A host copy of a Data field, cached until the state changes."""
        if name not in self._host:
            self._host[name] = getattr(self.d, name).numpy()
        return self._host[name]

    def _write(self, name: str, ids: np.ndarray | slice, values: np.ndarray) -> None:
        arr = self._get(name).copy()
        arr[ids] = values
        getattr(self.d, name).assign(arr)
        self._host[name] = arr

    @property
    def qpos(self) -> np.ndarray:
        return self._get("qpos")

    @property
    def qvel(self) -> np.ndarray:
        return self._get("qvel")

    # ---- Backend protocol --------------------------------------------------------------------------------
    def set_state(
        self, ids: np.ndarray, qpos: np.ndarray, qvel: np.ndarray, ctrl: np.ndarray, reset: bool = True
    ) -> None:
        ids = np.asarray(ids)
        if ids.size == 0:
            return
        if reset:
            for name in CLEARED_ON_RESET:
                self._write(name, ids, 0.0)
        self._write("qpos", ids, qpos)
        self._write("qvel", ids, qvel)
        self._write("ctrl", ids, ctrl)
        self._forward()

    def _forward(self) -> None:
        with self._wp.ScopedDevice(self.device):
            self._mjw.forward(self.m, self.d)
            self._mjw.rne_postconstraint(self.m, self.d)
        self._host.clear()

    def step(self, ctrl: np.ndarray, xfrc: np.ndarray | None, nstep: int) -> None:
        mjw = self._mjw
        t0 = self._get("time").copy()
        self._write("ctrl", slice(None), ctrl)
        if xfrc is not None:
            self._write("xfrc_applied", slice(None), xfrc)
        with self._wp.ScopedDevice(self.device):
            for _ in range(nstep):
                mjw.step(self.m, self.d)
            mjw.rne_postconstraint(self.m, self.d)  # contact forces of the last substep
            # positions and velocities of the new state (as CpuBackend's stage=mjSTAGE_VEL)
            mjw.kinematics(self.m, self.d)
            mjw.com_pos(self.m, self.d)
            mjw.com_vel(self.m, self.d)
        self._host.clear()
        if xfrc is not None:
            self._write("xfrc_applied", slice(None), 0.0)
        qpos, qvel = self.qpos, self.qvel
        finite = np.isfinite(qpos).all(1) & np.isfinite(qvel).all(1)
        dt = self.model.opt.timestep
        reset_elsewhere = np.abs(self._get("time") - (t0 + nstep * dt)) > 0.5 * dt
        self._unstable = ~finite | reset_elsewhere | (np.abs(np.nan_to_num(qvel, nan=np.inf)).max(1) > MAX_QVEL)

    _FULL_STATE = FULL_STATE_FIELDS

    def get_full_state(self) -> dict[str, np.ndarray]:
        return {name: self._get(name).copy() for name in self._FULL_STATE}

    def set_full_state(self, state: dict[str, np.ndarray]) -> None:
        for name in self._FULL_STATE:
            self._write(name, slice(None), state[name])
        self._forward()

    def bodies(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        xpos, cvel, com = self._get("xpos"), self._get("cvel"), self._get("subtree_com")
        lin, ang = body_velocities(xpos, cvel, com[:, self._rootid])
        return xpos, self._get("xquat"), lin, ang

    def contact_force(self) -> np.ndarray:
        return np.linalg.norm(self._get("cfrc_ext")[..., 3:6], axis=-1)

    def unstable(self) -> np.ndarray:
        return self._unstable

    def get_data(self, i: int) -> mujoco.MjData:
        """World i as a host MjData (for rendering or any mj_ function)."""
        d = mujoco.MjData(self.model)
        d.time = float(self._get("time")[i])
        d.qpos[:], d.qvel[:], d.ctrl[:] = self.qpos[i], self.qvel[i], self._get("ctrl")[i]
        mujoco.mj_forward(self.model, d)
        return d
