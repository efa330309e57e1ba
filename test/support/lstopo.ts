/**
 * Helpers around the real hwloc referee, `lstopo-no-graphics`: run it (in parallel, with a small
 * pool), and read counts and the NUMA latency matrix from its XML output with plain text matching
 * (deliberately independent of numaplan's own importer).
 *
 * hwloc 2.x refuses XML written by hwloc 3 ("cannot import XML version 3.0 > 2"). Counts and distances
 * are written the same way in both versions (v3 adds `id` attributes, moves topology infos after the
 * root object, turns `osdev_type` into bit flags and drops page_type), so `lstopoReadable()` gives
 * hwloc 2 a copy whose version attribute says 2.0; everything else is left as it is.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { XMLParser } from 'fast-xml-parser';

/** The lstopo binary the suites use. */
export const LSTOPO = 'lstopo-no-graphics';

/** Result of one lstopo run. */
export interface LstopoRun {
  stdout: string;
  stderr: string;
  code: number;
}

/** Runs lstopo with the given arguments (never through a shell). */
export function runLstopo(args: readonly string[]): Promise<LstopoRun> {
  return new Promise((resolve) => {
    execFile(LSTOPO, [...args], { maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1) : 0;
      resolve({ stdout, stderr, code });
    });
  });
}

export { mapPool } from './pool.js';

/** A scratch directory under the OS temp dir, removed by `dispose()`. */
export function scratchDir(prefix = 'numaplan-lstopo-'): { dir: string; dispose(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, dispose: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The topology version a file declares ("" for hwloc 1.x files). */
export function xmlVersion(text: string): string {
  return /<topology\b[^>]*\bversion="([^"]*)"/.exec(text)?.[1] ?? '';
}

/** A path hwloc 2 can read for `file`: the file itself, or a copy in `dir` that declares version 2.0. */
export function lstopoReadable(file: string, dir: string): string {
  const text = readFileSync(file, 'utf8');
  if (!xmlVersion(text).startsWith('3')) return file;
  const copy = join(dir, basename(file));
  writeFileSync(copy, text.replace(/(<topology\b[^>]*\bversion=")3\.\d+(")/, '$12.0$2'));
  return copy;
}

/** What lstopo's XML output says. */
export interface LstopoCounts {
  /** Every Package object, including those hwloc keeps only for their memory or I/O children. */
  packages: number;
  /** Package objects with a non-empty cpuset (at least one usable PU). */
  packagesWithPus: number;
  nodes: number;
  cores: number;
  pus: number;
  /** Distinct pci_busid values of PCIDev objects. */
  pciAddresses: string[];
  /** Distinct pci_busid values of PCI-to-PCI Bridge objects (root ports, switch ports). */
  pciBridgeAddresses: string[];
  /** NUMA node os indexes in document order. */
  nodeIds: number[];
  /** NUMALatency (or the only NUMANode matrix), by node os index: `distance(from, to)`. Null when absent. */
  numaLatency: Map<number, Map<number, number>> | null;
}

/** Reads counts and the NUMA latency matrix from an XML document written by lstopo. */
export function countsFromLstopoXml(xml: string): LstopoCounts {
  const count = (type: string): number => (xml.match(new RegExp(`<object type="${type}"[ >/]`, 'g')) ?? []).length;
  const nodeIds = [...xml.matchAll(/<object type="NUMANode"[^>]*?\bos_index="(\d+)"/g)].map((m) => Number(m[1]));
  const pci = [...xml.matchAll(/<object type="PCIDev"[^>]*?\bpci_busid="([^"]+)"/g)].map((m) => (m[1] as string).toLowerCase());
  const bridges = [...xml.matchAll(/<object type="Bridge"[^>]*?\bpci_busid="([^"]+)"/g)].map((m) => (m[1] as string).toLowerCase());
  const blocks = [...xml.matchAll(/<distances2 ([^>]*)>([\s\S]*?)<\/distances2>/g)].filter((m) => /type="NUMANode"/.test(m[1] as string));
  const block = blocks.find((m) => /name="NUMALatency"/.test(m[1] as string)) ?? (blocks.length === 1 ? blocks[0] : undefined);
  let numaLatency: Map<number, Map<number, number>> | null = null;
  if (block) {
    const body = block[2] as string;
    const gather = (tag: string): number[] =>
      [...body.matchAll(new RegExp(`<${tag}[^>]*>([^<]*)</${tag}>`, 'g'))].flatMap((m) => (m[1] as string).trim().split(/\s+/).filter(Boolean).map(Number));
    const idx = gather('indexes');
    const vals = gather('u64values');
    numaLatency = new Map();
    idx.forEach((a, i) => {
      const row = new Map<number, number>();
      idx.forEach((b, j) => row.set(b, vals[i * idx.length + j] as number));
      numaLatency?.set(a, row);
    });
  }
  return {
    packages: count('Package'),
    packagesWithPus: [...xml.matchAll(/<object type="Package"[^>]*?\bcpuset="([^"]*)"/g)].filter((m) => !/^(0x0*,?)*$/.test(m[1] as string)).length,
    nodes: count('NUMANode'),
    cores: count('Core'),
    pus: count('PU'),
    pciAddresses: [...new Set(pci)].sort(),
    pciBridgeAddresses: [...new Set(bridges)].sort(),
    nodeIds,
    numaLatency,
  };
}

/**
 * hwloc's DTD for v2 XML (Debian package libhwloc-common installs it as /usr/share/hwloc/hwloc2.dtd;
 * NUMAPLAN_HWLOC_DTD overrides). Null (with the reason printed) when absent outside CI; under
 * CI=true a missing DTD is a failure, because .ci/run installs it.
 */
export function hwlocDtd(): string | null {
  const path = process.env.NUMAPLAN_HWLOC_DTD ?? '/usr/share/hwloc/hwloc2.dtd';
  if (existsSync(path)) return path;
  const why = `hwloc's DTD not found at ${path} (install libhwloc-common or set NUMAPLAN_HWLOC_DTD)`;
  if (process.env.CI === 'true') throw new Error(`${why}; CI=true requires it`);
  console.warn(`SKIPPED: ${why}`);
  return null;
}

/** Validates an XML file against a DTD with xmllint; resolves to the validity errors (empty when valid). */
export function validateWithDtd(file: string, dtd: string): Promise<string> {
  return new Promise((resolve) => {
    execFile('xmllint', ['--noout', '--nonet', '--dtdvalid', dtd, file], { encoding: 'utf8' }, (err, _stdout, stderr) => {
      // xmllint also warns that the DOCTYPE's relative "hwloc2.dtd" cannot be loaded; --dtdvalid replaces it.
      const errors = stderr
        .split('\n')
        .filter((l) => /validity error|does not validate|parser error/i.test(l))
        .join('\n');
      resolve(err && errors === '' ? `xmllint failed: ${stderr}` : errors);
    });
  });
}

/** The indexes set in an hwloc bitmap string ("0x0000000f,0xffffffff": 32-bit words, most significant first; "0x0" empty). */
export function hwlocBitmapIndexes(text: string): number[] {
  if (text.includes('...')) throw new Error(`infinite hwloc bitmap "${text}" (not expected in these documents)`);
  const words = text.trim().split(',').reverse();
  const out: number[] = [];
  words.forEach((w, i) => {
    const v = Number.parseInt(w.replace(/^0x/i, ''), 16);
    if (!Number.isFinite(v)) throw new Error(`bad hwloc bitmap "${text}"`);
    for (let b = 0; b < 32; b++) if ((v >>> b) & 1) out.push(i * 32 + b);
  });
  return out;
}

/** One NUMANode of lstopo's XML output. */
export interface LstopoNode {
  os: number;
  /** The node's cpuset (for a CPU-less node: the CPUs hwloc attached it beside). */
  cpus: number[];
  /** local_memory, bytes. */
  localMemory: number;
  /** page_type counts by page size in bytes. */
  pages: Map<number, number>;
}

/** The NUMANode objects of an lstopo XML document, in document order. */
export function lstopoNodes(xml: string): LstopoNode[] {
  const attr = (tag: string, name: string): string | undefined => new RegExp(`\\b${name}="([^"]*)"`).exec(tag)?.[1];
  return [...xml.matchAll(/<object type="NUMANode"([^>]*)>((?:\s*<page_type [^>]*\/>)*)/g)].map((m) => {
    const tag = m[1] as string;
    const pages = new Map<number, number>();
    for (const p of (m[2] as string).matchAll(/<page_type size="(\d+)" count="(\d+)"\/>/g)) pages.set(Number(p[1]), Number(p[2]));
    return { os: Number(attr(tag, 'os_index')), cpus: hwlocBitmapIndexes(attr(tag, 'cpuset') ?? '0x0'), localMemory: Number(attr(tag, 'local_memory') ?? 0), pages };
  });
}

/** The Machine (root) object's cpusets: `cpuset` (online PUs), `complete` (also offline ones), `allowed`. */
export function lstopoMachineCpusets(xml: string): { cpuset: number[]; complete: number[]; allowed: number[] } {
  const tag = /<object type="Machine"([^>]*)>/.exec(xml)?.[1];
  if (tag === undefined) throw new Error('no Machine object in the lstopo XML');
  const set = (name: string): number[] => hwlocBitmapIndexes(new RegExp(`\\b${name}="([^"]*)"`).exec(tag)?.[1] ?? '0x0');
  return { cpuset: set('cpuset'), complete: set('complete_cpuset'), allowed: set('allowed_cpuset') };
}

/**
 * The PCI tree of an XML document written by lstopo, one line per object in document order, indented
 * by depth below its host bridge: `host DDDD:[SS-EE] at TYPE CPUSET` (the non-I/O object it hangs
 * from), `bridge BUSID DDDD:[SS-EE]` (a PCI-to-PCI bridge), `pci BUSID CLASS` (a PCI function).
 * Read with a generic XML parser, not numaplan's importer.
 */
export function pciTreeFromLstopoXml(xml: string): string[] {
  type Node = Record<string, unknown> & { ':@'?: Record<string, string> };
  const doc = new XMLParser({ ignoreAttributes: false, preserveOrder: true, attributeNamePrefix: '' }).parse(xml) as Node[];
  const out: string[] = [];
  const walk = (nodes: Node[], depth: number, at: string): void => {
    for (const n of nodes) {
      if (Array.isArray(n.topology)) walk(n.topology as Node[], depth, at);
      if (!Array.isArray(n.object)) continue;
      const a = n[':@'] ?? {};
      const kids = n.object as Node[];
      if (a.type === 'Bridge' || a.type === 'PCIDev') {
        const desc =
          a.type === 'PCIDev'
            ? `pci ${a.pci_busid} ${(a.pci_type ?? '').slice(0, 4)}`
            : a.pci_busid !== undefined
              ? `bridge ${a.pci_busid} ${a.bridge_pci}`
              : `host ${a.bridge_pci} at ${at}`;
        out.push(`${'  '.repeat(depth)}${desc}`);
        walk(kids, depth + 1, at);
      } else if (a.type !== 'OSDev' && a.type !== 'Misc') {
        walk(kids, depth, a.type === 'NUMANode' ? at : `${a.type} ${a.cpuset}`);
      }
    }
  };
  walk(doc, 0, 'root');
  return out;
}
