/** Options shared by the emitters. Every field is optional; the defaults are what a KVM host wants. */
export interface EmitOptions {
  /**
   * Bind guest memory and vCPUs to the planned host nodes and CPUs (default true). False leaves out
   * host-node binding (QEMU host-nodes/policy, libvirt numatune and CPU pins, Cloud Hypervisor
   * host_numa_node and affinity, numactl --membind) for a host that lacks the planned nodes.
   */
  hostBinding?: boolean;
  /**
   * QEMU huge-page backend: memfd with hugetlb=on (default: needs no hugetlbfs mount) or a file on
   * the hugetlbfs mount `hugetlbfsPath` (giving the path selects the file backend).
   */
  hugePageBackend?: 'file' | 'memfd';
  /** hugetlbfs mount of the placement's page size, for the file backend. */
  hugetlbfsPath?: string;
  /**
   * False: keep the huge-page layout (one memfd backend per guest node) but without hugetlb=on, for
   * checking the argument shape on a host with no huge pages reserved. Default true.
   */
  hugetlb?: boolean;
  /** QEMU: false adds reserve=off to each backend (no swap reservation; lets huge guests start for checks). */
  reserve?: boolean;
  /** QEMU machine type (default q35). */
  machine?: string;
  /** QEMU CPU model (default "host" with KVM, QEMU's default otherwise). */
  cpu?: string;
  /** QEMU accelerator (default kvm). */
  accel?: string;
  /** Checks only: put this QEMU device model (e.g. "edu") where each vfio-pci device would go. */
  deviceStandIn?: string;
  /** libvirt: domain type (default kvm). */
  domainType?: string;
  /** libvirt: the emulator path in a complete domain (default /usr/bin/qemu-system-x86_64). */
  emulator?: string;
  /**
   * Folder of the virtio disks' raw images, `NAME-diskK.img` (default: each target's usual one,
   * `defaultDiskDir`). The images are the caller's to create.
   */
  diskDir?: string;
  /** numactl: memory policy for a process (default: the placement's). */
  memoryPolicy?: 'bind' | 'interleave' | 'preferred';
}

/** The QEMU huge-page backend options select: file when asked or a mount is given, else memfd. */
export function hugePageBackendOf(o: EmitOptions): 'file' | 'memfd' {
  return o.hugePageBackend ?? (o.hugetlbfsPath !== undefined ? 'file' : 'memfd');
}

/** Each target's usual folder of disk images. */
export const DEFAULT_DISK_DIR = {
  libvirt: '/var/lib/libvirt/images',
  qemu: '/var/lib/libvirt/images',
  xl: '/var/lib/xen/images',
  'cloud-hypervisor': '/var/lib/cloud-hypervisor/images',
} as const;

/** The image of virtio disk `index` of a guest. */
export function diskImage(o: EmitOptions, target: keyof typeof DEFAULT_DISK_DIR, vm: string, index: number): string {
  const dir = (o.diskDir ?? DEFAULT_DISK_DIR[target]).replace(/\/+$/, '');
  return `${dir}/${vm}-disk${index}.img`;
}
