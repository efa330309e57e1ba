// Direct data placement of RDMA WRITE packets into registered memory, as an RNIC does it: a pure
// unit (no sockets, no N-API, no allocation while deciding) so that every rule is a named check
// that tests and fuzzers can reach directly.
//
// The TS responder registers, per queue pair, what it expects next (PSN, path MTU, PD, whether
// REMOTE_WRITE is enabled, the peer's address, the RDMA WRITE in progress if any) and, per device,
// the memory regions that allow REMOTE_WRITE. An in-order RC RDMA WRITE FIRST/MIDDLE/LAST/ONLY (no
// immediate) with a verified ICRC, a valid header, from the queue pair's peer, whose RETH passes the
// rkey/PD/access/bounds checks against memory that is still there, and whose payload length follows
// the opcode rules, is copied into the region here. Every other packet goes to JS unchanged; once
// one packet of a queue pair that JS will act on has gone to JS, none of that queue pair's packets
// is placed until JS re-syncs its state (so all NAK, retry and protection decisions stay in the
// TS responder, in packet order), and after a SEND with invalidate nothing more of the batch is
// placed.
#pragma once
#include <stddef.h>
#include <stdint.h>

namespace roce {

/** ACCESS.REMOTE_WRITE of src/rdma/verbs/types.ts. */
constexpr uint32_t ACCESS_REMOTE_WRITE = 2;

/** A region placement may write into, as the verbs layer registered it. */
struct PlaceRegion {
  uint32_t rkey;
  uint32_t pd;
  uint32_t access;
  /** Virtual address of byte 0 (a JS safe integer). */
  double va;
  /** Bytes registered. */
  size_t len;
  /** Where byte 0 was at registration. */
  uint8_t* data;
  /** The glue's handle on the memory (for the liveness view). */
  void* owner;
};

/** The region's memory as it is now: detached memory has no data and length 0, shrunk memory a smaller length. */
struct RegionView {
  uint8_t* data;
  size_t len;
};

/** Asks the owner of the region's memory where it is now. */
using RegionViewFn = RegionView (*)(const PlaceRegion& r, void* ctx);

/** The message a queue pair has in progress. */
enum PlaceCur : uint8_t { CUR_NONE = 0, CUR_WRITE = 1, CUR_OTHER = 2 };

/** A responder queue pair's state, as the TS responder last gave it. */
struct PlaceQp {
  uint32_t qpn;
  bool enabled;
  /** A packet went to JS since the last sync: place nothing until JS syncs again. */
  bool deferred;
  uint32_t epsn;
  uint32_t mtu;
  uint32_t pd;
  bool remote_write;
  /** 4 or 16 address bytes of the peer (0: none). */
  uint8_t peer_len;
  uint8_t peer_addr[16];
  uint8_t cur;
  uint32_t cur_rkey;
  /** Region byte offset of the next byte of the WRITE in progress, and bytes still to come. */
  size_t cur_off;
  size_t cur_remaining;
};

/** Why a packet was (not) placed. Checks run in this order; the first that fails names the outcome. */
enum PlaceCheck : uint8_t {
  PLACE_OK = 0,
  /** Shorter than a BTH and an ICRC. */
  PLACE_SHORT,
  /** TVer is not 0 or the P_Key does not match the default partition: dropped by the verbs layer too. */
  PLACE_BAD_HEADER,
  /** Not an RC opcode: dropped by the verbs layer (an RC queue pair takes RC packets only). */
  PLACE_NOT_RC,
  /** No queue pair with that number registered here. */
  PLACE_NO_QP,
  /** The queue pair is not in RTR or RTS, or has no peer. */
  PLACE_QP_DISABLED,
  /** From another address than the queue pair's peer: dropped by the verbs layer. */
  PLACE_PEER,
  /** A SEND with invalidate came earlier in this receive batch. */
  PLACE_HELD,
  /** A packet of this queue pair went to JS and JS has not re-synced yet. */
  PLACE_QP_DEFERRED,
  /** Not an RDMA WRITE FIRST, MIDDLE, LAST or ONLY without immediate. */
  PLACE_NOT_PLAIN_WRITE,
  /** Not the PSN expected next. */
  PLACE_PSN,
  /** Headers, pad and ICRC do not fit the datagram. */
  PLACE_TRUNCATED,
  /** Payload longer than the path MTU. */
  PLACE_OVER_MTU,
  /** FIRST/ONLY while a message is in progress, MIDDLE/LAST without one. */
  PLACE_SEQUENCE,
  /** Payload length against the MTU, the DMA length or the bytes still to come. */
  PLACE_LENGTH,
  /** No region with that rkey. */
  PLACE_RKEY,
  /** The region belongs to another protection domain. */
  PLACE_PD,
  /** The region or the queue pair does not allow REMOTE_WRITE. */
  PLACE_ACCESS,
  /** The VA range lies outside the region. */
  PLACE_BOUNDS,
  /** The region's memory was detached, shrunk or moved since registration. */
  PLACE_MEMORY_GONE,
  PLACE_CHECK_COUNT,
};

/** The check's name, e.g. "psn". */
const char* place_check_name(PlaceCheck c);

/** Regions and queue pairs of one device. */
struct PlaceTable {
  PlaceRegion* mrs;
  size_t n_mrs;
  size_t cap_mrs;
  PlaceQp* qps;
  size_t n_qps;
  size_t cap_qps;
  /** No placement for the rest of the current receive batch. */
  bool hold;
};

/** The outcome of the checks for one packet, and what placing it means. */
struct PlaceDecision {
  PlaceCheck check;
  /** Bytes of the datagram. */
  size_t len;
  uint8_t opcode;
  bool ack_req;
  bool last;
  uint32_t qpn;
  uint32_t psn;
  /** The rkey of the message (from the RETH, or the one in progress). */
  uint32_t rkey;
  /** Bytes before the payload (BTH and RETH). */
  size_t hdr;
  size_t payload;
  /** Region offset of the payload's first byte. */
  size_t off;
  /** Bytes of the message still to come after this packet. */
  size_t remaining;
  /** Where the payload goes (PLACE_OK only). */
  uint8_t* dst;
  PlaceQp* qp;
};

/** Runs the checks for datagram `pkt` of `len` bytes (ICRC verified) from address `src` (4 or 16 bytes). Changes nothing. */
PlaceDecision place_decide(const PlaceTable* t, const uint8_t* pkt, size_t len, const uint8_t* src, size_t src_len, RegionViewFn view, void* ctx);

/**
 * Applies a decision: PLACE_OK copies the payload and advances the queue pair; otherwise a packet
 * JS will act on defers its queue pair (a plain ACK cannot change a queue pair's state and does
 * not). A SEND with invalidate holds placement for the rest of the batch either way. Returns true
 * when the payload was placed.
 */
bool place_commit(PlaceTable* t, const PlaceDecision& d, const uint8_t* pkt);

/** Table upkeep. The set functions return false when memory runs out (the table is unchanged then). */
PlaceRegion* place_region(const PlaceTable* t, uint32_t rkey);
PlaceQp* place_qp(const PlaceTable* t, uint32_t qpn);
bool place_set_region(PlaceTable* t, const PlaceRegion& r, void** replaced_owner);
/** Removes a region; a WRITE in progress into it is finished by JS. Returns its owner (or null). */
void* place_drop_region(PlaceTable* t, uint32_t rkey);
/** Sets a queue pair's state (clears its deferral). cur_off/cur_remaining apply when cur is CUR_WRITE and fit the region. */
bool place_set_qp(PlaceTable* t, const PlaceQp& q);
void place_drop_qp(PlaceTable* t, uint32_t qpn);
/** Frees the arrays (owners are the caller's to release first). */
void place_free(PlaceTable* t);

}  // namespace roce
