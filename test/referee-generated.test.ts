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
  deviceGuestNodes,
  diskImage,
  emitLibvirtFragment,
  emitPlacement,
  guestOf,
  mergeLibvirtDomain,
  parsePlacementFile,
  targetLimit,
} from '../src/core/emit/index.js';
import { createHostState, parseVmSpec, place } from '../src/core/placement/index.js';
import { placeMany } from '../src/core/placement/place.js';
import { formatCpuList } from '../src/core/topology/cpulist.js';
import type { Placement } from '../src/core/placement/types.js';
import { seededRandom } from '../src/core/random.js';
import { acceptFor } from '../src/cli/commands/place.js';
import { parseChArgv, validateCh } from './support/cloud-hypervisor/ch-rules.js';
import { domxmlToNative } from './support/generated/libvirt-native.js';
import { generatedRequests, type Host, type QueuedRequest } from './support/generated/suite.js';
import { TCG_CPU, infoNuma, mapHostNodesToZero, probeQemu, type QmpView, startableLibvirtArgv, withoutVhost } from './support/generated/qemu-probe.js';
import { mapPool } from './support/pool.js';
import { runSeed } from './support/seed.js';
import { tool } from './support/tools.js';
import { checkXlConfig, parseVifSpec, type XlDump } from './support/xl/xl-rules.js';

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

/** Emitter options of every target; the disks' images go to the run's folder (created for QEMU). */
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
    EMIT.diskDir = join(dir, 'images');
    mkdirSync(EMIT.diskDir, { recursive: true });
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
        // The virtio disks' images, so that QEMU (numaplan's argv and libvirt's) can open them.
        for (const d of sample.guest.io?.devices ?? []) if (d.kind === 'disk') writeFileSync(diskImage(EMIT, 'qemu', placement.name, d.index), Buffer.alloc(0));
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
      // The I/O plan: its CPUs on its node, never the reserve, never a CPU twice; dedicated ones held and
      // never SMT siblings of the vCPUs; the devices' node when the VM runs vCPUs there; queues spread
      // over the guest nodes in proportion to their vCPUs.
      const io = s.placement.io;
      if (io) {
        const t = s.host.topology;
        const nodeOf = new Map(t.pus.map((u) => [u.os, u.node]));
        const reserve = new Set(createHostState(t).reserve.cpus);
        const vcpus = new Set(s.placement.cpus);
        const say = (m: string): void => void bad.push(`${s.id} ${s.spec}: I/O ${m}`);
        if (io.cpus.some((c) => nodeOf.get(c) !== io.node)) say(`CPUs ${io.cpus} not all on node ${io.node}`);
        if (io.cpus.some((c) => reserve.has(c)) || s.placement.emulatorCpus.some((c) => reserve.has(c))) say('on the host reserve');
        if (s.placement.emulatorCpus.some((c) => vcpus.has(c))) say(`emulator/I/O pCPUs ${s.placement.emulatorCpus} overlap the vCPUs`);
        if (io.source === 'vcpus' && io.cpus.some((c) => !vcpus.has(c))) say(`iocpus=share but CPUs ${io.cpus} are not the VM's`);
        if (io.source !== 'vcpus' && io.cpus.some((c) => vcpus.has(c) || !(s.placement.emulatorCpus.includes(c) || s.placement.heldCpus.includes(c)))) say(`CPUs ${io.cpus} of their own are not held for the VM`);
        if (io.source === 'dedicated') {
          const siblings = new Set(s.placement.cpus.flatMap((c) => t.cores[t.pus.find((u) => u.os === c)?.core ?? -1]?.pus ?? []));
          if (io.cpus.some((c) => siblings.has(c))) say(`CPUs ${io.cpus} include SMT siblings of the vCPUs`);
        }
        const byNode = new Map<number, number>();
        for (const d of s.placement.devices) if (d.node !== null) byNode.set(d.node, (byNode.get(d.node) ?? 0) + 1);
        const most = Math.max(0, ...byNode.values());
        const vcpuNodes = new Set(s.placement.cpus.map((c) => nodeOf.get(c)));
        const deviceNodes = [...byNode].filter(([, n]) => n === most).map(([node]) => node);
        if (deviceNodes.length > 0 && (io.source === 'dedicated' || deviceNodes.some((n) => vcpuNodes.has(n))) && !deviceNodes.includes(io.node)) {
          say(`on node ${io.node}, the devices are on ${deviceNodes}`);
        }
        for (const th of io.iothreads) if (th.cpus.some((c) => !io.cpus.includes(c))) say(`I/O thread ${th.id} on ${th.cpus}, outside ${io.cpus}`);
        const parts = s.placement.vnuma ? s.placement.vnuma.nodes.filter((n) => n.vcpus.length > 0).map((n) => n.vcpus.length) : [s.placement.cpus.length];
        const total = parts.reduce((a, b) => a + b, 0);
        for (const d of io.devices) {
          if (d.iothread !== null && !io.iothreads.some((th) => th.id === d.iothread)) say(`${d.kind}${d.index} on I/O thread ${d.iothread}, which does not exist`);
          const q = d.queues ?? 1;
          if (d.queueNodes.length !== q) say(`${d.kind}${d.index}: ${d.queueNodes.length} queues spread, ${q} planned`);
          parts.forEach((v, g) => {
            const n = d.queueNodes.filter((x) => x === g).length;
            if (Math.abs(n - (q * v) / total) >= 1) say(`${d.kind}${d.index}: ${n} of ${q} queues on guest node ${g} of ${v}/${total} vCPUs`);
          });
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
        const ioThreads = f.sample.guest.io?.iothreads.length ?? 0;
        const list = (x: unknown): Record<string, unknown>[] => (x === undefined ? [] : Array.isArray(x) ? x : [x]) as Record<string, unknown>[];
        for (const [k, v] of Object.entries(before)) {
          if (OWNED.has(k) || k === 'name') continue;
          // The placement's I/O threads are the domain's 1..N: <iothreads> may only grow to hold them.
          if (k === 'iothreads' && ioThreads > 0) {
            if (Number(after[k]) < Math.max(Number(v), ioThreads)) bad.push(`${f.id}: <iothreads> ${String(after[k])}, needs ${Math.max(Number(v), ioThreads)}`);
            continue;
          }

          // A guest needing x2APIC gets <ioapic driver='qemu'/> added to <features>; nothing else there changes.
          const got = k === 'features' && f.sample.guest.vcpus > 255 ? Object.fromEntries(Object.entries(after[k] as object).filter(([n]) => n !== 'ioapic')) : after[k];
          if (JSON.stringify(got) !== JSON.stringify(v)) bad.push(`${f.id}: <${k}> changed or lost`);
        }
        const devBefore = before.devices as Record<string, unknown>;
        const devAfter = after.devices as Record<string, unknown>;
        for (const [k, v] of Object.entries(devBefore)) {
          if (k === 'controller' || k === 'hostdev') continue;
          // The placement's virtio disks and NICs are added after the domain's own, which stay as they were.
          if ((k === 'disk' || k === 'interface') && f.sample.guest.io) {
            if (JSON.stringify(list(devAfter[k]).slice(0, list(v).length)) !== JSON.stringify(list(v))) bad.push(`${f.id}: <devices><${k}> changed or lost`);
            continue;
          }
          if (JSON.stringify(devAfter[k]) !== JSON.stringify(v)) bad.push(`${f.id}: <devices><${k}> changed or lost`);
        }
        // The domain's I/O thread pins stay, except those of the placement's own I/O threads (1..N).
        const tuneBefore = before.cputune as Record<string, unknown> | undefined;
        const kept = (x: unknown): Record<string, unknown>[] => list(x).filter((p) => Number(p['@_iothread']) > ioThreads);
        if (JSON.stringify(kept((after.cputune as Record<string, unknown> | undefined)?.iothreadpin)) !== JSON.stringify(kept(tuneBefore?.iothreadpin))) bad.push(`${f.id}: iothreadpin lost`);

        const cur = (before.vcpu as Record<string, string>)['@_current'];
        if (cur !== undefined) {
          const want = String(Math.min(Number(cur), f.sample.guest.vcpus));
          if ((after.vcpu as Record<string, string>)['@_current'] !== want) bad.push(`${f.id}: vcpu current=${(after.vcpu as Record<string, string>)['@_current']}, expected ${want}`);
        }
      }
      expect(bad).toEqual([]);
    });

    it("libvirt's test driver reads every planned I/O thread pin back (iothreadinfo)", async () => {
      const withIo = files.filter((f) => (f.sample.guest.io?.iothreads.length ?? 0) > 0);
      const results = await mapPool(withIo, 4, async (f) => {
        const name = f.merged ? `${f.sample.placement.name}-m` : f.sample.placement.name;
        const r = await run('virsh', ['-c', 'test:///default', `define '${f.path}'; iothreadinfo '${name}' --config`]);
        const pins = new Map([...r.stdout.matchAll(/^\s*(\d+)\s+(\S+)\s*$/gm)].map((m) => [Number(m[1]), m[2] as string]));
        const bad: string[] = r.code === 0 ? [] : [`virsh: ${r.stderr.trim().slice(0, 300)}`];
        for (const t of f.sample.guest.io?.iothreads ?? []) {
          if (pins.get(t.id) !== formatCpuList(t.cpus)) bad.push(`I/O thread ${t.id} on CPUs ${pins.get(t.id)}, planned ${formatCpuList(t.cpus)}`);
        }
        return { f, bad };
      });
      const bad = results.filter((r) => r.bad.length > 0).map((r) => `${r.f.id} [${r.f.sample.spec}]: ${r.bad.join('; ')}`);
      console.log(`referee-generated libvirt: iothreadinfo read back the I/O thread pins of ${results.length} domains`);
      expect(bad).toEqual([]);
    }, 300_000);

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
      const e = emitPlacement(s.placement, s.host.topology, 'qemu', { ...EMIT, accel: 'tcg', cpu: TCG_CPU, reserve: false, hugetlb: false, deviceStandIn: 'edu' });
      const argv = withoutVhost(mapHostNodesToZero(e.argv as string[]));
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
      // The I/O part: PV disks as xlu_disk_parse reads them, PV NICs (netback) as xl's vif parser reads them.
      const disks = g.io?.devices.filter((x) => x.kind === 'disk') ?? [];
      const got = d.disk ?? [];
      if (got.length !== disks.length) bad.push(`${got.length} disks, planned ${disks.length}`);
      disks.forEach((x, k) => {
        const e = got[k];
        const want = diskImage(EMIT, 'xl', s.placement.name, x.index);
        if (!e || e.format !== 'raw' || e.readwrite !== 1 || e.target !== want || !/^xvd[a-z]+$/.test(e.vdev)) bad.push(`disk ${k}: ${JSON.stringify(e)}, planned a raw read-write PV disk on ${want}`);
      });
      const vifs = typeof d.vif === 'string' ? [d.vif] : (d.vif ?? []);
      const nets = g.io?.devices.filter((x) => x.kind === 'net') ?? [];
      if (vifs.length !== nets.length) bad.push(`${vifs.length} vifs, planned ${nets.length}`);
      for (const v of vifs) {
        const parsed = parseVifSpec(v);
        bad.push(...parsed.errors.map((e) => `vif "${v}": ${e}`));
        if (parsed.nictype !== 'vif') bad.push(`vif "${v}" is not a PV NIC (type=vif)`);
      }
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
      // The I/O part: disks with their queues pinned to the planned CPUs, NICs with two queues per pair,
      // both on the PCI segment of the I/O node's guest node.
      const io = g.io;
      const segOfNode = (node: number | null): number => (node === null || node === 0 ? 0 : ((c.numa ?? []).find((n) => n.guestNumaId === node)?.pciSegments?.[0] ?? -1));
      const wantDisks = io?.devices.filter((d) => d.kind === 'disk') ?? [];
      const wantNets = io?.devices.filter((d) => d.kind === 'net') ?? [];
      if ((c.disks ?? []).length !== wantDisks.length) errors.push(`${(c.disks ?? []).length} disks, planned ${wantDisks.length}`);
      if ((c.nets ?? []).length !== wantNets.length) errors.push(`${(c.nets ?? []).length} NICs, planned ${wantNets.length}`);
      wantDisks.forEach((d, k) => {
        const got = c.disks?.[k];
        if (!got || !io) return;
        if (got.numQueues !== (d.queues ?? 1)) errors.push(`disk ${k}: ${got.numQueues} queues, planned ${d.queues ?? 1}`);
        const cpus = (io.iothreads.find((t) => t.id === d.iothread)?.cpus ?? io.cpus).join(',');
        const aff = got.queueAffinity ?? [];
        if (aff.length !== got.numQueues || aff.some((a, q) => a.queue !== q || a.hostCpus.join(',') !== cpus)) errors.push(`disk ${k}: queue affinity ${JSON.stringify(aff)}, planned every queue on ${cpus}`);
        if (got.pciSegment !== segOfNode(io.guestNode)) errors.push(`disk ${k} on PCI segment ${got.pciSegment}, planned that of guest node ${io.guestNode}`);
        if (got.path !== diskImage(EMIT, 'cloud-hypervisor', s.placement.name, d.index)) errors.push(`disk ${k} path ${got.path}`);
      });
      wantNets.forEach((d, k) => {
        const got = c.nets?.[k];
        if (!got || !io) return;
        if (got.numQueues !== 2 * (d.queues ?? 1)) errors.push(`NIC ${k}: ${got.numQueues} queues, planned ${d.queues ?? 1} pairs`);
        if (got.pciSegment !== segOfNode(io.guestNode)) errors.push(`NIC ${k} on PCI segment ${got.pciSegment}, planned that of guest node ${io.guestNode}`);
      });
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
  bad.push(...compareIo(g, v, via));
  if (via === 'qemu') {
    for (const d of g.devices) {
      if (d.guestNode === null) continue;
      const got = v.pxbNodes[`/machine/peripheral/pxb${d.guestNode}`];
      if (got !== d.guestNode) bad.push(`device ${d.address}: expander bridge numa_node ${got}, planned ${d.guestNode}`);
    }
  } else {
    const planned = deviceGuestNodes(g);
    const got = Object.values(v.pxbNodes).sort((a, b) => a - b);
    if (JSON.stringify(got) !== JSON.stringify(planned)) bad.push(`expander bridges on guest nodes ${got}, planned ${planned}`);
  }
  return bad;
}

/** The I/O part of QMP's view against the plan: I/O threads, virtio disks and NICs, their queues and expander bus. */
function compareIo(g: Guest, v: QmpView, via: 'qemu' | 'libvirt'): string[] {
  const bad: string[] = [];
  const io = g.io;
  const planned = io?.iothreads.length ?? 0;
  if (v.iothreads.length !== planned) bad.push(`${v.iothreads.length} I/O threads, planned ${planned}`);
  for (const kind of ['disk', 'net'] as const) {
    const want = io?.devices.filter((d) => d.kind === kind) ?? [];
    const got = v.virtio.filter((d) => d.kind === kind);
    if (got.length !== want.length) {
      bad.push(`${got.length} virtio ${kind}s, planned ${want.length}`);
      continue;
    }
    want.forEach((d, k) => {
      const q = got[k] as (typeof got)[number];
      if (q.pxbNode !== (io?.guestNode ?? null)) bad.push(`${q.id} behind the expander bus of guest node ${q.pxbNode}, planned ${io?.guestNode ?? 'none'}`);
      if (kind === 'disk') {
        if (d.queues !== null && q.numQueues !== d.queues) bad.push(`${q.id} num-queues ${q.numQueues}, planned ${d.queues}`);
        const thread = d.iothread === null ? '' : `/objects/iothread${d.iothread}`;
        if (q.iothread !== thread) bad.push(`${q.id} iothread "${q.iothread}", planned "${thread}"`);
      } else if (via === 'qemu' && d.queues !== null && d.queues > 1) {
        // libvirt's domxml-to-native opens one placeholder tap, so only numaplan's argv shows multi-queue.
        if (q.mq !== true || q.vectors !== 2 * d.queues + 2) bad.push(`${q.id} mq=${q.mq} vectors=${q.vectors}, planned ${d.queues} queue pairs`);
      }
    });
  }
  return bad;
}

// Referenced so that a change of the fixture folder fails loudly here rather than in a merge.
if (!existsSync(FIXTURE_DIR)) throw new Error(`fixtures missing: ${FIXTURE_DIR}`);
