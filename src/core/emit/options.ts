/** Options shared by the emitters. Every field is optional; the defaults are what a KVM host wants. */
export interface EmitOptions {
  /**
   * Bind guest memory and vCPUs to the planned host nodes and CPUs (default true). False leaves out
   * host-node binding (QEMU host-nodes/policy, libvirt numatune and CPU pins, Cloud Hypervisor
   * host_numa_node and affinity, numactl --membind) for a host that lacks the planned nodes.
   */
  hostBinding?: boolean;
  /** QEMU huge-page backend: a file on hugetlbfs (default) or memfd with hugetlb=on. */
  hugePageBackend?: 'file' | 'memfd';
  /** hugetlbfs mount for the file backend; default /dev/hugepages (2M) or /dev/hugepages1G (1G). */
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
  /** numactl: memory policy for a process (default bind). */
  memoryPolicy?: 'bind' | 'interleave' | 'preferred';
}

/** Default hugetlbfs mount for a page size (the conventional Debian/Fedora mounts). */
export function defaultHugetlbfsPath(pageSize: number): string {
  return pageSize >= 1024 ** 3 ? '/dev/hugepages1G' : '/dev/hugepages';
}
