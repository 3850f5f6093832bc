// The signalling WebSocket (spec/protocol.md §2-§4): JSON envelopes with
// "v":1, and reconnection by itself after a network blip (§4.5: a new
// participant each time; the caller rejoins with the same identity).
// Nothing secret passes here in the clear: MLS messages are opaque base64.

const MIN_DELAY = 500;
const MAX_DELAY = 10000;

export class Signalling extends EventTarget {
  constructor(room) {
    super();
    this.room = room;
    this.ws = null;
    this.attempt = 0;
    this.closed = false;
  }

  /** Connects (again); emits 'open', 'message' (detail: msg), 'lost', 'closed'. */
  connect() {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(`${scheme}//${location.host}/ws`);
    this.ws = ws;
    ws.onopen = () => {
      this.attempt = 0;
      this.send({ type: 'join', room: this.room });
      this.dispatchEvent(new Event('open'));
    };
    ws.onmessage = (e) => {
      let msg;
      try {
        msg = JSON.parse(e.data);
      } catch {
        return;
      }
      if (msg && typeof msg === 'object' && msg.v === 1 && typeof msg.type === 'string') {
        this.dispatchEvent(new CustomEvent('message', { detail: msg }));
      }
    };
    ws.onclose = (e) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.closed) {
        this.dispatchEvent(new Event('closed'));
        return;
      }
      this.dispatchEvent(new CustomEvent('lost', { detail: { code: e.code } }));
    };
  }

  /** Reconnects after the backoff of spec §4.5 (0.5 s doubling to 10 s, with jitter). */
  reconnectLater() {
    if (this.closed) return;
    const base = Math.min(MAX_DELAY, MIN_DELAY * 2 ** this.attempt++);
    const delay = base / 2 + Math.random() * (base / 2);
    setTimeout(() => !this.closed && this.connect(), delay);
  }

  send(msg) {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify({ v: 1, ...msg }));
  }

  /** A clean leave (§3 `leave`); no reconnection afterwards. */
  leave() {
    this.closed = true;
    this.send({ type: 'leave' });
    this.ws?.close();
  }
}

/** Base64 (standard, padded: spec §2) of bytes. */
export function toBase64(bytes) {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

/** Bytes of a base64 string; throws on bad input (peer input: callers catch). */
export function fromBase64(text) {
  const s = atob(text);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}
