// The stream socket: hello on every (re)connect, message dispatch, and
// reconnection with exponential back-off when the socket drops.

export const BACKOFF = {
  firstMs: 500, // the first retry comes this soon after a drop
  factor: 2,
  maxMs: 10_000,
  jitter: 0.2, // +-20 %, so many clients dropped together do not return together
};

/** The wait before reconnect attempt `attempt` (1, 2, ...): doubling, capped, jittered. */
export function backoffDelay(attempt, random = Math.random) {
  const base = Math.min(BACKOFF.maxMs, BACKOFF.firstMs * BACKOFF.factor ** (attempt - 1));
  return Math.round(base * (1 + BACKOFF.jitter * (2 * random() - 1)));
}

/**
 * States: 'idle' (not started), 'connecting' (socket opening or waiting for
 * `welcome`), 'streaming' (welcome received), 'reconnecting' (dropped, waiting
 * for the next attempt), 'stopped'.
 *
 * `hello()` builds the hello message; `onMessage(message)` gets every JSON
 * message; `onChange()` is called whenever the state or the retry countdown changes.
 */
export class Connection {
  constructor({ url, hello, onMessage, onChange }) {
    this.url = url;
    this.hello = hello;
    this.onMessage = onMessage;
    this.onChange = onChange;
    this.state = 'idle';
    this.attempt = 0; // failed attempts since the last welcome
    this.retryAt = null; // performance.now() of the next attempt while reconnecting
    this.ws = null;
    this._retryTimer = null;
  }

  get streaming() {
    return this.state === 'streaming';
  }

  start() {
    if (this.state === 'connecting' || this.state === 'streaming') return;
    this._connect();
  }

  stop() {
    clearTimeout(this._retryTimer);
    this.retryAt = null;
    const ws = this.ws;
    this.ws = null;
    if (ws) ws.close(1000, 'client stopped');
    this._set('stopped');
  }

  /** Reconnect now instead of waiting for the back-off. */
  retryNow() {
    if (this.state !== 'reconnecting') return;
    clearTimeout(this._retryTimer);
    this._connect();
  }

  send(data) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(data);
    return true;
  }

  sendHello() {
    return this.send(JSON.stringify(this.hello()));
  }

  _connect() {
    this.retryAt = null;
    this._set('connecting');
    const ws = new WebSocket(this.url);
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    ws.onopen = () => this.sendHello();
    ws.onmessage = (event) => {
      if (typeof event.data !== 'string' || ws !== this.ws) return;
      const message = JSON.parse(event.data);
      if (message.type === 'welcome') {
        this.attempt = 0;
        this._set('streaming');
      }
      this.onMessage(message);
    };
    ws.onclose = (event) => {
      if (ws !== this.ws) return; // an old socket, already replaced or stopped
      this.ws = null;
      this._scheduleRetry(event.code);
    };
  }

  _scheduleRetry(code) {
    this.attempt += 1;
    const delay = backoffDelay(this.attempt);
    this.lastCloseCode = code;
    this.retryAt = performance.now() + delay;
    this._retryTimer = setTimeout(() => this._connect(), delay);
    this._set('reconnecting');
  }

  _set(state) {
    this.state = state;
    this.onChange();
  }
}
