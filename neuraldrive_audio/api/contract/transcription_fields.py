"""The transcription fields real clients send, checked and turned into job settings.

``language`` (shared by /transcriptions and /jobs), ``include[]``, ``chunking_strategy``,
``keywords[]``, ``languages[]`` and the diarization
fields ``known_speaker_names[]`` / ``known_speaker_references[]``. Multipart carries
``chunking_strategy`` either as one field (``auto``, or its object as a JSON string) or, as
the openai SDK sends a dict, flattened into ``chunking_strategy[type]``,
``chunking_strategy[threshold]``, ...
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from neuraldrive_audio.api.http.errors import APIError
from neuraldrive_audio.media.languages import language_code
from neuraldrive_audio.queue.payloads import VadSplit

INCLUDE_VALUES = ("logprobs",)
CHUNKING_PARAM = "chunking_strategy"
_VAD_FIELDS = ("threshold", "prefix_padding_ms", "silence_duration_ms")


def _invalid(param: str, message: str) -> APIError:
    return APIError(400, message, code="invalid_value", param=param)


def parse_include(values: list[str] | None) -> bool:
    """Whether ``include[]`` asks for log-probabilities; 400 for values we don't know."""
    unknown = [v for v in values or [] if v not in INCLUDE_VALUES]
    if unknown:
        raise _invalid(
            "include",
            f"Unsupported include value(s): {', '.join(unknown)}; supported: logprobs.",
        )
    return "logprobs" in (values or [])


def _chunking_object(form: Mapping[str, Any]) -> dict[str, Any] | str | None:
    """The chunking strategy as sent: a string, a JSON object, or flattened fields."""
    flattened = {
        key[len(CHUNKING_PARAM) + 1 : -1]: value
        for key, value in form.items()
        if key.startswith(f"{CHUNKING_PARAM}[") and key.endswith("]")
    }
    if flattened:
        return flattened
    raw = form.get(CHUNKING_PARAM)
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str):
        raise _invalid(CHUNKING_PARAM, "chunking_strategy must be text, not a file.")
    raw = raw.strip()
    if raw.startswith("{"):
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise _invalid(CHUNKING_PARAM, f"chunking_strategy is not valid JSON: {exc}") from exc
        if not isinstance(value, dict):
            raise _invalid(CHUNKING_PARAM, "chunking_strategy must be 'auto' or an object.")
        return value
    return raw


def parse_chunking_strategy(form: Mapping[str, Any]) -> VadSplit | None:
    """``auto`` -> VAD split with default settings; ``server_vad`` object -> with its settings."""
    strategy = _chunking_object(form)
    if strategy is None:
        return None
    if strategy == "auto":
        return VadSplit()
    if isinstance(strategy, str) or strategy.get("type") != "server_vad":
        raise _invalid(
            CHUNKING_PARAM,
            'chunking_strategy must be "auto" or an object with "type": "server_vad".',
        )
    try:
        return VadSplit.model_validate({k: strategy[k] for k in _VAD_FIELDS if k in strategy})
    except ValidationError as exc:
        raise _invalid(
            CHUNKING_PARAM, f"invalid chunking_strategy: {exc.errors()[0]['msg']}"
        ) from exc


def refuse_speaker_references(names: list[str] | None, references: list[str] | None) -> None:
    """Known speakers only make sense when diarizing, which this server cannot do."""
    for param, values in (("known_speaker_names", names), ("known_speaker_references", references)):
        if values:
            raise APIError(
                400,
                f"{param} is only used for speaker diarization, which is not available "
                "on this server.",
                code="diarization_not_available",
                param=param,
            )


def hotwords(keywords: list[str] | None) -> str | None:
    """``keywords[]`` as faster-whisper's hotwords: one space-separated prompt string."""
    words = [k.strip() for k in keywords or [] if k.strip()]
    return " ".join(words) or None


def parse_language(value: str | None) -> str | None:
    """The language code for a ``language`` field (code or English name); 400 if unknown."""
    if not value:
        return None
    code = language_code(value)
    if code is None:
        raise APIError(
            400, f"Unsupported language: '{value}'.", code="invalid_language", param="language"
        )
    return code


def parse_languages(
    language: str | None, languages: list[str] | None
) -> tuple[str | None, list[str]]:
    """(language, hints): ``language`` wins; one ``languages[]`` entry is the language;
    several are a hint."""
    codes = []
    for value in languages or []:
        code = language_code(value)
        if code is None:
            raise APIError(
                400, f"Unsupported language: '{value}'.", code="invalid_language",
                param="languages",
            )  # fmt: skip
        if code not in codes:
            codes.append(code)
    given = parse_language(language)
    if given is not None:
        return given, []
    if len(codes) == 1:
        return codes[0], []
    return None, codes
