// Taps and selects in the XR view: a screen tap (through the DOM overlay) or a controller's or
// hand's select casts a ray; it meets a panel (handed on at the panel pixel it met), an object's
// marker, or nothing (a place for the block chosen to place, on the surface the depth shows).

import { Matrix4, Raycaster, Vector2, Vector3 } from 'three';
import { surfaceAlongRay } from './depth.js';
import { toRowMajor, uprightFacing } from './geometry.js';

const PLACE_DISTANCE_M = 0.75; // a tap on nothing places the chosen block this far along the tap's ray, without depth
const DEPTH_FRESH_MS = 2000; // a tap meets the surface of a depth map at most this old (the world may move)

export class XRInput {
  /**
   * `root`: the DOM overlay; `tapLayer`: receives screen taps; `objects`, `panels`: the XRObjects
   * and XRPanels a ray may meet; `capture`: the XRCapture whose latest depth map says where a tap
   * on nothing meets a surface; `onSelect(objectId, label)`, `onPanelTap(overlayId, x, y)` (true
   * when it took the tap), `onPlace(pose)` (row-major, reference space): as in XRMode.
   */
  constructor({ root, tapLayer, objects, panels, capture, onSelect, onPanelTap, onPlace }) {
    Object.assign(this, { root, tapLayer, objects, panels, capture, onSelect, onPanelTap, onPlace });
    this.renderer = null;
    this.refSpace = null;
  }

  /** Listen to taps on the page and selects in `session`, cast through `renderer`'s XR camera. */
  attach(session, renderer, refSpace) {
    Object.assign(this, { renderer, refSpace });
    this.root.addEventListener('beforexrselect', (event) => event.preventDefault()); // taps on the UI are DOM taps
    this.tapLayer.addEventListener('pointerup', this._onTap);
    session.addEventListener('select', this._onSelectEvent);
  }

  detach() {
    this.tapLayer.removeEventListener('pointerup', this._onTap);
  }

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
    const targets = [...this.panels.targets(), ...this.objects.targets()].filter((node) => node.visible);
    const [hit] = raycaster.intersectObjects(targets, false);
    if (hit && this._panelTapped(hit)) return;
    if (hit) {
      const entry = this.objects.get(hit.object.userData.objectId);
      this.onSelect(hit.object.userData.objectId, entry?.label);
    } else {
      // Upright and facing the viewer: on the surface the tap points at (from the latest depth), else
      // PLACE_DISTANCE_M along the tap's ray.
      const { origin, direction } = raycaster.ray;
      const { lastDepth } = this.capture;
      const fresh = lastDepth && performance.now() - lastDepth.takenAt <= DEPTH_FRESH_MS;
      const surface = fresh ? surfaceAlongRay(lastDepth, origin, direction) : null;
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
}
