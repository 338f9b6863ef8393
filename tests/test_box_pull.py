"""``models pull --from``: a worker host copies a model from the box's API, verified."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from neuraldrive_audio.storage.box_pull import (
    BoxPullError,
    fetch_listing,
    file_digest,
    install_from,
)
from neuraldrive_audio.storage.model_store import ModelStore
from tests.harness import API_KEY, RedisServer, Service

pytestmark = pytest.mark.service
MODEL = "piper/en_US-joe-medium"


@pytest.fixture(scope="module")
def box(
    redis_server: RedisServer, models_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    svc = Service.start(f"{redis_server.url}/9", tmp_path_factory.mktemp("box"), models_dir,
                        workers=0, wait=False)  # fmt: skip
    svc.wait_healthy(timeout_s=180, status=503)  # the API is up, with no worker: none needed
    yield svc
    svc.stop()


def test_pull_from_copies_the_model_and_checks_every_file(
    box: Service, models_dir: Path, tmp_path: Path
) -> None:
    env = {**os.environ, "NEURALDRIVE_API_KEY": API_KEY,
           "NEURALDRIVE_AUDIO_DATA_DIR": str(tmp_path),
           "NEURALDRIVE_AUDIO_MODELS_DIR": str(tmp_path / "models")}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "neuraldrive_audio.cli", "models", "pull", "--from", box.base_url,
         "--id", MODEL],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "verified" in done.stdout
    theirs, ours = ModelStore(models_dir), ModelStore(tmp_path / "models")
    original, copy = theirs.get(MODEL), ours.get(MODEL)
    assert copy.files == original.files and copy.voices == original.voices
    assert copy.linked_files == {} and copy.source == f"pull:{box.base_url}"
    for name in copy.files:
        assert not (ours.path_of(copy) / name).is_symlink()  # a copy, not a link
        assert file_digest(ours.path_of(copy) / name) == file_digest(
            theirs.path_of(original) / name
        )
    again = subprocess.run(
        [sys.executable, "-m", "neuraldrive_audio.cli", "models", "pull", "--from", box.base_url,
         "--id", MODEL], env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert again.returncode != 0 and "already installed" in again.stderr


def test_a_file_that_does_not_match_its_listing_installs_nothing(
    box: Service, tmp_path: Path
) -> None:
    store = ModelStore(tmp_path / "models")
    headers = {"Authorization": f"Bearer {API_KEY}"}
    with httpx.Client(base_url=box.base_url, headers=headers, timeout=60) as client:
        listing = fetch_listing(client, MODEL)
        tampered = listing.files[0].model_copy(update={"sha256": "0" * 64})
        listing = listing.model_copy(update={"files": [tampered, *listing.files[1:]]})
        with pytest.raises(BoxPullError, match="nothing was installed"):
            install_from(client, store, listing, "pull:test", force=False)
    assert store.list() == []
    assert list((tmp_path / "models").iterdir()) == []  # no temp directory left behind


def test_model_files_need_the_key_and_name_only_listed_files(box: Service) -> None:
    with httpx.Client(base_url=box.base_url, timeout=30) as anonymous:
        assert anonymous.get("/v1/audio/model-files", params={"id": MODEL}).status_code == 401
    with box.http() as http:
        missing = http.get("/v1/audio/model-files", params={"id": "nope"})
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "model_not_found"
        outside = http.get("/v1/audio/model-files/content",
                           params={"id": MODEL, "file": "../../../etc/passwd"})  # fmt: skip
        assert outside.status_code == 404
