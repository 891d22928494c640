"""torch -> ONNX for the LLC, its discriminator/encoder and a task controller (HLC), normalizers baked in.

    llc.onnx      obs (batch, obs_dim), latent (batch, latent_dim) -> action (batch, A) in [-1, 1],
                  pd_target (batch, A) = offset + scale * action, radians
    encoder.onnx  amp_window (batch, frames * frame_size) -> disc_logit (batch,), latent (batch, latent_dim)
    hlc.onnx      obs (batch, obs_dim), goal (batch, goal_dim) -> latent (batch, latent_dim): the HLC's
                  deterministic action as inference uses it (controllers.hlc.HLCPolicy.act): the tanh mean,
                  clamped to [-1, 1] and normalized onto the unit sphere

Normalization is the checkpoint's `RunningNorm` in float32 (as `LLCPolicy` computes it):
clamp((x - mean) / sqrt(var + 1e-5), -5, 5). One self-contained file per model, a dynamic batch axis
and opset OPSET. `parity` compares onnxruntime with the torch policy on the same inputs.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch
from torch import nn

from controllers.checkpoint import LLCPolicy
from controllers.hlc import HLCPolicy
from controllers.latents import sample_latents
from controllers.normalizer import RunningNorm

OPSET = 18
META_PREFIX = "ase_runtime."


class BakedNorm(nn.Module):
    """A RunningNorm frozen into float32 constants."""

    def __init__(self, norm: RunningNorm) -> None:
        super().__init__()
        self.register_buffer("mean", norm.mean.to(torch.float32).clone())
        self.register_buffer("std", torch.sqrt(norm.var + norm.eps).to(torch.float32))
        self.clip = float(norm.clip)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.clamp((x - self.mean) / self.std, -self.clip, self.clip)


class LLCGraph(nn.Module):
    """Raw observation + latent -> (action in [-1, 1], PD target in radians)."""

    def __init__(self, policy: LLCPolicy, offset: np.ndarray, scale: np.ndarray) -> None:
        super().__init__()
        self.norm = BakedNorm(policy.obs_norm)
        self.actor = policy.actor
        self.register_buffer("offset", torch.as_tensor(offset, dtype=torch.float32))
        self.register_buffer("scale", torch.as_tensor(scale, dtype=torch.float32))

    def forward(self, obs: torch.Tensor, latent: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        action = torch.clamp(self.actor(self.norm(obs), latent), -1.0, 1.0)
        return action, self.offset + self.scale * action


class EncoderGraph(nn.Module):
    """Raw discriminator window -> (discriminator logit, the encoder's unit latent)."""

    def __init__(self, policy: LLCPolicy) -> None:
        super().__init__()
        self.norm = BakedNorm(policy.amp_norm)
        self.disc_enc = policy.disc_enc

    def forward(self, amp_window: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.disc_enc(self.norm(amp_window))


class HLCGraph(nn.Module):
    """Raw policy observation + raw goal observation -> the unit latent (HLCPolicy.act, deterministic)."""

    def __init__(self, policy: HLCPolicy) -> None:
        super().__init__()
        self.norm = BakedNorm(policy.obs_norm)
        self.actor = policy.actor

    def forward(self, obs: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
        mean = self.actor(self.norm(torch.cat([obs, goal], dim=-1))).clamp(-1.0, 1.0)
        return mean / torch.linalg.vector_norm(mean, dim=-1, keepdim=True).clamp_min(1e-12)


def _export(module: nn.Module, example: tuple[torch.Tensor, ...], names_in: list[str], names_out: list[str],
            path: Path, opset: int, metadata: dict[str, str]) -> None:  # fmt: skip
    batch = torch.export.Dim("batch", min=1, max=1 << 20)
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)  # optional torchvision ops it cannot register
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        prog = torch.onnx.export(
            module.eval(), example, dynamo=True, external_data=False, opset_version=opset, optimize=True,
            input_names=names_in, output_names=names_out, dynamic_shapes={n: {0: batch} for n in names_in},
            verbose=False,
        )  # fmt: skip
    model = prog.model_proto
    model.producer_name = "ase-runtime launch.py export"
    props = {p.key: p.value for p in model.metadata_props}
    onnx.helper.set_model_props(model, {**props, **{META_PREFIX + k: v for k, v in metadata.items()}})
    onnx.save_model(model, str(path), save_as_external_data=False)


def export_llc(policy: LLCPolicy, offset: np.ndarray, scale: np.ndarray, path: str | Path,
               metadata: dict[str, str], opset: int = OPSET) -> Path:  # fmt: skip
    """Write llc.onnx; `metadata` goes into the model (the exporter records the source checkpoint there)."""
    path = Path(path)
    example = (torch.zeros(2, policy.obs_dim), torch.zeros(2, policy.latent_dim))
    graph = LLCGraph(policy, offset, scale)
    _export(graph, example, ["obs", "latent"], ["action", "pd_target"], path, opset, {"model": "llc", **metadata})
    return path


def export_encoder(policy: LLCPolicy, path: str | Path, metadata: dict[str, str], opset: int = OPSET) -> Path:
    path = Path(path)
    example = (torch.zeros(2, policy.amp_obs_dim * policy.num_amp_frames),)
    graph = EncoderGraph(policy)
    _export(graph, example, ["amp_window"], ["disc_logit", "latent"], path, opset, {"model": "encoder", **metadata})
    return path


def export_hlc(policy: HLCPolicy, path: str | Path, metadata: dict[str, str], opset: int = OPSET) -> Path:
    """Write hlc.onnx: inputs `obs` (the LLC's policy observation) and `goal` (the task's goal observation)."""
    path = Path(path)
    goal_dim = int(policy.goal_layout["size"])
    example = (torch.zeros(2, policy.obs_dim - goal_dim), torch.zeros(2, goal_dim))
    _export(HLCGraph(policy), example, ["obs", "goal"], ["latent"], path, opset, {"model": "hlc", **metadata})
    return path


def tensor_specs(path: str | Path) -> dict[str, list[dict]]:
    """Inputs and outputs of an ONNX file as the sidecar lists them: name, shape ("batch" first), dtype."""
    model = onnx.load(str(path), load_external_data=False)

    def spec(v: onnx.ValueInfoProto) -> dict:
        dims = [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
        dtype = onnx.helper.tensor_dtype_to_np_dtype(v.type.tensor_type.elem_type).name
        return {"name": v.name, "shape": ["batch", *dims[1:]], "dtype": dtype}

    return {"inputs": [spec(v) for v in model.graph.input], "outputs": [spec(v) for v in model.graph.output]}


def check_file(path: str | Path) -> None:
    """onnx.checker with full shape inference; raises onnx.checker.ValidationError."""
    onnx.checker.check_model(str(path), full_check=True)


def sample_inputs(norm: RunningNorm, n: int, rng: np.random.Generator, spread: float = 1.5) -> np.ndarray:
    """Inputs around a normalizer's statistics, far enough out that some hit the +-5 clamp."""
    mean = norm.mean.numpy()
    std = np.sqrt(norm.var.numpy() + norm.eps)
    return (mean + spread * std * rng.standard_normal((n, len(mean))) * rng.uniform(0.2, 4.0, (n, 1))).astype(
        np.float32
    )


def unit_latents(n: int, dim: int, rng: np.random.Generator) -> np.ndarray:
    return sample_latents(n, dim, rng).astype(np.float32)


def llc_parity(policy: LLCPolicy, onnx_policy, offset: np.ndarray, scale: np.ndarray, obs: np.ndarray,
               z: np.ndarray) -> dict[str, float]:  # fmt: skip
    """Largest absolute differences of actions and PD targets, onnxruntime against torch."""
    want = policy.act(obs, z)
    action, target = onnx_policy.run(obs, z)
    return {
        "action": float(np.abs(action - want).max()),
        "pd_target": float(np.abs(target - (offset + scale * want)).max()),
    }


def encoder_parity(policy: LLCPolicy, onnx_policy, windows: np.ndarray) -> dict[str, float]:
    with torch.no_grad():
        x = policy.amp_norm(torch.as_tensor(windows))
        logit, latent = (t.numpy() for t in policy.disc_enc(x))
    got_logit, got_latent = onnx_policy.discriminate(windows)
    return {
        "disc_logit": float(np.abs(got_logit - logit).max() / max(1.0, np.abs(logit).max())),
        "latent": float(np.abs(got_latent - latent).max()),
    }


def hlc_parity(policy: HLCPolicy, onnx_hlc, obs: np.ndarray, goal: np.ndarray) -> dict[str, float]:
    """Largest absolute difference of the unit latents, onnxruntime against torch (HLCPolicy.act)."""
    want = policy.act(np.concatenate([obs, goal], 1))
    return {"hlc_latent": float(np.abs(onnx_hlc.latent(obs, goal) - want).max())}
