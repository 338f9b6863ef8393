"""The voice agent's LLM: any OpenAI-compatible chat completions server (Ollama on the box).

The LLM is a remote service, not a model we host, so the API process calls it directly
with the ``openai`` client, always streamed: tokens are passed on as they arrive and the
whole reply is never held. Failures come out as two typed errors the callers map to
their protocol (HTTP status or a realtime ``error`` event):

- :class:`LLMUnavailableError`: unreachable, timed out, or a 5xx -> "retry later" (503);
- :class:`LLMRequestError`: the LLM refused the request (4xx, e.g. an unknown model).
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import openai
from fastapi import Request
from openai import AsyncOpenAI

from neuraldrive_audio.api.dependencies import app_settings
from neuraldrive_audio.config import Settings

log = logging.getLogger(__name__)

RETRY_AFTER_S = 5
"""What a caller tells its client to wait before retrying when the LLM is unavailable."""

_SNAPSHOT = re.compile(r"-\d{4}-\d{2}-\d{2}$")


class LLMUnavailableError(Exception):
    """The LLM could not be reached, was too slow, or failed on its side (retryable)."""


class LLMRequestError(Exception):
    """The LLM refused the request (a 4xx such as an unknown model); not retryable."""

    def __init__(self, status: int, message: str, body: object | None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.body = body


@dataclass(frozen=True)
class LLMUsage:
    """Token counts the LLM reported for one reply (zeros when it reported none)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass(frozen=True)
class ToolCall:
    """A function the LLM called: its id, name and whole JSON arguments."""

    call_id: str
    name: str
    arguments: str


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


def translate_error(exc: openai.APIError) -> Exception:
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

    async def stream_chunks(self, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """Stream ``body`` (a chat completions request, any fields) chunk by chunk, as the
        JSON objects the server sent. Closing the iterator closes the HTTP stream."""
        fields = {k: v for k, v in body.items() if k not in ("model", "messages", "stream")}
        try:
            stream = await self._client.chat.completions.create(
                model=body["model"], messages=body["messages"], stream=True, extra_body=fields
            )
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
        fields = {k: v for k, v in body.items() if k not in ("model", "messages", "stream")}
        try:
            completion = await self._client.chat.completions.create(
                model=body["model"], messages=body["messages"], stream=False, extra_body=fields
            )
        except openai.APIError as exc:
            raise translate_error(exc) from exc
        return completion.to_dict()

    async def stream_text(
        self, model: str, messages: list[dict[str, Any]], options: dict[str, Any] | None = None
    ) -> AsyncIterator[str | LLMUsage]:
        """The reply's text deltas as they arrive, then its :class:`LLMUsage` last.

        ``options`` are further request fields for the LLM (temperature, max_tokens, ...).
        """
        async for item in self.stream_reply(model, messages, options):
            if not isinstance(item, ToolCall):
                yield item

    async def stream_reply(
        self, model: str, messages: list[dict[str, Any]], options: dict[str, Any] | None = None
    ) -> AsyncIterator[str | ToolCall | LLMUsage]:
        """Text deltas as they arrive, each tool call once complete (``options`` may carry
        ``tools``/``tool_choice``), then the :class:`LLMUsage` last."""
        body = {
            **(options or {}),
            "model": model,
            "messages": messages,
            "stream_options": {"include_usage": True},
        }
        usage = LLMUsage()
        calls: dict[int, dict[str, str]] = {}
        async for chunk in self.stream_chunks(body):
            for choice in chunk.get("choices") or []:
                delta = choice.get("delta") or {}
                if delta.get("content"):
                    yield delta["content"]
                for call in delta.get("tool_calls") or []:
                    _gather_call(calls, call)
            if chunk.get("usage"):
                usage = LLMUsage(
                    int(chunk["usage"].get("prompt_tokens") or 0),
                    int(chunk["usage"].get("completion_tokens") or 0),
                )
        for index in sorted(calls):
            call = calls[index]
            yield ToolCall(call["id"] or f"call_{index}", call["name"], call["arguments"])
        yield usage


def _gather_call(calls: dict[int, dict[str, str]], delta: dict[str, Any]) -> None:
    """Add a streamed ``tool_calls`` delta to the call it continues (by ``index``)."""
    index = int(delta.get("index") or 0)
    call = calls.setdefault(index, {"id": "", "name": "", "arguments": ""})
    call["id"] = call["id"] or str(delta.get("id") or "")
    function = delta.get("function") or {}
    call["name"] += str(function.get("name") or "")
    call["arguments"] += str(function.get("arguments") or "")


def llm_client(request: Request) -> LLMClient:
    """The app's LLM client, made on first use (FastAPI dependency)."""
    client: LLMClient | None = getattr(request.app.state, "llm", None)
    if client is None:
        client = LLMClient.from_settings(app_settings(request))
        request.app.state.llm = client
    return client
