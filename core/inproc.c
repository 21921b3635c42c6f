/*  core/inproc.c: the transport between the ctxs of one process.

    A ctx owns one ZeroMQ PULL socket bound to inproc://tp<sys>.<id>.<gen>
    (core/ctx.c binds it). A message for an actor on another ctx is
    appended as a record to a per-destination batch, and every batch is
    sent as ONE ZeroMQ message when the sending actor's turn ends (or the
    batch reaches TP__FLUSH_BYTES). Bodies of TP__ZC_MIN bytes or more are
    handed to ZeroMQ without a copy (zmq_msg_init_data with a free
    function) as a second frame.

    ZeroMQ's inproc pipe only signals the reader when the reader sleeps,
    so a busy ctx is never woken by a system call. To avoid a poll()
    system call per check, each ctx counts frames sent to it (`inbound`,
    incremented by senders after zmq_send) and reads its socket only when
    the count moved.

    This file knows records and sockets, not actors: what a record is for
    (an actor, another node, the loop itself) is decided by its readers
    (core/loop.c, core/route.c). It calls nothing above it but the
    transport interface (tp__flush sends a transport's batches too).
*/
#include "runtime.h"

void
tp__endpoint (tp_system *sys, int id, uint32_t gen, char *buf, size_t cap)
{
    snprintf (buf, cap, "inproc://tp%" PRIu64 ".%d.%" PRIu32, sys->id, id,
              gen);
}

#include <sched.h>

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
#define TP__REC_ALIGN(n) (((n) + 7u) & ~(size_t) 7u)

/* ------------------------------------------------------------------ */
/*  Sending                                                            */

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
        tp__dead_count (c->sys, ob->records, TP__DEAD_DROPPED); /* (teardown) */
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
bool
tp__inproc_dst_idle (tp__ctx *c, int dst)
{
    return atomic_load_explicit (&c->sys->ctxs[dst]->idle_pub,
                                 memory_order_relaxed);
}

/*  Yields, bounded, until ctx dst has read half of what c sent it. */
static void
s_pace_to (tp__ctx *c, int dst)
{
    tp__ctx *d = c->sys->ctxs[dst];
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

/*  Flow control between ctxs. A sender that runs faster than its receiver
    would pile frames up in ZeroMQ without bound (and the allocator's page
    faults then slow everybody down). When a destination has more than
    TP__BACKLOG_MAX unread frames, the sending ctx pauses after the turn,
    yielding the CPU, until the backlog halves or a bounded time passes.
    The bound keeps two ctxs flooding each other from waiting forever. */
void
tp__inproc_pace (tp__ctx *c)
{
    int dst = c->backlogged;
    c->backlogged = -1;
    s_pace_to (c, dst);
}


/*  Sends every batch c holds. */
static void
s_flush_all (tp__ctx *c)
{
    for (int i = 0; i < c->ndirty; i++) {
        s_flush_one (c, c->dirty[i]);
        c->out[c->dirty[i]].dirty = false;
        c->out[c->dirty[i]].woke = false;
    }
    c->ndirty = 0;
}

void
tp__flush (tp__ctx *c)
{
    if (c->tr_dirty)
        tp__tr (c)->flush (c);
    if (TP__UNLIKELY (c->kind == TP__CTX_EXTERNAL)) {
        pthread_mutex_lock (&c->out_lock);
        s_flush_all (c);
        atomic_store_explicit (&c->ext_deferred, 0, memory_order_relaxed);
        int bl = c->backlogged; /* (workers set it too, under the lock) */
        c->backlogged = -1;
        pthread_mutex_unlock (&c->out_lock);
        if (bl >= 0)
            s_pace_to (c, bl); /* a foreign thread flooding a ctx waits */
        return;
    }
    s_flush_all (c);
}

/*  Foreign threads (external ctxs) have no turns whose end would flush
    them. Their first record for a destination goes at once (as in a
    turn); the next ones are held in the batch and marked deferred, and
    any worker flushes them at its next loop pass or before it waits: a
    burst from main leaves in a few frames, and no record waits for the
    sending thread's next call. */
bool
tp__inproc_ext_flush (tp_system *sys)
{
    if (!atomic_exchange (&sys->ext_pending, 0))
        return true;
    bool all = true;
    int top = atomic_load_explicit (&sys->nctx, memory_order_acquire);
    for (int i = 0; i < top; i++) {
        tp__ctx *c = sys->ctxs[i];
        if (!c || !atomic_load_explicit (&c->ext_deferred,
                                          memory_order_relaxed))
            continue;
        if (pthread_mutex_trylock (&c->out_lock) != 0) {
            /* its owner is at it (a put or a flush): never block on it
               (a futex sleep would cost a wake-up); look again soon */
            atomic_store (&sys->ext_pending, 1);
            all = false;
            continue;
        }
        if (c->kind == TP__CTX_EXTERNAL && atomic_load (&c->alive))
            s_flush_all (c);
        atomic_store_explicit (&c->ext_deferred, 0, memory_order_relaxed);
        pthread_mutex_unlock (&c->out_lock);
    }
    return all;
}

/*  After external ctx c appended a record for dst (under out_lock):
    records wait, so say so (the first time since the last flush, with
    seq_cst stores), and send them now if dst sleeps: a worker stores
    idle_pub = 2 before it reads ext_pending for the last time and sleeps
    (s_idle_wait), the flag is stored before idle_pub is read here, so one
    of the two sees the other and no record waits for a sleeping worker.
    A spinning or busy worker flushes them itself (tp__inproc_ext_flush).
    Records for the gateway go at once: it accepts what arrives and
    judges a peer full only then, so its senders must not run ahead. */
static inline void
s_ext_mark (tp__ctx *c, int dst)
{
    tp_system *sys = c->sys;
    if (c->out[dst].len == 0)
        return;
    tp__ctx *d = sys->ctxs[dst];
    if (d == atomic_load_explicit (&sys->gw_ctx, memory_order_relaxed)) {
        s_flush_one (c, dst);
        return;
    }
    int idle;
    if (!atomic_load_explicit (&c->ext_deferred, memory_order_relaxed)) {
        atomic_store (&c->ext_deferred, 1);
        atomic_store (&sys->ext_pending, 1);
        idle = atomic_load (&d->idle_pub);
    }
    else
        idle = atomic_load_explicit (&d->idle_pub, memory_order_relaxed);
    tp__outbuf *ob = &c->out[dst];
    if (idle == 2 && !ob->woke) {
        /* wake it once; what comes while it wakes, it takes itself */
        ob->woke = true;
        s_flush_one (c, dst);
    }
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
        tp__dead_count (c->sys, 1, TP__DEAD_DROPPED);
        return;
    }
    TP__TSAN_RELEASE (data);
    zmq_msg_init_data (&body, data, size, s_zc_free, NULL);
    if (zmq_msg_send (&body, s, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close (&body);
        tp__dead_count (c->sys, 1, TP__DEAD_DROPPED);
        return;
    }
    atomic_fetch_add_explicit (&c->sys->ctxs[dst]->inbound, 1,
                               memory_order_release);
}

static void
s_put (tp__ctx *c, int dst, tp_ref to, tp_msg *m)
{
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
    else if (!ob->woke && c->kind != TP__CTX_EXTERNAL) {
        /* The first record of a turn for each destination goes now, not
           when the sender's turn ends, however long the rest of that turn
           is and whether or not the destination was busy when it was sent
           (no head-of-line delay). The next ones wait for the turn's end
           (or tp_flush), in one batch: one frame more per destination per
           turn at most. */
        ob->woke = true;
        s_flush_one (c, dst);
    }
}

void
tp__inproc_put (tp__ctx *c, int dst, tp_ref to, tp_msg *m)
{
    if (TP__LIKELY (c->kind != TP__CTX_EXTERNAL)) {
        s_put (c, dst, to, m);
        return;
    }
    pthread_mutex_lock (&c->out_lock);
    s_put (c, dst, to, m);
    s_ext_mark (c, dst);
    int bl = c->backlogged; /* (workers set it too, under the lock) */
    c->backlogged = -1;
    pthread_mutex_unlock (&c->out_lock);
    if (bl >= 0)
        s_pace_to (c, bl); /* a foreign thread flooding a ctx waits here */
}

/*  Appends control record m for ctx `to` and sends it at once. */
static void
s_ctl_send (tp__ctx *from, tp__ctx *to, tp_msg *m)
{
    tp_ref dst = {0, TP__CTL_INDEX, 0};
    bool ext = from->kind == TP__CTX_EXTERNAL;
    if (ext)
        pthread_mutex_lock (&from->out_lock);
    s_put (from, to->id, dst, m);
    s_flush_one (from, to->id);
    if (ext)
        pthread_mutex_unlock (&from->out_lock);
}

/*  Sends a control record carrying msg (consumed: its sender, request id
    and body travel with it) to ctx `to`. */
void
tp__ctl_msg (tp__ctx *from, tp__ctx *to, int cmd, tp_msg *m)
{
    m->aux = (uint16_t) cmd;
    if (!m->tag)
        m->tag = 1;
    s_ctl_send (from, to, m);
}

void
tp__ctl (tp__ctx *from, tp__ctx *to, int cmd, uint64_t arg)
{
    tp_msg *m = tp__msg_alloc ();
    m->aux = (uint16_t) cmd;
    m->corr = arg;
    m->tag = 1;
    s_ctl_send (from, to, m);
}

/* ------------------------------------------------------------------ */
/*  Receiving                                                          */

/*  The message a record carries (body copied, or moved out of zb). */
static tp_msg *
s_rec_msg (const tp__rec *r, const uint8_t *body, zmq_msg_t *zb, tp_ref *to)
{
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
    *to = (tp_ref){r->dst_node, r->dst_index, r->dst_gen};
    return m;
}

/*  The `inbound` counter is a hint that saves a system call per check,
    not the truth: a frame can be counted before ZeroMQ lets the reader
    see it (its pipe's activation command may still be on the way), and a
    frame sent to a previous incarnation of a recycled ctx id is counted
    but never arrives. So: without `force`, read only while the hint says
    frames are pending; with `force` (zmq_poll said readable) read until
    EAGAIN. On EAGAIN the hint is resynchronised; a frame that was merely
    invisible comes with a ZeroMQ wake-up of its own, which the loop's
    zmq_poll catches. A read cut short by max_frames or max_bytes leaves
    the rest counted in `inbound`, so it is not lost. */
void
tp__inproc_read_begin (tp__ctx *c, tp__inread *rd, bool force,
                       int max_frames, size_t max_bytes)
{
    rd->force = force;
    rd->max_frames = max_frames;
    rd->max_bytes = max_bytes;
    rd->got = 0;
    rd->bytes = 0;
    rd->avail = atomic_load_explicit (&c->inbound, memory_order_acquire);
    rd->open = false;
    rd->off = 0;
}

/*  After a frame: while reading by the hint, look at it again. */
static void
s_frame_done (tp__ctx *c, tp__inread *rd)
{
    if (!rd->force && c->consumed >= rd->avail)
        rd->avail = atomic_load_explicit (&c->inbound, memory_order_acquire);
}

tp_msg *
tp__inproc_read (tp__ctx *c, tp__inread *rd, tp_ref *to)
{
    for (;;) {
        if (rd->open) { /* the records of a batch frame, one by one */
            const uint8_t *p = zmq_msg_data (&rd->frame);
            size_t n = zmq_msg_size (&rd->frame);
            if (rd->off + sizeof (tp__rec) <= n) {
                tp__rec r;
                memcpy (&r, p + rd->off, sizeof r);
                size_t at = rd->off + sizeof r;
                size_t len = TP__REC_ALIGN (r.size);
                if (r.size <= n - at && len <= n - at) {
                    rd->off = at + len;
                    return s_rec_msg (&r, p + at, NULL, to);
                }
                assert (!"truncated inproc batch");
            }
            zmq_msg_close (&rd->frame);
            rd->open = false;
            s_frame_done (c, rd);
        }
        if (!((rd->force || c->consumed < rd->avail)
              && rd->got < rd->max_frames && rd->bytes < rd->max_bytes))
            break;
        zmq_msg_init (&rd->frame);
        int len = zmq_msg_recv (&rd->frame, c->pull, ZMQ_DONTWAIT);
        if (len < 0) {
            zmq_msg_close (&rd->frame);
            if (errno == EINTR)
                continue;
            if (c->consumed < rd->avail)
                c->consumed = rd->avail;
            c->pull_armed = true;
            break;
        }
        c->pull_armed = false;
        c->consumed++;
        rd->got++;
        rd->bytes += (size_t) len;
        if (!zmq_msg_more (&rd->frame)) {
            rd->open = true; /* a batch */
            rd->off = 0;
            continue;
        }
        /* [record][body]: a big body, handed over without a copy */
        tp__rec r;
        zmq_msg_t b;
        zmq_msg_init (&b);
        tp_msg *m = NULL;
        if (zmq_msg_size (&rd->frame) == sizeof r
            && zmq_msg_recv (&b, c->pull, ZMQ_DONTWAIT) >= 0) {
            rd->bytes += zmq_msg_size (&b);
            memcpy (&r, zmq_msg_data (&rd->frame), sizeof r);
            TP__TSAN_ACQUIRE (zmq_msg_data (&b));
            m = s_rec_msg (&r, NULL, &b, to); /* moves the body out of b */
        }
        zmq_msg_close (&b);
        zmq_msg_close (&rd->frame);
        s_frame_done (c, rd);
        if (m)
            return m;
    }
    atomic_store_explicit (&c->consumed_pub, c->consumed,
                           memory_order_relaxed);
    return NULL;
}
