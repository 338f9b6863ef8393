"""Planning the chunks of a long recording from the speech the VAD finds in it.

The plan mirrors what faster-whisper's batched pipeline does with a whole file: speech
regions (silero VAD, bundled with faster-whisper) merged into clips of at most 30 s, one
whisper window each. Consecutive clips are then grouped into chunks of about
``target_s`` that become separate queue entries. Each chunk is decoded on its own clips,
so chunking changes where the work runs, not what whisper hears.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from faster_whisper.vad import VadOptions, get_speech_timestamps

from neuraldrive_audio.workers.audio_decode import WHISPER_SAMPLE_RATE
from neuraldrive_audio.workers.engines.base import FloatAudio

WINDOW_S = 30.0
"""Whisper's window: the longest clip."""

_VAD = VadOptions(max_speech_duration_s=WINDOW_S, min_silence_duration_ms=160)


@dataclass
class PlannedChunk:
    """A span of the recording (samples) and the clips of speech inside it."""

    start: int
    end: int
    clips: list[tuple[int, int]] = field(default_factory=list)


def merge_into_clips(regions: list[tuple[int, int]], longest: int) -> list[tuple[int, int]]:
    """Join consecutive speech regions while a clip stays within ``longest`` samples."""
    clips: list[tuple[int, int]] = []
    for start, end in regions:
        if clips and end - clips[-1][0] <= longest:
            clips[-1] = (clips[-1][0], end)
        else:
            clips.append((start, end))
    return clips


def group_clips(clips: list[tuple[int, int]], target: int) -> list[PlannedChunk]:
    """Consecutive clips grouped until a chunk spans at least ``target`` samples."""
    chunks: list[PlannedChunk] = []
    current: list[tuple[int, int]] = []
    for clip in clips:
        current.append(clip)
        if current[-1][1] - current[0][0] >= target:
            chunks.append(PlannedChunk(current[0][0], current[-1][1], current))
            current = []
    if current:
        chunks.append(PlannedChunk(current[0][0], current[-1][1], current))
    return chunks


def plan_chunks(audio: FloatAudio, target_s: float) -> list[PlannedChunk]:
    """Chunks of speech for a recording at 16 kHz; [] when it holds no speech."""
    rate = WHISPER_SAMPLE_RATE
    speech = get_speech_timestamps(audio, _VAD, sampling_rate=rate)
    regions = [(int(s["start"]), int(s["end"])) for s in speech]
    return group_clips(merge_into_clips(regions, int(WINDOW_S * rate)), int(target_s * rate))
