"""scripts/install, which scripts/try and scripts/test run: it installs only what is missing,
with uv when uv runs and with python3 -m venv and pip when it does not (a fresh machine).

The package it installs here is a tiny stand-in project, so these tests cost seconds; the
real package goes through both paths in tests/test_readme.py (uv where it is installed).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
INSTALL = REPO / "scripts" / "install"


def project(root: Path) -> Path:
    """A checkout-shaped directory: scripts/install and a one-module package."""
    (root / "scripts").mkdir(parents=True)
    shutil.copy2(INSTALL, root / "scripts" / "install")
    (root / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=64"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "install-probe"\nversion = "0"\n'
        "[project.optional-dependencies]\nextra = []\n"
    )
    (root / "install_probe.py").write_text("ANSWER = 42\n")
    return root


def bin_dir(root: Path, **scripts: str) -> Path:
    """A directory of stand-in commands to put first on PATH."""
    directory = root / "bin"
    directory.mkdir()
    for name, body in scripts.items():
        (directory / name).write_text(f"#!/bin/sh\n{body}\n")
        (directory / name).chmod(0o755)
    return directory


def test_dry_run_names_the_packages_of_missing_commands(tmp_path: Path) -> None:
    root = project(tmp_path / "checkout")
    tools = bin_dir(tmp_path)
    (tools / "dirname").symlink_to(shutil.which("dirname") or "/usr/bin/dirname")
    result = subprocess.run(
        ["/bin/sh", "scripts/install", "--dry-run", "systemd-analyze", "redis-server", "dirname",
         "--", ".[extra]"],
        cwd=root, env={"PATH": str(tools)}, capture_output=True, text=True, check=True,
    )  # fmt: skip
    # No python3 and no uv on this PATH: python3-venv is missing too; dirname is there.
    assert result.stdout.split() == ["systemd", "redis-server", "python3-venv"]


@pytest.mark.install
def test_without_uv_it_uses_venv_and_pip(tmp_path: Path) -> None:
    root = project(tmp_path / "checkout")
    tools = bin_dir(tmp_path, uv="exit 127")  # a uv that does not run, like a broken shim
    env = {**os.environ, "PATH": f"{tools}:{os.environ['PATH']}"}
    subprocess.run(["sh", "scripts/install", "sh", "--", ".[extra]"], cwd=root, env=env,
                   check=True, capture_output=True, timeout=600)  # fmt: skip
    assert (root / ".venv" / "bin" / "pip").exists()  # made by python3 -m venv, not uv
    probe = [
        str(root / ".venv" / "bin" / "python"),
        "-c",
        "import install_probe as p; print(p.ANSWER)",
    ]
    assert subprocess.run(probe, cwd=tmp_path, capture_output=True, text=True).stdout == "42\n"


@pytest.mark.install
def test_with_uv_it_uses_uv_and_keeps_the_venv(tmp_path: Path) -> None:
    # The test extras install uv beside this Python, so the uv path runs on every machine,
    # not only where uv happens to be on PATH (here it was not, and the test crashed).
    uv = Path(sys.executable).with_name("uv")
    if not uv.exists():
        pytest.skip("uv is not installed beside this Python (pip install '.[test]')")
    root = project(tmp_path / "checkout")
    tools = bin_dir(tmp_path, uv=f'exec "{uv}" "$@"')
    env = {**os.environ, "PATH": f"{tools}:{os.environ['PATH']}"}
    for _ in range(2):  # the second run finds the venv and adds nothing
        subprocess.run(["sh", "scripts/install", "sh", "--", ".[extra]"], cwd=root, env=env,
                       check=True, capture_output=True, timeout=600)  # fmt: skip
    assert not (root / ".venv" / "bin" / "pip").exists()  # uv's venv has no pip
    probe = [
        str(root / ".venv" / "bin" / "python"),
        "-c",
        "import install_probe as p; print(p.ANSWER)",
    ]
    assert subprocess.run(probe, cwd=tmp_path, capture_output=True, text=True).stdout == "42\n"
