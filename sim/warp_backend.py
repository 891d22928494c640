"""MuJoCo Warp physics backend: N worlds of one MJCF stepped by `mujoco-warp` on an NVIDIA GPU (or Warp's CPU
device, which is slow but needs no GPU: tests and machines without CUDA).

It implements `sim.backend.Backend` with the same semantics as `CpuBackend`: after `step`, positions and
velocities (and the body quantities derived from them) describe the new state, contact forces the last
substep. Two ways to hand out arrays:
- `arrays="numpy"` (default): host copies, cached until the state changes; what the numpy environment and
  the viewer's `--watch` use.
- `arrays="torch"`: zero-copy torch views of the device arrays (`warp.to_torch`), so an environment built on
  them (`EnvConfig(device_arrays=True)`) keeps observations, falls and episode bookkeeping on the device.
  Writes accept numpy or torch; `get_full_state` (checkpoints) and `get_data` (rendering) return host copies.
"""

from __future__ import annotations

import mujoco
import numpy as np

from sim.arrays import as_like, namespace, to_numpy
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
    """`mujoco_warp` Data with `num_envs` worlds; numpy in and out, or torch views of the device arrays."""

    def __init__(
        self,
        model: mujoco.MjModel,
        num_envs: int,
        device: str = "cuda",
        nconmax: int = 48,
        njmax: int = 256,
        arrays: str = "numpy",
    ):
        if arrays not in ("numpy", "torch"):
            raise ValueError(f"arrays must be 'numpy' or 'torch', not {arrays!r}")
        self.device = warp_device(device)  # before importing mujoco_warp: quiet, initialized Warp
        import mujoco_warp as mjw
        import warp as wp

        self._wp, self._mjw = wp, mjw
        self.model, self.num_envs, self.arrays = model, num_envs, arrays
        self._rootid = np.asarray(model.body_rootid)
        with wp.ScopedDevice(self.device):
            self.m = mjw.put_model(model)
            d0 = mujoco.MjData(model)
            mujoco.mj_forward(model, d0)
            self.d = mjw.put_data(model, d0, nworld=num_envs, nconmax=nconmax, njmax=njmax)
        self._host: dict[str, np.ndarray] = {}
        self._views: dict = {}
        self._stream = None  # torch views on CUDA: Warp runs on torch's stream, so the two see each other in order
        if arrays == "torch" and str(self.device).startswith("cuda"):
            import torch

            self._stream = wp.stream_from_torch(torch.cuda.current_stream(torch.device(str(self.device))))
        self._unstable = as_like(np.zeros(num_envs, dtype=bool), self._get("qpos"))

    # ---- array views -------------------------------------------------------------------------------------
    def _get(self, name: str):
        """A Data field: a host copy cached until the state changes, or a live torch view of the device array."""
        if self.arrays == "torch":
            if name not in self._views:
                self._views[name] = self._wp.to_torch(getattr(self.d, name))
            return self._views[name]
        if name not in self._host:
            self._host[name] = getattr(self.d, name).numpy()
        return self._host[name]

    def _write(self, name: str, ids, values) -> None:
        if self.arrays == "torch":
            view = self._get(name)
            view[as_like(ids, view) if not isinstance(ids, slice) else ids] = as_like(values, view, view.dtype)
            return
        arr = self._get(name).copy()
        arr[ids] = values
        getattr(self.d, name).assign(arr)
        self._host[name] = arr

    @property
    def qpos(self):
        return self._get("qpos")

    @property
    def qvel(self):
        return self._get("qvel")

    # ---- Backend protocol --------------------------------------------------------------------------------
    def set_state(self, ids, qpos, qvel, ctrl, reset: bool = True) -> None:
        ids = to_numpy(ids)
        if ids.size == 0:
            return
        if reset:
            for name in CLEARED_ON_RESET:
                self._write(name, ids, 0.0)
        self._write("qpos", ids, qpos)
        self._write("qvel", ids, qvel)
        self._write("ctrl", ids, ctrl)
        self._forward()

    def _scope(self):
        """Where Warp's kernels run: the device, or torch's current stream on it (torch views on CUDA)."""
        if self._stream is not None:
            return self._wp.ScopedStream(self._stream)
        return self._wp.ScopedDevice(self.device)

    def _forward(self) -> None:
        with self._scope():
            self._mjw.forward(self.m, self.d)
            self._mjw.rne_postconstraint(self.m, self.d)
        self._host.clear()

    def step(self, ctrl, xfrc, nstep: int) -> None:
        mjw = self._mjw
        t0 = self._get("time") + 0.0  # a copy, of the arrays' kind
        self._write("ctrl", slice(None), ctrl)
        if xfrc is not None:
            self._write("xfrc_applied", slice(None), xfrc)
        with self._scope():
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
        self._unstable = unstable_worlds(self.qpos, self.qvel, self._get("time"), t0, nstep, self.model.opt.timestep)

    _FULL_STATE = FULL_STATE_FIELDS

    def get_full_state(self) -> dict[str, np.ndarray]:
        return {name: to_numpy(self._get(name)).copy() for name in self._FULL_STATE}

    def set_full_state(self, state: dict[str, np.ndarray], forward: bool = True) -> None:
        for name in self._FULL_STATE:
            self._write(name, slice(None), state[name])
        if forward:
            self._forward()
        else:
            self._host.clear()

    def bodies(self):
        xpos, cvel, com = self._get("xpos"), self._get("cvel"), self._get("subtree_com")
        lin, ang = body_velocities(xpos, cvel, com[:, self._rootid])
        return xpos, self._get("xquat"), lin, ang

    def contact_force(self):
        cfrc = self._get("cfrc_ext")[..., 3:6]
        return namespace(cfrc).linalg.vector_norm(cfrc, axis=-1)

    def unstable(self):
        return self._unstable

    def get_data(self, i: int) -> mujoco.MjData:
        """World i as a host MjData (for rendering or any mj_ function)."""
        d = mujoco.MjData(self.model)
        d.time = float(self._get("time")[i])
        qpos, qvel, ctrl = (to_numpy(self._get(n)[i]) for n in ("qpos", "qvel", "ctrl"))
        d.qpos[:], d.qvel[:], d.ctrl[:] = qpos, qvel, ctrl
        mujoco.mj_forward(self.model, d)
        return d


def unstable_worlds(qpos, qvel, time, t0, nstep: int, dt: float):
    """(N,) worlds that diverged (non-finite or |qvel| above MAX_QVEL) or that MuJoCo reset by itself (time did
    not advance by `nstep` steps of `dt`); numpy or torch, of the inputs' kind."""
    xp = namespace(qpos)
    finite = xp.all(xp.isfinite(qpos), axis=1) & xp.all(xp.isfinite(qvel), axis=1)
    speed = xp.max(xp.abs(xp.where(xp.isnan(qvel), float("inf"), qvel)), axis=1)
    reset_elsewhere = xp.abs(time - (t0 + nstep * dt)) > 0.5 * dt
    return ~finite | reset_elsewhere | (speed > MAX_QVEL)
