// Direct data placement of RDMA WRITEs (see placement.h).
#include "placement.h"

#include <stdlib.h>
#include <string.h>

#include "opcodes.gen.h"

namespace roce {

namespace {

uint32_t be24(const uint8_t* p) {
  return (static_cast<uint32_t>(p[0]) << 16) | (static_cast<uint32_t>(p[1]) << 8) | p[2];
}

uint32_t be32(const uint8_t* p) {
  return (static_cast<uint32_t>(p[0]) << 24) | (static_cast<uint32_t>(p[1]) << 16) | (static_cast<uint32_t>(p[2]) << 8) | p[3];
}

/** The P_Key matches the default partition's (0xFFFF, full member): low 15 bits all ones (IBA pkey matching). */
bool pkey_ok(uint16_t pkey) {
  return (pkey & 0x7fff) == 0x7fff;
}

/** An ACK whose AETH says ACK (not a NAK): it cannot change a queue pair's state. */
bool plain_ack(const uint8_t* pkt, size_t len) {
  return pkt[0] == OP_RC_ACKNOWLEDGE && len >= 16 + 4 && (pkt[12] & 0x60) == 0;
}

const char* const NAMES[PLACE_CHECK_COUNT] = {
    "ok",      "short",      "bad-header",         "not-rc", "no-qp",  "qp-disabled", "peer", "held", "qp-deferred", "not-plain-write",
    "psn",     "truncated",  "over-mtu",           "sequence", "length", "rkey",      "pd",   "access", "bounds",    "memory-gone",
};

}  // namespace

const char* place_check_name(PlaceCheck c) {
  return c < PLACE_CHECK_COUNT ? NAMES[c] : "unknown";
}

PlaceRegion* place_region(const PlaceTable* t, uint32_t rkey) {
  for (size_t i = 0; i < t->n_mrs; i++)
    if (t->mrs[i].rkey == rkey) return &t->mrs[i];
  return nullptr;
}

PlaceQp* place_qp(const PlaceTable* t, uint32_t qpn) {
  for (size_t i = 0; i < t->n_qps; i++)
    if (t->qps[i].qpn == qpn) return &t->qps[i];
  return nullptr;
}

PlaceDecision place_decide(const PlaceTable* t, const uint8_t* pkt, size_t len, const uint8_t* src, size_t src_len, RegionViewFn view, void* ctx) {
  PlaceDecision d;
  memset(&d, 0, sizeof d);
  d.len = len;
  if (len < 16) {
    d.check = PLACE_SHORT;
    return d;
  }
  const uint8_t op = pkt[0];
  d.opcode = op;
  d.qpn = be24(pkt + 5);
  d.psn = be24(pkt + 9);
  d.ack_req = (pkt[8] & 0x80) != 0;
  const OpcodeInfo& info = OPCODES[op];
  // The verbs layer's header checks (rxe's hdr_check): TVer 0, the default partition.
  if ((pkt[1] & 0x0f) != 0 || !pkey_ok(static_cast<uint16_t>((pkt[2] << 8) | pkt[3]))) {
    d.check = PLACE_BAD_HEADER;
    return d;
  }
  if (info.transport != OPT_RC) {
    d.check = PLACE_NOT_RC;
    return d;
  }
  PlaceQp* q = place_qp(t, d.qpn);
  d.qp = q;
  if (!q) {
    d.check = PLACE_NO_QP;
    return d;
  }
  if (!q->enabled) {
    d.check = PLACE_QP_DISABLED;
    return d;
  }
  if (q->peer_len != src_len || memcmp(q->peer_addr, src, src_len) != 0) {
    d.check = PLACE_PEER;
    return d;
  }
  if (t->hold) {
    d.check = PLACE_HELD;
    return d;
  }
  if (q->deferred) {
    d.check = PLACE_QP_DEFERRED;
    return d;
  }
  if (info.kind != OPK_WRITE || (info.flags & OPF_IMMDT) != 0) {
    d.check = PLACE_NOT_PLAIN_WRITE;
    return d;
  }
  if (d.psn != q->epsn) {
    d.check = PLACE_PSN;
    return d;
  }
  d.hdr = 12 + info.ext_len;
  const size_t pad = (pkt[1] >> 4) & 3;
  if (len < d.hdr + pad + 4) {
    d.check = PLACE_TRUNCATED;
    return d;
  }
  d.payload = len - d.hdr - pad - 4;
  if (d.payload > q->mtu) {
    d.check = PLACE_OVER_MTU;
    return d;
  }
  const bool starts = (info.flags & (OPF_FIRST | OPF_ONLY)) != 0;
  d.last = (info.flags & (OPF_LAST | OPF_ONLY)) != 0;
  if (starts != (q->cur == CUR_NONE) || (!starts && q->cur != CUR_WRITE)) {
    d.check = PLACE_SEQUENCE;
    return d;
  }
  size_t dma;
  if (starts) {
    const uint8_t* r = pkt + 12;
    uint64_t va = (static_cast<uint64_t>(be32(r)) << 32) | be32(r + 4);
    d.rkey = be32(r + 8);
    dma = be32(r + 12);
    // FIRST: longer than one MTU and a full MTU of payload; ONLY: exactly its payload, not empty.
    bool ok = (info.flags & OPF_FIRST) ? dma > q->mtu && d.payload == q->mtu : dma == d.payload && dma > 0;
    if (!ok) {
      d.check = PLACE_LENGTH;
      return d;
    }
    const PlaceRegion* mr = place_region(t, d.rkey);
    if (!mr) {
      d.check = PLACE_RKEY;
      return d;
    }
    if (mr->pd != q->pd) {
      d.check = PLACE_PD;
      return d;
    }
    if ((mr->access & ACCESS_REMOTE_WRITE) == 0 || !q->remote_write) {
      d.check = PLACE_ACCESS;
      return d;
    }
    if (va > 9007199254740991ull) {
      d.check = PLACE_BOUNDS;
      return d;
    }
    double v = static_cast<double>(va);
    if (v < mr->va || v + static_cast<double>(dma) > mr->va + static_cast<double>(mr->len)) {
      d.check = PLACE_BOUNDS;
      return d;
    }
    d.off = static_cast<size_t>(v - mr->va);
    d.remaining = dma;
  } else {
    bool ok = (info.flags & OPF_MIDDLE) ? d.payload == q->mtu && d.payload < q->cur_remaining : d.payload == q->cur_remaining;
    if (!ok) {
      d.check = PLACE_LENGTH;
      return d;
    }
    d.rkey = q->cur_rkey;
    d.off = q->cur_off;
    d.remaining = q->cur_remaining;
  }
  // The region must still be registered, and its memory still where and as long as it was: memory
  // that was detached (transferred), shrunk or moved is never written (JS answers with a NAK).
  const PlaceRegion* mr = place_region(t, d.rkey);
  if (!mr) {
    d.check = PLACE_RKEY;
    return d;
  }
  RegionView now = view ? view(*mr, ctx) : RegionView{mr->data, mr->len};
  if (now.data == nullptr || now.data != mr->data || now.len < mr->len || d.off + d.payload > mr->len) {
    d.check = PLACE_MEMORY_GONE;
    return d;
  }
  d.dst = mr->data + d.off;
  d.remaining -= d.payload;
  d.check = PLACE_OK;
  return d;
}

bool place_commit(PlaceTable* t, const PlaceDecision& d, const uint8_t* pkt) {
  if (d.check == PLACE_SHORT) return false;
  // A SEND with invalidate may deregister a region when JS handles it: place nothing more in
  // this batch (JS handles it, dropRegion included, before the next batch is read).
  if (d.opcode == OP_RC_SEND_LAST_WITH_INVALIDATE || d.opcode == OP_RC_SEND_ONLY_WITH_INVALIDATE) t->hold = true;
  PlaceQp* q = d.qp;
  if (d.check != PLACE_OK) {
    // Packets the verbs layer drops (bad header, not RC, unknown or disabled queue pair, another
    // peer) never reach the queue pair, which therefore never re-syncs: they must not defer it.
    bool reaches_qp = q != nullptr && d.check != PLACE_BAD_HEADER && d.check != PLACE_NOT_RC && d.check != PLACE_QP_DISABLED && d.check != PLACE_PEER;
    if (reaches_qp && !plain_ack(pkt, d.len)) q->deferred = true;
    return false;
  }
  memcpy(d.dst, pkt + d.hdr, d.payload);
  q->epsn = (q->epsn + 1) & 0xffffff;
  if (d.last) {
    q->cur = CUR_NONE;
    q->cur_rkey = 0;
    q->cur_off = 0;
    q->cur_remaining = 0;
  } else {
    q->cur = CUR_WRITE;
    q->cur_rkey = d.rkey;
    q->cur_off = d.off + d.payload;
    q->cur_remaining = d.remaining;
  }
  return true;
}

namespace {

template <typename T>
bool grow(T** arr, size_t n, size_t* cap) {
  if (n < *cap) return true;
  size_t want = *cap ? *cap * 2 : 8;
  T* p = static_cast<T*>(realloc(static_cast<void*>(*arr), sizeof(T) * want));
  if (!p) return false;
  *arr = p;
  *cap = want;
  return true;
}

}  // namespace

bool place_set_region(PlaceTable* t, const PlaceRegion& r, void** replaced_owner) {
  *replaced_owner = nullptr;
  PlaceRegion* mr = place_region(t, r.rkey);
  if (mr) {
    *replaced_owner = mr->owner;
  } else {
    if (!grow(&t->mrs, t->n_mrs, &t->cap_mrs)) return false;
    mr = &t->mrs[t->n_mrs++];
  }
  *mr = r;
  // A WRITE in progress into the replaced region is finished by JS.
  for (size_t i = 0; i < t->n_qps; i++)
    if (t->qps[i].cur == CUR_WRITE && t->qps[i].cur_rkey == r.rkey && *replaced_owner != nullptr) t->qps[i].cur = CUR_OTHER;
  return true;
}

void* place_drop_region(PlaceTable* t, uint32_t rkey) {
  PlaceRegion* mr = place_region(t, rkey);
  if (!mr) return nullptr;
  for (size_t i = 0; i < t->n_qps; i++)
    if (t->qps[i].cur == CUR_WRITE && t->qps[i].cur_rkey == rkey) t->qps[i].cur = CUR_OTHER;
  void* owner = mr->owner;
  *mr = t->mrs[--t->n_mrs];
  return owner;
}

bool place_set_qp(PlaceTable* t, const PlaceQp& in) {
  PlaceQp* q = place_qp(t, in.qpn);
  if (!q) {
    if (!grow(&t->qps, t->n_qps, &t->cap_qps)) return false;
    q = &t->qps[t->n_qps++];
  }
  *q = in;
  q->deferred = false;
  q->epsn &= 0xffffff;
  if (q->peer_len != 4 && q->peer_len != 16) q->peer_len = 0;
  q->enabled = in.enabled && q->peer_len != 0 && q->mtu >= 256;
  if (q->cur == CUR_WRITE) {
    const PlaceRegion* mr = place_region(t, q->cur_rkey);
    if (!mr || q->cur_remaining == 0 || q->cur_off > mr->len || q->cur_remaining > mr->len - q->cur_off) q->cur = CUR_OTHER;
  } else if (q->cur != CUR_NONE) {
    q->cur = CUR_OTHER;
  }
  if (q->cur != CUR_WRITE) {
    q->cur_rkey = 0;
    q->cur_off = 0;
    q->cur_remaining = 0;
  }
  return true;
}

void place_drop_qp(PlaceTable* t, uint32_t qpn) {
  PlaceQp* q = place_qp(t, qpn);
  if (q) *q = t->qps[--t->n_qps];
}

void place_free(PlaceTable* t) {
  free(t->mrs);
  free(t->qps);
  memset(t, 0, sizeof *t);
}

}  // namespace roce
