/** `numaplan schema NAME`: print a published JSON Schema. */
import type { Command } from 'commander';
import { topologyJsonSchema } from '../../core/topology/model.js';
import { type Io, writeJson } from '../io.js';

const SCHEMAS: Record<string, () => Record<string, unknown>> = {
  topology: topologyJsonSchema,
};

/** Registers the command. */
export function registerSchema(program: Command, io: Io): void {
  program
    .command('schema')
    .description(`print a JSON Schema: ${Object.keys(SCHEMAS).join(', ')}`)
    .argument('<name>', `which schema (${Object.keys(SCHEMAS).join(', ')})`)
    .option('--json', 'accepted for uniformity; the output is always JSON')
    .addHelpText('after', '\nExamples:\n  numaplan schema topology > topology.schema.json\n  numaplan schema topology | jq .required')
    .action((name: string) => {
      const make = SCHEMAS[name];
      if (!make) {
        const err = Object.assign(new Error(`unknown schema "${name}"; known: ${Object.keys(SCHEMAS).join(', ')}`), {
          code: 'ERR_USAGE',
          path: 'name',
        });
        throw err;
      }
      writeJson(io, make());
    });
}
