"""CLI commands that are clients of a running service (transcribe, speak, jobs)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import httpx

from neuraldrive_audio.cli.client import ServiceClient
from neuraldrive_audio.cli.failures import CommandFailed


def transcribe(client: ServiceClient, file: Path, model: str, response_format: str) -> None:
    """Transcribe a file, showing segments on stderr as they are recognised."""
    started = time.monotonic()
    with file.open("rb") as handle:
        files = {"file": (file.name, handle)}
        data = {"model": model, "response_format": response_format}
        if response_format in ("json", "text"):
            data["stream"] = "true"
        with client.http.stream(
            "POST", "/v1/audio/transcriptions", files=files, data=data
        ) as response:
            client.fail_on_error(response)
            if data.get("stream") != "true":
                sys.stdout.write(response.read().decode())
                return
            text = _print_stream(response, started)
    if response_format == "json":
        print(json.dumps({"text": text}))
    else:
        print(text)


def _print_stream(response: httpx.Response, started: float) -> str:
    text = ""
    for line in response.iter_lines():
        if not line.startswith("data: "):
            continue
        event = json.loads(line[6:])
        if event["type"] == "transcript.text.delta":
            print(f"[{time.monotonic() - started:6.1f}s]{event['delta']}", file=sys.stderr)
        elif event["type"] == "transcript.text.done":
            text = event["text"]
        elif event["type"] == "error":
            raise CommandFailed(f"the service failed: {event['error']['message']}")
    return text


def speak(
    client: ServiceClient, text: str, model: str, voice: str, response_format: str, out: Path
) -> None:
    """Synthesize ``text`` into ``out``, writing audio as it streams in."""
    body = {"model": model, "voice": voice, "input": text, "response_format": response_format}
    started = time.monotonic()
    with client.http.stream("POST", "/v1/audio/speech", json=body) as response:
        client.fail_on_error(response)
        written = 0
        with out.open("wb") as handle:
            for chunk in response.iter_bytes():
                if not written:
                    print(f"first audio after {time.monotonic() - started:.2f} s", file=sys.stderr)
                written += handle.write(chunk)
    print(f"wrote {written} bytes to {out} in {time.monotonic() - started:.2f} s", file=sys.stderr)
