// Debian's chromium, headless, driven by playwright-core (which downloads no browser): shared
// by the browser tests (test/web-browser.e2e.test.ts) and the page benchmark (bench/web.ts).
import { existsSync } from 'node:fs';
import type { Browser } from 'playwright-core';
import { hiddenReason } from '../hide.ts';

export const CHROMIUM_PATH = process.env.LDFA_CHROMIUM ?? '/usr/bin/chromium';

/**
 * WebGL2 from SwiftShader (`--use-gl=swiftshader` is obsolete and crashes the first GPU
 * process); root needs --no-sandbox; the rest keeps the browser off the network.
 */
export const CHROMIUM_ARGS = [
  '--headless=new', '--no-sandbox', '--use-angle=swiftshader', '--enable-unsafe-swiftshader',
  '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic',
];

/** Why chromium cannot run here, or null. */
export function chromiumMissing(): string | null {
  const hidden = hiddenReason('chromium');
  if (hidden !== null) return `chromium is ${hidden}`;
  return existsSync(CHROMIUM_PATH) ? null : `no chromium at ${CHROMIUM_PATH}: apt-get install -y chromium (Debian), or set LDFA_CHROMIUM to a Chromium binary`;
}

export async function launchChromium(): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
}
