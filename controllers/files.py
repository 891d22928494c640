"""File helpers shared by checkpoints and exports (no torch)."""

from __future__ import annotations

import hashlib
from pathlib import Path

# the command lines' --trust-checkpoint (controllers.checkpoint.trusting_checkpoints)
TRUST_HELP = (
    "read checkpoints that safe loading refuses (third-party files, resumable states written before plain-data "
    "checkpoints) by unpickling them in full, which runs any code such a file holds: only for files you trust"
)


def sha256_file(path: str | Path) -> str:
    """SHA-256 of a file's bytes, hex."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
