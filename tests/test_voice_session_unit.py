"""Fast tests of a conversation session's event sequencing, with an in-process reply
pipeline (the real one needs Redis, workers and an LLM: see test_voice_session.py)."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import numpy as np

from neuraldrive_audio.api.realtime.emitter import EventEmitter
from neuraldrive_audio.api.realtime.registry import RealtimeRegistry
from neuraldrive_audio.api.realtime.responder import ReplyBackend
from neuraldrive_audio.api.realtime.session import (
    ConversationBackend,
    RealtimeSession,
    SessionLimits,
)
from neuraldrive_audio.api.realtime.session_config import SessionConfig
from neuraldrive_audio.api.realtime.spoken import SpokenReply
from neuraldrive_audio.service.llm import LLMEvent, LLMText, LLMUnavailableError, LLMUsage
from neuraldrive_audio.service.reply import (
    AudioDelta,
    ReplyDone,
    ReplyEvent,
    ReplyTimings,
    ReplyVoice,
    TextDelta,
)

CLAUSES = ["Hello there.", "The train leaves soon."]
CLAUSE_SAMPLES = 24_000  # one second of audio per clause, sent in 4 chunks


class FakeReplies:
    """Replies like speak_reply's: text, then each clause's audio; can hang or fail."""

    def __init__(self) -> None:
        self.requests: list[list[dict[str, Any]]] = []
        self.closed_early = 0
        self.fail = False
        self.hold = asyncio.Event()
        self.hold.set()

    async def speak(
        self, model: str, messages: list[dict[str, Any]], voice: ReplyVoice, options: dict[str, Any]
    ) -> AsyncIterator[ReplyEvent]:
        self.requests.append(messages)
        if self.fail:
            raise LLMUnavailableError("the LLM is unreachable")
        finished = False
        try:
            for index, clause in enumerate(CLAUSES):
                yield TextDelta(clause if index == 0 else " " + clause)
            for index, clause in enumerate(CLAUSES):
                for _ in range(4):
                    yield AudioDelta(b"\x01\x00" * (CLAUSE_SAMPLES // 4), index, clause)
                    await self.hold.wait()
            finished = True
            yield ReplyDone(" ".join(CLAUSES), CLAUSES, LLMUsage(10, 8), 48_000, ReplyTimings())
        finally:
            if not finished:
                self.closed_early += 1

    async def write(
        self, model: str, messages: list[dict[str, Any]], options: dict[str, Any]
    ) -> AsyncIterator[LLMEvent]:
        self.requests.append(messages)
        for clause in CLAUSES:
            yield LLMText(clause + " ")
        yield LLMUsage(10, 8)


def _session(replies: FakeReplies) -> tuple[RealtimeSession, list[dict[str, Any]]]:
    sent: list[dict[str, Any]] = []

    async def send(text: str) -> None:
        sent.append(json.loads(text))

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
        limits=SessionLimits(max_buffer_ms=60_000, turn_timeout_s=10),
        config=SessionConfig(type="realtime"),
        backend=backend,
    )
    return session, sent


async def _send(rt: RealtimeSession, **event: Any) -> None:
    await rt.handle(json.dumps(event))


async def _until(sent: list[dict[str, Any]], kind: str, count: int = 1) -> None:
    for _ in range(500):
        if sum(e["type"] == kind for e in sent) >= count:
            return
        await asyncio.sleep(0.005)
    raise AssertionError([e["type"] for e in sent])


def _user_text(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


async def test_text_item_then_response_in_openai_order() -> None:
    replies = FakeReplies()
    session, sent = _session(replies)
    await session.start("gpt-realtime")
    await _send(
        session, type="session.update",
        session={"type": "realtime", "instructions": "Be brief.",
                 "audio": {"output": {"voice": "marin"}}},
    )  # fmt: skip
    await _send(session, type="conversation.item.create", item=_user_text("Where is the train?"))
    await _send(session, type="response.create")
    await _until(sent, "response.done")
    kinds = [e["type"] for e in sent]
    assert kinds[:2] == ["session.created", "session.updated"]
    assert sent[1]["session"]["audio"]["output"]["voice"] == "marin"
    assert kinds[2:4] == ["conversation.item.added", "conversation.item.done"]
    body = [k for k in kinds[4:] if not k.endswith(".delta")]
    assert body == [
        "response.created",
        "response.output_item.added",
        "conversation.item.added",
        "response.content_part.added",
        "response.output_audio.done",
        "response.output_audio_transcript.done",
        "response.content_part.done",
        "response.output_item.done",
        "conversation.item.done",
        "response.done",
    ]
    first_audio = kinds.index("response.output_audio.delta")
    assert kinds.index("response.output_audio_transcript.delta") < first_audio
    assert replies.requests[0] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Where is the train?"},
    ]
    done = sent[-1]["response"]
    assert done["status"] == "completed"
    assert done["output"][0]["content"][0] == {
        "type": "output_audio",
        "transcript": " ".join(CLAUSES),
    }
    assert done["usage"]["output_token_details"] == {"text_tokens": 8, "audio_tokens": 100}
    audio = b"".join(
        base64.b64decode(e["delta"]) for e in sent if e["type"] == "response.output_audio.delta"
    )
    assert len(audio) == 2 * 2 * CLAUSE_SAMPLES
    # The next response reads the reply back as history.
    await _send(session, type="conversation.item.create", item=_user_text("Thanks."))
    await _send(session, type="response.create", response={"output_modalities": ["text"]})
    await _until(sent, "response.done", 2)
    assert [m["role"] for m in replies.requests[1]] == ["system", "user", "assistant", "user"]
    assert replies.requests[1][2]["content"] == " ".join(CLAUSES)
    assert "response.output_text.delta" in [e["type"] for e in sent]
    await session.close()


async def test_one_response_at_a_time_and_cancel_truncates_to_what_was_sent() -> None:
    replies = FakeReplies()
    replies.hold.clear()  # the reply stalls after its first audio chunk
    session, sent = _session(replies)
    await session.start(None)
    await _send(session, type="conversation.item.create", item=_user_text("Hi"))
    await _send(session, type="response.create")
    await _until(sent, "response.output_audio.delta")
    await _send(session, type="response.create", event_id="evt_2")
    error = [e for e in sent if e["type"] == "error"][-1]["error"]
    assert error["code"] == "conversation_already_has_active_response"
    assert error["event_id"] == "evt_2"
    await _send(session, type="response.cancel")
    done = sent[-1]
    assert done["type"] == "response.done"
    assert done["response"]["status"] == "cancelled"
    assert done["response"]["status_details"]["reason"] == "client_cancelled"
    # A quarter second of "Hello there." was sent: about 4 characters, no torn word.
    item = done["response"]["output"][0]
    assert item["status"] == "incomplete"
    assert item["content"][0]["transcript"] in ("", "Hello")
    await asyncio.sleep(0.05)
    assert replies.closed_early == 1
    await _send(session, type="response.cancel")
    assert sent[-1]["error"]["code"] == "response_cancel_not_active"
    await session.close()


async def test_llm_down_fails_the_response_and_the_session_goes_on() -> None:
    replies = FakeReplies()
    replies.fail = True
    session, sent = _session(replies)
    await session.start(None)
    await _send(session, type="conversation.item.create", item=_user_text("Hi"))
    await _send(session, type="response.create")
    await _until(sent, "response.done")
    error = next(e for e in sent if e["type"] == "error")["error"]
    assert error["code"] == "backend_unavailable"
    done = sent[-1]["response"]
    assert done["status"] == "failed" and done["output"] == []
    assert done["status_details"]["error"]["code"] == "backend_unavailable"
    replies.fail = False
    await _send(session, type="response.create")
    await _until(sent, "response.done", 2)
    assert sent[-1]["response"]["status"] == "completed"
    await session.close()


async def test_truncate_delete_retrieve() -> None:
    replies = FakeReplies()
    session, sent = _session(replies)
    await session.start(None)
    await _send(session, type="conversation.item.create", item=_user_text("Hi"))
    await _send(session, type="response.create")
    await _until(sent, "response.done")
    item_id = sent[-1]["response"]["output"][0]["id"]
    await _send(session, type="conversation.item.truncate", item_id=item_id, content_index=0,
                audio_end_ms=1500)  # fmt: skip
    assert sent[-1] == {**sent[-1], "type": "conversation.item.truncated", "audio_end_ms": 1500}
    await _send(session, type="conversation.item.retrieve", item_id=item_id)
    # All of the first clause and half of the second, cut back to a whole word.
    assert sent[-1]["item"]["content"][0]["transcript"] == "Hello there. The train"
    await _send(session, type="conversation.item.truncate", item_id=item_id, content_index=0,
                audio_end_ms=9000)  # fmt: skip
    assert sent[-1]["type"] == "error" and sent[-1]["error"]["param"] == "audio_end_ms"
    await _send(session, type="conversation.item.delete", item_id=item_id)
    assert sent[-1] == {**sent[-1], "type": "conversation.item.deleted", "item_id": item_id}
    await _send(session, type="conversation.item.delete", item_id=item_id)
    assert sent[-1]["error"]["code"] == "item_not_found"
    await session.close()


def test_heard_text_estimates_an_unfinished_clause_from_the_rate_so_far() -> None:
    spoken = SpokenReply(24_000)
    spoken.sent(0, "One two three four.", 24_000)  # 19 characters in a second
    spoken.sent(1, "Five six seven eight nine ten.", 12_000)  # unfinished: half a second
    assert spoken.clauses[0].complete and not spoken.clauses[1].complete
    assert spoken.heard_text() == "One two three four. Five six"
    assert spoken.heard_text(500) == "One two"
    assert spoken.heard_text(0) == ""


def test_g711_output_is_8_khz() -> None:
    from neuraldrive_audio.api.realtime.output_audio import OutputEncoder
    from neuraldrive_audio.api.realtime.session_config import AudioFormat
    from neuraldrive_audio.media import g711

    tone = (np.sin(np.arange(24_000) * 2 * np.pi * 440 / 24_000) * 8000).astype("<i2")
    encoder = OutputEncoder(AudioFormat.PCMU)
    encoded = b"".join(encoder.encode(tone[i : i + 2400].tobytes()) for i in range(0, 24_000, 2400))
    assert abs(len(encoded) - 8000) <= 8
    back = g711.decode_mulaw(encoded)[100:-100].astype(np.float64)
    assert 5000 < np.sqrt(np.mean(back**2)) * np.sqrt(2) < 9000
