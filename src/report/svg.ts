// A dependency-free SVG line-plot writer for learning curves and alignment plots.
// Every series is one <path data-series="NAME">; a non-finite value (or x ≤ 0 on a log axis)
// ends the current sub-path, so NaN gaps show as breaks in the line.
export { imageGrid } from './png.ts';

export interface PlotSeries {
  name: string;
  x: number[];
  y: number[];
  dashed?: boolean;
  color?: string;
}

export interface PlotHLine {
  name: string;
  y: number;
  dashed?: boolean;
  color?: string;
}

export interface LinePlotOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: PlotSeries[];
  hlines?: PlotHLine[];
  xLog?: boolean;
  yLog?: boolean;
  /** Explicit x tick positions (e.g. the ranks of a sweep) instead of automatic ones. */
  xTicks?: number[];
  /** Fixed y range [lo, hi]; values outside are clipped to the plot area. */
  yRange?: [number, number];
  /** Fixed x range [lo, hi]. */
  xRange?: [number, number];
  width?: number;
  height?: number;
}

/** Matplotlib's tab10 colours. */
export const PALETTE: readonly string[] = [
  '#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf',
];

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;')
    // drop control characters, which XML 1.0 does not allow
    .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F]/g, '');
}

/** "Nice" tick values (1, 2, 5 × 10^k steps) covering [lo, hi], about `target` of them. */
export function niceTicks(lo: number, hi: number, target = 5): number[] {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [];
  if (hi < lo) [lo, hi] = [hi, lo];
  if (hi === lo) return [lo];
  const raw = (hi - lo) / Math.max(1, target);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  const step = (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
  if (!(step > 0) || !Number.isFinite(step) || (hi - lo) / step > 1000) return [lo, hi];
  const ticks: number[] = [];
  const decimals = Math.min(100, Math.max(0, -Math.floor(Math.log10(step))));
  const first = Math.ceil(lo / step - 1e-9);
  for (let k = first; k * step <= hi + step * 1e-9; k++) ticks.push(Number((k * step).toFixed(decimals)));
  return ticks;
}

/** Powers of ten in [lo, hi] (lo > 0); falls back to niceTicks within one decade. */
export function logTicks(lo: number, hi: number): number[] {
  const a = Math.ceil(Math.log10(lo) - 1e-9), b = Math.floor(Math.log10(hi) + 1e-9);
  if (b - a < 1) return niceTicks(lo, hi, 4).filter((t) => t > 0);
  const stride = Math.max(1, Math.ceil((b - a + 1) / 8));
  const out: number[] = [];
  for (let k = a; k <= b; k += stride) out.push(Number(`1e${k}`));
  return out;
}

export function formatTick(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) {
    const [m, e] = v.toExponential().split('e');
    return `${Number(Number(m).toPrecision(3))}e${Number(e)}`;
  }
  return String(Number(v.toPrecision(6)));
}

const fmt = (v: number): string => (Math.round(v * 100) / 100).toString();

/** An SVG line plot (axes, nice ticks, legend, title); returns the SVG document as a string. */
export function linePlot(opts: LinePlotOptions): string {
  const requestedWidth = opts.width ?? 720, height = opts.height ?? 440;
  const series = opts.series, hlines = opts.hlines ?? [];
  series.forEach((s, i) => {
    if (s.x.length !== s.y.length) throw new Error(`linePlot: series '${s.name}' (index ${i}) has ${s.x.length} x values but ${s.y.length} y values; they must be equal`);
  });
  // Plottable values: finite, |v| ≤ 1e300 (so range arithmetic cannot overflow), > 1e-300 on log axes.
  const LIM = 1e300;
  const xOk = (x: number) => Number.isFinite(x) && Math.abs(x) <= LIM && (!opts.xLog || x > 1 / LIM);
  const yOk = (y: number) => Number.isFinite(y) && Math.abs(y) <= LIM && (!opts.yLog || y > 1 / LIM);

  // Data ranges over finite points (and horizontal lines).
  let xlo = Infinity, xhi = -Infinity, ylo = Infinity, yhi = -Infinity;
  for (const s of series) {
    for (let i = 0; i < s.x.length; i++) {
      if (!xOk(s.x[i]) || !yOk(s.y[i])) continue;
      xlo = Math.min(xlo, s.x[i]); xhi = Math.max(xhi, s.x[i]);
      ylo = Math.min(ylo, s.y[i]); yhi = Math.max(yhi, s.y[i]);
    }
  }
  for (const h of hlines) if (yOk(h.y)) { ylo = Math.min(ylo, h.y); yhi = Math.max(yhi, h.y); }
  if (opts.xRange) [xlo, xhi] = opts.xRange;
  if (opts.yRange) [ylo, yhi] = opts.yRange;
  if (!(xlo <= xhi)) { xlo = opts.xLog ? 1 : 0; xhi = opts.xLog ? 10 : 1; }
  if (!(ylo <= yhi)) { ylo = opts.yLog ? 1 : 0; yhi = opts.yLog ? 10 : 1; }
  // Degenerate (or numerically tiny) spans are widened around their centre.
  const tiny = (lo: number, hi: number) => hi - lo <= Math.max(Math.abs(lo), Math.abs(hi)) * 1e-12 || hi - lo < 1e-290;
  if (tiny(xlo, xhi)) { if (opts.xLog) { xlo /= 2; xhi *= 2; } else { const d = Math.abs(xlo) * 0.1 || 0.5; xlo -= d; xhi += d; } }
  if (tiny(ylo, yhi)) { if (opts.yLog) { ylo /= 2; yhi *= 2; } else { const d = Math.abs(ylo) * 0.1 || 0.5; ylo -= d; yhi += d; } }
  if (!opts.yRange && !opts.yLog) { const m = (yhi - ylo) * 0.04; ylo -= m; yhi += m; }

  const xt = opts.xTicks ?? (opts.xLog ? logTicks(xlo, xhi) : niceTicks(xlo, xhi, 6));
  const yt = opts.yLog ? logTicks(ylo, yhi) : niceTicks(ylo, yhi, 5);

  // Layout: legend on the right, sized from the longest name.
  const names = [...series.map((s) => s.name), ...hlines.map((h) => h.name)];
  const legendW = names.length > 0 ? Math.min(420, 40 + 6.2 * Math.max(...names.map((n) => n.length))) : 0;
  const left = 70, right = 20 + legendW, top = 40, bottom = 55;
  // A long legend widens the picture rather than squeezing the plot below 360 px.
  const width = Math.max(requestedWidth, left + 360 + right);
  // The title is shrunk to fit the width (about 0.6 em per character).
  const titleSize = Math.min(15, Math.floor((width - 20) / (0.6 * Math.max(1, opts.title.length))));
  const pw = Math.max(10, width - left - right), ph = Math.max(10, height - top - bottom);
  const tx = (x: number) => opts.xLog ? (Math.log10(x) - Math.log10(xlo)) / (Math.log10(xhi) - Math.log10(xlo)) : (x - xlo) / (xhi - xlo);
  const ty = (y: number) => opts.yLog ? (Math.log10(y) - Math.log10(ylo)) / (Math.log10(yhi) - Math.log10(ylo)) : (y - ylo) / (yhi - ylo);
  const px = (x: number) => left + pw * tx(x);
  const py = (y: number) => top + ph * (1 - ty(y));

  // A clip-path id unique per plot content, so several plots can be inlined in one HTML page.
  let hash = 0x811c9dc5;
  for (const ch of `${opts.title}|${names.join('|')}|${width}x${height}`) hash = Math.imul(hash ^ ch.charCodeAt(0), 0x01000193) >>> 0;
  const clipId = `plot-area-${hash.toString(16)}`;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`);
  out.push(`<title>${escapeXml(opts.title)}</title>`);
  out.push(`<defs><clipPath id="${clipId}"><rect x="${left}" y="${top}" width="${pw}" height="${ph}"/></clipPath></defs>`);
  out.push(`<rect x="0" y="0" width="${width}" height="${height}" fill="white"/>`);
  out.push(`<text x="${fmt(width / 2)}" y="24" text-anchor="middle" font-size="${titleSize}" font-weight="bold">${escapeXml(opts.title)}</text>`);

  // Grid and ticks.
  out.push('<g class="grid" stroke="#e0e0e0" stroke-width="1">');
  for (const t of xt) if (tx(t) >= -1e-9 && tx(t) <= 1 + 1e-9) out.push(`<line x1="${fmt(px(t))}" y1="${top}" x2="${fmt(px(t))}" y2="${top + ph}"/>`);
  for (const t of yt) if (ty(t) >= -1e-9 && ty(t) <= 1 + 1e-9) out.push(`<line x1="${left}" y1="${fmt(py(t))}" x2="${left + pw}" y2="${fmt(py(t))}"/>`);
  out.push('</g>');
  out.push(`<g class="axes" stroke="black" stroke-width="1" fill="none"><rect x="${left}" y="${top}" width="${pw}" height="${ph}"/></g>`);
  out.push('<g class="ticks" fill="black">');
  for (const t of xt) {
    if (tx(t) < -1e-9 || tx(t) > 1 + 1e-9) continue;
    out.push(`<line x1="${fmt(px(t))}" y1="${top + ph}" x2="${fmt(px(t))}" y2="${top + ph + 5}" stroke="black"/>`);
    out.push(`<text x="${fmt(px(t))}" y="${top + ph + 18}" text-anchor="middle">${escapeXml(formatTick(t))}</text>`);
  }
  for (const t of yt) {
    if (ty(t) < -1e-9 || ty(t) > 1 + 1e-9) continue;
    out.push(`<line x1="${left - 5}" y1="${fmt(py(t))}" x2="${left}" y2="${fmt(py(t))}" stroke="black"/>`);
    out.push(`<text x="${left - 8}" y="${fmt(py(t) + 4)}" text-anchor="end">${escapeXml(formatTick(t))}</text>`);
  }
  out.push('</g>');
  out.push(`<text x="${fmt(left + pw / 2)}" y="${height - 15}" text-anchor="middle">${escapeXml(opts.xLabel)}</text>`);
  out.push(`<text x="18" y="${fmt(top + ph / 2)}" text-anchor="middle" transform="rotate(-90 18 ${fmt(top + ph / 2)})">${escapeXml(opts.yLabel)}</text>`);

  // Data.
  const colorOf = (i: number, c?: string) => escapeXml(c ?? PALETTE[i % PALETTE.length]);
  out.push(`<g class="data" clip-path="url(#${clipId})" fill="none" stroke-width="1.8" stroke-linejoin="round">`);
  hlines.forEach((h) => {
    if (!yOk(h.y)) return;
    const col = h.color !== undefined ? escapeXml(h.color) : '#555555';
    out.push(`<line data-hline="${escapeXml(h.name)}" x1="${left}" y1="${fmt(py(h.y))}" x2="${left + pw}" y2="${fmt(py(h.y))}" stroke="${col}"${h.dashed ? ' stroke-dasharray="6 4"' : ''} stroke-width="1.2"/>`);
  });
  series.forEach((s, i) => {
    const parts: string[] = [];
    let pen = false;
    for (let k = 0; k < s.x.length; k++) {
      if (!xOk(s.x[k]) || !yOk(s.y[k])) { pen = false; continue; }
      parts.push(`${pen ? 'L' : 'M'}${fmt(px(s.x[k]))} ${fmt(py(s.y[k]))}`);
      pen = true;
    }
    // A lone point (isolated by NaNs) would be invisible as a path: draw a dot for each.
    const d = parts.join(' ');
    out.push(`<path data-series="${escapeXml(s.name)}" d="${d}" stroke="${colorOf(i, s.color)}"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`);
    for (let k = 0; k < s.x.length; k++) {
      const prevOk = k > 0 && xOk(s.x[k - 1]) && yOk(s.y[k - 1]);
      const nextOk = k + 1 < s.x.length && xOk(s.x[k + 1]) && yOk(s.y[k + 1]);
      if (xOk(s.x[k]) && yOk(s.y[k]) && !prevOk && !nextOk) {
        out.push(`<circle data-series-point="${escapeXml(s.name)}" cx="${fmt(px(s.x[k]))}" cy="${fmt(py(s.y[k]))}" r="2" fill="${colorOf(i, s.color)}" stroke="none"/>`);
      }
    }
  });
  out.push('</g>');

  // Legend.
  if (names.length > 0) {
    const lx = left + pw + 15;
    out.push('<g class="legend">');
    let ly = top + 8;
    series.forEach((s, i) => {
      out.push(`<line x1="${lx}" y1="${ly}" x2="${lx + 24}" y2="${ly}" stroke="${colorOf(i, s.color)}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`);
      out.push(`<text x="${lx + 30}" y="${ly + 4}">${escapeXml(s.name)}</text>`);
      ly += 18;
    });
    for (const h of hlines) {
      out.push(`<line x1="${lx}" y1="${ly}" x2="${lx + 24}" y2="${ly}" stroke="${h.color !== undefined ? escapeXml(h.color) : '#555555'}" stroke-width="1.2"${h.dashed ? ' stroke-dasharray="6 4"' : ''}/>`);
      out.push(`<text x="${lx + 30}" y="${ly + 4}">${escapeXml(h.name)}</text>`);
      ly += 18;
    }
    out.push('</g>');
  }
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/** The plot with text lines added below it (e.g. which runs it leaves out): the canvas grows by a line each. */
export function withFootnote(svg: string, lines: readonly string[]): string {
  const m = /^<svg [^>]*width="(\d+(?:\.\d+)?)" height="(\d+(?:\.\d+)?)" viewBox="0 0 [^"]*"/.exec(svg.slice(svg.indexOf('<svg')));
  if (!m) throw new Error('withFootnote: not an SVG written by this module (no width, height and viewBox on its root)');
  const width = Number(m[1]), height = Number(m[2]), grown = height + 18 * lines.length + 6;
  const root = svg.slice(svg.indexOf('<svg')).replace(m[0], m[0].replace(`height="${m[2]}"`, `height="${grown}"`).replace(/viewBox="0 0 [^"]*"/, `viewBox="0 0 ${width} ${grown}"`));
  const notes = [`<rect x="0" y="${height}" width="${width}" height="${grown - height}" fill="white"/>`,
    ...lines.map((line, i) => `<text x="10" y="${height + 16 + 18 * i}" fill="#b00020">${escapeXml(line)}</text>`)];
  const body = root.slice(0, root.lastIndexOf('</svg>'));
  return `${svg.slice(0, svg.indexOf('<svg'))}${body}${notes.join('')}</svg>${root.slice(root.lastIndexOf('</svg>') + 6)}`;
}
