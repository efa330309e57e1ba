/**
 * Synchronous, exception-free access to a sysfs/procfs tree under a root directory (hwloc's fsroot).
 *
 * Every path is relative to the root ("sys/devices/system/node/node3/distance"), which is also how
 * warnings name files, so a captured tree and the live host read and report identically. Missing
 * files are an ordinary outcome (null / empty list), never an exception for the caller; callers
 * list a directory once and then read only the entries it holds, so the hot path throws nothing.
 *
 * A captured tree is untrusted input. Only regular files are read (a FIFO would block the read
 * forever, /dev/zero never ends), at most MAX_FILE_BYTES of each; links are followed only while they
 * stay inside the root (a link to /etc/passwd, or to a directory outside, is never opened). Whatever
 * is refused becomes a warning naming the file and why, never quoting what it holds.
 */
import { closeSync, constants, type Dirent, existsSync, lstatSync, openSync, readSync, readdirSync, readlinkSync, realpathSync, type Stats } from 'node:fs';
import { resolve } from 'node:path';
import { CpuListError, parseCpuList, parseCpuMask } from '../../core/topology/cpulist.js';
import type { TopologyWarning } from '../../core/topology/model.js';

/** Most bytes read from one file (a /proc/cpuinfo of 8192 CPUs is about 12 MiB). */
export const MAX_FILE_BYTES = 16 * 1024 * 1024;

const SCRATCH = Buffer.allocUnsafe(64 * 1024);
/** What `open` answers for a path that is a link (O_NOFOLLOW refused it). */
const LINK = Symbol('link');
const NO_FOLLOW = constants.O_NOFOLLOW ?? 0;
const NON_BLOCK = constants.O_NONBLOCK ?? 0;

function kindOf(st: Stats): string {
  if (st.isFIFO()) return 'a FIFO';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  if (st.isDirectory()) return 'a directory';
  return 'not a file';
}

/** What a directory entry is, from the directory listing (no stat per file). */
type EntryKind = 'file' | 'link' | 'dir' | 'other' | 'unknown';

function entryKind(d: Dirent): EntryKind {
  if (d.isFile()) return 'file';
  if (d.isSymbolicLink()) return 'link';
  if (d.isDirectory()) return 'dir';
  if (d.isFIFO() || d.isCharacterDevice() || d.isBlockDevice() || d.isSocket()) return 'other';
  return 'unknown';
}

/** A root directory plus the warnings gathered while reading under it. */
export class RootFs {
  readonly root: string;
  readonly warnings: TopologyWarning[] = [];
  /** Listings by root-relative directory: entry names and kinds; null when it cannot be listed. */
  private readonly dirCache = new Map<string, Map<string, EntryKind> | null>();
  private readonly nameCache = new Map<string, string[]>();
  /** Real path of the root; null for "/" (nothing can lie outside it). */
  private readonly realRoot: string | null;
  /** Root-relative directories: whether their real path stays inside the root. */
  private readonly dirInside = new Map<string, boolean>();
  private readonly refused = new Set<string>();

  private readonly prefix: string;

  constructor(root: string) {
    this.root = root;
    this.prefix = root.endsWith('/') ? root : `${root}/`;
    let real: string;
    try {
      real = realpathSync.native(root);
    } catch {
      real = resolve(root);
    }
    this.realRoot = real === '/' ? null : real;
  }

  /** Absolute path of a root-relative path. */
  abs(rel: string): string {
    return this.prefix + rel;
  }

  private inside(real: string): boolean {
    return this.realRoot === null || real === this.realRoot || real.startsWith(`${this.realRoot}/`);
  }

  /**
   * True when a root-relative directory, links resolved, is inside the root. Cached per directory
   * and built on the parent's answer: a component that is not a link stays where its parent is, so
   * only links cost a path resolution.
   */
  private dirIsInside(rel: string): boolean {
    if (this.realRoot === null || rel === '' || rel === '.') return true;
    const hit = this.dirInside.get(rel);
    if (hit !== undefined) return hit;
    const slash = rel.lastIndexOf('/');
    const parent = slash < 0 ? '' : rel.slice(0, slash);
    let ok = this.dirIsInside(parent);
    if (ok) {
      const st = lstatSync(this.abs(rel), { throwIfNoEntry: false });
      if (st?.isSymbolicLink()) {
        try {
          ok = this.inside(realpathSync.native(this.abs(rel)));
        } catch {
          // A dangling link: nothing to read there.
        }
      }
    }
    this.dirInside.set(rel, ok);
    return ok;
  }

  /** The listing of a directory inside the tree (cached); null when it cannot be listed. */
  private entries(rel: string): Map<string, EntryKind> | null {
    const hit = this.dirCache.get(rel);
    if (hit !== undefined) return hit;
    let out: Map<string, EntryKind> | null = null;
    if (this.dirIsInside(rel)) {
      try {
        out = new Map(readdirSync(rel === '' ? this.root : this.abs(rel), { withFileTypes: true }).map((d) => [d.name, entryKind(d)]));
      } catch {
        out = null;
      }
    }
    this.dirCache.set(rel, out);
    return out;
  }

  /** Records (once per file) why a file is not read. */
  private refuse(rel: string, why: string): null {
    if (!this.refused.has(rel)) {
      this.refused.add(rel);
      this.warn(rel, why);
    }
    return null;
  }

  /**
   * File content up to the first NUL byte (as C readers see it), or null when it cannot be read.
   * Only regular files inside the root, at most MAX_FILE_BYTES (see the module comment): in a
   * captured tree, what the path is comes from lstat before anything is opened (opening a device can
   * have effects); the open neither blocks (a FIFO) nor follows a link swapped in meanwhile.
   */
  read(rel: string): string | null {
    const text = this.readRaw(rel);
    if (text === null) return null;
    const nul = text.indexOf('\0');
    return nul < 0 ? text : text.slice(0, nul);
  }

  /** A binary file's bytes (a PCI function's `config`), under the same rules as read(); null when it cannot be read. */
  readBytes(rel: string): Uint8Array | null {
    const text = this.readRaw(rel);
    return text === null ? null : Uint8Array.from(Buffer.from(text, 'latin1'));
  }

  /** The whole file as latin1 text (NUL bytes kept), or null. */
  private readRaw(rel: string): string | null {
    const slash = rel.lastIndexOf('/');
    const dir = slash < 0 ? '' : rel.slice(0, slash);
    if (!this.dirIsInside(dir)) {
      return this.exists(rel) ? this.refuse(rel, 'lies under a link that leads outside the tree; not read') : null;
    }
    let target = this.abs(rel);
    if (this.realRoot === null) {
      // The live root: sysfs and procfs hold no FIFOs or device nodes, so the open (which neither
      // blocks nor follows a link) stands for the look; only links are looked at (below).
      const text = this.open(rel, target);
      if (text !== LINK) return text;
    }
    let st = lstatSync(target, { throwIfNoEntry: false });
    if (!st) return null;
    if (st.isSymbolicLink()) {
      let real: string;
      try {
        real = realpathSync.native(target);
      } catch {
        return null;
      }
      if (!this.inside(real)) return this.refuse(rel, 'is a link to a file outside the tree; not read');
      st = lstatSync(real, { throwIfNoEntry: false });
      if (!st) return null;
      target = real;
    }
    if (!st.isFile()) return this.refuse(rel, `is ${kindOf(st)}, not a regular file; not read`);
    const text = this.open(rel, target);
    return text === LINK ? null : text;
  }

  /** Reads a file (capped), opened without blocking and without following a link (LINK when it is one). */
  private open(rel: string, target: string): string | null | typeof LINK {
    let text: string;
    try {
      const fd = openSync(target, constants.O_RDONLY | NON_BLOCK | NO_FOLLOW);
      try {
        const n = readSync(fd, SCRATCH, 0, SCRATCH.length, 0);
        if (n < SCRATCH.length) text = SCRATCH.toString('latin1', 0, n);
        else {
          const more = readCapped(fd, n);
          if (more === null) return this.refuse(rel, `holds more than the ${MAX_FILE_BYTES} bytes read from any file; not read`);
          text = more;
        }
      } finally {
        closeSync(fd);
      }
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'ELOOP' ? LINK : null;
    }
    return text;
  }

  /** Trimmed file content, or null. */
  readTrim(rel: string): string | null {
    const text = this.read(rel);
    return text === null ? null : text.trim();
  }

  /**
   * Entry names of a directory (unsorted as the OS gives them), or [] when it does not exist or
   * lies outside the tree. Cached.
   */
  list(rel: string): string[] {
    const hit = this.nameCache.get(rel);
    if (hit) return hit;
    if (!this.dirIsInside(rel) && this.exists(rel)) this.refuse(rel, 'is a link to a directory outside the tree; not read');
    const names = [...(this.entries(rel)?.keys() ?? [])];
    this.nameCache.set(rel, names);
    return names;
  }

  /** True when a directory exists inside the tree and can be listed (an empty directory counts). */
  isDir(rel: string): boolean {
    if (!this.dirIsInside(rel)) {
      if (this.exists(rel)) this.refuse(rel, 'is a link to a directory outside the tree; not read');
      return false;
    }
    return this.entries(rel) !== null;
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

/** Reads the rest of a file after its first `have` bytes (in SCRATCH); null beyond MAX_FILE_BYTES. */
function readCapped(fd: number, have: number): string | null {
  const chunks: Buffer[] = [Buffer.from(SCRATCH.subarray(0, have))];
  let total = have;
  for (;;) {
    const buf = Buffer.allocUnsafe(Math.min(1024 * 1024, MAX_FILE_BYTES + 1 - total));
    const n = readSync(fd, buf, 0, buf.length, total);
    if (n === 0) break;
    chunks.push(buf.subarray(0, n));
    total += n;
    if (total > MAX_FILE_BYTES) return null;
  }
  return Buffer.concat(chunks, total).toString('latin1');
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
