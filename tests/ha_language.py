"""Home Assistant's language rules, reproduced for tests (no Home Assistant install here).

Sources (Home Assistant 2025.4, the release DESIGN.md §10 names):
- ``homeassistant/util/language.py``: ``Dialect.parse`` splits a tag at ``-`` or ``_``
  (language lowercased, region uppercased); ``Dialect.score`` gives (-1) for another
  language, 2 for both without region, +inf for the same region, 0 for different regions,
  and ``1 + (len(preferred) - index)`` when one side's region is in ``preferred_regions``
  (the country hint first; ``US`` for English without a country); ``matches`` returns the
  *original strings* with a score >= 0, best first, ties in the order given.
- ``homeassistant/components/assist_pipeline/pipeline.py``
  (``_async_resolve_default_pipeline_settings``): a new pipeline's STT and TTS languages
  are ``matches(pipeline_language, engine.supported_languages, country)[0]``, its voice
  the first of ``async_get_supported_voices(tts_language)``.
- ``homeassistant/components/stt/__init__.py`` (``check_metadata``): the pipeline's STT
  language must be *in* ``supported_languages`` (plain string membership);
  ``websocket_list_engines`` (``stt/engine/list``) reports ``matches(...)`` per engine.
- ``homeassistant/components/wyoming/stt.py``: supported languages = the languages of the
  installed models of the *first* ASR program, in order.
- ``homeassistant/components/wyoming/tts.py``: voices are grouped under each declared
  language string (``self._voices[language]``), installed voices only;
  ``supported_languages`` is ``list(set_of_languages)`` (set order: ties are arbitrary);
  ``async_get_supported_voices(language)`` is ``self._voices.get(language)`` (exact string),
  which ``tts/engine/voices`` returns.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from wyoming.info import Info

SEPARATOR_RE = re.compile(r"[-_]")
SAME_LANGUAGES = (("nb", "no"), ("he", "iw"))


def preferred_regions(language: str, country: str | None = None) -> Iterator[str]:
    """Regions in the order Home Assistant prefers them (English part only matters here)."""
    if country is not None:
        yield country.upper()
    if language == "en" and country is None:
        yield "US"


def _same(a: str, b: str) -> bool:
    return a == b or any({a, b} == set(pair) for pair in SAME_LANGUAGES)


@dataclass(frozen=True)
class Dialect:
    """A language tag split into language and region."""

    language: str
    region: str | None

    @staticmethod
    def parse(tag: str) -> Dialect:
        parts = SEPARATOR_RE.split(tag)
        language = parts[0].lower()
        region = parts[1].upper() if len(parts) > 1 and len(parts[1]) == 2 else None
        return Dialect(language, region)

    def score(self, other: Dialect, country: str | None) -> float:
        if not _same(self.language, other.language):
            return -1
        exact = self.language == other.language
        if self.region is None and other.region is None:
            return 2 if exact else 1
        if self.region is not None and other.region is not None:
            if self.region == other.region:
                return math.inf if exact else math.inf - 1
            return 0
        preferred = list(preferred_regions(self.language, country))
        region = self.region if self.region is not None else other.region
        if region in preferred:
            return 1 + (len(preferred) - preferred.index(region))
        return 0


def matches(target: str, supported: Iterable[str], country: str | None = None) -> list[str]:
    """``homeassistant.util.language.matches``: matching tags, best first (stable ties)."""
    wanted = Dialect.parse(target)
    scored = [(wanted.score(Dialect.parse(tag), country), tag) for tag in supported]
    ordered = sorted(scored, key=lambda pair: pair[0], reverse=True)
    return [tag for score, tag in ordered if score >= 0]


def stt_supported_languages(info: Info) -> list[str]:
    """What Home Assistant's Wyoming STT entity lists (first ASR program, installed models)."""
    languages: list[str] = []
    for model in info.asr[0].models:
        if model.installed:
            languages.extend(model.languages)
    return languages


def tts_voices_by_language(info: Info) -> dict[str, list[str]]:
    """Home Assistant's Wyoming TTS entity's ``_voices``: language string -> voice names."""
    voices: dict[str, list[str]] = {}
    for program in info.tts:
        for voice in program.voices:
            if voice.installed:
                for language in voice.languages:
                    voices.setdefault(language, []).append(voice.name)
    return voices
