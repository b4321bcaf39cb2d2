// Camera pixels for the server: from a <video> fed by getUserMedia, or from
// the GPU texture WebXR Raw Camera Access hands out. Both take the pixels now
// and encode JPEG later, so the pose read at capture time matches the image.

export const JPEG_QUALITY = 0.7;
export const MAX_SIDE = 640; // frames are scaled down to at most this many pixels on their long side

const CAMERA = { video: { facingMode: 'environment', width: 640, height: 480 }, audio: false };

/** Start the camera into `video` (once); resolves when its size is known. */
export async function openCamera(video) {
  if (video.srcObject) return;
  if (!navigator.mediaDevices?.getUserMedia) {
    throw new Error('no camera access here (the page needs HTTPS or localhost)');
  }
  video.srcObject = await navigator.mediaDevices.getUserMedia(CAMERA);
  await video.play();
  if (!video.videoWidth) {
    await new Promise((resolve) => video.addEventListener('loadedmetadata', resolve, { once: true }));
  }
}

/** `width` x `height` scaled so the long side is at most MAX_SIDE. */
export function frameSize(width, height) {
  const scale = Math.min(1, MAX_SIDE / Math.max(width, height));
  return [Math.round(width * scale), Math.round(height * scale)];
}

/**
 * A canvas to draw frames into. An OffscreenCanvas where there is one: its
 * encoder starts at once, while a page canvas's toBlob waits for the main
 * thread to go idle, which a busy XR render loop rarely does.
 */
function frameCanvas() {
  return typeof OffscreenCanvas === 'function' ? new OffscreenCanvas(1, 1) : document.createElement('canvas');
}

async function encodeCanvas(canvas) {
  const blob = canvas.convertToBlob
    ? await canvas.convertToBlob({ type: 'image/jpeg', quality: JPEG_QUALITY })
    : await new Promise((resolve) => canvas.toBlob(resolve, 'image/jpeg', JPEG_QUALITY));
  if (!blob) throw new Error('JPEG encoding failed');
  return new Uint8Array(await blob.arrayBuffer());
}

/** Grabs frames of a <video>; one canvas reused for every frame. */
export class VideoGrabber {
  constructor() {
    this.canvas = frameCanvas();
    this.ctx = this.canvas.getContext('2d');
  }

  /** The video's current picture, or null before it has one. Encoding happens on `encode()`. */
  grab(video) {
    if (!video.videoWidth) return null;
    const [width, height] = frameSize(video.videoWidth, video.videoHeight);
    if (this.canvas.width !== width || this.canvas.height !== height) {
      this.canvas.width = width;
      this.canvas.height = height;
    }
    this.ctx.drawImage(video, 0, 0, width, height);
    return { width, height, encode: () => encodeCanvas(this.canvas) };
  }
}

/**
 * Grabs the WebXR raw camera image (an opaque WebGL texture valid only during
 * the XR frame) by blitting it into a small framebuffer and reading it back.
 */
export class GLTextureGrabber {
  constructor(gl) {
    this.gl = gl;
    this.source = gl.createFramebuffer();
    this.target = gl.createFramebuffer();
    this.color = gl.createRenderbuffer();
    this.canvas = frameCanvas();
    this.ctx = this.canvas.getContext('2d');
    this.size = [0, 0];
    this.pixels = null;
  }

  /** Copy `texture` (`texWidth` x `texHeight`) into a CPU-side image; call inside the XR frame. */
  grab(texture, texWidth, texHeight) {
    const gl = this.gl;
    const [width, height] = frameSize(texWidth, texHeight);
    if (this.size[0] !== width || this.size[1] !== height) {
      gl.bindRenderbuffer(gl.RENDERBUFFER, this.color);
      gl.renderbufferStorage(gl.RENDERBUFFER, gl.RGBA8, width, height);
      gl.bindFramebuffer(gl.DRAW_FRAMEBUFFER, this.target);
      gl.framebufferRenderbuffer(gl.DRAW_FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.RENDERBUFFER, this.color);
      this.size = [width, height];
      this.pixels = new Uint8ClampedArray(width * height * 4);
      this.canvas.width = width;
      this.canvas.height = height;
    }
    gl.bindFramebuffer(gl.READ_FRAMEBUFFER, this.source);
    gl.framebufferTexture2D(gl.READ_FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, texture, 0);
    gl.bindFramebuffer(gl.DRAW_FRAMEBUFFER, this.target);
    // GL rows run bottom-up: flip while scaling so the image reads top-down.
    gl.blitFramebuffer(0, 0, texWidth, texHeight, 0, height, width, 0, gl.COLOR_BUFFER_BIT, gl.LINEAR);
    gl.bindFramebuffer(gl.READ_FRAMEBUFFER, this.target);
    gl.readPixels(0, 0, width, height, gl.RGBA, gl.UNSIGNED_BYTE, this.pixels);
    gl.bindFramebuffer(gl.READ_FRAMEBUFFER, null);
    gl.bindFramebuffer(gl.DRAW_FRAMEBUFFER, null);
    this.ctx.putImageData(new ImageData(this.pixels, width, height), 0, 0);
    return { width, height, encode: () => encodeCanvas(this.canvas) };
  }
}
