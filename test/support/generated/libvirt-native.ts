/**
 * libvirt's own QEMU driver turns domains into QEMU command lines (`virsh -c
 * 'qemu:///embed?root=DIR' domxml-to-native qemu-argv`), as the generated suite and the booted
 * check need it: in a private mount namespace (`unshare -m`, root only) whose
 * /sys/devices/system/node shows the planned host's nodes and which has hugetlbfs mounts of 2M and
 * 1G pages. libvirt checks numatune nodes against sysfs through libnuma and huge-page backends
 * against the mounts; nothing else of this machine is faked.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Topology } from '../../../src/core/topology/model.js';

/** Runs `cmd` with stdin closed until it exits: its exit code (null when killed by a signal) and what it printed. */
export function run(cmd: string, args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, [...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * libvirt's QEMU command line (the line naming qemu-system-x86_64) for each domain file of one host,
 * or `ERROR <libvirt's message>`. One virsh process converts them all (the embedded driver starts
 * once per root), pinned to `cpu` because libvirt's capability cache is keyed on the CPUID of the CPU
 * it runs on; `k` keeps this call's scratch files (under `dir`) apart from concurrent ones, and
 * the driver root is one per CPU.
 */
export async function domxmlToNative(dir: string, topology: Topology, paths: readonly string[], k: number, cpu = k % 2): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const nodeDir = join(dir, `sysfs-node-${k}`);
  mkdirSync(nodeDir, { recursive: true });
  const ids = topology.nodes.map((n) => n.id);
  for (const n of topology.nodes) {
    mkdirSync(join(nodeDir, `node${n.id}`), { recursive: true });
    writeFileSync(join(nodeDir, `node${n.id}`, 'cpulist'), `${n.cpus.join(',')}\n`);
  }
  for (const f of ['possible', 'online', 'has_memory', 'has_normal_memory']) writeFileSync(join(nodeDir, f), `${ids.join(',')}\n`);
  writeFileSync(join(nodeDir, 'has_cpu'), `${topology.nodes.filter((n) => n.cpus.length > 0).map((n) => n.id).join(',')}\n`);
  const root = join(dir, `libvirt-embed-${cpu}`);
  const commands = paths.map((p, j) => `echo @@@${j}; domxml-to-native qemu-argv '${p}'`).join('; ');
  const setup = [
    'set -e',
    `mount --bind '${nodeDir}' /sys/devices/system/node`,
    `mkdir -p '${dir}/hp2-${k}' '${dir}/hp1g-${k}'`,
    `mount -t hugetlbfs -o pagesize=2M none '${dir}/hp2-${k}'`,
    `mount -t hugetlbfs -o pagesize=1G none '${dir}/hp1g-${k}' 2>/dev/null || true`,
    'set +e',
  ];
  const r = await run('unshare', ['-m', '--propagation', 'private', 'sh', '-c', [...setup, `taskset -c ${cpu} virsh -c 'qemu:///embed?root=${root}' "${commands}; echo @@@end"`].join('\n')]);
  const sections = r.stdout.split(/^@@@/m).slice(1);
  for (const [j, p] of paths.entries()) {
    const sec = sections.find((x) => x.startsWith(`${j}\n`));
    const line = sec?.split('\n').find((l) => l.includes('qemu-system-x86_64'));
    if (line) out.set(p, line);
  }
  // A failed conversion: run it alone to get libvirt's message.
  for (const p of paths.filter((x) => !out.has(x))) {
    const one = await run('unshare', ['-m', '--propagation', 'private', 'sh', '-c', [...setup, `taskset -c ${cpu} virsh -c 'qemu:///embed?root=${root}' domxml-to-native qemu-argv '${p}'`].join('\n')]);
    const line = one.stdout.split('\n').find((l) => l.includes('qemu-system-x86_64'));
    out.set(p, line ?? `ERROR ${one.stderr.split('\n').filter((l) => !/ info : | warning : /.test(l)).join(' ').trim()}`);
  }
  return out;
}
