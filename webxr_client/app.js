// Camera-window mode: stream camera frames to /v1/stream and draw the overlays
// that come back on top of the video. Works without WebXR (iPhone Safari, desktop).

import { packFrame, helloMessage } from './protocol.js';
import { containRect, drawScene } from './overlay.js';

const TOKEN_KEY = 'spatial.token';
const CAMERA = { video: { facingMode: 'environment', width: 640, height: 480 }, audio: false };
const FOV_Y_DEG = 60;
const JPEG_QUALITY = 0.7;
const FRAME_TIMEOUT_MS = 1000; // give up waiting for a frame's `objects` after this
const MIN_FRAME_INTERVAL_MS = 30; // no point sending faster than the camera delivers

const $ = (id) => document.getElementById(id);
const ui = {
  video: $('video'),
  canvas: $('overlay'),
  start: $('start'),
  form: $('token-form'),
  tokenInput: $('token-input'),
  status: $('status-main'),
  error: $('status-error'),
};

// Public state, also read by the browser tests.
const client = {
  state: 'idle', // 'idle' | 'connecting' | 'streaming' | 'closed'
  user: null,
  framesSent: 0,
  lastObjects: null,
  overlays: {}, // id -> overlay
  stats: null,
  fps: 0,
  lastError: null,
  drawn: [], // {overlayId, objectId, x, y, w, h} in CSS pixels, rebuilt on every draw
  boxes: [], // {objectId, x, y, w, h}
};
window.spatialClient = client;

let token = takeTokenFromUrl() || localStorage.getItem(TOKEN_KEY);
let ws = null;
let nextFrameId = 1;
let inFlight = null; // {id, timer} of the frame whose `objects` we wait for
let lastSendAt = 0;
const objectTimes = []; // arrival times of recent `objects`, for the fps figure
const grabCanvas = document.createElement('canvas');

// ---- token ----------------------------------------------------------------

/** The `#token=...` fragment, remembered and removed from the visible URL. */
function takeTokenFromUrl() {
  const fromHash = new URLSearchParams(location.hash.slice(1)).get('token');
  if (!fromHash) return null;
  localStorage.setItem(TOKEN_KEY, fromHash);
  history.replaceState(null, '', location.pathname + location.search);
  return fromHash;
}

function askForToken() {
  ui.form.hidden = false;
  ui.tokenInput.focus();
}

function onTokenSubmit(event) {
  event.preventDefault();
  token = ui.tokenInput.value.trim();
  if (!token) return;
  localStorage.setItem(TOKEN_KEY, token);
  ui.tokenInput.value = '';
  ui.form.hidden = true;
  if (ws && ws.readyState === WebSocket.OPEN) sendHello();
  else start();
}

// ---- status line ----------------------------------------------------------

function renderStatus() {
  const text = {
    idle: 'idle',
    connecting: 'connecting…',
    closed: 'disconnected',
  }[client.state];
  if (text) {
    ui.status.textContent = text;
    return;
  }
  const dropped = client.stats ? client.stats.dropped : 0;
  ui.status.textContent =
    `connected as ${client.user} · ${client.framesSent} frames sent · ` +
    `${client.fps.toFixed(1)} fps · ${dropped} dropped`;
}

function showError(code, message) {
  client.lastError = { code, message };
  ui.error.textContent = `error: ${code ? `${code}: ` : ''}${message}`;
}

function clearError() {
  client.lastError = null;
  ui.error.textContent = '';
}

function setState(state) {
  client.state = state;
  ui.start.hidden = state === 'connecting' || state === 'streaming';
  renderStatus();
}

// ---- camera and socket ----------------------------------------------------

async function start() {
  if (!token) {
    askForToken();
    return;
  }
  clearError();
  setState('connecting');
  try {
    await openCamera();
  } catch (err) {
    showError('camera', err.message || String(err));
    setState('idle');
    return;
  }
  connect();
}

async function openCamera() {
  if (ui.video.srcObject) return;
  if (!navigator.mediaDevices?.getUserMedia) {
    throw new Error('no camera access here (the page needs HTTPS or localhost)');
  }
  ui.video.srcObject = await navigator.mediaDevices.getUserMedia(CAMERA);
  await ui.video.play();
  if (!ui.video.videoWidth) {
    await new Promise((resolve) => ui.video.addEventListener('loadedmetadata', resolve, { once: true }));
  }
}

function connect() {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  ws = new WebSocket(`${scheme}://${location.host}/v1/stream`);
  ws.binaryType = 'arraybuffer';
  ws.onopen = sendHello;
  ws.onmessage = (event) => {
    if (typeof event.data === 'string') onMessage(JSON.parse(event.data));
  };
  ws.onerror = () => showError('socket', 'connection failed');
  ws.onclose = (event) => {
    finishFrame();
    ws = null;
    if (event.code !== 1000 && !client.lastError) showError('socket', `closed (${event.code})`);
    setState('closed');
  };
}

function sendHello() {
  const { videoWidth, videoHeight } = ui.video;
  ws.send(JSON.stringify(helloMessage(token, videoWidth, videoHeight, FOV_Y_DEG)));
}

// ---- messages -------------------------------------------------------------

function onMessage(message) {
  const handler = handlers[message.type];
  if (handler) handler(message);
}

const handlers = {
  welcome(message) {
    client.user = message.user;
    clearError();
    ui.form.hidden = true;
    setState('streaming');
    sendFrame();
  },

  objects(message) {
    client.lastObjects = message;
    countFps(performance.now());
    if (inFlight && message.frame_id >= inFlight.id) frameDone();
  },

  overlays(message) {
    for (const overlay of [...message.added, ...message.updated]) client.overlays[overlay.id] = overlay;
    for (const id of message.removed) delete client.overlays[id];
  },

  stats(message) {
    client.stats = message;
    renderStatus();
  },

  error(message) {
    showError(message.code, message.message);
    if (message.code === 'unauthorized') {
      localStorage.removeItem(TOKEN_KEY);
      token = null;
      finishFrame();
      setState('connecting'); // the socket stays open; a new hello can still succeed
      askForToken();
    } else if (inFlight && message.ref === `frame:${inFlight.id}`) {
      frameDone();
    }
  },
};

function countFps(now) {
  objectTimes.push(now);
  while (objectTimes.length && now - objectTimes[0] > 1000) objectTimes.shift();
  client.fps = objectTimes.length;
}

// ---- frames: one in flight at a time --------------------------------------

async function sendFrame() {
  if (client.state !== 'streaming' || inFlight || !ws) return;
  const id = nextFrameId++;
  inFlight = { id, timer: setTimeout(frameDone, FRAME_TIMEOUT_MS) };
  try {
    const jpeg = await grabJpeg();
    if (client.state !== 'streaming' || !ws || inFlight?.id !== id) return;
    ws.send(packFrame(id, Date.now(), jpeg));
    lastSendAt = performance.now();
    client.framesSent += 1;
    renderStatus();
  } catch (err) {
    showError('frame', err.message || String(err));
    frameDone();
  }
}

/** The current video frame at its native size, as JPEG bytes. */
async function grabJpeg() {
  const { videoWidth: w, videoHeight: h } = ui.video;
  if (grabCanvas.width !== w || grabCanvas.height !== h) {
    grabCanvas.width = w;
    grabCanvas.height = h;
  }
  grabCanvas.getContext('2d').drawImage(ui.video, 0, 0, w, h);
  const blob = await new Promise((resolve, reject) =>
    grabCanvas.toBlob((b) => (b ? resolve(b) : reject(new Error('JPEG encoding failed'))), 'image/jpeg', JPEG_QUALITY));
  return new Uint8Array(await blob.arrayBuffer());
}

function finishFrame() {
  if (inFlight) clearTimeout(inFlight.timer);
  inFlight = null;
}

/** The frame in flight was answered (or timed out): send the next one. */
function frameDone() {
  finishFrame();
  const wait = Math.max(0, MIN_FRAME_INTERVAL_MS - (performance.now() - lastSendAt));
  setTimeout(sendFrame, wait);
}

// ---- drawing ----------------------------------------------------------------

function draw() {
  const { canvas, video } = ui;
  const dpr = window.devicePixelRatio || 1;
  const cssW = canvas.clientWidth;
  const cssH = canvas.clientHeight;
  if (canvas.width !== Math.round(cssW * dpr) || canvas.height !== Math.round(cssH * dpr)) {
    canvas.width = Math.round(cssW * dpr);
    canvas.height = Math.round(cssH * dpr);
  }
  const ctx = canvas.getContext('2d');
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, cssW, cssH);

  let scene = { boxes: [], drawn: [] };
  if (video.videoWidth && client.lastObjects) {
    const view = containRect(cssW, cssH, video.videoWidth, video.videoHeight);
    scene = drawScene(ctx, client.lastObjects, Object.values(client.overlays), view);
  }
  client.boxes = scene.boxes;
  client.drawn = scene.drawn;
  requestAnimationFrame(draw);
}

// ---- start up ---------------------------------------------------------------

ui.start.addEventListener('click', start);
ui.form.addEventListener('submit', onTokenSubmit);
setState('idle');
requestAnimationFrame(draw);

if (!token) askForToken();
else if (new URLSearchParams(location.search).get('autostart') === '1') start();
