/**
 * # Placement engine
 *
 * Given a host (the topology model) and what is already placed on it, decide where a new VM's
 * vCPUs, memory, huge pages and devices go, in one decision, deterministically, and say why.
 *
 * ## Pieces (one file each)
 * - `request.ts`: the VM request (zod schema; JSON and compact CLI form). Errors: RequestError,
 *   code ERR_REQUEST, naming the field and value. Defaults: dedicated vCPUs, smt=auto, 4K pages
 *   (huge pages are opt-in as in libvirt; `pages=auto` takes the largest size whose pools hold the
 *   VM), numa=auto, tier=dram, emulator threads share the vCPUs' pCPUs, device locality preferred.
 * - `state.ts`: HostState = topology + reserve + allocations, immutable; two-phase claims with an
 *   explicit expiry (`now` is always a parameter); JSON for `--state FILE`.
 * - `capacity.ts`: what is free per node (whole cores, PUs, memory per page size, devices/VFs).
 * - `context.ts`: one request x page size x CPU mode, capacities precomputed, and `evaluate(set)`:
 *   the standard split of vCPUs (even, water-filled) and memory (follows the vCPUs), feasibility
 *   with shortfalls, device locality and the weighted-distance cost. Every policy reuses it.
 * - `policy.ts`: `PlacementPolicy { name, description, place(request, state) }` and
 *   `definePolicy(name, description, chooser)`: a policy only picks the node set; `decide.ts` does
 *   the rest (SMT and page-size fallbacks, explicit CPUs, concrete CPUs, devices and the I/O plan
 *   via `assign.ts`), `explain.ts` the placement (`vnuma.ts`, cost via `../cost`, explanation) and
 *   `refusal.ts` the refusal reasons and hints.
 * - `policies/index.ts`: the registry; `policies/numaplan.ts`: the engine; baselines live in
 *   `policies/baselines/` and register themselves.
 * - `place.ts`: `place` and `placeMany` (in order, each VM seeing the previous ones).
 *
 * ## Results
 * `{ ok: true, placement }` or `{ ok: false, reasons: [{ resource, node, need, have, shortfall,
 * detail }], hints: [...] }`. Infeasible is a result; only malformed input throws (ERR_REQUEST,
 * ERR_STATE...).
 *
 * ## The numaplan decision (details in policies/numaplan.ts)
 * 1. CPU mode: smt=auto counts free *whole cores* (one vCPU per core) and falls back to sibling
 *    threads only if no whole-core placement exists (the explanation says so); prefer = threads;
 *    isolate = one vCPU per core, siblings held idle; require = whole cores, vCPUs fill siblings.
 *    Shared vCPUs (cpu=shared) may share PUs with other shared VMs but never sit on a PU held by
 *    anyone (reserve, dedicated vCPUs, held siblings, emulator pCPUs). Reserved emulator pCPUs
 *    (emulator=N) are held exclusively, so for a shared VM they come only from completely free PUs
 *    of one of its nodes; none free is a refusal naming `emulator-cpus` (hint: emulator=share).
 * 2. One node if the VM fits in one: lowest score = 1000 x missing preferred devices + 10 x
 *    (distance ratio - 1) + best-fit leftover + 0.5 x device richness (device-less VMs) + 0.25 x
 *    package load; ties by lowest node id. Required devices are hard constraints.
 * 3. Else the fewest nodes k; among k-sets: fewer missing preferred devices, then lowest weighted
 *    SLIT ratio sum_a sum_b w_a m_b d(a,b)/10 (w: vCPU share, m: memory share), then lowest ids.
 *    Exhaustive when C(n, k) <= EXACT_SUBSET_LIMIT (256; covers every host of up to 8 nodes), else
 *    greedy growth from every seed with a feasibility look-ahead plus 1-swap local search:
 *    O(n^2 k) per k, no subset enumeration.
 * 4. Memory tiers: CPU-less nodes (HBM, CXL, GPU memory) are used only for tier=hbm|cxl|gpu; then
 *    vCPUs go on CPU nodes and memory on the tier's nodes nearest to them.
 * 5. Escape hatches: `cpus=` honoured exactly (each CPU checked free), `nodes=` exactly that set.
 * 6. Explicit guest layout (`layout=8:32G/8:32G`): exactly as many host nodes as guest nodes, the
 *    closest such set (step 3's objective); guest node i gets its vCPUs and memory on one host node,
 *    the i-th of the set in ascending id when every guest node fits there, else the first fitting
 *    assignment in that order (context.ts). A refusal names each guest node that fits on no host
 *    node and what it lacks, or that the layout has more guest nodes than the host has nodes.
 *
 * ## vNUMA and cost
 * A VM on several nodes gets one guest node per host node (distances from the host matrix,
 * devices on their node's guest node); memory-only nodes become CPU-less guest nodes. The cost
 * model (`../cost/model.ts`) predicts remote-access fraction, relative and absolute latency, TLB
 * reach and DMA translation entries.
 *
 * ## Determinism
 * No randomness, no clocks, no iteration over unordered keys without sorting: the same state and
 * request give the same placement, byte for byte.
 */
export * from './capacity.js';
export * from './context.js';
export * from './decide.js';
export * from './explain.js';
export * from './ledger.js';
export * from './refusal.js';
export * from './split.js';
export * from './host-update.js';
export * from './io-threads.js';
export * from './place.js';
export * from './policies/index.js';
export * from './policy.js';
export * from './request.js';
export * from './state.js';
export * from './types.js';
export * from './vnuma.js';
