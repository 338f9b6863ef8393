"""Fast unit tests: transcript formats, chunk planning, model store, languages."""

from __future__ import annotations

from pathlib import Path

import pytest

from neuraldrive_audio.api.contract.transcript_formats import to_srt, to_verbose_json, to_vtt
from neuraldrive_audio.media.languages import language_code, language_name
from neuraldrive_audio.media.split import clips_per_chunk, group_clips, merge_into_clips
from neuraldrive_audio.media.voice_mix import VoiceSpecError, parse_voice_mix
from neuraldrive_audio.queue.payloads import Transcript, TranscriptionTask, TranscriptSegment
from neuraldrive_audio.queue.payloads import TranscriptWord as Word
from neuraldrive_audio.storage.manifest import ModelManifest
from neuraldrive_audio.storage.model_store import ModelNotInstalledError, ModelStore


def _segment(i: int, start: float, end: float, text: str) -> TranscriptSegment:
    return TranscriptSegment(
        id=i, seek=0, start=start, end=end, text=text, tokens=[1], temperature=0.0,
        avg_logprob=-0.2, compression_ratio=1.1, no_speech_prob=0.01,
        words=[Word(word=text.strip(), start=start, end=end)],
    )  # fmt: skip


SEGMENTS = [_segment(0, 0.0, 2.5, " Hello there."), _segment(1, 2.5, 3661.042, " Bye.")]


def test_srt_and_vtt() -> None:
    assert to_srt(SEGMENTS) == (
        "1\n00:00:00,000 --> 00:00:02,500\nHello there.\n\n"
        "2\n00:00:02,500 --> 01:01:01,042\nBye.\n\n"
    )
    assert to_vtt(SEGMENTS).startswith("WEBVTT\n\n00:00:00.000 --> 00:00:02.500\nHello there.\n")


def test_verbose_json_words_only_for_transcriptions() -> None:
    transcript = Transcript(task=TranscriptionTask.TRANSCRIBE, language="en", duration=3.5,
                            text="Hello there. Bye.", segments=SEGMENTS)  # fmt: skip
    body = to_verbose_json(transcript, words=True, segments=True)
    assert body["language"] == "english" and len(body["words"]) == 2
    assert "words" not in body["segments"][0]
    translated = transcript.model_copy(update={"task": TranscriptionTask.TRANSLATE})
    assert "words" not in to_verbose_json(translated, words=True, segments=True)


def test_speech_regions_become_clips_then_chunks() -> None:
    regions = [(0, 10), (12, 25), (27, 40), (45, 50), (80, 95)]
    clips = merge_into_clips(regions, longest=30)
    assert clips == [(0, 25), (27, 50), (80, 95)]  # no clip longer than a window
    chunks = group_clips(clips, per_chunk=2)
    assert [(c.start, c.end, c.clips) for c in chunks] == [
        (0, 50, [(0, 25), (27, 50)]),
        (80, 95, [(80, 95)]),
    ]
    assert group_clips([], per_chunk=2) == []
    assert clips_per_chunk(120, batch_size=4) == 4 and clips_per_chunk(60, batch_size=4) == 4
    assert clips_per_chunk(240, batch_size=4) == 8 and clips_per_chunk(60, batch_size=0) == 2


def test_languages() -> None:
    assert language_code("English") == "en" and language_code("DE") == "de"
    assert language_code("klingon") is None and language_name("yue") == "cantonese"


def test_voice_mix_grammar() -> None:
    assert parse_voice_mix("a(2)+b", ["a", "b"]) == [("a", 2.0), ("b", 1.0)]
    for bad in ("a(", "c", "a(0)+b(0)"):
        with pytest.raises(VoiceSpecError):
            parse_voice_mix(bad, ["a", "b"])


def test_model_store_install_is_atomic_and_nested(tmp_path: Path) -> None:
    source = tmp_path / "weights.bin"
    source.write_bytes(b"x" * 100)
    store = ModelStore(tmp_path / "store")
    generation = store.generation()
    manifest = ModelManifest(id="org/model", engine="whisper", files=[], bytes_on_disk=0)
    installed = store.install({"model.bin": source}, manifest)
    assert installed.bytes_on_disk == 100 and installed.files == ["model.bin"]
    assert store.get("org/model").id == "org/model" and store.generation() != generation
    assert not list((tmp_path / "store" / "whisper" / "org").glob(".staging-*"))
    with pytest.raises(ValueError):
        store.model_dir("whisper", "../escape")
    store.remove("org/model")
    with pytest.raises(ModelNotInstalledError):
        store.get("org/model")


def test_log_lines_carry_the_current_job() -> None:
    import json
    import logging

    from neuraldrive_audio.logs import JsonFormatter, current_job

    record = logging.LogRecord("faster_whisper", logging.INFO, "", 0, "decoding", None, None)
    token = current_job.set("job_abc")
    try:
        line = json.loads(JsonFormatter().format(record))
    finally:
        current_job.reset(token)
    assert line["job_id"] == "job_abc" and line["msg"] == "decoding"
    assert "job_id" not in json.loads(JsonFormatter().format(record))
