/**
 * Output freeze for the sysfs reader: the JSON model of every hwloc capture (default options and
 * with the cgroup ignored) and of the benchmark's generated 1024-PU tree must stay byte-identical
 * to what the reader produced when read-sysfs.golden.json was recorded. Performance work on the
 * reader must not change a single byte; a deliberate change of output re-records the file with
 * NUMAPLAN_GOLDEN_UPDATE=1 and says why in its commit.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generatedHost } from '../../../bench/topology.bench.js';
import { extractAll, listCaptureTests } from '../../../test/support/captures.js';
import { TopologyError } from '../../core/topology/errors.js';
import { writeSysfsTree } from '../sysfs-writer/write-sysfs-tree.js';
import { readSysfs, type SysfsOptions } from './read-sysfs.js';

const GOLDEN = join(dirname(fileURLToPath(import.meta.url)), 'read-sysfs.golden.json');
const UPDATE = process.env.NUMAPLAN_GOLDEN_UPDATE === '1';

/**
 * sha256 of the JSON model, with the root (a temporary path) taken out of `source`; for a tree the
 * reader refuses (the cgroup-only roots of synthetic tests), the error's code and message instead.
 */
function digest(root: string, options: Omit<SysfsOptions, 'root'> = {}): string {
  let json: string;
  try {
    json = JSON.stringify({ ...readSysfs({ ...options, root }), source: 'sysfs:ROOT' });
  } catch (err) {
    if (!(err instanceof TopologyError)) throw err;
    json = `${err.code} ${err.message.split(root).join('ROOT')}`;
  }
  return createHash('sha256').update(json).digest('hex');
}

const expected = JSON.parse(readFileSync(GOLDEN, 'utf8')) as Record<string, string>;
const actual: Record<string, string> = {};
const tests = listCaptureTests();
const tarballs = tests === null ? [] : [...new Set(tests.map((t) => t.tarball))].sort();
let roots = new Map<string, string>();
const work = mkdtempSync(join(tmpdir(), 'numaplan-golden-'));

beforeAll(async () => {
  roots = await extractAll(tarballs);
});
afterAll(() => {
  rmSync(work, { recursive: true, force: true });
  if (UPDATE) writeFileSync(GOLDEN, `${JSON.stringify(actual, null, 2)}\n`);
});

describe('sysfs reader output is unchanged', () => {
  it.skipIf(tests === null)('every capture, default options and without the cgroup', () => {
    for (const tarball of tarballs) {
      const root = roots.get(tarball) as string;
      const name = basename(tarball, '.tar.bz2');
      actual[name] = digest(root);
      actual[`${name} (ignoreCgroup)`] = digest(root, { ignoreCgroup: true });
    }
    if (!UPDATE) {
      expect(Object.keys(actual).sort(), 'captures read against the golden record').toEqual(Object.keys(expected).filter((k) => !k.startsWith('generated')).sort());
      for (const key of Object.keys(actual)) expect({ key, digest: actual[key] }).toEqual({ key, digest: expected[key] });
    }
  });

  it('the generated 1024-PU / 64-node tree', () => {
    const dir = join(work, 'generated');
    writeSysfsTree(generatedHost(), dir);
    actual['generated 1024 PU / 64 nodes'] = digest(dir);
    if (!UPDATE) expect(actual['generated 1024 PU / 64 nodes']).toBe(expected['generated 1024 PU / 64 nodes']);
  });
});
