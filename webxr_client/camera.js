// Camera pixels for the server: from a <video> fed by getUserMedia, or from
// the GPU texture WebXR Raw Camera Access hands out. Both take the pixels now
// and encode JPEG later, in a worker, so the pose read at capture time matches
// the image and the page's drawing does not wait for the encoder.

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

/** A canvas to draw frames into: an OffscreenCanvas where there is one, whose pixels go to the encoder without a copy. */
function frameCanvas() {
  return typeof OffscreenCanvas === 'function' ? new OffscreenCanvas(1, 1) : document.createElement('canvas');
}

/** The canvas's pixels now, as an ImageBitmap (the canvas may be drawn again at once). */
function snapshot(canvas) {
  return typeof canvas.transferToImageBitmap === 'function' ? Promise.resolve(canvas.transferToImageBitmap())
    : createImageBitmap(canvas);
}

/** JPEG bytes of `bitmap`, encoded in this thread. */
async function encodeHere(bitmap) {
  const canvas = frameCanvas();
  canvas.width = bitmap.width;
  canvas.height = bitmap.height;
  canvas.getContext('2d').drawImage(bitmap, 0, 0);
  bitmap.close();
  const blob = canvas.convertToBlob
    ? await canvas.convertToBlob({ type: 'image/jpeg', quality: JPEG_QUALITY })
    : await new Promise((resolve) => canvas.toBlob(resolve, 'image/jpeg', JPEG_QUALITY));
  if (!blob) throw new Error('JPEG encoding failed');
  return new Uint8Array(await blob.arrayBuffer());
}

/**
 * Encodes frames to JPEG in a Web Worker (encoder_worker.js says why), or in
 * this thread where the browser has no OffscreenCanvas for a worker to draw in.
 */
export class FrameEncoder {
  constructor() {
    this.worker = null;
    this.inWorker = typeof Worker === 'function' && typeof OffscreenCanvas === 'function';
    this.pending = new Map(); // id -> {resolve, reject}
    this.nextId = 1;
  }

  /** JPEG bytes of `bitmap` (an ImageBitmap, which this takes over). */
  encode(bitmap) {
    if (!this.inWorker) return encodeHere(bitmap);
    if (!this.worker) this._startWorker();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, bitmap, quality: JPEG_QUALITY }, [bitmap]);
    });
  }

  _startWorker() {
    this.worker = new Worker(new URL('./encoder_worker.js', import.meta.url));
    this.worker.onmessage = ({ data: { id, buffer, error } }) => {
      const waiting = this.pending.get(id);
      this.pending.delete(id);
      if (!error) {
        waiting?.resolve(new Uint8Array(buffer));
        return;
      }
      this.inWorker = false; // a browser whose workers cannot encode: frames are encoded here from now on
      waiting?.reject(new Error(`JPEG encoding failed in the worker: ${error}`));
    };
    this.worker.onerror = (event) => {
      // The worker could not run: frames are encoded here from now on.
      event.preventDefault();
      this.inWorker = false;
      this.worker = null;
      for (const { reject } of this.pending.values()) reject(new Error(`the frame encoder stopped (${event.message})`));
      this.pending.clear();
    };
  }
}

const encoder = new FrameEncoder();

/** What a grabber hands the frame pump: the pixels are taken now, the encoding happens on `encode()`. */
function capture(canvas, width, height) {
  const pixels = snapshot(canvas);
  return { width, height, encode: async () => encoder.encode(await pixels) };
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
    return capture(this.canvas, width, height);
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
    return capture(this.canvas, width, height);
  }
}
