// Sending camera frames: one in flight at a time, and the pose each was taken with.

import { packFrame } from './protocol.js';

const FRAME_TIMEOUT_MS = 1000; // give up waiting for a frame's `objects` this long after sending it
const MIN_FRAME_INTERVAL_MS = 30; // no point taking frames faster than a camera delivers (from one capture to the next)
const REMEMBERED_FRAMES = 64;

/**
 * A capture is {width, height, encode: () => Promise<Uint8Array>, intrinsics?, devicePose?, depth?, takenAt?, shown?}:
 * the pixels are taken (and the pose and depth read) when the capture is made;
 * only the encoding is asynchronous. `devicePose` is a row-major
 * camera-to-reference 4x4 with OpenCV camera axes; `depth` is packFrame's;
 * `takenAt` the capture time (Date.now()'s clock; default: when it is sent);
 * `shown` the video frame it was taken from, as the page knows it (window_mode.js).
 */
export class FramePump {
  constructor(connection, { onSent = () => {}, onError = () => {} } = {}) {
    this.connection = connection;
    this.onSent = onSent;
    this.onError = onError;
    this.sent = 0;
    this.nextId = 1;
    this.inFlight = null; // {id, timer}
    this.lastCaptureAt = -Infinity;
    this.records = new Map(); // frame id -> {devicePose, intrinsics, width, height, sentAt, shown}
  }

  /** True when a new frame should be captured now. */
  ready(now = performance.now()) {
    return this.connection.streaming && !this.inFlight && now - this.lastCaptureAt >= MIN_FRAME_INTERVAL_MS;
  }

  /** Encode and send `capture`; resolves to the frame id, or null when it was not sent. */
  async submit(capture) {
    if (!this.ready()) return null;
    const id = this.nextId++;
    this.lastCaptureAt = performance.now();
    this.inFlight = { id, timer: null }; // while it is encoded, no other frame is taken
    try {
      const image = await capture.encode();
      if (this.inFlight?.id !== id || !this.connection.streaming) return null; // the socket dropped meanwhile
      const record = {
        devicePose: capture.devicePose || null,
        intrinsics: capture.intrinsics || null,
        width: capture.width,
        height: capture.height,
        sentAt: performance.now(),
        shown: capture.shown || null,
      };
      this.connection.send(packFrame(id, capture.takenAt ?? Date.now(), image, record.intrinsics, record.devicePose, capture.depth || null));
      this._remember(id, record);
      this.inFlight.timer = setTimeout(() => this.answered(id), FRAME_TIMEOUT_MS);
      this.sent += 1;
      this.onSent(id, record);
      return id;
    } catch (err) {
      this.onError(err);
      this.answered(id);
      return null;
    }
  }

  /** The server answered frame `id` (or it timed out, or the server refused it). */
  answered(id) {
    if (!this.inFlight || id < this.inFlight.id) return;
    clearTimeout(this.inFlight.timer);
    this.inFlight = null;
  }

  /** Forget the frame in flight (the socket dropped). */
  reset() {
    if (this.inFlight) clearTimeout(this.inFlight.timer);
    this.inFlight = null;
  }

  /** What frame `id` was sent with, while it is remembered. */
  record(id) {
    return this.records.get(id) || null;
  }

  _remember(id, record) {
    this.records.set(id, record);
    if (this.records.size > REMEMBERED_FRAMES) this.records.delete(this.records.keys().next().value);
  }
}
