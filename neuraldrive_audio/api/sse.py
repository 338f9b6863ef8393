"""Server-sent events framing, in one place."""

from __future__ import annotations

import json
from typing import Any

DONE = "data: [DONE]\n\n"
"""The last frame of an OpenAI chat completions stream."""


def sse(payload: dict[str, Any]) -> str:
    """One ``data:`` frame. No ``id:`` field: the OpenAI SDK mishandles keep-alive
    comments after one."""
    return f"data: {json.dumps(payload)}\n\n"
