// CRC-32 (the zlib/Ethernet polynomial, reflected) and the RoCE v2 invariant CRC (ICRC).
//
// The ICRC is a CRC-32 over 8 bytes of 0xFF (standing in for the LRH), the IP and UDP headers with
// their variant fields masked to all ones (IPv4: TOS, TTL, header checksum; IPv6: traffic class,
// flow label, hop limit; UDP: checksum), the BTH with its reserved byte 4 masked, and everything
// after the BTH up to the 4-byte ICRC slot. Both ends must see the same IP header: over IPv6 every
// covered field follows from addresses, ports and length; over IPv4 the Identification, flags and
// IHL are covered too, so a receiver needs the real header (raw I/O) or an agreed one (UDP I/O).
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

namespace roce {

/** Fills the byte table and detects carry-less multiply. Call once before anything else here. */
void crc_init();

/** zlib-compatible crc32(init, bytes): crc32(crc32(0, a), b) == crc32(0, a ++ b). */
uint32_t crc32_z(uint32_t init, const uint8_t* p, size_t n);

/** Bytes of a masked IP + UDP header for the ICRC: 48 (IPv6) or 20 + IHL options + 8 (IPv4). */
constexpr size_t ICRC_HDR_MAX = 60 + 8;

/**
 * Writes the masked IPv6 or IPv4 + UDP header of a `roce_len`-byte transport packet (BTH .. ICRC)
 * sent from src:sport to dst:dport, as a UDP socket would have sent it: IPv4 with no options,
 * identification `id4` and flags/fragment offset `ff4`. Returns its length (48 or 28).
 */
size_t icrc_pseudo_header(uint8_t* out, bool v6, const uint8_t* src, const uint8_t* dst, uint16_t sport, uint16_t dport, uint16_t id4, uint16_t ff4,
                          size_t roce_len);

/**
 * Copies a real IPv4 header (IHL words, options included) and the UDP header after it into `out`
 * and masks the variant fields. Returns the length written, or 0 when `ip` is not an IPv4 header
 * of a sane IHL within `avail` bytes.
 */
size_t icrc_mask_ipv4(uint8_t* out, const uint8_t* ip, size_t avail);

/**
 * The ICRC of a transport packet held in iovecs (totalling `len` bytes, BTH .. ICRC slot, the
 * first piece at least 12 bytes) after the masked header `hdr` of `hlen` bytes.
 */
uint32_t icrc_compute(const uint8_t* hdr, size_t hlen, const struct iovec* iov, size_t niov, size_t len);

/** Writes `icrc` least-significant byte first into the last 4 bytes of a packet held in iovecs. */
void icrc_put(const struct iovec* iov, size_t niov, uint32_t icrc);

/** Reads the ICRC carried in the last 4 bytes of a contiguous packet. */
inline uint32_t icrc_get(const uint8_t* roce, size_t len) {
  const uint8_t* e = roce + len - 4;
  return static_cast<uint32_t>(e[0]) | (static_cast<uint32_t>(e[1]) << 8) | (static_cast<uint32_t>(e[2]) << 16) | (static_cast<uint32_t>(e[3]) << 24);
}

}  // namespace roce
