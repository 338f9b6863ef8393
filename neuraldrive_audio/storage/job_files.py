"""Files of asynchronous jobs: ``<data_dir>/jobs/<job-id>/``.

input (the upload), audio.s16 (decoded 16 kHz samples), plan.json (its chunks), chunks/
(per-chunk results collected from the queue), result.json or result.<format> (the merged
result). Only the API host keeps these: workers get and return everything through Redis.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from neuraldrive_audio.config import Settings

COPY_BLOCK = 1024 * 1024


class DiskFullError(OSError):
    """Not enough free space in the data directory."""


class JobFiles:
    """Paths and file operations for job directories."""

    def __init__(self, root: Path, min_free_bytes: int) -> None:
        self.root = root
        self.min_free_bytes = min_free_bytes

    @classmethod
    def from_settings(cls, settings: Settings) -> JobFiles:
        """The job files of this installation: ``<data_dir>/jobs``."""
        return cls(settings.data_dir / "jobs", settings.min_free_disk_bytes)

    def dir(self, job_id: str) -> Path:
        """The job's directory."""
        return self.root / job_id

    def input(self, job_id: str) -> Path:
        """The uploaded file (or the text to speak)."""
        return self.dir(job_id) / "input"

    def samples(self, job_id: str) -> Path:
        """Decoded 16 kHz mono int16 samples of the input."""
        return self.dir(job_id) / "audio.s16"

    def plan(self, job_id: str) -> Path:
        """The chunks the job was split into (JSON), written before any is queued."""
        return self.dir(job_id) / "plan.json"

    def chunk(self, job_id: str, index: int, suffix: str) -> Path:
        """One chunk's result."""
        return self.dir(job_id) / "chunks" / f"{index:05d}.{suffix}"

    def result(self, job_id: str, suffix: str) -> Path:
        """The merged result."""
        return self.dir(job_id) / f"result.{suffix}"

    def check_free_space(self) -> None:
        """DiskFullError when the data dir is below its free-space floor."""
        self.root.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(self.root).free
        if free < self.min_free_bytes:
            raise DiskFullError(
                f"only {free} bytes free in the data directory "
                f"(at least {self.min_free_bytes} are kept free)"
            )

    def save_stream(self, job_id: str, source: BinaryIO) -> int:
        """Copy an upload into the job dir block by block; nothing is left behind on failure."""
        target = self.input(job_id)
        target.parent.mkdir(parents=True, exist_ok=True)
        written = 0
        try:
            with target.open("wb") as out:
                while block := source.read(COPY_BLOCK):
                    if written % (64 * COPY_BLOCK) == 0:
                        self.check_free_space()
                    written += out.write(block)
        except OSError as exc:
            self.remove(job_id)
            if isinstance(exc, DiskFullError):
                raise
            raise DiskFullError(f"could not store the upload: {exc}") from exc
        return written

    @staticmethod
    @contextmanager
    def atomic_output(path: Path) -> Iterator[BinaryIO]:
        """A file to write ``path`` through: readers see all of it or none (temp + rename)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            with tmp.open("wb") as out:
                yield out
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

    def write_atomic(self, path: Path, data: bytes) -> None:
        """Write ``data`` to ``path`` all at once or not at all."""
        with self.atomic_output(path) as out:
            out.write(data)

    @staticmethod
    def claim(path: Path, data: bytes) -> bool:
        """Write ``path`` unless it exists; False if another attempt wrote it first.

        Chunks run at least once; claiming their result makes each count exactly once.
        """
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        try:
            os.link(tmp, path)  # fails if the file exists, unlike a rename
            return True
        except FileExistsError:
            return False
        finally:
            tmp.unlink(missing_ok=True)

    def remove(self, job_id: str) -> None:
        """Delete the job's directory."""
        shutil.rmtree(self.dir(job_id), ignore_errors=True)
