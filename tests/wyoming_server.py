"""Starting the real ``neuraldrive-audio wyoming`` process next to a test service, and
talking to it the way Home Assistant does (the ``wyoming`` package's own client)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from wyoming.asr import Transcribe, Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.error import Error
from wyoming.event import Event

from tests.harness import free_port

HA_RATE, HA_WIDTH, HA_CHANNELS = 16_000, 2, 1
HA_CHUNK_BYTES = 320
"""Home Assistant streams 10 ms of 16 kHz 16-bit mono per audio-chunk."""


@dataclass
class WyomingProcess:
    """A running ``neuraldrive-audio wyoming``."""

    port: int
    process: subprocess.Popen[bytes]
    log: Path | None = None


@contextmanager
def wyoming_process(
    env: dict[str, str], log: Path | None = None, **overrides: str
) -> Iterator[WyomingProcess]:
    """The Wyoming server as its own process on a free port (its log to ``log`` if given)."""
    port = free_port()
    full_env = {
        **env,
        "NEURALDRIVE_AUDIO_WYOMING_PORT": str(port),
        **{f"NEURALDRIVE_AUDIO_WYOMING_{k.upper()}": v for k, v in overrides.items()},
    }
    command = [sys.executable, "-m", "neuraldrive_audio.cli", "wyoming"]
    output = log.open("wb") if log is not None else None
    process = subprocess.Popen(command, env=full_env, stderr=output)
    try:
        deadline = time.monotonic() + 180
        while True:
            if process.poll() is not None:
                raise RuntimeError("the Wyoming server exited")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the Wyoming server did not start") from None
                time.sleep(0.05)
        yield WyomingProcess(port, process, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        if output is not None:
            output.close()


def pcm_of_wav(wav: bytes) -> tuple[bytes, int]:
    """The frames and rate of a mono 16-bit WAV."""
    import io
    import wave

    with wave.open(io.BytesIO(wav)) as reader:
        return reader.readframes(reader.getnframes()), reader.getframerate()


def to_16k(wav: bytes) -> bytes:
    """A mono 16-bit WAV's samples at 16 kHz (what a Home Assistant satellite sends)."""
    import numpy as np

    from neuraldrive_audio.media.resample import Resampler
    from neuraldrive_audio.media.samples import to_s16le

    frames, rate = pcm_of_wav(wav)
    samples = np.frombuffer(frames, "<i2").astype(np.float32) / 32768.0
    resampler = Resampler(rate, HA_RATE)
    return to_s16le(np.concatenate([resampler.process(samples), resampler.flush()]))


async def transcribe_like_ha(
    port: int, pcm16k: bytes, language: str | None = "en", timeout_s: float = 120
) -> list[Event]:
    """One command as Home Assistant sends it; returns every event up to the transcript
    (or error) and, if streamed, the ``transcript-stop`` after it."""

    async with AsyncTcpClient("127.0.0.1", port) as client:
        await client.write_event(Transcribe(language=language).event())
        await client.write_event(AudioStart(HA_RATE, HA_WIDTH, HA_CHANNELS).event())
        for offset in range(0, len(pcm16k), HA_CHUNK_BYTES):
            chunk = pcm16k[offset : offset + HA_CHUNK_BYTES]
            await client.write_event(AudioChunk(HA_RATE, HA_WIDTH, HA_CHANNELS, chunk).event())
        await client.write_event(AudioStop().event())
        return await read_until(client, ("transcript-stop", "error"), timeout_s)


async def read_until(
    client: AsyncTcpClient, final: tuple[str, ...], timeout_s: float = 120
) -> list[Event]:
    """Events until one of the ``final`` types (included) or the end of the stream."""
    import asyncio

    events: list[Event] = []
    while True:
        event = await asyncio.wait_for(client.read_event(), timeout_s)
        if event is None:
            return events
        events.append(event)
        if event.type in final:
            return events


def transcript_text(events: list[Event]) -> str:
    """The text of the ``transcript`` event; fails with the error text otherwise."""
    for event in events:
        if Transcript.is_type(event.type):
            return Transcript.from_event(event).text
        if Error.is_type(event.type):
            raise AssertionError(f"error instead of a transcript: {event.data}")
    raise AssertionError(f"no transcript in {[e.type for e in events]}")
