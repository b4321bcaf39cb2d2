// WebXR depth sensing to the frame's depth map (docs/protocol.md, "frame"):
// z-depths in millimetres over the camera image's field of view, row by row
// from the top left, at most DEPTH_MAX_SIDE samples on the long side.

export const DEPTH_MAX_SIDE = 160;

/** The session options that ask for CPU depth (optional: sessions without it send no depth). */
export const DEPTH_SENSING = {
  usagePreference: ['cpu-optimized'],
  dataFormatPreference: ['float32', 'luminance-alpha'],
};

/** True when `session` hands out depth that script can read (`XRFrame.getDepthInformation`). */
export function cpuDepthEnabled(session) {
  return (session.enabledFeatures || []).includes('depth-sensing') && session.depthUsage === 'cpu-optimized';
}

/**
 * The depth map of a camera image `width` x `height` with pinhole `intrinsics`,
 * read from `depthInfo` (an XRCPUDepthInformation of the view whose column-major
 * `projection` it is): {width, height, millimetres (Uint16Array)}, 0 where the
 * view's depth does not reach or nothing was measured.
 *
 * Each sample's ray leaves the camera through the sample's centre; the view's
 * projection takes it to normalised view coordinates, where the depth is read.
 * WebXR depths are along the view's axis, which the camera shares.
 */
export function depthForImage(depthInfo, projection, intrinsics, width, height) {
  const scale = Math.min(1, Math.max(depthInfo.width, depthInfo.height, 2) / Math.max(width, height),
    DEPTH_MAX_SIDE / Math.max(width, height));
  const outWidth = Math.max(2, Math.round(width * scale));
  const outHeight = Math.max(2, Math.round(height * scale));
  const millimetres = new Uint16Array(outWidth * outHeight);
  const { fx, fy, cx, cy } = intrinsics;
  const p = projection;
  for (let row = 0; row < outHeight; row += 1) {
    const dy = (((row + 0.5) * height) / outHeight - 0.5 - cy) / fy; // OpenCV: y down
    for (let col = 0; col < outWidth; col += 1) {
      const dx = (((col + 0.5) * width) / outWidth - 0.5 - cx) / fx;
      // The ray's point at z = 1 in view space (y up, looking down -z), projected to clip space.
      const clipX = p[0] * dx - p[4] * dy - p[8] + p[12];
      const clipY = p[1] * dx - p[5] * dy - p[9] + p[13];
      const clipW = p[3] * dx - p[7] * dy - p[11] + p[15];
      const u = (clipX / clipW + 1) / 2;
      const v = (1 - clipY / clipW) / 2;
      if (!(u >= 0 && u < 1 && v >= 0 && v < 1)) continue;
      const metres = depthInfo.getDepthInMeters(u, v);
      if (metres > 0 && Number.isFinite(metres)) millimetres[row * outWidth + col] = Math.min(65535, Math.round(metres * 1000));
    }
  }
  return { width: outWidth, height: outHeight, millimetres };
}

const RAY_START_M = 0.1;
const RAY_END_M = 8;
const RAY_STEP_M = 0.01;

/**
 * Where a ray in the reference space first meets the surface a frame's depth
 * map saw, or null where it leaves the map's view or meets nothing by 8 m.
 * `frame`: {depth (depthForImage's), intrinsics, width, height (the image's),
 * devicePose (row-major camera-to-reference, OpenCV axes)}; `origin` and a unit
 * `direction` as {x, y, z}. Steps of 1 cm, so the point is within a centimetre
 * of the surface along the ray.
 */
export function surfaceAlongRay(frame, origin, direction) {
  const { depth, intrinsics: { fx, fy, cx, cy }, width, height, devicePose: m } = frame;
  for (let t = RAY_START_M; t <= RAY_END_M; t += RAY_STEP_M) {
    const px = origin.x + t * direction.x - m[3];
    const py = origin.y + t * direction.y - m[7];
    const pz = origin.z + t * direction.z - m[11];
    // Into the camera: the transpose of the pose's rotation.
    const x = m[0] * px + m[4] * py + m[8] * pz;
    const y = m[1] * px + m[5] * py + m[9] * pz;
    const z = m[2] * px + m[6] * py + m[10] * pz;
    if (z <= 0) continue;
    const col = Math.floor((((fx * x) / z + cx + 0.5) * depth.width) / width);
    const row = Math.floor((((fy * y) / z + cy + 0.5) * depth.height) / height);
    if (col < 0 || row < 0 || col >= depth.width || row >= depth.height) return null;
    const surface = depth.millimetres[row * depth.width + col] / 1000;
    if (surface > 0 && z >= surface) {
      const back = t - RAY_STEP_M / 2;
      return { x: origin.x + back * direction.x, y: origin.y + back * direction.y, z: origin.z + back * direction.z };
    }
  }
  return null;
}
