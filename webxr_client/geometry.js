// Poses between the server's conventions and WebXR's (docs/xr.md, "Coordinates").
//
// The server speaks OpenCV camera axes (x right, y down, z forward) and sends
// 4x4 matrices as 16 row-major numbers. WebXR cameras look down -z with y up,
// and three.js / WebXR store matrices column-major. FLIP (diag(1, -1, -1, 1))
// turns one camera convention into the other; it is its own inverse.

import { Matrix4, Vector3 } from 'three';

export const FLIP = new Matrix4().makeScale(1, -1, -1);

/** A Matrix4 from 16 row-major numbers (the protocol's layout). */
export function fromRowMajor(values) {
  return new Matrix4().set(...values);
}

/** 16 row-major numbers from a Matrix4. */
export function toRowMajor(matrix) {
  return matrix.clone().transpose().toArray();
}

/**
 * The device pose a frame carries: camera-to-reference-space with OpenCV camera
 * axes, from a WebXR view transform (column-major, camera looking down -z).
 */
export function devicePoseFromView(viewMatrix) {
  return new Matrix4().fromArray(viewMatrix).multiply(FLIP);
}

/** An object's pose in the reference space: device pose (CV axes) x object-to-camera pose. */
export function objectInReference(devicePose, objectPoseRowMajor) {
  return devicePose.clone().multiply(fromRowMajor(objectPoseRowMajor));
}

/**
 * Pinhole intrinsics in pixels of a `width` x `height` image that covers the
 * view of a WebXR projection matrix (column-major), for pixel centres at
 * integer coordinates (OpenCV's convention).
 */
export function intrinsicsFromProjection(projection, width, height) {
  return {
    fx: (projection[0] * width) / 2,
    fy: (projection[5] * height) / 2,
    cx: ((1 - projection[8]) * width) / 2 - 0.5,
    cy: ((1 + projection[9]) * height) / 2 - 0.5,
  };
}

/** The unit ray in the reference space through pixel (u, v) of a frame taken at `devicePose` with `intrinsics`. */
export function rayThroughPixel(devicePose, intrinsics, u, v) {
  const { fx, fy, cx, cy } = intrinsics;
  const origin = new Vector3().setFromMatrixPosition(devicePose);
  const direction = new Vector3((u - cx) / fx, (v - cy) / fy, 1).transformDirection(devicePose);
  return { origin, direction };
}

/**
 * A pose at `position` standing upright (y up in the reference space) and
 * facing `viewer`: for objects the server found without a 3D pose.
 */
export function uprightFacing(position, viewer) {
  const towards = new Vector3(viewer.x - position.x, 0, viewer.z - position.z);
  if (towards.lengthSq() < 1e-8) towards.set(0, 0, 1);
  const z = towards.normalize();
  const y = new Vector3(0, 1, 0);
  const x = new Vector3().crossVectors(y, z);
  return new Matrix4().makeBasis(x, y, z).setPosition(position);
}
