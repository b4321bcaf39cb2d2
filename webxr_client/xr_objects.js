// The tracked objects in the XR reference space: placed from the server's `objects` with the pose
// of the frame they came from (or guessed along the ray through their box, refined by a hit test),
// smoothed, shown as markers, and forgotten when long unseen.

import { Vector3 } from 'three';
import { fromRowMajor, objectInReference, rayThroughPixel, toRowMajor, uprightFacing } from './geometry.js';
import { ObjectMarker } from './panels.js';
import { PoseFilter } from './pose_filter.js';

const FORGET_MS = 10_000; // an object unseen this long, with no panels left, is dropped
const NOMINAL_SIZE_M = 0.2; // size assumed for an object without a 3D pose, to guess its distance
const DEPTH_RANGE_M = [0.3, 4];
const HIT_TEST_FRAMES = 30; // give up on a hit test with no result after this many XR frames
const HIT_TEST_INTERVAL_MS = 250; // at most this often per object
const SELECTED_COLOR = 0xffd54a;
const OUTLINE_COLOR = 0x4ade80;

export class XRObjects {
  /** `scene`: where the markers go; `onMoved()`: a hit test moved an object. */
  constructor({ scene, onMoved }) {
    Object.assign(this, { scene, onMoved });
    // object id -> {pose (Matrix4 in the reference space, smoothed: pose_filter.js), measured (the latest
    //              pose as measured), filter, side (m), label, backend, seenAt, inView, frameId, marker,
    //              source ('pose' | 'estimate' | 'hit-test'), hitAt}
    this.entries = new Map();
    this.hitTests = new Map(); // object id -> {source, frames, ray}
    this.hitTestEnabled = false;
    this.session = null;
    this.refSpace = null;
    this.selected = null; // the object whose sheet is open
  }

  /** Hit tests go through `session`, in `refSpace`, where the session has them. */
  attach(session, refSpace) {
    this.session = session;
    this.refSpace = refSpace;
    this.hitTestEnabled = (session.enabledFeatures || []).includes('hit-test');
  }

  get(id) {
    return this.entries.get(id);
  }

  /** Place the objects of an `objects` message in the reference space, using the `record` of the frame they came from. */
  place(message, record) {
    const devicePose = fromRowMajor(record.devicePose);
    const now = performance.now();
    for (const entry of this.entries.values()) entry.inView = false;
    for (const object of message.objects) {
      const entry = this._entry(object.id, object.class);
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
  }

  select(objectId) {
    this.selected = objectId;
    for (const [id, entry] of this.entries) {
      entry.marker.outline.material.color.setHex(id === objectId ? SELECTED_COLOR : OUTLINE_COLOR);
    }
  }

  /**
   * Forget objects unseen for FORGET_MS that have no panels (`hasPanels(id)`); show an object's
   * marker while it is in the latest `objects` message.
   */
  refresh(now, hasPanels) {
    for (const [id, entry] of this.entries) {
      if (!entry.inView && !hasPanels(id) && now - entry.seenAt > FORGET_MS) {
        this._forget(entry);
        continue;
      }
      const shown = entry.pose !== null && entry.inView;
      entry.marker.visible = shown;
      if (shown) entry.marker.place(entry.pose, entry.side);
    }
  }

  /** The markers a ray may hit. */
  targets() {
    return [...this.entries.values()].map((o) => o.marker.target);
  }

  _entry(id, label) {
    let entry = this.entries.get(id);
    if (!entry) {
      const marker = new ObjectMarker(id);
      marker.outline.material.color.setHex(id === this.selected ? SELECTED_COLOR : OUTLINE_COLOR);
      this.scene.add(marker.outline, marker.target);
      entry = {
        id, label, backend: null, pose: null, measured: null, filter: new PoseFilter(), side: 0.1, seenAt: 0,
        inView: false, frameId: 0, marker, source: null, hitAt: 0,
      };
      this.entries.set(id, entry);
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

  /** Take this XR frame's hit test results: an object hit moves onto the surface. */
  collectHitTests(frame) {
    for (const [id, pending] of this.hitTests) {
      if (!pending.source) continue;
      const results = frame.getHitTestResults(pending.source);
      pending.frames += 1;
      const entry = this.entries.get(id);
      if (results.length && entry) {
        const hit = results[0].getPose(this.refSpace).transform.position;
        const point = new Vector3(hit.x, hit.y, hit.z);
        const distanceBefore = new Vector3().setFromMatrixPosition(entry.pose).distanceTo(pending.ray.origin);
        entry.side *= point.distanceTo(pending.ray.origin) / Math.max(distanceBefore, 1e-3);
        entry.pose = uprightFacing(point, pending.ray.origin);
        entry.source = 'hit-test';
        this.onMoved();
      }
      if (results.length || pending.frames > HIT_TEST_FRAMES) {
        pending.source.cancel();
        this.hitTests.delete(id);
      }
    }
  }

  /** The session ended: its hit tests go with it. */
  cancelHitTests() {
    for (const pending of this.hitTests.values()) pending.source?.cancel();
    this.hitTests.clear();
  }

  _forget(entry) {
    this.scene.remove(entry.marker.outline, entry.marker.target);
    entry.marker.dispose();
    this.entries.delete(entry.id);
  }

  /** Plain data: each object's pose in the reference space (row-major) and how it was found. */
  snapshot() {
    return Object.fromEntries([...this.entries.values()].map((o) => [o.id, {
      pose: o.pose && toRowMajor(o.pose), measured: o.measured && toRowMajor(o.measured), side: o.side, frameId: o.frameId, source: o.source, backend: o.backend,
      visible: o.marker.outline.visible,
    }]));
  }
}

/** An object's size in metres from its box width in pixels and its depth. */
function boxSide(box, depth, intrinsics) {
  if (!intrinsics || !(depth > 0)) return 0.1;
  return ((box[2] - box[0]) * depth) / intrinsics.fx;
}
