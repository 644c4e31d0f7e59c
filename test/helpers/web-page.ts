/// <reference lib="dom" />
// The web app built into a temporary directory, served on 127.0.0.1 and opened in Debian's
// chromium: shared by the browser test files (test/web-browser*.test.ts). Skipped, with the
// reason, where chromium is missing (LDFA_REQUIRE=chromium makes that a failure).
import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { buildWeb } from '../../src/web/build.ts';
import { chromiumMissing, launchChromium } from '../../src/web/chromium.ts';
import { serveStatic } from '../../src/web/serve.ts';
import { requiredHere } from './backends.ts';

/** Why the browser tests cannot run here (logged), or null; throws where chromium is required. */
export function browserMissing(suite: string): string | null {
  const missing = chromiumMissing();
  if (missing) {
    if (requiredHere('chromium')) throw new Error(`chromium is required here (LDFA_REQUIRE=${process.env.LDFA_REQUIRE}) but ${missing}`);
    console.log(`[${suite}] skipping: ${missing}`);
  }
  return missing;
}

export interface WebApp {
  url: string;
  browser: Browser;
  /** Console errors and uncaught exceptions of every page opened with open(). */
  errors: string[];
  /** A page at `hash`, ready (the app has loaded its data). */
  open(hash: string, options?: { phone?: boolean }): Promise<Page>;
  close(): Promise<void>;
}

export const DESKTOP = { width: 1400, height: 1000 } as const;
/** The phone of issue 24: 390 × 844 CSS px, touch, 3× pixels. */
export const PHONE = { width: 390, height: 844 } as const;

export async function startWebApp(): Promise<WebApp> {
  const dir = mkdtempSync(join(tmpdir(), 'ldfa-web-'));
  let server: Server | undefined, browser: Browser | undefined;
  try {
    await buildWeb(dir);
    let url: string;
    ({ server, url } = await serveStatic(dir, 0));
    browser = await launchChromium();
    const errors: string[] = [];
    const b = browser, s = server;
    return {
      url, browser, errors,
      async open(hash, options = {}) {
        const page = await b.newPage(options.phone
          ? { viewport: PHONE, isMobile: true, hasTouch: true, deviceScaleFactor: 3 }
          : { viewport: DESKTOP });
        page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
        page.on('pageerror', (e) => errors.push(`uncaught: ${e.message}`));
        await page.goto(`${url}${hash}`);
        await page.waitForSelector('body[data-ready=true]', { timeout: 60_000 });
        return page;
      },
      async close() {
        await b.close();
        s.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    await browser?.close();
    server?.close();
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

/** Waits until the element's text contains `text` (the page updates asynchronously). */
export const waitForText = (page: Page, selector: string, text: string, timeout = 30_000) => page.waitForFunction(
  ([sel, t]) => document.querySelector(sel)?.textContent?.includes(t) ?? false, [selector, text] as const, { timeout });
