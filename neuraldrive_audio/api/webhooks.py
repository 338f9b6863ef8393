"""Telling a job's caller that it ended: a signed POST, retried with backoff."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time

import httpx

from neuraldrive_audio.queue.job_records import JobRecord, WebhookOutcome

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-NeuralDrive-Signature"
TIMESTAMP_HEADER = "X-NeuralDrive-Timestamp"
FIRST_BACKOFF_S = 1.0


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` HMAC over ``"<timestamp>.<body>"`` (the timestamp defeats replays)."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


async def deliver(
    client: httpx.AsyncClient, record: JobRecord, secret: str, max_attempts: int
) -> WebhookOutcome:
    """POST ``{id, status}`` to the job's webhook until a 2xx or ``max_attempts`` tries."""
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
            response = await client.post(record.webhook_url, content=body, headers=headers)
            outcome.last_status, outcome.last_error = response.status_code, None
            if response.is_success:
                outcome.delivered = True
                break
        except httpx.HTTPError as exc:
            outcome.last_error = f"{type(exc).__name__}: {exc}"
        log.info("webhook attempt failed", extra={"job_id": record.id, "attempt": outcome.attempts})
        if outcome.attempts < max_attempts:
            await asyncio.sleep(delay)
            delay *= 2
    outcome.finished_at = time.time()
    return outcome
