// The call's plumbing around the participant core (sotto-web's
// Participant, the same Rust core the native client runs): it opens and
// closes the WebSocket when the core says, hands it every server message
// and every timer, and carries out what it returns, in order: messages to
// send, keys for the frame Worker, commands for the peer connections,
// events for the interface. Every rule (join, knock, commits, missed
// commits, rejoin, fatal errors) is the core's; nothing here decides.

import * as wasm from './pkg/sotto_web.js';
import { Media } from './media.js';
import { loadIdentity, saveIdentity, getSetting } from './store.js';

let ready = null;
/** Loads the wasm once; resolves to the module's exports. */
export function loadWasm() {
  ready ??= wasm.default({ module_or_path: '/static/pkg/sotto_web_bg.wasm' }).then(() => wasm);
  return ready;
}

/**
 * The identity for this call: by default a fresh one, kept only in this
 * page (the server cannot link this call to another). If the person chose
 * to keep an identity on this browser, the stored one (made on first use),
 * so that people who verified it recognise it.
 */
export async function identity() {
  await loadWasm();
  const keep = await getSetting('keepIdentity').catch(() => false);
  if (!keep) return wasm.generateIdentity();
  let bytes = await loadIdentity();
  if (!bytes) {
    bytes = wasm.generateIdentity();
    await saveIdentity(bytes);
  }
  return bytes;
}

const now = () => Math.floor(performance.timeOrigin + performance.now());

/** After this long connecting, the person is told it takes long. */
const SLOW_MEDIA_MS = 10000;

export class Call extends EventTarget {
  /**
   * `room`, `secret` (the fragment, or null to knock), `name` (display
   * name, sent only inside MLS), `frames` (the Worker handle), `tracks`
   * ({mic, camera, screen} MediaStreamTracks or null).
   * Events (CustomEvent detail): 'state' {state}, 'joined' {roomCode,
   * fingerprint}, 'epoch' {roomCode}, 'member' {participant, leaf,
   * fingerprint, admission, addedBy}, 'memberleft' {participant,
   * removedBy}, 'departed' {participant, member, reason}, 'overdue'
   * {participant}, 'knock' {participant, fingerprint}, 'knockclosed'
   * {participant}, 'conflict' {participant}, 'chat' {from, text}, 'profile'
   * {from, name}, 'status' {from, mic, camera, hand, recording}, 'reaction'
   * {from, emoji}, 'track' {participant, source, kind, track, statsId},
   * 'trackended' {participant, source}, 'mediastopped', 'media' {state,
   * failures} (the media connection: 'connecting', 'slow' when connecting
   * takes long, 'connected', or 'failed': cannot reach the media server,
   * retrying; `failures` so far in this membership), 'ended' {reason,
   * code}.
   */
  constructor({ room, secret, name, frames, tracks }) {
    super();
    this.room = room;
    this.secret = secret;
    this.name = name;
    this.frames = frames;
    this.tracks = tracks;
    this.p = null;
    this.ws = null;
    this.media = null;
    this.timer = null;
    this.mediaFailures = 0;
    this.mediaState = null;
    this.slowTimer = null;
  }

  /**
   * What the person is told of the media connection. Once it failed, the
   * new connections count as failed (we are retrying) until they connect.
   */
  #mediaState(state) {
    if (state === 'connected') clearTimeout(this.slowTimer);
    if (state !== 'connected' && this.mediaFailures > 0) state = 'failed';
    if (state === this.mediaState) return;
    this.mediaState = state;
    this.#emit('media', { state, failures: this.mediaFailures });
  }

  #emit(type, detail = {}) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  async start() {
    await loadWasm();
    const id = await identity();
    this.#emit('state', { state: 'connecting' });
    try {
      const seed = crypto.getRandomValues(new Uint32Array(1))[0];
      this.p = new wasm.Participant(id, this.room, this.secret ?? undefined, this.name, seed, now());
      this.#sayStatus(this.p);
    } catch (e) {
      // A link whose secret the core refuses: say so rather than wait.
      this.#emit('ended', { reason: e?.message === 'bad_secret' ? 'bad_link' : 'error' });
      return;
    }
    this.#drain();
  }

  /** Our participant id on the current connection, or null. */
  get participant() {
    return this.p?.id() ?? null;
  }

  /** Carries out every output of the core, in order; re-arms its timer. */
  #drain() {
    const p = this.p;
    if (!p) return;
    for (let o = p.pollOutput(); o; o = p.pollOutput()) this.#do(JSON.parse(o));
    clearTimeout(this.timer);
    const at = this.p?.pollTimeout();
    if (at !== undefined && at !== null) {
      this.timer = setTimeout(() => {
        this.p?.handleTimeout(now());
        this.#drain();
      }, Math.max(0, Number(at) - now()));
    }
  }

  #do(o) {
    switch (o.do) {
      case 'connect':
        this.#connect();
        break;
      case 'send':
        if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(o.text);
        break;
      case 'close': {
        // What was sent before still goes out: close() waits for it.
        const ws = this.ws;
        this.ws = null;
        if (ws) {
          ws.onclose = ws.onmessage = ws.onopen = null;
          ws.close();
        }
        break;
      }
      case 'keys':
        if (o.kind === 'epoch') this.frames.addEpoch(this.p.takeEpochKeys());
        else if (o.kind === 'ack') this.frames.acknowledge(o.epoch, o.leaf);
        else if (o.kind === 'departed') this.frames.departed(o.participant);
        else if (o.kind === 'reset') this.frames.reset();
        break;
      case 'media':
        this.#media(o);
        break;
      case 'event':
        this.#onEvent(o);
        break;
    }
  }

  #connect() {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(`${scheme}//${location.host}/ws`);
    this.ws = ws;
    ws.onopen = () => {
      this.p?.handleConnected(now());
      this.#drain();
    };
    ws.onmessage = (e) => {
      if (typeof e.data !== 'string') return;
      this.p?.handleMessage(e.data, now());
      this.#drain();
    };
    ws.onclose = (e) => {
      this.ws = null;
      this.p?.handleDisconnected(`the WebSocket closed (${e.code})`, now());
      this.#drain();
    };
  }

  /** A media message of ours (sdp, ice) goes straight to the socket. */
  #sendMedia(msg) {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify({ v: 1, ...msg }));
  }

  #media(o) {
    if (o.kind === 'start') {
      this.media?.close();
      this.media = new Media((m) => this.#sendMedia(m), this.frames, o.iceServers);
      this.media.addEventListener('connection', (e) => {
        // Our own connections failed: ask for new ones now (the core
        // limits how often), rather than wait for the server to notice.
        if (e.detail.state === 'failed' && this.p) {
          this.p.handleMediaFailed(now());
          this.#drain();
        }
        this.#mediaState(e.detail.state);
      });
      this.mediaState = null;
      this.#mediaState('connecting');
      // Connecting takes a second on a good network; after this, say so.
      clearTimeout(this.slowTimer);
      this.slowTimer = setTimeout(() => {
        if (this.mediaState === 'connecting') this.#mediaState('slow');
      }, SLOW_MEDIA_MS);
      this.media.addEventListener('track', (e) => this.#emit('track', e.detail));
      this.media.addEventListener('trackended', (e) => this.#emit('trackended', e.detail));
      for (const source of ['mic', 'camera', 'screen']) {
        if (this.tracks[source]) this.media.publish(source, this.tracks[source]);
      }
      this.#emit('state', { state: 'in_call' });
    } else if (o.kind === 'signal') {
      const m = o.message;
      if (m?.type === 'sdp') this.media?.handleSdp(m);
      else if (m?.type === 'ice') this.media?.handleIce(m);
    } else if (o.kind === 'stop') {
      clearTimeout(this.slowTimer);
      this.media?.close();
      this.media = null;
      this.#emit('mediastopped');
    }
  }

  #onEvent(e) {
    switch (e.type) {
      case 'waiting':
        this.#emit('state', { state: e.knocking ? 'knocking' : 'joining', fingerprint: this.p.fingerprint() });
        break;
      case 'joined':
        this.#emit('joined', { roomCode: e.roomCode, fingerprint: this.p.fingerprint() });
        break;
      case 'opened':
        // We came by the name and nobody was there: the core made the
        // room's secret. It stays in this page (the address bar's
        // fragment, which the browser never sends).
        this.secret = e.fragment;
        this.#emit('opened', { fragment: e.fragment });
        break;
      case 'epoch_changed':
        this.#emit('epoch', { roomCode: e.roomCode });
        break;
      case 'member_added':
        this.#emit('member', e);
        break;
      case 'member_removed':
        this.#emit('memberleft', e);
        break;
      case 'departed':
        this.#emit('departed', e);
        break;
      case 'removal_overdue':
        this.#emit('overdue', e);
        break;
      case 'knock':
        this.#emit('knock', e);
        break;
      case 'knock_closed':
        this.#emit('knockclosed', e);
        break;
      case 'key_package_conflict':
        this.#emit('conflict', e);
        break;
      case 'chat':
        this.#emit('chat', e);
        break;
      case 'profile':
        this.#emit('profile', e);
        break;
      case 'status':
        this.#emit('status', e);
        break;
      case 'reaction':
        this.#emit('reaction', e);
        break;
      case 'media_failed':
        // The server dropped our peer connections (it heard nothing of
        // them): new ones follow at once, in the same group. What is
        // missing is the connection, not keys.
        this.mediaFailures = e.attempt;
        this.#mediaState('failed');
        break;
      case 'rejoining':
        // A new participant in a new epoch: everyone is added again.
        this.mediaFailures = 0;
        this.#emit('state', { state: 'reconnecting' });
        this.#emit('rejoining', e);
        break;
      case 'ended':
        clearTimeout(this.timer);
        clearTimeout(this.slowTimer);
        this.#emit('ended', { reason: e.reason, code: e.code });
        break;
    }
  }

  #command(f) {
    try {
      f(this.p);
    } catch (e) {
      this.#drain();
      throw e;
    }
    this.#drain();
  }

  sendChat(text) {
    this.#command((p) => p?.sendChat(text, now()));
  }

  /**
   * Says our state to the others, inside MLS ({mic, camera, hand,
   * recording}, booleans): now, to everyone who joins, on every rejoin.
   */
  setStatus(status) {
    this.status = status;
    this.#command((p) => this.#sayStatus(p));
  }

  #sayStatus(p) {
    const s = this.status;
    if (p && s) p.setStatus(Boolean(s.mic), Boolean(s.camera), Boolean(s.hand), Boolean(s.recording), now());
  }

  /** Sends a reaction (one of the six the page offers). */
  sendReaction(emoji) {
    this.#command((p) => p?.sendReaction(emoji, now()));
  }

  /** Lets `participant` in, if its key still has the `fingerprint` shown. */
  acceptKnock(participant, fingerprint) {
    this.#command((p) => p?.acceptKnock(participant, fingerprint, now()));
  }

  refuseKnock(participant) {
    this.#command((p) => p?.refuseKnock(participant, now()));
  }

  /** Removes another member from the group. */
  removeMember(participant) {
    this.#command((p) => p?.removeMember(participant, now()));
  }

  /** The safety number of us and `participant`, grouped, or ''. */
  safetyNumber(participant) {
    return this.p?.safetyNumber(participant) ?? '';
  }

  /** The current room code, grouped, or ''. */
  roomCode() {
    return this.p?.roomCode() ?? '';
  }

  /** Sends `track` as `source` instead of the one before (a device switch): no renegotiation. */
  replaceTrack(source, track) {
    this.tracks[source] = track;
    return this.media?.replace(source, track);
  }

  setTrack(source, track) {
    this.tracks[source] = track;
    if (!this.media) return;
    if (track) this.media.publish(source, track);
    else this.media.unpublish(source);
  }

  leave() {
    this.#command((p) => p?.leave());
  }
}
