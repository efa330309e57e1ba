/**
 * The host settings `numaplan host prep` reads and writes (see core/host/prep.ts for what and why):
 * transparent huge pages (/sys/kernel/mm/transparent_hugepage/{enabled,defrag}), per-node huge-page
 * pools (/sys/devices/system/node/nodeN/hugepages/hugepages-<KB>kB/nr_hugepages), and the cgroup v2
 * cpuset for host tasks. Every path is taken under a root ("/" for this host; a captured or
 * generated tree in tests), as the sysfs reader does.
 *
 * Each write is read back: a pool reads back what the kernel granted, a THP file its new choice, a
 * cpuset its effective CPUs and nodes.
 */
import { accessSync, constants, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Change, type ChangeOutcome, type ChoiceSetting, type CgroupInfo, HOST_CGROUP, type HostSettings, poolOutcome } from '../../core/host/prep.js';

const under = (root: string, path: string): string => (root === '/' ? path : join(root, path));

function read(root: string, path: string): string | null {
  try {
    return readFileSync(under(root, path), 'utf8');
  } catch {
    return null;
  }
}

/** Parses a choice file: "always [madvise] never" -> current madvise. */
export function parseChoice(text: string | null): ChoiceSetting | null {
  if (text === null) return null;
  const choices = text.trim().split(/\s+/).filter((t) => t !== '');
  const current = choices.find((c) => c.startsWith('['))?.replace(/^\[|\]$/g, '');
  if (current === undefined) return null;
  return { current, choices: choices.map((c) => c.replace(/^\[|\]$/g, '')) };
}

/** What the cgroup hierarchy offers (from the mount table under the root). */
export function readCgroup(root: string): CgroupInfo {
  const mounts = read(root, '/proc/mounts') ?? read(root, '/proc/self/mounts') ?? '';
  let mount: string | null = null;
  let v1 = false;
  let v1Cpuset = false;
  for (const line of mounts.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f[2] === 'cgroup2' && mount === null) mount = (f[1] as string).replace(/\\040/g, ' ');
    if (f[2] === 'cgroup') {
      v1 = true;
      if ((f[3] ?? '').split(',').includes('cpuset')) v1Cpuset = true;
    }
  }
  const systemd = existsSync(under(root, '/run/systemd/system'));
  if (mount === null) return { version: v1 ? 1 : null, mount: null, systemd, cpuset: false, v1Cpuset, hostGroup: null };
  const controllers = (read(root, `${mount}/cgroup.controllers`) ?? '').trim().split(/\s+/);
  const dir = `${mount}/${HOST_CGROUP}`;
  const hostGroup = existsSync(under(root, dir)) ? { cpus: (read(root, `${dir}/cpuset.cpus`) ?? '').trim(), mems: (read(root, `${dir}/cpuset.mems`) ?? '').trim() } : null;
  return { version: 2, mount, systemd, cpuset: controllers.includes('cpuset'), v1Cpuset, hostGroup };
}

/** Reads THP and cgroup settings under `root`. */
export function readHostSettings(root = '/'): HostSettings {
  return {
    thp: {
      enabled: parseChoice(read(root, '/sys/kernel/mm/transparent_hugepage/enabled')),
      defrag: parseChoice(read(root, '/sys/kernel/mm/transparent_hugepage/defrag')),
    },
    cgroup: readCgroup(root),
  };
}

/** The files a change writes (for the permission check before anything is written). */
export function filesOf(change: Change, root = '/'): string[] {
  switch (change.kind) {
    case 'hugepages':
    case 'thp':
      return [under(root, change.file)];
    case 'cpuset': {
      const parent = change.path.slice(0, change.path.lastIndexOf('/'));
      return [under(root, `${parent}/cgroup.subtree_control`), under(root, existsSync(under(root, change.path)) ? change.path : parent)];
    }
    case 'reserve':
      return [];
  }
}

/** The files of `changes` this process may not write (empty: all writable). */
export function unwritable(changes: readonly Change[], root = '/'): string[] {
  const out: string[] = [];
  for (const c of changes) {
    for (const f of filesOf(c, root)) {
      try {
        accessSync(f, constants.W_OK);
      } catch {
        out.push(f);
      }
    }
  }
  return out;
}

function write(path: string, value: string): void {
  writeFileSync(path, value);
}

/** Applies one sysfs or cgroup change and reads it back (reserve changes are the caller's). */
export function applyChange(change: Change, root = '/'): ChangeOutcome {
  try {
    switch (change.kind) {
      case 'hugepages': {
        write(under(root, change.file), `${change.to}\n`);
        const got = Number((read(root, change.file) ?? '').trim());
        return poolOutcome(change, got);
      }
      case 'thp': {
        write(under(root, change.file), change.to);
        const now = parseChoice(read(root, change.file));
        return { change, status: now?.current === change.to ? 'changed' : 'failed', readBack: now?.current ?? '' };
      }
      case 'cpuset': {
        const parent = change.path.slice(0, change.path.lastIndexOf('/'));
        const control = (read(root, `${parent}/cgroup.subtree_control`) ?? '').trim().split(/\s+/);
        if (!control.includes('cpuset')) write(under(root, `${parent}/cgroup.subtree_control`), '+cpuset');
        mkdirSync(under(root, change.path), { recursive: true });
        write(under(root, `${change.path}/cpuset.mems`), change.to.mems);
        write(under(root, `${change.path}/cpuset.cpus`), change.to.cpus);
        const cpus = (read(root, `${change.path}/cpuset.cpus.effective`) ?? read(root, `${change.path}/cpuset.cpus`) ?? '').trim();
        const mems = (read(root, `${change.path}/cpuset.mems.effective`) ?? read(root, `${change.path}/cpuset.mems`) ?? '').trim();
        return { change, status: cpus === change.to.cpus && mems === change.to.mems ? 'changed' : 'failed', readBack: `cpus ${cpus}, mems ${mems}` };
      }
      case 'reserve':
        return { change, status: 'changed', readBack: '' };
    }
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return { change, status: 'failed', readBack: '', error: `${e.code ?? ''} ${e.message}`.trim() };
  }
}
