"""The README's commands and examples, taken from the README itself and run as written.

A fresh copy of the working tree (tracked and new files, nothing ignored) gets the "Try it"
command (``scripts/try``) with an empty home directory: it builds its own .venv, installs the
package and starts ``serve --demo``. The examples of "Use it" then run against that service,
and "Run the tests" (``scripts/test``) runs in the same checkout, adding the test tools to the
same venv and collecting a test file. Nothing is mocked; uv or pip may use the local cache.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.harness import free_port
from tests.speech_clips import SENTENCES, make_clip, word_error_rate

pytestmark = pytest.mark.install

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
    """What the command's script would apt-get install on this host (scripts/install's own
    probe, with the tools the script names)."""
    script = (REPO / command.split()[0]).read_text()
    tools = re.search(r'^TOOLS="([^"]*)"$', script, flags=re.M)
    assert tools, f"{command}: no TOOLS= line"
    probe = [str(REPO / "scripts" / "install"), "--dry-run", *tools.group(1).split(), "--"]
    out = subprocess.run(["sh", *probe], capture_output=True, text=True, check=True)
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
    uv_cache = os.environ.get("UV_CACHE_DIR", str(Path.home() / ".cache" / "uv"))
    env.update(HOME=str(home), PIP_CACHE_DIR=pip_cache, UV_CACHE_DIR=uv_cache,
               NEURALDRIVE_AUDIO_PORT=str(port))  # fmt: skip
    uv = Path(sys.executable).with_name("uv")  # from the test extras
    if shutil.which("uv", path=env.get("PATH")) is None and uv.exists():
        # The commands take the uv path on every machine, not only where uv is installed:
        # with pip they cost ~2 CPU-minutes more. tests/test_scripts.py runs the pip path.
        tools = home / "tools"
        tools.mkdir(exist_ok=True)
        (tools / "uv").symlink_to(uv)
        env["PATH"] = f"{tools}:{env.get('PATH', os.defpath)}"
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


def test_use_it_examples_run_as_written(try_it: TryIt) -> None:
    use_it = section("## Use it")
    (shell_block,) = code_blocks(use_it, "sh")
    (python_block,) = code_blocks(use_it, "python")
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    text = SENTENCES[1]  # one sentence: the SDK example reads the transcript back with Kokoro
    checkout = try_it.checkout  # "in a second shell in the checkout"
    (checkout / "meeting.wav").write_bytes(make_clip(text))
    shell = _as_written(shell_block, try_it.port) + '\nprintf "\\nKEY=%s\\n" "$KEY"\n'
    run = subprocess.run(["sh", "-ec", shell], cwd=checkout, env=try_it.env,
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    assert run.returncode == 0, run.stderr
    # curl's transcript (JSON), then the CLI's subtitles, then the key.
    answer, end = json.JSONDecoder().raw_decode(run.stdout)
    assert word_error_rate(text, answer["text"]) < 0.2, run.stdout
    subtitles = run.stdout[end:].split("\nKEY=")[0]
    assert re.match(r"\s*1\n\d\d:\d\d:\d\d,\d{3} --> ", subtitles), subtitles
    assert word_error_rate(text, " ".join(subtitles.splitlines()[2::4])) < 0.3, subtitles
    assert (checkout / "hello.mp3").read_bytes()[:3] in (b"ID3", b"\xff\xfb", b"\xff\xf3")
    assert (checkout / "hello.wav").read_bytes()[:4] == b"RIFF"  # the CLI: named .wav, is WAV
    key = run.stdout.rsplit("KEY=", 1)[1].strip()

    python = checkout / ".venv" / "bin" / "python"
    script = _as_written(python_block, try_it.port)
    env = {**try_it.env, "KEY": key}
    result = subprocess.run([str(python), "-c", script], cwd=checkout, env=env,
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr
    with wave.open(str(checkout / "read-back.wav")) as wav:
        seconds = wav.getnframes() / wav.getframerate()
        assert 1 < seconds < 30


def test_run_the_tests_command(try_it: TryIt) -> None:
    """The command as written, with pytest told to collect one file only: a no-op for apt
    here; the test tools go into the venv "Try it" built (one install, not a second)."""
    command = f"{RUN_TESTS} --collect-only -q tests/test_formats_unit.py"
    result = subprocess.run(["sh", "-c", command], cwd=try_it.checkout, env=try_it.env,
                            capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S)  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "tests/test_formats_unit.py::" in result.stdout
    python = try_it.checkout / ".venv" / "bin" / "python"
    for tool in ("pytest", "mkdocs", "schemathesis"):
        found = subprocess.run([str(python), "-c", f"import {tool}"], env=try_it.env)
        assert found.returncode == 0, f"{tool} is not in the venv"


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
