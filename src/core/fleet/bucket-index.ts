/**
 * Host indexes of the fleet, so that one decision does not scan every host.
 *
 * - `BucketIndex`: hosts bucketed by an integer key (e.g. the free vCPU slots of their best node).
 *   `scan(from, visit)` walks buckets from `from` upwards (tightest first, which is best-fit order)
 *   and stops when `visit` returns false. Insert/move are O(1) (linked lists in typed arrays).
 * - `MaxTree`: a segment tree over host ids of two per-host maxima (e.g. free vCPU slots and free
 *   memory of the host's best node); `leftmost(from, cpu, mem)` finds the lowest host id at or after
 *   `from` whose maxima both reach the need, in O(log n) plus false positives (the two maxima may sit
 *   on different nodes: the caller verifies and continues from the next id).
 *
 * Both grow as hosts are added (the service registers hosts at run time); a host id is never
 * reused while it is in an index (`remove` takes it out).
 */

function grow(a: Int32Array, size: number, fill: number): Int32Array {
  const out = new Int32Array(size).fill(fill);
  out.set(a);
  return out;
}

/** Hosts in buckets by an integer key (each bucket a doubly linked list over typed arrays, in insertion order). */
export class BucketIndex {
  private readonly head: number[] = [];
  private readonly tail: number[] = [];
  private next: Int32Array;
  private prev: Int32Array;
  private keyOf: Int32Array;

  constructor(hosts = 16) {
    const n = Math.max(1, hosts);
    this.keyOf = new Int32Array(n).fill(-1);
    this.next = new Int32Array(n).fill(-1);
    this.prev = new Int32Array(n).fill(-1);
  }

  private ensure(host: number): void {
    if (host < this.keyOf.length) return;
    const size = Math.max(host + 1, this.keyOf.length * 2);
    this.keyOf = grow(this.keyOf, size, -1);
    this.next = grow(this.next, size, -1);
    this.prev = grow(this.prev, size, -1);
  }

  private unlink(host: number, old: number): void {
    const p = this.prev[host] as number;
    const n = this.next[host] as number;
    if (p >= 0) this.next[p] = n;
    else this.head[old] = n;
    if (n >= 0) this.prev[n] = p;
    else this.tail[old] = p;
  }

  /** Puts (or moves) a host under `key` (>= 0), at the end of its bucket. */
  set(host: number, key: number): void {
    this.ensure(host);
    const old = this.keyOf[host] as number;
    if (old === key) return;
    if (old >= 0) this.unlink(host, old);
    for (let k = this.head.length; k <= key; k++) {
      this.head.push(-1);
      this.tail.push(-1);
    }
    const t = this.tail[key] as number;
    this.prev[host] = t;
    this.next[host] = -1;
    if (t >= 0) this.next[t] = host;
    else this.head[key] = host;
    this.tail[key] = host;
    this.keyOf[host] = key;
  }

  /** Takes a host out of the index. */
  remove(host: number): void {
    if (host >= this.keyOf.length) return;
    const old = this.keyOf[host] as number;
    if (old < 0) return;
    this.unlink(host, old);
    this.keyOf[host] = -1;
    this.next[host] = -1;
    this.prev[host] = -1;
  }

  /** Visits hosts with key >= from, lowest key first (insertion order inside a bucket) until visit returns false; visit must not move hosts. */
  scan(from: number, visit: (host: number) => boolean): void {
    for (let k = Math.max(0, Math.ceil(from)); k < this.head.length; k++) {
      for (let h = this.head[k] as number; h >= 0; h = this.next[h] as number) if (!visit(h)) return;
    }
  }
}

/** Segment tree of two maxima per host, for leftmost-fit queries. */
export class MaxTree {
  private size: number;
  private cpu: Float64Array;
  private mem: Float64Array;

  constructor(hosts = 16) {
    let size = 1;
    while (size < hosts) size *= 2;
    this.size = size;
    this.cpu = new Float64Array(2 * size).fill(-1);
    this.mem = new Float64Array(2 * size).fill(-1);
  }

  /** Doubles the tree until `host` fits, keeping every leaf. */
  private ensure(host: number): void {
    if (host < this.size) return;
    let size = this.size;
    while (size <= host) size *= 2;
    const cpu = new Float64Array(2 * size).fill(-1);
    const mem = new Float64Array(2 * size).fill(-1);
    cpu.set(this.cpu.subarray(this.size, 2 * this.size), size);
    mem.set(this.mem.subarray(this.size, 2 * this.size), size);
    for (let i = size - 1; i >= 1; i--) {
      cpu[i] = Math.max(cpu[2 * i] as number, cpu[2 * i + 1] as number);
      mem[i] = Math.max(mem[2 * i] as number, mem[2 * i + 1] as number);
    }
    this.size = size;
    this.cpu = cpu;
    this.mem = mem;
  }

  /** Sets a host's maxima (-1, -1 takes it out); O(log n), and stops climbing where an ancestor's maxima do not change. */
  set(host: number, cpu: number, mem: number): void {
    this.ensure(host);
    let i = host + this.size;
    if (this.cpu[i] === cpu && this.mem[i] === mem) return;
    this.cpu[i] = cpu;
    this.mem[i] = mem;
    for (i >>= 1; i >= 1; i >>= 1) {
      const c = Math.max(this.cpu[2 * i] as number, this.cpu[2 * i + 1] as number);
      const m = Math.max(this.mem[2 * i] as number, this.mem[2 * i + 1] as number);
      // The rest of the path depends only on this node's maxima (its sibling subtrees are unchanged).
      if (c === this.cpu[i] && m === this.mem[i]) return;
      this.cpu[i] = c;
      this.mem[i] = m;
    }
  }

  /** True when the fleet-wide maxima reach (cpu, mem): necessary (not sufficient) for any host to; O(1). */
  mayReach(cpu: number, mem: number): boolean {
    return (this.cpu[1] as number) >= cpu && (this.mem[1] as number) >= mem;
  }

  /** Lowest host id >= from whose maxima reach (cpu, mem), or -1. */
  leftmost(from: number, cpu: number, mem: number): number {
    return this.find(1, 0, this.size, from, cpu, mem);
  }

  private find(i: number, lo: number, hi: number, from: number, cpu: number, mem: number): number {
    if (hi <= from || (this.cpu[i] as number) < cpu || (this.mem[i] as number) < mem) return -1;
    if (hi - lo === 1) return lo;
    const mid = (lo + hi) >> 1;
    const left = this.find(2 * i, lo, mid, from, cpu, mem);
    return left >= 0 ? left : this.find(2 * i + 1, mid, hi, from, cpu, mem);
  }
}
