"""Turning uploaded bytes of any container/codec into 16 kHz mono float audio."""

from __future__ import annotations

import io

import av
import numpy as np
from faster_whisper.audio import decode_audio

from neuraldrive_audio.workers.engines.base import FloatAudio

WHISPER_SAMPLE_RATE = 16_000


class UndecodableAudioError(ValueError):
    """The upload is not audio PyAV can decode, or holds no samples."""


def decode_upload(data: bytes) -> FloatAudio:
    """Decode an upload; PyAV sniffs the real format, so file names and MIME types don't matter."""
    if not data:
        raise UndecodableAudioError("the uploaded file is empty")
    try:
        audio = decode_audio(io.BytesIO(data), sampling_rate=WHISPER_SAMPLE_RATE)
    except (av.error.FFmpegError, IndexError, ValueError, StopIteration) as exc:
        # IndexError/StopIteration: a container without an audio stream.
        raise UndecodableAudioError(f"could not decode the audio file: {exc}") from exc
    if audio.size == 0:
        raise UndecodableAudioError("the audio file contains no samples")
    return np.asarray(audio, dtype=np.float32)


def duration_s(audio: FloatAudio) -> float:
    """Length of 16 kHz audio in seconds."""
    return len(audio) / WHISPER_SAMPLE_RATE
