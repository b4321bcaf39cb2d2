// Panels in WebXR: readable from any distance, facing the viewer, never covering
// each other in the view (docs/xr.md, "Panels in WebXR").
//
// Each object's panels form a stack anchored at the object (a space anchor's
// panels at its place). Every XR frame:
// - size: a stack is scaled by its distance from the viewer over
//   READING_DISTANCE_M, so it keeps the angular size its `size_m` has from there;
// - facing: a stack on a flat surface the server measured (a marker, a taught
//   picture) lies in that surface; every other stack turns to face the viewer
//   (it is parallel to the screen);
// - place: layout.js picks each stack's spot around its object in the stack's
//   plane, checked where it projects on screen, so no two stacks overlap in the
//   view and each stays in it; a leader line joins each stack to its object.

import { BufferGeometry, Float32BufferAttribute, Line, LineBasicMaterial, Matrix4, Vector3 } from 'three';
import { PanelLayout, leaderLine } from './layout.js';

export const READING_DISTANCE_M = 0.6; // a panel is as large in the view as its size_m is from this far
export const GAP_M = 0.01; // between a stack and its object, and between stacked panels, at reading distance
export const ANCHOR_SIDE_M = 0.1; // the extent of a place with no object (a space anchor)
const SCALE_RANGE = [0.1, 20]; // a stack's scale stays within this, however near or far

/**
 * A stack of panels to place: `key`; `anchor` (Matrix4, reference space: its origin is
 * where the object is, its axes the surface's when `flat`); `side`: the object's extent
 * in metres; `sizes`: [w, h] in metres of each panel at reading distance, slot 0 first.
 */

export class XRPanelLayout {
  constructor() {
    this.layout = new PanelLayout();
  }

  get settled() {
    return this.layout.settled;
  }

  /**
   * Where each stack's panels go in this view (`view`: {transform: Matrix4 camera-to-reference,
   * projection: Matrix4, width, height in CSS pixels}). Returns a Map key ->
   * {hidden: true} or {panels: [Matrix4 centre with rotation and scale, per panel], scale (the
   * panels' in all), shrink (the layout's part of it), spot, leader: [Vector3, Vector3]}; a panel
   * mesh of size [w, h] m is centre · S(w, h, 1).
   */
  place(stacks, view) {
    const eye = new Vector3().setFromMatrixPosition(view.transform);
    const toView = view.transform.clone().invert();
    const project = (point) => {
      const inView = point.clone().applyMatrix4(toView);
      if (inView.z >= 0) return null; // behind the viewer, who looks down -z
      const clip = inView.applyMatrix4(view.projection); // applyMatrix4 divides by w
      return [((clip.x + 1) / 2) * view.width, ((1 - clip.y) / 2) * view.height];
    };
    const planes = new Map();
    const entries = stacks.map((stack) => {
      const origin = new Vector3().setFromMatrixPosition(stack.anchor);
      const scale = Math.min(SCALE_RANGE[1], Math.max(SCALE_RANGE[0], origin.distanceTo(eye) / READING_DISTANCE_M));
      const frame = new Matrix4().extractRotation(stack.flat ? stack.anchor : view.transform).setPosition(origin);
      const toWorld = (u, v) => new Vector3(u, -v, 0).applyMatrix4(frame); // plane coordinates have y down
      const projectRect = ([x0, y0, x1, y1]) => {
        const corners = [[x0, y0], [x1, y0], [x1, y1], [x0, y1]].map(([u, v]) => project(toWorld(u, v)));
        if (corners.some((c) => c === null)) return null;
        const xs = corners.map((c) => c[0]);
        const ys = corners.map((c) => c[1]);
        return [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)];
      };
      const half = stack.side / 2;
      const box = [-half, -half, half, half];
      const screenBox = projectRect(box);
      const onScreen = screenBox && screenBox[2] > 0 && screenBox[0] < view.width && screenBox[3] > 0 && screenBox[1] < view.height;
      planes.set(stack.key, { frame, toWorld, scale, box });
      return {
        key: stack.key, box, gap: GAP_M * scale, project: projectRect, shiftable: !stack.flat,
        screenBox: onScreen ? screenBox : null,
        sizeAt: (s) => stackSize(stack.sizes, scale * s),
      };
    });
    const chosen = this.layout.place(entries, [0, 0, view.width, view.height]);
    const result = new Map();
    for (const stack of stacks) {
      const choice = chosen.get(stack.key);
      if (choice.hidden) {
        result.set(stack.key, { hidden: true });
        continue;
      }
      const { frame, toWorld, scale, box } = planes.get(stack.key);
      const k = scale * choice.scale;
      const [x0, , x1, y1] = choice.rect;
      let bottom = y1; // the stack grows upwards from its bottom edge, slot 0 first
      const panels = stack.sizes.map(([, h]) => {
        const centre = frame.clone().multiply(new Matrix4().makeTranslation((x0 + x1) / 2, -(bottom - (h * k) / 2), 0));
        bottom -= h * k + GAP_M * k;
        return centre.multiply(new Matrix4().makeScale(k, k, 1));
      });
      const [from, to] = leaderLine(choice.rect, box);
      result.set(stack.key, { panels, scale: k, shrink: choice.scale, spot: choice.spot, leader: [toWorld(...from), toWorld(...to)] });
    }
    return result;
  }
}

/** [w, h] of panels of `sizes` (metres at reading distance) stacked at `scale`. */
function stackSize(sizes, scale) {
  const w = Math.max(...sizes.map(([width]) => width));
  const h = sizes.reduce((sum, [, height]) => sum + height, 0) + GAP_M * (sizes.length - 1);
  return [w * scale, h * scale];
}

/** The line from a stack to its object. */
export class Leader {
  constructor() {
    const geometry = new BufferGeometry();
    geometry.setAttribute('position', new Float32BufferAttribute(new Float32Array(6), 3));
    this.line = new Line(geometry, new LineBasicMaterial({ color: 0xe2e8f0 }));
    this.line.frustumCulled = false;
  }

  set(from, to) {
    const position = this.line.geometry.attributes.position;
    position.setXYZ(0, from.x, from.y, from.z);
    position.setXYZ(1, to.x, to.y, to.z);
    position.needsUpdate = true;
    this.line.visible = true;
  }

  dispose() {
    this.line.geometry.dispose();
    this.line.material.dispose();
  }
}
