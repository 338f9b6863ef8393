"""A local stand-in for Ollama's OpenAI-compatible API, since no LLM can run here.

A real HTTP server (uvicorn in a thread, on a free loopback port) serving what Ollama's
``/v1`` serves and the voice agent uses: ``POST /v1/chat/completions`` streamed as SSE
chunks shaped like Ollama's (every delta carries ``role``, ``system_fingerprint`` is
``fp_ollama``, a last chunk with ``finish_reason``, a usage chunk when
``stream_options.include_usage``, then ``data: [DONE]``) and not streamed, and
``GET /v1/models``. It answers every chat with :attr:`LLMStandIn.reply`, sent token by
token with a configurable delay, records the requests it received, and can fail (500),
hang (accept the request, never answer) or refuse unknown models (404) like Ollama.

Function calling, as Ollama's OpenAI-compatible API does it: given ``tools``, a weather
question (or ``tool_choice`` ``"required"`` / a named function) is answered with tool calls,
streamed as one chunk holding every whole call (``id`` ``call_…``, ``type`` ``function``,
name, full JSON arguments) and then a ``finish_reason`` ``"tool_calls"`` chunk; not streamed,
as ``message.tool_calls``. ``tool_choice`` ``"none"`` gets text. A request whose last messages
are ``tool`` results (after the assistant's call) is answered in text from those results,
e.g. "It is 21 degrees and sunny in Paris.". Requests without tools are answered as before.
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

_WEATHER = re.compile(r"\b(weather|temperature|forecast|degrees|raining|sunny)\b", re.IGNORECASE)
# "in Paris", "in New York and in Rome", "in Paris and Rome": the places a question names.
_PLACES = re.compile(r"\bin ([A-Z][\w'-]*(?: [A-Z][\w'-]*)*(?:,? and (?:in )?[A-Z][\w'-]*)*)")
_PLACE_ARGUMENTS = ("city", "location", "place", "town", "where")
_CALL_ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


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
    content_before_tool_calls: str = ""
    """Text a model says before its tool calls (some do); streamed token by token first."""
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


def _text(content: Any) -> str:
    """A message's text, whether a string or a list of content parts."""
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return "" if content is None else str(content)


def _last_user_text(body: dict[str, Any]) -> str:
    user = [m for m in body.get("messages", []) if m.get("role") == "user"]
    return _text(user[-1].get("content")) if user else ""


def _places(question: str) -> list[str]:
    found = _PLACES.search(question)
    if not found:
        return []
    return [p.strip() for p in re.split(r",? and (?:in )?", found.group(1)) if p.strip()]


def _function(tool: dict[str, Any]) -> dict[str, Any]:
    function = tool.get("function")
    return function if isinstance(function, dict) else {}


def _about_weather(tool: dict[str, Any]) -> bool:
    function = _function(tool)
    return bool(_WEATHER.search(f"{function.get('name', '')} {function.get('description', '')}"))


def _arguments(tool: dict[str, Any], place: str) -> dict[str, Any]:
    """Arguments for ``tool`` from its JSON schema: the place for a place-like string,
    the first value of an enum, plain values for the other required fields."""
    schema = _function(tool).get("parameters") or {}
    properties: dict[str, Any] = schema.get("properties") or {}
    required = set(schema.get("required") or [])
    arguments: dict[str, Any] = {}
    for name, spec in properties.items():
        spec = spec if isinstance(spec, dict) else {}
        kind = spec.get("type")
        if spec.get("enum"):
            if name in required:
                arguments[name] = spec["enum"][0]
        elif kind == "string" and (name.lower() in _PLACE_ARGUMENTS or name in required):
            arguments[name] = place if name.lower() in _PLACE_ARGUMENTS else "unknown"
        elif name in required:
            defaults = {"integer": 1, "number": 1, "boolean": False, "array": [], "object": {}}
            arguments[name] = defaults.get(str(kind), "")
    return arguments


class ToolChoiceError(ValueError):
    """``tool_choice`` names a function that is not among ``tools`` (a 400, as OpenAI)."""


def _tool_calls(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The calls a tool-calling model would make for this request (none: answer in text)."""
    tools = [t for t in body.get("tools") or [] if _function(t).get("name")]
    choice = body.get("tool_choice", "auto")
    if not tools or choice == "none" or _answering_tool_results(body):
        return []
    question = _last_user_text(body)
    if isinstance(choice, dict):
        name = _function(choice).get("name")
        tools = [t for t in tools if _function(t).get("name") == name]
        if not tools:
            raise ToolChoiceError(f"tool_choice names function {name!r}, which is not in tools")
        chosen: dict[str, Any] | None = tools[0]
    else:
        weather = [t for t in tools if _about_weather(t)]
        if _WEATHER.search(question) and weather:
            chosen = weather[0]
        else:
            chosen = tools[0] if choice == "required" else None
    if chosen is None:
        return []
    return [
        {
            "id": "call_" + "".join(secrets.choice(_CALL_ID_ALPHABET) for _ in range(8)),
            "index": index,
            "type": "function",
            "function": {
                "name": _function(chosen)["name"],
                "arguments": json.dumps(_arguments(chosen, place)),
            },
        }
        for index, place in enumerate(_places(question) or ["here"])
    ]


def _answering_tool_results(body: dict[str, Any]) -> bool:
    messages = body.get("messages") or []
    return bool(messages) and messages[-1].get("role") == "tool"


def _call_places(body: dict[str, Any]) -> dict[str, str]:
    """Each tool call id in the history with the place its arguments named."""
    places: dict[str, str] = {}
    for message in body.get("messages", []):
        for call in message.get("tool_calls") or []:
            try:
                arguments = json.loads(_function(call).get("arguments") or "{}")
            except json.JSONDecodeError:
                arguments = {}
            named = (
                [str(v) for k, v in arguments.items() if k.lower() in _PLACE_ARGUMENTS]
                if isinstance(arguments, dict)
                else []
            )
            places[str(call.get("id"))] = named[0] if named else ""
    return places


def _spoken_result(output: str, place: str) -> str:
    """One sentence saying a tool result: ``{"temperature": 21, "condition": "sunny"}`` or
    ``21 degrees and sunny`` in Paris -> "It is 21 degrees and sunny in Paris."."""
    try:
        result = json.loads(output)
    except json.JSONDecodeError:
        result = output
    if isinstance(result, dict):
        place = str(result.get("city") or result.get("location") or place)
        parts = []
        for key in ("temperature", "temperature_c", "temp", "degrees"):
            if key in result:
                parts.append(f"{result[key]} degrees")
                break
        for key in ("condition", "conditions", "weather", "sky", "description"):
            if key in result:
                parts.append(str(result[key]))
                break
        said = " and ".join(parts) or ", ".join(f"{k} {v}" for k, v in result.items())
    else:
        said = str(result).strip().rstrip(".")
    return f"It is {said} in {place}." if place else f"It is {said}."


def _answer_from_tool_results(body: dict[str, Any]) -> str:
    messages = body.get("messages") or []
    results = []
    for message in reversed(messages):
        if message.get("role") != "tool":
            break
        results.append(message)
    places = _call_places(body)
    spoken = [
        _spoken_result(_text(m.get("content")), places.get(str(m.get("tool_call_id")), ""))
        for m in reversed(results)
    ]
    return " ".join(spoken)


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
        try:
            calls = _tool_calls(body)
        except ToolChoiceError as exc:
            return _error(400, str(exc))
        if calls:
            reply = state.content_before_tool_calls
        elif _answering_tool_results(body):
            reply = _answer_from_tool_results(body)
        else:
            reply = state.reply
        if not body.get("stream"):
            await asyncio.sleep(state.first_token_delay_s)
            message: dict[str, Any] = {"role": "assistant", "content": reply}
            if calls:
                message["tool_calls"] = calls
            return JSONResponse(
                {
                    "id": cid,
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": model,
                    "system_fingerprint": "fp_ollama",
                    "choices": [
                        {
                            "index": 0,
                            "message": message,
                            "finish_reason": "tool_calls" if calls else "stop",
                        }
                    ],
                    "usage": _usage(body, reply),
                }
            )
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        return StreamingResponse(
            _sse(state, body, cid, model, include_usage, reply, calls),
            media_type="text/event-stream",
        )

    return Starlette(
        routes=[
            Route("/v1/models", models, methods=["GET"]),
            Route("/v1/chat/completions", chat, methods=["POST"]),
        ]
    )


async def _sse(
    state: LLMStandIn,
    body: dict[str, Any],
    cid: str,
    model: str,
    include_usage: bool,
    reply: str,
    calls: list[dict[str, Any]],
) -> AsyncIterator[str]:
    finished = False
    try:
        await asyncio.sleep(state.first_token_delay_s)
        for index, token in enumerate(tokens(reply)):
            if index:
                await asyncio.sleep(state.token_delay_s)
            delta: dict[str, Any] = {"role": "assistant", "content": token}
            yield f"data: {json.dumps(_chunk(cid, model, delta, None))}\n\n"
        if calls:
            # Ollama parses a model's calls whole and sends them in one chunk.
            await asyncio.sleep(state.token_delay_s if reply else 0.0)
            delta = {"role": "assistant", "content": "", "tool_calls": calls}
            yield f"data: {json.dumps(_chunk(cid, model, delta, None))}\n\n"
        finish = "tool_calls" if calls else "stop"
        final = _chunk(cid, model, {"role": "assistant", "content": ""}, finish)
        yield f"data: {json.dumps(final)}\n\n"
        if include_usage:
            usage = {
                **_chunk(cid, model, {}, None),
                "choices": [],
                "usage": _usage(body, reply),
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
