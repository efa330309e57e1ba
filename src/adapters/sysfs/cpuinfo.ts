/**
 * /proc/cpuinfo, read the way hwloc's Linux backend reads it: one block per "processor" line, the
 * model name under the key the architecture uses ("model name" on x86/ia64/arm, "cpu" on POWER,
 * "Processor" on old ARM), plus the x86 vendor/family/model numbers that drive hwloc's quirks
 * (AMD compute units, KNL). "physical id"/"core id" are kept as the fallback topology for kernels
 * whose sysfs has no cpu topology files.
 */

/** One processor block. */
export interface CpuinfoProc {
  /** OS index from the "processor" line. */
  os: number;
  model: string | null;
  physicalId: number | null;
  coreId: number | null;
}

/** The parsed file. */
export interface Cpuinfo {
  procs: Map<number, CpuinfoProc>;
  /** Model named before any processor line (alpha, sparc, old ARM headers). */
  globalModel: string | null;
  vendor: string | null;
  family: number | null;
  modelNumber: number | null;
  /** A guess of the architecture from the keys seen: x86, power, arm, ia64, s390 or null. */
  arch: string | null;
}

const MODEL_KEYS = ['model name', 'Processor', 'cpu model', 'cpu', 'chip type', 'Model Name'];

/** Parses /proc/cpuinfo text; never throws. */
export function parseCpuinfo(text: string): Cpuinfo {
  const procs = new Map<number, CpuinfoProc>();
  let cur: CpuinfoProc | null = null;
  let globalModel: string | null = null;
  let vendor: string | null = null;
  let family: number | null = null;
  let modelNumber: number | null = null;
  let arch: string | null = null;
  for (const raw of text.split('\n')) {
    if (raw.trim() === '') {
      cur = null;
      continue;
    }
    const colon = raw.indexOf(':');
    if (colon < 0) continue;
    const key = raw.slice(0, colon).trim();
    const value = raw.slice(colon + 1).trim();
    if (key === 'processor' && /^\d+$/.test(value)) {
      cur = { os: Number(value), model: null, physicalId: null, coreId: null };
      procs.set(cur.os, cur);
      continue;
    }
    if (key === 'vendor_id' && vendor === null) {
      vendor = value;
      arch ??= 'x86';
    } else if (key === 'cpu family' && family === null && /^\d+$/.test(value)) family = Number(value);
    else if (key === 'model' && modelNumber === null && /^\d+$/.test(value) && arch === 'x86') modelNumber = Number(value);
    else if (key === 'physical id' && cur && /^\d+$/.test(value)) cur.physicalId = Number(value);
    else if (key === 'core id' && cur && /^\d+$/.test(value)) cur.coreId = Number(value);
    else if (key === 'CPU implementer') arch ??= 'arm';
    else if (key === 'vendor' && value.includes('IBM/S390')) arch ??= 's390';
    else if (key === 'family' && /itanium/i.test(value)) arch ??= 'ia64';
    else if (key === 'cpu' && /power/i.test(value)) arch ??= 'power';
    if (value !== '' && MODEL_KEYS.includes(key)) {
      if (cur) cur.model ??= value;
      else globalModel ??= value;
    }
  }
  return { procs, globalModel, vendor, family, modelNumber, arch };
}

/** Architecture from an uname machine string (as in hwloc's nofile-info "Architecture:" line). */
export function archFromMachine(machine: string): string | null {
  if (machine === 'x86_64' || /^i\d86$/.test(machine) || machine === 'k1om') return 'x86';
  if (machine === 'aarch64' || machine.startsWith('arm')) return 'arm';
  if (machine.startsWith('ppc') || machine.startsWith('power')) return 'power';
  if (machine.startsWith('s390')) return 's390';
  if (machine === 'ia64') return 'ia64';
  return null;
}
