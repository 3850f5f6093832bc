// The in-call interface: tiles, controls, chat, people and security.
// It listens to a Call (session.js) and to the frame Worker's per-track
// states; it never shows a track whose frames did not decrypt.

import { t, onLanguage } from './i18n.js';
import { verifiedPeople, markVerified, unmarkVerified } from './store.js';

/** Digits only: fingerprints are compared and pinned without spaces. */
const digits = (f) => String(f ?? '').replace(/\D/g, '');

/** A name as a person reads it: lookalikes (case, width, spacing) collapse. */
const sameName = (a, b) => Boolean(a) && Boolean(b) && norm(a) === norm(b);
function norm(n) {
  return String(n).normalize('NFKC').toLowerCase().replace(/[\s\u200b-\u200f]+/g, ' ').trim();
}
import { Speakers } from './levels.js';

const $ = (id) => document.getElementById(id);

function el(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('data-')) e.setAttribute(k, v);
    else e[k] = v;
  }
  e.append(...children);
  return e;
}

/** One of index.html's sprite icons, decorative. */
function icon(name) {
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('class', 'ic');
  svg.setAttribute('aria-hidden', 'true');
  const use = document.createElementNS('http://www.w3.org/2000/svg', 'use');
  use.setAttribute('href', `#i-${name}`);
  svg.append(use);
  return svg;
}

/** Groups the 30 digits of a fingerprint (or 60 of a safety number) by five. */
export function groupDigits(d) {
  return String(d).replace(/(\d{5})(?=\d)/g, '$1 ');
}

export class CallView {
  constructor(call, frames, { self, localStream }) {
    this.call = call;
    this.frames = frames;
    this.self = self; // {name, fingerprint}
    // The MLS roster: participant -> {name, fingerprint, leaf, admission,
    // addedBy, leaving, overdue}. Only the group's own events change it;
    // the server's word (`departed`) only marks someone as leaving.
    this.people = new Map();
    this.tiles = new Map(); // `${participant}/${source}` -> {root, video, stateEl, statsId}
    // Members without a camera tile (camera off, not sent, or no media
    // connection): participant -> {root, stateEl, text}, with their initial.
    this.placeholders = new Map();
    this.audio = new Map();
    this.verified = new Map(); // fingerprint digits -> {name}
    this.knocksShown = new Map(); // participant -> fingerprint shown
    this.unread = 0;
    // What each member says of itself, inside MLS: participant ->
    // {mic, camera, hand, recording}.
    this.statuses = new Map();
    this.layoutMode = 'grid';
    this.lastSpeaker = null; // the speaker view follows whoever spoke last
    this.joinedAt = null; // members added before this are not announced
    this.speakers = new Speakers((p) => this.#highlight(p));
    this.#wire(localStream);
    verifiedPeople().then((v) => {
      this.verified = v;
      this.#renderPeople();
    });
    frames.onStats((tracks) => this.#onStats(tracks));
    onLanguage(() => this.#redraw());
  }

  #wire(localStream) {
    const c = this.call;
    c.addEventListener('state', (e) => {
      if (e.detail.fingerprint) this.self.fingerprint = e.detail.fingerprint;
      this.#status(e.detail.state);
    });
    c.addEventListener('joined', (e) => {
      this.joinedAt = Date.now();
      this.self.fingerprint = e.detail.fingerprint;
      $('own-fingerprint').textContent = groupDigits(e.detail.fingerprint);
      this.#roomCode(e.detail.roomCode, false);
    });
    c.addEventListener('epoch', (e) => this.#roomCode(e.detail.roomCode, true));
    c.addEventListener('opened', (e) => this.#opened(e.detail.fragment));
    c.addEventListener('member', (e) => {
      const d = e.detail;
      const p = this.people.get(d.participant) ?? {};
      this.people.set(d.participant, {
        ...p, fingerprint: d.fingerprint, leaf: d.leaf, admission: d.admission, addedBy: d.addedBy, leaving: false,
      });
      this.#renderPeople();
      this.#layout();
      // Someone new (not the members we found): said once their name came.
      if (!p.fingerprint && this.joinedAt && Date.now() - this.joinedAt > 2000) {
        setTimeout(() => {
          if (this.people.has(d.participant)) this.toast(t('joinedNotice', { name: this.nameOf(d.participant) }));
        }, 1500);
      }
    });
    c.addEventListener('memberleft', (e) => {
      const id = e.detail.participant;
      if (this.people.has(id)) this.toast(t('leftNotice', { name: this.nameOf(id) }));
      this.#forget(id);
    });
    c.addEventListener('status', (e) => this.#onStatus(e.detail));
    c.addEventListener('reaction', (e) => {
      this.showReaction(e.detail.from, e.detail.emoji);
      this.toast(t('reactionNotice', { name: this.nameOf(e.detail.from), emoji: e.detail.emoji }));
    });
    c.addEventListener('departed', (e) => {
      const d = e.detail;
      this.#closeKnock(d.participant);
      const p = this.people.get(d.participant);
      if (!p) return;
      // Gone as the server says: shown as leaving until a commit removes it.
      p.leaving = true;
      this.#renderPeople();
    });
    c.addEventListener('overdue', (e) => {
      const p = this.people.get(e.detail.participant);
      if (!p) return;
      p.overdue = true;
      this.#renderPeople();
    });
    c.addEventListener('conflict', (e) => {
      this.#closeKnock(e.detail.participant);
      this.conflict = true;
      this.#renderPeople();
    });
    c.addEventListener('rejoining', () => {
      // A new connection joins a new epoch: the group will list everyone
      // again, and their tracks come back with the new media connections.
      for (const id of [...this.people.keys()]) this.#forget(id);
      for (const id of [...this.knocksShown.keys()]) this.#closeKnock(id);
    });
    c.addEventListener('media', (e) => this.#mediaProblem(e.detail));
    c.addEventListener('mediastopped', () => {
      for (const key of [...this.tiles.keys()]) this.#removeTile(key);
      for (const a of this.audio.values()) a.remove();
      this.audio.clear();
    });
    c.addEventListener('profile', (e) => {
      const p = this.people.get(e.detail.from) ?? {};
      p.name = e.detail.name;
      this.people.set(e.detail.from, p);
      this.#renderPeople();
      this.#redraw();
    });
    c.addEventListener('chat', (e) => this.#chatLine(e.detail.from, e.detail.text));
    c.addEventListener('knock', (e) => this.#knock(e.detail));
    c.addEventListener('knockclosed', (e) => this.#closeKnock(e.detail.participant));
    c.addEventListener('track', (e) => this.#onTrack(e.detail));
    c.addEventListener('trackended', (e) => {
      const d = e.detail;
      const key = `${d.participant}/${d.source}`;
      if (d.kind === 'audio') {
        this.audio.get(key)?.remove();
        this.audio.delete(key);
        return;
      }
      this.#removeTile(key);
    });

    this.#selfTile(localStream);
    $('chat-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const text = $('chat-input').value.trim();
      if (!text) return;
      c.sendChat(text);
      this.#chatLine(null, text);
      $('chat-input').value = '';
    });
    $('btn-chat').addEventListener('click', () => this.#openSide('chat'));
    $('btn-people').addEventListener('click', () => this.#openSide('people'));
    $('tab-chat').addEventListener('click', () => this.#openSide('chat'));
    $('tab-people').addEventListener('click', () => this.#openSide('people'));
    $('side-close').addEventListener('click', () => ($('side').hidden = true));
    $('btn-invite').addEventListener('click', () => this.#copyLink());
    window.addEventListener('resize', () => this.#layout());
  }

  async #copyLink() {
    try {
      // The room and its secret; never a query string.
      await navigator.clipboard.writeText(`${location.origin}${location.pathname}${location.hash}`);
      this.#flash(t('copied'));
    } catch {}
  }

  /**
   * We came by the room's name and nobody was there: we opened the room
   * with a secret of our own. The address bar becomes the full link, and
   * the screen offers the two ways in: the link (straight in) or the
   * name (a knock, let in after the fingerprint is compared).
   */
  #opened(fragment) {
    history.replaceState(null, '', `${location.pathname}#${fragment}`);
    document.getElementById('opened')?.remove();
    const box = el('div', { id: 'opened', class: 'knock opened', role: 'status' },
      el('div', {},
        el('strong', {}, t('openedTitle')),
        el('p', {}, t('openedLink')),
        el('p', {}, t('openedName', { room: decodeURIComponent(location.pathname.slice(1)) }))));
    const copy = el('button', { class: 'primary' }, t('copyLink'));
    copy.addEventListener('click', () => this.#copyLink());
    const close = el('button', {}, t('close'));
    close.addEventListener('click', () => box.remove());
    box.append(copy, close);
    $('knocks').prepend(box);
  }

  #status(state) {
    const s = $('status');
    s.replaceChildren();
    const texts = {
      connecting: t('connecting'),
      joining: t('connecting'),
      knocking: t('waitingAdmission'),
      reconnecting: t('reconnecting'),
      in_call: null,
    };
    this.state = state;
    if (state === 'in_call') {
      s.append(el('span', { class: 'lock' }, icon('lock'), t('encrypted')));
      const n = this.people.size + 1;
      s.append(el('span', { text: n === 1 ? t('participantsOne') : t('participantsMany', { n }) }));
      if (n === 1) s.append(el('span', { text: t('alone') }));
    } else {
      s.append(el('span', { text: texts[state] ?? state }));
      // A knocker reads its fingerprint to the people inside, who compare
      // it with the one their screen shows before letting it in.
      if (state === 'knocking' && this.self.fingerprint) {
        s.append(el('span', {}, t('yourFingerprint'), ' ',
          el('code', { id: 'knock-fingerprint', text: groupDigits(this.self.fingerprint) })));
      }
    }
  }

  #flash(text) {
    const s = $('status');
    const note = el('span', { class: 'lock', text });
    s.append(note);
    setTimeout(() => note.remove(), 2500);
  }

  nameOf(participant) {
    return this.people.get(participant)?.name || t('someone');
  }

  #selfTile(stream) {
    const video = el('video', { autoplay: true, muted: true, playsInline: true });
    video.srcObject = stream;
    const root = el('div', { class: 'tile self', 'data-participant': 'self', 'data-source': 'camera' }, video,
      el('div', { class: 'name' }, el('span', { text: `${this.self.name} (${t('you')})` })));
    $('grid').append(root);
    this.selfTile = { root, video };
    this.#layout();
  }

  /** Shows our own camera (or nothing) in our tile. */
  setSelfVideo(stream) {
    this.selfTile.video.srcObject = stream;
  }

  #onTrack({ participant, source, kind, track, statsId }) {
    if (kind === 'audio') {
      // Audio plays in an <audio> element (which also makes Chrome feed
      // it to WebAudio); levels for the active speaker come from the
      // decrypted samples, in this page.
      const stream = new MediaStream([track]);
      let a = this.audio.get(`${participant}/${source}`);
      if (!a) {
        a = el('audio', { autoplay: true });
        if (this.sinkId) a.setSinkId?.(this.sinkId).catch(() => {});
        a.dataset.participant = participant;
        a.dataset.source = source;
        document.body.append(a);
        this.audio.set(`${participant}/${source}`, a);
      }
      a.srcObject = stream;
      if (source === 'mic') this.speakers.add(participant, stream);
      return;
    }
    const key = `${participant}/${source}`;
    this.#removeTile(key);
    const video = el('video', { autoplay: true, muted: true, playsInline: true });
    video.srcObject = new MediaStream([track]);
    const stateEl = el('div', { class: 'state' }, el('div', {}, el('div', { class: 'avatar', text: '…' }), el('span')));
    const label = el('span');
    const root = el('div', { class: `tile${source === 'screen' ? ' screen' : ''}`, 'data-participant': participant, 'data-source': source },
      video, stateEl, el('div', { class: 'name' }, label), this.#tileActions(video));
    // Hidden until its frames decrypt: never show media that was not decrypted.
    video.style.visibility = 'hidden';
    $('grid').append(root);
    this.tiles.set(key, { root, video, stateEl, label, statsId, participant, source, state: 'none' });
    this.#labelTile(this.tiles.get(key));
    this.#tileState(this.tiles.get(key));
    this.#placeholders();
  }

  /** Full screen (of the tile) and picture in picture (of its video), where the browser has them. */
  #tileActions(video) {
    const bar = el('div', { class: 'tile-actions' });
    const full = el('button', { class: 'icon', 'data-i18n-label': 'fullScreen', 'aria-label': t('fullScreen'), title: t('fullScreen') }, icon('full'));
    full.addEventListener('click', () => {
      const tile = video.closest('.tile');
      if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
      else tile?.requestFullscreen?.().catch(() => {});
    });
    bar.append(full);
    if (document.pictureInPictureEnabled) {
      const pip = el('button', { class: 'icon', 'data-i18n-label': 'pictureInPicture', 'aria-label': t('pictureInPicture'), title: t('pictureInPicture') }, icon('pip'));
      pip.addEventListener('click', () => {
        if (document.pictureInPictureElement === video) document.exitPictureInPicture().catch(() => {});
        else video.requestPictureInPicture().catch(() => {});
      });
      bar.append(pip);
    }
    return bar;
  }

  #labelTile(tile) {
    const name = this.nameOf(tile.participant);
    tile.label.textContent = tile.source === 'screen' ? t('screenOf', { name }) : name;
    const p = this.people.get(tile.participant);
    if (p && this.#trust(p).verified) tile.label.prepend(el('span', { class: 'verified-mark', text: '✔ ' }));
    if (tile.source !== 'screen') this.#statusMarks(tile.participant, tile.label, tile.root);
    const avatar = tile.stateEl.querySelector('.avatar');
    if (avatar) avatar.textContent = (name[0] ?? '?').toUpperCase();
  }

  /**
   * The member's own word on its state, on its tile: a muted microphone
   * and a raised hand as icons (with text for screen readers).
   */
  #statusMarks(participant, label, root) {
    const st = this.statuses.get(participant);
    const muted = st?.mic === false;
    const hand = Boolean(st?.hand);
    root.dataset.muted = String(muted);
    root.dataset.hand = String(hand);
    if (muted) {
      const m = el('span', { class: 'mark muted-mark', title: t('mutedLabel') }, icon('mic-off'), el('span', { class: 'sr-only', text: t('mutedLabel') }));
      label.prepend(m);
    }
    if (hand) label.prepend(el('span', { class: 'mark hand-mark', title: t('handLabel') }, icon('hand'), el('span', { class: 'sr-only', text: t('handLabel') })));
  }

  #onStatus({ from, mic, camera, hand, recording }) {
    const before = this.statuses.get(from);
    this.statuses.set(from, { mic, camera, hand, recording });
    if (hand && !before?.hand) this.toast(t('handNotice', { name: this.nameOf(from) }));
    this.#recordingNotice(from, recording);
    for (const tile of this.tiles.values()) if (tile.participant === from) this.#labelTile(tile);
    this.#renderPeople();
    // A member who says it is muted is not the speaker, whatever arrives;
    // one who unmutes may be the one we hear.
    if (mic === false && this.lastSpeaker === from) this.lastSpeaker = null;
    if (mic !== before?.mic) this.#highlight(this.speakers.current);
    this.#layout();
  }

  /** Everyone is told, as long as it lasts, that `who` records the call. */
  #recordingNotice(who, on) {
    const id = `recording-${who}`;
    document.getElementById(id)?.remove();
    if (!on) return;
    const text = who === null ? t('recordingSelf') : t('recordingOther', { name: this.nameOf(who) });
    const box = el('div', { id, class: 'knock problem recording', role: 'status', 'data-participant': who ?? 'self' },
      el('span', { class: 'rec-dot', 'aria-hidden': 'true' }), el('strong', { text }));
    $('knocks').prepend(box);
  }

  /** Plays every voice on the speaker `sinkId` ('' for the default). */
  async setSpeaker(sinkId) {
    this.sinkId = sinkId;
    for (const a of this.audio.values()) await a.setSinkId?.(sinkId).catch(() => {});
  }

  /** Our own recording, as the others are told of it. */
  setRecording(on) {
    this.#recordingNotice(null, on);
  }

  /** A short notice above the controls (joins, leaves, hands, reactions). */
  toast(text) {
    const box = $('toasts');
    const note = el('div', { class: 'toast', text });
    box.append(note);
    while (box.children.length > 4) box.firstChild.remove();
    setTimeout(() => note.remove(), 4000);
  }

  /** A reaction rising over `participant`'s tile (null: ours). */
  showReaction(participant, emoji) {
    const root = participant === null ? this.selfTile.root
      : (this.tiles.get(`${participant}/camera`)?.root ?? this.placeholders.get(participant)?.root);
    if (!root) return;
    const r = el('div', { class: 'reaction', 'aria-hidden': 'true', text: emoji });
    root.append(r);
    root.dataset.reaction = emoji;
    setTimeout(() => {
      r.remove();
      if (root.dataset.reaction === emoji) delete root.dataset.reaction;
    }, 3000);
  }

  /** 'grid' or 'speaker' (the one who spoke last, large; the others in a strip). */
  setLayout(mode) {
    this.layoutMode = mode;
    this.#layout();
  }

  #removeTile(key) {
    const tile = this.tiles.get(key);
    if (!tile) return;
    tile.root.remove();
    this.tiles.delete(key);
    this.#placeholders();
  }

  #onStats(tracks) {
    for (const tile of this.tiles.values()) {
      tile.state = tracks[tile.statsId]?.state ?? 'none';
      this.#tileState(tile);
    }
  }

  /**
   * What a tile shows instead of video, and why: the media connection
   * first (no frame can come without it), then what the frame Worker
   * says of this track: no frame yet, frames without the sender's key,
   * frames that do not open. Video shows only once its frames open.
   */
  #tileState(tile) {
    const media = this.media ?? 'connecting';
    const ok = tile.state === 'ok' && media !== 'failed';
    tile.root.dataset.state = ok ? 'ok' : media === 'connected' ? tile.state : `media_${media}`;
    tile.video.style.visibility = ok ? 'visible' : 'hidden';
    tile.stateEl.hidden = ok;
    const text = tile.stateEl.querySelector('span');
    if (ok || !text) return;
    const name = this.nameOf(tile.participant);
    const bad = media === 'failed' || tile.state === 'failing';
    tile.stateEl.classList.toggle('bad', bad);
    if (media === 'failed') text.textContent = t('noMediaTile');
    else if (media !== 'connected') text.textContent = t('connectingMedia');
    else if (tile.state === 'failing') text.textContent = t('cannotDecrypt', { name });
    else if (tile.state === 'no_key') text.textContent = t('waitingKeyOf', { name });
    else text.textContent = t(tile.source === 'screen' ? 'waitingScreenOf' : 'waitingVideoOf', { name });
  }

  /**
   * The media connection, said once above the grid when it is not right:
   * slow to connect, or failed (the server cannot be reached with media;
   * new connections are being tried). Gone once it connects.
   */
  #mediaProblem({ state }) {
    this.media = state;
    for (const tile of this.tiles.values()) this.#tileState(tile);
    this.#placeholders();
    document.getElementById('media-problem')?.remove();
    if (state !== 'failed' && state !== 'slow') return;
    const failed = state === 'failed';
    const box = el('div', { id: 'media-problem', class: `knock problem${failed ? ' bad' : ''}`, role: 'alert', 'data-state': state },
      el('div', {},
        el('strong', {}, t(failed ? 'mediaFailedTitle' : 'mediaSlowTitle')),
        el('p', {}, t(failed ? 'mediaFailedWhy' : 'mediaSlowWhy')),
        failed ? el('p', {}, t('mediaFailedTry')) : ''));
    $('knocks').prepend(box);
  }

  /** Columns for n tiles in the grid's aspect ratio (tiles are 16:9-ish). */
  #layout() {
    const grid = $('grid');
    const speaker = this.layoutMode === 'speaker' && grid.children.length > 1;
    grid.classList.toggle('speaker', speaker);
    const main = speaker ? this.#mainTile() : null;
    for (const tile of grid.children) tile.classList.toggle('main', tile === main);
    grid.dataset.main = main?.dataset.participant ?? '';
    if (speaker) {
      grid.style.setProperty('--strip', Math.max(1, grid.children.length - 1));
      if (this.state === 'in_call') this.#status('in_call');
      return;
    }
    const n = grid.children.length || 1;
    const w = grid.clientWidth || window.innerWidth;
    const h = grid.clientHeight || window.innerHeight;
    let best = 1;
    let bestArea = 0;
    for (let cols = 1; cols <= n; cols++) {
      const rows = Math.ceil(n / cols);
      const tw = w / cols;
      const th = h / rows;
      const area = Math.min(tw, (th * 16) / 9) * Math.min(th, (tw * 9) / 16);
      if (area > bestArea) {
        bestArea = area;
        best = cols;
      }
    }
    grid.style.setProperty('--cols', best);
    if (this.state === 'in_call') this.#status('in_call');
  }

  /**
   * The speaker view's large tile: a shared screen first, else whoever
   * spoke last (not a member who says it is muted), else the first other.
   */
  #mainTile() {
    const screen = [...this.tiles.values()].find((t) => t.source === 'screen');
    if (screen) return screen.root;
    const who = this.lastSpeaker;
    const spoke = who && (this.tiles.get(`${who}/camera`)?.root ?? this.placeholders.get(who)?.root);
    if (spoke) return spoke;
    return [...$('grid').children].find((e) => !e.classList.contains('self')) ?? this.selfTile.root;
  }

  #highlight(participant) {
    // Someone who says they are muted is not speaking, whatever we hear.
    if (participant && this.statuses.get(participant)?.mic === false) participant = null;
    for (const tile of this.tiles.values()) tile.root.classList.toggle('speaking', tile.participant === participant && tile.source === 'camera');
    for (const [id, ph] of this.placeholders) ph.root.classList.toggle('speaking', id === participant);
    if (participant && participant !== this.lastSpeaker) {
      this.lastSpeaker = participant;
      if (this.layoutMode === 'speaker') this.#layout();
    }
  }

  #openSide(which) {
    $('side').hidden = false;
    $('tab-chat').setAttribute('aria-selected', String(which === 'chat'));
    $('tab-people').setAttribute('aria-selected', String(which === 'people'));
    $('panel-chat').hidden = which !== 'chat';
    $('panel-people').hidden = which !== 'people';
    if (which === 'chat') {
      this.unread = 0;
      $('unread').hidden = true;
      $('chat-input').focus();
    }
    this.#layout();
  }

  #chatLine(from, text) {
    const mine = from === null;
    const li = el('li', { class: mine ? 'mine' : '' },
      el('span', { class: 'who', text: mine ? t('you') : this.nameOf(from) }), el('span', { class: 'text', text }));
    if (!mine) li.dataset.from = from;
    $('messages').append(li);
    li.scrollIntoView({ block: 'end' });
    if ($('side').hidden || $('panel-chat').hidden) {
      this.unread++;
      $('unread').textContent = String(this.unread);
      $('unread').hidden = false;
    }
  }

  /** Drops a member the group removed: its row, tiles, audio, knock. */
  #forget(id) {
    this.people.delete(id);
    this.statuses.delete(id);
    document.getElementById(`recording-${id}`)?.remove();
    for (const key of [...this.tiles.keys()]) if (key.startsWith(`${id}/`)) this.#removeTile(key);
    for (const [key, a] of [...this.audio]) {
      if (!key.startsWith(`${id}/`)) continue;
      a.remove();
      this.audio.delete(key);
    }
    this.speakers.remove(id);
    this.#renderPeople();
    this.#closeKnock(id);
  }

  /** Shows the room code; a change after the first is announced. */
  #roomCode(code, changed) {
    $('room-code').textContent = groupDigits(code);
    if (changed && this.state === 'in_call') this.#flash(t('roomCodeChanged'));
  }

  #knock({ participant, fingerprint }) {
    if (this.knocksShown.has(participant)) return;
    // Accepting lets in exactly the key whose fingerprint is shown here.
    this.knocksShown.set(participant, fingerprint);
    const accept = el('button', { class: 'primary', text: t('knockAccept') });
    const refuse = el('button', { class: 'secondary', text: t('knockRefuse') });
    const pin = this.verified.get(digits(fingerprint));
    const known = pin
      ? el('span', { class: 'verified-mark', text: `✔ ${t('knockVerified', { name: pin.name || t('someone') })}` })
      : el('span', { class: 'hint', text: t('knockNotVerified') });
    const box = el('div', { class: 'knock knock-request', 'data-participant': participant },
      el('span', { text: t('knockTitle') }), el('code', { class: 'fp', text: groupDigits(fingerprint) }), known, accept, refuse);
    accept.addEventListener('click', () => {
      try {
        this.call.acceptKnock(participant, fingerprint);
      } catch {
        // The key changed since it was shown: nothing was accepted.
        this.conflict = true;
        this.#renderPeople();
      }
      this.#closeKnock(participant);
    });
    refuse.addEventListener('click', () => {
      try {
        this.call.refuseKnock(participant);
      } catch {}
      this.#closeKnock(participant);
    });
    $('knocks').append(box);
    this.#knockSound();
  }

  /** A short chime for a knock (the page may be in another tab). */
  #knockSound() {
    try {
      this.chime ??= new AudioContext();
      const o = this.chime.createOscillator();
      const g = this.chime.createGain();
      o.frequency.value = 880;
      g.gain.setValueAtTime(0.08, this.chime.currentTime);
      g.gain.exponentialRampToValueAtTime(0.0001, this.chime.currentTime + 0.4);
      o.connect(g).connect(this.chime.destination);
      o.start();
      o.stop(this.chime.currentTime + 0.4);
    } catch {}
  }

  #closeKnock(participant) {
    this.knocksShown.delete(participant);
    document.querySelector(`.knock-request[data-participant="${CSS.escape(participant)}"]`)?.remove();
  }

  /**
   * What this browser knows of `p`'s key. Verification is pinned to the
   * key (its fingerprint), wherever it shows up and under whatever name;
   * the name it was verified under lets a lookalike be noticed: someone
   * using a verified person's name (or one that reads the same) with a
   * key never verified raises the warning.
   */
  #trust(p) {
    if (!p.fingerprint) return { verified: false, changed: false };
    const pin = this.verified.get(digits(p.fingerprint));
    if (pin) return { verified: true, changed: false, as: sameName(pin.name, p.name) ? null : pin.name };
    const lookalike = [...this.verified.values()].some((v) => sameName(v.name, p.name));
    return { verified: false, changed: lookalike };
  }

  #renderPeople() {
    const list = $('people');
    list.replaceChildren();
    const warnings = [];
    if (this.conflict) warnings.push(t('keyConflict'));
    for (const [id, p] of this.people) {
      const trust = this.#trust(p);
      if (trust.changed) warnings.push(t('keyChanged', { name: p.name }));
      if (p.overdue) warnings.push(t('removalOverdue', { name: p.name || t('someone') }));
      const safety = el('button', { class: 'secondary', text: t('showSafety') });
      safety.addEventListener('click', () => this.#safety(id));
      const remove = el('button', { class: 'secondary', text: t('removeMember') });
      remove.addEventListener('click', () => {
        try {
          this.call.removeMember(id);
        } catch {}
      });
      const by = p.addedBy ? this.nameOf(p.addedBy) : null;
      const st = this.statuses.get(id);
      list.append(el('li', { 'data-participant': id, 'data-leaving': String(Boolean(p.leaving)) },
        el('strong', { text: p.name || t('someone') }),
        st?.hand ? el('span', { class: 'hint hand-mark', text: ` ✋ ${t('handLabel')}` }) : '',
        st?.mic === false ? el('span', { class: 'hint', text: ` · ${t('mutedLabel')}` }) : '',
        trust.verified
          ? el('span', { class: 'verified-mark', text: ` ✔ ${trust.as ? t('verifiedAs', { name: trust.as }) : t('verified')}` })
          : el('span', { class: 'hint', text: ` ${t('notVerified')}` }),
        trust.changed ? el('span', { class: 'changed', text: ` ⚠ ${t('keyChangedShort')}` }) : '',
        p.leaving ? el('span', { class: 'leaving', text: ` ${t('leaving')}` }) : '',
        p.admission === 'knock' ? el('span', { class: 'hint knocked', text: ` ${by ? t('letInBy', { name: by }) : t('letIn')}` }) : '',
        el('span', { class: 'fp', 'data-fingerprint': p.fingerprint ?? '', text: groupDigits(p.fingerprint ?? '') }),
        safety, remove));
    }
    const w = $('warning');
    w.textContent = warnings.join(' ');
    w.hidden = warnings.length === 0;
    for (const tile of this.tiles.values()) this.#labelTile(tile);
    this.#placeholders();
  }

  /**
   * One tile per member: a member with no camera tile gets a placeholder
   * with their initial and why there is no video (no media connection,
   * still connecting, or none sent). Never an empty black box.
   */
  #placeholders() {
    const grid = $('grid');
    for (const [id, ph] of [...this.placeholders]) {
      if (!this.people.has(id) || this.tiles.has(`${id}/camera`)) {
        ph.root.remove();
        this.placeholders.delete(id);
      }
    }
    for (const id of this.people.keys()) {
      if (this.tiles.has(`${id}/camera`)) continue;
      this.#placeholder(grid, id);
    }
    this.#layout();
  }

  /** The placeholder tile of member `id`: its initial and why there is no video. */
  #placeholder(grid, id) {
    let ph = this.placeholders.get(id);
    if (!ph) {
      const avatar = el('div', { class: 'avatar' });
      const text = el('span');
      const label = el('span');
      const root = el('div', { class: 'tile placeholder', 'data-participant': id, 'data-source': 'none' },
        el('div', { class: 'state' }, el('div', {}, avatar, text)), el('div', { class: 'name' }, label));
      ph = { root, avatar, text, label };
      this.placeholders.set(id, ph);
      grid.append(root);
    }
    const name = this.nameOf(id);
    ph.avatar.textContent = (name[0] ?? '?').toUpperCase();
    ph.label.textContent = name;
    this.#statusMarks(id, ph.label, ph.root);
    const media = this.media ?? 'connecting';
    const cameraOff = this.statuses.get(id)?.camera === false;
    ph.root.dataset.state = media === 'failed' ? 'media_failed'
      : cameraOff ? 'camera_off' : media === 'connected' ? 'no_video' : `media_${media}`;
    ph.root.querySelector('.state').classList.toggle('bad', media === 'failed');
    ph.text.textContent = media === 'failed' ? t('noMediaTile')
      : cameraOff ? t('cameraOffOf', { name })
        : media === 'connected' ? t('noVideoOf', { name }) : t('connectingMedia');
  }

  #safety(id) {
    const p = this.people.get(id);
    if (!p) return;
    const name = p.name || t('someone');
    const dialog = $('safety');
    $('safety-who').textContent = t('safetyWith', { name });
    dialog.querySelector('.hint').textContent = t('safetyHint', { name });
    $('safety-number').textContent = groupDigits(this.call.safetyNumber(id));
    $('safety-fp').textContent = groupDigits(p.fingerprint);
    const trust = this.#trust(p);
    $('safety-verify').textContent = trust.verified ? t('unmarkVerified') : t('markVerified');
    dialog.onclose = async () => {
      if (dialog.returnValue !== 'verify' || !p.fingerprint) return;
      if (trust.verified) await unmarkVerified(digits(p.fingerprint));
      else await markVerified(digits(p.fingerprint), p.name ?? '');
      this.verified = await verifiedPeople();
      this.#renderPeople();
    };
    dialog.showModal();
  }

  #redraw() {
    for (const tile of this.tiles.values()) {
      this.#labelTile(tile);
      this.#tileState(tile);
    }
    if (this.media) this.#mediaProblem({ state: this.media });
    this.#renderPeople();
    if (this.state) this.#status(this.state);
  }
}
