/*  core/system.c: the system object (create, wait, stats, destroy) and
    the calls made from outside actors (tp_send, tp_call, tp_system_stop).
*/
#include "runtime.h"

#include <sched.h>
#include <sys/random.h>
#include <unistd.h>

static _Atomic uint64_t s_next_sys_id = 1;

/* ------------------------------------------------------------------ */
/*  System                                                             */

/*  A nonzero random incarnation: a restarted node is a new node id, so
    refs to its previous life reach nothing (as Erlang's creation). */
static uint32_t
s_incarnation (void)
{
    uint32_t v = 0;
    while (v == 0) {
        if (getrandom (&v, sizeof v, 0) != (ssize_t) sizeof v)
            v = (uint32_t) tp__now_ns () ^ (uint32_t) getpid ();
    }
    return v;
}

tp_system *
tp_system_new (const tp_system_opts *opts)
{
    tp_system_opts o = {0};
    if (opts)
        o = *opts;
    if (o.workers < 0 || o.workers > 1024 || o.batch < 0 || o.max_peers < 0
        || o.max_threads < 0 || o.max_threads > TP__MAX_CTX
        || o.peer_bad_per_s < -1 || o.peer_quarantine_ms < 0
        || o.peer_max_watches < 0 || o.peer_max_asks < 0
        || o.peer_max_names < 0)
        return NULL;
    if (o.workers == 0) {
        long n = sysconf (_SC_NPROCESSORS_ONLN);
        o.workers = n > 0 ? (int) n : 1;
        if (o.workers > 1024)
            o.workers = 1024;
    }
    if (o.max_threads && o.max_threads < o.workers + 2)
        return NULL; /* (the workers, the spare ctx and one more) */
    const char *name = o.node_name ? o.node_name : "nonode";
    uint32_t inc = s_incarnation ();
    uint32_t node = tp__node_intern (name, strnlen (name, TP_NODE_NAME_MAX + 1),
                                     inc);
    if (!node || tp__node_pin (node, 1) != 0)
        return NULL;
    tp__tags_init ();
    tp_system *sys = tp__calloc (1, sizeof *sys);
    sys->id = atomic_fetch_add (&s_next_sys_id, 1);
    sys->node = node;
    sys->incarnation = inc;
    sys->nworkers = o.workers;
    sys->batch = o.batch ? o.batch : 64;
    sys->heartbeat_ms = o.heartbeat_ms > 0 ? o.heartbeat_ms : 500;
    sys->gw_thread = o.gateway_thread;
    const char *report = getenv ("TP_REPORT_ALIVE");
    sys->report_alive = o.report_alive || (report && *report && *report != '0');
    sys->max_peers = o.max_peers > 0 ? o.max_peers : 1024;
    sys->max_ctx = o.max_threads ? o.max_threads : TP__MAX_CTX;
    sys->peer_queue = o.peer_queue ? o.peer_queue : 4u << 20;
    sys->remote_backlog = o.remote_backlog ? o.remote_backlog : 4096;
    sys->peer_bad_per_s = o.peer_bad_per_s ? o.peer_bad_per_s : 20;
    sys->peer_quarantine_ms = o.peer_quarantine_ms ? o.peer_quarantine_ms
                                                   : 10000;
    sys->peer_max_watches = o.peer_max_watches ? (uint32_t) o.peer_max_watches
                                               : 65536;
    sys->peer_max_asks = o.peer_max_asks ? (uint32_t) o.peer_max_asks : 65536;
    sys->peer_max_names = o.peer_max_names ? (uint32_t) o.peer_max_names : 256;
    sys->spin_us = o.spin_us < 0 ? 0 : o.spin_us ? o.spin_us : 50;
    const char *spin_env = getenv ("TP_SPIN_US");
    if (spin_env)
        sys->spin_us = atoi (spin_env) > 0 ? atoi (spin_env) : 0;
    sys->slot_free = UINT32_MAX;
    pthread_mutex_init (&sys->lock, NULL);
    pthread_mutex_init (&sys->slot_lock, NULL);
    pthread_mutex_init (&sys->wait_lock, NULL);
    pthread_cond_init (&sys->wait_cond, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init (&ca);
    pthread_condattr_setclock (&ca, CLOCK_MONOTONIC);
    pthread_cond_init (&sys->node_cond, &ca);
    pthread_condattr_destroy (&ca);
    pthread_mutex_init (&sys->reg_lock, NULL);
    pthread_mutex_init (&sys->dl_lock, NULL);
    pthread_mutex_init (&sys->log_lock, NULL);
    pthread_mutex_init (&sys->nodemon_lock, NULL);
    if (!tp__curve_setup (sys, o.curve_secret, o.curve_allow)) {
        free (sys->curve_allow);
        free (sys);
        tp__node_pin (node, -1);
        return NULL;
    }
    sys->log_max = tp__log_level_parse (getenv ("TP_LOG"), TP_LOG_INFO);
    sys->zctx = zmq_ctx_new ();
    if (!sys->zctx) {
        free (sys);
        return NULL;
    }
    zmq_ctx_set (sys->zctx, ZMQ_MAX_SOCKETS, 65536);
    zmq_ctx_set (sys->zctx, ZMQ_BLOCKY, 0);
    int rc;
    for (int i = 0; i < o.workers; i++) {
        tp__ctx *c = tp__ctx_new (sys, TP__CTX_WORKER, &rc);
        if (!c) {
            tp_system_destroy (&sys);
            return NULL;
        }
    }
    sys->spare = tp__ctx_spare_new (sys);
    if (!sys->spare) {
        tp_system_destroy (&sys);
        return NULL;
    }
    tp__systems_add (sys);
    for (int i = 0; i < o.workers; i++)
        if (tp__ctx_start (sys->ctxs[i]) != 0) {
            tp_system_destroy (&sys);
            return NULL;
        }
    return sys;
}

void
tp_system_destroy (tp_system **sys_p)
{
    if (!sys_p || !*sys_p)
        return;
    tp_system *sys = *sys_p;
    *sys_p = NULL;
    /* first of all: threads that exit from now on leave this one alone */
    tp__systems_remove (sys);
    /* child processes (process actors) end first, while the node that
       they are connected to still runs */
    pthread_mutex_lock (&sys->lock);
    void (*proc_shutdown) (tp_system *) = sys->proc_shutdown;
    pthread_mutex_unlock (&sys->lock);
    if (proc_shutdown)
        proc_shutdown (sys);
    assert (!(tp__tl_ctx && tp__tl_ctx->sys == sys
              && tp__tl_ctx->kind != TP__CTX_EXTERNAL));

    /* 1. No new spawns; ask every running ctx to stop its actors. */
    pthread_mutex_lock (&sys->lock);
    atomic_store (&sys->stopping, 1);
    pthread_mutex_unlock (&sys->lock);
    tp__ctx *me = tp__ctx_control (sys);
    int top = atomic_load (&sys->nctx);
    tp__ctx *gw = atomic_load (&sys->gw_ctx);
    for (int i = 0; i < top; i++) {
        tp__ctx *c = sys->ctxs[i];
        if (c && c != gw && c->has_thread && !atomic_load (&c->finished))
            tp__ctl (me, c, TP__CTL_SHUTDOWN, 0);
    }
    /* 2. Join every thread; the gateway last, once nothing else can hand
          it a message: it forwards what it holds and drains its peers. */
    for (int i = 0; i < top; i++) {
        tp__ctx *c = sys->ctxs[i];
        if (c && c != gw && c->has_thread && !c->joined) {
            pthread_join (c->thread, NULL);
            c->joined = true;
        }
    }
    tp__gw_shutdown (sys);
    /* 3. Actors spawned while the ctxs were stopping never reached one:
          end them here (no thread is left to race with). */
    atomic_store (&sys->stopping, 2);
    uint32_t stop = atomic_load (&sys->slot_top);
    for (uint32_t i = 0; i < stop; i++) {
        tp__slot *s = tp__slot_get (sys, i);
        tp_actor *a = s ? atomic_load (&s->actor) : NULL;
        if (a && (atomic_load (&s->gen) & 1)) {
            if (sys->report_alive)
                tp__actor_report (a);
            tp__actor_terminate (a->ctx, a, tp__tag_shutdown, false);
        }
    }
    /* 4. Close what is left, then ZeroMQ. */
    for (int i = 0; i < top; i++)
        if (sys->ctxs[i])
            tp__ctx_close (sys->ctxs[i]);
    zmq_ctx_term (sys->zctx);
    tp__curve_shutdown (sys); /* (its thread left with the context) */
    tp__gw_free (sys);
    for (int i = 0; i < top; i++)
        tp__ctx_free (sys->ctxs[i]);
    for (int p = 0; p < TP__SLOT_PAGES; p++)
        free (atomic_load (&sys->pages[p]));
    tp__registry_free (sys);
    pthread_mutex_destroy (&sys->lock);
    pthread_mutex_destroy (&sys->slot_lock);
    pthread_mutex_destroy (&sys->wait_lock);
    pthread_cond_destroy (&sys->wait_cond);
    pthread_cond_destroy (&sys->node_cond);
    pthread_mutex_destroy (&sys->reg_lock);
    pthread_mutex_destroy (&sys->dl_lock);
    pthread_mutex_destroy (&sys->log_lock);
    pthread_mutex_destroy (&sys->nodemon_lock);
    free (sys->nodemons);
    tp__ext_forget (sys);
    tp__node_pin (sys->node, -1);
    free (sys);
}


int
tp_system_wait (tp_system *sys, int timeout_ms)
{
    struct timespec dl;
    tp__deadline (&dl, CLOCK_REALTIME, timeout_ms);
    int rc = 0;
    pthread_mutex_lock (&sys->wait_lock);
    while (atomic_load (&sys->live) > 0 && rc == 0) {
        if (timeout_ms < 0)
            pthread_cond_wait (&sys->wait_cond, &sys->wait_lock);
        else if (pthread_cond_timedwait (&sys->wait_cond, &sys->wait_lock, &dl)
                 == ETIMEDOUT)
            rc = atomic_load (&sys->live) > 0 ? TP_ETIMEDOUT : 0;
    }
    pthread_mutex_unlock (&sys->wait_lock);
    return rc;
}

/*  The calling foreign thread's ctx, for a call into a running system:
    NULL with *rc TP_ESTOPPED (stopping) or TP_ELIMIT (no ctx left). */
static tp__ctx *
s_caller_ctx (tp_system *sys, int *rc)
{
    *rc = 0;
    if (atomic_load (&sys->stopping)) {
        *rc = TP_ESTOPPED;
        return NULL;
    }
    tp__ctx *c = tp__ctx_external (sys);
    if (!c)
        *rc = TP_ELIMIT;
    return c;
}

/*  now + timeout_ms in ns (UINT64_MAX: -1, no bound). */
static uint64_t
s_deadline_ns (int timeout_ms)
{
    return timeout_ms < 0 ? UINT64_MAX
                          : tp__now_ns () + (uint64_t) timeout_ms * 1000000u;
}

/*  Milliseconds from now to deadline, rounded up, at most 60 s (a wait
    in slices, so that a bound of "forever" is looked at again). */
static int
s_left_ms (uint64_t deadline, uint64_t now)
{
    uint64_t left = (deadline - now + 999999) / 1000000;
    return left > 60000 ? 60000 : (int) left;
}

/*  The next message an external ctx received, or NULL. */
static tp_msg *
s_ext_pop (tp__ctx *c)
{
    tp_msg *r = c->in_head;
    if (r) {
        c->in_head = r->next;
        if (!c->in_head)
            c->in_tail = NULL;
        r->next = NULL;
    }
    return r;
}

int
tp_system_wait_for (tp_system *sys, tp_ref ref, int timeout_ms,
                    tp_tag_t *reason)
{
    if (!sys || tp_ref_is_nil (ref))
        return TP_EINVAL;
    if (tp__tl_ctx && tp__tl_ctx->sys == sys
        && tp__tl_ctx->kind != TP__CTX_EXTERNAL)
        return TP_ESTATE;
    int rc;
    tp__ctx *c = s_caller_ctx (sys, &rc);
    if (!c)
        return rc;
    /* A monitor whose watcher is this thread's inbox: the DOWN comes
       here like a reply (noproc at once for a dead ref, noconnect when
       its node goes down). */
    uint64_t id = ++c->corr_next;
    tp__sys_send (c, c->inbox, ref, TP__SYS_MONITOR, id, NULL);
    tp__flush (c);
    uint64_t deadline = s_deadline_ns (timeout_ms);
    for (;;) {
        for (tp_msg *r; (r = s_ext_pop (c)) != NULL;) {
            tp_ref who;
            tp_tag_t why = 0;
            if ((r->flags & TP__MSG_SYS) && r->aux == TP__SYS_DOWN
                && r->corr == id && tp_msg_unpack (r, "rt", &who, &why) == 0) {
                tp__msg_free (r);
                if (reason)
                    *reason = why;
                return 0;
            }
            if (r->flags & TP__MSG_REPLY) /* to an earlier call */
                atomic_fetch_add_explicit (&sys->late_replies, 1,
                                           memory_order_relaxed);
            tp__msg_free (r);
        }
        uint64_t now = tp__now_ns ();
        if (now >= deadline) {
            tp__sys_send (c, c->inbox, ref, TP__SYS_DEMONITOR, id, NULL);
            tp__flush (c);
            return TP_ETIMEDOUT;
        }
        tp__ctx_recv_external (c, s_left_ms (deadline, now));
    }
}

void
tp_system_stats_get (tp_system *sys, tp_system_stats *st)
{
    memset (st, 0, sizeof *st);
    st->actors_live = atomic_load (&sys->live);
    st->actors_spawned = atomic_load (&sys->spawned);
    st->dead_letters = atomic_load (&sys->dead_letters);
    st->dead_noproc = atomic_load (&sys->dead_by[TP__DEAD_NOPROC]);
    st->dead_noconnect = atomic_load (&sys->dead_by[TP__DEAD_NOCONNECT]);
    st->dead_dropped = atomic_load (&sys->dead_by[TP__DEAD_DROPPED]);
    st->ask_timeouts = atomic_load (&sys->ask_timeouts);
    st->actors_thread = atomic_load (&sys->live_thread);
    st->actors_process = atomic_load (&sys->live_process);
    st->late_replies = atomic_load (&sys->late_replies);
    st->restarts = atomic_load (&sys->restarts);
    st->unpack_errors = atomic_load (&sys->unpack_errors);
    st->workers = sys->nworkers;
    int top = atomic_load (&sys->nctx);
    for (int i = 0; i < top; i++) {
        tp__ctx *c = sys->ctxs[i];
        if (c)
            st->messages += atomic_load_explicit (&c->processed_pub,
                                                  memory_order_relaxed);
    }
}

int
tp_actor_stats_get (tp_system *sys, tp_ref ref, tp_actor_stats *st)
{
    memset (st, 0, sizeof *st);
    tp__slot *s = ref.node == sys->node ? tp__slot_get (sys, ref.index) : NULL;
    if (!s || ref.gen == 0 || atomic_load (&s->gen) != ref.gen
        || !atomic_load (&s->actor))
        return TP_EDEAD;
    st->processed = atomic_load_explicit (&s->processed, memory_order_relaxed);
    st->mailbox = atomic_load_explicit (&s->queued, memory_order_relaxed);
    st->capacity = atomic_load_explicit (&s->cap, memory_order_relaxed);
    int home = atomic_load_explicit (&s->home, memory_order_relaxed);
    st->thread = home >= sys->nworkers;
    st->worker = st->thread ? -1 : home;
    if (atomic_load (&s->gen) != ref.gen)
        return TP_EDEAD;
    return 0;
}

int
tp_system_mailboxes (tp_system *sys, tp_mailbox_info *out, int cap)
{
    if (!sys || cap < 0 || (cap && !out))
        return TP_EINVAL;
    int n = 0;
    uint32_t top = atomic_load (&sys->slot_top);
    for (uint32_t i = 1; i < top; i++) {
        tp__slot *s = tp__slot_get (sys, i);
        uint32_t gen = s ? atomic_load (&s->gen) : 0;
        if (!s || !(gen & 1) || !atomic_load (&s->actor))
            continue; /* (no actor lives there) */
        tp_mailbox_info m = {
            .ref = {sys->node, i, gen},
            .behavior = atomic_load_explicit (&s->bname, memory_order_relaxed),
            .queued = atomic_load_explicit (&s->queued, memory_order_relaxed),
            .processed = atomic_load_explicit (&s->processed,
                                               memory_order_relaxed)};
        if (atomic_load (&s->gen) != gen)
            continue; /* (it ended meanwhile) */
        if (!m.behavior)
            m.behavior = "";
        /* keep the cap deepest, deepest first (insertion) */
        int at = n < cap ? n : cap;
        while (at > 0 && out[at - 1].queued < m.queued)
            at--;
        if (at < cap) {
            int last = n < cap ? n : cap - 1;
            memmove (&out[at + 1], &out[at],
                     (size_t) (last - at) * sizeof *out);
            out[at] = m;
        }
        n++;
    }
    return n;
}

int
tp_system_workers (tp_system *sys)
{
    return sys->nworkers;
}

uint32_t
tp_system_node (tp_system *sys)
{
    return sys->node;
}

/* ------------------------------------------------------------------ */
/*  Calls from outside actors                                          */

static int
s_send (tp_system *sys, tp_ref to, tp_msg *m, int wait_ms)
{
    if (atomic_load (&sys->stopping))
        return TP_ESTOPPED;
    tp__ctx *c = tp__ctx_external (sys);
    if (!c)
        return TP_ELIMIT;
    return tp__route (c, to, m, wait_ms); /* (the rest: tp__inproc_ext_flush) */
}

int
tp_send (tp_system *sys, tp_ref to, tp_tag_t tag, const char *fmt, ...)
{
    if (!sys || !tag)
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
    int rc = s_send (sys, to, m, 0);
    if (rc)
        tp__msg_free (m);
    return rc;
}

static int
s_send_msg (tp_system *sys, tp_ref to, tp_msg **msg_p, int wait_ms)
{
    if (!sys || !msg_p || !*msg_p || !(*msg_p)->tag)
        return TP_EINVAL;
    tp_msg *m = *msg_p;
    m->from = TP_REF_NIL;
    m->corr = 0;
    m->flags &= (uint16_t) (TP__MSG_HEAP | TP__MSG_ZMQ);
    int rc = s_send (sys, to, m, wait_ms);
    if (rc == 0)
        *msg_p = NULL;
    return rc;
}

int
tp_send_msg (tp_system *sys, tp_ref to, tp_msg **msg_p)
{
    return s_send_msg (sys, to, msg_p, 0);
}

int
tp_send_wait (tp_system *sys, tp_ref to, tp_msg **msg_p, int timeout_ms)
{
    return s_send_msg (sys, to, msg_p, timeout_ms < -1 ? 0 : timeout_ms);
}

/*  Takes the reply to request corr out of a's mailbox, or NULL. */
static tp_msg *
s_take_reply (tp_actor *a, uint64_t corr)
{
    tp_msg *prev = NULL;
    for (tp_msg *m = a->mb_head; m; prev = m, m = m->next)
        if ((m->flags & TP__MSG_REPLY) && m->corr == corr) {
            if (prev)
                prev->next = m->next;
            else
                a->mb_head = m->next;
            if (a->mb_tail == m)
                a->mb_tail = prev;
            a->queued--;
            m->next = NULL;
            return m;
        }
    return NULL;
}

/*  tp_call from thread actor a (its own thread, ctx c): the request goes
    out as a's; what arrives meanwhile goes on a's mailbox, for after the
    callback; the reply is taken out of it. Timers of a wait too. */
static int
s_call_in_thread (tp__ctx *c, tp_actor *a, tp_ref to, tp_msg **msg_p,
                  int timeout_ms, tp_msg **reply)
{
    *reply = NULL;
    tp_msg *m = *msg_p;
    uint64_t corr = ++c->corr_next;
    m->from = a->ref;
    m->corr = corr;
    m->flags = (uint16_t) ((m->flags & (TP__MSG_HEAP | TP__MSG_ZMQ))
                           | TP__MSG_REQUEST);
    c->call_corr = corr;
    c->call_to = to;
    int rc = tp__route (c, to, m, 0);
    if (rc) {
        c->call_corr = 0;
        return rc;
    }
    *msg_p = NULL;
    tp__flush (c);
    uint64_t deadline = s_deadline_ns (timeout_ms);
    rc = TP_ETIMEDOUT;
    for (;;) {
        tp_msg *r = s_take_reply (a, corr);
        if (r) {
            r->flags &= (uint16_t) ~TP__MSG_REPLY;
            *reply = r;
            rc = r->tag == tp__tag_fail ? tp__fail_status (r) : 0;
            break;
        }
        uint64_t now = tp__now_ns ();
        if (now >= deadline || c->shutdown)
            break;
        if (!tp__ctx_drain (c, false, INT32_MAX)) {
            uint64_t left = (deadline - now + 999999) / 1000000;
            zmq_pollitem_t it = {c->pull, 0, ZMQ_POLLIN, 0};
            if (zmq_poll (&it, 1, left > 60000 ? 60000 : (long) left) > 0)
                tp__ctx_drain (c, true, INT32_MAX);
        }
        if (c->ndirty)
            tp__flush (c);
    }
    c->call_corr = 0;
    atomic_store_explicit (&a->slot->queued, a->queued, memory_order_relaxed);
    if (rc == TP_ETIMEDOUT)
        atomic_fetch_add_explicit (&c->sys->ask_timeouts, 1,
                                   memory_order_relaxed);
    return rc;
}

int
tp_call_msg (tp_system *sys, tp_ref to, tp_msg **msg_p, int timeout_ms,
             tp_msg **reply)
{
    if (!sys || !msg_p || !*msg_p || !(*msg_p)->tag || !reply)
        return TP_EINVAL;
    if (tp__tl_ctx && tp__tl_ctx->sys == sys
        && tp__tl_ctx->kind != TP__CTX_EXTERNAL) {
        if (tp__tl_ctx->kind == TP__CTX_THREAD && tp__tl_actor
            && !atomic_load (&sys->stopping))
            return s_call_in_thread (tp__tl_ctx, tp__tl_actor, to, msg_p,
                                     timeout_ms, reply);
        return TP_ESTATE;
    }
    *reply = NULL;
    int rc;
    tp__ctx *c = s_caller_ctx (sys, &rc);
    if (!c)
        return rc;
    tp_msg *m = *msg_p;
    uint64_t corr = ++c->corr_next;
    m->from = c->inbox;
    m->corr = corr;
    m->flags = (uint16_t) ((m->flags & (TP__MSG_HEAP | TP__MSG_ZMQ))
                           | TP__MSG_REQUEST);
    c->call_start = tp__now_ns ();
    atomic_store (&c->call_node, to.node != sys->node ? to.node : 0);
    rc = tp__route (c, to, m, 0);
    if (rc) {
        atomic_store (&c->call_node, 0);
        return rc;
    }
    *msg_p = NULL;
    tp__flush (c);
    rc = tp__ext_wait_reply (c, to, corr, timeout_ms, reply);
    atomic_store (&c->call_node, 0);
    return rc;
}

/*  r (a NODEDOWN record of the gateway) ends the call to `to` begun at
    c->call_start: its node is the one that went down, since then. */
static bool
s_call_node_down (tp__ctx *c, tp_ref to, tp_msg *r)
{
    uint64_t when = 0;
    if (tp_ref_is_nil (to) || tp_msg_unpack (r, "U", &when) != 0
        || when < c->call_start)
        return false;
    uint32_t node = (uint32_t) r->corr;
    return to.node == node || tp__node_same_name (to.node, node);
}

/*  Waits on external ctx c for the reply with correlation id corr; drops
    replies to earlier calls. Caller owns *reply on success. */
int
tp__ext_wait_reply (tp__ctx *c, tp_ref to, uint64_t corr, int timeout_ms,
                    tp_msg **reply)
{
    uint64_t deadline = s_deadline_ns (timeout_ms);
    for (;;) {
        for (tp_msg *r; (r = s_ext_pop (c)) != NULL;) {
            if ((r->flags & TP__MSG_REPLY) && r->corr == corr) {
                r->flags &= (uint16_t) ~TP__MSG_REPLY;
                *reply = r;
                return r->tag == tp__tag_fail ? tp__fail_status (r) : 0;
            }
            if ((r->flags & TP__MSG_SYS) && r->aux == TP__CTL_NODEDOWN) {
                if (s_call_node_down (c, to, r)) {
                    tp__msg_free (r);
                    r = tp__msg_alloc ();
                    r->tag = tp__tag_fail;
                    r->from = to;
                    tp_msg_pack (r, "rt", to, tp__tag_noconnect);
                    *reply = r;
                    return TP_EDOWN;
                }
            }
            else if (r->flags & TP__MSG_REPLY) /* to an earlier call */
                atomic_fetch_add_explicit (&c->sys->late_replies, 1,
                                           memory_order_relaxed);
            tp__msg_free (r);
        }
        uint64_t now = tp__now_ns ();
        if (now >= deadline) {
            atomic_fetch_add_explicit (&c->sys->ask_timeouts, 1,
                                       memory_order_relaxed);
            return TP_ETIMEDOUT;
        }
        tp__ctx_recv_external (c, s_left_ms (deadline, now));
    }
}

int
tp_call (tp_system *sys, tp_ref to, tp_tag_t tag, int timeout_ms,
         tp_msg **reply, const char *fmt, ...)
{
    if (!sys || !tag || !reply)
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
    int rc = tp_call_msg (sys, to, &m, timeout_ms, reply);
    if (m)
        tp__msg_free (m);
    return rc;
}

int
tp_system_stop (tp_system *sys, tp_ref ref, tp_tag_t reason)
{
    if (!sys)
        return TP_EINVAL;
    int rc;
    tp__ctx *c = s_caller_ctx (sys, &rc);
    if (!c)
        return rc;
    tp__stop_from (c, ref, reason);
    return 0;
}

void
tp_system_note_restart (tp_system *sys)
{
    if (sys)
        atomic_fetch_add_explicit (&sys->restarts, 1, memory_order_relaxed);
}
