"""Tool round trip in a realtime conversation: ``function_call_output`` + ``response.create``
-> first reply audio, and our overhead over the raw LLM and TTS.

Through the official SDK, the real API, Redis and one worker, with the tool-calling LLM
stand-in (instant) and Piper as the reply voice (``VOICE_TTS_MODEL``). Each run is a fresh
session with one function tool: a user text question, ``response.create`` (the model calls
the tool), then, timed on the client clock, the tool's result as ``function_call_output``
and ``response.create`` -> the first ``response.output_audio.delta``. After each run, in
this process, back to back: the LLM's first token for the same history (the stand-in
through the openai client, tools included) and raw TTS of the first spoken piece of the
answer. Our overhead is the round trip minus the two.

Target (2-core CPU, instant LLM): overhead <= 100 ms.

Run: python bench/bench_realtime_tools.py [--runs N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import openai

from neuraldrive_audio.config import Device, Settings
from neuraldrive_audio.engines import registry
from neuraldrive_audio.engines.base import as_text_to_speech
from neuraldrive_audio.media.clauses import FIRST_PIECE_WORDS, ClauseSplitter
from neuraldrive_audio.media.text import normalize
from neuraldrive_audio.storage.demo_models import PIPER_ID, register_demo_models
from neuraldrive_audio.storage.model_store import ModelStore
from tests.harness import RedisServer, Service
from tests.llm_stand_in import LLMStandIn, serve_llm, tokens

QUESTION = "What is the weather in Paris?"
RESULT = json.dumps({"temperature": 12, "condition": "foggy"})
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "The current weather in a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


def first_piece(reply: str) -> str:
    """What the reply speaks first, as the reply pipeline cuts it."""
    splitter = ClauseSplitter(first_piece_words=FIRST_PIECE_WORDS)
    for token in tokens(reply):
        if clauses := splitter.feed(token):
            return clauses[0]
    return splitter.flush()[0]


async def one_round_trip(service: Service) -> tuple[float, list[dict[str, Any]], str]:
    """A fresh session: the tool call, then the timed result -> first audio. Returns the
    round trip (s), the chat history the answer was written from, and the answer's text."""
    async with service.async_client().realtime.connect(model="gpt-realtime") as connection:
        await connection.session.update(session={"type": "realtime", "tools": [WEATHER]})  # type: ignore[list-item]
        await connection.conversation.item.create(
            item={"type": "message", "role": "user",
                  "content": [{"type": "input_text", "text": QUESTION}]}
        )  # fmt: skip
        await connection.response.create()
        call: dict[str, Any] | None = None
        started = first_audio = 0.0
        answer = ""
        async for event in connection:
            if event.type == "error":
                raise RuntimeError(f"error event: {event.error.message}")
            if event.type == "response.output_item.done" and event.item.type == "function_call":
                call = event.item.model_dump()
            elif event.type == "response.done" and call is not None and not started:
                started = time.perf_counter()
                await connection.conversation.item.create(
                    item={"type": "function_call_output", "call_id": call["call_id"],
                          "output": RESULT}
                )  # fmt: skip
                await connection.response.create()
            elif event.type == "response.output_audio.delta" and started and not first_audio:
                first_audio = time.perf_counter()
            elif event.type == "response.output_audio_transcript.done" and started:
                answer = event.transcript
            elif event.type == "response.done" and started:
                break
    if call is None or not first_audio:
        raise RuntimeError("the round trip ended without a tool call or reply audio")
    history: list[dict[str, Any]] = [
        {"role": "user", "content": QUESTION},
        {"role": "assistant", "content": "", "tool_calls": [{
            "id": call["call_id"], "type": "function",
            "function": {"name": call["name"], "arguments": call["arguments"]}}]},
        {"role": "tool", "tool_call_id": call["call_id"], "content": RESULT},
    ]  # fmt: skip
    return first_audio - started, history, answer


class RawParts:
    """The LLM (stand-in) and Piper in this process, each timed on its own."""

    def __init__(self, store: ModelStore, llm: LLMStandIn) -> None:
        manifest = store.get(PIPER_ID)
        engine = registry.of(manifest).load(
            manifest, store.path_of(manifest), Settings(), Device("cpu")
        )
        self.tts = as_text_to_speech(engine)
        self.llm = openai.OpenAI(base_url=llm.base_url, api_key="unused")

    def llm_first_token_s(self, history: list[dict[str, Any]]) -> float:
        started = time.perf_counter()
        function: Any = {k: v for k, v in WEATHER.items() if k != "type"}
        messages: Any = history
        stream = self.llm.chat.completions.create(
            model="llama3.2",
            messages=messages,
            tools=[{"type": "function", "function": function}],
            stream=True,
        )
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                break
        stream.close()
        return time.perf_counter() - started

    def tts_s(self, text: str) -> float:
        started = time.perf_counter()
        self.tts.synthesize(normalize(text), "en_US-joe-medium", 1.0)
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7, help="round trips measured")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, serve_llm() as llm:
        root = Path(tmp)
        store = ModelStore(root / "models")
        register_demo_models(store)
        redis = RedisServer.start(root)
        service = Service.start(
            f"{redis.url}/0", root / "data", root / "models", llm_base_url=llm.base_url,
            llm_model="llama3.2", voice_tts_model=PIPER_ID,
        )  # fmt: skip
        try:
            raw = RawParts(store, llm)
            _, history, answer = asyncio.run(one_round_trip(service))  # the worker warms up
            piece = first_piece(answer)
            raw.tts_s(piece)
            trips, llm_s, tts_s = [], [], []
            for _ in range(args.runs):
                trip, history, _ = asyncio.run(one_round_trip(service))
                trips.append(trip)
                llm_s.append(raw.llm_first_token_s(history))
                tts_s.append(raw.tts_s(piece))
        finally:
            service.stop()
            redis.stop()
    ours = [t - a - b for t, a, b in zip(trips, llm_s, tts_s, strict=True)]

    def ms(values: list[float]) -> str:
        return (
            f"median {statistics.median(values) * 1000:5.0f} ms  "
            f"(min {min(values) * 1000:5.0f}, max {max(values) * 1000:5.0f})"
        )

    print(f"\ntool round trip, {args.runs} runs, instant LLM, Piper reply voice")
    print(f"  function_call_output + response.create -> first audio  {ms(trips)}")
    print(f"  raw LLM first token (history with the tool result)      {ms(llm_s)}")
    print(f"  raw TTS of the first piece                              {ms(tts_s)}   {piece!r}")
    print(f"  our overhead (round trip minus raw LLM and TTS)         {ms(ours)}")
    met = statistics.median(ours) <= 0.1
    print(f"  target overhead <= 100 ms: {'met' if met else 'MISSED'}")


if __name__ == "__main__":
    main()
