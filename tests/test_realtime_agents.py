"""The OpenAI Agents SDK's streamed speech-to-text against /v1/realtime, with its defaults."""

from __future__ import annotations

import asyncio

import openai
import pytest
from agents import set_tracing_disabled
from agents.voice import OpenAIVoiceModelProvider, StreamedAudioInput, STTModelSettings

from tests.harness import API_KEY, Service
from tests.realtime_audio import CHUNK_MS, spoken_turns
from tests.speech_clips import SENTENCES, word_error_rate

pytestmark = pytest.mark.service


async def test_agents_sdk_streamed_audio_input_gets_each_turns_text(service: Service) -> None:
    set_tracing_disabled(True)  # traces would go to api.openai.com
    client = openai.AsyncOpenAI(base_url=f"{service.base_url}/v1", api_key=API_KEY)
    provider = OpenAIVoiceModelProvider(openai_client=client)
    sentences = [SENTENCES[0], SENTENCES[3]]
    audio = spoken_turns(sentences)
    stream = StreamedAudioInput()
    # All SDK defaults: model "gpt-transcribe", semantic_vad turn detection, 24 kHz pcm, and
    # at the end of input a commit (answered "empty" when VAD already committed) + clear.
    model = provider.get_stt_model(None)
    session = await model.create_session(stream, STTModelSettings(), False, False)

    async def speak() -> None:
        step = 24000 * CHUNK_MS // 1000
        for start in range(0, len(audio), step):
            await stream.add_audio(audio[start : start + step])
            await asyncio.sleep(CHUNK_MS / 1000)
        await stream.add_audio(None)

    speaker = asyncio.create_task(speak())
    turns = [turn async for turn in session.transcribe_turns()]
    await speaker
    await session.close()
    assert len(turns) == len(sentences), turns
    assert word_error_rate(" ".join(sentences), " ".join(turns)) <= 0.10, turns
