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

#include "wire.h"

#include <poll.h>
#include <sched.h>

#define TP__GW_CHECK_NS 50000u /* busy host: look at the fds this often */
#define TP__GW_BATCH_BYTES 32768u /* a peer's batch is sent at this size */
#define TP__GW_READ_BUSY 2 /* frames per socket per loop while busy */
#define TP__GW_TAKE_BUSY 512 /* envelopes per loop while busy */
#define TP__GW_TAKE_IDLE 2048 /* envelopes per loop while idle */


#define GW_DOWN_AFTER 3      /* heartbeat intervals of silence */
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
    size_t name_len;        /* strlen (name) */
    char endpoint[256];     /* when we connected to it */
    void *dealer;           /* our connection to it, or NULL */
    bool via_router;        /* it connected to us: answer over the ROUTER */
    bool up;                /* greeted and not silent */
    bool drained;           /* DRAIN_ACK received */
    uint64_t incarnation;
    uint64_t last_rx;       /* ns */
    int fd;                 /* ZMQ_FD of dealer */
    uint8_t *out;           /* batch: envelopes as bin items */
    size_t out_len, out_cap;
    uint32_t out_n;         /* envelopes in out */
    bool hot;               /* dealer may hold frames */
    gw_watch *watches;
} gw_peer;

struct tp__gw {
    tp_system *sys;
    void *router;
    char endpoints[8][256];
    int nendpoints;
    gw_peer peers[TP__GW_MAX_PEERS];
    int npeers;
    uint64_t incarnation;
    uint64_t next_beat;     /* ns */
    uint64_t next_check;    /* ns: look at the fds again (tp__gw_serve) */
    int router_fd;          /* ZMQ_FD of router */
    bool router_hot;        /* router may hold frames */
    uint32_t taken, budget; /* envelopes read in this tp__gw_serve, cap */
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

/*  Wakes the threads in tp_node_wait: a peer went up or down, or a bad
    frame was counted. Takes sys->lock. */
static void
s_changed (tp_system *sys)
{
    pthread_mutex_lock (&sys->lock);
    sys->node_seq++;
    pthread_cond_broadcast (&sys->node_cond);
    pthread_mutex_unlock (&sys->lock);
}

static void
s_bad (tp__gw *g, const char *why)
{
    atomic_fetch_add (&g->frames_bad, 1);
    s_changed (g->sys);
    if (!g->bad_logged) {
        g->bad_logged = true;
        fprintf (stderr, "troupe: gateway dropped a bad frame (%s); further "
                         "ones are only counted\n",
                 why);
    }
}

/* ------------------------------------------------------------------ */
/*  Sending envelopes                                                  */

/*  Sends one frame, head then body bytes, to p as one ZeroMQ message
    written in place (no intermediate buffer). */
static int
s_send_frame (tp_system *sys, gw_peer *p, const uint8_t *head, size_t hlen,
              const uint8_t *body, size_t blen)
{
    tp__gw *g = sys->gw;
    zmq_msg_t f;
    if (zmq_msg_init_size (&f, hlen + blen) != 0)
        return TP_ENODE;
    memcpy (zmq_msg_data (&f), head, hlen);
    if (blen)
        memcpy ((uint8_t *) zmq_msg_data (&f) + hlen, body, blen);
    int rc;
    if (p->dealer) {
        rc = zmq_msg_send (&f, p->dealer, ZMQ_DONTWAIT);
        p->hot = true;
    }
    else {
        g->router_hot = true;
        rc = zmq_send (g->router, p->name, p->name_len,
                       ZMQ_SNDMORE | ZMQ_DONTWAIT);
        if (rc >= 0)
            rc = zmq_msg_send (&f, g->router, ZMQ_DONTWAIT);
    }
    if (rc < 0) {
        zmq_msg_close (&f);
        return TP_ENODE;
    }
    atomic_fetch_add_explicit (&g->frames_out, 1, memory_order_relaxed);
    atomic_fetch_add_explicit (&g->bytes_out, hlen + blen,
                               memory_order_relaxed);
    return 0;
}

static void s_env_init (tp__env *e, tp_system *sys, uint32_t kind);

/*  Sends what p's batch holds: one envelope as itself, several as one
    BATCH frame. Returns 0 or TP_ENODE (every envelope in it is lost). */
static int
s_batch_flush (tp_system *sys, gw_peer *p)
{
    if (p->out_n == 0)
        return 0;
    int rc;
    if (p->out_n == 1) /* skip the bin header: the envelope goes alone */
        rc = s_send_frame (sys, p, p->out + 5, p->out_len - 5, NULL, 0);
    else {
        tp__env e;
        s_env_init (&e, sys, TP__WIRE_BATCH);
        e.body = p->out;
        e.body_len = p->out_len;
        uint8_t head[TP__WIRE_HEAD_MAX];
        size_t hlen;
        rc = tp__wire_head (&e, head, &hlen);
        if (rc == 0)
            rc = s_send_frame (sys, p, head, hlen, p->out, p->out_len);
    }
    if (rc)
        atomic_fetch_add_explicit (&sys->dead_letters, p->out_n,
                                   memory_order_relaxed);
    p->out_len = 0;
    p->out_n = 0;
    return rc;
}

/*  Adds envelope e to p's batch, sent at the next flush (or now, when the
    batch is full). Returns 0 or TP_EINVAL / TP_ETOOBIG (e not sent). */
static int
s_batch_add (tp__ctx *c, gw_peer *p, const tp__env *e)
{
    tp_system *sys = c->sys;
    uint8_t head[TP__WIRE_HEAD_MAX];
    size_t hlen;
    int rc = tp__wire_head (e, head, &hlen);
    if (rc)
        return rc;
    size_t need = 5 + hlen + e->body_len;
    if (p->out_n && p->out_len + need > TP__GW_BATCH_BYTES)
        s_batch_flush (sys, p);
    if (need > p->out_cap - p->out_len) {
        size_t cap = p->out_cap ? p->out_cap : 4096;
        while (cap - p->out_len < need)
            cap *= 2;
        p->out = tp__realloc (p->out, cap);
        p->out_cap = cap;
    }
    uint8_t *w = p->out + p->out_len;
    uint32_t n = (uint32_t) (hlen + e->body_len);
    w[0] = 0xc6; /* bin 32 */
    w[1] = (uint8_t) (n >> 24);
    w[2] = (uint8_t) (n >> 16);
    w[3] = (uint8_t) (n >> 8);
    w[4] = (uint8_t) n;
    memcpy (w + 5, head, hlen);
    if (e->body_len)
        memcpy (w + 5 + hlen, e->body, e->body_len);
    p->out_len += need;
    p->out_n++;
    if (p->out_len >= TP__GW_BATCH_BYTES)
        s_batch_flush (sys, p);
    else
        c->gw_dirty = true;
    return 0;
}

/*  Sends every pending batch (tp__flush calls this on the gateway's ctx,
    so batches leave when local ones do: at the end of a run of turns). */
void
tp__gw_flush (tp__ctx *c)
{
    tp__gw *g = c->sys->gw;
    c->gw_dirty = false;
    for (int i = 0; i < g->npeers; i++)
        if (g->peers[i].out_n)
            s_batch_flush (c->sys, &g->peers[i]);
}

/*  Sends e to p at once, after anything batched for p (FIFO holds). */
static int
s_send_env (tp_system *sys, gw_peer *p, const tp__env *e)
{
    s_batch_flush (sys, p);
    uint8_t head[TP__WIRE_HEAD_MAX];
    size_t hlen;
    if (tp__wire_head (e, head, &hlen) != 0)
        return TP_EINVAL;
    return s_send_frame (sys, p, head, hlen, e->body, e->body_len);
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
    tp_msg *m = NULL;
    if (kind == TP__WIRE_HELLO) {
        m = tp__msg_alloc ();
        tp_msg_pack (m, "[sUu]", tp_node_name (sys->node),
                     (uint64_t) sys->gw->incarnation,
                     (unsigned) sys->heartbeat_ms);
        e.body = tp_msg_body (m);
        e.body_len = tp_msg_size (m);
    }
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
        if (g->peers[i].name_len == len
            && memcmp (g->peers[i].name, name, len) == 0)
            return &g->peers[i];
    return NULL;
}

static gw_peer *
s_peer_new (tp_system *sys)
{
    tp__gw *g = sys->gw;
    if (g->npeers >= TP__GW_MAX_PEERS)
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
    if (up)
        atomic_fetch_add (&sys->gw->peers_up, 1);
    else
        atomic_fetch_sub (&sys->gw->peers_up, 1);
    pthread_mutex_lock (&sys->lock);
    p->up = up;
    sys->node_seq++;
    pthread_cond_broadcast (&sys->node_cond);
    pthread_mutex_unlock (&sys->lock);
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

/*  The peer stopped answering: tell every local actor that watched one of
    its actors, and forget the watches. */
static void
s_peer_down (tp__ctx *c, gw_peer *p)
{
    tp_system *sys = c->sys;
    tp_tag_t noconn = tp_tag ("noconnect");
    s_set_up (sys, p, false);
    atomic_fetch_add (&sys->gw->nodes_down, 1);
    if (p->out_n) { /* batched for the old connection: lost with it */
        atomic_fetch_add_explicit (&sys->dead_letters, p->out_n,
                                   memory_order_relaxed);
        p->out_len = 0;
        p->out_n = 0;
    }
    while (p->watches) {
        gw_watch *w = p->watches;
        p->watches = w->next;
        if (w->link)
            tp__sys_send (c, w->remote, w->local, TP__SYS_EXIT, 0, "t", noconn);
        else
            tp__sys_send (c, w->remote, w->local, TP__SYS_DOWN,
                         (uint64_t) w->id, "rt", w->remote, noconn);
        free (w);
    }
    tp__flush (c);
}

/* ------------------------------------------------------------------ */
/*  Local -> remote                                                    */

/*  The runtime messages that cross nodes, and their wire kinds. */
static const struct {
    int aux;
    uint32_t kind;
} s_sys_kinds[] = {
    {TP__SYS_MONITOR, TP__WIRE_MONITOR}, {TP__SYS_DEMONITOR, TP__WIRE_DEMONITOR},
    {TP__SYS_DOWN, TP__WIRE_DOWN},       {TP__SYS_LINK, TP__WIRE_LINK},
    {TP__SYS_UNLINK, TP__WIRE_UNLINK},   {TP__SYS_EXIT, TP__WIRE_EXIT},
    {TP__SYS_STOP, TP__WIRE_STOP},       {TP__SYS_LOOKUP, TP__WIRE_LOOKUP},
};

/*  The wire kind of a local message, 0 if it cannot cross. */
static uint32_t
s_kind_of (const tp_msg *m)
{
    if (!(m->flags & TP__MSG_SYS))
        return TP__WIRE_USER;
    for (size_t i = 0; i < sizeof s_sys_kinds / sizeof *s_sys_kinds; i++)
        if (s_sys_kinds[i].aux == m->aux)
            return s_sys_kinds[i].kind;
    return 0;
}

/*  The runtime message kind of a wire kind, -1 if it is not one. */
static int
s_aux_of (uint32_t kind)
{
    for (size_t i = 0; i < sizeof s_sys_kinds / sizeof *s_sys_kinds; i++)
        if (s_sys_kinds[i].kind == kind)
            return s_sys_kinds[i].aux;
    return -1;
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
            tp__sys_send (c, to, m->from, TP__SYS_DOWN, m->corr, "rt", to,
                         noconn);
        else if ((m->flags & TP__MSG_SYS) && m->aux == TP__SYS_LINK)
            tp__sys_send (c, to, m->from, TP__SYS_EXIT, 0, "t", noconn);
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
        /* Forwarded on behalf of a third node. A peer accepts from_node
           only as the name of the connection's node (PROTOCOL.md §4), so
           the original sender cannot travel: it arrives without one. */
        e.from_index = 0;
        e.from_gen = 0;
    }
    e.tag = m->tag;
    e.corr = m->corr;
    e.flags = (m->flags & TP__MSG_REQUEST ? TP__WIRE_F_REQUEST : 0)
              | (m->flags & TP__MSG_REPLY ? TP__WIRE_F_REPLY : 0);
    e.body = m->body;
    e.body_len = m->size;
    if (s_batch_add (c, p, &e) != 0 && !(m->flags & TP__MSG_SYS))
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
    p->name_len = name_len;
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
            const void *data, size_t len, bool inner)
{
    tp_system *sys = c->sys;
    tp__gw *g = sys->gw;
    if (!inner) {
        atomic_fetch_add_explicit (&g->frames_in, 1, memory_order_relaxed);
        atomic_fetch_add_explicit (&g->bytes_in, len, memory_order_relaxed);
    }
    tp__env e;
    int rc = tp__wire_decode (data, len, &e);
    g->taken++;
    if (rc != 0) {
        s_bad (g, rc == TP_ENOTSUP ? "unknown protocol version"
                                   : "malformed envelope");
        return;
    }
    if (inner && (e.kind == TP__WIRE_HELLO || e.kind == TP__WIRE_BATCH)) {
        s_bad (g, "HELLO or BATCH inside a BATCH");
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
    bool from_peer = e.from_node_len == p->name_len
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
    case TP__WIRE_BATCH: {
        /* each item is an envelope of its own; a bad item ends the batch
           (what came before it stands) */
        const uint8_t *q = e.body, *env;
        size_t left = e.body_len, elen;
        int n = 0;
        while ((rc = tp__wire_batch_next (&q, &left, &env, &elen)) == 0) {
            s_on_frame (c, p, rid, rid_len, env, elen, true);
            n++;
        }
        if (rc < 0 || n < 2)
            s_bad (g, "malformed BATCH");
        return;
    }
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
    case TP__WIRE_DEMONITOR:
    case TP__WIRE_STOP:
        break;
    /* what must be answered if the peer goes down */
    case TP__WIRE_DOWN:
        s_watch_remove (p, false, to, from, (int64_t) e.corr);
        break;
    case TP__WIRE_LINK:
        s_watch_add (p, true, to, from, 0);
        break;
    case TP__WIRE_UNLINK:
    case TP__WIRE_EXIT:
        s_watch_remove (p, true, to, from, 0);
        break;
    default:
        tp__msg_free (m);
        s_bad (g, "unexpected kind");
        return;
    }
    int aux = s_aux_of (e.kind);
    if (aux >= 0) {
        m->flags = TP__MSG_SYS;
        m->aux = (uint16_t) aux;
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

/*  Readiness of the node's sockets. A ZeroMQ socket's ZMQ_FD only tells
    that the socket has commands to process; once a read has come back
    empty the fd fires again on the next arrival. So each socket is "hot"
    (may hold frames: read it) or cold (saw EAGAIN: wait for its fd). A
    send may process the socket's commands and swallow the fd's signal,
    so sending makes a socket hot too. This costs one poll() for all of
    the node's sockets where zmq_poll would check each socket twice with
    two system calls apiece. */

static int
s_fd_of (void *sock)
{
    int fd = -1;
    size_t len = sizeof fd;
    if (zmq_getsockopt (sock, ZMQ_FD, &fd, &len) != 0)
        return -1;
    return fd;
}

static void
s_read_router (tp__ctx *c, int max)
{
    tp__gw *g = c->sys->gw;
    for (int n = 0; n < max && g->taken < g->budget; n++) {
        zmq_msg_t rid, body;
        zmq_msg_init (&rid);
        if (zmq_msg_recv (&rid, g->router, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close (&rid);
            if (errno != EINTR)
                g->router_hot = false;
            return;
        }
        zmq_msg_init (&body);
        bool ok = zmq_msg_more (&rid)
                  && zmq_msg_recv (&body, g->router, ZMQ_DONTWAIT) >= 0;
        /* a well-formed frame has exactly two parts: drop extra parts */
        if (ok && zmq_msg_more (&body)) {
            ok = false;
            bool more = true;
            while (more) {
                zmq_msg_t extra;
                zmq_msg_init (&extra);
                more = zmq_msg_recv (&extra, g->router, ZMQ_DONTWAIT) >= 0
                       && zmq_msg_more (&extra);
                zmq_msg_close (&extra);
            }
        }
        if (ok)
            s_on_frame (c, NULL, zmq_msg_data (&rid), zmq_msg_size (&rid),
                        zmq_msg_data (&body), zmq_msg_size (&body), false);
        else
            s_bad (g, "frame without exactly two parts");
        zmq_msg_close (&rid);
        zmq_msg_close (&body);
        if (c->rq_head)
            return; /* still hot: see s_read_dealer */
    }
}

static void
s_read_dealer (tp__ctx *c, gw_peer *p, int max)
{
    tp__gw *g = c->sys->gw;
    for (int n = 0; n < max && g->taken < g->budget; n++) {
        zmq_msg_t f;
        zmq_msg_init (&f);
        if (zmq_msg_recv (&f, p->dealer, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close (&f);
            if (errno != EINTR)
                p->hot = false;
            return;
        }
        if (zmq_msg_more (&f)) {
            s_bad (c->sys->gw, "multi-part frame");
            bool more = true;
            while (more)
                more = zmq_msg_recv (&f, p->dealer, ZMQ_DONTWAIT) >= 0
                       && zmq_msg_more (&f);
        }
        else
            s_on_frame (c, p, NULL, 0, zmq_msg_data (&f), zmq_msg_size (&f),
                        false);
        zmq_msg_close (&f);
        /* Actors have work: run it first and leave the socket hot. The
           read that finds it empty (a system call inside libzmq) then
           comes after their turns, where it also serves as the check a
           send needs (s_send_frame): one such read instead of two per
           exchange. */
        if (c->rq_head)
            return;
    }
}

/*  poll() on the fds of the node's sockets, plus `extra` (>= 0) first;
    marks the sockets whose fd fired hot. Returns the revents of extra. */
static short
s_poll_fds (tp__gw *g, int extra, long ms)
{
    struct pollfd pf[2 + TP__GW_MAX_PEERS];
    gw_peer *who[2 + TP__GW_MAX_PEERS];
    int n = 0;
    if (extra >= 0)
        pf[n++] = (struct pollfd){extra, POLLIN, 0};
    int first = n;
    if (g->router_fd >= 0)
        pf[n++] = (struct pollfd){g->router_fd, POLLIN, 0};
    int first_peer = n;
    for (int i = 0; i < g->npeers; i++)
        if (g->peers[i].dealer && g->peers[i].fd >= 0) {
            who[n] = &g->peers[i];
            pf[n++] = (struct pollfd){g->peers[i].fd, POLLIN, 0};
        }
    if (poll (pf, (nfds_t) n, (int) (ms > INT32_MAX ? INT32_MAX : ms)) <= 0)
        return 0;
    if (first < first_peer && pf[first].revents)
        g->router_hot = true;
    for (int i = first_peer; i < n; i++)
        if (pf[i].revents)
            who[i]->hot = true;
    g->next_check = tp__now_ns () + TP__GW_CHECK_NS;
    return extra >= 0 ? pf[0].revents : 0;
}

static bool
s_any_hot (tp__gw *g)
{
    if (g->router_hot)
        return true;
    for (int i = 0; i < g->npeers; i++)
        if (g->peers[i].hot && g->peers[i].dealer)
            return true;
    return false;
}

/*  Milliseconds until the next heartbeat is due (0 if it is). */
long
tp__gw_wait_ms (tp_system *sys, uint64_t now)
{
    tp__gw *g = sys->gw;
    if (now >= g->next_beat)
        return 0;
    return (long) ((g->next_beat - now) / 1000000u) + 1;
}

/*  Reads what the network brought (bounded per socket), then greets the
    peers if a heartbeat is due. Reading first matters when the host was
    busy for a while: frames that waited in our sockets prove the peers
    alive before the silence rule looks at them. Never blocks; costs no
    system call unless a socket is hot or TP__GW_CHECK_NS passed since the
    fds were last looked at. */
void
tp__gw_serve (tp__ctx *c)
{
    tp__gw *g = c->sys->gw;
    uint64_t now = tp__now_ns ();
    if (c->rq_head && now >= g->next_check)
        s_poll_fds (g, -1, 0); /* (idle, the host sleeps on the fds) */
    /* With actors waiting to run, take few frames (each may be a batch of
       many messages): the rest waits in ZeroMQ as compact frames instead
       of piling up as message nodes faster than the actors run them. */
    int max = c->rq_head ? TP__GW_READ_BUSY : 256;
    g->taken = 0;
    g->budget = c->rq_head ? TP__GW_TAKE_BUSY : TP__GW_TAKE_IDLE;
    if (g->router_hot)
        s_read_router (c, max);
    for (int i = 0; i < g->npeers; i++)
        if (g->peers[i].dealer && g->peers[i].hot)
            s_read_dealer (c, &g->peers[i], max);
    now = tp__now_ns ();
    if (now >= g->next_beat)
        s_beat (c, now);
}

/*  Sleeps up to ms (-1: until the next heartbeat) until c's PULL socket
    or one of the node's sockets has input. Returns false at once if a
    node socket is hot (serve it first). Returns true when the PULL
    socket may have frames (drain it with force). */
bool
tp__gw_sleep (tp__ctx *c, long ms)
{
    tp__gw *g = c->sys->gw;
    if (s_any_hot (g))
        return false;
    long beat = tp__gw_wait_ms (c->sys, tp__now_ns ());
    if (ms < 0 || ms > beat)
        ms = beat;
    if (ms == 0)
        return false;
    if (!c->pull_armed) {
        /* The PULL socket's fd only fires for arrivals after a read that
           came back empty; make sure that read has happened. */
        int ev = 0;
        size_t len = sizeof ev;
        if (zmq_getsockopt (c->pull, ZMQ_EVENTS, &ev, &len) != 0
            || (ev & ZMQ_POLLIN))
            return true;
        c->pull_armed = true;
    }
    if (c->pull_fd < 0)
        c->pull_fd = s_fd_of (c->pull);
    return s_poll_fds (g, c->pull_fd, ms) != 0;
}

/*  The gateway on a thread of its own (tp_system_opts.gateway_thread). */
static void *
s_gw_loop (void *arg)
{
    tp__ctx *c = arg;
    tp__tl_ctx = c;
    bool woke = false;
    while (!c->shutdown) {
        tp__ctx_drain (c, woke, INT32_MAX);
        tp__gw_serve (c);
        tp__flush (c);
        woke = false;
        if (!c->shutdown && atomic_load (&c->inbound) <= c->consumed)
            woke = tp__gw_sleep (c, -1);
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
    /* Hosted or not, the gateway's thread stops last (tp_system_destroy
       leaves it running), and its PULL socket stays open for the records
       other ctxs sent it on their way out. */
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
        if (!s_any_hot (g)) {
            long wait_ms = tp__gw_wait_ms (sys, tp__now_ns ());
            s_poll_fds (g, -1, wait_ms < 50 ? wait_ms : 50);
        }
        tp__gw_serve (c);
        tp__flush (c);
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
        free (g->peers[i].out);
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
    g->sys = sys;
    g->incarnation = s_incarnation ();
    g->router = zmq_socket (sys->zctx, ZMQ_ROUTER);
    int one = 1, zero = 0;
    int64_t maxmsg = TP__WIRE_MAX_FRAME;
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
    g->router_fd = s_fd_of (g->router);
    g->router_hot = true;
    sys->gw = g;
    if (!sys->gw_thread) {
        /* Hosted by worker 0 (decision 19): its loop polls these sockets.
           The release store hands the sockets over to that thread; the
           command that follows (bind or connect) wakes it. */
        atomic_store_explicit (&sys->gw_ctx, sys->ctxs[0],
                               memory_order_release);
        pthread_mutex_unlock (&once);
        return 0;
    }
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
            int64_t maxmsg = TP__WIRE_MAX_FRAME;
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
            p->fd = s_fd_of (d);
            p->hot = true;
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
    uint64_t seq = 0;
    while (!s_peer_up_at (sys, endpoint, node)) {
        uint64_t now = tp__now_ns ();
        if (now >= end
            || tp_node_wait (sys, &seq, (int) ((end - now) / 1000000u) + 1))
            return TP_ETIMEDOUT;
    }
    return 0;
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
    uint32_t nodes[TP__GW_MAX_PEERS];
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
