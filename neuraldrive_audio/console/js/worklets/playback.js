// Gapless playback of 24 kHz mono chunks, resampled to the context's rate. Counts what it
// really played (in 24 kHz samples) so a barge-in can tell the server how much was heard.

const SOURCE_RATE = 24000;
const REPORT_EVERY = 2400; // 100 ms of source audio

class PlaybackProcessor extends AudioWorkletProcessor {
  constructor() {
    super();
    this.chunks = [];
    this.index = 0; // read position (fractional) in chunks[0]
    this.step = SOURCE_RATE / sampleRate; // source samples per output sample
    this.played = 0; // source samples played since the processor started
    this.reported = 0;
    this.playing = false;
    this.port.onmessage = (event) => this.receive(event.data);
  }

  receive(message) {
    if (message.type === "push") {
      this.chunks.push(message.samples);
    } else if (message.type === "clear") {
      this.chunks = [];
      this.index = 0;
      this.playing = false;
      this.port.postMessage({ type: "cleared", played: this.played, id: message.id });
    }
  }

  process(_inputs, outputs) {
    const output = outputs[0][0];
    let written = 0;
    while (written < output.length && this.chunks.length > 0) {
      const chunk = this.chunks[0];
      const whole = Math.floor(this.index);
      if (whole >= chunk.length) {
        this.chunks.shift();
        this.index -= chunk.length;
        continue;
      }
      const fraction = this.index - whole;
      const next = whole + 1 < chunk.length ? chunk[whole + 1] : chunk[whole];
      output[written++] = chunk[whole] + (next - chunk[whole]) * fraction;
      this.index += this.step;
      this.played += this.step;
    }
    for (let i = written; i < output.length; i++) output[i] = 0;
    for (let c = 1; c < outputs[0].length; c++) outputs[0][c].set(output);
    if (written > 0 && !this.playing) {
      this.playing = true;
      this.port.postMessage({ type: "started", played: this.played, time: currentTime });
    }
    if (this.playing && this.chunks.length === 0) {
      this.playing = false;
      this.port.postMessage({ type: "drained", played: this.played });
    } else if (this.played - this.reported >= REPORT_EVERY) {
      this.reported = this.played;
      this.port.postMessage({ type: "played", played: this.played });
    }
    return true;
  }
}

registerProcessor("playback", PlaybackProcessor);
