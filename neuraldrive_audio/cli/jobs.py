"""``neuraldrive-audio jobs ...``: asynchronous jobs as a client of a running service."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from neuraldrive_audio.cli.arguments import command, url_option
from neuraldrive_audio.cli.client import ServiceClient
from neuraldrive_audio.cli.failures import CommandFailed

BAR_WIDTH = 30
POLL_S = 0.5


def _json(client: ServiceClient, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
    response = client.http.request(method, path, **kwargs)
    client.fail_on_error(response)
    body: dict[str, Any] = response.json()
    return body


def submit(client: ServiceClient, args: argparse.Namespace) -> dict[str, Any]:
    """Submit a file (transcribe/translate) or a text file (speech)."""
    path = Path(args.file)
    extra = {"webhook_url": args.webhook} if args.webhook else {}
    if args.task == "speech":
        body = {
            "task": "speech",
            "model": args.model or "tts-1",
            "voice": args.voice,
            "input": path.read_text(),
            "response_format": args.format or "mp3",
            **extra,
        }
        return _json(client, "POST", "/v1/audio/jobs", json=body)
    data = {
        "task": args.task,
        "model": args.model or "whisper-1",
        "response_format": args.format or "json",
        **extra,
    }
    with path.open("rb") as handle:
        return _json(
            client, "POST", "/v1/audio/jobs", files={"file": (path.name, handle)}, data=data
        )


def _bar(job: dict[str, Any]) -> str:
    filled = int(job["progress"] * BAR_WIDTH)
    return (
        f"\r[{'#' * filled}{'-' * (BAR_WIDTH - filled)}] {job['progress']:4.0%} {job['status']:<10}"
    )


def wait(client: ServiceClient, job_id: str) -> dict[str, Any]:
    """Poll until the job ends, drawing a progress bar on stderr."""
    while True:
        job = _json(client, "GET", f"/v1/audio/jobs/{job_id}")
        print(_bar(job), end="", file=sys.stderr, flush=True)
        if job["status"] in ("completed", "failed", "cancelled"):
            print(file=sys.stderr)
            return job
        time.sleep(POLL_S)


def result(client: ServiceClient, job_id: str, out: str | None, fmt: str | None) -> None:
    """Write the result to ``out`` (or print a transcript)."""
    params = {"response_format": fmt} if fmt else {}
    response = client.http.get(f"/v1/audio/jobs/{job_id}/result", params=params)
    client.fail_on_error(response)
    if out:
        Path(out).write_bytes(response.content)
        print(f"wrote {len(response.content)} bytes to {out}", file=sys.stderr)
    else:
        sys.stdout.write(response.text)


def run(args: argparse.Namespace, client: ServiceClient) -> None:
    """Dispatch a ``jobs`` subcommand."""
    match args.jobs_command:
        case "submit":
            job = submit(client, args)
            print(job["id"])
            if args.wait:
                job = wait(client, job["id"])
                if job["status"] != "completed":
                    raise CommandFailed(f"job {job['status']}: {job.get('error')}")
        case "status":
            print(json.dumps(_json(client, "GET", f"/v1/audio/jobs/{args.id}"), indent=2))
        case "wait":
            job = wait(client, args.id)
            if job["status"] != "completed":
                raise CommandFailed(f"job {job['status']}: {job.get('error')}")
        case "result":
            result(client, args.id, args.output, args.format)
        case "cancel":
            print(_json(client, "POST", f"/v1/audio/jobs/{args.id}/cancel")["status"])
        case "list":
            params: dict[str, Any] = {"limit": args.limit}
            if args.status:
                params["status"] = args.status
            for job in _json(client, "GET", "/v1/audio/jobs", params=params)["data"]:
                print(f"{job['id']}  {job['task']:10} {job['status']:10} {job['progress']:4.0%}")


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """The ``jobs`` subcommand tree; ``--url`` is accepted at every level."""
    jobs: argparse.ArgumentParser = command(
        sub, "jobs", "asynchronous jobs for long files and texts",
        "Submit a file, follow its progress, fetch the result; jobs survive the client.",
    )  # fmt: skip
    url_option(jobs)
    cmds = jobs.add_subparsers(dest="jobs_command", required=True, metavar="COMMAND")
    submit_cmd = command(cmds, "submit", "submit an audio file (or a text file with --task speech)")
    submit_cmd.add_argument("file", help="audio file, or text file for --task speech")
    submit_cmd.add_argument("--task", default="transcribe",
                            choices=["transcribe", "translate", "speech"],
                            help="what to do with the file (default: %(default)s)")  # fmt: skip
    submit_cmd.add_argument("--model", help="model id or alias (default: whisper-1 or tts-1)")
    submit_cmd.add_argument("--format", help="response_format of the result")
    submit_cmd.add_argument("--voice", default="alloy", help="voice for --task speech")
    submit_cmd.add_argument("--webhook", help="URL to POST {id, status} to when it ends")
    submit_cmd.add_argument("--wait", action="store_true", help="wait with a progress bar")
    url_option(submit_cmd)
    for name, summary in (("status", "show a job as JSON"),
                          ("wait", "wait for a job to end, with a progress bar"),
                          ("cancel", "cancel a job")):  # fmt: skip
        cmd = command(cmds, name, summary)
        cmd.add_argument("id", help="the job's id")
        url_option(cmd)
    result_cmd = command(cmds, "result", "fetch the result of a completed job")
    result_cmd.add_argument("id", help="the job's id")
    result_cmd.add_argument("-o", "--output", help="file to write (default: stdout)")
    result_cmd.add_argument("--format", help="another text format for transcripts")
    url_option(result_cmd)
    list_cmd = command(cmds, "list", "list jobs, newest first")
    list_cmd.add_argument(
        "--status", choices=["queued", "processing", "completed", "failed", "cancelled"],
        help="only jobs in this state",
    )  # fmt: skip
    list_cmd.add_argument("--limit", type=int, default=20, help="at most this many (%(default)s)")
    url_option(list_cmd)
    return jobs
