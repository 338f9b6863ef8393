"""A WAV already in whisper's format is read as it is; everything else still goes through
PyAV (pure, fast)."""

from __future__ import annotations

from typing import Any

import av
import numpy as np
import pytest

from neuraldrive_audio.media import decode
from neuraldrive_audio.media.decode import AudioTooLongError, UndecodableAudioError, decode_upload
from neuraldrive_audio.media.pcm import wav_bytes

SAMPLES = (np.random.default_rng(7).standard_normal(16_000) * 8000).astype(np.int16)


@pytest.fixture
def av_calls(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every ``av.open`` the decoder makes (it still decodes)."""
    calls: list[Any] = []
    real_open = av.open

    def counting_open(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return real_open(*args, **kwargs)

    monkeypatch.setattr(av, "open", counting_open)
    return calls


def test_a_16k_mono_wav_is_read_without_pyav(av_calls: list[Any]) -> None:
    audio = decode_upload(wav_bytes(SAMPLES, 16_000), max_duration_s=60)
    assert av_calls == []
    assert np.array_equal(audio, SAMPLES.astype(np.float32) / 32768.0)


def test_it_gives_what_pyav_gives(monkeypatch: pytest.MonkeyPatch) -> None:
    wav = wav_bytes(SAMPLES, 16_000)
    direct = decode_upload(wav, max_duration_s=60)
    monkeypatch.setattr(decode, "_plain_wav", lambda source: None)
    assert np.array_equal(direct, decode_upload(wav, max_duration_s=60))


@pytest.mark.parametrize("rate", [8_000, 24_000])
def test_other_rates_are_decoded_and_resampled(av_calls: list[Any], rate: int) -> None:
    audio = decode_upload(wav_bytes(SAMPLES, rate), max_duration_s=60)
    assert len(av_calls) == 1
    assert abs(len(audio) - len(SAMPLES) * 16_000 // rate) < 64


def test_the_duration_limit_holds() -> None:
    with pytest.raises(AudioTooLongError):
        decode_upload(wav_bytes(SAMPLES, 16_000), max_duration_s=0.5)


def test_an_empty_wav_is_still_refused_by_name(av_calls: list[Any]) -> None:
    with pytest.raises(UndecodableAudioError, match="no samples"):
        decode_upload(wav_bytes(SAMPLES[:0], 16_000), max_duration_s=60)
    assert len(av_calls) == 1


def test_a_truncated_wav_gives_what_it_holds() -> None:
    wav = wav_bytes(SAMPLES, 16_000)[:-1000]  # the header still claims every sample
    audio = decode_upload(wav, max_duration_s=60)
    assert np.array_equal(audio, SAMPLES[: len(SAMPLES) - 500].astype(np.float32) / 32768.0)
