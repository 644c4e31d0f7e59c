// `ldfa results`: re-running one recipe updates its section of docs/results.md and keeps the
// sections of the recipes not in --from as the earlier page had them.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RECIPES, recipeDir } from '../src/experiments/index.ts';
import { reportMarkdown, writeReport, type RecipeReport } from '../src/experiments/report.ts';
import { earlierSections, writeResultsPage } from '../src/experiments/results-page.ts';

const root = mkdtempSync(join(tmpdir(), 'ldfa-results-page-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A hand-made report of one recipe whose claims and numbers carry `mark`. */
function report(recipe: string, mark: string): RecipeReport {
  const { title, source } = RECIPES.find((r) => r.name === recipe)!;
  return {
    recipe, title, source, scale: 'quick', seeds: 2, setup: `set-up ${mark}`, paper: `paper ${mark}`,
    tables: [{ caption: `table ${mark}`, header: ['a', 'b'], rows: [['1', mark]] }],
    plots: [{ file: 'p.svg', caption: `plot ${mark}` }],
    verdicts: [{ claim: `first claim ${mark} of ${recipe}`, holds: true, evidence: '1' }, { claim: `second claim ${mark} of ${recipe}`, holds: null, evidence: '2' }],
    trainingSeconds: 60, runs: 4,
  };
}

function writeSummaries(dir: string, recipes: string[], mark: string): void {
  for (const name of recipes) writeReport(recipeDir(dir, name), report(name, mark), { 'p.svg': '<svg xmlns="http://www.w3.org/2000/svg"/>' });
}

describe('the results page keeps the sections of recipes it was not given', () => {
  const page = join(root, 'docs', 'results.md');
  const [a, b, c] = RECIPES.map((r) => r.name);

  it('a second run with one recipe replaces that one and keeps the others verbatim', () => {
    writeSummaries(join(root, 'first'), [a, b, c], 'old');
    expect(writeResultsPage(join(root, 'first'), page).kept).toEqual([]);
    const before = readFileSync(page, 'utf8');
    writeSummaries(join(root, 'second'), [b], 'new');
    const { missing, kept } = writeResultsPage(join(root, 'second'), page);
    expect(kept).toEqual([a, c]);
    expect(missing).toEqual(RECIPES.map((r) => r.name).filter((n) => n !== b));
    const after = readFileSync(page, 'utf8');
    for (const name of [a, c]) expect(after).toContain(reportMarkdown(report(name, 'old'), `results/${name}`));
    expect(after).toContain(reportMarkdown(report(b, 'new'), `results/${b}`));
    expect(after).not.toContain(`claim old of ${b}`);
    expect(after).toContain(`| \`${b}\` | ${report(b, 'new').source} | quick | 2 | first claim new of ${b} | yes |`);
    expect(after).toContain(`|  |  |  |  | second claim new of ${b} | inconclusive |`);
    // The overview keeps recipe order, and what was kept is the earlier page's text.
    const overview = (text: string) => text.split('\n').filter((l) => l.startsWith('| `')).map((l) => l.split('`')[1]);
    expect(overview(after)).toEqual([a, b, c]);
    expect(earlierSections(after).get(a)).toEqual(earlierSections(before).get(a));
    expect(earlierSections(after).get(b)).not.toEqual(earlierSections(before).get(b));
    const notRun = RECIPES.map((r) => r.name).filter((n) => ![a, b, c].includes(n));
    expect(after).toContain(`Not yet run: ${notRun.map((n) => `\`${n}\``).join(', ')}.`);
  });

  it('reads each recipe\'s overview rows and section back', () => {
    const sections = earlierSections(readFileSync(page, 'utf8'));
    expect([...sections.keys()]).toEqual([a, b, c]);
    expect(sections.get(a)!.rows).toHaveLength(2);
    expect(sections.get(a)!.section.startsWith(`## ${RECIPES[0].title} (\`${a}\``)).toBe(true);
    expect(sections.get(a)!.section).toContain('paper old');
    expect(sections.get(a)!.section).not.toContain('## ' + RECIPES[1].title);
  });
});
