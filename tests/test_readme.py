"""The README's commands and examples, taken from the README itself and run as written.

A fresh copy of the working tree (tracked and new files, nothing ignored) gets the "Try it"
command with an empty home directory: it builds its own .venv, installs the package and
starts ``serve --demo``. The examples of "Use it" then run against that service, and the
install part of "Run the tests" runs in the same checkout. Nothing is mocked; pip may use
the local cache.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.harness import free_port
from tests.speech_clips import SENTENCES, make_clip, word_error_rate

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()
INSTALL_TIMEOUT_S = 900
"""A cold pip cache downloads ~500 MB of wheels; a warm one installs in well under a minute."""


def section(title: str) -> str:
    """The README text from ``## title`` up to the next heading of the same level or above."""
    start = README.index(f"\n{title}\n")
    following = re.search(r"\n#{1,2} ", README[start + len(title) + 2 :])
    return README[start : start + len(title) + 2 + (following.start() if following else 0)]


def code_blocks(text: str, language: str) -> list[str]:
    """The fenced blocks of ``language`` in ``text``."""
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.S)


def one_command(title: str) -> str:
    """The section's single shell block, which must be one line (one command)."""
    blocks = code_blocks(section(title), "sh")
    assert len(blocks) == 1, f"{title}: expected one sh block"
    lines = blocks[0].strip().splitlines()
    assert len(lines) == 1, f"{title}: the command must be one line"
    return lines[0]


TRY_IT = one_command("## Try it")
RUN_TESTS = one_command("## Run the tests")


def missing_system_packages(command: str) -> list[str]:
    """What the command would apt-get install on this host (its own probe, run alone)."""
    probe = command[: command.index('[ -z "$missing" ]')] + 'echo "$missing"'
    out = subprocess.run(["sh", "-c", probe], capture_output=True, text=True, check=True)
    return out.stdout.split()


def copy_working_tree(target: Path) -> None:
    """Tracked and untracked-but-not-ignored files as they are now (a clean checkout)."""
    listing = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO, capture_output=True, check=True,
    ).stdout.decode()  # fmt: skip
    for name in filter(None, listing.split("\0")):
        source = REPO / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def user_environment(home: Path, port: int) -> dict[str, str]:
    """A new user's environment: empty home, none of our test settings, the pip cache kept."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("NEURALDRIVE_", "PYTHON", "VIRTUAL_ENV", "XDG_"))
    }
    pip_cache = os.environ.get("PIP_CACHE_DIR", str(Path.home() / ".cache" / "pip"))
    env.update(HOME=str(home), PIP_CACHE_DIR=pip_cache, NEURALDRIVE_AUDIO_PORT=str(port))
    return env


@dataclass
class TryIt:
    """The checkout and the service its "Try it" command started."""

    checkout: Path
    home: Path
    port: int
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def wait_healthy(run: TryIt) -> None:
    deadline = time.monotonic() + INSTALL_TIMEOUT_S
    while time.monotonic() < deadline:
        assert run.process.poll() is None, f"Try it exited:\n{run.output()[-4000:]}"
        try:
            if httpx.get(f"http://127.0.0.1:{run.port}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"no healthy service after {INSTALL_TIMEOUT_S} s:\n{run.output()[-4000:]}")


@pytest.fixture(scope="module")
def try_it(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TryIt]:
    """Run "Try it" in a fresh copy of the tree; stop it with SIGTERM afterwards."""
    for command in (TRY_IT, RUN_TESTS):
        missing = missing_system_packages(command)
        if missing:
            pytest.skip(f"the README command would apt-get install {missing} on this host")
    checkout, home = tmp_path_factory.mktemp("checkout"), tmp_path_factory.mktemp("home")
    copy_working_tree(checkout)
    port = free_port()
    env = user_environment(home, port)
    log = checkout.parent / "try-it.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            ["sh", "-c", TRY_IT], cwd=checkout, env=env, stdout=sink, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    run = TryIt(checkout, home, port, env, process, log)
    try:
        wait_healthy(run)
        yield run
    finally:
        # The whole session, as Ctrl-C would reach it: the shell, serve and its children.
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            raise


def test_try_it_starts_the_demo_in_its_own_venv(try_it: TryIt) -> None:
    venv = try_it.checkout / ".venv"
    assert (venv / "bin" / "neuraldrive-audio").exists()
    output = try_it.output()
    assert "Queue:" in output and "Generated an API key" in output
    key_file = try_it.home / ".local" / "share" / "neuraldrive-audio" / "api.key"
    assert key_file.read_text().strip() in output
    # The package the venv runs is the checkout's, not the developer's tree.
    code = "import neuraldrive_audio; print(neuraldrive_audio.__file__)"
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", code],
        cwd=try_it.home, env=try_it.env, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert where.startswith(str(try_it.checkout))


def _as_written(code: str, port: int) -> str:
    # The examples name the default port; this service runs on a free one.
    return code.replace("127.0.0.1:8001", f"127.0.0.1:{port}")


def test_use_it_examples_run_as_written(try_it: TryIt, tmp_path: Path) -> None:
    use_it = section("## Use it").split("\n### ")[0]  # its own text, not the subsections
    (curl_block,) = code_blocks(use_it, "sh")
    (python_block,) = code_blocks(use_it, "python")
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    text = " ".join(SENTENCES[:2])
    (tmp_path / "meeting.wav").write_bytes(make_clip(text))
    shell = _as_written(curl_block, try_it.port) + '\nprintf "\\nKEY=%s\\n" "$KEY"\n'
    curl = subprocess.run(["sh", "-ec", shell], cwd=tmp_path, env=try_it.env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert curl.returncode == 0, curl.stderr
    transcript = json.loads(curl.stdout.split("\nKEY=")[0])["text"]
    assert word_error_rate(text, transcript) < 0.2, curl.stdout
    assert (tmp_path / "hello.mp3").read_bytes()[:3] in (b"ID3", b"\xff\xfb", b"\xff\xf3")
    key = curl.stdout.rsplit("KEY=", 1)[1].strip()

    python = try_it.checkout / ".venv" / "bin" / "python"
    script = _as_written(python_block, try_it.port)
    env = {**try_it.env, "KEY": key}
    result = subprocess.run([str(python), "-c", script], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr
    with wave.open(str(tmp_path / "read-back.wav")) as wav:
        seconds = wav.getnframes() / wav.getframerate()
        assert 1 < seconds < 30


def test_run_the_tests_install_part(try_it: TryIt) -> None:
    """Everything before the final pytest: a no-op for apt here, pip adds the test tools."""
    install, final = RUN_TESTS.rsplit(" && ", 1)
    assert final == ".venv/bin/python -m pytest"
    result = subprocess.run(["sh", "-c", install], cwd=try_it.checkout, env=try_it.env,
                            capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S)  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    python = str(try_it.checkout / ".venv" / "bin" / "python")
    collected = subprocess.run(
        [python, "-m", "pytest", "--collect-only", "-q", "tests/test_formats_unit.py"],
        cwd=try_it.checkout, env=try_it.env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert collected.returncode == 0, collected.stdout[-3000:]


def test_serve_stops_on_sigterm(try_it: TryIt) -> None:
    """Ctrl-C/SIGTERM ends serve with its workers and queue (the session group goes away)."""
    os.killpg(try_it.process.pid, signal.SIGTERM)
    try_it.process.wait(timeout=60)
    deadline = time.monotonic() + 30
    left = b""
    while time.monotonic() < deadline:
        left = subprocess.run(["pgrep", "-g", str(try_it.process.pid)], capture_output=True).stdout
        if not left:
            return
        time.sleep(0.2)
    listing = subprocess.run(["ps", "-o", "pid,args", "-g", str(try_it.process.pid)],
                             capture_output=True, text=True).stdout  # fmt: skip
    raise AssertionError(f"still running 30 s after SIGTERM:\n{listing}")
