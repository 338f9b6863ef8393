"""deploy/install.sh into a staging tree: the expected files, modes and links, every time."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
INSTALL = REPO / "deploy" / "install.sh"
VENV = "/usr/lib/neuraldrive/audio/venv"
UNITS = "/etc/systemd/system"
WANTS = f"{UNITS}/neuraldrive-audio.target.wants"

EXPECTED = {
    "/etc/neuraldrive/audio.conf": "-rw-r-----",
    "/etc/neuraldrive/audio-redis.conf": "-rw-r-----",
    "/etc/neuraldrive/caddy.d/neuraldrive-audio.caddy": "-rw-r--r--",
    "/usr/lib/sysusers.d/neuraldrive-audio.conf": "-rw-r--r--",
    "/usr/lib/tmpfiles.d/neuraldrive-audio.conf": "-rw-r--r--",
    f"{UNITS}/neuraldrive-audio.target": "-rw-r--r--",
    f"{UNITS}/neuraldrive-audio-redis.service": "-rw-r--r--",
    f"{UNITS}/neuraldrive-audio-api.service": "-rw-r--r--",
    f"{UNITS}/neuraldrive-audio-worker@.service": "-rw-r--r--",
    f"{UNITS}/neuraldrive-audio-wyoming.service": "-rw-r--r--",
    f"{UNITS}/multi-user.target.wants/neuraldrive-audio.target": (
        f"-> {UNITS}/neuraldrive-audio.target"
    ),
    f"{WANTS}/neuraldrive-audio-redis.service": f"-> {UNITS}/neuraldrive-audio-redis.service",
    f"{WANTS}/neuraldrive-audio-api.service": f"-> {UNITS}/neuraldrive-audio-api.service",
    f"{WANTS}/neuraldrive-audio-worker@cpu.service": (
        f"-> {UNITS}/neuraldrive-audio-worker@.service"
    ),
}

pytestmark = [
    pytest.mark.deploy,
    pytest.mark.skipif(
        shutil.which("systemctl") is None,
        reason="systemctl is not installed (the script enables units with systemctl --root)",
    ),
]


def install(destdir: Path, *args: str, **env: str) -> str:
    result = subprocess.run(
        ["bash", str(INSTALL), *args],
        env={**os.environ, "DESTDIR": str(destdir), **env},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def tree(root: Path) -> dict[str, str]:
    """Every path under root: its mode string, or ``-> target`` for a symlink."""
    listing = {}
    for path in sorted(root.rglob("*")):
        name = "/" + path.relative_to(root).as_posix()
        if path.is_symlink():
            listing[name] = f"-> {os.readlink(path)}"
        else:
            listing[name] = stat.filemode(path.lstat().st_mode)
    return listing


def test_install_twice_gives_the_same_tree_and_keeps_admin_config(tmp_path: Path) -> None:
    install(tmp_path, SKIP_VENV="1")
    first = tree(tmp_path)
    assert {k: v for k, v in first.items() if not v.startswith("d")} == EXPECTED
    for source, target in [
        ("systemd/neuraldrive-audio-api.service", f"{UNITS}/neuraldrive-audio-api.service"),
        ("systemd/audio.conf", "/etc/neuraldrive/audio.conf"),
        ("caddy/neuraldrive-audio.caddy", "/etc/neuraldrive/caddy.d/neuraldrive-audio.caddy"),
    ]:
        assert (tmp_path / target.lstrip("/")).read_bytes() == (REPO / source).read_bytes()

    edited = tmp_path / "etc/neuraldrive/audio.conf"
    edited.write_text("NEURALDRIVE_AUDIO_PORT=8002\n")
    out = install(tmp_path, "--no-venv")
    assert tree(tmp_path) == first
    assert edited.read_text() == "NEURALDRIVE_AUDIO_PORT=8002\n"
    assert f"keeping existing {edited}" in out


def test_worker_only_host_enables_just_its_workers(tmp_path: Path) -> None:
    install(tmp_path, SKIP_VENV="1", ENABLE_UNITS="neuraldrive-audio-worker@0.service")
    wants = sorted(p.name for p in (tmp_path / WANTS.lstrip("/")).iterdir())
    assert wants == ["neuraldrive-audio-worker@0.service"]


def test_staged_venv_scripts_point_at_the_target_path(tmp_path: Path) -> None:
    # A stand-in for the venv's python that does what pip does: write a console script whose
    # shebang is the interpreter's own (staging) path. It also records its arguments.
    bin_dir = tmp_path / VENV.lstrip("/") / "bin"
    bin_dir.mkdir(parents=True)
    python = bin_dir / "python"
    python.write_text(
        "#!/bin/sh\n"
        'printf "%s\\n" "$*" > "$(dirname "$0")/pip-args"\n'
        'printf "#!%s\\nexec something\\n" "$0" > "$(dirname "$0")/neuraldrive-audio"\n'
    )
    python.chmod(0o755)

    install(tmp_path, SRC_DIR=str(REPO))

    pip_args = (bin_dir / "pip-args").read_text().split()
    assert pip_args == ["-m", "pip", "install", "--quiet", "--upgrade", str(REPO)]
    assert (bin_dir / "neuraldrive-audio").read_text().splitlines()[0] == f"#!{VENV}/bin/python"
