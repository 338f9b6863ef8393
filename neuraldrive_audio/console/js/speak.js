// Speak: text to speech that plays while it streams in, and can be downloaded.

import { describe } from "./api.js";
import { Player, RATE, pcm16ToFloat } from "./audio.js";
import { download } from "./files.js";

const $ = (id) => document.getElementById(id);

/** A WAV file around 24 kHz mono pcm16 bytes. */
function wav(pcm) {
  const header = new DataView(new ArrayBuffer(44));
  const text = (offset, s) => [...s].forEach((c, i) => header.setUint8(offset + i, c.charCodeAt(0)));
  text(0, "RIFF"); header.setUint32(4, 36 + pcm.byteLength, true); text(8, "WAVE");
  text(12, "fmt "); header.setUint32(16, 16, true); header.setUint16(20, 1, true);
  header.setUint16(22, 1, true); header.setUint32(24, RATE, true); header.setUint32(28, RATE * 2, true);
  header.setUint16(32, 2, true); header.setUint16(34, 16, true);
  text(36, "data"); header.setUint32(40, pcm.byteLength, true);
  return new Blob([header, pcm], { type: "audio/wav" });
}

export class Speak {
  constructor(api) {
    this.api = api;
    this.controller = null;
    this.request = null;
    this.pcm = null;
    $("speak-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.run();
    });
    $("speak-stop").addEventListener("click", () => this.halt("Stopped"));
    $("speak-download").addEventListener("click", () => this.save());
  }

  state(text, failed = false) {
    $("speak-state").textContent = text;
    $("speak-state").classList.toggle("bad", failed);
  }

  body(format) {
    return {
      model: $("speak-model").value || "tts-1",
      input: $("speak-text").value,
      voice: $("speak-mix").value.trim() || $("speak-voice").value || "alloy",
      speed: Number($("speak-speed").value) || 1,
      response_format: format,
      stream_format: "audio",
    };
  }

  halt(message) {
    this.controller?.abort();
    this.player?.stop();
    this.state(message);
  }

  async run() {
    this.controller?.abort();
    this.controller = new AbortController();
    $("speak-download").disabled = true;
    this.request = this.body($("speak-format").value);
    const started = performance.now();
    this.state("Speaking…");
    try {
      this.player ??= await Player.open($("speak-out-level"));
      await this.player.stop();
      // Played as raw pcm while it streams; the chosen format is made for the download.
      const response = await this.api.postJson("/v1/audio/speech", this.body("pcm"), { signal: this.controller.signal });
      const reader = response.body.getReader();
      const parts = [];
      let carry = null;
      let first = null;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        let bytes = value;
        if (carry !== null) {
          bytes = new Uint8Array(value.length + 1);
          bytes[0] = carry;
          bytes.set(value, 1);
          carry = null;
        }
        if (bytes.length % 2) { // a sample split across reads waits for its other byte
          carry = bytes[bytes.length - 1];
          bytes = bytes.subarray(0, bytes.length - 1);
        }
        if (!bytes.length) continue;
        parts.push(bytes);
        this.player.push(pcm16ToFloat(bytes.buffer, bytes.byteOffset, bytes.byteLength), "speech");
        first ??= performance.now() - started;
        this.state(`Playing (first audio after ${Math.round(first)} ms)`);
      }
      this.pcm = new Blob(parts);
      $("speak-download").disabled = false;
      const seconds = this.pcm.size / 2 / RATE;
      this.state(`${seconds.toFixed(1)} s of audio; first audio after ${Math.round(first)} ms`);
    } catch (error) {
      if (error.name !== "AbortError") this.state(describe(error), true);
    }
  }

  async save() {
    const format = this.request.response_format;
    const name = `speech.${format}`;
    if (format === "pcm") return download(new Blob([this.pcm], { type: "audio/pcm" }), name);
    if (format === "wav") return download(wav(await this.pcm.arrayBuffer()), name);
    this.state(`Encoding ${format}…`);
    try {
      const response = await this.api.postJson("/v1/audio/speech", this.request);
      download(await response.blob(), name);
      this.state(`Saved ${name}`);
    } catch (error) {
      this.state(describe(error), true);
    }
  }
}
