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
