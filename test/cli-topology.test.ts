/** The topology command as a user runs it: the built CLI, real exit codes, no stack traces. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { topologyToJson } from '../src/core/topology/json.js';
import { syntheticTopology } from '../src/core/topology/synthetic.js';
import { REPO_ROOT } from './support/data.js';

function cli(args: string[], input?: string) {
  const r = spawnSync(process.execPath, [join(REPO_ROOT, 'bin', 'numaplan.js'), ...args], {
    encoding: 'utf8',
    input,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const dir = mkdtempSync(join(tmpdir(), 'numaplan-cli-'));
const GiB = 1024 ** 3;
const host = syntheticTopology({
  source: 'test',
  hostname: 'two-socket',
  packages: 2,
  nodesPerPackage: 1,
  coresPerNode: 10,
  threadsPerCore: 2,
  memoryPerNode: 64 * GiB,
  hugePages: [{ pageSize: 1024 ** 3, total: 4, free: 4 }],
});
const hostFile = join(dir, 'host.json');
writeFileSync(hostFile, topologyToJson(host));

describe('numaplan topology (CLI)', () => {
  it('prints the text view of a JSON host', () => {
    const r = cli(['topology', '--from', `json:${hostFile}`]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('0-9,20-29');
    expect(r.stdout).toMatch(/2 packages, 2 NUMA nodes, 20 cores, 40 PUs/);
    expect(r.stdout).toContain('distances');
  });
  it('prints the summary contract with --summary --json', () => {
    const r = cli(['topology', '--from', hostFile, '--summary', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ packages: 2, nodes: 2, cores: 20, pus: 40, pciDevices: 0 });
  });
  it('prints the model with --json: nodes[].id and distances in node order', () => {
    const r = cli(['topology', '--from', hostFile, '--json']);
    const doc = JSON.parse(r.stdout);
    expect(doc.nodes.map((n: { id: number }) => n.id)).toEqual([0, 1]);
    expect(doc.distances).toEqual([
      [10, 21],
      [21, 10],
    ]);
    expect(r.stdout).toBe(topologyToJson(host));
  });
  it('reads JSON from standard input', () => {
    const r = cli(['topology', '--from', 'json:-', '--summary', '--json'], topologyToJson(host));
    expect(JSON.parse(r.stdout).pus).toBe(40);
  });
  it('exits 2 naming the bad source, without a stack trace', () => {
    const r = cli(['topology', '--from', 'nonsense-source']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/numaplan: error: .*nonsense-source/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    const unknownPreset = cli(['topology', '--from', 'preset:no-such-machine', '--json']);
    expect(unknownPreset.code).toBe(2);
    expect(JSON.parse(unknownPreset.stdout)).toMatchObject({ ok: false, error: { code: 'ERR_SOURCE' } });
  });
  it('exits 2 naming the bad field of a corrupt JSON host', () => {
    const bad = JSON.parse(topologyToJson(host));
    bad.nodes[0].cpus = ['zero'];
    const file = join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify(bad));
    const r = cli(['topology', '--from', `json:${file}`]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('nodes[0].cpus[0]');
    const truncated = join(dir, 'truncated.json');
    writeFileSync(truncated, topologyToJson(host).slice(0, 200));
    const t = cli(['topology', '--from', `json:${truncated}`]);
    expect(t.code).toBe(2);
    expect(t.stderr).toMatch(/not valid JSON/);
  });
  it('exits 2 on a bad option value', () => {
    const r = cli(['topology', '--format', 'yaml']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/yaml/);
  });
  it('makes warnings errors with --strict', () => {
    const lone = syntheticTopology({ source: 't', packages: 1, nodesPerPackage: 2, coresPerNode: 1, threadsPerCore: 1, memoryPerNode: GiB });
    const doc = JSON.parse(topologyToJson(lone));
    doc.warnings = [{ path: 'sys/devices/system/node/node1/distance', message: 'missing; assumed 20' }];
    const file = join(dir, 'warn.json');
    writeFileSync(file, JSON.stringify(doc));
    expect(cli(['topology', '--from', file]).code).toBe(0);
    const r = cli(['topology', '--from', file, '--strict']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('node1/distance');
  });
  it('keeps notes on what a source cannot say apart from warnings: --strict accepts clean numactl text', () => {
    const text = [
      'available: 2 nodes (0-1)',
      'node 0 cpus: 0 1',
      'node 0 size: 1024 MB',
      'node 0 free: 512 MB',
      'node 1 cpus: 2 3',
      'node 1 size: 1024 MB',
      'node 1 free: 512 MB',
      'node distances:',
      'node   0   1',
      '  0:  10  21',
      '  1:  21  10',
      '',
    ].join('\n');
    const r = cli(['topology', '--from', 'numactl:-', '--strict'], text);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/1 note\(s\) on what the source cannot say/);
    const s = cli(['topology', '--from', 'numactl:-', '--summary', '--json'], text);
    expect(JSON.parse(s.stdout).warnings).toBe(0);
  });
  it('prints the JSON Schema, which accepts the --json output', () => {
    const r = cli(['schema', 'topology']);
    expect(r.code).toBe(0);
    const schema = JSON.parse(r.stdout);
    const ajv = new Ajv2020({ strict: false });
    const validate = ajv.compile(schema);
    const doc = JSON.parse(cli(['topology', '--from', hostFile, '--json']).stdout);
    expect(validate(doc), JSON.stringify(validate.errors)).toBe(true);
    doc.nodes[0].memory = 'lots';
    expect(validate(doc)).toBe(false);
    expect(cli(['schema', 'nope']).code).toBe(2);
  });
  it('teaches in --help', () => {
    const r = cli(['topology', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('--from');
    expect(r.stdout).toContain('preset:');
  });
});
