"""The models Home Assistant sees: ``info`` built from the catalog, and the reverse lookup
of a ``transcribe`` or ``synthesize`` request to an installed model and voice.

Language tags. Home Assistant compares them as plain strings in two places: a pipeline's
STT language must be one of the strings the STT entity lists, and its TTS voices are
looked up under the exact string its TTS language was matched to (``voices[language]``).
Its fuzzy matcher (``homeassistant.util.language.matches``) only picks *which* listed
string a pipeline uses, and ties are broken by set order. So every model declares the bare
primary language subtag (``en``, never ``en_US`` or ``en-us``): then whichever English
tag a pipeline ends up with, it is the one every English voice carries, and a stock
English pipeline sees our STT model and every English voice.
"""

from __future__ import annotations

from dataclasses import dataclass

from wyoming.info import AsrModel, AsrProgram, Attribution, Info, TtsProgram, TtsVoice

from neuraldrive_audio import __version__
from neuraldrive_audio.config import Settings
from neuraldrive_audio.engines import registry
from neuraldrive_audio.media.languages import LANGUAGE_NAMES
from neuraldrive_audio.storage.catalog import ModelCatalog
from neuraldrive_audio.storage.manifest import ModelManifest

ATTRIBUTION = Attribution(name="NeuralDrive", url="https://github.com/neuraldrive")
ASR_PROGRAM = "neuraldrive-audio-stt"
TTS_PROGRAM = "neuraldrive-audio-tts"


def wyoming_language(tag: str) -> str:
    """The tag Home Assistant should see: the primary subtag, lowercase (``en_US`` -> ``en``)."""
    return tag.strip().replace("_", "-").split("-", 1)[0].lower()


def _tags(tags: list[str]) -> list[str]:
    return list(dict.fromkeys(wyoming_language(t) for t in tags if t.strip()))


def asr_languages(manifest: ModelManifest) -> list[str]:
    """What a speech-to-text model hears; none declared means whisper's full list."""
    return _tags(manifest.languages) or list(LANGUAGE_NAMES)


def asr_models(catalog: ModelCatalog, settings: Settings) -> list[ModelManifest]:
    """Installed speech-to-text models, the default first (Home Assistant never names one)."""
    models = [m for m in catalog.all() if registry.of(m).is_speech_to_text]
    return sorted(models, key=lambda m: m.id != settings.default_asr_model)


def tts_models(catalog: ModelCatalog, settings: Settings) -> list[ModelManifest]:
    """Installed text-to-speech models, the default first."""
    models = [m for m in catalog.all() if not registry.of(m).is_speech_to_text]
    return sorted(models, key=lambda m: m.id != settings.default_tts_model)


@dataclass(frozen=True)
class VoiceChoice:
    """One voice of one model, under the name Wyoming clients use for it."""

    name: str
    model_id: str
    voice: str
    languages: list[str]
    description: str


def voices(catalog: ModelCatalog, settings: Settings) -> list[VoiceChoice]:
    """Every voice of every text-to-speech model; a name two models share gets the model
    id in front (``model/voice``) so each stays reachable."""
    models = tts_models(catalog, settings)
    counts: dict[str, int] = {}
    for m in models:
        for v in m.voices:
            counts[v] = counts.get(v, 0) + 1
    choices = []
    for m in models:
        for v in m.voices:
            name = v if counts[v] == 1 else f"{m.id}/{v}"
            speaker = m.voice_languages.get(v)
            accent = f", {wyoming_language(speaker)} speaker" if speaker else ""
            choices.append(VoiceChoice(name, m.id, v, _tags(m.languages), f"{v} ({m.id}{accent})"))
    return choices


def describe(catalog: ModelCatalog, settings: Settings) -> Info:
    """The ``info`` answer: one ASR program, one TTS program, streaming both ways."""
    asr = [
        AsrModel(
            name=m.id,
            attribution=ATTRIBUTION,
            installed=True,
            description=m.id,
            version=None,
            languages=asr_languages(m),
        )
        for m in asr_models(catalog, settings)
    ]
    tts = [
        TtsVoice(
            name=c.name,
            attribution=ATTRIBUTION,
            installed=True,
            description=c.description,
            version=None,
            languages=c.languages,
        )
        for c in voices(catalog, settings)
    ]
    info = Info()
    if asr:
        info.asr.append(
            AsrProgram(
                name=ASR_PROGRAM,
                attribution=ATTRIBUTION,
                installed=True,
                description="NeuralDrive speech-to-text (faster-whisper on the workers)",
                version=__version__,
                models=asr,
                supports_transcript_streaming=True,
            )
        )
    if tts:
        info.tts.append(
            TtsProgram(
                name=TTS_PROGRAM,
                attribution=ATTRIBUTION,
                installed=True,
                description="NeuralDrive text-to-speech (Kokoro and Piper on the workers)",
                version=__version__,
                voices=tts,
                supports_synthesize_streaming=True,
            )
        )
    return info


class NotFound(Exception):
    """No installed model or voice answers to what the client asked for."""

    def __init__(self, code: str, text: str) -> None:
        super().__init__(text)
        self.code = code


def pick_asr_model(
    catalog: ModelCatalog, settings: Settings, name: str | None, language: str | None
) -> ModelManifest:
    """The model named, else the first (default first) that hears ``language``."""
    models = asr_models(catalog, settings)
    if name:
        for m in models:
            if m.id == name:
                return m
        raise NotFound("model-not-found", f"No speech-to-text model '{name}' is installed.")
    if not models:
        raise NotFound("model-not-found", "No speech-to-text model is installed.")
    if not language:
        return models[0]
    wanted = wyoming_language(language)
    for m in models:
        if wanted in asr_languages(m):
            return m
    raise NotFound(
        "language-not-supported", f"No installed speech-to-text model hears '{language}'."
    )


def pick_voice(
    catalog: ModelCatalog,
    settings: Settings,
    name: str | None,
    speaker: str | None,
    language: str | None,
) -> VoiceChoice:
    """The voice named (``speaker`` may name a voice of that model), else the first voice
    for ``language``, else the default model's first voice."""
    choices = voices(catalog, settings)
    if not choices:
        raise NotFound("voice-not-found", "No text-to-speech model is installed.")
    if name:
        by_name = {c.name: c for c in choices}
        model_voices = [c for c in choices if c.model_id == name]
        if name in by_name:
            chosen = by_name[name]
        elif model_voices:  # a model id: its first voice, or the speaker asked for
            chosen = model_voices[0]
        else:
            raise NotFound("voice-not-found", f"No installed voice is called '{name}'.")
        if speaker:
            same_model = {c.voice: c for c in choices if c.model_id == chosen.model_id}
            if speaker not in same_model:
                raise NotFound(
                    "voice-not-found", f"Voice '{name}' has no speaker called '{speaker}'."
                )
            chosen = same_model[speaker]
        return chosen
    if language:
        wanted = wyoming_language(language)
        for c in choices:
            if wanted in c.languages:
                return c
        raise NotFound("voice-not-found", f"No installed voice speaks '{language}'.")
    return choices[0]
