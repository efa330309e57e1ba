/** The built CLI: the placement JSON contract and exit codes 0 / 1 / 2. Needs `npm run build`. */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from './support/data.js';

const CLI = join(REPO_ROOT, 'bin', 'numaplan.js');
const dir = mkdtempSync(join(tmpdir(), 'numaplan-place-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(...args: string[]): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

describe.skipIf(!existsSync(join(REPO_ROOT, 'dist')))('numaplan place / explain / release', () => {
  it('prints the JSON contract and exits 0', () => {
    const r = run('place', '--host', 'preset:broadwell-2s', '--vm', 'name=web,vcpus=12,memory=16G', '--json');
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.out);
    expect(doc.ok).toBe(true);
    const p = doc.placements[0];
    expect(Object.keys(p).slice(0, 8)).toEqual(['name', 'nodes', 'cpus', 'memoryByNode', 'pageSize', 'devices', 'vnuma', 'explanation']);
    expect(p.name).toBe('web');
    expect(p.nodes).toEqual([0, 1]);
    expect(p.cpus).toHaveLength(12);
    expect(p.memoryByNode).toEqual({ '0': 8 * 1024 ** 3, '1': 8 * 1024 ** 3 });
    expect(p.pageSize).toBe(4096);
    expect(p.vnuma.nodes).toHaveLength(2);
  });

  it('refuses with exit 1 and reasons/hints', () => {
    const r = run('place', '--host', 'preset:broadwell-2s', '--vm', 'name=db,vcpus=4,memory=12G,pages=1G,numa=strict', '--json');
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.out);
    expect(doc.ok).toBe(false);
    expect(doc.reasons[0]).toMatchObject({ resource: 'hugepages-1G' });
    for (const k of ['resource', 'node', 'need', 'have']) expect(doc.reasons[0]).toHaveProperty(k);
    expect(doc.hints.length).toBeGreaterThan(0);
  });

  it('exits 2 naming the bad field', () => {
    const r = run('place', '--host', 'preset:broadwell-2s', '--vm', 'name=x,vcpus=zero,memory=1G', '--json');
    expect(r.code).toBe(2);
    expect(JSON.parse(r.out).error.code).toBe('ERR_REQUEST');
    expect(r.out).toContain('vcpus');
    expect(run('place', '--host', 'preset:broadwell-2s', '--vm', 'name=x,vcpus=1,memory=1G,pages=3M').code).toBe(2);
  });

  it('fills a host through a state file, explains without changing it, and releases', () => {
    const state = join(dir, 'host.json');
    expect(run('place', '--host', 'preset:broadwell-2s', '--state', state, '--vm', 'name=a,vcpus=8,memory=8G', '--json').code).toBe(0);
    const b = run('place', '--state', state, '--vm', 'name=b,vcpus=8,memory=8G', '--vm', 'name=c,vcpus=40,memory=8G', '--json');
    expect(b.code).toBe(1);
    const doc = JSON.parse(b.out);
    expect(doc.failed).toBe('c');
    expect(doc.placements.map((p: { name: string }) => p.name)).toEqual(['b']);
    const saved = JSON.parse(readFileSync(state, 'utf8'));
    expect(saved.allocations.map((a: { name: string }) => a.name)).toEqual(['a', 'b']);
    const used = new Set([...saved.allocations[0].cpus, ...saved.allocations[1].cpus]);
    expect(used.size).toBe(16);
    const before = readFileSync(state, 'utf8');
    expect(run('explain', '--state', state, '--vm', 'name=d,vcpus=2,memory=2G', '--json').code).toBe(0);
    expect(run('explain', '--state', state, '--name', 'a').code).toBe(0);
    expect(readFileSync(state, 'utf8')).toBe(before);
    expect(run('release', '--state', state, 'a').code).toBe(0);
    expect(JSON.parse(readFileSync(state, 'utf8')).allocations).toHaveLength(1);
    expect(run('release', '--state', state, 'nope').code).toBe(2);
  });

  it('prints a table and the explanation by default', () => {
    const r = run('place', '--host', 'preset:ring-4s', '--vm', 'name=big,vcpus=8,memory=200G');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/vm\s+nodes\s+cpus/);
    expect(r.out).toContain('host reserve');
  });
});
