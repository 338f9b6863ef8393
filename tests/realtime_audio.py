"""Audio for realtime tests: Piper clips as 24 kHz / 8 kHz PCM, and a real-time sender."""

from __future__ import annotations

import asyncio
import base64
import io
import wave
from collections.abc import Awaitable, Callable
from functools import cache

import av
import numpy as np
import numpy.typing as npt

from tests.speech_clips import make_clip

CHUNK_MS = 100


def wav_samples(wav: bytes) -> tuple[npt.NDArray[np.int16], int]:
    """Samples and rate of a mono 16-bit WAV."""
    with wave.open(io.BytesIO(wav)) as reader:
        rate = reader.getframerate()
        return np.frombuffer(reader.readframes(reader.getnframes()), "<i2").astype(np.int16), rate


def resample(samples: npt.NDArray[np.int16], rate: int, to_rate: int) -> npt.NDArray[np.int16]:
    """Band-limited resampling with FFmpeg's resampler (PyAV), as a telephone line would."""
    frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
    frame.sample_rate = rate
    resampler = av.AudioResampler(format="s16", layout="mono", rate=to_rate)
    out = [
        f.to_ndarray().reshape(-1) for f in [*resampler.resample(frame), *resampler.resample(None)]
    ]
    return np.concatenate(out).astype(np.int16)


@cache
def sentence_pcm(text: str, rate: int = 24000) -> npt.NDArray[np.int16]:
    """``text`` spoken by the Piper demo voice at ``rate``."""
    samples, source_rate = wav_samples(make_clip(text))
    return resample(samples, source_rate, rate)


def silence(ms: int, rate: int = 24000) -> npt.NDArray[np.int16]:
    """``ms`` of digital silence."""
    return np.zeros(rate * ms // 1000, dtype=np.int16)


def spoken_turns(
    sentences: list[str], rate: int = 24000, gap_ms: int = 1200
) -> npt.NDArray[np.int16]:
    """The sentences one after another, with a pause before, between and after them."""
    parts = [silence(500, rate)]
    for sentence in sentences:
        parts += [sentence_pcm(sentence, rate), silence(gap_ms, rate)]
    return np.concatenate(parts)


def chunks(data: bytes, bytes_per_chunk: int) -> list[str]:
    """``data`` cut into base64 chunks."""
    return [
        base64.b64encode(data[i : i + bytes_per_chunk]).decode()
        for i in range(0, len(data), bytes_per_chunk)
    ]


async def stream_in_real_time(
    send: Callable[[str], Awaitable[None]], data: bytes, bytes_per_second: int
) -> None:
    """Send ``data`` in 100 ms chunks at the pace a microphone would."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    per_chunk = bytes_per_second * CHUNK_MS // 1000
    for index, chunk in enumerate(chunks(data, per_chunk)):
        await send(chunk)
        delay = started + (index + 1) * CHUNK_MS / 1000 - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)


async def stream_at_once(
    send: Callable[[str], Awaitable[None]], data: bytes, bytes_per_second: int
) -> None:
    """Send ``data`` in the same 100 ms chunks as fast as the socket takes them. The server's
    VAD works on the audio's own timeline (``audio_start_ms``/``audio_end_ms`` count samples,
    not wall time), so the turns it finds are the same as at a microphone's pace."""
    for chunk in chunks(data, bytes_per_second * CHUNK_MS // 1000):
        await send(chunk)
