/**
 * The arithmetic of splitting a VM over a node set, shared by the evaluator, the assignment of
 * explicit CPUs and the baselines: water filling (as even as the capacities allow), proportional
 * splits in whole pages, the unit memory is split in, and the fewest nodes whose largest
 * capacities reach a total. Pure functions over plain numbers; the `...Into` forms write into
 * caller-owned scratch arrays so that ranking many node sets allocates nothing.
 *
 * Remainders: water filling gives nodes that cannot take an even share all they can, the others an
 * even share, and what an even share leaves over one unit each to the lowest positions (for a node
 * set in ascending ids: the lowest node ids); proportional splits give remainder pages to the first
 * entries.
 */

/** Spreads `total` over capacities as evenly as they allow, in units of `unit`. Null if it cannot. */
export function waterFill(total: number, caps: readonly number[], unit = 1): number[] | null {
  const len = caps.length;
  const out = new Array<number>(len).fill(0);
  return waterFillInto(total, caps, len, unit, out, new Array<number>(len), new Array<number>(len)) ? out : null;
}

/**
 * waterFill on the first `len` entries of `caps`, writing the parts to `out` (scratch: `capUnits`,
 * `order`, at least `len` long). False if the capacities cannot hold the total.
 */
export function waterFillInto(total: number, caps: ArrayLike<number>, len: number, unit: number, out: number[], capUnits: number[], order: number[]): boolean {
  const units = Math.ceil(total / unit);
  let sum = 0;
  for (let i = 0; i < len; i++) {
    const c = Math.floor((caps[i] as number) / unit);
    capUnits[i] = c;
    sum += c;
    out[i] = -1;
  }
  if (sum < units) return false;
  orderInto(capUnits, len, order);
  // Smallest capacities first: a node that cannot take the even share of what is left takes all it can.
  let remaining = units;
  let left = len;
  for (let k = 0; k < len; k++) {
    const i = order[k] as number;
    const c = capUnits[i] as number;
    if (c > Math.floor(remaining / left)) break;
    out[i] = c;
    remaining -= c;
    left--;
  }
  // The others share the rest evenly; what an even share leaves over goes one unit each to the
  // lowest positions among them (each has room: its capacity is above the even share).
  if (left > 0) {
    const level = Math.floor(remaining / left);
    let extra = remaining - level * left;
    for (let i = 0; i < len; i++) {
      if ((out[i] as number) >= 0) continue;
      out[i] = level + (extra > 0 ? 1 : 0);
      if (extra > 0) extra--;
    }
  }
  for (let i = 0; i < len; i++) out[i] = (out[i] as number) * unit;
  const excess = units * unit - total;
  if (excess > 0) {
    let big = 0;
    for (let i = 0; i < len; i++) if ((out[i] as number) >= (out[big] as number)) big = i;
    out[big] = (out[big] as number) - excess;
  }
  return true;
}

/** Indexes 0..len-1 into `order`, by key ascending, ties by index (insertion sort for the few nodes of a set). */
export function orderInto(keys: readonly number[], len: number, order: number[]): void {
  if (len > 32) {
    const idx = Array.from({ length: len }, (_, i) => i).sort((x, y) => (keys[x] as number) - (keys[y] as number) || x - y);
    for (let i = 0; i < len; i++) order[i] = idx[i] as number;
    return;
  }
  for (let i = 0; i < len; i++) {
    const k = keys[i] as number;
    let j = i;
    while (j > 0 && (keys[order[j - 1] as number] as number) > k) {
      order[j] = order[j - 1] as number;
      j--;
    }
    order[j] = i;
  }
}

/** Splits `total` bytes in proportion to weights, in whole pages; remainder pages to the first entries. */
export function proportional(total: number, weights: readonly number[], page: number): number[] {
  const out = new Array<number>(weights.length);
  proportionalInto(total, weights, weights.length, page, out);
  return out;
}

/** proportional on the first `len` weights, writing to `out`. */
export function proportionalInto(total: number, weights: ArrayLike<number>, len: number, page: number, out: number[]): void {
  const pages = total / page;
  let wsum = 0;
  for (let i = 0; i < len; i++) wsum += weights[i] as number;
  let given = 0;
  for (let i = 0; i < len; i++) {
    const p = Math.floor((pages * (weights[i] as number)) / wsum);
    out[i] = p;
    given += p;
  }
  let rest = pages - given;
  for (let i = 0; rest > 0; i = (i + 1) % len) {
    if ((weights[i] as number) > 0) {
      out[i] = (out[i] as number) + 1;
      rest--;
    }
  }
  for (let i = 0; i < len; i++) out[i] = (out[i] as number) * page;
}

const fewScratch: number[] = [];

/**
 * How many of the largest `value(id)` over `ids` it takes for their sum to reach `target` (largest
 * first); infinity when all of them do not. Sorts a shared scratch array (evaluation is synchronous).
 */
export function fewestToReach(ids: readonly number[], value: (id: number) => number, target: number): number {
  const len = ids.length;
  const vs = fewScratch;
  vs.length = len;
  for (let i = 0; i < len; i++) vs[i] = value(ids[i] as number);
  if (len > 32) vs.sort((x, y) => y - x);
  else {
    // Insertion sort, descending: short node lists.
    for (let i = 1; i < len; i++) {
      const v = vs[i] as number;
      let j = i;
      while (j > 0 && (vs[j - 1] as number) < v) {
        vs[j] = vs[j - 1] as number;
        j--;
      }
      vs[j] = v;
    }
  }
  let k = 0;
  let acc = 0;
  while (acc < target && k < len) acc += vs[k++] as number;
  return acc < target ? Number.POSITIVE_INFINITY : k;
}

/** One MiB: the unit hypervisors size guest NUMA nodes in (xl's size=, libvirt aligns cells to it). */
export const MIB = 1024 * 1024;

/**
 * The unit memory is split over nodes in: whole MiB, or the page size when larger, so that every
 * guest node is a whole number of MiB and the nodes sum exactly to the total; the page size when
 * the total itself is not a whole number of that unit.
 */
export function memorySplitUnit(total: number, pageSize: number): number {
  const unit = Math.max(pageSize, MIB);
  return total % unit === 0 ? unit : pageSize;
}
