"""Where motion data lives on this machine."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
USER_DATA_DIR = Path(os.environ.get("ASE_DATA_DIR", Path.home() / ".cache" / "ase-runtime"))


def deepmimic_dir() -> Path:
    """The DeepMimic clips: $ASE_DEEPMIMIC_DIR, a development copy beside the checkout (`shared/motions/deepmimic`,
    when there is one), or the downloader's folder (`launch.py motions download`)."""
    candidates = []
    if env := os.environ.get("ASE_DEEPMIMIC_DIR"):
        candidates.append(Path(env))
    candidates += [REPO_ROOT.parent / "shared" / "motions" / "deepmimic", USER_DATA_DIR / "motions" / "deepmimic"]
    for c in candidates:
        if (c / "character_humanoid3d.json").is_file():
            return c
    raise FileNotFoundError(
        "DeepMimic motion clips not found (looked in "
        + ", ".join(str(c) for c in candidates)
        + "). Run `python launch.py motions download` to fetch them."
    )
