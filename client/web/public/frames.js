// The page's handle on the frame-transform Worker (frames-worker.js):
// attaches it to RTP senders and receivers, forwards epoch keys and key
// acknowledgements from the MLS session, and reports per-track states.

/** Whether this browser has RTCRtpScriptTransform (else createEncodedStreams). */
export const hasScriptTransform = typeof RTCRtpScriptTransform !== 'undefined';

/** Extra RTCPeerConnection configuration that frame transforms need. */
export function transformConfig() {
  return hasScriptTransform ? {} : { encodedInsertableStreams: true };
}

/** Whether this browser can encrypt frames at all. */
export function supported() {
  return (
    hasScriptTransform ||
    (typeof RTCRtpSender !== 'undefined' && 'createEncodedStreams' in RTCRtpSender.prototype)
  );
}

let nextId = 0;

export class Frames {
  constructor() {
    this.worker = new Worker('/static/frames-worker.js', { type: 'module' });
    this.tracks = {};
    this.listeners = new Set();
    this.attached = new Map();
    this.worker.onmessage = (e) => {
      if (e.data.type === 'attached') {
        this.attached.get(e.data.id)?.();
        this.attached.delete(e.data.id);
      } else if (e.data.type === 'stats') {
        this.tracks = e.data.tracks;
        for (const f of this.listeners) f(this.tracks);
      }
    };
  }

  /** Calls `f(tracks)` with the per-track states every half second. */
  onStats(f) {
    this.listeners.add(f);
    return () => this.listeners.delete(f);
  }

  /** Hands one epoch's serialised keys (session.takeEpochKeys()) to the Worker. */
  addEpoch(keys) {
    this.worker.postMessage({ type: 'epoch', keys }, [keys.buffer]);
  }

  /** The member at `leaf` holds the key of `epoch`. */
  acknowledge(epoch, leaf) {
    this.worker.postMessage({ type: 'ack', epoch, leaf });
  }

  /** `participant` is gone: the Worker's ring stops waiting for its acks. */
  departed(participant) {
    this.worker.postMessage({ type: 'departed', participant });
  }

  /** A new MLS group (after a rejoin): the Worker starts a new key ring. */
  reset() {
    this.worker.postMessage({ type: 'reset' });
  }

  /** A receiver now carries another participant's or source's frames. */
  retarget(id, participant, source) {
    this.worker.postMessage({ type: 'retarget', id, participant, source });
  }

  #attach(target, opts) {
    const attached = new Promise((resolve) => this.attached.set(opts.id, resolve));
    if (hasScriptTransform) {
      target.transform = new RTCRtpScriptTransform(this.worker, opts);
    } else {
      const { readable, writable } = target.createEncodedStreams();
      this.worker.postMessage({ type: 'stream', ...opts, readable, writable }, [readable, writable]);
    }
    return attached;
  }

  /**
   * Encrypts everything `sender` sends for our `source`. Resolves to the
   * track id for stats once the transform is in place: only then may the
   * sender be given its track (`replaceTrack`), so that no frame can leave
   * unencrypted.
   */
  async protectSender(sender, kind, source) {
    const id = `s${nextId++}`;
    await this.#attach(sender, { dir: 'send', id, kind, source });
    return id;
  }

  /**
   * Decrypts what `receiver` gets from `participant`'s `source`. Must be
   * called synchronously in `ontrack` (createEncodedStreams browsers get
   * nothing otherwise). Returns the track id for stats.
   */
  protectReceiver(receiver, kind, source, participant) {
    const id = `r${nextId++}`;
    const opts = { dir: 'recv', id, kind, source, participant };
    this.#attach(receiver, opts);
    return id;
  }
}
