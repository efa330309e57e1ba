/**
 * The guest's kernel and its initramfs, built at run time from this machine's own files:
 * - the kernel: Debian's /boot/vmlinuz-VERSION whose modules are in /lib/modules/VERSION
 *   (the newest such pair; NUMAPLAN_GUEST_KERNEL=/boot/vmlinuz-X picks one);
 * - the initramfs: busybox-static, the kernel's own virtio, 9p and virtio-console modules in
 *   dependency order (resolved from the kernel's modules.dep), an init script and the command agent.
 *
 * The init script loads the modules, mounts this machine's root file system read-only over
 * virtio-9p, puts tmpfs on /tmp and /run, mounts proc, sysfs, devtmpfs, cgroup2 and hugetlbfs,
 * and chroots into it to start the agent (a POSIX shell script) on the virtio-serial control port.
 * When the agent ends (asked to, or the host side of the port went away), init powers off.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, relative } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { PROBE_SCRIPT } from './accel.js';

/** A kernel and its modules folder. */
export interface GuestKernel {
  version: string;
  image: string;
  modules: string;
}

/** The 9p mount tag of the host root, and the name of the control port. */
export const ROOT_TAG = 'numaplan.root';
export const CONTROL_PORT = 'numaplan.ctl';

/** Modules the initramfs loads (with their dependencies): virtio PCI transport, 9p over virtio, virtio console ports. */
export const INITRAMFS_MODULES = ['virtio_pci', '9pnet_virtio', '9p', 'virtio_console'];

/** The initramfs's static busybox in the running guest (tmpfs): the harness's helpers start in a few ms where a dynamically linked program takes ~75 ms under TCG. */
export const GUEST_BUSYBOX = '/run/numaplan-guest/busybox';

/** The first line init prints once the agent is about to start (the harness waits for READY on the port instead). */
export const INIT_MARK = 'numaplan-guest:';

/** Compares dotted version strings with numeric parts ("6.1.0-57" < "6.1.0-100"). */
function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.-]/);
  const pb = b.split(/[.-]/);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? '';
    const y = pb[i] ?? '';
    const nx = Number(x);
    const ny = Number(y);
    const c = Number.isFinite(nx) && Number.isFinite(ny) && x !== '' && y !== '' ? nx - ny : x.localeCompare(y);
    if (c !== 0) return c;
  }
  return 0;
}

/** Finds a bootable kernel with its modules; null with the reason when there is none. */
export function findKernel(): GuestKernel | { missing: string } {
  const forced = process.env.NUMAPLAN_GUEST_KERNEL;
  const candidates = forced ? [forced] : existsSync('/boot') ? readdirSync('/boot').filter((f) => f.startsWith('vmlinuz-')).map((f) => join('/boot', f)) : [];
  const usable = candidates
    .map((image) => {
      const version = basename(image).replace(/^vmlinuz-/, '');
      return { version, image, modules: join('/lib/modules', version) };
    })
    .filter((k) => existsSync(k.image) && existsSync(join(k.modules, 'modules.dep')))
    .sort((a, b) => compareVersions(b.version, a.version));
  const best = usable[0];
  if (best) return best;
  return {
    missing: forced
      ? `NUMAPLAN_GUEST_KERNEL=${forced}: no such kernel image with /lib/modules/<version>/modules.dep`
      : 'no /boot/vmlinuz-VERSION with /lib/modules/VERSION/modules.dep (install linux-image-amd64)',
  };
}

/** True when an ELF image carries the Xen PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY), which QEMU boots directly. */
export function hasPvhNote(elf: Buffer): boolean {
  if (elf.length < 64 || elf.readUInt32BE(0) !== 0x7f454c46 || elf[4] !== 2) return false;
  const phoff = Number(elf.readBigUInt64LE(0x20));
  const phentsize = elf.readUInt16LE(0x36);
  const phnum = elf.readUInt16LE(0x38);
  const align4 = (n: number): number => (n + 3) & ~3;
  for (let i = 0; i < phnum; i++) {
    const ph = phoff + i * phentsize;
    if (elf.readUInt32LE(ph) !== 4) continue; // PT_NOTE
    const off = Number(elf.readBigUInt64LE(ph + 8));
    const end = off + Number(elf.readBigUInt64LE(ph + 32));
    for (let at = off; at + 12 <= end; ) {
      const namesz = elf.readUInt32LE(at);
      const descsz = elf.readUInt32LE(at + 4);
      const type = elf.readUInt32LE(at + 8);
      const name = elf.toString('latin1', at + 12, at + 12 + namesz).replace(/\0+$/, '');
      if (name === 'Xen' && type === 18) return true;
      at += 12 + align4(namesz) + align4(descsz);
    }
  }
  return false;
}

/**
 * The image QEMU boots: the kernel's uncompressed ELF (vmlinux, extracted once from the bzImage's
 * xz, zstd or gzip payload and kept under the OS temp dir) when it has a PVH entry point, which
 * saves the seconds TCG spends decompressing the kernel; else the bzImage itself.
 */
export function bootImage(kernel: GuestKernel): string {
  const s = statSync(kernel.image);
  const cached = join(tmpdir(), `numaplan-guest-vmlinux-${kernel.version}-${s.size}-${Math.round(s.mtimeMs)}`);
  if (existsSync(cached)) return cached;
  const image = readFileSync(kernel.image);
  const formats: { magic: Buffer; tool: string[] }[] = [
    { magic: Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]), tool: ['xz', '-dc', '--single-stream'] },
    { magic: Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), tool: ['zstd', '-dc'] },
    { magic: Buffer.from([0x1f, 0x8b, 0x08]), tool: ['gzip', '-dc'] },
  ];
  for (const f of formats) {
    for (let at = image.indexOf(f.magic); at >= 0; at = image.indexOf(f.magic, at + 1)) {
      const r = spawnSync(f.tool[0] as string, f.tool.slice(1), { input: image.subarray(at), maxBuffer: 512 << 20 });
      const out = r.stdout;
      if (out && out.length > 1 << 20 && hasPvhNote(out)) {
        writeFileSync(`${cached}.${process.pid}`, out);
        renameSync(`${cached}.${process.pid}`, cached);
        return cached;
      }
    }
  }
  return kernel.image;
}

/** Module name as modules.dep spells file names ("9pnet_virtio" for 9pnet-virtio.ko). */
const moduleName = (path: string): string => basename(path).replace(/\.ko(\.(xz|zst|gz))?$/, '').replace(/-/g, '_');

/**
 * The module files to load, in load order (every module after the ones it depends on), for `wanted`
 * and their dependencies. Built-in modules are left out; a module the kernel lacks is an error.
 */
export function moduleLoadOrder(kernel: GuestKernel, wanted: readonly string[]): string[] {
  const deps = new Map<string, { file: string; deps: string[] }>();
  for (const line of readFileSync(join(kernel.modules, 'modules.dep'), 'utf8').split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const file = line.slice(0, colon);
    deps.set(moduleName(file), { file, deps: line.slice(colon + 1).trim().split(/\s+/).filter(Boolean) });
  }
  const builtinFile = join(kernel.modules, 'modules.builtin');
  const builtin = new Set(existsSync(builtinFile) ? readFileSync(builtinFile, 'utf8').split('\n').filter(Boolean).map(moduleName) : []);
  const order: string[] = [];
  const seen = new Set<string>();
  const visit = (name: string, from: string): void => {
    const key = name.replace(/-/g, '_');
    if (seen.has(key)) return;
    seen.add(key);
    const entry = deps.get(key);
    if (!entry) {
      if (builtin.has(key)) return;
      throw new Error(`kernel ${kernel.version} has no module "${name}"${from ? ` (needed by ${from})` : ''} in ${kernel.modules}/modules.dep`);
    }
    for (const d of entry.deps) visit(moduleName(d), key);
    order.push(entry.file);
  };
  for (const w of wanted) visit(w, '');
  return order;
}

/** A module file's bytes, decompressed (busybox insmod takes plain .ko files). */
function moduleBytes(path: string): Buffer {
  if (path.endsWith('.ko')) return readFileSync(path);
  if (path.endsWith('.ko.gz')) return gunzipSync(readFileSync(path));
  const tool = path.endsWith('.ko.xz') ? 'xz' : path.endsWith('.ko.zst') ? 'zstd' : null;
  if (tool === null) throw new Error(`unknown module file type: ${path}`);
  const r = spawnSync(tool, ['-dc', path], { maxBuffer: 256 << 20 });
  if (r.status !== 0) throw new Error(`${tool} -dc ${path} failed: ${r.error?.message ?? r.stderr?.toString()}`);
  return r.stdout;
}

/** PATH inside the guest (the host's own tools, through the 9p root). */
export const GUEST_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The init script (busybox sh, PID 1). */
function initScript(modules: readonly string[]): string {
  return `#!/bin/busybox sh
# numaplan test guest: load the 9p modules, mount this machine's root read-only, start the agent.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
say() { echo "${INIT_MARK} $*"; }
die() { say "FAILED: $*"; sync; poweroff -f; sleep 60; }
say "loading ${modules.length} modules"
${modules.map((m) => `insmod /modules/${basename(m).replace(/\.(xz|zst|gz)$/, '')} || die "insmod ${moduleName(m)}"`).join('\n')}
for a in $(cat /proc/cmdline); do
  case $a in numaplan.hostname=*) hostname "\${a#*=}" ;; esac
done
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=524288,cache=loose ${ROOT_TAG} /newroot || die "mount the 9p root"
mount -t tmpfs -o mode=1777 tmpfs /newroot/tmp || die "tmpfs on /tmp"
mount -t tmpfs -o mode=755 tmpfs /newroot/run || die "tmpfs on /run"
mount -t proc proc /newroot/proc || die "proc"
mount -t sysfs sysfs /newroot/sys || die "sysfs"
mount -t devtmpfs devtmpfs /newroot/dev || die "devtmpfs"
mount -t cgroup2 cgroup2 /newroot/sys/fs/cgroup || say "no cgroup2 (continuing)"
mkdir -p /dev/pts /dev/shm /dev/hugepages
mount -t devpts devpts /newroot/dev/pts
mount -t tmpfs -o mode=1777 tmpfs /newroot/dev/shm
mount -t hugetlbfs hugetlbfs /newroot/dev/hugepages || say "no hugetlbfs (continuing)"
ip link set lo up
port=
for p in /sys/class/virtio-ports/*; do
  [ "$(cat "$p/name" 2>/dev/null)" = "${CONTROL_PORT}" ] && port="/dev/\${p##*/}"
done
[ -n "$port" ] || die "no virtio-serial port named ${CONTROL_PORT}"
# The kernel loads modules on demand (crypto algorithms, link types) by running kernel/modprobe from
# init's root, which is this initramfs: point it at the root file system's modprobe and modules.
printf '#!/bin/busybox sh\nexec /bin/busybox chroot /newroot /sbin/modprobe "$@"\n' > /bin/modprobe-in-root
chmod 755 /bin/modprobe-in-root
echo /bin/modprobe-in-root > /proc/sys/kernel/modprobe
mkdir -p /newroot/run/numaplan-guest
cp /agent.sh /newroot/run/numaplan-guest/agent.sh
cp /bin/busybox /newroot${GUEST_BUSYBOX}
say "starting the agent on $port at $(cut -d' ' -f1 /proc/uptime) s"
chroot /newroot /usr/bin/env -i PATH=${GUEST_PATH} HOME=/tmp LANG=C.UTF-8 TERM=dumb \\
  /bin/sh /run/numaplan-guest/agent.sh "$port"
say "agent ended ($?); powering off"
sync
poweroff -f
sleep 60
`;
}

/**
 * The agent (POSIX sh, run by the guest's /bin/sh inside the chroot). Protocol, one line each way:
 *   host:  C <id> <timeout-seconds> <base64 script>    run the script with sh, stdin /dev/null
 *          Q                                           end (init then powers off)
 *   guest: READY <uptime>                              once, at start
 *          R <id> <exit status> <base64 stdout> <base64 stderr>
 *          BYE                                         before it ends
 * Scripts run one at a time under coreutils' `timeout` (TERM, then KILL 5 s later, on its own
 * process group); a script can start background work itself (the harness's spawn() does). The
 * agent's own helpers (base64 both ways, rm) are the initramfs's static busybox, copied to /run: under
 * TCG a dynamically linked program takes some 75 ms to start, a static one a few, and a command
 * needed four of them besides its shell and `timeout`.
 */
export const AGENT_SCRIPT = `#!/bin/sh
port=$1
dir=/run/numaplan-guest
bb=${GUEST_BUSYBOX}
exec 3<>"$port"
printf 'READY %s\\n' "$(cut -d' ' -f1 /proc/uptime)" >&3
while IFS=' ' read -r kind id limit payload <&3; do
  case $kind in
    C)
      printf '%s' "$payload" | $bb base64 -d > "$dir/$id.sh"
      timeout -k 5 "$limit" /bin/sh "$dir/$id.sh" < /dev/null > "$dir/$id.out" 2> "$dir/$id.err" 3>&-
      rc=$?
      { printf 'R %s %s ' "$id" "$rc"; $bb base64 -w0 "$dir/$id.out"; printf ' '; $bb base64 -w0 "$dir/$id.err"; printf '\\n'; } >&3
      $bb rm -f "$dir/$id.sh" "$dir/$id.out" "$dir/$id.err"
      ;;
    Q)
      printf 'BYE\\n' >&3
      exit 0
      ;;
  esac
done
`;

/** Packs the tree under `root` into a newc cpio archive (owned by root) with GNU cpio. */
function writeCpio(root: string, out: string): void {
  const list: string[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = join(dir, e.name);
      list.push(relative(root, p));
      if (e.isDirectory()) walk(p);
    }
  };
  walk(root);
  const r = spawnSync('cpio', ['-o', '-H', 'newc', '-R', '+0:+0', '--quiet', '-O', out], { cwd: root, input: `${list.join('\n')}\n` });
  if (r.status !== 0) throw new Error(`cpio failed (${r.error?.message ?? `exit ${r.status}`}): ${r.stderr?.toString()}`);
}

/** Builds the initramfs into `dir` and returns its path. */
export function buildInitramfs(kernel: GuestKernel, dir: string, busybox: string): string {
  const root = join(dir, 'initramfs');
  for (const d of ['bin', 'modules', 'proc', 'sys', 'dev', 'newroot', 'tmp']) mkdirSync(join(root, d), { recursive: true });
  copyFileSync(busybox, join(root, 'bin', 'busybox'));
  spawnSync('chmod', ['755', join(root, 'bin', 'busybox')]);
  const modules = moduleLoadOrder(kernel, INITRAMFS_MODULES);
  for (const m of modules) writeFileSync(join(root, 'modules', basename(m).replace(/\.(xz|zst|gz)$/, '')), moduleBytes(join(kernel.modules, m)));
  writeFileSync(join(root, 'init'), initScript(modules), { mode: 0o755 });
  writeFileSync(join(root, 'agent.sh'), AGENT_SCRIPT, { mode: 0o755 });
  writeFileSync(join(root, 'probe'), PROBE_SCRIPT, { mode: 0o755 });
  const out = join(dir, 'initramfs.cpio');
  writeCpio(root, out);
  if (statSync(out).size < 1 << 20) throw new Error(`initramfs ${out} is too small to hold busybox`);
  return out;
}
