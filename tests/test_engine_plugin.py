"""An engine defined in the test suite, registered through the registry alone, served by
/v1/audio/speech to the openai SDK: adding an engine is one module plus its registration."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import openai
import pytest

from neuraldrive_audio.media.decode import decode_upload
from neuraldrive_audio.media.samples import WHISPER_SAMPLE_RATE
from tests.harness import RedisServer, Service
from tests.tone_engine import GAP_FRACTION

pytestmark = pytest.mark.service

PLUGINS = json.dumps(["tests.tone_engine"])
MODEL = "tone/beeper"
WORD_S = 0.2
PITCHES = {"low": 440.0, "high": 1000.0}


def _cli(*args: str, models_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "NEURALDRIVE_AUDIO_MODELS_DIR": str(models_dir),
        "NEURALDRIVE_AUDIO_ENGINE_PLUGINS": PLUGINS,
    }
    return subprocess.run(
        [sys.executable, "-m", "neuraldrive_audio.cli", *args],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def tone_service(
    redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    source = tmp_path_factory.mktemp("beeper")
    config = {"voices": PITCHES, "sample_rate": 16_000, "word_s": WORD_S}
    (source / "tone.json").write_text(json.dumps(config))
    models_dir = tmp_path_factory.mktemp("tone-models")
    imported = _cli("models", "import", str(source), "--id", MODEL, models_dir=models_dir)
    assert imported.returncode == 0, imported.stderr
    assert f"imported {MODEL} (tone)" in imported.stdout  # recognised by its plug-in
    svc = Service.start(
        f"{redis_server.url}/3", tmp_path_factory.mktemp("tone-data"), models_dir,
        engine_plugins=PLUGINS,
    )  # fmt: skip
    yield svc
    svc.stop()


def _peak_hz(audio: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(audio))
    return float(np.argmax(spectrum) * WHISPER_SAMPLE_RATE / len(audio))


@pytest.mark.parametrize("voice", sorted(PITCHES))
def test_speech_from_an_engine_of_the_test_suite(tone_service: Service, voice: str) -> None:
    response = tone_service.client().audio.speech.create(
        model=MODEL, voice=voice, input="One two three. Four five.", response_format="wav"
    )
    audio = decode_upload(response.content, 3600)
    expected_s = 5 * WORD_S * (1 + GAP_FRACTION)
    assert abs(len(audio) / WHISPER_SAMPLE_RATE - expected_s) < 0.05
    assert abs(_peak_hz(audio) - PITCHES[voice]) < 10


def test_its_voices_and_capabilities_come_from_the_plugin(tone_service: Service) -> None:
    with tone_service.http() as http:
        voices = http.get("/v1/audio/voices", params={"model": MODEL}).json()["data"]
        assert sorted(v["id"] for v in voices) == ["high", "low"]
        status = http.get("/system/audio/status").json()
    assert "tone" in status["engines"]  # statistics under the engine's own name
    client = tone_service.client(max_retries=0)
    with pytest.raises(openai.BadRequestError, match="unknown voice"):
        client.audio.speech.create(model=MODEL, voice="high(1)+low(1)", input="No mixing.")


def test_without_the_setting_the_engine_is_unknown(tmp_path: Path) -> None:
    listed = subprocess.run(
        [sys.executable, "-m", "neuraldrive_audio.cli", "models", "import", "--help"],
        env={**os.environ, "NEURALDRIVE_AUDIO_MODELS_DIR": str(tmp_path)},
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert "whisper" in listed.stdout and "tone" not in listed.stdout
    assert "tone" in _cli("models", "import", "--help", models_dir=tmp_path).stdout
