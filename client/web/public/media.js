// The two peer connections of a member (spec/protocol.md §6): `pub`, which
// we offer, carrying our tracks; `sub`, which the server offers, carrying
// everyone else's. Every sender and receiver goes through the frame
// Worker (frames.js): nothing leaves unencrypted, nothing undecrypted is
// shown.

import { transformConfig } from './frames.js';

function preferCodecs(transceiver, kind) {
  const caps = RTCRtpSender.getCapabilities(kind);
  if (!caps) return;
  const want = kind === 'video' ? /^video\/(VP8|rtx)$/i : /^audio\/opus$/i;
  const codecs = caps.codecs.filter((c) => want.test(c.mimeType));
  if (codecs.length) transceiver.setCodecPreferences(codecs);
}

// RTP header extensions that would tell the server more than the RTP
// header does: the audio levels of what we say (RFC 6464, RFC 6465). sotto
// never offers them (spec/threat-model.md), whatever the server answers.
const REVEALING_EXTENSIONS = /^urn:ietf:params:rtp-hdrext:(ssrc|csrc)-audio-level$/;

/** Whether this browser can be told which extensions to offer. */
const canChooseExtensions = typeof RTCRtpTransceiver !== 'undefined'
  && 'setHeaderExtensionsToNegotiate' in RTCRtpTransceiver.prototype;

function refuseRevealingExtensions(transceiver) {
  if (!canChooseExtensions) return;
  const exts = transceiver.getHeaderExtensionsToNegotiate().map((e) => (
    REVEALING_EXTENSIONS.test(e.uri) ? { ...e, direction: 'stopped' } : e));
  transceiver.setHeaderExtensionsToNegotiate(exts);
}

/** The offer without any a=extmap line of a revealing extension. */
export function withoutRevealingExtensions(sdp) {
  return sdp
    .split('\r\n')
    .filter((line) => {
      const m = /^a=extmap:\d+(?:\/\w+)? (\S+)/.exec(line);
      return !(m && REVEALING_EXTENSIONS.test(m[1]));
    })
    .join('\r\n');
}

export class Media extends EventTarget {
  /**
   * `send(msg)` sends a signalling message; `frames` is the Worker handle.
   * Emits 'track' (detail: {participant, source, kind, track, statsId}) and
   * 'trackended' (detail: {participant, source}).
   */
  constructor(send, frames, iceServers) {
    super();
    this.send = send;
    this.frames = frames;
    const config = { iceServers: iceServers ?? [], bundlePolicy: 'max-bundle', ...transformConfig() };
    this.pub = new RTCPeerConnection(config);
    this.sub = new RTCPeerConnection(config);
    this.outgoing = new Map(); // source -> {transceiver, kind, statsId}
    this.incoming = new Map(); // mid -> {participant, source, kind, statsId}
    // `pub` changes wait for the server's answer before the next offer;
    // `sub` offers are handled on their own queue, so neither blocks the other.
    this.pubQueue = Promise.resolve();
    this.subQueue = Promise.resolve();
    this.answered = null;
    for (const [name, pc] of [['pub', this.pub], ['sub', this.sub]]) {
      pc.onicecandidate = (e) => {
        const c = e.candidate;
        this.send({
          type: 'ice',
          pc: name,
          candidate: c ? c.candidate : '',
          ...(c?.sdpMid != null ? { sdp_mid: c.sdpMid } : {}),
          ...(c?.sdpMLineIndex != null ? { sdp_mline_index: c.sdpMLineIndex } : {}),
        });
      };
    }
    this.sub.ontrack = (e) => this.#onTrack(e);
    this.state = 'connecting';
    for (const pc of [this.pub, this.sub]) pc.onconnectionstatechange = () => this.#connectionChanged();
  }

  /**
   * The media connection as a person is told of it: 'failed' if either
   * connection in use failed, 'connected' once every connection in use
   * is, else 'connecting'. (`sub` is in use once the server offered.)
   * Emits 'connection' {state} on change.
   */
  #connectionChanged() {
    const inUse = [this.pub, this.sub].filter((pc) => pc.remoteDescription);
    const states = inUse.map((pc) => pc.connectionState);
    let state = 'connecting';
    if (states.includes('failed')) state = 'failed';
    else if (states.length && states.every((s) => s === 'connected')) state = 'connected';
    if (state === this.state) return;
    this.state = state;
    this.dispatchEvent(new CustomEvent('connection', { detail: { state } }));
  }

  #serial(queue, f) {
    const next = this[queue].then(f).catch((e) => this.dispatchEvent(new CustomEvent('error', { detail: e })));
    this[queue] = next;
    return next;
  }

  /** Starts sending `track` as our `source` (mic, camera, screen, screen_audio). */
  publish(source, track) {
    return this.#serial('pubQueue', async () => {
      let out = this.outgoing.get(source);
      if (!out) {
        const transceiver = this.pub.addTransceiver(track.kind, { direction: 'sendonly' });
        preferCodecs(transceiver, track.kind);
        if (track.kind === 'audio') refuseRevealingExtensions(transceiver);
        // The transform first, then the track: no frame leaves in the clear.
        const statsId = await this.frames.protectSender(transceiver.sender, track.kind, source);
        out = { transceiver, kind: track.kind, statsId };
        this.outgoing.set(source, out);
      }
      out.transceiver.direction = 'sendonly';
      await out.transceiver.sender.replaceTrack(track);
      await this.#offer();
    });
  }

  /** Replaces the track of `source` without renegotiating (device switch, camera on/off). */
  async replace(source, track) {
    const out = this.outgoing.get(source);
    if (out) await out.transceiver.sender.replaceTrack(track);
  }

  /** Stops sending `source` (renegotiates so that others drop its tile). */
  unpublish(source) {
    return this.#serial('pubQueue', async () => {
      const out = this.outgoing.get(source);
      if (!out) return;
      await out.transceiver.sender.replaceTrack(null);
      out.transceiver.direction = 'inactive';
      await this.#offer();
    });
  }

  async #offer() {
    // Where the browser cannot be told not to offer them, they are cut
    // from the offer before it is applied. (Chromium refuses such a cut
    // offer on renegotiation, but it has setHeaderExtensionsToNegotiate.)
    const offer = await this.pub.createOffer();
    await this.pub.setLocalDescription(canChooseExtensions ? offer
      : { type: 'offer', sdp: withoutRevealingExtensions(offer.sdp) });
    const tracks = [];
    for (const [source, out] of this.outgoing) {
      if (out.transceiver.direction === 'sendonly' && out.transceiver.mid != null) {
        tracks.push({ mid: out.transceiver.mid, source });
      }
    }
    const answer = new Promise((resolve) => (this.answered = resolve));
    this.send({ type: 'sdp', pc: 'pub', kind: 'offer', sdp: this.pub.localDescription.sdp, tracks });
    // One offer at a time (spec §5 out_of_order); give up waiting after 10 s.
    await Promise.race([answer, new Promise((r) => setTimeout(r, 10000))]);
  }

  /** Handles an `sdp` message from the server. */
  handleSdp(msg) {
    if (msg.pc === 'pub' && msg.kind === 'answer') {
      return this.pub
        .setRemoteDescription({ type: 'answer', sdp: msg.sdp })
        .catch((e) => this.dispatchEvent(new CustomEvent('error', { detail: e })))
        .finally(() => this.answered?.());
    }
    return this.#serial('subQueue', async () => {
      if (msg.pc === 'sub' && msg.kind === 'offer') {
        // Who is on which mid must be known before ontrack fires.
        const next = new Map();
        for (const t of Array.isArray(msg.tracks) ? msg.tracks : []) {
          if (typeof t?.mid === 'string' && typeof t?.participant === 'string' && typeof t?.source === 'string') {
            next.set(t.mid, { participant: t.participant, source: t.source });
          }
        }
        for (const [mid, old] of this.incoming) {
          const now = next.get(mid);
          if (!now || now.participant !== old.participant || now.source !== old.source) {
            this.dispatchEvent(new CustomEvent('trackended', { detail: old }));
            if (now) this.frames.retarget(old.statsId, now.participant, now.source);
            if (!now) this.incoming.delete(mid);
            else this.incoming.set(mid, { ...old, ...now, announced: false });
          }
        }
        this.nextTracks = next;
        await this.sub.setRemoteDescription({ type: 'offer', sdp: msg.sdp });
        await this.sub.setLocalDescription(await this.sub.createAnswer());
        this.send({ type: 'sdp', pc: 'sub', kind: 'answer', sdp: this.sub.localDescription.sdp });
        // Receivers reused for someone else get no new ontrack: announce them.
        for (const t of this.sub.getTransceivers()) {
          const inc = this.incoming.get(t.mid);
          if (inc && !inc.announced && t.receiver.track) {
            inc.announced = true;
            this.#announce(inc, t.receiver.track);
          }
        }
      }
    });
  }

  /** Handles an `ice` message from the server. */
  async handleIce(msg) {
    const pc = msg.pc === 'pub' ? this.pub : msg.pc === 'sub' ? this.sub : null;
    if (!pc || typeof msg.candidate !== 'string') return;
    try {
      await pc.addIceCandidate(
        msg.candidate
          ? { candidate: msg.candidate, sdpMid: msg.sdp_mid ?? null, sdpMLineIndex: msg.sdp_mline_index ?? null }
          : null,
      );
    } catch {
      // A candidate for a section that no longer exists.
    }
  }

  #onTrack(e) {
    const mid = e.transceiver.mid;
    const who = this.nextTracks?.get(mid);
    // Synchronously, as createEncodedStreams requires (FACTS.md).
    const participant = who?.participant ?? '';
    const source = who?.source ?? (e.track.kind === 'audio' ? 'mic' : 'camera');
    const statsId = this.frames.protectReceiver(e.receiver, e.track.kind, source, participant);
    const inc = { participant, source, kind: e.track.kind, statsId, announced: true };
    this.incoming.set(mid, inc);
    this.#announce(inc, e.track);
  }

  #announce(inc, track) {
    if (!inc.participant) return;
    this.dispatchEvent(new CustomEvent('track', { detail: { ...inc, track } }));
  }

  close() {
    for (const pc of [this.pub, this.sub]) pc.onconnectionstatechange = null;
    this.pub.close();
    this.sub.close();
  }
}
