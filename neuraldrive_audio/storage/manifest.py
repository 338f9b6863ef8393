"""The manifest that describes one installed model."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, Field

MANIFEST_NAME = "manifest.json"


class ModelManifest(BaseModel):
    """What the store knows about a model: written at import, read by API and workers."""

    id: str
    engine: str
    """Name of the engine plug-in that runs it (see engines.registry); also the first
    directory level of the store."""
    files: list[str] = Field(description="Paths relative to the model directory.")
    bytes_on_disk: int
    languages: list[str] = Field(
        default_factory=list,
        description="Languages of the text the model handles (Kokoro: its phonemizer language).",
    )
    voices: list[str] = Field(default_factory=list)
    voice_languages: dict[str, str] = Field(
        default_factory=dict,
        description="Language of each voice's speaker, when known (Kokoro's jf_*/jm_* voices "
        "are Japanese speakers, whatever language they read).",
    )
    linked_files: dict[str, str] = Field(
        default_factory=dict,
        description="Files the store references where they are instead of owning a copy "
        "(name in the model directory -> absolute path); removing the model leaves them.",
    )
    sample_rate: int | None = None
    source: str = "local"
    installed_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
