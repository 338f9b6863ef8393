"""Bearer-key check on every /v1 route (defence in depth behind the gateway's own check)."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Header, Request

from neuraldrive_audio.api.errors import APIError
from neuraldrive_audio.config import get_settings


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
        raise _key_error("You didn't provide an API key (Authorization: Bearer <key>).")
    scheme, _, supplied = authorization.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        supplied.strip().encode(), expected.encode()
    ):
        raise _key_error("Incorrect API key provided.")


ApiKeyRequired = Depends(require_api_key)
