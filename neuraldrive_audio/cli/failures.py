"""How the command line fails: one line naming the problem and what to do, and an exit code.

Every client subcommand resolves the service the same way (``ClientTarget``), and every
failure becomes a ``CommandFailed`` that ``main`` prints as ``error: …`` (no traceback).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path

import httpx

from neuraldrive_audio.config import Settings


class ExitCode(IntEnum):
    """The command's exit status (documented in ``--help`` and docs/cli.md)."""

    OK = 0
    FAILED = 1
    """The service answered with an error, or the command refused (e.g. a model in use)."""
    USAGE = 2
    """Bad arguments, or an input file that does not exist."""
    UNREACHABLE = 3
    """No service answers at the URL."""
    UNAUTHORIZED = 4
    """The service refused the API key."""
    NOT_FOUND = 5
    """No such model or job."""
    INTERRUPTED = 130
    """Ctrl-C."""


EXIT_CODES_HELP = (
    "exit codes: 0 ok, 1 the service or the command refused (message says why), 2 bad usage or "
    "input file not found, 3 no service at the URL, 4 API key refused, 5 no such model or job, "
    "130 interrupted"
)


class CommandFailed(Exception):
    """A failure reported as one line with an exit code."""

    def __init__(self, message: str, code: ExitCode = ExitCode.FAILED) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class ClientTarget:
    """Where the client subcommands send requests, with the key, and where both came from."""

    url: str
    url_source: str
    key: str | None
    key_sources: str

    @classmethod
    def resolve(cls, settings: Settings, url: str | None = None) -> ClientTarget:
        """``--url`` first, then the settings' order (``Settings.service_url``)."""
        base, source = (url.rstrip("/"), "--url") if url else settings.service_url()
        return cls(base, source, settings.resolve_api_key(), settings.api_key_sources())


def unreachable(target: ClientTarget, exc: httpx.HTTPError) -> CommandFailed:
    """No HTTP answer at the target."""
    if isinstance(exc, httpx.TimeoutException) and not isinstance(exc, httpx.ConnectTimeout):
        return CommandFailed(
            f"the service at {target.url} stopped answering ({type(exc).__name__}); "
            "check its log, then try again",
            ExitCode.UNREACHABLE,
        )
    return CommandFailed(
        f"no service answers at {target.url} (from {target.url_source}): "
        f"{exc or type(exc).__name__}. Start it with `neuraldrive-audio serve`, or point "
        "--url / NEURALDRIVE_AUDIO_URL at the running one",
        ExitCode.UNREACHABLE,
    )


def missing_file(path: Path) -> CommandFailed:
    """An input file that is not there."""
    return CommandFailed(f"file not found: {path}", ExitCode.USAGE)


def api_failure(
    target: ClientTarget, status: int, message: str, code: str | None, names: list[str]
) -> CommandFailed:
    """The service's error answer; ``names`` are the valid model ids/aliases for a 404."""
    if status in (401, 403):
        return CommandFailed(
            f"the service at {target.url} refused the API key ({status}: {message}). "
            f"The key is read from {target.key_sources}; it must be the key the service uses",
            ExitCode.UNAUTHORIZED,
        )
    if status == 404:
        valid = f"; valid names: {', '.join(names)}" if names else ""
        if code == "model_not_found":
            hint = " (`neuraldrive-audio models list` shows installed models)"
        elif code == "job_not_found":
            hint = " (`neuraldrive-audio jobs list` shows jobs)"
        elif code is None:
            hint = f" ({target.url} may not be a neuraldrive-audio service)"
        else:
            hint = ""
        return CommandFailed(f"{message}{valid}{hint}", ExitCode.NOT_FOUND)
    return CommandFailed(f"the service answered {status}: {message}", ExitCode.FAILED)


def error_fields(response: httpx.Response) -> tuple[str, str | None]:
    """(message, code) of an OpenAI error envelope, or the body's text."""
    try:
        error = response.json()["error"]
        return str(error["message"]), error.get("code")
    except (ValueError, KeyError, TypeError):
        return (response.text.strip() or response.reason_phrase), None
