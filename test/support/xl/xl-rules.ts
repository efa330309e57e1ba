/**
 * xl's and libxl's checks of an HVM guest's CPUs and vNUMA, ported rule by rule from Xen's sources
 * (xen-project/xen: tools/xl/xl_parse.c, tools/libs/light/libxl_vnuma.c, libxl_create.c), to run on
 * the values xl's own parser read (xl-cfg-dump.c, libxlutil). `xl create` itself cannot run here:
 * it needs a Xen hypervisor (libxl_ctx_alloc fails without /dev/xen/privcmd), even with -n/-N.
 *
 * Each rule is named after the function it comes from; a violation is reported with the message xl
 * or libxl would print.
 */

/** What xl-cfg-dump prints. */
export interface XlDump {
  name?: string;
  type?: string;
  vcpus?: number;
  maxvcpus?: number;
  memory?: number;
  maxmem?: number;
  videoram?: number;
  vga?: string;
  cpus?: string | string[];
  cpus_soft?: string | string[];
  vnuma?: (string | unknown[])[] | string;
  pci?: ({ domain: number; bus: number; dev: number; func: number } | null)[];
  /** Each disk entry as xlu_disk_parse read it (null: it refused the entry). */
  disk?: ({ vdev: string; target: string; format: string; readwrite: number } | null)[];
  vif?: string[] | string;
}

/** The keys xl's parse_nic_config (tools/xl/xl_parse.c) takes in a vif spec; other keys are "unrecognized". */
const VIF_KEYS = new Set([
  'type', 'mac', 'bridge', 'netdev', 'gatewaydev', 'ip', 'script', 'backend', 'vifname', 'model', 'rate', 'forwarddev',
  'accel', 'devid', 'mtu', 'vlan',
]);

/**
 * xl_parse.c: each vif entry split on commas (strtok, leading spaces skipped) and read by
 * parse_nic_config: `type` must be vif or ioemu; an unknown key is "unrecognized". (The COLO keys,
 * which numaplan never writes, count as unknown here.) Returns the NIC type and xl's messages.
 */
export function parseVifSpec(spec: string): { nictype: 'vif' | 'ioemu' | 'default'; errors: string[] } {
  const errors: string[] = [];
  let nictype: 'vif' | 'ioemu' | 'default' = 'default';
  for (const raw of spec.split(',').filter((t) => t !== '')) {
    const token = raw.replace(/^ +/, '');
    if (token === 'trusted' || token === 'untrusted') continue;
    const eq = token.indexOf('=');
    const k = eq < 0 ? token : token.slice(0, eq);
    if (eq < 0 || !VIF_KEYS.has(k)) {
      errors.push(`unrecognized argument \`${token}'`);
      continue;
    }
    if (k === 'type') {
      const v = token.slice(eq + 1);
      if (v === 'vif' || v === 'ioemu') nictype = v;
      else errors.push("Invalid parameter `type'.");
    }
  }
  return { nictype, errors };
}

/** The host as libxl_get_physinfo / libxl_get_online_cpus / libxl_get_numainfo report it. */
export interface XlHost {
  nrNodes: number;
  onlineCpus: number;
  /** CPUs of each node (for "node:N" cpu ranges). */
  nodeCpus: number[][];
}

/** A vnode as libxl sees it after parsing. */
export interface XlVnode {
  pnode: number;
  memkb: number;
  vcpus: Set<number>;
  distances: number[];
}

/** The guest as xl and libxl see it, or the errors that stop `xl create`. */
export interface XlCheck {
  errors: string[];
  maxVcpus: number;
  vcpus: number;
  targetMemkb: number;
  maxMemkb: number;
  vnodes: XlVnode[];
  hardAffinity: Set<number>[];
}

const ULONG_MAX = 2n ** 64n - 1n;

/** xl_parse.c parse_ulong: strtoul base 10; junk after digits is ignored, no digits is fatal. */
function parseUlong(str: string, errors: string[]): number {
  const m = /^\s*[+]?(\d+)/.exec(str);
  if (!m || BigInt(m[1] as string) >= ULONG_MAX) {
    errors.push(`xl: failed to convert "${str}" to number`);
    return 0;
  }
  return Number(m[1]);
}

/** xl_parse.c parse_range: "A" or "A-B" with A <= B, nothing after. Null = invalid. */
export function parseRange(str: string): [number, number] | null {
  const m = /^\s*[+]?(\d+)(?:-\s*[+]?(\d+))?$/.exec(str);
  if (!m) return null;
  const a = Number(m[1]);
  const b = m[2] === undefined ? a : Number(m[2]);
  if (b < a) return null;
  return [a, b];
}

/** xl_parse.c parse_cpurange / update_cpumap_range: "all", "^N", "node:N", "nodes:A-B", ranges, comma-separated. */
export function parseCpurange(cpu: string, host: XlHost, errors: string[]): Set<number> {
  const map = new Set<number>();
  for (const raw of cpu.split(',').filter((x) => x !== '')) {
    let str = raw;
    let isNot = false;
    let isNodes = false;
    if (str.startsWith('^')) {
      isNot = true;
      str = str.slice(1);
    }
    if (str.startsWith('node:')) {
      isNodes = true;
      str = str.slice(5);
    } else if (str.startsWith('nodes:')) {
      isNodes = true;
      str = str.slice(6);
    }
    if (str === 'all') {
      if (isNot) {
        errors.push('Can\'t combine "^" and "all".');
        return map;
      }
      for (let c = 0; c < host.onlineCpus; c++) map.add(c);
      continue;
    }
    const r = parseRange(str);
    if (!r) {
      errors.push(`Invalid pcpu range: ${str}.`);
      return map;
    }
    for (let i = r[0]; i <= r[1]; i++) {
      const cpus = isNodes ? (host.nodeCpus[i] ?? []) : [i];
      for (const c of cpus) isNot ? map.delete(c) : map.add(c);
    }
  }
  return map;
}

/** xl_parse.c parse_vcpu_affinity: a string applies to every vCPU; list entry i to vCPU i (extras ignored). */
function parseVcpuAffinity(value: string | string[], maxVcpus: number, host: XlHost, errors: string[]): Set<number>[] {
  if (typeof value === 'string') {
    const one = parseCpurange(value, host, errors);
    return Array.from({ length: maxVcpus }, () => new Set(one));
  }
  return value.slice(0, maxVcpus).map((v) => parseCpurange(v, host, errors));
}

/** xl_utils.c split_string_into_pair with isspace trimming: null when there is no delimiter or nothing after it. */
function splitPair(s: string, delim: string): [string, string] | null {
  const i = s.indexOf(delim);
  if (i < 0) return null;
  const b = s.slice(i + 1);
  if (b === '') return null;
  return [s.slice(0, i).trim(), b.trim()];
}

/** xl_parse.c parse_vnuma_config. */
function parseVnumaConfig(d: XlDump, host: XlHost, st: XlCheck): void {
  const list = d.vnuma;
  if (list === undefined || typeof list === 'string') {
    if (typeof list === 'string') st.errors.push('xl: vnuma must be a list');
    return;
  }
  if (list.length === 0) return;
  const n = list.length;
  const parsedVcpus: Set<number>[] = list.map(() => new Set<number>());
  st.vnodes = list.map(() => ({ pnode: 0, memkb: 0, vcpus: new Set<number>(), distances: new Array<number>(n).fill(0) }));
  let maxVcpus = 0;
  let maxMemkb = 0;
  list.forEach((spec, i) => {
    if (!Array.isArray(spec)) {
      st.errors.push('xl: cannot get vnode config option list');
      return;
    }
    const p = st.vnodes[i] as XlVnode;
    for (const opt of spec) {
      if (typeof opt !== 'string') continue; // only XLU_STRING options are read
      const pair = splitPair(opt, '=');
      if (!pair) {
        st.errors.push(`xl: failed to split "${opt}" into pair`);
        return;
      }
      const [option, value] = pair;
      if (option === 'pnode') {
        const val = parseUlong(value, st.errors);
        if (val >= host.nrNodes) st.errors.push(`xl: invalid pnode number: ${val}`);
        p.pnode = val;
      } else if (option === 'size') {
        const val = parseUlong(value, st.errors);
        p.memkb = val * 1024;
        maxMemkb += p.memkb;
      } else if (option === 'vcpus') {
        for (const spec1 of value.split(',').filter((x) => x !== '')) {
          // parse_range's return value is ignored here in xl; an invalid range leaves s = e = 0 or partial.
          const r = parseRange(spec1) ?? [Number.parseInt(spec1, 10) || 0, Number.parseInt(spec1, 10) || 0];
          for (let s = r[0]; s <= r[1]; s++) {
            parsedVcpus[i]?.add(s);
            maxVcpus++;
          }
        }
      } else if (option === 'vdistances') {
        const vd = value.split(',').filter((x) => x !== '');
        if (vd.length > n) st.errors.push(`xl: vnode ${i} lists ${vd.length} vdistances for ${n} vnodes (xl writes past its array: undefined behaviour)`);
        vd.forEach((v, j) => {
          if (j < n) p.distances[j] = parseUlong(v, st.errors);
        });
      }
      // xl ignores unknown options silently.
    }
  });
  if (d.maxvcpus !== undefined && d.maxvcpus !== 0) {
    if (d.maxvcpus !== maxVcpus) st.errors.push('xl: vnuma vcpus and maxvcpus= mismatch');
  } else {
    if (host.onlineCpus < maxVcpus) st.errors.push('xl: vnuma specifies more vcpus than pcpus, use maxvcpus= to override this check.');
    st.maxVcpus = maxVcpus;
  }
  if (d.maxmem !== undefined && d.maxmem * 1024 !== maxMemkb) st.errors.push('xl: maxmem and vnuma memory size mismatch');
  else st.maxMemkb = maxMemkb;
  // libxl_bitmap_set beyond the bitmap (max_vcpus bits) has no effect.
  st.vnodes.forEach((v, i) => {
    for (const c of parsedVcpus[i] ?? []) if (c < st.maxVcpus) v.vcpus.add(c);
  });
}

/** libxl_vnuma.c libxl__vnuma_config_check (the vmemrange checks hold by construction for HVM). */
function vnumaConfigCheck(host: XlHost, st: XlCheck): void {
  let total = 0;
  for (const v of st.vnodes) {
    if (v.pnode >= host.nrNodes) st.errors.push(`libxl: Invalid pnode ${v.pnode} specified`);
    total += v.memkb;
  }
  if (total !== st.maxMemkb) st.errors.push(`libxl: Amount of memory mismatch (0x${total.toString(16)} != 0x${st.maxMemkb.toString(16)})`);
  const seen = new Set<number>();
  for (const v of st.vnodes) {
    for (const c of v.vcpus) {
      if (seen.has(c)) st.errors.push(`libxl: Vcpu ${c} assigned more than once`);
      seen.add(c);
    }
  }
  for (let c = 0; c < st.maxVcpus; c++) if (!seen.has(c)) st.errors.push(`libxl: Vcpu ${c} is not assigned to any vnode`);
  st.vnodes.forEach((v, i) => {
    const local = v.distances[i] as number;
    v.distances.forEach((remote, j) => {
      if (i !== j && local > remote) st.errors.push(`libxl: Distance from ${i} to ${j} smaller than ${i}'s local distance`);
    });
  });
}

/** libxl_create.c libxl__domain_build_info_setdefault: HVM video RAM on QEMU_XEN (cirrus 8 MiB, std 16 MiB). */
function videoMemkb(d: XlDump, st: XlCheck): number {
  const std = d.vga === 'stdvga';
  const min = std ? 16 * 1024 : 8 * 1024;
  const kb = d.videoram !== undefined ? d.videoram * 1024 : min;
  if (kb < min) st.errors.push(`libxl: videoram must be at least ${min / 1024} MB for ${std ? 'STDVGA' : 'CIRRUS'} on QEMU_XEN`);
  return kb;
}

/** Runs xl's parse_config_data checks that concern CPUs, memory and vNUMA, then libxl's. */
export function checkXlConfig(d: XlDump, host: XlHost): XlCheck {
  const st: XlCheck = { errors: [], maxVcpus: 0, vcpus: 1, targetMemkb: 0, maxMemkb: -1, vnodes: [], hardAffinity: [] };
  if (d.type !== 'hvm') st.errors.push(`numaplan writes HVM guests; type is ${JSON.stringify(d.type)}`);
  if (!d.name) st.errors.push('xl: domain name must be specified');
  if (d.memory !== undefined) st.targetMemkb = d.memory * 1024;
  if (d.maxmem !== undefined) st.maxMemkb = d.maxmem * 1024;
  st.vcpus = d.vcpus !== undefined && d.vcpus >= 1 ? d.vcpus : 1;
  if (d.maxvcpus !== undefined) st.maxVcpus = d.maxvcpus;
  parseVnumaConfig(d, host, st);
  if (st.maxMemkb === -1) st.maxMemkb = st.targetMemkb;
  if (st.maxVcpus === 0) st.maxVcpus = st.vcpus;
  if (st.maxVcpus < st.vcpus) st.errors.push('xl: maxvcpus < vcpus');
  // xen/include/public/hvm/hvm_info_table.h: Xen builds no HVM guest with more than HVM_MAX_VCPUS.
  if (st.maxVcpus > 128) st.errors.push(`xen: HVM guests take at most HVM_MAX_VCPUS (128) vCPUs; ${st.maxVcpus} asked`);
  if (d.cpus !== undefined) st.hardAffinity = parseVcpuAffinity(d.cpus, st.maxVcpus, host, st.errors);
  for (const [i, a] of st.hardAffinity.entries()) {
    for (const c of a) if (c >= host.onlineCpus) st.errors.push(`libxl: vCPU ${i} hard affinity names CPU ${c}, the host has ${host.onlineCpus}`);
  }
  // libxl_create.c: PoD (target < max on HVM) cannot be combined with vNUMA.
  const pod = st.targetMemkb < st.maxMemkb;
  if (pod && st.vnodes.length > 0) st.errors.push('libxl: Cannot enable PoD and vNUMA at the same time');
  if (pod && (d.pci ?? []).length > 0) st.errors.push('libxl: IOMMU required for device passthrough but not supported together with PoD');
  for (const [k, p] of (d.pci ?? []).entries()) if (p === null) st.errors.push(`xl: pci[${k}] does not parse as a PCI BDF`);
  if (st.vnodes.length > 0) {
    vnumaConfigCheck(host, st);
    // libxl_vnuma.c libxl__vnuma_build_vmemrange_hvm: video RAM belongs to vnode 0.
    const video = videoMemkb(d, st);
    if ((st.vnodes[0]?.memkb ?? 0) < video) st.errors.push('libxl: vnode 0 too small to contain video ram');
  }
  return st;
}
