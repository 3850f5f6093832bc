// Injected into test pages before any of the page's own scripts
// (context.addInitScript). Replaces the camera, microphone and screen with
// canvas patterns and tones that the tests recognise after they went
// through encoding, encryption, the SFU, decryption and decoding. The
// page's own code paths (getUserMedia, getDisplayMedia) stay in use.
(() => {
  const PATTERNS = {
    // Four quadrants of known colours; a moving square keeps the encoder busy.
    A: [[0, 200, 200], [200, 0, 200], [220, 220, 0], [255, 128, 0]],
    B: [[255, 128, 0], [220, 220, 0], [200, 0, 200], [0, 200, 200]],
    S: [[128, 0, 255], [128, 255, 0], [128, 128, 128], [255, 128, 192]],
    // tests/fixtures/pattern.ivf, sent by the native client.
    FIXTURE: [[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255]],
  };
  const cfg = (window.__sottoFakeConfig = window.__sottoFakeConfig ?? { camera: 'A', screen: 'S', tone: 440 });

  function patternStream(name, w = 320, h = 240) {
    const canvas = document.createElement('canvas');
    canvas.width = w;
    canvas.height = h;
    const g = canvas.getContext('2d');
    const [tl, tr, bl, br] = PATTERNS[name];
    let x = 0;
    const draw = () => {
      const c = (rgb) => `rgb(${rgb.join(',')})`;
      g.fillStyle = c(tl); g.fillRect(0, 0, w / 2, h / 2);
      g.fillStyle = c(tr); g.fillRect(w / 2, 0, w / 2, h / 2);
      g.fillStyle = c(bl); g.fillRect(0, h / 2, w / 2, h / 2);
      g.fillStyle = c(br); g.fillRect(w / 2, h / 2, w / 2, h / 2);
      g.fillStyle = '#000';
      g.fillRect(x, h / 2 - 12, 24, 24);
      x = (x + 4) % (w - 24);
    };
    draw();
    setInterval(draw, 40);
    return canvas.captureStream(25);
  }

  function toneTrack(freq) {
    const ctx = new AudioContext();
    const osc = ctx.createOscillator();
    osc.frequency.value = freq;
    const gain = ctx.createGain();
    gain.gain.value = 0.3;
    const dest = ctx.createMediaStreamDestination();
    osc.connect(gain).connect(dest);
    osc.start();
    ctx.resume();
    return dest.stream.getAudioTracks()[0];
  }

  const md = navigator.mediaDevices;
  if (md) {
    // A second camera, 'sotto-fake-cam-2', shows pattern cfg.camera2 (B
    // unless said): a switch of camera during a call shows on the others.
    md.getUserMedia = async (c = {}) => {
      const out = new MediaStream();
      const second = c.video?.deviceId?.exact === 'sotto-fake-cam-2';
      if (c.video) out.addTrack(patternStream(second ? cfg.camera2 ?? 'B' : cfg.camera).getVideoTracks()[0]);
      if (c.audio) out.addTrack(toneTrack(cfg.tone));
      return out;
    };
    md.getDisplayMedia = async () => patternStream(cfg.screen, 480, 270);
    const realEnumerate = md.enumerateDevices.bind(md);
    md.enumerateDevices = async () => {
      const real = await realEnumerate();
      const base = real.length ? real : [
        { kind: 'videoinput', deviceId: 'fake-cam', label: 'Test pattern', groupId: 'g' },
        { kind: 'audioinput', deviceId: 'fake-mic', label: 'Test tone', groupId: 'g' },
      ];
      return [...base, { kind: 'videoinput', deviceId: 'sotto-fake-cam-2', label: 'Second test pattern', groupId: 'g2' }];
    };
  }

  /** Samples the four quadrant centres of a video element. */
  function sample(video) {
    const w = video.videoWidth, h = video.videoHeight;
    if (!w || !h) return null;
    const c = document.createElement('canvas');
    c.width = w;
    c.height = h;
    const g = c.getContext('2d', { willReadFrequently: true });
    g.drawImage(video, 0, 0, w, h);
    return [[0.25, 0.2], [0.75, 0.2], [0.25, 0.8], [0.75, 0.8]].map(([fx, fy]) => {
      const d = g.getImageData(Math.floor(fx * w), Math.floor(fy * h), 1, 1).data;
      return [d[0], d[1], d[2]];
    });
  }

  /** Whether the video shows `name`'s pattern (every quadrant within `tol`). */
  function shows(video, name, tol = 60) {
    const got = sample(video);
    if (!got) return false;
    return PATTERNS[name].every((want, i) => want.every((v, k) => Math.abs(v - got[i][k]) <= tol));
  }

  /** Dominant frequency (Hz) and level of an audio track's stream. */
  async function tone(stream, ms = 600) {
    const ctx = new AudioContext();
    await ctx.resume();
    const src = ctx.createMediaStreamSource(stream);
    const an = ctx.createAnalyser();
    an.fftSize = 4096;
    src.connect(an);
    await new Promise((r) => setTimeout(r, ms));
    const bins = new Float32Array(an.frequencyBinCount);
    an.getFloatFrequencyData(bins);
    let best = 0;
    for (let i = 1; i < bins.length; i++) if (bins[i] > bins[best]) best = i;
    const hz = (best * ctx.sampleRate) / an.fftSize;
    const level = bins[best];
    ctx.close();
    return { hz, level };
  }

  window.__sottoFake = { PATTERNS, patternStream, toneTrack, sample, shows, tone };
})();
