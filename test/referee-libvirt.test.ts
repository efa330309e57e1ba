/**
 * Referee: libvirt itself. Every placement of the corpus becomes a complete domain and a merge into a
 * rich existing domain; each passes `virt-xml-validate` (libvirt's RelaxNG schema) and
 * `virsh -c test:///default define` (libvirt's parser and semantic checks, no daemon needed).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emitLibvirtDomain, guestOf, libvirtLimit, mergeLibvirtDomain } from '../src/core/emit/index.js';
import { corpus } from './referee-corpus.js';
import { mapPool } from './support/pool.js';
import { tool } from './support/tools.js';

const RICH = (name: string): string => `<?xml version="1.0"?>
<!-- kept: a comment before the root -->
<domain type='kvm' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>${name}</name>
  <uuid>4dea22b3-1d52-d8f3-2516-782e98ab3fa0</uuid>
  <metadata>
    <app:owner xmlns:app="http://example.org/app/1">team-db</app:owner>
  </metadata>
  <memory unit='KiB'>1048576</memory>
  <currentMemory unit='KiB'>1048576</currentMemory>
  <vcpu placement='static' cpuset='0-3'>2</vcpu>
  <cputune>
    <shares>2048</shares>
    <vcpupin vcpu='0' cpuset='0'/>
  </cputune>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <boot dev='hd'/>
  </os>
  <features><acpi/><apic/></features>
  <cpu mode='host-passthrough' check='none'/>
  <clock offset='utc'/>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <!-- kept: the boot disk -->
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='/var/lib/libvirt/images/${name}.qcow2'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <interface type='network'>
      <mac address='52:54:00:12:34:56'/>
      <source network='default'/>
      <model type='virtio'/>
    </interface>
    <graphics type='vnc' port='-1' autoport='yes' listen='127.0.0.1'/>
  </devices>
  <qemu:commandline>
    <qemu:arg value='-no-user-config'/>
  </qemu:commandline>
</domain>
`;

function run(cmd: string, args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('close', (code) => resolve({ code, output }));
  });
}


const have = tool('virt-xml-validate') && tool('virsh');

describe.skipIf(!have)('libvirt referee: virt-xml-validate and virsh define', () => {
  let dir: string;
  const files: { id: string; path: string }[] = [];
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'numaplan-libvirt-'));
    for (const e of corpus().entries) {
      if (libvirtLimit(guestOf(e.placement, e.topology)) !== null) continue;
      const complete = join(dir, `${e.id}.xml`);
      writeFileSync(complete, emitLibvirtDomain(e.placement, e.topology));
      files.push({ id: `${e.id} (complete)`, path: complete });
      const merged = join(dir, `${e.id}-merged.xml`);
      writeFileSync(merged, mergeLibvirtDomain(RICH(`${e.id}-merged`), e.placement, e.topology));
      files.push({ id: `${e.id} (merged)`, path: merged });
    }
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('the corpus holds at least 50 placements', () => {
    expect(corpus().entries.length).toBeGreaterThanOrEqual(50);
  });

  it('every domain passes virt-xml-validate', async () => {
    const results = await mapPool(files, 4, async (f) => ({ f, r: await run('virt-xml-validate', [f.path, 'domain']) }));
    const bad = results.filter(({ r }) => r.code !== 0).map(({ f, r }) => `${f.id}: ${r.output.trim()}`);
    console.log(`libvirt referee: virt-xml-validate checked ${results.length} domains (${results.length / 2} placements x complete + merged)`);
    expect(bad).toEqual([]);
  });

  it('every domain defines with virsh -c test:///default', async () => {
    const results = await mapPool(files, 4, async (f) => ({ f, r: await run('virsh', ['-q', '-c', 'test:///default', 'define', f.path]) }));
    const bad = results.filter(({ r }) => r.code !== 0).map(({ f, r }) => `${f.id}: ${r.output.trim()}`);
    console.log(`libvirt referee: virsh define checked ${results.length} domains`);
    expect(bad).toEqual([]);
  });

  it('the merged domains keep the disk, interface, graphics, metadata, comments and qemu:commandline', () => {
    const e = corpus().entries.find((x) => x.placement.vnuma && x.placement.devices.length > 0);
    expect(e).toBeDefined();
    const out = mergeLibvirtDomain(RICH('keep'), e!.placement, e!.topology);
    for (const kept of [
      '<!-- kept: a comment before the root -->',
      '<!-- kept: the boot disk -->',
      "<source file=\"/var/lib/libvirt/images/keep.qcow2\"/>",
      '<mac address="52:54:00:12:34:56"/>',
      '<graphics type="vnc" port="-1" autoport="yes" listen="127.0.0.1"/>',
      '<app:owner xmlns:app="http://example.org/app/1">team-db</app:owner>',
      '<qemu:arg value="-no-user-config"/>',
      '<shares>2048</shares>',
      '<uuid>4dea22b3-1d52-d8f3-2516-782e98ab3fa0</uuid>',
      '<boot dev="hd"/>',
      '<clock offset="utc"/>',
    ]) {
      expect(out).toContain(kept);
    }
    expect(out).not.toContain("cpuset='0-3'");
    expect(out).not.toContain('cpuset="0-3"');
    expect(out.match(/<vcpupin /g)?.length).toBe(e!.placement.cpus.length);
  });
});
