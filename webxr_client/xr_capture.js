// The camera picture of an XR frame for the server: from Raw Camera Access or getUserMedia, with
// the view's pose, the image's intrinsics and, with depth sensing, its depth map; sent by the pump.

import { GLTextureGrabber, VideoGrabber, openCamera } from './camera.js';
import { cpuDepthEnabled, depthForImage } from './depth.js';
import { devicePoseFromView, intrinsicsFromProjection, toRowMajor } from './geometry.js';

export class XRCapture {
  /** `video`: where getUserMedia frames play; `pump`: the FramePump. */
  constructor({ video, pump }) {
    Object.assign(this, { video, pump });
    this.cameraOpen = false;
    this.rawCamera = false;
    this.depthEnabled = false;
    this.source = null; // 'raw-camera-access' | 'getUserMedia'
    this.lastDepth = null; // the latest capture with a depth map, and when it was taken
  }

  /**
   * Where the browser has no Raw Camera Access, open the camera before the session is asked
   * for, so the permission prompt is a normal page prompt.
   */
  async openBeforeSession() {
    if ('XRCamera' in window) return;
    await openCamera(this.video);
    this.cameraOpen = true;
  }

  /** The session's features pick the source; getUserMedia opens now where it must and has not yet. */
  async prepare(session) {
    const features = session.enabledFeatures || [];
    this.rawCamera = features.includes('camera-access');
    this.depthEnabled = cpuDepthEnabled(session);
    if (!this.rawCamera && !this.cameraOpen) await openCamera(this.video);
    this.source = this.rawCamera ? 'raw-camera-access' : 'getUserMedia';
  }

  /** Grab through `renderer` (its GL context, for the camera texture). */
  bind(renderer) {
    this.renderer = renderer;
    this.videoGrabber = new VideoGrabber();
    this.glGrabber = this.rawCamera ? new GLTextureGrabber(renderer.getContext()) : null;
  }

  /** Take this XR frame's picture and hand it to the pump. */
  take(frame, view) {
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
    const depthInfo = this.depthEnabled ? depthInformation(frame, view) : null;
    if (depthInfo) {
      capture.depth = depthForImage(depthInfo, view.projectionMatrix, capture.intrinsics, capture.width, capture.height);
      this.lastDepth = { ...capture, takenAt: performance.now() }; // for taps: where a ray meets the surface
    }
    this.pump.submit(capture);
  }
}

/** The view's CPU depth this frame, or null (none yet, or the device cannot measure now). */
function depthInformation(frame, view) {
  try {
    return frame.getDepthInformation(view);
  } catch {
    return null;
  }
}
