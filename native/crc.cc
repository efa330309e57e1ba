// CRC-32 and the RoCE v2 ICRC (see crc.h).
//
// x86-64 with PCLMULQDQ: folding by carry-less multiplication, four 128-bit lanes at a time, then
// a Barrett reduction (the method of Intel's "Fast CRC Computation for Generic Polynomials Using
// PCLMULQDQ"; constants for the bit-reflected polynomial 0x104C11DB7). Otherwise, and for short
// tails, a byte table.
#include "crc.h"

#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace roce {
namespace {

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

}  // namespace

void crc_init() {
  crc_init_table();
#if defined(__x86_64__)
  have_clmul = __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
#endif
}

uint32_t crc32_z(uint32_t init, const uint8_t* p, size_t n) {
  return ~crc_raw(~init, p, n);
}

namespace {

/** Raw CRC state after the 8 bytes of 0xFF standing in for the InfiniBand LRH. */
uint32_t lrh_state() {
  static const uint8_t ff[8] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  return crc_raw(0xffffffffu, ff, 8);
}

void put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}

}  // namespace

size_t icrc_pseudo_header(uint8_t* h, bool v6, const uint8_t* src, const uint8_t* dst, uint16_t sport, uint16_t dport, uint16_t id4, uint16_t ff4,
                          size_t roce_len) {
  size_t ip = v6 ? 40 : 20;
  uint16_t udp_len = static_cast<uint16_t>(roce_len + 8);
  if (v6) {
    h[0] = 0x6f;
    h[1] = h[2] = h[3] = 0xff;
    put16(h + 4, udp_len);
    h[6] = 17;
    h[7] = 0xff;
    memcpy(h + 8, src, 16);
    memcpy(h + 24, dst, 16);
  } else {
    h[0] = 0x45;
    h[1] = 0xff;
    put16(h + 2, static_cast<uint16_t>(udp_len + 20));
    put16(h + 4, id4);
    put16(h + 6, ff4);
    h[8] = 0xff;
    h[9] = 17;
    h[10] = h[11] = 0xff;
    memcpy(h + 12, src, 4);
    memcpy(h + 16, dst, 4);
  }
  uint8_t* u = h + ip;
  put16(u, sport);
  put16(u + 2, dport);
  put16(u + 4, udp_len);
  u[6] = u[7] = 0xff;
  return ip + 8;
}

size_t icrc_mask_ipv4(uint8_t* out, const uint8_t* ip, size_t avail) {
  if (avail < 28 || (ip[0] >> 4) != 4) return 0;
  size_t ihl = static_cast<size_t>(ip[0] & 0x0f) * 4;
  if (ihl < 20 || avail < ihl + 8) return 0;
  memcpy(out, ip, ihl + 8);
  out[1] = 0xff;  // TOS (DSCP and ECN)
  out[8] = 0xff;  // TTL
  out[10] = out[11] = 0xff;  // header checksum
  out[ihl + 6] = out[ihl + 7] = 0xff;  // UDP checksum
  return ihl + 8;
}

uint32_t icrc_compute(const uint8_t* hdr, size_t hlen, const struct iovec* iov, size_t niov, size_t len) {
  static const uint32_t lrh = lrh_state();
  // The CRC state after the IP and UDP headers, kept for the last header seen: consecutive
  // packets of a flow with the same length (every full-MTU packet of a message) share it
  // (per thread: worker threads may load the addon too).
  thread_local uint8_t memo_h[ICRC_HDR_MAX];
  thread_local size_t memo_len = 0;
  thread_local uint32_t memo_state = 0;
  uint32_t c;
  if (memo_len == hlen && memcmp(memo_h, hdr, hlen) == 0) c = memo_state;
  else {
    c = crc_raw(lrh, hdr, hlen);
    if (hlen <= sizeof memo_h) {
      memcpy(memo_h, hdr, hlen);
      memo_len = hlen;
      memo_state = c;
    }
  }
  uint8_t bth[12];
  // The first piece holds the whole BTH (callers check it).
  memcpy(bth, iov[0].iov_base, 12);
  bth[4] = 0xff;  // FECN, BECN and resv6
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

void icrc_put(const struct iovec* iov, size_t niov, uint32_t icrc) {
  uint8_t b[4] = {static_cast<uint8_t>(icrc), static_cast<uint8_t>(icrc >> 8), static_cast<uint8_t>(icrc >> 16), static_cast<uint8_t>(icrc >> 24)};
  size_t k = 4;
  for (size_t i = niov; i-- > 0 && k > 0;) {
    uint8_t* p = static_cast<uint8_t*>(iov[i].iov_base);
    for (size_t j = iov[i].iov_len; j-- > 0 && k > 0;) p[j] = b[--k];
  }
}

}  // namespace roce
