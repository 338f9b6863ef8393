"""Per-token log-probabilities of a whisper transcript, for ``include[]=logprobs``.

faster-whisper reports a segment's average log-probability and, with word timestamps, a
*word's* probability (the mean over its tokens): neither is a token's. CTranslate2's
``align`` - the forced-decoding pass faster-whisper uses for word timestamps - does return
the probability of each text token. So for each 30 s window whisper decoded (a segment's
``seek``) we encode the window once, and force-decode the window's text tokens so far
after the task's start sequence: the logprob of token i is
log P(token_i | the window's audio, the window's tokens before it) under the same model.
Unlike beam search it does not condition on text from earlier windows (the prompt), so
values can differ slightly from what the decoder saw; they are the model's own numbers.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import numpy as np
import tokenizers
from faster_whisper import WhisperModel
from faster_whisper.audio import pad_or_trim
from faster_whisper.tokenizer import Tokenizer

from neuraldrive_audio.media.samples import FloatAudio
from neuraldrive_audio.queue.payloads import TokenLogprob

SAMPLE_RATE = 16_000
HOP_SAMPLES = 160
"""Samples per mel frame: a segment's ``seek`` counts these."""
N_FRAMES = 3000
WINDOW_SAMPLES = N_FRAMES * HOP_SAMPLES
# A probability of exactly 0 would be -inf, which JSON cannot carry.
MIN_PROBABILITY = 1e-12


@lru_cache(maxsize=1)
def _byte_decoder() -> dict[str, int]:
    """Inverse of the byte-level BPE alphabet (GPT-2 style): printable bytes stand for
    themselves, the others were shifted to code points from 256 upwards."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("\xa1"), ord("\xac") + 1),
        *range(ord("\xae"), ord("\xff") + 1),
    ]
    shifted = [b for b in range(256) if b not in printable]
    table = {chr(b): b for b in printable}
    table.update({chr(256 + i): b for i, b in enumerate(shifted)})
    return table


def token_bytes(tokenizer: tokenizers.Tokenizer, token_id: int) -> bytes:
    """The exact bytes a token stands for (a token may hold part of a UTF-8 character)."""
    piece = tokenizer.id_to_token(token_id) or ""
    decoder = _byte_decoder()
    return bytes(decoder[ch] for ch in piece if ch in decoder)


class LogprobScorer:
    """Scores the segments of one transcription, one encoder pass per whisper window."""

    def __init__(self, model: WhisperModel, tokenizer: Tokenizer, audio: FloatAudio) -> None:
        self._model = model
        self._tokenizer = tokenizer
        self._audio = audio
        self._seek: int | None = None
        self._encoded: Any = None
        self._frames = 0
        self._prefix: list[int] = []

    def _enter_window(self, seek: int) -> None:
        """Encode the window starting at frame ``seek`` (whisper's 100 frames per second)."""
        start = seek * HOP_SAMPLES
        window = self._audio[start : start + WINDOW_SAMPLES]
        features = self._model.feature_extractor(window)
        self._frames = max(min(features.shape[-1] - 1, N_FRAMES), 1)
        self._encoded = self._model.encode(pad_or_trim(features))
        self._seek, self._prefix = seek, []

    def score(self, raw: Any) -> list[TokenLogprob]:
        """Token log-probabilities of one faster-whisper segment (``raw``), in order."""
        tokens = [t for t in raw.tokens if t < self._tokenizer.eot]
        if not tokens:
            return []
        if raw.seek != self._seek:
            self._enter_window(raw.seek)
        forced = self._prefix + tokens
        result = self._model.model.align(
            self._encoded, self._tokenizer.sot_sequence, [forced], self._frames
        )
        probabilities = np.asarray(result[0].text_token_probs, dtype=np.float64)
        self._prefix = forced
        out: list[TokenLogprob] = []
        for token_id, probability in zip(tokens, probabilities[len(forced) - len(tokens) :],
                                         strict=False):  # fmt: skip
            raw_bytes = token_bytes(self._model.hf_tokenizer, token_id)
            out.append(
                TokenLogprob(
                    token=raw_bytes.decode("utf-8", errors="replace"),
                    logprob=math.log(max(float(probability), MIN_PROBABILITY)),
                    bytes=list(raw_bytes),
                )
            )
        return out
