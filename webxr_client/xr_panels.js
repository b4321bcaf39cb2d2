// The panels in the XR view: one plane per overlay, stacked by object (a space anchor's at its
// place), laid out for the latest view (xr_layout.js) with a leader line to their object.

import { Matrix4, Vector3 } from 'three';
import { fromRowMajor, toRowMajor } from './geometry.js';
import { Panel, TextureCache } from './panels.js';
import { ANCHOR_SIDE_M, Leader, XRPanelLayout } from './xr_layout.js';

const IDENTITY = new Matrix4(); // the reference space itself, for panels placed in it
const FLAT_BACKENDS = new Set(['markers', 'taught']); // the poses they measure are flat surfaces: panels lie on them

export class XRPanels {
  /** `scene`: where panels and leaders go; `objects`: the XRObjects their stacks stand on. */
  constructor({ scene, objects }) {
    Object.assign(this, { scene, objects });
    this.panels = new Map(); // overlay id -> Panel
    this.placed = new Map(); // overlay id -> {centre (Matrix4, no scale), scale, shrink, spot, facing, anchor, side}, as last laid out
    this.layout = new XRPanelLayout();
    this.leaders = new Map(); // stack key -> Leader
    this.textures = new TextureCache();
  }

  get settled() {
    return this.layout.settled;
  }

  get(overlayId) {
    return this.panels.get(overlayId);
  }

  /** Make the panels match `current` (overlay id -> overlay). */
  sync(current) {
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
  }

  /** The panels by the object (or space anchor) they belong to. */
  byObject() {
    const byObject = new Map();
    for (const panel of this.panels.values()) {
      const list = byObject.get(panel.overlay.object_id) || [];
      list.push(panel);
      byObject.set(panel.overlay.object_id, list);
    }
    return byObject;
  }

  /** The panel meshes a ray may hit. */
  targets() {
    return [...this.panels.values()].map((p) => p.mesh);
  }

  /**
   * Stack each object's panels (`byObject`) on it, at the object's last known pose: a panel
   * stays world-locked until the server removes its overlay, whether or not updates keep
   * coming. Stacks are sized, turned and placed for `view` (the latest XRView, or null: none shown).
   */
  place(byObject, view) {
    const stacks = [];
    const members = new Map(); // stack key -> its panels, slot order
    for (const [objectId, panels] of byObject) {
      // A space anchor's pose is already in the reference space; an object's panels follow the object.
      const entry = this.objects.get(objectId);
      const inSpace = panels[0].overlay.placement.frame === 'device';
      const base = inSpace ? IDENTITY : entry?.pose ?? null;
      if (base === null || !view) {
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
    const placed = stacks.length ? this.layout.place(stacks, layoutView(view)) : new Map();
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
          anchor: new Vector3().setFromMatrixPosition(stack.anchor), side: stack.side,
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

  /**
   * Plain data: each panel as last laid out, and the leader lines shown. centre: the panel's pose
   * (row-major, no scale); it is drawn `scale` times its size_m (`size`), of which `shrink` is the
   * layout's (1 unless no spot had room at full size); `side`: the object's extent it was laid out around.
   */
  snapshot() {
    return {
      panels: [...this.panels.values()].map((p) => {
        const placed = this.placed.get(p.overlay.id);
        return {
          overlayId: p.overlay.id, objectId: p.overlay.object_id, size: p.size, visible: p.mesh.visible,
          centre: placed ? toRowMajor(placed.centre) : null, scale: placed?.scale ?? null, shrink: placed?.shrink ?? null,
          spot: placed?.spot ?? null, facing: placed?.facing ?? null, anchor: placed ? placed.anchor.toArray() : null,
          side: placed?.side ?? null,
        };
      }),
      leaders: [...this.leaders.values()].filter((l) => l.line.visible).map((l) => Array.from(l.line.geometry.attributes.position.array)),
    };
  }
}

/** An XRView as the layout needs it. */
function layoutView(view) {
  return {
    transform: new Matrix4().fromArray(view.transform.matrix),
    projection: new Matrix4().fromArray(view.projectionMatrix),
    width: window.innerWidth,
    height: window.innerHeight,
  };
}
