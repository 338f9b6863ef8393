"""A local stand-in for Ollama's OpenAI-compatible API, since no LLM can run here.

A real HTTP server (uvicorn in a thread, on a free loopback port) serving what Ollama's
``/v1`` serves and the voice agent uses: ``POST /v1/chat/completions`` streamed as SSE
chunks shaped like Ollama's (every delta carries ``role``, ``system_fingerprint`` is
``fp_ollama``, a last chunk with ``finish_reason``, a usage chunk when
``stream_options.include_usage``, then ``data: [DONE]``) and not streamed, and
``GET /v1/models``. It answers every chat with :attr:`LLMStandIn.reply`, sent token by
token with a configurable delay, records the requests it received, and can fail (500),
hang (accept the request, never answer) or refuse unknown models (404) like Ollama.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

MODEL = "llama3.2:latest"
# No numbers: whisper writes them as digits, which a word error rate counts as wrong.
DEFAULT_REPLY = (
    "The next train to the city leaves from the main platform in a few minutes. "
    "You can buy your ticket at the machine near the entrance, or on the train itself."
)

# Roughly how a BPE tokenizer cuts English: words with their leading space, punctuation
# apart, long words in pieces.
_TOKEN = re.compile(r"\s*[A-Za-z']{1,7}|\s*\d|\s*[^\sA-Za-z\d]|\s+")

Mode = Literal["ok", "fail", "hang"]


def tokens(text: str) -> list[str]:
    """``text`` cut into token-like pieces whose concatenation is ``text``."""
    return _TOKEN.findall(text)


@dataclass
class LLMStandIn:
    """The stand-in's behaviour (change it between requests) and what it has received."""

    reply: str = DEFAULT_REPLY
    token_delay_s: float = 0.0
    first_token_delay_s: float = 0.0
    mode: Mode = "ok"
    models: list[str] = field(default_factory=lambda: [MODEL])
    requests: list[dict[str, Any]] = field(default_factory=list)
    base_url: str = ""
    streams_closed_early: int = 0
    _closed: threading.Condition = field(default_factory=threading.Condition, repr=False)

    def wait_closed_early(self, count: int, timeout_s: float) -> bool:
        """Blocking: wait until ``count`` streams were closed by the client before the end."""
        with self._closed:
            return self._closed.wait_for(lambda: self.streams_closed_early >= count, timeout_s)

    def user_texts(self) -> list[str]:
        """Text of the last user message of every chat request received, in order."""
        texts = []
        for body in self.requests:
            user = [m for m in body.get("messages", []) if m.get("role") == "user"]
            if user:
                content = user[-1]["content"]
                if isinstance(content, list):
                    content = " ".join(p.get("text", "") for p in content)
                texts.append(str(content))
        return texts

    def _known(self, model: str) -> bool:
        # Ollama accepts a name with or without its ":latest" tag.
        return model in self.models or f"{model}:latest" in self.models


def _chunk(cid: str, model: str, delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
    return {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": "fp_ollama",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def _usage(body: dict[str, Any], reply: str) -> dict[str, int]:
    prompt = sum(len(tokens(str(m.get("content", "")))) for m in body.get("messages", []))
    completion = len(tokens(reply))
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _error(status: int, message: str) -> JSONResponse:
    body = {"error": {"message": message, "type": "api_error", "param": None, "code": None}}
    return JSONResponse(body, status_code=status)


def _app(state: LLMStandIn) -> Starlette:
    async def models(_: Request) -> Response:
        data = [
            {"id": m, "object": "model", "created": 1730000000, "owned_by": "library"}
            for m in state.models
        ]
        return JSONResponse({"object": "list", "data": data})

    async def chat(request: Request) -> Response:
        body = await request.json()
        state.requests.append(body)
        if state.mode == "hang":
            await asyncio.Event().wait()
        if state.mode == "fail":
            return _error(500, "llama runner process has terminated: signal: killed")
        model = str(body.get("model", ""))
        if not state._known(model):
            return _error(404, f'model "{model}" not found, try pulling it first')
        cid = f"chatcmpl-{secrets.randbelow(1000)}"
        if not body.get("stream"):
            await asyncio.sleep(state.first_token_delay_s)
            message = {"role": "assistant", "content": state.reply}
            return JSONResponse(
                {
                    "id": cid,
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": model,
                    "system_fingerprint": "fp_ollama",
                    "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                    "usage": _usage(body, state.reply),
                }
            )
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        return StreamingResponse(
            _sse(state, body, cid, model, include_usage), media_type="text/event-stream"
        )

    return Starlette(
        routes=[
            Route("/v1/models", models, methods=["GET"]),
            Route("/v1/chat/completions", chat, methods=["POST"]),
        ]
    )


async def _sse(
    state: LLMStandIn, body: dict[str, Any], cid: str, model: str, include_usage: bool
) -> AsyncIterator[str]:
    finished = False
    try:
        await asyncio.sleep(state.first_token_delay_s)
        for index, token in enumerate(tokens(state.reply)):
            if index:
                await asyncio.sleep(state.token_delay_s)
            delta = {"role": "assistant", "content": token}
            yield f"data: {json.dumps(_chunk(cid, model, delta, None))}\n\n"
        final = _chunk(cid, model, {"role": "assistant", "content": ""}, "stop")
        yield f"data: {json.dumps(final)}\n\n"
        if include_usage:
            usage = {
                **_chunk(cid, model, {}, None),
                "choices": [],
                "usage": _usage(body, state.reply),
            }
            yield f"data: {json.dumps(usage)}\n\n"
        yield "data: [DONE]\n\n"
        finished = True
    finally:
        if not finished:
            with state._closed:
                state.streams_closed_early += 1
                state._closed.notify_all()


@contextmanager
def serve_llm(state: LLMStandIn | None = None) -> Iterator[LLMStandIn]:
    """Run the stand-in on a free loopback port; ``state.base_url`` ends in ``/v1``."""
    state = state or LLMStandIn()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        _app(state), log_level="warning", lifespan="off", timeout_graceful_shutdown=1
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the LLM stand-in did not start")
        time.sleep(0.01)
    state.base_url = f"http://127.0.0.1:{port}/v1"
    try:
        yield state
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
