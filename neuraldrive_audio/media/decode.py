"""Turning uploaded bytes of any container/codec into 16 kHz mono float audio."""

from __future__ import annotations

import io
from pathlib import Path

import av
import numpy as np
from faster_whisper.audio import decode_audio

from neuraldrive_audio.media.samples import WHISPER_SAMPLE_RATE, FloatAudio


class UndecodableAudioError(ValueError):
    """The upload is not audio PyAV can decode, or holds no samples."""


def decode_upload(source: bytes | Path) -> FloatAudio:
    """Decode an upload held in memory or stored on disk.

    PyAV sniffs the real format, so file names and MIME types don't matter.
    """
    if isinstance(source, bytes) and not source:
        raise UndecodableAudioError("the uploaded file is empty")
    stream = io.BytesIO(source) if isinstance(source, bytes) else str(source)
    try:
        audio = decode_audio(stream, sampling_rate=WHISPER_SAMPLE_RATE)
    except (av.error.FFmpegError, IndexError, ValueError, StopIteration) as exc:
        # IndexError/StopIteration: a container without an audio stream.
        raise UndecodableAudioError(f"could not decode the audio file: {exc}") from exc
    if audio.size == 0:
        raise UndecodableAudioError("the audio file contains no samples")
    return np.asarray(audio, dtype=np.float32)
