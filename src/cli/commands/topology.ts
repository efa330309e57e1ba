/** `numaplan topology`: show a host's topology from any source, in text, JSON or hwloc XML. */
import { type Command, Option } from 'commander';
import { SOURCE_HELP, loadTopology } from '../../adapters/source.js';
import { topologyToJson } from '../../core/topology/json-out.js';
import { listPresets } from '../../core/topology/presets/index.js';
import { summarize } from '../../core/topology/view.js';
import { type Io, writeJson } from '../io.js';
import { plural, renderTopologyText } from '../render/topology-text.js';
import { table } from '../render/table.js';

interface TopologyOptions {
  from: string;
  format: 'text' | 'json' | 'hwloc-xml';
  json?: boolean;
  summary?: boolean;
  strict?: boolean;
  listPresets?: boolean;
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
    .option('--list-presets', 'list the built-in machines usable as --from preset:NAME')
    .addHelpText(
      'after',
      `
Counts follow hwloc's default view: offline PUs and PUs or nodes outside the cgroup cpuset are
reported (in the summary line and in --json) but not counted.

Examples:
  numaplan topology
  numaplan topology --from preset:broadwell-2s
  numaplan topology --from numactl:numactl-H.txt --json
  numaplan topology --from sysfs:/tmp/capture --summary --json
  numaplan topology --from preset:epyc-2s-nps4 --format hwloc-xml > epyc.xml`,
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
