"""Telling a job's caller that it ended: a signed POST, retried with backoff."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time

import httpx

from neuraldrive_audio.api.background.webhook_targets import (
    IPNetwork,
    WebhookTarget,
    WebhookTargetError,
    check_target,
)
from neuraldrive_audio.queue.job_records import JobRecord, WebhookOutcome

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-NeuralDrive-Signature"
TIMESTAMP_HEADER = "X-NeuralDrive-Timestamp"
FIRST_BACKOFF_S = 1.0


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` HMAC over ``"<timestamp>.<body>"`` (the timestamp defeats replays)."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


NETWORK_ERROR = "no answer from the webhook URL (connection failed or timed out)"
REFUSED_TARGET = "the webhook URL resolves to an address that is not allowed"


async def _post(
    client: httpx.AsyncClient, target: WebhookTarget, body: bytes, headers: dict[str, str]
) -> httpx.Response:
    """POST to the checked address, keeping the name for Host and TLS (no second lookup)."""
    url = httpx.URL(target.url)
    pinned = url.copy_with(host=str(target.address))
    host_header = url.netloc.decode().rsplit("@", 1)[-1]
    return await client.post(
        pinned,
        content=body,
        headers={**headers, "Host": host_header},
        extensions={"sni_hostname": target.host},
        follow_redirects=False,
    )


async def deliver(
    client: httpx.AsyncClient,
    record: JobRecord,
    secret: str,
    max_attempts: int,
    allow: list[IPNetwork],
) -> WebhookOutcome:
    """POST ``{id, status}`` to the job's webhook until a 2xx or ``max_attempts`` tries.

    The target is checked again before each attempt (DNS may have changed since the
    submit); the outcome records our own words, never the remote's error text.
    """
    assert record.webhook_url
    body = json.dumps({"id": record.id, "status": record.status.value}).encode()
    outcome = WebhookOutcome()
    delay = FIRST_BACKOFF_S
    while outcome.attempts < max_attempts:
        outcome.attempts += 1
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(secret, timestamp, body),
        }
        try:
            target = await check_target(record.webhook_url, allow)
        except WebhookTargetError:
            outcome.last_error = REFUSED_TARGET
            break
        try:
            response = await _post(client, target, body, headers)
            outcome.last_status, outcome.last_error = response.status_code, None
            if response.is_success:
                outcome.delivered = True
                break
        except httpx.HTTPError:
            outcome.last_status, outcome.last_error = None, NETWORK_ERROR
        log.info("webhook attempt failed", extra={"job_id": record.id, "attempt": outcome.attempts})
        if outcome.attempts < max_attempts:
            await asyncio.sleep(delay)
            delay *= 2
    outcome.finished_at = time.time()
    return outcome
