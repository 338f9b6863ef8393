"""The systemd units: valid for systemd, hardened, and consistent with NeuralDrive's rules."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
UNITS = REPO / "systemd"
VENV = "/usr/lib/neuraldrive/audio/venv"
SERVICES = [
    "neuraldrive-audio-redis.service",
    "neuraldrive-audio-api.service",
    "neuraldrive-audio-worker@.service",
]
PYTHON_SERVICES = ["neuraldrive-audio-api.service", "neuraldrive-audio-worker@.service"]
MAX_EXPOSURE = 3.0

pytestmark = pytest.mark.deploy

needs_systemd_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None,
    reason="systemd-analyze is not installed (CI installs systemd)",
)


def directives(unit: str) -> dict[str, list[str]]:
    """Every ``Key=value`` of a unit file, values in order (keys may repeat)."""
    found: dict[str, list[str]] = {}
    for line in (UNITS / unit).read_text().splitlines():
        if line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key.strip(), []).append(value.strip())
    return found


@pytest.fixture(scope="module")
def verifiable_units(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Copies of the units whose venv is a stub: `verify` insists every ExecStart exists."""
    root = tmp_path_factory.mktemp("units")
    stub = root / "venv" / "bin" / "neuraldrive-audio"
    stub.parent.mkdir(parents=True)
    stub.write_text("#!/bin/sh\nexit 0\n")
    stub.chmod(0o755)
    for unit in UNITS.glob("neuraldrive-audio*"):
        if unit.suffix in (".service", ".target"):
            (root / unit.name).write_text(unit.read_text().replace(VENV, str(root / "venv")))
    return root


@needs_systemd_analyze
@pytest.mark.parametrize(
    "unit",
    [
        "neuraldrive-audio.target",
        "neuraldrive-audio-redis.service",
        "neuraldrive-audio-api.service",
        "neuraldrive-audio-worker@cpu.service",
        "neuraldrive-audio-worker@0.service",
    ],
)
def test_unit_verifies_cleanly(verifiable_units: Path, unit: str) -> None:
    # Passing a path adds its directory to the unit search path, so the target, Redis and the
    # worker template are found; any warning (unknown key, bad value) fails the test.
    result = subprocess.run(
        ["systemd-analyze", "verify", str(verifiable_units / unit)],
        capture_output=True,
        text=True,
        cwd=verifiable_units,
        check=False,
    )
    assert (result.returncode, result.stderr) == (0, ""), result.stderr


@needs_systemd_analyze
@pytest.mark.parametrize("unit", SERVICES)
def test_exposure_score_is_low(unit: str) -> None:
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", str(UNITS / unit)],
        capture_output=True,
        text=True,
        check=False,
    )
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert match, result.stdout + result.stderr
    score = float(match.group(1))
    print(f"{unit}: exposure {score}")
    assert score <= MAX_EXPOSURE, result.stdout


@pytest.mark.parametrize("unit", SERVICES)
def test_services_follow_neuraldrive_conventions(unit: str) -> None:
    found = directives(unit)
    assert found["User"] == found["Group"] == ["neuraldrive-audio"]
    assert found["PartOf"] == ["neuraldrive-audio.target"]
    assert found["Restart"] == ["always"]
    assert found["RestartSec"] == ["5"]
    assert found["ProtectSystem"] == ["strict"]
    assert found["CapabilityBoundingSet"] == [""]
    assert found["WantedBy"] == ["neuraldrive-audio.target"]
    # Only the state directories are writable.
    for path in " ".join(found["ReadWritePaths"]).split():
        assert path.startswith("/var/lib/neuraldrive/"), path


@pytest.mark.parametrize("unit", PYTHON_SERVICES)
def test_python_services_read_the_env_files_in_override_order(unit: str) -> None:
    found = directives(unit)
    assert found["EnvironmentFile"] == [
        "/etc/neuraldrive/audio.conf",
        "-/var/lib/neuraldrive/config/audio.conf",
    ]
    # ONNX Runtime, CTranslate2 and ctypes callbacks may need writable+executable memory.
    assert "MemoryDenyWriteExecute" not in found


def test_redis_is_private_and_persistent() -> None:
    found = directives("neuraldrive-audio-redis.service")
    assert found["RuntimeDirectory"] == ["neuraldrive-audio"]
    assert found["MemoryDenyWriteExecute"] == ["yes"]
    conf = (UNITS / "audio-redis.conf").read_text().splitlines()
    assert "port 0" in conf
    assert "unixsocket /run/neuraldrive-audio/redis.sock" in conf
    assert "appendonly yes" in conf
    assert "dir /var/lib/neuraldrive/audio/redis" in conf
    assert found["ReadWritePaths"] == ["/var/lib/neuraldrive/audio/redis"]


def test_worker_reaches_the_gpu_neuraldrives_way() -> None:
    found = directives("neuraldrive-audio-worker@.service")
    assert found["ExecStart"] == [f"{VENV}/bin/neuraldrive-audio worker --device %i"]
    assert found["PrivateDevices"] == ["no"]
    assert found["SupplementaryGroups"] == ["video render"]
    # Any device allow-list turns on cgroup v2's device filter, which blocked CUDA; ProtectClock=
    # would add one implicitly (DeviceAllow=char-rtc).
    for key in ("DeviceAllow", "DevicePolicy", "ProtectClock"):
        assert key not in found, key


def test_api_listens_where_caddy_proxies_to() -> None:
    env = (UNITS / "audio.conf").read_text().splitlines()
    assert "NEURALDRIVE_AUDIO_HOST=127.0.0.1" in env
    assert "NEURALDRIVE_AUDIO_PORT=8001" in env
    assert "NEURALDRIVE_AUDIO_REDIS_URL=unix:///run/neuraldrive-audio/redis.sock" in env
    assert "127.0.0.1:8001" in (REPO / "caddy" / "neuraldrive-audio.caddy").read_text()
