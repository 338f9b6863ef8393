"""The ``neuraldrive-audio`` command; each group of subcommands has its module here."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from neuraldrive_audio.config import Device, get_settings
from neuraldrive_audio.engines import registry
from neuraldrive_audio.logs import setup_logging


def _cmd_serve(args: argparse.Namespace) -> None:
    from neuraldrive_audio.serve import serve

    settings = get_settings().model_copy(update={"host": args.host, "port": args.port})
    serve(settings, workers=args.workers, demo=args.demo)


def _cmd_api(args: argparse.Namespace) -> None:
    import uvicorn

    from neuraldrive_audio.api.app import create_app

    settings = get_settings()
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=None)


def _cmd_worker(args: argparse.Namespace) -> None:
    from neuraldrive_audio.workers.main import run_worker

    settings = get_settings()
    if args.device:
        device = str(Device.parse(args.device))
        settings = settings.model_copy(update={"worker_device": device})
    asyncio.run(run_worker(settings))


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
        sys.exit("give TEXT or -f FILE")
    text = args.text if args.text is not None else Path(args.file).read_text()
    client = ServiceClient(args.url)
    speak(client, text, args.model, args.voice, args.format, Path(args.output))


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

    run(args.url)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="neuraldrive-audio", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    settings = get_settings()

    serve = sub.add_parser("serve", help="run the API, workers and an embedded queue")
    serve.add_argument("--host", default=settings.host)
    serve.add_argument("--port", type=int, default=settings.port)
    serve.add_argument("--workers", type=int, default=1, help="worker processes to start")
    serve.add_argument("--demo", action="store_true", help="register the demo models")
    serve.set_defaults(run=_cmd_serve)

    sub.add_parser("api", help="run the API only (systemd)").set_defaults(run=_cmd_api)

    worker = sub.add_parser("worker", help="run one worker (systemd)")
    worker.add_argument("--device", help="cpu, cuda:N, or N for cuda:N")
    worker.set_defaults(run=_cmd_worker)

    models = sub.add_parser("models", help="manage the model store")
    models_sub = models.add_subparsers(dest="models_command", required=True)
    models_sub.add_parser("list", help="list installed models")
    engines = registry.names()
    imp = models_sub.add_parser("import", help="register a model directory")
    imp.add_argument("path")
    imp.add_argument("--id", help="model id (default: the directory name)")
    imp.add_argument("--engine", choices=engines, help="default: detect")
    pull = models_sub.add_parser("pull", help="download a model from the Hugging Face hub")
    pull.add_argument("repo_id", help="hub repository, e.g. Systran/faster-whisper-small")
    pull.add_argument("--revision", help="branch, tag or commit (default: the default branch)")
    pull.add_argument("--id", help="model id (default: the repository id)")
    pull.add_argument("--engine", choices=engines, help="default: detect from the files")
    rm = models_sub.add_parser("remove", help="delete a model from the store")
    rm.add_argument("model_id", metavar="ID")
    rm.add_argument("--force", action="store_true", help="even if a live worker has it loaded")
    models.set_defaults(run=_cmd_models)

    tr = sub.add_parser("transcribe", help="transcribe a file with a running service")
    tr.add_argument("file")
    tr.add_argument("--model", default="whisper-1")
    tr.add_argument(
        "--format", default="text", choices=["json", "text", "srt", "vtt", "verbose_json"]
    )
    tr.add_argument("--url", help="service base URL (default: from config)")
    tr.set_defaults(run=_cmd_transcribe)

    sp = sub.add_parser("speak", help="synthesize speech with a running service")
    sp.add_argument("text", nargs="?", help="text to speak (or -f FILE)")
    sp.add_argument("-f", "--file", help="read the text from a file")
    sp.add_argument("--model", default="tts-1")
    sp.add_argument("--voice", default="alloy")
    sp.add_argument("--format", default="mp3", choices=["mp3", "opus", "aac", "flac", "wav", "pcm"])
    sp.add_argument("-o", "--output", required=True, help="file to write")
    sp.add_argument("--url", help="service base URL (default: from config)")
    sp.set_defaults(run=_cmd_speak)

    from neuraldrive_audio.cli.jobs import add_parser as add_jobs_parser

    add_jobs_parser(sub).set_defaults(run=_cmd_jobs)

    config = sub.add_parser(
        "config",
        help="show every setting: environment variable, default, current value, meaning",
        description="Every setting with its environment variable, type, default, the value "
        "in effect here (secrets only as set/unset) and what it does.",
    )
    config.add_argument(
        "--markdown", action="store_true", help="print the README's settings table instead"
    )
    config.set_defaults(run=_cmd_config)

    tui = sub.add_parser("tui", help="show workers, models and jobs of a running service")
    tui.add_argument("--url", help="service base URL (default: from config)")
    tui.set_defaults(run=_cmd_tui)
    return parser


def main(argv: list[str] | None = None) -> None:
    """Entry point."""
    registry.import_plugins(get_settings().engine_plugins)
    args = _parser().parse_args(argv)
    setup_logging()
    try:
        args.run(args)
    except KeyboardInterrupt:
        sys.exit(130)
