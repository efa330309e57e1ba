// Generated from src/rdma/wire/opcodes.ts by `npm run gen:opcodes`: do not edit by hand.
// test/rdma-native-split.test.ts fails when this file is not what that table renders.
#pragma once
#include <stdint.h>

namespace roce {

/** OpcodeInfo::flags bits. */
enum : uint16_t {
  OPF_KNOWN = 1u << 0,
  OPF_REQUEST = 1u << 1,
  OPF_PAYLOAD = 1u << 2,
  OPF_DETH = 1u << 3,
  OPF_RETH = 1u << 4,
  OPF_AETH = 1u << 5,
  OPF_ATOMIC_ETH = 1u << 6,
  OPF_ATOMIC_ACK_ETH = 1u << 7,
  OPF_IMMDT = 1u << 8,
  OPF_IETH = 1u << 9,
  OPF_FIRST = 1u << 10,
  OPF_MIDDLE = 1u << 11,
  OPF_LAST = 1u << 12,
  OPF_ONLY = 1u << 13,
};

/** OpcodeInfo::kind: the operation an opcode belongs to. */
enum OpKind : uint8_t { OPK_NONE, OPK_SEND, OPK_WRITE, OPK_READ_REQUEST, OPK_READ_RESPONSE, OPK_ACK, OPK_ATOMIC, OPK_ATOMIC_ACK, OPK_CNP };

/** OpcodeInfo::transport: the opcode's top three bits, named. */
enum OpTransport : uint8_t { OPT_NONE, OPT_RC, OPT_UC, OPT_UD, OPT_CNP };

/** One BTH opcode: which headers follow the BTH, and where the packet sits in its message. */
struct OpcodeInfo {
  uint16_t flags;
  uint8_t kind;
  uint8_t transport;
  /** Bytes of extended headers after the 12-byte BTH. */
  uint8_t ext_len;
  const char* name;
};

constexpr uint8_t OP_RC_SEND_FIRST = 0x00;
constexpr uint8_t OP_RC_SEND_MIDDLE = 0x01;
constexpr uint8_t OP_RC_SEND_LAST = 0x02;
constexpr uint8_t OP_RC_SEND_LAST_WITH_IMMEDIATE = 0x03;
constexpr uint8_t OP_RC_SEND_ONLY = 0x04;
constexpr uint8_t OP_RC_SEND_ONLY_WITH_IMMEDIATE = 0x05;
constexpr uint8_t OP_RC_RDMA_WRITE_FIRST = 0x06;
constexpr uint8_t OP_RC_RDMA_WRITE_MIDDLE = 0x07;
constexpr uint8_t OP_RC_RDMA_WRITE_LAST = 0x08;
constexpr uint8_t OP_RC_RDMA_WRITE_LAST_WITH_IMMEDIATE = 0x09;
constexpr uint8_t OP_RC_RDMA_WRITE_ONLY = 0x0a;
constexpr uint8_t OP_RC_RDMA_WRITE_ONLY_WITH_IMMEDIATE = 0x0b;
constexpr uint8_t OP_RC_RDMA_READ_REQUEST = 0x0c;
constexpr uint8_t OP_RC_RDMA_READ_RESPONSE_FIRST = 0x0d;
constexpr uint8_t OP_RC_RDMA_READ_RESPONSE_MIDDLE = 0x0e;
constexpr uint8_t OP_RC_RDMA_READ_RESPONSE_LAST = 0x0f;
constexpr uint8_t OP_RC_RDMA_READ_RESPONSE_ONLY = 0x10;
constexpr uint8_t OP_RC_ACKNOWLEDGE = 0x11;
constexpr uint8_t OP_RC_ATOMIC_ACKNOWLEDGE = 0x12;
constexpr uint8_t OP_RC_COMPARE_SWAP = 0x13;
constexpr uint8_t OP_RC_FETCH_ADD = 0x14;
constexpr uint8_t OP_RC_SEND_LAST_WITH_INVALIDATE = 0x16;
constexpr uint8_t OP_RC_SEND_ONLY_WITH_INVALIDATE = 0x17;
constexpr uint8_t OP_UC_SEND_FIRST = 0x20;
constexpr uint8_t OP_UC_SEND_MIDDLE = 0x21;
constexpr uint8_t OP_UC_SEND_LAST = 0x22;
constexpr uint8_t OP_UC_SEND_LAST_WITH_IMMEDIATE = 0x23;
constexpr uint8_t OP_UC_SEND_ONLY = 0x24;
constexpr uint8_t OP_UC_SEND_ONLY_WITH_IMMEDIATE = 0x25;
constexpr uint8_t OP_UC_RDMA_WRITE_FIRST = 0x26;
constexpr uint8_t OP_UC_RDMA_WRITE_MIDDLE = 0x27;
constexpr uint8_t OP_UC_RDMA_WRITE_LAST = 0x28;
constexpr uint8_t OP_UC_RDMA_WRITE_LAST_WITH_IMMEDIATE = 0x29;
constexpr uint8_t OP_UC_RDMA_WRITE_ONLY = 0x2a;
constexpr uint8_t OP_UC_RDMA_WRITE_ONLY_WITH_IMMEDIATE = 0x2b;
constexpr uint8_t OP_UD_SEND_ONLY = 0x64;
constexpr uint8_t OP_UD_SEND_ONLY_WITH_IMMEDIATE = 0x65;
constexpr uint8_t OP_CNP = 0x81;

/** Indexed by opcode; flags 0 for opcodes the table does not know. */
constexpr OpcodeInfo OPCODES[256] = {
    /* 0x00 */ {OPF_KNOWN | OPF_REQUEST | OPF_PAYLOAD | OPF_FIRST, OPK_SEND, OPT_RC, 0, "RC_SEND_FIRST"},
    /* 0x01 */ {OPF_KNOWN | OPF_REQUEST | OPF_PAYLOAD | OPF_MIDDLE, OPK_SEND, OPT_RC, 0, "RC_SEND_MIDDLE"},
    /* 0x02 */ {OPF_KNOWN | OPF_REQUEST | OPF_PAYLOAD | OPF_LAST, OPK_SEND, OPT_RC, 0, "RC_SEND_LAST"},
    /* 0x03 */ {OPF_KNOWN | OPF_REQUEST | OPF_PAYLOAD | OPF_IMMDT | OPF_LAST, OPK_SEND, OPT_RC, 4, "RC_SEND_LAST_WITH_IMMEDIATE"},
    /* 0x04 */ {OPF_KNOWN | OPF_REQUEST | OPF_PAYLOAD | OPF_ONLY, OPK_SEND, OPT_RC, 0, "RC_SEND_ONLY"},
    /* 0x05 */ {OPF_KNOWN | OPF_REQUEST | OPF_PAYLOAD | OPF_IMMDT | OPF_ONLY, OPK_SEND, OPT_RC, 4, "RC_SEND_ONLY_WITH_IMMEDIATE"},
    /* 0x06 */ {OPF_KNOWN | OPF_REQUEST | OPF_PAYLOAD | OPF_RETH | OPF_FIRST, OPK_WRITE, OPT_RC, 16, "RC_RDMA_WRITE_FIRST"},
    /* 0x07 */ {OPF_KNOWN | OPF_REQUEST | OPF_PAYLOAD | OPF_MIDDLE, OPK_WRITE, OPT_RC, 0, "RC_RDMA_WRITE_MIDDLE"},
    /* 0x08 */ {OPF_KNOWN | OPF_REQUEST | OPF_PAYLOAD | OPF_LAST, OPK_WRITE, OPT_RC, 0, "RC_RDMA_WRITE_LAST"},
    /* 0x09 */ {OPF_KNOWN | OPF_REQUEST | OPF_PAYLOAD | OPF_IMMDT | OPF_LAST, OPK_WRITE, OPT_RC, 4, "RC_RDMA_WRITE_LAST_WITH_IMMEDIATE"},
    /* 0x0a */ {OPF_KNOWN | OPF_REQUEST | OPF_PAYLOAD | OPF_RETH | OPF_ONLY, OPK_WRITE, OPT_RC, 16, "RC_RDMA_WRITE_ONLY"},
    /* 0x0b */ {OPF_KNOWN | OPF_REQUEST | OPF_PAYLOAD | OPF_RETH | OPF_IMMDT | OPF_ONLY, OPK_WRITE, OPT_RC, 20, "RC_RDMA_WRITE_ONLY_WITH_IMMEDIATE"},
    /* 0x0c */ {OPF_KNOWN | OPF_REQUEST | OPF_RETH | OPF_ONLY, OPK_READ_REQUEST, OPT_RC, 16, "RC_RDMA_READ_REQUEST"},
    /* 0x0d */ {OPF_KNOWN | OPF_PAYLOAD | OPF_AETH | OPF_FIRST, OPK_READ_RESPONSE, OPT_RC, 4, "RC_RDMA_READ_RESPONSE_FIRST"},
    /* 0x0e */ {OPF_KNOWN | OPF_PAYLOAD | OPF_MIDDLE, OPK_READ_RESPONSE, OPT_RC, 0, "RC_RDMA_READ_RESPONSE_MIDDLE"},
    /* 0x0f */ {OPF_KNOWN | OPF_PAYLOAD | OPF_AETH | OPF_LAST, OPK_READ_RESPONSE, OPT_RC, 4, "RC_RDMA_READ_RESPONSE_LAST"},
    /* 0x10 */ {OPF_KNOWN | OPF_PAYLOAD | OPF_AETH | OPF_ONLY, OPK_READ_RESPONSE, OPT_RC, 4, "RC_RDMA_READ_RESPONSE_ONLY"},
    /* 0x11 */ {OPF_KNOWN | OPF_AETH, OPK_ACK, OPT_RC, 4, "RC_ACKNOWLEDGE"},
    /* 0x12 */ {OPF_KNOWN | OPF_AETH | OPF_ATOMIC_ACK_ETH, OPK_ATOMIC_ACK, OPT_RC, 12, "RC_ATOMIC_ACKNOWLEDGE"},
    /* 0x13 */ {OPF_KNOWN | OPF_REQUEST | OPF_ATOMIC_ETH | OPF_ONLY, OPK_ATOMIC, OPT_RC, 28, "RC_COMPARE_SWAP"},
    /* 0x14 */ {OPF_KNOWN | OPF_REQUEST | OPF_ATOMIC_ETH | OPF_ONLY, OPK_ATOMIC, OPT_RC, 28, "RC_FETCH_ADD"},
    /* 0x15 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x16 */ {OPF_KNOWN | OPF_REQUEST | OPF_PAYLOAD | OPF_IETH | OPF_LAST, OPK_SEND, OPT_RC, 4, "RC_SEND_LAST_WITH_INVALIDATE"},
    /* 0x17 */ {OPF_KNOWN | OPF_REQUEST | OPF_PAYLOAD | OPF_IETH | OPF_ONLY, OPK_SEND, OPT_RC, 4, "RC_SEND_ONLY_WITH_INVALIDATE"},
    /* 0x18 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x19 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x1a */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x1b */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x1c */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x1d */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x1e */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x1f */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x20 */ {OPF_KNOWN | OPF_REQUEST | OPF_PAYLOAD | OPF_FIRST, OPK_SEND, OPT_UC, 0, "UC_SEND_FIRST"},
    /* 0x21 */ {OPF_KNOWN | OPF_REQUEST | OPF_PAYLOAD | OPF_MIDDLE, OPK_SEND, OPT_UC, 0, "UC_SEND_MIDDLE"},
    /* 0x22 */ {OPF_KNOWN | OPF_REQUEST | OPF_PAYLOAD | OPF_LAST, OPK_SEND, OPT_UC, 0, "UC_SEND_LAST"},
    /* 0x23 */ {OPF_KNOWN | OPF_REQUEST | OPF_PAYLOAD | OPF_IMMDT | OPF_LAST, OPK_SEND, OPT_UC, 4, "UC_SEND_LAST_WITH_IMMEDIATE"},
    /* 0x24 */ {OPF_KNOWN | OPF_REQUEST | OPF_PAYLOAD | OPF_ONLY, OPK_SEND, OPT_UC, 0, "UC_SEND_ONLY"},
    /* 0x25 */ {OPF_KNOWN | OPF_REQUEST | OPF_PAYLOAD | OPF_IMMDT | OPF_ONLY, OPK_SEND, OPT_UC, 4, "UC_SEND_ONLY_WITH_IMMEDIATE"},
    /* 0x26 */ {OPF_KNOWN | OPF_REQUEST | OPF_PAYLOAD | OPF_RETH | OPF_FIRST, OPK_WRITE, OPT_UC, 16, "UC_RDMA_WRITE_FIRST"},
    /* 0x27 */ {OPF_KNOWN | OPF_REQUEST | OPF_PAYLOAD | OPF_MIDDLE, OPK_WRITE, OPT_UC, 0, "UC_RDMA_WRITE_MIDDLE"},
    /* 0x28 */ {OPF_KNOWN | OPF_REQUEST | OPF_PAYLOAD | OPF_LAST, OPK_WRITE, OPT_UC, 0, "UC_RDMA_WRITE_LAST"},
    /* 0x29 */ {OPF_KNOWN | OPF_REQUEST | OPF_PAYLOAD | OPF_IMMDT | OPF_LAST, OPK_WRITE, OPT_UC, 4, "UC_RDMA_WRITE_LAST_WITH_IMMEDIATE"},
    /* 0x2a */ {OPF_KNOWN | OPF_REQUEST | OPF_PAYLOAD | OPF_RETH | OPF_ONLY, OPK_WRITE, OPT_UC, 16, "UC_RDMA_WRITE_ONLY"},
    /* 0x2b */ {OPF_KNOWN | OPF_REQUEST | OPF_PAYLOAD | OPF_RETH | OPF_IMMDT | OPF_ONLY, OPK_WRITE, OPT_UC, 20, "UC_RDMA_WRITE_ONLY_WITH_IMMEDIATE"},
    /* 0x2c */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x2d */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x2e */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x2f */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x30 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x31 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x32 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x33 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x34 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x35 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x36 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x37 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x38 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x39 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x3a */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x3b */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x3c */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x3d */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x3e */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x3f */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x40 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x41 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x42 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x43 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x44 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x45 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x46 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x47 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x48 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x49 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x4a */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x4b */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x4c */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x4d */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x4e */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x4f */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x50 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x51 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x52 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x53 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x54 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x55 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x56 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x57 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x58 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x59 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x5a */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x5b */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x5c */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x5d */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x5e */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x5f */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x60 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x61 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x62 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x63 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x64 */ {OPF_KNOWN | OPF_REQUEST | OPF_PAYLOAD | OPF_DETH | OPF_ONLY, OPK_SEND, OPT_UD, 8, "UD_SEND_ONLY"},
    /* 0x65 */ {OPF_KNOWN | OPF_REQUEST | OPF_PAYLOAD | OPF_DETH | OPF_IMMDT | OPF_ONLY, OPK_SEND, OPT_UD, 12, "UD_SEND_ONLY_WITH_IMMEDIATE"},
    /* 0x66 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x67 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x68 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x69 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x6a */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x6b */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x6c */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x6d */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x6e */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x6f */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x70 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x71 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x72 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x73 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x74 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x75 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x76 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x77 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x78 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x79 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x7a */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x7b */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x7c */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x7d */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x7e */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x7f */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x80 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x81 */ {OPF_KNOWN | OPF_PAYLOAD, OPK_CNP, OPT_CNP, 0, "CNP"},
    /* 0x82 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x83 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x84 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x85 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x86 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x87 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x88 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x89 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x8a */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x8b */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x8c */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x8d */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x8e */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x8f */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x90 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x91 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x92 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x93 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x94 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x95 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x96 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x97 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x98 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x99 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x9a */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x9b */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x9c */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x9d */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x9e */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0x9f */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xa0 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xa1 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xa2 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xa3 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xa4 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xa5 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xa6 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xa7 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xa8 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xa9 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xaa */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xab */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xac */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xad */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xae */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xaf */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xb0 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xb1 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xb2 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xb3 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xb4 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xb5 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xb6 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xb7 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xb8 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xb9 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xba */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xbb */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xbc */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xbd */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xbe */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xbf */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xc0 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xc1 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xc2 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xc3 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xc4 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xc5 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xc6 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xc7 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xc8 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xc9 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xca */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xcb */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xcc */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xcd */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xce */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xcf */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xd0 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xd1 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xd2 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xd3 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xd4 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xd5 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xd6 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xd7 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xd8 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xd9 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xda */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xdb */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xdc */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xdd */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xde */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xdf */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xe0 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xe1 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xe2 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xe3 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xe4 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xe5 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xe6 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xe7 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xe8 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xe9 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xea */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xeb */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xec */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xed */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xee */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xef */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xf0 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xf1 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xf2 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xf3 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xf4 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xf5 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xf6 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xf7 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xf8 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xf9 */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xfa */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xfb */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xfc */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xfd */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xfe */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
    /* 0xff */ {0, OPK_NONE, OPT_NONE, 0, nullptr},
};

}  // namespace roce
