/**
 * The hosts and requests of the generated referee suite (test/referee-generated.test.ts), shared
 * with the suite that boots a sample of its placements (test/guest-emitted.test.ts): every preset,
 * random hwloc-generated hosts (`lstopo-no-graphics --input "pack:P numa:N core:C pu:T"`) and real
 * hwloc XML captures; first the reproductions, then REQUESTS_PER_HOST random requests per
 * host (test/support/generated/requests.ts). Everything random comes from `rand` (seeded by the
 * calling file's seed), in a fixed order, so NUMAPLAN_SEED replays a run.
 */
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadTopology } from '../../../src/adapters/source.js';
import type { Topology } from '../../../src/core/topology/model.js';
import { getPreset, presetNames } from '../../../src/core/topology/presets/index.js';
import { dataSet } from '../data.js';
import { runLstopo } from '../lstopo.js';
import { generateRequest } from './requests.js';

/** Requests per host, random hwloc synthetic hosts and real XML captures per run. */
export const REQUESTS_PER_HOST = 34;
export const SYNTHETIC_HOSTS = 5;
export const REAL_XML_HOSTS = 2;

/** A host of the suite. */
export interface Host {
  name: string;
  topology: Topology;
}

/** One request to place on a host. */
export interface QueuedRequest {
  host: Host;
  spec: string;
  /** Place with --device-nodes. */
  deviceNodes: boolean;
}

/** A random hwloc synthetic description (the forms of test/hwloc-synthetic.test.ts). */
export function syntheticDescription(rand: () => number): string {
  const int = (lo: number, hi: number): number => lo + Math.floor(rand() * (hi - lo + 1));
  const P = int(1, 4);
  const N = int(1, 4);
  const C = int(1, 8);
  const T = int(1, 4);
  const mem = `(memory=${int(2, 64)}GB)`;
  const forms = [
    `pack:${P} numa:${N}${mem} core:${C} pu:${T}`,
    `numa:${N}${mem} pack:${P} core:${C} pu:${T}`,
    `pack:${P} die:${int(1, 2)} numa:${N}${mem} core:${C} pu:${T}`,
    `pack:${P} numa:${N}${mem} l3:${int(1, 2)} core:${C} pu:${T}`,
  ];
  return forms[int(0, forms.length - 1)] as string;
}

let lstopoFiles = 0;
/** Writes lstopo's XML of a synthetic description into `dir`; returns the file. */
export async function lstopoXml(dir: string, description: string): Promise<string> {
  const r = await runLstopo(['--input', description, '--of', 'xml', '-']);
  if (r.code !== 0) throw new Error(`lstopo --input "${description}": ${r.stderr}`);
  const file = join(dir, `synthetic-${lstopoFiles++}.xml`);
  writeFileSync(file, r.stdout);
  return file;
}

/** A host from lstopo's view of a synthetic description. */
async function syntheticHost(dir: string, description: string): Promise<Host> {
  return { name: `hwloc synthetic "${description}"`, topology: await loadTopology(`hwloc:${await lstopoXml(dir, description)}`) };
}

/**
 * The run's hosts and requests: the reproductions (judged like every generated request),
 * then the random ones. `dir` receives lstopo's XML files.
 */
export async function generatedRequests(rand: () => number, dir: string): Promise<{ hosts: Host[]; queue: QueuedRequest[] }> {
  const hosts: Host[] = [];
  for (const name of presetNames()) hosts.push({ name: `preset:${name}`, topology: (getPreset(name) as { build(): Topology }).build() });
  for (let k = 0; k < SYNTHETIC_HOSTS; k++) hosts.push(await syntheticHost(dir, syntheticDescription(rand)));
  const xmlDir = dataSet('hwloc/xml');
  if (xmlDir) {
    const files = readdirSync(xmlDir).filter((f) => f.endsWith('.xml')).sort();
    for (let k = 0; k < REAL_XML_HOSTS && files.length > 0; k++) {
      const f = files[Math.floor(rand() * files.length)] as string;
      try {
        const t = await loadTopology(`hwloc:${join(xmlDir, f)}`);
        if (t.nodes.some((n) => n.cpus.length > 0 && n.memory.total > 0)) hosts.push({ name: `hwloc capture ${f}`, topology: t });
      } catch {
        // a capture the importer refuses is the import suite's business
      }
    }
  }
  const presetHost = (name: string): Host => hosts.find((h) => h.name === `preset:${name}`) as Host;
  const smt4 = await syntheticHost(dir, 'pack:2 numa:2 core:4 pu:4');
  const huge = await syntheticHost(dir, 'pack:2 numa:1(memory=1200GB) core:4 pu:2');
  const examples: QueuedRequest[] = [
    { host: presetHost('broadwell-2s'), spec: 'name=il,vcpus=8,memory=16G,numa=interleave', deviceNodes: false },
    { host: presetHost('broadwell-2s'), spec: 'name=pf,vcpus=24,memory=96G,numa=preferred', deviceNodes: false },
    { host: presetHost('cxl-2s'), spec: 'name=cx,vcpus=4,memory=8G,tier=cxl', deviceNodes: false },
    { host: presetHost('epyc-2s-nps2'), spec: 'name=w,vcpus=145,memory=16G', deviceNodes: false },
    { host: huge, spec: 'name=big,vcpus=4,memory=1T', deviceNodes: false },
    { host: presetHost('broadwell-2s'), spec: 'name=dn,vcpus=4,memory=8G,devices=gpu:1:none', deviceNodes: true },
    { host: presetHost('broadwell-2s'), spec: 'name=sh,vcpus=24,memory=8G,cpu=shared', deviceNodes: false },
    { host: smt4, spec: 'name=s4,vcpus=8,memory=1G,smt=require', deviceNodes: false },
    // A fresh seed's find: more than 255 vCPUs need x2APIC (libvirt: an IOMMU with eim; QEMU: split irqchip).
    { host: presetHost('epyc-2s-nps1'), spec: 'name=x2,vcpus=267,memory=54138M', deviceNodes: false },
  ];
  hosts.push(smt4, huge);
  const queue: QueuedRequest[] = examples.map((ex, k) => ({ ...ex, spec: ex.spec.replace(/^name=[^,]+/, `name=x${k}`) }));
  let i = 0;
  for (const host of hosts) for (let k = 0; k < REQUESTS_PER_HOST; k++) queue.push({ host, ...generateRequest(rand, host.topology, i++) });
  return { hosts, queue };
}
