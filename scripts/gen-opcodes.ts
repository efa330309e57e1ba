/** Writes native/opcodes.gen.h from the opcode table in src/rdma/wire/opcodes.ts (`npm run gen:opcodes`). */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderOpcodeHeader } from '../src/rdma/wire/opcodes-header.js';

const target = fileURLToPath(new URL('../native/opcodes.gen.h', import.meta.url));
writeFileSync(target, renderOpcodeHeader());
process.stdout.write(`wrote ${target}\n`);
