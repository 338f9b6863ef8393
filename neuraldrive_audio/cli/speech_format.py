"""Which audio format `speak -o FILE` asks for: the file's extension, or --format."""

from __future__ import annotations

from pathlib import Path

from neuraldrive_audio.cli.failures import CommandFailed, ExitCode

SPEECH_FORMATS = ("mp3", "opus", "aac", "flac", "wav", "pcm")
"""The ``response_format`` values of ``/v1/audio/speech``."""

DEFAULT_FORMAT = "mp3"
"""OpenAI's default, used when neither the extension nor --format says otherwise."""

_BY_EXTENSION = {
    ".mp3": "mp3",
    ".opus": "opus",
    ".ogg": "opus",  # the service's opus comes in an Ogg container
    ".aac": "aac",
    ".flac": "flac",
    ".wav": "wav",
    ".pcm": "pcm",
    ".raw": "pcm",
}


def output_format(output: Path, requested: str | None) -> str:
    """The format to request for ``output``; refuses an extension that says another one."""
    implied = _BY_EXTENSION.get(output.suffix.lower())
    if requested is None:
        return implied or DEFAULT_FORMAT
    if implied is not None and implied != requested:
        raise CommandFailed(
            f"--format {requested} contradicts the file name {output.name} ({implied}); "
            f"drop --format or name the file *.{requested}",
            ExitCode.USAGE,
        )
    return requested
