/**
 * Golden tests of the emitters on one realistic VM (epyc-2s-nps4, 32 vCPUs over three nodes, 2M
 * pages, an RDMA VF), plus bad input: malformed placement files and domains that cannot be merged.
 */
import { describe, expect, it } from 'vitest';
import {
  EmitError,
  emitCloudHypervisor,
  emitLibvirtDomain,
  emitLibvirtFragment,
  emitPlacement,
  emitProcessCommands,
  emitQemu,
  emitXlCfg,
  guestOf,
  mergeLibvirtDomain,
  parsePlacementFile,
} from '../src/core/emit/index.js';
import { createHostState, parseVmSpec, place } from '../src/core/placement/index.js';
import type { Placement } from '../src/core/placement/types.js';
import { getPreset } from '../src/core/topology/presets/index.js';
import type { Topology } from '../src/core/topology/model.js';
import { cli } from './emit-harness.js';

const topo = getPreset('epyc-2s-nps4')?.build() as Topology;
function placed(spec: string): Placement {
  const r = place(parseVmSpec(spec), createHostState(topo));
  if (!r.ok) throw new Error(r.reasons[0]?.detail);
  return r.placement;
}
const SPEC = 'name=db,vcpus=32,memory=64G,pages=2M,devices=rdma-vf:1:required';
const db = placed(SPEC);
const small = placed('name=web,vcpus=4,memory=8G');

describe('guest model', () => {
  it('cells follow the vNUMA; uneven cells (11+11+10) give one socket of one-core dies (the cells\' gcd)', () => {
    const g = guestOf(db, topo);
    expect(g.cells.map((c) => [c.hostNode, c.vcpus.length, c.memory / 2 ** 30])).toMatchInlineSnapshot(`
      [
        [
          0,
          11,
          22,
        ],
        [
          1,
          11,
          22,
        ],
        [
          2,
          10,
          20,
        ],
      ]
    `);
    expect(g.topology).toMatchInlineSnapshot(`
      {
        "cores": 1,
        "dies": 32,
        "sockets": 1,
        "threads": 1,
      }
    `);
  });
  it('threads=2 when vCPUs are stacked on sibling threads', () => {
    const g = guestOf(placed('name=s,vcpus=8,memory=8G,smt=require'), topo);
    expect(g.topology.threads).toBe(2);
  });
});

describe('golden output', () => {
  it('libvirt complete domain', () => {
    expect(emitLibvirtDomain(db, topo)).toMatchInlineSnapshot(`
      "<domain type='kvm'>
        <name>db</name>
        <memory unit='KiB'>67108864</memory>
        <currentMemory unit='KiB'>67108864</currentMemory>
        <memoryBacking>
          <hugepages>
            <page size='2048' unit='KiB' nodeset='0-2'/>
          </hugepages>
        </memoryBacking>
        <vcpu placement='static'>32</vcpu>
        <cputune>
          <vcpupin vcpu='0' cpuset='1'/>
          <vcpupin vcpu='1' cpuset='2'/>
          <vcpupin vcpu='2' cpuset='3'/>
          <vcpupin vcpu='3' cpuset='4'/>
          <vcpupin vcpu='4' cpuset='5'/>
          <vcpupin vcpu='5' cpuset='6'/>
          <vcpupin vcpu='6' cpuset='7'/>
          <vcpupin vcpu='7' cpuset='8'/>
          <vcpupin vcpu='8' cpuset='9'/>
          <vcpupin vcpu='9' cpuset='10'/>
          <vcpupin vcpu='10' cpuset='11'/>
          <vcpupin vcpu='11' cpuset='24'/>
          <vcpupin vcpu='12' cpuset='25'/>
          <vcpupin vcpu='13' cpuset='26'/>
          <vcpupin vcpu='14' cpuset='27'/>
          <vcpupin vcpu='15' cpuset='28'/>
          <vcpupin vcpu='16' cpuset='29'/>
          <vcpupin vcpu='17' cpuset='30'/>
          <vcpupin vcpu='18' cpuset='31'/>
          <vcpupin vcpu='19' cpuset='32'/>
          <vcpupin vcpu='20' cpuset='33'/>
          <vcpupin vcpu='21' cpuset='34'/>
          <vcpupin vcpu='22' cpuset='48'/>
          <vcpupin vcpu='23' cpuset='49'/>
          <vcpupin vcpu='24' cpuset='50'/>
          <vcpupin vcpu='25' cpuset='51'/>
          <vcpupin vcpu='26' cpuset='52'/>
          <vcpupin vcpu='27' cpuset='53'/>
          <vcpupin vcpu='28' cpuset='54'/>
          <vcpupin vcpu='29' cpuset='55'/>
          <vcpupin vcpu='30' cpuset='56'/>
          <vcpupin vcpu='31' cpuset='57'/>
          <emulatorpin cpuset='1-11,24-34,48-57'/>
        </cputune>
        <numatune>
          <memory mode='strict' nodeset='0-2'/>
          <memnode cellid='0' mode='strict' nodeset='0'/>
          <memnode cellid='1' mode='strict' nodeset='1'/>
          <memnode cellid='2' mode='strict' nodeset='2'/>
        </numatune>
        <os>
          <type arch='x86_64' machine='q35'>hvm</type>
        </os>
        <features>
          <acpi/>
          <apic/>
        </features>
        <cpu mode='host-passthrough' check='none'>
          <topology sockets='1' dies='32' cores='1' threads='1'/>
          <numa>
            <cell id='0' cpus='0-10' memory='23068672' unit='KiB'>
              <distances>
                <sibling id='0' value='10'/>
                <sibling id='1' value='12'/>
                <sibling id='2' value='12'/>
              </distances>
            </cell>
            <cell id='1' cpus='11-21' memory='23068672' unit='KiB'>
              <distances>
                <sibling id='0' value='12'/>
                <sibling id='1' value='10'/>
                <sibling id='2' value='12'/>
              </distances>
            </cell>
            <cell id='2' cpus='22-31' memory='20971520' unit='KiB'>
              <distances>
                <sibling id='0' value='12'/>
                <sibling id='1' value='12'/>
                <sibling id='2' value='10'/>
              </distances>
            </cell>
          </numa>
        </cpu>
        <on_poweroff>destroy</on_poweroff>
        <on_reboot>restart</on_reboot>
        <on_crash>destroy</on_crash>
        <devices>
          <emulator>/usr/bin/qemu-system-x86_64</emulator>
          <controller type='pci' index='1' model='pcie-expander-bus'>
            <target busNr='128'>
              <node>0</node>
            </target>
          </controller>
          <controller type='pci' index='2' model='pcie-root-port'>
            <address type='pci' domain='0x0000' bus='0x01' slot='0x00' function='0x0'/>
          </controller>
          <hostdev mode='subsystem' type='pci' managed='yes'>
            <driver name='vfio'/>
            <source>
              <address domain='0x0000' bus='0x41' slot='0x00' function='0x2'/>
            </source>
            <address type='pci' domain='0x0000' bus='0x02' slot='0x00' function='0x0'/>
          </hostdev>
        </devices>
      </domain>
      "
    `);
  });
  it('libvirt fragment of a single-node VM', () => {
    expect(emitLibvirtFragment(small, topo)).toMatchInlineSnapshot(`
      "<!-- numaplan: the NUMA-related elements of domain "web"; paste them into its domain, or merge them with the domain option of numaplan emit -->
      <domain>
        <memory unit='KiB'>8388608</memory>
        <currentMemory unit='KiB'>8388608</currentMemory>
        <vcpu placement='static'>4</vcpu>
        <cputune>
          <vcpupin vcpu='0' cpuset='96'/>
          <vcpupin vcpu='1' cpuset='97'/>
          <vcpupin vcpu='2' cpuset='98'/>
          <vcpupin vcpu='3' cpuset='99'/>
          <emulatorpin cpuset='96-99'/>
        </cputune>
        <numatune>
          <memory mode='strict' nodeset='4'/>
        </numatune>
        <cpu>
          <topology sockets='1' dies='1' cores='4' threads='1'/>
        </cpu>
      </domain>
      "
    `);
  });
  it('QEMU argv and pin plan', () => {
    const q = emitQemu(db, topo);
    expect(q.argv).toMatchInlineSnapshot(`
      [
        "-machine",
        "q35,accel=kvm",
        "-cpu",
        "host",
        "-smp",
        "32,sockets=1,dies=32,cores=1,threads=1",
        "-m",
        "64G",
        "-object",
        "memory-backend-memfd,id=mem0,size=22G,hugetlb=on,hugetlbsize=2M,prealloc=on,host-nodes=0,policy=bind",
        "-object",
        "memory-backend-memfd,id=mem1,size=22G,hugetlb=on,hugetlbsize=2M,prealloc=on,host-nodes=1,policy=bind",
        "-object",
        "memory-backend-memfd,id=mem2,size=20G,hugetlb=on,hugetlbsize=2M,prealloc=on,host-nodes=2,policy=bind",
        "-numa",
        "node,nodeid=0,memdev=mem0",
        "-numa",
        "node,nodeid=1,memdev=mem1",
        "-numa",
        "node,nodeid=2,memdev=mem2",
        "-numa",
        "cpu,node-id=0,socket-id=0,die-id=0",
        "-numa",
        "cpu,node-id=0,socket-id=0,die-id=1",
        "-numa",
        "cpu,node-id=0,socket-id=0,die-id=2",
        "-numa",
        "cpu,node-id=0,socket-id=0,die-id=3",
        "-numa",
        "cpu,node-id=0,socket-id=0,die-id=4",
        "-numa",
        "cpu,node-id=0,socket-id=0,die-id=5",
        "-numa",
        "cpu,node-id=0,socket-id=0,die-id=6",
        "-numa",
        "cpu,node-id=0,socket-id=0,die-id=7",
        "-numa",
        "cpu,node-id=0,socket-id=0,die-id=8",
        "-numa",
        "cpu,node-id=0,socket-id=0,die-id=9",
        "-numa",
        "cpu,node-id=0,socket-id=0,die-id=10",
        "-numa",
        "cpu,node-id=1,socket-id=0,die-id=11",
        "-numa",
        "cpu,node-id=1,socket-id=0,die-id=12",
        "-numa",
        "cpu,node-id=1,socket-id=0,die-id=13",
        "-numa",
        "cpu,node-id=1,socket-id=0,die-id=14",
        "-numa",
        "cpu,node-id=1,socket-id=0,die-id=15",
        "-numa",
        "cpu,node-id=1,socket-id=0,die-id=16",
        "-numa",
        "cpu,node-id=1,socket-id=0,die-id=17",
        "-numa",
        "cpu,node-id=1,socket-id=0,die-id=18",
        "-numa",
        "cpu,node-id=1,socket-id=0,die-id=19",
        "-numa",
        "cpu,node-id=1,socket-id=0,die-id=20",
        "-numa",
        "cpu,node-id=1,socket-id=0,die-id=21",
        "-numa",
        "cpu,node-id=2,socket-id=0,die-id=22",
        "-numa",
        "cpu,node-id=2,socket-id=0,die-id=23",
        "-numa",
        "cpu,node-id=2,socket-id=0,die-id=24",
        "-numa",
        "cpu,node-id=2,socket-id=0,die-id=25",
        "-numa",
        "cpu,node-id=2,socket-id=0,die-id=26",
        "-numa",
        "cpu,node-id=2,socket-id=0,die-id=27",
        "-numa",
        "cpu,node-id=2,socket-id=0,die-id=28",
        "-numa",
        "cpu,node-id=2,socket-id=0,die-id=29",
        "-numa",
        "cpu,node-id=2,socket-id=0,die-id=30",
        "-numa",
        "cpu,node-id=2,socket-id=0,die-id=31",
        "-numa",
        "dist,src=0,dst=1,val=12",
        "-numa",
        "dist,src=0,dst=2,val=12",
        "-numa",
        "dist,src=1,dst=0,val=12",
        "-numa",
        "dist,src=1,dst=2,val=12",
        "-numa",
        "dist,src=2,dst=0,val=12",
        "-numa",
        "dist,src=2,dst=1,val=12",
        "-device",
        "pxb-pcie,id=pxb0,bus_nr=128,numa_node=0,bus=pcie.0",
        "-device",
        "pcie-root-port,id=rp0,bus=pxb0,chassis=1",
        "-device",
        "vfio-pci,host=0000:41:00.2,id=hostdev0,bus=rp0",
      ]
    `);
    expect(q.pins.vcpus.slice(0, 3)).toMatchInlineSnapshot(`
      [
        {
          "hostCpu": 1,
          "hostCpus": [
            1,
          ],
          "vcpu": 0,
        },
        {
          "hostCpu": 2,
          "hostCpus": [
            2,
          ],
          "vcpu": 1,
        },
        {
          "hostCpu": 3,
          "hostCpus": [
            3,
          ],
          "vcpu": 2,
        },
      ]
    `);
  });
  it('QEMU argv without host binding and with memfd huge pages', () => {
    const q = emitQemu(db, topo, { hostBinding: false, hugePageBackend: 'memfd' });
    expect(q.argv.filter((a) => a.startsWith('memory-backend'))).toMatchInlineSnapshot(`
      [
        "memory-backend-memfd,id=mem0,size=22G,hugetlb=on,hugetlbsize=2M,prealloc=on",
        "memory-backend-memfd,id=mem1,size=22G,hugetlb=on,hugetlbsize=2M,prealloc=on",
        "memory-backend-memfd,id=mem2,size=20G,hugetlb=on,hugetlbsize=2M,prealloc=on",
      ]
    `);
  });
  it('xl.cfg', () => {
    expect(emitXlCfg(db, topo)).toMatchInlineSnapshot(`
      "name = "db"
      type = "hvm"
      vcpus = 32
      memory = 65536
      cpus = [ "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "24", "25", "26", "27", "28", "29", "30", "31", "32", "33", "34", "48", "49", "50", "51", "52", "53", "54", "55", "56", "57" ]
      vnuma = [
          [ "pnode=0", "size=22528", "vcpus=0-10", "vdistances=10,12,12" ],
          [ "pnode=1", "size=22528", "vcpus=11-21", "vdistances=12,10,12" ],
          [ "pnode=2", "size=20480", "vcpus=22-31", "vdistances=12,12,10" ]
      ]
      pci = [ "0000:41:00.2" ]
      "
    `);
  });
  it('Cloud Hypervisor argv', () => {
    expect(emitCloudHypervisor(db, topo)).toMatchInlineSnapshot(`
      [
        "--cpus",
        "boot=32,topology=1:1:32:1,affinity=[0@[1],1@[2],2@[3],3@[4],4@[5],5@[6],6@[7],7@[8],8@[9],9@[10],10@[11],11@[24],12@[25],13@[26],14@[27],15@[28],16@[29],17@[30],18@[31],19@[32],20@[33],21@[34],22@[48],23@[49],24@[50],25@[51],26@[52],27@[53],28@[54],29@[55],30@[56],31@[57]]",
        "--memory",
        "size=0",
        "--memory-zone",
        "id=mem0,size=22G,host_numa_node=0,hugepages=on,hugepage_size=2M",
        "id=mem1,size=22G,host_numa_node=1,hugepages=on,hugepage_size=2M",
        "id=mem2,size=20G,host_numa_node=2,hugepages=on,hugepage_size=2M",
        "--numa",
        "guest_numa_id=0,cpus=[0-10],distances=[1@12,2@12],memory_zones=[mem0]",
        "guest_numa_id=1,cpus=[11-21],distances=[0@12,2@12],memory_zones=[mem1]",
        "guest_numa_id=2,cpus=[22-31],distances=[0@12,1@12],memory_zones=[mem2]",
        "--device",
        "path=/sys/bus/pci/devices/0000:41:00.2/,id=hostdev0",
      ]
    `);
  });
  it('numactl and taskset', () => {
    expect(emitProcessCommands(small, topo)).toMatchInlineSnapshot(`
      {
        "cpus": [
          96,
          97,
          98,
          99,
        ],
        "nodes": [
          4,
        ],
        "numactl": [
          "numactl",
          "--physcpubind=96-99",
          "--membind=4",
        ],
        "taskset": [
          "taskset",
          "-c",
          "96-99",
        ],
      }
    `);
    expect(emitProcessCommands(small, topo, { hostBinding: false }).numactl).toMatchInlineSnapshot(`
      [
        "numactl",
        "--physcpubind=96-99",
      ]
    `);
  });
  it('deterministic: the same placement gives the same bytes', () => {
    for (const f of ['libvirt', 'qemu', 'xl', 'cloud-hypervisor', 'numactl'] as const) {
      expect(emitPlacement(db, topo, f).text).toBe(emitPlacement(placed(SPEC), topo, f).text);
    }
  });
});

describe('merge into an existing domain', () => {
  const existing = `<domain type='kvm'>
  <name>db</name>
  <!-- owner: team-db -->
  <memory unit='GiB'>4</memory>
  <vcpu>2</vcpu>
  <memoryBacking><nosharepages/><hugepages><page size='2048' unit='KiB'/></hugepages></memoryBacking>
  <cputune><shares>1024</shares><vcpupin vcpu='0' cpuset='0'/></cputune>
  <numatune><memory mode='interleave' nodeset='0-7'/></numatune>
  <os><type arch='x86_64' machine='pc-q35-8.2'>hvm</type></os>
  <cpu mode='host-model'><feature policy='require' name='invtsc'/><numa><cell id='0' cpus='0-1' memory='4' unit='GiB'/></numa></cpu>
  <devices>
    <disk type='file' device='disk'><source file='/img/db.qcow2'/><target dev='vda' bus='virtio'/></disk>
    <hostdev mode='subsystem' type='pci' managed='yes'><source><address domain='0x0000' bus='0x05' slot='0x00' function='0x0'/></source></hostdev>
  </devices>
</domain>`;
  it('replaces only the NUMA parts', () => {
    const out = mergeLibvirtDomain(existing, db, topo);
    expect(out).toContain('<!-- owner: team-db -->');
    expect(out).toContain('<nosharepages/>');
    expect(out).toContain('<shares>1024</shares>');
    expect(out).toContain('<feature policy="require" name="invtsc"/>');
    expect(out).toContain("<source file=\"/img/db.qcow2\"/>");
    expect(out).toContain("bus=\"0x05\""); // the user's own hostdev stays
    expect(out).not.toContain('interleave');
    expect(out).not.toContain("size='2048'");
    expect(out).toMatchInlineSnapshot(`
      "<domain type="kvm">
        <name>db</name>
        <!-- owner: team-db -->
        <memory unit="KiB">67108864</memory>
        <vcpu placement="static">32</vcpu>
        <memoryBacking>
          <hugepages>
            <page size="2048" unit="KiB" nodeset="0-2"/>
          </hugepages><nosharepages/></memoryBacking>
        <cputune><shares>1024</shares>
          <vcpupin vcpu="0" cpuset="1"/>
          <vcpupin vcpu="1" cpuset="2"/>
          <vcpupin vcpu="2" cpuset="3"/>
          <vcpupin vcpu="3" cpuset="4"/>
          <vcpupin vcpu="4" cpuset="5"/>
          <vcpupin vcpu="5" cpuset="6"/>
          <vcpupin vcpu="6" cpuset="7"/>
          <vcpupin vcpu="7" cpuset="8"/>
          <vcpupin vcpu="8" cpuset="9"/>
          <vcpupin vcpu="9" cpuset="10"/>
          <vcpupin vcpu="10" cpuset="11"/>
          <vcpupin vcpu="11" cpuset="24"/>
          <vcpupin vcpu="12" cpuset="25"/>
          <vcpupin vcpu="13" cpuset="26"/>
          <vcpupin vcpu="14" cpuset="27"/>
          <vcpupin vcpu="15" cpuset="28"/>
          <vcpupin vcpu="16" cpuset="29"/>
          <vcpupin vcpu="17" cpuset="30"/>
          <vcpupin vcpu="18" cpuset="31"/>
          <vcpupin vcpu="19" cpuset="32"/>
          <vcpupin vcpu="20" cpuset="33"/>
          <vcpupin vcpu="21" cpuset="34"/>
          <vcpupin vcpu="22" cpuset="48"/>
          <vcpupin vcpu="23" cpuset="49"/>
          <vcpupin vcpu="24" cpuset="50"/>
          <vcpupin vcpu="25" cpuset="51"/>
          <vcpupin vcpu="26" cpuset="52"/>
          <vcpupin vcpu="27" cpuset="53"/>
          <vcpupin vcpu="28" cpuset="54"/>
          <vcpupin vcpu="29" cpuset="55"/>
          <vcpupin vcpu="30" cpuset="56"/>
          <vcpupin vcpu="31" cpuset="57"/>
          <emulatorpin cpuset="1-11,24-34,48-57"/></cputune>
        
        <numatune>
          <memory mode="strict" nodeset="0-2"/>
          <memnode cellid="0" mode="strict" nodeset="0"/>
          <memnode cellid="1" mode="strict" nodeset="1"/>
          <memnode cellid="2" mode="strict" nodeset="2"/>
        </numatune><os><type arch="x86_64" machine="pc-q35-8.2">hvm</type></os>
        <cpu mode="host-model">
          <topology sockets="1" dies="32" cores="1" threads="1"/><feature policy="require" name="invtsc"/>
          <numa>
            <cell id="0" cpus="0-10" memory="23068672" unit="KiB">
              <distances>
                <sibling id="0" value="10"/>
                <sibling id="1" value="12"/>
                <sibling id="2" value="12"/>
              </distances>
            </cell>
            <cell id="1" cpus="11-21" memory="23068672" unit="KiB">
              <distances>
                <sibling id="0" value="12"/>
                <sibling id="1" value="10"/>
                <sibling id="2" value="12"/>
              </distances>
            </cell>
            <cell id="2" cpus="22-31" memory="20971520" unit="KiB">
              <distances>
                <sibling id="0" value="12"/>
                <sibling id="1" value="12"/>
                <sibling id="2" value="10"/>
              </distances>
            </cell>
          </numa></cpu>
        <devices>
          <disk type="file" device="disk"><source file="/img/db.qcow2"/><target dev="vda" bus="virtio"/></disk>
          <hostdev mode="subsystem" type="pci" managed="yes"><source><address domain="0x0000" bus="0x05" slot="0x00" function="0x0"/></source></hostdev>
          <controller type="pci" index="1" model="pcie-expander-bus">
            <target busNr="128">
              <node>0</node>
            </target>
          </controller>
          <controller type="pci" index="2" model="pcie-root-port">
            <address type="pci" domain="0x0000" bus="0x01" slot="0x00" function="0x0"/>
          </controller>
          <hostdev mode="subsystem" type="pci" managed="yes">
            <driver name="vfio"/>
            <source>
              <address domain="0x0000" bus="0x41" slot="0x00" function="0x2"/>
            </source>
            <address type="pci" domain="0x0000" bus="0x02" slot="0x00" function="0x0"/>
          </hostdev>
        </devices>
      </domain>"
    `);
  });
  it('refuses what it cannot merge, naming it', () => {
    expect(() => mergeLibvirtDomain('<domain><name>x</name>', db, topo)).toThrow(/domain XML line \d+, column \d+.*not well-formed/);
    expect(() => mergeLibvirtDomain('<network><name>x</name></network>', db, topo)).toThrow(/root element must be <domain>, found <network>/);
    expect(() => mergeLibvirtDomain('<domain><cpu/><cpu/></domain>', db, topo)).toThrow(/domain\/cpu: <cpu> appears 2 times/);
    expect(() => mergeLibvirtDomain("<domain><os><type machine='pc-i440fx-8.2'>hvm</type></os></domain>", db, topo)).toThrow(
      /machine "pc-i440fx-8.2" cannot hold devices near guest NUMA nodes/,
    );
    expect(() =>
      mergeLibvirtDomain("<domain><devices><memory model='dimm'><target><size unit='GiB'>1</size><node>5</node></target></memory></devices></domain>", db, topo),
    ).toThrow(/targets guest node 5/);
    try {
      mergeLibvirtDomain('<x>', db, topo);
    } catch (err) {
      expect((err as EmitError).code).toBe('ERR_DOMAIN_XML');
    }
  });
});

describe('placement files', () => {
  const good = JSON.stringify({ ok: true, placements: [db] });
  it('reads what place --json writes', () => {
    const [p] = parsePlacementFile(good, 'db.json');
    expect(emitXlCfg(p as Placement, topo)).toBe(emitXlCfg(db, topo));
  });
  it('names the file and the field at fault', () => {
    expect(() => parsePlacementFile('{', 'a.json')).toThrow(/a.json: not valid JSON/);
    expect(() => parsePlacementFile(JSON.stringify({ ok: true, placements: [{ ...db, cpus: 'x' }] }), 'b.json')).toThrow(/b.json: placements\[0\].cpus/);
    expect(() => parsePlacementFile(JSON.stringify({ ok: true, placements: [{ ...db, pageSize: undefined }] }), 'c.json')).toThrow(/c.json: placements\[0\].pageSize/);
    expect(() => parsePlacementFile(JSON.stringify({ ok: false, reasons: [], placements: [] }), 'd.json')).toThrow(/d.json: holds a refusal/);
  });
  it('refuses a placement naming a CPU the host lacks', () => {
    expect(() => guestOf({ ...db, cpus: [...db.cpus.slice(1), 9999] }, topo)).toThrow(/placement.cpus\[31\]: host CPU 9999 does not exist/);
  });
});

describe('CLI', () => {
  it('place --json then emit --placement --format qemu --json prints {"argv":[...]}', async () => {
    const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = mkdtempSync(join(tmpdir(), 'numaplan-emit-'));
    try {
      const placedOut = await cli(['place', '--host', 'preset:epyc-2s-nps4', '--vm', SPEC, '--json']);
      expect(placedOut.code).toBe(0);
      const file = join(dir, 'db.json');
      writeFileSync(file, placedOut.out);
      const q = await cli(['emit', '--placement', file, '--host', 'preset:epyc-2s-nps4', '--format', 'qemu', '--json']);
      expect(q.code).toBe(0);
      expect(JSON.parse(q.out).argv).toEqual(emitQemu(db, topo).argv);
      const x = await cli(['emit', '--placement', file, '--host', 'preset:epyc-2s-nps4', '--format', 'libvirt']);
      expect(x.out).toBe(emitLibvirtDomain(db, topo));
      const noHost = await cli(['emit', '--placement', file, '--format', 'xl']);
      expect(noHost.code).toBe(2);
      expect(noHost.err).toMatch(/--host: needed/);
      writeFileSync(join(dir, 'bad.json'), '{"ok":true,"placements":[{"name":"x"}]}');
      const bad = await cli(['emit', '--placement', join(dir, 'bad.json'), '--host', 'preset:epyc-2s-nps4', '--format', 'xl']);
      expect(bad.code).toBe(2);
      expect(bad.err).toMatch(/bad.json: placements\[0\].cpus/);
      writeFileSync(join(dir, 'dom.xml'), '<domain><name>x</name>');
      const badDom = await cli(['emit', '--placement', file, '--host', 'preset:epyc-2s-nps4', '--format', 'libvirt', '--domain', join(dir, 'dom.xml')]);
      expect(badDom.code).toBe(2);
      expect(badDom.err).toMatch(/not well-formed/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
