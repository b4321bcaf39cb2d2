// Drawing overlays on a 2D canvas: the display-list painter (same ops as
// spatial/render/raster.py) and the screen-locked placement rule (a port of
// spatial/render/placement.py, same constants).

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
 * Draw every object's box and the overlays pinned to it, stacked above the box.
 * `view` maps image pixels to the screen; the box of `selected` is highlighted.
 * Returns the screen rects drawn:
 * {boxes: [{objectId, label, x, y, w, h}], drawn: [{overlayId, objectId, x, y, w, h}]}.
 */
export function drawScene(ctx, objectsMessage, overlays, view, selected = null) {
  const boxes = [];
  const drawn = [];
  if (!objectsMessage) return { boxes, drawn };
  const imageSize = objectsMessage.image_size;
  const s = view.w / imageSize[0];
  const toScreen = (x, y) => [view.x + x * s, view.y + y * s];

  for (const object of objectsMessage.objects) {
    const [x0, y0, x1, y1] = object.box;
    const [sx, sy] = toScreen(x0, y0);
    const box = { objectId: object.id, label: object.class, x: sx, y: sy, w: (x1 - x0) * s, h: (y1 - y0) * s };
    strokeBox(ctx, box, object.id === selected);
    boxes.push(box);

    const pinned = overlays
      .filter((o) => o.object_id === object.id)
      .sort((a, b) => a.placement.slot - b.placement.slot);
    const sizes = pinned.map((o) => [o.content.width, o.content.height]);
    stackAbove(object.box, sizes, imageSize).forEach(([left, top, scale], i) => {
      const overlay = pinned[i];
      const [px, py] = toScreen(left, top);
      const k = scale * s;
      paintDisplayList(ctx, overlay.content, px, py, k);
      drawn.push({
        overlayId: overlay.id, objectId: object.id,
        x: px, y: py, w: overlay.content.width * k, h: overlay.content.height * k,
      });
    });
  }
  return { boxes, drawn };
}

function strokeBox(ctx, box, selected) {
  ctx.save();
  ctx.lineWidth = selected ? 3 : 1.5;
  ctx.strokeStyle = selected ? 'rgba(255, 213, 74, 0.95)' : 'rgba(74, 222, 128, 0.9)';
  ctx.strokeRect(box.x, box.y, box.w, box.h);
  ctx.restore();
}
