/*  core/loop.c: the event loop a worker or thread ctx runs.

    One pass: read a bounded share of the inbox (core/inproc.c) and hand
    each message to tp__deliver (core/route.c) or, for the loop's own
    control records, to s_control; let the transport this ctx carries, if
    any, serve its sockets (the tp__transport interface, runtime.h); run
    actors from the run queue until the run queue is empty or the clock
    says that timers, the transport or the inbox are due (tp__ctx_tick,
    core/timer.c); fire timers; and when nothing is left to do, flush,
    spin briefly on the inbound counter and sleep in zmq_poll (or in the
    transport's sleep) until a frame or the next timer.
*/
#include "runtime.h"

#include <sched.h>

#define TP__DRAIN_BUSY 4 /* frames read per loop while actors are runnable */
#define TP__DRAIN_BYTES (256u * 1024u) /* per loop (a few thousand records) */

/* ------------------------------------------------------------------ */
/*  The inbox                                                          */

/*  A control record (tp__ctl): for the loop, or for its transport. */
static void
s_control (tp__ctx *c, tp_msg *m)
{
    tp_system *sys = c->sys;
    int cmd = m->aux;
    const tp__transport *tr = tp__tr (c);
    if ((cmd == TP__CTL_GW_BIND || cmd == TP__CTL_GW_CONNECT
         || cmd == TP__CTL_GW_GONE || cmd == TP__CTL_GW_DISCONNECT)
        && tr) {
        m->flags = 0;
        m->aux = 0;
        tr->control (c, cmd, m);
        return;
    }
    if (cmd == TP__CTL_NODEDOWN) {
        if (c->kind == TP__CTX_EXTERNAL) { /* for tp__ext_wait_reply */
            m->flags = TP__MSG_SYS;
            tp__ext_push (c, m);
            return;
        }
        tp__asks_node_down (c, (uint32_t) m->corr);
    }
    else if (cmd == TP__CTL_SHUTDOWN)
        c->shutdown = true;
    else if (cmd == TP__CTL_SPAWN) {
        atomic_fetch_sub_explicit (&c->incoming, 1, memory_order_relaxed);
        uint32_t idx = (uint32_t) (m->corr >> 32);
        uint32_t gen = (uint32_t) m->corr;
        tp__slot *s = tp__slot_get (sys, idx);
        if (s && atomic_load_explicit (&s->gen, memory_order_acquire) == gen) {
            tp_actor *a = atomic_load_explicit (&s->actor,
                                                memory_order_relaxed);
            if (a && !(a->flags & TP__A_ADOPTED))
                tp__actor_adopt (c, a);
        }
    }
    tp__msg_free (m);
}

/*  Reads frames from the PULL socket (tp__inproc_read says how) and
    hands on what they carry; stops after max_frames frames or once
    max_bytes were read. Returns frames read. */
static int
s_drain (tp__ctx *c, bool force, int max_frames, size_t max_bytes)
{
    tp__inread rd;
    tp__inproc_read_begin (c, &rd, force, max_frames, max_bytes);
    tp_ref to;
    tp_msg *m;
    while ((m = tp__inproc_read (c, &rd, &to)) != NULL) {
        /* Route by node first: only a record for node 0 can be a control
           record, never one for an actor, local or remote. */
        if (TP__UNLIKELY (to.node == 0 && to.index == TP__CTL_INDEX))
            s_control (c, m);
        else
            tp__deliver (c, to, m);
    }
    return rd.got;
}

int
tp__ctx_drain (tp__ctx *c, bool force, int max_frames)
{
    return s_drain (c, force, max_frames, SIZE_MAX);
}

/*  External ctx: waits up to timeout_ms for frames and reads them into
    c->in_head. Returns frames read (0 on timeout). */
int
tp__ctx_recv_external (tp__ctx *c, int timeout_ms)
{
    bool force = false;
    /* Spin a little first, as an idle worker does: a reply often comes
       within microseconds, and waking from zmq_poll costs tens of them
       (tp_system_opts.spin_us). */
    int spin_us = c->sys->spin_us;
    if (spin_us > 0 && timeout_ms != 0 && !tp__inproc_pending (c)) {
        uint64_t end = tp__now_ns () + (uint64_t) spin_us * 1000u;
        for (int i = 1; !tp__inproc_pending (c); i++) {
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
    if (!tp__inproc_pending (c)) {
        zmq_pollitem_t it = {c->pull, 0, ZMQ_POLLIN, 0};
        if (zmq_poll (&it, 1, timeout_ms) <= 0)
            return 0;
        force = true;
    }
    return s_drain (c, force, INT32_MAX, SIZE_MAX);
}

/* ------------------------------------------------------------------ */
/*  Idle                                                               */

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
    /* waiting (spinning) from now on: senders' loops flush to us after
       each turn, and a foreign thread's held records are taken below */
    atomic_store_explicit (&c->idle_pub, 1, memory_order_relaxed);
    tp__inproc_ext_flush (c->sys);
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
            if (tp__inproc_pending (c))
                return false;
#if defined(__x86_64__) || defined(__i386__)
            __builtin_ia32_pause ();
#endif
            if ((i & 15) == 0) {
                if (TP__UNLIKELY (atomic_load_explicit (
                        &c->sys->ext_pending, memory_order_relaxed)))
                    tp__inproc_ext_flush (c->sys); /* a foreign burst */
                sched_yield ();
                if (tp__now_ns () >= end)
                    break;
            }
        }
    }
    /* About to sleep: a foreign thread's held records for us now come at
       once (s_ext_mark, core/inproc.c); then what is held already is
       flushed. In this order (seq_cst), so that none is missed. */
    atomic_store (&c->idle_pub, 2);
    if (!tp__inproc_ext_flush (c->sys))
        return false; /* (one was busy: round again, do not sleep) */
    uint64_t now = tp__now_ns ();
    int64_t ms = tp__timer_next_ms (c, now);
    if (ms == 0)
        return false;
    if (tp__inproc_pending (c))
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
        tp__rq_clear (c);
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
    tp__rq_clear (c);
}

/*  A thread ctx whose one actor ended: senders that saw the actor alive
    may still have records for it on their way (batched until their turn
    ends, or just flushed). Read them for a while before the socket
    closes: each is a dead letter, and those that expect an answer get it
    (a monitor its DOWN noproc, a request its _fail), instead of being
    lost with the socket. The ctx stays finished-not-yet until then, so
    it is not reused meanwhile. */
#define TP__LINGER_NS (10u * 1000000u)   /* quiet time that ends it */
#define TP__LINGER_MAX_NS (200u * 1000000u)
static void
s_linger (tp__ctx *c)
{
    uint64_t start = tp__now_ns ();
    uint64_t quiet_until = start + TP__LINGER_NS;
    for (;;) {
        uint64_t now = tp__now_ns ();
        if (c->shutdown || now >= quiet_until
            || now - start >= TP__LINGER_MAX_NS)
            break;
        int got = tp__ctx_drain (c, true, INT32_MAX);
        if (c->ndirty || c->tr_dirty)
            tp__flush (c);
        if (got) {
            quiet_until = tp__now_ns () + TP__LINGER_NS;
            continue;
        }
        zmq_pollitem_t it = {c->pull, 0, ZMQ_POLLIN, 0};
        zmq_poll (&it, 1, (long) ((quiet_until - now) / 1000000u) + 1);
    }
}

/* ------------------------------------------------------------------ */
/*  The loop                                                           */


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
        if (TP__UNLIKELY (atomic_load_explicit (&c->sys->ext_pending,
                                                memory_order_relaxed)))
            tp__inproc_ext_flush (c->sys);
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
            tp_actor *a = tp__rq_pop (c);
            tp__actor_run (c, a);
            /* Flush every few turns, not after each: with many actors
               sending across threads, one ZeroMQ message then carries
               the records of several turns. A turn that leaves the run
               queue empty is flushed at once (below or in s_idle). The
               clock is looked at there too (tp__ctx_tick), every turn
               while messages are slow: the turns stop by time, not by
               count, when timers, the gateway or the inbox are due. */
            if (((unsigned) turns & every) == every || !c->rq_head
                || (c->ndirty && tp__inproc_dst_idle (c, c->dirty[0]))) {
                if (c->processed >= c->tick_at && !c->preempt) {
                    tp__ctx_tick (c, &c->tick_stride);
                    c->tick_at = c->processed + c->tick_stride;
                    every = c->tick_stride < 8 ? 0u : 7u;
                }
                if (c->ndirty || c->tr_dirty)
                    tp__flush (c);
                if (TP__UNLIKELY (c->backlogged >= 0))
                    tp__inproc_pace (c);
                if (c->preempt || ((turns & 15) == 15 && tp__inproc_pending (c)))
                    break;
            }
        }
        atomic_store_explicit (&c->processed_pub, c->processed,
                               memory_order_relaxed);
        if (c->kind == TP__CTX_THREAD && !c->thread_actor) {
            tp__flush (c);
            s_linger (c);
            break; /* my one actor ended */
        }
        if (c->nheap || c->preempt) {
            c->preempt = false;
            tp__timer_fire (c, tp__now_ns ()); /* (sets c->check_at) */
        }
        if (!c->rq_head && !tp__inproc_pending (c)) {
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
        return TP_ESYS;
    c->has_thread = true;
    return 0;
}

