"""Per-token log-probabilities of a whisper transcript, for ``include[]=logprobs``.

faster-whisper reports a segment's average log-probability and, with word timestamps, a
*word's* probability (the mean over its tokens): neither is a token's. CTranslate2's
``align`` - the forced-decoding pass faster-whisper uses for word timestamps - does return
the probability of each text token. So for each segment we encode its audio (at most one
30 s window) and force-decode its tokens after the task's start sequence: the logprob of
token i is log P(token_i | audio of the segment, tokens before it in the segment) under the
same model. Unlike beam search it does not condition on the previous segments' text, so
values can differ slightly from what the decoder saw; they are the model's own, not made up.
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

from neuraldrive_audio.queue.payloads import TokenLogprob
from neuraldrive_audio.workers.engines.base import FloatAudio

SAMPLE_RATE = 16_000
WINDOW_SAMPLES = 30 * SAMPLE_RATE
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


def segment_logprobs(
    model: WhisperModel, tokenizer: Tokenizer, audio: FloatAudio, raw: Any
) -> list[TokenLogprob]:
    """Token log-probabilities of one faster-whisper segment (``raw``: its Segment)."""
    text_tokens = [t for t in raw.tokens if t < tokenizer.eot]
    if not text_tokens:
        return []
    start = max(int(raw.start * SAMPLE_RATE), 0)
    clip = audio[start : start + WINDOW_SAMPLES]
    end = min(int(raw.end * SAMPLE_RATE), start + WINDOW_SAMPLES) - start
    clip = clip[: max(end, 1)]
    features = model.feature_extractor(clip)
    num_frames = max(features.shape[-1] - 1, 1)
    encoder_output = model.encode(pad_or_trim(features))
    result = model.model.align(encoder_output, tokenizer.sot_sequence, [text_tokens], num_frames)
    probabilities = np.asarray(result[0].text_token_probs, dtype=np.float64)
    out: list[TokenLogprob] = []
    for token_id, probability in zip(text_tokens, probabilities, strict=False):
        raw_bytes = token_bytes(model.hf_tokenizer, token_id)
        out.append(
            TokenLogprob(
                token=raw_bytes.decode("utf-8", errors="replace"),
                logprob=math.log(max(float(probability), MIN_PROBABILITY)),
                bytes=list(raw_bytes),
            )
        )
    return out
