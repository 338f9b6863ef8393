"""Function calling in Chat Completions with audio (``POST /v1/audio/chat/completions``).

Through the official SDK with strict response validation, against the real API, Redis and
worker, with the Ollama stand-in as the LLM: ``tools``/``tool_choice`` reach the LLM, its
tool calls come back as OpenAI returns them (with or without audio, streamed and not), and
a history holding the assistant's call and the ``tool`` result gets the spoken answer.
"""

from __future__ import annotations

import base64
import io
import json
import wave
from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam, ChatCompletionToolParam

from tests.harness import API_KEY, Service
from tests.llm_stand_in import LLMStandIn
from tests.speech_clips import make_clip, word_error_rate

pytestmark = pytest.mark.service

QUESTION = "What is the weather like in Paris?"
ANSWER = "It is 21 degrees and sunny in Paris."
WEATHER: ChatCompletionToolParam = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
AUDIO_MODEL = "gpt-4o-audio-preview"


@pytest.fixture(scope="module")
def spoken_question() -> list[ChatCompletionMessageParam]:
    """The weather question, spoken by the Piper demo voice, as a user message."""
    data = base64.b64encode(make_clip(QUESTION)).decode()
    return [
        {
            "role": "user",
            "content": [{"type": "input_audio", "input_audio": {"data": data, "format": "wav"}}],
        }
    ]


def _client(agent: Service) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=f"{agent.base_url}/v1/audio",
        api_key=API_KEY,
        _strict_response_validation=True,
        max_retries=0,
    )


def _audio(want: bool) -> dict[str, Any]:
    if not want:
        return {}
    return {"modalities": ["text", "audio"], "audio": {"voice": "alloy", "format": "pcm16"}}


def _streamed(stream: Any) -> tuple[list[dict[str, str]], str | None, str, bytes]:
    """Tool calls merged by index, the finish reason, the transcript/text and the audio."""
    calls: dict[int, dict[str, str]] = {}
    finish, text, audio = None, "", b""
    for chunk in stream:
        if not chunk.choices:
            continue
        choice = chunk.choices[0]
        finish = choice.finish_reason or finish
        delta = choice.delta
        text += delta.content or ""
        if delta.audio is not None:
            text += delta.audio.transcript or ""
            audio += base64.b64decode(delta.audio.data or "")
        for call in delta.tool_calls or []:
            merged = calls.setdefault(call.index, {"id": "", "name": "", "arguments": ""})
            merged["id"] += call.id or ""
            if call.function is not None:
                merged["name"] += call.function.name or ""
                merged["arguments"] += call.function.arguments or ""
    return [calls[i] for i in sorted(calls)], finish, text, audio


def _sent_tools(llm: LLMStandIn) -> dict[str, Any]:
    request = llm.requests[-1]
    return {"tools": request.get("tools"), "tool_choice": request.get("tool_choice")}


@pytest.mark.parametrize("with_audio", [True, False], ids=["audio", "text"])
def test_a_spoken_question_gets_a_tool_call(
    agent: Service,
    llm: LLMStandIn,
    spoken_question: list[ChatCompletionMessageParam],
    with_audio: bool,
) -> None:
    completion = _client(agent).chat.completions.create(
        model=AUDIO_MODEL,
        messages=spoken_question,
        tools=[WEATHER],
        tool_choice="auto",
        **_audio(with_audio),
    )
    assert _sent_tools(llm) == {"tools": [WEATHER], "tool_choice": "auto"}
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls is not None
    (call,) = choice.message.tool_calls
    assert call.type == "function" and call.id.startswith("call_")
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    # Nothing was said, so nothing is spoken (OpenAI leaves audio out of a bare call).
    assert choice.message.audio is None
    assert not choice.message.content


@pytest.mark.parametrize("with_audio", [True, False], ids=["audio", "text"])
def test_a_streamed_tool_call(
    agent: Service,
    llm: LLMStandIn,
    spoken_question: list[ChatCompletionMessageParam],
    with_audio: bool,
) -> None:
    stream = _client(agent).chat.completions.create(
        model=AUDIO_MODEL,
        messages=spoken_question,
        tools=[WEATHER],
        stream=True,
        stream_options={"include_usage": True},
        **_audio(with_audio),
    )
    calls, finish, text, audio = _streamed(stream)
    assert _sent_tools(llm)["tools"] == [WEATHER]
    assert finish == "tool_calls"
    assert [c["name"] for c in calls] == ["get_weather"]
    assert calls[0]["id"].startswith("call_")
    assert json.loads(calls[0]["arguments"]) == {"city": "Paris"}
    assert text == "" and audio == b""


def _history(spoken_question: list[ChatCompletionMessageParam]) -> list[Any]:
    """The question, the assistant's call (as the SDK hands it back) and the tool result."""
    call = {"id": "call_w1", "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}  # fmt: skip
    return [
        *spoken_question,
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {
            "role": "tool",
            "tool_call_id": "call_w1",
            "content": '{"temperature": 21, "condition": "sunny"}',
        },
    ]


def _wav(pcm: bytes) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(24_000)
        wav.writeframes(pcm)
    return buffer.getvalue()


def _heard(service: Service, pcm: bytes) -> str:
    client = service.client()
    return client.audio.transcriptions.create(model="whisper-1", file=("a.wav", _wav(pcm))).text


def test_the_tool_result_is_answered_aloud(
    agent: Service,
    service: Service,
    llm: LLMStandIn,
    spoken_question: list[ChatCompletionMessageParam],
) -> None:
    completion = _client(agent).chat.completions.create(
        model=AUDIO_MODEL,
        messages=_history(spoken_question),
        tools=[WEATHER],
        **_audio(True),
    )
    sent = llm.requests[-1]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool"]
    assert sent[1]["tool_calls"][0]["id"] == "call_w1"
    assert sent[2]["tool_call_id"] == "call_w1"
    message = completion.choices[0].message
    assert completion.choices[0].finish_reason == "stop"
    assert message.tool_calls is None
    assert message.audio is not None and message.audio.transcript == ANSWER
    pcm = base64.b64decode(message.audio.data)
    assert word_error_rate(ANSWER, _heard(service, pcm)) <= 0.3


def test_the_tool_result_is_answered_aloud_streamed(
    agent: Service,
    service: Service,
    llm: LLMStandIn,
    spoken_question: list[ChatCompletionMessageParam],
) -> None:
    stream = _client(agent).chat.completions.create(
        model=AUDIO_MODEL,
        messages=_history(spoken_question),
        tools=[WEATHER],
        stream=True,
        **_audio(True),
    )
    calls, finish, text, audio = _streamed(stream)
    assert calls == [] and finish == "stop"
    assert text == ANSWER
    assert word_error_rate(ANSWER, _heard(service, audio)) <= 0.3


def test_text_before_a_call_is_spoken_and_the_call_follows(
    agent: Service,
    llm: LLMStandIn,
    spoken_question: list[ChatCompletionMessageParam],
) -> None:
    llm.content_before_tool_calls = "Let me check the weather for you."
    try:
        completion = _client(agent).chat.completions.create(
            model=AUDIO_MODEL, messages=spoken_question, tools=[WEATHER], **_audio(True)
        )
        stream = _client(agent).chat.completions.create(
            model=AUDIO_MODEL, messages=spoken_question, tools=[WEATHER], stream=True,
            **_audio(True),
        )  # fmt: skip
        calls, finish, text, audio = _streamed(stream)
    finally:
        llm.content_before_tool_calls = ""
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls is not None
    assert choice.message.audio is not None
    assert choice.message.audio.transcript == "Let me check the weather for you."
    assert len(base64.b64decode(choice.message.audio.data)) > 24_000  # half a second
    assert finish == "tool_calls" and [c["name"] for c in calls] == ["get_weather"]
    assert text == "Let me check the weather for you." and len(audio) > 24_000


@pytest.mark.parametrize(
    ("tool_choice", "calls"),
    [("none", False), ("required", True),
     ({"type": "function", "function": {"name": "get_weather"}}, True)],
)  # fmt: skip
def test_tool_choice_goes_to_the_llm(
    agent: Service, llm: LLMStandIn, tool_choice: Any, calls: bool
) -> None:
    messages: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Tell me a story."}]
    completion = _client(agent).chat.completions.create(
        model=AUDIO_MODEL, messages=messages, tools=[WEATHER], tool_choice=tool_choice,
        **_audio(True),
    )  # fmt: skip
    assert llm.requests[-1]["tool_choice"] == tool_choice
    choice = completion.choices[0]
    assert (choice.message.tool_calls is not None) is calls
    assert (choice.message.audio is not None) is (not calls)
