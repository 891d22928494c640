"""`launch.py export --llc CKPT [--hlc CKPT] --out DIR [--web DIR]`: an exported controller folder, verified.

With --hlc and no --llc the HLC's own LLC is exported with it (the recorded file, else the LLC beside the HLC
with the recorded SHA-256, as for checkpoints/hlc_*.pt).

DIR receives `llc.onnx` (and `hlc.onnx` with --hlc, `encoder.onnx` with --with-encoder, `*_fp16.onnx` with
--fp16), the character's MJCF and `controller.json` (controllers/runtime/sidecar.py). An HLC is exported
only with the LLC it was trained with (SHA-256 recorded in the HLC checkpoint) unless --allow-other-llc.
The folder is built beside DIR, checked (onnx.checker; onnxruntime against torch on batch 1 and 64; the
runtime loading it), and only then moved into place: a failed export leaves DIR as it was. Errors are one
line naming the file.

--web DIR also builds a static web page that runs the export in a browser (controllers/web_page.py,
docs/web.md): the export's files, the page (web/) and its vendored libraries in DIR (--out defaults to DIR).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

import numpy as np

from controllers.files import TRUST_HELP
from sim.control import HLC_HOLD_STEPS

EXAMPLES = """examples:
  python launch.py export --llc checkpoints/llc.pt --out exports/llc
  python launch.py export --llc runs/llc/llc.pt --out exports/llc --with-encoder --fp16
  python launch.py export --llc runs/llc/llc.pt --hlc runs/hlc_steering/hlc.pt --out exports/steering
  python launch.py export --hlc checkpoints/hlc_location.pt --out exports/location   # with its own LLC
  python launch.py export --hlc checkpoints/hlc_steering.pt --web site   # + a web page: python -m http.server -d site
"""
PARITY_TOL = 1e-5  # onnxruntime float32 against torch, absolute (actions, PD targets, unit latents)
FP16_TOL = 5e-2  # the float16 copy against the float32 model, absolute on actions in [-1, 1]


class ExportError(ValueError):
    """The export cannot be written or did not pass its own checks."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="launch.py export",
        description="Export controllers to ONNX with a controller.json sidecar (docs/game-engines.md).",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--llc", help="LLC checkpoint (.pt); with --hlc it defaults to the HLC's own LLC")
    p.add_argument("--hlc", help="task controller checkpoint (.pt, launch.py train hlc) trained on --llc")
    p.add_argument("--allow-other-llc", action="store_true",
                   help="with --hlc: export even if --llc is not the LLC file the HLC was trained with")  # fmt: skip
    p.add_argument("--out", help="output folder (replaced if it holds an earlier export); default: the --web folder")
    p.add_argument("--web", metavar="DIR",
                   help="also write a static web page running the export into DIR (docs/web.md; downloads pinned "
                        "npm packages into a cache once: ASE_WEB_CACHE)")  # fmt: skip
    p.add_argument("--with-encoder", action="store_true", help="also export the discriminator/encoder (encoder.onnx)")
    p.add_argument("--fp16", action="store_true", help="also write half-precision copies (*_fp16.onnx)")
    p.add_argument("--opset", type=int, default=None, help="ONNX opset (default: controllers.onnx_export.OPSET)")
    p.add_argument("--seed", type=int, default=0, help="seed of the parity check's inputs")
    p.add_argument("--trust-checkpoint", action="store_true", help=TRUST_HELP)
    return p


def _check_out(out: Path) -> None:
    if out.exists() and not (out.is_dir() and (not any(out.iterdir()) or (out / "controller.json").is_file())):
        raise ExportError(f"{out}: exists and is not an earlier export folder; choose another --out")


def _model_entry(folder: Path, name: str, fp16: bool, opset: int, normalization: str, source: str = "llc") -> dict:
    from controllers.files import sha256_file
    from controllers.onnx_export import tensor_specs

    entry = {"file": f"{name}.onnx", "sha256": sha256_file(folder / f"{name}.onnx"), "opset": opset,
             "fp16_file": None, "fp16_sha256": None, "source": source, "normalization": normalization}  # fmt: skip
    if fp16:
        entry["fp16_file"] = f"{name}_fp16.onnx"
        entry["fp16_sha256"] = sha256_file(folder / f"{name}_fp16.onnx")
    return {**entry, **tensor_specs(folder / f"{name}.onnx")}


def _write_fp16(src: Path) -> Path:
    import onnx

    from controllers.onnx_fp16 import to_fp16

    dst = src.with_name(src.stem + "_fp16.onnx")
    onnx.save_model(to_fp16(onnx.load(str(src))), str(dst), save_as_external_data=False)
    return dst


def own_llc(hlc_path: Path) -> Path:
    """The LLC file `hlc_path` was trained with (recorded path, else beside it by name or SHA-256); CheckpointError
    (one line) when it cannot be found."""
    from controllers.checkpoint import check_llc_file, read_checkpoint, recorded_llc_path

    ckpt = read_checkpoint(hlc_path, "hlc")
    path = recorded_llc_path(hlc_path, ckpt)
    check_llc_file(hlc_path, ckpt, path)
    return path


def load_hlc_for(hlc_path: Path, llc_path: Path, allow_other_llc: bool):
    """The HLC checkpoint, refused (CheckpointError, one line) when `llc_path` is not the LLC it was trained
    with, unless `allow_other_llc`; returns (HLCPolicy, whether the LLC file's SHA-256 is the recorded one)."""
    from controllers.checkpoint import hlc_from_checkpoint, read_checkpoint
    from controllers.files import sha256_file

    ckpt = read_checkpoint(hlc_path, "hlc")
    hlc, _ = hlc_from_checkpoint(ckpt, hlc_path, llc_path, allow_other_llc=allow_other_llc)
    hlc.meta = {k: ckpt[k] for k in ("format_version", "obs_layout_version")}
    return hlc, sha256_file(llc_path) == hlc.llc["sha256"]


def write_folder(llc_path: Path, folder: Path, *, with_encoder: bool, fp16: bool, opset: int,
                 hlc_path: Path | None = None, allow_other_llc: bool = False) -> tuple:  # fmt: skip
    """Models, MJCF and sidecar into `folder`; returns (policy, character, offset, scale, hlc or None)."""
    import mujoco

    from controllers.checkpoint import load_llc
    from controllers.files import sha256_file
    from controllers.onnx_export import export_encoder, export_hlc, export_llc
    from controllers.runtime.sidecar import build_sidecar, write_sidecar
    from sim.character import load_character
    from sim.env import EnvConfig

    policy = load_llc(llc_path)  # refuses other layout versions and broken files, naming the file
    hlc, same_llc = load_hlc_for(hlc_path, llc_path, allow_other_llc) if hlc_path is not None else (None, True)
    ch = load_character(policy.character)
    if policy.action_dim != ch.num_dof:
        raise ExportError(f"{llc_path}: {policy.action_dim} actions, character {ch.name!r} has {ch.num_dof} DoF")
    offset, scale = ch.action_offset_scale()
    source_sha = sha256_file(llc_path)
    layout = str(policy.meta["obs_layout_version"])
    meta = {"source_sha256": source_sha, "character": ch.name, "obs_layout_version": layout}
    norm = "baked in: clamp((x - mean) / sqrt(var + 1e-5), -5, 5) with the checkpoint's running statistics"
    export_llc(policy, offset, scale, folder / "llc.onnx", meta, opset)
    models: dict[str, dict | None] = {"llc": None, "encoder": None, "hlc": None}
    names = ["llc"] + (["encoder"] if with_encoder else [])
    if with_encoder:
        export_encoder(policy, folder / "encoder.onnx", meta, opset)
    hlc_sha = sha256_file(hlc_path) if hlc is not None else None
    if hlc is not None:
        hlc_meta = {"source_sha256": hlc_sha, "character": ch.name, "obs_layout_version": layout, "task": hlc.task,
                    "llc_sha256": hlc.llc["sha256"]}  # fmt: skip
        export_hlc(hlc, folder / "hlc.onnx", hlc_meta, opset)
        names.append("hlc")
    for name in names:
        if fp16:
            _write_fp16(folder / f"{name}.onnx")
        models[name] = _model_entry(folder, name, fp16, opset, norm, "hlc" if name == "hlc" else "llc")
    mjcf = folder / ch.mjcf_path.name
    shutil.copyfile(ch.mjcf_path, mjcf)
    sources = {
        "llc": {"file": llc_path.name, "sha256": source_sha, "kind": "llc",
                "checkpoint_format_version": policy.meta["format_version"],
                "obs_layout_version": policy.meta["obs_layout_version"], "network": asdict(policy.network)},
        "hlc": None if hlc is None else {
            "file": hlc_path.name, "sha256": hlc_sha, "kind": "hlc", "task": hlc.task,
            "checkpoint_format_version": hlc.meta["format_version"],
            "obs_layout_version": hlc.meta["obs_layout_version"],
            "network": asdict(hlc.network), "llc_sha256": hlc.llc["sha256"], "llc_file": Path(hlc.llc["path"]).name,
            "other_llc_allowed": not same_llc,
        },
    }  # fmt: skip
    hlc_info = None if hlc is None else {
        "task": hlc.task, "task_config": hlc.task_config, "goal_layout": hlc.goal_layout,
        "hold_steps": int(hlc.config.get("llc_steps", HLC_HOLD_STEPS)),
    }  # fmt: skip
    cfg = policy.config
    steps = [cfg["latent_steps_min"], cfg["latent_steps_max"] - 1] if "latent_steps_min" in cfg else None
    sidecar = build_sidecar(
        character=ch, model=mujoco.MjModel.from_xml_path(str(mjcf)), mjcf_file=mjcf.name,
        mjcf_sha256=sha256_file(mjcf), control_substeps=EnvConfig.control_substeps,
        llc={"obs_dim": policy.obs_dim, "action_dim": policy.action_dim, "latent_dim": policy.latent_dim,
             "amp_obs_dim": policy.amp_obs_dim, "num_amp_frames": policy.num_amp_frames, "latent_steps": steps},
        models=models, sources=sources, generator="ase-runtime launch.py export", hlc=hlc_info,
        skills=policy.skills,
    )  # fmt: skip
    write_sidecar(folder, sidecar)
    return policy, ch, offset, scale, hlc


def verify_folder(folder: Path, policy, offset: np.ndarray, scale: np.ndarray, seed: int = 0,
                  hlc=None) -> dict[str, float]:  # fmt: skip
    """onnx.checker on every model, then the runtime loads the folder and matches torch; raises ExportError."""
    from controllers import onnx_export as ox
    from controllers.runtime.controller import Controller
    from controllers.runtime.policy import OnnxHLC, OnnxLLC

    for path in sorted(folder.glob("*.onnx")):
        try:
            ox.check_file(path)
        except Exception as exc:  # noqa: BLE001 - onnx raises ValidationError and InferenceError
            raise ExportError(f"{path}: onnx.checker rejects it ({str(exc).splitlines()[0]})") from None
    rng = np.random.default_rng(seed)
    ctl = Controller(folder)  # loads everything a user loads: sidecar, models, MJCF, joint checks
    runtime = ctl.policy
    err: dict[str, float] = {}
    for n in (1, 64):
        obs, z = ox.sample_inputs(policy.obs_norm, n, rng), ox.unit_latents(n, policy.latent_dim, rng)
        for k, v in ox.llc_parity(policy, runtime, offset, scale, obs, z).items():
            err[k] = max(err.get(k, 0.0), v)
        if runtime.has_encoder:
            windows = ox.sample_inputs(policy.amp_norm, n, rng)
            for k, v in ox.encoder_parity(policy, runtime, windows).items():
                err[f"encoder_{k}"] = max(err.get(f"encoder_{k}", 0.0), v)
        if hlc is not None:
            x = ox.sample_inputs(hlc.obs_norm, n, rng)
            split = ctl.hlc.policy_obs_dim
            for k, v in ox.hlc_parity(hlc, ctl.hlc, x[:, :split], x[:, split:]).items():
                err[k] = max(err.get(k, 0.0), v)
    bad = {k: v for k, v in err.items() if v > PARITY_TOL}
    if bad:
        raise ExportError(f"{folder}: onnxruntime differs from torch by {bad} (> {PARITY_TOL:g})")
    if runtime.sidecar["models"]["llc"]["fp16_file"]:
        half = OnnxLLC(folder, precision="fp16")
        obs, z = ox.sample_inputs(policy.obs_norm, 64, rng), ox.unit_latents(64, policy.latent_dim, rng)
        err["fp16_action"] = float(np.abs(half.act(obs, z) - runtime.act(obs, z)).max())
        if half.has_encoder:
            windows = ox.sample_inputs(policy.amp_norm, 64, rng)
            err["fp16_encoder_latent"] = float(np.abs(half.encode(windows) - runtime.encode(windows)).max())
        if hlc is not None:
            x = ox.sample_inputs(hlc.obs_norm, 64, rng)
            err["fp16_hlc_latent"] = float(np.abs(OnnxHLC(folder, precision="fp16").act(x) - ctl.hlc.act(x)).max())
        if max(v for k, v in err.items() if k.startswith("fp16")) > FP16_TOL:
            raise ExportError(f"{folder}: the fp16 copy differs from float32 by more than {FP16_TOL:g}: {err}")
    return err


def export(llc: str | Path, out: str | Path, *, with_encoder: bool = False, fp16: bool = False,
           opset: int | None = None, seed: int = 0, hlc: str | Path | None = None,
           allow_other_llc: bool = False) -> dict:  # fmt: skip
    """Write and verify an export folder; returns {"folder", "files" {name: bytes}, "errors" {what: max abs}}."""
    from controllers.onnx_export import OPSET

    llc, out = Path(llc), Path(out)
    hlc = None if hlc is None else Path(hlc)
    _check_out(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        policy, _, offset, scale, hlc_policy = write_folder(
            llc, tmp, with_encoder=with_encoder, fp16=fp16, opset=opset or OPSET, hlc_path=hlc,
            allow_other_llc=allow_other_llc,
        )  # fmt: skip
        errors = verify_folder(tmp, policy, offset, scale, seed, hlc_policy)
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    files = {p.name: p.stat().st_size for p in sorted(out.iterdir())}
    return {"folder": out, "files": files, "errors": errors, "opset": opset or OPSET}


def write_web(out: Path, web: Path) -> dict[str, tuple[int, int]]:
    """The web page in `web`: a copy of the export folder `out` (unless the same) plus the page's files."""
    from controllers.web_page import build_page

    if web.resolve() != out.resolve():
        _check_out(web)
        if web.exists():
            shutil.rmtree(web)
        shutil.copytree(out, web)
    return build_page(web)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.allow_other_llc and not args.hlc:
        print("export: --allow-other-llc goes with --hlc", file=sys.stderr)
        return 2
    if not args.llc and not args.hlc:
        print("export: give --llc (and --hlc for a task controller), or --hlc alone to export it with its own LLC",
              file=sys.stderr)  # fmt: skip
        return 2
    if not args.out and not args.web:
        print("export: give --out DIR (or --web DIR for a web page)", file=sys.stderr)
        return 2
    args.out = args.out or args.web
    from controllers.checkpoint import CheckpointError, trusting_checkpoints
    from controllers.runtime.sidecar import ControllerFormatError
    from controllers.web_page import WebPageError

    try:
        if args.web:
            from controllers.web_page import fetch_all

            _check_out(Path(args.web))
            fetch_all()  # before the export: offline, fail at once
        with trusting_checkpoints(args.trust_checkpoint):
            if not args.llc:
                args.llc = own_llc(Path(args.hlc))
                print(f"export: {args.hlc} with its own LLC, {args.llc}")
            report = export(args.llc, args.out, with_encoder=args.with_encoder, fp16=args.fp16, opset=args.opset,
                            seed=args.seed, hlc=args.hlc, allow_other_llc=args.allow_other_llc)  # fmt: skip
        if args.web:
            sizes = write_web(Path(args.out), Path(args.web))
    except (CheckpointError, ControllerFormatError, ExportError, WebPageError, OSError) as exc:
        print(f"export: {exc}", file=sys.stderr)
        return 1
    print(f"export: wrote {report['folder']} (opset {report['opset']}, dynamic batch, verified)")
    for name, size in report["files"].items():
        print(f"  {name:<22} {size / 1e6:8.2f} MB")
    err = report["errors"]
    print("  max |onnxruntime - torch|: " + ", ".join(f"{k} {v:.1e}" for k, v in err.items() if "fp16" not in k))
    if any("fp16" in k for k in err):
        print("  max |fp16 - fp32|: " + ", ".join(f"{k[5:]} {v:.1e}" for k, v in err.items() if "fp16" in k))
    if args.web:
        total, gz = sum(s for s, _ in sizes.values()), sum(g for _, g in sizes.values())
        print(f"export: web page in {args.web}: {total / 1e6:.1f} MB to download ({gz / 1e6:.1f} MB gzipped); "
              f"serve it with `python -m http.server -d {args.web}` and open http://localhost:8000")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
