/**
 * Synchronous, exception-free access to a sysfs/procfs tree under a root directory (hwloc's fsroot).
 *
 * Every path is relative to the root ("sys/devices/system/node/node3/distance"), which is also how
 * warnings name files, so a captured tree and the live host read and report identically. Missing
 * files are an ordinary outcome (null / empty list), never an exception for the caller; callers
 * list a directory once and then read only the entries it holds, so the hot path throws nothing.
 */
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { CpuListError, parseCpuList, parseCpuMask } from '../../core/topology/cpulist.js';
import type { TopologyWarning } from '../../core/topology/model.js';

/** A root directory plus the warnings gathered while reading under it. */
export class RootFs {
  readonly root: string;
  readonly warnings: TopologyWarning[] = [];
  private readonly dirCache = new Map<string, string[]>();

  constructor(root: string) {
    this.root = root;
  }

  /** Absolute path of a root-relative path. */
  abs(rel: string): string {
    return join(this.root, rel);
  }

  /** File content up to the first NUL byte (as C readers see it), or null when it cannot be read. */
  read(rel: string): string | null {
    let text: string;
    try {
      text = readFileSync(join(this.root, rel), 'latin1');
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
      names = readdirSync(join(this.root, rel));
    } catch {
      names = [];
    }
    this.dirCache.set(rel, names);
    return names;
  }

  /** True when a directory exists and can be listed (an empty directory counts). */
  isDir(rel: string): boolean {
    try {
      readdirSync(join(this.root, rel));
      return true;
    } catch {
      return false;
    }
  }

  /** Target of a symbolic link, or null. */
  readlink(rel: string): string | null {
    try {
      return readlinkSync(join(this.root, rel));
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
