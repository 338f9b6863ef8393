"""The voice agent's LLM: any OpenAI-compatible chat completions server (Ollama on the box).

The LLM is a remote service, not a model we host, so the API process calls it directly
with the ``openai`` client, always streamed: tokens are passed on as they arrive and the
whole reply is never held. :meth:`LLMClient.stream` gives a typed stream of events:

- :class:`LLMText` — a piece of the reply's text;
- :class:`LLMToolCall` — a piece of a tool call (``index`` says which call; ``id`` and
  ``name`` come with its first piece, ``arguments`` is a fragment of the JSON arguments.
  Ollama often sends a whole call in one piece);
- :class:`LLMFinish` — why the LLM stopped (``stop``, ``tool_calls``, ``length``, ...);
- :class:`LLMUsage` — token counts, always last (zeros when the server reported none).

Request fields beyond ``model``/``messages`` (``tools``, ``tool_choice``, temperature,
...) reach the LLM untouched. Failures are :class:`ServiceError` subclasses:

- :class:`LLMUnavailableError` (``unavailable``): unreachable, timed out, or a 5xx;
- :class:`LLMRequestError` (``not_found``/``invalid_request``): the LLM refused the
  request (a 4xx, e.g. an unknown model); ``status`` is the LLM's own.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

import openai
from openai import AsyncOpenAI

from neuraldrive_audio.config import Settings
from neuraldrive_audio.service.errors import ErrorKind, ServiceError, kind_of_status

log = logging.getLogger(__name__)

RETRY_AFTER_S = 5
"""What a caller tells its client to wait before retrying when the LLM is unavailable."""

_SNAPSHOT = re.compile(r"-\d{4}-\d{2}-\d{2}$")


class LLMUnavailableError(ServiceError):
    """The LLM could not be reached, was too slow, or failed on its side (retryable)."""

    def __init__(self, detail: str) -> None:
        super().__init__(
            ErrorKind.UNAVAILABLE,
            f"The language model is unavailable: {detail}.",
            code="backend_unavailable",
            retry_after_s=RETRY_AFTER_S,
        )


class LLMRequestError(ServiceError):
    """The LLM refused the request (a 4xx such as an unknown model); not retryable."""

    def __init__(self, status: int, message: str, body: object | None) -> None:
        code = "model_not_found" if status == 404 else "llm_request_refused"
        super().__init__(kind_of_status(status), message, code=code)
        self.status = status
        self.body = body


@dataclass(frozen=True)
class LLMText:
    """A piece of the reply's text."""

    text: str


@dataclass(frozen=True)
class LLMToolCall:
    """A piece of tool call ``index``: its id and name (first piece), an arguments fragment."""

    index: int
    id: str | None
    name: str | None
    arguments: str


@dataclass(frozen=True)
class LLMFinish:
    """Why the LLM stopped: ``stop``, ``tool_calls``, ``length``, ..."""

    reason: str


@dataclass(frozen=True)
class LLMUsage:
    """Token counts the LLM reported for one reply (zeros when it reported none)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0


LLMEvent = LLMText | LLMToolCall | LLMFinish | LLMUsage


@dataclass(frozen=True)
class ToolCall:
    """A function the LLM called, whole: its id, name and JSON arguments."""

    call_id: str
    name: str
    arguments: str


def whole_tool_calls(pieces: list[LLMToolCall]) -> list[ToolCall]:
    """The calls ``pieces`` make up (joined by ``index``, in index order); a call the LLM
    sent without an id gets one."""
    calls: dict[int, dict[str, str]] = {}
    for piece in pieces:
        call = calls.setdefault(piece.index, {"id": "", "name": "", "arguments": ""})
        call["id"] = call["id"] or (piece.id or "")
        call["name"] += piece.name or ""
        call["arguments"] += piece.arguments
    return [
        ToolCall(call["id"] or f"call_{index}", call["name"], call["arguments"])
        for index, call in sorted(calls.items())
    ]


def llm_model_for(name: str, settings: Settings) -> str:
    """The LLM model a client's ``model`` means: an OpenAI realtime/audio name (or a dated
    snapshot of one) is the configured LLM; any other name is passed on as it is."""
    family = _SNAPSHOT.sub("", name)
    return settings.llm_model if family in settings.llm_model_families else name


def _status_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])
    return str(exc.message)


def translate_error(exc: openai.APIError) -> ServiceError:
    """The typed error for an ``openai`` client failure talking to the LLM."""
    if isinstance(exc, openai.APIStatusError) and exc.status_code < 500:
        return LLMRequestError(exc.status_code, _status_message(exc), exc.body)
    if isinstance(exc, openai.APITimeoutError):
        return LLMUnavailableError("the LLM did not answer in time")
    if isinstance(exc, openai.APIStatusError):
        return LLMUnavailableError(f"the LLM failed ({exc.status_code}: {_status_message(exc)})")
    if isinstance(exc, openai.APIConnectionError):
        return LLMUnavailableError(f"the LLM is unreachable ({exc.__cause__ or exc})")
    return LLMUnavailableError(f"the LLM sent an unreadable reply ({exc})")


def _tool_calls(delta: dict[str, Any]) -> list[LLMToolCall]:
    calls = []
    for position, call in enumerate(delta.get("tool_calls") or []):
        function = call.get("function") or {}
        calls.append(
            LLMToolCall(
                index=int(call.get("index", position)),
                id=call.get("id"),
                name=function.get("name"),
                arguments=function.get("arguments") or "",
            )
        )
    return calls


def chunk_events(chunk: dict[str, Any]) -> list[LLMEvent]:
    """The events in one streamed chunk (usage excepted: the stream reports it last)."""
    found: list[LLMEvent] = []
    for choice in chunk.get("choices") or []:
        delta = choice.get("delta") or {}
        if delta.get("content"):
            found.append(LLMText(delta["content"]))
        found.extend(_tool_calls(delta))
        if choice.get("finish_reason"):
            found.append(LLMFinish(str(choice["finish_reason"])))
    return found


def _extra_fields(body: dict[str, Any]) -> dict[str, Any]:
    """The request's fields beyond those the SDK takes as arguments, passed on untouched."""
    return {k: v for k, v in body.items() if k not in ("model", "messages", "stream")}


class LLMClient:
    """Chat completions against the configured server; one connection pool per process."""

    def __init__(self, base_url: str, api_key: str | None, timeout_s: float) -> None:
        # No retries: a voice reply that waits for backoff is worse than a fast 503 the
        # client (the SDK retries 503s itself) or the realtime session can act on.
        self._client = AsyncOpenAI(
            base_url=base_url,
            # The SDK insists on a key; Ollama ignores whatever is sent.
            api_key=api_key or "unused",
            timeout=timeout_s,
            max_retries=0,
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> LLMClient:
        """The client for the configured LLM server."""
        return cls(settings.llm_base_url, settings.llm_api_key, settings.llm_timeout_s)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.close()

    async def stream_chunks(self, body: dict[str, Any]) -> AsyncGenerator[dict[str, Any], None]:
        """Stream ``body`` (a chat completions request, any fields) chunk by chunk, as the
        JSON objects the server sent. Closing the iterator closes the HTTP stream."""
        try:
            stream = await self._client.chat.completions.create(
                model=body["model"], messages=body["messages"], stream=True,
                extra_body=_extra_fields(body),
            )  # fmt: skip
        except openai.APIError as exc:
            raise translate_error(exc) from exc
        try:
            async for chunk in stream:
                yield chunk.to_dict()
        except openai.APIError as exc:
            raise translate_error(exc) from exc
        finally:
            # Also on cancellation (barge-in): stop the LLM generating at once.
            with contextlib.suppress(Exception):
                await stream.close()

    async def complete(self, body: dict[str, Any]) -> dict[str, Any]:
        """``body`` (a chat completions request) without streaming; the server's JSON."""
        try:
            completion = await self._client.chat.completions.create(
                model=body["model"], messages=body["messages"], stream=False,
                extra_body=_extra_fields(body),
            )  # fmt: skip
        except openai.APIError as exc:
            raise translate_error(exc) from exc
        return completion.to_dict()

    async def stream(
        self, model: str, messages: list[dict[str, Any]], options: dict[str, Any] | None = None
    ) -> AsyncGenerator[LLMEvent, None]:
        """The reply as typed events (see the module), :class:`LLMUsage` last.

        ``options`` are further request fields for the LLM, passed untouched
        (``tools``, ``tool_choice``, ``temperature``, ``max_tokens``, ...).
        """
        body = {
            **(options or {}),
            "model": model,
            "messages": messages,
            "stream_options": {"include_usage": True},
        }
        usage = LLMUsage()
        # Closed explicitly, so a consumer leaving closes the LLM's HTTP stream at once.
        async with contextlib.aclosing(self.stream_chunks(body)) as chunks:
            async for chunk in chunks:
                for event in chunk_events(chunk):
                    yield event
                if chunk.get("usage"):
                    usage = LLMUsage(
                        int(chunk["usage"].get("prompt_tokens") or 0),
                        int(chunk["usage"].get("completion_tokens") or 0),
                    )
        yield usage

    async def stream_text(
        self, model: str, messages: list[dict[str, Any]], options: dict[str, Any] | None = None
    ) -> AsyncGenerator[str | LLMUsage, None]:
        """The reply's text deltas as they arrive, then its :class:`LLMUsage` last (for
        callers that only speak or show text; tool calls are left out)."""
        async with contextlib.aclosing(self.stream(model, messages, options)) as events:
            async for event in events:
                if isinstance(event, LLMText):
                    yield event.text
                elif isinstance(event, LLMUsage):
                    yield event
