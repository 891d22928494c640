"""What the viewer loads: the motion clips, the LLC, a task controller (HLC) with its LLC, and the bundled task
controllers that go with the bundled LLC (checkpoints/hlc_*.pt, found by the SHA-256 of the LLC they were trained on).

Every function returns what it loaded or says why not in one line (`SessionError`, or a reason string where
a missing file is no error): the command line prints it and exits 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from controllers.protocols import Policy, TaskPolicy

HLC_UNAVAILABLE = ("no HLC checkpoint (--hlc PATH; the bundled checkpoints/hlc_*.pt go with the bundled LLC): "
                   "train one with `python launch.py train hlc --task location --llc LLC`")  # fmt: skip


class SessionError(ValueError):
    """The user asked for something the viewer cannot give (a bad checkpoint, an unavailable mode): one line."""


@dataclass
class SessionConfig:
    character: str | None = None  # default: the HLC's character, else "humanoid"
    llc: str | None = None  # LLC checkpoint path (with `hlc`: its frozen LLC, default the recorded file)
    hlc: str | None = None  # HLC (task controller) checkpoint path
    allow_other_llc: bool = False  # with `hlc`: drive an LLC file other than the one it was trained with
    motions: str | None = None  # clip file or folder; default: the DeepMimic clips
    mode: str | None = None  # initial mode; default: hlc with an HLC, llc with an LLC checkpoint, else playback
    clip: str | None = None  # initial clip name
    seed: int = 0
    policy_backend: str = "torch"
    device: str = "cpu"  # the simulation's physics: cpu (MuJoCo), cuda[:K] or warp-cpu (MuJoCo Warp)
    # unpickle in full the checkpoints it is given (llc, hlc, their LLC) that safe loading refuses (trusted files
    # only: --trust-checkpoint); the scan of checkpoints/ for task controllers never does
    trust_checkpoint: bool = False


def load_motions(cfg: SessionConfig, character) -> tuple[Any | None, str]:
    """The motion library, or None and a one-line reason."""
    try:
        from motion.library import MotionLibrary
    except ImportError as exc:
        return None, f"motion library not available ({exc})"
    try:
        if cfg.motions:
            path = Path(cfg.motions)
        else:
            from motion.data import deepmimic_dir

            path = deepmimic_dir()
        lib = MotionLibrary.from_path(path, character)
        return lib, f"{lib.num_clips} clips from {path}"
    except FileNotFoundError as exc:
        return None, f"no motion clips: {exc}".replace("\n", " ")
    except (ValueError, OSError) as exc:
        return None, f"cannot load motions: {exc}"


REPO = Path(__file__).resolve().parent.parent
BUNDLED_LLC = REPO / "checkpoints" / "llc.pt"  # what `launch.py --viewer` drives when it exists


@dataclass
class TaskController:
    """A task controller HLC mode can drive: the HLC, its file name, and the LLC it drives when that is not the
    session's own (`llc` None): a bundled HLC trained on another bundled LLC brings that one along."""

    hlc: TaskPolicy
    name: str
    llc: Policy | None = None
    llc_name: str = ""
    llc_note: str | None = None  # the measured summary of `llc` (its JSON card), for the HUD

    @property
    def label(self) -> str:
        """The file name, and the LLC's when it brings its own: "hlc_strike.pt on llc_other.pt"."""
        return f"{self.name} on {self.llc_name}" if self.llc_name else self.name


def bundled_llcs() -> dict[str, Path]:
    """SHA-256 -> path of the LLC weights under checkpoints/ (llc*.pt, not the resumable *_state.pt)."""
    from controllers.checkpoint import llc_files_by_sha

    return llc_files_by_sha(BUNDLED_LLC.parent)


def bundled_hlcs(cfg: SessionConfig) -> tuple[list[TaskController], str]:
    """The checkpoints/hlc_*.pt the viewer can drive when it drives the bundled LLC (torch): one per task (the
    first file by name), in the task registry's order; one trained on another bundled LLC (checkpoints/llc*.pt, found by
    SHA-256) comes with that LLC. Also why the refused ones were refused ("" when none was). Only safe loading:
    a file dropped into checkpoints/ that needs unpickling is refused, whatever --trust-checkpoint says."""
    if cfg.hlc or cfg.policy_backend != "torch" or not cfg.llc or Path(cfg.llc).resolve() != BUNDLED_LLC.resolve():
        return [], ""
    from controllers.checkpoint import trusting_checkpoints

    with trusting_checkpoints(False):
        return _scan_bundled_hlcs(cfg)


def _scan_bundled_hlcs(cfg: SessionConfig) -> tuple[list[TaskController], str]:
    from controllers.checkpoint import (
        CheckpointError,
        UnsafeCheckpointError,
        controller_summary,
        hlc_from_checkpoint,
        read_checkpoint,
    )
    from controllers.files import sha256_file

    found: dict[str, TaskController] = {}
    reasons = []
    main_sha = sha256_file(BUNDLED_LLC)
    llcs: dict[str, Path] | None = None  # the other bundled LLCs, hashed only when an HLC wants another one
    for path in sorted(p for p in BUNDLED_LLC.parent.glob("hlc_*.pt") if not p.name.endswith("_state.pt")):
        try:
            ckpt = read_checkpoint(path, "hlc")
            want = ckpt["llc"]["sha256"]
            if want == main_sha:
                llc_path = BUNDLED_LLC
            else:
                llcs = llcs if llcs is not None else bundled_llcs()
                llc_path = llcs.get(want, BUNDLED_LLC)  # not bundled: refused below, naming both files
            hlc, llc = hlc_from_checkpoint(ckpt, path, llc_path)
        except UnsafeCheckpointError as exc:  # the scan never unpickles: name the file to open it by hand
            hint = (f"the scan of {path.parent} loads plain data only; open a file you trust with "
                    f"view --hlc {path} --trust-checkpoint")  # fmt: skip
            reasons.append(str(UnsafeCheckpointError(exc.path, exc.needs, hint)))
            continue
        except (CheckpointError, KeyError, TypeError) as exc:
            reasons.append(str(exc) if isinstance(exc, CheckpointError) else f"{path}: no LLC record ({exc})")
            continue
        if (not cfg.character or hlc.character == cfg.character) and hlc.task not in found:
            own = llc_path.resolve() == BUNDLED_LLC.resolve()
            found[hlc.task] = TaskController(hlc, path.name) if own else TaskController(
                hlc, path.name, llc, llc_path.name, controller_summary(llc_path))  # fmt: skip
    return [found[t] for t in sorted(found, key=task_rank)], "; ".join(reasons)


def task_rank(task: str) -> int:
    """Where `task` comes in the task registry's order (`tasks.TASKS`; unknown tasks last): HLC mode starts with
    the first one loaded."""
    from tasks import TASKS

    order = list(TASKS)
    return order.index(task) if task in order else len(order)


def load_clips_and_llc(
    cfg: SessionConfig, character, motions: Any, policy: Policy | None, *, load: bool = True
) -> tuple[Any, Policy | None, str | None, list[str]]:
    """The motion clips and the LLC (those not given, when `load`), the LLC's measured summary (its JSON card, for
    a torch checkpoint) and one message for each thing loaded. An LLC asked for (`cfg.llc`) that does not load
    raises SessionError; without one the bundled LLC is tried (none: no LLC, said in the message)."""
    messages = []
    if motions is None and load:
        motions, msg = load_motions(cfg, character)
        messages.append(msg)
    if policy is None and load:
        explicit = bool(cfg.llc)
        policy, msg = load_policy(cfg)
        if policy is None and explicit:
            raise SessionError(msg)
        messages.append(msg)
    note = None
    if policy is not None and cfg.llc and cfg.policy_backend == "torch":
        from controllers.checkpoint import controller_summary

        note = controller_summary(cfg.llc)
    return motions, policy, note, messages


def load_policy(cfg: SessionConfig) -> tuple[Policy | None, str]:
    """The LLC, or None and a one-line reason (no checkpoint is not an error)."""
    if not cfg.llc:
        if not BUNDLED_LLC.is_file():
            return None, "no LLC checkpoint (pass --llc PATH; no bundled checkpoints/llc.pt yet: checkpoints/README.md)"
        cfg.llc = str(BUNDLED_LLC)
    if cfg.policy_backend == "onnx":  # a `launch.py export` folder, run by onnxruntime (no torch)
        from controllers.runtime import ControllerFormatError, OnnxLLC

        try:
            pol = OnnxLLC(cfg.llc, character=cfg.character)
            return pol, f"LLC {Path(cfg.llc).name} (ONNX, latent {pol.latent_dim}-d)"
        except ControllerFormatError as exc:
            return None, str(exc)
    try:
        from controllers.checkpoint import CheckpointError, controller_summary, load_llc, trusting_checkpoints
    except ImportError as exc:
        return None, f"cannot load checkpoints ({exc})"
    try:
        import torch

        torch.set_num_threads(1)  # batch-1 inference: a second thread only contends with rendering
        with trusting_checkpoints(cfg.trust_checkpoint):
            pol = load_llc(cfg.llc, character=cfg.character)
        note = controller_summary(cfg.llc)
        return pol, f"LLC {Path(cfg.llc).name} (latent {pol.latent_dim}-d)" + (f": {note}" if note else "")
    except CheckpointError as exc:
        return None, str(exc)


def load_hlc_pair(cfg: SessionConfig) -> tuple[TaskPolicy, Policy]:
    """(HLCPolicy, LLCPolicy) of `cfg.hlc`: the task controller and the frozen LLC it was trained with
    (`cfg.llc`, default the recorded file; checked by SHA-256 unless `cfg.allow_other_llc`). SessionError
    (one line) when it cannot be had. With `policy_backend="onnx"`, `cfg.hlc` is a `launch.py export --hlc`
    folder: (OnnxHLC, OnnxLLC) of that folder, whose export checked the pair."""
    if cfg.policy_backend == "onnx":
        from controllers.runtime import ControllerFormatError, OnnxHLC, OnnxLLC

        if cfg.llc and Path(cfg.llc).resolve() != Path(cfg.hlc).resolve():
            raise SessionError("--policy onnx --hlc DIR: the LLC comes from the same export folder; drop --llc")
        try:
            hlc = OnnxHLC(cfg.hlc)
            llc = OnnxLLC(cfg.hlc, character=cfg.character)
        except ControllerFormatError as exc:
            raise SessionError(str(exc)) from None
        return hlc, llc
    from controllers.checkpoint import (
        CheckpointError,
        hlc_from_checkpoint,
        read_checkpoint,
        recorded_llc_path,
        trusting_checkpoints,
    )

    try:
        import torch

        torch.set_num_threads(1)  # batch-1 inference, as load_policy
        with trusting_checkpoints(cfg.trust_checkpoint):
            ckpt = read_checkpoint(cfg.hlc, "hlc")
            if not cfg.llc:  # the file it will drive, for the messages: the recorded one, or its renamed copy
                cfg.llc = str(recorded_llc_path(cfg.hlc, ckpt))
            hlc, llc = hlc_from_checkpoint(ckpt, cfg.hlc, cfg.llc, allow_other_llc=cfg.allow_other_llc)
    except CheckpointError as exc:
        raise SessionError(str(exc)) from None
    if cfg.character and cfg.character != hlc.character:
        raise SessionError(f"{cfg.hlc}: trained for character {hlc.character!r}, not {cfg.character!r}")
    return hlc, llc
