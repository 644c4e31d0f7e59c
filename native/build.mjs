// Builds the optional native BLAS addon (native/build/Release/ldfa_blas.node) at `npm install`.
// It never fails the install: where node-gyp, a C compiler or Node's headers are missing, it
// says why, and the `native` backend reports itself unavailable (`auto` then picks another).
// Where the addon built, it asks the native backend's own probe whether a BLAS library loads,
// and where none does, says which package makes training faster.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
/** What the native backend buys: NATIVE_SPEEDUP in src/backends/registry.ts (test/hide.test.ts holds them equal). */
const NATIVE_SPEEDUP = '2–3× faster';

/**
 * createNativeBlas() of the package itself, in a child process: the compiled one in an installed
 * package, the TypeScript source through tsx in a clone. Null when it loads a BLAS library, its
 * message when it does not, undefined when the probe could not run at all.
 */
function nativeProbe() {
  const src = join(root, 'src', 'backends', 'native.ts'), dist = join(root, 'dist', 'src', 'backends', 'native.js');
  let tsx = null;
  try { tsx = createRequire(join(root, 'package.json')).resolve('tsx'); } catch { /* an installed package: no tsx */ }
  const target = existsSync(src) && tsx !== null ? src : existsSync(dist) ? dist : null;
  if (target === null) return undefined;
  const code = `import(${JSON.stringify(pathToFileURL(target).href)}).then((m) => m.createNativeBlas()).then(() => process.exit(0), (e) => { process.stdout.write(String(e.message)); process.exit(3); });`;
  const r = spawnSync(process.execPath, [...(target === src ? ['--import', 'tsx'] : []), '--input-type=module', '-e', code], { cwd: root, encoding: 'utf8' });
  if (r.status === 0) return null;
  return r.status === 3 ? r.stdout : undefined;
}

/** npm sets npm_config_node_gyp for scripts; otherwise the node-gyp bundled with npm beside this node. */
function nodeGyp() {
  const candidates = [
    process.env.npm_config_node_gyp,
    process.env.npm_execpath && join(dirname(process.env.npm_execpath), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
    join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  return candidates.find((c) => c && existsSync(c)) ?? null;
}

const gyp = nodeGyp();
if (gyp === null) {
  console.warn('[ldfa] native BLAS addon not built: node-gyp not found (the native backend stays unavailable; auto uses wasm)');
} else {
  // Build against this node's own headers when they are installed (no download needed offline).
  const prefix = join(dirname(process.execPath), '..');
  const localHeaders = !process.env.npm_config_nodedir && existsSync(join(prefix, 'include', 'node', 'node_api.h'));
  const args = [gyp, 'rebuild', ...(localHeaders ? [`--nodedir=${prefix}`] : [])];
  const r = spawnSync(process.execPath, args, { cwd: here, encoding: 'utf8' });
  if (r.status === 0) {
    const why = nativeProbe();
    if (why === null) console.log('[ldfa] native BLAS addon built (native/build/Release/ldfa_blas.node), and a BLAS library loads: the native backend is available');
    else if (why?.includes('no usable CBLAS library')) {
      console.warn(`[ldfa] native BLAS addon built, but no BLAS library loads, so training runs on wasm; optional: apt-get install libopenblas0-pthread (Debian/Ubuntu) makes it ${NATIVE_SPEEDUP} (no rebuild needed)`);
    } else if (why !== undefined) console.warn(`[ldfa] native BLAS addon built, but the native backend is unavailable: ${why}`);
    else console.log('[ldfa] native BLAS addon built: native/build/Release/ldfa_blas.node');
  } else {
    const why = `${r.stderr ?? ''}${r.error?.message ?? ''}`.trim().split('\n').filter((l) => /error/i.test(l)).slice(0, 3).join(' | ');
    console.warn(`[ldfa] native BLAS addon not built (node-gyp exit ${r.status}): ${why || 'see node-gyp output'}; the native backend stays unavailable; auto uses wasm; optional: apt-get install g++ make libopenblas0-pthread (Debian/Ubuntu), then npm rebuild, makes training ${NATIVE_SPEEDUP}`);
  }
}
