"""``serve`` with its embedded queue, and commands run beside it (real processes)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from neuraldrive_audio.storage.demo_models import PIPER_ID, register_demo_models
from neuraldrive_audio.storage.model_store import ModelStore
from tests.harness import API_KEY, free_port

pytestmark = pytest.mark.service


@dataclass
class Served:
    url: str
    env: dict[str, str]
    store: ModelStore


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """``serve`` as a user starts it: no Redis configured, so it runs an embedded one."""
    data_dir = tmp_path_factory.mktemp("serve-data")
    store = ModelStore(data_dir / "models")
    register_demo_models(store)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEURALDRIVE")}
    env.update(NEURALDRIVE_AUDIO_DATA_DIR=str(data_dir), NEURALDRIVE_API_KEY=API_KEY)
    process = subprocess.Popen(
        [sys.executable, "-m", "neuraldrive_audio.cli", "serve", "--port", str(port)], env=env
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert process.poll() is None, "serve exited"
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        else:
            raise AssertionError("serve did not become healthy in 90 s")
        yield Served(url, env, store)
    finally:
        process.terminate()
        process.wait(timeout=30)


def _cli(served: Served, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "neuraldrive_audio.cli", *args],
        env=served.env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_models_remove_refuses_a_model_the_embedded_queues_worker_holds(served: Served) -> None:
    headers = {"Authorization": f"Bearer {API_KEY}"}
    loaded = httpx.post(f"{served.url}/v1/audio/models/{PIPER_ID}/load", headers=headers,
                        json={}, timeout=120)  # fmt: skip
    assert loaded.status_code == 200, loaded.text

    refused = _cli(served, "models", "remove", PIPER_ID)

    assert refused.returncode != 0
    assert "loaded on worker" in refused.stderr and "--force" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert PIPER_ID in [m.id for m in served.store.list()]
    spoken = httpx.post(
        f"{served.url}/v1/audio/speech", headers=headers, timeout=120,
        json={"model": PIPER_ID, "voice": "alloy", "input": "Still here."},
    )  # fmt: skip
    assert spoken.status_code == 200
