// Training progress: a cli-progress bar with ETA and a custom payload (loss, accuracy…) on a
// terminal; on a non-TTY stream (CI, pipes) nothing is printed per batch and only explicit
// log(line) calls (one per epoch) produce output.
import cliProgress from 'cli-progress';

export type Payload = Record<string, string | number>;

export interface ProgressOptions {
  /** Text in front of the bar, e.g. 'epoch 3/10'. */
  label?: string;
  /** Output stream (default process.stdout). */
  stream?: NodeJS.WritableStream & { isTTY?: boolean };
  /** Force TTY (bar) or non-TTY (lines only) mode; default: the stream's isTTY. */
  tty?: boolean;
  /** Digits for numeric payload values (default 4 significant). */
  precision?: number;
}

/** "loss 0.1234  acc 0.9712" from a payload object. */
export function formatPayload(p: Payload, precision = 4): string {
  return Object.entries(p)
    .map(([k, v]) => `${k} ${typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toPrecision(precision)) : v}`)
    .join('  ');
}

export class Progress {
  readonly tty: boolean;
  private readonly stream: NodeJS.WritableStream;
  private readonly precision: number;
  private label: string;
  private multi: cliProgress.MultiBar | null = null;
  private bar: cliProgress.SingleBar | null = null;
  private value = 0;

  constructor(opts: ProgressOptions = {}) {
    const stream = opts.stream ?? process.stdout;
    this.stream = stream;
    this.tty = opts.tty ?? (stream as { isTTY?: boolean }).isTTY === true;
    this.precision = opts.precision ?? 4;
    this.label = opts.label ?? '';
  }

  /** Starts (or restarts) a bar of `total` steps. No output in non-TTY mode. */
  start(total: number, payload: Payload = {}, label?: string): void {
    if (label !== undefined) this.label = label;
    this.stopBar();
    this.value = 0;
    if (!this.tty) return;
    this.multi = new cliProgress.MultiBar({
      stream: this.stream as NodeJS.WritableStream,
      format: `${this.label.replace(/[{}]/g, '')} [{bar}] {percentage}% | {value}/{total} | ETA {eta_formatted} | {info}`,
      hideCursor: true,
      clearOnComplete: false,
      stopOnComplete: false,
      etaBuffer: 50,
      fps: 10,
      barsize: 30,
    }, cliProgress.Presets.shades_classic);
    this.bar = this.multi.create(total, 0, { info: formatPayload(payload, this.precision) });
  }

  /** Sets the position (steps done) and payload. */
  update(value: number, payload: Payload = {}): void {
    this.value = value;
    this.bar?.update(value, { info: formatPayload(payload, this.precision) });
  }

  increment(delta = 1, payload: Payload = {}): void {
    this.update(this.value + delta, payload);
  }

  /** A line of output (e.g. an epoch summary): above the bar on a TTY, a plain line otherwise. */
  log(line: string): void {
    if (this.multi !== null) {
      this.multi.log(line.endsWith('\n') ? line : line + '\n');
      this.multi.update(); // redraw now so the line is flushed
    } else {
      this.stream.write(line.endsWith('\n') ? line : line + '\n');
    }
  }

  private stopBar(): void {
    if (this.multi !== null) {
      this.multi.stop();
      this.multi = null;
      this.bar = null;
    }
  }

  /** Finishes the bar (leaves it on screen). */
  stop(): void {
    this.stopBar();
  }
}

export function createProgress(opts: ProgressOptions = {}): Progress {
  return new Progress(opts);
}

export type Cell = string | number | null | undefined;

export interface TableOptions {
  /** Column alignment; default: right for columns whose cells are all numbers (or empty), left otherwise. */
  align?: ('left' | 'right')[];
  /** Formats numeric cells (default: integers as-is, others with 4 significant digits). */
  format?: (v: number, column: number) => string;
}

function defaultFormat(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (!Number.isFinite(v)) return v > 0 ? 'inf' : '-inf';
  if (Number.isInteger(v)) return String(v);
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e6) ? v.toExponential(3) : String(Number(v.toPrecision(4)));
}

/**
 * A plain-ASCII table:
 *   +------+-------+
 *   | rule |  acc  |
 *   +------+-------+
 *   | BP   | 97.12 |
 *   +------+-------+
 */
export function asciiTable(rows: readonly (readonly Cell[])[], header: readonly string[], opts: TableOptions = {}): string {
  const ncol = Math.max(header.length, ...rows.map((r) => r.length));
  const fmtCell = (c: Cell, j: number): string => {
    if (c === null || c === undefined) return '';
    if (typeof c === 'number') return (opts.format ?? defaultFormat)(c, j);
    return String(c).replace(/[\r\n]+/g, ' ');
  };
  const body = rows.map((r) => Array.from({ length: ncol }, (_, j) => fmtCell(r[j], j)));
  const head = Array.from({ length: ncol }, (_, j) => header[j] ?? '');
  const widths = Array.from({ length: ncol }, (_, j) => Math.max(head[j].length, ...body.map((r) => r[j].length)));
  const align = Array.from({ length: ncol }, (_, j) => opts.align?.[j]
    ?? (rows.length > 0 && rows.every((r) => typeof r[j] === 'number' || r[j] === null || r[j] === undefined) ? 'right' : 'left'));
  const rule = '+' + widths.map((w) => '-'.repeat(w + 2)).join('+') + '+';
  const line = (cells: string[]) => '| ' + cells.map((c, j) => (align[j] === 'right' ? c.padStart(widths[j]) : c.padEnd(widths[j]))).join(' | ') + ' |';
  return [rule, line(head), rule, ...body.map(line), rule].join('\n') + '\n';
}
