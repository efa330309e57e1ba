/** `numaplan topology`: show a host's topology from any source, in text, JSON or hwloc XML. */
import { type Command, Option } from 'commander';
import { SOURCE_HELP, loadTopology } from '../../adapters/source.js';
import { deviceMatrix } from '../../core/topology/device-matrix.js';
import { topologyToJson } from '../../core/topology/json-out.js';
import { listPresets } from '../../core/topology/presets/index.js';
import { summarize } from '../../core/topology/view.js';
import { type Io, writeJson } from '../io.js';
import { renderDeviceMatrix } from '../render/device-matrix-text.js';
import { plural, renderTopologyText } from '../render/topology-text.js';
import { table } from '../render/table.js';

/** A combination of options that cannot go together (exit 2). */
class UsageError extends Error {
  readonly code = 'ERR_USAGE';
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(`${path}: ${message}`);
  }
}

interface TopologyOptions {
  from: string;
  format: 'text' | 'json' | 'hwloc-xml';
  json?: boolean;
  summary?: boolean;
  strict?: boolean;
  listPresets?: boolean;
  matrix?: boolean;
}

/** Registers the command. */
export function registerTopology(program: Command, io: Io): void {
  program
    .command('topology')
    .description("show a host's NUMA topology: nodes, CPUs, memory, huge pages, devices, distances")
    .option('--from <source>', `where to read the host from: ${SOURCE_HELP.join(', ')}`, 'sysfs')
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json', 'hwloc-xml']).default('text'))
    .option('--json', 'same as --format json (with --summary: the counts as JSON)')
    .option('--summary', 'only the counts: packages, nodes, cores, PUs, PCI devices')
    .option('--strict', 'treat discovery warnings as errors (exit 2)')
    .option('--matrix', 'how every pair of GPUs, NICs, RDMA devices, NVMe and accelerators connects (PIX, PXB, PHB, NODE, SYS), and their nodes')
    .option('--list-presets', 'list the built-in machines usable as --from preset:NAME')
    .addHelpText(
      'after',
      `
Counts follow hwloc's default view: offline PUs and PUs or nodes outside the cgroup cpuset are
reported (in the summary line and in --json) but not counted.

--matrix reads the PCI tree (from sysfs, an hwloc XML file or a preset) like nvidia-smi topo -m, for
every vendor: PIX behind one PCIe switch, PXB behind several bridges under one host bridge, PHB the
same host bridge, NODE the same NUMA node, SYS across nodes (--json adds the meeting bridge and the
SLIT distance). Virtual functions sit where their physical function does and are left out.

Examples:
  numaplan topology
  numaplan topology --from preset:broadwell-2s
  numaplan topology --from numactl:numactl-H.txt --json
  numaplan topology --from sysfs:/tmp/capture --summary --json
  numaplan topology --from preset:epyc-2s-nps4 --format hwloc-xml > epyc.xml
  numaplan topology --from preset:dgx-h100 --matrix
  numaplan topology --from hwloc:dgx2.xml --matrix --json`,
    )
    .action(async (opts: TopologyOptions) => {
      if (opts.listPresets) {
        const presets = listPresets();
        if (opts.json) writeJson(io, presets.map((p) => ({ name: p.name, description: p.description, provenance: p.provenance })));
        else io.out(`${table(['preset', 'description'], presets.map((p) => [p.name, p.description]))}\n`);
        return;
      }
      const topo = await loadTopology(opts.from, { strict: opts.strict === true });
      const format = opts.json ? 'json' : opts.format;
      if (opts.matrix) {
        if (opts.summary) throw new UsageError('--matrix', '--matrix and --summary are two different views: choose one');
        const m = deviceMatrix(topo);
        if (format === 'json') writeJson(io, m);
        else if (format === 'text') io.out(renderDeviceMatrix(m));
        else throw new UsageError('--format', '--matrix prints text or JSON, not hwloc XML');
        return;
      }
      if (opts.summary) {
        const s = summarize(topo);
        if (format === 'json') writeJson(io, s);
        else
          io.out(
            `${plural(s.packages, 'package')}, ${plural(s.nodes, 'NUMA node')}, ${plural(s.cores, 'core')}, ` +
              `${plural(s.pus, 'PU')}, ${plural(s.pciDevices, 'PCI device')}\n`,
          );
        return;
      }
      if (format === 'json') io.out(topologyToJson(topo));
      else if (format === 'hwloc-xml') io.out((await import('../../adapters/hwloc-xml/export.js')).topologyToHwlocXml(topo));
      else io.out(renderTopologyText(topo));
    });
}
