/**
 * Why a request does not fit a host, and what would make it fit: built on first read, only for the
 * refusals that are reported (the fleet judges many hosts; a refusal of the fleet reports a few).
 *
 * Reasons: per node (the binding resource, need, have, shortfall) and host-wide, from the most
 * permissive (mode, page size) tried, then the policy's own reasons, then assignment's; a policy
 * whose rule found no set although no node is short says so. Hints: the nearest changes that would
 * fit, each verified by deciding the changed request on the same host (a decision without detail:
 * no explanation is built for a hint).
 */
import { pageSizeLabel } from '../topology/sizes.js';
import type { PlacementContext } from './context.js';
import { decide } from './decide.js';
import { memResource } from './layout.js';
import { LINK_WORDS, LOOSEST_LINK, PAIRING_LEVELS } from './pairing.js';
import type { HostLedger } from './ledger.js';
import type { PlacementPolicy } from './policy.js';
import type { VmRequest } from './request.js';
import { proportional, waterFill } from './split.js';
import type { RefusalReason } from './types.js';

/** Nodes listed individually in refusals; above it, the ones closest to fitting. */
export const MAX_REFUSAL_NODES = 16;

/** A refusal of one request on one host; `reasons()` and `hints()` are built on first read. */
export class DecisionRefusal {
  readonly ok = false as const;
  #reasons: RefusalReason[] | null = null;
  #hints: string[] | null = null;

  constructor(
    readonly policy: PlacementPolicy,
    readonly request: VmRequest,
    readonly ledger: HostLedger,
    /** The last (most permissive) context tried; null for explicit CPUs and limits. */
    private readonly last: PlacementContext | null,
    private readonly policyReasons: RefusalReason[],
    private readonly assignReasons: RefusalReason[],
    private readonly fixed: RefusalReason[] | null = null,
    fixedHints: string[] | null = null,
  ) {
    this.#hints = fixedHints;
  }

  /** A host above the policy's node limit. */
  static overLimit(policy: PlacementPolicy, request: VmRequest, ledger: HostLedger): DecisionRefusal {
    const n = ledger.topology.nodes.length;
    const limit = policy.nodeLimit;
    return new DecisionRefusal(policy, request, ledger, null, [], [], [
      { resource: 'numa-nodes', node: null, need: n, have: limit, shortfall: n - limit, detail: `${policy.name}: ${policy.limitWhy} (host has ${n} NUMA nodes, limit ${limit})` },
    ], ['policy numaplan has no node limit']);
  }

  /** Explicit CPUs that cannot be honoured. */
  static explicit(policy: PlacementPolicy, request: VmRequest, ledger: HostLedger, reasons: RefusalReason[]): DecisionRefusal {
    return new DecisionRefusal(policy, request, ledger, null, [], [], reasons.map(withShortfall));
  }

  /** The reasons, each with its shortfall (need - have, at least 0). */
  reasons(): RefusalReason[] {
    if (this.#reasons === null) this.#reasons = this.fixed ?? this.build();
    return this.#reasons;
  }

  /** The hints: the nearest changes to the request that would fit this host. */
  hints(): string[] {
    if (this.#hints === null) this.#hints = hintsFor(this.policy, this.request, this.ledger, this.last);
    return this.#hints;
  }

  private build(): RefusalReason[] {
    let reasons: RefusalReason[] = this.assignReasons;
    if (this.last) reasons = [...refusalReasons(this.last), ...this.policyReasons, ...this.assignReasons];
    if (reasons.length === 0) {
      // Every refusal says why: when the shared per-node checks find nothing missing, it was the
      // policy's own rule that found no set.
      const policy = this.policy.name;
      reasons = [{ resource: 'node-set', node: null, need: 1, have: 0, detail: `${policy}: no node set this policy's rule considers holds the VM, although the shared checks find no node short of it` }];
    }
    return reasons.map(withShortfall);
  }
}

// Object.assign copies like a spread (same keys, same order) but far faster on these mixed shapes.
function withShortfall(r: RefusalReason): RefusalReason {
  return Object.assign({}, r, { shortfall: Math.max(0, r.need - r.have) });
}

/** Why nothing fits in a context: per node (single-node shortfalls) and host-wide. */
export function refusalReasons(ctx: PlacementContext): RefusalReason[] {
  const request = ctx.request;
  if (ctx.cpuNodes.length === 0) {
    return [{ resource: 'nodes', node: null, need: 1, have: 0, detail: `no usable node for vCPUs${request.tier !== 'dram' ? ` with ${request.tier} memory` : ''}${request.nodes ? ` among nodes ${request.nodes.join(',')}` : ''}` }];
  }
  if (ctx.separateMemory && ctx.memNodes.length === 0) {
    return [{ resource: `${request.tier}-memory`, node: null, need: request.memory, have: 0, detail: `the host has no ${request.tier} memory node` }];
  }
  if (request.nodes) {
    const ev = ctx.evaluate(ctx.cpuNodes.map((n) => n.id));
    return ev.shortfalls.map((s) => ({ ...s, detail: `${s.detail} (nodes given explicitly)` }));
  }
  if (request.layout) return layoutRefusal(ctx, request.layout.length);
  const single = (id: number): RefusalReason[] => ctx.evaluate([id]).shortfalls.map((s) => Object.assign({}, s, { node: id }));
  let per: RefusalReason[][];
  if (ctx.cpuNodes.length > MAX_REFUSAL_NODES) {
    // The nodes closest to fitting; on the common request their gap comes without a full evaluation.
    const gap = (rs: RefusalReason[]): number => rs.reduce((s, r) => s + (r.need - r.have) / Math.max(1, r.need), 0);
    per = ctx.cpuNodes
      .map((n, i) => ({ id: n.id, i, g: singleGap(ctx, n.id) ?? gap(single(n.id)) }))
      .sort((x, y) => x.g - y.g || x.i - y.i)
      .slice(0, MAX_REFUSAL_NODES)
      .sort((x, y) => x.i - y.i)
      .map((x) => single(x.id));
  } else per = ctx.cpuNodes.map((n) => single(n.id));
  const out = per.flat();
  const hi = ctx.maxNodes();
  if (hi > 1 || request.layout) {
    const lo = ctx.minNodes();
    if (lo === Number.POSITIVE_INFINITY) {
      const all = ctx.evaluate(ctx.cpuNodes.map((n) => n.id));
      out.push(...all.shortfalls.map((s) => ({ ...s, node: null, detail: `whole host: ${s.detail}` })));
      if (all.ok || all.shortfalls.length === 0) {
        out.push({ resource: 'nodes', node: null, need: ctx.cpuNodes.length + 1, have: ctx.cpuNodes.length, detail: 'the host as a whole is too small' });
      }
    } else if (lo > hi) {
      out.push({ resource: 'nodes', node: null, need: lo, have: hi, detail: `needs at least ${lo} nodes; the request allows ${hi}` });
    } else {
      out.push({ resource: 'node-set', node: null, need: 1, have: 0, detail: `no set of ${lo}..${hi} nodes satisfies every constraint together` });
    }
  } else if (request.numa === 'strict') {
    out.push({ resource: 'nodes', node: null, need: 1, have: 0, detail: 'numa=strict: no single node holds the VM' });
  }
  return out;
}

/**
 * Why an explicit guest layout fits nowhere: more guest nodes than usable host nodes (each guest
 * node needs a host node of its own); else each guest node that fits on no host node, with what it
 * lacks on the closest one; else (each has a host node of its own) the set-wide constraint.
 */
function layoutRefusal(ctx: PlacementContext, guests: number): RefusalReason[] {
  const ids = ctx.cpuNodes.map((n) => n.id);
  if (guests > ids.length) {
    return [
      {
        resource: 'nodes',
        node: null,
        need: guests,
        have: ids.length,
        detail: `the layout has ${guests} guest nodes, each on a host node of its own; the host has ${ids.length} node(s) for vCPUs${ctx.request.tier !== 'dram' ? ` with ${ctx.request.tier} memory` : ''}`,
      },
    ];
  }
  const out = ctx.layoutShortfalls(ids);
  if (out.length > 0) return out;
  return [
    {
      resource: 'node-set',
      node: null,
      need: 1,
      have: 0,
      detail: `every guest node fits on a host node of its own, but no set of ${guests} nodes satisfies every other constraint too (devices, memory tier, policy)`,
    },
  ];
}

/**
 * The summed relative shortfall of one node, sum((need - have) / max(1, need)) over the reasons
 * `evaluate([id])` gives, computed without building them for the common request (no layout, no
 * memory tier, no devices: the CPU check, then memory, as evaluate does); null for other requests.
 */
function singleGap(ctx: PlacementContext, id: number): number | null {
  const request = ctx.request;
  if (request.layout || ctx.separateMemory || request.devices.length > 0) return null;
  const slots = ctx.slots;
  const cap = ctx.cpuCap(id);
  if (!(slots <= cap)) return 0 + (slots - cap) / Math.max(1, slots);
  const emulator = request.emulator === 'share' ? 0 : request.emulator;
  const vcpus = slots - emulator;
  if (vcpus <= 0) return 0 + (slots - slots) / Math.max(1, slots);
  const emu = ctx.emulatorCap(id);
  if (emulator > 0 && emu < emulator) return 0 + (emulator - emu) / Math.max(1, emulator);
  const page = ctx.pageSize;
  const mcap = ctx.memCap(id);
  const byPages = (): number[] | null => waterFill(request.memory / page, [Math.floor(mcap / page)])?.map((p) => p * page) ?? null;
  let share = request.numa === 'interleave' ? byPages() : proportional(request.memory, [vcpus], page);
  if (share && (share[0] as number) > mcap) share = byPages();
  if (!share) return 0 + (request.memory - mcap) / Math.max(1, request.memory);
  return 0;
}

/** Variations of a request tried for hints; each is bounded (binary searches are log2 of the size). */
function hintsFor(policy: PlacementPolicy, request: VmRequest, ledger: HostLedger, ctx: PlacementContext | null): string[] {
  const hints: string[] = [];
  // A hint needs whether the changed request fits and on which nodes, not the whole placement.
  const fits = (r: VmRequest): { nodes: number[] } | null => {
    try {
      const d = decide(policy, r, ledger);
      return d.ok ? { nodes: d.nodes } : null;
    } catch {
      return null;
    }
  };
  const where = (p: { nodes: number[] }): string => `nodes ${p.nodes.join(',')}`;
  const tryHint = (change: string, r: VmRequest): void => {
    const p = fits(r);
    if (p) hints.push(`${change} would fit (${where(p)})`);
  };
  if (request.pageSize !== 'auto' && request.pageSize > 4096) {
    for (const size of [2 * 1024 ** 2, 4096]) {
      if (size < request.pageSize && request.memory % size === 0 && (request.layout ?? []).every((g) => g.memory % size === 0)) tryHint(`pages=${pageSizeLabel(size)}`, { ...request, pageSize: size });
    }
    if (ctx && ctx.pageSize === request.pageSize) {
      let best: { node: number; pages: number } | null = null;
      for (const n of ctx.cpuNodes) {
        const ev = ctx.evaluate([n.id]);
        if (ev.ok || !ev.shortfalls.every((s) => s.resource === memResource(ctx.pageSize))) continue;
        const pages = Math.ceil((request.memory - ctx.memCap(n.id)) / ctx.pageSize);
        if (!best || pages < best.pages) best = { node: n.id, pages };
      }
      if (best) {
        const pool = ledger.topology.nodes.find((n) => n.id === best?.node)?.hugePages.find((p) => p.pageSize === ctx.pageSize);
        hints.push(
          `${best.pages} more ${pageSizeLabel(ctx.pageSize)} huge pages on node ${best.node} (its pool has ${pool?.total ?? 0}, ${Math.floor(ctx.memCap(best.node) / ctx.pageSize)} free) would fit it there`,
        );
      }
    }
  }
  if (request.numa === 'strict') tryHint('numa=auto (allowing a split over nodes)', { ...request, numa: 'auto' });
  if (request.maxNodes !== undefined) {
    const { maxNodes: _drop, ...rest } = request;
    tryHint('dropping maxnodes', rest);
  }
  if (request.layout) {
    const { layout: _drop, ...rest } = request;
    tryHint('dropping the explicit layout', rest);
  }
  if (request.nodes) {
    const { nodes: _drop, ...rest } = request;
    tryHint('dropping the explicit nodes', rest);
  }
  if (request.cpus) {
    const { cpus: _drop, ...rest } = request;
    tryHint('dropping the explicit cpus', rest);
  }
  if (request.devices.some((d) => d.locality === 'required')) {
    tryHint('device locality preferred instead of required (a device elsewhere)', {
      ...request,
      devices: request.devices.map((d) => (d.locality === 'required' ? { ...d, locality: 'preferred' as const } : d)),
    });
  }
  if (request.pairing) {
    // The closest looser pairing that fits.
    for (const level of PAIRING_LEVELS.slice(PAIRING_LEVELS.indexOf(request.pairing) + 1)) {
      const before = hints.length;
      tryHint(`pairing=${level} (each GPU's NIC ${LINK_WORDS[LOOSEST_LINK[level]]})`, { ...request, pairing: level });
      if (hints.length > before) break;
    }
  }
  if (request.smt === 'isolate' || request.smt === 'require') tryHint('smt=auto', { ...request, smt: 'auto' });
  if (request.emulator !== 'share') tryHint('emulator=share', { ...request, emulator: 'share' });
  if (request.iocpus !== undefined && request.iocpus !== 'share') tryHint("iocpus=share (I/O threads on the VM's own vCPU pCPUs)", { ...request, iocpus: 'share' });
  if (request.tier !== 'dram') tryHint('tier=dram', { ...request, tier: 'dram' });
  if (hints.length === 0 && request.vcpus > 1 && !request.cpus && !request.layout) {
    let lo = 0;
    let hi = request.vcpus - 1;
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      if (fits({ ...request, vcpus: mid })) lo = mid;
      else hi = mid - 1;
    }
    if (lo > 0) hints.push(`vcpus=${lo} would fit with the same memory`);
  }
  if (hints.length === 0 && !request.layout && request.pageSize !== 'auto') {
    const page = request.pageSize;
    let lo = 0;
    let hi = request.memory / page - 1;
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      if (fits({ ...request, memory: mid * page })) lo = mid;
      else hi = mid - 1;
    }
    if (lo > 0) hints.push(`memory=${pageSizeLabel(lo * page)} would fit with the same vCPUs`);
  }
  if (hints.length === 0) hints.push('no single change to the request fits this host: free resources (release a VM) or use another host');
  return hints;
}
