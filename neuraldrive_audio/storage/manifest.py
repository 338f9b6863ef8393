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
    languages: list[str] = Field(default_factory=list)
    voices: list[str] = Field(default_factory=list)
    sample_rate: int | None = None
    source: str = "local"
    installed_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
