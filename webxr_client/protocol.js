// Stream protocol v1, client side (docs/protocol.md).

export const PROTOCOL_VERSION = 1;

const MAGIC = [0x53, 0x50, 0x46, 0x31]; // "SPF1"
const FLAG_INTRINSICS = 1;
const FIXED_SIZE = 20;
const INTRINSICS_SIZE = 16;

/**
 * A binary `frame` message: the little-endian header, then the image bytes.
 * `intrinsics` is optional: {fx, fy, cx, cy} in pixels of this image.
 */
export function packFrame(frameId, timestampMs, jpegBytes, intrinsics = null) {
  const image = jpegBytes instanceof Uint8Array ? jpegBytes : new Uint8Array(jpegBytes);
  const headerSize = FIXED_SIZE + (intrinsics ? INTRINSICS_SIZE : 0);
  const out = new Uint8Array(headerSize + image.byteLength);
  const view = new DataView(out.buffer);
  out.set(MAGIC, 0);
  view.setUint8(4, intrinsics ? FLAG_INTRINSICS : 0); // bytes 5..7 stay zero (reserved)
  view.setUint32(8, frameId >>> 0, true);
  view.setFloat64(12, timestampMs, true);
  if (intrinsics) {
    const { fx, fy, cx, cy } = intrinsics;
    [fx, fy, cx, cy].forEach((v, i) => view.setFloat32(FIXED_SIZE + 4 * i, v, true));
  }
  out.set(image, headerSize);
  return out.buffer;
}

export function helloMessage(token, width, height, fovYDeg = 60) {
  return {
    type: 'hello',
    id: 'hello',
    protocol: PROTOCOL_VERSION,
    token,
    capabilities: ['vector'],
    camera: { width, height, fov_y_deg: fovYDeg },
  };
}
