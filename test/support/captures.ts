/**
 * hwloc's captured Linux trees (sysfs+procfs tarballs from its test suite), extracted once into a
 * cache folder under the OS temp dir and reused by every suite and benchmark in the run (and by
 * later runs while the tarball is unchanged). Also: the .test descriptions that name each capture's
 * expected output, and small parsers for those outputs (lstopo console text and hwloc XML).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative } from 'node:path';
import { promisify } from 'node:util';
import { dataSet } from './data.js';

const run = promisify(execFile);

/** One hwloc .test file whose source is a Linux tarball. */
export interface CaptureTest {
  /** Test name, e.g. "linux/16amd64-8n2c-cpusets-xml". */
  name: string;
  /** Folder of the .test file. */
  dir: string;
  /** Tarball path. */
  tarball: string;
  /** Expected output (.console or .xml) path. */
  target: string;
  /** lstopo options the test passes ("" when none). */
  options: string;
  /** Environment variables the test sets. */
  env: Record<string, string>;
  /** True when the test describes a synthetic topology with only a cgroup fsroot. */
  synthetic: boolean;
}

/** The capture folders searched, relative to the data set root. */
export const CAPTURE_FOLDERS = ['hwloc/linux', 'hwloc/linux/allowed', 'hwloc/removed-knl/tests/hwloc/linux', 'hwloc/x86+linux'];

/** Every .test over a Linux tarball, or null when the hwloc data set is absent (skipped outside CI). */
export function listCaptureTests(): CaptureTest[] | null {
  const root = dataSet('hwloc');
  if (root === null) return null;
  const out: CaptureTest[] = [];
  for (const folder of CAPTURE_FOLDERS) {
    const dir = join(root, '..', folder);
    if (!existsSync(dir)) continue;
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.test')).sort()) {
      const text = readFileSync(join(dir, file), 'utf8');
      const field = (key: string): string | null => new RegExp(`^${key}:\\s*(.*)$`, 'm').exec(text)?.[1]?.trim() ?? null;
      const source = field('source') ?? field('fsroot');
      const target = field('target');
      if (!source || !target || !source.endsWith('.tar.bz2')) continue;
      const env: Record<string, string> = {};
      for (const m of text.matchAll(/^env:\s*(\w+)=(.*)$/gm)) env[m[1] as string] = (m[2] as string).trim().replace(/^"(.*)"$/, '$1');
      out.push({
        name: `${folder.replace(/^hwloc\//, '')}/${file.replace(/\.test$/, '')}`,
        dir,
        tarball: join(dir, source),
        target: join(dir, target),
        options: field('options') ?? '',
        env,
        synthetic: field('synthetic') !== null,
      });
    }
  }
  return out;
}

/** The cache folder: one subfolder per tarball, keyed by name, size and mtime. */
export function captureCacheDir(): string {
  const dir = join(tmpdir(), 'numaplan-hwloc-captures');
  mkdirSync(dir, { recursive: true });
  return dir;
}

const pending = new Map<string, Promise<string>>();

/**
 * Extracts a tarball (once; `tar -xjf`) and returns the fsroot inside it: the single top-level
 * folder, or its fsroot/ subfolder for the x86+linux captures that also carry a CPUID dump.
 */
export function extractCapture(tarball: string): Promise<string> {
  const st = statSync(tarball);
  const key = `${basename(tarball, '.tar.bz2')}-${st.size}-${Math.floor(st.mtimeMs)}`;
  let job = pending.get(key);
  if (!job) {
    job = (async () => {
      const dest = join(captureCacheDir(), key);
      if (!existsSync(join(dest, '.done'))) {
        const tmp = `${dest}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
        mkdirSync(tmp, { recursive: true });
        await run('tar', ['-xjf', tarball, '-C', tmp]);
        writeFileSync(join(tmp, '.done'), '');
        try {
          renameSync(tmp, dest);
        } catch {
          rmSync(tmp, { recursive: true, force: true }); // another worker won the race
        }
      }
      return fsrootIn(dest);
    })();
    pending.set(key, job);
  }
  return job;
}

function fsrootIn(dest: string): string {
  const top = readdirSync(dest).filter((n) => n !== '.done' && statSync(join(dest, n)).isDirectory());
  const first = top.length === 1 ? join(dest, top[0] as string) : dest;
  return existsSync(join(first, 'fsroot')) ? join(first, 'fsroot') : first;
}

/** Extracts many tarballs, a few at a time. */
export async function extractAll(tarballs: readonly string[], parallel = 4): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const queue = [...new Set(tarballs)];
  await Promise.all(
    Array.from({ length: Math.min(parallel, queue.length) }, async () => {
      for (let t = queue.shift(); t !== undefined; t = queue.shift()) out.set(t, await extractCapture(t));
    }),
  );
  return out;
}

/** Counts and NUMA distances as an expected output states them. */
export interface ExpectedView {
  /** Object counts by hwloc type name (Package, NUMANode, Core, PU, ...). Absent type = 0. */
  counts: Record<string, number>;
  /** OS index of the NUMA node of each row/column of `distances`. */
  nodeOs: number[];
  /** NUMALatency matrix by logical index, or null when none is given. */
  distances: number[][] | null;
}

/** Parses `lstopo -v` console text: the per-depth counts, NUMANode L#/P# lines and the latency matrix. */
export function parseConsole(text: string): ExpectedView {
  const counts: Record<string, number> = {};
  for (const m of text.matchAll(/^\s*(?:depth \d+|Special depth -?\d+):\s+(\d+)\s+(\w+)/gm)) {
    counts[m[2] as string] = (counts[m[2] as string] ?? 0) + Number(m[1]);
  }
  const nodeOs: number[] = [];
  for (const m of text.matchAll(/NUMANode(?:\([^)]*\))? L#(\d+) \(P#(\d+)/g)) nodeOs[Number(m[1])] = Number(m[2]);
  let distances: number[][] | null = null;
  let matrixOs: number[] = [];
  const head = /^Relative latency matrix \(name NUMALatency[^\n]*between (\d+) NUMANodes[^\n]*\n\s*index([^\n]*)\n/m.exec(text);
  if (head) {
    const n = Number(head[1]);
    // the header lists the logical index of each column (hwloc may print them out of order)
    const logical = (head[2] as string).trim().split(/\s+/).map(Number);
    matrixOs = logical.map((l) => nodeOs[l] as number);
    const rows = text.slice(head.index + head[0].length).split('\n').slice(0, n);
    distances = rows.map((r) => r.trim().split(/\s+/).slice(1).map(Number));
  }
  return { counts, nodeOs: matrixOs, distances };
}

/** Parses hwloc XML (v2/v3) minimally: object counts by type, NUMA OS indexes, the NUMALatency matrix. */
export function parseHwlocXml(text: string): ExpectedView {
  const counts: Record<string, number> = {};
  const nodeOs: number[] = [];
  for (const m of text.matchAll(/<object\s+type="(\w+)"([^>]*)>?/g)) {
    const type = m[1] as string;
    counts[type] = (counts[type] ?? 0) + 1;
    if (type === 'NUMANode') nodeOs.push(Number(/os_index="(\d+)"/.exec(m[2] as string)?.[1] ?? -1));
  }
  // hwloc XML v2 uses L1Cache/L2Cache etc. for caches; nothing to rename for the counts we use.
  let distances: number[][] | null = null;
  const d = /<distances2\s+type="NUMANode"\s+nbobjs="(\d+)"[^>]*name="NUMALatency"[^>]*>([\s\S]*?)<\/distances2>/.exec(text)
    ?? /<distances2\s+type="NUMANode"\s+nbobjs="(\d+)"[^>]*>([\s\S]*?)<\/distances2>/.exec(text);
  if (d) {
    const n = Number(d[1]);
    const body = d[2] as string;
    const indexes = [...body.matchAll(/<indexes[^>]*>([^<]*)<\/indexes>/g)].flatMap((x) => (x[1] as string).trim().split(/\s+/).map(Number));
    const values = [...body.matchAll(/<u64values[^>]*>([^<]*)<\/u64values>/g)].flatMap((x) => (x[1] as string).trim().split(/\s+/).map(Number));
    if (values.length === n * n) {
      distances = Array.from({ length: n }, (_, i) => values.slice(i * n, i * n + n));
      // rows follow `indexes` (OS indexes); reorder nodeOs to that order so both read alike
      if (indexes.length === n) nodeOs.splice(0, nodeOs.length, ...indexes);
    }
  }
  return { counts, nodeOs, distances };
}

/** Reads an expected output file, console or XML by extension. */
export function readExpected(path: string): ExpectedView {
  const text = readFileSync(path, 'utf8');
  return path.endsWith('.xml') ? parseHwlocXml(text) : parseConsole(text);
}

/** Path relative to the data folder, for messages. */
export function dataRelative(path: string): string {
  const root = dataSet('hwloc');
  return root ? relative(dirname(root), path) : path;
}
