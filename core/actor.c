/*  core/actor.c: actor lifecycle and the calls actors make.

    Everything here runs on the actor's home ctx thread, except tp_spawn,
    which may run anywhere and hands the new actor to its ctx.
*/
#include "runtime.h"

/* ------------------------------------------------------------------ */
/*  Lifecycle                                                          */


tp__peer *
tp__peer_add (tp__peer **list, tp_ref ref, int64_t id)
{
    tp__peer *p = tp__malloc (sizeof *p);
    p->ref = ref;
    p->id = id;
    p->next = *list;
    *list = p;
    return p;
}

bool
tp__peer_remove (tp__peer **list, tp_ref ref, int64_t id, bool match_ref)
{
    for (tp__peer **pp = list; *pp; pp = &(*pp)->next) {
        tp__peer *p = *pp;
        if ((!match_ref || tp_ref_eq (p->ref, ref)) && (!id || p->id == id)) {
            *pp = p->next;
            free (p);
            return true;
        }
    }
    return false;
}

static bool
s_peer_has (tp__peer *list, tp_ref ref)
{
    for (; list; list = list->next)
        if (tp_ref_eq (list->ref, ref))
            return true;
    return false;
}

static void
s_peers_free (tp__peer **list)
{
    while (*list) {
        tp__peer *p = *list;
        *list = p->next;
        free (p);
    }
}


/*  a's pending ask with request id corr, or NULL (a reply or timeout
    for an ask that is over, or a forged id). O(1): the ctx maps ids. */
static tp__ask *
s_ask_find (tp__ctx *c, tp_actor *a, uint64_t corr)
{
    tp__ask *k = tp__idmap_get (&c->asks, corr);
    return k && k->owner == a ? k : NULL;
}

void
tp__asks_node_down (tp__ctx *c, uint32_t node)
{
    const tp__idmap *m = &c->asks;
    for (size_t i = 0; i < m->cap; i++) {
        tp__ask *k = m->ids[i] ? m->vals[i] : NULL;
        if (!k || !k->to.node
            || (k->to.node != node && !tp__node_same_name (k->to.node, node)))
            continue;
        /* (a reply, in order with the rest of the owner's mailbox: the
           continuation runs in the owner's turn, not here) */
        tp_msg *r = tp__msg_alloc ();
        r->tag = tp__tag_fail;
        r->from = k->to;
        r->corr = k->corr;
        r->flags = TP__MSG_REPLY;
        tp_msg_pack (r, "rt", k->to, tp__tag_noconnect);
        tp__enqueue (c, k->owner, r);
    }
    /* a thread actor blocked in tp_call to that node */
    if (c->call_corr && c->thread_actor && c->call_to.node
        && (c->call_to.node == node
            || tp__node_same_name (c->call_to.node, node))) {
        tp_msg *r = tp__msg_alloc ();
        r->tag = tp__tag_fail;
        r->from = c->call_to;
        r->corr = c->call_corr;
        r->flags = TP__MSG_REPLY;
        tp_msg_pack (r, "rt", c->call_to, tp__tag_noconnect);
        tp__enqueue (c, c->thread_actor, r);
    }
}

/*  Takes k out of its ctx's map and its actor's list; returns k. */
static tp__ask *
s_ask_take (tp__ctx *c, tp__ask *k)
{
    tp__idmap_del (&c->asks, k->corr);
    if (k->prev)
        k->prev->next = k->next;
    else
        k->owner->asks = k->next;
    if (k->next)
        k->next->prev = k->prev;
    return k;
}

/* ------------------------------------------------------------------ */
/*  Requests owed: so that an asker hears at once when we end           */

static void
s_owed_unlink (tp_actor *a, tp__owed *o)
{
    if (o->prev)
        o->prev->next = o->next;
    else
        a->owed_head = o->next;
    if (o->next)
        o->next->prev = o->prev;
    else
        a->owed_tail = o->prev;
    a->nowed--;
    free (o);
}

/*  a received request corr of asker and did not answer it in that turn. */
static void
s_owe (tp_actor *a, tp_ref asker, uint64_t corr)
{
    if (a->nowed >= TP__OWED_MAX)
        s_owed_unlink (a, a->owed_head);
    tp__owed *o = tp__malloc (sizeof *o);
    o->asker = asker;
    o->corr = corr;
    o->next = NULL;
    o->prev = a->owed_tail;
    if (a->owed_tail)
        a->owed_tail->next = o;
    else
        a->owed_head = o;
    a->owed_tail = o;
    a->nowed++;
}

/*  a answers (or hands on) request req: it no longer owes it. Requests
    are mostly answered in the order they came, so the search starts with
    the oldest. */
static void
s_answered (tp_actor *a, const tp_msg *req)
{
    const tp_msg *cur = a->cur_req;
    if (cur && cur->corr == req->corr && tp_ref_eq (cur->from, req->from)) {
        a->cur_done = true;
        return;
    }
    for (tp__owed *o = a->owed_head; o; o = o->next)
        if (o->corr == req->corr && tp_ref_eq (o->asker, req->from)) {
            s_owed_unlink (a, o);
            return;
        }
}

/*  Runs receive on request m; what it leaves unanswered is owed. */
static __attribute__ ((noinline)) void
s_run_request (tp_actor *a, tp_msg *m)
{
    a->cur_req = m;
    a->cur_done = false;
    a->b->receive (a, m);
    if (!a->cur_done)
        s_owe (a, m->from, m->corr);
    a->cur_req = NULL;
}

void
tp__actor_terminate (tp__ctx *c, tp_actor *a, tp_tag_t reason, bool notify)
{
    tp_system *sys = c->sys;
    tp_actor *prev = tp__tl_actor;
    a->flags |= TP__A_EXITING;
    tp__tl_actor = a;
    while (a->asks) {
        tp__ask *k = s_ask_take (c, a->asks);
        tp__timer_cancel (c, a, k->timer);
        k->cont (a, TP_ECANCELED, NULL, k->arg);
        free (k);
    }
    if (a->b->terminate)
        a->b->terminate (a, reason);
    tp__tl_actor = prev;
    if (a->flags & TP__A_NODEMON)
        tp__node_unmonitor (sys, a->ref);
    a->flags |= TP__A_DEAD;
    tp__timer_cancel_all (c, a);

    /* From here on the ref is dead: new sends become dead letters. */
    tp__slot *s = a->slot;
    atomic_store_explicit (&s->actor, NULL, memory_order_relaxed);
    atomic_fetch_add_explicit (&s->gen, 1, memory_order_seq_cst);
    if (atomic_load (&s->names)) { /* (no walk of the registry otherwise) */
        tp__registry_forget (sys, a->ref);
        atomic_store (&s->names, 0);
    }

    if (notify) {
        for (tp__peer *p = a->watchers; p; p = p->next)
            tp__sys_send (c, a->ref, p->ref, TP__SYS_DOWN, (uint64_t) p->id,
                        "rt", a->ref, reason);
        for (tp__peer *p = a->links; p; p = p->next)
            tp__sys_send (c, a->ref, p->ref, TP__SYS_EXIT, 0, "t", reason);
        /* the actors I watched drop their watcher entries for me (a
           remote one would keep it until its node or it ends) */
        for (tp__peer *p = a->monitors; p; p = p->next)
            tp__sys_send (c, a->ref, p->ref, TP__SYS_DEMONITOR,
                          (uint64_t) p->id, NULL);
    }
    s_peers_free (&a->watchers);
    s_peers_free (&a->links);
    s_peers_free (&a->monitors);
    /* Whoever waits for an answer from me hears why there will be none:
       the requests I kept, then those still in my mailbox. */
    while (a->owed_head) {
        if (notify)
            tp__fail_request (c, a->ref, a->owed_head->asker,
                              a->owed_head->corr, reason);
        s_owed_unlink (a, a->owed_head);
    }
    while (a->mb_head) {
        tp_msg *m = a->mb_head;
        a->mb_head = m->next;
        if (notify)
            tp__dead_letter_why (c, a->ref, m, reason);
        else
            tp__msg_free (m);
    }
    a->mb_tail = NULL;
    atomic_store_explicit (&s->queued, 0, memory_order_relaxed);
    atomic_store_explicit (&s->pending, 0, memory_order_relaxed);
    atomic_store_explicit (&s->cap, 0, memory_order_relaxed);
    if (c->kind == TP__CTX_THREAD && c->thread_actor == a)
        c->thread_actor = NULL;
    atomic_fetch_sub_explicit (&c->nactors, 1, memory_order_relaxed);
    tp__slot_release (sys, a->ref.index);
    if (a->flags & TP__A_THREAD)
        atomic_fetch_sub_explicit (&sys->live_thread, 1, memory_order_relaxed);
    if (a->init_wait) /* (its init failed, or never ran: it has ended) */
        tp__init_done (a->init_wait, false);
    free (a);
    tp__live_dec (sys);
}

static void
s_exit (tp_actor *a, tp_tag_t reason)
{
    if (a->flags & TP__A_EXITING)
        return;
    a->flags |= TP__A_EXITING;
    a->reason = reason ? reason : tp__tag_normal;
}

static void
s_deliver_user (tp_actor *a, tp_tag_t tag, const char *fmt, ...)
{
    tp_msg *m = tp__msg_alloc ();
    m->tag = tag;
    va_list ap;
    va_start (ap, fmt);
    int rc = tp_msg_vpack (m, fmt, ap);
    va_end (ap);
    assert (rc == 0);
    (void) rc;
    a->b->receive (a, m);
    tp__msg_free (m);
}

static void
s_handle_sys (tp__ctx *c, tp_actor *a, tp_msg *m)
{
    tp_ref who;
    tp_tag_t reason;
    switch (m->aux) {
    case TP__SYS_MONITOR:
        tp__peer_add (&a->watchers, m->from, (int64_t) m->corr);
        break;
    case TP__SYS_DEMONITOR:
        tp__peer_remove (&a->watchers, m->from, (int64_t) m->corr, true);
        break;
    case TP__SYS_DOWN: /* only for a monitor of ours, by id and target */
        if (m->corr != 0
            && tp__peer_remove (&a->monitors, m->from, (int64_t) m->corr, true)
            && tp_msg_unpack (m, "rt", &who, &reason) == 0)
            s_deliver_user (a, tp__tag_down, "Urt", m->corr, who, reason);
        break;
    case TP__SYS_LINK:
        if (!s_peer_has (a->links, m->from))
            tp__peer_add (&a->links, m->from, 0);
        break;
    case TP__SYS_UNLINK:
        tp__peer_remove (&a->links, m->from, 0, true);
        break;
    case TP__SYS_EXIT:
        if (tp_msg_unpack (m, "t", &reason) != 0)
            break;
        if (!tp__peer_remove (&a->links, m->from, 0, true))
            break; /* unlinked meanwhile */
        if ((a->flags & TP__A_TRAP) && reason != tp__tag_killed)
            s_deliver_user (a, tp__tag_exit, "rt", m->from, reason);
        else if (reason != tp__tag_normal)
            s_exit (a, reason);
        break;
    case TP__SYS_STOP:
        if (tp_msg_unpack (m, "t", &reason) == 0)
            s_exit (a, reason);
        break;
    case TP__SYS_ASK_TIMEOUT: {
        tp__ask *k = s_ask_find (c, a, m->corr);
        if (k) {
            s_ask_take (c, k);
            atomic_fetch_add_explicit (&c->sys->ask_timeouts, 1,
                                       memory_order_relaxed);
            k->cont (a, TP_ETIMEDOUT, NULL, k->arg);
            free (k);
        }
        break;
    }
    case TP__SYS_TICK:
        if (tp__timer_active (a, (int64_t) m->corr)) {
            m->flags &= (uint16_t) ~TP__MSG_SYS;
            m->corr = 0;
            a->b->receive (a, m);
        }
        break;
    default:
        break;
    }
    (void) c;
}

static void
s_handle_reply (tp__ctx *c, tp_actor *a, tp_msg *m)
{
    tp__ask *k = s_ask_find (c, a, m->corr);
    if (!k) { /* late reply to an ask that timed out: dropped */
        atomic_fetch_add_explicit (&c->sys->late_replies, 1,
                                   memory_order_relaxed);
        return;
    }
    s_ask_take (c, k);
    tp__timer_cancel (c, a, k->timer);
    m->flags &= (uint16_t) ~TP__MSG_REPLY;
    /* _fail [r actor, t reason]: the actor asked ended first, or its node
       went down (tp__fail_request) */
    k->cont (a, TP__UNLIKELY (m->tag == tp__tag_fail) ? tp__fail_status (m) : 0,
             m, k->arg);
    free (k);
}

/*  Runs the message at the head of a's mailbox. */
static inline void
s_run_one (tp__ctx *c, tp_actor *a, tp__slot *s)
{
    tp_msg *m = a->mb_head;
    a->mb_head = m->next;
    if (!a->mb_head)
        a->mb_tail = NULL;
    a->queued--;
    if (m->flags & TP__MSG_BOUNDED)
        atomic_fetch_sub_explicit (&s->pending, 1, memory_order_release);
    if (TP__LIKELY (!(m->flags & (TP__MSG_SYS | TP__MSG_REPLY
                                  | TP__MSG_REQUEST))))
        a->b->receive (a, m);
    else if (m->flags & TP__MSG_REQUEST)
        s_run_request (a, m);
    else if (m->flags & TP__MSG_SYS)
        s_handle_sys (c, a, m);
    else
        s_handle_reply (c, a, m);
    tp__msg_free (m);
}

/*  A turn of several messages: reads the clock every a->tick_stride
    messages (adapted to how long this actor's messages take) and ends
    early when the loop's checks are due (tp__ctx_tick), so that a large
    budget of slow messages does not hold up timers, the gateway or the
    inbox. Returns the number of messages run. */
static __attribute__ ((noinline)) int
s_run_long (tp__ctx *c, tp_actor *a, tp__slot *s, int budget)
{
    int n = 0;
    for (;;) {
        int lim = budget - n > (int) a->tick_stride ? n + (int) a->tick_stride
                                                    : budget;
        while (a->mb_head && n < lim && !(a->flags & TP__A_EXITING)) {
            n++;
            s_run_one (c, a, s);
        }
        if (n == budget || !a->mb_head || (a->flags & TP__A_EXITING)
            || tp__ctx_tick (c, &a->tick_stride))
            return n;
    }
}

/*  Runs one turn of a (just popped from the run queue). TP__A_QUEUED
    stays set during the turn, so messages the actor sends itself do not
    queue it a second time; it is cleared or the actor requeued at the end. */
void
tp__actor_run (tp__ctx *c, tp_actor *a)
{
    tp__tl_actor = a;
    if (TP__UNLIKELY (!(a->flags & TP__A_STARTED))) {
        a->flags |= TP__A_STARTED;
        if (!tp_ref_is_nil (a->link_to) && !s_peer_has (a->links, a->link_to))
            tp__peer_add (&a->links, a->link_to, 0);
        bool ok = !a->b->init || a->b->init (a, a->arg) == 0;
        if (!ok)
            s_exit (a, tp__tag_init);
        if (TP__UNLIKELY (a->init_wait != NULL) && ok) {
            tp__init_done (a->init_wait, true);
            a->init_wait = NULL;
        } /* (a failure is told when the actor has ended: terminate) */
        if (c->tick_at > c->processed)
            c->tick_at--; /* an init counts as a message for the clock */
    }
    /* Run at most `batch` messages, and only those present when the turn
       began: a message the actor sends itself waits for its next turn, so
       a self-rescheduling actor cannot keep the worker to itself. */
    int budget = c->sys->batch, n = 0;
    /* An actor whose mailbox keeps growing (several senders on its
       worker, each with its own turn) gets a larger, still bounded, turn
       so that it can catch up instead of its mailbox growing without end. */
    if (a->queued > 2u * (uint32_t) budget)
        budget = a->queued / 2 < 16u * (uint32_t) budget ? (int) (a->queued / 2)
                                                          : 16 * budget;
    if ((uint32_t) budget > a->queued)
        budget = (int) a->queued;
    tp__slot *s = a->slot;
    if (budget > 1)
        n = s_run_long (c, a, s, budget);
    else if (budget == 1 && a->mb_head && !(a->flags & TP__A_EXITING)) {
        n = 1; /* (a turn of one message, as in a ping-pong: no clock) */
        s_run_one (c, a, s);
    }
    tp__tl_actor = NULL;
    c->processed += (uint64_t) n;
    atomic_store_explicit (&s->processed,
                           atomic_load_explicit (&s->processed,
                                                 memory_order_relaxed)
                               + (uint64_t) n,
                           memory_order_relaxed);
    atomic_store_explicit (&s->queued, a->queued, memory_order_relaxed);
    if (a->flags & TP__A_EXITING)
        tp__actor_terminate (c, a, a->reason, true);
    else if (a->mb_head) {
        tp__rq_push (c, a);
    }
    else
        a->flags &= ~(uint32_t) TP__A_QUEUED;
}

void
tp__actor_report (tp_actor *a)
{
    char me[TP_REF_STRLEN], by[TP_REF_STRLEN];
    tp_ref_format (a->ref, me, sizeof me);
    tp_ref_format (a->spawner, by, sizeof by);
    fprintf (stderr,
             "troupe: alive at shutdown: %s \"%s\" (%s actor), %u queued, "
             "spawned %s%s%s%s\n",
             me, a->b->name ? a->b->name : "?",
             a->flags & TP__A_THREAD ? "thread" : "loop", a->queued,
             tp_ref_is_nil (a->spawner) ? "outside any actor" : "by ",
             tp_ref_is_nil (a->spawner) ? "" : by,
             a->spawner_name ? " " : "",
             a->spawner_name ? a->spawner_name : "");
}

void
tp__unpack_failed (void)
{
    tp_actor *a = tp__tl_actor;
    if (a) /* a behaviour got a body it did not expect: it shows in stats */
        atomic_fetch_add_explicit (&a->ctx->sys->unpack_errors, 1,
                                   memory_order_relaxed);
}

/* ------------------------------------------------------------------ */
/*  Accessors                                                          */

tp_ref
tp_self (tp_actor *self)
{
    return self->ref;
}

tp_system *
tp_system_of (tp_actor *self)
{
    return self->ctx->sys;
}

void *
tp_state (tp_actor *self)
{
    return self->state;
}

void
tp_set_state (tp_actor *self, void *state)
{
    self->state = state;
}

void *
tp_arg (tp_actor *self)
{
    return self->arg;
}

int
tp_worker_index (tp_actor *self)
{
    return self->ctx->kind == TP__CTX_WORKER ? self->ctx->id : -1;
}

/* ------------------------------------------------------------------ */
/*  Sending                                                            */

int
tp_tell (tp_actor *self, tp_ref to, tp_tag_t tag, const char *fmt, ...)
{
    if (TP__UNLIKELY (!tag))
        return TP_EINVAL;
    tp_msg *m = tp__msg_alloc ();
    m->tag = tag;
    m->from = self->ref;
    if (fmt && *fmt) {
        va_list ap;
        va_start (ap, fmt);
        int rc = tp_msg_vpack (m, fmt, ap);
        va_end (ap);
        if (rc) {
            tp__msg_free (m);
            return rc;
        }
    }
    int rc = tp__route (self->ctx, to, m, 0);
    if (rc)
        tp__msg_free (m);
    return rc;
}

void
tp_flush (tp_actor *self)
{
    if (self)
        tp__flush (self->ctx);
}

int
tp_tell_int (tp_actor *self, tp_ref to, tp_tag_t tag, int64_t v)
{
    if (TP__UNLIKELY (!tag))
        return TP_EINVAL;
    tp_msg *m = tp__msg_alloc ();
    m->tag = tag;
    m->from = self->ref;
    m->size = (uint32_t) tp__pack_int64 (m->body, v); /* inline: room for 9 */
    int rc = tp__route (self->ctx, to, m, 0);
    if (rc)
        tp__msg_free (m);
    return rc;
}

static int
s_tell_msg (tp_actor *self, tp_ref to, tp_msg **msg_p, int wait_ms)
{
    if (!msg_p || !*msg_p || !(*msg_p)->tag)
        return TP_EINVAL;
    tp_msg *m = *msg_p;
    m->from = self->ref;
    m->flags &= (uint16_t) (TP__MSG_HEAP | TP__MSG_ZMQ);
    m->corr = 0;
    int rc = tp__route (self->ctx, to, m, wait_ms);
    if (rc == 0)
        *msg_p = NULL;
    return rc;
}

int
tp_tell_msg (tp_actor *self, tp_ref to, tp_msg **msg_p)
{
    return s_tell_msg (self, to, msg_p, 0);
}

int
tp_tell_wait (tp_actor *self, tp_ref to, tp_msg **msg_p, int timeout_ms)
{
    return s_tell_msg (self, to, msg_p, timeout_ms < -1 ? 0 : timeout_ms);
}

int
tp_forward (tp_actor *self, tp_ref to, const tp_msg *msg)
{
    if (!msg)
        return TP_EINVAL;
    tp_msg *m = tp_msg_dup (msg);
    m->from = msg->from;
    m->corr = msg->corr;
    m->flags |= msg->flags & TP__MSG_REQUEST;
    if (msg->flags & TP__MSG_REQUEST)
        s_answered (self, msg); /* (whoever gets it owes it now) */
    /* counted against my mailbox, not the next one's */
    m->flags &= (uint16_t) ~TP__MSG_BOUNDED;
    int rc = tp__route (self->ctx, to, m, 0);
    if (rc)
        tp__msg_free (m);
    return rc;
}

/*  Sends m (already flagged) as request corr and records the ask. */
static int s_ask_send (tp_actor *self, tp_ref to, tp_msg **msg_p,
                       int timeout_ms, tp_cont_fn cont, void *arg);

int
tp_ask_msg (tp_actor *self, tp_ref to, tp_msg **msg_p, int timeout_ms,
            tp_cont_fn cont, void *arg)
{
    if (!msg_p || !*msg_p || !(*msg_p)->tag || !cont || timeout_ms == 0
        || timeout_ms < -1)
        return TP_EINVAL;
    tp_msg *m = *msg_p;
    m->flags = (uint16_t) ((m->flags & (TP__MSG_HEAP | TP__MSG_ZMQ))
                           | TP__MSG_REQUEST);
    return s_ask_send (self, to, msg_p, timeout_ms, cont, arg);
}

int
tp__ask_raw (tp_actor *self, tp_ref to, tp_msg *m, int timeout_ms,
             tp_cont_fn cont, void *arg)
{
    int rc = s_ask_send (self, to, &m, timeout_ms, cont, arg);
    if (rc)
        tp__msg_free (m);
    return rc;
}

static int
s_ask_send (tp_actor *self, tp_ref to, tp_msg **msg_p, int timeout_ms,
            tp_cont_fn cont, void *arg)
{
    tp__ctx *c = self->ctx;
    tp_msg *m = *msg_p;
    uint64_t corr = ++c->corr_next;
    m->from = self->ref;
    m->corr = corr;
    int rc = tp__route (c, to, m, 0);
    if (rc)
        return rc;
    *msg_p = NULL;
    tp__ask *k = tp__malloc (sizeof *k);
    k->corr = corr;
    k->to = to;
    k->cont = cont;
    k->arg = arg;
    tp_msg *t = tp__msg_alloc ();
    t->tag = tp__tag_sys;
    t->flags = TP__MSG_SYS;
    t->aux = TP__SYS_ASK_TIMEOUT;
    t->corr = corr;
    if (timeout_ms > 0)
        k->timer = tp__timer_add (c, self, (uint64_t) timeout_ms * 1000000u,
                                  0, t);
    else { /* -1: no timeout */
        tp__msg_free (t);
        k->timer = 0;
    }
    k->owner = self;
    k->prev = NULL;
    k->next = self->asks;
    if (self->asks)
        self->asks->prev = k;
    self->asks = k;
    tp__idmap_put (&c->asks, corr, k);
    return 0;
}

int
tp_ask (tp_actor *self, tp_ref to, tp_tag_t tag, int timeout_ms,
        tp_cont_fn cont, void *arg, const char *fmt, ...)
{
    if (!tag || !cont || timeout_ms == 0 || timeout_ms < -1)
        return TP_EINVAL;
    tp_msg *m = tp__msg_alloc ();
    m->tag = tag;
    if (fmt && *fmt) {
        va_list ap;
        va_start (ap, fmt);
        int rc = tp_msg_vpack (m, fmt, ap);
        va_end (ap);
        if (rc) {
            tp__msg_free (m);
            return rc;
        }
    }
    int rc = tp_ask_msg (self, to, &m, timeout_ms, cont, arg);
    if (rc)
        tp__msg_free (m);
    return rc;
}

int
tp_reply (tp_actor *self, const tp_msg *req, tp_tag_t tag, const char *fmt,
          ...)
{
    if (!req || !(req->flags & TP__MSG_REQUEST) || !tag)
        return TP_EINVAL;
    tp_msg *m = tp__msg_alloc ();
    m->tag = tag;
    m->from = self->ref;
    m->corr = req->corr;
    m->flags = TP__MSG_REPLY;
    if (fmt && *fmt) {
        va_list ap;
        va_start (ap, fmt);
        int rc = tp_msg_vpack (m, fmt, ap);
        va_end (ap);
        if (rc) {
            tp__msg_free (m);
            return rc;
        }
    }
    /* Replies ignore the asker's mailbox bound: the asker asked for it. */
    int rc = tp__route (self->ctx, req->from, m, 0);
    if (rc)
        tp__msg_free (m);
    else
        s_answered (self, req);
    return rc;
}

int
tp_reply_msg (tp_actor *self, const tp_msg *req, tp_msg **msg_p)
{
    if (!req || !(req->flags & TP__MSG_REQUEST) || !msg_p || !*msg_p
        || !(*msg_p)->tag)
        return TP_EINVAL;
    tp_msg *m = *msg_p;
    m->from = self->ref;
    m->corr = req->corr;
    m->flags = (uint16_t) ((m->flags & (TP__MSG_HEAP | TP__MSG_ZMQ))
                           | TP__MSG_REPLY);
    int rc = tp__route (self->ctx, req->from, m, 0);
    if (rc == 0) {
        *msg_p = NULL;
        s_answered (self, req);
    }
    return rc;
}

/* ------------------------------------------------------------------ */
/*  Timers                                                             */

int64_t
tp_after (tp_actor *self, int ms, tp_tag_t tag, const char *fmt, ...)
{
    if (ms < 0 || !tag)
        return TP_EINVAL;
    tp_msg *m = tp__msg_alloc ();
    m->tag = tag;
    m->from = self->ref;
    if (fmt && *fmt) {
        va_list ap;
        va_start (ap, fmt);
        int rc = tp_msg_vpack (m, fmt, ap);
        va_end (ap);
        if (rc) {
            tp__msg_free (m);
            return rc;
        }
    }
    return tp__timer_add (self->ctx, self, (uint64_t) ms * 1000000u, 0, m);
}

int64_t
tp_every (tp_actor *self, int ms, tp_tag_t tag)
{
    if (ms <= 0 || !tag)
        return TP_EINVAL;
    tp_msg *m = tp__msg_alloc ();
    m->tag = tag;
    m->from = self->ref;
    m->flags = TP__MSG_SYS;
    m->aux = TP__SYS_TICK;
    uint64_t ns = (uint64_t) ms * 1000000u;
    return tp__timer_add (self->ctx, self, ns, ns, m);
}

int
tp_cancel (tp_actor *self, int64_t timer)
{
    if (tp__timer_is_ask (self, timer))
        return TP_ENOTFOUND; /* ask timeouts are not the user's */
    return tp__timer_cancel (self->ctx, self, timer);
}

/* ------------------------------------------------------------------ */
/*  Monitors, links, exits                                             */

int64_t
tp_monitor (tp_actor *self, tp_ref target)
{
    if (tp_ref_is_nil (target))
        return TP_EINVAL;
    int64_t id = (int64_t) ++self->ctx->corr_next;
    tp__peer_add (&self->monitors, target, id);
    tp__sys_send (self->ctx, self->ref, target, TP__SYS_MONITOR, (uint64_t) id,
                NULL);
    return id;
}

int
tp_demonitor (tp_actor *self, int64_t monitor)
{
    for (tp__peer *p = self->monitors; p; p = p->next)
        if (p->id == monitor) {
            tp_ref target = p->ref;
            tp__peer_remove (&self->monitors, target, monitor, true);
            tp__sys_send (self->ctx, self->ref, target, TP__SYS_DEMONITOR,
                        (uint64_t) monitor, NULL);
            return 0;
        }
    return TP_ENOTFOUND;
}

int
tp_link (tp_actor *self, tp_ref other)
{
    if (tp_ref_is_nil (other) || tp_ref_eq (other, self->ref))
        return TP_EINVAL;
    if (!s_peer_has (self->links, other))
        tp__peer_add (&self->links, other, 0);
    tp__sys_send (self->ctx, self->ref, other, TP__SYS_LINK, 0, NULL);
    return 0;
}

int
tp_unlink (tp_actor *self, tp_ref other)
{
    tp__peer_remove (&self->links, other, 0, true);
    tp__sys_send (self->ctx, self->ref, other, TP__SYS_UNLINK, 0, NULL);
    return 0;
}

void
tp_trap_exit (tp_actor *self, bool on)
{
    if (on)
        self->flags |= TP__A_TRAP;
    else
        self->flags &= ~(uint32_t) TP__A_TRAP;
}

void
tp_exit (tp_actor *self, tp_tag_t reason)
{
    s_exit (self, reason);
}

int
tp_stop (tp_actor *self, tp_ref target, tp_tag_t reason)
{
    if (tp_ref_eq (target, self->ref)) {
        s_exit (self, reason);
        return 0;
    }
    tp__sys_send (self->ctx, self->ref, target, TP__SYS_STOP, 0, "t",
                reason ? reason : tp__tag_normal);
    return 0;
}

/*  Used by tp_system_stop (system.c) from any thread. */
int
tp__stop_from (tp__ctx *c, tp_ref target, tp_tag_t reason)
{
    tp__sys_send (c, TP_REF_NIL, target, TP__SYS_STOP, 0, "t",
                reason ? reason : tp__tag_normal);
    return 0;
}
