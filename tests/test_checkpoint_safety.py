"""Checkpoints load without running code: weights-only loading everywhere, plain-data files, --trust-checkpoint.

A hostile checkpoint (a pickle whose `__reduce__` runs `os.system("touch MARKER")`) goes through every entry
point a user gives a file to: view, export, eval, train llc --resume, train hlc --llc/--resume/--init-from, and
the viewer's scan of checkpoints/. Each refuses it in one line naming the file and the object it wanted, exits
1 or 2, and the marker file never appears.
"""

from __future__ import annotations

import os
import shlex
import shutil
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch

from controllers.checkpoint import (
    CheckpointError,
    UnsafeCheckpointError,
    read_checkpoint,
    save_atomic,
    trusting_checkpoints,
    unsafe_globals,
    untrained_llc_checkpoint,
)
from controllers.checkpoint_convert import convert, differences
from controllers.networks import NetworkConfig
from tests.conftest import tiny_hlc_checkpoint, tiny_llc_checkpoint

ROOT = Path(__file__).resolve().parent.parent
TINY = NetworkConfig(actor_hidden=(16,), critic_hidden=(16,), disc_hidden=(16,), style_hidden=(8,), style_dim=8)


class Touch:
    """Pickled as os.system("touch MARKER"): what a hostile checkpoint holds."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {shlex.quote(str(self.marker))}",)


def hostile(path: Path, kind: str = "llc") -> tuple[Path, Path]:
    """A checkpoint that looks like one of `kind` and holds Touch; returns (file, marker)."""
    marker = path.parent / f"pwned_{path.stem}"
    ckpt = untrained_llc_checkpoint("humanoid", TINY) if kind == "llc" else {"format_version": 1, "kind": "hlc"}
    torch.save({**ckpt, "note": Touch(marker)}, path)
    return path, marker


def assert_refused(rc: int, err: str, path: Path, marker: Path, codes=(1, 2)) -> None:
    lines = [line for line in err.strip().splitlines() if line]
    assert rc in codes, err
    assert not marker.exists(), "the hostile checkpoint ran its code"
    assert len(lines) == 1 and "Traceback" not in err, err
    assert f"{path}: needs posix.system, which safe loading refuses" in lines[0], err
    assert "--trust-checkpoint only for files you trust" in lines[0], err


# ---------------------------------------------------------------------------- the loader
def test_a_hostile_checkpoint_is_refused_and_runs_nothing(tmp_path):
    path, marker = hostile(tmp_path / "evil.pt")
    assert unsafe_globals(path) == ["posix.system"]  # read from the opcodes, not run
    with pytest.raises(UnsafeCheckpointError, match=r"evil\.pt: needs posix\.system, which safe loading") as err:
        read_checkpoint(path)
    assert err.value.needs == ["posix.system"] and isinstance(err.value, CheckpointError)
    assert not marker.exists()
    with trusting_checkpoints(True), trusting_checkpoints(False):  # the innermost block decides
        with pytest.raises(UnsafeCheckpointError):
            read_checkpoint(path)
    assert not marker.exists()
    read_checkpoint(path, trust=True)  # trusted: unpickled in full, and so it runs (what the flag risks)
    assert marker.exists()


def test_numpy_and_plain_data_round_trip_bit_for_bit(tmp_path):
    sd = torch.nn.Linear(2, 3).state_dict()
    big = np.arange(6, dtype=np.float32).astype(">f4")
    tree = {
        "net": sd,
        "groups": [{"betas": (0.9, 0.999), "params": [0, 1], "foreach": None}],
        "rng": np.random.default_rng(3).bit_generator.state,  # 128-bit ints: plain data
        "arrays": {
            "f64": np.random.default_rng(0).standard_normal((3, 4)),
            "nan": np.array([np.nan, -0.0, np.inf], np.float32),
            "i64": np.arange(5),
            "bool": np.array([True, False]),
            "u32": np.arange(3, dtype=np.uint32),
            "zero_d": np.array(2.5),
            "strided": np.arange(12.0).reshape(3, 4)[:, ::-2],
            "empty": np.zeros((0, 3)),
        },
        "scalars": [np.float64(1.5), np.int64(-3), np.bool_(True), 7, 0.25, "x", None],
        "tensor": torch.arange(4, dtype=torch.bfloat16),
    }
    path = save_atomic({**untrained_llc_checkpoint("humanoid", TINY), "tree": tree, "big": big}, tmp_path / "a.pt")
    assert unsafe_globals(path) == []
    torch.load(path, weights_only=True)  # what read_checkpoint does, without its decoding
    back = read_checkpoint(path, "llc")
    assert differences(tree, back["tree"]) == []
    assert type(back["tree"]["net"]) is OrderedDict and back["tree"]["net"]._metadata == sd._metadata
    assert np.array_equal(back["big"], big) and back["big"].dtype == np.float32  # stored in native byte order
    assert isinstance(back["tree"]["scalars"][0], np.float64) and back["tree"]["arrays"]["zero_d"].shape == ()
    back["tree"]["arrays"]["f64"][0, 0] = 1.0  # writable arrays, as the environments' own


def test_save_refuses_what_would_not_load_safely(tmp_path):
    from tasks.common import TaskState

    state = TaskState(*(np.zeros((1, 3)) for _ in range(5)))
    with pytest.raises(TypeError, match=r"cannot hold .*sim\.task_state\.TaskState"):
        save_atomic({"state": state}, tmp_path / "x.pt")
    with pytest.raises(TypeError, match="dtype object"):
        save_atomic({"a": np.array([{"x": 1}], dtype=object)}, tmp_path / "x.pt")
    assert list(tmp_path.iterdir()) == []  # nothing left behind
    assert TaskState.from_dict(state.to_dict()).to_dict().keys() == state.to_dict().keys()


def test_bundled_checkpoints_are_plain_data():
    files = sorted((ROOT / "checkpoints").glob("*.pt"))
    assert files, "no bundled checkpoints"
    assert {f.name: unsafe_globals(f) for f in files} == {f.name: [] for f in files}


# ---------------------------------------------------------------------------- old files: trust, conversion
def old_format_state(path: Path) -> dict:
    """A resumable state as written before plain-data checkpoints: numpy arrays and a pickled TaskState."""
    from tasks.common import PropState, TaskState

    rng = np.random.default_rng(1)
    arrays = [rng.standard_normal((2, 3)) for _ in range(5)]
    prop = PropState(*(rng.standard_normal((2, 3)) for _ in range(4)), rng.standard_normal(2))
    ckpt = untrained_llc_checkpoint("humanoid", TINY)
    ckpt["train"] = {"iteration": 3, "env_state": {"obs": rng.standard_normal((2, 5)).astype(np.float32),
                     "rng": rng.bit_generator.state, "state": TaskState(*arrays, prop)}}  # fmt: skip
    torch.save(ckpt, path)
    return ckpt


def test_old_format_files_load_only_when_trusted_and_convert_once(tmp_path, capsys):
    from sim import task_state
    from tasks.common import TaskState

    assert TaskState is task_state.TaskState  # a state pickled when it lived in tasks.common finds it there still
    path = tmp_path / "old_state.pt"
    old = old_format_state(path)
    with pytest.raises(UnsafeCheckpointError, match=r"old_state\.pt: needs numpy\..*sim\.task_state\.TaskState"):
        read_checkpoint(path)
    with trusting_checkpoints():
        trusted = read_checkpoint(path)
    assert "old_state.pt: trusted (--trust-checkpoint), unpickled in full" in capsys.readouterr().err
    assert isinstance(trusted["train"]["env_state"]["state"], TaskState)
    line = convert(path)
    assert "needed numpy._core.multiarray._reconstruct" in line and "identical" in line, line
    assert unsafe_globals(path) == []
    new = read_checkpoint(path)
    state = new["train"]["env_state"]["state"]
    assert isinstance(state, dict) and state["target"]["push"].shape == (2,)
    assert new["train"]["env_state"]["rng"] == old["train"]["env_state"]["rng"]
    assert differences(old["train"]["env_state"]["state"].to_dict(), state) == []
    del old["train"], new["train"]
    assert differences(old, new) == []  # the weights, bit for bit
    assert convert(path).endswith("already plain data, left as it is")


def test_the_viewer_loads_an_old_format_llc_only_with_the_flag(tmp_path):
    from app import session

    path = tmp_path / "old.pt"
    torch.save({**untrained_llc_checkpoint("humanoid", TINY), "extra": np.zeros(2)}, path)
    policy, why = session.load_policy(session.SessionConfig(llc=str(path)))
    assert policy is None and "old.pt: needs numpy" in why and "--trust-checkpoint" in why
    policy, _ = session.load_policy(session.SessionConfig(llc=str(path), trust_checkpoint=True))
    assert policy is not None and policy.action_dim == 28


# ---------------------------------------------------------------------------- every entry point
@pytest.mark.parametrize("flag", ["--llc", "--hlc"])
def test_view_refuses_a_hostile_checkpoint(flag, tmp_path, capsys, monkeypatch):
    from app import cli, loading

    monkeypatch.setenv("DISPLAY", os.environ.get("DISPLAY", ":0"))  # the checks come before any window opens
    monkeypatch.setenv("MUJOCO_GL", os.environ.get("MUJOCO_GL", "egl"))
    monkeypatch.setattr(loading, "BUNDLED_LLC", tmp_path / "none.pt")
    path, marker = hostile(tmp_path / "evil.pt", flag[2:])
    rc = cli.main([flag, str(path), "--headless", "--record", str(tmp_path / "o.mp4")])
    assert_refused(rc, capsys.readouterr().err, path, marker, codes=(1,))


@pytest.mark.parametrize("flag", ["--llc", "--hlc"])
def test_export_refuses_a_hostile_checkpoint(flag, tmp_path, capsys):
    from controllers.export_cli import main

    path, marker = hostile(tmp_path / "evil.pt", flag[2:])
    rc = main([flag, str(path), "--out", str(tmp_path / "out")])
    assert_refused(rc, capsys.readouterr().err, path, marker)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("flag", ["--llc", "--hlc", "--compare"])
def test_eval_refuses_a_hostile_checkpoint(flag, tmp_path, capsys):
    from evaluation.cli import main

    path, marker = hostile(tmp_path / "evil.pt", "hlc" if flag == "--hlc" else "llc")
    args = [flag, str(path)] + ([str(tiny_llc_checkpoint(tmp_path / "llc.pt"))] if flag == "--compare" else [])
    rc = main(args)
    assert_refused(rc, capsys.readouterr().err, path, marker)


def test_train_llc_resume_refuses_a_hostile_checkpoint(tmp_path, capsys):
    from training.cli import main

    path, marker = hostile(tmp_path / "evil.pt")
    rc = main(["llc", "--resume", str(path), "--no-progress"])
    assert_refused(rc, capsys.readouterr().err, path, marker)


@pytest.mark.parametrize("flag", ["--llc", "--resume", "--init-from"])
def test_train_hlc_refuses_a_hostile_checkpoint(flag, tmp_path, capsys):
    from training.cli import main

    path, marker = hostile(tmp_path / "evil.pt", "llc" if flag == "--llc" else "hlc")
    args = ["hlc", flag, str(path), "--out", str(tmp_path / "run"), "--no-progress", "--iterations", "1"]
    if flag != "--resume":
        llc = path if flag == "--llc" else tiny_llc_checkpoint(tmp_path / "llc.pt")
        args += ["--task", "steering", "--envs", "2", "--hidden", "16,16", "--threads", "1"]
        args += ["--llc", str(llc)] if flag == "--init-from" else []
    rc = main(args)
    assert_refused(rc, capsys.readouterr().err, path, marker)
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


def test_the_viewer_scan_of_checkpoints_never_unpickles(tmp_path, monkeypatch):
    """A hostile hlc_*.pt dropped beside the bundled LLC: refused by name, the good controller still loads, and
    --trust-checkpoint (for the files named on the command line) does not extend to the scan."""
    from app import loading, session

    monkeypatch.setattr(loading, "BUNDLED_LLC", tmp_path / "llc.pt")
    tiny_llc_checkpoint(tmp_path / "llc.pt")
    shutil.copy(tiny_hlc_checkpoint(tmp_path / "run", tmp_path / "llc.pt", "location"), tmp_path / "hlc_location.pt")
    path, marker = hostile(tmp_path / "hlc_evil.pt", "hlc")
    for trust in (False, True):
        found, why = session.bundled_hlcs(session.SessionConfig(llc=str(tmp_path / "llc.pt"), trust_checkpoint=trust))
        assert [c.hlc.task for c in found] == ["location"] and not marker.exists()
        assert f"{path}: needs posix.system, which safe loading refuses" in why and "loads plain data only" in why
    s = session.Session(session.SessionConfig(trust_checkpoint=True), motions=None)
    assert not marker.exists() and list(s.tasks.controllers) == ["location"]
    assert any("hlc_evil.pt: needs posix.system" in m for m in s.messages)
