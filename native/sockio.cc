// Socket I/O (see sockio.h).
#include "sockio.h"

#include <errno.h>
#include <linux/filter.h>
#include <linux/udp.h>

#ifndef UDP_GRO
#define UDP_GRO 104
#endif
#include <netinet/ip.h>
#include <string.h>
#include <unistd.h>

namespace roce {

socklen_t sockaddr_of(bool v6, const uint8_t* addr, uint16_t port, struct sockaddr_storage* ss) {
  memset(ss, 0, sizeof *ss);
  if (v6) {
    struct sockaddr_in6* a6 = reinterpret_cast<struct sockaddr_in6*>(ss);
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons(port);
    memcpy(&a6->sin6_addr, addr, 16);
    return sizeof *a6;
  }
  struct sockaddr_in* a4 = reinterpret_cast<struct sockaddr_in*>(ss);
  a4->sin_family = AF_INET;
  a4->sin_port = htons(port);
  memcpy(&a4->sin_addr, addr, 4);
  return sizeof *a4;
}

namespace {

void set_buffers(int fd, int bytes, int* rcv, int* snd) {
  if (bytes > 0) {
    // FORCE variants pass the system maximum when the process may (CAP_NET_ADMIN); else best effort.
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof bytes) != 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &bytes, sizeof bytes) != 0) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes);
  }
  socklen_t ol = sizeof *rcv;
  getsockopt(fd, SOL_SOCKET, SO_RCVBUF, rcv, &ol);
  ol = sizeof *snd;
  getsockopt(fd, SOL_SOCKET, SO_SNDBUF, snd, &ol);
}

Opened fail(int fd, int err) {
  if (fd >= 0) close(fd);
  return Opened{-err, 0, 0, 0};
}

uint16_t csum16(const uint8_t* p, size_t n) {
  uint32_t s = 0;
  for (size_t i = 0; i + 1 < n; i += 2) s += (static_cast<uint32_t>(p[i]) << 8) | p[i + 1];
  if (n & 1) s += static_cast<uint32_t>(p[n - 1]) << 8;
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return static_cast<uint16_t>(~s);
}

}  // namespace

Opened udp_open(bool v6, const uint8_t* addr, uint16_t port, int buf_bytes, bool ecn) {
  int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail(-1, errno);
  int on = 1;
  if (v6) {
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
    // Linux rxe sends RoCE over IPv6 with UDP checksum 0 (the ICRC covers the payload): without
    // this option the kernel drops every such datagram before it reaches the socket.
    if (setsockopt(fd, IPPROTO_UDP, UDP_NO_CHECK6_RX, &on, sizeof on) != 0) return fail(fd, errno);
  }
  if (ecn) {
    int tos = ECN_ECT0;
    if (v6) setsockopt(fd, IPPROTO_IPV6, IPV6_TCLASS, &tos, sizeof tos);
    else setsockopt(fd, IPPROTO_IP, IP_TOS, &tos, sizeof tos);
  }
  if (!v6) {
    // DF with path MTU discovery, and not "ignore DF": Linux then sends Identification 0 from an
    // unconnected socket, the IPv4 header UDP I/O's ICRC is computed over.
    int pmtu = IP_PMTUDISC_DO;
    setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof pmtu);
  }
  Opened o{fd, 0, 0, 0};
  set_buffers(fd, buf_bytes, &o.rcvbuf, &o.sndbuf);
  struct sockaddr_storage ss;
  socklen_t sl = sockaddr_of(v6, addr, port, &ss);
  if (bind(fd, reinterpret_cast<struct sockaddr*>(&ss), sl) != 0) return fail(fd, errno);
  sl = sizeof ss;
  getsockname(fd, reinterpret_cast<struct sockaddr*>(&ss), &sl);
  o.port = ntohs(v6 ? reinterpret_cast<struct sockaddr_in6*>(&ss)->sin6_port : reinterpret_cast<struct sockaddr_in*>(&ss)->sin_port);
  return o;
}

bool raw_permitted() {
  int fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_UDP);
  if (fd < 0) return false;
  close(fd);
  return true;
}

Opened raw4_open(const uint8_t* addr, uint16_t port, int buf_bytes) {
  int fd = socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
  if (fd < 0) return fail(-1, errno);
  int on = 1;
  if (setsockopt(fd, IPPROTO_IP, IP_HDRINCL, &on, sizeof on) != 0) return fail(fd, errno);
  // Keep only UDP datagrams to addr:port (the raw socket otherwise sees all UDP to this host):
  //   ld [16]; jeq addr; ldh [6]; jset 0x1fff (fragment offset) -> drop; ldxb 4*([0]&0xf);
  //   ldh [x+2]; jeq port -> accept.
  uint32_t a;
  memcpy(&a, addr, 4);
  struct sock_filter code[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 16),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ntohl(a), 0, 6),
      BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 6),
      BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x3fff, 4, 0),
      BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 0),
      BPF_STMT(BPF_LD | BPF_H | BPF_IND, 2),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, port, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, 0xffffffffu),
      BPF_STMT(BPF_RET | BPF_K, 0),
  };
  struct sock_fprog prog = {static_cast<unsigned short>(sizeof code / sizeof code[0]), code};
  setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog);  // best effort: raw4_parse filters too
  Opened o{fd, port, 0, 0};
  set_buffers(fd, buf_bytes, &o.rcvbuf, &o.sndbuf);
  return o;
}

bool udp_enable_gro(int fd) {
  int on = 1;
  return setsockopt(fd, IPPROTO_UDP, UDP_GRO, &on, sizeof on) == 0;
}

size_t udp_gro_size(struct msghdr* h) {
  for (struct cmsghdr* c = CMSG_FIRSTHDR(h); c != nullptr; c = CMSG_NXTHDR(h, c)) {
    if (c->cmsg_level != IPPROTO_UDP || c->cmsg_type != UDP_GRO || c->cmsg_len < CMSG_LEN(sizeof(int))) continue;
    int seg;
    memcpy(&seg, CMSG_DATA(c), sizeof seg);
    return seg > 0 ? static_cast<size_t>(seg) : 0;
  }
  return 0;
}

bool attach_drop_all(int fd) {
  struct sock_filter code[] = {BPF_STMT(BPF_RET | BPF_K, 0)};
  struct sock_fprog prog = {1, code};
  return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) == 0;
}

void raw4_header(uint8_t* h, const uint8_t* src, const uint8_t* dst, uint16_t sport, uint16_t dport, uint16_t id, uint8_t tos, size_t roce_len) {
  size_t total = RAW4_HDR + roce_len;
  h[0] = 0x45;
  h[1] = tos;
  h[2] = static_cast<uint8_t>(total >> 8);
  h[3] = static_cast<uint8_t>(total);
  h[4] = static_cast<uint8_t>(id >> 8);
  h[5] = static_cast<uint8_t>(id);
  h[6] = 0x40;  // DF
  h[7] = 0;
  h[8] = 64;  // TTL
  h[9] = IPPROTO_UDP;
  h[10] = h[11] = 0;
  memcpy(h + 12, src, 4);
  memcpy(h + 16, dst, 4);
  uint16_t ck = csum16(h, 20);
  h[10] = static_cast<uint8_t>(ck >> 8);
  h[11] = static_cast<uint8_t>(ck);
  uint8_t* u = h + 20;
  size_t udp_len = 8 + roce_len;
  u[0] = static_cast<uint8_t>(sport >> 8);
  u[1] = static_cast<uint8_t>(sport);
  u[2] = static_cast<uint8_t>(dport >> 8);
  u[3] = static_cast<uint8_t>(dport);
  u[4] = static_cast<uint8_t>(udp_len >> 8);
  u[5] = static_cast<uint8_t>(udp_len);
  u[6] = u[7] = 0;
}

bool raw4_parse(const uint8_t* p, size_t n, const uint8_t* local_addr, uint16_t local_port, Raw4In* out) {
  if (n < 28 || (p[0] >> 4) != 4) return false;
  size_t ihl = static_cast<size_t>(p[0] & 0x0f) * 4;
  if (ihl < 20 || n < ihl + 8 || p[9] != IPPROTO_UDP) return false;
  if (((p[6] << 8) | p[7]) & 0x3fff) return false;  // a fragment
  if (memcmp(p + 16, local_addr, 4) != 0) return false;
  const uint8_t* u = p + ihl;
  if (((u[2] << 8) | u[3]) != local_port) return false;
  size_t total = (static_cast<size_t>(p[2]) << 8) | p[3];
  size_t udp_len = (static_cast<size_t>(u[4]) << 8) | u[5];
  if (total > n || udp_len < 8 || ihl + udp_len > total) return false;
  out->ihl = ihl;
  out->roce_off = ihl + 8;
  out->roce_len = udp_len - 8;
  out->src = p + 12;
  out->sport = static_cast<uint16_t>((u[0] << 8) | u[1]);
  return true;
}

}  // namespace roce
