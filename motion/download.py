"""Fetch the DeepMimic humanoid3d data (MIT) from its public repository, pinned by commit and SHA-256.

All files go to a staging folder first and move into place only when every one has arrived and
matched its checksum: a failed download (no network, HTTP error, bad checksum) leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from motion.data import USER_DATA_DIR

COMMIT = "1f915c52fcd4b95b5f5f15b759ae91bd81e9a801"
DEFAULT_BASE_URL = f"https://raw.githubusercontent.com/xbpeng/DeepMimic/{COMMIT}/"
BASE_URL_ENV = "ASE_DEEPMIMIC_BASE_URL"
TIMEOUT_S = 30.0

# local file name -> SHA-256 of the file at COMMIT
SHA256 = {
    "humanoid3d_backflip.txt": "ffc5e117f69364e239eeedc86d6a30ab854500a375a1c137a405f1b7652905e6",
    "humanoid3d_cartwheel.txt": "17453459a40ec4ea08346072748ae3c7c384b49e619753e9779637fa8a9f7c49",
    "humanoid3d_crawl.txt": "104a3b675131a43e7a214e24c0ed631c6a0d814b85c8b66b71ce63b23a5731ae",
    "humanoid3d_dance_a.txt": "15ef3731f594edc9ed078170f1075815cc164acaca9e35a46db12a31ac64b717",
    "humanoid3d_dance_b.txt": "b5a9d7a3f2304f6242776d7ff6d19d1f6bcb98d78d68622761c3843b614a92b5",
    "humanoid3d_dance_spin.txt": "c79919274430cb7de08972f439bad1ccac21bdca19c2c319c705948f025bddf1",
    "humanoid3d_getup_facedown.txt": "1bd1a96e9175f65eb66e10f225473b4467bd70c68e283f4006b2ab090e337c0b",
    "humanoid3d_getup_faceup.txt": "5936c32d51dad9b0cd5e61df681079d160436cdce845c312f200d7a347c4040d",
    "humanoid3d_jog.txt": "8664855dc19871fe859b543cd27d113e6f85769cb3fe7819efb47a0341bc6fd9",
    "humanoid3d_jump.txt": "a433557e94b193d8a95530572a0e32f387eb6d9996987b4216efb65444c3c641",
    "humanoid3d_kick.txt": "177cfb399466309ba7f4a8a987c3b6f6edde1cbe8b2d476e53dc6061ec5d4bac",
    "humanoid3d_punch.txt": "1ab4b654cecdb4ff3b2a4bf4086e50397bef28435bb59ab3aedd6a6bdc926fde",
    "humanoid3d_roll.txt": "50d75c2243b2859f8dcae4ad8fa14b59054dd9ee529b4fb52ec14470cd982c55",
    "humanoid3d_run.txt": "2cbe488023b243e5769299158ce7c78875ec4b701a2ffe6c0beeaf83d16ca87b",
    "humanoid3d_sideflip.txt": "18ec3f7402e966fd4503a21c4f1b788daf8c96eab0cee8036b7a64ef6f40d9eb",
    "humanoid3d_spin.txt": "9614f10b92e7a8b123990ad5bcfafc65aa4d8fa8ac7f10ade3c3591122d34425",
    "humanoid3d_spinkick.txt": "e293f84c00e5a3cefaf8e9e9952ac39cfcdc8a9d445b5c1d24c67a271c97d43c",
    "humanoid3d_stealthy_walk.txt": "7db28ee85721eea0ae44c3e726fb48bb5532d38f5d9aff8e18d791227476f5bb",
    "humanoid3d_walk.txt": "32d082c3599bc40aac50b1afa196ff1e2cf3842bb40f0541ab088845f6328a41",
    "humanoid3d_zombie_walk.txt": "6935eaa0a83a0ca13fbf4aaba58efa391f582a83436875fe08212b2029bcfbac",
    "character_humanoid3d.json": "17469797e00704e82c53f70e3c08fd0e5adaf437b9c838b808f1173ca78c16a6",
    "controller_humanoid3d.json": "e7477605203c2059eda368a8773f424bc9589542252f2fbe488a7265dfc81a17",
    "dataset_humanoid3d_clips_locomotion.txt": "967e562407d6b0ce1ade5ad7a581bb4b77f4bc19b8fd90563b0bb11307b9df6e",
    "dataset_humanoid3d_clips_locomotion_getup.txt": "9c702a49f1ec7d4e8416afb664ec7609664149f30243bc4d60d74f0be65403f7",
    "dataset_humanoid3d_clips_stealthy.txt": "80474a6b6526525271c9748378cda1a85fa5687b983a658052dc6b74d67e284d",
    "dataset_humanoid3d_clips_walk_punch.txt": "acab6c9799758e08dbfb671418384a0100c320ad988b7b17b5bc3ce820a79221",
    "dataset_humanoid3d_clips_zombie.txt": "5d474a4f2d9c4dbd9ac8b1e49666fbd94aff11363eab42c072a1990c2422a0f3",
}

# local names that differ from the repository's layout (motions live in data/motions/ under their own name)
_REMOTE = {
    "character_humanoid3d.json": "data/characters/humanoid3d.txt",
    "controller_humanoid3d.json": "data/controllers/humanoid3d_ctrl.txt",
}


class DownloadError(RuntimeError):
    """A one-line reason the download failed."""


def remote_path(local: str) -> str:
    """Where a local file lives in the DeepMimic repository."""
    if local in _REMOTE:
        return _REMOTE[local]
    if local.startswith("dataset_"):
        return "data/datasets/" + local[len("dataset_") :]
    return "data/motions/" + local


def default_dest() -> Path:
    return USER_DATA_DIR / "motions" / "deepmimic"


def base_url() -> str:
    return os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 16), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class DownloadResult:
    dest: Path
    fetched: list[str]
    kept: list[str]  # already present with the right checksum


def _fetch(url: str, out: Path) -> None:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as r, open(out, "wb") as f:
            shutil.copyfileobj(r, f)
    except urllib.error.HTTPError as exc:
        raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise DownloadError(f"{url}: cannot connect ({exc.reason})") from None
    except (OSError, ValueError) as exc:  # timeouts, resets, malformed URLs
        raise DownloadError(f"{url}: {exc}") from None


def download(dest: Path | None = None, url: str | None = None, force: bool = False, progress=None) -> DownloadResult:
    """Fetch every file in SHA256 into `dest` (default USER_DATA_DIR/motions/deepmimic).

    Files already there with the right checksum are kept unless `force`. Raises DownloadError and
    leaves `dest` as it was on any failure.
    """
    dest = Path(dest) if dest else default_dest()
    url = (url or base_url()).rstrip("/") + "/"
    todo = [n for n in SHA256 if force or not ((dest / n).is_file() and sha256_of(dest / n) == SHA256[n])]
    kept = [n for n in SHA256 if n not in todo]
    created = not dest.exists()
    try:
        dest.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".download-", dir=dest))
    except OSError as exc:
        raise DownloadError(f"cannot write to {dest}: {exc.strerror or exc}") from None
    try:
        for i, name in enumerate(todo):
            if progress:
                progress(i, len(todo), name)
            part = staging / name
            _fetch(url + remote_path(name), part)
            got = sha256_of(part)
            if got != SHA256[name]:
                raise DownloadError(
                    f"{url + remote_path(name)}: checksum mismatch (got {got[:12]}..., expected {SHA256[name][:12]}...)"
                )
        for name in todo:  # all verified: move into place
            os.replace(staging / name, dest / name)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if created:
            shutil.rmtree(dest, ignore_errors=True)
        raise
    shutil.rmtree(staging, ignore_errors=True)
    return DownloadResult(dest, todo, kept)
