/**
 * Demo hosts for `numaplan serve --demo`: this machine (live sysfs, named by its hostname) plus a
 * few presets that show what a multi-node host looks like (AMD NPS4, Intel SNC2, GH200, CXL).
 */
import { readSysfs } from '../adapters/sysfs/read-sysfs.js';
import { topologyToJson } from '../core/topology/json-out.js';
import type { FleetService } from './fleet-service.js';

/** Presets registered as demo hosts, as [host name, preset]. */
export const DEMO_PRESETS: readonly [string, string][] = [
  ['demo-epyc-nps4', 'epyc-2s-nps4'],
  ['demo-xeon-snc2', 'xeon-2s-snc2'],
  ['demo-gh200', 'gh200-2s'],
  ['demo-cxl', 'cxl-2s'],
];

/** Registers the demo hosts; returns their names and any warning (e.g. no sysfs). */
export async function registerDemoHosts(service: FleetService): Promise<{ hosts: string[]; warnings: string[] }> {
  const hosts: string[] = [];
  const warnings: string[] = [];
  try {
    const topo = readSysfs();
    const name = sanitize(topo.hostname ?? 'this-host');
    await service.registerHost(name, { format: 'json', topology: topologyToJson(topo) });
    hosts.push(name);
  } catch (err) {
    warnings.push(`this host was not registered: ${(err as Error).message}`);
  }
  for (const [name, preset] of DEMO_PRESETS) {
    await service.registerHost(name, { format: 'preset', topology: preset });
    hosts.push(name);
  }
  return { hosts, warnings };
}

/** A host name the API accepts. */
export function sanitize(name: string): string {
  const s = name.replace(/[^A-Za-z0-9_.-]/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 128);
  return s === '' ? 'this-host' : s;
}
