// WebXR mode: an immersive-ar session drawn with three.js. Each XR frame may
// send the camera image with the view's pose and intrinsics; overlays are
// world-locked at the object's pose in the reference space, so head motion
// between server updates moves the view, not the panels; each XR frame they are
// sized, turned and laid out for the view (xr_layout.js). See docs/xr.md.

import { Matrix4, PerspectiveCamera, Raycaster, Scene, Vector2, Vector3, WebGLRenderer } from 'three';
import { GLTextureGrabber, VideoGrabber, openCamera } from './camera.js';
import { DEPTH_SENSING, cpuDepthEnabled, depthForImage, surfaceAlongRay } from './depth.js';
import {
  devicePoseFromView, fromRowMajor, intrinsicsFromProjection, objectInReference, rayThroughPixel,
  toRowMajor, uprightFacing,
} from './geometry.js';
import { ObjectMarker, Panel, TextureCache } from './panels.js';
import { PoseFilter } from './pose_filter.js';
import { ANCHOR_SIDE_M, Leader, XRPanelLayout } from './xr_layout.js';

const FORGET_MS = 10_000; // an object unseen this long, with no panels left, is dropped
const NOMINAL_SIZE_M = 0.2; // size assumed for an object without a 3D pose, to guess its distance
const DEPTH_RANGE_M = [0.3, 4];
const HIT_TEST_FRAMES = 30; // give up on a hit test with no result after this many XR frames
const HIT_TEST_INTERVAL_MS = 250; // at most this often per object
const SELECTED_COLOR = 0xffd54a;
const OUTLINE_COLOR = 0x4ade80;
const IDENTITY = new Matrix4(); // the reference space itself, for panels placed in it
const FLAT_BACKENDS = new Set(['markers', 'taught']); // the poses they measure are flat surfaces: panels lie on them
const PLACE_DISTANCE_M = 0.75; // a tap on nothing places the chosen block this far along the tap's ray, without depth
const DEPTH_FRESH_MS = 2000; // a tap meets the surface of a depth map at most this old (the world may move)

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
    Object.assign(this, { root, tapLayer, video, pump, overlays, onSelect, onPlace, onEnd, onPanelTap });
    this.session = null;
    // object id -> {pose (Matrix4 in the reference space, smoothed: pose_filter.js), measured (the latest
    //              pose as measured), filter, side (m), label, backend, seenAt, inView, frameId, marker,
    //              source ('pose' | 'estimate' | 'hit-test'), hitAt}
    this.objects = new Map();
    this.panels = new Map(); // overlay id -> Panel
    this.placed = new Map(); // overlay id -> {centre (Matrix4, no scale), scale, shrink, spot, facing, anchor}, as last laid out
    this.layout = new XRPanelLayout();
    this.leaders = new Map(); // stack key -> Leader
    this.textures = new TextureCache();
    this.hitTests = new Map(); // object id -> {source, frames, ray}
    this.selected = null; // the object whose sheet is open
    this.xrFrames = 0;
    this.cameraSource = null; // 'raw-camera-access' | 'getUserMedia'
    this.lastDepth = null; // the latest capture with a depth map, and when it was taken
  }

  /**
   * Open the camera and the session. Where the camera needs a permission prompt
   * first, the tap that started this may have expired by the time the session is
   * asked for; then this fails and a second tap (camera already open) succeeds.
   */
  async start() {
    const cameraFirst = !('XRCamera' in window); // no Raw Camera Access in this browser: open the camera now
    if (cameraFirst) await openCamera(this.video);
    const session = await navigator.xr.requestSession('immersive-ar', {
      requiredFeatures: ['local'],
      optionalFeatures: ['camera-access', 'hit-test', 'dom-overlay', 'depth-sensing'],
      domOverlay: { root: this.root },
      depthSensing: DEPTH_SENSING,
    });
    try {
      await this._setUp(session, cameraFirst);
    } catch (err) {
      session.end();
      throw err;
    }
  }

  async _setUp(session, cameraOpen) {
    this.session = session;
    const features = session.enabledFeatures || [];
    this.rawCamera = features.includes('camera-access');
    this.hitTestEnabled = features.includes('hit-test');
    this.depthEnabled = cpuDepthEnabled(session);
    if (!this.rawCamera && !cameraOpen) await openCamera(this.video);
    this.cameraSource = this.rawCamera ? 'raw-camera-access' : 'getUserMedia';

    this.renderer = new WebGLRenderer({ alpha: true, antialias: false });
    this.renderer.setPixelRatio(window.devicePixelRatio || 1);
    this.renderer.setSize(window.innerWidth, window.innerHeight);
    this.renderer.xr.enabled = true;
    this.renderer.xr.setReferenceSpaceType('local');
    this.renderer.domElement.id = 'xr-canvas';
    document.body.appendChild(this.renderer.domElement);
    this.scene = new Scene();
    this.camera = new PerspectiveCamera();
    this.videoGrabber = new VideoGrabber();
    this.glGrabber = this.rawCamera ? new GLTextureGrabber(this.renderer.getContext()) : null;

    await this.renderer.xr.setSession(session);
    this.refSpace = this.renderer.xr.getReferenceSpace();
    this.root.addEventListener('beforexrselect', (event) => event.preventDefault()); // taps on the UI are DOM taps
    this.tapLayer.addEventListener('pointerup', this._onTap);
    session.addEventListener('select', this._onSelectEvent);
    session.addEventListener('end', this._onSessionEnd);
    this.renderer.setAnimationLoop((time, frame) => this._onXRFrame(frame));
  }

  // ---- server messages ------------------------------------------------------

  /** Place the objects of an `objects` message in the reference space, using the pose of the frame they came from. */
  onObjects(message) {
    const record = this.pump.record(message.frame_id);
    if (!record?.devicePose) return;
    const devicePose = fromRowMajor(record.devicePose);
    const now = performance.now();
    for (const entry of this.objects.values()) entry.inView = false;
    for (const object of message.objects) {
      const entry = this._object(object.id, object.class);
      entry.backend = object.backend;
      entry.seenAt = now;
      entry.inView = true;
      entry.frameId = message.frame_id;
      if (object.pose) {
        if (entry.source !== 'pose') entry.filter.reset();
        entry.measured = objectInReference(devicePose, object.pose);
        entry.pose = entry.filter.filter(entry.measured, record.sentAt / 1000);
        entry.side = boxSide(object.box, object.pose[11], record.intrinsics);
        entry.source = 'pose';
      } else {
        this._placeWithoutPose(entry, object.box, devicePose, record);
      }
    }
    this._layout();
  }

  /** The client's overlays changed: make the panels match. */
  onOverlays() {
    const current = this.overlays();
    for (const [id, panel] of this.panels) {
      if (!current[id]) {
        this.scene.remove(panel.mesh);
        panel.dispose();
        this.panels.delete(id);
      }
    }
    for (const overlay of Object.values(current)) {
      const panel = this.panels.get(overlay.id);
      if (panel) panel.update(overlay);
      else {
        const created = new Panel(overlay, this.textures);
        this.panels.set(overlay.id, created);
        this.scene.add(created.mesh);
      }
    }
    this._layout();
  }

  select(objectId) {
    this.selected = objectId;
    for (const [id, entry] of this.objects) {
      entry.marker.outline.material.color.setHex(id === objectId ? SELECTED_COLOR : OUTLINE_COLOR);
    }
  }

  // ---- placement --------------------------------------------------------------

  _object(id, label) {
    let entry = this.objects.get(id);
    if (!entry) {
      const marker = new ObjectMarker(id);
      marker.outline.material.color.setHex(id === this.selected ? SELECTED_COLOR : OUTLINE_COLOR);
      this.scene.add(marker.outline, marker.target);
      entry = {
        id, label, backend: null, pose: null, measured: null, filter: new PoseFilter(), side: 0.1, seenAt: 0,
        inView: false, frameId: 0, marker, source: null, hitAt: 0,
      };
      this.objects.set(id, entry);
    }
    entry.label = label;
    return entry;
  }

  /** No 3D pose from the server: a distance guessed from the box size now, refined by a hit test through the box centre. */
  _placeWithoutPose(entry, box, devicePose, record) {
    const { intrinsics } = record;
    const u = (box[0] + box[2]) / 2;
    const v = (box[1] + box[3]) / 2;
    const sizePx = Math.max(box[2] - box[0], box[3] - box[1], 1);
    const depth = Math.min(DEPTH_RANGE_M[1], Math.max(DEPTH_RANGE_M[0], (NOMINAL_SIZE_M * intrinsics.fx) / sizePx));
    const ray = rayThroughPixel(devicePose, intrinsics, u, v);
    if (entry.source !== 'hit-test') {
      const inCamera = new Vector3(((u - intrinsics.cx) / intrinsics.fx) * depth, ((v - intrinsics.cy) / intrinsics.fy) * depth, depth);
      entry.pose = uprightFacing(inCamera.applyMatrix4(devicePose), ray.origin);
      entry.side = (sizePx * depth) / intrinsics.fx;
      entry.source = 'estimate';
    }
    this._requestHitTest(entry, ray);
  }

  async _requestHitTest(entry, ray) {
    const now = performance.now();
    if (!this.hitTestEnabled || this.hitTests.has(entry.id) || now - entry.hitAt < HIT_TEST_INTERVAL_MS) return;
    entry.hitAt = now;
    const pending = { source: null, frames: 0, ray };
    this.hitTests.set(entry.id, pending);
    try {
      const { origin: o, direction: d } = ray;
      pending.source = await this.session.requestHitTestSource({
        space: this.refSpace,
        offsetRay: new XRRay({ x: o.x, y: o.y, z: o.z, w: 1 }, { x: d.x, y: d.y, z: d.z, w: 0 }),
      });
    } catch {
      this.hitTestEnabled = false; // e.g. no environment to hit: keep the estimates
      this.hitTests.delete(entry.id);
    }
  }

  _collectHitTests(frame) {
    for (const [id, pending] of this.hitTests) {
      if (!pending.source) continue;
      const results = frame.getHitTestResults(pending.source);
      pending.frames += 1;
      const entry = this.objects.get(id);
      if (results.length && entry) {
        const hit = results[0].getPose(this.refSpace).transform.position;
        const point = new Vector3(hit.x, hit.y, hit.z);
        const distanceBefore = new Vector3().setFromMatrixPosition(entry.pose).distanceTo(pending.ray.origin);
        entry.side *= point.distanceTo(pending.ray.origin) / Math.max(distanceBefore, 1e-3);
        entry.pose = uprightFacing(point, pending.ray.origin);
        entry.source = 'hit-test';
        this._layout();
      }
      if (results.length || pending.frames > HIT_TEST_FRAMES) {
        pending.source.cancel();
        this.hitTests.delete(id);
      }
    }
  }

  /**
   * Stack each object's panels on it, at the object's last known pose: a panel
   * stays world-locked until the server removes its overlay (which it does
   * once the object has left the view), whether or not updates keep coming.
   * An object's outline shows while it is in the latest `objects` message.
   * Stacks are sized, turned and placed for the latest view (xr_layout.js).
   */
  _layout(now = performance.now()) {
    const byObject = new Map();
    for (const panel of this.panels.values()) {
      const list = byObject.get(panel.overlay.object_id) || [];
      list.push(panel);
      byObject.set(panel.overlay.object_id, list);
    }
    for (const [id, entry] of this.objects) {
      if (!entry.inView && !byObject.has(id) && now - entry.seenAt > FORGET_MS) {
        this._forget(entry);
        continue;
      }
      const shown = entry.pose !== null && entry.inView;
      entry.marker.visible = shown;
      if (shown) entry.marker.place(entry.pose, entry.side);
    }
    const stacks = [];
    const members = new Map(); // stack key -> its panels, slot order
    for (const [objectId, panels] of byObject) {
      // A space anchor's pose is already in the reference space; an object's panels follow the object.
      const entry = this.objects.get(objectId);
      const inSpace = panels[0].overlay.placement.frame === 'device';
      const base = inSpace ? IDENTITY : entry?.pose ?? null;
      if (base === null || !this.lastView) {
        panels.forEach((panel) => { panel.mesh.visible = false; });
        continue;
      }
      const groups = new Map(); // panels sharing an anchor pose are stacked together
      for (const panel of panels.sort((a, b) => a.overlay.placement.slot - b.overlay.placement.slot)) {
        const key = `${objectId}|${panel.overlay.placement.pose.join(',')}`;
        if (!groups.has(key)) groups.set(key, []);
        groups.get(key).push(panel);
      }
      for (const [key, group] of groups) {
        members.set(key, group);
        stacks.push({
          key,
          anchor: base.clone().multiply(fromRowMajor(group[0].overlay.placement.pose)),
          flat: !inSpace && entry.source === 'pose' && FLAT_BACKENDS.has(entry.backend),
          side: inSpace ? ANCHOR_SIDE_M : entry.side,
          sizes: group.map((p) => p.size),
        });
      }
    }
    const placed = stacks.length ? this.layout.place(stacks, this._layoutView()) : new Map();
    this.placed.clear();
    for (const stack of stacks) {
      const where = placed.get(stack.key);
      const group = members.get(stack.key);
      let leader = this.leaders.get(stack.key);
      if (!leader) {
        leader = new Leader();
        this.leaders.set(stack.key, leader);
        this.scene.add(leader.line);
      }
      group.forEach((panel) => { panel.mesh.visible = !where.hidden; });
      leader.line.visible = !where.hidden;
      if (where.hidden) continue;
      leader.set(...where.leader);
      group.forEach((panel, i) => {
        panel.place(where.panels[i]);
        const centre = where.panels[i].clone().multiply(new Matrix4().makeScale(1 / where.scale, 1 / where.scale, 1));
        this.placed.set(panel.overlay.id, {
          centre, scale: where.scale, shrink: where.shrink, spot: where.spot, facing: stack.flat ? 'surface' : 'viewer',
          anchor: new Vector3().setFromMatrixPosition(stack.anchor),
        });
      });
    }
    for (const [key, leader] of this.leaders) {
      if (members.has(key)) continue;
      this.scene.remove(leader.line);
      leader.dispose();
      this.leaders.delete(key);
    }
  }

  /** The latest view, as the layout needs it. */
  _layoutView() {
    return {
      transform: new Matrix4().fromArray(this.lastView.transform.matrix),
      projection: new Matrix4().fromArray(this.lastView.projectionMatrix),
      width: window.innerWidth,
      height: window.innerHeight,
    };
  }

  _forget(entry) {
    this.scene.remove(entry.marker.outline, entry.marker.target);
    entry.marker.dispose();
    this.objects.delete(entry.id);
  }

  // ---- the XR frame -------------------------------------------------------------

  _onXRFrame(frame) {
    if (!frame) return; // three.js also calls the loop outside XR frames
    const pose = frame.getViewerPose(this.refSpace);
    if (!pose) return;
    this.xrFrames += 1;
    this.lastView = pose.views[0];
    if (this.pump.ready()) this._capture(frame, pose.views[0]);
    if (this.hitTests.size) this._collectHitTests(frame);
    this._layout();
    this.renderer.render(this.scene, this.camera);
  }

  _capture(frame, view) {
    let capture = null;
    if (this.rawCamera && view.camera) {
      const texture = this.renderer.xr.getBinding().getCameraImage(view.camera);
      capture = this.glGrabber.grab(texture, view.camera.width, view.camera.height);
      this.renderer.resetState();
      capture.intrinsics = intrinsicsFromProjection(view.projectionMatrix, capture.width, capture.height);
    } else {
      capture = this.videoGrabber.grab(this.video);
      if (!capture) return;
      // The camera is assumed to see what the view sees vertically, centred.
      const f = (view.projectionMatrix[5] * capture.height) / 2;
      capture.intrinsics = { fx: f, fy: f, cx: capture.width / 2 - 0.5, cy: capture.height / 2 - 0.5 };
    }
    capture.devicePose = toRowMajor(devicePoseFromView(view.transform.matrix));
    const depthInfo = this.depthEnabled ? this._depthInformation(frame, view) : null;
    if (depthInfo) {
      capture.depth = depthForImage(depthInfo, view.projectionMatrix, capture.intrinsics, capture.width, capture.height);
      this.lastDepth = { ...capture, takenAt: performance.now() }; // for taps: where a ray meets the surface
    }
    this.pump.submit(capture);
  }

  /** The view's CPU depth this frame, or null (none yet, or the device cannot measure now). */
  _depthInformation(frame, view) {
    try {
      return frame.getDepthInformation(view);
    } catch {
      return null;
    }
  }

  // ---- taps -----------------------------------------------------------------------

  _onTap = (event) => {
    const camera = this.renderer.xr.getCamera().cameras[0];
    if (!camera) return;
    const ndc = new Vector2((event.clientX / window.innerWidth) * 2 - 1, 1 - (event.clientY / window.innerHeight) * 2);
    const raycaster = new Raycaster();
    raycaster.setFromCamera(ndc, camera);
    this._pick(raycaster);
  };

  _onSelectEvent = (event) => {
    const pose = event.frame.getPose(event.inputSource.targetRaySpace, this.refSpace);
    if (!pose) return;
    const m = new Matrix4().fromArray(pose.transform.matrix);
    const origin = new Vector3().setFromMatrixPosition(m);
    const direction = new Vector3(0, 0, -1).transformDirection(m);
    this._pick(new Raycaster(origin, direction));
  };

  _pick(raycaster) {
    const targets = [
      ...[...this.panels.values()].map((p) => p.mesh),
      ...[...this.objects.values()].map((o) => o.marker.target),
    ].filter((node) => node.visible);
    const [hit] = raycaster.intersectObjects(targets, false);
    if (hit && this._panelTapped(hit)) return;
    if (hit) {
      const entry = this.objects.get(hit.object.userData.objectId);
      this.onSelect(hit.object.userData.objectId, entry?.label);
    } else {
      // Upright and facing the viewer: on the surface the tap points at (from the latest depth), else
      // PLACE_DISTANCE_M along the tap's ray.
      const { origin, direction } = raycaster.ray;
      const fresh = this.lastDepth && performance.now() - this.lastDepth.takenAt <= DEPTH_FRESH_MS;
      const surface = fresh ? surfaceAlongRay(this.lastDepth, origin, direction) : null;
      const point = surface ? new Vector3(surface.x, surface.y, surface.z) : origin.clone().addScaledVector(direction, PLACE_DISTANCE_M);
      this.onPlace?.(toRowMajor(uprightFacing(point, origin)));
    }
  }

  /** Hand a tap on a panel to `onPanelTap`, at the panel pixel it met (the texture's v runs upwards). */
  _panelTapped(hit) {
    const panel = this.panels.get(hit.object.userData.overlayId);
    if (!panel || !hit.uv) return false;
    const { width, height } = panel.overlay.content;
    return this.onPanelTap(panel.overlay.id, hit.uv.x * width, (1 - hit.uv.y) * height);
  }

  _onSessionEnd = () => {
    this.renderer.setAnimationLoop(null);
    this.tapLayer.removeEventListener('pointerup', this._onTap);
    for (const pending of this.hitTests.values()) pending.source?.cancel();
    this.hitTests.clear();
    this.renderer.domElement.remove();
    this.renderer.dispose();
    this.session = null;
    this.onEnd();
  };

  // ---- for tests and the status line ------------------------------------------------

  /** Plain data: panels and objects in the reference space (row-major), and the current view. */
  snapshot() {
    const view = this.lastView;
    return {
      cameraSource: this.cameraSource,
      depthSensing: this.depthEnabled,
      xrFrames: this.xrFrames,
      view: view && {
        transform: toRowMajor(new Matrix4().fromArray(view.transform.matrix)),
        projection: Array.from(view.projectionMatrix),
      },
      objects: Object.fromEntries([...this.objects.values()].map((o) => [o.id, {
        pose: o.pose && toRowMajor(o.pose), measured: o.measured && toRowMajor(o.measured), side: o.side, frameId: o.frameId, source: o.source, backend: o.backend,
        visible: o.marker.outline.visible,
      }])),
      // centre: the panel's pose (row-major, no scale); it is drawn `scale` times its size_m (`size`), of
      // which `shrink` is the layout's (1 unless no spot had room at full size).
      panels: [...this.panels.values()].map((p) => {
        const placed = this.placed.get(p.overlay.id);
        return {
          overlayId: p.overlay.id, objectId: p.overlay.object_id, size: p.size, visible: p.mesh.visible,
          centre: placed ? toRowMajor(placed.centre) : null, scale: placed?.scale ?? null, shrink: placed?.shrink ?? null,
          spot: placed?.spot ?? null, facing: placed?.facing ?? null, anchor: placed ? placed.anchor.toArray() : null,
        };
      }),
      leaders: [...this.leaders.values()].filter((l) => l.line.visible).map((l) => Array.from(l.line.geometry.attributes.position.array)),
    };
  }
}

/** An object's size in metres from its box width in pixels and its depth. */
function boxSide(box, depth, intrinsics) {
  if (!intrinsics || !(depth > 0)) return 0.1;
  return ((box[2] - box[0]) * depth) / intrinsics.fx;
}
