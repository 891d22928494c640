"""Latent-space helpers for the viewer: unit-sphere math, named presets, principal axes, a 2-D skill map. Pure numpy.

Random latents come from `controllers.networks.sample_latents`, the trainer's own sampler.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_COMPONENT = 0.995  # a slider stops short of +-1 so the rest of the latent keeps its direction


def normalize(z: np.ndarray, eps: float = 1e-8) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64)
    return z / max(float(np.linalg.norm(z)), eps)


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


def set_component(z: np.ndarray, axis: np.ndarray, value: float) -> np.ndarray:
    """The unit latent with component `value` along unit `axis`, the rest of `z` rescaled to stay on the sphere.

    Stable under repeated slider moves: the set component is exactly `value` (clipped to
    +-MAX_COMPONENT), and the part of `z` orthogonal to `axis` keeps its direction, so every other
    component scales by the same factor and moving the slider back restores them.
    """
    z, axis = normalize(z), normalize(axis)
    v = float(np.clip(value, -MAX_COMPONENT, MAX_COMPONENT))
    rest = z - (z @ axis) * axis
    n = float(np.linalg.norm(rest))
    if n < 1e-9:  # z lies on the axis: continue along the coordinate direction least aligned with it
        e = np.zeros_like(axis)
        e[int(np.argmin(np.abs(axis)))] = 1.0
        rest = e - (e @ axis) * axis
        n = float(np.linalg.norm(rest))
    return v * axis + np.sqrt(1.0 - v * v) * rest / n


@dataclass
class SkillMap:
    """Named latents (one per clip), their principal axes, and a 2-D map along the first two.

    `components` (k, d) are the orthonormal principal axes of the centred presets (k <= presets - 1),
    `explained` their share of the presets' variance. `coords` (n, 2) are the presets on the map,
    scaled to [-1, 1]; `to_latent(xy)` maps a point of the map back onto the sphere.
    """

    names: list[str]
    latents: np.ndarray  # (n, d), unit rows
    mean: np.ndarray  # (d,)
    components: np.ndarray  # (k, d)
    explained: np.ndarray  # (k,)
    scale: float
    coords: np.ndarray  # (n, 2)

    @property
    def axes(self) -> np.ndarray:
        """The map's two axes (2, d)."""
        return self.components[:2]

    @classmethod
    def build(cls, names: list[str], latents: np.ndarray) -> SkillMap:
        lat = np.stack([normalize(z) for z in np.asarray(latents, dtype=np.float64)])
        mean = lat.mean(axis=0)
        centered = lat - mean
        _, sv, vt = np.linalg.svd(centered, full_matrices=False)
        keep = sv > 1e-6 * max(float(sv.max()), 1e-12)
        comps, var = vt[keep], sv[keep] ** 2
        explained = var / var.sum() if var.size else var
        if comps.shape[0] < 2:  # pad the map's axes with orthonormal directions
            extra = np.random.default_rng(0).standard_normal((2, lat.shape[1]))
            basis = np.linalg.qr(np.concatenate([comps, extra]).T)[0].T
            comps, explained = basis[:2], np.r_[explained, np.zeros(2)][:2]
        xy = centered @ comps[:2].T
        scale = float(np.abs(xy).max()) or 1.0
        return cls(list(names), lat, mean, comps, explained, scale, xy / scale)

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


def place_labels(
    points: np.ndarray, sizes: np.ndarray, bounds: tuple[float, float, float, float], gap: float = 5.0
) -> list[tuple[float, float] | None]:
    """Top-left corners for text labels beside `points` (n, 2) so that no two labels overlap.

    `sizes` (n, 2) are label widths and heights, `bounds` (x0, y0, x1, y1) the area labels must stay in
    (screen coordinates, y down). Greedy: right, left, above, below each point, first free place
    wins; a label with no free place gets None (the map shows it on hover instead).
    """
    dot = 4.0  # labels keep clear of every marker too
    placed = [(px - dot, py - dot, px + dot, py + dot) for px, py in np.asarray(points, float)]
    out: list[tuple[float, float] | None] = []
    x0, y0, x1, y1 = bounds
    for (px, py), (w, h) in zip(np.asarray(points, float), np.asarray(sizes, float)):
        spot = None
        for cx, cy in ((px + gap, py - h / 2), (px - gap - w, py - h / 2), (px - w / 2, py - gap - h),
                       (px - w / 2, py + gap)):  # fmt: skip
            r = (cx, cy, cx + w, cy + h)
            inside = r[0] >= x0 and r[1] >= y0 and r[2] <= x1 and r[3] <= y1
            if inside and all(r[2] <= q[0] or r[0] >= q[2] or r[3] <= q[1] or r[1] >= q[3] for q in placed):
                spot = (cx, cy)
                placed.append(r)
                break
        out.append(spot)
    return out
