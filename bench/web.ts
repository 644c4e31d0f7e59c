/// <reference lib="dom" />
// (the callbacks given to page.evaluate run in the browser)
// The web app's training speed in a browser, per backend: `npx tsx bench/web.ts [--steps N]`.
// Builds the site, serves it on 127.0.0.1, opens it in Debian's chromium (headless, WebGL2 on
// SwiftShader unless the machine has a GPU the browser uses) and runs the Train-live view's
// default session (BP and LDFA normative r = 2, MLP 784 → 64 → 64 → 10, batch 32) for N steps
// on each backend. steps/s counts training steps only (the periodic test-accuracy and angle
// evaluations are excluded). JSON on stdout, progress on stderr.
//
// SwiftShader is a software renderer on the CPU: its WebGL2 figure says nothing about what
// gpu.js does on a real GPU. Run this on a machine with one (and a chromium that uses it,
// e.g. without --use-angle=swiftshader) before quoting a GPU speed.
import { mkdtempSync, rmSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildWeb } from '../src/web/build.ts';
import { CHROMIUM_ARGS, chromiumMissing, launchChromium } from '../src/web/chromium.ts';
import { serveStatic } from '../src/web/serve.ts';
import { WEB_BACKENDS } from '../src/web/backends.ts';
import { machine } from './run.ts';

const log = (msg: string) => process.stderr.write(`[bench:web] ${msg}\n`);

function parseSteps(argv: string[]): number {
  if (argv.length === 0) return 30;
  const [flag, value] = argv;
  const n = Number(value);
  if (flag !== '--steps' || argv.length !== 2 || !Number.isInteger(n) || n < 1) throw new Error(`usage: bench/web.ts [--steps N] (N a positive integer), got '${argv.join(' ')}'`);
  return n;
}

async function main(): Promise<void> {
  const steps = parseSteps(process.argv.slice(2));
  const missing = chromiumMissing();
  if (missing) throw new Error(missing);
  const dir = mkdtempSync(join(tmpdir(), 'ldfa-web-bench-'));
  const { server, url } = await serveStatic(dir, 0);
  const browser = await launchChromium();
  try {
    await buildWeb(dir);
    const page = await browser.newPage();
    await page.goto(`${url}#train`);
    await page.waitForSelector('body[data-ready=true]', { timeout: 60_000 });
    const renderer = await page.evaluate(() => {
      const gl = document.createElement('canvas').getContext('webgl2');
      const info = gl?.getExtension('WEBGL_debug_renderer_info');
      return gl ? String(info ? gl.getParameter(info.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER)) : 'no WebGL2';
    });
    const rows = [];
    for (const backend of WEB_BACKENDS) {
      log(`${backend}: ${steps} steps …`);
      const r = await page.evaluate(([b, n]) => (window as unknown as { ldfa: { train: { run(o: object): Promise<{ stepsPerSecond: number; kernel: string }> } } }).ldfa.train.run({ backend: b, steps: n }), [backend, steps] as const);
      rows.push({ backend, kernel: r.kernel, stepsPerSecond: +r.stepsPerSecond.toFixed(3), msPerStep: +(1000 / r.stepsPerSecond).toFixed(1) });
      log(`${backend}: ${r.stepsPerSecond.toFixed(2)} steps/s`);
    }
    console.log(JSON.stringify({
      machine: { ...machine(), loadAverage1m: +os.loadavg()[0].toFixed(1) }, // the machine may be shared
      browser: { version: browser.version(), args: CHROMIUM_ARGS, webgl2Renderer: renderer },
      session: { model: 'MLP 784 → 64 → 64 → 10, tanh', batch: 32, runs: ['BP', 'LDFA normative r = 2'], steps, optimiser: 'SGD, momentum 0.9' },
      note: 'steps/s of training steps only (the first steps include compiling the gpu.js kernels for each shape), the runs interleaved in the page\'s worker. A software WebGL2 renderer (SwiftShader, llvmpipe) runs on the CPU: its figure says nothing about gpu.js on a GPU.',
      web: rows,
    }, null, 2));
  } finally {
    await browser.close();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(`bench:web: ${(e as Error).message}`);
  process.exitCode = 1;
});
