"""Termination terms."""

from __future__ import annotations

import numpy as np


def fallen(
    contact_force: np.ndarray, body_height: np.ndarray, non_foot: np.ndarray, height_limit: np.ndarray, min_force: float
) -> np.ndarray:
    """ASE's fall rule, (n,) from per-body arrays (n, B).

    (a non-foot body has a contact force above `min_force`) and (a non-foot body
    origin is below its height limit); the two need not be the same body.
    """
    touching = (contact_force[:, non_foot] > min_force).any(1)
    low = (body_height[:, non_foot] < height_limit[non_foot]).any(1)
    return touching & low
