// Microphone capture: the context's input, resampled to 24 kHz mono, posted as 20 ms frames of
// 16-bit PCM (what the Realtime API's audio/pcm takes) with each frame's RMS level.

const TARGET_RATE = 24000;
const FRAME = 480; // 20 ms at 24 kHz

class CaptureProcessor extends AudioWorkletProcessor {
  constructor() {
    super();
    this.step = sampleRate / TARGET_RATE; // input samples per output sample
    this.position = 0; // fractional read position in the current input block
    this.previous = 0; // last input sample, for interpolation across blocks
    this.frame = new Int16Array(FRAME);
    this.filled = 0;
    this.energy = 0;
  }

  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (!channel) return true;
    // Linear interpolation; position -1 is the previous block's last sample.
    while (this.position <= channel.length - 1) {
      const index = Math.floor(this.position);
      const fraction = this.position - index;
      const a = index < 0 ? this.previous : channel[index];
      const b = index + 1 < channel.length ? channel[index + 1] : a;
      this.push(a + (b - a) * fraction);
      this.position += this.step;
    }
    this.position -= channel.length;
    this.previous = channel[channel.length - 1];
    return true;
  }

  push(sample) {
    const clipped = Math.max(-1, Math.min(1, sample));
    this.frame[this.filled++] = clipped < 0 ? clipped * 0x8000 : clipped * 0x7fff;
    this.energy += clipped * clipped;
    if (this.filled === FRAME) {
      const level = Math.sqrt(this.energy / FRAME);
      this.port.postMessage({ pcm: this.frame.buffer, level }, [this.frame.buffer]);
      this.frame = new Int16Array(FRAME);
      this.filled = 0;
      this.energy = 0;
    }
  }
}

registerProcessor("capture", CaptureProcessor);
