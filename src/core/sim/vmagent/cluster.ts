/**
 * A fleet of two-node servers under the benchmark's rules: free cores and memory per node in flat
 * arrays (node index = server * 2 + node), and where each VM sits.
 */
import type { VmagentScenario } from './rules.js';

/** A VM as the benchmark sees it: cores, GB, and whether it is split over both nodes. */
export interface VmagentVm {
  cpu: number;
  mem: number;
  double: boolean;
}

/** Cluster state. Placement "actions" are server * 2 + node (node 0 for a double-NUMA VM). */
export class VmagentCluster {
  readonly servers: number;
  readonly cpuPerNode: number;
  readonly memPerNode: number;
  /** Free cores per node. */
  readonly freeCpu: Float64Array;
  /** Free GB per node. */
  readonly freeMem: Float64Array;
  /** Action of each placed VM by request index, -1 when not placed. */
  readonly where: Int32Array;

  constructor(scenario: VmagentScenario, requests: number) {
    this.servers = scenario.servers;
    this.cpuPerNode = scenario.coresPerNode;
    this.memPerNode = scenario.memoryPerNode;
    this.freeCpu = new Float64Array(2 * this.servers).fill(this.cpuPerNode);
    this.freeMem = new Float64Array(2 * this.servers).fill(this.memPerNode);
    this.where = new Int32Array(requests).fill(-1);
  }

  /** Whether the VM fits at this action (for a double-NUMA VM: on both nodes of the server). */
  fits(vm: VmagentVm, action: number): boolean {
    if (vm.double) {
      const n0 = action & ~1;
      const c = vm.cpu / 2;
      const m = vm.mem / 2;
      return (
        (this.freeCpu[n0] as number) >= c &&
        (this.freeMem[n0] as number) >= m &&
        (this.freeCpu[n0 + 1] as number) >= c &&
        (this.freeMem[n0 + 1] as number) >= m
      );
    }
    return (this.freeCpu[action] as number) >= vm.cpu && (this.freeMem[action] as number) >= vm.mem;
  }

  /** Places VM `id` at `action`; the caller has checked `fits`. */
  place(id: number, vm: VmagentVm, action: number): void {
    this.adjust(vm, action, -1);
    this.where[id] = action;
  }

  /** Removes VM `id` if it is placed; returns whether it was. */
  remove(id: number, vm: VmagentVm): boolean {
    const action = this.where[id] as number;
    if (action < 0) return false;
    this.adjust(vm, action, 1);
    this.where[id] = -1;
    return true;
  }

  /** Resets to an empty fleet. */
  clear(): void {
    this.freeCpu.fill(this.cpuPerNode);
    this.freeMem.fill(this.memPerNode);
    this.where.fill(-1);
  }

  private adjust(vm: VmagentVm, action: number, sign: number): void {
    if (vm.double) {
      const n0 = action & ~1;
      const c = (sign * vm.cpu) / 2;
      const m = (sign * vm.mem) / 2;
      this.freeCpu[n0] = (this.freeCpu[n0] as number) + c;
      this.freeMem[n0] = (this.freeMem[n0] as number) + m;
      this.freeCpu[n0 + 1] = (this.freeCpu[n0 + 1] as number) + c;
      this.freeMem[n0 + 1] = (this.freeMem[n0 + 1] as number) + m;
    } else {
      this.freeCpu[action] = (this.freeCpu[action] as number) + sign * vm.cpu;
      this.freeMem[action] = (this.freeMem[action] as number) + sign * vm.mem;
    }
  }
}
