// Socket I/O for the RoCE v2 endpoint (Linux): UDP sockets with the options RoCE wants (ECN,
// buffers, IPv4 DF), and the raw IPv4 mode in which the endpoint writes and reads whole IPv4
// headers so that both ends compute the ICRC over the real Identification and flags.
#pragma once
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

namespace roce {

/** ECT(0), the ECN codepoint RoCE v2 senders mark (RFC 3168), in the IPv4 TOS / IPv6 traffic class byte. */
constexpr uint8_t ECN_ECT0 = 0x02;

/** Fills a sockaddr_in6 / sockaddr_in for addr:port; returns its length. */
socklen_t sockaddr_of(bool v6, const uint8_t* addr, uint16_t port, struct sockaddr_storage* ss);

/** Result of opening a socket: the descriptor or a negative errno, and what the kernel granted. */
struct Opened {
  int fd;
  uint16_t port;
  int rcvbuf;
  int sndbuf;
};

/**
 * A non-blocking UDP socket bound to addr:port (0: any free port), IPv6-only for IPv6, with send
 * and receive buffers of `buf_bytes` (forced past the sysctl limit where permitted), ECT(0) on
 * what it sends when `ecn`, and for IPv4 "don't fragment" with path MTU discovery, so the kernel
 * sends Identification 0 on unconnected sockets (the header the UDP I/O's ICRC assumes).
 */
Opened udp_open(bool v6, const uint8_t* addr, uint16_t port, int buf_bytes, bool ecn);

/** True when this process may open raw IPv4 sockets (root or CAP_NET_RAW). */
bool raw_permitted();

/**
 * A non-blocking raw IPv4 socket for UDP with IP_HDRINCL: it receives every UDP datagram to this
 * host with its IPv4 header (a socket filter keeps those to addr:port) and sends datagrams whose
 * IPv4 and UDP headers the caller writes.
 */
Opened raw4_open(const uint8_t* addr, uint16_t port, int buf_bytes);

/**
 * Asks the kernel for UDP GRO on a UDP socket (UDP_GRO, Linux 5.0 on): datagrams of one flow may
 * then arrive coalesced, one receive carrying several equal-length datagrams back to back (the
 * last may be shorter) and a UDP_GRO control message giving their length. Over loopback a UDP GSO
 * send arrives whole, never cut. False when the kernel does not offer it (receives stay one
 * datagram each).
 */
bool udp_enable_gro(int fd);

/** Control bytes a receive needs for the UDP_GRO message. */
constexpr size_t GRO_CTL_BYTES = 64;

/** The segment length of a receive on a GRO socket (its UDP_GRO control message), or 0 when it carries one datagram. */
size_t udp_gro_size(struct msghdr* h);

/**
 * How many datagrams a receive of `total` bytes with GRO segment length `seg` carries: datagram k
 * starts at k * seg and is seg bytes long, the last one what is left (never empty, never past
 * `total`). One (the whole receive) when seg is 0 or not shorter than total.
 */
inline size_t gro_count(size_t total, size_t seg) { return seg == 0 || seg >= total ? 1 : (total + seg - 1) / seg; }

/** Attaches a socket filter that drops every datagram (a bound socket that keeps a port claimed, so the kernel answers no ICMP). */
bool attach_drop_all(int fd);

/** Bytes of the IPv4 and UDP headers raw I/O writes (no IPv4 options). */
constexpr size_t RAW4_HDR = 28;

/**
 * Writes the IPv4 + UDP headers of a datagram carrying `roce_len` bytes: IHL 5, TOS `tos`,
 * identification `id` (never 0: the kernel would replace 0), DF, TTL 64, protocol UDP, header
 * checksum, and a UDP header with checksum 0 (optional over IPv4; the ICRC protects the payload,
 * and Linux rxe sends 0 too).
 */
void raw4_header(uint8_t* h, const uint8_t* src, const uint8_t* dst, uint16_t sport, uint16_t dport, uint16_t id, uint8_t tos, size_t roce_len);

/** A datagram read from a raw IPv4 socket, once checked to be a whole UDP datagram to addr:port. */
struct Raw4In {
  /** Offset of the UDP payload (the RoCE packet) from the start of the IP header, and its length. */
  size_t roce_off;
  size_t roce_len;
  /** Bytes of the IPv4 header (options included). */
  size_t ihl;
  const uint8_t* src;
  uint16_t sport;
};

/** Parses what a raw IPv4 socket read; false when it is not an unfragmented UDP datagram to addr:port. */
bool raw4_parse(const uint8_t* p, size_t n, const uint8_t* local_addr, uint16_t local_port, Raw4In* out);

}  // namespace roce
