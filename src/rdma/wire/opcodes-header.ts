/**
 * The C++ view of the opcode table (native/opcodes.gen.h), rendered from opcodes.ts so that the
 * addon's packet rules and the TypeScript ones cannot drift: `npm run gen:opcodes` writes it, and a
 * test fails when the checked-in header differs from what this renders.
 */
import { type OpcodeLayout, knownOpcodes, opcodeLayout } from './opcodes.js';

/** Flag bits of OpcodeInfo::flags, in order. */
const FLAGS: readonly [string, (l: OpcodeLayout) => boolean][] = [
  ['OPF_KNOWN', () => true],
  ['OPF_REQUEST', (l) => l.request],
  ['OPF_PAYLOAD', (l) => l.payload],
  ['OPF_DETH', (l) => l.deth],
  ['OPF_RETH', (l) => l.reth],
  ['OPF_AETH', (l) => l.aeth],
  ['OPF_ATOMIC_ETH', (l) => l.atomicEth],
  ['OPF_ATOMIC_ACK_ETH', (l) => l.atomicAckEth],
  ['OPF_IMMDT', (l) => l.immDt],
  ['OPF_IETH', (l) => l.ieth],
  ['OPF_FIRST', (l) => l.position === 'first'],
  ['OPF_MIDDLE', (l) => l.position === 'middle'],
  ['OPF_LAST', (l) => l.position === 'last'],
  ['OPF_ONLY', (l) => l.position === 'only'],
];

const KINDS = ['none', 'send', 'write', 'read-request', 'read-response', 'ack', 'atomic', 'atomic-ack', 'cnp'] as const;
const TRANSPORTS = ['RC', 'UC', 'UD', 'CNP'] as const;

const cName = (s: string): string => s.toUpperCase().replace(/-/g, '_');

/** The text of native/opcodes.gen.h. */
export function renderOpcodeHeader(): string {
  const out: string[] = [];
  out.push('// Generated from src/rdma/wire/opcodes.ts by `npm run gen:opcodes`: do not edit by hand.');
  out.push('// test/rdma-native-split.test.ts fails when this file is not what that table renders.');
  out.push('#pragma once');
  out.push('#include <stdint.h>');
  out.push('');
  out.push('namespace roce {');
  out.push('');
  out.push('/** OpcodeInfo::flags bits. */');
  out.push('enum : uint16_t {');
  FLAGS.forEach(([name], i) => out.push(`  ${name} = 1u << ${i},`));
  out.push('};');
  out.push('');
  out.push('/** OpcodeInfo::kind: the operation an opcode belongs to. */');
  out.push(`enum OpKind : uint8_t { ${KINDS.map((k) => `OPK_${cName(k)}`).join(', ')} };`);
  out.push('');
  out.push('/** OpcodeInfo::transport: the opcode\'s top three bits, named. */');
  out.push(`enum OpTransport : uint8_t { OPT_NONE, ${TRANSPORTS.map((t) => `OPT_${t}`).join(', ')} };`);
  out.push('');
  out.push('/** One BTH opcode: which headers follow the BTH, and where the packet sits in its message. */');
  out.push('struct OpcodeInfo {');
  out.push('  uint16_t flags;');
  out.push('  uint8_t kind;');
  out.push('  uint8_t transport;');
  out.push('  /** Bytes of extended headers after the 12-byte BTH. */');
  out.push('  uint8_t ext_len;');
  out.push('  const char* name;');
  out.push('};');
  out.push('');
  for (const op of knownOpcodes()) {
    const l = opcodeLayout(op) as OpcodeLayout;
    out.push(`constexpr uint8_t OP_${l.name} = 0x${hex(op)};`);
  }
  out.push('');
  out.push('/** Indexed by opcode; flags 0 for opcodes the table does not know. */');
  out.push('constexpr OpcodeInfo OPCODES[256] = {');
  for (let op = 0; op < 256; op++) {
    const l = opcodeLayout(op);
    if (!l) {
      out.push(`    /* 0x${hex(op)} */ {0, OPK_NONE, OPT_NONE, 0, nullptr},`);
      continue;
    }
    const flags = FLAGS.filter(([, has]) => has(l)).map(([name]) => name);
    out.push(`    /* 0x${hex(op)} */ {${flags.join(' | ')}, OPK_${cName(l.kind)}, OPT_${l.transport}, ${l.extLength}, "${l.name}"},`);
  }
  out.push('};');
  out.push('');
  out.push('}  // namespace roce');
  out.push('');
  return out.join('\n');
}

function hex(n: number): string {
  return n.toString(16).padStart(2, '0');
}
