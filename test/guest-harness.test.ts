/**
 * The guest harness itself (test/support/guest): shapes are checked before anything boots; a booted
 * guest runs commands with their exact output and exit status, in the background too; files go in
 * and out; a command that overstays its timeout is stopped and the guest stays usable; extra QEMU
 * devices and kernel modules work (a NIC on a PCIe expander bus lands on its node, soft-RoCE loads
 * what it needs on demand); a guest that
 * cannot boot fails with the serial log's tail; and a guest whose test process dies powers itself off.
 * A guest also boots from another tool's QEMU command line, the harness taking over only what it
 * must own.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from './support/data.js';
import { bootGuest, GuestError, type GuestShape, guestAvailable, harnessArgv, nicOnNode, resolveShape, runningGuests, shq, tcgApicWorkaround, useGuest } from './support/guest/index.js';
import { findKernel, type GuestKernel, INITRAMFS_MODULES, moduleLoadOrder } from './support/guest/initramfs.js';
import { shapeKernelArgs, shapeQemuArgs } from './support/guest/shape.js';

const SMALL: GuestShape = {
  name: 'harness',
  cpu: { sockets: 2, cores: 1, threads: 1 },
  nodes: [
    { cpus: '0', memory: '512M', hugepages: { '2M': 4 } },
    { cpus: '1', memory: '256M' },
  ],
  distances: [
    [10, 17],
    [17, 10],
  ],
};

describe('guest shapes are checked before anything boots', () => {
  it('names the field at fault', () => {
    const bad = (patch: Partial<GuestShape>) => () => resolveShape({ ...SMALL, ...patch });
    expect(bad({ name: 'Bad Name' })).toThrow(/name: "Bad Name" must be a hostname/);
    expect(bad({ nodes: [{ cpus: '0-1', memory: '512M' }, { cpus: '1', memory: '256M' }] })).toThrow(/nodes\[1\]\.cpus: vCPU 1 is already on node 0/);
    expect(bad({ nodes: [{ cpus: '0', memory: '512M' }, { memory: '256M' }] })).toThrow(/nodes: vCPUs 1 are on no node/);
    expect(bad({ nodes: [{ cpus: '0-2', memory: '512M' }, { memory: '256M' }] })).toThrow(/vCPU 2 does not exist \(the shape has 2: 0-1\)/);
    expect(bad({ nodes: [{ cpus: '0-1', memory: '10M' }] })).toThrow(/nodes\[0\]\.memory: expected a whole number of MiB, at least 64M, got 10M/);
    expect(bad({ distances: [[10, 20]] })).toThrow(/distances: expected a 2x2 matrix/);
    expect(bad({ distances: [[10, 20], [20, 12]] })).toThrow(/distances\[1\]\[1\]: 12: the local distance is 10/);
    expect(bad({ nodes: [{ cpus: '0-1', memory: '128M', hugepages: { '2M': 64 } }] })).toThrow(/nodes\[0\]\.hugepages: 128 MiB of huge pages leave too little/);
  });

  it("becomes QEMU's NUMA options and the kernel's per-node huge-page reservation", () => {
    const s = resolveShape({ ...SMALL, cpu: { sockets: 1, cores: 2, threads: 2 }, nodes: [{ cpus: '0-1', memory: '512M', hugepages: { '2M': 4, '1G': 0 } }, { cpus: '2-3', memory: '1G', hugepages: { '2M': 2 } }] });
    const args = shapeQemuArgs(s).join(' ');
    expect(args).toContain('-m 1536M -smp 4,sockets=1,dies=1,cores=2,threads=2');
    expect(args).toContain('-object memory-backend-ram,id=ram-node1,size=1024M -numa node,nodeid=1,memdev=ram-node1');
    expect(args).toContain('-numa cpu,node-id=1,socket-id=0,core-id=1,thread-id=1');
    expect(args).toContain('-numa dist,src=0,dst=1,val=17');
    expect(shapeKernelArgs(s)).toEqual(['hugepagesz=2M', 'hugepages=0:4,1:2']);
  });
});

describe('a guest booted from a QEMU argv', () => {
  it('keeps the argv but what the harness owns (accelerator, CPU model, display, console, boot image, -S, -no-shutdown)', () => {
    const { args, machineType } = harnessArgv([
      '-name', 'guest=x', '-S', '-machine', 'pc-q35-7.2,accel=kvm,usb=off', '-accel', 'kvm', '-cpu', 'host,migratable=on', '-m', '2048',
      '-display', 'none', '-no-user-config', '-nodefaults', '-no-shutdown', '-numa', 'node,nodeid=0', '-device', '{"driver":"edu","id":"d0"}',
    ]);
    expect(args).toEqual(['-name', 'guest=x', '-machine', 'pc-q35-7.2,usb=off', '-m', '2048', '-numa', 'node,nodeid=0', '-device', '{"driver":"edu","id":"d0"}']);
    expect(machineType).toBe('pc-q35-7.2');
    expect(harnessArgv(['-machine', 'accel=kvm', '-m', '1G']).machineType).toBeNull();
    expect(() => harnessArgv(['-m', '1G', '-cpu'])).toThrow(/-cpu without its value/);
  });

  it('boots guests whose APIC IDs have gaps with a ninth possible CPU under TCG (QEMU 7.2 loses IPIs in flat mode)', () => {
    expect(tcgApicWorkaround(['-smp', '6,sockets=2,cores=3,threads=1'])).toEqual(['possible_cpus=9']); // APIC IDs 0-2, 4-6
    expect(tcgApicWorkaround(['-smp', '4,sockets=1,cores=2,threads=2'])).toEqual([]);
    expect(tcgApicWorkaround(['-smp', '6,sockets=3,cores=2,threads=1'])).toEqual([]); // 0-5
    expect(tcgApicWorkaround(['-smp', '5,sockets=1,dies=5,cores=1,threads=1'])).toEqual([]); // 0-4
    expect(tcgApicWorkaround(['-smp', '6,sockets=1,cores=2,threads=3'])).toEqual(['possible_cpus=9']); // 0-2, 4-6
    expect(tcgApicWorkaround(['-smp', '10,sockets=2,cores=5,threads=1'])).toEqual([]); // more than 8: physical mode
  });
});

describe.skipIf(!guestAvailable())('the guest harness', () => {
  const kernel = findKernel() as GuestKernel;

  it("loads the kernel's own modules in dependency order", () => {
    const order = moduleLoadOrder(kernel, INITRAMFS_MODULES).map((f) => f.replace(/^.*\//, '').replace(/\.ko.*$/, ''));
    const pairs: [string, string][] = [['virtio_ring', 'virtio_pci'], ['netfs', 'fscache'], ['9pnet', '9pnet_virtio'], ['fscache', '9p']];
    for (const [before, after] of pairs) {
      expect(order.indexOf(before), `${before} before ${after} in ${order.join(',')}`).toBeLessThan(order.indexOf(after));
    }
    expect(() => moduleLoadOrder(kernel, ['no_such_module'])).toThrow(/has no module "no_such_module"/);
  });

  describe('a booted guest', () => {
    const guest = useGuest(SMALL, { qemuArgs: nicOnNode(1), modules: ['virtio_net', 'veth', 'rdma_rxe'] });

    it('is the shape asked for, runs this machine\'s tools and sees the checkout read-only', async () => {
      const g = guest();
      expect(await g.runOk('hostname')).toBe('harness\n');
      expect(await g.runOk('numactl -H | head -1')).toBe('available: 2 nodes (0-1)\n');
      expect(await g.runOk(`test -f ${shq(join(REPO_ROOT, 'package.json'))} && echo seen`)).toBe('seen\n');
      expect((await g.run(`touch ${shq(join(REPO_ROOT, 'guest-was-here'))}`)).code).not.toBe(0);
      expect(await g.runOk('echo scratch > /tmp/x && cat /tmp/x')).toBe('scratch\n');
    });

    it('passes stdout, stderr and the exit status through exactly, with env and cwd', async () => {
      const g = guest();
      const r = await g.run("printf 'out\\nü\\n'; printf 'err' >&2; exit 42");
      expect(r).toMatchObject({ code: 42, stdout: 'out\nü\n', stderr: 'err' });
      expect(await g.runOk('echo "$A:$(pwd)"', { env: { A: "it's" }, cwd: '/proc' })).toBe("it's:/proc\n");
      expect((await g.run('true', { cwd: '/nowhere' })).code).toBe(125);
      const big = await g.runOk("head -c 1000000 /dev/zero | tr '\\0' a");
      expect(big.length).toBe(1_000_000);
      await expect(g.runOk('echo why >&2; exit 3')).rejects.toThrow(/exit 3 from: echo why[\s\S]*stderr: why[\s\S]*serial console, last/);
    });

    it('writes and reads files', async () => {
      const g = guest();
      await g.writeFile('/tmp/h/in.txt', "line 1\n'quoted' $HOME\n");
      expect(await g.readFile('/tmp/h/in.txt')).toBe("line 1\n'quoted' $HOME\n");
    });

    it('runs commands in the background: pid, output so far, exit status, kill', async () => {
      const g = guest();
      const p = await g.spawn('echo started; while [ ! -f /tmp/h/go ]; do sleep 0.05; done; echo done >&2; exit 3');
      expect(await g.runOk(`cat /proc/${p.pid}/comm`)).toBe('sh\n');
      await expect.poll(async () => (await p.output()).stdout, { timeout: 20_000 }).toBe('started\n');
      expect(await p.running()).toBe(true);
      await g.runOk('touch /tmp/h/go');
      expect(await p.wait()).toMatchObject({ code: 3, stdout: 'started\n', stderr: 'done\n' });
      expect(await p.running()).toBe(false);
      const sleeper = await g.spawn('exec sleep 600');
      await sleeper.kill();
      expect((await sleeper.wait()).code).toBe(143);
    });

    it('stops a command that overstays its timeout, and stays usable', async () => {
      const g = guest();
      await expect(g.run('sleep 30', { timeoutMs: 1000 })).rejects.toThrow(/command timed out after 1 s: sleep 30/);
      expect(await g.runOk('echo alive')).toBe('alive\n');
    });

    it('takes extra QEMU devices and modules: a NIC on a PCIe expander bus of node 1 is on node 1; soft-RoCE on a veth', async () => {
      const g = guest();
      const out = await g.runOk('for n in /sys/class/net/eth*; do cat $n/device/../numa_node; done; ip link add v0 type veth peer name v1 && echo veth');
      expect(out).toBe('1\nveth\n');
      // rxe needs the crc32 crypto module, which the kernel loads on demand through kernel/modprobe.
      expect(await g.runOk('ip link set v0 up && rdma link add rxe0 type rxe netdev v0 && ls /sys/class/infiniband')).toBe('rxe0\n');
    });
  });

  it("boots from another tool's QEMU argv (two sockets of three cores: APIC IDs with a gap)", async () => {
    const shape = resolveShape({ name: 'argv', cpu: { sockets: 2, cores: 3, threads: 1 }, nodes: [{ cpus: '0-2', memory: '256M' }, { cpus: '3-5', memory: '256M' }], distances: [[10, 15], [15, 10]] });
    // As a management tool writes it: KVM, the host CPU, paused, kept alive at poweroff, a device behind an expander bridge of node 1.
    const argv = ['-machine', 'q35,accel=kvm', '-cpu', 'host', '-S', '-no-shutdown', '-display', 'none', ...shapeQemuArgs(shape),
      '-device', 'pxb-pcie,id=pxb1,bus_nr=128,numa_node=1,bus=pcie.0', '-device', 'pcie-root-port,id=rp0,bus=pxb1,chassis=1', '-device', 'edu,id=d0,bus=rp0'];
    const g = await bootGuest({ name: 'argv', argv });
    try {
      expect(g.shape).toBeNull();
      expect(await g.runOk('hostname; numactl -H | grep -E "^node [01] cpus|^  1:"')).toBe('argv\nnode 0 cpus: 0 1 2\nnode 1 cpus: 3 4 5\n  1:  15  10 \n');
      expect(await g.runOk('cat /sys/bus/pci/devices/0000:81:00.0/vendor /sys/bus/pci/devices/0000:81:00.0/numa_node')).toBe('0x1234\n1\n');
    } finally {
      await g.close();
    }
    expect(runningGuests()).toBe(0);
  }, 180_000);

  it('a guest that cannot boot fails with the serial log, and nothing is left running', async () => {
    const err = await bootGuest({ ...SMALL, name: 'no-init' }, { kernelArgs: ['rdinit=/no-such-init'], timeoutMs: 120_000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GuestError);
    expect((err as Error).message).toMatch(/guest "no-init": QEMU exited[\s\S]*serial console, last[\s\S]*(Kernel panic|No working init)/);
    const bad = await bootGuest(SMALL, { qemuArgs: ['-device', 'no-such-device'] }).catch((e: unknown) => e);
    expect((bad as Error).message).toMatch(/QEMU stderr ---[\s\S]*no-such-device/);
    expect(runningGuests()).toBe(0);
  }, 180_000);

  it('a guest whose test process is killed powers itself off (the control port closes)', async () => {
    const script = [
      `import { bootGuest } from ${JSON.stringify(join(REPO_ROOT, 'test', 'support', 'guest', 'index.ts'))};`,
      `const g = await bootGuest(${JSON.stringify({ ...SMALL, name: 'orphan' })});`,
      'console.log(String(g.qemuPid));',
      'setInterval(() => undefined, 1000);',
    ].join('\n');
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    const qemuPid = await new Promise<number>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (/^\d+\n/.test(out)) resolve(Number(out.trim()));
      });
      child.on('exit', (code) => reject(new Error(`the booting process ended (${code}) before printing QEMU's pid`)));
    });
    child.kill('SIGKILL');
    const alive = (): boolean => {
      try {
        process.kill(qemuPid, 0);
        return true;
      } catch {
        return false;
      }
    };
    try {
      await expect.poll(alive, { timeout: 60_000, interval: 250 }).toBe(false);
    } finally {
      if (alive()) process.kill(qemuPid, 'SIGKILL');
    }
  }, 180_000);
});
