// The one place that talks HTTP and opens WebSockets: every call carries the key.

const STORAGE_KEY = "neuraldrive-audio.api-key";

/** An OpenAI-style error from the service (or a network failure). */
export class ApiError extends Error {
  constructor(status, message, code = null) {
    super(message);
    this.status = status;
    this.code = code;
  }

  static async from(response) {
    let message = `${response.status} ${response.statusText}`;
    let code = null;
    try {
      const body = await response.json();
      if (body && body.error) {
        message = body.error.message || message;
        code = body.error.code || null;
      }
    } catch {
      // not JSON (e.g. a gateway page): keep the status line
    }
    return new ApiError(response.status, message, code);
  }
}

export class Api {
  constructor() {
    this.key = localStorage.getItem(STORAGE_KEY) || sessionStorage.getItem(STORAGE_KEY) || "";
  }

  get remembered() {
    return localStorage.getItem(STORAGE_KEY) !== null;
  }

  /** Use ``key`` from now on; keep it in localStorage only when asked to. */
  setKey(key, remember) {
    this.key = key.trim();
    sessionStorage.setItem(STORAGE_KEY, this.key);
    if (remember) localStorage.setItem(STORAGE_KEY, this.key);
    else localStorage.removeItem(STORAGE_KEY);
  }

  headers(extra = {}) {
    return { Authorization: `Bearer ${this.key}`, ...extra };
  }

  /** fetch with the key; a non-2xx answer throws an ApiError with the service's message. */
  async fetch(path, init = {}) {
    let response;
    try {
      response = await fetch(path, { ...init, headers: this.headers(init.headers) });
    } catch (error) {
      if (error.name === "AbortError") throw error;
      throw new ApiError(0, `The service cannot be reached (${error.message}).`);
    }
    if (!response.ok) throw await ApiError.from(response);
    return response;
  }

  async json(path, init = {}) {
    return (await this.fetch(path, init)).json();
  }

  async postJson(path, body, init = {}) {
    return this.fetch(path, {
      ...init,
      method: "POST",
      body: JSON.stringify(body),
      headers: { "Content-Type": "application/json", ...(init.headers || {}) },
    });
  }

  /**
   * Checks the key over HTTP. A WebSocket refused with 401 before the upgrade only shows the
   * page a dropped socket, so every live session checks here first.
   */
  async checkKey() {
    if (!this.key) throw new ApiError(401, "Enter the API key first.", "invalid_api_key");
    return this.json("/v1/audio/models");
  }

  /** A Realtime WebSocket; the key travels as a subprotocol (browsers cannot set headers). */
  openSocket(query) {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const url = `${scheme}//${location.host}/v1/realtime?${new URLSearchParams(query)}`;
    return new WebSocket(url, ["realtime", `openai-insecure-api-key.${this.key}`]);
  }
}

/** A human sentence for an error: a wrong key says so plainly. */
export function describe(error) {
  if (error instanceof ApiError && error.status === 401) {
    return `The API key was refused: ${error.message}`;
  }
  return error.message || String(error);
}
