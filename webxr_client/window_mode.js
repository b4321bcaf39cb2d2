// Camera-window mode, for browsers without WebXR AR (iPhone Safari, desktop):
// the camera video with overlays drawn on top, screen-locked to each object's box.

import { VideoGrabber, openCamera } from './camera.js';
import { containRect, drawScene } from './overlay.js';

export const FOV_Y_DEG = 60; // assumed for a webcam or phone camera that states no intrinsics

export class WindowMode {
  /**
   * `canvas`: drawn over `video`; `tapLayer`: receives taps; `pump`: the FramePump;
   * `scene()`: {objects: the latest `objects` message, overlays: [...]} to draw;
   * `onSelect(objectId, label)`: a tap on an object's box or panel;
   * `onPanelTap(overlayId, x, y)`: a tap on a panel first, at (x, y) in panel pixels;
   * true when it took the tap (a table cell to edit).
   */
  constructor({ video, canvas, tapLayer, pump, scene, onSelect, onPanelTap = () => false }) {
    Object.assign(this, { video, canvas, tapLayer, pump, scene, onSelect, onPanelTap });
    this.grabber = new VideoGrabber();
    this.drawn = []; // {overlayId, objectId, x, y, w, h} in CSS pixels, rebuilt on every draw
    this.boxes = []; // {objectId, label, x, y, w, h}
    this.selected = null;
    this._waiting = null;
  }

  async start() {
    await openCamera(this.video);
    this.tapLayer.addEventListener('pointerup', this._onTap);
  }

  /** What `hello` says about this camera. */
  cameraInfo() {
    return { width: this.video.videoWidth, height: this.video.videoHeight, fov_y_deg: FOV_Y_DEG };
  }

  select(objectId) {
    this.selected = objectId;
  }

  /** Send a frame when the pump is ready; otherwise try again when it may be. */
  sendWhenReady = () => {
    clearTimeout(this._waiting);
    this._waiting = null;
    if (this.pump.ready()) {
      const capture = this.grabber.grab(this.video);
      if (capture) this.pump.submit(capture);
      return;
    }
    const wait = this.pump.waitMs();
    if (Number.isFinite(wait)) this._waiting = setTimeout(this.sendWhenReady, wait);
  };

  draw() {
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

    let drawn = { boxes: [], drawn: [] };
    const { objects, overlays } = this.scene();
    if (video.videoWidth && objects) {
      const view = containRect(cssW, cssH, video.videoWidth, video.videoHeight);
      drawn = drawScene(ctx, objects, overlays, view, this.selected);
    }
    this.boxes = drawn.boxes;
    this.drawn = drawn.drawn;
  }

  _onTap = (event) => {
    const { clientX: x, clientY: y } = event;
    const inside = (r) => x >= r.x && x <= r.x + r.w && y >= r.y && y <= r.y + r.h;
    const panel = this.drawn.find(inside);
    const overlay = panel && this.scene().overlays.find((o) => o.id === panel.overlayId);
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
