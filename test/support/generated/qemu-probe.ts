/**
 * Starts a real qemu-system-x86_64 (TCG, -S, QMP on stdio) with an argv and reads back what it
 * built: vCPUs and their guest node and topology ids (query-cpus-fast, query-hotpluggable-cpus),
 * memory backends (query-memdev: size, policy, host nodes), `info numa` (CPUs and MiB per guest
 * node), and the NUMA node of each PCIe expander bridge (qom-get numa_node).
 *
 * The planned host nodes do not exist on this machine (it has node 0 only), so backends' host nodes
 * are mapped onto node 0 before starting (`mapHostNodesToZero`): the policy still reaches QEMU and
 * the kernel (mbind), which is what query-memdev reports.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';

/** A virtio device of the argv, as QMP shows it. */
export interface QmpVirtio {
  id: string;
  kind: 'disk' | 'net';
  /** virtio-blk num-queues; null for a NIC. */
  numQueues: number | null;
  /** virtio-blk's I/O thread (its QOM path, e.g. /objects/iothread1), "" for none; null for a NIC. */
  iothread: string | null;
  /** virtio-net mq and vectors; null for a disk. */
  mq: boolean | null;
  vectors: number | null;
  /** NUMA node of the expander bus (pxb-pcie) whose root bus holds the device, or null (pcie.0). */
  pxbNode: number | null;
}

/** What QMP says. */
export interface QmpView {
  cpus: { 'cpu-index': number; props: { 'node-id'?: number; 'socket-id'?: number; 'die-id'?: number; 'core-id'?: number; 'thread-id'?: number } }[];
  hotpluggable: { props: { 'socket-id'?: number; 'die-id'?: number; 'core-id'?: number; 'thread-id'?: number } }[];
  memdev: { id: string; size: number; policy: string; 'host-nodes': number[]; prealloc?: boolean }[];
  numa: string;
  pxbNodes: Record<string, number>;
  /** query-iothreads. */
  iothreads: { id: string; 'thread-id': number }[];
  /** The argv's virtio-blk-pci and virtio-net-pci devices. */
  virtio: QmpVirtio[];
  stderr: string;
  code: number | null;
}

/** One -device of an argv (keyval or JSON form) as key/value pairs. */
function deviceProps(argv: readonly string[]): Record<string, string>[] {
  const out: Record<string, string>[] = [];
  for (let i = 0; i + 1 < argv.length; i++) {
    if (argv[i] !== '-device') continue;
    const v = argv[i + 1] as string;
    if (v.startsWith('{')) {
      const o = JSON.parse(v) as Record<string, unknown>;
      out.push(Object.fromEntries(Object.entries(o).map(([k, x]) => [k, String(x)])));
    } else {
      const [driver, ...rest] = v.split(',');
      const o: Record<string, string> = { driver: driver as string };
      for (const kv of rest) {
        const eq = kv.indexOf('=');
        if (eq > 0) o[kv.slice(0, eq)] = kv.slice(eq + 1);
      }
      out.push(o);
    }
  }
  return out;
}


/** True when the argv creates a tap network device (started in a private network namespace). */
export function hasTap(argv: readonly string[]): boolean {
  return argv.some((a, i) => argv[i - 1] === '-netdev' && (a.startsWith('tap') || a.includes('"type":"tap"')));
}

/**
 * vhost=on as vhost=off: this machine's kernel has no vhost-net (/dev/vhost-net), which is the only
 * thing the probe changes about a NIC (the vhost workers are checked in a guest whose kernel has it).
 */
export function withoutVhost(argv: readonly string[]): string[] {
  return argv.map((a, i) => (argv[i - 1] === '-netdev' && a.startsWith('tap') ? a.replace(/vhost=on/, 'vhost=off') : a));
}

/**
 * A guest whose APIC IDs exceed 254 (its argv has the intel-iommu that x2APIC needs) cannot start
 * under TCG: QEMU requires the kernel's split irqchip and x2APIC API, which only KVM offers. Paused
 * (-S), a guest runs no code, so such argv are probed under KVM with the host CPU instead (this
 * machine has /dev/kvm; it is a property of the probe, not of the emitted configuration).
 */
export function forX2apicProbe(argv: readonly string[]): string[] {
  const x2apic = argv.some((a) => a.startsWith('intel-iommu') || a.includes('"driver":"intel-iommu"'));
  if (!x2apic) return [...argv];
  if (!existsSync('/dev/kvm')) throw new Error('a guest with APIC IDs above 254 can only be started paused under KVM, and /dev/kvm is missing');
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    const v = argv[i + 1];
    if ((a === '-accel' || a === '-cpu') && v !== undefined) {
      out.push(a, a === '-accel' ? 'kvm' : 'host');
      i++;
    } else if (a === '-machine' && v !== undefined) {
      out.push(a, v.replace(/accel=tcg/, 'accel=kvm'));
      i++;
    } else out.push(a);
  }
  return out;
}

/** Starts QEMU with `argv` (without the binary), asks QMP, quits. */
export function probeQemu(argv: readonly string[], pxbPaths: readonly string[], timeoutMs = 60_000): Promise<QmpView> {
  const devices = deviceProps(argv);
  const virtio = devices.filter((d) => (d.driver === 'virtio-blk-pci' || d.driver === 'virtio-net-pci') && d.id !== undefined);
  const pxbs = new Set(devices.filter((d) => d.driver === 'pxb-pcie' && d.id !== undefined).map((d) => d.id as string));
  const withId = devices.filter((d) => d.id !== undefined).map((d) => d.id as string);
  // Every device's parent bus (QEMU names a bridge's bus after the bridge), to walk from a virtio
  // device up to the expander bus whose NUMA node the guest sees.
  const props = [
    ...virtio.flatMap((d) => (d.driver === 'virtio-blk-pci' ? ['num-queues', 'iothread'] : ['mq', 'vectors']).map((property) => ({ id: d.id as string, property }))),
    ...withId.map((id) => ({ id, property: 'parent_bus' })),
  ];
  const cmds = [
    { execute: 'qmp_capabilities' },
    { execute: 'query-memdev' },
    { execute: 'query-cpus-fast' },
    { execute: 'query-hotpluggable-cpus' },
    { execute: 'human-monitor-command', arguments: { 'command-line': 'info numa' } },
    { execute: 'query-iothreads' },
    ...props.map((p) => ({ execute: 'qom-get', arguments: { path: `/machine/peripheral/${p.id}`, property: p.property } })),
    ...pxbPaths.map((path) => ({ execute: 'qom-get', arguments: { path, property: 'numa_node' } })),
    { execute: 'quit' },
  ];
  const FIRST_EXTRA = 6;
  return new Promise((resolve) => {
    const started = forX2apicProbe(argv);
    const kvm = started.includes('kvm') || started.some((a) => a.includes('accel=kvm'));
    // A tap device is created in a private network namespace (as root), so the probe leaves none behind.
    const netns = hasTap(started);
    const child = netns
      ? spawn('unshare', ['-n', 'qemu-system-x86_64', ...started, '-S', '-qmp', 'stdio'], { stdio: ['pipe', 'pipe', 'pipe'] })
      : spawn('qemu-system-x86_64', [...started, '-S', '-qmp', 'stdio'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.stdin.on('error', () => {});
    child.stdin.end(`${cmds.map((c) => JSON.stringify(c)).join('\n')}\n`);
    child.on('close', (code) => {
      clearTimeout(timer);
      // KVM's advice about more vCPUs than this machine's cores is about the probe machine, not the argv.
      if (kvm) err = err.replace(/^.*exceeds the recommended cpus supported by KVM.*\n?/gm, '');
      const replies = out
        .split('\n')
        .filter((l) => l.trim().startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .filter((m) => 'return' in m || 'error' in m);
      const ret = (i: number): unknown => (replies[i] as { return?: unknown } | undefined)?.return;
      const pxbNodes: Record<string, number> = {};
      pxbPaths.forEach((p, k) => {
        pxbNodes[p] = ret(FIRST_EXTRA + props.length + k) as number;
      });
      const prop = (id: string, property: string): unknown => ret(FIRST_EXTRA + props.findIndex((p) => p.id === id && p.property === property));
      const pxbNodeOf = (id: string): number | null => {
        let at = id;
        for (let hops = 0; hops < 8; hops++) {
          const bus = prop(at, 'parent_bus');
          if (typeof bus !== 'string') return null;
          const owner = bus.slice(bus.lastIndexOf('/') + 1);
          if (pxbs.has(owner)) return pxbNodes[`/machine/peripheral/${owner}`] ?? null;
          if (!withId.includes(owner)) return null;
          at = owner;
        }
        return null;
      };
      resolve({
        memdev: (ret(1) as QmpView['memdev']) ?? [],
        cpus: (ret(2) as QmpView['cpus']) ?? [],
        hotpluggable: (ret(3) as QmpView['hotpluggable']) ?? [],
        numa: (ret(4) as string) ?? '',
        iothreads: (ret(5) as QmpView['iothreads']) ?? [],
        pxbNodes,
        virtio: virtio.map((d) => {
          const id = d.id as string;
          const disk = d.driver === 'virtio-blk-pci';
          return {
            id,
            kind: disk ? 'disk' : 'net',
            numQueues: disk ? (prop(id, 'num-queues') as number) : null,
            iothread: disk ? ((prop(id, 'iothread') as string | undefined) ?? '') : null,
            mq: disk ? null : (prop(id, 'mq') as boolean),
            vectors: disk ? null : (prop(id, 'vectors') as number),
            pxbNode: pxbNodeOf(id),
          };
        }),
        stderr: err,
        code,
      });
    });
  });
}

/**
 * The CPU model of the TCG probes: QEMU's "max" with an Intel vendor (under an AMD vendor, QEMU warns
 * that SMT needs topoext) and 48 physical address bits (TCG's default 40 bits cap guests at 1 TiB;
 * the emitted `-cpu host` takes the host's, 46 bits and more on the hosts that have such memory):
 * properties of the probe machine, not of the emitted configuration.
 */
export const TCG_CPU = 'max,vendor=GenuineIntel,phys-bits=48';

/** host-nodes=N (key=value argv) mapped onto this machine's node 0. */
export function mapHostNodesToZero(argv: readonly string[]): string[] {
  return argv.map((a) => (a.startsWith('memory-backend') ? a.replace(/host-nodes=\d+/g, 'host-nodes=0') : a));
}

/**
 * numaplan's QEMU argv (as `--emit qemu` writes it for KVM on the planned host) made startable on
 * this single-node machine, changing only what this machine lacks: each backend's host nodes mapped
 * onto node 0 (the policy kept, so mbind still applies it), huge-page backends as plain memfd of the
 * same size (this machine keeps no pools for them; a guest cannot see its host's page size),
 * `reserve=off` (no swap reservation), each vfio-pci host device replaced by QEMU's `edu` test
 * device with the same id and bus (so it sits behind the same root port and expander bridge), and a
 * tap's vhost=on as vhost=off (this machine's kernel has no vhost-net). The
 * accelerator and CPU model are left to the starter (the probe's `-accel tcg -cpu` or the guest
 * harness's).
 */
export function startableEmittedArgv(argv: readonly string[]): string[] {
  return argv.map((a, i) => {
    const opt = argv[i - 1];
    if (opt === '-object' && a.startsWith('memory-backend')) {
      let parts = a.split(',');
      const huge = parts.some((p) => p === 'hugetlb=on' || p.startsWith('mem-path='));
      if (huge) parts = ['memory-backend-memfd', ...parts.slice(1).filter((p) => !/^(hugetlb|hugetlbsize|prealloc|mem-path)=/.test(p))];
      parts = parts.map((p) => (p.startsWith('host-nodes=') ? 'host-nodes=0' : p));
      if (!parts.some((p) => p.startsWith('reserve='))) parts.push('reserve=off');
      return parts.join(',');
    }
    if (opt === '-device' && a.startsWith('vfio-pci,')) {
      return ['edu', ...a.split(',').slice(1).filter((p) => !p.startsWith('host='))].join(',');
    }
    // This machine's kernel has no vhost-net: the tap's queues are QEMU's own.
    if (opt === '-netdev' && a.startsWith('tap')) return a.replace(/vhost=on/, 'vhost=off');
    return a;
  });
}

/** Per guest node: "node N cpus: ..." and "node N size: M MB" of `info numa`. */
export function infoNuma(text: string): { nodes: number; cpus: Map<number, string>; sizeMiB: Map<number, number> } {
  const nodes = Number(/^(\d+) nodes/m.exec(text)?.[1] ?? 0);
  const cpus = new Map<number, string>();
  const sizeMiB = new Map<number, number>();
  for (const m of text.matchAll(/node (\d+) cpus:([^\r\n]*)/g)) cpus.set(Number(m[1]), (m[2] as string).trim());
  for (const m of text.matchAll(/node (\d+) size: (\d+) MB/g)) sizeMiB.set(Number(m[1]), Number(m[2]));
  return { nodes, cpus, sizeMiB };
}

/**
 * libvirt's QEMU argv (from domxml-to-native) made startable here, changing only what this machine
 * lacks: KVM/host CPU (TCG, TCG_CPU), the master-key secret and monitor socket libvirt would create
 * (dropped: the probe adds its own QMP), host devices (the edu test device at the same bus address),
 * the tap file descriptors libvirt would pass (QEMU opens a tap itself, vhost off: no vhost-net here),
 * huge pages (a plain RAM backend of the same size), the host nodes of backends and of the
 * thread contexts libvirt adds for preallocation (mapped onto node 0, policy kept) and swap reservation (reserve=false, so guests larger than this machine can start paused).
 */
export function startableLibvirtArgv(commandLine: string): string[] {
  const tokens = shellSplit(commandLine.trim());
  const qemu = tokens.findIndex((t) => t.endsWith('qemu-system-x86_64'));
  const args = tokens.slice(qemu + 1);
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    const v = args[i + 1];
    if (a === '-accel') {
      out.push(a, 'tcg');
      i++;
    } else if (a === '-cpu') {
      out.push(a, TCG_CPU);
      i++;
    } else if (a === '-machine' && v !== undefined) {
      out.push(a, v.replace(/,?accel=kvm/, ''));
      i++;
    } else if ((a === '-chardev' && v?.includes('id=charmonitor')) || (a === '-mon' && v?.includes('chardev=charmonitor'))) {
      i++;
    } else if (a === '-object' && v?.startsWith('{')) {
      const o = JSON.parse(v) as Record<string, unknown>;
      i++;
      if (o['qom-type'] === 'secret') continue;
      if (o['qom-type'] === 'thread-context' && Array.isArray(o['node-affinity'])) o['node-affinity'] = [0];
      if (typeof o['qom-type'] === 'string' && (o['qom-type'] as string).startsWith('memory-backend')) {
        if (o['qom-type'] !== 'memory-backend-ram') {
          o['qom-type'] = 'memory-backend-ram';
          for (const k of ['mem-path', 'prealloc', 'hugetlb', 'hugetlbsize', 'discard-data', 'share', 'prealloc-threads', 'prealloc-context']) delete o[k];
        }
        if (Array.isArray(o['host-nodes'])) o['host-nodes'] = [0];
        o.reserve = false;
      }
      out.push(a, JSON.stringify(o));
    } else if (a === '-netdev' && v?.startsWith('{')) {
      // libvirt hands QEMU the file descriptor of a tap it opened: QEMU opens one itself here.
      const o = JSON.parse(v) as Record<string, unknown>;
      i++;
      if (o.type === 'tap') {
        for (const k of ['fd', 'fds', 'vhostfd', 'vhostfds']) delete o[k];
        Object.assign(o, { script: 'no', downscript: 'no', vhost: false });
      }
      out.push(a, JSON.stringify(o));
    } else if (a === '-device' && v?.startsWith('{')) {
      const o = JSON.parse(v) as Record<string, unknown>;
      i++;
      if (o.driver === 'vfio-pci') {
        out.push(a, JSON.stringify({ driver: 'edu', id: o.id, bus: o.bus, addr: o.addr }));
      } else out.push(a, v);
    } else out.push(a);
  }
  return out;
}

/** Splits a command line printed by libvirt (single-quoted JSON arguments, VAR=value prefixes). */
export function shellSplit(s: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quote: string | null = null;
  let any = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i] as string;
    if (quote) {
      if (c === quote) quote = null;
      else if (c === '\\' && quote === '"' && i + 1 < s.length) cur += s[++i];
      else cur += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      any = true;
    } else if (c === '\\' && i + 1 < s.length) {
      cur += s[++i];
      any = true;
    } else if (/\s/.test(c)) {
      if (any || cur !== '') out.push(cur);
      cur = '';
      any = false;
    } else {
      cur += c;
      any = true;
    }
  }
  if (any || cur !== '') out.push(cur);
  return out;
}
