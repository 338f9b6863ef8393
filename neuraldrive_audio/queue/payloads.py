"""Job payloads and results. They cross Redis as JSON, never pickle (a pickle is code)."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field

from neuraldrive_audio.media.formats import SpeechFormat


class TranscriptionTask(StrEnum):
    """What whisper does with the audio."""

    TRANSCRIBE = "transcribe"
    TRANSLATE = "translate"


class VadSplit(BaseModel):
    """``chunking_strategy``: split the audio at silences (silero VAD) before decoding.

    Fields are OpenAI's ``server_vad`` ones; None keeps faster-whisper's default."""

    threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    prefix_padding_ms: int | None = Field(default=None, ge=0)
    silence_duration_ms: int | None = Field(default=None, ge=0)


class TranscriptionRequest(BaseModel):
    """What to do with the audio; every field has the OpenAI endpoint's default."""

    task: TranscriptionTask = TranscriptionTask.TRANSCRIBE
    language: str | None = Field(
        default=None, description="ISO code of the spoken language; None: detect it."
    )
    prompt: str | None = None
    temperature: float = 0.0
    word_timestamps: bool = False
    logprobs: bool = False
    hotwords: str | None = Field(default=None, description="Words to bias recognition toward.")
    languages: list[str] = Field(
        default_factory=list, description="Language codes the audio may be in (a hint)."
    )
    vad_split: VadSplit | None = Field(
        default=None, description="Split the audio at silences before decoding."
    )


class TranscriptionJob(TranscriptionRequest):
    """Transcribe or translate one uploaded file."""

    job_id: str
    model_id: str
    upload_key: str = Field(description="Redis key holding the uploaded bytes.")


class SpeechJob(BaseModel):
    """Synthesize text sentence by sentence, streaming encoded audio back."""

    job_id: str
    model_id: str
    input: str
    voice: str
    response_format: SpeechFormat = SpeechFormat.MP3
    speed: float = 1.0
    runs_on: bool = False
    """The text stops mid-phrase and its speech goes on in the next job (a live reply's
    first piece, cut by length): the pause after it is trimmed so the join is not heard."""


class TranscriptWord(BaseModel):
    """One word with its time span in seconds."""

    word: str
    start: float
    end: float


class TokenLogprob(BaseModel):
    """One text token with its log-probability, as OpenAI's ``logprobs`` entries."""

    token: str
    logprob: float
    bytes: list[int]


class TranscriptSegment(BaseModel):
    """One whisper segment, shaped like OpenAI's verbose_json segment."""

    id: int
    seek: int
    start: float
    end: float
    text: str
    tokens: list[int]
    temperature: float
    avg_logprob: float
    compression_ratio: float
    no_speech_prob: float
    words: list[TranscriptWord] | None = None
    logprobs: list[TokenLogprob] | None = None


class Transcript(BaseModel):
    """The full result of a transcription job."""

    task: TranscriptionTask
    language: str = Field(description="ISO code as detected or given, e.g. 'en'.")
    duration: float
    text: str
    segments: list[TranscriptSegment]


class SpeechSummary(BaseModel):
    """What a finished speech job reports besides its audio."""

    sample_rate: int
    samples: int
    sentences: int
    input_characters: int


class JobError(BaseModel):
    """A failure a worker reports, mapped by the API to an OpenAI error."""

    status: int = Field(description="HTTP status the API should answer with.")
    code: str
    message: str
    param: str | None = None
    type: Literal["invalid_request_error", "server_error"] = "invalid_request_error"
