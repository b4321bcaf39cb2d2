// The web client: WebXR mode where the browser has immersive AR (Chrome on
// Android, Quest Browser), camera-window mode everywhere else. Both stream
// camera frames to /v1/stream and draw the overlays that come back.

import { Api } from './api.js';
import { CellEditor, refAt } from './cell_editor.js';
import { Connection } from './connection.js';
import { FramePump } from './frames.js';
import { helloMessage, pageMessage, placeMessage } from './protocol.js';
import { ObjectSheet } from './sheet.js';
import { TOKEN_KEY, currentToken } from './token.js';
import { WindowMode } from './window_mode.js';

const $ = (id) => document.getElementById(id);
const ui = {
  root: $('ui'),
  tapLayer: $('tap-layer'),
  video: $('video'),
  canvas: $('overlay'),
  start: $('start'),
  startXR: $('start-xr'),
  form: $('token-form'),
  tokenInput: $('token-input'),
  status: $('status'),
  statusMain: $('status-main'),
  error: $('status-error'),
};

// Public state, also read by the browser tests.
const client = {
  mode: null, // null | 'window' | 'xr'
  state: 'idle', // the connection's: 'idle' | 'connecting' | 'streaming' | 'reconnecting' | 'stopped'
  user: null,
  framesSent: 0,
  messagesReceived: 0, // messages from the server, of every type
  lastObjects: null,
  overlays: {}, // id -> overlay
  stats: null,
  fps: 0,
  lastError: null,
  selected: null, // the object whose sheet is open
  placeBlock: null, // the block a tap on nothing places in the space (`?place=blk_…`, or the sheet's "Place")
  placedAnchors: {}, // block id -> the anchor this page placed it as: a later tap moves that anchor
  lastPlaced: null, // the latest `placed` message
  windows: {}, // overlay id -> the first row its table panel was asked to show (`page`)
  get drawn() { return mode?.snapshot().drawn || []; },
  get boxes() { return mode?.snapshot().boxes || []; },
  get stacks() { return mode?.snapshot().stacks || []; },
  get layoutSettled() { return mode?.settled ?? true; },
  panelTaps: 0, // taps on panels so far, the latest in `lastPanelTap`: {overlayId, ref (what it met, or null)}
  lastPanelTap: null,
  get compensation() { return mode?.snapshot().compensation ?? null; },
  xr: () => mode?.snapshot().xr || null,
  editor: () => cellEditor.snapshot(),
};
window.spatialClient = client;

let token = currentToken();
const PARAMS = new URLSearchParams(location.search);
const SPACE = PARAMS.get('space'); // ?space=spc_…: share that space's anchors
client.placeBlock = PARAMS.get('place');
let placeCount = 0;
let pageCount = 0;
// The running mode, WindowMode or XRMode, or null. Both have: `name` ('window' | 'xr'), start(),
// cameraInfo() (for `hello`), statusLabel(), onObjects(message), onOverlays(), select(objectId),
// `settled` (its panel layout's) and snapshot() (plain data for tests).
let mode = null;
const objectTimes = []; // arrival times of recent `objects`, for the fps figure

const connection = new Connection({
  url: `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/v1/stream`,
  hello: () => helloMessage(token, mode?.cameraInfo(), ['vector'], SPACE),
  onMessage,
  onChange: onConnectionChange,
});
const pump = new FramePump(connection, {
  onSent: () => { client.framesSent = pump.sent; renderStatus(); },
  onError: (err) => showError('frame', err.message || String(err)),
});
client.pump = pump;
client.connection = connection;

const api = new Api(() => token);
const sheet = new ObjectSheet(api, (objectId) => {
  client.selected = objectId;
  mode?.select(objectId);
}, SPACE ? (block) => { client.placeBlock = block.id; } : null);
const cellEditor = new CellEditor(api);

/**
 * A tap on a panel: a pager button shows other rows of the table; a table cell, header, kanban
 * card or lane opens the cell editor.
 */
function onPanelTap(overlayId, x, y) {
  const overlay = client.overlays[overlayId];
  const ref = overlay && refAt(overlay.content, x, y);
  client.panelTaps += 1;
  client.lastPanelTap = { overlayId, ref };
  if (!ref) return false;
  if (ref.first !== undefined) showRows(overlayId, ref.first);
  else cellEditor.open(overlay, ref);
  return true;
}

/** A swipe up (`next`) or down (`previous`) on a panel: its pager's window after or before; true when it has one. */
function onPanelSwipe(overlayId, direction) {
  const overlay = client.overlays[overlayId];
  const current = client.windows[overlayId] ?? 0;
  const targets = (overlay?.content.ops || []).filter((op) => op.ref?.first !== undefined).map((op) => op.ref.first);
  const target = direction === 'next' ? targets.find((first) => first > current) : targets.find((first) => first < current);
  if (target === undefined) return false;
  showRows(overlayId, target);
  return true;
}

/** Ask the server for the panel's rows from `first` on; its next `overlays` bring them. */
function showRows(overlayId, first) {
  client.windows[overlayId] = first;
  pageCount += 1;
  connection.send(JSON.stringify(pageMessage(`page${pageCount}`, overlayId, first)));
}

// ---- token ----------------------------------------------------------------

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
  if (!connection.sendHello()) start(client.mode ?? 'window');
}

// ---- status line ----------------------------------------------------------

let countdown = null;

function renderStatus() {
  ui.status.dataset.state = client.state;
  clearTimeout(countdown);
  if (client.state === 'reconnecting') {
    const seconds = Math.max(0, Math.ceil((connection.retryAt - performance.now()) / 1000));
    ui.statusMain.textContent = `disconnected · reconnecting in ${seconds} s (attempt ${connection.attempt}) · frames paused`;
    countdown = setTimeout(renderStatus, 250);
    return;
  }
  const text = { idle: 'idle', connecting: 'connecting…', stopped: 'stopped' }[client.state];
  if (text) {
    ui.statusMain.textContent = text;
    return;
  }
  const dropped = client.stats ? client.stats.dropped : 0;
  const label = mode ? mode.statusLabel() : 'camera window';
  ui.statusMain.textContent =
    `${label} · connected as ${client.user} · ${client.framesSent} frames sent · ` +
    `${client.fps.toFixed(1)} fps · ${dropped} dropped${SPACE ? ` · ${spaceStatus(client.relocalised)}` : ''}`;
}

/** Where the session stands in its space, and what the user can do about it. */
function spaceStatus(relocalised) {
  if (relocalised?.success) return `in the space (found by ${relocalised.method === 'markers' ? 'a landmark' : 'depth'})`;
  if (relocalised) return `space not found yet: ${relocalised.detail} (look around)`;
  return 'finding the space: look around';
}

function showError(code, message) {
  client.lastError = { code, message };
  ui.error.textContent = `error: ${code ? `${code}: ` : ''}${message}`;
}

function clearError() {
  client.lastError = null;
  ui.error.textContent = '';
}

function onConnectionChange() {
  client.state = connection.state;
  if (!connection.streaming) pump.reset(); // frames pause while disconnected
  const running = client.mode !== null;
  ui.start.hidden = running;
  ui.startXR.hidden = running || !ui.startXR.dataset.supported;
  if (client.state === 'reconnecting' && !client.lastError) {
    showError('socket', `connection lost (${connection.lastCloseCode})`);
  }
  renderStatus();
}

// ---- messages -------------------------------------------------------------

function onMessage(message) {
  client.messagesReceived += 1;
  const handler = handlers[message.type];
  if (handler) handler(message);
}

const handlers = {
  welcome(message) {
    client.user = message.user;
    client.overlays = {}; // a new session: the server sends every overlay again
    client.windows = {}; // with the first rows of each table
    client.relocalised = null; // and relocalises again
    mode?.onOverlays();
    clearError();
    ui.form.hidden = true;
    renderStatus();
  },

  objects(message) {
    client.lastObjects = message;
    countFps(performance.now());
    pump.answered(message.frame_id);
    mode?.onObjects(message);
  },

  overlays(message) {
    for (const overlay of [...message.added, ...message.updated]) client.overlays[overlay.id] = overlay;
    for (const id of message.removed) delete client.overlays[id];
    mode?.onOverlays();
  },

  relocalised(message) {
    client.relocalised = message; // on failure, overlays stay pinned to objects only
    renderStatus();
  },

  placed(message) {
    client.placedAnchors[message.block] = message.anchor;
    client.lastPlaced = message;
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
      askForToken(); // the socket stays open; a new hello can still succeed
    } else if (message.ref?.startsWith('frame:')) {
      pump.answered(Number(message.ref.slice(6)));
    } else if (message.ref?.startsWith('place') && message.code === 'not_found') {
      client.placedAnchors = {}; // an anchor placed before may be gone: the next tap places the block anew
    }
  },
};

function countFps(now) {
  objectTimes.push(now);
  while (objectTimes.length && now - objectTimes[0] > 1000) objectTimes.shift();
  client.fps = objectTimes.length;
}

/**
 * A tap on nothing in AR: put the chosen block there in the space, or move it
 * there if this page placed it before. Only once the session is relocalised.
 */
function placeAt(pose) {
  const block = client.placeBlock;
  if (!block || !client.relocalised?.success) return;
  const anchor = client.placedAnchors[block];
  placeCount += 1;
  connection.send(JSON.stringify(placeMessage(`place${placeCount}`, pose, anchor ? { anchor } : { block })));
}

// ---- modes ----------------------------------------------------------------

async function start(kind) {
  if (!token) {
    askForToken();
    return;
  }
  if (client.mode) return;
  clearError();
  try {
    mode = await MODES[kind].create();
    client.mode = mode.name;
    await mode.start();
  } catch (err) {
    showError(MODES[kind].errorCode, err.message || String(err));
    mode = null;
    client.mode = null;
    onConnectionChange();
    return;
  }
  onConnectionChange();
  connection.start();
}

/** The session ended (XR): the page is back to no mode, and stops streaming. */
function onModeEnd() {
  mode = null;
  client.mode = null;
  connection.stop();
}

// How to make each mode, and the code its failure to start shows under.
const MODES = {
  window: {
    errorCode: 'camera',
    create: async () => new WindowMode({
      video: ui.video,
      canvas: ui.canvas,
      tapLayer: ui.tapLayer,
      pump,
      overlays: () => Object.values(client.overlays),
      onSelect: (objectId, label) => sheet.open(objectId, label),
      onPanelTap,
      onPanelSwipe,
      compensation: PARAMS.get('compensation'),
    }),
  },
  xr: {
    errorCode: 'xr',
    create: async () => {
      const { XRMode } = await import('./xr_mode.js').catch((err) => {
        throw new Error(`could not load the XR client (${err.message}); is three.js installed on the server (make client)?`);
      });
      return new XRMode({
        root: ui.root,
        tapLayer: ui.tapLayer,
        video: ui.video,
        pump,
        overlays: () => client.overlays,
        onSelect: (objectId, label) => sheet.open(objectId, label),
        onPanelTap,
        onPlace: placeAt,
        onEnd: onModeEnd,
      });
    },
  },
};

/** Show "Start AR" where the browser can start an immersive-ar session. */
async function offerXR() {
  const supported = await navigator.xr.isSessionSupported('immersive-ar').catch(() => false);
  if (supported) {
    ui.startXR.dataset.supported = '1';
    ui.startXR.hidden = client.mode !== null;
  }
}

// ---- start up ---------------------------------------------------------------

ui.start.addEventListener('click', () => start('window'));
ui.startXR.addEventListener('click', () => start('xr'));
ui.form.addEventListener('submit', onTokenSubmit);
ui.status.addEventListener('click', () => connection.retryNow());
onConnectionChange();
if (navigator.xr) offerXR();

if (!token) askForToken();
else if (PARAMS.get('autostart') === '1') start('window');
