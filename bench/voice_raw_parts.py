"""The raw parts of a spoken reply, each timed on its own in the bench's process: ASR
(tiny.en on the question), the LLM's first token (the stand-in through the openai client)
and TTS of the reply's first piece. The voice benches subtract them from what the service
took to get our overhead."""

from __future__ import annotations

import os
import threading
import time

import openai

from neuraldrive_audio.config import Device, Settings
from neuraldrive_audio.engines import registry
from neuraldrive_audio.engines.base import TranscribeOptions, as_speech_to_text, as_text_to_speech
from neuraldrive_audio.media.clauses import FIRST_PIECE_WORDS, ClauseSplitter
from neuraldrive_audio.media.decode import decode_upload
from neuraldrive_audio.media.text import normalize
from neuraldrive_audio.queue.payloads import TranscriptionTask
from neuraldrive_audio.storage.demo_models import WHISPER_ID
from neuraldrive_audio.storage.model_store import ModelStore
from tests.llm_stand_in import LLMStandIn, tokens

QUESTION = "When does the next train to the city leave?"


def first_piece(reply: str, by_length: bool = True) -> str:
    """What a reply speaks first (fed token by token to the splitter): chosen by length as
    the pipeline does, or the first sentence or clause by punctuation (before)."""
    splitter = ClauseSplitter(first_piece_words=FIRST_PIECE_WORDS if by_length else None)
    for token in tokens(reply):
        if clauses := splitter.feed(token):
            return clauses[0]
    return splitter.flush()[0]


def load_average() -> str:
    """The 1-minute load average, to print next to a figure (the machine is shared)."""
    return f"load avg {os.getloadavg()[0]:.2f}"


class RawParts:
    """tiny.en and one TTS model loaded in this process, timing one run of each part."""

    def __init__(
        self, store: ModelStore, llm: LLMStandIn, wav: bytes, tts_model: str, voice: str
    ) -> None:
        settings, cpu = Settings(), Device("cpu")
        whisper, tts = store.get(WHISPER_ID), store.get(tts_model)
        asr = registry.of(whisper).load(whisper, store.path_of(whisper), settings, cpu)
        self.asr = as_speech_to_text(asr)
        self.tts = as_text_to_speech(registry.of(tts).load(tts, store.path_of(tts), settings, cpu))
        self.voice = voice
        self.audio = decode_upload(wav, 3600)
        self.piece = first_piece(llm.reply)
        self.sentence = first_piece(llm.reply, by_length=False)
        self.llm = openai.OpenAI(base_url=llm.base_url, api_key="unused")

    def asr_s(self) -> float:
        """tiny.en on the question."""
        options = TranscribeOptions(TranscriptionTask.TRANSCRIBE, "en", None, 0.0, False)
        started = time.perf_counter()
        self.asr.transcribe(self.audio, options, lambda _: None, threading.Event())
        return time.perf_counter() - started

    def tts_s(self, text: str | None = None) -> float:
        """The TTS speaking ``text`` (default: the reply's first piece)."""
        started = time.perf_counter()
        self.tts.synthesize(normalize(text or self.piece), self.voice, 1.0)
        return time.perf_counter() - started

    def llm_first_token_s(self) -> float:
        """The LLM stand-in's first streamed token."""
        started = time.perf_counter()
        stream = self.llm.chat.completions.create(
            model="llama3.2", messages=[{"role": "user", "content": QUESTION}], stream=True
        )
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                break
        stream.close()
        return time.perf_counter() - started
