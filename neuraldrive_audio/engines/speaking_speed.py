"""Speaking speed for the text-to-speech engines: the range every engine takes, and the
part of a speed its model cannot reach made up by time-stretching."""

from __future__ import annotations

from typing import Final

from neuraldrive_audio.engines.base import EngineInputError
from neuraldrive_audio.media.samples import FloatAudio

MIN_SPEED: Final = 0.25
MAX_SPEED: Final = 4.0
"""OpenAI's range for ``speed``, whatever the model itself can do."""


def check_speed(speed: float) -> None:
    """EngineInputError (param ``speed``) outside MIN_SPEED-MAX_SPEED."""
    if not MIN_SPEED <= speed <= MAX_SPEED:
        raise EngineInputError(f"speed must be {MIN_SPEED}-{MAX_SPEED}, got {speed}", "speed")


def stretch_to_speed(
    audio: FloatAudio, sample_rate: int, speed: float, model_speed: float
) -> FloatAudio:
    """``audio``, spoken by the model at ``model_speed``, played at ``speed`` (same pitch)."""
    if model_speed == speed:
        return audio
    # PyAV is imported with the runtime, not by the API asking about engines.
    from neuraldrive_audio.media.resample import time_stretch

    return time_stretch(audio, sample_rate, speed / model_speed)
