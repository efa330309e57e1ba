/**
 * Synchronous, exception-free access to a sysfs/procfs tree under a root directory (hwloc's fsroot).
 *
 * Every path is relative to the root ("sys/devices/system/node/node3/distance"), which is also how
 * warnings name files, so a captured tree and the live host read and report identically. Missing
 * files are an ordinary outcome (null / empty list), never an exception for the caller; callers
 * list a directory once and then read only the entries it holds, so the hot path throws nothing.
 */
import { closeSync, existsSync, openSync, readFileSync, readSync, readdirSync, readlinkSync } from 'node:fs';
import { CpuListError, parseCpuList, parseCpuMask } from '../../core/topology/cpulist.js';
import type { TopologyWarning } from '../../core/topology/model.js';

const SCRATCH = Buffer.allocUnsafe(64 * 1024);

/** A root directory plus the warnings gathered while reading under it. */
export class RootFs {
  readonly root: string;
  readonly warnings: TopologyWarning[] = [];
  private readonly dirCache = new Map<string, string[]>();

  private readonly prefix: string;

  constructor(root: string) {
    this.root = root;
    this.prefix = root.endsWith('/') ? root : `${root}/`;
  }

  /** Absolute path of a root-relative path. */
  abs(rel: string): string {
    return this.prefix + rel;
  }

  /** File content up to the first NUL byte (as C readers see it), or null when it cannot be read. */
  read(rel: string): string | null {
    let text: string;
    const path = this.abs(rel);
    try {
      // sysfs files are small: one read into a shared buffer avoids readFileSync's stat and allocation.
      const fd = openSync(path, 'r');
      try {
        const n = readSync(fd, SCRATCH, 0, SCRATCH.length, 0);
        text = n < SCRATCH.length ? SCRATCH.toString('latin1', 0, n) : readFileSync(path, 'latin1');
      } finally {
        closeSync(fd);
      }
    } catch {
      return null;
    }
    const nul = text.indexOf('\0');
    return nul < 0 ? text : text.slice(0, nul);
  }

  /** Trimmed file content, or null. */
  readTrim(rel: string): string | null {
    const text = this.read(rel);
    return text === null ? null : text.trim();
  }

  /** Entry names of a directory (unsorted as the OS gives them), or [] when it does not exist. Cached. */
  list(rel: string): string[] {
    const hit = this.dirCache.get(rel);
    if (hit) return hit;
    let names: string[];
    try {
      names = readdirSync(this.abs(rel));
    } catch {
      names = [];
    }
    this.dirCache.set(rel, names);
    return names;
  }

  /** True when a directory exists and can be listed (an empty directory counts). */
  isDir(rel: string): boolean {
    try {
      readdirSync(this.abs(rel));
      return true;
    } catch {
      return false;
    }
  }

  /** True when the path exists (no exception is thrown either way: cheaper than a failing read). */
  exists(rel: string): boolean {
    return existsSync(this.abs(rel));
  }

  /** Target of a symbolic link, or null. */
  readlink(rel: string): string | null {
    try {
      return readlinkSync(this.abs(rel));
    } catch {
      return null;
    }
  }

  /** Records a warning about a root-relative path. */
  warn(rel: string, message: string): void {
    this.warnings.push({ path: rel, message });
  }

  /** A decimal (or 0x hex) integer file; null when missing; warns and returns null when malformed. */
  readInt(rel: string): number | null {
    const text = this.readTrim(rel);
    if (text === null) return null;
    const value = /^-?\d+$/.test(text) ? Number(text) : /^0x[0-9a-f]+$/i.test(text) ? Number.parseInt(text, 16) : Number.NaN;
    if (!Number.isSafeInteger(value)) {
      this.warn(rel, `expected an integer, found "${text.slice(0, 40)}"; ignored`);
      return null;
    }
    return value;
  }

  /** A cpulist file ("0-3,8-11"); null when missing; warns and returns null when malformed. */
  readList(rel: string): number[] | null {
    const text = this.read(rel);
    if (text === null) return null;
    try {
      return parseCpuList(text);
    } catch (err) {
      if (!(err instanceof CpuListError)) throw err;
      this.warn(rel, `${err.message}; ignored`);
      return null;
    }
  }

  /** A cpumask file ("ff,00000001"); null when missing; warns and returns null when malformed. */
  readMask(rel: string): number[] | null {
    const text = this.read(rel);
    if (text === null) return null;
    const fast = quickMask(text);
    if (fast !== null) return fast;
    try {
      return parseCpuMask(text);
    } catch (err) {
      if (!(err instanceof CpuListError)) throw err;
      this.warn(rel, `${err.message}; ignored`);
      return null;
    }
  }
}

/** Parses "32K", "1024K", "8M", "12345" (bytes) as sysfs cache/size files print them. */
export function parseSysfsSize(text: string): number | null {
  const m = /^(\d+)\s*([KMG]?)$/i.exec(text.trim());
  if (!m) return null;
  const unit = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[(m[2] ?? '').toUpperCase()] ?? 1;
  return Number(m[1]) * unit;
}

/**
 * The common well-formed cpumask ("00000000,0000ff0f\n"), parsed without sorting: words are walked
 * from the least significant, so indexes come out in order. Null for anything unusual, which the
 * general parser then handles (and reports).
 */
function quickMask(text: string): number[] | null {
  const words = text.trim().split(',');
  const out: number[] = [];
  for (let wi = 0; wi < words.length; wi++) {
    const word = words[words.length - 1 - wi] as string;
    if (word.length === 0 || word.length > 8) return null;
    let value = 0;
    for (let i = 0; i < word.length; i++) {
      const d = HEX.indexOf(word.charCodeAt(i) | 0x20);
      if (d < 0) return null;
      value = value * 16 + d;
    }
    for (let bit = 0; value !== 0; bit++, value = Math.floor(value / 2)) {
      if (value % 2 === 1) out.push(wi * 32 + bit);
    }
  }
  return out;
}

const HEX = [...'0123456789abcdef'].map((c) => c.charCodeAt(0));
