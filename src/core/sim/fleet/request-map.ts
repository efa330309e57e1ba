/**
 * How a trace request becomes an engine request (`VmRequest`) in fleet mode:
 *
 * - vCPUs: rounded up to a whole number (traces may carry fractions); each is a dedicated vCPU on
 *   one hardware thread (`smt=prefer`), which is how clouds sell a vCPU and how the fleet model counts
 *   slots, so the engine and the simulator count the same thing.
 * - memory: bytes, rounded up to a whole 4 KiB page; page size: the trace's if it has one, else
 *   `auto` (the largest page size whose pools hold the VM, falling back to smaller ones: the presets
 *   pre-size huge-page pools, and a VM that could only use 4 KiB pages would see a part of the host).
 * - NUMA policy: auto -> auto, local -> strict (one node), interleave -> interleave, spread -> a
 *   two-node guest layout of halves (vCPUs: the larger half on guest node 0; memory: halves in whole
 *   MiB when the size allows, else in whole pages), the published benchmark's "double-NUMA" VM,
 *   which must span two nodes of one host.
 * - devices: class rdma / gpu / nic / vf become engine device kinds with the trace's locality; other
 *   classes (e.g. nvme) have no engine kind and are dropped (counted by the caller).
 * The request is built directly (no schema parse): every field is valid by construction, and a
 * million requests skip a million validations.
 */
import type { DeviceRequest, VmRequest } from '../../placement/request.js';
import type { Trace, TraceRequest } from '../trace.js';

const PAGE = 4096;
const KINDS: Record<string, DeviceRequest['kind']> = { rdma: 'rdma', gpu: 'gpu', nic: 'nic', vf: 'vf' };

const MIB = 1024 * 1024;

/** The engine request for trace request `index` (named `vm<index>`). */
export function toVmRequest(r: TraceRequest, index: number): VmRequest {
  const devices: DeviceRequest[] = [];
  for (const d of r.devices) {
    const kind = KINDS[d.class];
    if (kind) devices.push({ kind, count: 1, locality: d.locality });
  }
  const vcpus = Math.max(1, Math.ceil(r.vcpus - 1e-9));
  const memory = Math.max(PAGE, Math.ceil(r.memory / PAGE) * PAGE);
  const request: VmRequest = {
    name: `vm${index}`,
    vcpus,
    memory,
    pageSize: r.pageSize ?? 'auto',
    cpuPolicy: 'dedicated',
    smt: 'prefer',
    emulator: 'share',
    numa: r.numaPolicy === 'local' ? 'strict' : r.numaPolicy === 'interleave' ? 'interleave' : 'auto',
    tier: 'dram',
    devices,
  };
  if (r.numaPolicy === 'spread' && vcpus >= 2) {
    const unit = memory % (2 * MIB) === 0 ? MIB : PAGE;
    const half = Math.floor(memory / 2 / unit) * unit;
    request.layout = [
      { vcpus: Math.ceil(vcpus / 2), memory: memory - half },
      { vcpus: Math.floor(vcpus / 2), memory: half },
    ];
  }
  return request;
}

/**
 * The published benchmark's rule on a trace: a VM with more memory than `thresholdBytes` must span
 * two nodes of one host (`spread`), every other VM stays on one node (`local`).
 */
export function splitAbove(trace: Trace, thresholdBytes: number): Trace {
  return { ...trace, requests: trace.requests.map((r) => ({ ...r, numaPolicy: r.memory > thresholdBytes ? 'spread' : 'local' })) };
}

/** vCPU slots a trace request takes in the fleet model (the same rounding as `toVmRequest`). */
export function vcpuSlots(r: TraceRequest): number {
  return Math.max(1, Math.ceil(r.vcpus - 1e-9));
}
