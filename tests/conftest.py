"""Shared fixtures. Motion data is read from ../shared (never committed); tests skip clearly without it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@pytest.fixture(scope="session")
def deepmimic_dir() -> Path:
    from motion.data import deepmimic_dir as find

    try:
        return find()
    except FileNotFoundError as exc:
        pytest.skip(f"DeepMimic clips not available: {exc}")


@pytest.fixture
def one_torch_thread():
    """Deterministic, contention-free torch math: one thread for the test, restored after."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
