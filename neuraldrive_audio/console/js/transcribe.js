// Transcribe a file: synchronously when short, as an async job (with progress) when long.

import { ApiError, describe } from "./api.js";
import { download } from "./files.js";

const $ = (id) => document.getElementById(id);

// Above these, a file goes to /v1/audio/jobs: the synchronous endpoint takes 25 MB (OpenAI's
// limit, the service's default), and a long file would hold the request open for minutes.
export const SYNC_MAX_BYTES = 25 * 1024 * 1024;
export const SYNC_MAX_SECONDS = 300;
const EXTENSIONS = { text: "txt", srt: "srt", vtt: "vtt", verbose_json: "json" };
const POLL_MS = 1000;

/** The file's duration in seconds from its metadata (NaN when the browser cannot tell). */
function duration(file) {
  return new Promise((resolve) => {
    const audio = document.createElement("audio");
    const url = URL.createObjectURL(file);
    const done = (value) => { URL.revokeObjectURL(url); resolve(value); };
    audio.preload = "metadata";
    audio.onloadedmetadata = () => done(audio.duration);
    audio.onerror = () => done(NaN);
    audio.src = url;
  });
}

export class Transcribe {
  constructor(api) {
    this.api = api;
    this.result = null;
    $("transcribe-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.run();
    });
    $("transcribe-file").addEventListener("change", () => this.fileChosen());
    $("transcribe-download").addEventListener("click", () => {
      if (this.result) download(this.result.blob, this.result.name);
    });
  }

  state(text, failed = false) {
    $("transcribe-state").textContent = text;
    $("transcribe-state").classList.toggle("bad", failed);
  }

  async fileChosen() {
    const file = $("transcribe-file").files[0];
    if (!file) return;
    const seconds = await duration(file);
    const long = file.size > SYNC_MAX_BYTES || seconds > SYNC_MAX_SECONDS;
    $("transcribe-job").checked = long;
    this.state(Number.isFinite(seconds) ? `${Math.round(seconds)} s of audio${long ? ": runs as a background job" : ""}` : "");
  }

  fields(file) {
    const form = new FormData();
    const format = $("transcribe-format").value;
    form.append("file", file, file.name);
    form.append("model", $("transcribe-model").value || "whisper-1");
    form.append("response_format", format);
    const language = $("transcribe-language").value.trim();
    if (language) form.append("language", language);
    if (format === "verbose_json") {
      form.append("timestamp_granularities[]", "word");
      form.append("timestamp_granularities[]", "segment");
    }
    return form;
  }

  async run() {
    const file = $("transcribe-file").files[0];
    if (!file) return this.state("Choose an audio file first.", true);
    const button = $("transcribe-button");
    button.disabled = true;
    $("transcribe-download").disabled = true;
    $("transcribe-result").textContent = "";
    $("transcribe-progress").hidden = true; // shown again only for a job
    this.result = null;
    const started = performance.now();
    try {
      let response = null;
      if (!$("transcribe-job").checked) {
        this.state("Transcribing…");
        try {
          response = await this.api.fetch("/v1/audio/transcriptions", { method: "POST", body: this.fields(file) });
        } catch (error) {
          if (!(error instanceof ApiError && error.status === 413)) throw error;
          $("transcribe-job").checked = true; // too big for the synchronous endpoint
        }
      }
      response ??= await this.viaJob(file);
      this.show(await response.text(), file);
      this.state(`Done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    } catch (error) {
      this.state(describe(error), true);
      $("transcribe-progress").hidden = true;
    } finally {
      button.disabled = false; // a finished job's bar stays at 100 % until the next run
    }
  }

  async viaJob(file) {
    const progress = $("transcribe-progress");
    progress.hidden = false;
    progress.value = 0;
    this.state("Uploading…");
    const job = await (await this.api.fetch("/v1/audio/jobs", { method: "POST", body: this.fields(file) })).json();
    for (;;) {
      const record = await this.api.json(`/v1/audio/jobs/${job.id}`);
      progress.value = record.progress || 0;
      this.state(`Job ${record.status}: ${Math.round((record.progress || 0) * 100)} %`);
      if (record.status === "completed") break;
      if (record.status === "failed" || record.status === "cancelled") {
        throw new Error(`The job ${record.status}${record.error ? `: ${record.error.message}` : ""}`);
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
    progress.value = 1;
    const format = $("transcribe-format").value;
    return this.api.fetch(`/v1/audio/jobs/${job.id}/result?response_format=${format}`);
  }

  show(body, file) {
    const format = $("transcribe-format").value;
    let text = body;
    if (format === "verbose_json") text = JSON.stringify(JSON.parse(body), null, 2);
    $("transcribe-result").textContent = text;
    const stem = file.name.replace(/\.[^.]*$/, "") || "transcript";
    const type = format === "verbose_json" ? "application/json" : "text/plain";
    this.result = { blob: new Blob([text], { type }), name: `${stem}.${EXTENSIONS[format]}` };
    $("transcribe-download").disabled = false;
  }
}
