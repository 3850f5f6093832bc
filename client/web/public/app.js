// Entry point: picks the screen from the URL (`/` home, `/ROOM` pre-join
// then the call; the fragment is the room's SECRET and never leaves this
// browser) and wires the home and pre-join screens.

import { apply, setLanguage, language, t, onLanguage } from './i18n.js';
import { newRoomName, newSecret, isSecret } from './names.js';
import { Frames, supported } from './frames.js';
import { Call, loadWasm } from './session.js';
import { CallView } from './call.js';
import { getSetting, setSetting } from './store.js';
import { CallRecorder, canRecord, save } from './record.js';

/** The reactions the page offers (sotto-crypto's REACTIONS; others are refused). */
const REACTIONS = ['👍', '👏', '😂', '❤️', '🎉', '😮'];

const $ = (id) => document.getElementById(id);
// No test hook lives in what the server serves: the browser tests
// instrument the page from outside (tests/browser/lib/).

function show(screen) {
  for (const s of document.querySelectorAll('.screen')) s.hidden = s.id !== screen;
}

function home() {
  show('home');
  $('new-room').addEventListener('click', () => {
    location.assign(`/${newRoomName()}#${newSecret()}`);
  });
  $('join-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const parsed = await typedRoom($('join-name').value);
    if (!parsed) {
      $('join-error').textContent = t('badRoom');
      return;
    }
    const hash = parsed.secret ? `#${parsed.secret}` : '';
    location.assign(`/${parsed.path}${hash}`);
  });
}

/** Camera and microphone for the pre-join preview (and then the call). */
class Devices {
  constructor() {
    this.stream = new MediaStream();
    this.meterTimer = null;
  }

  /**
   * Opens the devices as chosen. The latest choice wins: a slower, older
   * request that completes after it is stopped and dropped (unchecking
   * the microphone while the first preview opens must not join with it).
   */
  async open({ cameraId, micId, camera = true, mic = true } = {}) {
    const seq = (this.seq = (this.seq ?? 0) + 1);
    for (const tr of this.stream.getTracks()) tr.stop();
    const constraints = {
      video: camera ? { deviceId: cameraId ? { exact: cameraId } : undefined, width: 1280, height: 720 } : false,
      audio: mic ? { deviceId: micId ? { exact: micId } : undefined, echoCancellation: true, noiseSuppression: true } : false,
    };
    const stream = camera || mic ? await navigator.mediaDevices.getUserMedia(constraints) : new MediaStream();
    if (seq !== this.seq) {
      for (const tr of stream.getTracks()) tr.stop();
      return this.stream;
    }
    this.stream = stream;
    return stream;
  }

  get camera() {
    return this.stream.getVideoTracks()[0] ?? null;
  }

  get mic() {
    return this.stream.getAudioTracks()[0] ?? null;
  }

  /** Drives the level meter from the local microphone. */
  meter(fill, meter) {
    clearInterval(this.meterTimer);
    if (!this.mic) return;
    this.ctx ??= new AudioContext();
    const an = this.ctx.createAnalyser();
    an.fftSize = 512;
    this.ctx.createMediaStreamSource(new MediaStream([this.mic])).connect(an);
    const buf = new Float32Array(an.fftSize);
    this.meterTimer = setInterval(() => {
      if (this.ctx.state === 'suspended') this.ctx.resume();
      an.getFloatTimeDomainData(buf);
      let sum = 0;
      for (const v of buf) sum += v * v;
      const pct = Math.min(100, Math.round(Math.sqrt(sum / buf.length) * 400));
      fill.style.width = `${pct}%`;
      meter.setAttribute('aria-valuenow', String(pct));
    }, 100);
  }
}

/**
 * Fills the device lists: `selects` maps a device kind (videoinput,
 * audioinput, audiooutput) to its <select>; the current choice is kept.
 */
async function fillDeviceLists(selects = { videoinput: $('camera-select'), audioinput: $('mic-select') }) {
  const devices = await navigator.mediaDevices.enumerateDevices();
  const noun = { videoinput: 'camera', audioinput: 'microphone', audiooutput: 'speaker' };
  for (const [kind, select] of Object.entries(selects)) {
    const current = select.value;
    select.replaceChildren();
    if (kind === 'audiooutput') {
      const o = document.createElement('option');
      o.value = '';
      o.textContent = t('defaultSpeaker');
      select.append(o);
    }
    let n = 1;
    for (const d of devices.filter((d) => d.kind === kind && !(kind === 'audiooutput' && d.deviceId === 'default'))) {
      const o = document.createElement('option');
      o.value = d.deviceId;
      o.textContent = d.label || `${t(noun[kind])} ${n}`;
      n++;
      select.append(o);
    }
    if (current) select.value = current;
  }
}

async function prejoin(room, secret) {
  show('prejoin');
  $('prejoin-room').textContent = room;
  const describe = () => {
    $('prejoin-mode').textContent = secret ? t('withLink') : t('withoutLink');
    $('join-button').textContent = secret ? t('joinCall') : t('askToJoin');
  };
  describe();
  onLanguage(describe);
  if (!supported()) {
    $('prejoin-error').textContent = t('unsupported');
    $('join-button').disabled = true;
    return;
  }
  const devices = new Devices();
  // The form is live at once: a click before the camera preview is up (or
  // before the saved name is read) joins as soon as the devices are open,
  // and never falls through to the browser's own form submission.
  let ready = Promise.resolve();
  let joining = false;
  $('prejoin-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const name = $('display-name').value.trim();
    if (!name) {
      $('display-name').focus();
      return;
    }
    if (joining) return;
    joining = true;
    $('join-button').disabled = true;
    await ready;
    await setSetting('name', name).catch(() => {});
    await setSetting('keepIdentity', $('keep-identity').checked).catch(() => {});
    enterCall(room, secret, name, devices);
  });
  $('keep-identity').checked = Boolean(await getSetting('keepIdentity').catch(() => false));
  const saved = await getSetting('name').catch(() => '');
  if (!$('display-name').value) $('display-name').value = saved ?? '';
  const preview = async () => {
    try {
      const stream = await devices.open({
        cameraId: $('camera-select').value || undefined,
        micId: $('mic-select').value || undefined,
        camera: $('pre-cam').checked,
        mic: $('pre-mic').checked,
      });
      $('preview').srcObject = stream;
      $('preview-off').hidden = Boolean(devices.camera);
      devices.meter($('meter-fill'), document.querySelector('.meter'));
      $('prejoin-error').textContent = '';
    } catch {
      $('prejoin-error').textContent = t('noDevices');
    }
    await fillDeviceLists().catch(() => {});
  };
  // Joining waits for the devices as last chosen (a switch just before
  // the click, even while the first preview opens, must not join with
  // the old ones).
  for (const id of ['camera-select', 'mic-select', 'pre-cam', 'pre-mic']) {
    $(id).addEventListener('change', () => {
      ready = preview();
    });
  }
  ready = preview();
  await ready;
  $('display-name').focus();

}

async function enterCall(room, secret, name, devices) {
  show('call');
  const frames = new Frames();
  const call = new Call({ room, secret, name, frames, tracks: { mic: devices.mic, camera: devices.camera } });
  const view = new CallView(call, frames, { self: { name }, localStream: new MediaStream(devices.camera ? [devices.camera] : []) });
  controls(call, view, devices, room);
  call.addEventListener('ended', (e) => ended(e.detail.reason, e.detail.code));
  try {
    await call.start();
  } catch {
    ended('error');
  }
}

function setToggle(button, on, onLabel, offLabel) {
  button.setAttribute('aria-pressed', String(on));
  button.classList.toggle('off', !on);
  button.querySelector('.lbl').textContent = on ? t(onLabel) : t(offLabel);
}

function controls(call, view, devices, room) {
  let micOn = Boolean(devices.mic);
  let camOn = Boolean(devices.camera);
  let hand = false;
  let recorder = null;
  let screen = null;
  // What we say of ourselves, inside MLS: every change is told at once.
  const say = () => call.setStatus({ mic: micOn, camera: camOn, hand, recording: Boolean(recorder) });
  const redraw = () => {
    setToggle($('btn-mic'), micOn, 'mute', 'unmute');
    setToggle($('btn-cam'), camOn, 'stopVideo', 'startVideo');
    $('btn-screen').setAttribute('aria-pressed', String(Boolean(screen)));
    $('btn-screen').querySelector('.lbl').textContent = screen ? t('stopShare') : t('shareScreen');
    $('btn-hand').setAttribute('aria-pressed', String(hand));
    $('btn-hand').classList.toggle('active', hand);
    $('btn-hand').querySelector('.lbl').textContent = hand ? t('lowerHand') : t('raiseHand');
    const speaker = view.layoutMode === 'speaker';
    $('btn-layout').setAttribute('aria-pressed', String(speaker));
    $('btn-layout').querySelector('.lbl').textContent = speaker ? t('gridView') : t('speakerView');
    $('btn-record').setAttribute('aria-pressed', String(Boolean(recorder)));
    $('btn-record').classList.toggle('active', Boolean(recorder));
    $('btn-record').querySelector('.lbl').textContent = recorder ? t('stopRecording') : t('record');
    for (const b of $('reactions').children) b.setAttribute('aria-label', t('reactWith', { emoji: b.textContent }));
  };
  redraw();
  say();
  onLanguage(redraw);
  $('btn-mic').addEventListener('click', () => {
    micOn = !micOn;
    // A muted microphone still sends (encrypted) silence: no renegotiation.
    if (devices.mic) devices.mic.enabled = micOn;
    say();
    redraw();
  });
  $('btn-cam').addEventListener('click', async () => {
    camOn = !camOn;
    if (camOn) {
      const chosen = devices.cameraId ? { deviceId: { exact: devices.cameraId } } : {};
      const s = await navigator.mediaDevices.getUserMedia({ video: { ...chosen, width: 1280, height: 720 } }).catch(() => null);
      const track = s?.getVideoTracks()[0] ?? null;
      if (!track) camOn = false;
      else {
        devices.stream.addTrack(track);
        call.setTrack('camera', track);
        view.setSelfVideo(new MediaStream([track]));
      }
    } else {
      const track = devices.camera;
      call.setTrack('camera', null);
      track?.stop();
      if (track) devices.stream.removeTrack(track);
      view.setSelfVideo(new MediaStream());
    }
    say();
    redraw();
  });
  $('btn-screen').addEventListener('click', async () => {
    if (screen) {
      screen.stop();
      screen = null;
      call.setTrack('screen', null);
    } else {
      const s = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false }).catch(() => null);
      screen = s?.getVideoTracks()[0] ?? null;
      if (screen) {
        screen.addEventListener('ended', () => {
          screen = null;
          call.setTrack('screen', null);
          redraw();
        });
        call.setTrack('screen', screen);
      }
    }
    redraw();
  });
  $('btn-hand').addEventListener('click', () => {
    hand = !hand;
    say();
    redraw();
  });
  // Reactions: a small menu of six.
  const menu = $('reactions');
  for (const emoji of REACTIONS) {
    const b = document.createElement('button');
    b.textContent = emoji;
    b.dataset.emoji = emoji;
    b.addEventListener('click', () => {
      try {
        call.sendReaction(emoji);
        view.showReaction(null, emoji);
      } catch {}
      menu.hidden = true;
      $('btn-react').setAttribute('aria-expanded', 'false');
    });
    menu.append(b);
  }
  $('btn-react').addEventListener('click', () => {
    menu.hidden = !menu.hidden;
    $('btn-react').setAttribute('aria-expanded', String(!menu.hidden));
    if (!menu.hidden) menu.querySelector('button')?.focus();
  });
  menu.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') {
      menu.hidden = true;
      $('btn-react').setAttribute('aria-expanded', 'false');
      $('btn-react').focus();
    }
  });
  $('btn-layout').addEventListener('click', () => {
    view.setLayout(view.layoutMode === 'speaker' ? 'grid' : 'speaker');
    redraw();
  });
  // Recording: in this browser, of what it decrypted; the others are
  // told (inside MLS) before the first frame is recorded.
  $('btn-record').hidden = !canRecord();
  $('btn-record').addEventListener('click', async () => {
    if (recorder) {
      const r = recorder;
      recorder = null;
      const blob = await r.stop();
      say();
      view.setRecording(false);
      save(blob, room);
      view.toast(t('recordingSaved'));
    } else {
      const r = new CallRecorder($('grid'), () => [
        ...[...document.querySelectorAll('audio')].map((a) => a.srcObject).filter(Boolean),
        ...(devices.mic ? [new MediaStream([devices.mic])] : []),
      ]);
      recorder = r;
      say();
      try {
        r.start();
        view.setRecording(true);
      } catch {
        recorder = null;
        say();
        view.toast(t('recordingFailed'));
      }
    }
    redraw();
  });
  $('btn-leave').addEventListener('click', () => call.leave());
  // Switching devices during the call: the new track replaces the old
  // one in its sender (no renegotiation; the transform stays in place).
  const speakers = 'setSinkId' in HTMLMediaElement.prototype;
  $('call-speaker-select').hidden = !speakers;
  document.querySelector('label[for="call-speaker-select"]').hidden = !speakers;
  const lists = () => fillDeviceLists({
    videoinput: $('call-camera-select'),
    audioinput: $('call-mic-select'),
    ...(speakers ? { audiooutput: $('call-speaker-select') } : {}),
  }).catch(() => {});
  $('btn-devices').addEventListener('click', async () => {
    await lists();
    // Shows the device in use, when the list has it.
    for (const [track, select] of [[devices.camera, $('call-camera-select')], [devices.mic, $('call-mic-select')]]) {
      const id = track?.getSettings().deviceId;
      if (id && [...select.options].some((o) => o.value === id)) select.value = id;
    }
    $('devices-dialog').showModal();
  });
  $('call-camera-select').addEventListener('change', async (e) => {
    devices.cameraId = e.target.value;
    if (!camOn) return; // used when the camera is turned on again
    const s = await navigator.mediaDevices.getUserMedia({ video: { deviceId: { exact: devices.cameraId }, width: 1280, height: 720 } }).catch(() => null);
    const track = s?.getVideoTracks()[0];
    if (!track) return;
    const old = devices.camera;
    if (old) {
      devices.stream.removeTrack(old);
      old.stop();
    }
    devices.stream.addTrack(track);
    await call.replaceTrack('camera', track);
    view.setSelfVideo(new MediaStream([track]));
  });
  $('call-mic-select').addEventListener('change', async (e) => {
    const s = await navigator.mediaDevices.getUserMedia({
      audio: { deviceId: { exact: e.target.value }, echoCancellation: true, noiseSuppression: true },
    }).catch(() => null);
    const track = s?.getAudioTracks()[0];
    if (!track) return;
    track.enabled = micOn;
    const old = devices.mic;
    if (old) {
      devices.stream.removeTrack(old);
      old.stop();
    }
    devices.stream.addTrack(track);
    if (old) await call.replaceTrack('mic', track);
    else call.setTrack('mic', track);
    muted.follow(track);
  });
  $('call-speaker-select').addEventListener('change', (e) => view.setSpeaker(e.target.value));
  // Keyboard shortcuts (not while typing): M, V, C, H, S and ? for the list.
  document.addEventListener('keydown', (e) => {
    if ($('call').hidden || e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.target.closest?.('input, textarea, select, [contenteditable], dialog')) return;
    const press = { m: 'btn-mic', v: 'btn-cam', c: 'btn-chat', h: 'btn-hand', s: 'btn-layout' }[e.key.toLowerCase()];
    if (press) {
      e.preventDefault();
      $(press).click();
    } else if (e.key === '?') {
      e.preventDefault();
      $('help').showModal();
    }
  });
  const muted = mutedWhileTalking(devices, () => micOn, view);
}

/**
 * Says so when the microphone is muted and the person talks (measured on
 * a copy of the microphone: the muted track itself gives silence), at
 * most every 10 s.
 */
function mutedWhileTalking(devices, isOn, view) {
  let ctx = null;
  let an = null;
  let src = null;
  let copy = null;
  const follow = (track) => {
    src?.disconnect();
    copy?.stop();
    if (!track) return;
    ctx ??= new AudioContext();
    an ??= Object.assign(ctx.createAnalyser(), { fftSize: 512 });
    copy = track.clone();
    copy.enabled = true;
    src = ctx.createMediaStreamSource(new MediaStream([copy]));
    src.connect(an);
  };
  follow(devices.mic);
  const buf = new Float32Array(512);
  let loud = 0;
  let told = 0;
  setInterval(() => {
    if (isOn() || !an) {
      loud = 0;
      return;
    }
    if (ctx.state === 'suspended') ctx.resume();
    an.getFloatTimeDomainData(buf);
    let sum = 0;
    for (const v of buf) sum += v * v;
    loud = Math.sqrt(sum / buf.length) > 0.03 ? loud + 1 : 0;
    if (loud >= 5 && Date.now() - told > 10000) {
      told = Date.now();
      view.toast(t('mutedTalking'));
    }
  }, 200);
  return { follow };
}

/** The ended screen, named after why: `reason` (and the server's `code`). */
function ended(reason, code) {
  show('ended');
  const key = reason === 'server' ? code : reason;
  const texts = {
    left: ['leftTitle', 'leftText'],
    refused: ['refusedTitle', 'refusedText'],
    removed: ['removedTitle', 'removedText'],
    ghost_room: ['ghostTitle', 'ghostText'],
    bad_link: ['badLinkTitle', 'badLinkText'],
    room_full: ['fullTitle', 'fullText'],
    too_many_rooms: ['tooManyRoomsTitle', 'tooManyRoomsText'],
    version_mismatch: ['versionTitle', 'versionText'],
    bad_room_name: ['badRoomTitle', 'badRoomText'],
  }[key];
  document.getElementById('ended').dataset.reason = key ?? 'error';
  $('ended-title').textContent = texts ? t(texts[0]) : t('errorTitle');
  $('ended-text').textContent = texts ? t(texts[1]) : t('errorText', { what: key ?? reason });
}

/**
 * The room a person typed or pasted (a name as typed, or a link), by the
 * rules of spec/protocol.md §1 that the server applies too (sotto-proto,
 * through the wasm): {room, path, secret} or null.
 */
async function typedRoom(text) {
  try {
    return JSON.parse((await loadWasm()).roomName(text));
  } catch {
    return null;
  }
}

/** A page that is no room: `kind` is `not_found` or `bad_name`. */
function missing(kind) {
  show('missing');
  $('missing').dataset.kind = kind;
  const [title, text] = kind === 'bad_name' ? ['badNameTitle', 'badNameText'] : ['notFoundTitle', 'notFoundText'];
  const draw = () => {
    $('missing-title').textContent = t(title);
    $('missing-text').textContent = t(text);
  };
  draw();
  onLanguage(draw);
}

async function main() {
  apply();
  $('lang').value = language();
  $('lang').addEventListener('change', (e) => setLanguage(e.target.value));
  // The server sends every spelling of a room's path to its canonical one
  // (a 301), and any other path here with a 404.
  const path = location.pathname.slice(1).replace(/\/$/, '');
  if (!path) return home();
  if (path.includes('/')) return missing('not_found');
  let room;
  try {
    room = JSON.parse((await loadWasm()).roomFromPath(path)).room;
  } catch {
    return missing('bad_name');
  }
  const fragment = location.hash.slice(1);
  // The secret stays in this page: it is never put in a request, a log or
  // storage.
  prejoin(room, isSecret(fragment) ? fragment : null);
}

main();
