// Audio in and out of the page: one AudioContext at 24 kHz (the Realtime API's rate), a
// capture worklet for the microphone and a playback worklet for replies and speech.

export const RATE = 24000;
const worklets = new URL("./worklets/", import.meta.url);
let shared = null;

/** The page's AudioContext with both worklets loaded (made on first use, inside a gesture). */
export async function audioContext() {
  if (!shared) {
    shared = (async () => {
      let context;
      try {
        context = new AudioContext({ sampleRate: RATE, latencyHint: "interactive" });
      } catch {
        context = new AudioContext({ latencyHint: "interactive" }); // the worklets resample
      }
      await context.audioWorklet.addModule(new URL("capture.js", worklets));
      await context.audioWorklet.addModule(new URL("playback.js", worklets));
      return context;
    })();
  }
  const context = await shared;
  if (context.state === "suspended") await context.resume();
  return context;
}

/** Why the microphone cannot work here, or null when it can. */
export function microphoneProblem() {
  if (!window.isSecureContext) {
    return (
      "The microphone needs a secure context, and this page is plain HTTP on " +
      `${location.hostname}. Open it through the appliance's HTTPS gateway ` +
      `(https://${location.hostname}:8443/console/) or on localhost; Talk and Dictate ` +
      "are off until then."
    );
  }
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    return "This browser has no microphone access (getUserMedia); Talk and Dictate are off.";
  }
  return null;
}

/** The microphone as 20 ms frames of 24 kHz pcm16: onFrame(ArrayBuffer, level). */
export class Microphone {
  static async open(onFrame) {
    const problem = microphoneProblem();
    if (problem) throw new Error(problem);
    const context = await audioContext();
    const stream = await navigator.mediaDevices.getUserMedia({
      audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true, autoGainControl: true },
    });
    const source = context.createMediaStreamSource(stream);
    const node = new AudioWorkletNode(context, "capture", { numberOfInputs: 1, numberOfOutputs: 0 });
    node.port.onmessage = (event) => onFrame(event.data.pcm, event.data.level);
    source.connect(node);
    return new Microphone(stream, source, node);
  }

  constructor(stream, source, node) {
    this.stream = stream;
    this.source = source;
    this.node = node;
  }

  close() {
    this.source.disconnect();
    this.node.port.onmessage = null;
    for (const track of this.stream.getTracks()) track.stop();
  }
}

/** pcm16 little-endian bytes -> Float32 samples. */
export function pcm16ToFloat(buffer, byteOffset = 0, byteLength = buffer.byteLength - byteOffset) {
  const view = new DataView(buffer, byteOffset, byteLength);
  const samples = new Float32Array(byteLength >> 1);
  for (let i = 0; i < samples.length; i++) samples[i] = view.getInt16(i * 2, true) / 0x8000;
  return samples;
}

export function base64ToBytes(text) {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

export function bytesToBase64(buffer) {
  const bytes = new Uint8Array(buffer);
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

/**
 * Gapless playback of 24 kHz chunks, each tagged with the item it belongs to. An analyser on
 * the output drives a level meter and records what was really heard (``heard``).
 */
export class Player {
  static async open(meter) {
    const context = await audioContext();
    const node = new AudioWorkletNode(context, "playback", { outputChannelCount: [1] });
    const analyser = context.createAnalyser();
    analyser.fftSize = 1024;
    node.connect(analyser);
    analyser.connect(context.destination);
    return new Player(node, analyser, meter);
  }

  constructor(node, analyser, meter) {
    this.node = node;
    this.analyser = analyser;
    this.meter = meter;
    this.pushed = 0; // source samples queued since the worklet started
    this.played = 0;
    this.segments = []; // {item, start, end} in source samples
    this.waiters = new Map();
    this.onStarted = null;
    this.heard = { frames: 0, loudFrames: 0, peak: 0, sumSquares: 0 };
    this.node.port.onmessage = (event) => this.receive(event.data);
    const probe = new Float32Array(analyser.fftSize);
    this.timer = setInterval(() => this.measure(probe), 50);
  }

  receive(message) {
    this.played = message.played;
    if (message.type === "started" && this.onStarted) this.onStarted(performance.now());
    if (message.type === "cleared") {
      this.pushed = message.played;
      this.waiters.get(message.id)?.(message.played);
      this.waiters.delete(message.id);
    }
  }

  measure(probe) {
    this.analyser.getFloatTimeDomainData(probe);
    let sum = 0;
    for (const s of probe) sum += s * s;
    const rms = Math.sqrt(sum / probe.length);
    const heard = this.heard;
    heard.frames += 1;
    heard.sumSquares += sum;
    heard.peak = Math.max(heard.peak, rms);
    if (rms > 0.01) heard.loudFrames += 1;
    if (this.meter) {
      this.meter.value = Math.min(1, rms * 4);
      this.meter.dataset.peak = heard.peak.toFixed(4);
      this.meter.dataset.loudFrames = String(heard.loudFrames);
    }
  }

  /** Queue samples (Float32Array at 24 kHz) of ``item``. */
  push(samples, item = null) {
    const last = this.segments[this.segments.length - 1];
    if (last && last.item === item) last.end += samples.length;
    else this.segments.push({ item, start: this.pushed, end: this.pushed + samples.length });
    this.pushed += samples.length;
    this.node.port.postMessage({ type: "push", samples }, [samples.buffer]);
  }

  /** Whether queued audio is still playing. */
  get busy() {
    return this.pushed - this.played > 1;
  }

  /**
   * Stop now and drop what is queued. Resolves to {item, playedMs} for the item that was
   * cut (how much of it was really played), or null when nothing was cut.
   */
  async stop() {
    const id = Math.random();
    const played = await new Promise((resolve) => {
      this.waiters.set(id, resolve);
      this.node.port.postMessage({ type: "clear", id });
    });
    const cut = this.segments.find((s) => s.start <= played && played < s.end);
    this.segments = [];
    if (!cut) return null;
    return { item: cut.item, playedMs: Math.floor(((played - cut.start) * 1000) / RATE) };
  }

  close() {
    clearInterval(this.timer);
    this.node.disconnect();
    this.analyser.disconnect();
    if (this.meter) this.meter.value = 0;
  }
}
