"""Demo models are registered in place (links, nothing copied) with truthful manifests."""

from __future__ import annotations

import os
from pathlib import Path

from neuraldrive_audio.storage.demo_models import KOKORO_ID, PIPER_ID, register_demo_models
from neuraldrive_audio.storage.manifest import MANIFEST_NAME
from neuraldrive_audio.storage.model_store import ModelStore


def _regular_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and not p.is_symlink()]


def test_demo_models_are_linked_not_copied(tmp_path: Path) -> None:
    store = ModelStore(tmp_path)
    assert len(register_demo_models(store)) == 3
    owned = [p for p in _regular_files(tmp_path) if p.name not in (MANIFEST_NAME, ".generation")]
    assert owned == []
    assert sum(p.stat().st_size for p in _regular_files(tmp_path)) < 100_000
    for manifest in store.list():
        assert set(manifest.linked_files) == set(manifest.files)
        for name, target in manifest.linked_files.items():
            link = store.path_of(manifest) / name
            assert link.is_symlink() and os.readlink(link) == target
            assert "site-packages" in target or ".cache" in target
        assert manifest.bytes_on_disk == sum(
            Path(t).stat().st_size for t in manifest.linked_files.values()
        )
    assert register_demo_models(store) == []  # already there: nothing to do


def test_manifests_say_which_language_each_voice_speaks(tmp_path: Path) -> None:
    store = ModelStore(tmp_path)
    register_demo_models(store)
    kokoro, piper = store.get(KOKORO_ID), store.get(PIPER_ID)
    assert kokoro.voice_languages == dict.fromkeys(kokoro.voices, "ja")
    assert kokoro.languages == ["en-us"]  # the text it reads (its phonemizer language)
    assert piper.voice_languages == {"en_US-joe-medium": "en-us"}


def test_remove_keeps_the_package_files_and_dangling_links_reregister(tmp_path: Path) -> None:
    store = ModelStore(tmp_path)
    register_demo_models(store)
    piper = store.get(PIPER_ID)
    targets = [Path(t) for t in piper.linked_files.values()]
    store.remove(PIPER_ID)
    assert all(t.is_file() for t in targets)
    assert register_demo_models(store) == [PIPER_ID]

    # A link whose target is gone (package upgraded away): registered again, from where
    # the package is now.
    manifest = store.get(PIPER_ID)
    broken = manifest.model_copy(update={"linked_files": {"model.onnx": str(tmp_path / "gone")}})
    (store.path_of(manifest) / MANIFEST_NAME).write_text(broken.model_dump_json())
    assert register_demo_models(store) == [PIPER_ID]
    assert store.get(PIPER_ID).linked_files == manifest.linked_files
