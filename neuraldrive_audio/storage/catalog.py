"""A cached view of the model store, so requests don't rescan the disk."""

from __future__ import annotations

from neuraldrive_audio.storage.manifest import ModelManifest
from neuraldrive_audio.storage.model_store import ModelStore


class ModelCatalog:
    """Manifests by id, reloaded only when the store's generation stamp changes."""

    def __init__(self, store: ModelStore) -> None:
        self.store = store
        self._generation = -1
        self._by_id: dict[str, ModelManifest] = {}

    def all(self) -> list[ModelManifest]:
        """Every installed model, sorted by id."""
        self._refresh()
        return list(self._by_id.values())

    def find(self, model_id: str) -> ModelManifest | None:
        """The manifest for ``model_id``, or None."""
        self._refresh()
        return self._by_id.get(model_id)

    def _refresh(self) -> None:
        generation = self.store.generation()
        if generation != self._generation:
            self._by_id = {m.id: m for m in self.store.list()}
            self._generation = generation
