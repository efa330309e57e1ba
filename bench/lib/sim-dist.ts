/**
 * The simulator's fleet modules as built JavaScript (dist/, what the CLI runs): the fleet benchmarks
 * time these rather than the TypeScript sources, because under tsx every closure the placement
 * context creates pays a naming helper, which doubles the time.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The built modules the fleet benchmarks use. */
export type SimDist = {
  replay: typeof import('../../src/core/sim/fleet/replay.js');
  policies: typeof import('../../src/core/sim/fleet/policies.js');
  synthetic: typeof import('../../src/core/sim/synthetic.js');
  presets: typeof import('../../src/core/topology/presets/index.js');
  read: typeof import('../../src/adapters/trace/read-trace.js');
};

/** Loads the built modules, or returns why they cannot be loaded. */
export async function loadSimDist(): Promise<SimDist | string> {
  const url = (rel: string): URL => new URL(`../../dist/${rel}`, import.meta.url);
  if (!existsSync(fileURLToPath(url('core/sim/fleet/replay.js')))) return 'dist/ is not built (npm run build)';
  return {
    replay: await import(url('core/sim/fleet/replay.js').href),
    policies: await import(url('core/sim/fleet/policies.js').href),
    synthetic: await import(url('core/sim/synthetic.js').href),
    presets: await import(url('core/topology/presets/index.js').href),
    read: await import(url('adapters/trace/read-trace.js').href),
  };
}
