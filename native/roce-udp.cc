// Batched UDP socket I/O for the RoCE v2 endpoint (Linux): sendmmsg(2) for packets queued by the
// JS side in one tick, recvmmsg(2) into a slab handed to JS once per batch, and libuv's poll
// watcher on the socket so readiness is delivered on Node's own event loop.
//
// RoCE headers and dispatch stay in TypeScript. The ICRC is computed here, on send and receive,
// with a carry-less-multiply CRC-32 (several times zlib's speed on 4 KiB packets).
//
// JS API (one handle per socket):
//   open(v6, addrBytes, port, bufBytes, batch, slotBytes, onRecv, onWritable, icrc)
//       -> { handle, port, rcvbuf, sndbuf, slab, meta }   meta: Buffer, per slot META_BYTES (see below)
//       icrc: generate the ICRC of every packet sent and verify that of every datagram received
//       (over IPv4 assuming identification 0 and DF, as the TS transport does)
//   send(handle, names[] | name, packets[], start, count) -> packets consumed (sent or failed for good);
//       fewer than count means the socket would block: keep the rest, call watchWritable(handle, true)
//   watchWritable(handle, on)
//   setSlab(handle, buffer)   buffer of batch * slotBytes the next recvmmsg writes into
//   sendErrors(handle) -> packets the kernel refused for another reason than a full buffer
//   ntop(bytes) -> text form of a 4- or 16-byte address
//   crc32(buffer, init) -> zlib-compatible CRC-32;  icrc(src, dst, srcPort, dstPort, roce, id4, ff4)
//   ddpMr / ddpMrDrop / ddpQp / ddpQpDrop: direct data placement of RDMA WRITEs (see that section)
//   connectPeer(handle, name) -> bool: connect(2) to one peer (empty name: disconnect)
//   close(handle)
//
// onRecv(count) is called with `count` datagrams in the slab: slot i at i * slotBytes. Meta slot i
// (META_BYTES each): int32 length in host byte order at 0 (-1: longer than a slot, truncated), the
// sender's port in network byte order at 4, its family (4 or 6) at 6, at 7 a flag (1 when the ICRC
// verified or checking is off), its address (4 or 16 bytes) at 8. onRecv may return a Buffer: the
// slab for the next batch.
#include <node_api.h>
#include <uv.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

namespace {

// ---------------------------------------------------------------------------------------------
// CRC-32 (the zlib/Ethernet polynomial, reflected) and the RoCE v2 ICRC.
//
// x86-64 with PCLMULQDQ: folding by carry-less multiplication, four 128-bit lanes at a time, then
// a Barrett reduction (the method of Intel's "Fast CRC Computation for Generic Polynomials Using
// PCLMULQDQ"; constants for the bit-reflected polynomial 0x104C11DB7). Otherwise, and for short
// tails, a byte table. zlib's crc32 semantics: crc32(crc32(0, a), b) == crc32(0, a ++ b).

uint32_t crc_table[256];

void crc_init_table() {
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    crc_table[i] = c;
  }
}

/** Raw (non-inverted) state update, byte at a time. */
uint32_t crc_bytes(uint32_t c, const uint8_t* p, size_t n) {
  while (n--) c = crc_table[(c ^ *p++) & 0xff] ^ (c >> 8);
  return c;
}

#if defined(__x86_64__)
#include <immintrin.h>
bool have_clmul = false;

/** Raw state over `len` bytes, len >= 64 and a multiple of 16. */
__attribute__((target("pclmul,sse4.1"))) uint32_t crc_clmul(uint32_t crc, const uint8_t* buf, size_t len) {
  alignas(16) static const uint64_t k1k2[] = {0x0154442bd4ull, 0x01c6e41596ull};
  alignas(16) static const uint64_t k3k4[] = {0x01751997d0ull, 0x00ccaa009eull};
  alignas(16) static const uint64_t k5k0[] = {0x0163cd6124ull, 0};
  alignas(16) static const uint64_t poly[] = {0x01db710641ull, 0x01f7011641ull};
  __m128i x0, x1, x2, x3, x4, x5, x6, x7, x8, y5, y6, y7, y8;
  x1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(buf + 0x00));
  x2 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(buf + 0x10));
  x3 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(buf + 0x20));
  x4 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(buf + 0x30));
  x1 = _mm_xor_si128(x1, _mm_cvtsi32_si128(static_cast<int>(crc)));
  x0 = _mm_load_si128(reinterpret_cast<const __m128i*>(k1k2));
  buf += 64;
  len -= 64;
  while (len >= 64) {
    x5 = _mm_clmulepi64_si128(x1, x0, 0x00);
    x6 = _mm_clmulepi64_si128(x2, x0, 0x00);
    x7 = _mm_clmulepi64_si128(x3, x0, 0x00);
    x8 = _mm_clmulepi64_si128(x4, x0, 0x00);
    x1 = _mm_clmulepi64_si128(x1, x0, 0x11);
    x2 = _mm_clmulepi64_si128(x2, x0, 0x11);
    x3 = _mm_clmulepi64_si128(x3, x0, 0x11);
    x4 = _mm_clmulepi64_si128(x4, x0, 0x11);
    y5 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(buf + 0x00));
    y6 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(buf + 0x10));
    y7 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(buf + 0x20));
    y8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(buf + 0x30));
    x1 = _mm_xor_si128(_mm_xor_si128(x1, x5), y5);
    x2 = _mm_xor_si128(_mm_xor_si128(x2, x6), y6);
    x3 = _mm_xor_si128(_mm_xor_si128(x3, x7), y7);
    x4 = _mm_xor_si128(_mm_xor_si128(x4, x8), y8);
    buf += 64;
    len -= 64;
  }
  x0 = _mm_load_si128(reinterpret_cast<const __m128i*>(k3k4));
  x5 = _mm_clmulepi64_si128(x1, x0, 0x00);
  x1 = _mm_clmulepi64_si128(x1, x0, 0x11);
  x1 = _mm_xor_si128(_mm_xor_si128(x1, x2), x5);
  x5 = _mm_clmulepi64_si128(x1, x0, 0x00);
  x1 = _mm_clmulepi64_si128(x1, x0, 0x11);
  x1 = _mm_xor_si128(_mm_xor_si128(x1, x3), x5);
  x5 = _mm_clmulepi64_si128(x1, x0, 0x00);
  x1 = _mm_clmulepi64_si128(x1, x0, 0x11);
  x1 = _mm_xor_si128(_mm_xor_si128(x1, x4), x5);
  while (len >= 16) {
    x2 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(buf));
    x5 = _mm_clmulepi64_si128(x1, x0, 0x00);
    x1 = _mm_clmulepi64_si128(x1, x0, 0x11);
    x1 = _mm_xor_si128(_mm_xor_si128(x1, x2), x5);
    buf += 16;
    len -= 16;
  }
  x2 = _mm_clmulepi64_si128(x1, x0, 0x10);
  x3 = _mm_setr_epi32(~0, 0, ~0, 0);
  x1 = _mm_srli_si128(x1, 8);
  x1 = _mm_xor_si128(x1, x2);
  x0 = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(k5k0));
  x2 = _mm_srli_si128(x1, 4);
  x1 = _mm_and_si128(x1, x3);
  x1 = _mm_clmulepi64_si128(x1, x0, 0x00);
  x1 = _mm_xor_si128(x1, x2);
  x0 = _mm_load_si128(reinterpret_cast<const __m128i*>(poly));
  x2 = _mm_and_si128(x1, x3);
  x2 = _mm_clmulepi64_si128(x2, x0, 0x10);
  x2 = _mm_and_si128(x2, x3);
  x2 = _mm_clmulepi64_si128(x2, x0, 0x00);
  x1 = _mm_xor_si128(x1, x2);
  return static_cast<uint32_t>(_mm_extract_epi32(x1, 1));
}
#endif

/** Raw state update (callers invert before and after, as zlib does). */
uint32_t crc_raw(uint32_t c, const uint8_t* p, size_t n) {
#if defined(__x86_64__)
  if (have_clmul && n >= 64) {
    size_t chunk = n & ~static_cast<size_t>(15);
    c = crc_clmul(c, p, chunk);
    p += chunk;
    n -= chunk;
  }
#endif
  return crc_bytes(c, p, n);
}

/** zlib-compatible crc32(init, bytes). */
uint32_t crc32_z(uint32_t init, const uint8_t* p, size_t n) {
  return ~crc_raw(~init, p, n);
}

/** Raw CRC state after the 8 bytes of 0xFF standing in for the InfiniBand LRH. */
uint32_t lrh_state() {
  static const uint8_t ff[8] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  return crc_raw(0xffffffffu, ff, 8);
}

/**
 * The ICRC of a RoCE v2 transport packet (BTH .. ICRC slot, given as iovecs totalling `len`
 * bytes, the first at least 12) between two UDP endpoints: masked IPv6 (or IPv4 with
 * identification `id4` and flags/fragment `ff4`) and UDP headers rebuilt from the addresses and
 * ports, the BTH with resv8a masked, then everything after the BTH up to the ICRC slot.
 */
uint32_t roce_icrc(bool v6, const uint8_t* src, const uint8_t* dst, uint16_t sport, uint16_t dport, uint16_t id4, uint16_t ff4,
                   const struct iovec* iov, size_t niov, size_t len) {
  uint8_t h[48];
  size_t ip = v6 ? 40 : 20;
  uint16_t udp_len = static_cast<uint16_t>(len + 8);
  if (v6) {
    h[0] = 0x6f;
    h[1] = h[2] = h[3] = 0xff;
    h[4] = static_cast<uint8_t>(udp_len >> 8);
    h[5] = static_cast<uint8_t>(udp_len);
    h[6] = 17;
    h[7] = 0xff;
    memcpy(h + 8, src, 16);
    memcpy(h + 24, dst, 16);
  } else {
    uint16_t total = static_cast<uint16_t>(udp_len + 20);
    h[0] = 0x45;
    h[1] = 0xff;
    h[2] = static_cast<uint8_t>(total >> 8);
    h[3] = static_cast<uint8_t>(total);
    h[4] = static_cast<uint8_t>(id4 >> 8);
    h[5] = static_cast<uint8_t>(id4);
    h[6] = static_cast<uint8_t>(ff4 >> 8);
    h[7] = static_cast<uint8_t>(ff4);
    h[8] = 0xff;
    h[9] = 17;
    h[10] = h[11] = 0xff;
    memcpy(h + 12, src, 4);
    memcpy(h + 16, dst, 4);
  }
  uint8_t* u = h + ip;
  u[0] = static_cast<uint8_t>(sport >> 8);
  u[1] = static_cast<uint8_t>(sport);
  u[2] = static_cast<uint8_t>(dport >> 8);
  u[3] = static_cast<uint8_t>(dport);
  u[4] = static_cast<uint8_t>(udp_len >> 8);
  u[5] = static_cast<uint8_t>(udp_len);
  u[6] = u[7] = 0xff;
  static const uint32_t lrh = lrh_state();
  // The CRC state after the IP and UDP headers, kept for the last header seen: consecutive
  // packets of a flow with the same length (every full-MTU packet of a message) share it
  // (per thread: worker threads may load the addon too).
  thread_local uint8_t memo_h[48];
  thread_local size_t memo_len = 0;
  thread_local uint32_t memo_state = 0;
  uint32_t c;
  if (memo_len == ip + 8 && memcmp(memo_h, h, ip + 8) == 0) c = memo_state;
  else {
    c = crc_raw(lrh, h, ip + 8);
    memcpy(memo_h, h, ip + 8);
    memo_len = ip + 8;
    memo_state = c;
  }
  uint8_t bth[12];
  memcpy(bth, iov[0].iov_base, 12);
  bth[4] = 0xff;
  c = crc_raw(c, bth, 12);
  // The rest: skip the BTH's 12 bytes, stop before the 4-byte ICRC slot.
  size_t skip = 12;
  size_t left = len - 12 - 4;
  for (size_t i = 0; i < niov && left > 0; i++) {
    const uint8_t* p = static_cast<const uint8_t*>(iov[i].iov_base);
    size_t n = iov[i].iov_len;
    if (skip >= n) {
      skip -= n;
      continue;
    }
    p += skip;
    n -= skip;
    skip = 0;
    if (n > left) n = left;
    c = crc_raw(c, p, n);
    left -= n;
  }
  return ~c;
}

/** Writes `icrc` little-endian into the last 4 bytes of a packet held in iovecs. */
void put_icrc(const struct iovec* iov, size_t niov, uint32_t icrc) {
  uint8_t b[4] = {static_cast<uint8_t>(icrc), static_cast<uint8_t>(icrc >> 8), static_cast<uint8_t>(icrc >> 16), static_cast<uint8_t>(icrc >> 24)};
  size_t k = 4;
  for (size_t i = niov; i-- > 0 && k > 0;) {
    uint8_t* p = static_cast<uint8_t*>(iov[i].iov_base);
    for (size_t j = iov[i].iov_len; j-- > 0 && k > 0;) p[j] = b[--k];
  }
}

constexpr int META_BYTES = 32;
constexpr int MAX_PARTS = 16;
constexpr int MAX_SEND = 256;
/** recvmmsg batches handled per readable event before yielding to the loop. */
constexpr int MAX_ROUNDS = 16;

struct Sock {
  uv_poll_t poll;
  napi_env env;
  int fd;
  int family;
  int batch;
  int slot;
  bool writable_wanted;
  bool closed;
  bool in_callback;
  bool icrc;
  /** The Sock is freed once both the poll handle is closed and the JS handle is collected. */
  bool poll_closed;
  bool handle_gone;
  uint8_t local_addr[16];
  uint16_t local_port;
  uint64_t send_errors;
  /** The peer the socket is connect()ed to (sockaddr bytes; length 0: not connected). */
  uint8_t peer_name[sizeof(struct sockaddr_in6)];
  socklen_t peer_len;
  napi_ref on_recv;
  napi_ref on_writable;
  napi_ref slab_ref;
  napi_ref meta_ref;
  napi_async_context async;
  uint8_t* slab;
  uint8_t* meta;
  struct mmsghdr* rmsgs;
  struct iovec* riov;
  struct sockaddr_storage* rnames;
  /** Direct data placement (see the DDP section): registered regions and queue pairs. */
  struct DdpMr* mrs;
  size_t n_mrs;
  struct DdpQp* qps;
  size_t n_qps;
  /** No placement for the rest of the current recvmmsg batch. */
  bool ddp_hold;
};


// ---------------------------------------------------------------------------------------------
// Direct data placement (what an RNIC does for RDMA WRITE). The TS responder registers, per queue
// pair, what it expects next (PSN, path MTU, PD, whether REMOTE_WRITE is enabled, the peer's
// address, the RDMA WRITE in progress if any) and, per device, its memory regions. On receive,
// an in-order RDMA WRITE FIRST/MIDDLE/LAST/ONLY (no immediate) with a verified ICRC, from the QP's
// peer, whose RETH passes the rkey/PD/access/bounds checks and whose payload length follows the
// opcode rules, is copied straight into the region here; its meta slot then carries a summary
// (flag 2) instead of a packet. Every other datagram goes to JS unchanged, and once one packet
// of a queue pair has gone to JS (any packet but a plain ACK: a response may fail the QP too), none of that queue
// pair's packets is placed until JS re-syncs the queue pair's state (ddpQp) after handling it, and
// after a SEND with invalidate nothing more of that batch is placed, so all NAK, retry and
// protection decisions stay in the TS responder, in packet order. Dropping a region or a queue pair takes effect before the call returns.
//
// Summary slot (flag byte 7 = 2): uint32 at 0 the region offset just past the bytes placed; int32
// words at 8: QPN, PSN, opcode | ackReq << 8, payload bytes, rkey of the message, bytes of the
// message still to come after this packet.

struct DdpMr {
  uint32_t rkey;
  uint32_t pd;
  uint32_t access;
  double va;
  size_t len;
  uint8_t* data;
  napi_ref ref;
};

struct DdpQp {
  uint32_t qpn;
  bool enabled;
  /** A packet went to JS since the last sync: place nothing until JS syncs again. */
  bool deferred;
  uint32_t epsn;
  uint32_t mtu;
  uint32_t pd;
  bool remote_write;
  int peer_family;
  uint16_t peer_port;  // host order
  uint8_t peer_addr[16];
  /** 0: no message in progress; 1: an RDMA WRITE known here (below); 2: another (JS only). */
  int cur;
  uint32_t cur_rkey;
  uint8_t* cur_dst;
  /** Byte offset of cur_dst in the region. */
  size_t cur_off;
  size_t cur_remaining;
};

constexpr uint32_t ACCESS_REMOTE_WRITE = 2;  // types.ts ACCESS.REMOTE_WRITE

DdpMr* ddp_mr(Sock* s, uint32_t rkey) {
  for (size_t i = 0; i < s->n_mrs; i++)
    if (s->mrs[i].rkey == rkey) return &s->mrs[i];
  return nullptr;
}

DdpQp* ddp_qp(Sock* s, uint32_t qpn) {
  for (size_t i = 0; i < s->n_qps; i++)
    if (s->qps[i].qpn == qpn) return &s->qps[i];
  return nullptr;
}

void ddp_free(napi_env env, Sock* s) {
  for (size_t i = 0; i < s->n_mrs; i++)
    if (s->mrs[i].ref) napi_delete_reference(env, s->mrs[i].ref);
  free(s->mrs);
  free(s->qps);
  s->mrs = nullptr;
  s->qps = nullptr;
  s->n_mrs = s->n_qps = 0;
}

/**
 * Places datagram `pkt` (`len` bytes, ICRC verified) when it qualifies (see above), writing the
 * summary into meta slot `m`. Returns true when placed. `src`/`sport`: the sender.
 */
bool ddp_place(Sock* s, const uint8_t* pkt, size_t len, const uint8_t* src, uint16_t sport, uint8_t* m) {
  if (s->n_qps == 0 || len < 16) return false;
  uint8_t op = pkt[0];

  uint32_t qpn = (static_cast<uint32_t>(pkt[5]) << 16) | (static_cast<uint32_t>(pkt[6]) << 8) | pkt[7];
  // A SEND with invalidate may deregister any region when JS handles it: place nothing more in
  // this batch (JS's handling of it, dropRegion included, happens before the next batch is read).
  if (op == 0x16 || op == 0x17) s->ddp_hold = true;
  DdpQp* q = ddp_qp(s, qpn);
  if (!q) return false;
  bool ok = !s->ddp_hold && q->enabled && !q->deferred && (op == 0x06 || op == 0x07 || op == 0x08 || op == 0x0a);
  if (ok) {
    // The QP's peer only (as QueuePair.receive checks).
    int fam = s->family == AF_INET6 ? 6 : 4;
    ok = q->peer_family == fam && q->peer_port == sport && memcmp(q->peer_addr, src, fam == 6 ? 16 : 4) == 0;
  }
  uint32_t psn = (static_cast<uint32_t>(pkt[9]) << 16) | (static_cast<uint32_t>(pkt[10]) << 8) | pkt[11];
  if (ok) ok = psn == q->epsn;
  size_t hdr = (op == 0x06 || op == 0x0a) ? 28 : 12;
  size_t pad = (pkt[1] >> 4) & 3;
  size_t payload = 0;
  if (ok) {
    ok = len >= hdr + pad + 4;
    if (ok) payload = len - hdr - pad - 4;
    ok = ok && payload <= q->mtu;
  }
  bool first = op == 0x06, only = op == 0x0a, middle = op == 0x07;
  bool last = op == 0x08 || only;
  uint32_t rkey = q->cur_rkey;
  uint8_t* dst = nullptr;
  size_t off = 0;
  size_t remaining = 0;
  if (ok) {
    if (first || only) {
      ok = q->cur == 0;
      const uint8_t* r = pkt + 12;
      uint64_t va = 0;
      for (int k = 0; k < 8; k++) va = (va << 8) | r[k];
      rkey = (static_cast<uint32_t>(r[8]) << 24) | (static_cast<uint32_t>(r[9]) << 16) | (static_cast<uint32_t>(r[10]) << 8) | r[11];
      uint32_t dma = (static_cast<uint32_t>(r[12]) << 24) | (static_cast<uint32_t>(r[13]) << 16) | (static_cast<uint32_t>(r[14]) << 8) | r[15];
      // FIRST: longer than one MTU and a full MTU of payload; ONLY: exactly its payload, not empty.
      if (ok) ok = first ? dma > q->mtu && payload == q->mtu : dma == payload && dma > 0;
      DdpMr* mr = ok ? ddp_mr(s, rkey) : nullptr;
      ok = mr != nullptr && mr->pd == q->pd && (mr->access & ACCESS_REMOTE_WRITE) != 0 && q->remote_write && va <= 9007199254740991ull;
      if (ok) {
        double v = static_cast<double>(va);
        ok = v >= mr->va && v + dma <= mr->va + static_cast<double>(mr->len);
        if (ok) {
          off = static_cast<size_t>(v - mr->va);
          dst = mr->data + off;
          remaining = dma;
        }
      }
    } else {
      ok = q->cur == 1 && (middle ? payload == q->mtu && payload < q->cur_remaining : payload == q->cur_remaining);
      dst = q->cur_dst;
      off = q->cur_off;
      remaining = q->cur_remaining;
    }
  }
  if (!ok) {
    // Whatever JS does with it (a NAK, an error, the requester failing the QP) comes first. A
    // plain ACK (AETH syndrome type 00) only acknowledges: it cannot change the QP's state.
    bool plain_ack = op == 0x11 && len >= 16 && (pkt[12] & 0x60) == 0;
    if (!plain_ack) q->deferred = true;
    return false;
  }
  memcpy(dst, pkt + hdr, payload);
  remaining -= payload;
  q->epsn = (q->epsn + 1) & 0xffffff;
  if (last) {
    q->cur = 0;
    q->cur_dst = nullptr;
    q->cur_off = 0;
    q->cur_remaining = 0;
  } else {
    q->cur = 1;
    q->cur_rkey = rkey;
    q->cur_dst = dst + payload;
    q->cur_off = off + payload;
    q->cur_remaining = remaining;
  }
  uint32_t next = static_cast<uint32_t>(off + payload);
  memcpy(m, &next, 4);
  m[7] = 2;
  int32_t w[6] = {static_cast<int32_t>(qpn), static_cast<int32_t>(psn), static_cast<int32_t>(op | ((pkt[8] & 0x80) ? 0x100 : 0)),
                  static_cast<int32_t>(payload), static_cast<int32_t>(rkey), static_cast<int32_t>(remaining)};
  memcpy(m + 8, w, sizeof w);
  return true;
}

#define CHECK(call)                                          \
  do {                                                       \
    if ((call) != napi_ok) {                                 \
      napi_throw_error(env, "ERR_RDMA_NATIVE", #call " failed"); \
      return nullptr;                                        \
    }                                                        \
  } while (0)

napi_value throw_errno(napi_env env, const char* what, int err) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_throw_error(env, "ERR_RDMA_NATIVE", msg);
  return nullptr;
}

Sock* get_sock(napi_env env, napi_value v) {
  void* p = nullptr;
  if (napi_get_value_external(env, v, &p) != napi_ok || p == nullptr) {
    napi_throw_type_error(env, "ERR_RDMA_NATIVE", "not a socket handle");
    return nullptr;
  }
  Sock* s = static_cast<Sock*>(p);
  if (s->closed) {
    napi_throw_error(env, "ERR_RDMA_NATIVE", "socket is closed");
    return nullptr;
  }
  return s;
}

void update_poll(Sock* s);

void free_sock(Sock* s) {
  free(s->rmsgs);
  free(s->riov);
  free(s->rnames);
  free(s->mrs);
  free(s->qps);
  delete s;
}

void on_close(uv_handle_t* h) {
  Sock* s = static_cast<Sock*>(h->data);
  s->poll_closed = true;
  if (s->handle_gone) free_sock(s);
}

/** Finalizer of the JS handle: after close (the open socket's callbacks keep the handle alive). */
void on_handle_gone(napi_env, void* data, void*) {
  Sock* s = static_cast<Sock*>(data);
  s->handle_gone = true;
  if (s->poll_closed) free_sock(s);
}

void release(Sock* s) {
  if (s->closed) return;
  s->closed = true;
  uv_poll_stop(&s->poll);
  napi_env env = s->env;
  if (s->on_recv) napi_delete_reference(env, s->on_recv);
  if (s->on_writable) napi_delete_reference(env, s->on_writable);
  if (s->slab_ref) napi_delete_reference(env, s->slab_ref);
  if (s->meta_ref) napi_delete_reference(env, s->meta_ref);
  if (s->async) napi_async_destroy(env, s->async);
  ddp_free(env, s);
  s->on_recv = s->on_writable = s->slab_ref = s->meta_ref = nullptr;
  s->async = nullptr;
  close(s->fd);
  s->fd = -1;
  uv_close(reinterpret_cast<uv_handle_t*>(&s->poll), on_close);
}

bool set_slab(napi_env env, Sock* s, napi_value buf) {
  void* data = nullptr;
  size_t len = 0;
  if (napi_get_buffer_info(env, buf, &data, &len) != napi_ok) return false;
  if (len < static_cast<size_t>(s->batch) * s->slot) return false;
  napi_ref ref;
  if (napi_create_reference(env, buf, 1, &ref) != napi_ok) return false;
  if (s->slab_ref) napi_delete_reference(env, s->slab_ref);
  s->slab_ref = ref;
  s->slab = static_cast<uint8_t*>(data);
  for (int i = 0; i < s->batch; i++) s->riov[i].iov_base = s->slab + static_cast<size_t>(i) * s->slot;
  return true;
}

/** Drains the socket: recvmmsg batches, one JS call each. */
void do_read(Sock* s) {
  napi_env env = s->env;
  for (int round = 0; round < MAX_ROUNDS && !s->closed; round++) {
    for (int i = 0; i < s->batch; i++) {
      s->rmsgs[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_storage);
      s->rmsgs[i].msg_hdr.msg_flags = 0;
      s->riov[i].iov_len = s->slot;
    }
    int n = recvmmsg(s->fd, s->rmsgs, s->batch, MSG_DONTWAIT, nullptr);
    s->ddp_hold = false;
    if (n <= 0) return;  // EAGAIN (drained) or a transient error: wait for the next readable event
    for (int i = 0; i < n; i++) {
      uint8_t* m = s->meta + i * META_BYTES;
      memset(m, 0, META_BYTES);
      int32_t len = (s->rmsgs[i].msg_hdr.msg_flags & MSG_TRUNC) ? -1 : static_cast<int32_t>(s->rmsgs[i].msg_len);
      memcpy(m, &len, 4);
      const struct sockaddr_storage* a = &s->rnames[i];
      const uint8_t* src = nullptr;
      uint16_t sport = 0;
      if (a->ss_family == AF_INET6) {
        const struct sockaddr_in6* a6 = reinterpret_cast<const struct sockaddr_in6*>(a);
        memcpy(m + 4, &a6->sin6_port, 2);
        m[6] = 6;
        memcpy(m + 8, &a6->sin6_addr, 16);
        src = reinterpret_cast<const uint8_t*>(&a6->sin6_addr);
        sport = ntohs(a6->sin6_port);
      } else if (a->ss_family == AF_INET) {
        const struct sockaddr_in* a4 = reinterpret_cast<const struct sockaddr_in*>(a);
        memcpy(m + 4, &a4->sin_port, 2);
        m[6] = 4;
        memcpy(m + 8, &a4->sin_addr, 4);
        src = reinterpret_cast<const uint8_t*>(&a4->sin_addr);
        sport = ntohs(a4->sin_port);
      }
      // m[7]: 1 when the ICRC verified (or checking is off).
      if (!s->icrc) m[7] = 1;
      else if (len >= 16 && src != nullptr) {
        struct iovec v = {s->riov[i].iov_base, static_cast<size_t>(len)};
        uint32_t want = roce_icrc(s->family == AF_INET6, src, s->local_addr, sport, s->local_port, 0, 0x4000, &v, 1, static_cast<size_t>(len));
        const uint8_t* e = static_cast<const uint8_t*>(v.iov_base) + len - 4;
        uint32_t got = static_cast<uint32_t>(e[0]) | (static_cast<uint32_t>(e[1]) << 8) | (static_cast<uint32_t>(e[2]) << 16) | (static_cast<uint32_t>(e[3]) << 24);
        m[7] = want == got ? 1 : 0;
      }
      if (m[7] == 1 && len >= 16 && src != nullptr) ddp_place(s, static_cast<const uint8_t*>(s->riov[i].iov_base), static_cast<size_t>(len), src, sport, m);
    }
    napi_handle_scope scope;
    if (napi_open_handle_scope(env, &scope) != napi_ok) return;
    napi_value fn, recv, argv[1], result = nullptr;
    napi_get_reference_value(env, s->on_recv, &fn);
    napi_get_global(env, &recv);
    napi_create_int32(env, n, &argv[0]);
    s->in_callback = true;
    napi_status st = napi_make_callback(env, s->async, recv, fn, 1, argv, &result);
    s->in_callback = false;
    if (st == napi_pending_exception) {
      napi_value ex;
      napi_get_and_clear_last_exception(env, &ex);
      napi_fatal_exception(env, ex);
    } else if (!s->closed && result != nullptr) {
      bool is_buf = false;
      napi_is_buffer(env, result, &is_buf);
      if (is_buf) set_slab(env, s, result);
    }
    napi_close_handle_scope(env, scope);
    if (n < s->batch) return;
  }
}

void call_writable(Sock* s) {
  napi_env env = s->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value fn, recv, result;
  napi_get_reference_value(env, s->on_writable, &fn);
  napi_get_global(env, &recv);
  if (napi_make_callback(env, s->async, recv, fn, 0, nullptr, &result) == napi_pending_exception) {
    napi_value ex;
    napi_get_and_clear_last_exception(env, &ex);
    napi_fatal_exception(env, ex);
  }
  napi_close_handle_scope(env, scope);
}

void on_poll(uv_poll_t* h, int status, int events) {
  Sock* s = static_cast<Sock*>(h->data);
  if (s->closed) return;
  if (status < 0) return;
  if (events & UV_WRITABLE) {
    s->writable_wanted = false;
    update_poll(s);
    call_writable(s);
  }
  if (!s->closed && (events & UV_READABLE)) do_read(s);
}

void update_poll(Sock* s) {
  if (s->closed) return;
  uv_poll_start(&s->poll, UV_READABLE | (s->writable_wanted ? UV_WRITABLE : 0), on_poll);
}

napi_value Open(napi_env env, napi_callback_info info) {
  size_t argc = 9;
  napi_value argv[9];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  if (argc < 9) {
    napi_throw_type_error(env, "ERR_RDMA_NATIVE", "open: 9 arguments expected");
    return nullptr;
  }
  bool v6;
  void* addr;
  size_t addr_len;
  int32_t port, buf_bytes, batch, slot;
  CHECK(napi_get_value_bool(env, argv[0], &v6));
  CHECK(napi_get_buffer_info(env, argv[1], &addr, &addr_len));
  CHECK(napi_get_value_int32(env, argv[2], &port));
  CHECK(napi_get_value_int32(env, argv[3], &buf_bytes));
  CHECK(napi_get_value_int32(env, argv[4], &batch));
  CHECK(napi_get_value_int32(env, argv[5], &slot));
  bool icrc;
  CHECK(napi_get_value_bool(env, argv[8], &icrc));
  if (addr_len != (v6 ? 16u : 4u) || port < 0 || port > 65535 || batch < 1 || batch > 1024 || slot < 64) {
    napi_throw_range_error(env, "ERR_RDMA_NATIVE", "open: bad address, port, batch or slot size");
    return nullptr;
  }

  int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket", errno);
  if (v6) {
    int on = 1;
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
  }
  if (buf_bytes > 0) {
    // FORCE variants pass the system maximum when the process may (CAP_NET_ADMIN); else best effort.
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf_bytes, sizeof buf_bytes) != 0)
      setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf_bytes, sizeof buf_bytes);
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &buf_bytes, sizeof buf_bytes) != 0)
      setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf_bytes, sizeof buf_bytes);
  }
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  socklen_t sl;
  if (v6) {
    struct sockaddr_in6* a6 = reinterpret_cast<struct sockaddr_in6*>(&ss);
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons(static_cast<uint16_t>(port));
    memcpy(&a6->sin6_addr, addr, 16);
    sl = sizeof *a6;
  } else {
    struct sockaddr_in* a4 = reinterpret_cast<struct sockaddr_in*>(&ss);
    a4->sin_family = AF_INET;
    a4->sin_port = htons(static_cast<uint16_t>(port));
    memcpy(&a4->sin_addr, addr, 4);
    sl = sizeof *a4;
  }
  if (bind(fd, reinterpret_cast<struct sockaddr*>(&ss), sl) != 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, "bind", e);
  }
  sl = sizeof ss;
  getsockname(fd, reinterpret_cast<struct sockaddr*>(&ss), &sl);
  int bound_port = ntohs(v6 ? reinterpret_cast<struct sockaddr_in6*>(&ss)->sin6_port : reinterpret_cast<struct sockaddr_in*>(&ss)->sin_port);
  int rcv = 0, snd = 0;
  socklen_t ol = sizeof rcv;
  getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, &ol);
  ol = sizeof snd;
  getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &snd, &ol);

  uv_loop_t* loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) {
    close(fd);
    napi_throw_error(env, "ERR_RDMA_NATIVE", "no libuv loop");
    return nullptr;
  }
  Sock* s = new Sock();
  memset(static_cast<void*>(s), 0, sizeof *s);
  s->env = env;
  s->fd = fd;
  s->family = v6 ? AF_INET6 : AF_INET;
  s->batch = batch;
  s->slot = slot;
  s->icrc = icrc;
  memcpy(s->local_addr, addr, addr_len);
  s->local_port = static_cast<uint16_t>(bound_port);
  s->rmsgs = static_cast<struct mmsghdr*>(calloc(batch, sizeof(struct mmsghdr)));
  s->riov = static_cast<struct iovec*>(calloc(batch, sizeof(struct iovec)));
  s->rnames = static_cast<struct sockaddr_storage*>(calloc(batch, sizeof(struct sockaddr_storage)));
  for (int i = 0; i < batch; i++) {
    s->rmsgs[i].msg_hdr.msg_name = &s->rnames[i];
    s->rmsgs[i].msg_hdr.msg_iov = &s->riov[i];
    s->rmsgs[i].msg_hdr.msg_iovlen = 1;
  }
  if (uv_poll_init(loop, &s->poll, fd) != 0) {
    close(fd);
    free_sock(s);
    napi_throw_error(env, "ERR_RDMA_NATIVE", "uv_poll_init failed");
    return nullptr;
  }
  s->poll.data = s;

  napi_value slab, meta, name, handle, out, v;
  void* meta_data;
  CHECK(napi_create_buffer(env, static_cast<size_t>(batch) * slot, reinterpret_cast<void**>(&s->slab), &slab));
  CHECK(napi_create_buffer(env, static_cast<size_t>(batch) * META_BYTES, &meta_data, &meta));
  s->meta = static_cast<uint8_t*>(meta_data);
  set_slab(env, s, slab);
  CHECK(napi_create_reference(env, meta, 1, &s->meta_ref));
  CHECK(napi_create_reference(env, argv[6], 1, &s->on_recv));
  CHECK(napi_create_reference(env, argv[7], 1, &s->on_writable));
  CHECK(napi_create_string_utf8(env, "roce-udp", NAPI_AUTO_LENGTH, &name));
  CHECK(napi_async_init(env, nullptr, name, &s->async));
  update_poll(s);

  CHECK(napi_create_external(env, s, on_handle_gone, nullptr, &handle));
  CHECK(napi_create_object(env, &out));
  CHECK(napi_set_named_property(env, out, "handle", handle));
  CHECK(napi_create_int32(env, bound_port, &v));
  CHECK(napi_set_named_property(env, out, "port", v));
  CHECK(napi_create_int32(env, rcv, &v));
  CHECK(napi_set_named_property(env, out, "rcvbuf", v));
  CHECK(napi_create_int32(env, snd, &v));
  CHECK(napi_set_named_property(env, out, "sndbuf", v));
  CHECK(napi_set_named_property(env, out, "slab", slab));
  CHECK(napi_set_named_property(env, out, "meta", meta));
  return out;
}

napi_value Send(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  Sock* s = get_sock(env, argv[0]);
  if (!s) return nullptr;
  uint32_t start, count;
  CHECK(napi_get_value_uint32(env, argv[3], &start));
  CHECK(napi_get_value_uint32(env, argv[4], &count));
  // names: one sockaddr per packet, or a single Buffer when every packet goes to the same peer.
  void* one_name = nullptr;
  size_t one_len = 0;
  bool names_is_buf = false;
  napi_is_buffer(env, argv[1], &names_is_buf);
  if (names_is_buf) CHECK(napi_get_buffer_info(env, argv[1], &one_name, &one_len));
  struct mmsghdr msgs[MAX_SEND];
  struct iovec iov[MAX_SEND * 2];
  struct iovec* extra = nullptr;  // for packets in more than two pieces
  uint32_t consumed = 0;
  while (consumed < count) {
    uint32_t n = count - consumed < MAX_SEND ? count - consumed : MAX_SEND;
    uint32_t iv = 0;
    size_t extra_used = 0;
    for (uint32_t i = 0; i < n; i++) {
      napi_value pkt;
      CHECK(napi_get_element(env, argv[2], start + consumed + i, &pkt));
      void* nd = one_name;
      size_t nl = one_len;
      if (!one_name) {
        napi_value name;
        CHECK(napi_get_element(env, argv[1], start + consumed + i, &name));
        CHECK(napi_get_buffer_info(env, name, &nd, &nl));
      }
      struct msghdr* h = &msgs[i].msg_hdr;
      memset(h, 0, sizeof *h);
      // To the connected peer: no address (the kernel reuses the socket's route).
      if (s->peer_len == 0 || nl != s->peer_len || memcmp(nd, s->peer_name, nl) != 0) {
        h->msg_name = nd;
        h->msg_namelen = static_cast<socklen_t>(nl);
      }
      void* d;
      size_t l;
      if (napi_get_buffer_info(env, pkt, &d, &l) == napi_ok) {
        iov[iv].iov_base = d;
        iov[iv].iov_len = l;
        h->msg_iov = &iov[iv];
        h->msg_iovlen = 1;
        iv++;
      } else {
        uint32_t parts;
        CHECK(napi_get_array_length(env, pkt, &parts));
        if (parts > MAX_PARTS) parts = MAX_PARTS;
        if (!extra) extra = static_cast<struct iovec*>(malloc(sizeof(struct iovec) * MAX_PARTS * MAX_SEND));
        struct iovec* base = extra + extra_used;
        for (uint32_t p = 0; p < parts; p++) {
          napi_value part;
          void* d;
          size_t l;
          CHECK(napi_get_element(env, pkt, p, &part));
          CHECK(napi_get_buffer_info(env, part, &d, &l));
          base[p].iov_base = d;
          base[p].iov_len = l;
        }
        extra_used += parts;
        h->msg_iov = base;
        h->msg_iovlen = parts;
      }
      if (s->icrc) {
        size_t len = 0;
        for (size_t k = 0; k < h->msg_iovlen; k++) len += h->msg_iov[k].iov_len;
        bool to6 = nl >= sizeof(struct sockaddr_in6) && reinterpret_cast<struct sockaddr*>(nd)->sa_family == AF_INET6;
        bool to4 = nl >= sizeof(struct sockaddr_in) && reinterpret_cast<struct sockaddr*>(nd)->sa_family == AF_INET;
        if (len >= 16 && h->msg_iovlen > 0 && h->msg_iov[0].iov_len >= 12 && (to6 || to4) && to6 == (s->family == AF_INET6)) {
          const uint8_t* dst = to6 ? reinterpret_cast<const uint8_t*>(&reinterpret_cast<struct sockaddr_in6*>(nd)->sin6_addr)
                                   : reinterpret_cast<const uint8_t*>(&reinterpret_cast<struct sockaddr_in*>(nd)->sin_addr);
          uint16_t dport = ntohs(to6 ? reinterpret_cast<struct sockaddr_in6*>(nd)->sin6_port : reinterpret_cast<struct sockaddr_in*>(nd)->sin_port);
          put_icrc(h->msg_iov, h->msg_iovlen, roce_icrc(to6, s->local_addr, dst, s->local_port, dport, 0, 0x4000, h->msg_iov, h->msg_iovlen, len));
        }
      }
    }
    uint32_t done = 0;
    bool blocked = false;
    while (done < n) {
      int r = sendmmsg(s->fd, msgs + done, n - done, MSG_DONTWAIT);
      if (r > 0) {
        done += r;
        continue;
      }
      int e = errno;
      if (r < 0 && e == EINTR) continue;
      if (r < 0 && (e == EAGAIN || e == EWOULDBLOCK || e == ENOBUFS)) {
        blocked = true;
        break;
      }
      // Refused for good (unreachable, bad address, too long): a lost datagram; go on with the rest.
      s->send_errors++;
      done++;
    }
    consumed += done;
    if (blocked) break;
  }
  free(extra);
  napi_value out;
  CHECK(napi_create_uint32(env, consumed, &out));
  return out;
}

napi_value WatchWritable(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  Sock* s = get_sock(env, argv[0]);
  if (!s) return nullptr;
  bool on;
  CHECK(napi_get_value_bool(env, argv[1], &on));
  if (on != s->writable_wanted) {
    s->writable_wanted = on;
    update_poll(s);
  }
  return nullptr;
}

napi_value SetSlab(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  Sock* s = get_sock(env, argv[0]);
  if (!s) return nullptr;
  if (!set_slab(env, s, argv[1])) napi_throw_range_error(env, "ERR_RDMA_NATIVE", "slab: a Buffer of batch * slot bytes expected");
  return nullptr;
}

napi_value SendErrors(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  Sock* s = get_sock(env, argv[0]);
  if (!s) return nullptr;
  napi_value out;
  CHECK(napi_create_double(env, static_cast<double>(s->send_errors), &out));
  return out;
}

napi_value Ntop(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  void* d;
  size_t l;
  CHECK(napi_get_buffer_info(env, argv[0], &d, &l));
  char text[INET6_ADDRSTRLEN];
  if ((l != 4 && l != 16) || !inet_ntop(l == 16 ? AF_INET6 : AF_INET, d, text, sizeof text)) {
    napi_throw_range_error(env, "ERR_RDMA_NATIVE", "ntop: 4 or 16 address bytes expected");
    return nullptr;
  }
  napi_value out;
  CHECK(napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &out));
  return out;
}

napi_value Crc32(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  void* d;
  size_t l;
  uint32_t init = 0;
  CHECK(napi_get_buffer_info(env, argv[0], &d, &l));
  if (argc > 1) CHECK(napi_get_value_uint32(env, argv[1], &init));
  napi_value out;
  CHECK(napi_create_uint32(env, crc32_z(init, static_cast<const uint8_t*>(d), l), &out));
  return out;
}

/** icrc(src, dst, srcPort, dstPort, roce, ipv4Id, ipv4FlagsFrag): the ICRC the send path writes. */
napi_value Icrc(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  void *src, *dst, *roce;
  size_t sl, dl, rl;
  uint32_t sport, dport, id4, ff4;
  CHECK(napi_get_buffer_info(env, argv[0], &src, &sl));
  CHECK(napi_get_buffer_info(env, argv[1], &dst, &dl));
  CHECK(napi_get_value_uint32(env, argv[2], &sport));
  CHECK(napi_get_value_uint32(env, argv[3], &dport));
  CHECK(napi_get_buffer_info(env, argv[4], &roce, &rl));
  CHECK(napi_get_value_uint32(env, argv[5], &id4));
  CHECK(napi_get_value_uint32(env, argv[6], &ff4));
  if (sl != dl || (sl != 4 && sl != 16) || rl < 16) {
    napi_throw_range_error(env, "ERR_RDMA_NATIVE", "icrc: 4- or 16-byte addresses and a packet of at least 16 bytes expected");
    return nullptr;
  }
  struct iovec v = {roce, rl};
  napi_value out;
  CHECK(napi_create_uint32(env, roce_icrc(sl == 16, static_cast<uint8_t*>(src), static_cast<uint8_t*>(dst), static_cast<uint16_t>(sport), static_cast<uint16_t>(dport), static_cast<uint16_t>(id4), static_cast<uint16_t>(ff4), &v, 1, rl), &out));
  return out;
}


/** ddpMr(handle, rkey, bytes, va, pd, access): registers (or replaces) a region for placement. */
napi_value DdpMrSet(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  Sock* s = get_sock(env, argv[0]);
  if (!s) return nullptr;
  uint32_t rkey, pd, access;
  double va;
  CHECK(napi_get_value_uint32(env, argv[1], &rkey));
  CHECK(napi_get_value_double(env, argv[3], &va));
  CHECK(napi_get_value_uint32(env, argv[4], &pd));
  CHECK(napi_get_value_uint32(env, argv[5], &access));
  napi_typedarray_type type;
  size_t length, offset;
  void* data;
  napi_value ab;
  CHECK(napi_get_typedarray_info(env, argv[2], &type, &length, &data, &ab, &offset));
  if (type != napi_uint8_array) {
    napi_throw_type_error(env, "ERR_RDMA_NATIVE", "ddpMr: a Uint8Array expected");
    return nullptr;
  }
  DdpMr* mr = ddp_mr(s, rkey);
  if (!mr) {
    DdpMr* grown = static_cast<DdpMr*>(realloc(s->mrs, sizeof(DdpMr) * (s->n_mrs + 1)));
    if (!grown) return throw_errno(env, "ddpMr", ENOMEM);
    s->mrs = grown;
    mr = &s->mrs[s->n_mrs++];
    memset(static_cast<void*>(mr), 0, sizeof *mr);
  } else if (mr->ref) {
    napi_delete_reference(env, mr->ref);
    mr->ref = nullptr;
  }
  mr->rkey = rkey;
  mr->pd = pd;
  mr->access = access;
  mr->va = va;
  mr->len = length;
  mr->data = static_cast<uint8_t*>(data);
  CHECK(napi_create_reference(env, argv[2], 1, &mr->ref));
  return nullptr;
}

/** ddpMrDrop(handle, rkey): no placement into the region from now on (a WRITE in progress into it goes to JS). */
napi_value DdpMrDrop(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  Sock* s = get_sock(env, argv[0]);
  if (!s) return nullptr;
  uint32_t rkey;
  CHECK(napi_get_value_uint32(env, argv[1], &rkey));
  DdpMr* mr = ddp_mr(s, rkey);
  if (!mr) return nullptr;
  for (size_t i = 0; i < s->n_qps; i++) {
    DdpQp* q = &s->qps[i];
    if (q->cur == 1 && q->cur_rkey == rkey) q->cur = 2;
  }
  if (mr->ref) napi_delete_reference(env, mr->ref);
  *mr = s->mrs[--s->n_mrs];
  return nullptr;
}

/**
 * ddpQp(handle, qpn, enabled, epsn, mtu, pd, remoteWrite, peerAddr, peerPort, cur, curRkey,
 * curOffset, curRemaining): the responder state of one queue pair, as the TS responder has it.
 * cur: 0 none, 1 an RDMA WRITE into region curRkey at byte curOffset with curRemaining bytes to
 * come, 2 another message (nothing is placed then). Clears the deferral.
 */
napi_value DdpQpSet(napi_env env, napi_callback_info info) {
  size_t argc = 13;
  napi_value argv[13];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  Sock* s = get_sock(env, argv[0]);
  if (!s) return nullptr;
  if (argc < 13) {
    napi_throw_type_error(env, "ERR_RDMA_NATIVE", "ddpQp: 13 arguments expected");
    return nullptr;
  }
  uint32_t qpn, epsn, mtu, pd, port, rkey;
  bool enabled, rw;
  int32_t cur;
  double off, rem;
  void* addr;
  size_t alen;
  CHECK(napi_get_value_uint32(env, argv[1], &qpn));
  CHECK(napi_get_value_bool(env, argv[2], &enabled));
  CHECK(napi_get_value_uint32(env, argv[3], &epsn));
  CHECK(napi_get_value_uint32(env, argv[4], &mtu));
  CHECK(napi_get_value_uint32(env, argv[5], &pd));
  CHECK(napi_get_value_bool(env, argv[6], &rw));
  CHECK(napi_get_buffer_info(env, argv[7], &addr, &alen));
  CHECK(napi_get_value_uint32(env, argv[8], &port));
  CHECK(napi_get_value_int32(env, argv[9], &cur));
  CHECK(napi_get_value_uint32(env, argv[10], &rkey));
  CHECK(napi_get_value_double(env, argv[11], &off));
  CHECK(napi_get_value_double(env, argv[12], &rem));
  DdpQp* q = ddp_qp(s, qpn);
  if (!q) {
    DdpQp* grown = static_cast<DdpQp*>(realloc(s->qps, sizeof(DdpQp) * (s->n_qps + 1)));
    if (!grown) return throw_errno(env, "ddpQp", ENOMEM);
    s->qps = grown;
    q = &s->qps[s->n_qps++];
  }
  memset(static_cast<void*>(q), 0, sizeof *q);
  q->qpn = qpn;
  q->epsn = epsn & 0xffffff;
  q->mtu = mtu;
  q->pd = pd;
  q->remote_write = rw;
  q->peer_family = alen == 16 ? 6 : alen == 4 ? 4 : 0;
  q->peer_port = static_cast<uint16_t>(port);
  if (alen == 16 || alen == 4) memcpy(q->peer_addr, addr, alen);
  q->enabled = enabled && q->peer_family != 0 && mtu >= 256;
  q->cur = cur == 0 ? 0 : 2;
  if (cur == 1) {
    DdpMr* mr = ddp_mr(s, rkey);
    if (mr && off >= 0 && rem > 0 && off + rem <= static_cast<double>(mr->len)) {
      q->cur = 1;
      q->cur_rkey = rkey;
      q->cur_dst = mr->data + static_cast<size_t>(off);
      q->cur_off = static_cast<size_t>(off);
      q->cur_remaining = static_cast<size_t>(rem);
    }
  }
  return nullptr;
}

/** ddpQpDrop(handle, qpn): the queue pair's packets all go to JS from now on. */
napi_value DdpQpDrop(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  Sock* s = get_sock(env, argv[0]);
  if (!s) return nullptr;
  uint32_t qpn;
  CHECK(napi_get_value_uint32(env, argv[1], &qpn));
  DdpQp* q = ddp_qp(s, qpn);
  if (q) *q = s->qps[--s->n_qps];
  return nullptr;
}


/**
 * connectPeer(handle, name): connect(2)s the socket to one peer (sockaddr bytes), so datagrams to
 * it skip the per-datagram route lookup, and only that peer's datagrams are received; an empty
 * buffer disconnects (AF_UNSPEC). Returns true when the socket is in the asked state.
 */
napi_value ConnectPeer(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  Sock* s = get_sock(env, argv[0]);
  if (!s) return nullptr;
  void* nd;
  size_t nl;
  CHECK(napi_get_buffer_info(env, argv[1], &nd, &nl));
  bool ok;
  if (nl == 0) {
    struct sockaddr un;
    memset(&un, 0, sizeof un);
    un.sa_family = AF_UNSPEC;
    ok = connect(s->fd, &un, sizeof un) == 0 || errno == EAFNOSUPPORT;
    if (ok) {
      s->peer_len = 0;
      // A port the kernel picked (bind to port 0) is released by the disconnect: bind it again.
      struct sockaddr_storage ss;
      socklen_t sl = sizeof ss;
      getsockname(s->fd, reinterpret_cast<struct sockaddr*>(&ss), &sl);
      uint16_t now = ntohs(s->family == AF_INET6 ? reinterpret_cast<struct sockaddr_in6*>(&ss)->sin6_port : reinterpret_cast<struct sockaddr_in*>(&ss)->sin_port);
      if (now != s->local_port) {
        memset(&ss, 0, sizeof ss);
        if (s->family == AF_INET6) {
          struct sockaddr_in6* a6 = reinterpret_cast<struct sockaddr_in6*>(&ss);
          a6->sin6_family = AF_INET6;
          a6->sin6_port = htons(s->local_port);
          memcpy(&a6->sin6_addr, s->local_addr, 16);
          sl = sizeof *a6;
        } else {
          struct sockaddr_in* a4 = reinterpret_cast<struct sockaddr_in*>(&ss);
          a4->sin_family = AF_INET;
          a4->sin_port = htons(s->local_port);
          memcpy(&a4->sin_addr, s->local_addr, 4);
          sl = sizeof *a4;
        }
        if (bind(s->fd, reinterpret_cast<struct sockaddr*>(&ss), sl) != 0) return throw_errno(env, "connectPeer: binding the port again after disconnecting", errno);
      }
    }
  } else if (nl > sizeof s->peer_name) {
    ok = false;
  } else {
    ok = connect(s->fd, static_cast<struct sockaddr*>(nd), static_cast<socklen_t>(nl)) == 0;
    if (ok) {
      memcpy(s->peer_name, nd, nl);
      s->peer_len = static_cast<socklen_t>(nl);
    }
  }
  napi_value out;
  CHECK(napi_get_boolean(env, ok, &out));
  return out;
}

napi_value Close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  void* p = nullptr;
  if (napi_get_value_external(env, argv[0], &p) != napi_ok || p == nullptr) {
    napi_throw_type_error(env, "ERR_RDMA_NATIVE", "not a socket handle");
    return nullptr;
  }
  release(static_cast<Sock*>(p));
  return nullptr;
}

napi_value Init(napi_env env, napi_value exports) {
  crc_init_table();
#if defined(__x86_64__)
  have_clmul = __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
#endif
  napi_property_descriptor props[] = {
      {"open", nullptr, Open, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"send", nullptr, Send, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"watchWritable", nullptr, WatchWritable, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"setSlab", nullptr, SetSlab, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"sendErrors", nullptr, SendErrors, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"ntop", nullptr, Ntop, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"crc32", nullptr, Crc32, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"icrc", nullptr, Icrc, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"ddpMr", nullptr, DdpMrSet, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"ddpMrDrop", nullptr, DdpMrDrop, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"ddpQp", nullptr, DdpQpSet, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"ddpQpDrop", nullptr, DdpQpDrop, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"connectPeer", nullptr, ConnectPeer, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"close", nullptr, Close, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return nullptr;
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
