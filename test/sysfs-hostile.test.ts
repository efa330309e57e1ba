/**
 * The sysfs reader on captured trees that try to hang it or make it read what is not theirs: a FIFO
 * where a file should be, links to /dev/zero and /dev/urandom, links (to a file and to a directory)
 * pointing out of the tree at secrets, and a huge file. Each read must finish, the odd files become
 * warnings that name them without quoting their content, nothing outside the tree is read, and the
 * rest of the tree is read as usual. Run through the real CLI in a child process with a deadline, so
 * that a reader that hangs fails the test instead of hanging the suite.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeSysfsTree } from '../src/adapters/sysfs-writer/write-sysfs-tree.js';
import { getPreset } from '../src/core/topology/presets/index.js';
import { runCliProcess } from './support/cli.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const SECRET = 'root:x:0:0:SECRET-PASSWORD-HASH:/root:/bin/bash';

/** broadwell-2s written as a sysfs tree, then sabotaged by `edit(root, outside)`. */
function hostileTree(edit: (root: string, outside: string) => void): string {
  const base = mkdtempSync(join(tmpdir(), 'numaplan-hostile-'));
  dirs.push(base);
  const root = join(base, 'tree');
  const outside = join(base, 'outside');
  mkdirSync(outside);
  writeFileSync(join(outside, 'passwd'), `${SECRET}\n`.repeat(20));
  mkdirSync(join(outside, 'node1'));
  writeFileSync(join(outside, 'node1', 'meminfo'), `Node 1 MemTotal: ${SECRET}\n`);
  writeFileSync(join(outside, 'node1', 'cpulist'), `${SECRET}\n`);
  const topo = getPreset('broadwell-2s')?.build();
  if (!topo) throw new Error('preset');
  writeSysfsTree(topo, root);
  edit(root, outside);
  return root;
}

function replaceWith(root: string, rel: string, make: (path: string) => void): void {
  const path = join(root, rel);
  mkdirSync(dirname(path), { recursive: true });
  rmSync(path, { recursive: true, force: true });
  make(path);
}

/** Runs `numaplan topology --from sysfs:ROOT --json` in its own process, with a deadline. */
async function readTree(root: string): Promise<{ status: number; timedOut: boolean; json: { nodes: unknown[]; warnings: { path: string; message: string }[] } | null; text: string }> {
  const r = await runCliProcess(['topology', '--from', `sysfs:${root}`, '--json'], 30_000);
  let json = null;
  try {
    json = JSON.parse(r.out);
  } catch {
    json = null;
  }
  return { status: r.code, timedOut: r.timedOut, json, text: `${r.out}${r.err}` };
}

describe('the sysfs reader on hostile trees', () => {
  it('a FIFO where a file should be: a warning naming it, no hang', async () => {
    const root = hostileTree((r) => replaceWith(r, 'sys/devices/system/node/node0/meminfo', (p) => spawnSync('mkfifo', [p])));
    const out = await readTree(root);
    expect(out.timedOut).toBe(false);
    expect(out.status).toBe(0);
    const w = out.json?.warnings.find((x) => x.path === 'sys/devices/system/node/node0/meminfo');
    expect(w?.message).toMatch(/FIFO, not a regular file/);
    expect(out.json?.nodes).toHaveLength(2);
  });

  it('links to /dev/zero and /dev/urandom: warnings, no hang, no endless read', async () => {
    const root = hostileTree((r) => {
      replaceWith(r, 'sys/devices/system/node/node1/distance', (p) => symlinkSync('/dev/zero', p));
      replaceWith(r, 'sys/devices/system/cpu/online', (p) => symlinkSync('/dev/urandom', p));
      replaceWith(r, 'proc/cpuinfo', (p) => symlinkSync('/dev/zero', p));
    });
    const out = await readTree(root);
    expect(out.timedOut).toBe(false);
    expect(out.status).toBe(0);
    const paths = out.json?.warnings.map((w) => w.path) ?? [];
    expect(paths).toEqual(expect.arrayContaining(['sys/devices/system/node/node1/distance', 'sys/devices/system/cpu/online', 'proc/cpuinfo']));
    expect(out.json?.warnings.find((w) => w.path === 'proc/cpuinfo')?.message).toMatch(/outside the tree/);
  });

  it('links out of the tree (to a file, and to a directory): not followed, not quoted', async () => {
    const root = hostileTree((r, outside) => {
      replaceWith(r, 'proc/sys/kernel/hostname', (p) => symlinkSync(join(outside, 'passwd'), p));
      replaceWith(r, 'sys/devices/system/cpu/cpu0/topology/physical_package_id', (p) => symlinkSync(join(outside, 'passwd'), p));
      replaceWith(r, 'sys/devices/system/node/node1', (p) => symlinkSync(join(outside, 'node1'), p));
      // A relative link climbing out of the tree.
      replaceWith(r, 'sys/devices/system/cpu/cpu1/topology/core_id', (p) => symlinkSync('../../../../../../../outside/passwd', p));
    });
    const out = await readTree(root);
    expect(out.timedOut).toBe(false);
    expect(out.text).not.toContain('SECRET');
    const paths = out.json?.warnings.map((w) => w.path) ?? [];
    expect(paths).toEqual(expect.arrayContaining(['proc/sys/kernel/hostname', 'sys/devices/system/cpu/cpu0/topology/physical_package_id', 'sys/devices/system/cpu/cpu1/topology/core_id']));
    expect(paths.some((p) => p.startsWith('sys/devices/system/node/node1'))).toBe(true);
    for (const w of out.json?.warnings ?? []) if (/outside the tree/.test(w.message)) expect(w.message).not.toMatch(/root:|passwd/);
  });

  it('a huge file: the read is capped and the file named', async () => {
    const root = hostileTree((r) => {
      const p = join(r, 'sys/devices/system/node/node1/distance');
      unlinkSync(p);
      writeFileSync(p, '1');
      truncateSync(p, 64 * 1024 * 1024);
    });
    const out = await readTree(root);
    expect(out.timedOut).toBe(false);
    expect(out.status).toBe(0);
    expect(out.json?.warnings.find((w) => w.path === 'sys/devices/system/node/node1/distance')?.message).toMatch(/more than .* bytes/);
  });

  it('still reads a clean tree (links inside the tree are followed) exactly as before', async () => {
    const root = hostileTree(() => undefined);
    const out = await readTree(root);
    expect(out.status).toBe(0);
    expect(out.json?.warnings.filter((w) => /regular file|outside the tree|bytes/.test(w.message))).toEqual([]);
    expect(out.json?.nodes).toHaveLength(2);
  });
});
