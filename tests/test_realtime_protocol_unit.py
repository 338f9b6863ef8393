"""Fast tests of the typed realtime protocol: every event a conversation session sends is
validated strictly against the openai SDK's types; unknown events, output_audio_buffer.clear,
function calling, the frameworks' needs and the bounds. The reply pipeline is in-process
(the real one: test_voice_session.py, test_realtime_tools.py)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from neuraldrive_audio.api.realtime.conversation import Conversation, ConversationLimits
from neuraldrive_audio.api.realtime.emitter import EventEmitter
from neuraldrive_audio.api.realtime.items import (
    ContentPart,
    FunctionCallItem,
    FunctionCallOutputItem,
    MessageItem,
)
from neuraldrive_audio.api.realtime.registry import RealtimeRegistry
from neuraldrive_audio.api.realtime.responder import ReplyBackend
from neuraldrive_audio.api.realtime.session import (
    ConversationBackend,
    RealtimeSession,
    SessionLimits,
)
from neuraldrive_audio.api.realtime.session_config import SessionConfig
from neuraldrive_audio.service.llm import LLMUsage, ToolCall
from neuraldrive_audio.service.reply import (
    ReplyDone,
    ReplyEvent,
    ReplyTimings,
    ReplyVoice,
    TextDelta,
)
from tests.realtime_events import validate_strictly
from tests.test_voice_session_unit import FakeReplies, _until, _user_text

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}


class ToolReplies(FakeReplies):
    """FakeReplies that, given tools and no tool result yet, call ``get_weather`` (after
    ``say_first``, if set), as a tool-calling LLM would."""

    def __init__(self) -> None:
        super().__init__()
        self.options: list[dict[str, Any]] = []
        self.say_first = ""
        self.calls = 1

    def _calling(self, messages: list[dict[str, Any]], options: dict[str, Any]) -> bool:
        return bool(options.get("tools")) and options.get("tool_choice") != "none" and (
            messages[-1]["role"] != "tool"
        )  # fmt: skip

    async def speak(
        self, model: str, messages: list[dict[str, Any]], voice: ReplyVoice, options: dict[str, Any]
    ) -> AsyncIterator[ReplyEvent]:
        self.options.append(options)
        if not self._calling(messages, options):
            async for event in super().speak(model, messages, voice, options):
                yield event
            return
        self.requests.append(messages)
        async for event in self._calls():
            yield event

    async def _calls(self) -> AsyncIterator[Any]:
        # As the reply pipeline does: the text streams, the whole calls come with the end.
        if self.say_first:
            yield TextDelta(self.say_first)
        calls = tuple(
            ToolCall(f"call_{index}", "get_weather", json.dumps({"city": f"Paris{index}"}))
            for index in range(self.calls)
        )
        yield ReplyDone(self.say_first, [], LLMUsage(5, 3), 0, ReplyTimings(), tool_calls=calls)


def _session(
    replies: FakeReplies, limits: SessionLimits | None = None, kind: str = "realtime"
) -> tuple[RealtimeSession, list[dict[str, Any]]]:
    sent: list[dict[str, Any]] = []

    async def send(text: str) -> None:
        event = json.loads(text)
        if event["type"] != "transcription_session.updated":
            validate_strictly(event)
        sent.append(event)

    backend = ConversationBackend(
        ReplyBackend(replies.speak, replies.write),
        llm_model=lambda name: "llama3.2",
        voice=lambda name, speed: ReplyVoice("piper/x", name, speed),
    )
    session = RealtimeSession(
        emitter=EventEmitter(send),
        queue=None,  # type: ignore[arg-type]  # no audio turns here: nothing is queued
        registry=RealtimeRegistry(4, 4),
        resolve_model=lambda name: "tiny.en",
        limits=limits or SessionLimits(max_buffer_ms=60_000, turn_timeout_s=10),
        config=SessionConfig(type=kind),  # type: ignore[arg-type]
        backend=backend,
    )
    return session, sent


async def _send(rt: RealtimeSession, **event: Any) -> None:
    await rt.handle(json.dumps(event))


def _errors(sent: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e["error"] for e in sent if e["type"] == "error"]


async def test_unknown_event_gets_openais_invalid_value_error() -> None:
    session, sent = _session(FakeReplies())
    await session.start(None)
    await _send(session, type="response.creat", event_id="evt_1")
    error = _errors(sent)[-1]
    assert error["type"] == "invalid_request_error" and error["code"] == "invalid_value"
    assert error["param"] == "type" and error["event_id"] == "evt_1"
    assert error["message"].startswith("Invalid value: 'response.creat'. Supported values are:")
    assert "'output_audio_buffer.clear'" in error["message"]
    assert "not yet supported" not in json.dumps(sent)
    # Wrong field types and missing fields get OpenAI's codes.
    await _send(session, type="conversation.item.retrieve", item_id=7)
    assert _errors(sent)[-1]["code"] == "invalid_type"
    assert _errors(sent)[-1]["param"] == "item_id"
    await _send(session, type="conversation.item.delete")
    assert _errors(sent)[-1] == {**_errors(sent)[-1], "code": "missing_required_parameter",
                                 "message": "Missing required parameter: 'item_id'."}  # fmt: skip
    await _send(session, type="conversation.item.create", item={"type": "function_call_output"})
    assert _errors(sent)[-1]["param"] == "item.call_id"
    # A transcription session has no conversation events.
    transcription, events = _session(FakeReplies(), kind="transcription")
    await transcription.start(None)
    await _send(transcription, type="response.create")
    error = _errors(events)[-1]
    assert error["code"] == "invalid_value"
    assert error["message"].endswith("and 'input_audio_buffer.clear'.")
    await session.close()
    await transcription.close()


async def test_output_audio_buffer_clear_cuts_the_reply_off() -> None:
    replies = FakeReplies()
    replies.hold.clear()  # the reply stalls after its first audio chunk
    session, sent = _session(replies)
    await session.start(None)
    await _send(session, type="output_audio_buffer.clear")
    assert _errors(sent)[-1]["code"] == "output_audio_buffer_empty"
    await _send(session, type="conversation.item.create", item=_user_text("Hi"))
    await _send(session, type="response.create")
    await _until(sent, "response.output_audio.delta")
    await _send(session, type="output_audio_buffer.clear")
    done, cleared = sent[-2], sent[-1]
    assert done["type"] == "response.done" and done["response"]["status"] == "cancelled"
    assert cleared["type"] == "output_audio_buffer.cleared"
    assert cleared["response_id"] == done["response"]["id"]
    # After the response ended, clearing again names it and changes nothing.
    await _send(session, type="output_audio_buffer.clear")
    assert sent[-1] == {**sent[-1], "type": "output_audio_buffer.cleared"}
    await session.close()


async def test_a_tool_call_then_its_result_gets_a_spoken_answer() -> None:
    replies = ToolReplies()
    replies.say_first = "Let me check."
    replies.calls = 2
    session, sent = _session(replies)
    await session.start(None)
    tools = {"type": "realtime", "tools": [WEATHER], "tool_choice": "auto"}
    await _send(session, type="session.update", session=tools)
    # A second, partial update (the Agents SDK's tracing one) keeps the tools.
    await _send(session, type="session.update", session={"type": "realtime", "tracing": "auto"})
    assert sent[-1]["session"]["tools"][0]["name"] == "get_weather"
    await _send(session, type="conversation.item.create", item=_user_text("Weather in Paris?"))
    await _send(session, type="response.create", response={"metadata": {"client_event_id": "e1"}})
    await _until(sent, "response.done")
    assert replies.options[0]["tools"][0]["function"]["name"] == "get_weather"
    assert replies.options[0]["tool_choice"] == "auto"
    created = next(e for e in sent if e["type"] == "response.created")["response"]
    assert created["metadata"] == {"client_event_id": "e1"}
    start = [e["type"] for e in sent].index("response.created")
    kinds = [e["type"] for e in sent[start:] if not e["type"].endswith("audio_transcript.delta")]
    call_events = [
        "response.output_item.added",
        "conversation.item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "conversation.item.done",
    ]
    assert kinds == [
        "response.created",
        "response.output_item.added",
        "conversation.item.added",
        "response.content_part.added",
        "response.output_audio.done",
        "response.output_audio_transcript.done",
        "response.content_part.done",
        "response.output_item.done",
        "conversation.item.done",
        *call_events,
        *call_events,
        "response.done",
    ], kinds
    done = sent[-1]["response"]
    assert done["metadata"] == {"client_event_id": "e1"}
    assert [o["type"] for o in done["output"]] == ["message", "function_call", "function_call"]
    indexes = [e["output_index"] for e in sent if e["type"] == "response.output_item.added"]
    assert indexes == [0, 1, 2]
    call = done["output"][1]
    assert call["call_id"] == "call_0" and json.loads(call["arguments"]) == {"city": "Paris0"}
    arguments = [e for e in sent if e["type"] == "response.function_call_arguments.done"]
    assert arguments[0]["item_id"] == call["id"] and arguments[0]["name"] == "get_weather"
    # The client runs the tools and asks for the answer.
    for index in range(2):
        output = {"type": "function_call_output", "call_id": f"call_{index}",
                  "output": json.dumps({"temperature": 21})}  # fmt: skip
        await _send(session, type="conversation.item.create", item=output)
    await _send(session, type="response.create")
    await _until(sent, "response.done", 2)
    messages = replies.requests[-1]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "tool", "tool"]
    assert messages[2]["content"] == "Let me check."
    assert [c["id"] for c in messages[2]["tool_calls"]] == ["call_0", "call_1"]
    assert messages[3] == {"role": "tool", "tool_call_id": "call_0",
                           "content": json.dumps({"temperature": 21})}  # fmt: skip
    assert sent[-1]["response"]["status"] == "completed"
    # Retrieve, delete on the new item types.
    await _send(session, type="conversation.item.retrieve", item_id=call["id"])
    assert sent[-1]["item"] == {**call, "status": "completed"}
    await _send(session, type="conversation.item.truncate", item_id=call["id"],
                content_index=0, audio_end_ms=0)  # fmt: skip
    assert _errors(sent)[-1]["param"] == "item_id"
    await _send(session, type="conversation.item.delete", item_id=call["id"])
    assert sent[-1] == {**sent[-1], "type": "conversation.item.deleted"}
    await session.close()


async def test_tool_choice_is_overridable_per_response() -> None:
    replies = ToolReplies()
    session, sent = _session(replies)
    await session.start(None)
    tools = {"type": "realtime", "tools": [WEATHER], "tool_choice": "required"}
    await _send(session, type="session.update", session=tools)
    assert sent[-1]["session"]["tool_choice"] == "required"
    await _send(session, type="conversation.item.create", item=_user_text("Hello"))
    await _send(session, type="response.create", response={"tool_choice": "none"})
    await _until(sent, "response.done")
    assert replies.options[-1]["tool_choice"] == "none"
    await _send(session, type="response.create",
                response={"tool_choice": {"type": "function", "name": "get_weather"}})  # fmt: skip
    await _until(sent, "response.done", 2)
    assert replies.options[-1]["tool_choice"] == {
        "type": "function",
        "function": {"name": "get_weather"},
    }
    await _send(session, type="response.create", response={"tools": []})
    await _until(sent, "response.done", 3)
    assert "tools" not in replies.options[-1]
    await session.close()


async def test_client_item_ids_previous_item_and_minimal_update_defaults() -> None:
    session, sent = _session(FakeReplies())
    await session.start(None)
    # Pipecat's first update: type and model only; OpenAI's defaults fill the rest.
    await _send(
        session, type="session.update", session={"type": "realtime", "model": "gpt-realtime"}
    )
    updated = sent[-1]["session"]
    assert updated["output_modalities"] == ["audio"] and updated["tool_choice"] == "auto"
    assert updated["audio"]["input"]["turn_detection"]["type"] == "server_vad"
    assert updated["audio"]["output"]["format"] == {"type": "audio/pcm", "rate": 24000}
    await _send(session, type="conversation.item.create", item={**_user_text("b"), "id": "b"})
    await _send(session, type="conversation.item.create", item={**_user_text("a"), "id": "a"},
                previous_item_id="root")  # fmt: skip
    added = sent[-2]
    assert added["type"] == "conversation.item.added" and added["item"]["id"] == "a"
    assert added["previous_item_id"] is None
    await _send(session, type="conversation.item.create", item={**_user_text("c"), "id": "c"},
                previous_item_id="a")  # fmt: skip
    assert sent[-2]["previous_item_id"] == "a"
    ids = [item.id for item in session.context.conversation.items]
    assert ids == ["a", "c", "b"]
    await _send(session, type="conversation.item.create", item={**_user_text("x"), "id": "a"})
    assert _errors(sent)[-1]["code"] == "item_already_exists"
    await session.close()


async def test_over_size_message_and_config_caps_get_errors_and_the_session_goes_on() -> None:
    limits = SessionLimits(max_buffer_ms=60_000, turn_timeout_s=10, max_message_bytes=100_000)
    session, sent = _session(FakeReplies(), limits)
    await session.start(None)
    await session.handle(json.dumps({"type": "input_audio_buffer.append", "audio": "A" * 200_000}))
    assert _errors(sent)[-1]["code"] == "message_too_large"
    await _send(session, type="session.update",
                session={"type": "realtime", "instructions": "x" * 40_000})  # fmt: skip
    assert _errors(sent)[-1]["code"] == "string_above_max_length"
    tools = [{**WEATHER, "name": f"tool_{i}"} for i in range(129)]
    await _send(session, type="session.update", session={"type": "realtime", "tools": tools})
    assert _errors(sent)[-1]["code"] == "array_above_max_length"
    big = [{**WEATHER, "description": "d" * 30_000, "name": f"t{i}"} for i in range(3)]
    await _send(session, type="session.update", session={"type": "realtime", "tools": big})
    assert _errors(sent)[-1]["code"] == "tools_too_large"
    await _send(session, type="session.update", session={"type": "realtime", "instructions": "ok"})
    assert sent[-1]["type"] == "session.updated" and sent[-1]["session"]["instructions"] == "ok"
    await session.close()


async def test_conversation_bounds_forget_the_oldest_items() -> None:
    limits = SessionLimits(
        max_buffer_ms=60_000,
        turn_timeout_s=10,
        conversation=ConversationLimits(max_items=3, max_bytes=10_000),
    )
    session, sent = _session(FakeReplies(), limits)
    await session.start(None)
    for index in range(5):
        await _send(session, type="conversation.item.create",
                    item={**_user_text(f"turn {index}"), "id": f"i{index}"})  # fmt: skip
    deleted = [e["item_id"] for e in sent if e["type"] == "conversation.item.deleted"]
    assert deleted == ["i0", "i1"]
    assert [i.id for i in session.context.conversation.items] == ["i2", "i3", "i4"]
    await _send(session, type="conversation.item.create", item=_user_text("y" * 20_000))
    assert _errors(sent)[-1]["code"] == "item_too_large"
    await session.close()


def test_context_budget_drops_oldest_turns_and_keeps_tool_pairs_whole() -> None:
    conversation = Conversation(ConversationLimits(context_tokens=100))  # 12 + 60 fit, +44 not

    def text(item_id: str, role: str, words: str) -> MessageItem:
        kind = "output_text" if role == "assistant" else "input_text"
        return MessageItem(item_id, role, [ContentPart(kind, text=words)])  # type: ignore[arg-type]

    conversation.add(text("u1", "user", "an old question " * 10))
    conversation.add(text("a1", "assistant", "an old answer " * 10))
    conversation.add(text("u2", "user", "Weather in Paris?"))
    conversation.add(FunctionCallItem("f1", "call_1", "get_weather", '{"city": "Paris"}'))
    conversation.add(FunctionCallItem("f2", "call_2", "get_time", "{}"))  # never answered
    conversation.add(FunctionCallOutputItem("o1", "call_1", '{"temperature": 21}'))
    conversation.add(FunctionCallOutputItem("o9", "call_9", "orphan"))  # its call is gone
    messages = conversation.llm_messages("Be brief.")
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "tool"]
    assert messages[2]["tool_calls"][0]["id"] == "call_1" and len(messages[2]["tool_calls"]) == 1
    assert messages[3]["tool_call_id"] == "call_1"
    # With room, the old turns come back in order.
    conversation.limits = ConversationLimits(context_tokens=10_000)
    roles = [m["role"] for m in conversation.llm_messages("Be brief.")]
    assert roles == ["system", "user", "assistant", "user", "assistant", "tool"]


@pytest.mark.parametrize("bad", ["[1]", "{", '{"type": 3}', '{"no": "type"}'])
async def test_malformed_messages_get_errors(bad: str) -> None:
    session, sent = _session(FakeReplies())
    await session.start(None)
    await session.handle(bad)
    assert _errors(sent)[-1]["code"] in (
        "invalid_json",
        "invalid_type",
        "missing_required_parameter",
    )
    await session.close()
