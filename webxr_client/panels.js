// World-locked overlay panels in three.js: each display list is painted once
// per content hash into a canvas texture, shared by every panel showing it.

import {
  CanvasTexture, DoubleSide, LinearMipmapLinearFilter, LineBasicMaterial, LineLoop, BufferGeometry, Float32BufferAttribute,
  Mesh, MeshBasicMaterial, PlaneGeometry, SRGBColorSpace,
} from 'three';
import { paintDisplayList } from './overlay.js';

export const TEXTURE_SCALE = 2; // texture pixels per panel pixel: sharp text at arm's length
const MAX_TEXTURES = 64;

/** Canvas textures of display lists, by content hash. */
export class TextureCache {
  constructor() {
    this.items = new Map(); // hash -> {texture, users}
  }

  acquire(hash, content) {
    let item = this.items.get(hash);
    if (!item) {
      item = { texture: paintTexture(content), users: 0 };
      this.items.set(hash, item);
    }
    item.users += 1;
    return item.texture;
  }

  release(hash) {
    const item = this.items.get(hash);
    if (!item) return;
    item.users -= 1;
    if (item.users <= 0 && this.items.size > MAX_TEXTURES) {
      item.texture.dispose();
      this.items.delete(hash);
    }
  }
}

function paintTexture(content) {
  const canvas = document.createElement('canvas');
  canvas.width = Math.ceil(content.width * TEXTURE_SCALE);
  canvas.height = Math.ceil(content.height * TEXTURE_SCALE);
  paintDisplayList(canvas.getContext('2d'), content, 0, 0, TEXTURE_SCALE);
  const texture = new CanvasTexture(canvas);
  texture.colorSpace = SRGBColorSpace;
  texture.minFilter = LinearMipmapLinearFilter; // text stays readable when the panel is small on screen
  texture.anisotropy = 4; // and when it is seen at a slant
  return texture;
}

/** The mesh of one overlay: a plane of `size_m` showing its display list. */
export class Panel {
  constructor(overlay, textures) {
    this.textures = textures;
    this.hash = null;
    this.mesh = new Mesh(
      new PlaneGeometry(1, 1),
      new MeshBasicMaterial({ transparent: true, side: DoubleSide, depthWrite: false }),
    );
    this.mesh.matrixAutoUpdate = false;
    this.mesh.renderOrder = 1;
    this.update(overlay);
  }

  update(overlay) {
    this.overlay = overlay;
    this.mesh.userData = { overlayId: overlay.id, objectId: overlay.object_id };
    const [w, h] = overlay.placement.size_m;
    this.size = [w, h];
    if (overlay.hash !== this.hash) {
      if (this.hash) this.textures.release(this.hash);
      this.mesh.material.map = this.textures.acquire(overlay.hash, overlay.content);
      this.mesh.material.needsUpdate = true;
      this.hash = overlay.hash;
    }
  }

  /** Put the panel's centre at `centre` (a Matrix4 in the reference space). */
  place(centre) {
    this.mesh.matrix.copy(centre).scale({ x: this.size[0], y: this.size[1], z: 1 });
    this.mesh.matrixWorldNeedsUpdate = true;
  }

  dispose() {
    if (this.hash) this.textures.release(this.hash);
    this.mesh.geometry.dispose();
    this.mesh.material.dispose();
  }
}

/** A square outline around a tracked object, also the target for taps on it. */
export class ObjectMarker {
  constructor(objectId) {
    const square = [-0.5, -0.5, 0, 0.5, -0.5, 0, 0.5, 0.5, 0, -0.5, 0.5, 0];
    const geometry = new BufferGeometry();
    geometry.setAttribute('position', new Float32BufferAttribute(square, 3));
    this.outline = new LineLoop(geometry, new LineBasicMaterial({ color: 0x4ade80 }));
    this.outline.matrixAutoUpdate = false;
    this.target = new Mesh(new PlaneGeometry(1, 1), new MeshBasicMaterial({ visible: false, side: DoubleSide }));
    this.target.matrixAutoUpdate = false;
    this.target.userData = { objectId };
  }

  /** Centre the outline at `pose` (Matrix4), `side` metres wide. */
  place(pose, side) {
    for (const node of [this.outline, this.target]) {
      node.matrix.copy(pose).scale({ x: side, y: side, z: 1 });
      node.matrixWorldNeedsUpdate = true;
    }
  }

  set visible(value) {
    this.outline.visible = value;
    this.target.visible = value;
  }

  dispose() {
    for (const node of [this.outline, this.target]) {
      node.geometry.dispose();
      node.material.dispose();
    }
  }
}
