// A panel driven by one live Realtime session: its start/stop button, state line and mic meter.

import { describe } from "./api.js";

const $ = (id) => document.getElementById(id);

export class LivePanel {
  /** ``name`` prefixes the panel's element ids; ``label`` is the idle button's text. */
  constructor(api, name, label) {
    this.api = api;
    this.name = name;
    this.label = label;
    this.session = null;
    this.mic = null;
    this.starting = false;
    this.button.addEventListener("click", () => this.toggle());
  }

  get button() {
    return $(`${this.name}-button`);
  }

  state(text, failed = false) {
    const element = $(`${this.name}-state`);
    element.textContent = text;
    element.classList.toggle("bad", failed);
  }

  showMicLevel(level) {
    $(`${this.name}-mic-level`).value = Math.min(1, level * 4); // speech rarely peaks past 0.25
  }

  async toggle() {
    if (this.session || this.starting) return this.stop("Stopped");
    this.starting = true;
    this.button.setAttribute("aria-pressed", "true");
    this.button.textContent = "Stop";
    this.state("Connecting…");
    try {
      await this.start();
    } catch (error) {
      this.stop(describe(error), true);
    } finally {
      this.starting = false;
    }
  }

  /** Open ``this.session`` and ``this.mic``; the subclass says how. */
  async start() {
    throw new Error("LivePanel.start is the subclass's");
  }

  stop(message, failed = false) {
    this.session?.close();
    this.mic?.close();
    this.session = this.mic = null;
    this.button.setAttribute("aria-pressed", "false");
    this.button.textContent = this.label;
    this.showMicLevel(0);
    this.state(message, failed);
  }
}
