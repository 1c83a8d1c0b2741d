// The desktop in the browser (issue 21): the web display protocol of
// protocols/web/PROTOCOL.md over a same-origin WebSocket. H.264 frames go
// through a WebCodecs VideoDecoder, PNG tiles (the lossless fallback)
// through createImageBitmap; both are drawn on one canvas.
//
// The portal hands over the launch in sessionStorage["vdi-web-launch"]
// ({"path": "/...", "ticket": "...", "pool": "...", "tiles": false}) and the
// page removes it at once: the one-time ticket is never in a URL and is
// used once. When the connection drops (a network blip, a restarted
// gateway or load balancer) the page launches the pool again with the
// portal session it still has (POST /api/v1/launch, same origin) and
// connects with that fresh ticket, a few times with growing pauses; no new
// sign-in. A refusal (4xxx) or the user's Disconnect ends it for good.
'use strict';

(() => {
  const MSG = {
    HELLO: 0x01, KEY: 0x02, POINTER: 0x03, WHEEL: 0x04, RESIZE: 0x05, CLIPBOARD: 0x06,
    PING: 0x07, FRAME_ACK: 0x08,
    LAYOUT: 0x81, VIDEO: 0x82, TILE: 0x83, FRAME_END: 0x84, CURSOR: 0x85, PONG: 0x86,
  };
  const VERSION = 1;
  const HELLO_H264 = 0x01;
  const ENC_H264 = 1;
  const MAX_MESSAGE = 65536;
  const CLOSE_REASONS = {
    1008: 'The connection was refused by policy.',
    1009: 'A message was too large; the desktop closed the connection.',
    4001: 'The connection ticket was refused (wrong, already used or expired). Open the desktop again from the portal.',
    4002: 'This desktop was opened in another window.',
    4003: 'The session ended after a time limit.',
    4004: 'The desktop cannot be encoded for this browser.',
    4005: 'Your portal sign-in has ended. Sign in on the portal again and open the desktop from there.',
    4006: 'Too many connections right now. Try again in a minute.',
    4007: 'An administrator disconnected you. Your desktop keeps running: open it again from the portal.',
  };

  // Close codes of a dropped connection, worth a fresh ticket and a retry.
  const RETRY_CODES = new Set([1001, 1005, 1006, 1011, 1012, 1013, 1014]);
  const RETRY_DELAYS_MS = [300, 1000, 2000, 4000, 8000, 15000];

  const $ = (id) => document.getElementById(id);
  const canvas = $('screen');
  const ctx = canvas.getContext('2d', { alpha: false });
  const body = document.body;

  let ws = null;
  let decoder = null;
  let codec = null;
  let width = 0;
  let height = 0;
  let encoding = 0;
  let drawChain = Promise.resolve();
  let pendingTiles = [];
  let buttons = 0;
  let framesDrawn = 0;
  let framesWindow = 0;
  let rttMs = null;
  let pingSent = new Map();
  let pingToken = 0;
  let launch = null; // what the portal handed over; its ticket is used up
  let retries = 0; // reconnect attempts since the last connected session
  let reconnects = 0;
  let userClosed = false;

  function status(text, isError) {
    const s = $('desktop-status');
    s.textContent = text;
    s.classList.toggle('error', !!isError);
  }

  function setState(state) {
    body.dataset.state = state;
    // Paste and Disconnect mean nothing without a session.
    $('paste').disabled = state !== 'connected';
    $('disconnect').disabled = state !== 'connected';
  }

  function send(bytes) {
    if (ws && ws.readyState === WebSocket.OPEN && bytes.byteLength <= MAX_MESSAGE) ws.send(bytes);
  }

  function message(type, size) {
    const buf = new ArrayBuffer(1 + size);
    const view = new DataView(buf);
    view.setUint8(0, type);
    return view;
  }

  function sendHello(ticket, h264) {
    const t = new TextEncoder().encode(ticket);
    const v = message(MSG.HELLO, 4 + t.length);
    v.setUint8(1, VERSION);
    v.setUint8(2, h264 ? HELLO_H264 : 0);
    v.setUint16(3, t.length, true);
    new Uint8Array(v.buffer).set(t, 5);
    send(v.buffer);
  }

  function sendKey(code, pressed) {
    const c = new TextEncoder().encode(code);
    if (c.length === 0 || c.length > 255) return;
    const v = message(MSG.KEY, 2 + c.length);
    v.setUint8(1, pressed ? 1 : 0);
    v.setUint8(2, c.length);
    new Uint8Array(v.buffer).set(c, 3);
    send(v.buffer);
  }

  function sendPointer(ev) {
    if (!width || !height) return;
    const r = canvas.getBoundingClientRect();
    const x = Math.round(((ev.clientX - r.left) / r.width) * width);
    const y = Math.round(((ev.clientY - r.top) / r.height) * height);
    const v = message(MSG.POINTER, 5);
    v.setUint16(1, Math.max(0, Math.min(width - 1, x)), true);
    v.setUint16(3, Math.max(0, Math.min(height - 1, y)), true);
    v.setUint8(5, buttons);
    send(v.buffer);
  }

  function sendU32(type, value) {
    const v = message(type, 4);
    v.setUint32(1, value >>> 0, true);
    send(v.buffer);
  }

  // MouseEvent.buttons (1 left, 2 right, 4 middle) to the protocol's
  // (1 left, 2 middle, 4 right).
  function protoButtons(b) {
    return (b & 1) | ((b & 4) ? 2 : 0) | ((b & 2) ? 4 : 0);
  }

  // avc1.PPCCLL from the SPS of an Annex B access unit (H.264 §7.3.2.1.1).
  function codecFromAccessUnit(d) {
    for (let i = 0; i + 7 < d.length; i++) {
      if (d[i] === 0 && d[i + 1] === 0 && d[i + 2] === 1 && (d[i + 3] & 0x1f) === 7) {
        const hex = (n) => n.toString(16).padStart(2, '0');
        return 'avc1.' + hex(d[i + 4]) + hex(d[i + 5]) + hex(d[i + 6]);
      }
    }
    return null;
  }

  function newDecoder(wantCodec) {
    if (decoder) decoder.close();
    decoder = new VideoDecoder({
      output: (frame) => {
        ctx.drawImage(frame, 0, 0);
        const id = frame.timestamp;
        frame.close();
        framesDrawn++;
        body.dataset.frames = String(framesDrawn);
        sendU32(MSG.FRAME_ACK, id);
      },
      error: (e) => fail('The video decoder failed: ' + e.message),
    });
    decoder.configure({ codec: wantCodec, optimizeForLatency: true });
    codec = wantCodec;
  }

  function onVideo(v, data) {
    const frame = v.getUint32(1, true);
    const key = v.getUint8(5) === 1;
    const au = new Uint8Array(data, 6);
    if (key) {
      const c = codecFromAccessUnit(au);
      if (c && (c !== codec || !decoder || decoder.state === 'closed')) newDecoder(c);
    }
    if (!decoder) return; // no keyframe yet
    decoder.decode(new EncodedVideoChunk({ type: key ? 'key' : 'delta', timestamp: frame, data: au }));
  }

  function onTile(v, data) {
    const x = v.getUint16(5, true);
    const y = v.getUint16(7, true);
    const png = new Blob([new Uint8Array(data, 13)], { type: 'image/png' });
    pendingTiles.push(createImageBitmap(png).then((bmp) => ({ bmp, x, y })));
  }

  function onFrameEnd(v) {
    const frame = v.getUint32(1, true);
    const tiles = pendingTiles;
    pendingTiles = [];
    // In order: a later frame's tiles never land under an earlier one's.
    drawChain = drawChain.then(() => Promise.all(tiles)).then((done) => {
      for (const t of done) {
        ctx.drawImage(t.bmp, t.x, t.y);
        t.bmp.close();
      }
      framesDrawn++;
      body.dataset.frames = String(framesDrawn);
      sendU32(MSG.FRAME_ACK, frame);
    }).catch((e) => fail('A picture from the desktop could not be decoded: ' + e.message));
  }

  function onLayout(v) {
    width = v.getUint16(1, true);
    height = v.getUint16(3, true);
    encoding = v.getUint8(5);
    canvas.width = width;
    canvas.height = height;
    body.dataset.encoding = encoding === ENC_H264 ? 'h264' : 'png';
    if (retries > 0) {
      reconnects++;
      body.dataset.reconnects = String(reconnects);
    }
    retries = 0;
    setState('connected');
    status('');
    canvas.focus();
  }

  function onMessage(ev) {
    if (!(ev.data instanceof ArrayBuffer) || ev.data.byteLength < 1) return;
    const v = new DataView(ev.data);
    switch (v.getUint8(0)) {
      case MSG.LAYOUT: if (ev.data.byteLength >= 7) onLayout(v); break;
      case MSG.VIDEO: if (ev.data.byteLength > 6) onVideo(v, ev.data); break;
      case MSG.TILE: if (ev.data.byteLength > 13) onTile(v, ev.data); break;
      case MSG.FRAME_END: if (ev.data.byteLength >= 5) onFrameEnd(v); break;
      case MSG.PONG: {
        const sent = pingSent.get(v.getUint32(1, true));
        if (sent !== undefined) rttMs = performance.now() - sent;
        pingSent.clear();
        break;
      }
      default: break; // newer servers may send more; ignored
    }
  }

  function fail(text) {
    setState('closed');
    status(text, true);
    if (ws) ws.close();
  }

  function updateQuality() {
    const fps = framesDrawn - framesWindow;
    framesWindow = framesDrawn;
    if (ws && ws.readyState === WebSocket.OPEN) {
      pingToken = (pingToken + 1) >>> 0;
      pingSent.set(pingToken, performance.now());
      sendU32(MSG.PING, pingToken);
    }
    const dot = $('quality-dot');
    dot.classList.remove('good', 'fair', 'poor');
    if (body.dataset.state !== 'connected') {
      $('quality-text').textContent = 'Not connected';
      return;
    }
    const rtt = rttMs === null ? '…' : Math.round(rttMs) + ' ms';
    $('quality-text').textContent = fps + ' fps · ' + rtt + (encoding === ENC_H264 ? ' · H.264' : ' · tiles');
    body.dataset.fps = String(fps);
    body.dataset.rtt = rttMs === null ? '' : String(Math.round(rttMs));
    dot.classList.add(rttMs === null || rttMs > 150 ? 'poor' : rttMs > 50 ? 'fair' : 'good');
  }

  function sendResize() {
    const main = document.querySelector('.desktop-main');
    const v = message(MSG.RESIZE, 4);
    v.setUint16(1, Math.max(1, Math.min(8192, Math.floor(main.clientWidth))), true);
    v.setUint16(3, Math.max(1, Math.min(8192, Math.floor(main.clientHeight))), true);
    send(v.buffer);
  }

  function bindInput() {
    canvas.addEventListener('keydown', (e) => { e.preventDefault(); sendKey(e.code, true); });
    canvas.addEventListener('keyup', (e) => { e.preventDefault(); sendKey(e.code, false); });
    canvas.addEventListener('pointermove', (e) => { buttons = protoButtons(e.buttons); sendPointer(e); });
    canvas.addEventListener('pointerdown', (e) => {
      canvas.focus();
      canvas.setPointerCapture(e.pointerId);
      buttons = protoButtons(e.buttons);
      sendPointer(e);
      e.preventDefault();
    });
    canvas.addEventListener('pointerup', (e) => { buttons = protoButtons(e.buttons); sendPointer(e); });
    canvas.addEventListener('contextmenu', (e) => e.preventDefault());
    canvas.addEventListener('wheel', (e) => {
      e.preventDefault();
      if (e.deltaY === 0) return;
      const v = message(MSG.WHEEL, 2);
      v.setInt16(1, e.deltaY < 0 ? 1 : -1, true);
      send(v.buffer);
    }, { passive: false });
    // Keys held when the tab loses focus would stay down in the guest.
    window.addEventListener('blur', () => {
      for (const code of ['ShiftLeft', 'ShiftRight', 'ControlLeft', 'ControlRight', 'AltLeft', 'AltRight',
        'MetaLeft', 'MetaRight']) sendKey(code, false);
    });
    let resizeTimer = 0;
    window.addEventListener('resize', () => {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(sendResize, 300);
    });
    $('fullscreen').addEventListener('click', () => {
      if (document.fullscreenElement) document.exitFullscreen();
      else body.requestFullscreen().then(() => canvas.focus()).catch(() => status('Full screen was refused by the browser.', true));
    });
    $('paste').addEventListener('click', async () => {
      try {
        const text = await navigator.clipboard.readText();
        const t = new TextEncoder().encode(text);
        if (t.length + 1 > MAX_MESSAGE) { status('The clipboard text is too long to send.', true); return; }
        const v = new Uint8Array(1 + t.length);
        v[0] = MSG.CLIPBOARD;
        v.set(t, 1);
        send(v.buffer);
        status('Clipboard sent to the desktop.');
      } catch (e) {
        status('The browser did not allow reading the clipboard.', true);
      }
      canvas.focus();
    });
    $('disconnect').addEventListener('click', () => {
      userClosed = true;
      if (ws) ws.close(1000, 'user disconnected');
    });
  }

  async function h264Supported() {
    if (typeof VideoDecoder === 'undefined') return false;
    try {
      const r = await VideoDecoder.isConfigSupported({ codec: 'avc1.42E01E' });
      return !!r.supported;
    } catch (e) {
      return false;
    }
  }

  // A same-origin API call with the portal's session cookie.
  async function api(method, path, bodyJson, csrf) {
    const headers = { Accept: 'application/json' };
    if (bodyJson !== undefined) headers['Content-Type'] = 'application/json';
    if (csrf) headers['X-CSRF-Token'] = csrf;
    const resp = await fetch('/api/v1' + path, {
      method, headers, credentials: 'same-origin',
      body: bodyJson === undefined ? undefined : JSON.stringify(bodyJson),
    });
    if (!resp.ok) {
      const e = new Error('The portal answered ' + resp.status + '.');
      e.status = resp.status;
      throw e;
    }
    return resp.json();
  }

  // After a dropped connection: a fresh ticket from the portal, then
  // connect again; on failure, try later until RETRY_DELAYS_MS runs out.
  function scheduleReconnect(code) {
    const delay = RETRY_DELAYS_MS[retries++];
    setState('reconnecting');
    status('The connection was lost (' + code + '); reconnecting…', true);
    setTimeout(async () => {
      try {
        const me = await api('GET', '/me');
        const r = await api('POST', '/launch', { pool: launch.pool, protocol: 'web' }, me.csrf_token);
        launch = { path: r.web.path, ticket: r.web.ticket, pool: launch.pool, tiles: launch.tiles };
        connect();
      } catch (e) {
        if (e.status === 401) {
          setState('closed');
          status(CLOSE_REASONS[4005], true);
        } else if (retries < RETRY_DELAYS_MS.length) {
          scheduleReconnect(code);
        } else {
          setState('closed');
          status('The desktop could not be reached again: ' + e.message + ' Open it again from the portal.', true);
        }
      }
    }, delay);
  }

  async function connect() {
    const url = new URL(launch.path, location.href);
    if (url.origin !== location.origin) {
      fail('Refusing to connect to another site.');
      return;
    }
    const h264 = !launch.tiles && await h264Supported();
    setState('connecting');
    status('Connecting…');
    ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + url.host + url.pathname);
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => sendHello(launch.ticket, h264);
    ws.onmessage = onMessage;
    const mine = ws;
    ws.onclose = (ev) => {
      if (ws !== mine) return;
      setState('closed');
      if (decoder && decoder.state !== 'closed') decoder.close();
      decoder = null;
      codec = null;
      body.dataset.closeCode = String(ev.code);
      if (!userClosed && launch.pool && RETRY_CODES.has(ev.code) && retries < RETRY_DELAYS_MS.length) {
        scheduleReconnect(ev.code);
        updateQuality();
        return;
      }
      if (ev.code === 1000) status('Disconnected.');
      else status(CLOSE_REASONS[ev.code] || ('The connection to the desktop was lost (' + ev.code + (ev.reason ? ': ' + ev.reason : '') + ').'), true);
      updateQuality();
    };
  }

  function start() {
    bindInput();
    setInterval(updateQuality, 1000);
    const raw = sessionStorage.getItem('vdi-web-launch');
    sessionStorage.removeItem('vdi-web-launch');
    try {
      launch = raw ? JSON.parse(raw) : null;
    } catch (e) {
      launch = null;
    }
    if (!launch || typeof launch.path !== 'string' || typeof launch.ticket !== 'string') {
      setState('closed');
      status('Open this desktop from the portal (Open in browser).', true);
      return;
    }
    connect();
  }

  start();
})();
