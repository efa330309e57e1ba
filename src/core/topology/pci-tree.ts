/**
 * The PCI tree: host bridges, PCI-to-PCI bridges (root ports, switch ports) with the buses below
 * them, and each function below the bridge whose bus range holds its bus.
 *
 * Built as hwloc builds it from a Linux host (pci-common.c), so that numaplan and lstopo agree:
 * - a function sits below the innermost bridge of its domain whose [secondary, subordinate] bus range
 *   holds the function's bus (hwloc_pci_add_object: functions are inserted in bus-id order, a bridge
 *   takes the following siblings its range holds);
 * - one host bridge per run of consecutive top-level functions sharing a domain and a bus, covering
 *   that bus up to the largest subordinate bus of the bridges among them
 *   (hwloc_pcicommon_tree_add_hostbridges).
 * A source that knows the tree (an hwloc XML file) passes it as it is; the rest derive it here.
 *
 * Queries for the model's users (device affinity: same switch, root port, host bridge):
 * `pciAncestors` (the bridges above a function, nearest first), `pciRootPort`, `pciHostBridgeOf`.
 */
import type { PciBusRange, PciDevice, PciHostBridge, Topology } from './model.js';

/** What the tree needs of a function. */
export interface PciTreeInput {
  address: string;
  bridge: PciBusRange | null;
}

interface Parsed {
  address: string;
  domain: number;
  bus: number;
  dev: number;
  func: number;
  bridge: PciBusRange | null;
  children: Parsed[];
}

/** Domain, bus, device and function numbers of a "dddd:bb:dd.f" address. */
export function parsePciAddress(address: string): { domain: number; bus: number; dev: number; func: number } {
  const m = /^([0-9a-f]{4,8}):([0-9a-f]{2}):([0-9a-f]{2})\.([0-7])$/i.exec(address);
  if (!m) throw new Error(`"${address}" is not a PCI address`);
  return { domain: Number.parseInt(m[1] as string, 16), bus: Number.parseInt(m[2] as string, 16), dev: Number.parseInt(m[3] as string, 16), func: Number(m[4]) };
}

/** The domain part of an address, as written ("0000", "10000"). */
export function pciDomainOf(address: string): string {
  return address.slice(0, address.indexOf(':')).toLowerCase();
}

type Order = 'lower' | 'higher' | 'superset' | 'included' | 'equal';

/** hwloc_pci_compare_busids: where `a` goes relative to `b`. */
function compare(a: Parsed, b: Parsed): Order {
  if (a.domain !== b.domain) return a.domain < b.domain ? 'lower' : 'higher';
  if (a.bridge && b.bus >= a.bridge.secondary && b.bus <= a.bridge.subordinate) return 'superset';
  if (b.bridge && a.bus >= b.bridge.secondary && a.bus <= b.bridge.subordinate) return 'included';
  for (const k of ['bus', 'dev', 'func'] as const) if (a[k] !== b[k]) return a[k] < b[k] ? 'lower' : 'higher';
  return 'equal';
}

/** hwloc_pci_add_object over arrays of siblings. */
function add(siblings: Parsed[], neu: Parsed): void {
  for (let i = 0; i < siblings.length; i++) {
    const cur = siblings[i] as Parsed;
    const c = compare(neu, cur);
    if (c === 'higher') continue;
    if (c === 'included') {
      add(cur.children, neu);
      return;
    }
    if (c === 'equal') return; // the same bus id twice: hwloc ignores the second
    siblings.splice(i, 0, neu);
    const range = neu.bridge;
    if (range) {
      // The siblings after it that its bus range holds go below it.
      let j = i + 1;
      while (j < siblings.length) {
        const s = siblings[j] as Parsed;
        if (compare(neu, s) === 'lower') {
          if (s.domain > neu.domain || s.bus > range.subordinate) return;
          j++;
        } else {
          siblings.splice(j, 1);
          neu.children.push(s);
        }
      }
    }
    return;
  }
  siblings.push(neu);
}

const byBusId = (a: Parsed, b: Parsed): number => a.domain - b.domain || a.bus - b.bus || a.dev - b.dev || a.func - b.func;

/**
 * The PCI tree of a set of functions, as hwloc builds it: each function's parent bridge (null: on
 * a root bus) and the host bridges. Only functions with a `bridge` range can be parents.
 */
export function derivePciTree(devices: readonly PciTreeInput[]): { parents: Map<string, string | null>; hostBridges: PciHostBridge[] } {
  const all = devices.map((d): Parsed => ({ address: d.address.toLowerCase(), ...parsePciAddress(d.address), bridge: d.bridge, children: [] })).sort(byBusId);
  const top: Parsed[] = [];
  for (const p of all) add(top, p);
  const parents = new Map<string, string | null>();
  const walk = (list: Parsed[], parent: string | null): void => {
    for (const p of list) {
      parents.set(p.address, parent);
      walk(p.children, p.address);
    }
  };
  walk(top, null);
  const hostBridges: PciHostBridge[] = [];
  for (let i = 0; i < top.length; ) {
    const first = top[i] as Parsed;
    let subordinate = first.bus;
    let j = i;
    for (; j < top.length && (top[j] as Parsed).domain === first.domain && (top[j] as Parsed).bus === first.bus; j++) {
      const b = (top[j] as Parsed).bridge;
      if (b && b.subordinate > subordinate) subordinate = b.subordinate;
    }
    hostBridges.push({ domain: pciDomainOf(first.address), buses: { secondary: first.bus, subordinate } });
    i = j;
  }
  return { parents, hostBridges };
}

/** Host bridges in the order hwloc keeps them: by domain, then bus. */
export function sortHostBridges(bridges: readonly PciHostBridge[]): PciHostBridge[] {
  return [...bridges].sort((a, b) => Number.parseInt(a.domain, 16) - Number.parseInt(b.domain, 16) || a.buses.secondary - b.buses.secondary || a.buses.subordinate - b.buses.subordinate);
}

/** The host bridge of domain `domain` whose bus range holds `bus` (the first such), or null. */
export function hostBridgeForBus(bridges: readonly PciHostBridge[], domain: string, bus: number): PciHostBridge | null {
  const d = Number.parseInt(domain, 16);
  return bridges.find((h) => Number.parseInt(h.domain, 16) === d && bus >= h.buses.secondary && bus <= h.buses.subordinate) ?? null;
}

/** The bridges above a function, nearest first (empty for a function on a root bus or not in the topology). */
export function pciAncestors(topology: Topology, address: string): PciDevice[] {
  const byAddress = new Map(topology.pciDevices.map((d) => [d.address, d]));
  const out: PciDevice[] = [];
  let at = byAddress.get(address.toLowerCase())?.parent ?? null;
  while (at !== null) {
    const b = byAddress.get(at);
    if (!b || out.includes(b)) break;
    out.push(b);
    at = b.parent;
  }
  return out;
}

/** The bridge on a root bus above a function (its root port, for PCI Express), or null. */
export function pciRootPort(topology: Topology, address: string): PciDevice | null {
  const chain = pciAncestors(topology, address);
  return chain[chain.length - 1] ?? null;
}

/** The host bridge above a function (found from its top-level ancestor's bus), or null. */
export function pciHostBridgeOf(topology: Topology, address: string): PciHostBridge | null {
  const top = pciRootPort(topology, address)?.address ?? address.toLowerCase();
  return hostBridgeForBus(topology.pciHostBridges, pciDomainOf(top), parsePciAddress(top).bus);
}

/** The functions directly below a bridge (`null`: the top-level functions below a host bridge). */
export function pciChildren(topology: Topology, parent: string | PciHostBridge): PciDevice[] {
  if (typeof parent === 'string') return topology.pciDevices.filter((d) => d.parent === parent.toLowerCase());
  const same = (h: PciHostBridge | null): boolean => h !== null && h.domain === parent.domain && h.buses.secondary === parent.buses.secondary && h.buses.subordinate === parent.buses.subordinate;
  return topology.pciDevices.filter((d) => d.parent === null && same(hostBridgeForBus(topology.pciHostBridges, pciDomainOf(d.address), parsePciAddress(d.address).bus)));
}
