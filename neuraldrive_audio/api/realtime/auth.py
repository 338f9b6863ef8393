"""Who may open a realtime session: the Bearer header, or the browser's subprotocol form.

A browser's WebSocket cannot set headers, so OpenAI's clients put the key in the offered
subprotocols: ``Sec-WebSocket-Protocol: realtime, openai-insecure-api-key.<key>``. The
server then accepts with the ``realtime`` subprotocol (never echoing the key).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from starlette.datastructures import Headers

KEY_PROTOCOL_PREFIX = "openai-insecure-api-key."
REALTIME_PROTOCOL = "realtime"


@dataclass(frozen=True)
class Credentials:
    """The key a client offered, and the subprotocol to accept the socket with."""

    key: str | None
    subprotocol: str | None


def offered_credentials(headers: Headers) -> Credentials:
    """The key from ``Authorization: Bearer`` or from the subprotocol list."""
    offered = [
        part.strip()
        for value in headers.getlist("sec-websocket-protocol")
        for part in value.split(",")
        if part.strip()
    ]
    subprotocol = REALTIME_PROTOCOL if REALTIME_PROTOCOL in offered else None
    scheme, _, bearer = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and bearer.strip():
        return Credentials(bearer.strip(), subprotocol)
    for protocol in offered:
        if protocol.startswith(KEY_PROTOCOL_PREFIX):
            return Credentials(protocol[len(KEY_PROTOCOL_PREFIX) :], subprotocol)
    return Credentials(None, subprotocol)


def key_matches(supplied: str | None, expected: str) -> bool:
    """Constant-time comparison."""
    return supplied is not None and hmac.compare_digest(supplied.encode(), expected.encode())
