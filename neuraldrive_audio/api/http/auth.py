"""Bearer-key check on every /v1 route (defence in depth behind the gateway's own check)."""

from __future__ import annotations

import hmac
import ipaddress
from typing import Annotated

from fastapi import Depends, Header, Request

from neuraldrive_audio.api.http.errors import APIError
from neuraldrive_audio.config import get_settings

LOOPBACK_LISTS = frozenset({"/v1/models", "/v1/audio/models", "/v1/audio/voices"})
"""Read-only lists answered without a key to a client on this host talking to us directly:
Open WebUI's settings page fetches them without one (docs/open-webui.md). They name models
and voices, nothing else; through the gateway (a forwarded request) they still need the key."""


def _keyless_list_from_loopback(request: Request) -> bool:
    if request.method not in ("GET", "HEAD") or request.url.path not in LOOPBACK_LISTS:
        return False
    if "forwarded" in request.headers or "x-forwarded-for" in request.headers:
        return False  # relayed by a proxy (Caddy): the client is elsewhere
    try:
        return request.client is not None and ipaddress.ip_address(request.client.host).is_loopback
    except ValueError:
        return False


def _key_error(message: str) -> APIError:
    return APIError(401, message, code="invalid_api_key", headers={"WWW-Authenticate": "Bearer"})


async def require_api_key(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> None:
    """Reject requests without the right ``Authorization: Bearer <key>``."""
    # Our app keeps the key on its state; an app that includes our router reads the config
    # once and keeps it there too (resolving may read the key file).
    expected: str | None = getattr(request.app.state, "api_key", None)
    if not expected:
        expected = get_settings().resolve_api_key()
        request.app.state.api_key = expected
    if not expected:
        raise APIError(503, "No API key is configured on the server.", code="no_api_key")
    if not authorization:
        if _keyless_list_from_loopback(request):
            return
        raise _key_error("You didn't provide an API key (Authorization: Bearer <key>).")
    scheme, _, supplied = authorization.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        supplied.strip().encode(), expected.encode()
    ):
        raise _key_error("Incorrect API key provided.")


ApiKeyRequired = Depends(require_api_key)
