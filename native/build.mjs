// Builds the optional native BLAS addon (native/build/Release/ldfa_blas.node) at `npm install`.
// It never fails the install: where node-gyp, a C compiler or Node's headers are missing, it
// says why, and the `native` backend reports itself unavailable (`auto` then picks another).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

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
  if (r.status === 0) console.log('[ldfa] native BLAS addon built: native/build/Release/ldfa_blas.node');
  else {
    const why = `${r.stderr ?? ''}${r.error?.message ?? ''}`.trim().split('\n').filter((l) => /error/i.test(l)).slice(0, 3).join(' | ');
    console.warn(`[ldfa] native BLAS addon not built (node-gyp exit ${r.status}): ${why || 'see node-gyp output'}; the native backend stays unavailable; auto uses wasm`);
  }
}
