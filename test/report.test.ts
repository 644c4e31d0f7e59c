import fc from 'fast-check';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { inflateSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { readJsonChecked, stableJson, tmpPathFor, writeFileAtomic, writeJsonAtomic } from '../src/report/atomic.ts';
import { crc32, encodePng, gridPixels, imageGrid } from '../src/report/png.ts';
import { asciiTable, createProgress, formatPayload } from '../src/report/progress.ts';
import { escapeXml, linePlot, niceTicks } from '../src/report/svg.ts';
import { xmlProblems } from './helpers/xml.ts';

const tmp = mkdtempSync(join(tmpdir(), 'ldfa-report-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('atomic writes', () => {
  it('writes the content, creates parent dirs and leaves no tmp file', () => {
    const path = join(tmp, 'a', 'b', 'out.txt');
    writeFileAtomic(path, 'hello');
    expect(readFileSync(path, 'utf8')).toBe('hello');
    writeFileAtomic(path, new Uint8Array([104, 105]));
    expect(readFileSync(path, 'utf8')).toBe('hi');
    expect(readdirSync(join(tmp, 'a', 'b'))).toEqual(['out.txt']);
  });

  it('a crash before the rename leaves the old file intact', () => {
    const path = join(tmp, 'summary.json');
    writeJsonAtomic(path, { acc: 0.5 });
    // simulate a crash: the temporary file is written (partially) but never renamed
    writeFileSync(tmpPathFor(path), '{"acc": 0.9');
    expect(readJsonChecked(path, 'run summary')).toEqual({ acc: 0.5 });
    // the next successful write replaces the stale tmp and the target
    writeJsonAtomic(path, { acc: 0.9 });
    expect(readJsonChecked(path, 'run summary')).toEqual({ acc: 0.9 });
    expect(existsSync(tmpPathFor(path))).toBe(false);
  });

  it('writes stable, sorted 2-space JSON', () => {
    const path = join(tmp, 'stable.json');
    writeJsonAtomic(path, { b: 1, a: { d: [1, 2], c: new Float64Array([0.5]) }, n: Number.NaN });
    expect(readFileSync(path, 'utf8')).toBe('{\n  "a": {\n    "c": [\n      0.5\n    ],\n    "d": [\n      1,\n      2\n    ]\n  },\n  "b": 1,\n  "n": null\n}\n');
    fc.assert(fc.property(fc.dictionary(fc.string(), fc.jsonValue()), (o) => {
      expect(JSON.parse(stableJson(o))).toEqual(JSON.parse(JSON.stringify(o)));
      const reversed = Object.fromEntries(Object.entries(o).reverse());
      expect(stableJson(reversed)).toBe(stableJson(o));
    }));
  });

  it('names missing, empty and corrupt JSON', () => {
    const missing = join(tmp, 'none.json');
    expect(() => readJsonChecked(missing, 'run summary')).toThrow(`run summary not found: ${missing}`);
    const bad = join(tmp, 'bad.json');
    writeFileSync(bad, '{"a": ');
    expect(() => readJsonChecked(bad, 'run summary')).toThrow(new RegExp(`run summary at ${bad} is not valid JSON .*interrupted write`));
    writeFileSync(bad, '  \n');
    expect(() => readJsonChecked(bad, 'config')).toThrow(`config at ${bad} is empty: a JSON document is required`);
  });
});

const attr = (svg: string, name: string) => [...svg.matchAll(new RegExp(`${name}="([^"]*)"`, 'g'))].map((m) => m[1]);

describe('SVG line plot', () => {
  const base = {
    title: 'Test <accuracy> & "loss"', xLabel: 'epoch', yLabel: 'accuracy (%)',
    series: [
      { name: 'BP', x: [1, 2, 3, 4], y: [50, 70, 80, 85] },
      { name: 'LDFA r=8 <low>', x: [1, 2, 3, 4], y: [40, 60, 75, 82], dashed: true },
      { name: "FA & 'DFA'", x: [1, 2, 3, 4], y: [30, 50, 60, 65], color: '#123456' },
    ],
    hlines: [{ name: 'chance', y: 10, dashed: true }],
  };

  it('is well-formed and has one data-series element per series, names escaped', () => {
    const svg = linePlot(base);
    expect(xmlProblems(svg)).toEqual([]);
    expect(attr(svg, 'data-series')).toEqual(base.series.map((s) => escapeXml(s.name)));
    for (const s of base.series) expect(svg).toContain(escapeXml(s.name));
    expect(svg).toContain('Test &lt;accuracy&gt; &amp; &quot;loss&quot;');
    expect(attr(svg, 'data-hline')).toEqual(['chance']);
    expect(svg).toContain('stroke="#123456"');
    expect(svg).toMatch(/data-series="LDFA r=8 &lt;low&gt;"[^>]*stroke-dasharray/);
    const clip = /clip-path="url\(#([^)]+)\)"/.exec(svg)![1];
    expect(attr(svg, 'id')).toContain(clip);
  });

  it('NaN values break the line instead of crashing', () => {
    const svg = linePlot({ ...base, series: [{ name: 'gap', x: [1, 2, 3, 4, 5, 6], y: [1, 2, NaN, 4, 5, Infinity] }] });
    expect(xmlProblems(svg)).toEqual([]);
    const d = /data-series="gap" d="([^"]*)"/.exec(svg)![1];
    expect(d).not.toMatch(/NaN|Infinity/);
    expect(d.match(/M/g)!.length).toBe(2);
    expect(d.match(/L/g)!.length).toBe(2);
    // all-NaN series and empty plots still render
    const empty = linePlot({ title: 't', xLabel: 'x', yLabel: 'y', series: [{ name: 'none', x: [1, 2], y: [NaN, NaN] }] });
    expect(xmlProblems(empty)).toEqual([]);
    expect(empty).not.toContain('NaN');
    expect(xmlProblems(linePlot({ title: 't', xLabel: 'x', yLabel: 'y', series: [] }))).toEqual([]);
  });

  it('log x axis, fixed y range and property: any finite/NaN data gives a well-formed plot', () => {
    const svg = linePlot({ ...base, xLog: true, yRange: [0, 100], series: [{ name: 'lr', x: [0, 1e-4, 1e-3, 1e-2, 1e-1], y: [1, 20, 50, 90, 150] }] });
    expect(xmlProblems(svg)).toEqual([]);
    expect(svg).toContain('>1e-4<');
    expect(svg).toContain('>0.1<');
    fc.assert(fc.property(
      fc.array(fc.record({
        name: fc.string(),
        pts: fc.array(fc.tuple(fc.oneof(fc.double(), fc.constant(Number.NaN)), fc.oneof(fc.double(), fc.constant(Number.NaN)))),
      }), { maxLength: 4 }),
      fc.boolean(),
      (ss, xLog) => {
        const out = linePlot({ title: 'p', xLabel: 'x', yLabel: 'y', xLog, series: ss.map((s) => ({ name: s.name, x: s.pts.map((p) => p[0]), y: s.pts.map((p) => p[1]) })) });
        expect(xmlProblems(out)).toEqual([]);
        expect(out).not.toMatch(/NaN|Infinity/);
        expect(attr(out, 'data-series').length).toBe(ss.length);
      }), { numRuns: 200 });
    expect(() => linePlot({ ...base, series: [{ name: 's', x: [1, 2], y: [1] }] })).toThrow("series 's' (index 0) has 2 x values but 1 y values");
  });

  it('nice ticks are 1/2/5 steps covering the range', () => {
    expect(niceTicks(0, 1)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(3, 97, 5)).toEqual([20, 40, 60, 80]);
    fc.assert(fc.property(fc.double({ min: -1e6, max: 1e6, noNaN: true }), fc.double({ min: 1e-6, max: 1e6, noNaN: true }), (lo, span) => {
      const t = niceTicks(lo, lo + span);
      expect(t.length).toBeGreaterThanOrEqual(2);
      expect(t.length).toBeLessThanOrEqual(12);
      const eps = Math.max(span * 1e-6, Math.abs(lo) * 1e-12);
      for (const v of t) { expect(v).toBeGreaterThanOrEqual(lo - eps); expect(v).toBeLessThanOrEqual(lo + span + eps); }
      for (let i = 1; i < t.length; i++) expect(t[i]).toBeGreaterThan(t[i - 1]);
    }));
  });
});

function readChunks(png: Buffer): { type: string; data: Buffer; crc: number; crcInput: Buffer }[] {
  const out = [];
  let p = 8;
  while (p < png.length) {
    const len = png.readUInt32BE(p);
    const type = png.toString('latin1', p + 4, p + 8);
    out.push({ type, data: png.subarray(p + 8, p + 8 + len), crc: png.readUInt32BE(p + 8 + len), crcInput: png.subarray(p + 4, p + 8 + len) });
    p += 12 + len;
  }
  return out;
}

describe('PNG encoder', () => {
  it('crc32 matches the standard check value', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
  });

  it('writes signature, IHDR, valid CRCs and an IDAT that inflates to the pixels (property)', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 1, max: 20 }), fc.constantFrom(1 as const, 3 as const), fc.nat(1000), (w, h, ch, seed) => {
      const px = new Uint8Array(w * h * ch);
      for (let i = 0; i < px.length; i++) px[i] = (i * 31 + seed) & 0xff;
      const png = encodePng(px, w, h, ch);
      expect(Array.from(png.subarray(0, 8))).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
      const chunks = readChunks(png);
      expect(chunks.map((c) => c.type)).toEqual(['IHDR', 'IDAT', 'IEND']);
      for (const c of chunks) expect(c.crc).toBe(crc32(c.crcInput));
      const ihdr = chunks[0].data;
      expect(ihdr.length).toBe(13);
      expect([ihdr.readUInt32BE(0), ihdr.readUInt32BE(4), ihdr[8], ihdr[9], ihdr[10], ihdr[11], ihdr[12]]).toEqual([w, h, 8, ch === 1 ? 0 : 2, 0, 0, 0]);
      const raw = inflateSync(chunks[1].data);
      expect(raw.length).toBe(h * (w * ch + 1));
      for (let r = 0; r < h; r++) {
        expect(raw[r * (w * ch + 1)]).toBe(0);
        expect(Array.from(raw.subarray(r * (w * ch + 1) + 1, (r + 1) * (w * ch + 1)))).toEqual(Array.from(px.subarray(r * w * ch, (r + 1) * w * ch)));
      }
      expect(chunks[2].data.length).toBe(0);
    }), { numRuns: 50 });
    expect(() => encodePng(new Uint8Array(5), 2, 2)).toThrow('encodePng: 5 bytes given but 2×2×1 = 4 are required');
  });

  it('imageGrid lays out normalised tiles with padding', () => {
    const a = Float64Array.from([-1, 0, 1, 0]), b = Float64Array.from([2, 2, 2, 4]), c = Float64Array.from([0, 0, 0, 0]);
    const g = gridPixels([a, b, c], 2, 2, 2, { pad: 1, background: 7 });
    expect([g.width, g.height]).toEqual([7, 7]);
    expect(Array.from(g.pixels.subarray(7, 14))).toEqual([7, 0, 128, 7, 0, 0, 7]);
    expect(Array.from(g.pixels.subarray(14, 21))).toEqual([7, 255, 128, 7, 0, 255, 7]);
    expect(Array.from(g.pixels.subarray(28, 35))).toEqual([7, 0, 0, 7, 7, 7, 7]);
    const png = imageGrid([a, b, c], 2, 2, 2, { scale: 3 });
    const ihdr = readChunks(png)[0].data;
    expect([ihdr.readUInt32BE(0), ihdr.readUInt32BE(4)]).toEqual([2 * 6 + 3, 2 * 6 + 3]);
    expect(() => gridPixels([a, Float64Array.from([1])], 2, 2, 2)).toThrow('imageGrid: image 1 has 1 values but w·h = 2·2 = 4 are required');
  });

  it("symmetric normalisation puts 0 at mid-gray, an all-zero tile included", () => {
    const g = gridPixels([Float64Array.from([-2, 0, 1, 2]), new Float64Array(4)], 2, 2, 2, { pad: 0, normalize: 'symmetric' });
    expect(Array.from(g.pixels)).toEqual([0, 128, 128, 128, 191, 255, 128, 128]);
  });
});

function sink(isTTY: boolean): { stream: PassThrough & { isTTY?: boolean; columns?: number }; text: () => string } {
  const stream = new PassThrough() as PassThrough & { isTTY?: boolean; columns?: number; cursorTo?: unknown; clearLine?: unknown; moveCursor?: unknown };
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  if (isTTY) {
    stream.isTTY = true;
    stream.columns = 120;
    stream.cursorTo = () => true;
    stream.clearLine = () => true;
    stream.moveCursor = () => true;
    (stream as unknown as { clearScreenDown: () => boolean }).clearScreenDown = () => true;
  }
  return { stream, text: () => Buffer.concat(chunks).toString('utf8') };
}

describe('progress reporter', () => {
  it('prints nothing per batch on a non-TTY, only log lines', async () => {
    const { stream, text } = sink(false);
    const p = createProgress({ stream, label: 'epoch 1' });
    expect(p.tty).toBe(false);
    p.start(100, { loss: 2.3 });
    for (let i = 0; i < 100; i++) p.increment(1, { loss: 1 / (i + 1) });
    p.log('epoch 1: loss 0.0100 acc 97.0%');
    p.stop();
    await new Promise((r) => setImmediate(r));
    expect(text()).toBe('epoch 1: loss 0.0100 acc 97.0%\n');
  });

  it('draws a bar with ETA and payload on a TTY', async () => {
    const { stream, text } = sink(true);
    const p = createProgress({ stream, label: 'train' });
    expect(p.tty).toBe(true);
    p.start(10, { loss: 2.302585 });
    for (let i = 0; i < 10; i++) p.increment(1, { loss: 0.123456, acc: 0.5 });
    p.log('epoch done');
    p.stop();
    await new Promise((r) => setImmediate(r));
    const out = text();
    expect(out).toContain('train [');
    expect(out).toContain('ETA');
    expect(out).toContain('loss 0.1235  acc 0.5000');
    expect(out).toContain('10/10');
    expect(out).toContain('epoch done');
  });

  it('formats payloads', () => {
    expect(formatPayload({ loss: 0.5, step: 3, rule: 'LDFA' })).toBe('loss 0.5000  step 3  rule LDFA');
  });
});

describe('asciiTable', () => {
  it('aligns columns: text left, numbers right', () => {
    const t = asciiTable([['BP', 97.123456, 1000], ['LDFA r=8', 96.5, 12], ['FA', Number.NaN, null]], ['rule', 'acc', 'params']);
    expect(t).toBe([
      '+----------+-------+--------+',
      '| rule     |   acc | params |',
      '+----------+-------+--------+',
      '| BP       | 97.12 |   1000 |',
      '| LDFA r=8 |  96.5 |     12 |',
      '| FA       |   NaN |        |',
      '+----------+-------+--------+',
      '',
    ].join('\n'));
    const lines = asciiTable([['a', 1e-7]], ['x', 'y']).split('\n');
    expect(lines[3]).toBe('| a | 1.000e-7 |');
    expect(new Set(lines.filter((l) => l !== '').map((l) => l.length)).size).toBe(1);
  });
});

describe('linePlot x ticks', () => {
  it('puts explicit ticks where they are asked for (ranks of a sweep)', () => {
    const svg = linePlot({ title: 't', xLabel: 'r', yLabel: 'acc', xLog: true, xTicks: [1, 2, 4, 10, 32], series: [{ name: 's', x: [1, 32], y: [0.5, 0.9] }] });
    for (const t of ['1', '2', '4', '10', '32']) expect(svg).toMatch(new RegExp(`>${t}</text>`));
  });
});
