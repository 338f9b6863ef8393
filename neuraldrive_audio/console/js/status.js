// Status: workers, models (load/unload), queue depth and real-time factors.

import { describe } from "./api.js";

const $ = (id) => document.getElementById(id);
const REFRESH_MS = 3000;

function megabytes(bytes) {
  return `${Math.round(bytes / 1048576)} MB`;
}

function cells(row, values) {
  for (const value of values) {
    const td = document.createElement("td");
    if (value instanceof Node) td.append(value);
    else td.textContent = value;
    row.append(td);
  }
}

export class Status {
  constructor(api) {
    this.api = api;
    this.timer = null;
    $("status-refresh").addEventListener("click", () => this.refresh());
  }

  state(text, failed = false) {
    $("status-state").textContent = text;
    $("status-state").classList.toggle("bad", failed);
  }

  /** Refresh now and every few seconds while the panel is shown. */
  show(visible) {
    clearInterval(this.timer);
    this.timer = null;
    if (!visible) return;
    this.refresh();
    this.timer = setInterval(() => this.refresh(), REFRESH_MS);
  }

  async refresh() {
    if (!this.api.key) return this.state("Enter the API key first.", true);
    try {
      const [status, models] = await Promise.all([
        this.api.json("/system/audio/status"),
        this.api.json("/v1/audio/models"),
      ]);
      this.render(status, models.data);
      this.state(`Updated ${new Date().toLocaleTimeString()}`);
    } catch (error) {
      this.state(describe(error), true);
    }
  }

  render(status, models) {
    const summary = {
      "Queue depth": status.queue.depth,
      Workers: status.workers.length,
      "Jobs in progress": status.jobs.in_progress.length,
      "Jobs per minute": status.jobs.per_minute,
      "Latency p50 / p95": `${status.jobs.latency_ms.p50 ?? "–"} / ${status.jobs.latency_ms.p95 ?? "–"} ms`,
      "Live sessions": status.realtime ? `${status.realtime.sessions_open} open of ${status.realtime.max_sessions}` : "–",
    };
    $("status-summary").replaceChildren(...Object.entries(summary).flatMap(([k, v]) => {
      const dt = document.createElement("dt");
      const dd = document.createElement("dd");
      dt.textContent = k;
      dd.textContent = String(v);
      return [dt, dd];
    }));

    const workers = $("status-workers").tBodies[0];
    workers.replaceChildren();
    for (const w of status.workers) {
      const row = workers.insertRow();
      cells(row, [w.worker_id, w.device, `${megabytes(w.used_bytes)} of ${megabytes(w.budget_bytes)}`,
        `${w.jobs_in_progress} running, ${w.jobs_done} done, ${w.jobs_failed} failed`,
        w.loaded_models.map((m) => m.id + (m.pinned ? " (pinned)" : "")).join(", ") || "–"]);
    }

    const table = $("status-models").tBodies[0];
    table.replaceChildren();
    for (const model of models) {
      const row = table.insertRow();
      const loaded = model.loaded_on.length > 0;
      const button = document.createElement("button");
      button.textContent = loaded ? "Unload" : "Load";
      button.setAttribute("aria-label", `${button.textContent} ${model.id}`);
      button.addEventListener("click", () => this.toggleModel(model.id, loaded, button));
      cells(row, [model.id, model.engine, model.loaded_on.map((l) => l.worker_id).join(", ") || "–", button]);
    }

    const engines = $("status-engines").tBodies[0];
    engines.replaceChildren();
    for (const [engine, figures] of Object.entries(status.engines)) {
      cells(engines.insertRow(), [engine, `${figures.audio_seconds.toFixed(1)} s`, figures.real_time_factor.toFixed(3)]);
    }
  }

  async toggleModel(id, loaded, button) {
    button.disabled = true;
    this.state(`${loaded ? "Unloading" : "Loading"} ${id}…`);
    try {
      await this.api.postJson(`/v1/audio/models/${id.split("/").map(encodeURIComponent).join("/")}/${loaded ? "unload" : "load"}`, {});
      await this.refresh();
    } catch (error) {
      this.state(describe(error), true);
      button.disabled = false;
    }
  }
}
