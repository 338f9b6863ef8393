"""Rendering a transcript in each of OpenAI's response formats."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from fastapi.responses import JSONResponse, PlainTextResponse, Response

from neuraldrive_audio.media.languages import language_name
from neuraldrive_audio.queue.payloads import Transcript, TranscriptionTask, TranscriptSegment
from neuraldrive_audio.service.usage import audio_tokens


class TranscriptFormat(StrEnum):
    """``response_format`` of the transcription and translation endpoints."""

    JSON = "json"
    TEXT = "text"
    SRT = "srt"
    VERBOSE_JSON = "verbose_json"
    VTT = "vtt"


def _timestamp(seconds: float, decimal_mark: str) -> str:
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{decimal_mark}{millis:03d}"


def to_srt(segments: list[TranscriptSegment]) -> str:
    """SubRip cues numbered from 1."""
    return "".join(
        f"{n}\n{_timestamp(s.start, ',')} --> {_timestamp(s.end, ',')}\n{s.text.strip()}\n\n"
        for n, s in enumerate(segments, start=1)
    )


def to_vtt(segments: list[TranscriptSegment]) -> str:
    """WebVTT with its header."""
    cues = "".join(
        f"{_timestamp(s.start, '.')} --> {_timestamp(s.end, '.')}\n{s.text.strip()}\n\n"
        for s in segments
    )
    return f"WEBVTT\n\n{cues}"


def to_verbose_json(transcript: Transcript, words: bool, segments: bool) -> dict[str, Any]:
    """OpenAI's verbose_json object (words only for transcriptions that asked for them)."""
    body: dict[str, Any] = {
        "task": transcript.task.value,
        "language": language_name(transcript.language),
        "duration": transcript.duration,
        "text": transcript.text,
    }
    if segments:
        body["segments"] = [
            s.model_dump(exclude={"words", "logprobs"}) for s in transcript.segments
        ]
    if words and transcript.task is TranscriptionTask.TRANSCRIBE:
        body["words"] = [w.model_dump() for s in transcript.segments for w in s.words or []]
    body["usage"] = usage(transcript)
    return body


def usage(transcript: Transcript) -> dict[str, Any]:
    """Duration-based usage, as OpenAI reports for whisper."""
    return {"type": "duration", "seconds": round(transcript.duration)}


def token_usage(transcript: Transcript) -> dict[str, Any]:
    """Token usage for the stream's done event, whose SDK type only has the token form:
    audio tokens are encoder positions over the audio, output tokens whisper's text tokens."""
    heard = audio_tokens(transcript.duration)
    output_tokens = sum(len(s.tokens) for s in transcript.segments)
    return {
        "type": "tokens",
        "input_tokens": heard,
        "output_tokens": output_tokens,
        "total_tokens": heard + output_tokens,
        "input_token_details": {"audio_tokens": heard, "text_tokens": 0},
    }


def all_logprobs(transcript: Transcript) -> list[dict[str, Any]]:
    """Every segment's token log-probabilities, in order."""
    return [lp.model_dump() for s in transcript.segments for lp in s.logprobs or []]


def render(
    transcript: Transcript,
    response_format: TranscriptFormat,
    granularities: set[str],
    *,
    logprobs: bool = False,
) -> Response:
    """The HTTP response for a finished transcript (json with ``logprobs`` when asked)."""
    match response_format:
        case TranscriptFormat.JSON:
            body: dict[str, Any] = {"text": transcript.text, "usage": usage(transcript)}
            if logprobs:
                body["logprobs"] = all_logprobs(transcript)
            return JSONResponse(body)
        case TranscriptFormat.TEXT:
            return PlainTextResponse(transcript.text + "\n")
        case TranscriptFormat.SRT:
            return PlainTextResponse(to_srt(transcript.segments))
        case TranscriptFormat.VTT:
            return PlainTextResponse(to_vtt(transcript.segments), media_type="text/vtt")
        case TranscriptFormat.VERBOSE_JSON:
            segments = "segment" in granularities or not granularities
            return JSONResponse(to_verbose_json(transcript, "word" in granularities, segments))
