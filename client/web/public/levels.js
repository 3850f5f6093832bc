// Active speaker from decrypted audio, computed in this page: the server
// never sees audio levels (the audio-level RTP extension is not used).

const INTERVAL = 200;
const THRESHOLD = 0.02;

export class Speakers {
  constructor(onChange) {
    this.onChange = onChange;
    this.ctx = null;
    this.sources = new Map();
    this.current = null;
    this.timer = setInterval(() => this.#measure(), INTERVAL);
  }

  add(participant, stream) {
    this.remove(participant);
    this.ctx ??= new AudioContext();
    const src = this.ctx.createMediaStreamSource(stream);
    const an = this.ctx.createAnalyser();
    an.fftSize = 512;
    src.connect(an);
    this.sources.set(participant, { src, an, buf: new Float32Array(an.fftSize), level: 0 });
  }

  remove(participant) {
    const s = this.sources.get(participant);
    if (!s) return;
    s.src.disconnect();
    this.sources.delete(participant);
  }

  /** Root mean square of the latest samples of each participant, smoothed. */
  #measure() {
    if (this.ctx?.state === 'suspended') this.ctx.resume();
    let best = null;
    let bestLevel = THRESHOLD;
    for (const [p, s] of this.sources) {
      s.an.getFloatTimeDomainData(s.buf);
      let sum = 0;
      for (const v of s.buf) sum += v * v;
      s.level = 0.6 * s.level + 0.4 * Math.sqrt(sum / s.buf.length);
      if (s.level > bestLevel) {
        bestLevel = s.level;
        best = p;
      }
    }
    if (best !== this.current) {
      this.current = best;
      this.onChange(best);
    }
  }

  /** The current levels, for tests and the interface. */
  levels() {
    return Object.fromEntries([...this.sources].map(([p, s]) => [p, s.level]));
  }
}
