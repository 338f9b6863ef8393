"""A real Open WebUI speaking through us, configured only by the file ``install.sh
--open-webui`` writes (plus offline flags): its own ``/api/v1/audio/*`` routes transcribe and
speak, and its settings lists show our models and voices.

Open WebUI (pip ``open-webui``, ~7 GB with torch) is installed once into its own venv under
``$NEURALDRIVE_AUDIO_TEST_CACHE`` (default ``~/.cache/neuraldrive-audio-tests``). Run with
``-m webui``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.harness import API_KEY, Service, free_port
from tests.speech_clips import SENTENCES, make_clip, word_error_rate

pytestmark = [pytest.mark.webui, pytest.mark.install]

VERSION = "0.12.4"
REPO = Path(__file__).resolve().parents[1]
STARTUP_S = 900  # its first start imports torch and migrates a new database
OFFLINE = {"RAG_EMBEDDING_ENGINE": "openai", "OFFLINE_MODE": "True", "HF_HUB_OFFLINE": "1"}


def _venv() -> Path:
    cache = os.environ.get("NEURALDRIVE_AUDIO_TEST_CACHE")
    root = Path(cache) if cache else Path.home() / ".cache" / "neuraldrive-audio-tests"
    return root / f"open-webui-{VERSION}"


@pytest.fixture(scope="module")
def open_webui() -> Path:
    """The ``open-webui`` command, installed on first use."""
    venv = _venv()
    command = venv / "bin" / "open-webui"
    if not command.exists():
        uv = shutil.which("uv")
        if uv is None:
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            install = [str(venv / "bin" / "pip"), "install", "-q", f"open-webui=={VERSION}"]
        else:
            subprocess.run([uv, "venv", "-q", "-p", "python3.11", str(venv)], check=True)
            install = [uv, "pip", "install", "-q", "-p", str(venv / "bin" / "python"),
                       f"open-webui=={VERSION}"]  # fmt: skip
        subprocess.run(install, check=True, timeout=3600)
    return command


def _install_env_file(root: Path, service: Service) -> dict[str, str]:
    """Runs ``install.sh --open-webui`` into ``root``; the variables of the file it wrote."""
    key_file = root / "etc" / "neuraldrive" / "api.key"
    key_file.parent.mkdir(parents=True)
    key_file.write_text(API_KEY + "\n")
    env = {**os.environ, "DESTDIR": str(root), "AUDIO_API_URL": f"{service.base_url}/v1"}
    subprocess.run(
        ["bash", str(REPO / "deploy" / "install.sh"), "--no-venv", "--open-webui"],
        env=env, check=True, capture_output=True,
    )  # fmt: skip
    dropin = root / "etc/systemd/system/neuraldrive-webui.service.d/neuraldrive-audio.conf"
    assert "EnvironmentFile=/etc/neuraldrive/webui-audio.env" in dropin.read_text()
    lines = (root / "etc" / "neuraldrive" / "webui-audio.env").read_text().splitlines()
    pairs = [line.split("=", 1) for line in lines if line and not line.startswith("#")]
    return {name: value for name, value in pairs}


@dataclass
class WebUI:
    """A running Open WebUI and its admin's token."""

    base_url: str
    process: subprocess.Popen[bytes]
    token: str = ""

    @classmethod
    def start(cls, command: Path, home: Path, environment: dict[str, str]) -> WebUI:
        port = free_port()
        env = {"PATH": os.environ["PATH"], "HOME": str(home), "DATA_DIR": str(home / "data"),
               "WEBUI_SECRET_KEY": "test-secret", "ENABLE_OLLAMA_API": "False",
               **OFFLINE, **environment}  # fmt: skip
        log = (home / "webui.log").open("ab")
        process = subprocess.Popen(
            [str(command), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env, cwd=home, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        webui = cls(f"http://127.0.0.1:{port}", process)
        deadline = time.monotonic() + STARTUP_S
        while time.monotonic() < deadline:
            assert process.poll() is None, (home / "webui.log").read_text()[-3000:]
            try:
                if httpx.get(f"{webui.base_url}/health", timeout=2).status_code == 200:
                    return webui
            except httpx.TransportError:
                pass
            time.sleep(0.25)
        webui.stop()
        pytest.fail(f"Open WebUI did not start in {STARTUP_S} s")

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def sign(self, path: str, **form: str) -> None:
        response = httpx.post(f"{self.base_url}/api/v1/auths/{path}", json=form, timeout=60)
        assert response.status_code == 200, response.text
        self.token = response.json()["token"]

    def client(self) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.token}"}
        return httpx.Client(base_url=f"{self.base_url}/api/v1/audio", headers=headers, timeout=180)


ADMIN = {"email": "admin@example.com", "password": "appliance-admin-1"}


@pytest.fixture(scope="module")
def webui(
    open_webui: Path, service: Service, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WebUI]:
    """An Open WebUI that already ran with its default speech settings (so they are stored in
    its database), restarted with the install script's file, as the drop-in does."""
    home = tmp_path_factory.mktemp("open-webui")
    first = WebUI.start(open_webui, home, {})
    first.sign("signup", name="Admin", **ADMIN)
    first.stop()
    environment = _install_env_file(tmp_path_factory.mktemp("destdir"), service)
    webui = WebUI.start(open_webui, home, environment)
    webui.sign("signin", **ADMIN)
    yield webui
    webui.stop()


def test_the_install_file_takes_effect_on_an_open_webui_that_already_ran(
    webui: WebUI, service: Service
) -> None:
    with webui.client() as audio:
        config = audio.get("/config").json()
    assert config["stt"]["ENGINE"] == "openai"
    assert config["stt"]["OPENAI_API_BASE_URL"] == f"{service.base_url}/v1"
    assert config["tts"]["ENGINE"] == "openai"
    assert config["tts"]["MODEL"] == "tts-1"


def test_it_transcribes_wav_and_webm_opus(webui: WebUI, tmp_path: Path) -> None:
    text = SENTENCES[0]
    wav = tmp_path / "clip.wav"
    wav.write_bytes(make_clip(text))
    webm = tmp_path / "clip.webm"  # what a browser's MediaRecorder sends
    subprocess.run(["ffmpeg", "-loglevel", "error", "-i", str(wav), "-c:a", "libopus", str(webm)],
                   check=True)  # fmt: skip
    with webui.client() as audio:
        for clip, kind in ((wav, "audio/wav"), (webm, "audio/webm")):
            response = audio.post(
                "/transcriptions", files={"file": (clip.name, clip.read_bytes(), kind)}
            )
            assert response.status_code == 200, response.text
            assert word_error_rate(text, response.json()["text"]) < 0.2, kind


def _heard(service: Service, audio: bytes) -> str:
    result = service.client().audio.transcriptions.create(model="whisper-1", file=("r.mp3", audio))
    return result.text


def test_it_speaks_a_sentence(webui: WebUI, service: Service) -> None:
    text = SENTENCES[3]  # spoken by the default voice (a Kokoro demo voice, made for Japanese)
    with webui.client() as audio:
        response = audio.post("/speech", json={"input": text})
    assert response.status_code == 200, response.text
    assert word_error_rate(text, _heard(service, response.content)) < 0.4


def test_its_settings_list_our_models_and_voices(webui: WebUI) -> None:
    with webui.client() as audio:
        models = {m["id"] for m in audio.get("/models").json()["models"]}
        voices = {v["id"] for v in audio.get("/voices").json()["voices"]}
    assert {"tts-1", "kokoro-82m", "piper/en_US-joe-medium"} <= models
    assert "en_US-joe-medium" in voices  # not OpenAI's six stock voices only
    assert voices - {"alloy", "echo", "fable", "onyx", "nova", "shimmer"}


def test_a_listed_piper_voice_speaks_with_the_alias_model(webui: WebUI, service: Service) -> None:
    text = SENTENCES[4]
    with webui.client() as audio:
        response = audio.post("/speech", json={"input": text, "voice": "en_US-joe-medium"})
    assert response.status_code == 200, response.text
    assert word_error_rate(text, _heard(service, response.content)) < 0.3
