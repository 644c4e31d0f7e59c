/// <reference lib="dom" />
// (the callbacks given to page.evaluate run in the browser)
// The feedback-alignment family on the page (issue 25), in Debian's chromium: the step-through
// offers every family rule, equals its golden fixture, shows the feedback matrix's own update as
// a stage for Kolen–Pollack, weight mirrors and PFA, and Train live offers the rules. Screenshots
// in out/web-screenshots/step-family-*.png (look at them).
import { mkdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { browserMissing, startWebApp, waitForText, type WebApp } from './helpers/web-page.ts';

const SHOTS = 'out/web-screenshots';
const missing = browserMissing('web-browser-family.e2e.test');

interface Ldfa { step: { show(s: object): Promise<void> } }
const ldfa = (page: Page) => page.evaluateHandle(() => (window as unknown as { ldfa: Ldfa }).ldfa);

/** Moves the stage list to the first stage whose title contains `text`; returns that title. */
async function goToStage(page: Page, text: string): Promise<string> {
  const titles = await page.locator('#step-stages li').allTextContents();
  const i = titles.findIndex((t) => t.includes(text));
  expect(i, `no stage '${text}' in ${titles.join(' | ')}`).toBeGreaterThanOrEqual(0);
  await page.locator('#step-stages li').nth(i).click();
  await waitForText(page, '#step-stage h2', text);
  return titles[i];
}

describe.skipIf(missing !== null)('the family rules on the page (issue 25) in chromium', () => {
  let app: WebApp, page: Page;
  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    app = await startWebApp();
    page = await app.open('#step');
  }, 120_000);
  afterAll(async () => { await app?.close(); });

  it('the rule menus offer every family rule (step-through and Train live)', async () => {
    const step = await page.locator('#step-rule option').evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value));
    expect(step).toEqual(expect.arrayContaining(['usf', 'brsf', 'frsf', 'kp', 'wm', 'pfa']));
    const labels = await page.locator('#step-rule option').allTextContents();
    expect(labels).toEqual(expect.arrayContaining(['Kolen–Pollack', 'Weight mirrors', 'PFA (product B_p·R)']));
    const train = await page.evaluate(() => [...document.querySelectorAll<HTMLSelectElement>('#train-runs select')].flatMap((s) => [...s.options].map((o) => o.value)));
    expect(new Set(train)).toEqual(new Set([...train, 'usf', 'brsf', 'frsf', 'kp', 'wm', 'pfa']));
  });

  it.each(['usf', 'brsf', 'frsf', 'kp', 'wm', 'pfa'])('%s: with the golden-fixture switch on, the page equals the fixture; its equation and reference lines are shown', async (rule) => {
    await (await ldfa(page)).evaluate((l, r) => l.step.show({ model: 'mlp', rule: r, rank: 2, step: 1, fixture: true }), rule);
    await waitForText(page, '#step-fixture-status', `mlp_${rule}:`);
    expect(await page.getAttribute('#step-fixture-status', 'class')).toBe('match');
    await goToStage(page, 'Signal from fc3');
    expect(await page.textContent('#step-stage .equation')).toMatch(/dx = /);
    expect(await page.locator('#step-stage .source .hl').count()).toBeGreaterThan(0);
    expect(await page.locator('#step-stage .mismatch').count()).toBe(0);
    if (rule === 'usf') await page.screenshot({ path: `${SHOTS}/step-family-usf-signal.png` });
    if (rule === 'pfa') await page.screenshot({ path: `${SHOTS}/step-family-pfa-signal.png` });
  }, 60_000);

  it('KP, weight mirrors and PFA show the feedback matrix’s own update as a stage, with the lines that computed it', async () => {
    const expected: [string, string, RegExp][] = [
      ['kp', 'Feedback learning at fc2 (Kolen–Pollack)', /dB = dW/],
      ['pfa', 'Feedback learning at fc2 (PFA)', /dR = B_pᵀ·dW/],
      ['wm', 'Mirror phase at fc2', /Ŵ = yᵀx\/\(N_m·σ²\);  B ← \(1 − ρ\)·B \+ ρ·Ŵ/],
    ];
    for (const [rule, title, equation] of expected) {
      await (await ldfa(page)).evaluate((l, r) => l.step.show({ model: 'mlp', rule: r, rank: 2, step: 1, fixture: true }), rule);
      await waitForText(page, '#step-fixture-status', `mlp_${rule}:`);
      await goToStage(page, title);
      expect(await page.textContent('#step-stage .equation')).toMatch(equation);
      expect(await page.locator('#step-stage .source .hl').count()).toBeGreaterThan(0);
      expect(await page.locator('#step-stage .match').count()).toBeGreaterThan(0); // its tensors equal the fixture's
      await page.screenshot({ path: `${SHOTS}/step-family-${rule}-feedback.png` });
    }
    expect(app.errors).toEqual([]);
  }, 120_000);
});
