#!/usr/bin/env node
// The `ldfa` command. In a checkout (the TypeScript sources are next to this file) it runs them
// through tsx's loader, so no build step is needed while developing. An installed package ships
// no sources, only the JavaScript that `npm pack` compiled (prepack → dist/), which plain Node runs.
import { existsSync } from 'node:fs';

const sources = new URL('../src/cli/main.ts', import.meta.url);
if (existsSync(sources)) {
  const { register } = await import('tsx/esm/api');
  register();
  await import(sources.href);
} else {
  await import('../dist/src/cli/main.js');
}
