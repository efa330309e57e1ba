/**
 * The CPUs and memory nodes the cgroup cpuset allows, found the way hwloc's Linux backend finds them:
 *
 * 1. the mount point, from the first usable line of proc/mounts (fstype cgroup2 whose
 *    cgroup.controllers lists "cpuset"; fstype cpuset; fstype cgroup with the cpuset option, which
 *    reads like a plain cpuset mount when also mounted "noprefix");
 * 2. the cgroup name, from proc/self/cpuset, else the ":cpuset:" or "::" line of proc/self/cgroup;
 * 3. the files: cgroup2 `cpuset.{cpus,mems}.effective`, cgroup1 `cpuset.{cpus,mems}`, plain cpuset
 *    `{cpus,mems}`, under mountpoint + name (both relative to the root).
 *
 * A file that cannot be read allows everything, as in hwloc.
 */
import type { RootFs } from './root-fs.js';

/** What the cpuset allows; null means no restriction found. */
export interface AllowedSets {
  cpus: Set<number> | null;
  mems: Set<number> | null;
  /** The cgroup name, for information. */
  name: string | null;
  /** Root-relative files the sets were read from. */
  files: string[];
}

type CgroupKind = 'cgroup2' | 'cgroup1' | 'cpuset';

/** Reads the allowed CPU and node sets under the root. Never throws. */
export function readAllowedSets(fs: RootFs): AllowedSets {
  const none: AllowedSets = { cpus: null, mems: null, name: null, files: [] };
  const mount = findMount(fs);
  if (!mount) return none;
  const name = cgroupName(fs);
  if (name === null) return none;
  const base = `${stripSlashes(mount.dir)}${name === '/' ? '' : name.replace(/\/+$/, '')}`;
  const file = (attr: 'cpus' | 'mems'): string => {
    const leaf = mount.kind === 'cgroup2' ? `cpuset.${attr}.effective` : mount.kind === 'cgroup1' ? `cpuset.${attr}` : attr;
    return `${base}/${leaf}`.replace(/^\/+/, '');
  };
  const cpusFile = file('cpus');
  const memsFile = file('mems');
  const cpus = fs.readList(cpusFile);
  const mems = fs.readList(memsFile);
  return {
    cpus: cpus ? new Set(cpus) : null,
    mems: mems ? new Set(mems) : null,
    name,
    files: [cpus ? cpusFile : null, mems ? memsFile : null].filter((f): f is string => f !== null),
  };
}

function stripSlashes(dir: string): string {
  return dir.replace(/\/+$/, '');
}

function findMount(fs: RootFs): { kind: CgroupKind; dir: string } | null {
  const text = fs.read('proc/mounts') ?? fs.read('proc/self/mounts');
  if (text === null) return null;
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 4) continue;
    const dir = unescapeMount(fields[1] as string);
    const type = fields[2] as string;
    const opts = (fields[3] as string).split(',');
    if (type === 'cgroup2') {
      const controllers = fs.read(`${dir}/cgroup.controllers`.replace(/^\/+/, ''));
      if (controllers !== null && controllers.trim().split(/\s+/).includes('cpuset')) return { kind: 'cgroup2', dir };
    } else if (type === 'cpuset') {
      return { kind: 'cpuset', dir };
    } else if (type === 'cgroup' && opts.includes('cpuset')) {
      return { kind: opts.includes('noprefix') ? 'cpuset' : 'cgroup1', dir };
    }
  }
  return null;
}

/** /proc/mounts escapes spaces and a few other characters as octal. */
function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
}

function cgroupName(fs: RootFs): string | null {
  const cpuset = fs.read('proc/self/cpuset');
  if (cpuset !== null && cpuset.length > 0) {
    const first = cpuset.split('\n')[0] as string;
    return first;
  }
  const cgroup = fs.read('proc/self/cgroup');
  if (cgroup === null) return null;
  for (const line of cgroup.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const rest = line.slice(colon);
    if (rest.startsWith(':cpuset:')) return rest.slice(8);
    if (rest.startsWith('::')) return rest.slice(2);
  }
  return null;
}
