// The immersive-ar session: asking for it with its features, the three.js renderer, scene and
// camera it draws, its frame loop (the latest view, counted) and its end.

import { PerspectiveCamera, Scene, WebGLRenderer } from 'three';
import { DEPTH_SENSING } from './depth.js';

/** Ask for an immersive-ar session, with `root` as its DOM overlay. */
export function requestARSession(root) {
  return navigator.xr.requestSession('immersive-ar', {
    requiredFeatures: ['local'],
    optionalFeatures: ['camera-access', 'hit-test', 'dom-overlay', 'depth-sensing'],
    domOverlay: { root },
    depthSensing: DEPTH_SENSING,
  });
}

export class ARSession {
  /**
   * `onFrame(frame, view)`: each XR frame with a viewer pose, before it is rendered;
   * `onEnd()`: the session ended, after the renderer is gone.
   */
  constructor({ onFrame, onEnd }) {
    Object.assign(this, { onFrame, onEnd });
    this.session = null;
    this.renderer = null;
    this.refSpace = null;
    this.scene = new Scene();
    this.camera = new PerspectiveCamera();
    this.frames = 0; // XR frames with a viewer pose so far
    this.lastView = null; // the latest XRView
  }

  /** The renderer's canvas on the page, with its GL context (for the camera's texture). */
  createRenderer() {
    this.renderer = new WebGLRenderer({ alpha: true, antialias: false });
    this.renderer.setPixelRatio(window.devicePixelRatio || 1);
    this.renderer.setSize(window.innerWidth, window.innerHeight);
    this.renderer.xr.enabled = true;
    this.renderer.xr.setReferenceSpaceType('local');
    this.renderer.domElement.id = 'xr-canvas';
    document.body.appendChild(this.renderer.domElement);
  }

  /** Draw `session` with the renderer and take its reference space. */
  async attach(session) {
    this.session = session;
    await this.renderer.xr.setSession(session);
    this.refSpace = this.renderer.xr.getReferenceSpace();
  }

  /** Start the frame loop, and watch for the session's end. */
  run() {
    this.session.addEventListener('end', this._onEnd);
    this.renderer.setAnimationLoop((time, frame) => this._onXRFrame(frame));
  }

  _onXRFrame(frame) {
    if (!frame) return; // three.js also calls the loop outside XR frames
    const pose = frame.getViewerPose(this.refSpace);
    if (!pose) return;
    this.frames += 1;
    this.lastView = pose.views[0];
    this.onFrame(frame, pose.views[0]);
    this.renderer.render(this.scene, this.camera);
  }

  _onEnd = () => {
    this.renderer.setAnimationLoop(null);
    this.renderer.domElement.remove();
    this.renderer.dispose();
    this.session = null;
    this.onEnd();
  };
}
