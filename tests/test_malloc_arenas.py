"""A worker caps glibc's malloc arenas: threads then share them (real subprocesses)."""

from __future__ import annotations

import subprocess
import sys

import pytest

# Eight threads allocate at once, then glibc's malloc_stats() prints one "Arena N:" block
# per arena to stderr.
_PROBE = """
import ctypes, sys, threading
from neuraldrive_audio.workers.memory import limit_malloc_arenas
print(limit_malloc_arenas(int(sys.argv[1])))
sys.stdout.flush()
start = threading.Barrier(8)
kept = []
def allocate():
    start.wait()
    for _ in range(200):
        kept.append(bytearray(60_000))
threads = [threading.Thread(target=allocate) for _ in range(8)]
for thread in threads: thread.start()
for thread in threads: thread.join()
ctypes.CDLL(None).malloc_stats()
"""

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")


def _arenas(limit: int) -> tuple[str, int]:
    done = subprocess.run([sys.executable, "-c", _PROBE, str(limit)],
                          capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
    arenas = sum(line.startswith("Arena ") for line in done.stderr.splitlines())
    return done.stdout.strip(), arenas


def test_capped_arenas_hold_with_many_allocating_threads() -> None:
    took, arenas = _arenas(2)
    assert took == "True" and 1 <= arenas <= 2


def test_zero_leaves_glibcs_default() -> None:
    took, arenas = _arenas(0)
    assert took == "False"
    assert arenas > 2  # what the cap prevents: threads spread over their own arenas
