// Talk: a conversation with the voice agent over the Realtime WebSocket.

import { Microphone, Player, base64ToBytes, bytesToBase64, pcm16ToFloat } from "./audio.js";
import { LivePanel } from "./live.js";
import { RealtimeSession } from "./realtime.js";

const $ = (id) => document.getElementById(id);
const PCM = { type: "audio/pcm", rate: 24000 };

/** Figures the page measured, read by the tests and bench/bench_console.py. */
export const talkFigures = { latenciesMs: [], bargeIns: [], sentFrames: 0, sentLoudFrames: 0 };

export class Talk extends LivePanel {
  constructor(api) {
    super(api, "talk", "Talk");
    this.player = null;
    this.lines = new Map(); // item id -> <li>
    this.dropped = new Set(); // items cut by a barge-in: their late audio is not played
    this.stoppedAt = null;
    this.holding = false;
    $("talk-ptt").addEventListener("change", () => this.pushToTalkChanged());
    $("talk-voice").addEventListener("change", () => this.update());
    $("talk-instructions").addEventListener("change", () => this.update());
    const hold = $("talk-hold");
    hold.addEventListener("pointerdown", () => this.press());
    hold.addEventListener("pointerup", () => this.release());
    hold.addEventListener("pointerleave", () => this.release());
    hold.addEventListener("keydown", (e) => {
      if ((e.key === " " || e.key === "Enter") && !e.repeat) { e.preventDefault(); this.press(); }
    });
    hold.addEventListener("keyup", (e) => {
      if (e.key === " " || e.key === "Enter") { e.preventDefault(); this.release(); }
    });
  }

  async start() {
    this.player = await Player.open($("talk-out-level"));
    this.player.onStarted = (now) => this.replyStarted(now);
    this.session = await RealtimeSession.open(
      this.api, { model: "gpt-realtime" },
      (event) => this.onEvent(event),
      (close) => this.stop(close.code === 1000 ? "Ended" : `Disconnected (code ${close.code})`, close.code !== 1000),
    );
    this.update();
    this.mic = await Microphone.open((pcm, level) => this.frame(pcm, level));
  }

  stop(message, failed = false) {
    this.player?.close();
    this.player = null;
    super.stop(message, failed);
  }

  get pushToTalk() {
    return $("talk-ptt").checked;
  }

  pushToTalkChanged() {
    $("talk-hold").hidden = !this.pushToTalk;
    this.update();
  }

  update() {
    const vad = { type: "server_vad", create_response: true, interrupt_response: true };
    this.session?.send({
      type: "session.update",
      session: {
        type: "realtime",
        instructions: $("talk-instructions").value,
        output_modalities: ["audio"],
        audio: {
          input: { format: PCM, transcription: { model: "whisper-1" }, turn_detection: this.pushToTalk ? null : vad },
          output: { format: PCM, voice: $("talk-voice").value || "alloy" },
        },
      },
    });
  }

  frame(pcm, level) {
    this.showMicLevel(level);
    if (!this.session || (this.pushToTalk && !this.holding)) return;
    talkFigures.sentFrames += 1;
    if (level > 0.01) talkFigures.sentLoudFrames += 1;
    this.session.send({ type: "input_audio_buffer.append", audio: bytesToBase64(pcm) });
  }

  press() {
    if (!this.session || this.holding) return;
    this.holding = true;
    this.bargeIn();
    this.session.send({ type: "input_audio_buffer.clear" });
    this.state("Speak now, release to send");
  }

  release() {
    if (!this.session || !this.holding) return;
    this.holding = false;
    this.stoppedAt = performance.now();
    this.session.send({ type: "input_audio_buffer.commit" });
    this.session.send({ type: "response.create" });
    this.state("Thinking…");
  }

  /** Stop the reply the moment the user speaks, and tell the server what was heard. */
  async bargeIn() {
    if (!this.player) return;
    const cut = await this.player.stop();
    if (!cut || !cut.item) return;
    this.dropped.add(cut.item);
    this.lines.get(cut.item)?.classList.add("cut");
    talkFigures.bargeIns.push(cut);
    this.session?.send({
      type: "conversation.item.truncate", item_id: cut.item, content_index: 0, audio_end_ms: cut.playedMs,
    });
  }

  replyStarted(now) {
    if (this.stoppedAt === null) return;
    const ms = Math.round(now - this.stoppedAt);
    talkFigures.latenciesMs.push(ms);
    this.stoppedAt = null;
    this.state(`Replying (first audio ${ms} ms after you stopped)`);
  }

  line(item, role) {
    let li = this.lines.get(item);
    if (!li) {
      li = document.createElement("li");
      li.className = role;
      li.dataset.item = item;
      this.lines.set(item, li);
      $("talk-log").append(li);
    }
    return li;
  }

  onEvent(event) {
    switch (event.type) {
      case "input_audio_buffer.speech_started":
        this.stoppedAt = null;
        this.bargeIn();
        this.state("Hearing you…");
        break;
      case "input_audio_buffer.speech_stopped":
        this.stoppedAt = performance.now();
        this.state("Thinking…");
        break;
      case "input_audio_buffer.committed":
        this.line(event.item_id, "user");
        break;
      case "conversation.item.input_audio_transcription.delta":
        this.line(event.item_id, "user").textContent += event.delta;
        break;
      case "conversation.item.input_audio_transcription.completed":
        this.line(event.item_id, "user").textContent = event.transcript;
        break;
      case "response.output_audio_transcript.delta":
      case "response.output_text.delta":
        this.line(event.item_id, "assistant").textContent += event.delta;
        break;
      case "response.output_audio.delta":
        if (!this.dropped.has(event.item_id)) {
          const bytes = base64ToBytes(event.delta);
          this.player?.push(pcm16ToFloat(bytes.buffer), event.item_id);
        }
        break;
      case "response.done":
        if (event.response.status === "failed") {
          this.state(event.response.status_details?.error?.message || "The reply failed", true);
        } else if (!this.pushToTalk) {
          this.state("Listening");
        }
        break;
      case "session.updated":
        if (!this.stoppedAt) this.state(this.pushToTalk ? "Hold the button to speak" : "Listening");
        break;
      case "error": {
        const li = document.createElement("li");
        li.className = "error";
        li.textContent = event.error.message;
        $("talk-log").append(li);
        break;
      }
    }
  }
}
