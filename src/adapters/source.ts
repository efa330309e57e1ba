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
import { topologyFromJson } from '../core/topology/json.js';
import type { Topology } from '../core/topology/model.js';
import { getPreset, presetNames } from '../core/topology/presets/index.js';
import { topologyFromHwlocXml } from './hwloc-xml/import.js';
import { topologyFromNumactl } from './numactl-text.js';
import { readSysfs } from './sysfs/read-sysfs.js';

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

/** Loads a topology from a source string; throws TopologyError (exit 2) for unusable input. */
export function loadTopology(source: string, options: LoadOptions = {}): Topology {
  const topo = loadUnchecked(source);
  if (options.strict && topo.warnings.length > 0) {
    const w = topo.warnings[0];
    throw new TopologyError(
      w?.path ?? source,
      `${w?.message ?? 'warning'} (--strict: ${topo.warnings.length} warning(s) are errors)`,
      'ERR_STRICT',
    );
  }
  return topo;
}

function loadUnchecked(source: string): Topology {
  const colon = source.indexOf(':');
  const kind = colon > 0 ? source.slice(0, colon) : source;
  const arg = colon > 0 ? source.slice(colon + 1) : '';
  switch (kind) {
    case 'sysfs':
      return readSysfs(arg === '' ? {} : { root: arg });
    case 'hwloc':
      return topologyFromHwlocXml(readText(arg, 'hwloc'), arg);
    case 'numactl':
      return topologyFromNumactl(readText(arg, 'numactl'), arg === '-' ? 'stdin' : arg);
    case 'json':
      return topologyFromJson(readText(arg, 'json'), arg === '-' ? 'stdin' : arg);
    case 'preset': {
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

function guessFromFile(path: string): Topology {
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
  if (isDir) return readSysfs({ root: path });
  const text = readText(path, 'file');
  const head = text.trimStart();
  if (head.startsWith('{')) return topologyFromJson(text, path);
  if (head.startsWith('<')) return topologyFromHwlocXml(text, path);
  if (/^available:\s*\d+\s+nodes/m.test(head)) return topologyFromNumactl(text, path);
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
