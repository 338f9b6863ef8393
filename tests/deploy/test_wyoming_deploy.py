"""The Wyoming unit (same bar as the other units) and the installer's ``--wyoming`` flag."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.deploy.test_systemd_units import MAX_EXPOSURE, UNITS, VENV, directives

UNIT = "neuraldrive-audio-wyoming.service"
REPO = Path(__file__).resolve().parents[2]
WANTS = "etc/systemd/system/neuraldrive-audio.target.wants"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_unit_verifies_and_is_hardened(tmp_path: Path) -> None:
    stub = tmp_path / "venv" / "bin" / "neuraldrive-audio"
    stub.parent.mkdir(parents=True)
    stub.write_text("#!/bin/sh\nexit 0\n")
    stub.chmod(0o755)
    for unit in UNITS.glob("neuraldrive-audio*"):
        if unit.suffix in (".service", ".target"):
            text = unit.read_text().replace(VENV, str(tmp_path / "venv"))
            (tmp_path / unit.name).write_text(text)
    verify = subprocess.run(["systemd-analyze", "verify", str(tmp_path / UNIT)],
                            capture_output=True, text=True, cwd=tmp_path, check=False)  # fmt: skip
    assert (verify.returncode, verify.stderr) == (0, ""), verify.stderr
    security = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", str(UNITS / UNIT)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", security.stdout)
    assert match, security.stdout + security.stderr
    print(f"{UNIT}: exposure {match.group(1)}")
    assert float(match.group(1)) <= MAX_EXPOSURE


def test_unit_follows_the_conventions_and_is_loopback_only() -> None:
    found = directives(UNIT)
    assert found["User"] == found["Group"] == ["neuraldrive-audio"]
    assert found["PartOf"] == ["neuraldrive-audio.target"]
    assert found["Restart"] == ["always"] and found["RestartSec"] == ["5"]
    assert found["ProtectSystem"] == ["strict"] and found["CapabilityBoundingSet"] == [""]
    assert found["EnvironmentFile"] == [
        "/etc/neuraldrive/audio.conf",
        "-/var/lib/neuraldrive/config/audio.conf",
    ]
    assert found["IPAddressDeny"] == ["any"] and found["IPAddressAllow"] == ["localhost"]
    assert "ReadWritePaths" not in found
    assert found["ExecStart"] == [f"{VENV}/bin/neuraldrive-audio wyoming"]


@pytest.mark.skipif(shutil.which("systemctl") is None, reason="no systemctl")
@pytest.mark.parametrize("flag", [False, True])
def test_installer_enables_wyoming_only_when_asked(tmp_path: Path, flag: bool) -> None:
    args = ["bash", str(REPO / "deploy" / "install.sh"), "--no-venv"] + (["--wyoming"] * flag)
    result = subprocess.run(args, env={**os.environ, "DESTDIR": str(tmp_path)},
                            capture_output=True, text=True, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "etc/systemd/system" / UNIT).is_file()
    wants = {p.name for p in (tmp_path / WANTS).iterdir()}
    assert (UNIT in wants) is flag
    assert ("nftables" in result.stdout) is flag
