"""Torch-free runtime for exported controllers (`launch.py export`): numpy, onnxruntime and mujoco only.

    from controllers.runtime import Controller, OnnxLLC
    ctl = Controller("exports/llc")      # MuJoCo loop: observations, LLC, PD targets, physics
    pol = OnnxLLC("exports/llc")         # the model alone: act(obs, z), encode(window)
    hlc = OnnxHLC("exports/steering")    # an exported task controller: latent(obs, goal)

Never imports torch or training/ (tests/test_onnx_runtime.py checks with torch blocked).
"""

from controllers.runtime.controller import Controller
from controllers.runtime.policy import OnnxHLC, OnnxLLC
from controllers.runtime.sidecar import SIDECAR_NAME, ControllerFormatError, read_sidecar

__all__ = ["Controller", "OnnxHLC", "OnnxLLC", "ControllerFormatError", "SIDECAR_NAME", "read_sidecar"]
