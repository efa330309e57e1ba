/**
 * Resolves a `--from SOURCE` string to a topology. Sources:
 *   sysfs            the live host (/sys and /proc)
 *   sysfs:DIR        a captured tree holding sys/ and proc/, read exactly like the live one
 *   hwloc:FILE       hwloc v2 XML (lstopo --of xml)
 *   numactl:FILE     the text of `numactl --hardware` ("-" for standard input)
 *   preset:NAME      a built-in machine (`numaplan topology --list-presets`)
 *   json:FILE        numaplan's own topology JSON
 *   FILE             guessed from content: JSON, XML or numactl text
 */
import { readFileSync, statSync } from 'node:fs';
import { TopologyError } from '../core/topology/errors.js';
import type { Topology } from '../core/topology/model.js';

// Each source's parser is loaded only when that source is used: the schema library behind JSON and
// the XML parser behind hwloc files cost more start-up time than reading a whole sysfs tree.
const fromJson = async (text: string, origin: string): Promise<Topology> =>
  (await import('../core/topology/json.js')).topologyFromJson(text, origin);
const fromHwloc = async (text: string, origin: string): Promise<Topology> =>
  (await import('./hwloc-xml/import.js')).topologyFromHwlocXml(text, origin);
const fromNumactl = async (text: string, origin: string): Promise<Topology> =>
  (await import('./numactl-text.js')).topologyFromNumactl(text, origin);
const fromSysfs = async (root: string | undefined): Promise<Topology> =>
  (await import('./sysfs/read-sysfs.js')).readSysfs(root === undefined ? {} : { root });

/** Options every source accepts. */
export interface LoadOptions {
  /** Turn warnings into an error (exit code 2). */
  strict?: boolean;
}

/** The source kinds `--from` understands, for help texts. */
export const SOURCE_HELP = [
  'sysfs (default: this host)',
  'sysfs:DIR (captured tree with sys/ and proc/)',
  'hwloc:FILE.xml',
  'numactl:FILE (numactl --hardware text, - for stdin)',
  'preset:NAME',
  'json:FILE',
  'FILE (format guessed from content)',
];

/** Loads a topology from a source string; rejects with TopologyError (exit 2) for unusable input. */
export async function loadTopology(source: string, options: LoadOptions = {}): Promise<Topology> {
  const topo = await loadUnchecked(source);
  const warnings = topo.warnings.filter((w) => w.level !== 'note');
  if (options.strict && warnings.length > 0) {
    const w = warnings[0];
    throw new TopologyError(
      w?.path ?? source,
      `${w?.message ?? 'warning'} (--strict: ${warnings.length} warning(s) are errors)`,
      'ERR_STRICT',
    );
  }
  return topo;
}

async function loadUnchecked(source: string): Promise<Topology> {
  const colon = source.indexOf(':');
  const kind = colon > 0 ? source.slice(0, colon) : source;
  const arg = colon > 0 ? source.slice(colon + 1) : '';
  switch (kind) {
    case 'sysfs':
      return fromSysfs(arg === '' ? undefined : arg);
    case 'hwloc':
      return fromHwloc(readText(arg, 'hwloc'), arg);
    case 'numactl':
      return fromNumactl(readText(arg, 'numactl'), arg === '-' ? 'stdin' : arg);
    case 'json':
      return fromJson(readText(arg, 'json'), arg === '-' ? 'stdin' : arg);
    case 'preset': {
      const { getPreset, presetNames } = await import('../core/topology/presets/index.js');
      const preset = getPreset(arg);
      if (!preset) {
        throw new TopologyError('--from', `unknown preset "${arg}"; known presets: ${presetNames().join(', ')}`, 'ERR_SOURCE');
      }
      return preset.build();
    }
    default:
      return guessFromFile(source);
  }
}

async function guessFromFile(path: string): Promise<Topology> {
  let isDir = false;
  try {
    isDir = statSync(path).isDirectory();
  } catch {
    throw new TopologyError(
      '--from',
      `"${path}" is neither a source kind nor an existing file; use one of: ${SOURCE_HELP.join('; ')}`,
      'ERR_SOURCE',
    );
  }
  if (isDir) return fromSysfs(path);
  const text = readText(path, 'file');
  const head = text.trimStart();
  if (head.startsWith('{')) return fromJson(text, path);
  if (head.startsWith('<')) return fromHwloc(text, path);
  if (/^available:\s*\d+\s+nodes/m.test(head)) return fromNumactl(text, path);
  throw new TopologyError(path, 'cannot tell the format (expected JSON, hwloc XML or numactl --hardware text)', 'ERR_SOURCE');
}

function readText(path: string, kind: string): string {
  if (path === '') throw new TopologyError('--from', `${kind}: needs a file name, e.g. ${kind}:host.xml`, 'ERR_SOURCE');
  try {
    return readFileSync(path === '-' ? 0 : path, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new TopologyError(path, `cannot read (${e.code ?? e.message})`, 'ERR_SOURCE');
  }
}
