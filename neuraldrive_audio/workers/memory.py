"""How much memory a worker's device has and how much its models take."""

from __future__ import annotations

import ctypes
import shutil
import subprocess
import sys

import psutil

from neuraldrive_audio.config import Device

M_ARENA_MAX = -8
"""glibc's ``mallopt`` parameter for the most malloc arenas a process may create."""


def limit_malloc_arenas(arenas: int) -> bool:
    """Cap glibc's malloc arenas for threads started from now on; False where it cannot.

    glibc gives threads their own arenas (up to 8 per core) and freed memory stays in the
    arena it came from. A worker decodes a batch with one thread per request, so its RSS
    swung between 460 and 835 MB under 8 clients; with 2 arenas, 340-510 MB at the same
    throughput (bench/bench_load.py).
    """
    if arenas <= 0 or not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (musl has no arenas to cap)
        return False
    return bool(mallopt(M_ARENA_MAX, arenas))


def process_bytes() -> int:
    """Resident memory of this process (what a CPU model load costs)."""
    return int(psutil.Process().memory_info().rss)


def _nvidia_smi(query: str, index: int) -> int | None:
    """One memory figure (MiB in, bytes out) for a GPU, or None without nvidia-smi."""
    if shutil.which("nvidia-smi") is None:
        return None
    out = subprocess.run(
        ["nvidia-smi", f"--query-gpu={query}", "--format=csv,noheader,nounits", f"--id={index}"],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    if out.returncode != 0:
        return None
    return int(float(out.stdout.strip().splitlines()[0])) * 1024 * 1024


def device_total_bytes(device: Device) -> int:
    """Total memory of the device: VRAM for ``cuda:N`` (nvidia-smi), else system RAM."""
    index = device.gpu_index
    if index is not None:
        total = _nvidia_smi("memory.total", index)
        if total is not None:
            return total
    return int(psutil.virtual_memory().total)


def device_used_bytes(device: Device) -> int:
    """Memory in use on a GPU (all processes), or this process's RSS on CPU."""
    index = device.gpu_index
    if index is not None:
        used = _nvidia_smi("memory.used", index)
        if used is not None:
            return used
    return process_bytes()
