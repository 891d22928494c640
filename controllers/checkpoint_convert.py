"""Rewrite a checkpoint that safe loading refuses in the plain-data format, once, verified.

    python -m controllers.checkpoint_convert runs/llc/checkpoint.pt [more.pt ...]

For resumable states written before plain-data checkpoints (numpy arrays, a pickled TaskState) and other files
of this project. The file is unpickled in full (it can run code: convert only files you trust), its dataclass
states with a `to_dict` become plain dicts, and it is written again by `save_atomic` (numpy arrays as tagged
tensors). Before the old file is replaced, the new one is read back with weights-only loading and compared
with the old one: the same structure, every tensor and array bit for bit (dtype, shape and bytes), every number
and string equal. A file that already loads safely is left as it is.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from dataclasses import is_dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from controllers.checkpoint import map_tree, read_checkpoint, save_atomic, unsafe_globals


def legacy_to_plain(obj: Any) -> Any:
    """An old checkpoint's tree with its dataclass states (tasks.common.TaskState) as their `to_dict`."""
    return map_tree(
        obj, lambda x: x.to_dict() if is_dataclass(x) and not isinstance(x, type) and hasattr(x, "to_dict") else x
    )


def differences(a: Any, b: Any, where: str = "") -> list[str]:
    """Where trees `a` and `b` differ (tensors and arrays bit for bit, with dtype and shape); [] when equal."""
    here = where or "<top>"
    if type(a) is not type(b):
        return [f"{here}: {type(a).__name__} vs {type(b).__name__}"]
    if isinstance(a, torch.Tensor):
        if a.dtype != b.dtype or a.shape != b.shape:
            return [f"{here}: tensor {a.dtype} {tuple(a.shape)} vs {b.dtype} {tuple(b.shape)}"]
        bits = [t.detach().cpu().contiguous().reshape(-1).view(torch.uint8) for t in (a, b)]
        return [] if torch.equal(*bits) else [f"{here}: tensor values differ"]
    if isinstance(a, np.ndarray | np.generic):
        if a.dtype != b.dtype or np.shape(a) != np.shape(b):
            return [f"{here}: array {a.dtype} {np.shape(a)} vs {b.dtype} {np.shape(b)}"]
        return [] if np.asarray(a).tobytes() == np.asarray(b).tobytes() else [f"{here}: array values differ"]
    if isinstance(a, dict):
        if list(a) != list(b):
            return [f"{here}: keys {sorted(map(str, a))} vs {sorted(map(str, b))}"]
        out = [] if getattr(a, "__dict__", {}) == getattr(b, "__dict__", {}) else [f"{here}: attributes differ"]
        for k in a:
            out += differences(a[k], b[k], f"{where}/{k}")
        return out
    if isinstance(a, list | tuple):
        if len(a) != len(b):
            return [f"{here}: length {len(a)} vs {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, f"{where}[{i}]")]
    if isinstance(a, float) and math.isnan(a) and math.isnan(b):
        return []
    return [] if a == b else [f"{here}: {a!r} vs {b!r}"]


def convert(path: str | Path, out: str | Path | None = None) -> str:
    """Rewrite `path` (or write `out`) in the plain-data format, verified; one line saying what was done.
    ValueError when the rewritten file would not hold the same data (the old file is then left as it is)."""
    path, out = Path(path), Path(out or path)
    needs = unsafe_globals(path)
    if not needs:
        return f"{path}: already plain data, left as it is"
    before = path.stat().st_size
    old = legacy_to_plain(torch.load(path, map_location="cpu", weights_only=False))
    kind = old.get("kind", "llc") if isinstance(old, dict) else "llc"
    tmp = out.with_name(out.name + ".converting")
    try:
        save_atomic(old, tmp)
        new = read_checkpoint(tmp, kind, trust=False)
        if diff := differences(old, new):
            raise ValueError(f"{path}: the rewritten file differs: {'; '.join(diff[:5])}")
        size = tmp.stat().st_size
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return (
        f"{path}: needed {', '.join(needs)}; wrote {out} ({before:,} -> {size:,} bytes), read back with "
        "weights-only loading: identical"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m controllers.checkpoint_convert", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    p.add_argument("files", nargs="+", type=Path, help="checkpoints you trust, rewritten in place")
    args = p.parse_args(argv)
    rc = 0
    for f in args.files:
        try:
            print(convert(f))
        except (OSError, ValueError, TypeError) as exc:
            print(f"convert: {' '.join(str(exc).split())}", file=sys.stderr)
            rc = 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
