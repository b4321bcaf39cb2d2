// JPEG encoding of camera frames, in a Web Worker (camera.js, FrameEncoder).
//
// In the page, Chromium encodes a canvas in the main thread's idle time, and
// starts anyway only after a second without any: a page drawing every
// animation frame (the XR session, the camera window) seldom has idle time, so
// each frame took over a second to encode. A worker has no idle-time
// scheduling: it encodes at once.
//
// Message in:  {id, bitmap (ImageBitmap, transferred), quality}
// Message out: {id, buffer (ArrayBuffer of the JPEG, transferred)} | {id, error}

let canvas = null;
let context = null;

self.onmessage = async ({ data: { id, bitmap, quality } }) => {
  try {
    if (!canvas || canvas.width !== bitmap.width || canvas.height !== bitmap.height) {
      canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
      context = canvas.getContext('2d');
    }
    context.drawImage(bitmap, 0, 0);
    bitmap.close();
    const blob = await canvas.convertToBlob({ type: 'image/jpeg', quality });
    const buffer = await blob.arrayBuffer();
    self.postMessage({ id, buffer }, [buffer]);
  } catch (err) {
    self.postMessage({ id, error: String(err?.message || err) });
  }
};
