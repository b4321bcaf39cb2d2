// Camera-window mode: where each object is in the video frame on screen now.
//
// The server's answer is about a frame sent tens of milliseconds ago; by the time
// it is drawn, the video shows a later frame and, while the camera moves, the
// object has moved on. A compensation carries each box from the frame it was
// found in to the frame on screen (docs/xr.md, "Latency"; both ways were measured
// by bench/registration.py, docs/benchmarks.md):
//
// - `flow`: follow the picture itself, by optical flow in a Web Worker
//   (tracker_worker.js, OpenCV.js) over the frames the page showed since;
// - `velocity`: extrapolate by the image velocity the server's tracker sends,
//   times the answer's age;
// - `none`: draw the box where the server found it.
//
// A shown video frame is {key, time}: `key` tells frames apart, `time` is when it
// was captured, in milliseconds of performance.now()'s clock.

const TRACKING_WIDTH = 320; // the worker follows the video scaled to this width

/** An object of the latest answer, to draw: {object (as the server sent it), box ([x0, y0, x1, y1] image pixels)}. */
function asSent(answer) {
  return answer ? answer.message.objects.map((object) => ({ object, box: object.box })) : [];
}

/** Boxes where the server found them. */
class ServerBoxes {
  constructor() {
    this.answer = null; // {message, sent: the shown frame that was sent}
    this.status = 'server boxes';
  }

  /** Every frame the page shows, while it is on screen (video frame callback); `sending`: it goes to the server. */
  onVideoFrame() {}

  /** An `objects` message about the frame `sent` ({key, time}, or null when the page does not know it). */
  onAnswer(message, sent) {
    this.answer = { message, sent };
  }

  /** The latest answer's objects with their boxes in the frame `shown`. */
  objects() {
    return asSent(this.answer);
  }
}

/** Boxes carried on by the server's image velocity, for as long as the answer is old. */
class VelocityExtrapolation extends ServerBoxes {
  constructor() {
    super();
    this.status = 'server velocity';
  }

  objects(shown) {
    const { answer } = this;
    if (!answer?.sent || !shown) return asSent(answer);
    const age = (shown.time - answer.sent.time) / 1000;
    return answer.message.objects.map((object) => {
      const [vx, vy] = object.velocity || [0, 0];
      const [x0, y0, x1, y1] = object.box;
      return { object, box: [x0 + vx * age, y0 + vy * age, x1 + vx * age, y1 + vy * age] };
    });
  }
}

/**
 * Boxes followed by optical flow from the frame the server saw to the frame on
 * screen. The worker answers for the newest frame it was given; a frame shown
 * since (the worker takes a few milliseconds) is reached by the flow's own
 * velocity, over at most a frame or two. Until the worker has taken a new
 * answer (a few milliseconds), and for an object it does not follow, the
 * server's box moves as the whole picture does (the camera's motion).
 */
class FlowTracking extends ServerBoxes {
  constructor() {
    super();
    this.status = 'loading the tracker';
    this.ready = false;
    this.tracked = null; // the worker's latest: {key, time, answerKey, objects}
    this.busy = 0; // messages the worker has not answered yet
    this.canvas = typeof OffscreenCanvas === 'function' ? new OffscreenCanvas(1, 1) : document.createElement('canvas');
    this.ctx = this.canvas.getContext('2d', { willReadFrequently: true });
    this.worker = new Worker('tracker_worker.js');
    this.worker.onmessage = ({ data }) => {
      if (data.type === 'ready') {
        this.ready = true;
        this.status = 'optical flow';
      } else if (data.type === 'failed') {
        this.status = `server boxes (${data.message})`;
      } else if (data.type === 'tracked') {
        this.busy -= 1;
        this.tracked = data;
        this.trackMs = data.ms;
      }
    };
  }

  /**
   * Hand the frame to the worker. While it is still busy with the last one (a
   * slow machine), frames are skipped, except those sent to the server: the
   * worker follows boxes from those.
   */
  onVideoFrame(video, shown, sending) {
    if (!this.ready || !video.videoWidth || (this.busy > 0 && !sending)) return;
    const width = TRACKING_WIDTH;
    const height = Math.round((video.videoHeight * TRACKING_WIDTH) / video.videoWidth);
    if (this.canvas.width !== width || this.canvas.height !== height) {
      this.canvas.width = width;
      this.canvas.height = height;
    }
    this.ctx.drawImage(video, 0, 0, width, height);
    const { data } = this.ctx.getImageData(0, 0, width, height);
    this.worker.postMessage({ type: 'frame', key: shown.key, time: shown.time, width, height, pixels: data.buffer }, [data.buffer]);
    this.busy += 1;
  }

  onAnswer(message, sent) {
    super.onAnswer(message, sent);
    if (!this.ready || !sent) return;
    const k = this.canvas.width / message.image_size[0]; // image pixels to worker pixels
    this.worker.postMessage({
      type: 'answer', key: sent.key,
      objects: message.objects.map((o) => ({ id: o.id, box: o.box.map((v) => v * k) })),
    });
    this.busy += 1;
  }

  objects(shown) {
    const { answer, tracked } = this;
    if (!answer?.sent || tracked?.time == null || !shown) return asSent(answer);
    const k = answer.message.image_size[0] / this.canvas.width; // worker pixels to image pixels
    const byId = new Map(tracked.answerKey === answer.sent.key ? tracked.objects.map((o) => [o.id, o]) : []);
    const ahead = Math.max(0, shown.time - tracked.time) / 1000;
    const age = Math.max(0, shown.time - answer.sent.time) / 1000;
    const [cx, cy] = tracked.camera || [0, 0]; // worker pixels a second
    return answer.message.objects.map((object) => {
      const followed = byId.get(object.id);
      if (!followed) return { object, box: object.box.map((v, i) => v + (i % 2 ? cy : cx) * age * k) };
      const [vx, vy] = followed.velocity || [0, 0];
      return { object, box: followed.box.map((v, i) => (v + (i % 2 ? vy : vx) * ahead) * k) };
    });
  }
}

export const COMPENSATIONS = { flow: FlowTracking, velocity: VelocityExtrapolation, none: ServerBoxes };
export const DEFAULT_COMPENSATION = 'flow';

/** The compensation named `name` (`?compensation=` in the page's address), else the default. */
export function createCompensation(name) {
  const Kind = COMPENSATIONS[name] || COMPENSATIONS[DEFAULT_COMPENSATION];
  return new Kind();
}
