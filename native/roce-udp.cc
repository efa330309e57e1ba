// Batched UDP socket I/O for the RoCE v2 endpoint (Linux): sendmmsg(2) for packets queued by the
// JS side in one tick, recvmmsg(2) into a slab handed to JS once per batch, and libuv's poll
// watcher on the socket so readiness is delivered on Node's own event loop.
//
// Everything RoCE (headers, ICRC, dispatch) stays in TypeScript: this file moves datagrams only.
//
// JS API (one handle per socket):
//   open(v6, addrBytes, port, bufBytes, batch, slotBytes, onRecv, onWritable)
//       -> { handle, port, rcvbuf, sndbuf, meta }   meta: Buffer, per slot META_BYTES (see below)
//   send(handle, names[], packets[], start, count) -> packets consumed (sent or failed for good);
//       fewer than count means the socket would block: keep the rest, call watchWritable(handle, true)
//   watchWritable(handle, on)
//   setSlab(handle, buffer)   buffer of batch * slotBytes the next recvmmsg writes into
//   sendErrors(handle) -> packets the kernel refused for another reason than a full buffer
//   ntop(bytes) -> text form of a 4- or 16-byte address
//   close(handle)
//
// onRecv(count) is called with `count` datagrams in the slab: slot i at i * slotBytes; meta slot i
// holds int32 length in host byte order (-1: longer than a slot, truncated), the port in network
// byte order, uint8 family (4|6), and the
// address (4 or 16 bytes) at offset 8. It may return a Buffer: the slab for the next batch.
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
  uint64_t send_errors;
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
};

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

void on_close(uv_handle_t* h) {
  Sock* s = static_cast<Sock*>(h->data);
  free(s->rmsgs);
  free(s->riov);
  free(s->rnames);
  delete s;
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
    if (n <= 0) return;  // EAGAIN (drained) or a transient error: wait for the next readable event
    for (int i = 0; i < n; i++) {
      uint8_t* m = s->meta + i * META_BYTES;
      memset(m, 0, META_BYTES);
      int32_t len = (s->rmsgs[i].msg_hdr.msg_flags & MSG_TRUNC) ? -1 : static_cast<int32_t>(s->rmsgs[i].msg_len);
      memcpy(m, &len, 4);
      const struct sockaddr_storage* a = &s->rnames[i];
      if (a->ss_family == AF_INET6) {
        const struct sockaddr_in6* a6 = reinterpret_cast<const struct sockaddr_in6*>(a);
        memcpy(m + 4, &a6->sin6_port, 2);
        m[6] = 6;
        memcpy(m + 8, &a6->sin6_addr, 16);
      } else if (a->ss_family == AF_INET) {
        const struct sockaddr_in* a4 = reinterpret_cast<const struct sockaddr_in*>(a);
        memcpy(m + 4, &a4->sin_port, 2);
        m[6] = 4;
        memcpy(m + 8, &a4->sin_addr, 4);
      }
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
  size_t argc = 8;
  napi_value argv[8];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  if (argc < 8) {
    napi_throw_type_error(env, "ERR_RDMA_NATIVE", "open: 8 arguments expected");
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
    free(s->rmsgs);
    free(s->riov);
    free(s->rnames);
    delete s;
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

  CHECK(napi_create_external(env, s, nullptr, nullptr, &handle));
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
  struct mmsghdr msgs[MAX_SEND];
  struct iovec iov[MAX_SEND * 2];
  struct iovec* extra = nullptr;  // for packets in more than two pieces
  uint32_t consumed = 0;
  while (consumed < count) {
    uint32_t n = count - consumed < MAX_SEND ? count - consumed : MAX_SEND;
    uint32_t iv = 0;
    size_t extra_used = 0;
    for (uint32_t i = 0; i < n; i++) {
      napi_value name, pkt;
      CHECK(napi_get_element(env, argv[1], start + consumed + i, &name));
      CHECK(napi_get_element(env, argv[2], start + consumed + i, &pkt));
      void* nd;
      size_t nl;
      CHECK(napi_get_buffer_info(env, name, &nd, &nl));
      struct msghdr* h = &msgs[i].msg_hdr;
      memset(h, 0, sizeof *h);
      h->msg_name = nd;
      h->msg_namelen = static_cast<socklen_t>(nl);
      bool is_array = false;
      napi_is_array(env, pkt, &is_array);
      if (!is_array) {
        void* d;
        size_t l;
        CHECK(napi_get_buffer_info(env, pkt, &d, &l));
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
  napi_property_descriptor props[] = {
      {"open", nullptr, Open, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"send", nullptr, Send, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"watchWritable", nullptr, WatchWritable, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"setSlab", nullptr, SetSlab, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"sendErrors", nullptr, SendErrors, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"ntop", nullptr, Ntop, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"close", nullptr, Close, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return nullptr;
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
