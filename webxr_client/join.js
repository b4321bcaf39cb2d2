// The /join page: a browser that is signed in shows a QR code with a new token for
// another device (a phone, a headset), one for each address the service is reachable at.

import { Api } from './api.js';
import { currentToken } from './token.js';

const $ = (id) => document.getElementById(id);
const token = currentToken();
const api = new Api(() => token);

// Public state, also read by the browser tests.
const join = { state: token ? 'ready' : 'signed-out', tokenId: null, links: [] };
window.spatialJoin = join;

function say(text, isError = false) {
  $('join-message').textContent = text;
  $('join-message').classList.toggle('error', isError);
}

function showCodes(device, links) {
  const codes = $('join-codes');
  codes.replaceChildren();
  for (const link of links) {
    const figure = document.createElement('figure');
    const image = document.createElement('img');
    image.src = link.qr_png;
    image.alt = `QR code: this service at ${new URL(link.url).host}, signed in as ${device}`;
    const caption = document.createElement('figcaption');
    caption.textContent = new URL(link.url).origin;
    // For a device that cannot scan (a headset): the link to type, token and all.
    const text = document.createElement('details');
    const summary = document.createElement('summary');
    summary.textContent = 'the link as text';
    const code = document.createElement('code');
    code.textContent = link.url;
    text.append(summary, code);
    figure.append(image, caption, text);
    codes.append(figure);
  }
  if (links.length) {
    const ca = $('join-ca');
    ca.href = `${new URL(links[0].url).origin}/ca.crt`;
    ca.textContent = ca.href;
  }
}

async function onSubmit(event) {
  event.preventDefault();
  const device = $('join-device').value.trim();
  if (!device) return;
  try {
    const made = await api.join(device);
    join.tokenId = made.id;
    join.links = made.links;
    join.state = 'shown';
    showCodes(device, made.links);
    say(made.links.length
      ? `A token for ${device} (${made.id}). Scan a code with it.`
      : 'This service listens on this machine only, so no other device can reach it: start it with'
        + ' --host 0.0.0.0 (HTTPS comes on by itself).', !made.links.length);
  } catch (err) {
    join.state = 'error';
    say(err.status === 401 ? 'Your sign-in here is no longer valid: open the address spatial serve printed.'
      : err.message, true);
  }
}

$('join-form').addEventListener('submit', onSubmit);
if (!token) {
  $('join-form').hidden = true;
  say('Sign in first: open the address `spatial serve` printed (the one with #token=) in this browser,'
    + ' then come back to /join.', true);
}
