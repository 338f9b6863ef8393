"""Decode several whisper requests together: their CTranslate2 calls meet and run as one batch.

Each member of a batch runs faster-whisper's own sequential ``transcribe`` in its own
thread, on a shallow copy of the ``WhisperModel`` whose CTranslate2 model is a
:class:`MemberModel`. The members move in lockstep: a call to ``encode`` or ``generate``
waits until every member still decoding is waiting on a call too (or has left), then the
calls that can share a batch (same method, same decoding options, same prompt length) run
as one batched CTranslate2 call and each member gets its own rows back. Everything else
(temperature fallback, timestamp splitting, word alignment, prompts) is faster-whisper's
per-request code, so a member gets what it would have got alone; the batch only changes
how many windows one CTranslate2 call encodes and decodes.

A member that is cancelled while waiting leaves at once; one that fails leaves too; if a
batched call raises, its calls are retried one by one so only the bad one fails.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from neuraldrive_audio.engines.base import JobCancelledError

log = logging.getLogger(__name__)

# The CTranslate2 Whisper methods that take a batch on their first argument.
_BATCHED_METHODS = ("encode", "generate")
# How often a waiting member looks at its cancel flag.
_CANCEL_POLL_S = 0.05


@dataclass
class _Call:
    """One member's pending CTranslate2 call and, once run, its outcome."""

    method: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    rows: int
    done: bool = False
    result: Any = None
    error: BaseException | None = None

    def key(self) -> tuple[object, ...]:
        """Calls with equal keys can share one batched call."""
        if self.method == "generate":
            prompt_lengths = tuple(len(p) for p in self.args[1])
            return ("generate", prompt_lengths, repr(sorted(self.kwargs.items())))
        return (self.method, repr(sorted(self.kwargs.items())))


@dataclass
class Lockstep:
    """The meeting point of one batch's members (any thread)."""

    model: Any
    """The real ``ctranslate2.models.Whisper``."""
    live: int
    """Members still decoding (or still expected to start)."""
    encode_rows: int = 1
    """At most this many windows per batched encoder call. On CPU the encoder gains nothing
    from batching (measured: ~0.4 s per 30 s window at batch 1, 2 and 4 for tiny.en, and
    worse at 8 as the attention matrices outgrow the caches), while the decoder's beam
    search gains 2-2.5x per request at batch 4-8; a GPU gains on both."""
    _pending: list[_Call] = field(default_factory=list)
    _running: bool = False
    _changed: threading.Condition = field(default_factory=threading.Condition)
    batched_calls: int = 0
    """Batched CTranslate2 calls made (more than one member in them), for tests and logs."""

    def leave(self) -> None:
        """A member is done (finished, failed or cancelled): the others stop waiting for it."""
        with self._changed:
            self.live -= 1
            self._changed.notify_all()

    def call(self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any],
             cancel: threading.Event) -> Any:  # fmt: skip
        """Blocking: run ``method`` as part of the next batch; its own result or error."""
        call = _Call(method, args, kwargs, rows=_rows(method, args))
        with self._changed:
            self._pending.append(call)
            self._changed.notify_all()
            while not call.done:
                if not self._running and len(self._pending) >= self.live:
                    batch, self._pending, self._running = self._pending, [], True
                    break
                if cancel.is_set() and call in self._pending:
                    self._pending.remove(call)
                    self._changed.notify_all()
                    raise JobCancelledError
                self._changed.wait(timeout=_CANCEL_POLL_S)
            else:
                return _outcome(call)
        try:
            self._run(batch)
        finally:
            with self._changed:
                self._running = False
                self._changed.notify_all()
        return _outcome(call)

    def _run(self, calls: list[_Call]) -> None:
        groups: dict[tuple[object, ...], list[_Call]] = {}
        for call in calls:
            groups.setdefault(call.key(), []).append(call)
        for key, whole in groups.items():
            size = self.encode_rows if key[0] == "encode" else len(whole)
            for start in range(0, len(whole), max(size, 1)):
                self._run_group(whole[start : start + max(size, 1)])

    def _run_group(self, group: list[_Call]) -> None:
        if len(group) > 1:
            try:
                self._run_batched(group)
                self.batched_calls += 1
                return
            except Exception:  # one bad member must not sink the others
                log.warning("batched %s failed; running its calls one by one", group[0].method)
        for call in group:
            self._run_alone(call)

    def _run_alone(self, call: _Call) -> None:
        try:
            call.result = getattr(self.model, call.method)(*call.args, **call.kwargs)
        except BaseException as exc:  # handed to the member that made the call
            call.error = exc
        call.done = True

    def _run_batched(self, group: list[_Call]) -> None:
        first = group[0]
        features = np.concatenate([np.asarray(_on_cpu(c.args[0])) for c in group])
        storage = _storage(features)
        if first.method == "encode":
            kwargs = {**first.kwargs, "to_cpu": True}
            output = np.asarray(self.model.encode(storage, **kwargs))
            results: list[Any] = [_storage(part) for part in _split(output, group)]
        else:
            prompts = [prompt for c in group for prompt in c.args[1]]
            rows = self.model.generate(storage, prompts, *first.args[2:], **first.kwargs)
            results = _split(rows, group)
        for call, result in zip(group, results, strict=True):
            call.result, call.done = result, True


class MemberModel:
    """What one member's ``WhisperModel.model`` is: the real model, with batched calls
    going through the lockstep."""

    def __init__(self, lockstep: Lockstep, cancel: threading.Event) -> None:
        self._lockstep = lockstep
        self._cancel = cancel

    def __getattr__(self, name: str) -> Any:
        if name in _BATCHED_METHODS:
            return self._batched(name)
        return getattr(self._lockstep.model, name)

    def _batched(self, method: str) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            return self._lockstep.call(method, args, kwargs, self._cancel)

        return call


def _rows(method: str, args: tuple[Any, ...]) -> int:
    if method == "generate":
        return len(args[1])
    return int(args[0].shape[0])


def _split(rows: Any, group: list[_Call]) -> list[Any]:
    parts, start = [], 0
    for call in group:
        parts.append(rows[start : start + call.rows])
        start += call.rows
    return parts


def _on_cpu(storage: Any) -> Any:
    # Encoder outputs are asked on the CPU (to_cpu) so that rows can be regrouped.
    return (
        storage.to_device(_cpu_device()) if getattr(storage, "device", "cpu") != "cpu" else storage
    )


def _cpu_device() -> Any:
    import ctranslate2

    return ctranslate2.Device.cpu


def _storage(array: np.ndarray) -> Any:
    import ctranslate2

    return ctranslate2.StorageView.from_array(np.ascontiguousarray(array))


def _outcome(call: _Call) -> Any:
    if call.error is not None:
        raise call.error
    return call.result
