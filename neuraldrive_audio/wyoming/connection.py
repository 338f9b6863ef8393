"""One Wyoming client connection: describe, speech-to-text, text-to-speech (plain and
streamed), each answered the way Home Assistant reads it.

Reading never waits on inference except for ``audio-stop`` (a command's transcript is the
only thing the client waits for then). Streamed synthesis runs beside the reader, so the
text chunks an LLM writes keep arriving while earlier sentences are spoken.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from wyoming.asr import Transcribe, Transcript, TranscriptChunk, TranscriptStart, TranscriptStop
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event, Eventable, async_write_event
from wyoming.info import Describe
from wyoming.ping import Ping, Pong
from wyoming.tts import (
    Synthesize,
    SynthesizeChunk,
    SynthesizeStart,
    SynthesizeStop,
    SynthesizeStopped,
    SynthesizeVoice,
)

from neuraldrive_audio.config import Settings
from neuraldrive_audio.media.clauses import ClauseSplitter
from neuraldrive_audio.media.markdown import strip_markdown
from neuraldrive_audio.media.pcm_input import WHISPER_PCM, PcmConverter, PcmFormat
from neuraldrive_audio.media.resample import OUTPUT_SAMPLE_RATE
from neuraldrive_audio.queue.payloads import Transcript as JobTranscript
from neuraldrive_audio.storage.catalog import ModelCatalog
from neuraldrive_audio.wyoming import programs
from neuraldrive_audio.wyoming.framing import ProtocolError, read_event
from neuraldrive_audio.wyoming.limits import SharedLimits
from neuraldrive_audio.wyoming.speech_port import (
    RecognisedSegment,
    SpeechFailure,
    SpeechPort,
)

log = logging.getLogger(__name__)

MAX_TEXT_CHARS = 4096
"""Longest text one ``synthesize`` may carry (the HTTP API's ``input`` limit)."""

MAX_STREAM_CHARS = 100_000
"""Longest text one streamed synthesis may carry in all its chunks."""

LINGER_S = 2.0
"""How long a closing connection keeps reading (and dropping) what the client still sends."""

CLIENT_CHECK_S = 0.25
"""How often a connection waiting on a job looks whether its client hung up."""

AUDIO_CHUNK_BYTES = OUTPUT_SAMPLE_RATE * 2 // 10
"""Synthesized audio goes out in 100 ms chunks."""

T = TypeVar("T", bound=Eventable)

Recorder = Callable[[str, str], Awaitable[None]]
"""Counts one answered request: (kind, outcome)."""


@dataclass
class ConnectionContext:
    """What every connection of one server shares."""

    settings: Settings
    catalog: ModelCatalog
    speech: SpeechPort
    limits: SharedLimits
    record: Recorder


class ClientError(Exception):
    """A request this connection answers with an ``error`` event."""

    def __init__(self, code: str, text: str, close: bool = False) -> None:
        super().__init__(text)
        self.code = code
        self.text = text
        self.close = close


@dataclass
class _Command:
    """A speech-to-text command being received."""

    request: Transcribe
    converter: PcmConverter | None = None
    audio: bytearray | None = None
    reserved: int = 0


class _Stream:
    """A streamed synthesis: clauses go to a task that speaks them in order."""

    def __init__(self, voice: programs.VoiceChoice) -> None:
        self.voice = voice
        self.splitter = ClauseSplitter()
        self.clauses: asyncio.Queue[str | None] = asyncio.Queue()
        self.chars = 0
        self.task: asyncio.Task[None] | None = None


def _parse(kind: type[T], event: Event) -> T:
    """The typed event, or a ``malformed-event`` error (fields missing or of a wrong type)."""
    try:
        parsed = kind.from_event(event)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ClientError(
            "malformed-event", f"Bad '{event.type}' event: {exc!r}", close=True
        ) from exc
    return cast(T, parsed)


def _require_text(text: object) -> None:
    if not isinstance(text, str):
        raise ClientError("malformed-event", "'text' must be a string.", close=True)


class Connection:
    """Serves one client until it leaves, breaks the protocol, or idles too long."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        context: ConnectionContext,
        peer: str,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._ctx = context
        self._settings = context.settings
        self._peer = peer
        self._write_lock = asyncio.Lock()
        self._command: _Command | None = None
        self._stream: _Stream | None = None
        # A synthesize-start that failed: its chunks, compatibility copy and stop are
        # dropped quietly (the client has its one error already).
        self._stream_refused = False
        self._max_command_bytes = int(
            self._settings.max_audio_duration_s * WHISPER_PCM.bytes_per_second
        )

    async def run(self) -> None:
        """Read and answer events until the end; always releases what it holds."""
        try:
            await self._serve()
        except (ConnectionError, asyncio.IncompleteReadError):
            log.debug("wyoming client went away", extra={"peer": self._peer})
        finally:
            await self._stop_stream()
            self._drop_command()
            await self._close_gently()

    async def _close_gently(self) -> None:
        """Close so the client can still read our last event (often the error that ends
        the connection): shut our side, then drop what it is still sending for a moment.
        Closing with unread input would reset the connection, and a reset discards the
        error on its way to the client."""
        with contextlib.suppress(Exception):
            if self._writer.can_write_eof():
                self._writer.write_eof()
            deadline = asyncio.get_running_loop().time() + LINGER_S
            while (left := deadline - asyncio.get_running_loop().time()) > 0:
                if not await asyncio.wait_for(self._reader.read(64 * 1024), left):
                    break
        self._writer.close()
        with contextlib.suppress(Exception):
            await self._writer.wait_closed()

    async def _serve(self) -> None:
        timeout_s = self._settings.wyoming_idle_timeout_s
        max_bytes = self._settings.wyoming_max_event_bytes
        while True:
            try:
                # asyncio.timeout, not wait_for: wait_for (3.11) wraps every read in a task
                # of its own, and Home Assistant sends 100 audio chunks a second.
                async with asyncio.timeout(timeout_s):
                    event = await read_event(self._reader, max_bytes)
            except TimeoutError:
                await self._send_error("idle-timeout", f"No event for {timeout_s:g} s; closing.")
                return
            except ProtocolError as exc:
                log.warning(
                    "wyoming protocol error; closing",
                    extra={"peer": self._peer, "code": exc.code, "error": exc.text},
                )
                await self._send_error(exc.code, exc.text)
                await self._ctx.record("malformed", exc.code)
                return
            if event is None:
                return
            try:
                await self._handle(event)
            except ClientError as exc:
                await self._send_error(exc.code, exc.text)
                if exc.close:
                    return
            except Exception:
                log.exception("wyoming request failed", extra={"peer": self._peer})
                await self._send_error("internal-error", "The server failed on this request.")
                return

    async def _handle(self, event: Event) -> None:
        if Describe.is_type(event.type):
            await self._write(programs.describe(self._ctx.catalog, self._settings).event())
            await self._ctx.record("describe", "ok")
        elif Ping.is_type(event.type):
            await self._write(Pong(text=_parse(Ping, event).text).event())
        elif Transcribe.is_type(event.type):
            self._drop_command()
            self._command = _Command(_parse(Transcribe, event))
        elif AudioStart.is_type(event.type):
            self._start_audio(_parse(AudioStart, event))
        elif AudioChunk.is_type(event.type):
            self._add_audio(event)
        elif AudioStop.is_type(event.type):
            await self._finish_command()
        elif SynthesizeStart.is_type(event.type):
            await self._start_stream(_parse(SynthesizeStart, event))
        elif self._stream_refused and event.type in ("synthesize-chunk", "synthesize"):
            pass
        elif SynthesizeChunk.is_type(event.type):
            await self._stream_text(_parse(SynthesizeChunk, event).text)
        elif SynthesizeStop.is_type(event.type):
            if self._stream_refused:
                self._stream_refused = False
            else:
                await self._finish_stream()
        elif Synthesize.is_type(event.type):
            # Home Assistant sends the whole text once more after streaming it (for
            # servers that do not stream): while a stream is open it is a copy, not work.
            if self._stream is None:
                await self._unless_client_leaves(self._synthesize(_parse(Synthesize, event)))
        else:
            log.debug("wyoming event ignored", extra={"peer": self._peer, "type": event.type})

    async def _unless_client_leaves(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work``; if the client hangs up meanwhile, cancel it (which aborts its job
        on the workers) instead of finishing work nobody will read."""
        task = asyncio.ensure_future(work)
        while not task.done():
            await asyncio.wait({task}, timeout=CLIENT_CHECK_S)
            if not task.done() and self._reader.at_eof():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                log.info("wyoming client left; job aborted", extra={"peer": self._peer})
                raise ConnectionResetError("the client closed the connection")
        task.result()

    # --- speech-to-text ---

    def _start_audio(self, start: AudioStart) -> None:
        if self._command is None:
            # No ``transcribe`` first: the default model, language detection.
            self._command = _Command(Transcribe())
        self._release_audio(self._command)
        try:
            source = PcmFormat(int(start.rate), int(start.width), int(start.channels))
        except (TypeError, ValueError) as exc:  # PcmFormatError, or not numbers
            self._command = None
            raise ClientError("unsupported-audio-format", str(exc), close=True) from exc
        self._command.converter = PcmConverter(source)
        self._command.audio = bytearray()

    def _add_audio(self, event: Event) -> None:
        command = self._command
        if command is None or command.converter is None or command.audio is None:
            raise ClientError(
                "audio-without-start", "audio-chunk arrived before audio-start.", close=True
            )
        chunk = _parse(AudioChunk, event)
        source = command.converter.source
        if (chunk.rate, chunk.width, chunk.channels) != (
            source.rate,
            source.width,
            source.channels,
        ):
            raise ClientError(
                "audio-format-changed",
                "audio-chunk format differs from the one audio-start announced.",
                close=True,
            )
        pcm = command.converter.convert(chunk.audio or b"")
        if len(command.audio) + len(pcm) > self._max_command_bytes:
            self._drop_command()
            raise ClientError(
                "audio-too-long",
                f"The audio is longer than {self._settings.max_audio_duration_s:g} s.",
                close=True,
            )
        if not self._ctx.limits.reserve(len(pcm)):
            self._drop_command()
            raise ClientError(
                "server-busy", "The server holds too much audio right now; retry.", close=True
            )
        command.reserved += len(pcm)
        command.audio += pcm

    def _release_audio(self, command: _Command) -> None:
        self._ctx.limits.release(command.reserved)
        command.reserved = 0

    def _drop_command(self) -> None:
        if self._command is not None:
            self._release_audio(self._command)
            self._command = None

    async def _finish_command(self) -> None:
        command, self._command = self._command, None
        if command is None or command.audio is None:
            raise ClientError("audio-without-start", "audio-stop arrived before audio-start.")
        if command.converter is not None:
            command.audio += command.converter.finish()
        try:
            await self._unless_client_leaves(
                self._transcribe(command.request, bytes(command.audio))
            )
        finally:
            self._release_audio(command)

    async def _transcribe(self, request: Transcribe, pcm: bytes) -> None:
        try:
            model = programs.pick_asr_model(
                self._ctx.catalog, self._settings, request.name, request.language
            )
        except programs.NotFound as exc:
            await self._ctx.record("transcribe", exc.code)
            raise ClientError(exc.code, str(exc)) from exc
        language = programs.wyoming_language(request.language) if request.language else None
        if not pcm:
            await self._send_transcript(request, "", language or "")
            await self._ctx.record("transcribe", "ok")
            return
        started = False
        try:
            async for item in self._ctx.speech.transcribe(pcm, model.id, language):
                if isinstance(item, RecognisedSegment):
                    if not started:
                        await self._write(
                            TranscriptStart(language=language, context=request.context).event()
                        )
                        started = True
                    await self._write(TranscriptChunk(text=item.text).event())
                elif isinstance(item, JobTranscript):
                    await self._send_transcript(request, item.text.strip(), item.language, started)
        except SpeechFailure as exc:
            await self._ctx.record("transcribe", exc.code)
            raise ClientError(exc.code, exc.text) from exc
        await self._ctx.record("transcribe", "ok")

    async def _send_transcript(
        self,
        request: Transcribe,
        text: str,
        language: str,
        started: bool = False,
    ) -> None:
        if not started:
            await self._write(TranscriptStart(language=language, context=request.context).event())
        await self._write(Transcript(text=text, language=language, context=request.context).event())
        await self._write(TranscriptStop().event())

    # --- text-to-speech ---

    def _voice(self, voice: SynthesizeVoice | None) -> programs.VoiceChoice:
        try:
            return programs.pick_voice(
                self._ctx.catalog,
                self._settings,
                voice.name if voice else None,
                voice.speaker if voice else None,
                voice.language if voice else None,
            )
        except programs.NotFound as exc:
            raise ClientError(exc.code, str(exc)) from exc

    async def _synthesize(self, request: Synthesize) -> None:
        _require_text(request.text)
        if len(request.text) > MAX_TEXT_CHARS:
            await self._ctx.record("synthesize", "text-too-long")
            raise ClientError("text-too-long", f"The text is over {MAX_TEXT_CHARS} characters.")
        try:
            choice = self._voice(request.voice)
        except ClientError as exc:
            await self._ctx.record("synthesize", exc.code)
            raise
        text = strip_markdown(request.text)
        sent_start = False
        try:
            if any(ch.isalnum() for ch in text):
                sent_start = await self._speak(choice, text, sent_start)
        except SpeechFailure as exc:
            await self._ctx.record("synthesize", exc.code)
            raise ClientError(exc.code, exc.text) from exc
        if not sent_start:
            await self._write(self._audio_start())
        await self._write(AudioStop().event())
        await self._ctx.record("synthesize", "ok")

    def _audio_start(self) -> Event:
        return AudioStart(rate=OUTPUT_SAMPLE_RATE, width=2, channels=1).event()

    async def _speak(self, choice: programs.VoiceChoice, text: str, sent_start: bool) -> bool:
        """Speak ``text``; sends ``audio-start`` first if not yet sent. Returns True."""
        async for audio in self._ctx.speech.speak(text, choice.model_id, choice.voice):
            if not sent_start:
                await self._write(self._audio_start())
                sent_start = True
            for offset in range(0, len(audio), AUDIO_CHUNK_BYTES):
                piece = audio[offset : offset + AUDIO_CHUNK_BYTES]
                await self._write(
                    AudioChunk(rate=OUTPUT_SAMPLE_RATE, width=2, channels=1, audio=piece).event()
                )
        return sent_start

    async def _start_stream(self, start: SynthesizeStart) -> None:
        await self._stop_stream()
        self._stream_refused = False
        try:
            choice = self._voice(start.voice)
        except ClientError as exc:
            await self._ctx.record("synthesize-stream", exc.code)
            self._stream_refused = True
            raise
        stream = _Stream(choice)
        stream.task = asyncio.create_task(self._speak_stream(stream))
        self._stream = stream

    async def _stream_text(self, text: str) -> None:
        _require_text(text)
        stream = self._stream
        if stream is None:
            raise ClientError("unexpected-event", "synthesize-chunk outside a synthesize-start.")
        stream.chars += len(text)
        if stream.chars > MAX_STREAM_CHARS:
            await self._stop_stream()
            await self._ctx.record("synthesize-stream", "text-too-long")
            raise ClientError(
                "text-too-long", f"The streamed text is over {MAX_STREAM_CHARS} characters."
            )
        for clause in stream.splitter.feed(text):
            stream.clauses.put_nowait(clause)

    async def _finish_stream(self) -> None:
        stream = self._stream
        if stream is None:
            raise ClientError("unexpected-event", "synthesize-stop outside a synthesize-start.")
        for clause in stream.splitter.flush():
            stream.clauses.put_nowait(clause)
        stream.clauses.put_nowait(None)
        assert stream.task is not None
        await stream.task
        self._stream = None
        await self._write(SynthesizeStopped().event())

    async def _speak_stream(self, stream: _Stream) -> None:
        """Speak each clause as it comes; then one ``audio-stop`` for the whole stream."""
        sent_start = False
        while (clause := await stream.clauses.get()) is not None:
            text = strip_markdown(clause)
            if not any(ch.isalnum() for ch in text):
                continue
            try:
                sent_start = await self._speak(stream.voice, text, sent_start)
            except SpeechFailure as exc:
                await self._ctx.record("synthesize-stream", exc.code)
                await self._send_error(exc.code, exc.text)
                await self._drain_until_stop(stream)
                return
        if not sent_start:
            await self._write(self._audio_start())
        await self._write(AudioStop().event())
        await self._ctx.record("synthesize-stream", "ok")

    @staticmethod
    async def _drain_until_stop(stream: _Stream) -> None:
        while await stream.clauses.get() is not None:
            pass

    async def _stop_stream(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None and stream.task is not None:
            stream.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await stream.task

    # --- writing ---

    async def _write(self, event: Event) -> None:
        async with self._write_lock:
            await async_write_event(event, self._writer)

    async def _send_error(self, code: str, text: str) -> None:
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self._write(Error(text=text, code=code).event())
