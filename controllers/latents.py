"""ASE's latent prior, the one sampler of the project: uniform on the unit hypersphere (normalized Gaussians).

Training draws with a `torch.Generator` (its state travels in resume checkpoints); the viewer draws with
a numpy `Generator`, so it runs without torch (`view --policy onnx`). Same distribution, one definition.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# a skill LLC's skills whose name starts with this are get-ups (training rewards them after falls; eval judges them
# from lying starts)
GETUP_PREFIX = "getup"


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


def slerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """The unit latent a fraction t of the way from unit latent a to b along the great circle (t in [0, 1])."""
    a = np.asarray(a, dtype=np.float64) / max(float(np.linalg.norm(a)), 1e-12)
    b = np.asarray(b, dtype=np.float64) / max(float(np.linalg.norm(b)), 1e-12)
    omega = float(np.arccos(np.clip(a @ b, -1.0, 1.0)))
    if omega < 1e-6:
        return a
    if np.pi - omega < 1e-6:  # opposite: any great circle; go through a direction orthogonal to a
        ortho = np.roll(a, 1) - (np.roll(a, 1) @ a) * a
        b_mid = ortho / max(float(np.linalg.norm(ortho)), 1e-12)
        return slerp(a, b_mid, 2 * t) if t <= 0.5 else slerp(b_mid, b, 2 * t - 1)
    z = (np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)
    return z / np.linalg.norm(z)


def recognise_skill(encoded: np.ndarray, skills: dict[str, np.ndarray]) -> tuple[str, float]:
    """The named skill whose anchor is nearest (cosine) to an encoder latent, and that cosine; ("", 0) without
    skills. For a skill LLC the encoder was trained to map each clip's windows onto its anchor."""
    if not skills:
        return "", 0.0
    names = list(skills)
    cos = np.stack([np.asarray(skills[n], dtype=np.float64) for n in names]) @ np.asarray(encoded).reshape(-1)
    best = int(np.argmax(cos))
    return names[best], float(cos[best])
