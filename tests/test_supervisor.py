"""serve's supervisor with real child processes (small Python scripts, no models)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from neuraldrive_audio.supervisor import Supervisor

# Writes "<name> stopped <time>" when SIGTERM arrives (after a delay), then exits.
_CHILD = """
import signal, sys, time
def stop(*_):
    time.sleep(float(sys.argv[3]))
    with open(sys.argv[1], "a") as log:
        log.write(f"{sys.argv[2]} stopped {time.monotonic()}\\n")
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
with open(sys.argv[1], "a") as log:
    log.write(f"{sys.argv[2]} started\\n")
while True:
    time.sleep(0.05)
"""


def _child(log: Path, name: str, stop_delay_s: float = 0.0) -> list[str]:
    return [sys.executable, "-c", _CHILD, str(log), name, str(stop_delay_s)]


def _lines(log: Path, timeout_s: float, count: int) -> list[str]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        lines = log.read_text().splitlines() if log.exists() else []
        if len(lines) >= count:
            return lines
        time.sleep(0.05)
    raise AssertionError(f"expected {count} lines in {log}, got {log.read_text()!r}")


def test_a_child_that_dies_is_started_again(tmp_path: Path) -> None:
    log = tmp_path / "log"
    supervisor = Supervisor(check_interval_s=0.05)
    try:
        child = supervisor.start("redis", _child(log, "redis"), dict(os.environ))
        _lines(log, 10, 1)
        assert child.process is not None
        first = child.process.pid
        child.process.kill()
        assert _lines(log, 10, 2) == ["redis started", "redis started"]
        assert child.restarts == 1 and child.process.pid != first
    finally:
        supervisor.stop()


def test_stop_last_children_stop_after_the_others(tmp_path: Path) -> None:
    log = tmp_path / "log"
    supervisor = Supervisor()
    supervisor.start("redis", _child(log, "redis"), dict(os.environ), stop_last=True)
    for index in range(2):  # slow to stop: stopped together with redis, they'd log after it
        worker = _child(log, f"worker{index}", stop_delay_s=0.3)
        supervisor.start(f"worker{index}", worker, dict(os.environ))
    _lines(log, 10, 3)
    supervisor.stop()
    stops = [line.split() for line in _lines(log, 10, 6) if " stopped " in line]
    order = [name for name, _, _ in sorted(stops, key=lambda s: float(s[2]))]
    assert order[-1] == "redis" and sorted(order[:2]) == ["worker0", "worker1"]
    assert all(c.process is not None and c.process.poll() is not None for c in supervisor.children)


def test_an_exit_is_noticed_without_waiting_for_the_safety_poll(tmp_path: Path) -> None:
    # Nothing polls every 60 s here: the watcher sleeps on the child's pidfd, so the kill
    # wakes it at once and the restart follows the first backoff (1 s).
    log = tmp_path / "log"
    supervisor = Supervisor(check_interval_s=60)
    try:
        child = supervisor.start("worker", _child(log, "worker"), dict(os.environ))
        _lines(log, 10, 1)
        assert child.process is not None
        child.process.kill()
        assert _lines(log, 20, 2) == ["worker started", "worker started"]
    finally:
        supervisor.stop()
