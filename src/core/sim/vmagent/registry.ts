/** The policies of the benchmark mode, by name. */
import { vmagentBestFit } from './best-fit.js';
import { vmagentFirstFit } from './first-fit.js';
import { createVmagentNumaplan } from './numaplan.js';
import type { VmagentPolicy } from './policy.js';

const FACTORIES: Record<string, () => VmagentPolicy> = {
  numaplan: createVmagentNumaplan,
  'first-fit': () => vmagentFirstFit,
  'vmagent-best-fit': () => vmagentBestFit,
};

/** Names of the benchmark-mode policies, in report order. */
export const VMAGENT_POLICIES: readonly string[] = Object.keys(FACTORIES);

/** A fresh instance of a benchmark-mode policy, or undefined for an unknown name. */
export function vmagentPolicy(name: string): VmagentPolicy | undefined {
  return FACTORIES[name]?.();
}
