"""`launch.py export --web DIR`: a static web page that runs an exported controller in the browser.

    python launch.py export --hlc checkpoints/hlc_steering.pt --web site/   # export + page in site/
    python -m http.server -d site 8000                                         # then open localhost:8000

The page (the files of web/ in this repository) is copied beside the export's own files (controller.json,
humanoid.xml, llc.onnx, hlc.onnx), with what it runs on vendored under vendor/: MuJoCo's WebAssembly build
(@mujoco/mujoco), onnxruntime-web and three.js, taken from their npm tarballs at pinned versions whose
SHA-256 is checked. The tarballs are downloaded once into a cache (ASE_WEB_CACHE, default
~/.cache/ase-runtime/web) and never committed; offline, the error names the file to put there. MuJoCo's
wasm loses its debug sections on the way (about 5.8 of 10.3 MB). docs/web.md has the rest.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

WEB_SRC = Path(__file__).resolve().parent.parent / "web"
PAGE_FILES = ("index.html", "style.css", "main.js", "controller.js", "render.js", "selftest.js")
REGISTRY = "https://registry.npmjs.org"


@dataclass(frozen=True)
class Vendored:
    """One npm package at a pinned version: tarball SHA-256 and which of its files go where under vendor/."""

    name: str
    version: str
    sha256: str
    files: dict[str, str]  # path inside the tarball -> path under vendor/
    license: str

    @property
    def tarball(self) -> str:
        return f"{self.name.replace('@', '').replace('/', '-')}-{self.version}.tgz"

    @property
    def url(self) -> str:
        return f"{REGISTRY}/{self.name}/-/{self.name.split('/')[-1]}-{self.version}.tgz"


VENDOR = (
    Vendored("@mujoco/mujoco", "3.14.0", "f845a07ab81303cc6579fec07136818bed21d44a31c1911340f61e06f4d11eee",
             {"package/mujoco.js": "mujoco/mujoco.js", "package/mujoco.wasm": "mujoco/mujoco.wasm"}, "Apache-2.0"),
    Vendored("onnxruntime-web", "1.31.1", "bdccdb9fbb9ab537247c0c734e9b1d2b1b338b4f2a09faa58f0dc1cfa27c312c",
             {"package/dist/ort.wasm.min.mjs": "ort/ort.wasm.min.js",
              "package/dist/ort-wasm-simd-threaded.mjs": "ort/ort-wasm-simd-threaded.js",
              "package/dist/ort-wasm-simd-threaded.wasm": "ort/ort-wasm-simd-threaded.wasm"}, "MIT"),
    Vendored("three", "0.187.0", "ff540832ded0cfe919764d24a3d88f3e2a05f23303f876423e4f893841e90728",
             {"package/build/three.module.js": "three/three.module.js",
              "package/build/three.core.js": "three/three.core.js",
              "package/examples/jsm/controls/OrbitControls.js": "three/OrbitControls.js"}, "MIT"),
)  # fmt: skip


class WebPageError(RuntimeError):
    """The page cannot be built (a vendored package missing offline, a checksum mismatch); one line."""


def cache_dir() -> Path:
    return Path(os.environ.get("ASE_WEB_CACHE") or Path.home() / ".cache" / "ase-runtime" / "web")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fetch(pkg: Vendored, cache: Path | None = None, timeout: float = 60.0) -> bytes:
    """The package's tarball, from the cache or the npm registry (then cached); its SHA-256 is checked."""
    cache = cache or cache_dir()
    path = cache / pkg.tarball
    if path.is_file():
        data = path.read_bytes()
        if _sha256(data) == pkg.sha256:
            return data
        path.unlink()  # a partial or replaced file: fetch it again
    try:
        with urllib.request.urlopen(pkg.url, timeout=timeout) as resp:
            data = resp.read()
    except OSError as exc:
        raise WebPageError(
            f"cannot download {pkg.url} ({exc}); the page needs {pkg.name} {pkg.version}: put the tarball at {path} "
            f"(`npm pack {pkg.name}@{pkg.version}` writes it) or set ASE_WEB_CACHE to a folder holding it"
        ) from None
    if _sha256(data) != pkg.sha256:
        raise WebPageError(f"{pkg.url}: SHA-256 {_sha256(data)[:16]}... is not the pinned {pkg.sha256[:16]}...")
    cache.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    tmp.write_bytes(data)
    tmp.replace(path)
    return data


def fetch_all(cache: Path | None = None) -> dict[str, bytes]:
    return {pkg.name: fetch(pkg, cache) for pkg in VENDOR}


def strip_wasm(data: bytes) -> bytes:
    """A WebAssembly module without its custom sections (names, DWARF debug info, source map URL)."""
    if data[:4] != b"\0asm":
        raise WebPageError("not a WebAssembly module")
    out, i = bytearray(data[:8]), 8
    while i < len(data):
        sid, j = data[i], i + 1
        size = shift = 0
        while True:  # LEB128 section size
            byte = data[j]
            j += 1
            size |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                break
        if sid != 0:
            out += data[i : j + size]
        i = j + size
    return bytes(out)


def vendor(dest: Path, cache: Path | None = None) -> dict[str, dict]:
    """Extract the pinned packages' files into `dest` (vendor/); returns {package: {version, files}}."""
    tarballs = fetch_all(cache)
    info = {}
    for pkg in VENDOR:
        with tarfile.open(fileobj=io.BytesIO(tarballs[pkg.name]), mode="r:gz") as tar:
            for src, rel in pkg.files.items():
                try:
                    member = tar.extractfile(src)
                except KeyError:
                    member = None
                if member is None:
                    raise WebPageError(f"{pkg.name} {pkg.version}: no {src} in the tarball")
                data = member.read()
                if rel.endswith("mujoco.wasm"):
                    data = strip_wasm(data)
                out = dest / rel
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_bytes(data)
        info[pkg.name] = {"version": pkg.version, "license": pkg.license, "tarball_sha256": pkg.sha256,
                          "files": sorted(pkg.files.values())}  # fmt: skip
    return info


def build_page(folder: str | Path, cache: Path | None = None) -> dict[str, tuple[int, int]]:
    """Add the page to an export folder: web/'s files, vendor/ and page.json. Returns {relative path: (bytes,
    gzip bytes)} of everything the page downloads."""
    folder = Path(folder)
    if not (folder / "controller.json").is_file():
        raise WebPageError(f"{folder}: no controller.json (build the page into an export folder)")
    vendor_dir = folder / "vendor"
    if vendor_dir.exists():
        shutil.rmtree(vendor_dir)
    info = vendor(vendor_dir, cache)
    for name in PAGE_FILES:
        shutil.copyfile(WEB_SRC / name, folder / name)
    (vendor_dir / "README.md").write_text(
        "Third-party files of the page, extracted from their npm tarballs (SHA-256 checked) by "
        "`launch.py export --web`:\n\n"
        + "".join(f"- {n} {v['version']} ({v['license']}): {', '.join(v['files'])}\n" for n, v in info.items())
        + "\nMuJoCo's mujoco.wasm has its custom (debug) sections removed.\n"
    )
    (folder / "page.json").write_text(json.dumps({"vendor": info}, indent=1) + "\n")
    return page_sizes(folder)


def page_sizes(folder: Path) -> dict[str, tuple[int, int]]:
    """{relative path: (bytes, gzip -6 bytes)} of the files a visit downloads (fp32 models)."""
    sc = json.loads((folder / "controller.json").read_text())
    names = list(PAGE_FILES) + ["controller.json", sc["character"]["mjcf"]]
    names += [m["file"] for k, m in sc["models"].items() if m and k != "encoder"]
    names += sorted(
        str(p.relative_to(folder)) for p in (folder / "vendor").rglob("*") if p.suffix in (".js", ".mjs", ".wasm")
    )
    out = {}
    for name in names:
        data = (folder / name).read_bytes()
        out[name] = (len(data), len(gzip.compress(data, 6)))
    return out


def main(argv: list[str] | None = None) -> int:
    """`python -m controllers.web_page EXPORT_DIR`: add the page to an existing export folder."""
    import sys

    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or argv[0].startswith("-"):
        print(
            "usage: python -m controllers.web_page EXPORT_DIR   (adds the web page to an export folder)",
            file=sys.stderr,
        )
        return 2
    try:
        sizes = build_page(argv[0])
    except WebPageError as exc:
        print(f"web page: {exc}", file=sys.stderr)
        return 1
    total = sum(s for s, _ in sizes.values()), sum(g for _, g in sizes.values())
    print(f"web page: wrote {argv[0]} ({total[0] / 1e6:.1f} MB, {total[1] / 1e6:.1f} MB gzipped); serve it with "
          f"`python -m http.server -d {argv[0]}`")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
