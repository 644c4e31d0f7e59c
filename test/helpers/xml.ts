// A minimal XML well-formedness checker for generated SVG (no DOM available in Node):
// tags balance and nest, attributes are quoted and unique, text and attribute values contain
// no raw '<' and only known entities. Returns a list of problems (empty = well-formed).
const NAME = /^[A-Za-z_:][\w.:-]*$/;
const ENTITY = /&(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/g;

function checkText(where: string, text: string, problems: string[]): void {
  const stripped = text.replace(ENTITY, '');
  if (stripped.includes('&')) problems.push(`${where}: unescaped '&' in ${JSON.stringify(text.slice(0, 60))}`);
  if (stripped.includes('<')) problems.push(`${where}: raw '<' in ${JSON.stringify(text.slice(0, 60))}`);
}

export function xmlProblems(doc: string): string[] {
  const problems: string[] = [];
  const stack: string[] = [];
  let roots = 0;
  let pos = 0;
  while (pos < doc.length) {
    const lt = doc.indexOf('<', pos);
    const text = lt < 0 ? doc.slice(pos) : doc.slice(pos, lt);
    if (text.trim() !== '') {
      if (stack.length === 0) problems.push(`text outside the root element: ${JSON.stringify(text.slice(0, 40))}`);
      checkText('text', text, problems);
    }
    if (lt < 0) break;
    if (doc.startsWith('<!--', lt)) {
      const end = doc.indexOf('-->', lt + 4);
      if (end < 0) { problems.push('unterminated comment'); break; }
      pos = end + 3; continue;
    }
    if (doc.startsWith('<?', lt)) {
      const end = doc.indexOf('?>', lt + 2);
      if (end < 0) { problems.push('unterminated processing instruction'); break; }
      pos = end + 2; continue;
    }
    // Find the tag end, skipping quoted attribute values.
    let i = lt + 1, quote = '';
    for (; i < doc.length; i++) {
      const ch = doc[i];
      if (quote) { if (ch === quote) quote = ''; } else if (ch === '"' || ch === "'") quote = ch; else if (ch === '>') break;
    }
    if (i >= doc.length) { problems.push(`unterminated tag at ${lt}`); break; }
    const inner = doc.slice(lt + 1, i);
    pos = i + 1;
    if (inner.startsWith('/')) {
      const name = inner.slice(1).trim();
      const open = stack.pop();
      if (open !== name) problems.push(`closing </${name}> but <${open ?? '(none)'}> is open`);
      continue;
    }
    const selfClosing = inner.endsWith('/');
    const body = selfClosing ? inner.slice(0, -1) : inner;
    const m = /^([^\s/>]+)/.exec(body);
    if (m === null || !NAME.test(m[1])) { problems.push(`bad tag name in <${inner.slice(0, 30)}>`); continue; }
    const name = m[1];
    let rest = body.slice(name.length);
    const seen = new Set<string>();
    const attr = /^\s+([^\s=]+)\s*=\s*("([^"]*)"|'([^']*)')/;
    for (;;) {
      const a = attr.exec(rest);
      if (a === null) break;
      if (!NAME.test(a[1])) problems.push(`<${name}>: bad attribute name ${a[1]}`);
      if (seen.has(a[1])) problems.push(`<${name}>: duplicate attribute ${a[1]}`);
      seen.add(a[1]);
      checkText(`<${name} ${a[1]}>`, a[3] ?? a[4] ?? '', problems);
      rest = rest.slice(a[0].length);
    }
    if (rest.trim() !== '') problems.push(`<${name}>: malformed attributes ${JSON.stringify(rest.slice(0, 40))}`);
    if (stack.length === 0) roots++;
    if (!selfClosing) stack.push(name);
  }
  if (stack.length > 0) problems.push(`unclosed elements: ${stack.join(' > ')}`);
  if (roots !== 1) problems.push(`${roots} root elements; exactly 1 is required`);
  return problems;
}
