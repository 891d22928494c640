"""`motions download` against a loopback HTTP server laid out like the DeepMimic repository."""

from __future__ import annotations

import functools
import http.server
import shutil
import socket
import threading
from pathlib import Path

import pytest

from motion.cli import main
from motion.download import SHA256, DownloadError, download, remote_path, sha256_of


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def _repo(deepmimic_dir: Path, root: Path, corrupt: str | None = None) -> Path:
    """A folder shaped like the DeepMimic repo (data/motions/..., data/characters/humanoid3d.txt, ...)."""
    for name in SHA256:
        target = root / remote_path(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        if name == corrupt:
            target.write_bytes((deepmimic_dir / name).read_bytes() + b" ")
        else:
            target.symlink_to(deepmimic_dir / name)
    return root


@pytest.fixture
def serve():
    servers = []

    def start(root: Path) -> str:
        handler = functools.partial(_Quiet, directory=str(root))
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(srv)
        return f"http://127.0.0.1:{srv.server_address[1]}/"

    yield start
    for srv in servers:
        srv.shutdown()
        srv.server_close()


def test_download_fetches_and_verifies_everything(deepmimic_dir, tmp_path, serve) -> None:
    url = serve(_repo(deepmimic_dir, tmp_path / "repo"))
    dest = tmp_path / "data" / "deepmimic"
    assert main(["download", "--dest", str(dest), "--base-url", url]) == 0
    assert sorted(p.name for p in dest.iterdir()) == sorted(SHA256)
    assert all(sha256_of(dest / n) == h for n, h in SHA256.items())
    again = download(dest, url)
    assert again.fetched == [] and len(again.kept) == len(SHA256)
    (dest / "humanoid3d_walk.txt").write_text("damaged")
    assert download(dest, url).fetched == ["humanoid3d_walk.txt"]  # a damaged file is fetched again


def test_bad_checksum_leaves_no_files(deepmimic_dir, tmp_path, serve, capsys) -> None:
    url = serve(_repo(deepmimic_dir, tmp_path / "repo", corrupt="humanoid3d_walk.txt"))
    dest = tmp_path / "data" / "deepmimic"
    with pytest.raises(DownloadError, match="humanoid3d_walk.txt: checksum mismatch"):
        download(dest, url)
    assert not dest.exists()
    dest.mkdir(parents=True)
    (dest / "mine.txt").write_text("keep me")
    assert main(["download", "--dest", str(dest), "--base-url", url]) == 1
    assert [p.name for p in dest.iterdir()] == ["mine.txt"]  # an existing folder is left as it was
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "checksum mismatch" in err


def test_missing_file_and_unreachable_server_leave_no_files(deepmimic_dir, tmp_path, serve, capsys) -> None:
    repo = _repo(deepmimic_dir, tmp_path / "repo")
    (repo / remote_path("controller_humanoid3d.json")).unlink()
    dest = tmp_path / "data" / "deepmimic"
    with pytest.raises(DownloadError, match="HTTP 404"):
        download(dest, serve(repo))
    assert not dest.exists()
    with socket.socket() as s:  # a port with nothing listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert main(["download", "--dest", str(dest), "--base-url", f"http://127.0.0.1:{port}/"]) == 1
    assert not dest.exists()
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "cannot connect" in err and "Traceback" not in err


def test_downloaded_folder_loads(deepmimic_dir, tmp_path, serve) -> None:
    from motion.library import MotionLibrary
    from sim.character import load_character

    dest = tmp_path / "dm"
    download(dest, serve(_repo(deepmimic_dir, tmp_path / "repo")))
    lib = MotionLibrary.from_path(dest / "dataset_humanoid3d_clips_locomotion_getup.txt", load_character("humanoid"))
    assert lib.num_clips == 4
    shutil.rmtree(dest)
