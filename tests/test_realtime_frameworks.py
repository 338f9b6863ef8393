"""Agent frameworks' realtime clients, unchanged but for the base URL and key, against the
real app, worker, models and the tool-calling LLM stand-in: the model calls the client's
function tool, the framework runs it, and the spoken answer carries the tool's result
(the reply audio is transcribed back)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import numpy as np
import pytest
from agents import function_tool, set_tracing_disabled
from agents.realtime import RealtimeAgent, RealtimeRunner

from neuraldrive_audio.media.pcm import wav_bytes
from tests.harness import API_KEY, Service
from tests.llm_stand_in import LLMStandIn
from tests.realtime_audio import sentence_pcm, silence

pytestmark = pytest.mark.service

QUESTION = "What is the weather in Paris?"
RESULT = {"temperature": 12, "condition": "foggy"}
"""What every framework's tool answers; the stand-in says "It is 12 degrees and foggy in
Paris." from it, so "foggy" in the spoken answer proves the result came through."""


def _heard(agent: Service, pcm: bytes, rate: int = 24000) -> str:
    """The reply audio transcribed back."""
    samples = np.frombuffer(pcm[: len(pcm) - len(pcm) % 2], "<i2")
    result = agent.client().audio.transcriptions.create(
        model="whisper-1", file=("reply.wav", wav_bytes(samples, rate)), language="en"
    )
    return result.text.lower()


def _says_the_result(heard: str) -> None:
    """The answer speaks the tool's result ("It is 12 degrees and foggy in Paris."; tiny.en
    may hear "Paris" as "pairs", so the city is not required)."""
    assert "foggy" in heard and ("12" in heard or "twelve" in heard), heard


def _spoken_question(rate: int = 24000) -> bytes:
    pcm = np.concatenate([silence(400, rate), sentence_pcm(QUESTION, rate), silence(1500, rate)])
    return pcm.tobytes()


def _tool_rounds(llm: LLMStandIn) -> list[list[str]]:
    """The roles of each chat request the stand-in got."""
    return [[m["role"] for m in body["messages"]] for body in llm.requests]


# -- OpenAI Agents SDK ------------------------------------------------------------------


async def _agents_sdk_round_trip(agent: Service, spoken: bool) -> tuple[list[str], bytes]:
    set_tracing_disabled(True)  # traces would go to api.openai.com
    calls: list[str] = []

    @function_tool
    def get_weather(city: str) -> str:
        """The current weather in a city."""
        calls.append(city)
        return json.dumps(RESULT)

    runner = RealtimeRunner(
        RealtimeAgent(name="Weather", instructions="Answer briefly.", tools=[get_weather])
    )
    url = agent.base_url.replace("http://", "ws://") + "/v1/realtime?model=gpt-realtime"
    session = await runner.run(model_config={"url": url, "api_key": API_KEY})
    answer = bytearray()
    async with session:
        if spoken:
            question = _spoken_question()
            for start in range(0, len(question), 4800):
                await session.send_audio(question[start : start + 4800])
                await asyncio.sleep(0.05)
        else:
            await session.send_message(QUESTION)
        tool_done = False
        async with asyncio.timeout(120):
            async for event in session:
                if event.type == "tool_end":
                    tool_done = True
                elif event.type == "audio" and tool_done:
                    answer += event.audio.data
                elif event.type == "agent_end" and tool_done and answer:
                    break
                elif event.type == "error":
                    raise AssertionError(f"the Agents SDK reported an error: {event.error}")
    return calls, bytes(answer)


@pytest.mark.parametrize("spoken", [False, True], ids=["text", "spoken"])
async def test_agents_sdk_realtime_runner_calls_a_function_tool(
    agent: Service, llm: LLMStandIn, spoken: bool
) -> None:
    calls, answer = await _agents_sdk_round_trip(agent, spoken)
    assert calls == ["Paris"]
    heard = _heard(agent, answer)
    _says_the_result(heard)
    # The stand-in saw the tools, then the assistant's call and its result in history.
    assert llm.requests[0]["tools"][0]["function"]["name"] == "get_weather"
    assert any(roles[-2:] == ["assistant", "tool"] for roles in _tool_rounds(llm))


# -- Pipecat ------------------------------------------------------------------------------


async def _pipecat_round_trip(agent: Service, spoken: bool) -> tuple[list[str], bytes]:
    """Pipecat's OpenAIRealtimeLLMService between its context aggregators in a pipeline
    of its own (no transport): the frames a transport would carry are queued directly."""
    from pipecat.adapters.llm.schemas.function_schema import FunctionSchema
    from pipecat.adapters.llm.schemas.tools_schema import ToolsSchema
    from pipecat.frames.frames import (
        EndFrame,
        Frame,
        FunctionCallResultFrame,
        InputAudioRawFrame,
        LLMFullResponseEndFrame,
        LLMRunFrame,
        TTSAudioRawFrame,
    )
    from pipecat.pipeline.pipeline import Pipeline
    from pipecat.pipeline.worker import PipelineWorker
    from pipecat.processors.aggregators.llm_context import LLMContext
    from pipecat.processors.aggregators.llm_response_universal import LLMContextAggregatorPair
    from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
    from pipecat.services.llm_service import FunctionCallParams
    from pipecat.services.openai.realtime.llm import OpenAIRealtimeLLMService
    from pipecat.workers.runner import WorkerRunner

    calls: list[str] = []
    answer = bytearray()
    answered = asyncio.Event()

    class Speaker(FrameProcessor):
        """Where a transport would play the audio: collects what follows the tool result."""

        tool_done = False

        async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
            await super().process_frame(frame, direction)
            if isinstance(frame, FunctionCallResultFrame):
                self.tool_done = True
            elif isinstance(frame, TTSAudioRawFrame) and self.tool_done:
                answer.extend(frame.audio)
            elif isinstance(frame, LLMFullResponseEndFrame) and self.tool_done and answer:
                answered.set()
            await self.push_frame(frame, direction)

    async def get_weather(params: FunctionCallParams) -> None:
        calls.append(str(params.arguments.get("city")))
        await params.result_callback(RESULT)

    weather = FunctionSchema(
        name="get_weather",
        description="The current weather in a city.",
        properties={"city": {"type": "string"}},
        required=["city"],
    )
    messages: list[Any] = [] if spoken else [{"role": "user", "content": QUESTION}]
    context = LLMContext(messages, tools=ToolsSchema(standard_tools=[weather]))
    aggregators = LLMContextAggregatorPair(context)
    llm = OpenAIRealtimeLLMService(
        api_key=API_KEY, base_url=agent.base_url.replace("http://", "ws://") + "/v1/realtime"
    )
    llm.register_function("get_weather", get_weather)
    pipeline = Pipeline([aggregators.user(), llm, Speaker(), aggregators.assistant()])
    worker = PipelineWorker(pipeline, cancel_on_idle_timeout=False)
    runner = WorkerRunner(handle_sigint=False)

    async def drive() -> None:
        await asyncio.sleep(1.0)  # the StartFrame reaches the service, which connects
        await worker.queue_frame(LLMRunFrame())
        if spoken:
            question = _spoken_question()
            for start in range(0, len(question), 4800):
                chunk = question[start : start + 4800]
                await worker.queue_frame(InputAudioRawFrame(chunk, 24000, 1))
                await asyncio.sleep(0.05)
        try:
            await asyncio.wait_for(answered.wait(), 120)
        finally:
            await worker.queue_frame(EndFrame())

    await runner.add_workers(worker)
    await asyncio.gather(runner.run(), drive())
    return calls, bytes(answer)


@pytest.mark.parametrize("spoken", [False, True], ids=["text", "spoken"])
async def test_pipecat_realtime_service_calls_a_function(
    agent: Service, llm: LLMStandIn, spoken: bool
) -> None:
    calls, answer = await _pipecat_round_trip(agent, spoken)
    assert calls == ["Paris"]
    heard = _heard(agent, answer)
    _says_the_result(heard)
    assert any(roles[-2:] == ["assistant", "tool"] for roles in _tool_rounds(llm))


# -- LiveKit ------------------------------------------------------------------------------


async def _livekit_generation_audio(generation: Any) -> tuple[list[Any], bytes]:
    """The function calls and the audio of one LiveKit generation."""
    calls = []
    audio = bytearray()

    async def read_calls() -> None:
        async for call in generation.function_stream:
            calls.append(call)

    async def read_messages() -> None:
        async for message in generation.message_stream:
            async for frame in message.audio_stream:
                audio.extend(bytes(frame.data))
            async for _ in message.text_stream:
                pass

    await asyncio.wait_for(asyncio.gather(read_calls(), read_messages()), 120)
    return calls, bytes(audio)


async def _livekit_round_trip(agent: Service, spoken: bool) -> tuple[list[str], bytes]:
    """LiveKit's RealtimeModel session driven directly (no room, no AgentSession): the
    chat context, tools and replies an AgentSession would hand it."""
    import aiohttp
    from livekit import rtc
    from livekit.agents import llm as lk_llm
    from livekit.plugins import openai as lk_openai

    calls: list[str] = []

    @lk_llm.function_tool
    async def get_weather(city: str) -> str:
        """The current weather in a city.

        Args:
            city: The city.
        """
        calls.append(city)
        return json.dumps(RESULT)

    async with aiohttp.ClientSession() as http:
        model = lk_openai.realtime.RealtimeModel(
            base_url=f"{agent.base_url}/v1", api_key=API_KEY, http_session=http
        )
        session = model.session()
        try:
            await session.update_tools([get_weather])
            if spoken:
                # Server VAD ends the turn and the server answers it on its own.
                created: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

                def on_generation(event: Any) -> None:
                    if not created.done():
                        created.set_result(event)

                session.on("generation_created", on_generation)
                question = _spoken_question()
                for start in range(0, len(question), 4800):
                    chunk = question[start : start + 4800]
                    session.push_audio(rtc.AudioFrame(chunk, 24000, 1, len(chunk) // 2))
                    await asyncio.sleep(0.05)
                first = await asyncio.wait_for(created, 60)
            else:
                chat = lk_llm.ChatContext()
                chat.add_message(role="user", content=QUESTION)
                await session.update_chat_ctx(chat)
                first = await session.generate_reply()  # waits for the echoed metadata
            wanted, _ = await _livekit_generation_audio(first)
            chat = session.chat_ctx.copy()
            for call in wanted:
                arguments = json.loads(call.arguments)
                output = await get_weather(arguments["city"])
                chat.items.append(
                    lk_llm.FunctionCallOutput(
                        call_id=call.call_id, name=call.name, output=output, is_error=False
                    )
                )
            await session.update_chat_ctx(chat)
            second = await session.generate_reply()
            _, answer = await _livekit_generation_audio(second)
        finally:
            await session.aclose()
            await model.aclose()
    return calls, answer


@pytest.mark.parametrize("spoken", [False, True], ids=["text", "spoken"])
async def test_livekit_realtime_model_calls_a_function(
    agent: Service, llm: LLMStandIn, spoken: bool
) -> None:
    calls, answer = await _livekit_round_trip(agent, spoken)
    assert calls == ["Paris"]
    heard = _heard(agent, answer)
    _says_the_result(heard)
    assert any(roles[-2:] == ["assistant", "tool"] for roles in _tool_rounds(llm))
