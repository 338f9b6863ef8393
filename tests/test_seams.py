"""Trimming the pause after a piece that was cut mid-phrase."""

from __future__ import annotations

import numpy as np

from neuraldrive_audio.media.seams import SEAM_KEEP_S, SILENCE_DB, trim_tail

RATE = 24_000


def _tone_then_silence(tone_s: float, silence_s: float) -> np.ndarray:
    t = np.arange(int(tone_s * RATE)) / RATE
    # A tone that fades out over its last 50 ms, like a word's end, then digital silence.
    fade = np.clip((tone_s - t) / 0.05, 0.0, 1.0)
    tone = (0.5 * np.sin(2 * np.pi * 220 * t) * fade).astype(np.float32)
    return np.concatenate([tone, np.zeros(int(silence_s * RATE), dtype=np.float32)])


def test_trailing_silence_is_cut_to_a_breath_without_a_click() -> None:
    audio = _tone_then_silence(0.5, 0.3)
    trimmed = trim_tail(audio, RATE)
    assert 0.5 - 0.05 < len(trimmed) / RATE <= 0.5 + SEAM_KEEP_S
    assert np.array_equal(trimmed, audio[: len(trimmed)])
    # What the next piece starts after is below the silence floor: no step to click on.
    assert abs(trimmed[-1]) <= 0.5 * 10 ** (SILENCE_DB / 20)


def test_audio_without_trailing_silence_is_left_alone() -> None:
    audio = _tone_then_silence(0.5, 0.0)[: int(0.47 * RATE)]  # ends mid-tone
    assert len(trim_tail(audio, RATE)) == len(audio)


def test_empty_and_silent_audio_are_left_alone() -> None:
    assert len(trim_tail(np.zeros(0, dtype=np.float32), RATE)) == 0
    assert len(trim_tail(np.zeros(RATE, dtype=np.float32), RATE)) == RATE
