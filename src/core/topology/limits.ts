/**
 * The largest hosts numaplan models, as named bounds. Every list a user or a source hands over
 * (cpulists, cpumasks, node lists, numactl text, hwloc bitmaps) is checked against them before it is
 * expanded, so that a few bytes of input ("0-4194303") can never turn into millions of entries.
 */

/**
 * Largest CPU OS index: Linux's NR_CPUS is at most 8192 on every architecture today (x86 MAXSMP,
 * arm64, powerpc); eight times that leaves room without letting a range run away.
 */
export const MAX_CPU_ID = 65_535;

/** Largest NUMA node id: Linux's MAX_NUMNODES is at most 1024 (NODES_SHIFT 10). */
export const MAX_NODE_ID = 1023;
