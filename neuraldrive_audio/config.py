"""The one configuration object. Every field can be set as ``NEURALDRIVE_AUDIO_<FIELD>``."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

MIB = 1024 * 1024
GIB = 1024 * MIB


@dataclass(frozen=True)
class Device:
    """Where a worker runs its models: the CPU or one CUDA GPU. The one parser of devices."""

    type: Literal["cpu", "cuda"]
    index: int = 0

    @classmethod
    def parse(cls, text: str) -> Device:
        """``cpu``, ``cuda`` (GPU 0), ``cuda:N``, or a bare ``N`` for ``cuda:N``."""
        value = text.strip().lower()
        if value == "cpu":
            return cls("cpu")
        if value.isdigit():
            return cls("cuda", int(value))
        kind, _, index = value.partition(":")
        if kind != "cuda" or not (index.isdigit() or index == ""):
            raise ValueError(f"invalid device {text!r}: expected cpu, cuda, cuda:N or N")
        return cls("cuda", int(index or 0))

    @property
    def gpu_index(self) -> int | None:
        """The CUDA index, or None on CPU."""
        return self.index if self.type == "cuda" else None

    def __str__(self) -> str:
        return "cpu" if self.type == "cpu" else f"cuda:{self.index}"


DEFAULT_VOICE_ALIASES = {
    # OpenAI voice names -> voices of the demo Kokoro model. Override per install.
    "alloy": "jf_alpha",
    "ash": "jm_kumo",
    "ballad": "jf_nezumi",
    "coral": "jf_gongitsune",
    "echo": "jm_kumo",
    "fable": "jf_tebukuro",
    "nova": "jf_alpha",
    "onyx": "jm_kumo",
    "sage": "jf_nezumi",
    "shimmer": "jf_tebukuro",
    "verse": "jf_gongitsune",
    "marin": "jf_alpha",
    "cedar": "jm_kumo",
}

DEFAULT_ASR_MODEL_ALIASES = {
    # OpenAI speech-to-text families; "" = ``default_asr_model``.
    "whisper-1": "",
    "gpt-4o-transcribe": "",
    "gpt-4o-mini-transcribe": "",
    "gpt-transcribe": "",
    "gpt-realtime-whisper": "",
}

DEFAULT_TTS_MODEL_ALIASES = {
    # OpenAI text-to-speech families; "" = ``default_tts_model``.
    "tts-1": "",
    "tts-1-hd": "",
    "gpt-4o-mini-tts": "",
}


DEFAULT_LLM_MODEL_FAMILIES = [
    # OpenAI realtime/audio model names clients send; each one, and its dated snapshots
    # (e.g. gpt-4o-audio-preview-2024-12-17), stands for the appliance's LLM.
    "gpt-realtime",
    "gpt-realtime-mini",
    "gpt-realtime-1.5",
    "gpt-realtime-2",
    "gpt-realtime-2.1",  # the Agents SDK's and Pipecat's default
    "gpt-realtime-2.1-mini",
    "gpt-4o-realtime-preview",
    "gpt-4o-mini-realtime-preview",
    "gpt-4o-audio-preview",
    "gpt-4o-mini-audio-preview",
    "gpt-audio",
    "gpt-audio-1.5",
    "gpt-audio-mini",
]


class Settings(BaseSettings):
    """Service configuration, read once from the environment (prefix ``NEURALDRIVE_AUDIO_``)."""

    model_config = SettingsConfigDict(
        env_prefix="NEURALDRIVE_AUDIO_", extra="ignore", use_attribute_docstrings=True
    )

    data_dir: Path = Field(
        default_factory=lambda: Path(platformdirs.user_data_dir("neuraldrive-audio"))
    )
    """Where jobs, the embedded Redis socket and (by default) models live."""

    models_dir: Path | None = None
    """Model store root; default ``<data_dir>/models`` (appliance: its persistence partition)."""

    redis_url: str | None = None
    """Queue Redis (``redis://`` or ``unix://``). Unset: ``serve`` starts an embedded one."""

    api_key: str | None = Field(
        default=None,
        validation_alias=AliasChoices("NEURALDRIVE_API_KEY", "NEURALDRIVE_AUDIO_API_KEY"),
    )
    """Bearer key clients must send: ``NEURALDRIVE_API_KEY`` first, then ``api_key_file``."""

    api_key_file: Path = Path("/etc/neuraldrive/api.key")
    """File holding the Bearer key when no key is given in the environment."""

    host: str = "127.0.0.1"
    """Address the API binds to (the gateway is the public face)."""

    port: int = 8001
    """Port the API binds to."""

    url: str | None = None
    """Base URL of the service for the command-line clients (transcribe, speak, jobs, tui);
    unset: the URL a running ``serve`` of this data dir announced, else ``http://<host>:<port>``."""

    max_upload_bytes: int = 25 * MIB
    """Largest upload accepted by the synchronous endpoints (OpenAI's own limit is 25 MB)."""

    max_job_upload_bytes: int = 2 * GIB
    """Largest upload accepted by the asynchronous job endpoint."""

    sync_timeout_s: float = 600.0
    """How long a synchronous request waits for its job before giving up with a 503."""

    max_audio_duration_s: float = 1800.0
    """Longest decoded audio a synchronous transcription accepts; enforced while decoding,
    so a small file that expands to hours (a decompression bomb) is refused early."""

    max_job_audio_duration_s: float = 4 * 3600.0
    """Longest decoded audio an asynchronous job accepts (enforced while decoding)."""

    max_queue_depth: int = 100
    """Queued jobs above which new requests get 429 with Retry-After."""

    default_asr_model: str = "Systran/faster-whisper-tiny.en"
    """Model the OpenAI speech-to-text names (``whisper-1``, ``gpt-4o-transcribe``, ...) use."""

    default_tts_model: str = "kokoro-82m"
    """Model the OpenAI text-to-speech names (``tts-1``, ``tts-1-hd``, ``gpt-4o-mini-tts``) use."""

    asr_model_aliases: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_ASR_MODEL_ALIASES)
    )
    """OpenAI speech-to-text model families -> installed model id ("" = ``default_asr_model``).
    A name matches a family exactly or with a snapshot suffix
    (``gpt-4o-mini-transcribe-2025-12-15``). JSON in the environment."""

    tts_model_aliases: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_TTS_MODEL_ALIASES)
    )
    """OpenAI text-to-speech model families -> installed model id ("" = ``default_tts_model``),
    matched like ``asr_model_aliases``. JSON in the environment."""

    voice_aliases: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_VOICE_ALIASES))
    """OpenAI voice names -> voice names (JSON in the environment). A text-to-speech model
    without the named voice gets one of its own voices instead (``model_voice_aliases``
    overrides per model)."""

    model_voice_aliases: dict[str, dict[str, str]] = Field(default_factory=dict)
    """Per model id: OpenAI voice names -> that model's voices, e.g.
    ``{"kokoro-82m": {"alloy": "jf_nezumi"}}``. Wins over ``voice_aliases``."""

    worker_device: str = "cpu"
    """Device of a worker: ``cpu`` or ``cuda:N``."""

    engine_plugins: list[str] = Field(default_factory=list)
    """Extra engine plug-in modules (dotted names, JSON list in the environment) to import
    besides the built-in ones; each defines ``PLUGIN``. The API and every worker import them."""

    worker_memory_budget_bytes: int = 0
    """Memory a worker may fill with models (VRAM on a GPU, RAM on CPU); 0 = use the fraction."""

    worker_malloc_arenas: int = Field(default=2, ge=0)
    """glibc malloc arenas a worker may use (0 = glibc's default, 8 per core). Few arenas
    keep a worker's memory from growing with the threads of batched decoding."""

    worker_memory_budget_fraction: float = 0.5
    """Share of the device's total memory used as the budget when no absolute one is set."""

    model_idle_ttl_s: float = 1800.0
    """Unpinned models idle longer than this are unloaded."""

    worker_serves_batch: bool = True
    """Also take chunks of asynchronous jobs (their audio and results travel through Redis,
    so a worker on another host takes them too)."""

    worker_max_jobs: int = 1
    """Jobs one worker runs at once; one per device keeps inference from fighting over cores."""

    worker_poll_delay_s: float = 0.01
    """Poll interval of a draining (burst) worker. Served lanes do not poll: they are woken
    (``worker_idle_poll_s``)."""

    worker_batch_poll_delay_s: float = 0.1
    """Poll interval of the batch lane of a draining (burst) worker."""

    worker_idle_poll_s: float = Field(default=10.0, gt=0)
    """Idle workers block on their lanes' wake channel (published on every enqueue and
    abort) and on their control list, and look at the queue on their own only this often,
    as a safety net; pickup latency and abort promptness do not depend on it."""

    interactive_batch_max: int = Field(default=8, ge=1)
    """Dynamic batching: most transcription requests (same model) one worker decodes together
    on the interactive lane; their CTranslate2 calls run as one batch. 1 = off."""

    interactive_batch_window_ms: float = Field(default=5.0, ge=0)
    """Dynamic batching: how long a picked transcription request waits for more to join it,
    only when another compatible request is already queued (a lone request never waits).
    0 = batching off."""

    worker_heartbeat_s: float = 1.0
    """Interval between worker heartbeats."""

    worker_heartbeat_ttl_s: float = 4.0
    """A worker whose heartbeat is older than this is treated as dead."""

    job_max_tries: int = 3
    """Attempts per job before it fails (a killed worker's job is retried elsewhere)."""

    job_timeout_s: float = 900.0
    """Longest a single job may run on a worker."""

    job_chunk_target_s: float = 120.0
    """Long audio is split between speech clips into chunks of about this length (one batch
    queue entry each)."""

    job_chunk_timeout_s: float = 600.0
    """Longest one chunk may run before arq gives up on it."""

    job_batch_size: int = 4
    """Job chunks: N>0 decodes their speech clips with faster-whisper's batched pipeline
    (batch 4 is fastest on CPU); 0 decodes each chunk sequentially like the sync endpoints."""

    max_speech_spoken_chars: int = 12_288
    """Longest text /v1/audio/speech speaks once numbers and abbreviations are spelled out
    (3x the 4096-character input; ``"9" * 4096`` reads as 63k characters)."""

    speech_job_chunk_chars: int = 1500
    """Long text for speech jobs is split at sentence/paragraph boundaries into chunks this size."""

    max_speech_job_chars: int = 2_000_000
    """Longest text a speech job accepts."""

    job_retention_s: float = 7 * 24 * 3600.0
    """Finished jobs and their files are deleted this long after they ended."""

    min_free_disk_bytes: int = 1 * GIB
    """Job uploads are refused (507) when the data dir would drop below this much free space."""

    webhook_secret: str | None = None
    """HMAC-SHA256 key for webhook signatures; defaults to the API key."""

    webhook_allow_networks: str = ""
    """Comma-separated networks (CIDR) webhooks may reach although they are not public,
    e.g. ``192.168.1.0/24``; by default loopback, private, link-local, unique-local and
    metadata addresses are refused."""

    webhook_max_attempts: int = 5
    """Deliveries tried (with exponential backoff) before a webhook is given up."""

    janitor_interval_s: float = 2.0
    """How often the API requeues chunks of dead workers, sends webhooks and applies retention."""

    whisper_compute_type: str = "int8"
    """CTranslate2 compute type for faster-whisper on CPU (``float16`` is used on CUDA)."""

    whisper_beam_size: int = 5
    """Beam size for transcription; OpenAI-compatible quality at 5."""

    cpu_threads: int = 0
    """Inference threads per worker (0 = library default)."""

    onnx_thread_spinning: bool = False
    """Let ONNX Runtime's threads (Kokoro, Piper) spin-wait for work between operators.
    Off: they sleep, and the cores go to the LLM or the other workers on the box (measured
    beside a busy process, spinning cost 37-43 % more CPU and made synthesis 18-28 % slower).
    On: ONNX Runtime's default, 2-3 % faster on a machine that runs nothing else."""

    event_ttl_s: int = 3600
    """How long a job's event stream and upload stay in Redis after it was written."""

    realtime_max_sessions: int = 32
    """Realtime (WebSocket) sessions this API serves at once; more are refused with 429."""

    realtime_max_sessions_per_key: int = 16
    """Realtime sessions one API key may hold open at once; more are refused with 429."""

    realtime_max_buffer_s: float = 900.0
    """Longest uncommitted input audio a realtime session holds; a turn reaching it is
    committed as it is (about 43 MB at 24 kHz), so memory stays bounded and nothing is lost."""

    ollama_url: str = "http://127.0.0.1:11434"
    """Ollama's API; its ``/api/ps`` tells how much VRAM the loaded LLMs hold."""

    ollama_shares_gpu: bool = True
    """Count the VRAM Ollama's loaded LLMs hold against a GPU worker's budget."""

    ollama_evict_for_audio: bool = False
    """Opt-in: ask Ollama to unload its least recently used LLMs when an audio model won't fit."""

    llm_base_url: str = "http://127.0.0.1:11434/v1"
    """OpenAI-compatible chat completions server the voice agent talks to (Ollama's ``/v1``)."""

    llm_model: str = "llama3.2"
    """LLM used for voice replies, and what the OpenAI realtime/audio model names map to."""

    llm_api_key: str | None = None
    """Bearer key for the LLM server, if it wants one (Ollama does not)."""

    llm_timeout_s: float = 30.0
    """Longest wait for the LLM to connect or to send its next bytes; past it -> 503."""

    llm_model_families: list[str] = Field(default_factory=lambda: list(DEFAULT_LLM_MODEL_FAMILIES))
    """OpenAI model names (each with its dated snapshots) that mean ``llm_model``; any
    other name goes to the LLM server as it is."""

    voice_tts_model: str | None = None
    """Text-to-speech model for spoken replies; unset: chosen by ``voice_tts_policy``."""

    # -- realtime conversations: bounds of a live session ------------------------------------

    realtime_max_message_bytes: int = 4 * 1024 * 1024
    """Largest client message a realtime session reads; a larger one gets an ``error`` event
    unread (the session goes on). 4 MiB holds about 65 s of 24 kHz audio in base64."""

    realtime_max_items: int = 1000
    """Conversation items a realtime session keeps; past it the oldest are forgotten (the
    client gets ``conversation.item.deleted``)."""

    realtime_max_conversation_bytes: int = 1_000_000
    """Text a realtime conversation keeps (transcripts, replies, tool calls and results);
    past it the oldest items are forgotten; one larger item is refused."""

    realtime_context_tokens: int = 8000
    """History sent to the LLM per response, in estimated tokens (4 characters each): the
    oldest turns are left out first; the system prompt and tool call/result pairs stay whole."""

    realtime_max_instructions_chars: int = 32_768
    """Longest ``instructions`` a realtime session or response accepts."""

    realtime_max_tools: int = 128
    """Most function tools a realtime session or response accepts."""

    realtime_max_tools_bytes: int = 65_536
    """Largest size of a realtime session's tools as sent to the LLM (JSON bytes)."""

    # --- Wyoming (Home Assistant) front door ---

    wyoming_enabled: bool = False
    """Run the Wyoming server (Home Assistant's speech protocol) inside ``serve``. Wyoming
    has no authentication: see ``wyoming_allow_networks`` before exposing it."""

    wyoming_host: str = "127.0.0.1"
    """Address the Wyoming server binds to."""

    wyoming_port: int = 10300
    """Port the Wyoming server binds to (10300 is what Home Assistant suggests)."""

    wyoming_allow_networks: str = ""
    """Comma-separated networks (CIDR) whose clients the Wyoming server accepts, e.g.
    ``192.168.1.10/32``; empty = loopback only. Other clients are refused and logged."""

    wyoming_max_connections: int = Field(default=32, ge=1)
    """Wyoming connections served at once; more are answered with an error and closed."""

    wyoming_max_buffered_bytes: int = Field(default=256 * MIB, ge=1)
    """Audio all Wyoming connections together may hold while it is being spoken (16 kHz
    16-bit mono after conversion); a command past it gets an error."""

    wyoming_max_event_bytes: int = Field(default=1 * MIB, ge=1024)
    """Largest JSON data plus payload one Wyoming event may announce; a bigger header
    closes the connection before anything is read."""

    wyoming_idle_timeout_s: float = Field(default=30.0, gt=0)
    """A Wyoming client that sends no complete event for this long is disconnected."""

    wyoming_zeroconf: bool = False
    """Announce the Wyoming server on the LAN as ``_wyoming._tcp.local.`` (mDNS), so Home
    Assistant discovers it. Needs a non-loopback ``wyoming_host``."""

    wyoming_zeroconf_name: str = "neuraldrive-audio"
    """Instance name of the zeroconf announcement."""

    # --- voice agent: who speaks replies ---

    voice_tts_policy: Literal["auto", "default"] = "auto"
    """Who speaks replies when ``voice_tts_model`` is unset. ``auto``: with no GPU worker,
    the fastest installed CPU voice (Piper when installed) speaks OpenAI's voice names, for
    fast first audio, and ``session.updated`` names that voice; a voice only another model
    has (e.g. a Kokoro voice) is still spoken by that model. ``default``: always
    ``default_tts_model``, as ``/v1/audio/speech`` does."""

    @property
    def device(self) -> Device:
        """``worker_device`` parsed."""
        return Device.parse(self.worker_device)

    @property
    def resolved_models_dir(self) -> Path:
        """The model store root."""
        return self.models_dir or self.data_dir / "models"

    @property
    def announced_url_file(self) -> Path:
        """Where a running ``serve`` writes the URL its API listens on."""
        return self.data_dir / "run" / "api.url"

    def service_url(self) -> tuple[str, str]:
        """The base URL clients use and where it came from (for error messages)."""
        if self.url:
            return self.url.rstrip("/"), "NEURALDRIVE_AUDIO_URL"
        try:
            announced = self.announced_url_file.read_text().strip()
        except OSError:
            announced = ""
        if announced:
            return announced, f"the running serve ({self.announced_url_file})"
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{host}:{self.port}", "NEURALDRIVE_AUDIO_HOST/PORT"

    def api_key_sources(self) -> str:
        """Where the key is looked for, in order, and which one is in use."""
        sources = ["NEURALDRIVE_API_KEY", str(self.api_key_file), str(self.data_dir / "api.key")]
        used = self._api_key_source()
        in_use = f" (in use: {used})" if used else " (none found)"
        return ", else ".join(sources) + in_use

    def _api_key_source(self) -> str | None:
        if self.api_key:
            return "NEURALDRIVE_API_KEY"
        for path in (self.api_key_file, self.data_dir / "api.key"):
            try:
                if path.read_text().strip():
                    return str(path)
            except OSError:
                continue
        return None

    def resolve_api_key(self) -> str | None:
        """The configured key: environment first, then the key file; None when neither exists."""
        if self.api_key:
            return self.api_key.strip()
        for path in (self.api_key_file, self.data_dir / "api.key"):
            try:
                key = path.read_text().strip()
            except OSError:
                continue
            if key:
                return key
        return None

    # --- Workers on other hosts (nothing shared but Redis) -----------------------------

    job_inflight_bytes_max: int = Field(default=64 * MIB, ge=1 * MIB)
    """Cap on the bytes asynchronous jobs keep in Redis at once (chunk audio fed to workers
    and results not yet collected). The API queues further chunks only within it."""

    job_payload_ttl_s: int = Field(default=24 * 3600, ge=60)
    """How long a chunk's audio or result may stay in Redis uncollected before it expires."""

    job_feed_interval_s: float = Field(default=0.2, gt=0)
    """How often the API collects finished chunks and feeds new ones to the queue."""

    redis_tls_ca_file: Path | None = None
    """CA certificate that signed Redis's TLS certificate (``rediss://`` URLs)."""

    redis_tls_cert_file: Path | None = None
    """Client certificate presented to a Redis that requires one (``rediss://`` URLs)."""

    redis_tls_key_file: Path | None = None
    """Private key of ``redis_tls_cert_file``."""


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, loaded once."""
    return Settings()
