// Drawing overlays on a 2D canvas: the display-list painter (same ops as
// spatial/render/raster.py) and the screen-locked stacking rule (a port of
// spatial/render/placement.py, same constants); where each stack goes is
// layout.js's.

import { leaderLine } from './layout.js';

/** Panel pixels to image pixels for screen-locked overlays. */
export const SCREEN_SCALE = 0.75;
export const GAP = 8;

/**
 * Top-left corner and scale of each panel, slot 0 nearest the box, kept inside
 * the image where possible. `box` is [x0, y0, x1, y1], `sizes` [[w, h], ...]
 * in panel pixels, `imageSize` [width, height]; results are in image pixels.
 */
export function stackAbove(box, sizes, imageSize) {
  const [x0, y0, x1] = box;
  const [width] = imageSize;
  const centre = (x0 + x1) / 2;
  let bottom = y0 - GAP;
  const placed = [];
  for (const [panelW, panelH] of sizes) {
    const w = panelW * SCREEN_SCALE;
    const h = panelH * SCREEN_SCALE;
    const left = Math.min(Math.max(centre - w / 2, 0), Math.max(width - w, 0));
    const top = bottom - h;
    placed.push([left, top, SCREEN_SCALE]);
    bottom = top - GAP;
  }
  return placed;
}

/** `#rrggbb` or `#rrggbbaa` as a CSS colour every browser's canvas accepts. */
export function cssColor(color) {
  if (typeof color !== 'string' || color.length !== 9) return color;
  const [r, g, b, a] = [1, 3, 5, 7].map((i) => parseInt(color.slice(i, i + 2), 16));
  return `rgba(${r}, ${g}, ${b}, ${(a / 255).toFixed(3)})`;
}

function font(size, bold) {
  return `${bold ? 'bold ' : ''}${size}px sans-serif`;
}

function roundedRect(ctx, x, y, w, h, radius) {
  const r = Math.max(0, Math.min(radius || 0, w / 2, h / 2));
  ctx.beginPath();
  ctx.moveTo(x + r, y);
  ctx.arcTo(x + w, y, x + w, y + h, r);
  ctx.arcTo(x + w, y + h, x, y + h, r);
  ctx.arcTo(x, y + h, x, y, r);
  ctx.arcTo(x, y, x + w, y, r);
  ctx.closePath();
}

const painters = {
  rect(ctx, op) {
    roundedRect(ctx, op.x, op.y, op.w, op.h, op.radius);
    ctx.fillStyle = cssColor(op.fill);
    ctx.fill();
  },
  text(ctx, op) {
    ctx.font = font(op.size, op.bold);
    ctx.fillStyle = cssColor(op.color);
    ctx.textAlign = 'left';
    ctx.fillText(op.text, op.x, op.y);
  },
  cell(ctx, op) {
    ctx.fillStyle = cssColor(op.fill);
    ctx.fillRect(op.x, op.y, op.w, op.h);
    ctx.lineWidth = 1;
    ctx.strokeStyle = cssColor(op.stroke);
    ctx.strokeRect(op.x, op.y, op.w, op.h);
    ctx.font = font(op.size, false);
    ctx.fillStyle = cssColor(op.color);
    const right = op.align === 'right';
    ctx.textAlign = right ? 'right' : 'left';
    ctx.fillText(op.text, right ? op.x + op.w - 4 : op.x + 4, op.y + 5);
  },
};

/** Paint a display list with its top left at (x, y), `scale` screen pixels per panel pixel. */
export function paintDisplayList(ctx, content, x, y, scale) {
  ctx.save();
  ctx.translate(x, y);
  ctx.scale(scale, scale);
  ctx.textBaseline = 'top';
  for (const op of content.ops) {
    const paint = painters[op.op];
    if (paint) paint(ctx, op); // unknown ops are skipped, so newer servers stay drawable
  }
  ctx.restore();
}

/**
 * The rect where an element with object-fit: contain shows media of the given
 * size: {x, y, w, h, scale} in CSS pixels, scale = screen pixels per media pixel.
 */
export function containRect(boxW, boxH, mediaW, mediaH) {
  const scale = Math.min(boxW / mediaW, boxH / mediaH);
  const w = mediaW * scale;
  const h = mediaH * scale;
  return { x: (boxW - w) / 2, y: (boxH - h) / 2, w, h, scale };
}

/**
 * Draw every object's box and, for each object with overlays, its panels stacked
 * at the spot `layout` (a PanelLayout, layout.js) gives them, with a leader line
 * to the object; panels of different objects never cover each other. `scene` is
 * {imageSize, objects: [{object, box (image pixels, where to draw it now)}], overlays};
 * `view` maps image pixels to the screen; the box of `selected` is highlighted.
 * Returns the screen rects drawn: {boxes: [{objectId, label, x, y, w, h, imageBox}],
 * drawn: [{overlayId, objectId, x, y, w, h}], stacks: [{objectId, spot, scale, x, y, w, h, leader}]}.
 */
export function drawScene(ctx, scene, view, layout, selected = null) {
  const { imageSize, objects, overlays } = scene;
  const s = view.w / imageSize[0];
  const toScreen = (rect) => [view.x + rect[0] * s, view.y + rect[1] * s, view.x + rect[2] * s, view.y + rect[3] * s];
  const bounds = [view.x, view.y, view.x + view.w, view.y + view.h];

  const boxes = objects.map(({ object, box }) => {
    const [x0, y0, x1, y1] = toScreen(box);
    return { objectId: object.id, label: object.class, x: x0, y: y0, w: x1 - x0, h: y1 - y0, imageBox: box };
  });
  boxes.forEach((box) => strokeBox(ctx, box, box.objectId === selected));

  const pinned = new Map(); // object id -> its overlays in slot order
  for (const overlay of overlays) {
    if (!pinned.has(overlay.object_id)) pinned.set(overlay.object_id, []);
    pinned.get(overlay.object_id).push(overlay);
  }
  const stacks = objects.filter(({ object }) => pinned.has(object.id)).map(({ object, box }) => {
    const panels = pinned.get(object.id).sort((a, b) => a.placement.slot - b.placement.slot);
    return {
      key: object.id, box, gap: GAP, project: toScreen, shiftable: true, screenBox: toScreen(box), panels,
      sizeAt: (scale) => stackSize(panels.map((o) => [o.content.width * scale, o.content.height * scale])),
    };
  });
  const placed = layout.place(stacks, bounds);

  const drawn = [];
  const stacksDrawn = [];
  for (const stack of stacks) {
    const choice = placed.get(stack.key);
    if (choice.hidden) continue;
    const [x0, y0, x1, y1] = choice.screen;
    const [from, to] = leaderLine(choice.rect, stack.box);
    const leader = [...toScreen([...from, ...to])];
    strokeLeader(ctx, leader);
    stacksDrawn.push({ objectId: stack.key, spot: choice.spot, scale: choice.scale, x: x0, y: y0, w: x1 - x0, h: y1 - y0, leader });
    // Within its spot a stack grows upwards, slot 0 at the bottom, by the server's rule.
    const sizes = stack.panels.map((o) => [o.content.width * choice.scale, o.content.height * choice.scale]);
    const bottom = choice.rect[3] + GAP;
    stackAbove([choice.rect[0], bottom, choice.rect[2], bottom], sizes, imageSize).forEach(([left, top, scale], i) => {
      const overlay = stack.panels[i];
      const [px, py] = toScreen([left, top, left, top]);
      const k = scale * choice.scale * s;
      paintDisplayList(ctx, overlay.content, px, py, k);
      drawn.push({
        overlayId: overlay.id, objectId: stack.key,
        x: px, y: py, w: overlay.content.width * k, h: overlay.content.height * k,
      });
    });
  }
  return { boxes, drawn, stacks: stacksDrawn };
}

/** The [w, h] in image pixels of panels of `sizes` (panel pixels) stacked by stackAbove. */
function stackSize(sizes) {
  const w = Math.max(...sizes.map(([width]) => width)) * SCREEN_SCALE;
  const h = sizes.reduce((sum, [, height]) => sum + height * SCREEN_SCALE, 0) + GAP * (sizes.length - 1);
  return [w, h];
}

function strokeBox(ctx, box, selected) {
  ctx.save();
  ctx.lineWidth = selected ? 3 : 1.5;
  ctx.strokeStyle = selected ? 'rgba(255, 213, 74, 0.95)' : 'rgba(74, 222, 128, 0.9)';
  ctx.strokeRect(box.x, box.y, box.w, box.h);
  ctx.restore();
}

function strokeLeader(ctx, [x0, y0, x1, y1]) {
  if (Math.hypot(x1 - x0, y1 - y0) < 1) return;
  ctx.save();
  ctx.lineWidth = 1.5;
  ctx.strokeStyle = 'rgba(226, 232, 240, 0.9)';
  ctx.beginPath();
  ctx.moveTo(x0, y0);
  ctx.lineTo(x1, y1);
  ctx.stroke();
  ctx.fillStyle = 'rgba(226, 232, 240, 0.9)';
  ctx.beginPath();
  ctx.arc(x1, y1, 2.5, 0, 2 * Math.PI);
  ctx.fill();
  ctx.restore();
}
