/**
 * mulberry32: a tiny seeded pseudo-random generator returning floats in [0, 1). Deterministic on
 * every platform; used wherever a test, a fabric or a generator needs reproducible choices from a
 * printed seed. (The simulator's own generator, sim/rng.ts, is a longer-period xoshiro128**.)
 */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
