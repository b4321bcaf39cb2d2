// Camera-window mode, for browsers without WebXR AR (iPhone Safari, desktop):
// the camera video with overlays drawn on top, screen-locked to each object's box.
// Boxes are drawn where the object is in the video frame on screen (latency.js),
// and panels are laid out so that they never cover each other (layout.js).

import { VideoGrabber, openCamera } from './camera.js';
import { createCompensation } from './latency.js';
import { PanelLayout } from './layout.js';
import { containRect, drawScene } from './overlay.js';

export const FOV_Y_DEG = 60; // assumed for a webcam or phone camera that states no intrinsics
const STALLED_MS = 250; // no new video frame for this long (a paused video): send the picture shown anyway
const MIN_VISIBLE = 0.4; // a box carried on until less than this share of it is in the picture is not drawn (as the server's tracker)
const SWIPE_PX = 40; // a pointer moved up or down this far on a panel pages its table instead of tapping

export class WindowMode {
  /**
   * `canvas`: drawn over `video`; `tapLayer`: receives taps; `pump`: the FramePump;
   * `overlays()`: the overlays to draw; `onSelect(objectId, label)`: a tap on an
   * object's box or panel; `onPanelTap(overlayId, x, y)`: a tap on a panel first,
   * at (x, y) in panel pixels, true when it took the tap (a table cell to edit);
   * `onPanelSwipe(overlayId, 'next' | 'previous')`: a swipe up or down on a panel;
   * `compensation`: a name from latency.js's COMPENSATIONS.
   */
  constructor({ video, canvas, tapLayer, pump, overlays, onSelect, onPanelTap = () => false,
    onPanelSwipe = () => false, compensation }) {
    Object.assign(this, { video, canvas, tapLayer, pump, overlays, onSelect, onPanelTap, onPanelSwipe });
    this.name = 'window';
    this.grabber = new VideoGrabber();
    this.compensation = createCompensation(compensation);
    this.layout = new PanelLayout();
    this.shown = null; // the video frame on screen: {key, time}
    this.shownAt = -Infinity;
    this.frameCallbacks = 'requestVideoFrameCallback' in HTMLVideoElement.prototype;
    this.drawn = []; // {overlayId, objectId, x, y, w, h} in CSS pixels, rebuilt on every draw
    this.boxes = []; // {objectId, label, x, y, w, h, imageBox}
    this.stacks = []; // {objectId, spot, scale, x, y, w, h, leader}
    this.selected = null;
    this.latest = null; // the latest `objects` message
    this.pressed = null; // where the pointer went down: {x, y}
  }

  async start() {
    await openCamera(this.video);
    this.tapLayer.addEventListener('pointerdown', this._onPress);
    this.tapLayer.addEventListener('pointerup', this._onTap);
    if (this.frameCallbacks) this.video.requestVideoFrameCallback(this._onVideoFrame);
    requestAnimationFrame(this._onAnimationFrame);
  }

  _onAnimationFrame = () => {
    this.draw();
    requestAnimationFrame(this._onAnimationFrame);
  };

  /** What `hello` says about this camera. */
  cameraInfo() {
    return { width: this.video.videoWidth, height: this.video.videoHeight, fov_y_deg: FOV_Y_DEG };
  }

  /** The mode, as the status line names it. */
  statusLabel() {
    return 'camera window';
  }

  get settled() {
    return this.layout.settled;
  }

  select(objectId) {
    this.selected = objectId;
  }

  /** The overlays changed: nothing to do, each draw reads them. */
  onOverlays() {}

  /** Plain data for tests: what the latest draw put where, and the latency compensation's state. */
  snapshot() {
    return {
      drawn: this.drawn,
      boxes: this.boxes,
      stacks: this.stacks,
      compensation: { status: this.compensation.status, ms: this.compensation.trackMs ?? null },
    };
  }

  /** The server's `objects` for one of the frames this page sent. */
  onObjects(message) {
    this.latest = message;
    this.compensation.onAnswer(message, this.pump.record(message.frame_id)?.shown || null);
  }

  /**
   * A new picture is on screen: the tracker gets it, and it is sent when the
   * previous frame was answered. Frames are taken here, so the page knows which
   * of the pictures it showed the server's answer is about.
   */
  _onVideoFrame = (now, metadata) => {
    this._show(metadata.presentedFrames, metadata.captureTime ?? metadata.expectedDisplayTime ?? now);
    this.video.requestVideoFrameCallback(this._onVideoFrame);
  };

  _show(key, time) {
    this.shown = { key, time };
    this.shownAt = performance.now();
    this.compensation.onVideoFrame(this.video, this.shown, this.pump.ready());
    this._send();
  }

  _send() {
    if (!this.pump.ready()) return;
    const capture = this.grabber.grab(this.video);
    if (!capture) return;
    capture.shown = this.shown;
    capture.takenAt = performance.timeOrigin + this.shown.time;
    this.pump.submit(capture);
  }

  draw() {
    const now = performance.now();
    if (!this.frameCallbacks) this._show(now, now); // without video frame callbacks, each redraw stands for a frame
    else if (this.shown && now - this.shownAt > STALLED_MS) this._send();

    const { canvas, video } = this;
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

    let drawn = { boxes: [], drawn: [], stacks: [] };
    if (video.videoWidth && this.latest) {
      const view = containRect(cssW, cssH, video.videoWidth, video.videoHeight);
      const imageSize = this.latest.image_size;
      const objects = this.compensation.objects(this.shown).filter(({ box }) => visibleShare(box, imageSize) >= MIN_VISIBLE);
      const scene = { imageSize, objects, overlays: this.overlays() };
      drawn = drawScene(ctx, scene, view, this.layout, this.selected);
    }
    this.boxes = drawn.boxes;
    this.drawn = drawn.drawn;
    this.stacks = drawn.stacks;
  }

  _onPress = (event) => {
    this.pressed = { x: event.clientX, y: event.clientY };
  };

  _onTap = (event) => {
    const { clientX: x, clientY: y } = event;
    const inside = (r) => x >= r.x && x <= r.x + r.w && y >= r.y && y <= r.y + r.h;
    const pressed = this.pressed;
    this.pressed = null;
    const swiped = pressed && Math.abs(y - pressed.y) >= SWIPE_PX && Math.abs(y - pressed.y) > Math.abs(x - pressed.x)
      && this.drawn.find((r) => pressed.x >= r.x && pressed.x <= r.x + r.w && pressed.y >= r.y && pressed.y <= r.y + r.h);
    if (swiped) {
      this.onPanelSwipe(swiped.overlayId, y < pressed.y ? 'next' : 'previous');
      return;
    }
    const panel = this.drawn.find(inside);
    const overlay = panel && this.overlays().find((o) => o.id === panel.overlayId);
    if (overlay) {
      const scale = panel.w / overlay.content.width;
      if (this.onPanelTap(panel.overlayId, (x - panel.x) / scale, (y - panel.y) / scale)) return;
    }
    const hit = panel || this.boxes.find(inside);
    if (!hit) return;
    const box = this.boxes.find((b) => b.objectId === hit.objectId);
    this.onSelect(hit.objectId, box?.label);
  };
}

/** The share of `box` inside an image of `size` [width, height]. */
function visibleShare([x0, y0, x1, y1], [width, height]) {
  const area = (x1 - x0) * (y1 - y0);
  const inside = Math.max(0, Math.min(x1, width) - Math.max(x0, 0)) * Math.max(0, Math.min(y1, height) - Math.max(y0, 0));
  return area > 0 ? inside / area : 0;
}
