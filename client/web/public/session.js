// The call's driver: signalling messages in, the MLS session (wasm, in
// this page) in the middle, media and the interface out. It follows the
// session's drive loop (sotto-crypto `session`): feed each server message
// to the matching input, tick on timeouts, send every output, hand every
// event to the interface and the epoch keys to the frame Worker.

import * as wasm from './pkg/sotto_web.js';
import { Signalling, fromBase64 } from './signalling.js';
import { Media } from './media.js';
import { loadIdentity, saveIdentity } from './store.js';

let ready = null;
/** Loads the wasm once; resolves to the module's exports. */
export function loadWasm() {
  ready ??= wasm.default({ module_or_path: '/static/pkg/sotto_web_bg.wasm' }).then(() => wasm);
  return ready;
}

/** The persistent identity (created and saved on first use). */
export async function identity() {
  await loadWasm();
  let bytes = await loadIdentity();
  if (!bytes) {
    bytes = wasm.generateIdentity();
    await saveIdentity(bytes);
  }
  return bytes;
}

const now = () => Math.floor(performance.timeOrigin + performance.now());

export class Call extends EventTarget {
  /**
   * `room`, `secret` (the fragment, or null to knock), `name` (display
   * name, sent only inside MLS), `frames` (the Worker handle), `tracks`
   * ({mic, camera} MediaStreamTracks or null).
   * Events (CustomEvent detail): 'state' {state}, 'joined', 'epoch'
   * {roomCode}, 'member' {participant, leaf, fingerprint, admission},
   * 'memberleft' {participant}, 'knock' {participant, fingerprint},
   * 'knockclosed' {participant}, 'chat' {from, text}, 'profile' {from,
   * name}, 'track' {participant, source, kind, track, statsId},
   * 'trackended' {participant, source}, 'ended' {reason}.
   */
  constructor({ room, secret, name, frames, tracks }) {
    super();
    this.room = room;
    this.secret = secret;
    this.name = name;
    this.frames = frames;
    this.tracks = tracks;
    this.session = null;
    this.media = null;
    this.participant = null;
    this.timer = null;
    this.signalling = new Signalling(room);
    this.signalling.addEventListener('message', (e) => this.#onMessage(e.detail));
    this.signalling.addEventListener('lost', () => this.#onLost());
  }

  #emit(type, detail = {}) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  async start() {
    await loadWasm();
    this.identity = await identity();
    this.#emit('state', { state: 'connecting' });
    this.signalling.connect();
  }

  #send(msg) {
    this.signalling.send(msg);
  }

  async #onMessage(msg) {
    try {
      await this.#handle(msg);
    } catch {
      // Peer input that the session refused: it stays consistent and goes on.
    }
    this.#drain();
  }

  async #handle(msg) {
    const s = this.session;
    switch (msg.type) {
      case 'joined':
        this.participant = msg.participant;
        this.iceServers = msg.ice_servers;
        this.session?.free();
        this.session = null;
        if (msg.role === 'creator' && !this.secret) {
          // Only a holder of the link may found the room (mls-profile.md).
          this.#send({ type: 'leave' });
          this.#end('no_creator');
          return;
        }
        try {
          this.session = msg.role === 'creator'
            ? wasm.Session.create(this.identity, msg.participant, this.room, this.secret, now())
            : wasm.Session.join(this.identity, msg.participant, this.room, this.secret ?? undefined);
        } catch (e) {
          // A link whose secret the session refuses (or a stored identity
          // that no longer loads): say so rather than wait for ever.
          this.#send({ type: 'leave' });
          this.#end(e?.message === 'bad_secret' ? 'bad_link' : 'error');
          return;
        }
        if (msg.role !== 'creator') this.#emit('state', { state: this.secret ? 'joining' : 'knocking' });
        this.session.setProfile(this.name);
        break;
      case 'join_request':
        s?.handleJoinRequest(msg.participant, fromBase64(msg.key_package), now());
        break;
      case 'welcome':
        s?.handleWelcome(msg.from, fromBase64(msg.welcome), now());
        break;
      case 'commit':
        s?.handleCommit(msg.from, msg.epoch, fromBase64(msg.commit), now());
        break;
      case 'commit_accepted':
        s?.handleCommitAccepted(msg.epoch, now());
        break;
      case 'application':
        s?.handleApplication(msg.from, fromBase64(msg.data));
        break;
      case 'left':
        this.frames?.departed(msg.participant);
        s?.handleDeparture(msg.participant, now());
        this.#emit('memberleft', { participant: msg.participant });
        break;
      case 'become_creator':
        if (this.secret) s?.handleBecomeCreator(now());
        else {
          this.#send({ type: 'leave' });
          this.#end('no_creator');
        }
        break;
      case 'refused':
        this.#end('refused');
        break;
      case 'sdp':
        await this.media?.handleSdp(msg);
        break;
      case 'ice':
        await this.media?.handleIce(msg);
        break;
      case 'error':
        if (msg.code === 'stale_epoch' && typeof msg.current_epoch === 'number') {
          s?.handleCommitRejected(msg.current_epoch);
        }
        break;
    }
  }

  /** Sends every output, dispatches every event, re-arms the timer. */
  #drain() {
    const s = this.session;
    if (!s) return;
    // Outputs are the signalling messages to send, as JSON (sotto-web).
    for (let o = s.pollOutput(); o; o = s.pollOutput()) this.#send(JSON.parse(o));
    for (let e = s.pollEvent(); e; e = s.pollEvent()) this.#onEvent(JSON.parse(e));
    clearTimeout(this.timer);
    const at = s.pollTimeout();
    if (at !== undefined) {
      this.timer = setTimeout(() => {
        try {
          this.session?.tick(now());
        } catch {}
        this.#drain();
      }, Math.max(0, Number(at) - now()));
    }
  }

  #onEvent(e) {
    switch (e.type) {
      case 'joined':
        this.#emit('joined', { roomCode: e.roomCode, fingerprint: this.session.fingerprint() });
        this.#startMedia();
        break;
      case 'epoch_changed':
        this.#emit('epoch', { roomCode: e.roomCode });
        break;
      case 'epoch_keys':
        // Serialised epoch keys, straight from wasm to the Worker's ring.
        this.frames.addEpoch(this.session.takeEpochKeys());
        break;
      case 'key_ack':
        this.frames.acknowledge(e.epoch, e.leaf);
        break;
      case 'member_added':
        this.#emit('member', e);
        break;
      case 'member_removed':
        this.#emit('memberleft', e);
        break;
      case 'knock':
        this.#emit('knock', e);
        break;
      case 'knock_closed':
        this.#emit('knockclosed', e);
        break;
      case 'chat':
        this.#emit('chat', e);
        break;
      case 'profile':
        this.#emit('profile', e);
        break;
      case 'ended':
        this.#end(e.reason);
        break;
    }
  }

  #startMedia() {
    this.media?.close();
    this.media = new Media((m) => this.#send(m), this.frames, this.iceServers);
    this.media.addEventListener('track', (e) => this.#emit('track', e.detail));
    this.media.addEventListener('trackended', (e) => this.#emit('trackended', e.detail));
    if (this.tracks.mic) this.media.publish('mic', this.tracks.mic);
    if (this.tracks.camera) this.media.publish('camera', this.tracks.camera);
    if (this.tracks.screen) this.media.publish('screen', this.tracks.screen);
    this.#emit('state', { state: 'in_call' });
  }

  /** A network blip: the server forgot us; rejoin as a new participant (§4.5). */
  #onLost() {
    this.media?.close();
    this.media = null;
    this.session?.free();
    this.session = null;
    // A new group after the rejoin: a new key ring (keys are per group).
    this.frames.reset();
    this.#emit('state', { state: 'reconnecting' });
    this.signalling.reconnectLater();
  }

  #end(reason) {
    this.signalling.closed = true;
    this.media?.close();
    clearTimeout(this.timer);
    this.#emit('ended', { reason });
  }

  sendChat(text) {
    this.session?.sendChat(text);
    this.#drain();
  }

  acceptKnock(participant) {
    this.session?.acceptKnock(participant, now());
    this.#drain();
  }

  refuseKnock(participant) {
    this.session?.refuseKnock(participant);
    this.#drain();
  }

  /** The safety number of us and `participant`, grouped, or ''. */
  safetyNumber(participant) {
    return this.session?.safetyNumber(participant) ?? '';
  }

  /** The current room code, grouped, or ''. */
  roomCode() {
    return this.session?.roomCode() ?? '';
  }

  setTrack(source, track) {
    this.tracks[source] = track;
    if (!this.media) return;
    if (track) this.media.publish(source, track);
    else this.media.unpublish(source);
  }

  leave() {
    this.signalling.leave();
    this.#end('left');
  }
}
