"""ASE's latent prior, the one sampler of the project: uniform on the unit hypersphere (normalized Gaussians).

Training draws with a `torch.Generator` (its state travels in resume checkpoints); the viewer draws with
a numpy `Generator`, so it runs without torch (`view --policy onnx`). Same distribution, one definition.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def sample_latents(n: int, dim: int, generator: Any = None) -> Any:
    """(n, dim) unit latents: numpy float64 for a `numpy.random.Generator`, else a float32 torch tensor on the
    torch generator's device (the CPU without one)."""
    if isinstance(generator, np.random.Generator):
        z = generator.standard_normal((n, dim))
        return z / np.maximum(np.linalg.norm(z, axis=-1, keepdims=True), 1e-12)
    import torch

    z = torch.randn(n, dim, generator=generator, device=generator.device if generator is not None else "cpu")
    return torch.nn.functional.normalize(z, dim=-1)


def clip_preset(encoder_outputs: np.ndarray) -> np.ndarray:
    """A clip's latent preset: the normalized mean of the encoder's outputs over windows of that clip."""
    mean = np.asarray(encoder_outputs, dtype=np.float64).reshape(-1, np.shape(encoder_outputs)[-1]).mean(0)
    return mean / max(float(np.linalg.norm(mean)), 1e-8)
