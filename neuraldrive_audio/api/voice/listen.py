"""What the user said: audio input (a message part or a committed turn) transcribed on the
workers by the ordinary transcription job, in the interactive lane."""

from __future__ import annotations

import base64
import binascii

from neuraldrive_audio.api.errors import APIError
from neuraldrive_audio.api.job_wait import events_until_final, submit
from neuraldrive_audio.queue import keys
from neuraldrive_audio.queue.client import JobQueue, new_job_id
from neuraldrive_audio.queue.events import EventType
from neuraldrive_audio.queue.payloads import Transcript, TranscriptionJob


def decode_audio(data: str, param: str) -> bytes:
    """The bytes of base64 audio from a request; 400 naming ``param`` when it is not."""
    try:
        audio = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise APIError(
            400, "The audio data is not valid base64.", code="invalid_value", param=param
        ) from exc
    if not audio:
        raise APIError(400, "The audio data is empty.", code="invalid_value", param=param)
    return audio


async def transcribe(
    queue: JobQueue,
    audio: bytes,
    *,
    model_id: str,
    timeout_s: float,
    language: str | None = None,
    prompt: str | None = None,
) -> Transcript:
    """Transcribe ``audio`` (any format ffmpeg decodes) with an installed ASR model.

    Raises the job's ``APIError`` (e.g. 400 for undecodable audio, 429/503 queue errors);
    cancelling the caller aborts the job.
    """
    job_id = new_job_id()
    job = TranscriptionJob(
        job_id=job_id,
        model_id=model_id,
        upload_key=keys.upload(job_id),
        language=language,
        prompt=prompt,
    )
    await submit(queue, keys.TRANSCRIBE_FUNCTION, job, job_id, upload=audio)
    transcript: Transcript | None = None
    async for event in events_until_final(queue, job_id, timeout_s):
        if event.type is EventType.DONE:
            transcript = Transcript.model_validate(event.data["transcript"])
    if transcript is None:
        raise APIError(500, "the transcription job ended without a result")
    return transcript
