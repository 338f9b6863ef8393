"""Keeping ``serve``'s child processes alive, and stopping all of them together.

systemd restarts our units on the appliance; ``serve`` is the one-command setup without
systemd, so it does the same for its children (workers, and its embedded redis-server):
a child that exits is started again after a backoff that doubles while it keeps failing
(and resets once it ran for a while), and the log says why it exited.

The watcher thread sleeps in ``select`` on the children's pidfds (readable when the process
exits, Linux 5.3+), so a quiet ``serve`` does not wake up to look; elsewhere it looks every
``check_interval_s``.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import select
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

FIRST_BACKOFF_S = 1.0
MAX_BACKOFF_S = 30.0
STABLE_S = 60.0
"""A child that ran this long before exiting is restarted after the first backoff again."""
STOP_TIMEOUT_S = 15.0


def exit_reason(returncode: int) -> str:
    """``exit code 3`` or ``killed by SIGKILL``."""
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit code {returncode}"


def _die_with_parent() -> None:
    # In the child before exec: if serve itself is killed (SIGKILL, OOM), the kernel sends
    # the child SIGTERM, so no worker lives on reconnecting to a Redis that went with it.
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


PR_SET_PDEATHSIG = 1


@dataclass
class Child:
    """One supervised process and its restart state."""

    name: str
    command: list[str]
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    backoff_s: float = FIRST_BACKOFF_S
    restart_at: float | None = None
    restarts: int = 0
    stop_last: bool = False
    """Stopped only after every other child has exited (the Redis the others use)."""
    pidfd: int | None = None
    """Readable once the running process has exited (None where pidfds are unavailable)."""

    def spawn(self) -> None:
        """Start (or start again) the process."""
        self.process = subprocess.Popen(self.command, env=self.env, preexec_fn=_die_with_parent)
        self.started_at = time.monotonic()
        self.restart_at = None
        self.pidfd = _pidfd(self.process.pid)
        log.info("started %s (pid %d)", self.name, self.process.pid)

    def close_pidfd(self) -> None:
        """Stop watching the process (it has exited, or nobody watches any more)."""
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None


def _pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):  # not Linux, or a kernel older than 5.3
        return None


@dataclass
class Supervisor:
    """Starts children, restarts those that exit, and stops them all on :meth:`stop`."""

    check_interval_s: float = 5.0
    """Longest sleep of the watcher; an exit wakes it at once where pidfds exist."""
    children: list[Child] = field(default_factory=list)
    _stopping: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _thread: threading.Thread | None = None
    _wakeup: tuple[int, int] = field(default_factory=os.pipe)
    """Written to wake the watcher: a child was added, or everything stops."""

    def start(
        self, name: str, command: list[str], env: dict[str, str], stop_last: bool = False
    ) -> Child:
        """Start a child now and watch it from then on."""
        child = Child(name, command, env, stop_last=stop_last)
        with self._lock:
            child.spawn()
            self.children.append(child)
        if self._thread is None:
            self._thread = threading.Thread(target=self._watch, name="supervisor", daemon=True)
            self._thread.start()
        self._wake()
        return child

    def _wake(self) -> None:
        with contextlib.suppress(OSError):  # already stopped and closed
            os.write(self._wakeup[1], b"x")

    def _watch(self) -> None:
        while True:
            with self._lock:
                if self._stopping.is_set():
                    return
                for child in self.children:
                    self._check(child)
                exits = [c.pidfd for c in self.children if c.pidfd is not None]
                timeout = self._next_look_s()
            ready, _, _ = select.select([self._wakeup[0], *exits], [], [], timeout)
            if self._wakeup[0] in ready:
                os.read(self._wakeup[0], 4096)

    def _next_look_s(self) -> float:
        """Until the next restart is due, at most ``check_interval_s`` (a safety net)."""
        now = time.monotonic()
        due = [c.restart_at - now for c in self.children if c.restart_at is not None]
        return max(0.0, min([self.check_interval_s, *due]))

    def _check(self, child: Child) -> None:
        now = time.monotonic()
        if child.restart_at is not None:
            if now >= child.restart_at:
                child.restarts += 1
                child.spawn()
            return
        assert child.process is not None
        code = child.process.poll()
        if code is None:
            return
        child.close_pidfd()
        if now - child.started_at > STABLE_S:
            child.backoff_s = FIRST_BACKOFF_S
        log.warning(
            "%s (pid %d) exited: %s; restarting in %.0f s",
            child.name, child.process.pid, exit_reason(code), child.backoff_s,
        )  # fmt: skip
        child.restart_at = now + child.backoff_s
        child.backoff_s = min(child.backoff_s * 2, MAX_BACKOFF_S)

    def stop(self) -> None:
        """Stop watching, SIGTERM every child, SIGKILL those still alive after a while;
        children started with ``stop_last`` go once the others have exited."""
        self._stopping.set()
        self._wake()
        with self._lock:
            for last in (False, True):
                self._terminate([c for c in self.children if c.stop_last is last])
        if self._thread is not None:
            self._thread.join(timeout=5)
            if self._thread.is_alive():
                return  # still inside select on the descriptors: leave them open
        for child in self.children:
            child.close_pidfd()
        for end in self._wakeup:
            with contextlib.suppress(OSError):
                os.close(end)

    @staticmethod
    def _terminate(children: list[Child]) -> None:
        running = [c.process for c in children if c.process and c.process.poll() is None]
        for process in running:
            process.terminate()
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for process in running:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
