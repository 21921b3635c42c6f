/*  core/node.c: the public node API (core/node.h).

    Bind and connect run on the gateway's thread, which owns the sockets:
    the caller sends a control record and waits for the answer like
    tp_call does. Everything else reads the peer table under sys->lock
    through the gateway's small query functions (core/runtime.h).
*/
#include "runtime.h"

/*  Milliseconds left until end_ns (0 when past); -1 stays forever. */
static int
s_left_ms (uint64_t end_ns, int timeout_ms)
{
    if (timeout_ms < 0)
        return -1;
    uint64_t now = tp__now_ns ();
    return now >= end_ns ? 0 : (int) ((end_ns - now + 999999u) / 1000000u);
}

static uint64_t
s_end_ns (int timeout_ms)
{
    return timeout_ms < 0 ? UINT64_MAX
                          : tp__now_ns () + (uint64_t) timeout_ms * 1000000u;
}

static bool
s_in_runtime_thread (tp_system *sys)
{
    return tp__tl_ctx && tp__tl_ctx->sys == sys
           && tp__tl_ctx->kind != TP__CTX_EXTERNAL;
}

/*  Sends a bind/connect command with argument arg to the gateway and
    waits for its answer [i rc, s text]. */
static int
s_control (tp_system *sys, int cmd, const char *arg, const char *key,
           tp_msg **reply)
{
    if (s_in_runtime_thread (sys))
        return TP_ESTATE;
    int rc = tp__gw_start (sys);
    if (rc)
        return rc;
    tp__ctx *me = tp__ctx_external (sys);
    if (!me)
        return TP_ELIMIT;
    tp_msg *m = tp__msg_alloc ();
    m->from = me->inbox;
    m->corr = ++me->corr_next;
    uint64_t corr = m->corr;
    tp_msg_pack (m, "s", arg);
    if (key)
        tp_msg_pack (m, "s", key);
    tp__ctl_msg (me, atomic_load (&sys->gw_ctx), cmd, m);
    tp_msg *r = NULL;
    rc = tp__ext_wait_reply (me, TP_REF_NIL, corr, 10000, &r);
    if (rc)
        return rc == TP_ETIMEDOUT ? TP_ESTATE : rc; /* a gateway that hangs */
    int crc;
    const char *t;
    size_t n;
    if (tp_msg_unpack (r, "is", &crc, &t, &n) != 0)
        crc = TP_EPROTO;
    *reply = r;
    return crc;
}

int
tp_node_bind (tp_system *sys, const char *endpoint, char *bound, size_t cap)
{
    if (!sys || !endpoint || !*endpoint || strlen (endpoint) > 255)
        return TP_EINVAL;
    tp_msg *r = NULL;
    int rc = s_control (sys, TP__CTL_GW_BIND, endpoint, NULL, &r);
    if (rc == 0 && bound && cap) {
        const char *b;
        size_t n;
        int brc;
        tp_msg_unpack (r, "is", &brc, &b, &n);
        if (n >= cap)
            rc = TP_ETRUNC;
        else {
            memcpy (bound, b, n);
            bound[n] = '\0';
        }
    }
    tp_msg_destroy (&r);
    return rc;
}

static int s_connect (tp_system *sys, const char *endpoint, const char *key,
                      int timeout_ms, uint32_t *node);

int
tp_node_connect (tp_system *sys, const char *endpoint, int timeout_ms,
                 uint32_t *node)
{
    if (sys && sys->curve)
        return TP_EINVAL; /* (a secure node makes secure links only) */
    return s_connect (sys, endpoint, NULL, timeout_ms, node);
}

int
tp_node_connect_key (tp_system *sys, const char *endpoint,
                     const char *server_key, int timeout_ms, uint32_t *node)
{
    if (!sys || !sys->curve || !server_key || strlen (server_key) != 40)
        return TP_EINVAL;
    return s_connect (sys, endpoint, server_key, timeout_ms, node);
}

static int
s_connect (tp_system *sys, const char *endpoint, const char *key,
           int timeout_ms, uint32_t *node)
{
    if (!sys || !endpoint || !*endpoint || strlen (endpoint) > 255)
        return TP_EINVAL;
    uint64_t end = s_end_ns (timeout_ms);
    tp_msg *r = NULL;
    int rc = s_control (sys, TP__CTL_GW_CONNECT, endpoint, key, &r);
    tp_msg_destroy (&r);
    if (rc)
        return rc;
    uint64_t seq = 0;
    for (;;) {
        int refused;
        pthread_mutex_lock (&sys->lock);
        uint32_t up = tp__gw_peer_at (sys, endpoint, &refused);
        pthread_mutex_unlock (&sys->lock);
        if (up) {
            if (node)
                *node = up;
            return 0;
        }
        if (refused)
            return refused;
        int left = s_left_ms (end, timeout_ms);
        if (left == 0 || tp_node_wait (sys, &seq, left) != 0)
            return TP_ETIMEDOUT;
    }
}

int
tp_node_disconnect (tp_system *sys, const char *endpoint)
{
    if (!sys || !endpoint || !*endpoint || strlen (endpoint) > 255)
        return TP_EINVAL;
    if (!atomic_load (&sys->gw_ctx))
        return TP_ENOTFOUND; /* (no gateway: connected to nothing) */
    tp_msg *r = NULL;
    int rc = s_control (sys, TP__CTL_GW_DISCONNECT, endpoint, NULL, &r);
    tp_msg_destroy (&r);
    return rc;
}

int
tp_node_wait (tp_system *sys, uint64_t *seq, int timeout_ms)
{
    if (!sys || !seq)
        return TP_EINVAL;
    struct timespec dl;
    tp__deadline (&dl, CLOCK_MONOTONIC, timeout_ms);
    int rc = 0;
    pthread_mutex_lock (&sys->lock);
    while (sys->node_seq == *seq && rc == 0) {
        if (timeout_ms < 0)
            pthread_cond_wait (&sys->node_cond, &sys->lock);
        else if (pthread_cond_timedwait (&sys->node_cond, &sys->lock, &dl)
                 == ETIMEDOUT)
            rc = sys->node_seq == *seq ? TP_ETIMEDOUT : 0;
    }
    *seq = sys->node_seq;
    pthread_mutex_unlock (&sys->lock);
    return rc;
}

bool
tp_node_up (tp_system *sys, uint32_t node)
{
    pthread_mutex_lock (&sys->lock);
    bool up = tp__gw_node_up (sys, node, NULL);
    pthread_mutex_unlock (&sys->lock);
    return up;
}

int
tp_whereis_at (tp_system *sys, const char *name, const char *node_name,
               int timeout_ms, tp_ref *ref)
{
    if (!sys || !name || !*name || strlen (name) > 63 || !node_name || !ref)
        return TP_EINVAL;
    if (s_in_runtime_thread (sys))
        return TP_ESTATE;
    *ref = TP_REF_NIL;
    uint32_t node = tp_node_id (node_name);
    if (!node)
        return TP_EINVAL;
    if (tp__node_same_name (node, sys->node)) {
        *ref = tp_whereis (sys, name);
        return 0;
    }
    uint32_t exact = 0;
    pthread_mutex_lock (&sys->lock);
    bool up = tp__gw_node_up (sys, node, &exact);
    pthread_mutex_unlock (&sys->lock);
    if (!up)
        return TP_ENODE;
    tp__ctx *me = tp__ctx_external (sys);
    if (!me)
        return TP_ELIMIT;
    tp_msg *m = tp__msg_alloc ();
    m->tag = tp__tag_sys;
    m->from = me->inbox;
    m->corr = ++me->corr_next;
    m->flags = TP__MSG_SYS;
    m->aux = TP__SYS_LOOKUP;
    uint64_t corr = m->corr;
    tp_msg_pack (m, "s", name);
    tp__route (me, (tp_ref){exact, 0, 0}, m, 0);
    tp__flush (me);
    tp_msg *r = NULL;
    me->call_start = tp__now_ns ();
    atomic_store (&me->call_node, exact);
    int rc = tp__ext_wait_reply (me, (tp_ref){exact, 0, 0}, corr, timeout_ms,
                                 &r);
    atomic_store (&me->call_node, 0);
    if (rc == TP_EDOWN) { /* (the node went down while we asked) */
        tp_msg_destroy (&r);
        rc = TP_ENODE;
    }
    if (rc)
        return rc;
    if (tp_msg_unpack (r, "r", ref) != 0)
        rc = TP_EPROTO;
    tp_msg_destroy (&r);
    return rc;
}

int
tp_whereis_any (tp_system *sys, const char *name, int timeout_ms, tp_ref *ref)
{
    if (!sys || !name || !ref)
        return TP_EINVAL;
    *ref = TP_REF_NIL;
    const char *at = strchr (name, '@');
    if (at) {
        char nm[64];
        size_t n = (size_t) (at - name);
        if (n == 0 || n >= sizeof nm)
            return TP_EINVAL;
        memcpy (nm, name, n);
        nm[n] = '\0';
        return tp_whereis_at (sys, nm, at + 1, timeout_ms, ref);
    }
    *ref = tp_whereis (sys, name);
    if (!tp_ref_is_nil (*ref))
        return 0;
    uint32_t *nodes = NULL;
    int n = 0, cap = 0;
    do { /* the table may grow between the count and the copy */
        cap = n + 16;
        nodes = tp__realloc (nodes, (size_t) cap * sizeof *nodes);
        pthread_mutex_lock (&sys->lock);
        n = tp__gw_up_nodes (sys, nodes, cap);
        pthread_mutex_unlock (&sys->lock);
    } while (n > cap);
    uint64_t end = s_end_ns (timeout_ms);
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        int left = s_left_ms (end, timeout_ms);
        if (left == 0) {
            rc = TP_ETIMEDOUT;
            break;
        }
        char peer[TP_NODE_NAME_MAX + 1];
        if (!tp__node_name_copy (nodes[i], peer))
            continue; /* forgotten meanwhile */
        int r = tp_whereis_at (sys, name, peer, left, ref);
        if (r == 0 && !tp_ref_is_nil (*ref))
            break;
        if (r == TP_ESTATE || r == TP_EINVAL)
            rc = r;
        *ref = TP_REF_NIL;
    }
    free (nodes);
    return rc;
}

void
tp_node_stats_get (tp_system *sys, tp_node_stats *st)
{
    memset (st, 0, sizeof *st);
    tp__gw_stats (sys, st);
}

/* ------------------------------------------------------------------ */
/*  Node events and lookups for actors                                 */


int
tp_node_monitor (tp_actor *self, bool on)
{
    if (!self)
        return TP_EINVAL;
    tp_system *sys = self->ctx->sys;
    if (!on) {
        if (self->flags & TP__A_NODEMON)
            tp__node_unmonitor (sys, self->ref);
        self->flags &= ~(uint32_t) TP__A_NODEMON;
        return 0;
    }
    if (self->flags & TP__A_NODEMON)
        return 0;
    tp__node_monitor_add (sys, self->ref);
    self->flags |= TP__A_NODEMON;
    return 0;
}


int
tp_node_lookup (tp_actor *self, const char *node_name, const char *name,
                int timeout_ms, tp_cont_fn cont, void *arg)
{
    if (!self || !node_name || !name || !*name || strlen (name) > 63 || !cont
        || timeout_ms == 0 || timeout_ms < -1)
        return TP_EINVAL;
    tp_system *sys = self->ctx->sys;
    uint32_t id = tp__node_intern (node_name, strlen (node_name), 0);
    if (!id || tp__node_same_name (id, sys->node))
        return TP_EINVAL; /* (this node's names: tp_whereis) */
    uint32_t exact = 0;
    pthread_mutex_lock (&sys->lock);
    bool up = tp__gw_node_up (sys, id, &exact);
    pthread_mutex_unlock (&sys->lock);
    if (!up)
        return TP_ENODE;
    /* a LOOKUP to the node, answered by a reply [r ref] to this actor:
       an ask of the node itself, so that the answer, a timeout or the
       node's end reaches cont like any ask's */
    tp_msg *m = tp__msg_alloc ();
    m->tag = tp__tag_sys;
    m->flags = TP__MSG_SYS;
    m->aux = TP__SYS_LOOKUP;
    tp_msg_pack (m, "s", name);
    return tp__ask_raw (self, (tp_ref){exact, 0, 0}, m, timeout_ms, cont, arg);
}

int
tp_node_peers (tp_system *sys, tp_peer_info *out, int cap)
{
    if (!sys || (cap > 0 && !out))
        return TP_EINVAL;
    pthread_mutex_lock (&sys->lock);
    int n = sys->gw ? tp__gw_peers (sys, out, cap) : 0;
    pthread_mutex_unlock (&sys->lock);
    return n;
}

const char *
tp_bad_cause_name (int cause)
{
    static const char *const names[TP_BAD_CAUSES] = {
        "malformed", "version", "hello", "before_hello", "spoofed", "too_big"};
    return cause >= 0 && cause < TP_BAD_CAUSES ? names[cause] : "?";
}
