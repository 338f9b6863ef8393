"""Bad Wyoming clients: each gets a clear ``error`` or a closed connection, the server keeps
serving everyone else, and its memory stays bounded."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator

import psutil
import pytest
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.event import Event, async_read_event
from wyoming.info import Describe

from tests.harness import Service
from tests.speech_clips import SENTENCES, word_error_rate
from tests.wyoming_server import (
    HA_CHUNK_BYTES,
    WyomingProcess,
    read_until,
    to_16k,
    transcribe_like_ha,
    transcript_text,
    wyoming_process,
)

pytestmark = pytest.mark.service


MAX_CONNECTIONS = 16
IDLE_TIMEOUT_S = 1.0
ALLOWED = "127.0.0.1/32"
"""Only this loopback address: 127.0.0.2, also loopback, is then a stranger."""
MAX_AUDIO_S = 20
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def server(service: Service, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WyomingProcess]:
    """One Wyoming server with tight limits for every case here, next to the session's API
    and worker (tests/conftest.py): no service of its own."""
    env = {**service.env, "NEURALDRIVE_AUDIO_MAX_AUDIO_DURATION_S": str(MAX_AUDIO_S)}
    log = tmp_path_factory.mktemp("wyoming") / "server.log"
    with wyoming_process(
        env,
        log=log,
        max_connections=str(MAX_CONNECTIONS),
        idle_timeout_s=str(IDLE_TIMEOUT_S),
        max_buffered_bytes=str(4 * MIB),
        allow_networks=ALLOWED,
    ) as running:
        yield running


def _rss(server: WyomingProcess) -> int:
    return int(psutil.Process(server.process.pid).memory_info().rss)


async def _raw(port: int, data: bytes, source: str = "127.0.0.1") -> list[Event]:
    """Send raw bytes; every event the server answers with until it closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    writer.write(data)
    await writer.drain()
    events = []
    while (event := await asyncio.wait_for(async_read_event(reader), 30)) is not None:
        events.append(event)
    writer.close()
    return events


async def _still_serves(port: int) -> None:
    """A describe gets its info; right after a storm, once the connections of the storm
    have let go of their slots (within seconds)."""
    for _ in range(30):
        async with AsyncTcpClient("127.0.0.1", port) as client:
            await client.write_event(Describe().event())
            events = await read_until(client, ("info", "error"), 30)
        if events[-1].type == "info":
            return
        assert events[-1].data["code"] == "too-many-connections", events[-1].data
        await asyncio.sleep(0.5)
    raise AssertionError("the server stopped answering describe")


def _header(event_type: str, **fields: object) -> bytes:
    return json.dumps({"type": event_type, **fields}).encode() + b"\n"


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\n", "malformed-event"),
        (_header("audio-chunk", payload_length=2**40), "event-too-large"),
        (_header("synthesize", data_length=2**31), "event-too-large"),
        (_header("audio-start", data={"rate": "fast", "width": 2, "channels": 1}),
         "unsupported-audio-format"),
        (_header("synthesize", data={"text": 42}), "malformed-event"),
        (_header("audio-chunk", data={"rate": 16000, "width": 2, "channels": 1},
                 payload_length=4) + b"\0\0\0\0", "audio-without-start"),
    ],
)  # fmt: skip
async def test_bad_input_gets_an_error_and_a_closed_connection(
    server: WyomingProcess, raw: bytes, code: str
) -> None:
    before = _rss(server)
    events = await _raw(server.port, raw)
    assert [e.type for e in events] == ["error"] and events[0].data["code"] == code
    await _still_serves(server.port)
    assert _rss(server) - before < 20 * MIB


async def _stream_until_answer(
    port: int, seconds: int, pause_s: float = 0.0, answer_wait_s: float = 3.0
) -> str:
    """Send ``seconds`` of 16 kHz audio, one second per chunk, stopping at the server's
    first answer; returns its error code, or ``no answer`` within ``answer_wait_s`` after
    the last chunk."""
    second = b"\1\0" * 16_000
    async with AsyncTcpClient("127.0.0.1", port) as client:
        answer = asyncio.create_task(client.read_event())
        try:
            await client.write_event(AudioStart(16_000, 2, 1).event())
            for _ in range(seconds):
                if answer.done():
                    break
                await client.write_event(AudioChunk(16_000, 2, 1, second).event())
                await asyncio.sleep(pause_s)
        except OSError:
            pass
        try:
            event = await asyncio.wait_for(answer, answer_wait_s)
        except (TimeoutError, OSError):
            return "no answer"
    return str(event.data.get("code")) if event is not None else "closed"


async def test_endless_audio_is_cut_at_the_duration_limit(server: WyomingProcess) -> None:
    before = _rss(server)
    assert await _stream_until_answer(server.port, 10 * MAX_AUDIO_S) == "audio-too-long"
    await _still_serves(server.port)
    assert _rss(server) - before < 50 * MIB


async def test_many_streams_together_hit_the_global_buffer_limit(server: WyomingProcess) -> None:
    """Commands of 15 s each (under the per-command limit) overflow the 4 MiB shared
    budget together: the ones past it are refused (while they send), the server stays up
    and bounded. The others are within limits and get no answer (no audio-stop)."""
    before = _rss(server)
    outcomes = await asyncio.gather(
        *(_stream_until_answer(server.port, 15, pause_s=0.05, answer_wait_s=0.5)
          for _ in range(12))
    )  # fmt: skip
    assert "server-busy" in outcomes, outcomes
    await _still_serves(server.port)
    assert _rss(server) - before < 50 * MIB


async def test_200_connections_at_once(server: WyomingProcess) -> None:
    async def one() -> str:
        try:
            async with AsyncTcpClient("127.0.0.1", server.port) as client:
                await client.write_event(Describe().event())
                event = await asyncio.wait_for(client.read_event(), 60)
        except OSError:
            return "reset"
        if event is None:
            return "closed"
        return event.type if event.type == "info" else str(event.data.get("code"))

    outcomes = await asyncio.gather(*(one() for _ in range(200)))
    # A client the loaded machine did not let send its describe within the idle timeout
    # gets idle-timeout: also a clear answer.
    allowed = {"info", "too-many-connections", "idle-timeout", "reset", "closed"}
    assert set(outcomes) <= allowed, outcomes
    assert "info" in outcomes and "too-many-connections" in outcomes
    await _still_serves(server.port)


async def test_slow_sender_is_disconnected_after_the_idle_timeout(server: WyomingProcess) -> None:
    """A header trickling in a byte every 0.5 s never completes an event: cut at the idle
    timeout, long before it would have finished."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    header = _header("describe")

    async def trickle() -> None:
        for byte in header[:-1]:
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(0.5)

    sender = asyncio.create_task(trickle())
    started = asyncio.get_running_loop().time()
    event = await asyncio.wait_for(async_read_event(reader), 15)
    elapsed = asyncio.get_running_loop().time() - started
    sender.cancel()
    writer.close()
    assert event is not None and event.data["code"] == "idle-timeout"
    assert elapsed < len(header) * 0.5
    await _still_serves(server.port)


async def test_a_good_command_still_works_after_the_abuse(server: WyomingProcess) -> None:
    from tests.speech_clips import make_clip

    text = SENTENCES[0]
    events = await transcribe_like_ha(server.port, to_16k(make_clip(text)))
    assert word_error_rate(text, transcript_text(events)) <= 0.1
    assert HA_CHUNK_BYTES == 320


async def test_a_client_hanging_up_mid_command_aborts_its_job(server: WyomingProcess) -> None:
    from tests.speech_clips import make_clip

    pcm = to_16k(make_clip(" ".join(SENTENCES[:3])))
    async with AsyncTcpClient("127.0.0.1", server.port) as client:
        await client.write_event(AudioStart(16_000, 2, 1).event())
        for offset in range(0, len(pcm), 32_000):
            await client.write_event(
                AudioChunk(16_000, 2, 1, pcm[offset : offset + 32_000]).event()
            )
        await client.write_event(AudioStop().event())
    log = server.log
    assert log is not None
    for _ in range(100):
        if "client left; job aborted" in log.read_text():
            break
        await asyncio.sleep(0.2)
    else:
        raise AssertionError("the job of a client that left was not aborted")
    await _still_serves(server.port)


async def test_client_outside_the_allowed_networks_is_refused_and_logged(
    server: WyomingProcess,
) -> None:
    events = await _raw(server.port, _header("describe"), source="127.0.0.2")
    assert events == []  # closed without a word: no info for strangers
    served = await _raw(server.port, _header("describe"), source="127.0.0.1")
    # The allowed client gets info, then idles until the timeout closes it.
    assert [e.type for e in served] == ["info", "error"]
    assert server.log is not None
    for _ in range(50):  # the server's log is flushed by line, from its own process
        text = server.log.read_text()
        if "refused" in text and "127.0.0.2" in text:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the refusal was not logged")


def test_loopback_alias_is_usable() -> None:
    """127.0.0.2 is a loopback address Linux answers from without configuration."""
    with socket.socket() as s:
        s.bind(("127.0.0.2", 0))
