// N-API glue of the RoCE v2 endpoint's native I/O (Linux): batched sendmmsg(2)/recvmmsg(2) on
// libuv's loop, the ICRC (crc.h), direct data placement (placement.h) and the sockets (sockio.h).
// Split as Linux rxe is: crc.cc (rxe_icrc.c), placement.cc (the WRITE path of rxe_resp.c),
// sockio.cc (rxe_net.c), and this file, which only converts between JS values and those units.
//
// JS API (one handle per device; see src/rdma/transport/native-addon.ts for the types):
//   open({ v6, addr, port, bufBytes, batch, slot, raw, ecn, icrc, gso, gro, onRecv, onWritable })
//       -> { handle, port, rcvbuf, sndbuf, slab, meta, raw, gro }
//       UDP I/O: a socket bound to addr:port receives; raw (IPv4 only): a raw socket receives and
//       sends whole IPv4 headers, and a UDP socket that drops everything keeps addr:port claimed.
//   txOpen(handle, srcPort, peerName, connect) -> { id, port }: a sender with UDP source port
//       srcPort (UDP I/O: its own socket bound to addr:srcPort, or any free port when that one is
//       taken; raw I/O: the raw socket, writing srcPort into each UDP header). Sender 0 is the
//       receiving socket itself (source port = the listening port).
//   txClose(handle, id)
//   send(handle, id, names[] | name, packets[], start, count) -> packets consumed (sent or failed
//       for good); fewer than count means the socket would block: keep the rest, watchWritable.
//       A packet is a Buffer or an array of Buffers (any number of pieces), BTH .. ICRC slot.
//   watchWritable(handle, id, on); onWritable(id) is called once the sender may send again
//   setSlab(handle, buffer)   the buffer of batch * slot bytes the next recvmmsg writes into
//   sendErrors(handle) -> datagrams the kernel refused for another reason than a full buffer
//   rxStats(handle) -> { gro, messages, coalesced, packets }: receive counters (see do_read_gro)
//   ddpMr / ddpMrDrop / ddpQp / ddpQpDrop: direct data placement (placement.h)
//   placeSim(regions, qps, packets, src) -> check names: the placement unit on its own (fuzzing)
//   rawPermitted() -> bool;  ntop(bytes) -> text;  crc32(buffer, init);
//   icrc(src, dst, srcPort, dstPort, roce, id4, ff4): the ICRC over a rebuilt header;
//   icrcIp(ipPacket): the ICRC over a real IPv4/IPv6 + UDP header;  close(handle)
//
// onRecv(count) is called with `count` datagrams in the slab: slot i at i * slot. With UDP GRO
// (UDP I/O, on unless gro: false, where the kernel offers it) one receive may carry several
// datagrams; the addon splits them and reports each as if it had arrived alone. Meta slot i
// (META_BYTES each): int32 length of the RoCE packet in host byte order at 0 (-1: longer than a
// slot), the sender's UDP port in network byte order at 4, its family (4 or 6) at 6, at 7 a flag
// (0: ICRC failed, 1: verified or checking off, 2: placed (a summary, see below), 3: not for this
// endpoint (raw I/O only)), its address (4 or 16 bytes) at 8, and the offset of the RoCE packet in
// its slot (uint16, host order) at 24. onRecv may return a Buffer: the slab for the next batch.
//
// Placed-packet summary (flag 2): uint32 at 0 the region offset just past the bytes placed; int32
// words at 8: QPN, PSN, opcode | ackReq << 8, payload bytes, rkey of the message, bytes of the
// message still to come after this packet.
#include <node_api.h>
#include <uv.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vector>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

#include "crc.h"
#include "opcodes.gen.h"
#include "placement.h"
#include "sockio.h"

using namespace roce;

namespace {

constexpr int META_BYTES = 32;
/** Datagrams per sendmmsg call. */
constexpr uint32_t MAX_SEND = 256;
/** recvmmsg batches handled per readable event before yielding to the loop. */
constexpr int MAX_ROUNDS = 16;
/** GRO: the buffer of one receive (the longest UDP payload, 65,527 bytes over IPv6, fits). */
constexpr size_t GRO_SLOT = 65536;
/** GRO: receives per recvmmsg call at most (each may carry up to 64 datagrams). */
constexpr int GRO_MSGS = 32;

struct Sock;

/** A sender: a UDP source port (and, for UDP I/O, the socket bound to it). */
struct Tx {
  Sock* s;
  uint32_t id;
  int fd;
  /** The socket is this sender's own (else it is the device's receiving or raw socket). */
  bool own_fd;
  uint16_t port;
  /** The peer the socket is connect()ed to (sockaddr bytes; length 0: not connected). */
  uint8_t peer_name[sizeof(struct sockaddr_in6)];
  socklen_t peer_len;
  /** Own sockets only: the poll handle for writability, created when first needed. */
  uv_poll_t* poll;
  bool writable_wanted;
};

struct Sock {
  uv_poll_t poll;
  napi_env env;
  /** The receiving socket: UDP bound to addr:port, or the raw IPv4 socket. */
  int fd;
  /** Raw I/O: the UDP socket that keeps addr:port claimed (drops everything). */
  int hold_fd;
  bool v6;
  bool raw;
  bool ecn;
  bool icrc;
  /** Send runs of equal packets as UDP GSO messages (IPv6 UDP I/O, while the kernel takes them). */
  bool gso;
  /** UDP GRO on the receiving socket: receives may carry several datagrams, split here (see do_read_gro). */
  bool gro;
  /** GRO: receives per recvmmsg call, their buffers (GRO_SLOT bytes each) and control bytes. */
  int gro_msgs;
  uint8_t* gbuf;
  uint8_t* gctl;
  /** Receive counters: receives (messages), those that carried more than one datagram, datagrams. */
  uint64_t rx_msgs;
  uint64_t rx_coalesced;
  uint64_t rx_pkts;
  int batch;
  int slot;
  bool closed;
  bool in_callback;
  /** uv handles not yet closed, and whether the JS handle was collected: the Sock is freed when both are done. */
  int open_handles;
  bool handle_gone;
  uint8_t local_addr[16];
  uint16_t local_port;
  /** Raw I/O: the next IPv4 Identification. */
  uint16_t ip_id;
  uint64_t send_errors;
  std::vector<Tx*> txs;
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
  PlaceTable place;
};

#define CHECK(call)                                              \
  do {                                                           \
    if ((call) != napi_ok) {                                     \
      napi_throw_error(env, "ERR_RDMA_NATIVE", #call " failed"); \
      return nullptr;                                            \
    }                                                            \
  } while (0)

napi_value throw_errno(napi_env env, const char* what, int err) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_value code, text, error;
  napi_create_string_utf8(env, err == EPERM || err == EACCES ? "ERR_RDMA_NATIVE_PERMISSION" : "ERR_RDMA_NATIVE", NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &text);
  napi_create_error(env, code, text, &error);
  napi_throw(env, error);
  return nullptr;
}

napi_value type_error(napi_env env, const char* msg) {
  napi_throw_type_error(env, "ERR_RDMA_NATIVE", msg);
  return nullptr;
}

Sock* get_sock(napi_env env, napi_value v) {
  void* p = nullptr;
  if (napi_get_value_external(env, v, &p) != napi_ok || p == nullptr) {
    type_error(env, "not a socket handle");
    return nullptr;
  }
  Sock* s = static_cast<Sock*>(p);
  if (s->closed) {
    napi_throw_error(env, "ERR_RDMA_NATIVE", "socket is closed");
    return nullptr;
  }
  return s;
}

Tx* get_tx(napi_env env, Sock* s, napi_value v) {
  uint32_t id;
  if (napi_get_value_uint32(env, v, &id) != napi_ok || id >= s->txs.size() || s->txs[id] == nullptr) {
    type_error(env, "not an open sender");
    return nullptr;
  }
  return s->txs[id];
}

// ------------------------------------------------------------------------------------ lifetime

void free_sock(Sock* s) {
  free(s->rmsgs);
  free(s->riov);
  free(s->rnames);
  free(s->gbuf);
  free(s->gctl);
  place_free(&s->place);
  delete s;
}

void maybe_free(Sock* s) {
  if (s->open_handles == 0 && s->handle_gone) free_sock(s);
}

void on_poll_closed(uv_handle_t* h) {
  Sock* s = static_cast<Sock*>(h->data);
  s->open_handles--;
  maybe_free(s);
}

void on_tx_poll_closed(uv_handle_t* h) {
  Tx* t = static_cast<Tx*>(h->data);
  Sock* s = t->s;
  delete reinterpret_cast<uv_poll_t*>(h);
  delete t;
  s->open_handles--;
  maybe_free(s);
}

/** Finalizer of the JS handle: after close (the open socket's callbacks keep the handle alive). */
void on_handle_gone(napi_env, void* data, void*) {
  Sock* s = static_cast<Sock*>(data);
  s->handle_gone = true;
  maybe_free(s);
}

void close_tx(Sock* s, Tx* t) {
  s->txs[t->id] = nullptr;
  if (t->own_fd) close(t->fd);
  if (t->poll) {
    uv_poll_stop(t->poll);
    t->poll->data = t;
    s->open_handles++;
    uv_close(reinterpret_cast<uv_handle_t*>(t->poll), on_tx_poll_closed);
  } else {
    delete t;
  }
}

void release(Sock* s) {
  if (s->closed) return;
  s->closed = true;
  uv_poll_stop(&s->poll);
  napi_env env = s->env;
  for (Tx* t : s->txs)
    if (t) close_tx(s, t);
  if (s->on_recv) napi_delete_reference(env, s->on_recv);
  if (s->on_writable) napi_delete_reference(env, s->on_writable);
  if (s->slab_ref) napi_delete_reference(env, s->slab_ref);
  if (s->meta_ref) napi_delete_reference(env, s->meta_ref);
  if (s->async) napi_async_destroy(env, s->async);
  for (size_t i = 0; i < s->place.n_mrs; i++)
    if (s->place.mrs[i].owner) napi_delete_reference(env, static_cast<napi_ref>(s->place.mrs[i].owner));
  place_free(&s->place);
  s->on_recv = s->on_writable = s->slab_ref = s->meta_ref = nullptr;
  s->async = nullptr;
  close(s->fd);
  if (s->hold_fd >= 0) close(s->hold_fd);
  s->fd = s->hold_fd = -1;
  s->open_handles++;
  uv_close(reinterpret_cast<uv_handle_t*>(&s->poll), on_poll_closed);
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

void update_poll(Sock* s);

// ------------------------------------------------------------------------------------ receive

/** Where a registered region's memory is now: asks JS (detached memory has no data, shrunk memory a shorter length). */
RegionView js_view(const PlaceRegion& r, void* ctx) {
  napi_env env = static_cast<Sock*>(ctx)->env;
  napi_value v = nullptr;
  if (r.owner == nullptr || napi_get_reference_value(env, static_cast<napi_ref>(r.owner), &v) != napi_ok || v == nullptr) return RegionView{nullptr, 0};
  napi_typedarray_type type;
  size_t length = 0, offset = 0;
  void* data = nullptr;
  napi_value ab;
  if (napi_get_typedarray_info(env, v, &type, &length, &data, &ab, &offset) != napi_ok || type != napi_uint8_array) return RegionView{nullptr, 0};
  bool detached = false;
  if (napi_is_detached_arraybuffer(env, ab, &detached) != napi_ok || detached) return RegionView{nullptr, 0};
  return RegionView{static_cast<uint8_t*>(data), length};
}

void write_summary(uint8_t* m, const PlaceDecision& d) {
  uint32_t next = static_cast<uint32_t>(d.off + d.payload);
  memcpy(m, &next, 4);
  m[7] = 2;
  int32_t w[6] = {static_cast<int32_t>(d.qpn), static_cast<int32_t>(d.psn), static_cast<int32_t>(d.opcode | (d.ack_req ? 0x100 : 0)),
                  static_cast<int32_t>(d.payload), static_cast<int32_t>(d.rkey), static_cast<int32_t>(d.remaining)};
  memcpy(m + 8, w, sizeof w);
}

/**
 * Fills meta slot `m` for one datagram: sender, RoCE offset and length, ICRC verdict, placement.
 * `p` holds its `len` bytes (-1: longer than a slot, not looked at), `a` is the sender's address
 * (UDP I/O; raw I/O reads it from the IPv4 header in `p`).
 */
void inspect(Sock* s, const uint8_t* p, int32_t len, const struct sockaddr_storage* a, uint8_t* m) {
  memset(m, 0, META_BYTES);
  const uint8_t* src = nullptr;
  size_t src_len = 0;
  uint16_t sport = 0;
  size_t off = 0;
  uint8_t hdr[ICRC_HDR_MAX];
  size_t hlen = 0;
  if (s->raw) {
    Raw4In in;
    if (len < 0) {
      memcpy(m, &len, 4);
      return;
    }
    if (!raw4_parse(p, static_cast<size_t>(len), s->local_addr, s->local_port, &in)) {
      m[7] = 3;
      return;
    }
    off = in.roce_off;
    len = static_cast<int32_t>(in.roce_len);
    src = in.src;
    src_len = 4;
    sport = in.sport;
    if (s->icrc && len >= 16) hlen = icrc_mask_ipv4(hdr, p, off + static_cast<size_t>(len));
  } else {
    if (a->ss_family == AF_INET6) {
      const struct sockaddr_in6* a6 = reinterpret_cast<const struct sockaddr_in6*>(a);
      src = reinterpret_cast<const uint8_t*>(&a6->sin6_addr);
      src_len = 16;
      sport = ntohs(a6->sin6_port);
    } else if (a->ss_family == AF_INET) {
      const struct sockaddr_in* a4 = reinterpret_cast<const struct sockaddr_in*>(a);
      src = reinterpret_cast<const uint8_t*>(&a4->sin_addr);
      src_len = 4;
      sport = ntohs(a4->sin_port);
    }
    if (s->icrc && len >= 16 && src != nullptr)
      hlen = icrc_pseudo_header(hdr, s->v6, src, s->local_addr, sport, s->local_port, 0, 0x4000, static_cast<size_t>(len));
  }
  memcpy(m, &len, 4);
  uint16_t nport = htons(sport);
  memcpy(m + 4, &nport, 2);
  m[6] = src_len == 16 ? 6 : src_len == 4 ? 4 : 0;
  if (src) memcpy(m + 8, src, src_len);
  uint16_t o16 = static_cast<uint16_t>(off);
  memcpy(m + 24, &o16, 2);
  if (len < 16 || src == nullptr) return;
  const uint8_t* roce = p + off;
  if (!s->icrc) m[7] = 1;
  else if (hlen > 0) {
    struct iovec v = {const_cast<uint8_t*>(roce), static_cast<size_t>(len)};
    m[7] = icrc_compute(hdr, hlen, &v, 1, static_cast<size_t>(len)) == icrc_get(roce, static_cast<size_t>(len)) ? 1 : 0;
  }
  if (m[7] != 1 || s->place.n_qps == 0) return;
  PlaceDecision d = place_decide(&s->place, roce, static_cast<size_t>(len), src, src_len, js_view, s);
  if (place_commit(&s->place, d, roce)) write_summary(m, d);
}

/** Hands the `n` datagrams described in meta (and the slab) to JS; takes the slab it may return. */
void call_recv(Sock* s, int n) {
  napi_env env = s->env;
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
}

/**
 * Drains a GRO socket. Each receive lands in a buffer of its own (GRO_SLOT bytes) and may carry
 * several datagrams of the segment length its UDP_GRO control message gives (the last one may be
 * shorter); each is then handled exactly as a datagram received alone: its length checked against
 * a slot, its ICRC verified over its own pseudo-header, placement decided on its own, and only one
 * handed to JS (ICRC verified, not placed) is copied into the slab. JS is called once per `batch`
 * datagrams, so the slab and meta keep their sizes, and placement's per-batch hold lasts until JS
 * has seen the packet that set it, as without GRO.
 */
void do_read_gro(Sock* s) {
  napi_env env = s->env;
  const int nm = s->gro_msgs;
  for (int round = 0; round < MAX_ROUNDS && !s->closed; round++) {
    for (int i = 0; i < nm; i++) {
      struct msghdr& h = s->rmsgs[i].msg_hdr;
      h.msg_namelen = sizeof(struct sockaddr_storage);
      h.msg_flags = 0;
      h.msg_control = s->gctl + static_cast<size_t>(i) * GRO_CTL_BYTES;
      h.msg_controllen = GRO_CTL_BYTES;
      s->riov[i].iov_base = s->gbuf + static_cast<size_t>(i) * GRO_SLOT;
      s->riov[i].iov_len = GRO_SLOT;
    }
    int n = recvmmsg(s->fd, s->rmsgs, nm, MSG_DONTWAIT, nullptr);
    if (n <= 0) {
      s->place.hold = false;
      return;  // EAGAIN (drained) or a transient error: wait for the next readable event
    }
    // Datagram j of receive i is next; nseg: how many receive i carries, seg: their length.
    int i = 0;
    size_t j = 0, nseg = 0, seg = 0;
    while (i < n && !s->closed) {
      napi_handle_scope scope;
      if (napi_open_handle_scope(env, &scope) != napi_ok) return;
      s->place.hold = false;
      int k = 0;
      while (k < s->batch && i < n) {
        struct mmsghdr& mm = s->rmsgs[i];
        const size_t total = mm.msg_len;
        const bool trunc = (mm.msg_hdr.msg_flags & MSG_TRUNC) != 0;
        if (j == 0) {
          seg = trunc ? 0 : udp_gro_size(&mm.msg_hdr);
          nseg = gro_count(total, seg);
          s->rx_msgs++;
          if (nseg > 1) s->rx_coalesced++;
        }
        const size_t off = nseg > 1 ? j * seg : 0;
        const size_t len = nseg > 1 ? (total - off < seg ? total - off : seg) : total;
        const uint8_t* p = s->gbuf + static_cast<size_t>(i) * GRO_SLOT + off;
        const int32_t l32 = trunc || len > static_cast<size_t>(s->slot) ? -1 : static_cast<int32_t>(len);
        uint8_t* m = s->meta + static_cast<size_t>(k) * META_BYTES;
        inspect(s, p, l32, &s->rnames[i], m);
        if (m[7] == 1 && l32 >= 16) memcpy(s->slab + static_cast<size_t>(k) * s->slot, p, len);
        s->rx_pkts++;
        k++;
        if (++j == nseg) {
          i++;
          j = 0;
        }
      }
      call_recv(s, k);
      napi_close_handle_scope(env, scope);
    }
    if (n < nm) return;
  }
}

/** Drains the socket: recvmmsg batches, one JS call each. */
void do_read(Sock* s) {
  if (s->gro) return do_read_gro(s);
  napi_env env = s->env;
  for (int round = 0; round < MAX_ROUNDS && !s->closed; round++) {
    for (int i = 0; i < s->batch; i++) {
      s->rmsgs[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_storage);
      s->rmsgs[i].msg_hdr.msg_flags = 0;
      s->riov[i].iov_len = s->slot;
    }
    int n = recvmmsg(s->fd, s->rmsgs, s->batch, MSG_DONTWAIT, nullptr);
    s->place.hold = false;
    if (n <= 0) return;  // EAGAIN (drained) or a transient error: wait for the next readable event
    napi_handle_scope scope;
    if (napi_open_handle_scope(env, &scope) != napi_ok) return;
    for (int i = 0; i < n; i++) {
      const struct mmsghdr& h = s->rmsgs[i];
      int32_t len = (h.msg_hdr.msg_flags & MSG_TRUNC) ? -1 : static_cast<int32_t>(h.msg_len);
      inspect(s, static_cast<const uint8_t*>(s->riov[i].iov_base), len, &s->rnames[i], s->meta + i * META_BYTES);
    }
    s->rx_msgs += n;
    s->rx_pkts += n;
    call_recv(s, n);
    napi_close_handle_scope(env, scope);
    if (n < s->batch) return;
  }
}

// ------------------------------------------------------------------------------------ writable

void call_writable(Sock* s, uint32_t id) {
  napi_env env = s->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value fn, recv, result, arg;
  napi_get_reference_value(env, s->on_writable, &fn);
  napi_get_global(env, &recv);
  napi_create_uint32(env, id, &arg);
  if (napi_make_callback(env, s->async, recv, fn, 1, &arg, &result) == napi_pending_exception) {
    napi_value ex;
    napi_get_and_clear_last_exception(env, &ex);
    napi_fatal_exception(env, ex);
  }
  napi_close_handle_scope(env, scope);
}

/** The receiving socket's poll: readable, and writable while a sender on that socket waits. */
void on_poll(uv_poll_t* h, int status, int events) {
  Sock* s = static_cast<Sock*>(h->data);
  if (s->closed || status < 0) return;
  if (events & UV_WRITABLE) {
    std::vector<uint32_t> ready;
    for (Tx* t : s->txs)
      if (t && !t->own_fd && t->writable_wanted) {
        t->writable_wanted = false;
        ready.push_back(t->id);
      }
    update_poll(s);
    for (uint32_t id : ready)
      if (!s->closed) call_writable(s, id);
  }
  if (!s->closed && (events & UV_READABLE)) do_read(s);
}

void update_poll(Sock* s) {
  if (s->closed) return;
  bool w = false;
  for (Tx* t : s->txs)
    if (t && !t->own_fd && t->writable_wanted) w = true;
  uv_poll_start(&s->poll, UV_READABLE | (w ? UV_WRITABLE : 0), on_poll);
}

void on_tx_poll(uv_poll_t* h, int status, int events) {
  Tx* t = static_cast<Tx*>(h->data);
  Sock* s = t->s;
  if (s->closed || status < 0 || !(events & UV_WRITABLE)) return;
  t->writable_wanted = false;
  uv_poll_stop(h);
  call_writable(s, t->id);
}

// ------------------------------------------------------------------------------------ JS functions

bool prop(napi_env env, napi_value obj, const char* name, napi_value* out) {
  bool has = false;
  return napi_has_named_property(env, obj, name, &has) == napi_ok && has && napi_get_named_property(env, obj, name, out) == napi_ok;
}

int32_t prop_i32(napi_env env, napi_value obj, const char* name, int32_t dflt) {
  napi_value v;
  int32_t out = dflt;
  if (prop(env, obj, name, &v)) napi_get_value_int32(env, v, &out);
  return out;
}

bool prop_bool(napi_env env, napi_value obj, const char* name, bool dflt) {
  napi_value v;
  bool out = dflt;
  if (prop(env, obj, name, &v)) napi_get_value_bool(env, v, &out);
  return out;
}

Tx* add_tx(Sock* s, int fd, bool own, uint16_t port) {
  Tx* t = new Tx();
  memset(static_cast<void*>(t), 0, sizeof *t);
  t->s = s;
  t->fd = fd;
  t->own_fd = own;
  t->port = port;
  uint32_t id = 0;
  while (id < s->txs.size() && s->txs[id] != nullptr) id++;
  if (id == s->txs.size()) s->txs.push_back(t);
  else s->txs[id] = t;
  t->id = id;
  return t;
}

napi_value Open(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value o;
  CHECK(napi_get_cb_info(env, info, &argc, &o, nullptr, nullptr));
  if (argc < 1) return type_error(env, "open: an options object expected");
  napi_value addr_v, on_recv, on_writable;
  void* addr;
  size_t addr_len;
  if (!prop(env, o, "addr", &addr_v) || !prop(env, o, "onRecv", &on_recv) || !prop(env, o, "onWritable", &on_writable))
    return type_error(env, "open: addr, onRecv and onWritable expected");
  CHECK(napi_get_buffer_info(env, addr_v, &addr, &addr_len));
  bool v6 = prop_bool(env, o, "v6", true);
  bool raw = prop_bool(env, o, "raw", false);
  int32_t port = prop_i32(env, o, "port", 4791);
  int32_t buf_bytes = prop_i32(env, o, "bufBytes", 8 << 20);
  int32_t batch = prop_i32(env, o, "batch", 64);
  int32_t slot = prop_i32(env, o, "slot", 4352);
  if (addr_len != (v6 ? 16u : 4u) || port < 0 || port > 65535 || batch < 1 || batch > 1024 || slot < 64 || (raw && v6)) {
    napi_throw_range_error(env, "ERR_RDMA_NATIVE", "open: bad address, port, batch, slot size, or raw I/O for IPv6");
    return nullptr;
  }
  const uint8_t* a = static_cast<const uint8_t*>(addr);
  Opened rx, hold{-1, 0, 0, 0};
  if (raw) {
    // The UDP socket first: it claims the port (any free one for port 0) the raw socket filters on.
    hold = udp_open(false, a, static_cast<uint16_t>(port), 0, false);
    if (hold.fd < 0) return throw_errno(env, "bind", -hold.fd);
    attach_drop_all(hold.fd);
    rx = raw4_open(a, hold.port, buf_bytes);
    if (rx.fd < 0) {
      close(hold.fd);
      return throw_errno(env, "raw IPv4 socket", -rx.fd);
    }
    rx.port = hold.port;
  } else {
    rx = udp_open(v6, a, static_cast<uint16_t>(port), buf_bytes, prop_bool(env, o, "ecn", true));
    if (rx.fd < 0) return throw_errno(env, "bind", -rx.fd);
  }
  uv_loop_t* loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) {
    close(rx.fd);
    if (hold.fd >= 0) close(hold.fd);
    napi_throw_error(env, "ERR_RDMA_NATIVE", "no libuv loop");
    return nullptr;
  }
  Sock* s = new Sock();
  s->env = env;
  s->fd = rx.fd;
  s->hold_fd = hold.fd;
  s->v6 = v6;
  s->raw = raw;
  s->ecn = prop_bool(env, o, "ecn", true);
  s->icrc = prop_bool(env, o, "icrc", true);
  s->gso = prop_bool(env, o, "gso", true);
  s->batch = batch;
  s->slot = slot;
  memcpy(s->local_addr, addr, addr_len);
  s->local_port = rx.port;
  uint16_t seed;
  memcpy(&seed, &s, sizeof seed);
  s->ip_id = static_cast<uint16_t>(seed ^ static_cast<uint16_t>(uv_hrtime()));
  s->rmsgs = static_cast<struct mmsghdr*>(calloc(batch, sizeof(struct mmsghdr)));
  s->riov = static_cast<struct iovec*>(calloc(batch, sizeof(struct iovec)));
  s->rnames = static_cast<struct sockaddr_storage*>(calloc(batch, sizeof(struct sockaddr_storage)));
  if (!s->rmsgs || !s->riov || !s->rnames) {
    close(rx.fd);
    if (hold.fd >= 0) close(hold.fd);
    free_sock(s);
    return throw_errno(env, "open", ENOMEM);
  }
  // UDP GRO where the kernel offers it (UDP I/O; a raw socket sees datagrams one by one).
  if (!raw && prop_bool(env, o, "gro", true)) {
    s->gro_msgs = batch < GRO_MSGS ? batch : GRO_MSGS;
    s->gbuf = static_cast<uint8_t*>(malloc(static_cast<size_t>(s->gro_msgs) * GRO_SLOT));
    s->gctl = static_cast<uint8_t*>(calloc(s->gro_msgs, GRO_CTL_BYTES));
    s->gro = s->gbuf && s->gctl && udp_enable_gro(rx.fd);
  }
  for (int i = 0; i < batch; i++) {
    s->rmsgs[i].msg_hdr.msg_name = &s->rnames[i];
    s->rmsgs[i].msg_hdr.msg_iov = &s->riov[i];
    s->rmsgs[i].msg_hdr.msg_iovlen = 1;
  }
  if (uv_poll_init(loop, &s->poll, rx.fd) != 0) {
    close(rx.fd);
    if (hold.fd >= 0) close(hold.fd);
    free_sock(s);
    napi_throw_error(env, "ERR_RDMA_NATIVE", "uv_poll_init failed");
    return nullptr;
  }
  s->poll.data = s;
  // Sender 0: the receiving socket (UDP I/O) or the raw socket, with the listening port as source port.
  add_tx(s, rx.fd, false, rx.port);

  napi_value slab, meta, name, handle, out, v;
  void* meta_data;
  CHECK(napi_create_buffer(env, static_cast<size_t>(batch) * slot, reinterpret_cast<void**>(&s->slab), &slab));
  CHECK(napi_create_buffer(env, static_cast<size_t>(batch) * META_BYTES, &meta_data, &meta));
  s->meta = static_cast<uint8_t*>(meta_data);
  set_slab(env, s, slab);
  CHECK(napi_create_reference(env, meta, 1, &s->meta_ref));
  CHECK(napi_create_reference(env, on_recv, 1, &s->on_recv));
  CHECK(napi_create_reference(env, on_writable, 1, &s->on_writable));
  CHECK(napi_create_string_utf8(env, "roce-udp", NAPI_AUTO_LENGTH, &name));
  CHECK(napi_async_init(env, nullptr, name, &s->async));
  update_poll(s);

  CHECK(napi_create_external(env, s, on_handle_gone, nullptr, &handle));
  CHECK(napi_create_object(env, &out));
  CHECK(napi_set_named_property(env, out, "handle", handle));
  CHECK(napi_create_int32(env, rx.port, &v));
  CHECK(napi_set_named_property(env, out, "port", v));
  CHECK(napi_create_int32(env, rx.rcvbuf, &v));
  CHECK(napi_set_named_property(env, out, "rcvbuf", v));
  CHECK(napi_create_int32(env, rx.sndbuf, &v));
  CHECK(napi_set_named_property(env, out, "sndbuf", v));
  CHECK(napi_set_named_property(env, out, "slab", slab));
  CHECK(napi_set_named_property(env, out, "meta", meta));
  CHECK(napi_get_boolean(env, raw, &v));
  CHECK(napi_set_named_property(env, out, "raw", v));
  CHECK(napi_get_boolean(env, s->gro, &v));
  CHECK(napi_set_named_property(env, out, "gro", v));
  return out;
}

/** txOpen(handle, srcPort, peerName, connect) -> { id, port } */
napi_value TxOpen(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  Sock* s = get_sock(env, argv[0]);
  if (!s) return nullptr;
  uint32_t port;
  void* name = nullptr;
  size_t name_len = 0;
  bool want_connect = false;
  CHECK(napi_get_value_uint32(env, argv[1], &port));
  if (argc > 2) CHECK(napi_get_buffer_info(env, argv[2], &name, &name_len));
  if (argc > 3) CHECK(napi_get_value_bool(env, argv[3], &want_connect));
  if (port > 65535) {
    napi_throw_range_error(env, "ERR_RDMA_NATIVE", "txOpen: not a UDP port");
    return nullptr;
  }
  Tx* t;
  if (s->raw) {
    // Raw I/O writes the source port into each UDP header: no socket of its own.
    t = add_tx(s, s->fd, false, static_cast<uint16_t>(port));
  } else if (port == s->local_port) {
    t = s->txs[0];
  } else {
    Opened o = udp_open(s->v6, s->local_addr, static_cast<uint16_t>(port), 1 << 22, s->ecn);
    // The derived port is taken (by another socket of this host): any free port carries the flow.
    if (o.fd < 0 && (-o.fd == EADDRINUSE || -o.fd == EACCES)) o = udp_open(s->v6, s->local_addr, 0, 1 << 22, s->ecn);
    if (o.fd < 0) return throw_errno(env, "txOpen: bind", -o.fd);
    t = add_tx(s, o.fd, true, o.port);
    if (want_connect && name_len > 0 && name_len <= sizeof t->peer_name &&
        connect(t->fd, static_cast<struct sockaddr*>(name), static_cast<socklen_t>(name_len)) == 0) {
      memcpy(t->peer_name, name, name_len);
      t->peer_len = static_cast<socklen_t>(name_len);
    }
  }
  napi_value out, v;
  CHECK(napi_create_object(env, &out));
  CHECK(napi_create_uint32(env, t->id, &v));
  CHECK(napi_set_named_property(env, out, "id", v));
  CHECK(napi_create_uint32(env, t->port, &v));
  CHECK(napi_set_named_property(env, out, "port", v));
  return out;
}

napi_value TxClose(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  Sock* s = get_sock(env, argv[0]);
  if (!s) return nullptr;
  Tx* t = get_tx(env, s, argv[1]);
  if (!t) return nullptr;
  if (t->id == 0) return nullptr;  // the receiving socket closes with the device
  bool rx_wait = !t->own_fd && t->writable_wanted;
  close_tx(s, t);
  if (rx_wait) update_poll(s);
  return nullptr;
}

/** Per-call scratch of Send; freed on every return path (a CHECK failure included). */
struct SendScratch {
  std::vector<struct iovec> iov;
  std::vector<size_t> first;
  std::vector<uint8_t> hdrs;
  std::vector<struct sockaddr_in> names4;
  /** Bytes of each packet, and (UDP GSO) the packets each message carries and its control data. */
  std::vector<size_t> lens;
  std::vector<uint32_t> per_msg;
  std::vector<uint8_t> ctl;
};

/** The largest UDP payload one GSO message carries (below IPv6's 16-bit payload length). */
constexpr size_t GSO_MAX_BYTES = 65000;
constexpr uint32_t GSO_MAX_SEGS = 64;

/**
 * UDP GSO (IPv6 UDP I/O): consecutive packets of one length to one peer leave as one message
 * that the kernel cuts into datagrams (UDP_SEGMENT), so the IP layer runs once per up to 15
 * full-MTU packets instead of once per packet; the last one of a run may be shorter, as GSO allows.
 * Every datagram keeps its own UDP header, length and ICRC (computed per packet before). Not
 * over IPv4: the kernel numbers the segments' Identification, which UDP I/O's ICRC assumes 0.
 * Returns the number of messages built into `out`.
 */
uint32_t gso_group(SendScratch& sc, struct mmsghdr* msgs, uint32_t n, struct mmsghdr* out) {
  sc.per_msg.clear();
  sc.ctl.assign(static_cast<size_t>(n) * CMSG_SPACE(sizeof(uint16_t)), 0);
  uint32_t m = 0;
  for (uint32_t i = 0; i < n;) {
    const struct msghdr& h = msgs[i].msg_hdr;
    size_t len = sc.lens[i];
    uint32_t j = i + 1;
    size_t total = len;
    size_t iovlen = h.msg_iovlen;
    while (j < n && j - i < GSO_MAX_SEGS && len > 0 && total + sc.lens[j] <= GSO_MAX_BYTES && sc.lens[j] <= len) {
      const struct msghdr& g = msgs[j].msg_hdr;
      bool same = g.msg_namelen == h.msg_namelen && (g.msg_namelen == 0 || memcmp(g.msg_name, h.msg_name, g.msg_namelen) == 0);
      if (!same) break;
      total += sc.lens[j];
      iovlen += g.msg_iovlen;
      bool shorter = sc.lens[j] < len;
      j++;
      if (shorter) break;  // only the last segment may be shorter
    }
    out[m] = msgs[i];
    struct msghdr& o = out[m].msg_hdr;
    o.msg_iovlen = iovlen;  // the packets' pieces are consecutive in sc.iov
    if (j - i > 1) {
      uint8_t* c = &sc.ctl[static_cast<size_t>(m) * CMSG_SPACE(sizeof(uint16_t))];
      o.msg_control = c;
      o.msg_controllen = CMSG_SPACE(sizeof(uint16_t));
      struct cmsghdr* cm = CMSG_FIRSTHDR(&o);
      cm->cmsg_level = SOL_UDP;
      cm->cmsg_type = UDP_SEGMENT;
      cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
      uint16_t seg = static_cast<uint16_t>(len);
      memcpy(CMSG_DATA(cm), &seg, sizeof seg);
    }
    sc.per_msg.push_back(j - i);
    m++;
    i = j;
  }
  return m;
}

napi_value Send(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  Sock* s = get_sock(env, argv[0]);
  if (!s) return nullptr;
  Tx* t = get_tx(env, s, argv[1]);
  if (!t) return nullptr;
  uint32_t start, count;
  CHECK(napi_get_value_uint32(env, argv[4], &start));
  CHECK(napi_get_value_uint32(env, argv[5], &count));
  // names: one sockaddr per packet, or a single Buffer when every packet goes to the same peer.
  void* one_name = nullptr;
  size_t one_len = 0;
  bool names_is_buf = false;
  napi_is_buffer(env, argv[2], &names_is_buf);
  if (names_is_buf) CHECK(napi_get_buffer_info(env, argv[2], &one_name, &one_len));
  SendScratch sc;
  struct mmsghdr msgs[MAX_SEND];
  struct mmsghdr gmsgs[MAX_SEND];
  uint32_t consumed = 0;
  while (consumed < count) {
    uint32_t n = count - consumed < MAX_SEND ? count - consumed : MAX_SEND;
    sc.iov.clear();
    sc.first.assign(n + 1, 0);
    sc.lens.assign(n, 0);
    if (s->raw) {
      sc.hdrs.resize(static_cast<size_t>(n) * RAW4_HDR);
      sc.names4.resize(n);
    }
    // First pass: the pieces of every packet (any number: none is dropped).
    for (uint32_t i = 0; i < n; i++) {
      sc.first[i] = sc.iov.size();
      if (s->raw) sc.iov.push_back(iovec{&sc.hdrs[static_cast<size_t>(i) * RAW4_HDR], RAW4_HDR});
      napi_value pkt;
      CHECK(napi_get_element(env, argv[3], start + consumed + i, &pkt));
      void* d;
      size_t l;
      if (napi_get_buffer_info(env, pkt, &d, &l) == napi_ok) {
        sc.iov.push_back(iovec{d, l});
      } else {
        uint32_t parts;
        CHECK(napi_get_array_length(env, pkt, &parts));
        for (uint32_t p = 0; p < parts; p++) {
          napi_value part;
          CHECK(napi_get_element(env, pkt, p, &part));
          CHECK(napi_get_buffer_info(env, part, &d, &l));
          sc.iov.push_back(iovec{d, l});
        }
      }
    }
    sc.first[n] = sc.iov.size();
    // Second pass: addresses, headers and ICRCs (the iovec array no longer moves).
    for (uint32_t i = 0; i < n; i++) {
      void* nd = one_name;
      size_t nl = one_len;
      if (!one_name) {
        napi_value name;
        CHECK(napi_get_element(env, argv[2], start + consumed + i, &name));
        CHECK(napi_get_buffer_info(env, name, &nd, &nl));
      }
      struct msghdr* h = &msgs[i].msg_hdr;
      memset(h, 0, sizeof *h);
      struct iovec* piov = &sc.iov[sc.first[i]];
      size_t npiece = sc.first[i + 1] - sc.first[i];
      h->msg_iov = piov;
      h->msg_iovlen = npiece;
      const struct sockaddr* sa = static_cast<const struct sockaddr*>(nd);
      bool to6 = nl >= sizeof(struct sockaddr_in6) && sa->sa_family == AF_INET6;
      bool to4 = nl >= sizeof(struct sockaddr_in) && sa->sa_family == AF_INET;
      const uint8_t* dst = to6 ? reinterpret_cast<const uint8_t*>(&reinterpret_cast<const struct sockaddr_in6*>(nd)->sin6_addr)
                               : to4 ? reinterpret_cast<const uint8_t*>(&reinterpret_cast<const struct sockaddr_in*>(nd)->sin_addr) : nullptr;
      uint16_t dport = to6 ? ntohs(reinterpret_cast<const struct sockaddr_in6*>(nd)->sin6_port) : to4 ? ntohs(reinterpret_cast<const struct sockaddr_in*>(nd)->sin_port) : 0;
      struct iovec* roce = s->raw ? piov + 1 : piov;
      size_t nroce = s->raw ? npiece - 1 : npiece;
      size_t len = 0;
      for (size_t k = 0; k < nroce; k++) len += roce[k].iov_len;
      sc.lens[i] = len;
      bool ok_family = dst != nullptr && to6 == s->v6;
      if (s->raw) {
        uint8_t* hd = &sc.hdrs[static_cast<size_t>(i) * RAW4_HDR];
        if (!ok_family || len > 65535 - RAW4_HDR) {
          memset(hd, 0, RAW4_HDR);  // unsendable: the kernel refuses it (counted as a send error)
        } else {
          if (++s->ip_id == 0) s->ip_id = 1;
          raw4_header(hd, s->local_addr, dst, t->port, dport, s->ip_id, s->ecn ? ECN_ECT0 : 0, len);
        }
        struct sockaddr_in* sin = &sc.names4[i];
        memset(sin, 0, sizeof *sin);
        sin->sin_family = AF_INET;
        if (dst) memcpy(&sin->sin_addr, dst, 4);
        h->msg_name = sin;
        h->msg_namelen = sizeof *sin;
        if (ok_family && s->icrc && len >= 16 && nroce > 0 && roce[0].iov_len >= 12) {
          uint8_t mh[ICRC_HDR_MAX];
          size_t hl = icrc_mask_ipv4(mh, hd, RAW4_HDR);
          icrc_put(roce, nroce, icrc_compute(mh, hl, roce, nroce, len));
        }
      } else {
        // To the connected peer: no address (the kernel reuses the socket's route).
        if (t->peer_len == 0 || nl != t->peer_len || memcmp(nd, t->peer_name, nl) != 0) {
          h->msg_name = nd;
          h->msg_namelen = static_cast<socklen_t>(nl);
        }
        if (ok_family && s->icrc && len >= 16 && nroce > 0 && roce[0].iov_len >= 12) {
          uint8_t ph[ICRC_HDR_MAX];
          size_t hl = icrc_pseudo_header(ph, s->v6, s->local_addr, dst, t->port, dport, 0, 0x4000, len);
          icrc_put(roce, nroce, icrc_compute(ph, hl, roce, nroce, len));
        }
      }
    }
    // Messages to hand over: one per packet, or GSO runs of packets (IPv6 UDP I/O).
    bool gso = s->gso && s->v6 && !s->raw && n > 1;
    struct mmsghdr* out = msgs;
    uint32_t nm = n;
    if (gso) {
      nm = gso_group(sc, msgs, n, gmsgs);
      out = gmsgs;
    }
    uint32_t done = 0;  // messages
    uint32_t pkts = 0;  // packets they carried
    bool blocked = false;
    while (done < nm) {
      int r = sendmmsg(t->fd, out + done, nm - done, MSG_DONTWAIT);
      if (r > 0) {
        for (int k = 0; k < r; k++) pkts += gso ? sc.per_msg[done + k] : 1;
        done += r;
        continue;
      }
      int e = errno;
      if (r < 0 && e == EINTR) continue;
      if (r < 0 && (e == EAGAIN || e == EWOULDBLOCK || e == ENOBUFS)) {
        blocked = true;
        break;
      }
      // Refused for good (unreachable, bad address, too long): lost datagrams; go on with the rest.
      // A kernel without UDP GSO refuses its first GSO message: no GSO from then on (RC resends).
      uint32_t carried = gso ? sc.per_msg[done] : 1;
      if (gso && carried > 1 && (e == EINVAL || e == EIO || e == ENOPROTOOPT)) s->gso = false;
      s->send_errors += carried;
      pkts += carried;
      done++;
    }
    consumed += pkts;
    if (blocked) break;
  }
  napi_value out;
  CHECK(napi_create_uint32(env, consumed, &out));
  return out;
}

napi_value WatchWritable(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  Sock* s = get_sock(env, argv[0]);
  if (!s) return nullptr;
  Tx* t = get_tx(env, s, argv[1]);
  if (!t) return nullptr;
  bool on;
  CHECK(napi_get_value_bool(env, argv[2], &on));
  if (on == t->writable_wanted) return nullptr;
  t->writable_wanted = on;
  if (!t->own_fd) {
    update_poll(s);
    return nullptr;
  }
  if (!t->poll) {
    uv_loop_t* loop;
    CHECK(napi_get_uv_event_loop(env, &loop));
    t->poll = new uv_poll_t();
    if (uv_poll_init(loop, t->poll, t->fd) != 0) {
      delete t->poll;
      t->poll = nullptr;
      napi_throw_error(env, "ERR_RDMA_NATIVE", "uv_poll_init failed");
      return nullptr;
    }
    t->poll->data = t;
  }
  if (on) uv_poll_start(t->poll, UV_WRITABLE, on_tx_poll);
  else uv_poll_stop(t->poll);
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

/** rxStats(handle) -> { gro, messages, coalesced, packets }: receives, those carrying several datagrams (GRO), datagrams. */
napi_value RxStats(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  Sock* s = get_sock(env, argv[0]);
  if (!s) return nullptr;
  napi_value out, v;
  CHECK(napi_create_object(env, &out));
  CHECK(napi_get_boolean(env, s->gro, &v));
  CHECK(napi_set_named_property(env, out, "gro", v));
  CHECK(napi_create_double(env, static_cast<double>(s->rx_msgs), &v));
  CHECK(napi_set_named_property(env, out, "messages", v));
  CHECK(napi_create_double(env, static_cast<double>(s->rx_coalesced), &v));
  CHECK(napi_set_named_property(env, out, "coalesced", v));
  CHECK(napi_create_double(env, static_cast<double>(s->rx_pkts), &v));
  CHECK(napi_set_named_property(env, out, "packets", v));
  return out;
}

napi_value RawPermitted(napi_env env, napi_callback_info) {
  napi_value out;
  CHECK(napi_get_boolean(env, raw_permitted(), &out));
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

/** icrc(src, dst, srcPort, dstPort, roce, ipv4Id, ipv4FlagsFrag): the ICRC the UDP send path writes. */
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
  uint8_t h[ICRC_HDR_MAX];
  size_t hl = icrc_pseudo_header(h, sl == 16, static_cast<uint8_t*>(src), static_cast<uint8_t*>(dst), static_cast<uint16_t>(sport), static_cast<uint16_t>(dport),
                                 static_cast<uint16_t>(id4), static_cast<uint16_t>(ff4), rl);
  struct iovec v = {roce, rl};
  napi_value out;
  CHECK(napi_create_uint32(env, icrc_compute(h, hl, &v, 1, rl), &out));
  return out;
}

/** icrcIp(ip): the ICRC of an IPv4 (any IHL) or IPv6 + UDP + RoCE packet, over its real header; null when it is not one. */
napi_value IcrcIp(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  void* d;
  size_t l;
  CHECK(napi_get_buffer_info(env, argv[0], &d, &l));
  const uint8_t* p = static_cast<const uint8_t*>(d);
  uint8_t h[ICRC_HDR_MAX];
  size_t hl = 0;
  if (l >= 48 && (p[0] >> 4) == 6 && p[6] == IPPROTO_UDP) {
    memcpy(h, p, 48);
    h[0] |= 0x0f;
    h[1] = h[2] = h[3] = 0xff;
    h[7] = 0xff;
    h[46] = h[47] = 0xff;
    hl = 48;
  } else if (l >= 28 && (p[0] >> 4) == 4) {
    hl = icrc_mask_ipv4(h, p, l);
  }
  napi_value out;
  if (hl == 0 || l < hl + 16) {
    CHECK(napi_get_null(env, &out));
    return out;
  }
  size_t udp_len = (static_cast<size_t>(p[hl - 4]) << 8) | p[hl - 3];
  if (udp_len < 8 + 16 || hl - 8 + udp_len > l) {
    CHECK(napi_get_null(env, &out));
    return out;
  }
  size_t rl = udp_len - 8;
  struct iovec v = {const_cast<uint8_t*>(p + hl), rl};
  CHECK(napi_create_uint32(env, icrc_compute(h, hl, &v, 1, rl), &out));
  return out;
}

/** ddpMr(handle, rkey, bytes, va, pd, access): registers (or replaces) a region for placement. */
napi_value DdpMrSet(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  Sock* s = get_sock(env, argv[0]);
  if (!s) return nullptr;
  PlaceRegion r;
  memset(&r, 0, sizeof r);
  CHECK(napi_get_value_uint32(env, argv[1], &r.rkey));
  CHECK(napi_get_value_double(env, argv[3], &r.va));
  CHECK(napi_get_value_uint32(env, argv[4], &r.pd));
  CHECK(napi_get_value_uint32(env, argv[5], &r.access));
  napi_typedarray_type type;
  size_t offset;
  void* data;
  napi_value ab;
  CHECK(napi_get_typedarray_info(env, argv[2], &type, &r.len, &data, &ab, &offset));
  if (type != napi_uint8_array) return type_error(env, "ddpMr: a Uint8Array expected");
  r.data = static_cast<uint8_t*>(data);
  napi_ref ref;
  CHECK(napi_create_reference(env, argv[2], 1, &ref));
  r.owner = ref;
  void* replaced = nullptr;
  if (!place_set_region(&s->place, r, &replaced)) {
    napi_delete_reference(env, ref);
    return throw_errno(env, "ddpMr", ENOMEM);
  }
  if (replaced) napi_delete_reference(env, static_cast<napi_ref>(replaced));
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
  void* owner = place_drop_region(&s->place, rkey);
  if (owner) napi_delete_reference(env, static_cast<napi_ref>(owner));
  return nullptr;
}

/** Reads the 11 arguments after the handle of ddpQp into a PlaceQp. */
bool read_qp(napi_env env, const napi_value* a, PlaceQp* q) {
  memset(q, 0, sizeof *q);
  int32_t cur;
  double off, rem;
  void* addr;
  size_t alen;
  if (napi_get_value_uint32(env, a[0], &q->qpn) != napi_ok || napi_get_value_bool(env, a[1], &q->enabled) != napi_ok ||
      napi_get_value_uint32(env, a[2], &q->epsn) != napi_ok || napi_get_value_uint32(env, a[3], &q->mtu) != napi_ok ||
      napi_get_value_uint32(env, a[4], &q->pd) != napi_ok || napi_get_value_bool(env, a[5], &q->remote_write) != napi_ok ||
      napi_get_buffer_info(env, a[6], &addr, &alen) != napi_ok || napi_get_value_int32(env, a[7], &cur) != napi_ok ||
      napi_get_value_uint32(env, a[8], &q->cur_rkey) != napi_ok || napi_get_value_double(env, a[9], &off) != napi_ok ||
      napi_get_value_double(env, a[10], &rem) != napi_ok)
    return false;
  if (alen == 4 || alen == 16) {
    q->peer_len = static_cast<uint8_t>(alen);
    memcpy(q->peer_addr, addr, alen);
  }
  q->cur = cur == 0 ? CUR_NONE : cur == 1 ? CUR_WRITE : CUR_OTHER;
  q->cur_off = off >= 0 && off < 1e15 ? static_cast<size_t>(off) : 0;
  q->cur_remaining = rem >= 0 && rem < 1e15 ? static_cast<size_t>(rem) : 0;
  if (q->cur == CUR_WRITE && (off < 0 || rem <= 0)) q->cur = CUR_OTHER;
  return true;
}

/**
 * ddpQp(handle, qpn, enabled, epsn, mtu, pd, remoteWrite, peerAddr, cur, curRkey, curOffset,
 * curRemaining): the responder state of one queue pair, as the TS responder has it. cur: 0 none,
 * 1 an RDMA WRITE into region curRkey at byte curOffset with curRemaining bytes to come, 2 another
 * message (nothing is placed then). Clears the deferral.
 */
napi_value DdpQpSet(napi_env env, napi_callback_info info) {
  size_t argc = 12;
  napi_value argv[12];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  Sock* s = get_sock(env, argv[0]);
  if (!s) return nullptr;
  PlaceQp q;
  if (argc < 12 || !read_qp(env, argv + 1, &q)) return type_error(env, "ddpQp: (handle, qpn, enabled, epsn, mtu, pd, remoteWrite, peerAddr, cur, curRkey, curOffset, curRemaining) expected");
  if (!place_set_qp(&s->place, q)) return throw_errno(env, "ddpQp", ENOMEM);
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
  place_drop_qp(&s->place, qpn);
  return nullptr;
}

/**
 * placeSim(regions, qps, packets, src) -> string[]: the placement unit alone, for tests and
 * fuzzing. regions: [{ rkey, pd, access, va, bytes: Uint8Array }]; qps: [[qpn, enabled, epsn, mtu,
 * pd, remoteWrite, peerAddr, cur, curRkey, curOffset, curRemaining]]; packets: Buffers handled in
 * order as one receive batch from address `src`. Placed payloads are written into `bytes`.
 * Returns each packet's check name.
 */
napi_value PlaceSim(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  if (argc < 4) return type_error(env, "placeSim: (regions, qps, packets, src) expected");
  struct TableGuard {
    PlaceTable t;
    ~TableGuard() { place_free(&t); }
  } g;
  memset(&g.t, 0, sizeof g.t);
  uint32_t n;
  CHECK(napi_get_array_length(env, argv[0], &n));
  for (uint32_t i = 0; i < n; i++) {
    napi_value o, v;
    CHECK(napi_get_element(env, argv[0], i, &o));
    PlaceRegion r;
    memset(&r, 0, sizeof r);
    CHECK(napi_get_named_property(env, o, "rkey", &v));
    CHECK(napi_get_value_uint32(env, v, &r.rkey));
    CHECK(napi_get_named_property(env, o, "pd", &v));
    CHECK(napi_get_value_uint32(env, v, &r.pd));
    CHECK(napi_get_named_property(env, o, "access", &v));
    CHECK(napi_get_value_uint32(env, v, &r.access));
    CHECK(napi_get_named_property(env, o, "va", &v));
    CHECK(napi_get_value_double(env, v, &r.va));
    CHECK(napi_get_named_property(env, o, "bytes", &v));
    napi_typedarray_type type;
    size_t offset;
    void* data;
    napi_value ab;
    CHECK(napi_get_typedarray_info(env, v, &type, &r.len, &data, &ab, &offset));
    if (type != napi_uint8_array) return type_error(env, "placeSim: bytes must be a Uint8Array");
    r.data = static_cast<uint8_t*>(data);
    void* replaced;
    if (!place_set_region(&g.t, r, &replaced)) return throw_errno(env, "placeSim", ENOMEM);
  }
  CHECK(napi_get_array_length(env, argv[1], &n));
  for (uint32_t i = 0; i < n; i++) {
    napi_value arr, a[11];
    CHECK(napi_get_element(env, argv[1], i, &arr));
    for (uint32_t k = 0; k < 11; k++) CHECK(napi_get_element(env, arr, k, &a[k]));
    PlaceQp q;
    if (!read_qp(env, a, &q)) return type_error(env, "placeSim: a queue pair is [qpn, enabled, epsn, mtu, pd, remoteWrite, peerAddr, cur, curRkey, curOffset, curRemaining]");
    if (!place_set_qp(&g.t, q)) return throw_errno(env, "placeSim", ENOMEM);
  }
  void* src;
  size_t src_len;
  CHECK(napi_get_buffer_info(env, argv[3], &src, &src_len));
  CHECK(napi_get_array_length(env, argv[2], &n));
  napi_value out;
  CHECK(napi_create_array_with_length(env, n, &out));
  for (uint32_t i = 0; i < n; i++) {
    napi_value pkt, name;
    void* d;
    size_t l;
    CHECK(napi_get_element(env, argv[2], i, &pkt));
    CHECK(napi_get_buffer_info(env, pkt, &d, &l));
    PlaceDecision dec = place_decide(&g.t, static_cast<const uint8_t*>(d), l, static_cast<const uint8_t*>(src), src_len, nullptr, nullptr);
    place_commit(&g.t, dec, static_cast<const uint8_t*>(d));
    CHECK(napi_create_string_utf8(env, place_check_name(dec.check), NAPI_AUTO_LENGTH, &name));
    CHECK(napi_set_element(env, out, i, name));
  }
  return out;
}

/**
 * Receives, now, what is queued on the receiving socket (one JS call per batch, as on readable).
 * A timer about to declare a loss calls it first: Node runs expired timers before it polls sockets,
 * so after a long stretch of work the answers it waits for may be sitting in the socket. A no-op
 * inside a receive callback (no re-entry) and once closed.
 */
napi_value Drain(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  void* p = nullptr;
  if (napi_get_value_external(env, argv[0], &p) != napi_ok || p == nullptr) return type_error(env, "not a socket handle");
  Sock* s = static_cast<Sock*>(p);
  if (!s->closed && !s->in_callback) do_read(s);
  return nullptr;
}

napi_value Close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  void* p = nullptr;
  if (napi_get_value_external(env, argv[0], &p) != napi_ok || p == nullptr) return type_error(env, "not a socket handle");
  release(static_cast<Sock*>(p));
  return nullptr;
}

napi_value Init(napi_env env, napi_value exports) {
  crc_init();
  napi_property_descriptor props[] = {
      {"open", nullptr, Open, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"txOpen", nullptr, TxOpen, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"txClose", nullptr, TxClose, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"send", nullptr, Send, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"watchWritable", nullptr, WatchWritable, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"setSlab", nullptr, SetSlab, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"sendErrors", nullptr, SendErrors, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"rxStats", nullptr, RxStats, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"rawPermitted", nullptr, RawPermitted, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"ntop", nullptr, Ntop, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"crc32", nullptr, Crc32, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"icrc", nullptr, Icrc, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"icrcIp", nullptr, IcrcIp, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"ddpMr", nullptr, DdpMrSet, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"ddpMrDrop", nullptr, DdpMrDrop, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"ddpQp", nullptr, DdpQpSet, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"ddpQpDrop", nullptr, DdpQpDrop, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"placeSim", nullptr, PlaceSim, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"drain", nullptr, Drain, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"close", nullptr, Close, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return nullptr;
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
