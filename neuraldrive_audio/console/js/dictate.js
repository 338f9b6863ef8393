// Dictate: a live transcription session; deltas appear as they come, turns become paragraphs.

import { Microphone, bytesToBase64 } from "./audio.js";
import { LivePanel } from "./live.js";
import { RealtimeSession } from "./realtime.js";
import { download } from "./files.js";

const $ = (id) => document.getElementById(id);

export class Dictate extends LivePanel {
  constructor(api) {
    super(api, "dictate", "Dictate");
    this.turns = new Map(); // item id -> <p>
    $("dictate-copy").addEventListener("click", () => this.copy());
    $("dictate-download").addEventListener("click", () =>
      download(new Blob([this.text()], { type: "text/plain" }), "dictation.txt"));
    $("dictate-clear").addEventListener("click", () => {
      this.turns.clear();
      $("dictate-text").replaceChildren();
    });
  }

  text() {
    return [...this.turns.values()].map((p) => p.textContent.trim()).filter(Boolean).join("\n\n");
  }

  async copy() {
    try {
      await navigator.clipboard.writeText(this.text());
      this.state("Copied");
    } catch {
      // no clipboard API (plain http): select the text so the keyboard can copy it
      getSelection().selectAllChildren($("dictate-text"));
      this.state("Selected: press Ctrl+C to copy");
    }
  }

  async start() {
    this.session = await RealtimeSession.open(
      this.api, { intent: "transcription" },
      (event) => this.onEvent(event),
      (close) => this.stop(`Disconnected (code ${close.code})`, close.code !== 1000),
    );
    const language = $("dictate-language").value.trim();
    this.session.send({
      type: "session.update",
      session: {
        type: "transcription",
        audio: {
          input: {
            format: { type: "audio/pcm", rate: 24000 },
            transcription: { model: $("dictate-model").value || "whisper-1", ...(language ? { language } : {}) },
            turn_detection: { type: "server_vad" },
          },
        },
      },
    });
    this.mic = await Microphone.open((pcm, level) => {
      this.showMicLevel(level);
      this.session?.send({ type: "input_audio_buffer.append", audio: bytesToBase64(pcm) });
    });
    this.state("Listening");
  }

  turn(item) {
    let p = this.turns.get(item);
    if (!p) {
      p = document.createElement("p");
      p.className = "partial";
      this.turns.set(item, p);
      $("dictate-text").append(p);
    }
    return p;
  }

  onEvent(event) {
    switch (event.type) {
      case "input_audio_buffer.committed":
        this.turn(event.item_id);
        break;
      case "conversation.item.input_audio_transcription.delta":
        this.turn(event.item_id).textContent += event.delta;
        break;
      case "conversation.item.input_audio_transcription.completed": {
        const p = this.turn(event.item_id);
        p.textContent = event.transcript;
        p.className = "";
        break;
      }
      case "conversation.item.input_audio_transcription.failed":
        this.state(event.error?.message || "A turn could not be transcribed", true);
        break;
      case "error":
        this.state(event.error.message, true);
        break;
    }
  }
}
