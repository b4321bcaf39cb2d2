// Stream protocol v1, client side (docs/protocol.md).

export const PROTOCOL_VERSION = 1;

const MAGIC = [0x53, 0x50, 0x46, 0x31]; // "SPF1"
const FLAG_INTRINSICS = 1;
const FLAG_POSE = 2;
const FLAG_DEPTH = 4;
const FIXED_SIZE = 20;
const INTRINSICS_SIZE = 16;
const POSE_SIZE = 64;
const DEPTH_HEADER_SIZE = 8;
const DEPTH_UINT16_MM = 1;

/**
 * A binary `frame` message: the little-endian header, then the image bytes.
 * `intrinsics` is optional: {fx, fy, cx, cy} in pixels of this image.
 * `devicePose` is optional: 16 numbers, row-major, camera-to-reference-space
 * with OpenCV camera axes (x right, y down, z forward), as docs/xr.md explains.
 * `depth` is optional: {width, height, millimetres (Uint16Array, row by row from the top left)}.
 */
export function packFrame(frameId, timestampMs, imageBytes, intrinsics = null, devicePose = null, depth = null) {
  const image = imageBytes instanceof Uint8Array ? imageBytes : new Uint8Array(imageBytes);
  const depthSize = depth ? DEPTH_HEADER_SIZE + 2 * depth.width * depth.height : 0;
  const headerSize = FIXED_SIZE + (intrinsics ? INTRINSICS_SIZE : 0) + (devicePose ? POSE_SIZE : 0) + depthSize;
  const out = new Uint8Array(headerSize + image.byteLength);
  const view = new DataView(out.buffer);
  out.set(MAGIC, 0);
  const flags = (intrinsics ? FLAG_INTRINSICS : 0) | (devicePose ? FLAG_POSE : 0) | (depth ? FLAG_DEPTH : 0);
  view.setUint8(4, flags); // bytes 5..7 stay zero
  view.setUint32(8, frameId >>> 0, true);
  view.setFloat64(12, timestampMs, true);
  let offset = FIXED_SIZE;
  if (intrinsics) {
    const { fx, fy, cx, cy } = intrinsics;
    [fx, fy, cx, cy].forEach((v, i) => view.setFloat32(offset + 4 * i, v, true));
    offset += INTRINSICS_SIZE;
  }
  if (devicePose) {
    if (devicePose.length !== 16) throw new Error('a device pose is 16 numbers');
    devicePose.forEach((v, i) => view.setFloat32(offset + 4 * i, v, true));
    offset += POSE_SIZE;
  }
  if (depth) {
    if (depth.millimetres.length !== depth.width * depth.height) throw new Error('a depth map needs width x height samples');
    view.setUint16(offset, depth.width, true);
    view.setUint16(offset + 2, depth.height, true);
    view.setUint8(offset + 4, DEPTH_UINT16_MM); // bytes 5..7 of the section stay zero
    offset += DEPTH_HEADER_SIZE;
    depth.millimetres.forEach((v, i) => view.setUint16(offset + 2 * i, v, true));
    offset += 2 * depth.width * depth.height;
  }
  out.set(image, offset);
  return out.buffer;
}

/**
 * The `hello` message. `camera` is {width, height, fov_y_deg} or
 * {width, height, fx, fy, cx, cy}; `capabilities` what this client draws.
 */
export function helloMessage(token, camera, capabilities = ['vector'], space = null) {
  const message = {
    type: 'hello',
    id: 'hello',
    protocol: PROTOCOL_VERSION,
    token,
    capabilities,
    camera,
  };
  if (space) message.space = space; // relocalise into this space (docs/protocol.md)
  return message;
}

/**
 * The `place` message: put block `block` in the session's space, or move the
 * anchor `anchor` placed before, at `pose` (16 numbers, row-major) in the
 * reference space. Only after the session was relocalised (docs/protocol.md).
 */
export function placeMessage(id, pose, { block = null, anchor = null }) {
  if (pose.length !== 16) throw new Error('a pose is 16 numbers');
  return anchor ? { type: 'place', id, anchor, pose } : { type: 'place', id, block, pose };
}

/** The `page` message: show the rows of overlay `overlay`'s table from `first` on (docs/protocol.md). */
export function pageMessage(id, overlay, first) {
  return { type: 'page', id, overlay, first };
}
