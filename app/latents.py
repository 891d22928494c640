"""Latent-space helpers for the viewer: unit-sphere math, named presets, a 2-D skill map. Pure numpy."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def normalize(z: np.ndarray, eps: float = 1e-8) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64)
    return z / max(float(np.linalg.norm(z)), eps)


def random_latent(rng: np.random.Generator, dim: int) -> np.ndarray:
    """A uniform sample on the unit sphere (ASE's prior)."""
    return normalize(rng.standard_normal(dim))


def slerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """Great-circle interpolation between unit vectors a (t=0) and b (t=1)."""
    a, b = normalize(a), normalize(b)
    cos = float(np.clip(a @ b, -1.0, 1.0))
    omega = np.arccos(cos)
    if omega < 1e-6:
        return a
    if np.pi - omega < 1e-6:  # antipodal: any great circle will do; take lerp through a perpendicular
        return normalize((1 - t) * a + t * b + 1e-3 * np.roll(a, 1))
    return normalize((np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega))


@dataclass
class SkillMap:
    """Named latents (one per clip) and a PCA projection of them to 2-D.

    `coords` (k, 2) are the presets on the map, scaled to [-1, 1]; `to_latent(xy)`
    maps a point of the map back onto the sphere (mean + xy on the two principal axes).
    """

    names: list[str]
    latents: np.ndarray  # (k, d), unit rows
    mean: np.ndarray  # (d,)
    axes: np.ndarray  # (2, d)
    scale: float
    coords: np.ndarray  # (k, 2)

    @classmethod
    def build(cls, names: list[str], latents: np.ndarray) -> SkillMap:
        lat = np.stack([normalize(z) for z in np.asarray(latents, dtype=np.float64)])
        mean = lat.mean(axis=0)
        centered = lat - mean
        if len(lat) >= 2:
            _, _, vt = np.linalg.svd(centered, full_matrices=False)
            axes = vt[:2]
        else:
            axes = np.zeros((0, lat.shape[1]))
        if axes.shape[0] < 2:  # pad with arbitrary orthonormal directions
            extra = np.linalg.qr(np.random.default_rng(0).standard_normal((lat.shape[1], 2)))[0].T
            axes = np.concatenate([axes, extra])[:2]
        xy = centered @ axes.T
        scale = float(np.abs(xy).max()) or 1.0
        return cls(list(names), lat, mean, axes, scale, xy / scale)

    def project(self, z: np.ndarray) -> np.ndarray:
        return (normalize(z) - self.mean) @ self.axes.T / self.scale

    def to_latent(self, xy) -> np.ndarray:
        return normalize(self.mean + np.asarray(xy, dtype=np.float64) @ self.axes * self.scale)

    def nearest(self, z: np.ndarray) -> tuple[str, float]:
        """The preset closest to z on the sphere, and its cosine similarity."""
        cos = self.latents @ normalize(z)
        i = int(np.argmax(cos))
        return self.names[i], float(cos[i])

    def latent(self, name: str) -> np.ndarray:
        return self.latents[self.names.index(name)].copy()


def clip_preset(encoder_outputs: np.ndarray) -> np.ndarray:
    """A clip's preset: the normalized mean of the encoder's outputs over windows of that clip."""
    return normalize(np.asarray(encoder_outputs, dtype=np.float64).reshape(-1, encoder_outputs.shape[-1]).mean(0))
