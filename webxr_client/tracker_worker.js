// Optical flow for camera-window mode, in a Web Worker (docs/xr.md, "Latency").
//
// The page posts every video frame it shows (small, RGBA) and, when the server
// answers frame N, the boxes it found in N. The worker keeps the last frames;
// it seeds points in each box of frame N, follows them with OpenCV's pyramidal
// Lucas-Kanade straight from N to the newest frame, and from then on from frame
// to frame, so each box is where its object is in the picture on screen, not
// where it was when the frame was sent. A box moves by the median of its points'
// motion and scales by the median change of their spacing (median flow). Points
// spread over the whole picture give the camera's own motion, which carries a
// box whose points were lost (an object leaving the view, a plain surface).
//
// Messages in:  {type: 'frame', key, time, width, height, pixels (RGBA, transferred)}
//               {type: 'answer', key, objects: [{id, box: [x0, y0, x1, y1]}]}  (box in this worker's pixels)
// Messages out: {type: 'ready'} | {type: 'failed', message}
//               {type: 'tracked', key, time, answerKey, ms, objects: [{id, box, velocity: [vx, vy] px/s}],
//                camera: [vx, vy] px/s, how fast the whole picture moves}

const HISTORY = 45; // frames kept: 1.5 s at 30 frames/s; an answer about an older frame is not tracked
const POINTS_PER_OBJECT = 30;
const BACKGROUND_POINTS = 60; // over the whole picture, for the camera's motion
const MIN_POINTS = 4; // fewer left: seed new points in the box where it is now
const LK_WINDOW = 15;
const LK_LEVELS = 3; // a 15 px window at level 3 follows some 60 px between two frames of 320 px
const MAX_FORWARD_BACKWARD_PX = 1.0;
const VELOCITY_SMOOTHING = 0.5; // weight of the newest frame's motion

let cv = null;
let noMask = null;
const frames = []; // {key, time, grey (cv.Mat)}, oldest first
let objects = []; // {id, box, points (Float32Array x, y, ...), velocity}
let background = { points: new Float32Array(0), velocity: null }; // points all over the newest frame
let answerKey = null;

function load() {
  try {
    importScripts('/vendor/opencv/opencv.js');
  } catch (err) {
    postMessage({ type: 'failed', message: `OpenCV.js did not load (${err.message}); is it installed (make client)?` });
    return;
  }
  const ready = () => {
    cv = self.cv;
    noMask = new cv.Mat();
    postMessage({ type: 'ready' });
  };
  if (self.cv.Mat) ready();
  else self.cv.onRuntimeInitialized = ready;
}

self.onmessage = (event) => {
  if (!cv) return; // not loaded yet: the page draws the server's boxes meanwhile
  const message = event.data;
  const start = performance.now();
  if (message.type === 'frame') addFrame(message);
  else if (message.type === 'answer') takeAnswer(message);
  else return;
  report(performance.now() - start);
};

/** Where the objects are in the newest frame; sent after every message, so the page knows the worker is free. */
function report(ms) {
  const latest = frames[frames.length - 1];
  postMessage({
    type: 'tracked', key: latest?.key ?? null, time: latest?.time ?? null, answerKey, ms,
    objects: objects.map(({ id, box, velocity }) => ({ id, box, velocity })),
    camera: background.velocity,
  });
}

function addFrame({ key, time, width, height, pixels }) {
  const rgba = cv.matFromImageData(new ImageData(new Uint8ClampedArray(pixels), width, height));
  const grey = new cv.Mat();
  cv.cvtColor(rgba, grey, cv.COLOR_RGBA2GRAY);
  rgba.delete();
  const previous = frames[frames.length - 1];
  frames.push({ key, time, grey });
  while (frames.length > HISTORY) frames.shift().grey.delete();
  if (!previous || previous.grey.cols !== width || previous.grey.rows !== height) {
    objects = []; // the first frame, or the camera changed size: nothing to follow
    background = { points: seedPoints(grey, [0, 0, width, height], BACKGROUND_POINTS), velocity: null };
    return;
  }
  const elapsed = (time - previous.time) / 1000;
  const [moved, camera] = followWithCamera(previous.grey, grey, objects, background);
  for (const [object, motion] of moved) {
    const before = centre(object.box);
    object.box = movedBox(object.box, motion);
    object.velocity = smoothed(object.velocity, centre(object.box).map((v, i) => v - before[i]), elapsed);
    if (object.points.length < 2 * MIN_POINTS) object.points = seedPoints(grey, object.box);
  }
  const velocity = camera ? smoothed(background.velocity, [camera.dx, camera.dy], elapsed) : background.velocity;
  background = background.points.length < BACKGROUND_POINTS / 2
    ? { points: seedPoints(grey, [0, 0, grey.cols, grey.rows], BACKGROUND_POINTS), velocity } : { ...background, velocity };
}

/** A velocity (pixels a second) updated with a shift over `elapsed` seconds. */
function smoothed(velocity, shift, elapsed) {
  if (!(elapsed > 0)) return velocity;
  const measured = shift.map((v) => v / elapsed);
  return velocity ? velocity.map((v, i) => VELOCITY_SMOOTHING * measured[i] + (1 - VELOCITY_SMOOTHING) * v) : measured;
}

/** The server's boxes for frame `key`, followed from that frame to the newest one. */
function takeAnswer({ key, objects: found }) {
  const from = frames.find((f) => f.key === key);
  const latest = frames[frames.length - 1];
  answerKey = key;
  if (!from || !latest) {
    objects = []; // too old to follow: the page moves the server's boxes as the whole picture moves
    return;
  }
  const velocities = new Map(objects.map((o) => [o.id, o.velocity]));
  const seeded = found.map(({ id, box }) => ({ id, box, points: seedPoints(from.grey, box), velocity: velocities.get(id) || null }));
  if (from !== latest) {
    const fromBackground = { points: seedPoints(from.grey, [0, 0, from.grey.cols, from.grey.rows], BACKGROUND_POINTS) };
    for (const [object, motion] of followWithCamera(from.grey, latest.grey, seeded, fromBackground)[0]) {
      object.box = movedBox(object.box, motion);
    }
  }
  for (const object of seeded) {
    if (object.points.length < 2 * MIN_POINTS) object.points = seedPoints(latest.grey, object.box);
  }
  objects = seeded;
}

/**
 * follow(), where an object with too few points left moves as the whole picture does (the camera's
 * motion, from the points of `camera`). Returns [[object, motion], ...] and the camera's motion (or null).
 */
function followWithCamera(fromGrey, toGrey, list, camera) {
  const moved = follow(fromGrey, toGrey, [...list, camera]);
  const cameraMotion = moved.find(([o]) => o === camera)[1];
  const still = { dx: 0, dy: 0, scale: 1 };
  return [moved.filter(([o]) => o !== camera).map(([o, motion]) => [o, motion || cameraMotion || still]), cameraMotion];
}

/**
 * Follow every object's points from one frame to another (forwards, then back to check),
 * keep the points that came back, and return [object, motion or null] pairs;
 * motion is {dx, dy, scale} of the median flow.
 */
function follow(fromGrey, toGrey, list) {
  const withPoints = list.filter((o) => o.points.length >= 2 * MIN_POINTS);
  const result = list.filter((o) => o.points.length < 2 * MIN_POINTS).map((o) => [o, null]);
  const count = withPoints.reduce((n, o) => n + o.points.length / 2, 0);
  if (!count) return result;
  const all = new Float32Array(2 * count);
  let offset = 0;
  for (const object of withPoints) {
    all.set(object.points, offset);
    offset += object.points.length;
  }
  const p0 = cv.matFromArray(count, 1, cv.CV_32FC2, all);
  const p1 = new cv.Mat();
  const back = new cv.Mat();
  const status = new cv.Mat();
  const backStatus = new cv.Mat();
  const error = new cv.Mat();
  const size = new cv.Size(LK_WINDOW, LK_WINDOW);
  const criteria = new cv.TermCriteria(cv.TermCriteria_EPS | cv.TermCriteria_COUNT, 20, 0.03);
  cv.calcOpticalFlowPyrLK(fromGrey, toGrey, p0, p1, status, error, size, LK_LEVELS, criteria);
  cv.calcOpticalFlowPyrLK(toGrey, fromGrey, p1, back, backStatus, error, size, LK_LEVELS, criteria);
  const moved = p1.data32F;
  const returned = back.data32F;
  offset = 0;
  for (const object of withPoints) {
    const before = [];
    const after = [];
    for (let i = offset / 2; i < (offset + object.points.length) / 2; i++) {
      const drift = Math.hypot(returned[2 * i] - all[2 * i], returned[2 * i + 1] - all[2 * i + 1]);
      if (status.data[i] && backStatus.data[i] && drift < MAX_FORWARD_BACKWARD_PX) {
        before.push([all[2 * i], all[2 * i + 1]]);
        after.push([moved[2 * i], moved[2 * i + 1]]);
      }
    }
    offset += object.points.length;
    object.points = Float32Array.from(after.flat());
    result.push([object, before.length >= MIN_POINTS ? medianFlow(before, after) : null]);
  }
  for (const mat of [p0, p1, back, status, backStatus, error]) mat.delete();
  return result;
}

/** Median translation, and the median ratio of the points' pairwise distances after and before. */
function medianFlow(before, after) {
  const dx = median(before.map((p, i) => after[i][0] - p[0]));
  const dy = median(before.map((p, i) => after[i][1] - p[1]));
  const ratios = [];
  for (let i = 0; i < before.length; i++) {
    for (let j = i + 1; j < before.length; j++) {
      const d0 = Math.hypot(before[i][0] - before[j][0], before[i][1] - before[j][1]);
      if (d0 > 2) ratios.push(Math.hypot(after[i][0] - after[j][0], after[i][1] - after[j][1]) / d0);
    }
  }
  return { dx, dy, scale: ratios.length ? median(ratios) : 1 };
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

function centre(box) {
  return [(box[0] + box[2]) / 2, (box[1] + box[3]) / 2];
}

function movedBox(box, { dx, dy, scale }) {
  const [cx, cy] = centre(box);
  const halfW = ((box[2] - box[0]) * scale) / 2;
  const halfH = ((box[3] - box[1]) * scale) / 2;
  return [cx + dx - halfW, cy + dy - halfH, cx + dx + halfW, cy + dy + halfH];
}

/** Up to `count` corners to follow in the middle 80 % of `box`, as x, y, x, y, ... */
function seedPoints(grey, box, count = POINTS_PER_OBJECT) {
  const mx = 0.1 * (box[2] - box[0]);
  const my = 0.1 * (box[3] - box[1]);
  const left = Math.max(0, Math.floor(box[0] + mx));
  const top = Math.max(0, Math.floor(box[1] + my));
  const right = Math.min(grey.cols, Math.ceil(box[2] - mx));
  const bottom = Math.min(grey.rows, Math.ceil(box[3] - my));
  if (right - left < 6 || bottom - top < 6) return new Float32Array(0);
  const roi = grey.roi(new cv.Rect(left, top, right - left, bottom - top));
  const corners = new cv.Mat();
  cv.goodFeaturesToTrack(roi, corners, count, 0.01, 4, noMask, 5);
  const points = Float32Array.from(corners.data32F, (v, i) => v + (i % 2 ? top : left));
  roi.delete();
  corners.delete();
  return points;
}

load();
