/*  tests/rawpeer.h: a node's peer written with plain ZeroMQ and the wire
    codec, as a client from docs/PROTOCOL.md (or a hostile process) would
    write it. Include after criterion.h and testutil.h.

    The raw peer is a DEALER with its node name as routing id. It sends
    envelopes with from = (its name, 1, 1) unless told otherwise, and
    addresses actors with the target node's incarnation (tt_raw.to_inc). */
#ifndef TP_RAWPEER_H_INCLUDED
#define TP_RAWPEER_H_INCLUDED

#include <zmq.h>

#include "wire.h"

typedef struct {
    void *zctx;
    void *d;
    const char *name;
    uint32_t inc;    /* ours */
    uint32_t to_inc; /* the target node's, for actor-level kinds */
} tt_raw;

/*  Sets the routing id a node expects of r: name/incarnation in 8 hex
    digits (PROTOCOL.md §2). Before zmq_connect. */
static inline void
tt_raw_set_rid (tt_raw *r)
{
    char rid[TP__WIRE_RID_MAX];
    size_t n = tp__wire_rid (r->name, strlen (r->name), r->inc, rid);
    zmq_setsockopt (r->d, ZMQ_ROUTING_ID, rid, n);
}

/*  Connects a raw peer named name, in incarnation inc, to ep. to_inc:
    the target's incarnation (tp_node_incarnation (tp_system_node (sys))). */
static inline void
tt_raw_open_as (tt_raw *r, const char *name, uint32_t inc, const char *ep,
                uint32_t to_inc)
{
    r->zctx = zmq_ctx_new ();
    r->d = zmq_socket (r->zctx, ZMQ_DEALER);
    r->name = name;
    r->inc = inc;
    r->to_inc = to_inc;
    int zero = 0;
    zmq_setsockopt (r->d, ZMQ_LINGER, &zero, sizeof zero);
    tt_raw_set_rid (r);
    cr_assert_eq (zmq_connect (r->d, ep), 0);
}

/*  tt_raw_open_as in incarnation 77. */
static inline void
tt_raw_open (tt_raw *r, const char *name, const char *ep, uint32_t to_inc)
{
    tt_raw_open_as (r, name, 77, ep, to_inc);
}

static inline void
tt_raw_close (tt_raw *r)
{
    zmq_close (r->d);
    zmq_ctx_term (r->zctx);
}

/*  An envelope of the raw peer: from (name, 1, 1) to `to`. */
static inline tp__env
tt_raw_env (const tt_raw *r, uint32_t kind, tp_ref to, uint64_t tag,
            const void *body, size_t blen)
{
    tp__env e = {.kind = kind, .to_index = to.index, .to_gen = to.gen,
                 .to_inc = r->to_inc, .from_node = r->name,
                 .from_node_len = strlen (r->name), .from_index = 1,
                 .from_gen = 1, .tag = tag, .body = body, .body_len = blen};
    if (kind == TP__WIRE_HELLO || kind == TP__WIRE_BATCH
        || kind == TP__WIRE_HEARTBEAT || kind == TP__WIRE_LOOKUP
        || kind == TP__WIRE_DRAIN || kind == TP__WIRE_DRAIN_ACK) {
        e.to_index = e.to_gen = 0;
        if (kind != TP__WIRE_LOOKUP)
            e.from_index = e.from_gen = 0;
    }
    return e;
}

static inline void
tt_raw_send_env (tt_raw *r, const tp__env *e)
{
    uint8_t *buf;
    size_t len;
    cr_assert_eq (tp__wire_encode (e, &buf, &len), 0, "kind %u", e->kind);
    cr_assert_eq (zmq_send (r->d, buf, len, 0), (int) len);
    free (buf);
}

static inline void
tt_raw_send (tt_raw *r, uint32_t kind, tp_ref to, uint64_t tag,
             const void *body, size_t blen)
{
    tp__env e = tt_raw_env (r, kind, to, tag, body, blen);
    tt_raw_send_env (r, &e);
}

/*  Sends HELLO; seen: the incarnation of the target we claim to have up
    (0: none, which the node answers with its own HELLO). */
static inline void
tt_raw_hello (tt_raw *r, uint32_t seen)
{
    tp_msg *h = tp_msg_new (tp_tag ("x"), "[suuu]", r->name,
                            (unsigned) r->inc, 500u, (unsigned) seen);
    tt_raw_send (r, TP__WIRE_HELLO, TP_REF_NIL, 0, tp_msg_body (h),
                 tp_msg_size (h));
    tp_msg_destroy (&h);
}

/*  Appends envelope e, encoded, as a bin 16 item; returns its bytes. */
static inline size_t
tt_raw_env_item (uint8_t *out, const tp__env *e)
{
    uint8_t *buf;
    size_t len;
    cr_assert_eq (tp__wire_encode (e, &buf, &len), 0);
    out[0] = 0xc5;
    out[1] = (uint8_t) (len >> 8);
    out[2] = (uint8_t) len;
    memcpy (out + 3, buf, len);
    free (buf);
    return 3 + len;
}

/*  Appends a USER "ping" envelope carrying v to `to` as a bin item. */
static inline size_t
tt_raw_item (const tt_raw *r, uint8_t *out, tp_ref to, int v)
{
    tp_msg *b = tp_msg_new (tp_tag ("x"), "i", v);
    tp__env e = tt_raw_env (r, TP__WIRE_USER, to, tp_tag ("ping"),
                            tp_msg_body (b), tp_msg_size (b));
    size_t n = tt_raw_env_item (out, &e);
    tp_msg_destroy (&b);
    return n;
}

/*  Receives envelopes (plain or inside BATCHes) on sock (a DEALER, or a
    ROUTER: its routing id parts are skipped) for up to ms and calls fn on
    each until fn returns true. Returns true if fn did. */
static inline bool
tt_sock_recv (void *sock, int ms, bool (*fn) (const tp__env *, void *),
              void *arg)
{
    uint64_t end = tt_now_ms () + (uint64_t) tt_ms (ms);
    while (tt_now_ms () < end) {
        zmq_pollitem_t it = {sock, 0, ZMQ_POLLIN, 0};
        if (zmq_poll (&it, 1, 50) <= 0)
            continue;
        zmq_msg_t f;
        zmq_msg_init (&f);
        cr_assert_geq (zmq_msg_recv (&f, sock, 0), 0);
        if (zmq_msg_more (&f)) { /* (a ROUTER's routing id part) */
            zmq_msg_close (&f);
            continue;
        }
        tp__env e, in;
        cr_assert_eq (tp__wire_decode (zmq_msg_data (&f), zmq_msg_size (&f),
                                       &e),
                      0);
        bool done = false;
        if (e.kind != TP__WIRE_BATCH)
            done = fn (&e, arg);
        else {
            const uint8_t *q = e.body, *env;
            size_t left = e.body_len, elen;
            while (!done && tp__wire_batch_next (&q, &left, &env, &elen) == 0) {
                cr_assert_eq (tp__wire_decode (env, elen, &in), 0);
                done = fn (&in, arg);
            }
        }
        zmq_msg_close (&f);
        if (done)
            return true;
    }
    return false;
}

/*  tt_sock_recv on the raw peer's DEALER. */
static inline bool
tt_raw_recv (tt_raw *r, int ms, bool (*fn) (const tp__env *, void *),
             void *arg)
{
    return tt_sock_recv (r->d, ms, fn, arg);
}

typedef struct {
    int *vals;
    int want, got;
} tt_raw_pong_acc;

static inline bool
tt_raw__pong (const tp__env *e, void *arg)
{
    tt_raw_pong_acc *a = arg;
    int v;
    if (e->kind == TP__WIRE_USER && e->tag == tp_tag ("pong")
        && tp_unpack_raw (e->body, e->body_len, "i", &v) == 0)
        a->vals[a->got++] = v;
    return a->got >= a->want;
}

/*  Collects the values of up to `want` pong messages (5 s bound). */
static inline int
tt_raw_pongs (tt_raw *r, int *vals, int want)
{
    tt_raw_pong_acc a = {vals, want, 0};
    tt_raw_recv (r, 5000, tt_raw__pong, &a);
    return a.got;
}

#endif
