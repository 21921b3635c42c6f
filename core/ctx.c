/*  core/ctx.c: execution contexts, the event loop and the transport.

    A ctx owns one ZeroMQ PULL socket bound to inproc://tp<sys>.<id>.<gen>.
    Messages for an actor go to the ctx the actor lives on:

    - same ctx: pushed on the actor's mailbox (no socket, no copy, no
      system call; the node comes from the thread's free list);
    - other ctx: appended as a record to a per-destination batch, and
      every batch is sent as ONE ZeroMQ message when the sending actor's
      turn ends (or the batch reaches TP__FLUSH_BYTES). Bodies of
      TP__ZC_MIN bytes or more are handed to ZeroMQ without a copy
      (zmq_msg_init_data with a free function) as a second frame.

    ZeroMQ's inproc pipe only signals the reader when the reader sleeps,
    so a busy ctx is never woken by a system call. To avoid a poll()
    system call per check, each ctx counts frames sent to it (`inbound`,
    incremented by senders after zmq_send) and reads its socket only when
    the count moved. An idle ctx spins briefly on that counter before it
    blocks in zmq_poll.
*/
#include "runtime.h"

#include <sched.h>

TP__TLS tp__ctx *tp__tl_ctx;
TP__TLS tp_actor *tp__tl_actor;

/*  One message as it crosses between ctxs. Native layout: these bytes
    never leave the process (the node gateway has its own wire format). */
typedef struct tp__rec {
    uint32_t dst_node; /* != local node: for the gateway to forward */
    uint32_t dst_index;
    uint32_t dst_gen;
    uint32_t zc; /* 1: body follows as the next frame */
    uint64_t tag;
    uint32_t from_node, from_index, from_gen;
    uint16_t flags, aux;
    uint64_t corr;
    uint32_t size;
    uint32_t pad;
} tp__rec;

#define TP__PACE_MAX_NS 2000000u /* longest pause per turn */
#define TP__DRAIN_BUSY 4 /* frames read per loop while actors are runnable */
#define TP__DRAIN_BYTES (256u * 1024u) /* per loop (a few thousand records) */
#define TP__TICK_NS 200000u /* work between two clock reads, about */
#define TP__TICK_STRIDE_MAX 128u /* messages between reads at most */
#define TP__REC_ALIGN(n) (((n) + 7u) & ~(size_t) 7u)

/* ------------------------------------------------------------------ */

void
tp__endpoint (tp_system *sys, int id, uint32_t gen, char *buf, size_t cap)
{
    snprintf (buf, cap, "inproc://tp%" PRIu64 ".%d.%" PRIu32, sys->id, id,
              gen);
}

/*  Creates (or recycles) a ctx of the given kind and binds its socket.
    Returns NULL if the table is full or ZeroMQ fails. Takes sys->lock. */
tp__ctx *
tp__ctx_new (tp_system *sys, int kind)
{
    pthread_mutex_lock (&sys->lock);
    tp__ctx *c = NULL;
    int id = -1;
    int top = atomic_load (&sys->nctx);
    for (int i = sys->nworkers; i < top && id < 0; i++) {
        tp__ctx *o = sys->ctxs[i];
        if (o && o->kind == TP__CTX_THREAD && atomic_load (&o->finished)) {
            if (!o->joined) {
                pthread_join (o->thread, NULL);
                o->joined = true;
            }
            id = i;
            c = o;
        }
        else if (o && o->kind == TP__CTX_EXTERNAL
                 && atomic_load (&o->finished)) {
            /* a foreign thread that has exited (tp__ext_thread_gone): its
               sockets are no one's now, its inbox names nothing */
            tp__ctx_close (o);
            tp__slot *s = tp__slot_get (sys, o->inbox.index);
            if (s && atomic_load (&s->gen) == o->inbox.gen) {
                atomic_fetch_add (&s->gen, 1);
                tp__slot_release (sys, o->inbox.index);
            }
            id = i;
            c = o;
        }
    }
    if (id < 0) {
        if (top >= TP__MAX_CTX) {
            pthread_mutex_unlock (&sys->lock);
            return NULL;
        }
        id = top;
        c = tp__calloc (1, sizeof *c);
        sys->ctxs[id] = c;
        atomic_store (&sys->nctx, top + 1);
    }
    else {
        /* Recycle the struct in place: other threads may be reading its
           gen and inbound counters right now, so those stay untouched. */
        atomic_store (&c->alive, 0);
        atomic_store (&c->finished, 0);
        atomic_store (&c->nactors, 0);
        c->has_thread = false;
        c->joined = false;
        c->pull = NULL;
        c->ndirty = 0;
        c->rq_head = c->rq_tail = NULL;
        c->nheap = 0;
        c->shutdown = false;
        c->thread_actor = NULL;
        c->in_head = c->in_tail = NULL;
        c->inbox = TP_REF_NIL;
        c->tr_dirty = false;
        atomic_store (&c->tr, NULL);
    }
    c->sys = sys;
    c->id = id;
    c->kind = kind;
    c->backlogged = -1;
    atomic_fetch_add (&c->gen, 1);
    c->consumed = atomic_load (&c->inbound);
    atomic_store (&c->consumed_pub, c->consumed);
    c->pull = zmq_socket (sys->zctx, ZMQ_PULL);
    c->pull_fd = -1;
    c->pull_armed = false;
    int zero = 0;
    char ep[96];
    tp__endpoint (sys, id, atomic_load (&c->gen), ep, sizeof ep);
    if (!c->pull || zmq_setsockopt (c->pull, ZMQ_LINGER, &zero, sizeof zero)
        || zmq_setsockopt (c->pull, ZMQ_RCVHWM, &zero, sizeof zero)
        || zmq_bind (c->pull, ep)) {
        if (c->pull)
            zmq_close (c->pull);
        c->pull = NULL;
        c->kind = TP__CTX_THREAD;
        c->joined = true;
        atomic_store (&c->finished, 1);
        pthread_mutex_unlock (&sys->lock);
        return NULL;
    }
    atomic_store (&c->alive, 1);
    pthread_mutex_unlock (&sys->lock);
    return c;
}

/*  Closes every socket of the ctx. Called by its own thread (or by the
    destroying thread once the owner is gone). */
void
tp__ctx_close (tp__ctx *c)
{
    for (int i = 0; i < c->nout; i++) {
        if (c->push[i]) {
            zmq_close (c->push[i]);
            c->push[i] = NULL;
        }
        c->out[i].len = 0;
        c->out[i].records = 0;
        c->out[i].dirty = false;
    }
    c->ndirty = 0;
    if (c->pull) {
        zmq_close (c->pull);
        c->pull = NULL;
    }
    atomic_store (&c->alive, 0);
    for (tp_msg *m = c->in_head, *n; m; m = n) {
        n = m->next;
        tp__msg_free (m);
    }
    c->in_head = c->in_tail = NULL;
}

void
tp__ctx_free (tp__ctx *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->nout; i++)
        free (c->out[i].data);
    free (c->out);
    free (c->push);
    free (c->push_gen);
    free (c->dirty);
    free (c->heap);
    free (c);
}

static void
s_grow (tp__ctx *c, int need)
{
    if (need < c->nout)
        return;
    int n = c->nout ? c->nout : 8;
    while (n <= need)
        n *= 2;
    c->push = tp__realloc (c->push, n * sizeof *c->push);
    c->push_gen = tp__realloc (c->push_gen, n * sizeof *c->push_gen);
    c->out = tp__realloc (c->out, n * sizeof *c->out);
    c->dirty = tp__realloc (c->dirty, n * sizeof *c->dirty);
    for (int i = c->nout; i < n; i++) {
        c->push[i] = NULL;
        c->push_gen[i] = 0;
        memset (&c->out[i], 0, sizeof c->out[i]);
    }
    c->nout = n;
}

/*  Returns a PUSH socket connected to ctx dst's current endpoint. */
static void *
s_push (tp__ctx *c, int dst)
{
    tp_system *sys = c->sys;
    tp__ctx *d = sys->ctxs[dst];
    uint32_t gen = atomic_load_explicit (&d->gen, memory_order_acquire);
    if (c->push[dst] && c->push_gen[dst] == gen)
        return c->push[dst];
    if (c->push[dst])
        zmq_close (c->push[dst]);
    void *s = zmq_socket (sys->zctx, ZMQ_PUSH);
    if (!s) {
        c->push[dst] = NULL;
        return NULL;
    }
    int zero = 0;
    char ep[96];
    tp__endpoint (sys, dst, gen, ep, sizeof ep);
    zmq_setsockopt (s, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt (s, ZMQ_SNDHWM, &zero, sizeof zero);
    if (zmq_connect (s, ep)) {
        zmq_close (s);
        c->push[dst] = NULL;
        return NULL;
    }
    c->push[dst] = s;
    c->push_gen[dst] = gen;
    return s;
}

static void
s_count_lost (tp__ctx *c, uint32_t records)
{
    if (records)
        atomic_fetch_add_explicit (&c->sys->dead_letters, records,
                                   memory_order_relaxed);
}

/*  Sends the batch for dst as one ZeroMQ message. dst stays on the
    dirty list (ob->dirty) until tp__flush walks it. */
static void
s_flush_one (tp__ctx *c, int dst)
{
    tp__outbuf *ob = &c->out[dst];
    if (ob->len == 0)
        return;
    void *s = s_push (c, dst);
    if (!s || zmq_send (s, ob->data, ob->len, ZMQ_DONTWAIT) < 0)
        s_count_lost (c, ob->records);
    else {
        tp__ctx *d = c->sys->ctxs[dst];
        uint64_t in = atomic_fetch_add_explicit (&d->inbound, 1,
                                                 memory_order_release);
        if (in - atomic_load_explicit (&d->consumed_pub, memory_order_relaxed)
            > TP__BACKLOG_MAX)
            c->backlogged = dst;
    }
    ob->len = 0;
    ob->records = 0;
}

/*  True when ctx dst sleeps (or is about to): holding records back for
    a bigger batch would only add latency, and a parallel job would wait
    for the sender's next turns, however long. A destination that runs
    or spins gets them with the next flush, in a bigger batch. */
static bool
s_dst_idle (tp__ctx *c, int dst)
{
    return atomic_load_explicit (&c->sys->ctxs[dst]->idle_pub,
                                 memory_order_relaxed);
}

/*  Flow control between ctxs. A sender that runs faster than its receiver
    would pile frames up in ZeroMQ without bound (and the allocator's page
    faults then slow everybody down). When a destination has more than
    TP__BACKLOG_MAX unread frames, the sending ctx pauses after the turn,
    yielding the CPU, until the backlog halves or a bounded time passes.
    The bound keeps two ctxs flooding each other from waiting forever. */
static void
s_pace (tp__ctx *c)
{
    tp__ctx *d = c->sys->ctxs[c->backlogged];
    c->backlogged = -1;
    uint64_t end = tp__now_ns () + TP__PACE_MAX_NS;
    for (int i = 0;; i++) {
        uint64_t in = atomic_load_explicit (&d->inbound, memory_order_relaxed);
        uint64_t done = atomic_load_explicit (&d->consumed_pub,
                                              memory_order_relaxed);
        if (in - done <= TP__BACKLOG_MAX / 2 || !atomic_load (&d->alive))
            return;
        sched_yield ();
        if ((i & 7) == 7 && tp__now_ns () >= end)
            return;
    }
}

static void s_pace (tp__ctx *c);

void
tp__flush (tp__ctx *c)
{
    if (c->tr_dirty)
        tp__tr (c)->flush (c);
    for (int i = 0; i < c->ndirty; i++) {
        s_flush_one (c, c->dirty[i]);
        c->out[c->dirty[i]].dirty = false;
    }
    c->ndirty = 0;
    if (c->kind == TP__CTX_EXTERNAL && c->backlogged >= 0)
        s_pace (c); /* a foreign thread flooding a ctx waits here */
}

static void
s_fill_rec (tp__rec *r, tp_ref to, const tp_msg *m, uint32_t zc)
{
    r->dst_node = to.node;
    r->dst_index = to.index;
    r->dst_gen = to.gen;
    r->tag = m->tag;
    r->from_node = m->from.node;
    r->from_index = m->from.index;
    r->from_gen = m->from.gen;
    r->flags = m->flags & (uint16_t) ~(TP__MSG_HEAP | TP__MSG_ZMQ);
    r->aux = m->aux;
    r->corr = m->corr;
    r->size = m->size;
    r->zc = zc;
    r->pad = 0;
}

static void
s_zc_free (void *data, void *hint)
{
    (void) hint;
    free (data);
}

/*  Sends a big message as [record][body] with the body handed over. */
static void
s_send_zero_copy (tp__ctx *c, int dst, tp_ref to, tp_msg *m)
{
    tp__outbuf *ob = &c->out[dst];
    if (ob->len) {
        s_flush_one (c, dst); /* keep order with batched records */
    }
    tp__rec r;
    s_fill_rec (&r, to, m, 1);
    void *data;
    size_t size;
    tp__msg_detach_body (m, &data, &size);
    tp__msg_free (m);
    void *s = s_push (c, dst);
    zmq_msg_t body;
    if (!s || zmq_send (s, &r, sizeof r, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
        free (data);
        s_count_lost (c, 1);
        return;
    }
    zmq_msg_init_data (&body, data, size, s_zc_free, NULL);
    if (zmq_msg_send (&body, s, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close (&body);
        s_count_lost (c, 1);
        return;
    }
    atomic_fetch_add_explicit (&c->sys->ctxs[dst]->inbound, 1,
                               memory_order_release);
}

/*  tp__route reserved a place for m in a bounded mailbox (m has
    TP__MSG_BOUNDED) after it had found `to` alive. If `to` has ended
    since (a tp_send_wait that backed off while the actor ended and its
    slot was reused), the place was taken in a slot that is no longer
    to's: give it back, or the slot's next actor keeps it (a capacity-1
    mailbox full forever). m goes on and is a dead letter where it lands
    (s_deliver checks the generation). The count is only lowered while
    above zero: if the end of the actor zeroed it after the reservation
    (tp__actor_terminate), there is nothing to give back. */
static void
s_unreserve_stale (tp__ctx *c, tp_ref to, tp_msg *m)
{
    tp__slot *s = tp__slot_get (c->sys, to.index);
    if (!s || atomic_load (&s->gen) == to.gen)
        return;
    m->flags &= (uint16_t) ~TP__MSG_BOUNDED;
    int32_t p = atomic_load (&s->pending);
    while (p > 0 && !atomic_compare_exchange_weak (&s->pending, &p, p - 1))
        ;
}

/*  Appends m (consumed) for actor `to` living on ctx dst. */
static void
s_out_append (tp__ctx *c, int dst, tp_ref to, tp_msg *m)
{
    if (TP__UNLIKELY (m->flags & TP__MSG_BOUNDED))
        s_unreserve_stale (c, to, m);
    s_grow (c, dst);
    if (m->size >= TP__ZC_MIN) {
        s_send_zero_copy (c, dst, to, m);
        return;
    }
    tp__outbuf *ob = &c->out[dst];
    size_t need = sizeof (tp__rec) + TP__REC_ALIGN (m->size);
    if (ob->len + need > ob->cap) {
        size_t cap = ob->cap ? ob->cap : 4096;
        while (cap < ob->len + need)
            cap *= 2;
        ob->data = tp__realloc (ob->data, cap);
        ob->cap = cap;
    }
    tp__rec *r = (tp__rec *) (ob->data + ob->len);
    s_fill_rec (r, to, m, 0);
    if (m->size)
        memcpy (ob->data + ob->len + sizeof (tp__rec), m->body, m->size);
    ob->len += need;
    ob->records++;
    tp__msg_free (m);
    if (!ob->dirty) {
        ob->dirty = true;
        c->dirty[c->ndirty++] = dst;
    }
    if (ob->len >= TP__FLUSH_BYTES)
        s_flush_one (c, dst);
}

/*  Sends a control record carrying msg (consumed: its sender, request id
    and body travel with it) to ctx `to`. */
void
tp__ctl_msg (tp__ctx *from, tp__ctx *to, int cmd, tp_msg *m)
{
    m->aux = (uint16_t) cmd;
    if (!m->tag)
        m->tag = 1;
    tp_ref dst = {0, TP__CTL_INDEX, 0};
    s_out_append (from, to->id, dst, m);
    s_flush_one (from, to->id);
}

void
tp__ctl (tp__ctx *from, tp__ctx *to, int cmd, uint64_t arg)
{
    tp_msg *m = tp__msg_alloc ();
    m->aux = (uint16_t) cmd;
    m->corr = arg;
    m->tag = 1;
    tp_ref dst = {0, TP__CTL_INDEX, 0};
    s_out_append (from, to->id, dst, m);
    s_flush_one (from, to->id);
}

/* ------------------------------------------------------------------ */
/*  Local delivery                                                     */

void
tp__enqueue (tp__ctx *c, tp_actor *a, tp_msg *m)
{
    if (TP__UNLIKELY (!(a->flags & TP__A_ADOPTED)))
        tp__actor_adopt (c, a);
    m->next = NULL;
    if (a->mb_tail)
        a->mb_tail->next = m;
    else
        a->mb_head = m;
    a->mb_tail = m;
    a->queued++;
    /* (the depth others read is published when the actor is scheduled and
       after each turn: a store per message would bounce the slot's cache
       line between the workers that route to it) */
    if (!(a->flags & TP__A_QUEUED)) {
        atomic_store_explicit (&a->slot->queued, a->queued,
                               memory_order_relaxed);
        a->flags |= TP__A_QUEUED;
        tp__rq_push (c, a);
    }
}

/*  A ref typed without an incarnation ("alpha/2.1") for this node's own
    name means this node: returns sys->node for it, else node. */
static uint32_t
s_node_alias (tp_system *sys, uint32_t node)
{
    if (tp_node_incarnation (node) == 0 && tp__node_same_name (node, sys->node))
        return sys->node;
    return node;
}

/*  Another node: hand m to the gateway, which owns the links. A body
    that cannot fit a frame fails here, at the call (TP_ETOOBIG). */
static int
s_route_remote (tp__ctx *c, tp_ref to, tp_msg *m, int wait_ms)
{
    if (TP__UNLIKELY (m->size > TP_NODE_MAX_BODY))
        return TP_ETOOBIG;
    /* Flow control: the gateway holds too much for that peer (it does
       not read). A message the sender can keep waits or fails, as for a
       full mailbox; runtime messages and replies go on. */
    _Atomic uint8_t *full = &c->sys->gw_full[to.node & 4095];
    if (TP__UNLIKELY (atomic_load_explicit (full, memory_order_relaxed))
        && !(m->flags & (TP__MSG_SYS | TP__MSG_REPLY))) {
        if (wait_ms == 0 || tp__tr (c))
            return TP_EFULL; /* (the gateway cannot wait for itself) */
        uint64_t deadline = wait_ms < 0 ? UINT64_MAX
                                        : tp__now_ns ()
                                              + (uint64_t) wait_ms * 1000000u;
        unsigned backoff = 1;
        while (atomic_load_explicit (full, memory_order_relaxed)) {
            if (tp__now_ns () >= deadline)
                return TP_ETIMEDOUT;
            tp__flush (c);
            struct timespec ts = {0, (long) backoff * 1000};
            nanosleep (&ts, NULL);
            if (backoff < 1000)
                backoff *= 2;
        }
    }
    tp__ctx *gw = atomic_load_explicit (&c->sys->gw_ctx, memory_order_acquire);
    if (!gw)
        tp__dead_letter (c, to, m);
    else if (gw == c) /* worker 0 hosting the gateway: straight out */
        tp__tr (c)->forward (c, to, m);
    else
        s_out_append (c, gw->id, to, m);
    return 0;
}

/*  Routes m to `to`. Consumes m on success; on TP_EFULL / TP_ETIMEDOUT
    the caller keeps it; TP_ETOOBIG (a body over TP_NODE_MAX_BODY for
    another node) too. wait_ms: 0 = fail at once when full. */
int
tp__route (tp__ctx *c, tp_ref to, tp_msg *m, int wait_ms)
{
    tp_system *sys = c->sys;
    if (TP__UNLIKELY (atomic_load_explicit (&sys->stopping,
                                            memory_order_relaxed)
                      > 1)) {
        tp__msg_free (m); /* final sweep: nothing is delivered any more */
        return 0;
    }
    if (to.node != sys->node && to.node != 0
        && s_node_alias (sys, to.node) != sys->node)
        return s_route_remote (c, to, m, wait_ms);
    /* (dead letters below name `to` as the sender wrote it, so that a
       monitor made with a ref without incarnation matches its DOWN) */
    /* A live actor's generation is odd: an even one (a dead slot's, or
       0) never names an actor, whatever the slot holds now. */
    tp__slot *s = tp__slot_get (sys, to.index);
    if (TP__UNLIKELY (!s || !(to.gen & 1)
                      || atomic_load_explicit (&s->gen, memory_order_acquire)
                             != to.gen)) {
        tp__dead_letter (c, to, m);
        return 0;
    }
    uint32_t cap = atomic_load_explicit (&s->cap, memory_order_relaxed);
    if (cap && !(m->flags & (TP__MSG_SYS | TP__MSG_REPLY))) {
        uint64_t deadline = 0;
        unsigned backoff = 1;
        for (;;) {
            int32_t p = atomic_fetch_add (&s->pending, 1);
            if (p < (int32_t) cap)
                break;
            atomic_fetch_sub (&s->pending, 1);
            int home = atomic_load_explicit (&s->home, memory_order_relaxed);
            if (wait_ms == 0 || home == c->id)
                return TP_EFULL;
            uint64_t now = tp__now_ns ();
            if (!deadline)
                deadline = wait_ms < 0 ? UINT64_MAX
                                       : now + (uint64_t) wait_ms * 1000000u;
            if (now >= deadline)
                return TP_ETIMEDOUT;
            if (atomic_load_explicit (&s->gen, memory_order_acquire)
                != to.gen) {
                tp__dead_letter (c, to, m);
                return 0;
            }
            tp__flush (c);
            struct timespec ts = {0, (long) backoff * 1000};
            nanosleep (&ts, NULL);
            if (backoff < 1000)
                backoff *= 2;
        }
        m->flags |= TP__MSG_BOUNDED;
        if (TP__UNLIKELY (atomic_load (&s->gen) != to.gen)) {
            /* it ended (and its slot may hold another actor) while we
               waited: the place goes back, the message is dead */
            s_unreserve_stale (c, to, m);
            tp__dead_letter (c, to, m);
            return 0;
        }
    }
    int home = atomic_load_explicit (&s->home, memory_order_relaxed);
    if (home == c->id && c->kind != TP__CTX_EXTERNAL) {
        tp__enqueue (c, atomic_load_explicit (&s->actor, memory_order_relaxed),
                     m);
        return 0;
    }
    to.node = sys->node;
    s_out_append (c, home, to, m);
    return 0;
}

/* ------------------------------------------------------------------ */
/*  Receiving                                                          */

static void
s_deliver (tp__ctx *c, const tp__rec *r, const uint8_t *body, zmq_msg_t *zb)
{
    tp_system *sys = c->sys;
    /* Route by node first: only a record for node 0 can be a control
       record (tp__ctl), never one for an actor, local or remote. */
    if (TP__UNLIKELY (r->dst_node == 0 && r->dst_index == TP__CTL_INDEX)) {
        if ((r->aux == TP__CTL_GW_BIND || r->aux == TP__CTL_GW_CONNECT)
            && tp__tr (c)) {
            tp_msg *m = tp__msg_alloc ();
            m->tag = r->tag;
            m->from = (tp_ref){r->from_node, r->from_index, r->from_gen};
            m->corr = r->corr;
            if (r->size)
                tp__msg_append (m, body, r->size);
            tp__tr (c)->control (c, r->aux, m);
            return;
        }
        if (r->aux == TP__CTL_SHUTDOWN)
            c->shutdown = true;
        else if (r->aux == TP__CTL_SPAWN) {
            uint32_t idx = (uint32_t) (r->corr >> 32);
            uint32_t gen = (uint32_t) r->corr;
            tp__slot *s = tp__slot_get (sys, idx);
            if (s && atomic_load_explicit (&s->gen, memory_order_acquire) == gen) {
                tp_actor *a = atomic_load_explicit (&s->actor,
                                                    memory_order_relaxed);
                if (a && !(a->flags & TP__A_ADOPTED))
                    tp__actor_adopt (c, a);
            }
        }
        return;
    }
    tp_msg *m = tp__msg_alloc ();
    m->tag = r->tag;
    m->from = (tp_ref){r->from_node, r->from_index, r->from_gen};
    m->flags = r->flags;
    m->aux = r->aux;
    m->corr = r->corr;
    if (zb) {
        zmq_msg_init (&m->u.zmsg);
        zmq_msg_move (&m->u.zmsg, zb); /* zb is left empty */
        m->body = zmq_msg_data (&m->u.zmsg);
        m->size = m->cap = (uint32_t) zmq_msg_size (&m->u.zmsg);
        m->flags |= TP__MSG_ZMQ;
    }
    else if (r->size)
        tp__msg_append (m, body, r->size);
    if (r->dst_node && r->dst_node != sys->node) {
        /* for another node: only the gateway is sent these */
        tp_ref far = {r->dst_node, r->dst_index, r->dst_gen};
        const tp__transport *tr = tp__tr (c);
        if (tr)
            tr->forward (c, far, m);
        else
            tp__dead_letter (c, far, m);
        return;
    }
    tp_ref to = {sys->node, r->dst_index, r->dst_gen};
    tp__slot *s = tp__slot_get (sys, r->dst_index);
    if (!s || !(r->dst_gen & 1)
        || atomic_load_explicit (&s->gen, memory_order_acquire) != r->dst_gen
        || atomic_load_explicit (&s->home, memory_order_relaxed) != c->id) {
        /* (a bounded counter, if any, died with the actor) */
        tp__dead_letter (c, to, m);
        return;
    }
    if (c->kind == TP__CTX_EXTERNAL) {
        m->next = NULL;
        if (c->in_tail)
            c->in_tail->next = m;
        else
            c->in_head = m;
        c->in_tail = m;
        return;
    }
    tp__enqueue (c, atomic_load_explicit (&s->actor, memory_order_relaxed), m);
}

static void
s_parse_batch (tp__ctx *c, const uint8_t *p, size_t n)
{
    size_t off = 0;
    while (off + sizeof (tp__rec) <= n) {
        tp__rec r;
        memcpy (&r, p + off, sizeof r);
        off += sizeof r;
        size_t len = TP__REC_ALIGN (r.size);
        if (r.size > n - off || len > n - off) {
            assert (!"truncated inproc batch");
            return;
        }
        s_deliver (c, &r, p + off, NULL);
        off += len;
    }
}

/*  Reads frames from the PULL socket. The `inbound` counter is a hint
    that saves a system call per check, not the truth: a frame can be
    counted before ZeroMQ lets the reader see it (its pipe's activation
    command may still be on the way), and a frame sent to a previous
    incarnation of a recycled ctx id is counted but never arrives. So:
    without `force`, read only while the hint says frames are pending;
    with `force` (zmq_poll said readable) read until EAGAIN. On EAGAIN the
    hint is resynchronised; a frame that was merely invisible comes with a
    ZeroMQ wake-up of its own, which zmq_poll in s_idle catches.
    Stops after max_frames frames or once max_bytes were read (a read cut
    short leaves the rest counted in `inbound`, so it is not lost).
    Returns frames read. */
static int
s_drain (tp__ctx *c, bool force, int max_frames, size_t max_bytes)
{
    uint64_t avail = atomic_load_explicit (&c->inbound, memory_order_acquire);
    int got = 0;
    size_t bytes = 0;
    while ((force || c->consumed < avail) && got < max_frames
           && bytes < max_bytes) {
        zmq_msg_t f;
        zmq_msg_init (&f);
        int len = zmq_msg_recv (&f, c->pull, ZMQ_DONTWAIT);
        if (len < 0) {
            zmq_msg_close (&f);
            if (errno == EINTR)
                continue;
            if (c->consumed < avail)
                c->consumed = avail;
            c->pull_armed = true;
            break; /* (consumed_pub is published below) */
        }
        c->pull_armed = false;
        c->consumed++;
        got++;
        bytes += (size_t) len;
        if (zmq_msg_more (&f)) {
            tp__rec r;
            zmq_msg_t b;
            zmq_msg_init (&b);
            int ok = zmq_msg_size (&f) == sizeof r
                     && zmq_msg_recv (&b, c->pull, ZMQ_DONTWAIT) >= 0;
            if (ok) {
                bytes += zmq_msg_size (&b);
                memcpy (&r, zmq_msg_data (&f), sizeof r);
                s_deliver (c, &r, NULL, &b); /* moves the body out of b */
            }
            zmq_msg_close (&b);
        }
        else
            s_parse_batch (c, zmq_msg_data (&f), zmq_msg_size (&f));
        zmq_msg_close (&f);
        if (!force && c->consumed >= avail)
            avail = atomic_load_explicit (&c->inbound, memory_order_acquire);
    }
    atomic_store_explicit (&c->consumed_pub, c->consumed,
                           memory_order_relaxed);
    return got;
}

int
tp__ctx_drain (tp__ctx *c, bool force, int max_frames)
{
    return s_drain (c, force, max_frames, SIZE_MAX);
}

static bool
s_has_input (tp__ctx *c)
{
    return atomic_load_explicit (&c->inbound, memory_order_acquire)
           > c->consumed;
}

/*  External ctx: waits up to timeout_ms for frames and reads them into
    c->in_head. Returns frames read (0 on timeout). */
int
tp__ctx_recv_external (tp__ctx *c, int timeout_ms)
{
    bool force = false;
    if (!s_has_input (c)) {
        zmq_pollitem_t it = {c->pull, 0, ZMQ_POLLIN, 0};
        if (zmq_poll (&it, 1, timeout_ms) <= 0)
            return 0;
        force = true;
    }
    return s_drain (c, force, INT32_MAX, SIZE_MAX);
}

/*  Nothing to run: flush, spin briefly, then sleep in zmq_poll until a
    frame or the next timer. Returns true if zmq_poll reported input. */
static bool s_idle_wait (tp__ctx *c);

static bool
s_idle (tp__ctx *c)
{
    bool woke = s_idle_wait (c);
    atomic_store_explicit (&c->idle_pub, 0, memory_order_relaxed);
    return woke;
}

static bool
s_idle_wait (tp__ctx *c)
{
    tp__flush (c);
    /* Spin a little before sleeping: a reply often comes within a few
       microseconds, and waking from zmq_poll costs tens of them. Yield
       while spinning so that a peer sharing this core (more runnable
       threads than cores) gets to run instead of waiting for our slice
       to end. */
    /* (Not while hosting the gateway: replies from the network come
       tens of microseconds later, and the spin would take the CPU from
       ZeroMQ's I/O thread that brings them.) */
    int spin_us = c->sys->spin_us;
    if (spin_us > 0 && !tp__tr (c)) {
        uint64_t end = tp__now_ns () + (uint64_t) spin_us * 1000u;
        for (int i = 1;; i++) {
            if (s_has_input (c))
                return false;
#if defined(__x86_64__) || defined(__i386__)
            __builtin_ia32_pause ();
#endif
            if ((i & 15) == 0) {
                sched_yield ();
                if (tp__now_ns () >= end)
                    break;
            }
        }
    }
    uint64_t now = tp__now_ns ();
    int64_t ms = tp__timer_next_ms (c, now);
    if (ms == 0)
        return false;
    /* about to sleep: senders flush to us at once (s_dst_idle) */
    atomic_store_explicit (&c->idle_pub, 1, memory_order_relaxed);
    if (s_has_input (c))
        return false;
    const tp__transport *tr = tp__tr (c);
    if (TP__UNLIKELY (tr != NULL)) /* sleep on the transport's fds too */
        return tr->sleep (c, ms > INT32_MAX ? INT32_MAX : (long) ms);
    zmq_pollitem_t it = {c->pull, 0, ZMQ_POLLIN, 0};
    return zmq_poll (&it, 1, ms > INT32_MAX ? INT32_MAX : (long) ms) > 0;
}

/*  Stops every actor homed on c without notices (system shutdown). */
static void
s_shutdown_actors (tp__ctx *c)
{
    tp_system *sys = c->sys;
    if (c->kind == TP__CTX_THREAD) {
        if (c->thread_actor && sys->report_alive)
            tp__actor_report (c->thread_actor);
        if (c->thread_actor)
            tp__actor_terminate (c, c->thread_actor, tp__tag_shutdown, false);
        c->rq_head = c->rq_tail = NULL;
        return;
    }
    uint32_t top = atomic_load (&sys->slot_top);
    for (uint32_t i = 0; i < top; i++) {
        tp__slot *s = tp__slot_get (sys, i);
        if (!s)
            continue;
        uint32_t g = atomic_load_explicit (&s->gen, memory_order_acquire);
        if (!(g & 1)
            || atomic_load_explicit (&s->home, memory_order_relaxed) != c->id)
            continue;
        tp_actor *a = atomic_load_explicit (&s->actor, memory_order_relaxed);
        if (a && sys->report_alive)
            tp__actor_report (a);
        if (a)
            tp__actor_terminate (c, a, tp__tag_shutdown, false);
    }
    c->rq_head = c->rq_tail = NULL;
}

/*  The clock is read only every few messages: after a turn once
    c->tick_stride messages ran since the last read, and within a turn of
    several messages every a->tick_stride messages (tp__actor_run). Each
    stride is doubled while the time between reads is under
    TP__TICK_NS / 2, and cut in proportion when it is over TP__TICK_NS
    (not if the loop was idle meanwhile: that time was no work), so that
    cheap messages pay one read per TP__TICK_STRIDE_MAX and slow ones one
    read per message. A read at or after c->check_at (TP__CHECK_NS after the
    last look, or the next timer if sooner) stops the work: the turn ends
    (the actor goes back on the run queue), the turns stop at the next
    flush point (after every turn while messages are slow), the timers
    fire, and the loop comes round to the gateway and the inbox. */
bool
tp__ctx_tick (tp__ctx *c, uint32_t *stride)
{
    uint64_t now = tp__now_ns ();
    uint64_t dt = now - c->tick_last;
    uint32_t s = *stride;
    if (dt < TP__TICK_NS / 2) {
        if (s < TP__TICK_STRIDE_MAX)
            s *= 2;
    }
    else if (dt > TP__TICK_NS && !c->tick_idle) {
        uint64_t k = (uint64_t) s * TP__TICK_NS / dt;
        s = k ? (uint32_t) k : 1;
    }
    *stride = s;
    c->tick_last = now;
    c->tick_idle = false;
    if (now < c->check_at)
        return false;
    c->preempt = true;
    return true;
}

void *
tp__ctx_loop (void *arg)
{
    tp__ctx *c = arg;
    tp__tl_ctx = c;
    if (c->kind == TP__CTX_THREAD && c->thread_actor)
        tp__actor_adopt (c, c->thread_actor);
    c->tick_stride = 1;
    c->tick_at = c->processed + 1;
    c->tick_last = tp__now_ns ();
    c->check_at = c->tick_last + TP__CHECK_NS;
    c->tick_idle = false;
    c->preempt = false;
    bool woke = false;
    while (!c->shutdown) {
        /* With actors waiting to run, take only a few frames: a backlog
           then waits in ZeroMQ as compact batches instead of turning into
           message nodes faster than the actors can run them. With none,
           stop after TP__DRAIN_BYTES all the same: a sender as fast as
           this reader would otherwise keep it reading while nothing runs. */
        s_drain (c, woke, c->rq_head ? TP__DRAIN_BUSY : INT32_MAX,
                 TP__DRAIN_BYTES);
        woke = false;
        const tp__transport *tr = tp__tr (c);
        if (TP__UNLIKELY (tr != NULL))
            tr->serve (c);
        if (c->shutdown)
            break;
        unsigned every = c->tick_stride < 8 ? 0u : 7u; /* turns mask */
        for (int turns = 0; c->rq_head && turns < 256; turns++) {
            tp_actor *a = c->rq_head;
            c->rq_head = a->run_next;
            if (!c->rq_head)
                c->rq_tail = NULL;
            tp__actor_run (c, a);
            /* Flush every few turns, not after each: with many actors
               sending across threads, one ZeroMQ message then carries
               the records of several turns. A turn that leaves the run
               queue empty is flushed at once (below or in s_idle). The
               clock is looked at there too (tp__ctx_tick), every turn
               while messages are slow: the turns stop by time, not by
               count, when timers, the gateway or the inbox are due. */
            if (((unsigned) turns & every) == every || !c->rq_head
                || (c->ndirty && s_dst_idle (c, c->dirty[0]))) {
                if (c->processed >= c->tick_at && !c->preempt) {
                    tp__ctx_tick (c, &c->tick_stride);
                    c->tick_at = c->processed + c->tick_stride;
                    every = c->tick_stride < 8 ? 0u : 7u;
                }
                if (c->ndirty || c->tr_dirty)
                    tp__flush (c);
                if (TP__UNLIKELY (c->backlogged >= 0))
                    s_pace (c);
                if (c->preempt || ((turns & 15) == 15 && s_has_input (c)))
                    break;
            }
        }
        atomic_store_explicit (&c->processed_pub, c->processed,
                               memory_order_relaxed);
        if (c->kind == TP__CTX_THREAD && !c->thread_actor)
            break; /* my one actor ended */
        if (c->nheap || c->preempt) {
            c->preempt = false;
            tp__timer_fire (c, tp__now_ns ()); /* (sets c->check_at) */
        }
        if (!c->rq_head && !s_has_input (c)) {
            woke = s_idle (c);
            c->tick_idle = true;
        }
    }
    tp__flush (c);
    s_shutdown_actors (c);
    if (!tp__tr (c))
        tp__ctx_close (c); /* (the transport's shutdown still reads mine) */
    tp__msg_cache_flush ();
    tp__tl_ctx = NULL;
    atomic_store (&c->finished, 1);
    return NULL;
}

int
tp__ctx_start (tp__ctx *c)
{
    if (pthread_create (&c->thread, NULL, tp__ctx_loop, c))
        return TP_EZMQ;
    c->has_thread = true;
    return 0;
}
