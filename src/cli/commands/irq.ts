/**
 * `numaplan irq`: a device's MSI/MSI-X interrupts on its own node's CPUs. Reads the vectors
 * (/sys/bus/pci/devices/ADDR/msi_irqs, /proc/interrupts, /proc/irq/N/smp_affinity_list), plans one
 * CPU of the device's node per vector spread over its cores (avoiding CPUs dedicated to VMs), prints
 * the plan (dry run), and with --apply writes each vector's affinity and reads it back. Says when
 * irqbalance runs and would undo it, and how to ban the IRQs from it.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { IrqError, applyIrqAffinity, devicesWithVectors, irqbalanceStatus, pciAddress, readIrqDevice, type IrqApplied } from '../../adapters/irq/proc-irqs.js';
import { loadTopology } from '../../adapters/source.js';
import { type IrqPlan, type IrqRefusal, irqbalanceBanArgs, planIrqAffinity } from '../../core/irq/plan.js';
import { stateFromJson } from '../../core/placement/state.js';
import { formatCpuList, parseCpuList } from '../../core/topology/cpulist.js';
import type { Topology } from '../../core/topology/model.js';
import { type Io, writeJson } from '../io.js';
import { table } from '../render/table.js';
import { EXIT_INFEASIBLE, collect } from './place.js';

interface IrqOptions {
  device?: string[];
  apply?: boolean;
  state?: string;
  avoid?: string;
  root: string;
  json?: boolean;
}

/** The online, allowed CPUs of a node, grouped by core in topology order. */
function nodeCores(t: Topology, node: number): number[][] {
  const usable = new Set(t.pus.filter((p) => p.online && p.allowed && p.node === node).map((p) => p.os));
  return t.cores.filter((c) => c.node === node).map((c) => c.pus.filter((p) => usable.has(p))).filter((c) => c.length > 0);
}

/** The node a device's interrupts belong to: its numa_node, else the node holding all its local CPUs. */
function deviceNode(t: Topology, node: number | null, localCpus: number[] | null): number | null {
  if (node !== null) return node;
  if (!localCpus || localCpus.length === 0) return null;
  const nodes = new Set(localCpus.map((c) => t.pus.find((p) => p.os === c)?.node ?? null));
  return nodes.size === 1 ? ([...nodes][0] ?? null) : null;
}

/** Registers the command. */
export function registerIrq(program: Command, io: Io): void {
  program
    .command('irq')
    .description("put a device's MSI/MSI-X interrupts on its own node's CPUs: plan (dry run), --apply, verify")
    .option('--device <address>', 'the PCI function (repeatable); without it, list the devices that have vectors', collect)
    .option('--apply', 'write each vector\'s affinity and read it back (default: dry run)')
    .option('--state <file>', 'a numaplan state file: avoid the CPUs its VMs hold')
    .option('--avoid <cpus>', 'CPUs not to use (a cpulist)')
    .option('--root <dir>', 'the root of /sys and /proc (a captured tree)', '/')
    .option('--json', 'JSON output')
    .addHelpText(
      'after',
      `
Each vector goes to one CPU of the device's node (its numa_node, else the node of its local CPUs),
spread over the node's cores (first threads, then second threads), skipping the CPUs that VMs in
--state hold and those --avoid names. Exit 0 when every vector is planned (and, with --apply, reads
back as planned; vectors the kernel manages itself are reported and left as they are), 1 when a
device has no plan or a vector did not move, 2 for a bad address.

Examples:
  numaplan irq                                         devices with MSI/MSI-X vectors and their node
  numaplan irq --device 0000:41:00.0                   the plan (dry run)
  numaplan irq --device 41:00.0 --state host.json --apply --json`,
    )
    .action(async (opts: IrqOptions) => {
      const root = opts.root;
      if (!opts.device || opts.device.length === 0) {
        const list = devicesWithVectors(root);
        if (opts.json) writeJson(io, { devices: list });
        else io.out(`${table(['device', 'class', 'node', 'vectors'], list.map((d) => [d.address, d.class, d.node === null ? '-' : String(d.node), String(d.vectors)]))}\n`);
        return;
      }
      const addresses = opts.device.map(pciAddress);
      const topology = await loadTopology(root === '/' ? 'sysfs' : `sysfs:${root}`);
      const avoid = new Set<number>();
      if (opts.avoid !== undefined) {
        try {
          for (const c of parseCpuList(opts.avoid)) avoid.add(c);
        } catch (err) {
          throw new IrqError('--avoid', (err as Error).message);
        }
      }
      if (opts.state !== undefined) {
        if (!existsSync(opts.state)) throw new IrqError('--state', `no state file ${opts.state}`);
        const state = stateFromJson(readFileSync(opts.state, 'utf8'), opts.state);
        for (const a of state.allocations) for (const c of [...(a.exclusive ? a.cpus : []), ...a.heldCpus, ...a.emulatorCpus]) avoid.add(c);
      }
      const results: { plan: IrqPlan | null; refusal: IrqRefusal | null; applied: IrqApplied[] }[] = [];
      for (const address of addresses) {
        const dev = readIrqDevice(address, root);
        const node = deviceNode(topology, dev.node, dev.localCpus);
        const plan = planIrqAffinity({ device: address, node, vectors: dev.vectors, nodeCores: node === null ? [] : nodeCores(topology, node), avoid });
        if ('reason' in plan) {
          results.push({ plan: null, refusal: plan, applied: [] });
          continue;
        }
        const applied = opts.apply ? plan.vectors.map((v) => applyIrqAffinity(v.irq, v.planned, root)) : [];
        results.push({ plan, refusal: null, applied });
      }
      const irqs = results.flatMap((r) => r.plan?.vectors.map((v) => v.irq) ?? []);
      const balance = irqbalanceStatus(root);
      const unbanned = balance ? irqs.filter((i) => !balance.banned.includes(i)) : [];
      const irqbalance = balance
        ? {
            pid: balance.pid,
            wouldUndo: unbanned,
            advice:
              unbanned.length === 0
                ? 'irqbalance runs and leaves these IRQs alone (--banirq)'
                : `irqbalance (pid ${balance.pid}) runs and moves interrupts every 10 s: it would undo this for IRQs ${unbanned.join(',')}. Ban them: add "${irqbalanceBanArgs(unbanned)}" to IRQBALANCE_ARGS in /etc/default/irqbalance (Debian; /etc/sysconfig/irqbalance elsewhere) and restart irqbalance, or stop it`,
          }
        : null;
      const failed = results.some((r) => r.refusal !== null || r.applied.some((a) => !a.ok && !a.managed));
      if (opts.json) {
        writeJson(io, {
          ok: !failed,
          applied: opts.apply === true,
          devices: results.map((r) => (r.plan ? { ...r.plan, applied: opts.apply ? r.applied : undefined } : { device: r.refusal?.device, refused: r.refusal?.reason })),
          irqbalance,
        });
      } else {
        const out: string[] = [];
        for (const r of results) {
          if (!r.plan) {
            out.push(`device ${r.refusal?.device}: no plan: ${r.refusal?.reason}`);
            continue;
          }
          const p = r.plan;
          const moved = p.vectors.filter((v) => !v.unchanged).length;
          out.push(
            `device ${p.device}: ${p.vectors.length} vector(s) on node ${p.node}'s CPUs ${formatCpuList(p.targets)}${opts.apply ? '' : ` (dry run: --apply moves ${moved})`}`,
          );
          const rows = p.vectors.map((v, k) => {
            const a = r.applied[k];
            const status = !opts.apply ? (v.unchanged ? 'as planned' : v.onNode ? 'on the node' : 'off the node') : a?.ok ? 'moved, read back' : a?.managed ? 'kernel-managed, left' : `FAILED: ${a?.error ?? `reads ${a?.observed}`}`;
            return [String(v.irq), v.name || '-', formatCpuList(v.current) || '-', formatCpuList(v.planned), status];
          });
          out.push(table(['irq', 'name', 'was', 'planned', opts.apply ? 'result' : 'now'], rows));
          for (const n of p.notes) out.push(`note: ${n}`);
        }
        if (irqbalance) out.push(`note: ${irqbalance.advice}`);
        io.out(`${out.join('\n')}\n`);
      }
      if (failed) io.setExitCode(EXIT_INFEASIBLE);
    });
}
