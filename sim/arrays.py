"""Array-library neutrality for the math that observations use.

The CPU environment passes numpy arrays; a GPU backend (MuJoCo Warp) passes
torch tensors on its device. `namespace(x)` returns numpy itself for numpy
inputs (no wrapper cost on the CPU path) and the array-API namespace of
anything else, so one implementation of each formula serves both.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def namespace(x: Any) -> Any:
    if isinstance(x, np.ndarray | np.generic | float | int):
        return np
    from array_api_compat import array_namespace

    return array_namespace(x)


def empty(xp: Any, shape: tuple[int, ...], like: Any, dtype: Any = None) -> Any:
    """An uninitialized array of `shape` on `like`'s device, with `like`'s dtype unless given."""
    if xp is np:
        return np.empty(shape, dtype=dtype or like.dtype)
    return xp.empty(tuple(shape), dtype=dtype or like.dtype, device=like.device)


def as_like(x: Any, like: Any, dtype: Any = None) -> Any:
    """`x` (numpy or Python values) as an array of `like`'s kind: numpy for numpy, else a tensor on its device."""
    if isinstance(like, np.ndarray):
        return np.asarray(x, dtype=dtype)
    import torch

    return torch.as_tensor(x, dtype=dtype, device=like.device)


def index_like(ids: Any, like: Any) -> Any:
    """Host indices or a host boolean mask, for indexing `like`: themselves for numpy, else a tensor on its device
    (CUDA tensors are indexed with tensors on their own device)."""
    return ids if isinstance(like, np.ndarray) else as_like(np.asarray(ids), like)


def to_numpy(x: Any) -> np.ndarray:
    """A host numpy array of `x` (numpy passes through)."""
    if isinstance(x, np.ndarray):
        return x
    return x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)


def copy(x: Any) -> Any:
    """A copy that owns its memory (numpy `copy`, torch `clone`)."""
    return x.copy() if isinstance(x, np.ndarray) else x.clone()
