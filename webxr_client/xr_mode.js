// WebXR mode: an immersive-ar session (xr_session.js) whose frames send the camera picture with
// the view's pose (xr_capture.js); objects are placed in the reference space (xr_objects.js) and
// their panels world-locked there and laid out for each view (xr_panels.js); taps and selects cast
// rays (xr_input.js). This module joins them behind the mode interface app.js uses. See docs/xr.md.

import { Matrix4 } from 'three';
import { toRowMajor } from './geometry.js';
import { XRCapture } from './xr_capture.js';
import { XRInput } from './xr_input.js';
import { XRObjects } from './xr_objects.js';
import { XRPanels } from './xr_panels.js';
import { ARSession, requestARSession } from './xr_session.js';

export class XRMode {
  /**
   * `root`: the element shown over the XR view (DOM overlay); `video`: where
   * getUserMedia frames play; `pump`: the FramePump; `overlays()`: the overlays
   * the client holds; `onSelect(objectId)`: a tap on an object or its panel;
   * `onPlace(pose)`: a tap on nothing, with the pose (row-major, reference
   * space) where a block chosen to place would go; `onEnd()`: the session ended;
   * `onPanelTap(overlayId, x, y)`: a tap on a panel first, at (x, y) in panel pixels; true
   * when it took the tap (a table cell to edit).
   */
  constructor({ root, tapLayer, video, pump, overlays, onSelect, onPlace, onEnd, onPanelTap = () => false }) {
    Object.assign(this, { root, pump, overlays, onEnd });
    this.name = 'xr';
    this.xr = new ARSession({ onFrame: (frame, view) => this._onFrame(frame, view), onEnd: () => this._ended() });
    this.capture = new XRCapture({ video, pump });
    this.objects = new XRObjects({ scene: this.xr.scene, onMoved: () => this._layout() });
    this.panels = new XRPanels({ scene: this.xr.scene, objects: this.objects });
    this.input = new XRInput({
      root, tapLayer, objects: this.objects, panels: this.panels, capture: this.capture, onSelect, onPanelTap, onPlace,
    });
  }

  /**
   * Open the camera and the session. Where the camera needs a permission prompt
   * first, the tap that started this may have expired by the time the session is
   * asked for; then this fails and a second tap (camera already open) succeeds.
   */
  async start() {
    document.body.classList.add('xr');
    try {
      await this.capture.openBeforeSession();
      const session = await requestARSession(this.root);
      try {
        await this._setUp(session);
      } catch (err) {
        session.end();
        throw err;
      }
    } catch (err) {
      document.body.classList.remove('xr');
      throw err;
    }
  }

  async _setUp(session) {
    await this.capture.prepare(session);
    this.xr.createRenderer();
    this.capture.bind(this.xr.renderer);
    await this.xr.attach(session);
    this.objects.attach(session, this.xr.refSpace);
    this.input.attach(session, this.xr.renderer, this.xr.refSpace);
    this.xr.run();
  }

  _ended() {
    this.input.detach();
    this.objects.cancelHitTests();
    document.body.classList.remove('xr');
    this.onEnd();
  }

  /** What `hello` says of the camera: nothing, each frame brings its intrinsics. */
  cameraInfo() {
    return undefined;
  }

  /** The mode, as the status line names it. */
  statusLabel() {
    return `AR${this.capture.depthEnabled ? ' with depth' : ''}`;
  }

  get settled() {
    return this.panels.settled;
  }

  // ---- server messages ------------------------------------------------------

  /** Place the objects of an `objects` message in the reference space, using the pose of the frame they came from. */
  onObjects(message) {
    const record = this.pump.record(message.frame_id);
    if (!record?.devicePose) return;
    this.objects.place(message, record);
    this._layout();
  }

  /** The client's overlays changed: make the panels match. */
  onOverlays() {
    this.panels.sync(this.overlays());
    this._layout();
  }

  select(objectId) {
    this.objects.select(objectId);
  }

  // ---- each XR frame --------------------------------------------------------

  _onFrame(frame, view) {
    if (this.pump.ready()) this.capture.take(frame, view);
    this.objects.collectHitTests(frame);
    this._layout();
  }

  /**
   * Objects and their panels at their last known poses, for the latest view: an object's
   * marker shows while it is in the latest `objects` message, and its panels until the server
   * removes their overlays (which it does once the object has left the view).
   */
  _layout(now = performance.now()) {
    const byObject = this.panels.byObject();
    this.objects.refresh(now, (id) => byObject.has(id));
    this.panels.place(byObject, this.xr.lastView);
  }

  // ---- for tests ------------------------------------------------------------

  /** Plain data under `xr`: panels and objects in the reference space (row-major), and the current view. */
  snapshot() {
    const view = this.xr.lastView;
    const { panels, leaders } = this.panels.snapshot();
    return {
      xr: {
        cameraSource: this.capture.source,
        depthSensing: this.capture.depthEnabled,
        xrFrames: this.xr.frames,
        view: view && {
          transform: toRowMajor(new Matrix4().fromArray(view.transform.matrix)),
          projection: Array.from(view.projectionMatrix),
        },
        objects: this.objects.snapshot(),
        panels,
        leaders,
      },
    };
  }
}
