// Build time: cuts the definitions named in SOURCE_ANCHORS out of reference/ (with the
// comment block above each, which holds its equation), for the step-through's source panes.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SOURCE_ANCHORS, type AnchorId, type SourceSnippet, type SourceSnippets } from './step/anchors.ts';

/** Net count of opening brackets on a line, outside string literals and comments. */
function bracketBalance(line: string): number {
  if (/^\s*(\/\*|\*)/.test(line)) return 0; // a block-comment line (its apostrophes are no quotes)
  let balance = 0;
  let quote: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote !== null) {
      if (c === '\\') i++;
      else if (c === quote) quote = null;
      continue;
    }
    if (c === '/' && line[i + 1] === '/') break;
    if (c === "'" || c === '"' || c === '`') quote = c;
    else if ('({['.includes(c)) balance++;
    else if (')}]'.includes(c)) balance--;
  }
  return balance;
}

/**
 * The definition of `symbol` in `source`: a top-level function/const/class, or a method.
 * It starts at the declaration (plus the comment block right above it) and ends where its
 * brackets close.
 */
export function cutDefinition(source: string, file: string, symbol: string): SourceSnippet {
  const lines = source.split('\n');
  const declaration = new RegExp(`^(export )?(async )?(function|const|class) ${symbol}\\b|^\\s+(private |public )?${symbol}\\(`);
  const start = lines.findIndex((l) => declaration.test(l));
  if (start < 0) throw new Error(`web build: ${file} defines no '${symbol}' (src/web/step/anchors.ts names it): update the anchor`);
  let end = start, depth = 0;
  for (; end < lines.length; end++) {
    depth += bracketBalance(lines[end]);
    if (depth <= 0 && /[;}]\s*$/.test(lines[end])) break;
  }
  if (end === lines.length) throw new Error(`web build: the definition of '${symbol}' in ${file} never closes`);
  let first = start;
  while (first > 0 && /^\s*(\/\/|\/\*\*|\*)/.test(lines[first - 1])) first--;
  return { file, symbol, startLine: first + 1, lines: lines.slice(first, end + 1) };
}

export function extractSources(root: string): SourceSnippets {
  const out = {} as SourceSnippets;
  for (const [id, { file, symbol }] of Object.entries(SOURCE_ANCHORS) as [AnchorId, { file: string; symbol: string }][]) {
    out[id] = cutDefinition(readFileSync(join(root, file), 'utf8'), file, symbol);
  }
  return out;
}
