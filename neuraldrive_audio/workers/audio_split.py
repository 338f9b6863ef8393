"""Where to cut long audio into chunks: in silences found by the VAD bundled with faster-whisper."""

from __future__ import annotations

import itertools

from faster_whisper.vad import VadOptions, get_speech_timestamps

from neuraldrive_audio.workers.audio_decode import WHISPER_SAMPLE_RATE
from neuraldrive_audio.workers.engines.base import FloatAudio

# Short pauses between sentences are enough to cut at; whisper needs no context across them.
_VAD = VadOptions(min_silence_duration_ms=300, speech_pad_ms=100)


def silence_midpoints(audio: FloatAudio) -> list[int]:
    """Sample index at the middle of each pause between two stretches of speech."""
    speech = get_speech_timestamps(audio, _VAD, sampling_rate=WHISPER_SAMPLE_RATE)
    return [(a["end"] + b["start"]) // 2 for a, b in itertools.pairwise(speech)]


def plan_cuts(
    total: int, candidates: list[int], target: int, longest: int
) -> list[tuple[int, int]]:
    """Chunks ``[start, end)`` covering ``0..total``, cut at candidates once ``target`` is reached.

    A stretch with no candidate for ``longest`` samples is cut hard there.
    """
    bounds = [0]
    for cut in [*candidates, total]:
        while cut - bounds[-1] > longest:
            bounds.append(bounds[-1] + longest)
        if cut - bounds[-1] >= target or cut == total:
            bounds.append(cut)
    if bounds[-1] != total:
        bounds.append(total)
    # A sliver at the end joins the chunk before it when that stays within ``longest``.
    if len(bounds) > 2 and total - bounds[-2] < target // 4 and total - bounds[-3] <= longest:
        del bounds[-2]
    spans = [(a, b) for a, b in itertools.pairwise(bounds) if b > a]
    return spans or [(0, total)]


def split_for_chunks(audio: FloatAudio, target_s: float, longest_s: float) -> list[tuple[int, int]]:
    """Plan the chunks of a long recording (sample spans at 16 kHz)."""
    rate = WHISPER_SAMPLE_RATE
    return plan_cuts(
        len(audio), silence_midpoints(audio), int(target_s * rate), int(longest_s * rate)
    )
