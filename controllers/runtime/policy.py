"""Exported policies run by onnxruntime: numpy in, numpy out, no torch.

`OnnxLLC` has the inference interface of `controllers.checkpoint.LLCPolicy` (`act`, `encode`,
`latent_dim`, `num_amp_frames`, ...), so the viewer drives either one. `OnnxHLC` is an exported task
controller: `latent(obs, goal)`, and `act(obs + goal)` as `controllers.hlc.HLCPolicy` (tasks.single.HLCDriver).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from controllers.files import sha256_file
from controllers.runtime.sidecar import ControllerFormatError, read_sidecar

META_PREFIX = "ase_runtime."  # ONNX metadata keys written by the exporter


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200] if text else ''}"


def check_layout_version(sidecar: dict, where: str | Path) -> None:
    """Observations are built by this code's formulas: refuse an export of another layout version."""
    from sim.observations import OBS_LAYOUT_VERSION

    version = sidecar["observations"].get("version")
    if version != OBS_LAYOUT_VERSION:
        raise ControllerFormatError(
            f"{where}: exported for observation layout version {version}, this code builds version "
            f"{OBS_LAYOUT_VERSION}; export a matching checkpoint again"
        )


def open_model(
    folder: Path, sidecar: dict, key: str, precision: str = "fp32", threads: int = 1
) -> ort.InferenceSession:
    """An onnxruntime session for sidecar model `key` ("llc", "encoder"), checked against the sidecar:
    file present, SHA-256, tensor names and sizes, and the source checkpoint recorded inside the model."""
    where = folder / "controller.json"
    entry = sidecar["models"].get(key)
    if not entry:
        raise ControllerFormatError(f"{where}: no {key} model in this export")
    file_key, sha_key = ("file", "sha256") if precision == "fp32" else ("fp16_file", "fp16_sha256")
    if precision not in ("fp32", "fp16"):
        raise ValueError(f"precision must be 'fp32' or 'fp16', not {precision!r}")
    if not entry.get(file_key):
        raise ControllerFormatError(f"{where}: no {precision} copy of the {key} model (export with --fp16)")
    path = folder / entry[file_key]
    if not path.is_file():
        raise ControllerFormatError(f"{path}: no such file (listed in controller.json)")
    if sha256_file(path) != entry[sha_key]:
        raise ControllerFormatError(f"{path}: SHA-256 differs from controller.json (corrupt or replaced; export again)")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    try:
        sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises several types for unreadable models
        raise ControllerFormatError(f"{path}: onnxruntime cannot load it ({_one_line(exc)})") from None
    for kind, tensors, wanted in (("input", sess.get_inputs(), entry["inputs"]),
                                  ("output", sess.get_outputs(), entry["outputs"])):  # fmt: skip
        got = [(t.name, list(t.shape[1:])) for t in tensors]
        want = [(t["name"], list(t["shape"][1:])) for t in wanted]
        if got != want:
            raise ControllerFormatError(f"{path}: model {kind}s {got} do not match controller.json's {want}")
    meta = sess.get_modelmeta().custom_metadata_map
    source = sidecar["sources"].get(entry.get("source", key)) or {}
    if meta.get(META_PREFIX + "source_sha256") != source.get("sha256"):
        raise ControllerFormatError(
            f"{path}: exported from another checkpoint than controller.json names ({source.get('file')}); export again"
        )
    return sess


class OnnxLLC:
    """An exported low-level controller: act(obs (n, obs_dim), z (n, latent_dim)) -> actions in [-1, 1].

    `run` also returns the PD targets (radians, action order); `encode` needs an export made with
    `--with-encoder`. precision "fp16" runs the half-precision copy (export with --fp16).
    """

    def __init__(
        self, folder: str | Path, *, character: str | None = None, precision: str = "fp32", threads: int = 1,
        check_layout: bool = True,
    ) -> None:  # fmt: skip
        sc = self.sidecar = read_sidecar(folder)
        self.folder = Path(folder) if Path(folder).is_dir() else Path(folder).parent
        where = self.folder / "controller.json"
        if check_layout:
            check_layout_version(sc, where)
        self.character: str = sc["character"]["name"]
        if character is not None and character != self.character:
            raise ControllerFormatError(f"{where}: exported for character {self.character!r}, not {character!r}")
        self.obs_dim: int = sc["observations"]["policy"]["size"]
        self.action_dim: int = sc["action"]["size"]
        self.latent_dim: int = sc["latent"]["size"]
        # a skill LLC's named skills (name -> anchor latent); {} for an LLC without names
        self.skills: dict[str, np.ndarray] = {
            k: np.asarray(v, dtype=np.float32) for k, v in (sc.get("skills") or {}).items()
        }
        self.amp_obs_dim: int = sc["observations"]["discriminator"]["frame_size"]
        self.num_amp_frames: int = sc["observations"]["discriminator"]["frames"]
        self.session = open_model(self.folder, sc, "llc", precision, threads)
        has_encoder = bool(sc["models"].get("encoder"))
        self.encoder = open_model(self.folder, sc, "encoder", precision, threads) if has_encoder else None

    @property
    def has_encoder(self) -> bool:
        return self.encoder is not None

    def run(self, obs: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(actions in [-1, 1], PD targets in radians), each (n, action_dim) float32."""
        obs = np.ascontiguousarray(obs, dtype=np.float32).reshape(-1, self.obs_dim)
        z = np.ascontiguousarray(z, dtype=np.float32).reshape(-1, self.latent_dim)
        action, target = self.session.run(None, {"obs": obs, "latent": z})
        return action, target

    def act(self, obs: np.ndarray, z: np.ndarray) -> np.ndarray:
        return self.run(obs, z)[0]

    def discriminate(self, amp_window: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(discriminator logit (n,), encoder's unit latent (n, latent_dim)) of windows, current frame first."""
        if self.encoder is None:
            raise ControllerFormatError(f"{self.folder}: exported without the encoder (export with --with-encoder)")
        x = np.ascontiguousarray(amp_window, dtype=np.float32).reshape(-1, self.amp_obs_dim * self.num_amp_frames)
        logit, latent = self.encoder.run(None, {"amp_window": x})
        return logit, latent

    def encode(self, amp_window: np.ndarray) -> np.ndarray:
        """The encoder's unit latent (n, latent_dim) of each discriminator window, current frame first."""
        return self.discriminate(amp_window)[1]

    def disc_logit(self, amp_window: np.ndarray) -> np.ndarray:
        """The discriminator's logit (n,): high = looks like the motion data."""
        return self.discriminate(amp_window)[0]


class OnnxHLC:
    """An exported task controller: latent(obs (n, obs_dim), goal (n, goal_dim)) -> unit latents (n, latent_dim).

    `obs` is the LLC's raw policy observation, `goal` the task's raw goal observation in the heading frame
    (controller.json `goal_layouts`); hold each latent for `hold_steps` LLC control steps.
    """

    def __init__(
        self, folder: str | Path, *, precision: str = "fp32", threads: int = 1, check_layout: bool = True
    ) -> None:
        sc = self.sidecar = read_sidecar(folder)
        self.folder = Path(folder) if Path(folder).is_dir() else Path(folder).parent
        where = self.folder / "controller.json"
        if check_layout:
            check_layout_version(sc, where)
        info = sc.get("hlc")
        if not sc["models"].get("hlc") or not info:
            raise ControllerFormatError(f"{where}: no hlc model in this export (export with --hlc CKPT)")
        self.character: str = sc["character"]["name"]
        self.task: str = info["task"]
        self.task_config: dict = info["task_config"]
        self.hold_steps: int = int(info["hold_steps"])
        self.config = {"llc_steps": self.hold_steps}  # as HLCPolicy.config, for tasks.single.HLCDriver
        layouts = {g["task"]: g for g in sc["goal_layouts"]}
        if self.task not in layouts:
            raise ControllerFormatError(f"{where}: no goal layout for the HLC's task {self.task!r}")
        self.goal_layout: dict = layouts[self.task]
        self.goal_dim: int = int(self.goal_layout["size"])
        self.policy_obs_dim: int = sc["observations"]["policy"]["size"]
        self.obs_dim: int = self.policy_obs_dim + self.goal_dim  # what HLCPolicy calls obs_dim: obs + goal
        self.latent_dim: int = sc["latent"]["size"]
        want = [["batch", self.policy_obs_dim], ["batch", self.goal_dim]], [["batch", self.latent_dim]]
        entry = sc["models"]["hlc"]
        got = [t["shape"] for t in entry["inputs"]], [t["shape"] for t in entry["outputs"]]
        if got != want or info.get("goal_size", self.goal_dim) != self.goal_dim:
            raise ControllerFormatError(
                f"{where}: the hlc model's tensors {got} do not fit the observation, goal layout and latent {want}"
            )
        self.session = open_model(self.folder, sc, "hlc", precision, threads)
        source, llc = sc["sources"].get("hlc") or {}, sc["sources"].get("llc") or {}
        meta = self.session.get_modelmeta().custom_metadata_map
        if meta.get(META_PREFIX + "llc_sha256") != source.get("llc_sha256"):
            raise ControllerFormatError(f"{self.folder / entry['file']}: trained with another LLC than controller.json "
                                        "records; export again")  # fmt: skip
        # as HLCPolicy.llc: the LLC it was trained with (the folder's own LLC model drives it)
        self.llc = {"sha256": source.get("llc_sha256"), "path": str(self.folder / sc["models"]["llc"]["file"])}
        if source.get("llc_sha256") != llc.get("sha256") and not source.get("other_llc_allowed"):
            raise ControllerFormatError(
                f"{where}: the HLC was trained with LLC sha256 {str(source.get('llc_sha256'))[:12]}, the folder's "
                f"LLC is {str(llc.get('sha256'))[:12]}; export the pair again"
            )

    def latent(self, obs: np.ndarray, goal: np.ndarray) -> np.ndarray:
        """Unit latents (n, latent_dim) float32 from raw policy and goal observations."""
        obs = np.ascontiguousarray(obs, dtype=np.float32).reshape(-1, self.policy_obs_dim)
        goal = np.ascontiguousarray(goal, dtype=np.float32).reshape(-1, self.goal_dim)
        return self.session.run(None, {"obs": obs, "goal": goal})[0]

    def act(self, obs_and_goal: np.ndarray) -> np.ndarray:
        """HLCPolicy's interface: the policy observation followed by the goal observation, (n, obs_dim)."""
        x = np.asarray(obs_and_goal, dtype=np.float32).reshape(-1, self.obs_dim)
        return self.latent(x[:, : self.policy_obs_dim], x[:, self.policy_obs_dim :])
