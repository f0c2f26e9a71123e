// One websocket that keeps itself open: capped exponential backoff with jitter.
// The caller resyncs in onOpen (it knows what to ask for); frames are parsed JSON.
// A close with one of the caller's final codes ends it: no reconnect, onEnd(code).

const FIRST_DELAY_MS = 500;
const MAX_DELAY_MS = 10000;
const STABLE_AFTER_MS = 5000; // a socket that lived this long resets the backoff

export function socketUrl(path) {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  return `${scheme}://${location.host}${path}`;
}

/**
 * @param {string} url
 * @param {{onOpen: () => void, onFrame: (frame: object) => void, onDown: (attempt: number) => void,
 *          finalCodes?: number[], onEnd?: (code: number) => void}} handlers
 */
export function keepOpen(url, { onOpen, onFrame, onDown, finalCodes = [], onEnd = () => {} }) {
  let ws = null;
  let failures = 0;
  let openedAt = 0;

  function connect() {
    ws = new WebSocket(url);
    ws.addEventListener("open", () => {
      openedAt = Date.now();
      onOpen();
    });
    ws.addEventListener("message", (event) => {
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      if (frame && typeof frame === "object") onFrame(frame);
    });
    ws.addEventListener("close", (event) => {
      ws = null;
      if (finalCodes.includes(event.code)) {
        onEnd(event.code);
        return;
      }
      if (openedAt && Date.now() - openedAt > STABLE_AFTER_MS) failures = 0;
      openedAt = 0;
      const ceiling = Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** failures);
      failures += 1;
      onDown(failures);
      setTimeout(connect, ceiling / 2 + Math.random() * (ceiling / 2));
    });
  }

  connect();
  return {
    get isOpen() {
      return ws !== null && ws.readyState === WebSocket.OPEN;
    },
    /** Send a frame now; false when the socket is down (the caller decides what to keep). */
    send(frame) {
      if (!this.isOpen) return false;
      ws.send(JSON.stringify(frame));
      return true;
    },
  };
}
