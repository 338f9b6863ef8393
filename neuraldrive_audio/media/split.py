"""Planning the chunks of a long recording from the speech the VAD finds in it.

The plan mirrors what faster-whisper's batched pipeline does with a whole file: speech
regions (silero VAD, bundled with faster-whisper) merged into clips of at most 30 s, one
whisper window each. Consecutive clips are then grouped, whole batches at a time, into
chunks of about ``target_s`` that become separate queue entries. Each chunk is decoded on
its own clips, so chunking changes where the work runs, not what whisper hears.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from faster_whisper.vad import VadOptions, get_speech_timestamps

from neuraldrive_audio.media.samples import S16LE, WHISPER_SAMPLE_RATE, from_s16le

WINDOW_S = 30.0
"""Whisper's window: the longest clip."""

_VAD = VadOptions(max_speech_duration_s=WINDOW_S, min_silence_duration_ms=160)

VAD_WINDOW_S = 120.0
"""The VAD reads a long recording this much at a time, so planning memory does not grow
with the file (silero's memory grows with what it reads at once: 10 min cost 350 MB,
2 min ~50 MB). A region cut at a window edge is joined again by merge_into_clips."""


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


def group_clips(clips: list[tuple[int, int]], per_chunk: int) -> list[PlannedChunk]:
    """Consecutive clips, ``per_chunk`` at a time."""
    groups = [clips[i : i + per_chunk] for i in range(0, len(clips), per_chunk)]
    return [PlannedChunk(group[0][0], group[-1][1], group) for group in groups]


def clips_per_chunk(target_s: float, batch_size: int) -> int:
    """Whole batches per chunk (a chunk of 3 clips wastes a quarter of a batch of 4),
    as close to ``target_s`` of audio as that allows."""
    batch = max(batch_size, 1)
    return batch * max(1, round(target_s / (WINDOW_S * batch)))


def speech_regions(samples_path: Path) -> list[tuple[int, int]]:
    """Speech spans (absolute samples) of a file of 16 kHz int16 samples.

    Read one VAD window at a time with plain reads (a memmap would leave the whole file
    resident in the worker), so memory stays at one window.
    """
    rate = WHISPER_SAMPLE_RATE
    step = int(VAD_WINDOW_S * rate)
    regions: list[tuple[int, int]] = []
    with samples_path.open("rb") as source:
        offset = 0
        while (window := np.fromfile(source, dtype=S16LE, count=step)).size:
            audio = from_s16le(window)
            speech = get_speech_timestamps(audio, _VAD, sampling_rate=rate)
            regions += [(offset + int(s["start"]), offset + int(s["end"])) for s in speech]
            offset += window.size
    return regions


def plan_chunks(samples_path: Path, target_s: float, batch_size: int) -> list[PlannedChunk]:
    """Chunks of speech for a file of 16 kHz int16 samples; [] when it holds no speech."""
    clips = merge_into_clips(speech_regions(samples_path), int(WINDOW_S * WHISPER_SAMPLE_RATE))
    return group_clips(clips, clips_per_chunk(target_s, batch_size))
