// Small SVG line charts and tensor heatmaps for the web app (no plotting library).
import type { Tensor } from '../../reference/tensor.ts';

export interface Series {
  label: string;
  color: string;
  x: number[];
  y: number[];
  dashed?: boolean;
}

const SVG = 'http://www.w3.org/2000/svg';
const el = (name: string, attrs: Record<string, string | number>, text?: string) => {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
};

/** Round, readable tick values covering [lo, hi]. */
function ticks(lo: number, hi: number, count = 5): number[] {
  const step0 = (hi - lo) / count || 1;
  const mag = 10 ** Math.floor(Math.log10(step0));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= step0)!;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9 * step; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

/**
 * Draws the series into `svg` (replacing its content); y range from the data unless given.
 * The legend is HTML, in a `.legend` element after the svg (created if missing), so long
 * labels wrap instead of being clipped and it stays readable when the figure shrinks.
 */
export function lineChart(svg: SVGSVGElement, series: Series[], opts: { xLabel: string; yMin?: number; yMax?: number; hLines?: { y: number; label: string; color: string }[] }): void {
  svg.replaceChildren();
  const W = 600, H = 240, left = 46, right = 14, top = 10, bottom = 32;
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  const xs = series.flatMap((s) => s.x), ys = series.flatMap((s) => s.y).filter(Number.isFinite);
  const hl = opts.hLines ?? [];
  drawLegend(svg, [...series.map((s) => ({ label: s.label, color: s.color, dashed: s.dashed })), ...hl.map((h) => ({ label: h.label, color: h.color, dashed: true }))]);
  if (xs.length === 0) { svg.append(el('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle' }, 'no data yet')); return; }
  const x0 = Math.min(...xs), x1 = Math.max(...xs, x0 + 1);
  let y0 = opts.yMin ?? Math.min(...ys, ...hl.map((h) => h.y)), y1 = opts.yMax ?? Math.max(...ys, ...hl.map((h) => h.y));
  if (y1 - y0 < 1e-12) { y0 -= 0.5; y1 += 0.5; }
  const px = (x: number) => left + ((x - x0) / (x1 - x0)) * (W - left - right);
  const py = (y: number) => top + (1 - (y - y0) / (y1 - y0)) * (H - top - bottom);
  for (const t of ticks(y0, y1)) {
    svg.append(el('line', { class: 'grid', x1: left, x2: W - right, y1: py(t), y2: py(t) }));
    svg.append(el('text', { x: left - 4, y: py(t) + 4, 'text-anchor': 'end' }, String(t)));
  }
  for (const t of ticks(x0, x1, 6)) svg.append(el('text', { x: px(t), y: H - bottom + 14, 'text-anchor': 'middle' }, String(t)));
  svg.append(el('line', { class: 'axis', x1: left, x2: left, y1: top, y2: H - bottom }));
  svg.append(el('line', { class: 'axis', x1: left, x2: W - right, y1: H - bottom, y2: H - bottom }));
  svg.append(el('text', { x: (left + W - right) / 2, y: H - 4, 'text-anchor': 'middle' }, opts.xLabel));
  for (const h of hl) {
    svg.append(el('line', { x1: left, x2: W - right, y1: py(h.y), y2: py(h.y), stroke: h.color, 'stroke-dasharray': '2 3', 'stroke-width': 1.5 }));
  }
  for (const s of series) {
    const pts = s.x.map((x, i) => [x, s.y[i]]).filter(([, y]) => Number.isFinite(y)).map(([x, y]) => `${px(x).toFixed(1)},${py(Math.min(y1, Math.max(y0, y))).toFixed(1)}`);
    if (pts.length === 0) continue;
    svg.append(el('polyline', { points: pts.join(' '), fill: 'none', stroke: s.color, 'stroke-width': 1.6, ...(s.dashed ? { 'stroke-dasharray': '5 3' } : {}) }));
  }
}

/** The legend below a chart: one entry per distinct non-empty label. */
function drawLegend(svg: SVGSVGElement, items: { label: string; color: string; dashed?: boolean }[]): void {
  let legend = svg.nextElementSibling as HTMLElement | null;
  if (!legend?.classList.contains('legend')) {
    legend = document.createElement('div');
    legend.className = 'legend';
    svg.after(legend);
  }
  const seen = new Set<string>();
  legend.replaceChildren(...items.filter((item) => item.label && !seen.has(item.label) && seen.add(item.label)).map((item) => {
    const entry = document.createElement('span');
    const key = document.createElement('span');
    key.className = 'key';
    key.style.borderTop = `2px ${item.dashed ? 'dashed' : 'solid'} ${item.color}`;
    entry.append(key, document.createTextNode(item.label));
    return entry;
  }));
}

/** A tensor as a matrix: 2-d as it is, 1-d as one row, k-d as (first axis, the rest). */
export function asMatrix(t: Tensor): { rows: number; cols: number } {
  if (t.shape.length === 0) return { rows: 1, cols: 1 };
  if (t.shape.length === 1) return { rows: 1, cols: t.shape[0] };
  return { rows: t.shape[0], cols: t.size / t.shape[0] };
}

/** Diverging colour for v in [−1, 1]: blue — white — red. */
export function colour(v: number): [number, number, number] {
  const a = Math.min(1, Math.abs(v));
  return v >= 0 ? [255, Math.round(255 * (1 - a * 0.85)), Math.round(255 * (1 - a))] : [Math.round(255 * (1 - a)), Math.round(255 * (1 - a * 0.6)), 255];
}

/** The largest |value| of a tensor (the scale a heatmap of it alone would use). */
export function maxAbs(t: Tensor): number {
  let max = 0;
  for (let i = 0; i < t.size; i++) max = Math.max(max, Math.abs(t.data[i]));
  return max;
}

/** A canvas of rows × cols cells holding data[offset …] coloured on the scale ±`scale`. */
function paint(data: ArrayLike<number>, offset: number, rows: number, cols: number, scale: number): HTMLCanvasElement {
  const canvas = document.createElement('canvas');
  canvas.width = cols;
  canvas.height = rows;
  const ctx = canvas.getContext('2d')!;
  const img = ctx.createImageData(cols, rows);
  for (let i = 0; i < rows * cols; i++) img.data.set([...colour(scale > 0 ? data[offset + i] / scale : 0), 255], 4 * i);
  ctx.putImageData(img, 0, 0);
  return canvas;
}

/** Smallest cell in CSS pixels: every entry of a wide tensor gets one the pointer can reach (the card scrolls). */
export const MIN_CELL_PX = 3;

/**
 * Paints the tensor into a canvas, one cell per value, coloured on ±`scale` (default: its own
 * largest |value|). Cells are square, at most 24 px, at least MIN_CELL_PX (so a 784-wide
 * tensor is 2352 px wide and scrolls), and the longer side fits `maxPx` where that allows.
 */
export function heatmap(t: Tensor, scale = maxAbs(t), maxPx = 360): { canvas: HTMLCanvasElement; cellAt(ev: MouseEvent): number | null } {
  const { rows, cols } = asMatrix(t);
  const canvas = paint(t.data, 0, rows, cols, scale);
  const cell = Math.max(MIN_CELL_PX, Math.min(24, maxPx / Math.max(rows, cols)));
  // a side too thin to see (one row of a bias) is stretched to at least 6 px per cell, up to half the size
  canvas.style.width = `${Math.max(cols * cell, Math.min(cols * 6, maxPx / 2))}px`;
  canvas.style.height = `${Math.max(rows * cell, Math.min(rows * 6, maxPx / 2))}px`;
  return { canvas, cellAt: (ev) => cellAt(canvas, ev, rows, cols) };
}

/** Each row of `t` as an image of `shape` (the MNIST inputs as 28×28 digits), on ±`scale`. */
export function imageRows(t: Tensor, shape: [number, number], scale: number, px = 2.5): { canvas: HTMLCanvasElement; cellAt(ev: MouseEvent): number | null }[] {
  const [h, w] = shape;
  const { rows, cols } = asMatrix(t);
  if (cols !== h * w) throw new Error(`imageRows: rows of ${cols} values are not ${h}×${w} images`);
  return Array.from({ length: rows }, (_, n) => {
    const canvas = paint(t.data, n * cols, h, w, scale);
    canvas.style.width = `${w * px}px`;
    canvas.style.height = `${h * px}px`;
    return { canvas, cellAt: (ev: MouseEvent) => { const i = cellAt(canvas, ev, h, w); return i === null ? null : n * cols + i; } };
  });
}

function cellAt(canvas: HTMLCanvasElement, ev: MouseEvent, rows: number, cols: number): number | null {
  const box = canvas.getBoundingClientRect();
  const c = Math.floor(((ev.clientX - box.left) / box.width) * cols), r = Math.floor(((ev.clientY - box.top) / box.height) * rows);
  return r >= 0 && r < rows && c >= 0 && c < cols ? r * cols + c : null;
}

/** A colour bar from −scale to +scale, the legend of the heatmaps drawn on that scale. */
export function colourBar(scale: number, what: string): HTMLElement {
  const box = document.createElement('div');
  box.className = 'colour-bar';
  const steps = 101;
  const ramp = Array.from({ length: steps }, (_, i) => -1 + (2 * i) / (steps - 1));
  const bar = paint(ramp, 0, 1, steps, 1);
  const label = (text: string) => { const s = document.createElement('span'); s.textContent = text; return s; };
  const fmt = (v: number) => (v === 0 ? '0' : v.toPrecision(3));
  box.append(label(what), label(fmt(-scale)), bar, label(fmt(scale)));
  return box;
}

/** The multi-index of a flat position in a row-major shape. */
export function multiIndex(shape: readonly number[], flat: number): number[] {
  const out: number[] = [];
  for (let d = shape.length - 1; d >= 0; d--) { out.unshift(flat % shape[d]); flat = Math.floor(flat / shape[d]); }
  return out;
}
