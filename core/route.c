/*  core/route.c: where a message goes, and what happens when it cannot.

    Every message the runtime moves passes tp__route on its way out and
    tp__deliver on its way in. A message for
    - an actor of this ctx goes on its mailbox (tp__enqueue: no copy, no
      system call);
    - an actor of another ctx goes in a batch to that ctx (core/inproc.c);
    - an actor of another node goes to the gateway (core/gateway.c), over
      inproc or, on the ctx that carries it, straight through its
      transport interface;
    - a dead, unknown or earlier-life actor is a dead letter (tp__dead_letter:
      counted once, reported to the dead-letter watcher; a runtime message
      gets the answer the protocol promises instead, e.g. a DOWN noproc,
      and a request gets a _fail reply, so that its ask ends at once with
      TP_EDOWN);
    - a full bounded mailbox or a full peer queue makes the sender wait or
      fail with TP_EFULL, as it asked.
    Dead letters are counted in one place only, tp__dead_count (runtime.h).
*/
#include "runtime.h"

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
    /* (the depth others read is published when the actor is scheduled,
       after each turn, and as it passes each power of two from 64 on, so
       that a mailbox filling during a long turn shows within 2x: a store
       per message would bounce the slot's cache line between the workers
       that route to it) */
    if (!(a->flags & TP__A_QUEUED)) {
        atomic_store_explicit (&a->slot->queued, a->queued,
                               memory_order_relaxed);
        a->flags |= TP__A_QUEUED;
        tp__rq_push (c, a);
    }
    else if (TP__UNLIKELY ((a->queued & (a->queued - 1)) == 0
                           && a->queued >= 64))
        atomic_store_explicit (&a->slot->queued, a->queued,
                               memory_order_relaxed);
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
        tp__inproc_put (c, gw->id, to, m);
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
    if (TP__UNLIKELY (m->flags & TP__MSG_BOUNDED))
        s_unreserve_stale (c, to, m); /* (it may have ended meanwhile) */
    tp__inproc_put (c, home, to, m);
    return 0;
}

/*  m has arrived on c (from another ctx, a timer, the network) for `to`,
    an actor of this node or, on the ctx that carries the gateway, of
    another node. Consumes m. */
void
tp__ext_push (tp__ctx *c, tp_msg *m)
{
    m->next = NULL;
    if (c->in_tail)
        c->in_tail->next = m;
    else
        c->in_head = m;
    c->in_tail = m;
}

void
tp__deliver (tp__ctx *c, tp_ref to, tp_msg *m)
{
    tp_system *sys = c->sys;
    if (to.node && to.node != sys->node) {
        /* for another node: only the gateway's ctx is sent these */
        const tp__transport *tr = tp__tr (c);
        if (tr)
            tr->forward (c, to, m);
        else
            tp__dead_letter (c, to, m);
        return;
    }
    to.node = sys->node;
    tp__slot *s = tp__slot_get (sys, to.index);
    if (!s || !(to.gen & 1)
        || atomic_load_explicit (&s->gen, memory_order_acquire) != to.gen
        || atomic_load_explicit (&s->home, memory_order_relaxed) != c->id) {
        /* (a bounded counter, if any, died with the actor) */
        tp__dead_letter (c, to, m);
        return;
    }
    if (c->kind == TP__CTX_EXTERNAL) {
        tp__ext_push (c, m);
        return;
    }
    tp__enqueue (c, atomic_load_explicit (&s->actor, memory_order_relaxed), m);
}

/* ------------------------------------------------------------------ */
/*  Runtime messages                                                   */

void
tp__sys_send (tp__ctx *c, tp_ref from, tp_ref to, int aux, uint64_t corr,
              const char *fmt, ...)
{
    tp_msg *m = tp__msg_alloc ();
    m->tag = tp__tag_sys;
    m->from = from;
    m->flags = TP__MSG_SYS;
    m->aux = (uint16_t) aux;
    m->corr = corr;
    if (fmt) {
        va_list ap;
        va_start (ap, fmt);
        int rc = tp_msg_vpack (m, fmt, ap);
        va_end (ap);
        assert (rc == 0);
        (void) rc;
    }
    tp__route (c, to, m, 0); /* system messages ignore bounds: cannot fail */
}

/*  A runtime message could not be delivered because `to` is dead:
    answer for the dead actor where the protocol expects an answer. */
void
tp__sys_undeliverable (tp__ctx *c, tp_ref to, tp_msg *m)
{
    if (m->aux == TP__SYS_MONITOR)
        tp__sys_send (c, to, m->from, TP__SYS_DOWN, m->corr, "rt", to,
                    tp__tag_noproc);
    else if (m->aux == TP__SYS_LINK)
        tp__sys_send (c, to, m->from, TP__SYS_EXIT, 0, "t", tp__tag_noproc);
    tp__msg_free (m);
}

/* ------------------------------------------------------------------ */
/*  Dead letters                                                       */

void
tp__dead_note (tp__ctx *c, tp_ref to, tp_tag_t tag, tp_tag_t why)
{
    tp_system *sys = c->sys;
    tp__dead_count (sys, 1,
                    why == tp__tag_noconnect ? TP__DEAD_NOCONNECT
                    : why == tp__tag_killed || why == tp__tag_shutdown
                        ? TP__DEAD_DROPPED
                        : TP__DEAD_NOPROC);
    if (!atomic_load_explicit (&sys->dl_on, memory_order_relaxed)
        || tag == tp__tag_dead)
        return; /* (notices about notices are never sent) */
    pthread_mutex_lock (&sys->dl_lock);
    tp_ref w = sys->dl_watcher;
    pthread_mutex_unlock (&sys->dl_lock);
    if (tp_ref_is_nil (w) || tp_ref_eq (w, to))
        return;
    /* (w is local, so this never re-enters the gateway that calls us) */
    tp_msg *n = tp__msg_alloc ();
    n->tag = tp__tag_dead;
    tp_msg_pack (n, "rt", to, tag);
    if (tp__route (c, w, n, 0))
        tp__msg_free (n);
}

void
tp__fail_request (tp__ctx *c, tp_ref to, tp_ref asker, uint64_t corr,
                  tp_tag_t reason)
{
    if (!asker.node || !corr) /* (a client of another node may ask from (0, 0)) */
        return;
    tp_msg *r = tp__msg_alloc ();
    r->tag = tp__tag_fail;
    r->from = to;
    r->corr = corr;
    r->flags = TP__MSG_REPLY;
    tp_msg_pack (r, "rt", to, reason ? reason : tp__tag_noproc);
    if (tp__route (c, asker, r, 0))
        tp__msg_free (r); /* (replies ignore bounds: only a bad ref) */
}

int
tp__fail_status (const tp_msg *m)
{
    tp_tag_t why = 0;
    if (tp_unpack_raw (m->body, m->size, "*t", &why) == 0
        && why == tp__tag_limit)
        return TP_ELIMIT; /* its node refused the request (peer_max_asks) */
    return TP_EDOWN;
}

void
tp__dead_letter_why (tp__ctx *c, tp_ref to, tp_msg *m, tp_tag_t reason)
{
    if (m->flags & TP__MSG_SYS)
        tp__sys_undeliverable (c, to, m);
    else {
        tp__dead_note (c, to, m->tag, reason);
        if (m->flags & TP__MSG_REQUEST) /* the asker hears it at once */
            tp__fail_request (c, to, m->from, m->corr, reason);
        tp__msg_free (m);
    }
}

void
tp__dead_letter (tp__ctx *c, tp_ref to, tp_msg *m)
{
    tp__dead_letter_why (c, to, m, tp__tag_noproc);
}

int
tp_system_watch_dead_letters (tp_system *sys, tp_ref ref)
{
    if (!tp_ref_is_nil (ref) && ref.node != sys->node)
        return TP_EINVAL; /* the watcher is an actor of this system */
    pthread_mutex_lock (&sys->dl_lock);
    sys->dl_watcher = ref;
    atomic_store (&sys->dl_on, !tp_ref_is_nil (ref));
    pthread_mutex_unlock (&sys->dl_lock);
    return 0;
}
