import { bp } from './bp.ts';
import { brsf } from './brsf.ts';
import { dfa } from './dfa.ts';
import { fa } from './fa.ts';
import { frsf } from './frsf.ts';
import { kp, type KpOptions } from './kp.ts';
import { DEFAULT_LDFA, ldfa, type LdfaOptions } from './ldfa.ts';
import { DEFAULT_PFA, pfa, type PfaOptions } from './pfa.ts';
import { RULE_NAMES, type Rule, type RuleName } from './rule.ts';
import { DEFAULT_USF, usf, type UsfOptions } from './usf.ts';
import { wm, type WmOptions } from './wm.ts';
import type { InitName } from '../rng.ts';
import type { Tensor } from '../tensor.ts';

export { bp, brsf, dfa, fa, frsf, kp, ldfa, pfa, usf, wm };

/** Each rule's own options; a rule reads only its own entry. */
export interface RuleOptions {
  ldfa?: Partial<LdfaOptions>;
  usf?: Partial<UsfOptions>;
  /** brSF, frSF: the distribution of the magnitudes M (default FA's B initialiser, 'uniform'). */
  signMagnitudes?: InitName;
  kp?: Partial<KpOptions>;
  /** wm has no defaults for batch and warm-up: they depend on the training run (one epoch of steps). */
  wm?: Omit<WmOptions, 'inject'>;
  pfa?: Partial<PfaOptions>;
  inject?: Record<string, Tensor>;
}

export function createRule(name: RuleName, options: RuleOptions = {}): Rule {
  const inject = options.inject;
  switch (name) {
    case 'bp': return bp();
    case 'fa': return fa({ inject });
    case 'dfa': return dfa({ inject });
    case 'ldfa': return ldfa({ ...DEFAULT_LDFA, ...options.ldfa, inject });
    case 'usf': return usf({ ...DEFAULT_USF, ...options.usf });
    case 'brsf': return brsf({ magnitudes: options.signMagnitudes ?? 'uniform' });
    case 'frsf': return frsf({ magnitudes: options.signMagnitudes ?? 'uniform', inject });
    case 'kp': return kp({ init: 'random', ...options.kp, inject });
    case 'wm': {
      if (!options.wm) throw new Error('rule wm needs its options (σ, ρ, noise batch, warm-up steps)');
      return wm({ ...options.wm, inject });
    }
    case 'pfa': return pfa({ ...DEFAULT_PFA, ...options.pfa, inject });
    default: throw new Error(`unknown rule '${name as string}': allowed are ${RULE_NAMES.join(', ')}`);
  }
}
