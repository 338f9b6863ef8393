"""Merging the collected chunk results of an asynchronous job into its result file.

Runs on the API host (the only one that keeps job files), in a thread: blocking file work.
"""

from __future__ import annotations

import numpy as np

from neuraldrive_audio.media.encode import make_encoder
from neuraldrive_audio.media.formats import SpeechFormat
from neuraldrive_audio.media.resample import OUTPUT_SAMPLE_RATE
from neuraldrive_audio.media.samples import S16LE, from_s16le
from neuraldrive_audio.queue.payloads import Transcript, TranscriptionTask
from neuraldrive_audio.storage.job_files import JobFiles

ENCODE_BLOCK_SAMPLES = OUTPUT_SAMPLE_RATE * 10


def merge_transcript(
    files: JobFiles, job_id: str, task: TranscriptionTask, duration: float | None
) -> None:
    """Join the chunk transcripts in order into result.json with global segment ids."""
    parts = [
        Transcript.model_validate_json(p.read_text())
        for p in sorted((files.dir(job_id) / "chunks").glob("*.json"))
    ]
    segments = [s for part in parts for s in part.segments]
    segments = [s.model_copy(update={"id": i}) for i, s in enumerate(segments)]
    merged = Transcript(
        task=task,
        language=parts[0].language if parts else "en",
        duration=duration or 0.0,
        text=" ".join(p.text for p in parts if p.text).strip(),
        segments=segments,
    )
    files.write_atomic(files.result(job_id, "json"), merged.model_dump_json().encode())
    files.samples(job_id).unlink(missing_ok=True)  # only the chunks needed it


def encode_speech(files: JobFiles, job_id: str, fmt: SpeechFormat) -> None:
    """Concatenate the chunks' 24 kHz PCM in order and encode it once into result.<format>."""
    encoder = make_encoder(fmt, OUTPUT_SAMPLE_RATE)
    with files.atomic_output(files.result(job_id, fmt.value)) as out:
        for part in sorted((files.dir(job_id) / "chunks").glob("*.s16")):
            samples = np.fromfile(part, dtype=S16LE)
            for start in range(0, len(samples), ENCODE_BLOCK_SAMPLES):
                out.write(encoder.encode(from_s16le(samples[start : start + ENCODE_BLOCK_SAMPLES])))
        out.write(encoder.finish())
