"""The voice agent's LLM client against the local Ollama stand-in (real HTTP)."""

from __future__ import annotations

import asyncio
import time

import pytest

from neuraldrive_audio.config import Settings
from neuraldrive_audio.service.llm import (
    LLMClient,
    LLMRequestError,
    LLMUnavailableError,
    LLMUsage,
    llm_model_for,
)
from tests.harness import free_port
from tests.llm_stand_in import MODEL, LLMStandIn

MESSAGES = [{"role": "user", "content": "When does the train leave?"}]


async def _collect(client: LLMClient, model: str = MODEL) -> tuple[str, LLMUsage]:
    text, usage = "", LLMUsage()
    async for item in client.stream_text(model, MESSAGES):
        if isinstance(item, LLMUsage):
            usage = item
        else:
            text += item
    return text, usage


async def test_stream_text_gives_the_reply_and_usage(llm: LLMStandIn) -> None:
    client = LLMClient(llm.base_url, None, timeout_s=5)
    text, usage = await _collect(client)
    await client.aclose()
    assert text == llm.reply
    assert usage.completion_tokens > 10 and usage.prompt_tokens > 0
    assert llm.requests[-1]["stream"] is True
    assert llm.requests[-1]["messages"] == MESSAGES


async def test_tokens_arrive_one_by_one_not_buffered(llm: LLMStandIn) -> None:
    llm.token_delay_s = 0.05
    before = llm.streams_closed_early
    client = LLMClient(llm.base_url, None, timeout_s=5)
    started = time.monotonic()
    stream = client.stream_text(MODEL, MESSAGES)
    first = await anext(stream)
    first_after = time.monotonic() - started
    await stream.aclose()
    await client.aclose()
    assert first == "The"
    # Had the client buffered the reply (~1.5 s at this pace), the stand-in would have sent
    # it all; it was still writing when the first token came out, and saw the close.
    assert await asyncio.to_thread(llm.wait_closed_early, before + 1, 5.0)
    print(f"first token after {first_after * 1000:.0f} ms")


async def test_closing_the_stream_closes_the_llm_request(llm: LLMStandIn) -> None:
    llm.token_delay_s = 0.05
    client = LLMClient(llm.base_url, None, timeout_s=5)
    before = llm.streams_closed_early

    async def consume() -> None:
        async for _ in client.stream_text(MODEL, MESSAGES):
            pass

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    closed = await asyncio.to_thread(llm.wait_closed_early, before + 1, 2.0)
    await client.aclose()
    assert closed, "the LLM stream was still open after the consumer was cancelled"


async def test_llm_down_is_unavailable() -> None:
    client = LLMClient(f"http://127.0.0.1:{free_port()}/v1", None, timeout_s=2)
    with pytest.raises(LLMUnavailableError, match="unreachable"):
        await _collect(client)
    with pytest.raises(LLMUnavailableError):
        await client.complete({"model": MODEL, "messages": MESSAGES})
    await client.aclose()


async def test_llm_failing_is_unavailable(llm: LLMStandIn) -> None:
    llm.mode = "fail"
    client = LLMClient(llm.base_url, None, timeout_s=2)
    with pytest.raises(LLMUnavailableError, match="500"):
        await _collect(client)
    await client.aclose()


async def test_llm_hanging_times_out(llm: LLMStandIn) -> None:
    llm.mode = "hang"
    client = LLMClient(llm.base_url, None, timeout_s=0.5)
    started = time.monotonic()
    with pytest.raises(LLMUnavailableError, match="in time"):
        await _collect(client)
    assert time.monotonic() - started < 3
    await client.aclose()


async def test_unknown_model_is_a_request_error(llm: LLMStandIn) -> None:
    client = LLMClient(llm.base_url, None, timeout_s=2)
    with pytest.raises(LLMRequestError) as caught:
        await _collect(client, model="no-such-model")
    await client.aclose()
    assert caught.value.status == 404
    assert "not found" in caught.value.message


async def test_complete_passes_fields_through(llm: LLMStandIn) -> None:
    client = LLMClient(llm.base_url, "secret", timeout_s=2)
    body = {"model": MODEL, "messages": MESSAGES, "temperature": 0.2, "seed": 7}
    reply = await client.complete(body)
    await client.aclose()
    assert reply["choices"][0]["message"]["content"] == llm.reply
    assert reply["system_fingerprint"] == "fp_ollama"
    assert {k: llm.requests[-1][k] for k in body} == body


def test_openai_audio_names_map_to_the_llm() -> None:
    settings = Settings(llm_model="qwen3:4b")
    for name in ["gpt-realtime", "gpt-4o-audio-preview-2024-12-17", "gpt-4o-mini-audio-preview"]:
        assert llm_model_for(name, settings) == "qwen3:4b"
    for name in ["llama3.2", "gpt-realtime-whisper", "gpt-4o-audio-preview-x"]:
        assert llm_model_for(name, settings) == name
