// A Realtime API session over WebSocket (OpenAI's GA events), checked over HTTP first.

import { ApiError } from "./api.js";

export class RealtimeSession {
  /**
   * Opens a session and resolves once ``session.created`` arrived. ``onEvent`` gets every
   * server event; ``onClose`` the close after that.
   */
  static async open(api, query, onEvent, onClose) {
    await api.checkKey(); // a wrong key says so here, not as a dropped socket
    const socket = api.openSocket(query);
    const session = new RealtimeSession(socket);
    await new Promise((resolve, reject) => {
      socket.onmessage = (message) => {
        const event = JSON.parse(message.data);
        if (event.type === "session.created") {
          session.created = event.session;
          socket.onmessage = (next) => onEvent(JSON.parse(next.data));
          socket.onclose = (close) => onClose(close);
          resolve();
        } else if (event.type === "error") {
          reject(new ApiError(0, event.error.message, event.error.code));
        }
      };
      socket.onclose = (close) =>
        reject(new Error(`The live session was refused or dropped (code ${close.code}).`));
    });
    return session;
  }

  constructor(socket) {
    this.socket = socket;
    this.created = null;
  }

  send(event) {
    if (this.socket.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(event));
  }

  close() {
    this.socket.onclose = null;
    this.socket.close(1000);
  }
}
