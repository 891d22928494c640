"""Exported controller folders shared by tests/test_onnx_*.py, made once per test process.

The trained fixture is checkpoints/llc_cpu_round0.pt's weights stamped with this code's observation layout
version: these tests check that torch, onnxruntime and the runtime agree on the same weights, and a
policy that stands keeps the closed-loop comparison out of chaotic falls.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import shutil
import tempfile
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROUND0 = ROOT / "checkpoints" / "llc_cpu_round0.pt"
_TMP = Path(tempfile.mkdtemp(prefix="ase-onnx-tests-"))
atexit.register(shutil.rmtree, _TMP, ignore_errors=True)


def tmp_dir() -> Path:
    return _TMP


@cache
def trained_checkpoint() -> Path:
    """round0's weights, stamped with the current layout version (the policy layout is unchanged since 1)."""
    from controllers.checkpoint import read_checkpoint, save_atomic
    from sim.observations import OBS_LAYOUT_VERSION

    ckpt = read_checkpoint(ROUND0)
    ckpt["obs_layout_version"] = OBS_LAYOUT_VERSION
    return save_atomic(ckpt, _TMP / ROUND0.name)


@cache
def untrained_checkpoint() -> Path:
    import torch

    from controllers.checkpoint import save_atomic, untrained_llc_checkpoint

    torch.manual_seed(0)
    return save_atomic(untrained_llc_checkpoint(), _TMP / "llc_untrained.pt")


@cache
def full_export() -> tuple[Path, str]:
    """(folder, the command's stdout) of `launch.py export --with-encoder --fp16` on the trained fixture."""
    from controllers.export_cli import main

    out, buf = _TMP / "export_full", io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(["--llc", str(trained_checkpoint()), "--out", str(out), "--with-encoder", "--fp16"])
    assert rc == 0, buf.getvalue()
    return out, buf.getvalue()


@cache
def untrained_export() -> Path:
    """A plain export (LLC only) of the untrained fixture: another checkpoint's models, for mismatch tests."""
    from controllers.export_cli import export

    return export(untrained_checkpoint(), _TMP / "export_untrained")["folder"]


@cache
def hlc_checkpoint() -> Path:
    """A tiny steering HLC trained by `launch.py train hlc` on the trained fixture (its LLC SHA-256 recorded)."""
    from tests.conftest import tiny_hlc_checkpoint

    return tiny_hlc_checkpoint(_TMP / "hlc_steering", trained_checkpoint(), "steering")


@cache
def hlc_export() -> tuple[Path, str]:
    """(folder, stdout) of `launch.py export --llc TRAINED --hlc HLC --fp16`."""
    from controllers.export_cli import main

    out, buf = _TMP / "export_hlc", io.StringIO()
    args = ["--llc", str(trained_checkpoint()), "--hlc", str(hlc_checkpoint()), "--out", str(out), "--fp16"]
    with contextlib.redirect_stdout(buf):
        rc = main(args)
    assert rc == 0, buf.getvalue()
    return out, buf.getvalue()


def copy_of(folder: Path, name: str) -> Path:
    """A fresh copy of an export folder, to damage."""
    dst = _TMP / name
    if dst.exists():
        shutil.rmtree(dst)
    return Path(shutil.copytree(folder, dst))
