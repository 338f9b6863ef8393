"""The neuraldrive-audio command; each group of subcommands has its module here.

Parser, dispatch, and one-line failures with documented exit codes.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import httpx

from neuraldrive_audio.cli.arguments import URL_HELP, command, url_option
from neuraldrive_audio.cli.failures import (
    EXIT_CODES_HELP,
    ClientTarget,
    CommandFailed,
    ExitCode,
    missing_file,
    unreachable,
)
from neuraldrive_audio.cli.speech_format import SPEECH_FORMATS, output_format
from neuraldrive_audio.config import Device, get_settings
from neuraldrive_audio.engines import registry
from neuraldrive_audio.logs import setup_logging

if TYPE_CHECKING:
    from neuraldrive_audio.cli.arguments import Subcommands


def _cmd_serve(args: argparse.Namespace) -> None:
    from neuraldrive_audio.serve import serve

    settings = get_settings().model_copy(update={"host": args.host, "port": args.port})
    serve(settings, workers=args.workers, demo=args.demo)


def _cmd_api(args: argparse.Namespace) -> None:
    from neuraldrive_audio.api.app import create_app
    from neuraldrive_audio.api.http import http_server

    settings = get_settings()
    http_server.run(create_app(settings), host=settings.host, port=settings.port)


def _cmd_worker(args: argparse.Namespace) -> None:
    from neuraldrive_audio.workers.main import run_worker

    settings = get_settings()
    if args.device:
        device = str(Device.parse(args.device))
        settings = settings.model_copy(update={"worker_device": device})
    asyncio.run(run_worker(settings))


def _cmd_wyoming(args: argparse.Namespace) -> None:
    from neuraldrive_audio.wyoming.runner import serve_wyoming

    settings = get_settings()
    overrides = {"wyoming_host": args.host, "wyoming_port": args.port}
    settings = settings.model_copy(update={k: v for k, v in overrides.items() if v is not None})
    asyncio.run(serve_wyoming(settings))


def _cmd_models(args: argparse.Namespace) -> None:
    from neuraldrive_audio.cli import models

    models.run(args, get_settings())


def _cmd_transcribe(args: argparse.Namespace) -> None:
    from neuraldrive_audio.cli.client import ServiceClient
    from neuraldrive_audio.cli.remote import transcribe

    client = ServiceClient(args.url)
    transcribe(client, Path(args.file), args.model, args.format)


def _cmd_speak(args: argparse.Namespace) -> None:
    from neuraldrive_audio.cli.client import ServiceClient
    from neuraldrive_audio.cli.remote import speak

    if (args.text is None) == (args.file is None):
        raise CommandFailed("give the text to speak, or -f FILE (not both)", ExitCode.USAGE)
    output = Path(args.output)
    response_format = output_format(output, args.format)
    text = args.text if args.text is not None else Path(args.file).read_text()
    client = ServiceClient(args.url)
    speak(client, text, args.model, args.voice, response_format, output)


def _cmd_jobs(args: argparse.Namespace) -> None:
    from neuraldrive_audio.cli import jobs
    from neuraldrive_audio.cli.client import ServiceClient

    jobs.run(args, ServiceClient(args.url))


def _cmd_config(args: argparse.Namespace) -> None:
    from neuraldrive_audio import config_reference

    if args.markdown:
        print(config_reference.markdown_table())
    else:
        print(config_reference.listing(get_settings()), end="")


def _cmd_tui(args: argparse.Namespace) -> None:
    from neuraldrive_audio.tui.app import run

    run(ClientTarget.resolve(get_settings(), args.url).url)


DESCRIPTION = """\
OpenAI-compatible speech-to-text and text-to-speech for the NeuralDrive appliance.

Run the service (serve, or api + worker under systemd), manage its models, and use it from
the shell (transcribe, speak, jobs, tui). The client commands reach the service at --url,
else NEURALDRIVE_AUDIO_URL, else the URL a running serve of this data dir announced, else
http://NEURALDRIVE_AUDIO_HOST:NEURALDRIVE_AUDIO_PORT; the key is NEURALDRIVE_API_KEY, else
/etc/neuraldrive/api.key, else <data_dir>/api.key (see `neuraldrive-audio config`).
"""


def _service_commands(sub: Subcommands) -> None:
    settings = get_settings()
    serve = command(sub, "serve", "run the API, workers and an embedded queue",
                    "Without NEURALDRIVE_AUDIO_REDIS_URL it starts a private Redis; it "
                    "announces its URL in <data_dir>/run/ for the client commands.")  # fmt: skip
    serve.add_argument("--host", default=settings.host,
                       help="address to bind (default: %(default)s)")  # fmt: skip
    serve.add_argument("--port", type=int, default=settings.port,
                       help="port to bind (default: %(default)s)")  # fmt: skip
    serve.add_argument("--workers", type=int, default=1,
                       help="worker processes to start (default: %(default)s)")  # fmt: skip
    serve.add_argument("--demo", action="store_true",
                       help="register the demo models of the [demo] extra (in place)")  # fmt: skip
    serve.set_defaults(run=_cmd_serve)

    command(sub, "api", "run the API only (systemd)").set_defaults(run=_cmd_api)

    worker = command(sub, "worker", "run one worker (systemd)")
    worker.add_argument("--device", help="cpu, cuda:N, or N for cuda:N (default: the settings')")
    worker.set_defaults(run=_cmd_worker)

    wyoming = command(sub, "wyoming", "run the Wyoming server for Home Assistant (systemd)",
                      "Speech-to-text and text-to-speech over Wyoming; needs the queue's Redis "
                      "(NEURALDRIVE_AUDIO_REDIS_URL) and workers. No authentication: clients "
                      "are checked against NEURALDRIVE_AUDIO_WYOMING_ALLOW_NETWORKS.")  # fmt: skip
    wyoming.add_argument("--host", help="address to bind (default: the settings')")
    wyoming.add_argument("--port", type=int, help="port to bind (default: the settings')")
    wyoming.set_defaults(run=_cmd_wyoming)


def _models_commands(sub: Subcommands) -> None:
    models = command(sub, "models", "manage the model store",
                     "Works on the store directly (NEURALDRIVE_AUDIO_MODELS_DIR).")  # fmt: skip
    models_sub = models.add_subparsers(dest="models_command", required=True, metavar="COMMAND")
    command(models_sub, "list", "list installed models")
    engines = registry.names()
    imp = command(models_sub, "import", "register a model directory (its files are copied)")
    imp.add_argument("path", help="directory holding the model's files")
    imp.add_argument("--id", help="model id (default: the directory name)")
    imp.add_argument("--engine", choices=engines, help="engine (default: detect from the files)")
    imp.add_argument("--force", action="store_true", help="replace a model with the same id")
    pull = command(models_sub, "pull", "download a model from the Hugging Face hub, or with "
                   "--from from another installation (a worker host fetching from its box)",
                   "Honours HF_ENDPOINT; an interrupted download resumes. With --from, the files "
                   "are checked against the box's sizes and sha256 before the model is "
                   "registered; the API key is this host's (NEURALDRIVE_API_KEY).")  # fmt: skip
    pull.add_argument("repo_id", nargs="?",
                      help="hub repository, e.g. Systran/faster-whisper-small")  # fmt: skip
    pull.add_argument("--from", dest="source", metavar="URL",
                      help="the installation to copy from, e.g. https://box:8443")  # fmt: skip
    pull.add_argument("--ca-file", help="CA certificate of --from's TLS (default: the system's)")
    pull.add_argument("--revision", help="branch, tag or commit (default: the default branch)")
    pull.add_argument("--id", help="model id (default: the repository id)")
    pull.add_argument("--engine", choices=engines, help="engine (default: detect from the files)")
    pull.add_argument("--force", action="store_true", help="replace a model with the same id")
    command(models_sub, "demo", "register the demo models of the [demo] extra (in place)",
            "What serve --demo does, without starting anything: for a worker host.")  # fmt: skip
    rm = command(models_sub, "remove", "delete a model from the store",
                 "Refuses a model a live worker has loaded, and refuses when it cannot ask "
                 "the workers (their Redis is unreachable).")  # fmt: skip
    rm.add_argument("model_id", metavar="ID", help="the model's id (see models list)")
    rm.add_argument("--force", action="store_true",
                    help="remove it even if a worker has it loaded or cannot be asked")  # fmt: skip
    models.set_defaults(run=_cmd_models)


def _client_commands(sub: Subcommands) -> None:
    tr = command(sub, "transcribe", "transcribe a file with a running service",
                 "Segments are shown on stderr as they are recognised.")  # fmt: skip
    tr.add_argument("file", help="audio or video file")
    tr.add_argument("--model", default="whisper-1", help="model id or alias (default: %(default)s)")
    tr.add_argument("--format", default="text",
                    choices=["json", "text", "srt", "vtt", "verbose_json"],
                    help="response_format (default: %(default)s)")  # fmt: skip
    url_option(tr)
    tr.set_defaults(run=_cmd_transcribe)

    sp = command(sub, "speak", "synthesize speech with a running service")
    sp.add_argument("text", nargs="?", help="text to speak (or -f FILE)")
    sp.add_argument("-f", "--file", help="read the text from a file")
    sp.add_argument("--model", default="tts-1", help="model id or alias (default: %(default)s)")
    sp.add_argument("--voice", default="alloy", help="voice or alias (default: %(default)s)")
    sp.add_argument("--format", choices=SPEECH_FORMATS,
                    help="audio format (default: the output file's extension, else mp3; "
                         "a contradicting extension is refused)")  # fmt: skip
    sp.add_argument("-o", "--output", required=True, help="file to write")
    url_option(sp)
    sp.set_defaults(run=_cmd_speak)

    from neuraldrive_audio.cli.jobs import add_parser as add_jobs_parser

    add_jobs_parser(sub).set_defaults(run=_cmd_jobs)

    tui = command(sub, "tui", "show workers, models and jobs of a running service")
    url_option(tui)
    tui.set_defaults(run=_cmd_tui)


def build_parser() -> argparse.ArgumentParser:
    """The whole command line: every subcommand and option, with help."""
    parser = argparse.ArgumentParser(
        prog="neuraldrive-audio",
        description=DESCRIPTION,
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--version", action="version", version=f"neuraldrive-audio {package_version()}"
    )
    parser.add_argument("--url", default=None, help=URL_HELP + "; for the client commands")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _service_commands(sub)
    _models_commands(sub)
    _client_commands(sub)

    config = command(sub, "config", "show every setting with its environment variable",
                     "Each with its type, default, the value in effect here (secrets only as "
                     "set/unset) and what it does.")  # fmt: skip
    config.add_argument(
        "--markdown",
        action="store_true",
        help="print the settings table of docs/configuration.md instead",
    )
    config.set_defaults(run=_cmd_config)
    return parser


def package_version() -> str:
    """The installed distribution's version."""
    try:
        return version("neuraldrive-audio")
    except PackageNotFoundError:
        return "unknown (not installed)"


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the subcommand; a failure is one line and an exit code."""
    registry.import_plugins(get_settings().engine_plugins)
    args = build_parser().parse_args(argv)
    setup_logging()
    try:
        args.run(args)
    except CommandFailed as failure:
        _fail(str(failure), failure.code)
    except httpx.TransportError as exc:
        gone = unreachable(ClientTarget.resolve(get_settings(), args.url), exc)
        _fail(str(gone), gone.code)
    except FileNotFoundError as exc:
        _fail(str(missing_file(Path(exc.filename or "?"))), ExitCode.USAGE)
    except OSError as exc:
        where = f": {exc.filename}" if exc.filename else ""
        _fail(f"{exc.strerror or exc}{where}", ExitCode.FAILED)
    except KeyboardInterrupt:
        sys.exit(ExitCode.INTERRUPTED)
    except Exception as exc:
        # Still one line for the user; the type and message are what a bug report needs.
        _fail(f"internal error ({type(exc).__name__}: {exc}); please report it", ExitCode.FAILED)


def _fail(message: str, code: ExitCode) -> NoReturn:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(code)
