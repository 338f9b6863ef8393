"""Today's agent frameworks' cascaded speech plugins, with their defaults, against the service.

Pipecat's ``OpenAISTTService``/``OpenAITTSService`` and LiveKit's ``openai.STT`` (plain, and
``use_realtime=True`` over our realtime transcription WebSocket) and ``openai.TTS`` (``mp3``
over SSE by default), each changed only in base URL and key as a user would. They are
driven standalone, without a room or transport: a clip in, the transcript checked by word
error rate; text in, the audio heard back by the service's own whisper.
"""

from __future__ import annotations

import asyncio
import io
import wave
from collections.abc import AsyncIterator

import httpx2
import numpy as np
import openai
import pytest
from livekit import rtc
from livekit.agents import APIConnectOptions, stt, utils
from livekit.plugins import openai as livekit_openai
from pipecat.audio.utils import pcm_to_wav
from pipecat.frames.frames import (
    EndFrame,
    ErrorFrame,
    Frame,
    TranscriptionFrame,
    TTSAudioRawFrame,
    TTSSpeakFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.task import PipelineParams
from pipecat.pipeline.worker import PipelineWorker
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.services.openai.stt import OpenAISTTService
from pipecat.services.openai.tts import OpenAITTSService
from pipecat.workers.runner import WorkerRunner

from tests.harness import API_KEY, Service
from tests.realtime_audio import sentence_pcm, spoken_turns
from tests.speech_clips import SENTENCES, word_error_rate

pytestmark = pytest.mark.service

SPOKEN = "The next train to the city leaves from the main platform in a few minutes."
LIVEKIT_RATE = 24_000  # what LiveKit's OpenAI plugin sends and expects
PIPECAT_RATE = 16_000  # a Pipecat pipeline's default input rate


def _heard(service: Service, pcm: bytes, rate: int) -> str:
    """What the service's whisper hears in mono 16-bit ``pcm`` at ``rate``."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(pcm)
    client = service.client(_strict_response_validation=True, max_retries=0)
    return client.audio.transcriptions.create(
        model="whisper-1", file=("heard.wav", buffer.getvalue())
    ).text


def _frames(samples: np.ndarray, rate: int, ms: int = 100) -> list[rtc.AudioFrame]:
    """``samples`` as LiveKit audio frames of ``ms`` each, as a room track delivers them."""
    step = rate * ms // 1000
    return [
        rtc.AudioFrame(samples[i : i + step].tobytes(), rate, 1, len(samples[i : i + step]))
        for i in range(0, len(samples), step)
    ]


# --- Pipecat ------------------------------------------------------------------------------


async def test_pipecat_stt_defaults(service: Service) -> None:
    """``OpenAISTTService()`` (model ``gpt-transcribe``, language ``en``) on a segment as
    its pipeline hands it over: WAV of 16 kHz PCM."""
    text = " ".join(SENTENCES[:2])
    pcm = np.concatenate([sentence_pcm(s, PIPECAT_RATE) for s in SENTENCES[:2]])
    stt_service = OpenAISTTService(api_key=API_KEY, base_url=f"{service.base_url}/v1")
    frames = [f async for f in stt_service.run_stt(pcm_to_wav(pcm.tobytes(), PIPECAT_RATE))]
    errors = [f for f in frames if isinstance(f, ErrorFrame)]
    assert not errors, errors
    (transcript,) = [f for f in frames if isinstance(f, TranscriptionFrame)]
    assert word_error_rate(text, transcript.text) <= 0.1, transcript.text


class _Collect(FrameProcessor):
    """The end of a pipeline: keeps the frames that reach it."""

    def __init__(self) -> None:
        super().__init__()
        self.frames: list[Frame] = []

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        self.frames.append(frame)
        await self.push_frame(frame, direction)


async def test_pipecat_tts_defaults(service: Service) -> None:
    """``OpenAITTSService()`` (``gpt-4o-mini-tts``, ``alloy``, 24 kHz ``pcm``) in a pipeline
    with no transport: a ``TTSSpeakFrame`` in, audio frames out."""
    tts = OpenAITTSService(api_key=API_KEY, base_url=f"{service.base_url}/v1")
    sink = _Collect()
    worker = PipelineWorker(
        Pipeline([tts, sink]),
        params=PipelineParams(audio_out_sample_rate=24_000),
        enable_rtvi=False,
    )
    await worker.queue_frames([TTSSpeakFrame(SPOKEN), EndFrame()])
    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    await asyncio.wait_for(runner.run(), 120)
    assert not [f for f in sink.frames if isinstance(f, ErrorFrame)]
    audio = [f for f in sink.frames if isinstance(f, TTSAudioRawFrame)]
    assert audio and {f.sample_rate for f in audio} == {24_000}
    pcm = b"".join(f.audio for f in audio)
    assert len(pcm) / 2 / 24_000 > 2.0  # a sentence, not a click
    assert word_error_rate(SPOKEN, _heard(service, pcm, 24_000)) <= 0.3


# --- LiveKit ------------------------------------------------------------------------------


@pytest.fixture
async def livekit_http() -> AsyncIterator[None]:
    """The http session LiveKit's worker would provide to its plugins."""
    async with utils.http_context.open():
        yield


async def test_livekit_stt_defaults(service: Service, livekit_http: None) -> None:
    """``openai.STT()`` (``gpt-4o-mini-transcribe``, ``en``, json) recognising a buffer."""
    text = " ".join(SENTENCES[2:4])
    samples = np.concatenate([sentence_pcm(s, LIVEKIT_RATE) for s in SENTENCES[2:4]])
    plugin = livekit_openai.STT(api_key=API_KEY, base_url=f"{service.base_url}/v1")
    event = await plugin.recognize(_frames(samples, LIVEKIT_RATE))
    assert event.type == stt.SpeechEventType.FINAL_TRANSCRIPT
    assert word_error_rate(text, event.alternatives[0].text) <= 0.1, event.alternatives[0].text
    assert event.alternatives[0].language == "en"


async def test_livekit_realtime_stt_defaults(service: Service, livekit_http: None) -> None:
    """``openai.STT(use_realtime=True)``: its stream over our realtime transcription
    WebSocket with its default server VAD; two spoken turns, two final transcripts."""
    turns = SENTENCES[4:6]
    samples = spoken_turns(turns, LIVEKIT_RATE)
    plugin = livekit_openai.STT(
        api_key=API_KEY, base_url=f"{service.base_url}/v1", use_realtime=True
    )
    stream = plugin.stream(conn_options=APIConnectOptions(max_retry=0, timeout=30))
    finals: list[str] = []
    kinds: list[stt.SpeechEventType] = []

    async def listen() -> None:
        async for event in stream:
            kinds.append(event.type)
            if event.type == stt.SpeechEventType.FINAL_TRANSCRIPT:
                finals.append(event.alternatives[0].text)
                if len(finals) == len(turns):
                    return

    listening = asyncio.create_task(listen())
    for frame in _frames(samples, LIVEKIT_RATE, ms=50):
        stream.push_frame(frame)
        await asyncio.sleep(0.005)  # faster than real time, in order, as a track would
    stream.flush()
    try:
        await asyncio.wait_for(listening, 120)
    finally:
        await stream.aclose()
        await plugin.aclose()
    assert kinds.count(stt.SpeechEventType.START_OF_SPEECH) >= len(turns)
    for said, heard in zip(turns, finals, strict=True):
        assert word_error_rate(said, heard) <= 0.15, finals


async def test_livekit_tts_defaults(service: Service, livekit_http: None) -> None:
    """``openai.TTS()`` (``gpt-4o-mini-tts``, ``ash``, ``mp3`` with ``stream_format=sse``):
    the plugin decodes the mp3 deltas to 24 kHz frames."""
    content_types: list[str] = []

    async def record(response: httpx2.Response) -> None:
        content_types.append(response.headers.get("content-type", ""))

    # The plugin's own client settings, plus a hook that sees which body it parsed.
    http = openai.DefaultAsyncHttpxClient(event_hooks={"response": [record]})
    client = openai.AsyncClient(api_key=API_KEY, base_url=f"{service.base_url}/v1",
                                max_retries=0, http_client=http)  # fmt: skip
    plugin = livekit_openai.TTS(client=client)
    frames = [event.frame async for event in plugin.synthesize(SPOKEN)]
    assert content_types == ["text/event-stream; charset=utf-8"]
    assert frames and {f.sample_rate for f in frames} == {24_000}
    pcm = b"".join(f.data.tobytes() for f in frames)
    assert len(pcm) / 2 / 24_000 > 2.0
    assert word_error_rate(SPOKEN, _heard(service, pcm, 24_000)) <= 0.3
    await plugin.aclose()
