// Panel layout: the panels of different objects never cover each other (docs/xr.md, "Panel layout").
//
// Each object's panels form one stack. A stack can go at a few spots around its
// object: above it (the first choice, as the server's placement rule has it),
// above but shifted sideways, beside it, below it, and further out; each spot is
// tried at full size, then smaller. Stacks are placed one after another (those
// placed before first, in the same order), each at the first spot that is inside
// the view, clear of the stacks placed before it and of its own object,
// preferring spots with room to spare; a spot that would cover another object
// counts only when nothing else is free. A stack with no free spot at any size
// is not drawn (its object's box still is).
//
// Stable: a stack keeps its spot while that spot stays free and in view, so it
// moves only when it must, and follows its object there. It goes back to a
// better spot only once that spot has been free with room to spare (ROOM_PX
// from the view's edges and other stacks) for RETURN_AFTER_MS, so a stack at
// the edge of fitting does not flip between two spots as its object drifts,
// and two stacks passing each other do not swap places back and forth; nor
// does a stack go back where it would push another from where that one was
// drawn last (only a stack that must move may do that). A stack
// that had to leave its spot again and again (an object drifting to and fro
// across the edge of the view) waits three times as long before each return,
// as routers damp a flapping route: after FLAP_WINDOW_MS without such a move
// it returns as readily as before.
//
// The same search serves both modes. A stack lives in its own plane, in that
// plane's units with y pointing down: the screen itself (CSS pixels) in
// camera-window mode; in WebXR, the plane the panels stand in (metres), which
// `project` maps to the screen, where spots are checked against each other.

export const SCALES = [1, 0.75, 0.5]; // stack sizes tried, largest first
export const RETURN_AFTER_MS = 750; // how long a better spot must stay free before a stack goes back to it
export const FLAP_WINDOW_MS = 20_000; // each move a stack had to make within this triples that wait
export const ROOM_PX = 12; // room to spare around a better spot, on screen
const COVERS_AN_OBJECT = 1000; // rank added to a spot that covers another object's box

/**
 * Spots for a stack of `size` ([w, h]) around `box` ([x0, y0, x1, y1]) with `gap`
 * between them, best first: [{name, rect: [x0, y0, x1, y1]}] in the stack's plane.
 */
function candidateSpots(box, size, gap) {
  const [x0, y0, x1, y1] = box;
  const [w, h] = size;
  const cx = (x0 + x1) / 2;
  const cy = (y0 + y1) / 2;
  const above = y0 - gap - h;
  const below = y1 + gap;
  const spots = [['above', cx - w / 2, above]];
  for (const k of [1, 2]) {
    spots.push([`above-right${k}`, cx - w / 2 + (k * w) / 2, above], [`above-left${k}`, cx - w / 2 - (k * w) / 2, above]);
  }
  spots.push(
    ['right', x1 + gap, cy - h / 2], ['left', x0 - gap - w, cy - h / 2],
    ['right-up', x1 + gap, y1 - h], ['left-up', x0 - gap - w, y1 - h],
    ['below', cx - w / 2, below],
  );
  for (const k of [1, 2]) {
    spots.push([`below-right${k}`, cx - w / 2 + (k * w) / 2, below], [`below-left${k}`, cx - w / 2 - (k * w) / 2, below]);
  }
  for (const k of [1, 2, 3]) {
    const up = above - k * (h / 2 + gap);
    spots.push([`above+${k}`, cx - w / 2, up], [`above-right+${k}`, cx, up], [`above-left+${k}`, cx - w, up]);
  }
  for (const k of [1, 2]) {
    const out = k * (w / 2 + gap);
    spots.push([`right+${k}`, x1 + gap + out, cy - h / 2], [`left+${k}`, x0 - gap - w - out, cy - h / 2]);
    spots.push([`below+${k}`, cx - w / 2, below + k * (h / 2 + gap)]);
  }
  return spots.map(([name, left, top]) => ({ name, rect: [left, top, left + w, top + h] }));
}

function overlaps(a, b, margin = 0) {
  return a[0] < b[2] + margin && b[0] < a[2] + margin && a[1] < b[3] + margin && b[1] < a[3] + margin;
}

function inside(rect, bounds) {
  return rect[0] >= bounds[0] && rect[1] >= bounds[1] && rect[2] <= bounds[2] && rect[3] <= bounds[3];
}

/**
 * A rect in the stack's plane moved so that its screen rect lies in `bounds`,
 * where a shift of the plane maps to a proportional shift on screen (the screen
 * itself; panels facing the viewer). Returns null when it cannot fit.
 */
function shiftedInto(rect, screen, bounds) {
  const perX = (rect[2] - rect[0]) / Math.max(screen[2] - screen[0], 1e-9);
  const perY = (rect[3] - rect[1]) / Math.max(screen[3] - screen[1], 1e-9);
  if (screen[2] - screen[0] > bounds[2] - bounds[0] + 1e-6 || screen[3] - screen[1] > bounds[3] - bounds[1] + 1e-6) return null;
  const dx = Math.max(0, bounds[0] - screen[0]) - Math.max(0, screen[2] - bounds[2]);
  const dy = Math.max(0, bounds[1] - screen[1]) - Math.max(0, screen[3] - bounds[3]);
  return [rect[0] + dx * perX, rect[1] + dy * perY, rect[2] + dx * perX, rect[3] + dy * perY];
}

/** Keeps each stack's spot from one layout to the next. */
export class PanelLayout {
  constructor() {
    // key -> {spot, scale, order, screen (its rect as last drawn), betterSince (ms, or null),
    //        forcedAt: [ms of the moves it had to make]}
    this.previous = new Map();
    this.count = 0;
  }

  /**
   * Place `stacks`: [{key, box, sizeAt, gap, project?, screenBox, shiftable?}], where
   * `box` is the object's extent, `sizeAt(scale)` the stack's [w, h] at a scale
   * (1 is full size) and `gap` the space between stack and object, all in the
   * stack's plane; `project(rect)` maps a plane rect to its screen rect, or null
   * when it is behind the viewer (default: the plane is the screen); `screenBox`
   * is the object's rect on screen (null when off screen); `shiftable`: a spot
   * may slide to fit in the view (true where `project` is a plain scale).
   * `bounds` is the view's rect on screen; `now` the time in milliseconds.
   * Returns a Map key -> {spot, scale, rect (plane), screen (rect)} or {hidden: true}.
   */
  place(stacks, bounds, now = performance.now()) {
    this.count += 1;
    this.now = now;
    const order = [...stacks].sort((a, b) => this._rank(a.key) - this._rank(b.key) || (a.key < b.key ? -1 : 1));
    const placed = []; // screen rects of the stacks placed so far
    const objects = stacks.filter((s) => s.screenBox).map((s) => ({ key: s.key, rect: s.screenBox }));
    const drawn = new Map([...this.previous].filter(([, kept]) => kept.screen).map(([key, kept]) => [key, kept.screen]));
    const result = new Map();
    for (const stack of order) {
      const othersDrawn = [...drawn].filter(([key]) => key !== stack.key).map(([, rect]) => rect);
      const choice = this._choose(stack, bounds, placed, objects, othersDrawn);
      if (!choice) {
        result.set(stack.key, { hidden: true });
        this.previous.delete(stack.key);
        continue;
      }
      if (stack.screenBox && choice.screen) placed.push(choice.screen);
      result.set(stack.key, choice);
    }
    for (const key of [...this.previous.keys()]) if (!result.has(key)) this.previous.delete(key);
    return result;
  }

  /** True when no stack is waiting to go back to a better spot: in a scene that stays as it is, nothing moves. */
  get settled() {
    return [...this.previous.values()].every((kept) => kept.betterSince === null);
  }

  _rank(key) {
    const kept = this.previous.get(key);
    return kept ? kept.order : Infinity;
  }

  /** `othersDrawn`: the screen rects of the other stacks as last drawn, which a return must leave clear. */
  _choose(stack, bounds, placed, objects, othersDrawn) {
    const project = stack.project || ((rect) => rect);
    const kept = this.previous.get(stack.key);
    const others = objects.filter((o) => o.key !== stack.key);
    if (!stack.screenBox) {
      // The object is out of view: its panels stay at the first spot, with nothing to avoid.
      const [first] = candidateSpots(stack.box, stack.sizeAt(1), stack.gap);
      return this._remember(stack.key, { spot: first.name, scale: 1, rect: first.rect, screen: project(first.rect) }, kept);
    }
    let best = null; // the best free spot
    let roomy = null; // the best spot with room to spare
    let clear = null; // the best spot with room to spare that pushes no other stack from where it was drawn
    let current = null; // the kept spot, if still free
    let rank = 0;
    const tight = [bounds[0] + ROOM_PX, bounds[1] + ROOM_PX, bounds[2] - ROOM_PX, bounds[3] - ROOM_PX];
    for (const scale of SCALES) {
      for (const spot of candidateSpots(stack.box, stack.sizeAt(scale), stack.gap)) {
        rank += 1;
        const fitted = this._fit(spot.rect, project, bounds, stack.shiftable ?? !stack.project);
        if (!fitted || overlaps(fitted.rect, stack.box) || placed.some((r) => overlaps(fitted.screen, r, 1))) continue;
        const score = rank + (others.some((o) => overlaps(fitted.screen, o.rect)) ? COVERS_AN_OBJECT : 0);
        const option = { spot: spot.name, scale, ...fitted, score };
        if (!best || score < best.score) best = option;
        if (inside(fitted.screen, tight) && !placed.some((r) => overlaps(fitted.screen, r, ROOM_PX))) {
          if (!roomy || score < roomy.score) roomy = option;
          if ((!clear || score < clear.score) && !othersDrawn.some((r) => overlaps(fitted.screen, r, ROOM_PX))) clear = option;
        }
        if (kept && kept.spot === spot.name && kept.scale === scale) current = option;
      }
    }
    if (!best) return null;
    if (current) {
      // The kept spot is still free: move to a better one only once it stayed roomy (and clear) long enough.
      if (!clear || clear.score >= current.score) return this._remember(stack.key, current, kept);
      const betterSince = kept.betterSince ?? this.now;
      return this.now - betterSince < this._returnDelay(kept)
        ? this._remember(stack.key, current, kept, betterSince) : this._remember(stack.key, clear, kept);
    }
    // A stack that must move goes where it has room, if anywhere.
    return this._remember(stack.key, roomy || best, kept, null, Boolean(kept));
  }

  /** How long a better spot must stay roomy before the stack goes back to it: longer after each forced move. */
  _returnDelay(kept) {
    const recent = kept.forcedAt.filter((t) => this.now - t < FLAP_WINDOW_MS).length;
    return RETURN_AFTER_MS * 3 ** recent;
  }

  _fit(rect, project, bounds, shiftable) {
    let screen = project(rect);
    if (!screen) return null;
    if (inside(screen, bounds)) return { rect, screen };
    if (!shiftable) return null;
    const shifted = shiftedInto(rect, screen, bounds);
    screen = shifted && project(shifted);
    return screen && inside(screen, [bounds[0] - 0.5, bounds[1] - 0.5, bounds[2] + 0.5, bounds[3] + 0.5])
      ? { rect: shifted, screen } : null;
  }

  _remember(key, choice, kept, betterSince = null, forced = false) {
    const forcedAt = (kept?.forcedAt || []).filter((t) => this.now - t < FLAP_WINDOW_MS);
    if (forced) forcedAt.push(this.now);
    this.previous.set(key, {
      spot: choice.spot, scale: choice.scale, screen: choice.screen, betterSince, forcedAt,
      order: kept ? kept.order : this.count * 1000 + this.previous.size,
    });
    const { spot, scale, rect, screen } = choice;
    return { spot, scale, rect, screen };
  }
}

/**
 * A leader line from a stack to its object, in the stack's plane: from the point of
 * `rect` nearest the object's centre to the point of `box` nearest that point.
 */
export function leaderLine(rect, box) {
  const centre = [(box[0] + box[2]) / 2, (box[1] + box[3]) / 2];
  const from = [clamp(centre[0], rect[0], rect[2]), clamp(centre[1], rect[1], rect[3])];
  const to = [clamp(from[0], box[0], box[2]), clamp(from[1], box[1], box[3])];
  return [from, to];
}

function clamp(value, low, high) {
  return Math.min(Math.max(value, low), high);
}
