"""Turning uploaded bytes of any container/codec into 16 kHz mono audio.

Decoding streams: samples come out in blocks and the duration limit is enforced while
decoding, so a small file that expands to hours of audio (a decompression bomb) is
refused after reading at most the limit, never held in memory whole.

A WAV already in whisper's format (16-bit PCM, mono, 16 kHz: what the Wyoming front door
and 16 kHz clients send) is read as it is, without PyAV: decoding it gave the same samples
but cost ~10 ms plus a full garbage collection (below), ~100 ms in a loaded worker.
"""

from __future__ import annotations

import gc
import io
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import av
import numpy as np
import numpy.typing as npt

from neuraldrive_audio.media.samples import WHISPER_SAMPLE_RATE, FloatAudio

_GROUP_SAMPLES = 200_000
"""Source samples resampled at once (faster-whisper groups 500k; smaller keeps memory flat)."""


class UndecodableAudioError(ValueError):
    """The upload is not audio PyAV can decode, or holds no samples."""


class AudioTooLongError(ValueError):
    """The decoded audio is longer than the limit for this kind of request."""

    def __init__(self, limit_s: float) -> None:
        super().__init__(
            f"the audio is longer than the limit of {limit_s / 60:g} minutes for this request"
        )
        self.limit_s = limit_s


def _frames(container: av.container.InputContainer) -> Iterator[av.AudioFrame]:
    """Decoded frames, skipping damaged ones as faster-whisper does."""
    frames = container.decode(audio=0)
    while True:
        try:
            yield next(frames)
        except StopIteration:
            return
        except av.error.InvalidDataError:
            continue


def _mono_s16(frame: av.AudioFrame) -> npt.NDArray[np.int16]:
    return np.asarray(frame.to_ndarray(), dtype=np.int16).reshape(-1)


def _resampled(container: av.container.InputContainer) -> Iterator[npt.NDArray[np.int16]]:
    """The container's first audio stream as 16 kHz mono int16 arrays."""
    resampler = av.AudioResampler(format="s16", layout="mono", rate=WHISPER_SAMPLE_RATE)
    fifo = av.AudioFifo()
    try:
        for frame in _frames(container):
            frame.pts = None  # the fifo checks timestamps; broken files have gaps
            fifo.write(frame)
            while fifo.samples >= _GROUP_SAMPLES:
                for out in resampler.resample(fifo.read(_GROUP_SAMPLES)):
                    yield _mono_s16(out)
        rest = [fifo.read()] if fifo.samples else []
        for group in [*rest, None]:  # None flushes the resampler
            for out in resampler.resample(group):
                yield _mono_s16(out)
    finally:
        # PyAV's resampler graphs are only freed by a collection (faster-whisper#390).
        del resampler, fifo
        gc.collect()


def _plain_wav(source: bytes) -> npt.NDArray[np.int16] | None:
    """The samples of a WAV that needs no decoding (16-bit PCM, mono, 16 kHz); None for
    anything else, which PyAV then decodes (and names the problem of, if any)."""
    if source[:4] != b"RIFF" or source[8:12] != b"WAVE":
        return None
    try:
        with wave.open(io.BytesIO(source)) as wav:
            shape = (wav.getcomptype(), wav.getnchannels(), wav.getsampwidth(), wav.getframerate())
            if shape != ("NONE", 1, 2, WHISPER_SAMPLE_RATE):
                return None
            frames = wav.readframes(wav.getnframes())
    except (wave.Error, EOFError):
        return None
    if not frames:  # a streamed WAV may declare no length: PyAV reads to the end
        return None
    return np.frombuffer(frames, dtype=np.int16)  # wave gives native byte order


def decode_blocks(source: bytes | Path, max_duration_s: float) -> Iterator[npt.NDArray[np.int16]]:
    """Yield the upload as 16 kHz mono int16 blocks.

    Raises AudioTooLongError as soon as more than ``max_duration_s`` came out, and
    UndecodableAudioError for anything that is not audio or holds no samples.
    PyAV sniffs the real format, so file names and MIME types don't matter.
    """
    if isinstance(source, bytes) and not source:
        raise UndecodableAudioError("the uploaded file is empty")
    limit = int(max_duration_s * WHISPER_SAMPLE_RATE)
    plain = _plain_wav(source) if isinstance(source, bytes) else None
    if plain is not None:
        if plain.size > limit:
            raise AudioTooLongError(max_duration_s)
        yield plain
        return
    stream: BinaryIO | str = io.BytesIO(source) if isinstance(source, bytes) else str(source)
    total = 0
    try:
        with av.open(stream, mode="r", metadata_errors="ignore") as container:
            for block in _resampled(container):
                total += block.size
                if total > limit:
                    raise AudioTooLongError(max_duration_s)
                yield block
    except (av.error.FFmpegError, IndexError, ValueError, StopIteration) as exc:
        if isinstance(exc, AudioTooLongError | UndecodableAudioError):
            raise
        # IndexError/StopIteration: a container without an audio stream.
        # FFmpeg's message names the file it read (a server path for jobs): keep its reason.
        reason = exc.strerror if isinstance(exc, av.error.FFmpegError) else type(exc).__name__
        raise UndecodableAudioError(f"could not decode the audio file: {reason}") from exc
    if total == 0:
        raise UndecodableAudioError("the audio file contains no samples")


def decode_upload(source: bytes | Path, max_duration_s: float) -> FloatAudio:
    """Decode a whole upload (at most ``max_duration_s``) into float32 samples."""
    blocks = list(decode_blocks(source, max_duration_s))
    return np.concatenate(blocks).astype(np.float32) / 32768.0


def decode_to_file(source: Path, out: BinaryIO, max_duration_s: float) -> int:
    """Decode an upload into ``out`` as int16 samples block by block; returns the count.

    Memory stays at one block whatever the file's length.
    """
    total = 0
    for block in decode_blocks(source, max_duration_s):
        out.write(block.astype("<i2", copy=False).tobytes())
        total += block.size
    return total
