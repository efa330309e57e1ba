/**
 * Commands sharing one state file: eight `numaplan place --state F` processes at once, several
 * rounds on the same file. Every command that exits 0 must be in the file afterwards, with the CPUs
 * it printed, and the file must hold no double allocation. A command that finds the file locked
 * waits for it; a lock left by a killed command is taken over.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { judgeAllocations } from '../src/core/placement/host-update.js';
import { stateFromJson } from '../src/core/placement/state.js';
import { runCli, runCliProcess } from './support/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'numaplan-state-lock-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const ROUNDS = 3;
const AT_ONCE = 8;

describe('concurrent place --state on one file', () => {
  it(`${AT_ONCE} at once, ${ROUNDS} rounds: every command that exits 0 is in the file`, async () => {
    const file = join(dir, 'host.json');
    const acked = new Map<string, number[]>();
    for (let round = 0; round < ROUNDS; round++) {
      const runs = await Promise.all(
        Array.from({ length: AT_ONCE }, (_, k) =>
          runCliProcess(['place', '--host', 'preset:broadwell-2s', '--state', file, '--vm', `name=r${round}v${k},vcpus=1,memory=1G`, '--json'], 120_000),
        ),
      );
      runs.forEach((r, k) => {
        expect(r.timedOut).toBe(false);
        expect(r.code, r.err).toBe(0);
        const out = JSON.parse(r.out) as { placements: { name: string; cpus: number[] }[] };
        acked.set(`r${round}v${k}`, out.placements[0]?.cpus ?? []);
      });
      const state = stateFromJson(readFileSync(file, 'utf8'), file);
      const inFile = new Map(state.allocations.map((a) => [a.name, a.cpus]));
      const missing = [...acked.keys()].filter((n) => !inFile.has(n));
      expect(missing, `round ${round}`).toEqual([]);
      for (const [name, cpus] of acked) expect(inFile.get(name), name).toEqual(cpus);
      expect(judgeAllocations(state.topology, state.reserve, state.allocations)).toEqual([]);
    }
    expect(acked.size).toBe(ROUNDS * AT_ONCE);
  }, 600_000);

  it('takes over a lock left by a command that died, and waits for a live one', async () => {
    const file = join(dir, 'stale.json');
    let r = await runCli(['place', '--host', 'preset:broadwell-2s', '--state', file, '--vm', 'name=a,vcpus=1,memory=1G']);
    expect(r.code).toBe(0);
    // A lock whose process is gone (pid 2^22 + 1 is beyond any pid_max).
    writeFileSync(`${file}.lock`, JSON.stringify({ pid: 4_194_305, host: hostname(), at: Date.now() }));
    r = await runCli(['place', '--state', file, '--vm', 'name=b,vcpus=1,memory=1G']);
    expect(r.code, r.err).toBe(0);
    expect(stateFromJson(readFileSync(file, 'utf8')).allocations.map((a) => a.name)).toEqual(['a', 'b']);
    // A lock held by a live process (this one): the command says it waits, and waits.
    writeFileSync(`${file}.lock`, JSON.stringify({ pid: process.pid, host: hostname(), at: Date.now() }));
    let said: () => void = () => undefined;
    const saysWaiting = new Promise<void>((res) => {
      said = res;
    });
    const waiting = runCliProcess(['place', '--state', file, '--vm', 'name=c,vcpus=1,memory=1G', '--json'], 120_000, (err) => {
      if (/waiting for the lock/.test(err)) said();
    });
    await saysWaiting;
    expect(stateFromJson(readFileSync(file, 'utf8')).allocations.map((a) => a.name)).toEqual(['a', 'b']);
    rmSync(`${file}.lock`);
    const c = await waiting;
    expect(c.code, c.err).toBe(0);
    expect(stateFromJson(readFileSync(file, 'utf8')).allocations.map((a) => a.name)).toEqual(['a', 'b', 'c']);
  }, 120_000);
});
