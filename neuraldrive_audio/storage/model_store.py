"""The model store: ``<models_dir>/<engine>/<model-id>/`` with a ``manifest.json`` each."""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

from neuraldrive_audio.storage.manifest import MANIFEST_NAME, ModelManifest

GENERATION_FILE = ".generation"
MAX_ID_LENGTH = 200
_SEGMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


class ModelNotInstalledError(LookupError):
    """No model with that id is in the store."""


class ModelExistsError(FileExistsError):
    """Installing would replace a model (needs ``force``) or touch another model's files."""


def check_model_id(model_id: str) -> None:
    """The one model-id rule (API lookups, import, pull): ``/``-separated segments of
    letters, digits, ``.``, ``_`` and ``-``, each starting with a letter or digit.

    So no empty id, no ``.``/``..`` segment, no leading or doubled slash: an id always
    names a directory of its own below its engine's directory. Raises ValueError.
    """
    segments = model_id.split("/")
    if len(model_id) > MAX_ID_LENGTH or not all(_SEGMENT.fullmatch(s) for s in segments):
        raise ValueError(
            f"invalid model id {model_id!r}: use '/'-separated names of letters, digits, "
            "'.', '_' and '-' (e.g. piper/en_US-joe-medium)"
        )


def directory_size(path: Path) -> int:
    """Bytes of all regular files under ``path``."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def missing_links(manifest: ModelManifest) -> list[str]:
    """Linked files that no longer exist (e.g. their package was uninstalled)."""
    return [name for name, path in manifest.linked_files.items() if not Path(path).is_file()]


class ModelStore:
    """Reads and writes the on-disk model store. Cheap to create; it holds no state."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def model_dir(self, engine: str, model_id: str) -> Path:
        """Directory of a model; ids may contain ``/`` and become nested directories."""
        check_model_id(model_id)
        if not engine or "/" in engine or engine.startswith("."):
            raise ValueError(f"invalid engine name: {engine!r}")
        return self.root / engine / model_id

    def generation(self) -> int:
        """Changes whenever a model is installed or removed (readers cache against it)."""
        try:
            return (self.root / GENERATION_FILE).stat().st_mtime_ns
        except FileNotFoundError:
            return 0

    def _bump_generation(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / GENERATION_FILE).touch()

    def list(self) -> list[ModelManifest]:
        """Every installed model, sorted by id."""
        manifests = [
            ModelManifest.model_validate_json(path.read_text())
            for path in self.root.glob(f"*/**/{MANIFEST_NAME}")
        ]
        return sorted(manifests, key=lambda m: m.id)

    def get(self, model_id: str) -> ModelManifest:
        """The manifest of ``model_id``, or ModelNotInstalledError."""
        # Any engine's directory: the store needs no list of engines.
        try:
            check_model_id(model_id)
        except ValueError:
            raise ModelNotInstalledError(model_id) from None
        for engine_dir in sorted(self.root.iterdir()) if self.root.is_dir() else []:
            path = engine_dir / model_id / MANIFEST_NAME
            if not engine_dir.name.startswith(".") and path.is_file():
                return ModelManifest.model_validate_json(path.read_text())
        raise ModelNotInstalledError(model_id)

    def path_of(self, manifest: ModelManifest) -> Path:
        """Directory holding the files of an installed model."""
        return self.model_dir(manifest.engine, manifest.id)

    def install(
        self, source_files: dict[str, Path], manifest: ModelManifest, *, force: bool = False
    ) -> ModelManifest:
        """Copy files into the store atomically (temp dir, then rename) and write the manifest.

        ``source_files`` maps the name inside the model directory to the file to copy.
        Never touches another model: a directory that holds other models or lies inside
        one is refused, and replacing the same id needs ``force`` (ModelExistsError).
        """
        self.check_install(manifest.engine, manifest.id, force=force)
        target = self.model_dir(manifest.engine, manifest.id)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=target.parent))
        old = target.parent / f".replaced-{staging.name}"
        try:
            for name, src in source_files.items():
                dest = staging / name
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, dest)
            manifest = manifest.model_copy(
                update={"files": sorted(source_files), "bytes_on_disk": directory_size(staging)}
            )
            (staging / MANIFEST_NAME).write_text(manifest.model_dump_json(indent=2))
            if target.exists():
                target.rename(old)  # two renames: the id never points at a half-copied model
            staging.rename(target)
            self._bump_generation()
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            shutil.rmtree(old, ignore_errors=True)
        return manifest

    def check_install(self, engine: str, model_id: str, *, force: bool) -> None:
        """Raise (ValueError, ModelExistsError) unless ``model_id`` may be installed."""
        target = self.model_dir(engine, model_id)
        engine_dir = target.parents[len(Path(model_id).parts) - 1]
        for parent in target.parents:
            if parent == engine_dir:
                break
            if (parent / MANIFEST_NAME).is_file():
                raise ModelExistsError(f"{model_id} would be inside the model in {parent.name}")
        if not target.exists():
            return
        if not (target / MANIFEST_NAME).is_file() or any(target.glob(f"*/**/{MANIFEST_NAME}")):
            raise ModelExistsError(f"{model_id} would replace a directory holding other models")
        if not force:
            raise ModelExistsError(f"{model_id} is already installed; pass --force to replace it")

    def link(self, source_files: dict[str, Path], manifest: ModelManifest) -> ModelManifest:
        """Register files in place: the model directory holds symlinks and the manifest,
        nothing is copied (for files another package owns, e.g. the demo models).
        """
        self.check_install(manifest.engine, manifest.id, force=True)
        target = self.model_dir(manifest.engine, manifest.id)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=target.parent))
        try:
            sources = {name: src.resolve(strict=True) for name, src in source_files.items()}
            for name, src in sources.items():
                (staging / name).parent.mkdir(parents=True, exist_ok=True)
                (staging / name).symlink_to(src)
            manifest = manifest.model_copy(
                update={
                    "files": sorted(sources),
                    "bytes_on_disk": sum(src.stat().st_size for src in sources.values()),
                    "linked_files": {name: str(src) for name, src in sorted(sources.items())},
                }
            )
            (staging / MANIFEST_NAME).write_text(manifest.model_dump_json(indent=2))
            if target.exists():
                shutil.rmtree(target)
            staging.rename(target)
            self._bump_generation()
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return manifest

    def remove(self, model_id: str) -> ModelManifest:
        """Delete a model's directory (linked files stay where they are); returns its manifest."""
        manifest = self.get(model_id)
        shutil.rmtree(self.path_of(manifest))
        self._bump_generation()
        return manifest
