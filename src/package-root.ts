// The package's root directory (package.json, native/, oracles/fixtures/), found from this
// module's own location: it is src/ when tsx runs the sources and dist/src/ in an installed
// package, so a fixed number of '..' would be right in only one of them.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findPackageRoot(): string {
  const start = dirname(fileURLToPath(import.meta.url));
  for (let dir = start; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`ldfa: no package.json above ${start}; the package is incomplete`);
  }
}

let found: string | null = null;

/** Looked up on first use, not at load: the web app bundles modules that import this one, and a page has no file URLs. */
export function packageRoot(): string {
  found ??= findPackageRoot();
  return found;
}
