/**
 * The generated referee suite: random requests over every option of the request grammar (weighted
 * toward the rare ones, test/support/generated/requests.ts) on every preset, random hwloc-generated
 * hosts (`lstopo-no-graphics --input "pack:P numa:N core:C pu:T"`) and real hwloc XML captures; every
 * accepted placement is emitted for every target and judged by the real consumer:
 *
 * - libvirt: the complete domain and the placement merged into three virt-install-style domains
 *   (test/fixtures/libvirt: disks, interface, graphics, UEFI, I/O threads, memory and vCPU hotplug)
 *   pass libvirt's RelaxNG schema (what virt-xml-validate runs) and `virsh -c test:///default
 *   define`; libvirt's own QEMU driver turns each into a QEMU command line (`virsh -c
 *   qemu:///embed?root=DIR domxml-to-native qemu-argv`) in a private mount namespace whose
 *   /sys/devices/system/node shows the host's nodes and which has hugetlbfs mounts of 2M and 1G
 *   pages (libvirt checks the numatune nodes against sysfs through libnuma, and huge-page backends
 *   against the mounts; nothing else of the host is faked); and the command line libvirt wrote for
 *   each complete domain is started in QEMU (TCG, paused) with QMP's view compared to the plan.
 * - QEMU: the emitted argv started under TCG, paused; QMP must show the planned guest: vCPUs per
 *   node, sockets and dies, MiB per node, each backend's size and memory policy, device proximity.
 * - xl: xl's own parser (libxlutil, test/support/xl/xl-cfg-dump.c) reads the xl.cfg; xl's and
 *   libxl's CPU and vNUMA rules (ported in test/support/xl/xl-rules.ts: `xl create` needs a running
 *   Xen) must pass and give the planned guest.
 * - Cloud Hypervisor: its argument parser and validator, ported (test/support/cloud-hypervisor),
 *   must accept the argv and give the planned guest.
 * - numactl: the flags against the plan (the real binding is judged on this machine by the
 *   `numaplan run` suite; the planned nodes do not exist here).
 * A target that cannot express a placement refuses it (ERR_TARGET) with a reason, and `place
 * --emit` refuses the same request at placement time; such refusals are counted per target.
 *
 * Seeded by the file's seed (test/support/seed.ts): NUMAPLAN_SEED replays a run.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { XMLParser } from 'fast-xml-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { placementJson } from '../src/cli/commands/place.js';
import {
  EMIT_FORMATS,
  type EmitFormat,
  EmitError,
  type EmitOptions,
  type Guest,
  emitLibvirtFragment,
  emitPlacement,
  guestOf,
  mergeLibvirtDomain,
  parsePlacementFile,
  targetLimit,
} from '../src/core/emit/index.js';
import { createHostState, parseVmSpec, place } from '../src/core/placement/index.js';
import { placeMany } from '../src/core/placement/place.js';
import type { Placement } from '../src/core/placement/types.js';
import { seededRandom } from '../src/core/random.js';
import { acceptFor } from '../src/cli/commands/place.js';
import { parseChArgv, validateCh } from './support/cloud-hypervisor/ch-rules.js';
import { domxmlToNative } from './support/generated/libvirt-native.js';
import { generatedRequests, type Host, type QueuedRequest } from './support/generated/suite.js';
import { TCG_CPU, infoNuma, mapHostNodesToZero, probeQemu, type QmpView, startableLibvirtArgv } from './support/generated/qemu-probe.js';
import { mapPool } from './support/pool.js';
import { runSeed } from './support/seed.js';
import { tool } from './support/tools.js';
import { checkXlConfig, type XlDump } from './support/xl/xl-rules.js';

const seed = runSeed();
console.log(`referee-generated: seed ${seed} (NUMAPLAN_SEED=${seed} replays this run)`);

const MIB = 1024 * 1024;
const FIXTURES = ['vi-basic', 'vi-uefi-iothreads', 'vi-hotplug'];
const FIXTURE_DIR = join(import.meta.dirname, 'fixtures', 'libvirt');
const XL_SOURCE = join(import.meta.dirname, 'support', 'xl', 'xl-cfg-dump.c');

interface Sample {
  id: string;
  host: Host;
  spec: string;
  deviceNodes: boolean;
  placement: Placement;
  guest: Guest;
  /** Per target: the configuration text, or the reason the target refused. */
  out: Partial<Record<EmitFormat, { text: string; argv?: string[] } | { refused: string }>>;
  fixture: string;
}

const have = ['virsh', 'virt-xml-validate', 'xmllint', 'qemu-system-x86_64', 'lstopo-no-graphics', 'unshare', 'cc'].every((t) => tool(t));
const isRoot = process.getuid?.() === 0;

function run(cmd: string, args: readonly string[], input?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, [...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdin.on('error', () => {});
    child.stdin.end(input ?? '');
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const EMIT: EmitOptions = {};

describe.skipIf(!have)(`generated requests judged by the real consumers (seed ${seed})`, () => {
  let dir = '';
  const hosts: Host[] = [];
  const samples: Sample[] = [];
  const counts = { requests: 0, requestErrors: 0, refused: 0, accepted: 0 };
  const requestErrors: string[] = [];
  const queue: QueuedRequest[] = [];
  let xlDump = '';

  beforeAll(async () => {
    dir = join(tmpdir(), `numaplan-generated-${process.pid}-${Date.now()}`);
    mkdirSync(dir, { recursive: true });
    const generated = await generatedRequests(seededRandom(seed ^ 0x15ee15), dir);
    hosts.push(...generated.hosts);
    queue.push(...generated.queue);
    for (const { host, ...g } of queue) {
      {
        counts.requests++;
        let request;
        try {
          request = parseVmSpec(g.spec);
        } catch (err) {
          counts.requestErrors++;
          requestErrors.push(`${g.spec}: ${(err as Error).message}`);
          continue;
        }
        let result;
        try {
          result = place(request, createHostState(host.topology), undefined, { deviceNodes: g.deviceNodes, hints: false });
        } catch (err) {
          counts.requestErrors++;
          requestErrors.push(`${g.spec}: ${(err as Error).message}`);
          continue;
        }
        if (!result.ok) {
          counts.refused++;
          continue;
        }
        counts.accepted++;
        const placement = result.placement;
        const sample: Sample = {
          id: `g${samples.length}-${request.name}`,
          host,
          spec: g.spec,
          deviceNodes: g.deviceNodes,
          placement,
          guest: guestOf(placement, host.topology),
          out: {},
          fixture: FIXTURES[samples.length % FIXTURES.length] as string,
        };
        for (const format of EMIT_FORMATS) {
          try {
            const e = emitPlacement(placement, host.topology, format, EMIT);
            sample.out[format] = { text: e.text, ...(e.argv ? { argv: e.argv } : {}) };
          } catch (err) {
            if (!(err instanceof EmitError) || err.code !== 'ERR_TARGET') throw new Error(`${host.name} ${g.spec} --emit ${format}: ${(err as Error).message}`);
            sample.out[format] = { refused: err.message };
          }
        }
        samples.push(sample);
      }
    }
    // xl's own parser, built from the C source against libxlutil.
    xlDump = join(dir, 'xl-cfg-dump');
    const cc = spawnSync('cc', ['-O1', '-o', xlDump, XL_SOURCE, '-lxlutil', '-lxenlight'], { encoding: 'utf8' });
    if (cc.status !== 0) throw new Error(`building xl-cfg-dump (needs libxen-dev): ${cc.stderr}`);
  }, 300_000);

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const emitted = (f: EmitFormat): Sample[] => samples.filter((s) => s.out[f] && 'text' in (s.out[f] as object));
  const textOf = (s: Sample, f: EmitFormat): string => (s.out[f] as { text: string }).text;

  it('a few hundred placements over every preset and random hosts, each emitted for every target', () => {
    const refusals = Object.fromEntries(EMIT_FORMATS.map((f) => [f, samples.filter((s) => s.out[f] && 'refused' in (s.out[f] as object)).length]));
    console.log(
      `referee-generated: ${hosts.length} hosts, ${counts.requests} requests, ${counts.accepted} placed, ${counts.refused} refused by the host, ${counts.requestErrors} request errors; ` +
        `configurations: ${EMIT_FORMATS.map((f) => `${f} ${emitted(f).length}`).join(', ')}; target refusals: ${EMIT_FORMATS.map((f) => `${f} ${refusals[f]}`).join(', ')}`,
    );
    if (requestErrors.length > 0) console.log(`request errors (the grammar's checks): ${requestErrors.slice(0, 5).join(' | ')}`);
    expect(counts.accepted).toBeGreaterThanOrEqual(200);
    for (const f of EMIT_FORMATS) expect(emitted(f).length, f).toBeGreaterThan(0);
  });

  it('a target refusal is a placement-time refusal of place --emit, with the same reason', () => {
    let checked = 0;
    for (const s of samples) {
      for (const f of EMIT_FORMATS) {
        const o = s.out[f];
        if (!o || !('refused' in o)) continue;
        const r = placeMany([parseVmSpec(s.spec)], createHostState(s.host.topology), undefined, {
          deviceNodes: s.deviceNodes,
          hints: false,
          accept: acceptFor(f, s.host.topology, {}),
        });
        expect(r.refusal?.reasons[0]?.resource, `${s.spec} --emit ${f}`).toBe(`target:${f}`);
        expect(o.refused).toContain(r.refusal?.reasons[0]?.detail as string);
        checked++;
      }
    }
    console.log(`referee-generated: ${checked} target refusals re-checked at placement time`);
  });

  it('plan properties every target depends on', () => {
    const bad: string[] = [];
    for (const s of samples) {
      const g = s.guest;
      // Memory per guest node: whole MiB (or pages), summing exactly to the total.
      const unit = Math.max(MIB, s.placement.pageSize);
      if (s.placement.memory.reduce((a, m) => a + m.bytes, 0) % unit === 0) {
        for (const c of g.cells) if (c.memory % unit !== 0) bad.push(`${s.id} ${s.spec}: guest node ${c.id} holds ${c.memory} bytes, not whole ${unit / MIB} MiB`);
      }
      // Few sockets: never more sockets than guest nodes with vCPUs.
      const cpuCells = g.cells.filter((c) => c.vcpus.length > 0).length;
      if (g.topology.sockets > Math.max(1, cpuCells)) bad.push(`${s.id} ${s.spec}: ${g.topology.sockets} sockets for ${cpuCells} guest nodes`);
      // The memory policy asked for is the one planned.
      const numa = /numa=(\w+)/.exec(s.spec)?.[1] ?? 'auto';
      const want = numa === 'interleave' ? 'interleave' : numa === 'preferred' ? 'preferred' : 'bind';
      if (s.placement.memoryPolicy !== want) bad.push(`${s.id} ${s.spec}: memoryPolicy ${s.placement.memoryPolicy}, asked ${numa}`);
      // Shared vCPUs float over their node's CPUs of the placement.
      if (s.placement.cpuPolicy === 'shared') {
        for (const c of g.cells) {
          const set = [...new Set(c.vcpus.map((v) => s.placement.cpus[v] as number))].sort((a, b) => a - b);
          for (const v of c.vcpus) if (JSON.stringify(g.pinSets[v]) !== JSON.stringify(set)) bad.push(`${s.id}: shared vCPU ${v} pinned to ${g.pinSets[v]}, its node's CPUs are ${set}`);
        }
      }
      // --device-nodes: a device outside the VM's nodes gets a guest node of its own, one-node VMs too.
      // (An interleaved VM has one guest node: the explanation says --device-nodes is not applied.)
      if (s.deviceNodes && s.placement.memoryPolicy === 'interleave') {
        const outside = s.placement.devices.some((d) => d.node !== null && !s.placement.nodes.includes(d.node));
        if (outside && !JSON.stringify(s.placement.explanation).includes('--device-nodes: not applied')) bad.push(`${s.id} ${s.spec} --device-nodes: interleaved, and the explanation does not say the devices get no guest node`);
      } else if (s.deviceNodes) {
        const vmNodes = new Set(s.placement.nodes);
        for (const d of s.placement.devices) {
          if (d.node === null || vmNodes.has(d.node)) continue;
          const gn = s.placement.vnuma?.devices.find((x) => x.address === d.address)?.guestNode;
          const cell = gn === undefined ? undefined : s.placement.vnuma?.nodes[gn];
          if (!cell || cell.hostNode !== d.node) bad.push(`${s.id} ${s.spec} --device-nodes: device ${d.address} on host node ${d.node} has no guest node of its own`);
        }
      }
      // QEMU: huge pages preallocated, no hugetlbfs mount assumed; runnable text with the binary.
      const q = s.out.qemu as { text: string; argv: string[] } | undefined;
      if (q && 'argv' in q) {
        if (!q.text.startsWith('qemu-system-x86_64 ')) bad.push(`${s.id}: --emit qemu text does not start with the binary`);
        if (s.placement.pageSize > 4096) {
          for (const b of q.argv.filter((a) => a.startsWith('memory-backend'))) {
            if (!b.includes('prealloc=on')) bad.push(`${s.id}: huge-page backend without prealloc=on: ${b}`);
            if (b.includes('mem-path=')) bad.push(`${s.id}: huge-page backend assumes a hugetlbfs mount: ${b}`);
          }
        }
      }
      // numactl: the planned CPUs, nodes and memory policy.
      const n = s.out.numactl as { argv: string[] } | undefined;
      if (n && 'argv' in n) {
        const nodes = [...new Set(Object.entries(s.placement.memoryByNode).filter(([, b]) => b > 0).map(([k]) => Number(k)))].sort((a, b) => a - b);
        const flag = want === 'bind' ? 'membind' : want === 'interleave' ? 'interleave' : nodes.length === 1 ? 'preferred' : 'preferred-many';
        if (!n.argv.some((a) => a.startsWith(`--${flag}=`))) bad.push(`${s.id} ${s.spec}: numactl ${n.argv.join(' ')} lacks --${flag}`);
      }
    }
    expect(bad).toEqual([]);
  });

  it('placement JSON round trip: emit --placement gives the same configuration for every target', () => {
    const bad: string[] = [];
    for (const s of samples) {
      const [back] = parsePlacementFile(JSON.stringify({ ok: true, placements: [placementJson(s.placement)] }), 'placement.json');
      for (const f of EMIT_FORMATS) {
        const o = s.out[f];
        if (!o) continue;
        const again = targetLimit(back as Placement, s.host.topology, f, EMIT);
        if ('refused' in o) {
          if (again === null) bad.push(`${s.id} ${f}: refused from the placement, accepted from its JSON`);
          continue;
        }
        if (emitPlacement(back as Placement, s.host.topology, f, EMIT).text !== o.text) bad.push(`${s.id} ${f}: the JSON round trip changes the configuration`);
      }
    }
    expect(bad).toEqual([]);
  });

  describe('libvirt', () => {
    const files: { id: string; path: string; sample: Sample; merged: boolean }[] = [];
    beforeAll(() => {
      for (const s of emitted('libvirt')) {
        const complete = join(dir, `${s.id}.xml`);
        writeFileSync(complete, textOf(s, 'libvirt'));
        files.push({ id: `${s.id} (complete)`, path: complete, sample: s, merged: false });
        const fixture = readFileSync(join(FIXTURE_DIR, `${s.fixture}.xml`), 'utf8').replace(/<name>[^<]*<\/name>/, `<name>${s.placement.name}-m</name>`);
        const merged = join(dir, `${s.id}-merged.xml`);
        writeFileSync(merged, mergeLibvirtDomain(fixture, s.placement, s.host.topology, EMIT));
        files.push({ id: `${s.id} (merged into ${s.fixture})`, path: merged, sample: s, merged: true });
        const fragment = join(dir, `${s.id}-fragment.xml`);
        writeFileSync(fragment, emitLibvirtFragment(s.placement, s.host.topology, EMIT));
      }
    });

    it("every domain passes libvirt's RelaxNG schema (virt-xml-validate)", async () => {
      const results = await mapPool(files, 4, async (f) => ({ f, r: await run('virt-xml-validate', [f.path, 'domain']) }));
      const bad = results.filter(({ r }) => r.code !== 0).map(({ f, r }) => `${f.id} [${f.sample.spec}]: ${(r.stdout + r.stderr).trim().slice(0, 400)}`);
      console.log(`referee-generated libvirt: virt-xml-validate checked ${results.length} domains`);
      expect(bad).toEqual([]);
    }, 300_000);

    it('every fragment is one well-formed XML document (xmllint)', async () => {
      const frags = files.filter((f) => !f.merged).map((f) => f.path.replace(/\.xml$/, '-fragment.xml'));
      const r = await run('xmllint', ['--noout', ...frags]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
    });

    it('every domain defines with virsh -c test:///default', async () => {
      const results = await mapPool(files, 4, async (f) => ({ f, r: await run('virsh', ['-q', '-c', 'test:///default', 'define', f.path]) }));
      const bad = results.filter(({ r }) => r.code !== 0).map(({ f, r }) => `${f.id} [${f.sample.spec}]: ${(r.stdout + r.stderr).trim().slice(0, 400)}`);
      console.log(`referee-generated libvirt: virsh define checked ${results.length} domains`);
      expect(bad).toEqual([]);
    }, 300_000);

    it('merging keeps every element the placement does not own (and vcpu current=)', () => {
      const parser = new XMLParser({ ignoreAttributes: false, preserveOrder: false, commentPropName: '#comment' });
      const OWNED = new Set(['memory', 'currentMemory', 'vcpu', 'numatune', 'cputune', 'memoryBacking', 'cpu', 'devices']);
      const bad: string[] = [];
      for (const f of files.filter((x) => x.merged)) {
        const before = parser.parse(readFileSync(join(FIXTURE_DIR, `${f.sample.fixture}.xml`), 'utf8')).domain as Record<string, unknown>;
        const after = parser.parse(readFileSync(f.path, 'utf8')).domain as Record<string, unknown>;
        for (const [k, v] of Object.entries(before)) {
          if (OWNED.has(k) || k === 'name') continue;
          // A guest needing x2APIC gets <ioapic driver='qemu'/> added to <features>; nothing else there changes.
          const got = k === 'features' && f.sample.guest.vcpus > 255 ? Object.fromEntries(Object.entries(after[k] as object).filter(([n]) => n !== 'ioapic')) : after[k];
          if (JSON.stringify(got) !== JSON.stringify(v)) bad.push(`${f.id}: <${k}> changed or lost`);
        }
        const devBefore = before.devices as Record<string, unknown>;
        const devAfter = after.devices as Record<string, unknown>;
        for (const [k, v] of Object.entries(devBefore)) {
          if (k === 'controller' || k === 'hostdev') continue;
          if (JSON.stringify(devAfter[k]) !== JSON.stringify(v)) bad.push(`${f.id}: <devices><${k}> changed or lost`);
        }
        const tuneBefore = before.cputune as Record<string, unknown> | undefined;
        if (tuneBefore?.iothreadpin && JSON.stringify((after.cputune as Record<string, unknown>)?.iothreadpin) !== JSON.stringify(tuneBefore.iothreadpin)) bad.push(`${f.id}: iothreadpin lost`);
        const cur = (before.vcpu as Record<string, string>)['@_current'];
        if (cur !== undefined) {
          const want = String(Math.min(Number(cur), f.sample.guest.vcpus));
          if ((after.vcpu as Record<string, string>)['@_current'] !== want) bad.push(`${f.id}: vcpu current=${(after.vcpu as Record<string, string>)['@_current']}, expected ${want}`);
        }
      }
      expect(bad).toEqual([]);
    });

    describe.skipIf(!isRoot)("libvirt's own QEMU driver (domxml-to-native) on a host view showing the planned nodes", () => {
      const argvOf = new Map<string, string>();
      beforeAll(async () => {
        const byHost = new Map<Host, typeof files>();
        for (const f of files) byHost.set(f.sample.host, [...(byHost.get(f.sample.host) ?? []), f]);
        const groups = [...byHost.entries()];
        // Two lanes, one per CPU, each with its own embedded driver root (a root is one driver).
        const lanes = [0, 1].map((cpu) => groups.map((g, k) => ({ g, k })).filter(({ k }) => k % 2 === cpu));
        await Promise.all(lanes.map(async (lane) => { for (const { g: [host, list], k } of lane) await convert(host, list, k); }));
        async function convert(host: Host, list: typeof files, k: number): Promise<void> {
          const lines = await domxmlToNative(dir, host.topology, list.map((f) => f.path), k);
          for (const [path, line] of lines) argvOf.set(path, line);
        }
      }, 600_000);

      it('every domain becomes a QEMU command line', () => {
        const bad = files.filter((f) => argvOf.get(f.path)?.startsWith('ERROR')).map((f) => `${f.id} [${f.sample.host.name} ${f.sample.spec}]: ${argvOf.get(f.path)}`);
        console.log(`referee-generated libvirt: domxml-to-native converted ${files.length - bad.length} of ${files.length} domains`);
        expect(bad).toEqual([]);
      });

      it("libvirt's command line for each complete domain starts in QEMU with the planned guest", async () => {
        const complete = files.filter((f) => !f.merged && argvOf.get(f.path) && !argvOf.get(f.path)?.startsWith('ERROR'));
        const results = await mapPool(complete, 2, async (f) => {
          const argv = startableLibvirtArgv(argvOf.get(f.path) as string);
          const pxbs = argv
            .filter((a, j) => argv[j - 1] === '-device' && a.startsWith('{'))
            .map((a) => JSON.parse(a) as { driver?: string; id?: string })
            .filter((d) => d.driver === 'pxb-pcie')
            .map((d) => `/machine/peripheral/${d.id}`);
          const view = await probeQemu(argv, pxbs);
          return { f, bad: compareWithPlan(f.sample, view, 'libvirt') };
        });
        const bad = results.filter((r) => r.bad.length > 0).map((r) => `${r.f.id} [${r.f.sample.host.name} ${r.f.sample.spec}]: ${r.bad.join('; ')}`);
        console.log(`referee-generated libvirt: ${results.length} libvirt-written QEMU command lines started under TCG and compared over QMP`);
        expect(bad).toEqual([]);
      }, 600_000);
    });
  });

  it('QEMU: every emitted argv starts under TCG and QMP shows the planned guest', async () => {
    const list = emitted('qemu');
    const results = await mapPool(list, 2, async (s) => {
      const e = emitPlacement(s.placement, s.host.topology, 'qemu', { accel: 'tcg', cpu: TCG_CPU, reserve: false, hugetlb: false, deviceStandIn: 'edu' });
      const argv = mapHostNodesToZero(e.argv as string[]);
      const pxbs = argv.filter((a) => a.startsWith('pxb-pcie,')).map((a) => `/machine/peripheral/${/id=([^,]+)/.exec(a)?.[1]}`);
      const view = await probeQemu([...argv, '-display', 'none', '-nodefaults'], pxbs);
      return { s, bad: compareWithPlan(s, view, 'qemu') };
    });
    const bad = results.filter((r) => r.bad.length > 0).map((r) => `${r.s.id} [${r.s.host.name} ${r.s.spec}]: ${r.bad.join('; ')}`);
    console.log(`referee-generated qemu: ${results.length} argv started under TCG and compared over QMP`);
    expect(bad).toEqual([]);
  }, 600_000);

  it("xl: xl's parser reads every xl.cfg and xl's and libxl's vNUMA rules accept the planned guest", async () => {
    const list = emitted('xl');
    const results = await mapPool(list, 4, async (s) => {
      const file = join(dir, `${s.id}.cfg`);
      writeFileSync(file, textOf(s, 'xl'));
      const r = await run(xlDump, [file]);
      if (r.code !== 0) return { s, bad: [`xl's parser: ${r.stderr.trim()}`] };
      const d = JSON.parse(r.stdout) as XlDump;
      const t = s.host.topology;
      const host = {
        nrNodes: Math.max(...t.nodes.map((n) => n.id)) + 1,
        onlineCpus: Math.max(...t.pus.map((p) => p.os)) + 1,
        nodeCpus: Array.from({ length: Math.max(...t.nodes.map((n) => n.id)) + 1 }, (_, id) => t.nodes.find((n) => n.id === id)?.cpus ?? []),
      };
      const st = checkXlConfig(d, host);
      const bad = [...st.errors];
      const g = s.guest;
      if (st.maxMemkb !== g.memory / 1024) bad.push(`xl sees ${st.maxMemkb} KiB, planned ${g.memory / 1024}`);
      if (st.maxVcpus !== g.vcpus) bad.push(`xl sees ${st.maxVcpus} vCPUs, planned ${g.vcpus}`);
      const hard = st.hardAffinity.map((a) => [...a].sort((x, y) => x - y).join(','));
      if (JSON.stringify(hard) !== JSON.stringify(g.pinSets.map((p) => p.join(',')))) bad.push(`vCPU affinity ${JSON.stringify(hard)}, planned ${JSON.stringify(g.pinSets)}`);
      if (g.numa || g.memoryPolicy === 'bind') {
        const got = st.vnodes.map((v) => ({ pnode: v.pnode, mib: v.memkb / 1024, vcpus: [...v.vcpus].sort((a, b) => a - b), d: v.distances }));
        const want = g.cells.map((c) => ({ pnode: c.hostNode, mib: c.memory / MIB, vcpus: c.vcpus, d: g.distances[c.id] }));
        if (JSON.stringify(got) !== JSON.stringify(want)) bad.push(`vnuma ${JSON.stringify(got)}, planned ${JSON.stringify(want)}`);
      } else if (st.vnodes.length > 0) bad.push('a vnuma for a guest planned without one');
      const pci = (d.pci ?? []).map((p) => (p ? `${p.domain.toString(16).padStart(4, '0')}:${p.bus.toString(16).padStart(2, '0')}:${p.dev.toString(16).padStart(2, '0')}.${p.func}` : 'null'));
      if (JSON.stringify(pci) !== JSON.stringify(g.devices.map((x) => x.address))) bad.push(`pci ${pci}, planned ${g.devices.map((x) => x.address)}`);
      return { s, bad };
    });
    const bad = results.filter((r) => r.bad.length > 0).map((r) => `${r.s.id} [${r.s.host.name} ${r.s.spec}]: ${r.bad.join('; ')}`);
    console.log(`referee-generated xl: ${results.length} xl.cfg read by libxlutil and checked by xl's and libxl's rules`);
    expect(bad).toEqual([]);
  }, 300_000);

  it("Cloud Hypervisor: its parser and validator accept every argv and give the planned guest", () => {
    const bad: string[] = [];
    for (const s of emitted('cloud-hypervisor')) {
      const argv = (s.out['cloud-hypervisor'] as { argv: string[] }).argv;
      let c;
      try {
        c = parseChArgv(argv);
      } catch (err) {
        bad.push(`${s.id} [${s.spec}]: ${(err as Error).message}`);
        continue;
      }
      const errors = validateCh(c);
      const g = s.guest;
      if (c.cpus.boot !== g.vcpus) errors.push(`boot ${c.cpus.boot}, planned ${g.vcpus}`);
      const zones = c.memory.zones ?? [];
      if (zones.reduce((a, z) => a + z.size, 0) !== g.memory) errors.push(`zones hold ${zones.reduce((a, z) => a + z.size, 0)} bytes, planned ${g.memory}`);
      const aff = (c.cpus.affinity ?? []).map((x) => x.hostCpus.join(','));
      if (JSON.stringify(aff) !== JSON.stringify(g.pinSets.map((p) => p.join(',')))) errors.push(`affinity ${JSON.stringify(aff)}, planned ${JSON.stringify(g.pinSets)}`);
      if (g.pageSize > 4096) for (const z of zones) if (!z.hugepages || z.hugepageSize !== g.pageSize) errors.push(`zone ${z.id} without ${g.pageSize}-byte huge pages`);
      if (g.numa) {
        for (const cell of g.cells) {
          const n = (c.numa ?? []).find((x) => x.guestNumaId === cell.id);
          if (!n) {
            errors.push(`no guest node ${cell.id}`);
            continue;
          }
          if (JSON.stringify(n.cpus ?? []) !== JSON.stringify(cell.vcpus)) errors.push(`guest node ${cell.id} cpus ${n.cpus}, planned ${cell.vcpus}`);
          const mem = (n.memoryZones ?? []).map((id) => zones.find((z) => z.id === id)).reduce((a, z) => a + (z?.size ?? 0), 0);
          if (mem !== cell.memory) errors.push(`guest node ${cell.id} holds ${mem} bytes, planned ${cell.memory}`);
          for (const id of n.memoryZones ?? []) {
            const z = zones.find((x) => x.id === id);
            if (z && z.hostNumaNode !== cell.hostNode) errors.push(`zone ${id} on host node ${z.hostNumaNode}, planned ${cell.hostNode}`);
          }
          for (const d of n.distances ?? []) if (d.distance !== g.distances[cell.id]?.[d.destination]) errors.push(`distance ${cell.id}->${d.destination} ${d.distance}`);
        }
        for (const [k, d] of g.devices.entries()) {
          if (d.guestNode === null || d.guestNode === 0) continue;
          const seg = c.devices?.[k]?.pciSegment;
          const owner = (c.numa ?? []).find((n) => n.pciSegments?.includes(seg as number));
          if (owner?.guestNumaId !== d.guestNode) errors.push(`device ${d.address} on segment ${seg} of guest node ${owner?.guestNumaId}, planned ${d.guestNode}`);
        }
      }
      if (errors.length > 0) bad.push(`${s.id} [${s.host.name} ${s.spec}]: ${errors.join('; ')}`);
    }
    console.log(`referee-generated cloud-hypervisor: ${emitted('cloud-hypervisor').length} argv parsed and validated`);
    expect(bad).toEqual([]);
  });
});

/** QMP's view against the plan; `via` says whose command line QEMU ran. */
function compareWithPlan(s: Sample, v: QmpView, via: 'qemu' | 'libvirt'): string[] {
  const g = s.guest;
  const bad: string[] = [];
  const stderr = v.stderr
    .split('\n')
    .filter((l) => l.trim() !== '' && !/ info : | warning : .*vhost/.test(l))
    .join(' ');
  if (v.code !== 0 || stderr !== '') return [`qemu exit ${v.code}: ${stderr.slice(0, 500)}`];
  if (v.cpus.length !== g.vcpus) bad.push(`${v.cpus.length} vCPUs, planned ${g.vcpus}`);
  const sockets = new Set(v.hotpluggable.map((h) => h.props['socket-id']));
  if (sockets.size !== g.topology.sockets) bad.push(`${sockets.size} sockets, planned ${g.topology.sockets}`);
  if (g.topology.dies > 1) {
    const dies = new Set(v.hotpluggable.map((h) => `${h.props['socket-id']}/${h.props['die-id']}`));
    if (dies.size !== g.topology.sockets * g.topology.dies) bad.push(`${dies.size} dies, planned ${g.topology.sockets * g.topology.dies}`);
  }
  const numa = infoNuma(v.numa);
  const cells = g.numa ? g.cells : [];
  if (g.numa) {
    const cellOf = new Map<number, number>();
    for (const c of g.cells) for (const x of c.vcpus) cellOf.set(x, c.id);
    for (const c of v.cpus) if (c.props['node-id'] !== cellOf.get(c['cpu-index'])) bad.push(`vCPU ${c['cpu-index']} on guest node ${c.props['node-id']}, planned ${cellOf.get(c['cpu-index'])}`);
    if (numa.nodes !== g.cells.length) bad.push(`info numa: ${numa.nodes} nodes, planned ${g.cells.length}`);
  }
  for (const c of cells) {
    if ((numa.cpus.get(c.id) ?? '') !== c.vcpus.join(' ')) bad.push(`guest node ${c.id} cpus "${numa.cpus.get(c.id)}", planned "${c.vcpus.join(' ')}"`);
    if (numa.sizeMiB.get(c.id) !== c.memory / MIB) bad.push(`guest node ${c.id} ${numa.sizeMiB.get(c.id)} MiB, planned ${c.memory / MIB}`);
  }
  const total = v.memdev.reduce((a, m) => a + m.size, 0);
  if (total !== g.memory) bad.push(`memory backends hold ${total} bytes, planned ${g.memory}`);
  const policy = g.memoryPolicy;
  for (const m of v.memdev) {
    if (m.policy !== policy) bad.push(`${m.id} policy ${m.policy}, planned ${policy}`);
    if (JSON.stringify(m['host-nodes']) !== '[0]') bad.push(`${m.id} host-nodes ${JSON.stringify(m['host-nodes'])} (mapped onto node 0)`);
  }
  if (via === 'qemu') {
    for (const d of g.devices) {
      if (d.guestNode === null) continue;
      const got = v.pxbNodes[`/machine/peripheral/pxb${d.guestNode}`];
      if (got !== d.guestNode) bad.push(`device ${d.address}: expander bridge numa_node ${got}, planned ${d.guestNode}`);
    }
  } else {
    const planned = [...new Set(g.devices.map((d) => d.guestNode).filter((n): n is number => n !== null))].sort((a, b) => a - b);
    const got = Object.values(v.pxbNodes).sort((a, b) => a - b);
    if (JSON.stringify(got) !== JSON.stringify(planned)) bad.push(`expander bridges on guest nodes ${got}, planned ${planned}`);
  }
  return bad;
}

// Referenced so that a change of the fixture folder fails loudly here rather than in a merge.
if (!existsSync(FIXTURE_DIR)) throw new Error(`fixtures missing: ${FIXTURE_DIR}`);
