"""Two "hosts" made of network namespaces, joined by a veth pair and sharing nothing else.

"box" runs Redis (TLS with client certificates, ACL users made by deploy/redis-listen.sh),
the API and one worker; "gpu2" runs one worker with its own data dir and a model store it
fills with ``models pull --from`` box's API, connected to Redis over ``rediss://`` only.
The pair's /30 exists only inside the two namespaces.
gpu2's processes run in their own mount namespace where box's directory is hidden under an
empty tmpfs, so nothing on disk can be shared by accident.

The test process stays in the host's namespaces; HTTP calls to the API are made from a
thread that entered box's network namespace (``Host.call``).
"""

from __future__ import annotations

import ctypes
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import openai
import redis

from tests.harness import API_KEY

REPO = Path(__file__).resolve().parents[1]
REDIS_LISTEN = REPO / "deploy" / "redis-listen.sh"
CLONE_NEWNET = 0x40000000
API_PORT = 8001
DEMO_MODELS = ("Systran/faster-whisper-tiny.en", "kokoro-82m", "piper/en_US-joe-medium")
REDIS_PORT = 6380
T = TypeVar("T")


def netns_unavailable() -> str | None:
    """Why the two-host tests cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root (ip netns)"
    for tool in ("ip", "unshare", "redis-server", "openssl", "mount"):
        if shutil.which(tool) is None:
            return f"needs {tool}"
    probe = f"nda-probe-{secrets.token_hex(3)}"
    if subprocess.run(["ip", "netns", "add", probe], capture_output=True).returncode != 0:
        return "ip netns add is not permitted here"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@dataclass
class Host:
    """One namespace: its name, address, directory, and the processes started in it."""

    name: str
    address: str
    root: Path
    hide: list[Path] = field(default_factory=list)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _client_thread: ThreadPoolExecutor | None = None

    def popen(self, command: list[str], env: dict[str, str], log: str) -> subprocess.Popen[bytes]:
        """Start ``command`` in this host's network namespace (and its private mounts)."""
        prefix = ["ip", "netns", "exec", self.name]
        if self.hide:
            mounts = " && ".join(f"mount -t tmpfs -o size=1m none '{p}'" for p in self.hide)
            quoted = " ".join(f"'{part}'" for part in command)
            command = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                       f"{mounts} && exec {quoted}"]  # fmt: skip
        out = (self.root / f"{log}.log").open("ab")
        process = subprocess.Popen([*prefix, *command], env=env, stdout=out, stderr=out)
        self.processes.append(process)
        return process

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` in a thread inside this host's network namespace."""
        if self._client_thread is None:
            fd = os.open(f"/var/run/netns/{self.name}", os.O_RDONLY)

            def enter() -> None:
                if ctypes.CDLL(None, use_errno=True).setns(fd, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns failed")

            self._client_thread = ThreadPoolExecutor(1, initializer=enter)
        return self._client_thread.submit(fn).result()

    def stop(self, process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
        """Stop one process (SIGKILL: no goodbye, as a crash)."""
        if process.poll() is None:
            process.send_signal(sig)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process in self.processes:
            self.processes.remove(process)

    def close(self) -> None:
        for process in list(self.processes):
            self.stop(process)
        if self._client_thread is not None:
            self._client_thread.shutdown()


@dataclass
class TwoHosts:
    """box and gpu2, their Redis, API and workers."""

    box: Host
    gpu2: Host
    link: tuple[str, str]
    tls_dir: Path
    admin_password: str
    api_env: dict[str, str] = field(default_factory=dict)
    box_worker_env: dict[str, str] = field(default_factory=dict)
    gpu2_env: dict[str, str] = field(default_factory=dict)
    box_worker: subprocess.Popen[bytes] | None = None
    gpu2_worker: subprocess.Popen[bytes] | None = None

    @property
    def api_url(self) -> str:
        return f"http://{self.box.address}:{API_PORT}"

    def set_link(self, up: bool) -> None:
        """Bring the veth pair down (both ends) or up again."""
        state = "up" if up else "down"
        _ip("-n", self.box.name, "link", "set", self.link[0], state)
        _ip("-n", self.gpu2.name, "link", "set", self.link[1], state)

    def http(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request to the API, sent from inside box."""

        def send() -> httpx.Response:
            headers = {"Authorization": f"Bearer {API_KEY}"}
            with httpx.Client(base_url=self.api_url, headers=headers, timeout=300) as http:
                return http.request(method, path, **kwargs)

        return self.box.call(send)

    def openai(self, fn: Callable[[openai.OpenAI], T]) -> T:
        """Run ``fn`` with the official SDK pointed at the API, from inside box."""

        def run() -> T:
            client = openai.OpenAI(base_url=f"{self.api_url}/v1", api_key=API_KEY, timeout=300)
            with client:
                return fn(client)

        return self.box.call(run)

    def admin_redis(self) -> redis.Redis:
        """A connection with every right (test-only user), over box's unix socket."""
        return redis.Redis(unix_socket_path=str(self.box.root / "redis.sock"),
                           username="admin", password=self.admin_password)  # fmt: skip

    def worker_url_over_tls(self) -> str:
        return self.gpu2_env["NEURALDRIVE_AUDIO_REDIS_URL"]

    def start_box_worker(self) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "neuraldrive_audio.cli", "worker"]
        self.box_worker = self.box.popen(command, self.box_worker_env, "box-worker")
        return self.box_worker

    def start_gpu2_worker(self) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "neuraldrive_audio.cli", "worker"]
        self.gpu2_worker = self.gpu2.popen(command, self.gpu2_env, "gpu2-worker")
        return self.gpu2_worker

    def wait_for_api(self, timeout_s: float = 180) -> None:
        """Until the API answers (from inside box)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                self.http("GET", "/health")
                return
            except httpx.HTTPError:
                time.sleep(0.3)
        raise RuntimeError(f"the API did not start; see {self.box.root / 'api.log'}")

    def live_worker_pids(self) -> dict[str, int]:
        """worker id -> pid of every worker whose heartbeat is alive."""
        status = self.http("GET", "/system/audio/status").json()
        return {w["worker_id"]: w["pid"] for w in status["workers"]}

    def wait_for_workers(self, pids: set[int], timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if pids <= set(self.live_worker_pids().values()):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"workers {pids} did not show up; see the logs in {self.box.root}")


def _redis_config(root: Path, tls_conf: Path) -> Path:
    conf = root / "redis.conf"
    conf.write_text(
        f"port 0\nunixsocket {root / 'redis.sock'}\nunixsocketperm 600\n"
        f'save ""\nappendonly no\ndir {root}\ninclude {tls_conf}\n'
    )
    return conf


def _env_file(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {k.strip(): v.strip() for k, v in pairs if not k.lstrip().startswith("#")}


@contextmanager
def two_hosts(tmp: Path, models_dir: Path, **settings: str) -> Iterator[TwoHosts]:
    """Make both namespaces, Redis, the API and both workers; always tear everything down."""
    token = secrets.token_hex(3)
    box = Host(f"nda-box-{token}", "", tmp / "box")
    gpu2 = Host(f"nda-gpu2-{token}", "", tmp / "gpu2", hide=[tmp / "box"])
    link = (f"ndb{token}", f"ndg{token}")
    subnet = f"10.{200 + secrets.randbelow(50)}.{secrets.randbelow(250)}"
    box.address, gpu2.address = f"{subnet}.1", f"{subnet}.2"
    hosts = TwoHosts(box, gpu2, link, tmp / "box" / "conf" / "redis-tls", secrets.token_hex(12))
    created: list[str] = []
    try:
        for host in (box, gpu2):
            host.root.mkdir(parents=True)
            _ip("netns", "add", host.name)
            created.append(host.name)
            _ip("-n", host.name, "link", "set", "lo", "up")
        _ip("link", "add", link[0], "type", "veth", "peer", "name", link[1])
        _ip("link", "set", link[0], "netns", box.name)
        _ip("link", "set", link[1], "netns", gpu2.name)
        _ip("-n", box.name, "addr", "add", f"{box.address}/30", "dev", link[0])
        _ip("-n", gpu2.name, "addr", "add", f"{gpu2.address}/30", "dev", link[1])
        hosts.set_link(up=True)
        _start_box(hosts, models_dir, settings)
        _start_gpu2(hosts, settings)
        hosts.wait_for_workers({hosts.box_worker.pid, hosts.gpu2_worker.pid})  # type: ignore[union-attr]
        yield hosts
    finally:
        gpu2.close()
        box.close()
        for name in created:
            subprocess.run(["ip", "netns", "del", name], capture_output=True)


def _base_env(data_dir: Path, models_dir: Path, settings: dict[str, str]) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("NEURALDRIVE")},
        "NEURALDRIVE_AUDIO_DATA_DIR": str(data_dir),
        "NEURALDRIVE_AUDIO_MODELS_DIR": str(models_dir),
        **{f"NEURALDRIVE_AUDIO_{k.upper()}": v for k, v in settings.items()},
    }


def _start_box(hosts: TwoHosts, models_dir: Path, settings: dict[str, str]) -> None:
    box = hosts.box
    conf = box.root / "conf"
    subprocess.run(
        [str(REDIS_LISTEN)], check=True, capture_output=True,
        env={**os.environ, "CONF_DIR": str(conf), "LISTEN_ADDR": box.address,
             "LISTEN_PORT": str(REDIS_PORT), "SOCKET": str(box.root / "redis.sock")},
    )  # fmt: skip
    # A test-only user with every right, to read INFO and to probe the others' limits.
    with (conf / "audio-redis.acl").open("a") as acl:
        acl.write(f"user admin on >{hosts.admin_password} ~* &* +@all\n")
    redis_conf = _redis_config(box.root, conf / "audio-redis-listen.conf")
    box.popen(["redis-server", str(redis_conf)], dict(os.environ), "redis")
    deadline = time.monotonic() + 10
    while not (box.root / "redis.sock").exists():
        if time.monotonic() > deadline:
            raise RuntimeError("redis-server did not start")
        time.sleep(0.05)
    data = box.root / "data"
    base = _base_env(data, models_dir, settings)
    hosts.api_env = {
        **base, **_env_file(conf / "audio-redis-api.env"),
        "NEURALDRIVE_API_KEY": API_KEY, "NEURALDRIVE_AUDIO_HOST": box.address,
        "NEURALDRIVE_AUDIO_PORT": str(API_PORT),
    }  # fmt: skip
    box.popen([sys.executable, "-m", "neuraldrive_audio.cli", "api"], hosts.api_env, "api")
    hosts.box_worker_env = {**base, **_env_file(conf / "audio-redis-worker.env")}
    hosts.start_box_worker()


def _start_gpu2(hosts: TwoHosts, settings: dict[str, str]) -> None:
    gpu2 = hosts.gpu2
    tls = gpu2.root / "redis-tls"
    shutil.copytree(hosts.box.root / "conf" / "remote-worker", tls)
    remote = _env_file(tls / "audio.conf")
    data, models = gpu2.root / "data", gpu2.root / "models"
    hosts.gpu2_env = {
        **_base_env(data, models, settings),
        "NEURALDRIVE_AUDIO_REDIS_URL": remote["NEURALDRIVE_AUDIO_REDIS_URL"],
        "NEURALDRIVE_AUDIO_REDIS_TLS_CA_FILE": str(tls / "ca.crt"),
        "NEURALDRIVE_AUDIO_REDIS_TLS_CERT_FILE": str(tls / "worker.crt"),
        "NEURALDRIVE_AUDIO_REDIS_TLS_KEY_FILE": str(tls / "worker.key"),
    }
    hosts.wait_for_api()
    env = {**hosts.gpu2_env, "NEURALDRIVE_API_KEY": API_KEY}
    for model in DEMO_MODELS:  # its own store, filled from box over the API, verified
        pull = [sys.executable, "-m", "neuraldrive_audio.cli", "models", "pull",
                "--from", hosts.api_url, "--id", model]  # fmt: skip
        fill = gpu2.popen(pull, env, "models")
        if fill.wait(timeout=300) != 0:
            raise RuntimeError(f"gpu2 could not pull {model}; see {gpu2.root / 'models.log'}")
        gpu2.processes.remove(fill)
    hosts.start_gpu2_worker()
