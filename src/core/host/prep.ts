/**
 * `numaplan host prep`, the pure part: from what the host shows now (its topology, its THP settings,
 * what its cgroup hierarchy offers) and what is asked (huge-page pools per node, THP mode and
 * defrag, the host reserve, or a profile), the list of changes, the ones already in place, and the
 * refusals: a change that would take huge pages or CPUs that placed VMs hold (the judgement of
 * host-update.ts, on the host as it would be after the change).
 *
 * The adapter (adapters/host/settings.ts) reads the settings and writes the files; the command
 * prints the plan (dry run) or applies it and reports what the kernel granted.
 *
 * Huge-page pools are set per node through the node's own file
 * (/sys/devices/system/node/nodeN/hugepages/hugepages-<KB>kB/nr_hugepages): the kernel then
 * allocates the pages from that node only, and may grant fewer than asked when the node's memory
 * is short or fragmented (1G pages especially, once the host has run a while). Shrinking happens
 * before growing, so that memory a smaller pool gives back can serve a larger one.
 *
 * The host reserve (CPUs and memory numaplan keeps for the host) is numaplan's bookkeeping: it is
 * written into the state file or the service. Where it can also confine host tasks:
 * - cgroup v2 without systemd: a `numaplan-host` cgroup at the hierarchy's root with cpuset.cpus =
 *   the reserve CPUs and cpuset.mems = their nodes (the cpuset controller enabled for the root's
 *   children); host daemons are moved into it by whoever starts them (numaplan moves no task);
 * - systemd: systemd owns the cgroup tree (no other program may write its cgroups), so numaplan
 *   prints the `systemctl set-property` settings (AllowedCPUs=, AllowedMemoryNodes= on
 *   system.slice, user.slice and init.scope) and applies nothing there;
 * - cgroup v1 or no cgroup: nothing but the bookkeeping, and a note saying so.
 */
import { judgeAllocations } from '../placement/host-update.js';
import type { Allocation, HostReserve } from '../placement/state.js';
import { formatCpuList, parseCpuList } from '../topology/cpulist.js';
import type { Topology } from '../topology/model.js';
import { formatSize } from '../topology/sizes.js';
import { deepFreeze } from '../topology/build.js';

/** A kernel setting offered as a choice list ("always [madvise] never"). */
export interface ChoiceSetting {
  current: string;
  choices: string[];
}

/** What the cgroup hierarchy offers for a host cpuset. */
export interface CgroupInfo {
  /** 2: a cgroup v2 hierarchy (mounted at `mount`); 1: cgroup v1 only; null: none. */
  version: 2 | 1 | null;
  /** Mount point of the v2 hierarchy (e.g. /sys/fs/cgroup). */
  mount: string | null;
  /** systemd manages the tree (/run/systemd/system exists). */
  systemd: boolean;
  /** The v2 root offers the cpuset controller. */
  cpuset: boolean;
  /** A cgroup v1 hierarchy holds the cpuset controller (v1 or hybrid hosts). */
  v1Cpuset: boolean;
  /** The numaplan-host cgroup as it is now (null when it does not exist). */
  hostGroup: { cpus: string; mems: string } | null;
}

/** What the host shows now, beside its topology. */
export interface HostSettings {
  thp: { enabled: ChoiceSetting | null; defrag: ChoiceSetting | null };
  cgroup: CgroupInfo;
}

/** A pool to set: `count` pages of `pageSize` bytes on `node`. */
export interface PoolTarget {
  node: number;
  pageSize: number;
  count: number;
}

/** What `host prep` is asked to do. */
export interface PrepRequest {
  hugepages: PoolTarget[];
  thp?: string;
  thpDefrag?: string;
  /** A new host reserve (CPUs and/or bytes of the reserve node): recorded, and a host cpuset where the host offers one. */
  reserve?: { cpus?: number[]; memory?: number };
  profile?: 'latency';
}

/** Where placed VMs are known from: their allocations and the reserve they were placed under. */
export interface PlacedVms {
  origin: string;
  /** Nothing recorded there yet (a state file to create, a host the service does not know): the reserve is written whatever it was. */
  fresh?: boolean;
  reserve: HostReserve;
  allocations: readonly Allocation[];
}

/** One change. */
export type Change =
  | { kind: 'hugepages'; node: number; pageSize: number; from: number; to: number; file: string; inUse: number }
  | { kind: 'thp'; setting: 'enabled' | 'defrag'; from: string; to: string; file: string }
  | { kind: 'reserve'; from: HostReserve | null; to: HostReserve; where: string }
  | { kind: 'cpuset'; path: string; from: { cpus: string; mems: string } | null; to: { cpus: string; mems: string } };

/** A reason for refusing the plan (the shape of a placement refusal, with the VM when one is concerned). */
export interface PrepRefusal {
  vm: string | null;
  resource: string;
  node: number | null;
  need: number;
  have: number;
  detail: string;
}

/** The plan. */
export interface PrepPlan {
  /** In the order to apply them: pools shrinking, pools growing, THP, cpuset, reserve. */
  changes: Change[];
  /** What was asked and is already so. */
  unchanged: Change[];
  refusals: PrepRefusal[];
  /** Settings for the operator to apply (systemd). */
  advice: string[];
  notes: string[];
}

/** Bad input to `host prep` (exit 2), naming the option. */
export class PrepError extends Error {
  readonly code = 'ERR_HOST_PREP';
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(`${path}: ${message}`);
    this.name = 'PrepError';
  }
}

/** The cgroup numaplan creates for host tasks, under the v2 root. */
export const HOST_CGROUP = 'numaplan-host';
/** The latency profile's explicit pool: this share of each node's memory in 2 MiB pages (never less than the pool holds). */
export const LATENCY_POOL_SHARE = 0.02;
const TWO_MB = 2 << 20;
const PAGE_SIZES: Record<string, number> = { '2M': TWO_MB, '1G': 1 << 30 };

/** The sysfs file of a node's pool. */
export function poolFile(node: number, pageSize: number): string {
  return `/sys/devices/system/node/node${node}/hugepages/hugepages-${pageSize / 1024}kB/nr_hugepages`;
}

/** The sysfs file of a THP setting. */
export function thpFile(setting: 'enabled' | 'defrag'): string {
  return `/sys/kernel/mm/transparent_hugepage/${setting}`;
}

/** "2M", "1G" for a page size in bytes. */
export function pageLabel(size: number): string {
  return size >= 1 << 30 ? `${size / 2 ** 30}G` : size >= 1 << 20 ? `${size / 2 ** 20}M` : `${size / 1024}K`;
}

/**
 * Parses `--hugepages SIZE:COUNT[@NODES],...` (e.g. "2M:128@1,1G:2@0", "2M:64@0-3"; without @, every
 * node with memory). Sizes: 2M, 1G, or any size in KiB the kernel offers ("64K"). Later entries for
 * the same node and size win.
 */
export function parseHugepagesSpec(spec: string, topology: Topology): PoolTarget[] {
  const out = new Map<string, PoolTarget>();
  const maxNode = Math.max(0, ...topology.nodes.map((n) => n.id));
  for (const raw of spec.split(',').reduce<string[]>((acc, part) => {
    // "2M:64@0,2" keeps the node list together: a part without ':' continues the previous one.
    if (!part.includes(':') && acc.length > 0 && acc[acc.length - 1]?.includes('@')) acc[acc.length - 1] += `,${part}`;
    else acc.push(part);
    return acc;
  }, [])) {
    const item = raw.trim();
    const m = /^(\d+[KMG])[iB]*:(\d+)(?:@(.+))?$/i.exec(item);
    if (!m) throw new PrepError('--hugepages', `cannot read "${item}" (expected SIZE:COUNT[@NODES], e.g. 2M:128@1 or 1G:2@0-1)`);
    const sizeText = (m[1] as string).toUpperCase();
    const pageSize = PAGE_SIZES[sizeText] ?? Number(sizeText.slice(0, -1)) * (sizeText.endsWith('G') ? 2 ** 30 : sizeText.endsWith('M') ? 2 ** 20 : 1024);
    const count = Number(m[2]);
    if (!Number.isSafeInteger(count) || count > 1 << 24) throw new PrepError('--hugepages', `${item}: page count ${m[2]} is too large`);
    let nodes: number[];
    if (m[3] === undefined) nodes = topology.nodes.filter((n) => n.memory.total > 0).map((n) => n.id);
    else {
      try {
        nodes = parseCpuList(m[3], { maxId: Math.max(maxNode, 1023), what: 'node' });
      } catch (err) {
        throw new PrepError('--hugepages', `${item}: ${(err as Error).message}`);
      }
    }
    for (const node of nodes) {
      const n = topology.nodes.find((x) => x.id === node);
      if (!n) throw new PrepError('--hugepages', `${item}: node ${node} does not exist (this host has nodes ${topology.nodes.map((x) => x.id).join(',')})`);
      if (!n.hugePages.some((p) => p.pageSize === pageSize)) {
        throw new PrepError('--hugepages', `${item}: node ${node} offers no ${sizeText} pages (its sizes: ${n.hugePages.map((p) => pageLabel(p.pageSize)).join(', ') || 'none'})`);
      }
      if (count * pageSize > n.memory.total) {
        throw new PrepError('--hugepages', `${item}: ${count} pages of ${sizeText} (${formatSize(count * pageSize)}) are more than node ${node}'s memory (${formatSize(n.memory.total)})`);
      }
      out.set(`${node}/${pageSize}`, { node, pageSize, count });
    }
  }
  return [...out.values()].sort((a, b) => a.node - b.node || a.pageSize - b.pageSize);
}

/** The latency profile's pools: 2% of each node's memory in 2 MiB pages, never fewer than the pool holds. */
export function latencyProfilePools(topology: Topology): PoolTarget[] {
  return topology.nodes
    .filter((n) => n.memory.total > 0 && n.hugePages.some((p) => p.pageSize === TWO_MB))
    .map((n) => {
      const now = n.hugePages.find((p) => p.pageSize === TWO_MB)?.total ?? 0;
      return { node: n.id, pageSize: TWO_MB, count: Math.max(now, Math.floor((n.memory.total * LATENCY_POOL_SHARE) / TWO_MB)) };
    });
}

/** The topology as it would be with these pools (free pages follow the total by the same difference, never below 0). */
export function withPools(topology: Topology, pools: readonly PoolTarget[]): Topology {
  const nodes = topology.nodes.map((n) => ({
    ...n,
    hugePages: n.hugePages.map((p) => {
      const t = pools.find((x) => x.node === n.id && x.pageSize === p.pageSize);
      return t ? { ...p, total: t.count, free: Math.max(0, p.free + t.count - p.total) } : p;
    }),
  }));
  return deepFreeze({ ...topology, nodes });
}

const reserveText = (r: HostReserve): string =>
  `CPUs ${r.cpus.length > 0 ? formatCpuList(r.cpus) : 'none'}, ${r.memory.map((m) => `${formatSize(m.bytes)} on node ${m.node}`).join(', ') || 'no memory'}`;

/** One line describing a change (`from` -> `to`). */
export function describeChange(c: Change): { what: string; from: string; to: string; where: string } {
  switch (c.kind) {
    case 'hugepages':
      return { what: `node ${c.node} ${pageLabel(c.pageSize)} pool`, from: `${c.from} pages`, to: `${c.to} pages`, where: c.file };
    case 'thp':
      return { what: `transparent huge pages ${c.setting}`, from: c.from, to: c.to, where: c.file };
    case 'reserve':
      return { what: 'host reserve', from: c.from ? reserveText(c.from) : 'not recorded yet', to: reserveText(c.to), where: c.where };
    case 'cpuset':
      return {
        what: 'host cpuset',
        from: c.from ? `cpus ${c.from.cpus || '(none)'}, mems ${c.from.mems || '(none)'}` : 'absent',
        to: `cpus ${c.to.cpus}, mems ${c.to.mems}`,
        where: c.path,
      };
  }
}

/** A HostReserve from a request's reserve on this topology (the same rules as place --reserve-*). */
export type ReserveBuilder = (topology: Topology, reserve: { cpus?: number[]; memory?: number }) => HostReserve;

/**
 * Plans `host prep`. `placed` are the VMs the change is judged against (a state file or the
 * service); `buildReserve` makes a reserve the way placement does (state.ts's defaultReserve).
 */
export function planHostPrep(
  topology: Topology,
  settings: HostSettings,
  request: PrepRequest,
  placed: PlacedVms | null,
  buildReserve: ReserveBuilder,
): PrepPlan {
  const changes: Change[] = [];
  const unchanged: Change[] = [];
  const advice: string[] = [];
  const notes: string[] = [];

  // --- huge-page pools: the profile's, then the explicit ones (which win) ---
  const pools = new Map<string, PoolTarget>();
  if (request.profile === 'latency') for (const p of latencyProfilePools(topology)) pools.set(`${p.node}/${p.pageSize}`, p);
  for (const p of request.hugepages) pools.set(`${p.node}/${p.pageSize}`, p);
  const targets = [...pools.values()].sort((a, b) => a.node - b.node || a.pageSize - b.pageSize);
  const poolChanges: (Change & { kind: 'hugepages' })[] = [];
  for (const t of targets) {
    const pool = topology.nodes.find((n) => n.id === t.node)?.hugePages.find((p) => p.pageSize === t.pageSize);
    if (!pool) throw new PrepError('--hugepages', `node ${t.node} offers no ${pageLabel(t.pageSize)} pages`);
    const c = { kind: 'hugepages' as const, node: t.node, pageSize: t.pageSize, from: pool.total, to: t.count, file: poolFile(t.node, t.pageSize), inUse: pool.total - pool.free };
    if (c.from === c.to) unchanged.push(c);
    else {
      poolChanges.push(c);
      if (c.to < c.inUse) notes.push(`node ${c.node} ${pageLabel(c.pageSize)}: ${c.inUse} pages are in use now; the kernel keeps them (as surplus) until they are freed, then the pool shrinks to ${c.to}`);
    }
  }
  // Shrink first: memory given back can serve a pool that grows.
  changes.push(...poolChanges.filter((c) => c.to < c.from), ...poolChanges.filter((c) => c.to > c.from));

  // --- transparent huge pages ---
  const thpWanted: { setting: 'enabled' | 'defrag'; value: string | undefined; option: string }[] = [
    { setting: 'enabled', value: request.thp ?? (request.profile === 'latency' ? 'madvise' : undefined), option: '--thp' },
    { setting: 'defrag', value: request.thpDefrag ?? (request.profile === 'latency' ? 'never' : undefined), option: '--thp-defrag' },
  ];
  for (const w of thpWanted) {
    if (w.value === undefined) continue;
    const s = settings.thp[w.setting];
    if (!s) throw new PrepError(w.option, `this kernel has no ${thpFile(w.setting)} (transparent huge pages are not built in)`);
    if (!s.choices.includes(w.value)) throw new PrepError(w.option, `"${w.value}" is not one of this kernel's choices: ${s.choices.join(', ')}`);
    const c = { kind: 'thp' as const, setting: w.setting, from: s.current, to: w.value, file: thpFile(w.setting) };
    (c.from === c.to ? unchanged : changes).push(c);
  }

  // --- the reserve: recorded where VMs are known; a host cpuset where the host offers one ---
  let newReserve: HostReserve | null = null;
  if (request.reserve) {
    newReserve = buildReserve(topology, request.reserve);
    const cpuNodes = [...new Set(newReserve.cpus.map((c) => topology.pus.find((p) => p.os === c)?.node).filter((n): n is number => n !== null && n !== undefined))];
    const mems = [...new Set([...cpuNodes, ...newReserve.memory.map((m) => m.node)])].sort((a, b) => a - b);
    if (placed) {
      const c = { kind: 'reserve' as const, from: placed.fresh ? null : placed.reserve, to: newReserve, where: placed.origin };
      (c.from !== null && sameReserve(c.from, c.to) ? unchanged : changes).push(c);
    } else {
      notes.push('the reserve is numaplan\'s bookkeeping for placement: give --state FILE or --server URL to record it there');
    }
    const cg = settings.cgroup;
    const cpus = newReserve.cpus.length > 0 ? formatCpuList(newReserve.cpus) : '';
    if (newReserve.cpus.length === 0) {
      notes.push('the reserve holds no CPU: no cpuset for host tasks');
    } else if (cg.systemd) {
      const allowed = `AllowedCPUs=${cpus}${mems.length > 0 ? ` AllowedMemoryNodes=${formatCpuList(mems)}` : ''}`;
      advice.push(
        ...['system.slice', 'user.slice', 'init.scope'].map((unit) => `systemctl set-property ${unit} ${allowed}`),
      );
      notes.push('systemd owns the cgroup tree on this host, so numaplan writes no cgroup: the commands above keep host services and logins on the reserve (add --runtime to try them until the next boot)');
    } else if (cg.version === 2 && cg.cpuset && cg.mount) {
      const c = { kind: 'cpuset' as const, path: `${cg.mount}/${HOST_CGROUP}`, from: cg.hostGroup, to: { cpus, mems: formatCpuList(mems) } };
      const same = c.from !== null && normList(c.from.cpus) === normList(c.to.cpus) && normList(c.from.mems) === normList(c.to.mems);
      (same ? unchanged : changes).push(c);
      notes.push(`host tasks join the host cpuset when started in it (echo PID > ${c.path}/cgroup.procs); numaplan moves no running task`);
    } else if (cg.v1Cpuset) {
      notes.push('the cpuset controller is on a cgroup v1 hierarchy here: numaplan writes host cpusets on cgroup v2 only, so the reserve is recorded for placement only');
    } else if (cg.version === 2) {
      notes.push('the cgroup v2 hierarchy offers no cpuset controller here: the reserve is recorded for placement only');
    } else {
      notes.push(`${cg.version === 1 ? 'cgroup v1 only' : 'no cgroup hierarchy'}: the reserve is recorded for placement only (isolcpus= or a service manager's CPU affinity can keep host tasks on it)`);
    }
  }

  // --- judge against the placed VMs: only what this change breaks ---
  const refusals: PrepRefusal[] = [];
  if (placed && placed.allocations.length > 0) {
    const reserve = newReserve ?? placed.reserve;
    const after = withPools(topology, targets);
    const key = (b: { vm: string; resource: string; node: number | null }): string => `${b.vm}/${b.resource}/${b.node}`;
    const before = new Set(judgeAllocations(topology, placed.reserve, placed.allocations).map(key));
    for (const b of judgeAllocations(after, reserve, placed.allocations)) {
      if (before.has(key(b))) continue;
      refusals.push({ vm: b.vm, resource: b.resource, node: b.node, need: b.need, have: b.have, detail: b.detail });
    }
  }
  return { changes, unchanged, refusals, advice, notes };
}

function normList(s: string): string {
  try {
    return formatCpuList(parseCpuList(s.trim() === '' ? '' : s.trim(), { maxId: 1 << 20, what: 'CPU' }));
  } catch {
    return s.trim();
  }
}

function sameReserve(a: HostReserve, b: HostReserve): boolean {
  return JSON.stringify({ c: [...a.cpus].sort((x, y) => x - y), m: [...a.memory].sort((x, y) => x.node - y.node) }) === JSON.stringify({ c: [...b.cpus].sort((x, y) => x - y), m: [...b.memory].sort((x, y) => x.node - y.node) });
}

/** What applying one change gave. */
export interface ChangeOutcome {
  change: Change;
  /** changed: now as asked; short: the kernel granted less (pools); failed: the write was refused. */
  status: 'changed' | 'short' | 'failed';
  /** What the file says after the write (pools: pages granted). */
  readBack: string;
  error?: string;
}

/** Judges a pool write from what nr_hugepages reads back. */
export function poolOutcome(c: Change & { kind: 'hugepages' }, readBack: number): ChangeOutcome {
  return { change: c, status: readBack === c.to ? 'changed' : 'short', readBack: String(readBack) };
}
