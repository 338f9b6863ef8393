"""The Wyoming server with the real ``wyoming`` client in Home Assistant's exact shapes,
real workers and the demo models; and ``wyoming-bench`` as an independent client."""

from __future__ import annotations

import asyncio
import io
import shutil
import subprocess
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from wyoming.asr import Transcribe, TranscriptChunk
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.error import Error
from wyoming.event import Event
from wyoming.info import Describe, Info
from wyoming.tts import (
    Synthesize,
    SynthesizeChunk,
    SynthesizeStart,
    SynthesizeStop,
    SynthesizeVoice,
)

from tests.harness import Service
from tests.speech_clips import SENTENCES, make_clip, word_error_rate
from tests.wyoming_server import (
    HA_CHUNK_BYTES,
    read_until,
    to_16k,
    transcribe_like_ha,
    transcript_text,
    wyoming_process,
)

pytestmark = pytest.mark.service


PIPER_VOICE = "en_US-joe-medium"
KOKORO_VOICE = "jf_alpha"


@pytest.fixture(scope="module")
def port(service: Service) -> Iterator[int]:
    """The Wyoming server next to the session's API and worker (tests/conftest.py)."""
    with wyoming_process(service.env) as server:
        yield server.port


async def _describe(port: int) -> Info:
    async with AsyncTcpClient("127.0.0.1", port) as client:
        await client.write_event(Describe().event())
        events = await read_until(client, ("info",), 30)
    return Info.from_event(events[-1])


async def test_describe_lists_the_installed_models_default_first(port: int) -> None:
    info = await _describe(port)
    assert len(info.asr) == 1 and len(info.tts) == 1
    asr, tts = info.asr[0], info.tts[0]
    assert asr.supports_transcript_streaming and tts.supports_synthesize_streaming
    assert asr.models[0].name == "Systran/faster-whisper-tiny.en"
    assert asr.models[0].languages == ["en"]
    assert all(m.installed for m in asr.models)
    names = {v.name: v for v in tts.voices}
    assert PIPER_VOICE in names and KOKORO_VOICE in names
    assert all(v.installed and v.languages == ["en"] for v in tts.voices)


def _pcm_16k_of(text: str) -> bytes:
    return to_16k(make_clip(text))


async def test_stt_in_home_assistants_shape_streams_the_transcript(port: int) -> None:
    text = SENTENCES[0]
    events = await transcribe_like_ha(port, _pcm_16k_of(text))
    types = [e.type for e in events]
    assert types[0] == "transcript-start" and types[-2:] == ["transcript", "transcript-stop"]
    chunks = [TranscriptChunk.from_event(e).text for e in events if e.type == "transcript-chunk"]
    assert chunks, "segments are streamed as transcript-chunk events"
    heard = transcript_text(events)
    assert word_error_rate(text, heard) <= 0.1, heard
    assert events[-2].data.get("language") == "en"


async def test_stt_converts_any_rate_width_and_channels(port: int) -> None:
    """44.1 kHz, 32-bit, stereo: converted before the job."""
    text = SENTENCES[1]
    frames, rate = _frames(make_clip(text))
    mono = np.frombuffer(frames, "<i2").astype(np.int32) << 16
    stereo = np.repeat(mono, 2).astype("<i4").tobytes()
    async with AsyncTcpClient("127.0.0.1", port) as client:
        await client.write_event(Transcribe(language="en").event())
        await client.write_event(AudioStart(rate, 4, 2).event())
        step = 4 * 2 * 1000
        for offset in range(0, len(stereo), step):
            piece = stereo[offset : offset + step]
            await client.write_event(AudioChunk(rate, 4, 2, piece).event())
        await client.write_event(AudioStop().event())
        events = await read_until(client, ("transcript-stop", "error"))
    assert word_error_rate(text, transcript_text(events)) <= 0.1


def _frames(wav: bytes) -> tuple[bytes, int]:
    with wave.open(io.BytesIO(wav)) as reader:
        return reader.readframes(reader.getnframes()), reader.getframerate()


async def _collect_audio(client: AsyncTcpClient, final: str) -> tuple[list[Event], bytes]:
    events = await read_until(client, (final, "error"))
    audio = b"".join(e.payload or b"" for e in events if e.type == "audio-chunk")
    return events, audio


async def _heard(port: int, pcm24k: bytes) -> str:
    """Synthesized 24 kHz audio, transcribed back through the Wyoming STT path."""
    samples = np.frombuffer(pcm24k, "<i2").astype(np.float32) / 32768.0
    from neuraldrive_audio.media.resample import Resampler
    from neuraldrive_audio.media.samples import to_s16le

    resampler = Resampler(24_000, 16_000)
    pcm16k = to_s16le(np.concatenate([resampler.process(samples), resampler.flush()]))
    return transcript_text(await transcribe_like_ha(port, pcm16k))


@pytest.mark.parametrize("voice", [PIPER_VOICE, KOKORO_VOICE])
async def test_tts_plain(port: int, voice: str) -> None:
    text = "The library opens at nine in the morning. Please return your books on time."
    async with AsyncTcpClient("127.0.0.1", port) as client:
        await client.write_event(Synthesize(text, voice=SynthesizeVoice(name=voice)).event())
        events, audio = await _collect_audio(client, "audio-stop")
    types = [e.type for e in events]
    assert types[0] == "audio-start" and types[-1] == "audio-stop"
    assert AudioStart.from_event(events[0]).rate == 24_000
    assert word_error_rate(text, await _heard(port, audio)) <= 0.1


async def test_tts_streaming_like_home_assistant(port: int) -> None:
    """An LLM's reply in small chunks with markdown, the compatibility ``synthesize`` before
    ``synthesize-stop``: one audio-start, audio for each sentence, audio-stop, then
    synthesize-stopped; the compatibility copy is not spoken a second time."""
    reply = f"**{SENTENCES[3]}**\n- {SENTENCES[4]}\n"
    spoken = f"{SENTENCES[3]} {SENTENCES[4]}"
    voice = SynthesizeVoice(name=PIPER_VOICE)
    async with AsyncTcpClient("127.0.0.1", port) as client:
        await client.write_event(SynthesizeStart(voice=voice).event())
        for offset in range(0, len(reply), 7):
            await client.write_event(SynthesizeChunk(reply[offset : offset + 7]).event())
        await client.write_event(Synthesize(reply, voice=voice).event())
        await client.write_event(SynthesizeStop().event())
        events, audio = await _collect_audio(client, "synthesize-stopped")
    types = [e.type for e in events]
    assert types.count("audio-start") == 1 and types.count("audio-stop") == 1
    assert types[0] == "audio-start" and types[-2:] == ["audio-stop", "synthesize-stopped"]
    starts = {(e.data["rate"], e.data["width"], e.data["channels"]) for e in events
              if e.type in ("audio-start", "audio-chunk")}  # fmt: skip
    assert starts == {(24_000, 2, 1)}
    heard = await _heard(port, audio)
    assert word_error_rate(spoken, heard) <= 0.1, heard


async def test_first_streamed_sentence_is_spoken_before_the_stream_ends(port: int) -> None:
    voice = SynthesizeVoice(name=PIPER_VOICE)
    async with AsyncTcpClient("127.0.0.1", port) as client:
        await client.write_event(SynthesizeStart(voice=voice).event())
        await client.write_event(SynthesizeChunk(SENTENCES[5] + " ").event())
        await client.write_event(SynthesizeChunk("And then").event())
        first = await asyncio.wait_for(client.read_event(), 60)
        assert first is not None and first.type == "audio-start"
        await client.write_event(SynthesizeChunk(" it rained.").event())
        await client.write_event(SynthesizeStop().event())
        events, _ = await _collect_audio(client, "synthesize-stopped")
    assert events[-1].type == "synthesize-stopped"


async def _error_for(port: int, *requests: Event) -> Error:
    async with AsyncTcpClient("127.0.0.1", port) as client:
        for request in requests:
            await client.write_event(request)
        events = await read_until(client, ("error", "transcript", "audio-stop"), 60)
    assert events[-1].type == "error", [e.type for e in events]
    return Error.from_event(events[-1])


async def test_unknown_voice_and_model_are_errors(port: int) -> None:
    voice = SynthesizeVoice(name="no-such-voice")
    error = await _error_for(port, Synthesize("Hello.", voice=voice).event())
    assert error.code == "voice-not-found" and "no-such-voice" in error.text
    async with AsyncTcpClient("127.0.0.1", port) as client:  # HA's streamed shape
        await client.write_event(SynthesizeStart(voice=voice).event())
        await client.write_event(SynthesizeChunk("Hello there.").event())
        await client.write_event(Synthesize("Hello there.", voice=voice).event())
        await client.write_event(SynthesizeStop().event())
        await client.write_event(Describe().event())
        events = await read_until(client, ("info",), 60)
    assert [e.type for e in events] == ["error", "info"]  # one error, then still serving
    assert events[0].data["code"] == "voice-not-found"
    pcm = b"\0" * HA_CHUNK_BYTES
    error = await _error_for(
        port,
        Transcribe(name="no-such-model").event(),
        AudioStart(16_000, 2, 1).event(),
        AudioChunk(16_000, 2, 1, pcm).event(),
        AudioStop().event(),
    )
    assert error.code == "model-not-found"


async def test_requests_are_counted_in_status(port: int, service: Service) -> None:
    await _describe(port)
    status = service.status()
    counts = status["front_doors"]["wyoming"]
    assert counts["describe"]["ok"] >= 1


def _write_corpus(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for index, text in enumerate(SENTENCES[:2]):
        (directory / f"data_{index:02}.wav").write_bytes(make_clip(text))
        (directory / f"data_{index:02}.txt").write_text(text)


def _bench(*args: str) -> str:
    binary = shutil.which("wyoming-bench") or str(
        Path(__file__).parents[1] / ".venv/bin/wyoming-bench"
    )
    result = subprocess.run([binary, *args], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_wyoming_bench_info_tts_and_streaming_stt(port: int, tmp_path: Path) -> None:
    server = f"127.0.0.1:{port}"
    info = _bench("info", server)
    assert "neuraldrive-audio-stt" in info and "neuraldrive-audio-tts" in info
    config = f'{{"voice": "{PIPER_VOICE}"}}'
    tts = _bench("tts", server, "--mode", "both", "--rounds", "1", "--warmup", "0",
                 "--config", config, "--texts", SENTENCES[7])  # fmt: skip
    assert "error" not in tts.lower(), tts
    corpus = tmp_path / "corpus"
    _write_corpus(corpus)
    stt = _bench("stt", server, "--corpus", str(corpus), "--mode", "both", "--rounds", "1",
                 "--warmup", "0")  # fmt: skip
    assert "error" not in stt.lower(), stt
    print(info, tts, stt)


async def test_zeroconf_announcement_is_found_and_withdrawn() -> None:
    """What Home Assistant's discovery does: resolve ``<name>._wyoming._tcp.local.``."""
    from zeroconf import IPVersion
    from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

    from neuraldrive_audio.wyoming.discovery import SERVICE_TYPE, Announcement

    announcement = Announcement("neuraldrive-audio-test", "0.0.0.0", 10399)
    await announcement.publish()
    browser = AsyncZeroconf(ip_version=IPVersion.V4Only)
    try:
        found = AsyncServiceInfo(SERVICE_TYPE, f"neuraldrive-audio-test.{SERVICE_TYPE}")
        assert await found.async_request(browser.zeroconf, 3000)
        assert found.port == 10399 and found.parsed_addresses()
        await announcement.withdraw()
        fresh = AsyncZeroconf(ip_version=IPVersion.V4Only)  # no cached answer
        gone = AsyncServiceInfo(SERVICE_TYPE, f"neuraldrive-audio-test.{SERVICE_TYPE}")
        assert not await gone.async_request(fresh.zeroconf, 1500)
        await fresh.async_close()
    finally:
        await announcement.withdraw()
        await browser.async_close()
