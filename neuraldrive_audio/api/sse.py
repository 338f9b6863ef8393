"""Server-sent events, in one place: the frame and the streamed response."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi.responses import StreamingResponse

MEDIA_TYPE = "text/event-stream"

DONE = "data: [DONE]\n\n"
"""The last frame of an OpenAI chat completions stream."""


def sse(payload: dict[str, Any]) -> str:
    """One ``data:`` frame. No ``id:`` field: the OpenAI SDK mishandles keep-alive
    comments after one."""
    return f"data: {json.dumps(payload)}\n\n"


def sse_response(frames: AsyncIterator[str]) -> StreamingResponse:
    """A streamed ``text/event-stream`` response of ``frames`` (not to be cached)."""
    return StreamingResponse(frames, media_type=MEDIA_TYPE, headers={"Cache-Control": "no-cache"})
