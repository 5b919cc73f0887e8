// The live stream (infra/asyncapi.yaml): connect with ?token=, subscribe with the last cursor
// received (none the first time), reconnect with backoff and resume from that cursor. The
// caller gets each order_update; duplicates are the caller's to drop by (order_id, version).
import { liveUrl } from "./api.js";

export function connectLive(token, { onUpdate, onState }) {
  let cursor = null;
  let socket = null;
  let stopped = false;
  let delay = 500;
  let timer = null;

  const open = () => {
    if (stopped) return;
    onState(cursor ? "Reconnecting…" : "Connecting…");
    const url = `${liveUrl()}?token=${encodeURIComponent(token)}`;
    socket = new WebSocket(url);
    socket.onopen = () => {
      delay = 500;
      socket.send(JSON.stringify({ action: "subscribe", cursor }));
    };
    socket.onmessage = (event) => {
      let msg;
      try {
        msg = JSON.parse(event.data);
      } catch {
        return;
      }
      if (msg.type === "order_update") {
        cursor = msg.cursor || cursor;
        onUpdate(msg);
      } else if (msg.type === "subscribed") {
        if (msg.cursor) cursor = msg.cursor;
        onState(`Live: connected${msg.replayed ? ` (${msg.replayed} caught up)` : ""}`);
        // An incomplete replay stopped at its limit: ask for the rest.
        if (msg.complete === false) socket.send(JSON.stringify({ action: "subscribe", cursor }));
      } else if (msg.type === "error") {
        onState(`Live: ${msg.detail}`);
      }
    };
    socket.onclose = () => {
      if (stopped) return;
      onState(`Live: disconnected; retrying in ${Math.round(delay / 1000)} s`);
      timer = setTimeout(open, delay);
      delay = Math.min(delay * 2, 15000);
    };
  };
  open();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
      if (socket) socket.close();
    },
    /** Drops the socket as a network fault would; it reconnects after `pauseMs` (at least the
     * usual backoff) and resumes from the cursor. The browser test uses it. */
    drop(pauseMs = 0) {
      delay = Math.max(delay, pauseMs);
      if (socket) socket.close();
    },
    cursor: () => cursor,
  };
}
