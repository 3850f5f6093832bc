// Injected into test pages before the page's own scripts
// (context.addInitScript), so that the tests can watch and poke the page
// from outside: nothing like this exists in what the server serves.
//
// window.__sotto:
//   sockets       every WebSocket the page opened (close one to simulate a
//                 network blip);
//   participant   the id of the latest `joined` the server sent;
//   received      every server message type received, in order;
//   incoming      rules for what the server sends, applied before the
//                 page sees it, as a cheating server would: push
//                 {type, action: 'drop' | 'duplicate', times} (times
//                 counts down; the rule stops at 0);
//   inject(text)  hands the page a message as if the server had sent it;
//   rewriteOut    if a function, every text the page sends goes through it;
//   sentSdp       every SDP the page sent ({pc, kind, sdp});
//   receivedSdp   every `sdp` message the server sent, as it came;
//   joined        the latest `joined` the server sent, parsed;
//   pcs           every RTCPeerConnection the page made; with
//                 __sottoFakeConfig.relayOnly they may use TURN relays
//                 only (iceTransportPolicy 'relay'), as behind a firewall
//                 that lets nothing else through; with relayOnly 'tcp'
//                 also only TURN over TCP (the firewall lets no UDP out);
//   passthrough   with __sottoFakeConfig.passthrough, the frame Worker's
//                 receivers hand frames to the decoder undecrypted (to show
//                 that what arrives is ciphertext): frames passed, by
//                 "participant/source".
(() => {
  const state = (window.__sotto = {
    sockets: [], participant: null, received: [], passthrough: {}, incoming: [], rewriteOut: null, sentSdp: [],
    joined: null, pcs: [], receivedSdp: [],
    inject(text) {
      const ws = state.sockets.at(-1);
      ws?.handler?.(new MessageEvent('message', { data: text }));
    },
  });
  const RealWebSocket = window.WebSocket;
  const typeOf = (text) => {
    try {
      return JSON.parse(text).type;
    } catch {
      return null;
    }
  };
  class WatchedWebSocket extends RealWebSocket {
    constructor(...args) {
      super(...args);
      state.sockets.push(this);
    }

    set onmessage(h) {
      this.handler = h;
      super.onmessage = h && ((e) => {
        const type = typeOf(e.data);
        state.received.push(type);
        if (type === 'sdp') state.receivedSdp.push(JSON.parse(e.data));
        if (type === 'joined') {
          state.joined = JSON.parse(e.data);
          state.participant = state.joined.participant;
        }
        // With __sottoFakeConfig.tcpOnly, the server's UDP candidates never
        // reach the page: as if UDP to the server were blocked, only its
        // ICE-TCP candidate is left.
        if (cfg.tcpOnly && type === 'sdp') {
          const m = JSON.parse(e.data);
          m.sdp = m.sdp.split('\r\n').filter((l) => !/^a=candidate:\S+ \d+ udp /i.test(l)).join('\r\n');
          e = new MessageEvent('message', { data: JSON.stringify(m) });
        }
        const rule = state.incoming.find((r) => r.type === type && r.times > 0);
        if (rule) rule.times--;
        if (rule?.action === 'drop') return;
        h(e);
        if (rule?.action === 'duplicate') h(e);
      });
    }

    get onmessage() {
      return this.handler;
    }

    send(data) {
      if (typeOf(data) === 'sdp') {
        const { pc, kind, sdp } = JSON.parse(data);
        state.sentSdp.push({ pc, kind, sdp });
      }
      super.send(typeof state.rewriteOut === 'function' ? state.rewriteOut(data) : data);
    }
  }
  window.WebSocket = WatchedWebSocket;

  const cfg = window.__sottoFakeConfig ?? {};
  const RealPC = window.RTCPeerConnection;
  window.RTCPeerConnection = function (config, ...rest) {
    let c = cfg.relayOnly ? { ...config, iceTransportPolicy: 'relay' } : config;
    if (cfg.relayOnly === 'tcp') {
      const tcp = (u) => /[?&]transport=tcp\b/.test(u);
      c = { ...c, iceServers: (c.iceServers ?? []).map((s) => ({ ...s, urls: [].concat(s.urls).filter(tcp) })).filter((s) => s.urls.length) };
    }
    const pc = new RealPC(c, ...rest);
    state.pcs.push(pc);
    return pc;
  };
  window.RTCPeerConnection.prototype = RealPC.prototype;
  Object.setPrototypeOf(window.RTCPeerConnection, RealPC);
  if (!cfg.passthrough) return;
  const RealWorker = window.Worker;
  // The app's own Worker, with every receiver replaced by a pass-through:
  // senders still encrypt with the app's code.
  const wrapper = `
    import '${location.origin}/static/frames-worker.js';
    const real = self.onrtctransform;
    self.onrtctransform = (event) => {
      const t = event.transformer;
      if (t.options.dir !== 'recv') return real(event);
      const key = t.options.participant + '/' + t.options.source;
      let n = 0;
      t.readable.pipeThrough(new TransformStream({
        transform(frame, c) { c.enqueue(frame); n++; self.postMessage({ type: 'passthrough', key, n }); },
      })).pipeTo(t.writable).catch(() => {});
      self.postMessage({ type: 'attached', id: t.options.id });
    };`;
  window.Worker = function (url, opts) {
    if (!String(url).includes('frames-worker.js')) return new RealWorker(url, opts);
    const blob = new Blob([wrapper], { type: 'text/javascript' });
    const w = new RealWorker(URL.createObjectURL(blob), { type: 'module' });
    w.addEventListener('message', (e) => {
      if (e.data?.type === 'passthrough') state.passthrough[e.data.key] = e.data.n;
    });
    return w;
  };
})();
