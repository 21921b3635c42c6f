/*  core/gateway.c: the node gateway, one thread per system that carries
    messages for refs of other nodes (docs/PROTOCOL.md).

    Local ctxs hand remote-bound messages to the gateway ctx like to any
    other ctx (inproc batches; each record names its destination node).
    The gateway owns:
      - a ROUTER socket bound to the node's endpoints: peers that connected
        to us, addressed by their routing id (= their node name);
      - one DEALER per peer we connected to (tp_node_connect), with our
        node name as routing id;
    and speaks envelopes (core/wire.c) on both. Every frame from the
    network is validated; bad frames are counted and dropped.

    Failure detection: every heartbeat interval the gateway greets peers
    (HELLO to peers we connect to that have not answered, HEARTBEAT to
    the others); a peer silent for 3 intervals is down. The gateway
    remembers which local actors monitor or are linked to actors of each
    peer, and tells them (reason noconnect) when the peer goes down.
*/
#include "runtime.h"

#if __has_include("wire.h")
#include "wire.h"

#include <sched.h>

#define GW_MAX_PEERS 256
#define GW_DOWN_AFTER 3      /* heartbeat intervals of silence */
#define GW_MAX_FRAME (16u * 1024u * 1024u)
#define TP__DRAIN_MAX_NS 30000000000ull /* longest wait for DRAIN_ACKs */

/*  A monitor or link that crosses to a peer. */
typedef struct gw_watch {
    struct gw_watch *next;
    bool link;     /* link (else monitor) */
    tp_ref local;  /* our actor */
    tp_ref remote; /* the peer's actor */
    int64_t id;    /* monitor id */
} gw_watch;

typedef struct gw_peer {
    uint32_t node;          /* node id, 0 until its HELLO */
    char name[TP_NODE_NAME_MAX + 1];
    char endpoint[256];     /* when we connected to it */
    void *dealer;           /* our connection to it, or NULL */
    bool via_router;        /* it connected to us: answer over the ROUTER */
    bool up;                /* greeted and not silent */
    bool drained;           /* DRAIN_ACK received */
    uint64_t incarnation;
    uint64_t last_rx;       /* ns */
    gw_watch *watches;
} gw_peer;

struct tp__gw {
    void *router;
    char endpoints[8][256];
    int nendpoints;
    gw_peer peers[GW_MAX_PEERS];
    int npeers;
    uint64_t incarnation;
    uint64_t next_beat;     /* ns */
    bool bad_logged;
    /* counters, readable by other threads */
    _Atomic uint64_t frames_in, frames_out, bytes_in, bytes_out, frames_bad,
        nodes_down, peers_up;
};

/*  The peer table is written by the gateway thread only; other threads
    read it (tp_node_up, tp_node_connect) under sys->lock, which the
    gateway takes around every change. */

static uint64_t
s_incarnation (void)
{
    uint64_t v = tp__now_ns ();
    FILE *f = fopen ("/dev/urandom", "rb");
    if (f) {
        uint64_t r;
        if (fread (&r, sizeof r, 1, f) == 1)
            v ^= r;
        fclose (f);
    }
    return v ? v : 1;
}

static void
s_bad (tp__gw *g, const char *why)
{
    atomic_fetch_add (&g->frames_bad, 1);
    if (!g->bad_logged) {
        g->bad_logged = true;
        fprintf (stderr, "troupe: gateway dropped a bad frame (%s); further "
                         "ones are only counted\n",
                 why);
    }
}

/* ------------------------------------------------------------------ */
/*  Sending envelopes                                                  */

static int
s_send_env (tp_system *sys, gw_peer *p, const tp__env *e)
{
    tp__gw *g = sys->gw;
    uint8_t *buf;
    size_t len;
    if (tp__wire_encode (e, &buf, &len) != 0)
        return TP_EINVAL;
    int rc;
    if (p->dealer)
        rc = zmq_send (p->dealer, buf, len, ZMQ_DONTWAIT);
    else {
        rc = zmq_send (g->router, p->name, strlen (p->name),
                       ZMQ_SNDMORE | ZMQ_DONTWAIT);
        if (rc >= 0)
            rc = zmq_send (g->router, buf, len, ZMQ_DONTWAIT);
    }
    free (buf);
    if (rc < 0)
        return TP_ENODE;
    atomic_fetch_add_explicit (&g->frames_out, 1, memory_order_relaxed);
    atomic_fetch_add_explicit (&g->bytes_out, len, memory_order_relaxed);
    return 0;
}

static void
s_env_init (tp__env *e, tp_system *sys, uint32_t kind)
{
    memset (e, 0, sizeof *e);
    e->kind = kind;
    e->from_node = tp_node_name (sys->node);
    e->from_node_len = strlen (e->from_node);
}

static void
s_send_control (tp_system *sys, gw_peer *p, uint32_t kind)
{
    tp__env e;
    s_env_init (&e, sys, kind);
    uint8_t body[128];
    tp_msg *m = NULL;
    if (kind == TP__WIRE_HELLO) {
        m = tp__msg_alloc ();
        tp_msg_pack (m, "[sUu]", tp_node_name (sys->node),
                     (uint64_t) sys->gw->incarnation,
                     (unsigned) sys->heartbeat_ms);
        e.body = tp_msg_body (m);
        e.body_len = tp_msg_size (m);
    }
    (void) body;
    s_send_env (sys, p, &e);
    tp__msg_free (m);
}

/* ------------------------------------------------------------------ */
/*  Peers                                                              */

static gw_peer *
s_peer_by_node (tp__gw *g, uint32_t node)
{
    for (int i = 0; i < g->npeers; i++)
        if (g->peers[i].node == node)
            return &g->peers[i];
    return NULL;
}

static gw_peer *
s_peer_by_name (tp__gw *g, const char *name, size_t len)
{
    for (int i = 0; i < g->npeers; i++)
        if (strlen (g->peers[i].name) == len
            && memcmp (g->peers[i].name, name, len) == 0)
            return &g->peers[i];
    return NULL;
}

static gw_peer *
s_peer_new (tp_system *sys)
{
    tp__gw *g = sys->gw;
    if (g->npeers >= GW_MAX_PEERS)
        return NULL;
    pthread_mutex_lock (&sys->lock);
    gw_peer *p = &g->peers[g->npeers++];
    memset (p, 0, sizeof *p);
    pthread_mutex_unlock (&sys->lock);
    return p;
}

static void
s_set_up (tp_system *sys, gw_peer *p, bool up)
{
    if (p->up == up)
        return;
    pthread_mutex_lock (&sys->lock);
    p->up = up;
    pthread_mutex_unlock (&sys->lock);
    if (up)
        atomic_fetch_add (&sys->gw->peers_up, 1);
    else
        atomic_fetch_sub (&sys->gw->peers_up, 1);
}

static void
s_watch_add (gw_peer *p, bool link, tp_ref local, tp_ref remote, int64_t id)
{
    gw_watch *w = tp__malloc (sizeof *w);
    w->link = link;
    w->local = local;
    w->remote = remote;
    w->id = id;
    w->next = p->watches;
    p->watches = w;
}

static void
s_watch_remove (gw_peer *p, bool link, tp_ref local, tp_ref remote, int64_t id)
{
    for (gw_watch **pp = &p->watches; *pp; pp = &(*pp)->next) {
        gw_watch *w = *pp;
        if (w->link == link && tp_ref_eq (w->local, local)
            && (link ? tp_ref_eq (w->remote, remote) : w->id == id)) {
            *pp = w->next;
            free (w);
            return;
        }
    }
}

/*  Sends a runtime message to a local actor as if it came from `from`. */
static void
s_local_sys (tp__ctx *c, tp_ref from, tp_ref to, int aux, uint64_t corr,
             const char *fmt, ...)
{
    tp_msg *m = tp__msg_alloc ();
    m->tag = tp__tag_sys;
    m->from = from;
    m->flags = TP__MSG_SYS;
    m->aux = (uint16_t) aux;
    m->corr = corr;
    va_list ap;
    va_start (ap, fmt);
    tp_msg_vpack (m, fmt, ap);
    va_end (ap);
    tp__route (c, to, m, 0);
}

/*  The peer stopped answering: tell every local actor that watched one of
    its actors, and forget the watches. */
static void
s_peer_down (tp__ctx *c, gw_peer *p)
{
    tp_system *sys = c->sys;
    tp_tag_t noconn = tp_tag ("noconnect");
    s_set_up (sys, p, false);
    atomic_fetch_add (&sys->gw->nodes_down, 1);
    while (p->watches) {
        gw_watch *w = p->watches;
        p->watches = w->next;
        if (w->link)
            s_local_sys (c, w->remote, w->local, TP__SYS_EXIT, 0, "t", noconn);
        else
            s_local_sys (c, w->remote, w->local, TP__SYS_DOWN,
                         (uint64_t) w->id, "rt", w->remote, noconn);
        free (w);
    }
    tp__flush (c);
}

/* ------------------------------------------------------------------ */
/*  Local -> remote                                                    */

static uint32_t
s_kind_of (const tp_msg *m)
{
    if (!(m->flags & TP__MSG_SYS))
        return TP__WIRE_USER;
    switch (m->aux) {
    case TP__SYS_MONITOR: return TP__WIRE_MONITOR;
    case TP__SYS_DEMONITOR: return TP__WIRE_DEMONITOR;
    case TP__SYS_DOWN: return TP__WIRE_DOWN;
    case TP__SYS_LINK: return TP__WIRE_LINK;
    case TP__SYS_UNLINK: return TP__WIRE_UNLINK;
    case TP__SYS_EXIT: return TP__WIRE_EXIT;
    case TP__SYS_STOP: return TP__WIRE_STOP;
    case TP__SYS_LOOKUP: return TP__WIRE_LOOKUP;
    default: return 0;
    }
}

/*  A record from a local ctx for an actor on another node (consumes m). */
void
tp__gw_forward (tp__ctx *c, tp_ref to, tp_msg *m)
{
    tp_system *sys = c->sys;
    tp__gw *g = sys->gw;
    gw_peer *p = s_peer_by_node (g, to.node);
    uint32_t kind = s_kind_of (m);
    if (!p || !p->up || !kind) {
        /* No way there: answer for the unreachable actor as the protocol
           expects, with reason noconnect. */
        tp_tag_t noconn = tp_tag ("noconnect");
        if ((m->flags & TP__MSG_SYS) && m->aux == TP__SYS_MONITOR)
            s_local_sys (c, to, m->from, TP__SYS_DOWN, m->corr, "rt", to,
                         noconn);
        else if ((m->flags & TP__MSG_SYS) && m->aux == TP__SYS_LINK)
            s_local_sys (c, to, m->from, TP__SYS_EXIT, 0, "t", noconn);
        else if (!(m->flags & TP__MSG_SYS))
            atomic_fetch_add_explicit (&sys->dead_letters, 1,
                                       memory_order_relaxed);
        tp__msg_free (m);
        return;
    }
    /* Remember what must be answered if the peer goes down. */
    if (m->flags & TP__MSG_SYS) {
        switch (m->aux) {
        case TP__SYS_MONITOR:
            s_watch_add (p, false, m->from, to, (int64_t) m->corr);
            break;
        case TP__SYS_DEMONITOR:
            s_watch_remove (p, false, m->from, to, (int64_t) m->corr);
            break;
        case TP__SYS_LINK:
            s_watch_add (p, true, m->from, to, 0);
            break;
        case TP__SYS_UNLINK:
        case TP__SYS_EXIT:
            s_watch_remove (p, true, m->from, to, 0);
            break;
        default:
            break;
        }
    }
    tp__env e;
    s_env_init (&e, sys, kind);
    e.to_index = to.index;
    e.to_gen = to.gen;
    e.from_index = m->from.index;
    e.from_gen = m->from.gen;
    if (!tp_ref_is_nil (m->from) && m->from.node != sys->node) {
        /* forwarded on behalf of a third node: keep its name */
        const char *n = tp_node_name (m->from.node);
        if (n) {
            e.from_node = n;
            e.from_node_len = strlen (n);
        }
    }
    e.tag = m->tag;
    e.corr = m->corr;
    e.flags = (m->flags & TP__MSG_REQUEST ? TP__WIRE_F_REQUEST : 0)
              | (m->flags & TP__MSG_REPLY ? TP__WIRE_F_REPLY : 0);
    e.body = m->body;
    e.body_len = m->size;
    if (s_send_env (sys, p, &e) != 0 && !(m->flags & TP__MSG_SYS))
        atomic_fetch_add_explicit (&sys->dead_letters, 1,
                                   memory_order_relaxed);
    tp__msg_free (m);
}

/* ------------------------------------------------------------------ */
/*  Remote -> local                                                    */

static void
s_on_hello (tp__ctx *c, gw_peer *p, const char *rid, size_t rid_len,
            const tp__env *e)
{
    tp_system *sys = c->sys;
    tp__gw *g = sys->gw;
    const char *name;
    size_t name_len;
    uint64_t inc;
    unsigned hb;
    if (tp_unpack_raw (e->body, e->body_len, "[sUu]", &name, &name_len, &inc,
                       &hb)
            != 0
        || name_len != e->from_node_len
        || memcmp (name, e->from_node, name_len) != 0
        || (rid && (rid_len != name_len || memcmp (rid, name, name_len) != 0))) {
        s_bad (g, "bad HELLO");
        return;
    }
    char nm[TP_NODE_NAME_MAX + 1];
    memcpy (nm, name, name_len);
    nm[name_len] = '\0';
    uint32_t node = tp_node_id (nm);
    if (!node || node == sys->node) {
        s_bad (g, "HELLO with a bad or our own node name");
        return;
    }
    if (!p) {
        /* A peer that connected to us (or answered on a new connection). */
        p = s_peer_by_node (g, node);
        if (!p) {
            p = s_peer_new (sys);
            if (!p) {
                s_bad (g, "too many peers");
                return;
            }
        }
        if (!p->dealer)
            p->via_router = true;
    }
    bool restarted = p->node == node && p->incarnation && p->incarnation != inc;
    if (restarted && p->up)
        s_peer_down (c, p); /* the old incarnation's actors are gone */
    pthread_mutex_lock (&sys->lock);
    p->node = node;
    memcpy (p->name, nm, name_len + 1);
    p->incarnation = inc;
    pthread_mutex_unlock (&sys->lock);
    p->last_rx = tp__now_ns ();
    bool was_up = p->up;
    s_set_up (sys, p, true);
    if (p->via_router && !p->dealer && !was_up)
        s_send_control (sys, p, TP__WIRE_HELLO); /* greet back */
}

static void
s_on_frame (tp__ctx *c, gw_peer *p, const char *rid, size_t rid_len,
            const void *data, size_t len)
{
    tp_system *sys = c->sys;
    tp__gw *g = sys->gw;
    atomic_fetch_add_explicit (&g->frames_in, 1, memory_order_relaxed);
    atomic_fetch_add_explicit (&g->bytes_in, len, memory_order_relaxed);
    tp__env e;
    int rc = tp__wire_decode (data, len, &e);
    if (rc != 0) {
        s_bad (g, rc == TP_ENOTSUP ? "unknown protocol version"
                                   : "malformed envelope");
        return;
    }
    if (e.kind == TP__WIRE_HELLO) {
        s_on_hello (c, p, rid, rid_len, &e);
        return;
    }
    if (!p && rid)
        p = s_peer_by_name (g, rid, rid_len);
    if (!p || !p->node || !p->up) {
        s_bad (g, "frame before HELLO");
        return;
    }
    /* A peer speaks for itself only: its routing id and from_node agree. */
    bool from_peer = e.from_node_len == strlen (p->name)
                     && memcmp (e.from_node, p->name, e.from_node_len) == 0;
    if (!from_peer) {
        s_bad (g, "from_node is not the connected peer");
        return;
    }
    p->last_rx = tp__now_ns ();
    tp_ref from = {p->node, e.from_index, e.from_gen};
    tp_ref to = {sys->node, e.to_index, e.to_gen};
    switch (e.kind) {
    case TP__WIRE_HEARTBEAT:
        return;
    case TP__WIRE_DRAIN:
        s_send_control (sys, p, TP__WIRE_DRAIN_ACK);
        return;
    case TP__WIRE_DRAIN_ACK:
        p->drained = true;
        return;
    case TP__WIRE_LOOKUP: {
        const char *name;
        size_t nlen;
        char nm[64];
        if (tp_unpack_raw (e.body, e.body_len, "s", &name, &nlen) != 0
            || nlen == 0 || nlen >= sizeof nm) {
            s_bad (g, "bad LOOKUP");
            return;
        }
        memcpy (nm, name, nlen);
        nm[nlen] = '\0';
        tp_ref r = tp_whereis (sys, nm);
        tp_msg *m = tp__msg_alloc ();
        tp_msg_pack (m, "r", r);
        tp__env a;
        s_env_init (&a, sys, TP__WIRE_LOOKUP_REPLY);
        a.to_index = e.from_index;
        a.to_gen = e.from_gen;
        a.corr = e.corr;
        a.flags = TP__WIRE_F_REPLY;
        a.body = m->body;
        a.body_len = m->size;
        s_send_env (sys, p, &a);
        tp__msg_free (m);
        return;
    }
    default:
        break;
    }
    tp_msg *m = tp__msg_alloc ();
    m->from = from;
    m->tag = e.tag;
    m->corr = e.corr;
    switch (e.kind) {
    case TP__WIRE_USER:
        m->flags = (uint16_t) ((e.flags & TP__WIRE_F_REQUEST ? TP__MSG_REQUEST : 0)
                               | (e.flags & TP__WIRE_F_REPLY ? TP__MSG_REPLY : 0));
        if (!m->tag) {
            tp__msg_free (m);
            s_bad (g, "tag 0");
            return;
        }
        break;
    case TP__WIRE_LOOKUP_REPLY:
        m->tag = tp__tag_sys;
        m->flags = TP__MSG_REPLY;
        break;
    case TP__WIRE_MONITOR:
        m->flags = TP__MSG_SYS;
        m->aux = TP__SYS_MONITOR;
        break;
    case TP__WIRE_DEMONITOR:
        m->flags = TP__MSG_SYS;
        m->aux = TP__SYS_DEMONITOR;
        break;
    case TP__WIRE_DOWN:
        m->flags = TP__MSG_SYS;
        m->aux = TP__SYS_DOWN;
        s_watch_remove (p, false, to, from, (int64_t) e.corr);
        break;
    case TP__WIRE_LINK:
        m->flags = TP__MSG_SYS;
        m->aux = TP__SYS_LINK;
        s_watch_add (p, true, to, from, 0);
        break;
    case TP__WIRE_UNLINK:
        m->flags = TP__MSG_SYS;
        m->aux = TP__SYS_UNLINK;
        s_watch_remove (p, true, to, from, 0);
        break;
    case TP__WIRE_EXIT:
        m->flags = TP__MSG_SYS;
        m->aux = TP__SYS_EXIT;
        s_watch_remove (p, true, to, from, 0);
        break;
    case TP__WIRE_STOP:
        m->flags = TP__MSG_SYS;
        m->aux = TP__SYS_STOP;
        break;
    default:
        tp__msg_free (m);
        s_bad (g, "unexpected kind");
        return;
    }
    if (m->tag == 0)
        m->tag = tp__tag_sys;
    /* the body last: the flags above must not hide a heap body */
    if (e.body_len && tp__msg_append (m, e.body, e.body_len) != 0) {
        tp__msg_free (m);
        s_bad (g, "body too big");
        return;
    }
    if (tp__route (c, to, m, 0) != 0) {
        /* a full bounded mailbox: across nodes that is a dropped message
           (at-most-once), counted as a dead letter */
        atomic_fetch_add_explicit (&sys->dead_letters, 1,
                                   memory_order_relaxed);
        tp__msg_free (m);
    }
}

/* ------------------------------------------------------------------ */
/*  The gateway thread                                                 */

/*  Control records for the gateway carry a command in aux and a string
    in the body. */
enum { GW_CTL_BIND = 100, GW_CTL_CONNECT };

static void
s_beat (tp__ctx *c, uint64_t now)
{
    tp_system *sys = c->sys;
    tp__gw *g = sys->gw;
    uint64_t hb = (uint64_t) sys->heartbeat_ms * 1000000u;
    for (int i = 0; i < g->npeers; i++) {
        gw_peer *p = &g->peers[i];
        if (p->up && now - p->last_rx > GW_DOWN_AFTER * hb)
            s_peer_down (c, p);
        if (p->dealer && !p->up)
            s_send_control (sys, p, TP__WIRE_HELLO);
        else if (p->up)
            s_send_control (sys, p, TP__WIRE_HEARTBEAT);
    }
    g->next_beat = now + hb;
}

static void
s_read_router (tp__ctx *c)
{
    tp__gw *g = c->sys->gw;
    for (int n = 0; n < 256; n++) {
        zmq_msg_t rid, body;
        zmq_msg_init (&rid);
        if (zmq_msg_recv (&rid, g->router, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close (&rid);
            return;
        }
        zmq_msg_init (&body);
        bool ok = zmq_msg_more (&rid)
                  && zmq_msg_recv (&body, g->router, ZMQ_DONTWAIT) >= 0;
        /* a well-formed frame has exactly two parts: drop extra parts */
        while (ok && zmq_msg_more (&body)) {
            zmq_msg_t extra;
            zmq_msg_init (&extra);
            zmq_msg_recv (&extra, g->router, ZMQ_DONTWAIT);
            zmq_msg_close (&extra);
            ok = false;
            if (!zmq_msg_more (&extra))
                break;
        }
        if (ok)
            s_on_frame (c, NULL, zmq_msg_data (&rid), zmq_msg_size (&rid),
                        zmq_msg_data (&body), zmq_msg_size (&body));
        else
            s_bad (g, "frame without exactly two parts");
        zmq_msg_close (&rid);
        zmq_msg_close (&body);
    }
}

static void
s_read_dealer (tp__ctx *c, gw_peer *p)
{
    for (int n = 0; n < 256; n++) {
        zmq_msg_t f;
        zmq_msg_init (&f);
        if (zmq_msg_recv (&f, p->dealer, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close (&f);
            return;
        }
        if (zmq_msg_more (&f)) {
            s_bad (c->sys->gw, "multi-part frame");
            do {
                zmq_msg_recv (&f, p->dealer, ZMQ_DONTWAIT);
            } while (zmq_msg_more (&f));
        }
        else
            s_on_frame (c, p, NULL, 0, zmq_msg_data (&f), zmq_msg_size (&f));
        zmq_msg_close (&f);
    }
}

static void *
s_gw_loop (void *arg)
{
    tp__ctx *c = arg;
    tp_system *sys = c->sys;
    tp__gw *g = sys->gw;
    tp__tl_ctx = c;
    zmq_pollitem_t items[2 + GW_MAX_PEERS];
    while (!c->shutdown) {
        uint64_t now = tp__now_ns ();
        if (now >= g->next_beat)
            s_beat (c, now);
        int n = 0;
        items[n++] = (zmq_pollitem_t){c->pull, 0, ZMQ_POLLIN, 0};
        items[n++] = (zmq_pollitem_t){g->router, 0, ZMQ_POLLIN, 0};
        int first_dealer = n;
        gw_peer *dp[GW_MAX_PEERS];
        for (int i = 0; i < g->npeers; i++)
            if (g->peers[i].dealer) {
                dp[n - first_dealer] = &g->peers[i];
                items[n++] = (zmq_pollitem_t){g->peers[i].dealer, 0, ZMQ_POLLIN,
                                              0};
            }
        long wait_ms = (long) ((g->next_beat - now) / 1000000u) + 1;
        if (atomic_load (&c->inbound) > c->consumed)
            wait_ms = 0;
        if (zmq_poll (items, n, wait_ms) < 0 && errno != EINTR)
            break;
        tp__ctx_drain (c, items[0].revents & ZMQ_POLLIN, INT32_MAX);
        if (items[1].revents & ZMQ_POLLIN)
            s_read_router (c);
        for (int i = first_dealer; i < n; i++)
            if (items[i].revents & ZMQ_POLLIN)
                s_read_dealer (c, dp[i - first_dealer]);
        tp__flush (c);
    }
    tp__tl_ctx = NULL;
    atomic_store (&c->finished, 1);
    return NULL;
}

/*  Final phase of tp_system_destroy, after every other runtime thread
    has stopped: forward what is left, tell peers we are going (DRAIN),
    wait (bounded) for their DRAIN_ACK, which proves they received every
    earlier frame, then close. */
void
tp__gw_shutdown (tp_system *sys)
{
    tp__ctx *c = atomic_load (&sys->gw_ctx);
    if (!c)
        return;
    tp__gw *g = sys->gw;
    tp__ctl (tp__ctx_external (sys), c, TP__CTL_SHUTDOWN, 0);
    pthread_join (c->thread, NULL);
    c->joined = true;
    tp__tl_ctx = c; /* this thread now plays the gateway */
    tp__ctx_drain (c, true, INT32_MAX);
    tp__flush (c);
    int waiting = 0;
    for (int i = 0; i < g->npeers; i++)
        if (g->peers[i].up) {
            s_send_control (sys, &g->peers[i], TP__WIRE_DRAIN);
            waiting++;
        }
    /* Wait for every answering peer to acknowledge. A peer that stops
       answering is declared down by the usual heartbeat rule, which ends
       the wait for it; TP__DRAIN_MAX_NS bounds the whole. */
    uint64_t end = tp__now_ns () + TP__DRAIN_MAX_NS;
    while (waiting > 0 && tp__now_ns () < end) {
        uint64_t now = tp__now_ns ();
        if (now >= g->next_beat)
            s_beat (c, now);
        zmq_pollitem_t items[1 + GW_MAX_PEERS];
        gw_peer *dp[GW_MAX_PEERS];
        int n = 0;
        items[n++] = (zmq_pollitem_t){g->router, 0, ZMQ_POLLIN, 0};
        for (int i = 0; i < g->npeers; i++)
            if (g->peers[i].dealer) {
                dp[n - 1] = &g->peers[i];
                items[n++] = (zmq_pollitem_t){g->peers[i].dealer, 0, ZMQ_POLLIN,
                                              0};
            }
        zmq_poll (items, n, 50);
        if (items[0].revents & ZMQ_POLLIN)
            s_read_router (c);
        for (int i = 1; i < n; i++)
            if (items[i].revents & ZMQ_POLLIN)
                s_read_dealer (c, dp[i - 1]);
        waiting = 0;
        for (int i = 0; i < g->npeers; i++)
            if (g->peers[i].up && !g->peers[i].drained)
                waiting++;
    }
    tp__tl_ctx = NULL;
    int zero = 0;
    for (int i = 0; i < g->npeers; i++)
        if (g->peers[i].dealer) {
            zmq_setsockopt (g->peers[i].dealer, ZMQ_LINGER, &zero, sizeof zero);
            zmq_close (g->peers[i].dealer);
            g->peers[i].dealer = NULL;
        }
    zmq_setsockopt (g->router, ZMQ_LINGER, &zero, sizeof zero);
    zmq_close (g->router);
    g->router = NULL;
}

void
tp__gw_free (tp_system *sys)
{
    tp__gw *g = sys->gw;
    if (!g)
        return;
    for (int i = 0; i < g->npeers; i++)
        while (g->peers[i].watches) {
            gw_watch *w = g->peers[i].watches;
            g->peers[i].watches = w->next;
            free (w);
        }
    free (g);
    sys->gw = NULL;
}

/*  Starts the gateway (once). Caller holds no lock. */
static int
s_gw_start (tp_system *sys)
{
    static pthread_mutex_t once = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock (&once);
    if (atomic_load (&sys->gw_ctx)) {
        pthread_mutex_unlock (&once);
        return 0;
    }
    if (atomic_load (&sys->stopping)) {
        pthread_mutex_unlock (&once);
        return TP_ESTOPPED;
    }
    tp__gw *g = tp__calloc (1, sizeof *g);
    g->incarnation = s_incarnation ();
    g->router = zmq_socket (sys->zctx, ZMQ_ROUTER);
    int one = 1, zero = 0;
    int64_t maxmsg = GW_MAX_FRAME;
    const char *name = tp_node_name (sys->node);
    zmq_setsockopt (g->router, ZMQ_ROUTER_HANDOVER, &one, sizeof one);
    /* Never drop silently: an unknown routing id is an error we count,
       and queues are not capped by a high-water mark (a full queue would
       make ZeroMQ drop or refuse frames under a burst). */
    zmq_setsockopt (g->router, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    zmq_setsockopt (g->router, ZMQ_SNDHWM, &zero, sizeof zero);
    zmq_setsockopt (g->router, ZMQ_RCVHWM, &zero, sizeof zero);
    zmq_setsockopt (g->router, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    zmq_setsockopt (g->router, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt (g->router, ZMQ_ROUTING_ID, name, strlen (name));
    sys->gw = g;
    tp__ctx *c = tp__ctx_new (sys, TP__CTX_GATEWAY);
    if (!c) {
        zmq_close (g->router);
        free (g);
        sys->gw = NULL;
        pthread_mutex_unlock (&once);
        return TP_EZMQ;
    }
    if (pthread_create (&c->thread, NULL, s_gw_loop, c)) {
        pthread_mutex_unlock (&once);
        return TP_EZMQ;
    }
    c->has_thread = true;
    atomic_store (&sys->gw_ctx, c);
    pthread_mutex_unlock (&once);
    return 0;
}

/* ------------------------------------------------------------------ */
/*  Control: bind and connect run on the gateway thread, which owns the  */
/*  sockets; callers wait for the reply like tp_call does.               */

static void
s_reply (tp__ctx *c, tp_msg *req, int rc, const char *text)
{
    tp_msg *r = tp__msg_alloc ();
    r->tag = tp__tag_sys;
    r->flags = TP__MSG_REPLY;
    r->corr = req->corr;
    tp_msg_pack (r, "is", rc, text ? text : "");
    tp__route (c, req->from, r, 0);
}

void
tp__gw_control (tp__ctx *c, int cmd, tp_msg *m)
{
    tp_system *sys = c->sys;
    tp__gw *g = sys->gw;
    char ep[256];
    const char *s;
    size_t n;
    if (tp_msg_unpack (m, "s", &s, &n) != 0 || n == 0 || n >= sizeof ep) {
        s_reply (c, m, TP_EINVAL, NULL);
        tp__msg_free (m);
        return;
    }
    memcpy (ep, s, n);
    ep[n] = '\0';
    if (cmd == GW_CTL_BIND) {
        if (g->nendpoints >= 8 || zmq_bind (g->router, ep) != 0)
            s_reply (c, m, TP_EZMQ, NULL);
        else {
            char bound[256];
            size_t blen = sizeof bound;
            if (zmq_getsockopt (g->router, ZMQ_LAST_ENDPOINT, bound, &blen))
                strcpy (bound, ep);
            snprintf (g->endpoints[g->nendpoints++], 256, "%s", bound);
            s_reply (c, m, 0, bound);
        }
    }
    else if (cmd == GW_CTL_CONNECT) {
        gw_peer *p = NULL;
        for (int i = 0; i < g->npeers; i++)
            if (strcmp (g->peers[i].endpoint, ep) == 0)
                p = &g->peers[i];
        if (!p) {
            p = s_peer_new (sys);
            if (!p) {
                s_reply (c, m, TP_EZMQ, NULL);
                tp__msg_free (m);
                return;
            }
            void *d = zmq_socket (sys->zctx, ZMQ_DEALER);
            const char *name = tp_node_name (sys->node);
            int zero = 0, ivl = 100;
            int64_t maxmsg = GW_MAX_FRAME;
            zmq_setsockopt (d, ZMQ_ROUTING_ID, name, strlen (name));
            zmq_setsockopt (d, ZMQ_LINGER, &zero, sizeof zero);
            zmq_setsockopt (d, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
            zmq_setsockopt (d, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl);
            zmq_setsockopt (d, ZMQ_SNDHWM, &zero, sizeof zero);
            zmq_setsockopt (d, ZMQ_RCVHWM, &zero, sizeof zero);
            if (!d || zmq_connect (d, ep) != 0) {
                if (d)
                    zmq_close (d);
                pthread_mutex_lock (&sys->lock);
                g->npeers--;
                pthread_mutex_unlock (&sys->lock);
                s_reply (c, m, TP_EZMQ, NULL);
                tp__msg_free (m);
                return;
            }
            pthread_mutex_lock (&sys->lock);
            snprintf (p->endpoint, sizeof p->endpoint, "%s", ep);
            p->dealer = d;
            pthread_mutex_unlock (&sys->lock);
            s_send_control (sys, p, TP__WIRE_HELLO);
        }
        /* The caller waits for the peer to answer (polling tp_node_up). */
        s_reply (c, m, 0, NULL);
    }
    tp__msg_free (m);
}

/* ------------------------------------------------------------------ */
/*  Public calls                                                       */

static int
s_control (tp_system *sys, int cmd, const char *arg, int timeout_ms,
           tp_msg **reply)
{
    if (tp__tl_ctx && tp__tl_ctx->sys == sys
        && tp__tl_ctx->kind != TP__CTX_EXTERNAL)
        return TP_ESTATE;
    int rc = s_gw_start (sys);
    if (rc)
        return rc;
    tp__ctx *me = tp__ctx_external (sys);
    tp_msg *m = tp__msg_alloc ();
    m->from = me->inbox;
    m->corr = ++me->corr_next;
    uint64_t corr = m->corr;
    tp_msg_pack (m, "s", arg);
    tp__ctl_msg (me, atomic_load (&sys->gw_ctx), cmd, m);
    return tp__ext_wait_reply (me, corr, timeout_ms, reply);
}

int
tp_node_bind (tp_system *sys, const char *endpoint, char *bound, size_t cap)
{
    if (!sys || !endpoint || !*endpoint || strlen (endpoint) > 255)
        return TP_EINVAL;
    tp_msg *r = NULL;
    int rc = s_control (sys, GW_CTL_BIND, endpoint, 10000, &r);
    if (rc)
        return rc;
    const char *b;
    size_t n;
    int brc;
    if (tp_msg_unpack (r, "is", &brc, &b, &n) != 0)
        brc = TP_EPROTO;
    if (brc == 0 && bound && cap) {
        if (n >= cap)
            brc = TP_ETRUNC;
        else {
            memcpy (bound, b, n);
            bound[n] = '\0';
        }
    }
    tp_msg_destroy (&r);
    return brc;
}

static int
s_peer_up_at (tp_system *sys, const char *endpoint, uint32_t *node)
{
    int up = 0;
    pthread_mutex_lock (&sys->lock);
    tp__gw *g = sys->gw;
    for (int i = 0; g && i < g->npeers; i++)
        if (strcmp (g->peers[i].endpoint, endpoint) == 0 && g->peers[i].up) {
            up = 1;
            if (node)
                *node = g->peers[i].node;
        }
    pthread_mutex_unlock (&sys->lock);
    return up;
}

int
tp_node_connect (tp_system *sys, const char *endpoint, int timeout_ms,
                 uint32_t *node)
{
    if (!sys || !endpoint || !*endpoint || strlen (endpoint) > 255)
        return TP_EINVAL;
    uint64_t end = tp__now_ns ()
                   + (uint64_t) (timeout_ms < 0 ? 3600000 : timeout_ms)
                         * 1000000u;
    tp_msg *r = NULL;
    int rc = s_control (sys, GW_CTL_CONNECT, endpoint,
                        timeout_ms < 0 ? -1 : timeout_ms, &r);
    if (rc)
        return rc;
    int crc;
    const char *t;
    size_t n;
    if (tp_msg_unpack (r, "is", &crc, &t, &n) != 0)
        crc = TP_EPROTO;
    tp_msg_destroy (&r);
    if (crc)
        return crc;
    while (!s_peer_up_at (sys, endpoint, node)) {
        if (tp__now_ns () >= end)
            return TP_ETIMEDOUT;
        struct timespec ts = {0, 1000000};
        nanosleep (&ts, NULL);
    }
    return 0;
}

bool
tp_node_up (tp_system *sys, uint32_t node)
{
    bool up = false;
    pthread_mutex_lock (&sys->lock);
    tp__gw *g = sys->gw;
    for (int i = 0; g && i < g->npeers; i++)
        if (g->peers[i].node == node && g->peers[i].up)
            up = true;
    pthread_mutex_unlock (&sys->lock);
    return up;
}

int
tp_whereis_at (tp_system *sys, const char *name, const char *node_name,
               int timeout_ms, tp_ref *ref)
{
    if (!sys || !name || !*name || strlen (name) > 63 || !node_name || !ref)
        return TP_EINVAL;
    if (tp__tl_ctx && tp__tl_ctx->sys == sys
        && tp__tl_ctx->kind != TP__CTX_EXTERNAL)
        return TP_ESTATE;
    *ref = TP_REF_NIL;
    uint32_t node = tp_node_id (node_name);
    if (!node)
        return TP_EINVAL;
    if (node == sys->node) {
        *ref = tp_whereis (sys, name);
        return 0;
    }
    if (!tp_node_up (sys, node))
        return TP_ENODE;
    tp__ctx *me = tp__ctx_external (sys);
    tp_msg *m = tp__msg_alloc ();
    m->tag = tp__tag_sys;
    m->from = me->inbox;
    m->corr = ++me->corr_next;
    m->flags = TP__MSG_SYS;
    m->aux = TP__SYS_LOOKUP;
    uint64_t corr = m->corr;
    tp_msg_pack (m, "s", name);
    tp__route (me, (tp_ref){node, 0, 0}, m, 0);
    tp__flush (me);
    tp_msg *r = NULL;
    int rc = tp__ext_wait_reply (me, corr, timeout_ms, &r);
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
    uint32_t nodes[GW_MAX_PEERS];
    int n = 0;
    pthread_mutex_lock (&sys->lock);
    tp__gw *g = sys->gw;
    for (int i = 0; g && i < g->npeers; i++)
        if (g->peers[i].up)
            nodes[n++] = g->peers[i].node;
    pthread_mutex_unlock (&sys->lock);
    uint64_t end = tp__now_ns () + (uint64_t) (timeout_ms < 0 ? 0 : timeout_ms)
                                       * 1000000u;
    for (int i = 0; i < n; i++) {
        uint64_t now = tp__now_ns ();
        if (now >= end)
            return TP_ETIMEDOUT;
        int left = (int) ((end - now) / 1000000u) + 1;
        int rc = tp_whereis_at (sys, name, tp_node_name (nodes[i]), left, ref);
        if (rc == 0 && !tp_ref_is_nil (*ref))
            return 0;
        if (rc == TP_ESTATE || rc == TP_EINVAL)
            return rc;
    }
    *ref = TP_REF_NIL;
    return 0;
}

void
tp_node_stats_get (tp_system *sys, tp_node_stats *st)
{
    memset (st, 0, sizeof *st);
    tp__gw *g = atomic_load (&sys->gw_ctx) ? sys->gw : NULL;
    if (!g)
        return;
    st->peers_up = atomic_load (&g->peers_up);
    st->frames_in = atomic_load (&g->frames_in);
    st->frames_out = atomic_load (&g->frames_out);
    st->bytes_in = atomic_load (&g->bytes_in);
    st->bytes_out = atomic_load (&g->bytes_out);
    st->frames_bad = atomic_load (&g->frames_bad);
    st->nodes_down = atomic_load (&g->nodes_down);
}

#else /* the wire codec has not landed yet: nodes are unavailable */

void tp__gw_forward (tp__ctx *c, tp_ref to, tp_msg *m) { (void) to; tp__dead_letter (c, to, m); }
void tp__gw_control (tp__ctx *c, int cmd, tp_msg *m) { (void) c; (void) cmd; tp__msg_free (m); }
void tp__gw_shutdown (tp_system *sys) { (void) sys; }
void tp__gw_free (tp_system *sys) { (void) sys; }
int tp_node_bind (tp_system *s, const char *e, char *b, size_t n) { (void) s; (void) e; (void) b; (void) n; return TP_ENOTSUP; }
int tp_node_connect (tp_system *s, const char *e, int t, uint32_t *n) { (void) s; (void) e; (void) t; (void) n; return TP_ENOTSUP; }
int tp_whereis_at (tp_system *s, const char *a, const char *b, int t, tp_ref *r) { (void) s; (void) a; (void) b; (void) t; (void) r; return TP_ENOTSUP; }
bool tp_node_up (tp_system *s, uint32_t n) { (void) s; (void) n; return false; }
void tp_node_stats_get (tp_system *s, tp_node_stats *st) { (void) s; memset (st, 0, sizeof *st); }
#endif
