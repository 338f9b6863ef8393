"""The Ollama stand-in's function calling, driven by the official ``openai`` SDK.

The stand-in replaces the one part that cannot run here (the LLM), so its own shapes are
checked with the strict SDK, streamed and not, before anything else relies on them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam, ChatCompletionToolParam

from tests.llm_stand_in import DEFAULT_REPLY, MODEL, LLMStandIn, serve_llm

WEATHER_TOOL: ChatCompletionToolParam = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city", "unit"],
        },
    },
}
TIME_TOOL: ChatCompletionToolParam = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "The local time.",
        "parameters": {"type": "object", "properties": {}},
    },
}
QUESTION: list[ChatCompletionMessageParam] = [
    {"role": "system", "content": "You are a helpful voice assistant."},
    {"role": "user", "content": "What's the weather like in Paris?"},
]


@pytest.fixture(scope="module")
def served() -> Iterator[LLMStandIn]:
    with serve_llm() as state:
        yield state


@pytest.fixture
def client(served: LLMStandIn) -> openai.OpenAI:
    served.requests.clear()
    served.content_before_tool_calls = ""
    return openai.OpenAI(
        base_url=served.base_url, api_key="ollama", _strict_response_validation=True
    )


def _streamed_calls(stream: Any) -> tuple[str, list[dict[str, Any]], str | None, list[Any]]:
    """Content, merged tool calls, finish reason and the raw chunks of a stream."""
    content, finish, chunks = "", None, []
    calls: dict[int, dict[str, str]] = {}
    for chunk in stream:
        chunks.append(chunk)
        if not chunk.choices:
            continue
        choice = chunk.choices[0]
        content += choice.delta.content or ""
        for call in choice.delta.tool_calls or []:
            merged = calls.setdefault(call.index, {"id": "", "name": "", "arguments": ""})
            merged["id"] += call.id or ""
            merged["name"] += (call.function and call.function.name) or ""
            merged["arguments"] += (call.function and call.function.arguments) or ""
        finish = choice.finish_reason or finish
    return content, [calls[i] for i in sorted(calls)], finish, chunks


def test_a_weather_question_is_a_tool_call_in_one_chunk_like_ollama(
    client: openai.OpenAI,
) -> None:
    stream = client.chat.completions.create(
        model=MODEL,
        messages=QUESTION,
        tools=[TIME_TOOL, WEATHER_TOOL],
        stream=True,
        stream_options={"include_usage": True},
    )
    content, calls, finish, chunks = _streamed_calls(stream)
    assert content == ""
    assert finish == "tool_calls"
    assert len(calls) == 1
    assert calls[0]["id"].startswith("call_")
    assert calls[0]["name"] == "get_weather"
    assert json.loads(calls[0]["arguments"]) == {"city": "Paris", "unit": "celsius"}
    # Ollama's shape: the whole call in one chunk, then the finish chunk, then usage.
    with_calls = [c for c in chunks if c.choices and c.choices[0].delta.tool_calls]
    assert len(with_calls) == 1
    (call,) = with_calls[0].choices[0].delta.tool_calls
    assert call.type == "function"
    assert with_calls[0].choices[0].finish_reason is None
    assert chunks[-1].usage is not None and chunks[-1].choices == []
    assert chunks[-2].choices[0].finish_reason == "tool_calls"


def test_not_streamed_the_call_is_in_the_message(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model=MODEL, messages=QUESTION, tools=[WEATHER_TOOL]
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls is not None
    (call,) = choice.message.tool_calls
    assert call.type == "function"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments)["city"] == "Paris"


def test_the_sdk_stream_helper_assembles_the_call(client: openai.OpenAI) -> None:
    with client.chat.completions.stream(
        model=MODEL, messages=QUESTION, tools=[WEATHER_TOOL]
    ) as stream:
        final = stream.get_final_completion()
    calls = final.choices[0].message.tool_calls
    assert calls is not None and calls[0].function.name == "get_weather"


def test_two_places_are_two_calls_and_text_may_come_first(
    client: openai.OpenAI, served: LLMStandIn
) -> None:
    served.content_before_tool_calls = "Let me check."
    messages: list[ChatCompletionMessageParam] = [
        {"role": "user", "content": "What is the weather in Paris and Rome?"}
    ]
    stream = client.chat.completions.create(
        model=MODEL, messages=messages, tools=[WEATHER_TOOL], stream=True
    )
    content, calls, finish, _ = _streamed_calls(stream)
    assert content == "Let me check."
    assert [json.loads(c["arguments"])["city"] for c in calls] == ["Paris", "Rome"]
    assert len({c["id"] for c in calls}) == 2
    assert finish == "tool_calls"


def test_the_answer_comes_from_the_tool_result(client: openai.OpenAI) -> None:
    first = client.chat.completions.create(model=MODEL, messages=QUESTION, tools=[WEATHER_TOOL])
    calls = first.choices[0].message.tool_calls
    assert calls is not None
    call = calls[0]
    assert call.type == "function"
    history: list[ChatCompletionMessageParam] = [
        *QUESTION,
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.function.name, "arguments": call.function.arguments},
                }
            ],
        },
        {
            "role": "tool",
            "tool_call_id": call.id,
            "content": json.dumps({"temperature": 21, "condition": "sunny"}),
        },
    ]
    stream = client.chat.completions.create(
        model=MODEL, messages=history, tools=[WEATHER_TOOL], stream=True
    )
    content, calls_again, finish, _ = _streamed_calls(stream)
    assert content == "It is 21 degrees and sunny in Paris."
    assert calls_again == [] and finish == "stop"
    # A plain-text tool result reads the same, not streamed too.
    history[-1] = {"role": "tool", "tool_call_id": call.id, "content": "18 degrees and cloudy"}
    answer = client.chat.completions.create(model=MODEL, messages=history, tools=[WEATHER_TOOL])
    assert answer.choices[0].message.content == "It is 18 degrees and cloudy in Paris."


def test_tool_choice_none_auto_required_and_named(client: openai.OpenAI) -> None:
    none = client.chat.completions.create(
        model=MODEL, messages=QUESTION, tools=[WEATHER_TOOL], tool_choice="none"
    )
    assert none.choices[0].message.tool_calls is None
    assert none.choices[0].message.content == DEFAULT_REPLY

    chat: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Tell me a story."}]
    auto = client.chat.completions.create(
        model=MODEL, messages=chat, tools=[WEATHER_TOOL], tool_choice="auto"
    )
    assert auto.choices[0].message.tool_calls is None

    required = client.chat.completions.create(
        model=MODEL, messages=chat, tools=[TIME_TOOL, WEATHER_TOOL], tool_choice="required"
    )
    assert required.choices[0].message.tool_calls is not None
    assert required.choices[0].message.tool_calls[0].type == "function"
    assert required.choices[0].message.tool_calls[0].function.name == "get_time"

    named = client.chat.completions.create(
        model=MODEL,
        messages=QUESTION,
        tools=[WEATHER_TOOL, TIME_TOOL],
        tool_choice={"type": "function", "function": {"name": "get_time"}},
    )
    assert named.choices[0].message.tool_calls is not None
    assert named.choices[0].message.tool_calls[0].type == "function"
    assert named.choices[0].message.tool_calls[0].function.name == "get_time"

    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(
            model=MODEL,
            messages=QUESTION,
            tools=[WEATHER_TOOL],
            tool_choice={"type": "function", "function": {"name": "missing"}},
        )


def test_without_tools_the_stream_is_as_before(served: LLMStandIn) -> None:
    """No tools: the plain reply, token chunks then a ``stop`` chunk, as before tools."""
    body = {"model": MODEL, "messages": QUESTION, "stream": True}
    response = httpx.post(f"{served.base_url}/chat/completions", json=body)
    frames = [line[6:] for line in response.text.splitlines() if line.startswith("data: ")]
    assert frames[-1] == "[DONE]"
    chunks = [json.loads(f) for f in frames[:-1]]
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert all(set(d) == {"role", "content"} for d in deltas)
    assert "".join(d["content"] for d in deltas) == DEFAULT_REPLY
    assert [c["choices"][0]["finish_reason"] for c in chunks][-2:] == [None, "stop"]
