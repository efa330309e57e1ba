/**
 * Seeded synthetic traces: Poisson arrivals, a discrete size mix, and exponential or lognormal
 * lifetimes. The same spec and seed give the same trace on every platform (rng.ts).
 *
 * Defaults, and why:
 * - size mix: flavours of 1, 2, 4, 8, 16 and 32 vCPUs at 2 GiB per vCPU (the ratio of a 2-socket
 *   host's memory to its hardware threads on the presets, and of most VMs of the Huawei trace), each
 *   half as frequent as the one before (small VMs dominate real fleets);
 * - lifetimes: exponential with a mean of one hour; `lognormal` uses sigma 1.5 around the same
 *   mean (heavy tail: most VMs short, a few living for days, as cloud traces show);
 * - arrival rate: 1 per second unless given; `forLoad` computes the rate that keeps a fleet at a
 *   target vCPU utilisation in steady state (Little's law: rate = load x capacity / (mean vCPUs x
 *   mean lifetime)).
 */
import { makeRng } from './rng.js';
import type { Trace, TraceRequest } from './trace.js';

const GIB = 1024 ** 3;

/** One size of the mix. */
export interface SyntheticSize {
  vcpus: number;
  /** Bytes. */
  memory: number;
  weight: number;
}

/** A synthetic trace's recipe. */
export interface SyntheticSpec {
  count: number;
  seed: number;
  /** Arrivals per second (Poisson). */
  rate?: number;
  /** Mean lifetime in seconds. */
  meanLifetime?: number;
  lifetime?: 'exponential' | 'lognormal';
  /** Sigma of the lognormal (of the log of the lifetime). */
  sigma?: number;
  sizes?: readonly SyntheticSize[];
}

/** The default size mix. */
export const DEFAULT_SIZES: readonly SyntheticSize[] = [1, 2, 4, 8, 16, 32].map((v, i) => ({ vcpus: v, memory: 2 * v * GIB, weight: 2 ** -i }));

const NO_DEVICES: readonly never[] = Object.freeze([]);

/** Mean vCPUs of a size mix. */
export function meanVcpus(sizes: readonly SyntheticSize[] = DEFAULT_SIZES): number {
  const w = sizes.reduce((s, x) => s + x.weight, 0);
  return sizes.reduce((s, x) => s + x.vcpus * x.weight, 0) / w;
}

/** The arrival rate keeping `capacityVcpus` at `load` in steady state (Little's law). */
export function forLoad(load: number, capacityVcpus: number, meanLifetime = 3600, sizes: readonly SyntheticSize[] = DEFAULT_SIZES): number {
  return (load * capacityVcpus) / (meanVcpus(sizes) * meanLifetime);
}

/** Generates the trace (requests sorted by arrival). */
export function syntheticTrace(spec: SyntheticSpec): Trace {
  const rng = makeRng(spec.seed);
  const rate = spec.rate ?? 1;
  const meanLifetime = spec.meanLifetime ?? 3600;
  const sigma = spec.sigma ?? 1.5;
  const sizes = spec.sizes ?? DEFAULT_SIZES;
  const cumulative: number[] = [];
  let acc = 0;
  for (const s of sizes) cumulative.push((acc += s.weight));
  const mu = Math.log(meanLifetime) - (sigma * sigma) / 2; // lognormal mean = exp(mu + sigma^2 / 2)
  const requests: TraceRequest[] = new Array<TraceRequest>(spec.count);
  let t = 0;
  for (let i = 0; i < spec.count; i++) {
    t += -Math.log(1 - rng.next()) / rate;
    const u = rng.next() * acc;
    let k = 0;
    while (k < cumulative.length - 1 && (cumulative[k] as number) <= u) k++;
    const size = sizes[k] as SyntheticSize;
    let lifetime: number;
    if (spec.lifetime === 'lognormal') {
      const z = Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
      lifetime = Math.exp(mu + sigma * z);
    } else lifetime = -Math.log(1 - rng.next()) * meanLifetime;
    requests[i] = { id: String(i), arrival: t, lifetime, vcpus: size.vcpus, memory: size.memory, pageSize: null, devices: NO_DEVICES, numaPolicy: 'auto' };
  }
  return { source: `synthetic:${spec.count}:seed=${spec.seed}`, format: 'synthetic', requests, skipped: 0 };
}
