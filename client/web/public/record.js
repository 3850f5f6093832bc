// Recording a call in the recorder's own browser: what this page already
// decrypted (every tile of the grid, drawn onto one canvas, and every
// voice, mixed), encoded by MediaRecorder and saved on this machine. Nothing
// is uploaded; the others are told, inside MLS, before it starts.

const WIDTH = 1280;
const HEIGHT = 720;
const FPS = 15;

/** The container and codecs this browser can record, or null. */
function mimeType() {
  if (typeof MediaRecorder === 'undefined') return null;
  for (const m of ['video/webm;codecs=vp8,opus', 'video/webm;codecs=vp9,opus', 'video/webm']) {
    if (MediaRecorder.isTypeSupported(m)) return m;
  }
  return null;
}

export const canRecord = () => mimeType() !== null;

export class CallRecorder {
  /** `grid` (the tiles' container), `audio()` (the MediaStreams to mix, read at start). */
  constructor(grid, audio) {
    this.grid = grid;
    this.audio = audio;
    this.chunks = [];
  }

  start() {
    const type = mimeType();
    if (!type) throw new Error('recording unsupported');
    this.canvas = Object.assign(document.createElement('canvas'), { width: WIDTH, height: HEIGHT });
    this.g = this.canvas.getContext('2d');
    this.ctx = new AudioContext();
    const mix = this.ctx.createMediaStreamDestination();
    this.sources = [];
    for (const stream of this.audio()) {
      if (!stream.getAudioTracks().length) continue;
      const src = this.ctx.createMediaStreamSource(stream);
      src.connect(mix);
      this.sources.push(src);
    }
    // Drawn on a timer: animation frames stop in a background tab.
    this.timer = setInterval(() => this.#draw(), 1000 / FPS);
    this.#draw();
    const stream = new MediaStream([...this.canvas.captureStream(FPS).getVideoTracks(), ...mix.stream.getAudioTracks()]);
    this.recorder = new MediaRecorder(stream, { mimeType: type });
    this.recorder.ondataavailable = (e) => e.data.size && this.chunks.push(e.data);
    this.recorder.start(1000);
    this.type = type;
  }

  /** The tiles as they are laid out, scaled into the canvas. */
  #draw() {
    const g = this.g;
    g.fillStyle = '#05080b';
    g.fillRect(0, 0, WIDTH, HEIGHT);
    const box = this.grid.getBoundingClientRect();
    if (!box.width || !box.height) return;
    const scale = Math.min(WIDTH / box.width, HEIGHT / box.height);
    const dx = (WIDTH - box.width * scale) / 2;
    const dy = (HEIGHT - box.height * scale) / 2;
    for (const tile of this.grid.children) {
      const r = tile.getBoundingClientRect();
      const x = dx + (r.left - box.left) * scale;
      const y = dy + (r.top - box.top) * scale;
      const w = r.width * scale;
      const h = r.height * scale;
      const video = tile.querySelector('video');
      // Only what shows: never a video the page hides (not decrypted).
      if (video && video.style.visibility !== 'hidden' && video.videoWidth) {
        const s = Math.min(w / video.videoWidth, h / video.videoHeight);
        const vw = video.videoWidth * s;
        const vh = video.videoHeight * s;
        g.drawImage(video, x + (w - vw) / 2, y + (h - vh) / 2, vw, vh);
      } else {
        g.fillStyle = '#1b232c';
        g.fillRect(x, y, w, h);
      }
      g.fillStyle = '#fff';
      g.font = `${Math.max(12, Math.round(16 * scale))}px sans-serif`;
      g.fillText(tile.querySelector('.name')?.textContent ?? '', x + 8, y + h - 10);
    }
  }

  /** Stops; resolves to the recording (a Blob). */
  stop() {
    clearInterval(this.timer);
    return new Promise((resolve) => {
      this.recorder.onstop = () => {
        for (const s of this.sources) s.disconnect();
        this.ctx.close().catch(() => {});
        resolve(new Blob(this.chunks, { type: this.type }));
      };
      this.recorder.stop();
    });
  }
}

/** Saves `blob` on this machine, through the browser's downloads. */
export function save(blob, room) {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
  const a = Object.assign(document.createElement('a'), {
    href: URL.createObjectURL(blob),
    download: `sotto-${room}-${stamp}.webm`,
  });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 60000);
}
