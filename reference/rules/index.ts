import { bp } from './bp.ts';
import { dfa } from './dfa.ts';
import { fa } from './fa.ts';
import { DEFAULT_LDFA, ldfa, type LdfaOptions } from './ldfa.ts';
import { RULE_NAMES, type Rule, type RuleName } from './rule.ts';
import type { Tensor } from '../tensor.ts';

export { bp, dfa, fa, ldfa };

export function createRule(name: RuleName, options: { ldfa?: Partial<LdfaOptions>; inject?: Record<string, Tensor> } = {}): Rule {
  switch (name) {
    case 'bp': return bp();
    case 'fa': return fa({ inject: options.inject });
    case 'dfa': return dfa({ inject: options.inject });
    case 'ldfa': return ldfa({ ...DEFAULT_LDFA, ...options.ldfa, inject: options.inject });
    default: throw new Error(`unknown rule '${name as string}': allowed are ${RULE_NAMES.join(', ')}`);
  }
}
