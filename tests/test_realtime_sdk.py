"""The typed realtime protocol with the official SDK against the real app, Redis, worker,
models and the LLM stand-in; every server event received is validated strictly against the
SDK's types (tests/realtime_events.py)."""

from __future__ import annotations

import asyncio
import base64
import time
from typing import Any

import numpy as np
import openai
import pytest

from tests.harness import API_KEY, Service
from tests.llm_stand_in import LLMStandIn
from tests.realtime_audio import chunks, sentence_pcm, silence, spoken_turns, stream_in_real_time
from tests.realtime_events import StrictRecorder
from tests.speech_clips import SENTENCES, word_error_rate

pytestmark = pytest.mark.service

COMPLETED = "conversation.item.input_audio_transcription.completed"
FAILED = "conversation.item.input_audio_transcription.failed"


def _transcription(service: Service) -> Any:
    client = openai.AsyncOpenAI(base_url=f"{service.base_url}/v1", api_key=API_KEY)
    return client.realtime.connect(extra_query={"intent": "transcription"})


def _conversation(agent: Service) -> Any:
    client = openai.AsyncOpenAI(base_url=f"{agent.base_url}/v1", api_key=API_KEY)
    return client.realtime.connect(model="gpt-realtime")


def _user_text(text: str, **fields: Any) -> Any:
    content = [{"type": "input_text", "text": text}]
    return {"type": "conversation.item.create",
            "item": {"type": "message", "role": "user", "content": content}, **fields}  # fmt: skip


async def test_transcription_turns_complete_in_commit_order(service: Service) -> None:
    # Long and short sentences alternate, sent 6x faster than real time: the worker batches
    # the turns and a short one can finish before a long one committed earlier.
    sentences = SENTENCES[:6]
    audio = spoken_turns(sentences, gap_ms=900).tobytes()
    session = {"type": "transcription", "audio": {"input": {
        "transcription": {"model": "whisper-1", "language": "en"},
        "turn_detection": {"type": "server_vad", "silence_duration_ms": 400}}}}  # fmt: skip
    async with _transcription(service) as connection:
        recorder = StrictRecorder(connection)
        await recorder.wait_for("session.created")
        await connection.send({"type": "session.update", "session": session})  # type: ignore[arg-type]
        await recorder.wait_for("session.updated")
        for chunk in chunks(audio, 48000 // 10):
            await connection.input_audio_buffer.append(audio=chunk)
            await asyncio.sleep(1 / 60)
        await recorder.wait(lambda _: len(recorder.of(COMPLETED) + recorder.of(FAILED)) >= 6, 120)
        await recorder.stop()
    committed = [e["item_id"] for e in recorder.of("input_audio_buffer.committed")]
    settled = [e["item_id"] for e in recorder.events if e["type"] in (COMPLETED, FAILED)]
    assert len(committed) == len(sentences), recorder.types()
    assert settled == committed
    heard = " ".join(e["transcript"] for e in recorder.of(COMPLETED))
    assert word_error_rate(" ".join(sentences), heard) <= 0.15, heard


async def test_conversation_with_barge_in_is_strictly_valid(
    agent: Service, llm: LLMStandIn
) -> None:
    llm.token_delay_s = 0.3  # still writing when the user speaks
    async with _conversation(agent) as connection:
        recorder = StrictRecorder(connection)
        await connection.send({"type": "session.update", "session": {"type": "realtime"}})  # type: ignore[arg-type]
        await connection.send(_user_text("How do I get to the city?"))
        await connection.response.create()
        await recorder.wait_for("response.output_audio.delta", timeout_s=60)
        interruption = np.concatenate([sentence_pcm("Wait, stop please."), silence(1500)])

        async def send(chunk: str) -> None:
            await connection.input_audio_buffer.append(audio=chunk)

        await stream_in_real_time(send, interruption.tobytes(), 48000)
        done = (await recorder.wait_for("response.done", timeout_s=60))[0]["response"]
        llm.token_delay_s = 0.0
        # The turn that interrupted gets its own answer.
        await recorder.wait_for("response.done", 2, timeout_s=90)
        await recorder.stop()
    assert done["status"] == "cancelled"
    assert done["status_details"]["reason"] == "turn_detected"
    kinds = recorder.types()
    assert kinds.index("input_audio_buffer.speech_started") < kinds.index("response.done")
    assert recorder.of(COMPLETED) and recorder.of("response.done")[1]["response"]["status"] == (
        "completed"
    )


async def test_items_unknown_events_and_output_clear_with_the_sdk(
    agent: Service, llm: LLMStandIn
) -> None:
    async with _conversation(agent) as connection:
        recorder = StrictRecorder(connection)
        text_only = {"type": "realtime", "output_modalities": ["text"]}
        await connection.send({"type": "session.update", "session": text_only})  # type: ignore[arg-type]
        await connection.send(_user_text("Where is the station?", previous_item_id="root"))
        await connection.conversation.item.create(
            item={"type": "message", "role": "system", "id": "sys_1",
                  "content": [{"type": "input_text", "text": "Be brief."}]},
            previous_item_id="root",
        )  # fmt: skip
        added = await recorder.wait_for("conversation.item.added", 2)
        assert added[1]["item"]["id"] == "sys_1" and added[1]["previous_item_id"] is None
        await connection.conversation.item.retrieve(item_id="sys_1")
        retrieved = (await recorder.wait_for("conversation.item.retrieved"))[0]["item"]
        assert retrieved["role"] == "system" and retrieved["content"][0]["text"] == "Be brief."
        await connection.response.create(response={"output_modalities": ["audio"]})
        spoken = (await recorder.wait_for("response.done", timeout_s=60))[0]["response"]
        assert spoken["status"] == "completed"
        item_id = spoken["output"][0]["id"]
        await connection.conversation.item.truncate(
            item_id=item_id, content_index=0, audio_end_ms=800
        )
        await recorder.wait_for("conversation.item.truncated")
        await connection.conversation.item.delete(item_id="sys_1")
        assert (await recorder.wait_for("conversation.item.deleted"))[0]["item_id"] == "sys_1"
        # output_audio_buffer.clear while a reply is spoken cuts it off.
        llm.token_delay_s = 0.2
        await connection.response.create(response={"output_modalities": ["audio"]})
        await recorder.wait_for("response.output_audio.delta", 2, timeout_s=60)
        await connection.output_audio_buffer.clear()
        cleared = (await recorder.wait_for("output_audio_buffer.cleared"))[0]
        second = (await recorder.wait_for("response.done", 2))[1]["response"]
        assert second["status"] == "cancelled" and cleared["response_id"] == second["id"]
        await connection.send({"type": "conversation.item.creat", "event_id": "evt_x"})  # type: ignore[arg-type]
        error = (await recorder.wait_for("error"))[0]["error"]
        await recorder.stop()
    assert error["code"] == "invalid_value" and error["param"] == "type"
    assert error["event_id"] == "evt_x" and "'conversation.item.create'" in error["message"]
    audio = b"".join(
        base64.b64decode(e["delta"])
        for e in recorder.of("response.output_audio.delta")
        if e["response_id"] == spoken["id"]
    )
    assert len(audio) > 24000  # a spoken reply came before the clear


async def test_a_16_mb_message_gets_an_error_at_once_and_the_session_goes_on(
    service: Service,
) -> None:
    async with _transcription(service) as connection:
        recorder = StrictRecorder(connection)
        await recorder.wait_for("session.created")
        audio = "A" * 16_000_000
        huge = f'{{"type": "input_audio_buffer.append", "event_id": "evt_big", "audio": "{audio}"}}'
        sent = time.monotonic()
        await connection.send_raw(huge)  # type: ignore[attr-defined]
        error = (await recorder.wait_for("error", timeout_s=10))[0]["error"]
        answered_s = time.monotonic() - sent
        await connection.send({"type": "input_audio_buffer.clear"})  # type: ignore[arg-type]
        await recorder.wait_for("input_audio_buffer.cleared")
        await recorder.stop()
    assert error["code"] == "message_too_large" and error["type"] == "invalid_request_error"
    print(f"16 MB message: error after {answered_s * 1000:.0f} ms")
