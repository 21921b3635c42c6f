/*  core/gateway.c: the node gateway, which carries messages for refs of
    other nodes (docs/PROTOCOL.md). It rides worker 0's loop by default,
    or a thread of its own (tp_system_opts.gateway_thread).

    Local ctxs hand remote-bound messages to the gateway ctx like to any
    other ctx (inproc batches; each record names its destination node).
    The gateway owns:
      - a ROUTER socket bound to the node's endpoints: peers that connected
        to us, addressed by their routing id (= their node name);
      - one DEALER per peer we connected to (tp_node_connect), with our
        node name as routing id;
    and speaks envelopes (core/wire.c) on both. Every frame from the
    network is validated; bad frames are counted and dropped.

    Peers. A peer is known by name; its node id is the name plus the
    incarnation its HELLO gave, so a peer that restarts is a new id and
    refs to its previous life route nowhere. A peer that connected to us
    is forgotten (its entry, its watches, the pin on its id) when it
    drains or some heartbeats after it went down; a peer we connected to
    keeps its entry (and its DEALER) so the link is re-made.

    Watches. The gateway keeps, per peer, every monitor and link that
    crosses to it, both ways: local actors watching the peer's actors
    (answered with noconnect if the peer goes down) and the peer's actors
    watching ours (their watcher entries are dropped when it goes down,
    and they are told "shutdown" when this node stops cleanly). A DOWN,
    EXIT, UNLINK or DEMONITOR frame is acted on only if its watch exists.

    Liveness. Every heartbeat interval the gateway greets peers (HELLO to
    peers we connect to that have not answered, HEARTBEAT to the others);
    a peer silent for 3 intervals is down. Silence is judged on receipts:
    not while the peer's socket still holds unread frames, and not across
    a gap in this node's own clock (a paused or starved process). A frame
    from a peer that is down but known revives it; a frame from an unknown
    peer, or one addressed to another incarnation of this node, is
    answered with HELLO so that the other side re-greets at once. HELLO
    carries the incarnation the sender has up for the receiver ("seen"),
    and a HELLO that does not show ours is answered: links heal after a
    pause of either side, without HELLOs bouncing forever.
*/
#include "runtime.h"

#include "wire.h"

#include <poll.h>
#include <sched.h>

#define TP__GW_CHECK_NS 50000u    /* busy host: look at the fds this often */
#define TP__GW_BATCH_BYTES 32768u /* a peer's batch is sent at this size */
#define TP__GW_READ_BUSY 2        /* frames per socket per loop while busy */
#define TP__GW_TAKE_BUSY 512      /* envelopes per loop while busy */
#define TP__GW_TAKE_IDLE 2048     /* envelopes per loop while idle */
#define TP__GW_HWM 100            /* frames ZeroMQ queues per connection */

#define GW_DOWN_AFTER 3    /* heartbeat intervals of silence */
#define GW_FORGET_AFTER 10 /* intervals a down peer that called us is kept */
#define GW_UNKNOWN 8       /* unknown routing ids greeted at most once a beat */
#define GW_BACKLOG_EVERY 32 /* user messages between two backlog looks */
#define TP__DRAIN_MAX_NS 30000000000ull /* longest wait for DRAIN_ACKs */
#define GW_QUARANTINE 64   /* connections quarantined at once (the oldest
                              make room) */
#define GW_SUSPECTS 16     /* unnamed connections whose bad frames count */
#define GW_ASK_TTL_NS 60000000000ull /* an ask counts this long at most */

/*  A monitor or link that crosses to a peer. */
enum {
    GW_MON_OUT = 1, /* local watches remote (a monitor we made) */
    GW_MON_IN,      /* remote watches local (a monitor the peer made) */
    GW_LINK,        /* local and remote are linked */
};

typedef struct gw_watch {
    struct gw_watch *next, *prev; /* the peer's list */
    struct gw_watch *hnext;       /* same hash (gw_peer.wmap) */
    uint64_t key;
    int kind;      /* GW_* */
    tp_ref local;  /* our actor */
    tp_ref remote; /* the peer's actor, as the local actor knows it */
    int64_t id;    /* monitor id (0 for links) */
} gw_watch;

/*  A message from a peer for an actor whose bounded mailbox was full:
    delivered later, in order, while the peer is not read. */
typedef struct gw_held_in {
    struct gw_held_in *next;
    tp_ref to;
    tp_msg *m;
} gw_held_in;

typedef struct gw_peer {
    uint32_t node;          /* name + incarnation id (pinned), 0 before HELLO */
    char name[TP_NODE_NAME_MAX + 1];
    size_t name_len;        /* strlen (name), 0 before HELLO */
    uint32_t incarnation;   /* from its HELLO */
    uint64_t up_since;      /* wall clock ms when it last came up (under
                               sys->lock, with up) */
    _Atomic uint64_t bytes_in, bytes_out; /* frames' bytes, both ways */
    _Atomic uint64_t frames_in, frames_out;
    char endpoint[256];     /* when we connected to it, else "" */
    void *dealer;           /* our connection to it, or NULL (ROUTER) */
    int fd;                 /* ZMQ_FD of dealer */
    bool hot;               /* dealer may hold frames */
    bool up;                /* greeted and not silent */
    bool drained;           /* DRAIN_ACK received */
    bool refused;           /* refused: its name is up on another
                               connection (by us or by it), or it is full */
    int refused_rc;         /* then TP_ENAMETAKEN or TP_ELIMIT */
    int refusals;           /* in a row (tp_node_connect gives up at 2) */
    bool dup_logged;        /* a second life greeted while this one lives:
                               logged once */
    char rid[TP__WIRE_RID_MAX]; /* its connection to our ROUTER: the
                               routing id its HELLO came with (0 bytes:
                               none) */
    size_t rid_len;
    bool goodbye;           /* it drained: forget it at the next beat */
    bool drain_sent;        /* we are stopping and told it (DRAIN) */
    uint64_t greet_at;      /* ns, last unasked HELLO (s_greet) */
    uint32_t lost_inc;      /* we judged this life of it down and ended our
                               watches with it: our HELLOs say so until it
                               has greeted us back */
    uint64_t last_rx;       /* ns */
    uint64_t down_at;       /* ns, when it went down */
    uint8_t *out;           /* batch: envelopes as bin items */
    size_t out_len, out_cap;
    uint32_t out_n;         /* envelopes in out */
    gw_watch *watches;
    tp__idmap wmap;         /* watch key -> first watch with that key */
    uint32_t nwatches;
    /* limits on what a peer may do (docs/security.md) */
    uint64_t bad_win;       /* ns: start of the second bad_n counts in */
    uint32_t bad_n;
    uint64_t quarantine_until; /* ns, a peer we connected to: its frames
                               are dropped unread until then */
    tp__idmap asks[2];      /* its requests our actors have not answered:
                               this period's, and the last one's */
    uint64_t asks_flip;     /* ns, when asks[0] began */
    /* flow control, out: frames ZeroMQ refused (its high-water mark is
       reached: the peer does not read), sent in order when it reads */
    zmq_msg_t *held;        /* ring of held_cap frames */
    size_t held_head, held_n, held_cap, held_bytes;
    /* flow control, in: while stalled this peer's socket is not read */
    bool stalled;
    uint32_t unchecked;     /* user messages since the last backlog look */
    tp_ref stall_to;        /* the local actor with the backlog */
    gw_held_in *in_head, *in_tail;
} gw_peer;

struct tp__gw {
    tp_system *sys;
    void *router;
    int nendpoints;
    gw_peer **peers;        /* npeers entries; written under sys->lock */
    int npeers, cap_peers;
    char name[TP_NODE_NAME_MAX + 1]; /* ours */
    size_t name_len;
    char rid[TP__WIRE_RID_MAX];      /* our routing id: name/incarnation */
    size_t rid_len;
    uint64_t next_beat;     /* ns */
    uint64_t last_beat;     /* ns, when the last beat ran */
    uint64_t next_check;    /* ns: look at the fds again (s_gw_serve) */
    int router_fd;          /* ZMQ_FD of router */
    bool router_hot;        /* router may hold frames */
    uint32_t taken, budget; /* envelopes read in this tp__gw_serve, cap */
    struct pollfd *pf;      /* poll set, grown with the peers */
    gw_peer **pf_who;
    int pf_cap;
    char unknown[GW_UNKNOWN][TP__WIRE_RID_MAX]; /* unknown routing ids */
    size_t unknown_len[GW_UNKNOWN];             /* greeted lately */
    uint64_t unknown_at[GW_UNKNOWN];
    int router_stalled;     /* stalled peers on the ROUTER: not read */
    bool bad_logged, full_logged;
    uint32_t bad_now;       /* bad frames counted (s_bad), gateway thread */
    struct {                /* quarantined connections: key = the name of
                               its routing id (or all of it, unnamed) */
        char key[TP__WIRE_RID_MAX];
        size_t len;
        uint64_t until;     /* ns; 0 = free */
    } quar[GW_QUARANTINE];
    int nquar;
    struct {                /* connections without a peer entry */
        char key[TP__WIRE_RID_MAX];
        size_t len;
        uint64_t win;
        uint32_t n;
    } sus[GW_SUSPECTS];
    /* counters, readable by other threads */
    _Atomic uint64_t frames_in, frames_out, bytes_in, bytes_out, frames_bad,
        nodes_down, peers_up, peers_refused, peers_forgotten, held_frames,
        stalls, quarantines, frames_quarantined, watches_refused,
        asks_refused, bad_by[TP_BAD_CAUSES];
};

/*  The peer table is written by the gateway's thread only; other threads
    read it (tp_node_up, tp_node_connect) under sys->lock, which the
    gateway takes around every change. */

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

static void s_bad (tp__gw *g, int cause, const char *why);

/*  A bad frame that is not the sender's doing (it has not greeted us
    since we forgot it; our node table is full): counted, never charged
    to the connection (s_charge_bad). */
static void
s_bad_uncharged (tp__gw *g, int cause, const char *why)
{
    uint32_t was = g->bad_now;
    s_bad (g, cause, why);
    g->bad_now = was;
}

/*  A bad frame: counted under cause (TP_BAD_*, tp_node_stats.bad_by_cause)
    and charged to its connection (s_charge_bad); why is for the log. */
static void
s_bad (tp__gw *g, int cause, const char *why)
{
    atomic_fetch_add (&g->frames_bad, 1);
    atomic_fetch_add_explicit (&g->bad_by[cause], 1,
                               memory_order_relaxed);
    g->bad_now++;
    s_changed (g->sys);
    if (!g->bad_logged) {
        g->bad_logged = true;
        tp_log (g->sys, TP_LOG_WARN,
                "gateway dropped a bad frame (%s); further ones are only "
                "counted",
                why);
    }
}

/*  An envelope we built for p is lost: a user message in it is a dead
    letter, counted and reported like a local one (runtime messages are
    answered by s_watches_end when the peer goes down). */
static void
s_lost_env (tp__gw *g, gw_peer *p, const tp__env *e)
{
    if (e->kind != TP__WIRE_USER)
        return;
    tp__ctx *c = atomic_load_explicit (&g->sys->gw_ctx, memory_order_relaxed);
    tp__dead_note (c, (tp_ref){p->node, e->to_index, e->to_gen}, e->tag,
                   tp__tag_noconnect);
}

/*  The envelopes of buf are lost: `wrapped`, as a BATCH body holds them
    (each a msgpack bin, back to back), else one frame (maybe a BATCH). */
static void
s_lost (tp__gw *g, gw_peer *p, const uint8_t *buf, size_t len, bool wrapped)
{
    tp__env e;
    if (!p)
        return; /* (frames on a bare routing id carry no messages) */
    if (!wrapped) {
        if (tp__wire_decode (buf, len, &e) != 0)
            return;
        if (e.kind != TP__WIRE_BATCH) {
            s_lost_env (g, p, &e);
            return;
        }
        buf = e.body;
        len = e.body_len;
    }
    const uint8_t *env;
    size_t n;
    while (tp__wire_batch_next (&buf, &len, &env, &n) == 0)
        if (tp__wire_decode (env, n, &e) == 0)
            s_lost_env (g, p, &e);
}

static void
s_lost_frame (tp__gw *g, gw_peer *p, zmq_msg_t *f)
{
    s_lost (g, p, zmq_msg_data (f), zmq_msg_size (f), false);
}

/* ------------------------------------------------------------------ */
/*  Sending envelopes                                                  */

/*  Sends frame f (consumed on 0) to p: its DEALER, or the ROUTER with
    its routing id; with p NULL, to routing id rid. Returns 0, TP_EFULL
    (ZeroMQ's high-water mark is reached: f is still ours) or TP_ENODE. */
static int
s_zsend (tp__gw *g, gw_peer *p, const char *rid, size_t rid_len,
         zmq_msg_t *f)
{
    size_t n = zmq_msg_size (f);
    int rc;
    if (p && p->dealer) {
        rc = zmq_msg_send (f, p->dealer, ZMQ_DONTWAIT);
        p->hot = true;
    }
    else {
        if (p) {
            rid = p->rid;
            rid_len = p->rid_len;
        }
        g->router_hot = true;
        rc = zmq_send (g->router, rid, rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT);
        if (rc >= 0)
            rc = zmq_msg_send (f, g->router, ZMQ_DONTWAIT);
    }
    if (rc < 0)
        return errno == EAGAIN ? TP_EFULL : TP_ENODE;
    atomic_fetch_add_explicit (&g->frames_out, 1, memory_order_relaxed);
    atomic_fetch_add_explicit (&g->bytes_out, n, memory_order_relaxed);
    if (p) {
        atomic_fetch_add_explicit (&p->bytes_out, n, memory_order_relaxed);
        atomic_fetch_add_explicit (&p->frames_out, 1, memory_order_relaxed);
    }
    return 0;
}

/*  Marks p's node full or not for local senders (tp__route). */
static void
s_set_full (tp__gw *g, gw_peer *p, bool full)
{
    if (!p->node)
        return;
    atomic_store_explicit (&g->sys->gw_full[p->node & 4095], full,
                           memory_order_relaxed);
    /* refs typed without an incarnation name it by another id */
    uint32_t any = tp__node_intern (p->name, p->name_len, 0);
    if (any)
        atomic_store_explicit (&g->sys->gw_full[any & 4095], full,
                               memory_order_relaxed);
}

/*  Keeps f (moved out) for p, behind what p holds already. Past twice
    the bound the frame is dropped (its messages are dead letters) and
    TP_EFULL returned: local senders are told TP_EFULL long before, so
    only runtime messages and replies get here. */
static int
s_held_push (tp__gw *g, gw_peer *p, zmq_msg_t *f)
{
    size_t n = zmq_msg_size (f) + sizeof (zmq_msg_t); /* what it costs */
    if (p->held_bytes + n > 2 * g->sys->peer_queue) {
        s_lost_frame (g, p, f);
        zmq_msg_close (f);
        return TP_EFULL;
    }
    if (p->held_n == p->held_cap) {
        size_t cap = p->held_cap ? 2 * p->held_cap : 64;
        zmq_msg_t *q = tp__malloc (cap * sizeof *q);
        for (size_t i = 0; i < p->held_n; i++) {
            size_t k = (p->held_head + i) % p->held_cap;
            zmq_msg_init (&q[i]);
            zmq_msg_move (&q[i], &p->held[k]);
            zmq_msg_close (&p->held[k]);
        }
        free (p->held);
        p->held = q;
        p->held_cap = cap;
        p->held_head = 0;
    }
    size_t at = (p->held_head + p->held_n) % p->held_cap;
    zmq_msg_t *slot = &p->held[at];
    zmq_msg_init (slot);
    zmq_msg_move (slot, f);
    zmq_msg_close (f);
    p->held_n++;
    p->held_bytes += n;
    atomic_fetch_add_explicit (&g->held_frames, 1, memory_order_relaxed);
    if (p->held_bytes > g->sys->peer_queue)
        s_set_full (g, p, true);
    return 0;
}

/*  Sends what p holds, in order, until ZeroMQ refuses again. */
static void
s_held_flush (tp__gw *g, gw_peer *p)
{
    while (p->held_n) {
        zmq_msg_t *f = &p->held[p->held_head];
        size_t n = zmq_msg_size (f) + sizeof (zmq_msg_t);
        int rc = s_zsend (g, p, NULL, 0, f);
        if (rc == TP_EFULL)
            break;
        if (rc) {
            s_lost_frame (g, p, f);
            zmq_msg_close (f);
        }
        p->held_head = (p->held_head + 1) % p->held_cap;
        p->held_n--;
        p->held_bytes -= n;
    }
    if (p->held_bytes <= g->sys->peer_queue / 2)
        s_set_full (g, p, false);
}

/*  Drops what p holds (the connection is gone). */
static void
s_held_drop (tp__gw *g, gw_peer *p)
{
    while (p->held_n) {
        s_lost_frame (g, p, &p->held[p->held_head]);
        zmq_msg_close (&p->held[p->held_head]);
        p->held_head = (p->held_head + 1) % p->held_cap;
        p->held_n--;
    }
    p->held_bytes = 0;
    s_set_full (g, p, false);
}

/*  Sends one frame, head then body bytes, to p (or, with p NULL, over
    the ROUTER to routing id rid) as one ZeroMQ message; to p, a frame
    ZeroMQ cannot take now is held (flow control). */
static int
s_send_raw (tp__gw *g, gw_peer *p, const char *rid, size_t rid_len,
            const uint8_t *head, size_t hlen, const uint8_t *body, size_t blen)
{
    zmq_msg_t f;
    if (zmq_msg_init_size (&f, hlen + blen) != 0)
        tp__oom ();
    memcpy (zmq_msg_data (&f), head, hlen);
    if (blen)
        memcpy ((uint8_t *) zmq_msg_data (&f) + hlen, body, blen);
    int rc = p && p->held_n ? TP_EFULL : s_zsend (g, p, rid, rid_len, &f);
    if (rc == TP_EFULL && p)
        return s_held_push (g, p, &f);
    if (rc) {
        s_lost_frame (g, p, &f);
        zmq_msg_close (&f);
    }
    return rc;
}

static void
s_env_init (tp__env *e, tp__gw *g, uint32_t kind, const gw_peer *p)
{
    memset (e, 0, sizeof *e);
    e->kind = kind;
    e->from_node = g->name;
    e->from_node_len = g->name_len;
    e->to_inc = p ? p->incarnation : 0;
}

/*  Sends what p's batch holds: one envelope as itself, several as one
    BATCH frame. Returns 0 or TP_ENODE (every envelope in it is lost). */
static int
s_batch_flush (tp__gw *g, gw_peer *p)
{
    if (p->out_n == 0)
        return 0;
    int rc;
    if (p->out_n == 1) /* skip the bin header: the envelope goes alone */
        rc = s_send_raw (g, p, NULL, 0, p->out + 5, p->out_len - 5, NULL, 0);
    else {
        tp__env e;
        s_env_init (&e, g, TP__WIRE_BATCH, p);
        e.body = p->out;
        e.body_len = p->out_len;
        uint8_t head[TP__WIRE_HEAD_MAX];
        size_t hlen;
        rc = tp__wire_head (&e, head, &hlen);
        if (rc == 0)
            rc = s_send_raw (g, p, NULL, 0, head, hlen, p->out, p->out_len);
        else
            s_lost (g, p, p->out, p->out_len, true);
    }
    p->out_len = 0;
    p->out_n = 0;
    return rc;
}

/*  Adds envelope e to p's batch, sent at the next flush (or now, when the
    batch is full). Returns 0 or TP_EINVAL / TP_ETOOBIG (e not sent). */
static int
s_batch_add (tp__ctx *c, gw_peer *p, const tp__env *e)
{
    tp__gw *g = c->sys->gw;
    uint8_t head[TP__WIRE_HEAD_MAX];
    size_t hlen;
    int rc = tp__wire_head (e, head, &hlen);
    if (rc)
        return rc;
    size_t need = 5 + hlen + e->body_len;
    if (p->out_n && p->out_len + need > TP__GW_BATCH_BYTES)
        s_batch_flush (g, p);
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
        s_batch_flush (g, p);
    else
        c->tr_dirty = true;
    return 0;
}

/*  Sends every pending batch (tp__flush calls this on the gateway's ctx,
    so batches leave when local ones do: at the end of a run of turns). */
static void
s_gw_flush (tp__ctx *c)
{
    tp__gw *g = c->sys->gw;
    c->tr_dirty = false;
    for (int i = 0; i < g->npeers; i++)
        if (g->peers[i]->out_n)
            s_batch_flush (g, g->peers[i]);
}

/*  Sends e to p at once, after anything batched for p (FIFO holds). */
static int
s_send_env (tp__gw *g, gw_peer *p, const tp__env *e)
{
    s_batch_flush (g, p);
    uint8_t head[TP__WIRE_HEAD_MAX];
    size_t hlen;
    if (tp__wire_head (e, head, &hlen) != 0)
        return TP_EINVAL;
    return s_send_raw (g, p, NULL, 0, head, hlen, e->body, e->body_len);
}

/*  Sends our HELLO to p, or over the ROUTER to routing id rid when rid
    is given (an answer goes back on the connection the greeting came
    in on). `seen` tells the receiver whether we have it up. */
static void
s_send_hello (tp__gw *g, gw_peer *p, const char *rid, size_t rid_len)
{
    tp_system *sys = g->sys;
    tp__env e;
    s_env_init (&e, g, TP__WIRE_HELLO, NULL);
    uint32_t seen = p && p->up ? p->incarnation : 0;
    uint32_t lost = p ? p->lost_inc : 0;
    if (p)
        p->lost_inc = 0; /* said once (a connection loses no frame) */
    tp_msg *m = tp__msg_alloc ();
    int rc = lost ? tp_msg_pack (m, "[suuuu]", g->name,
                                 (unsigned) sys->incarnation,
                                 (unsigned) sys->heartbeat_ms, (unsigned) seen,
                                 (unsigned) lost)
                  : tp_msg_pack (m, "[suuu]", g->name,
                                 (unsigned) sys->incarnation,
                                 (unsigned) sys->heartbeat_ms, (unsigned) seen);
    assert (rc == 0);
    (void) rc;
    e.body = m->body;
    e.body_len = m->size;
    if (p && !rid)
        s_send_env (g, p, &e);
    else {
        uint8_t head[TP__WIRE_HEAD_MAX];
        size_t hlen;
        if (tp__wire_head (&e, head, &hlen) == 0)
            s_send_raw (g, NULL, rid, rid_len, head, hlen, m->body, m->size);
    }
    tp__msg_free (m);
}

static void
s_send_control (tp__gw *g, gw_peer *p, uint32_t kind)
{
    tp__env e;
    s_env_init (&e, g, kind, p);
    s_send_env (g, p, &e);
}

/* ------------------------------------------------------------------ */
/*  Peers                                                              */

/*  The peer for node id `node`: the exact id, or for an id without an
    incarnation the peer of that name. NULL if none. */
static gw_peer *
s_peer_by_node (tp__gw *g, uint32_t node)
{
    for (int i = 0; i < g->npeers; i++)
        if (g->peers[i]->node == node)
            return g->peers[i];
    if (tp_node_incarnation (node) != 0)
        return NULL;
    char name[TP_NODE_NAME_MAX + 1];
    if (!tp__node_name_copy (node, name))
        return NULL;
    gw_peer *best = NULL;
    for (int i = 0; i < g->npeers; i++) {
        gw_peer *p = g->peers[i];
        if (p->name_len && strcmp (p->name, name) == 0 && (!best || p->up))
            best = p;
    }
    return best;
}

static gw_peer *
s_peer_by_name (tp__gw *g, const char *name, size_t len, const gw_peer *not)
{
    for (int i = 0; i < g->npeers; i++) {
        gw_peer *p = g->peers[i];
        if (p != not && p->name_len == len && memcmp (p->name, name, len) == 0)
            return p;
    }
    return NULL;
}

/*  The peer whose connection to our ROUTER has routing id rid. */
static gw_peer *
s_peer_by_rid (tp__gw *g, const char *rid, size_t len)
{
    for (int i = 0; i < g->npeers; i++) {
        gw_peer *p = g->peers[i];
        if (p->rid_len == len && memcmp (p->rid, rid, len) == 0)
            return p;
    }
    return NULL;
}

/*  The peer of a frame that came over the ROUTER with routing id rid:
    the peer with that connection, or else the life it names (name and
    incarnation) when we have that life up over another connection (we
    connected to it, then it connected to us): rid becomes its connection
    to our ROUTER. NULL: nobody we greeted. */
static gw_peer *
s_peer_by_rid_or_life (tp__gw *g, const char *rid, size_t len)
{
    gw_peer *p = s_peer_by_rid (g, rid, len);
    size_t name_len;
    uint32_t inc;
    if (p || !tp__wire_rid_ok (rid, len, &name_len, &inc))
        return p;
    p = s_peer_by_name (g, rid, name_len, NULL);
    if (!p || !p->node || p->incarnation != inc)
        return NULL;
    memcpy (p->rid, rid, len);
    p->rid_len = len;
    return p;
}

static void s_forget (tp__gw *g, gw_peer *p);
static void s_held_in_drop (tp__ctx *c, gw_peer *p);

/*  A new peer entry, or NULL when max_peers are held and none of them can
    be forgotten (a peer that called us and is down goes first). */
static gw_peer *
s_peer_new (tp__gw *g)
{
    tp_system *sys = g->sys;
    if (g->npeers >= sys->max_peers) {
        gw_peer *old = NULL;
        for (int i = 0; i < g->npeers; i++) {
            gw_peer *p = g->peers[i];
            if (!p->up && !p->dealer && (!old || p->down_at < old->down_at))
                old = p;
        }
        if (!old)
            return NULL;
        s_forget (g, old); /* (a down peer holds no watches) */
    }
    gw_peer *p = tp__calloc (1, sizeof *p);
    p->fd = -1;
    pthread_mutex_lock (&sys->lock);
    if (g->npeers == g->cap_peers) {
        g->cap_peers = g->cap_peers ? 2 * g->cap_peers : 16;
        g->peers = tp__realloc (g->peers, (size_t) g->cap_peers
                                              * sizeof *g->peers);
    }
    g->peers[g->npeers++] = p;
    pthread_mutex_unlock (&sys->lock);
    return p;
}

/*  Gives p the node id of (name, inc), pinned; unpins the old one. */
static void
s_peer_set_node (tp__gw *g, gw_peer *p, uint32_t node, const char *name,
                 size_t len, uint32_t inc)
{
    tp_system *sys = g->sys;
    if (p->node == node)
        return;
    tp__node_pin (node, 1);
    /* refs in its messages intern names charged to it (core/ref.c) */
    tp__node_charge_max (node, sys->peer_max_names);
    uint32_t old = p->node;
    pthread_mutex_lock (&sys->lock);
    p->node = node;
    memcpy (p->name, name, len);
    p->name[len] = '\0';
    p->name_len = len;
    p->incarnation = inc;
    pthread_mutex_unlock (&sys->lock);
    if (old)
        tp__node_pin (old, -1);
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
    struct timespec wall;
    clock_gettime (CLOCK_REALTIME, &wall);
    pthread_mutex_lock (&sys->lock);
    p->up = up;
    if (up)
        p->up_since = (uint64_t) wall.tv_sec * 1000u
                      + (uint64_t) wall.tv_nsec / 1000000u;
    sys->node_seq++;
    pthread_cond_broadcast (&sys->node_cond);
    pthread_mutex_unlock (&sys->lock);
    tp__ctx *c = atomic_load_explicit (&sys->gw_ctx, memory_order_relaxed);
    if (up && p->node && c) /* (a down is told by s_peer_down, with why) */
        tp__node_event (c, p->node, p->name, p->name_len, 0);
}

/* ------------------------------------------------------------------ */
/*  Watches                                                            */

/*  True if w matches (kind, local, remote, id). The remote side is
    matched by index and generation only: every watch of p is with p's
    node, whose id the local actor may know with or without incarnation. */
static bool
s_watch_is (const gw_watch *w, int kind, tp_ref local, tp_ref remote,
            int64_t id)
{
    return w->kind == kind && tp_ref_eq (w->local, local)
           && w->remote.index == remote.index && w->remote.gen == remote.gen
           && (kind == GW_LINK || w->id == id);
}

/*  The key of an ask in gw_peer.asks: the asker and its request id. */
static inline uint64_t
s_ask_key (uint32_t index, uint32_t gen, uint64_t corr)
{
    uint64_t h = ((uint64_t) index << 32 | gen) * 0x9e3779b97f4a7c15ull;
    return (h ^ (corr * 0xff51afd7ed558ccdull)) | 1;
}

/*  A nonzero 64-bit key of what s_watch_is compares (a peer may hold
    many watches: each is found by its key, not by a walk). */
static uint64_t
s_watch_key (int kind, tp_ref local, tp_ref remote, int64_t id)
{
    uint64_t h = 0x9e3779b97f4a7c15ull, v[6] = {
        (uint64_t) kind, local.node, ((uint64_t) local.index << 32) | local.gen,
        ((uint64_t) remote.index << 32) | remote.gen,
        kind == GW_LINK ? 0 : (uint64_t) id, 0};
    for (int i = 0; i < 5; i++) {
        h ^= v[i];
        h *= 0xff51afd7ed558ccdull;
        h ^= h >> 33;
    }
    return h | 1;
}

static gw_watch *
s_watch_find (gw_peer *p, int kind, tp_ref local, tp_ref remote, int64_t id)
{
    uint64_t key = s_watch_key (kind, local, remote, id);
    for (gw_watch *w = tp__idmap_get (&p->wmap, key); w; w = w->hnext)
        if (s_watch_is (w, kind, local, remote, id))
            return w;
    return NULL;
}

/*  Files w (its fields set) in p's list and map. */
static void
s_watch_link (gw_peer *p, gw_watch *w)
{
    w->key = s_watch_key (w->kind, w->local, w->remote, w->id);
    w->hnext = tp__idmap_get (&p->wmap, w->key);
    tp__idmap_put (&p->wmap, w->key, w);
    w->prev = NULL;
    w->next = p->watches;
    if (w->next)
        w->next->prev = w;
    p->watches = w;
    p->nwatches++;
}

/*  Takes w out of p's list and map (not freed). */
static void
s_watch_unlink (gw_peer *p, gw_watch *w)
{
    gw_watch *h = tp__idmap_get (&p->wmap, w->key);
    if (h == w) {
        if (w->hnext)
            tp__idmap_put (&p->wmap, w->key, w->hnext);
        else
            tp__idmap_del (&p->wmap, w->key);
    }
    else {
        while (h && h->hnext != w)
            h = h->hnext;
        if (h)
            h->hnext = w->hnext;
    }
    if (w->prev)
        w->prev->next = w->next;
    else
        p->watches = w->next;
    if (w->next)
        w->next->prev = w->prev;
    p->nwatches--;
}

/*  Adds a watch unless the same one exists (a second tp_link, a repeated
    MONITOR frame). */
static void
s_watch_add (gw_peer *p, int kind, tp_ref local, tp_ref remote, int64_t id)
{
    if (s_watch_find (p, kind, local, remote, id))
        return;
    gw_watch *w = tp__malloc (sizeof *w);
    w->kind = kind;
    w->local = local;
    w->remote = remote;
    w->id = id;
    s_watch_link (p, w);
}

/*  Removes the watch; returns true (and its remote ref in *remote, if
    not NULL) if it existed. */
static bool
s_watch_remove (gw_peer *p, int kind, tp_ref local, tp_ref remote,
                int64_t id, tp_ref *as)
{
    gw_watch *w = s_watch_find (p, kind, local, remote, id);
    if (!w)
        return false;
    if (as)
        *as = w->remote;
    s_watch_unlink (p, w);
    free (w);
    return true;
}

/*  Frees every watch of p, told to nobody. */
static void
s_watches_free (gw_peer *p)
{
    while (p->watches) {
        gw_watch *w = p->watches;
        p->watches = w->next;
        free (w);
    }
    tp__idmap_free (&p->wmap);
    p->nwatches = 0;
}

/*  Ends every watch of p: local actors watching the peer get reason
    (DOWN, or EXIT for links); watcher entries the peer's actors held on
    ours are dropped (a DEMONITOR on the peer's behalf). */
static void
s_watches_end (tp__ctx *c, gw_peer *p, tp_tag_t reason)
{
    while (p->watches) {
        gw_watch *w = p->watches;
        s_watch_unlink (p, w);
        if (w->kind == GW_LINK)
            tp__sys_send (c, w->remote, w->local, TP__SYS_EXIT, 0, "t", reason);
        else if (w->kind == GW_MON_OUT)
            tp__sys_send (c, w->remote, w->local, TP__SYS_DOWN,
                          (uint64_t) w->id, "rt", w->remote, reason);
        else
            tp__sys_send (c, w->remote, w->local, TP__SYS_DEMONITOR,
                          (uint64_t) w->id, NULL);
        free (w);
    }
}

/*  Node `node` is down: every ctx with actors, and every foreign thread
    in a tp_call to that node, is told, so that asks to its actors end at
    once with TP_EDOWN (tp__asks_node_down, tp__ext_wait_reply). Ctx
    structs are never freed before the system, so the list taken under
    the lock stays valid after it. */
static void
s_tell_node_down (tp__ctx *c, uint32_t node)
{
    tp_system *sys = c->sys;
    uint64_t now = tp__now_ns ();
    pthread_mutex_lock (&sys->lock);
    int top = atomic_load (&sys->nctx), n = 0;
    tp__ctx **to = tp__malloc ((size_t) (top ? top : 1) * sizeof *to);
    for (int i = 0; i < top; i++) {
        tp__ctx *o = sys->ctxs[i];
        if (!o || o == c || !atomic_load (&o->alive)
            || atomic_load (&o->finished))
            continue;
        if (o->kind == TP__CTX_EXTERNAL) {
            uint32_t cn = atomic_load (&o->call_node);
            if (!cn || (cn != node && !tp__node_same_name (cn, node)))
                continue;
        }
        else if (o->kind != TP__CTX_WORKER && o->kind != TP__CTX_THREAD)
            continue;
        to[n++] = o;
    }
    pthread_mutex_unlock (&sys->lock);
    for (int i = 0; i < n; i++) {
        tp_msg *m = tp__msg_alloc ();
        m->corr = node;
        tp_msg_pack (m, "U", now);
        tp__ctl_msg (c, to[i], TP__CTL_NODEDOWN, m);
    }
    free (to);
    tp__asks_node_down (c, node); /* (the actors of the ctx I ride) */
}

/*  The peer is gone (silent, drained or restarted): tell every local
    actor that watched one of its actors, and forget the watches.
    `counted`: a loss (nodes_down), not a goodbye. `life_over`: it
    drained or restarted; else it may come back on this life, and is then
    told that we ended our watches with it (HELLO's `lost`). */
static void
s_peer_down (tp__ctx *c, gw_peer *p, bool counted, bool life_over)
{
    tp_system *sys = c->sys;
    tp__gw *g = sys->gw;
    s_set_up (sys, p, false);
    p->down_at = tp__now_ns ();
    if (counted)
        atomic_fetch_add (&g->nodes_down, 1);
    if (p->out_n) { /* batched for the old connection: lost with it */
        s_lost (g, p, p->out, p->out_len, true);
        p->out_len = 0;
        p->out_n = 0;
    }
    s_held_drop (g, p);
    s_held_in_drop (c, p);
    s_watches_end (c, p, tp_tag ("noconnect"));
    tp__idmap_free (&p->asks[0]); /* (its asks end with it) */
    tp__idmap_free (&p->asks[1]);
    if (p->node)
        tp__node_event (c, p->node, p->name, p->name_len,
                        counted ? tp__tag_noconnect : tp__tag_shutdown);
    if (p->node)
        s_tell_node_down (c, p->node);
    /* a silent peer may come back on this life: it must then end its
       watches with us too (our HELLO says `lost`) */
    p->lost_inc = life_over ? 0 : p->incarnation;
    tp__flush (c);
}

/*  Frees p's entry (a peer that called us and is down or drained). */
static void
s_forget (tp__gw *g, gw_peer *p)
{
    tp_system *sys = g->sys;
    assert (!p->up && !p->watches && !p->dealer && !p->held_n
            && !p->in_head && !p->stalled);
    pthread_mutex_lock (&sys->lock);
    for (int i = 0; i < g->npeers; i++)
        if (g->peers[i] == p) {
            g->peers[i] = g->peers[--g->npeers];
            break;
        }
    pthread_mutex_unlock (&sys->lock);
    if (p->node)
        tp__node_pin (p->node, -1);
    atomic_fetch_add_explicit (&g->peers_forgotten, 1, memory_order_relaxed);
    s_changed (sys); /* (tp_node_wait: peers_held went down) */
    tp__idmap_free (&p->wmap);
    tp__idmap_free (&p->asks[0]);
    tp__idmap_free (&p->asks[1]);
    free (p->held);
    free (p->out);
    free (p);
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

/*  No way to `to`: answer for the unreachable actor as the protocol
    expects (noproc for a ref of an earlier incarnation of a node that is
    up now, else noconnect), or count a dead letter. Consumes m. */
static void
s_unreachable (tp__ctx *c, tp_ref to, tp_msg *m, bool old_life)
{
    tp_tag_t why = old_life ? tp__tag_noproc : tp__tag_noconnect;
    if (!(m->flags & TP__MSG_SYS)) {
        tp__dead_letter_why (c, to, m, why);
        return;
    }
    if (m->aux == TP__SYS_MONITOR)
        tp__sys_send (c, to, m->from, TP__SYS_DOWN, m->corr, "rt", to, why);
    else if (m->aux == TP__SYS_LINK)
        tp__sys_send (c, to, m->from, TP__SYS_EXIT, 0, "t", why);
    tp__msg_free (m);
}

/*  A record from a local ctx for an actor on another node (consumes m). */
static void
s_gw_forward (tp__ctx *c, tp_ref to, tp_msg *m)
{
    tp_system *sys = c->sys;
    tp__gw *g = sys->gw;
    gw_peer *p = s_peer_by_node (g, to.node);
    uint32_t kind = s_kind_of (m);
    if (to.index == TP__WIRE_RESERVED_INDEX && kind != TP__WIRE_LOOKUP) {
        s_unreachable (c, to, m, true); /* names no actor anywhere */
        return;
    }
    if (!p || !p->up || !kind) {
        bool old_life = !p && tp_node_incarnation (to.node) != 0;
        if (old_life) {
            char name[TP_NODE_NAME_MAX + 1];
            gw_peer *q = tp__node_name_copy (to.node, name)
                             ? s_peer_by_name (g, name, strlen (name), NULL)
                             : NULL;
            old_life = q && q->up;
        }
        s_unreachable (c, to, m, old_life);
        return;
    }
    /* Remember what must be answered if the peer goes down. */
    if (m->flags & TP__MSG_SYS) {
        switch (m->aux) {
        case TP__SYS_MONITOR:
            s_watch_add (p, GW_MON_OUT, m->from, to, (int64_t) m->corr);
            break;
        case TP__SYS_DEMONITOR:
            s_watch_remove (p, GW_MON_OUT, m->from, to, (int64_t) m->corr,
                            NULL);
            break;
        case TP__SYS_DOWN: /* our actor ended: the peer's watch with it */
            s_watch_remove (p, GW_MON_IN, m->from, to, (int64_t) m->corr, NULL);
            break;
        case TP__SYS_LINK:
            s_watch_add (p, GW_LINK, m->from, to, 0);
            break;
        case TP__SYS_UNLINK:
        case TP__SYS_EXIT:
            s_watch_remove (p, GW_LINK, m->from, to, 0, NULL);
            break;
        default:
            break;
        }
    }
    tp__env e;
    s_env_init (&e, g, kind, p);
    e.to_index = to.index;
    e.to_gen = to.gen;
    if (kind == TP__WIRE_LOOKUP) /* addressed to the node itself */
        e.to_index = e.to_gen = 0;
    e.from_index = m->from.index;
    e.from_gen = m->from.gen;
    if (!tp_ref_is_nil (m->from) && m->from.node != sys->node) {
        /* Forwarded on behalf of a third node. A peer accepts from_node
           only as the name of the connection's node (PROTOCOL.md §2), so
           the original sender cannot travel: it arrives without one. */
        e.from_index = 0;
        e.from_gen = 0;
    }
    if ((m->flags & TP__MSG_REPLY) && (p->asks[0].n | p->asks[1].n)) {
        uint64_t key = s_ask_key (to.index, to.gen, m->corr);
        if (!tp__idmap_del (&p->asks[0], key))
            tp__idmap_del (&p->asks[1], key);
    }
    e.tag = m->tag;
    e.corr = m->corr;
    e.flags = (m->flags & TP__MSG_REQUEST ? TP__WIRE_F_REQUEST : 0)
              | (m->flags & TP__MSG_REPLY ? TP__WIRE_F_REPLY : 0);
    e.body = m->body;
    e.body_len = m->size;
    if (s_batch_add (c, p, &e) != 0) { /* (cannot fail for what we make) */
        s_unreachable (c, to, m, true);
        return;
    }
    tp__msg_free (m);
}

/* ------------------------------------------------------------------ */
/*  Remote -> local: one handler per kind                              */

/*  What a handler gets: the connection's peer, the decoded envelope and
    the refs it names (from: the peer's actor; to: ours). */
typedef struct {
    tp__ctx *c;
    gw_peer *p;
    const char *rid; /* ROUTER routing id, or NULL (DEALER) */
    size_t rid_len;
    tp__env e;
    tp_ref from, to;
} gw_in;

static void s_on_frame (tp__ctx *c, gw_peer *p, const char *rid,
                        size_t rid_len, const void *data, size_t len,
                        bool inner);

/* ---- flow control, in ------------------------------------------------ */

/*  True when the local actor `to` has a backlog that the network must not
    add to: its mailbox holds remote_backlog messages, or its worker has
    many frames unread. */
static bool
s_backlogged (tp__ctx *c, tp_ref to, uint32_t depth, int frames)
{
    tp_system *sys = c->sys;
    tp__slot *s = tp__slot_get (sys, to.index);
    if (!s || atomic_load_explicit (&s->gen, memory_order_acquire) != to.gen)
        return false; /* gone: nothing to wait for */
    if (atomic_load_explicit (&s->queued, memory_order_relaxed) >= depth)
        return true;
    int home = atomic_load_explicit (&s->home, memory_order_relaxed);
    if (home == c->id || home < 0 || home >= atomic_load (&sys->nctx))
        return false;
    tp__ctx *h = sys->ctxs[home];
    return atomic_load_explicit (&h->inbound, memory_order_relaxed)
               - atomic_load_explicit (&h->consumed_pub, memory_order_relaxed)
           > (uint64_t) frames;
}

/*  Stops reading p (its socket, or the ROUTER it comes in on) until the
    local actor `to` has run its backlog. */
static void
s_stall (tp__gw *g, gw_peer *p, tp_ref to)
{
    p->stall_to = to;
    if (p->stalled)
        return;
    p->stalled = true;
    atomic_fetch_add_explicit (&g->stalls, 1, memory_order_relaxed);
    if (!p->dealer)
        g->router_stalled++;
}

static void
s_unstall (tp__gw *g, gw_peer *p)
{
    if (!p->stalled)
        return;
    p->stalled = false;
    uint64_t now = tp__now_ns (), hb = (uint64_t) g->sys->heartbeat_ms
                                           * 1000000u;
    /* we did not read them: their silence is ours, give a fresh window */
    for (int i = 0; i < g->npeers; i++) {
        gw_peer *q = g->peers[i];
        if ((q == p || (!p->dealer && !q->dealer)) && q->last_rx < now - hb)
            q->last_rx = now - hb;
    }
    if (!p->dealer)
        g->router_stalled--;
}

/*  Delivers m (consumed) to the local actor `to` for peer p, in order
    behind what p holds; a full bounded mailbox holds it (the peer waits),
    a backlog stalls the peer after it. */
static void
s_deliver_local (tp__ctx *c, gw_peer *p, tp_ref to, tp_msg *m)
{
    tp__gw *g = c->sys->gw;
    bool user = !(m->flags & (TP__MSG_SYS | TP__MSG_REPLY));
    int rc = p->in_head ? TP_EFULL : tp__route (c, to, m, 0);
    if (rc == TP_EFULL) {
        gw_held_in *h = tp__malloc (sizeof *h);
        h->next = NULL;
        h->to = to;
        h->m = m;
        if (p->in_tail)
            p->in_tail->next = h;
        else
            p->in_head = h;
        p->in_tail = h;
        s_stall (g, p, to);
        return;
    }
    if (rc)
        tp__dead_letter (c, to, m);
    else if (user && ++p->unchecked >= GW_BACKLOG_EVERY) {
        /* (a look every few messages: the backlog may overshoot by that) */
        p->unchecked = 0;
        if (s_backlogged (c, to, c->sys->remote_backlog, TP__BACKLOG_MAX))
            s_stall (g, p, to);
    }
}

/*  A stalled peer: delivers what it holds while there is room, and
    reads it again once its actor has run half of its backlog. */
static void
s_stall_check (tp__ctx *c, gw_peer *p)
{
    tp__gw *g = c->sys->gw;
    while (p->in_head) {
        gw_held_in *h = p->in_head;
        int rc = tp__route (c, h->to, h->m, 0);
        if (rc == TP_EFULL)
            return;
        if (rc)
            tp__dead_letter (c, h->to, h->m);
        p->in_head = h->next;
        if (!p->in_head)
            p->in_tail = NULL;
        free (h);
    }
    if (!s_backlogged (c, p->stall_to, c->sys->remote_backlog / 2,
                       TP__BACKLOG_MAX / 2))
        s_unstall (g, p);
}

/*  Drops what p holds in (the peer is gone: at-most-once). */
static void
s_held_in_drop (tp__ctx *c, gw_peer *p)
{
    while (p->in_head) {
        gw_held_in *h = p->in_head;
        p->in_head = h->next;
        tp__dead_letter (c, h->to, h->m);
        free (h);
    }
    p->in_tail = NULL;
    s_unstall (c->sys->gw, p);
}

/*  Delivers the envelope to the local actor it names, as a message of
    runtime kind aux (-1: a user message), from `from`. */
static void
s_in_deliver (gw_in *in, int aux, tp_ref from)
{
    tp__ctx *c = in->c;
    const tp__env *e = &in->e;
    tp_msg *m = tp__msg_alloc ();
    m->from = from;
    m->tag = e->tag ? e->tag : tp__tag_sys;
    m->corr = e->corr;
    if (aux >= 0) {
        m->flags = TP__MSG_SYS;
        m->aux = (uint16_t) aux;
    }
    else
        m->flags = (uint16_t) ((e->flags & TP__WIRE_F_REQUEST ? TP__MSG_REQUEST
                                                              : 0)
                               | (e->flags & TP__WIRE_F_REPLY ? TP__MSG_REPLY
                                                              : 0));
    /* the body last: the flags above must not hide a heap body */
    if (e->body_len && tp__msg_append (m, e->body, e->body_len) != 0) {
        tp__msg_free (m);
        s_bad (c->sys->gw, TP_BAD_TOO_BIG, "body too big");
        return;
    }
    s_deliver_local (c, in->p, in->to, m);
}

/*  A request from p (limits: peer_max_asks unanswered at once; an ask
    counts until it is answered or for up to GW_ASK_TTL_NS, which only
    ends its count, never the ask). */
static void
s_in_user (gw_in *in)
{
    if (in->e.flags & TP__WIRE_F_REQUEST) {
        gw_peer *p = in->p;
        tp_system *sys = in->c->sys;
        uint64_t key = s_ask_key (in->e.from_index, in->e.from_gen,
                                  in->e.corr);
        if (p->asks[0].n + p->asks[1].n >= sys->peer_max_asks
            && !tp__idmap_get (&p->asks[0], key)
            && !tp__idmap_get (&p->asks[1], key)) {
            atomic_fetch_add_explicit (&sys->gw->asks_refused, 1,
                                       memory_order_relaxed);
            tp__fail_request (in->c, in->to, in->from, in->e.corr,
                              tp__tag_limit);
            return;
        }
        tp__idmap_put (&p->asks[0], key, p);
    }
    s_in_deliver (in, -1, in->from);
}

/*  A monitor or link the peer makes on one of our actors, unless it
    holds peer_max_watches: then it is answered as by an actor that ended
    with reason `limit` (DOWN, or EXIT for a link). */
static bool
s_watch_allowed (gw_in *in, int kind, int64_t id)
{
    gw_peer *p = in->p;
    tp__ctx *c = in->c;
    if (p->nwatches < c->sys->peer_max_watches
        || s_watch_find (p, kind, in->to, in->from, id))
        return true;
    atomic_fetch_add_explicit (&c->sys->gw->watches_refused, 1,
                               memory_order_relaxed);
    if (kind == GW_LINK)
        tp__sys_send (c, in->to, in->from, TP__SYS_EXIT, 0, "t",
                      tp__tag_limit);
    else
        tp__sys_send (c, in->to, in->from, TP__SYS_DOWN, (uint64_t) id, "rt",
                      in->to, tp__tag_limit);
    return false;
}

static void
s_in_monitor (gw_in *in)
{
    if (!s_watch_allowed (in, GW_MON_IN, (int64_t) in->e.corr))
        return;
    s_watch_add (in->p, GW_MON_IN, in->to, in->from, (int64_t) in->e.corr);
    s_in_deliver (in, TP__SYS_MONITOR, in->from);
}

static void
s_in_link (gw_in *in)
{
    if (!s_watch_allowed (in, GW_LINK, 0))
        return;
    s_watch_add (in->p, GW_LINK, in->to, in->from, 0);
    s_in_deliver (in, TP__SYS_LINK, in->from);
}

/*  DOWN, EXIT, UNLINK, DEMONITOR: acted on only for a watch that exists
    between the peer and our actor (a peer cannot end or unlink an actor
    it has no link with, nor drop a watcher it is not). The sender the
    local actor sees is the ref it watched with. */
static void
s_in_unwatch (gw_in *in)
{
    int kind = in->e.kind == TP__WIRE_DOWN        ? GW_MON_OUT
               : in->e.kind == TP__WIRE_DEMONITOR ? GW_MON_IN
                                                  : GW_LINK;
    tp_ref as;
    if (!s_watch_remove (in->p, kind, in->to, in->from, (int64_t) in->e.corr,
                         &as))
        return; /* no such watch (or it ended meanwhile): nothing to do */
    if (kind == GW_MON_IN)
        as = in->from;
    s_in_deliver (in, s_aux_of (in->e.kind), as);
}

static void
s_in_stop (gw_in *in)
{
    s_in_deliver (in, TP__SYS_STOP, in->from);
}

static void
s_in_lookup_reply (gw_in *in)
{
    in->e.tag = tp__tag_sys;
    in->e.flags = TP__WIRE_F_REPLY;
    s_in_deliver (in, -1, in->from);
}

static void
s_in_lookup (gw_in *in)
{
    tp__gw *g = in->c->sys->gw;
    const char *name;
    size_t nlen;
    char nm[64];
    if (tp_unpack_raw (in->e.body, in->e.body_len, "s", &name, &nlen) != 0
        || nlen == 0 || nlen >= sizeof nm) {
        s_bad (g, TP_BAD_MALFORMED, "bad LOOKUP");
        return;
    }
    memcpy (nm, name, nlen);
    nm[nlen] = '\0';
    tp_ref r = tp_whereis (in->c->sys, nm);
    tp_msg *m = tp__msg_alloc ();
    tp_msg_pack (m, "r", r);
    tp__env a;
    s_env_init (&a, g, TP__WIRE_LOOKUP_REPLY, in->p);
    a.to_index = in->e.from_index;
    a.to_gen = in->e.from_gen;
    a.corr = in->e.corr;
    a.flags = TP__WIRE_F_REPLY;
    a.body = m->body;
    a.body_len = m->size;
    s_send_env (g, in->p, &a);
    tp__msg_free (m);
}

static void
s_in_heartbeat (gw_in *in)
{
    (void) in;
}

/*  The peer is going and has sent everything: acknowledge, then it is
    down (its actors said "shutdown" to their watchers before this). */
static void
s_in_drain (gw_in *in)
{
    tp__gw *g = in->c->sys->gw;
    tp_log (in->c->sys, TP_LOG_DEBUG, "%s is leaving (DRAIN): acknowledged",
            in->p->name);
    s_send_control (g, in->p, TP__WIRE_DRAIN_ACK);
    s_peer_down (in->c, in->p, false, true);
    in->p->goodbye = true;
}

static void
s_in_drain_ack (gw_in *in)
{
    in->p->drained = true;
    tp_log (in->c->sys, TP_LOG_DEBUG, "%s acknowledged our DRAIN",
            in->p->name);
}

/*  Each item is an envelope of its own; a bad item ends the batch (what
    came before it stands). */
static void
s_in_batch (gw_in *in)
{
    tp__gw *g = in->c->sys->gw;
    const uint8_t *q = in->e.body, *env;
    size_t left = in->e.body_len, elen;
    int n = 0, rc;
    while ((rc = tp__wire_batch_next (&q, &left, &env, &elen)) == 0) {
        s_on_frame (in->c, in->p, in->rid, in->rid_len, env, elen, true);
        n++;
        if (!in->p->up)
            return; /* an item (DRAIN) ended the peer: the rest is moot */
    }
    if (rc < 0)
        s_bad (g, TP_BAD_MALFORMED, "bad BATCH item");
    else if (n < 2)
        s_bad (g, TP_BAD_MALFORMED, "BATCH of fewer than two items");
}

/*  Marks p (a peer we connected to) refused with rc (0: not refused);
    `times` refusals in a row make tp_node_connect give up. */
static void
s_set_refused (tp_system *sys, gw_peer *p, int rc, int times)
{
    pthread_mutex_lock (&sys->lock); /* tp_node_connect reads it */
    p->refused = rc != 0;
    p->refused_rc = rc;
    p->refusals = rc ? (times ? times : p->refusals + 1) : 0;
    pthread_mutex_unlock (&sys->lock);
}

/*  Is the life of p that we have up still there? When it called us, a
    probe tells: a heartbeat to its routing id, which ZeroMQ refuses at
    once (ROUTER_MANDATORY) when that connection has closed, as it does
    when the process ends. Else (only our connection to it): it was heard
    from within 1.5 beats. */
static bool
s_still_there (tp__gw *g, gw_peer *p)
{
    if (p->rid_len) {
        tp__env e;
        s_env_init (&e, g, TP__WIRE_HEARTBEAT, p);
        uint8_t head[TP__WIRE_HEAD_MAX];
        size_t hlen;
        if (tp__wire_head (&e, head, &hlen) != 0)
            return true;
        /* (TP_EFULL: there, and not reading; TP_ENODE: gone) */
        return s_send_raw (g, NULL, p->rid, p->rid_len, head, hlen, NULL, 0)
               != TP_ENODE;
    }
    uint64_t hb = (uint64_t) g->sys->heartbeat_ms * 1000000u;
    return tp__now_ns () - p->last_rx < hb + hb / 2;
}

/*  Tells the connection with routing id rid that its greeting is refused
    (PROTOCOL.md §10.5): a DRAIN before any HELLO, with the reason. */
static void
s_refuse (tp__gw *g, const char *rid, size_t rid_len, tp_tag_t why)
{
    tp__env e;
    s_env_init (&e, g, TP__WIRE_DRAIN, NULL);
    tp_msg *m = tp__msg_alloc ();
    if (tp_msg_pack (m, "t", why) == 0) {
        e.body = m->body;
        e.body_len = m->size;
        uint8_t head[TP__WIRE_HEAD_MAX];
        size_t hlen;
        if (tp__wire_head (&e, head, &hlen) == 0)
            s_send_raw (g, NULL, rid, rid_len, head, hlen, m->body, m->size);
    }
    tp__msg_free (m);
}

/*  The node we connected to (p) refused our HELLO: our name is up there
    on another connection ("name_taken"), or it holds all the peers it may
    ("full"). We greet again every beat: a refusal can end (the other
    process leaves); tp_node_connect gives up after two in a row. */
static void
s_on_refused (tp__ctx *c, gw_peer *p, const tp__env *e)
{
    tp_system *sys = c->sys;
    tp_tag_t why = 0;
    if (tp_unpack_raw (e->body, e->body_len, "t", &why) != 0) {
        s_bad (sys->gw, TP_BAD_MALFORMED, "bad DRAIN");
        return;
    }
    bool first = !p->refused;
    s_set_refused (sys, p, why == tp_tag ("full") ? TP_ELIMIT : TP_ENAMETAKEN,
                   0);
    if (first) {
        char t[TP_TAG_MAX_LEN + 1];
        tp_log (sys, TP_LOG_WARN, "node at %s refused us (%s)", p->endpoint,
                tp_tag_name (why, t, sizeof t) == 0 ? t : "?");
        atomic_fetch_add (&sys->gw->peers_refused, 1);
    }
    s_changed (sys);
}

/*  Folds o (an entry for a peer that called us) into p (our connection
    to the same name, now greeting with incarnation inc) and frees o. The
    same life keeps its watches; an older one ends them (noconnect). */
static void
s_merge (tp__ctx *c, gw_peer *p, gw_peer *o, uint32_t inc)
{
    tp__gw *g = c->sys->gw;
    if (o->up && o->incarnation != inc)
        s_peer_down (c, o, true, true);
    s_batch_flush (g, o);
    s_held_drop (g, o);
    s_held_in_drop (c, o);
    if (o->up && !p->up && !p->node) {
        p->last_rx = o->last_rx;
    }
    if (o->rid_len && o->incarnation == inc) { /* its connection to us */
        memcpy (p->rid, o->rid, o->rid_len);
        p->rid_len = o->rid_len;
        tp_log (c->sys, TP_LOG_DEBUG,
                "%s: our connection merged into the one it made", o->name);
    }
    while (o->watches) {
        gw_watch *w = o->watches;
        s_watch_unlink (o, w);
        s_watch_link (p, w);
    }
    if (o->up) {
        if (p->up)
            s_set_up (c->sys, o, false);
        else { /* p takes o's place as the up entry */
            atomic_fetch_sub (&g->peers_up, 1);
            pthread_mutex_lock (&c->sys->lock); /* (read by tp_node_up) */
            o->up = false;
            pthread_mutex_unlock (&c->sys->lock);
        }
    }
    if (p->node == 0 && o->node && o->incarnation == inc) {
        tp__node_pin (o->node, 1);
        pthread_mutex_lock (&c->sys->lock);
        p->node = o->node;
        memcpy (p->name, o->name, o->name_len + 1);
        p->name_len = o->name_len;
        p->incarnation = inc;
        pthread_mutex_unlock (&c->sys->lock);
    }
    s_forget (g, o);
}

/*  A HELLO: the peer's name and incarnation. On a new incarnation of a
    peer we had up, its old life's actors are gone. Answered when the
    sender does not have us up (its `seen` is not our incarnation). */
static void
s_on_hello (tp__ctx *c, gw_peer *p, const char *rid, size_t rid_len,
            const tp__env *e)
{
    tp_system *sys = c->sys;
    tp__gw *g = sys->gw;
    tp__hello h;
    if (tp__wire_hello (e, rid, rid_len, &h) != 0) {
        s_bad (g, TP_BAD_HELLO, "bad HELLO");
        return;
    }
    const char *name = h.name;
    size_t name_len = h.name_len;
    unsigned inc = h.inc, seen = h.seen, lost = h.lost;
    gw_peer *left = p ? p : s_peer_by_name (g, name, name_len, NULL);
    if (left && left->goodbye && !left->up && left->incarnation == inc
        && left->node)
        return; /* a life that said goodbye does not come back (a new
                   one has a new incarnation) */
    if (name_len == g->name_len && memcmp (name, g->name, name_len) == 0) {
        s_bad (g, TP_BAD_HELLO, "HELLO with our own node name");
        return;
    }
    uint32_t node = tp__node_intern (name, name_len, inc);
    if (!node) {
        s_bad_uncharged (g, TP_BAD_HELLO, "HELLO refused: the node table is full");
        return;
    }
    if (p) {
        /* A peer we connected to: its name may not be up elsewhere. */
        gw_peer *o = s_peer_by_name (g, name, name_len, p);
        if (o && !o->dealer) {
            /* It called us too (or an old life of it did): one entry per
               name, the one with our connection. */
            s_merge (c, p, o, (uint32_t) inc);
            o = NULL;
        }
        if (o && o->up && o->incarnation != (uint32_t) inc) {
            if (!p->refused) { /* (logged and counted once per refusal) */
                tp_log (sys, TP_LOG_WARN,
                        "refused node %.*s at %s: that name is already up on "
                        "another connection",
                        (int) name_len, name, p->endpoint);
                s_set_refused (sys, p, TP_ENAMETAKEN, 2);
                atomic_fetch_add (&g->peers_refused, 1);
                s_changed (sys);
            }
            return;
        }
        s_set_refused (sys, p, 0, 0);
    }
    else {
        /* A peer that connected to us (or answered on a new connection). */
        p = s_peer_by_name (g, name, name_len, NULL);
        if (p && p->up && p->incarnation != (uint32_t) inc
            && s_still_there (g, p)) {
            /* A second live process with a name that is up: refused, and
               told so; the first one keeps its link. (A restart is let
               in: the old life's connection is gone.) */
            if (!p->dup_logged) {
                p->dup_logged = true;
                tp_log (sys, TP_LOG_WARN,
                        "refused a second node named %.*s (incarnation "
                        "%08x): incarnation %08x is up on another connection",
                        (int) name_len, name, (unsigned) inc, p->incarnation);
                atomic_fetch_add (&g->peers_refused, 1);
                s_changed (sys);
            }
            s_refuse (g, rid, rid_len, tp_tag ("name_taken"));
            return;
        }
        if (!p && !(p = s_peer_new (g))) {
            atomic_fetch_add (&g->peers_refused, 1);
            if (!g->full_logged) {
                g->full_logged = true;
                tp_log (sys, TP_LOG_WARN,
                        "refused node %.*s: %d peers held "
                        "(tp_system_opts.max_peers)",
                        (int) name_len, name, sys->max_peers);
            }
            s_changed (sys);
            s_refuse (g, rid, rid_len, tp_tag ("full"));
            return;
        }
        if (p->rid_len != rid_len || memcmp (p->rid, rid, rid_len) != 0) {
            memcpy (p->rid, rid, rid_len); /* this life's connection */
            p->rid_len = rid_len;
            p->dup_logged = false;
        }
    }
    bool same_life = p->node == node;
    if (p->node && p->node != node) {
        if (p->up)
            s_peer_down (c, p, true, true); /* restarted: the old life ended */
        p->lost_inc = 0;
    }
    else if (lost == sys->incarnation && p->up) {
        /* It judged us down and ended its watches with us: end ours with
           it, so that both sides agree (as a node-down on both sides). */
        s_watches_end (c, p, tp_tag ("noconnect"));
        atomic_fetch_add (&g->nodes_down, 1);
    }
    s_peer_set_node (g, p, node, name, name_len, (uint32_t) inc);
    p->last_rx = tp__now_ns ();
    if (!same_life) {
        /* (a life that acknowledged our DRAIN and greets again, as a
           peer that keeps calling a gone endpoint does, has still
           acknowledged it: else a stop waits TP__DRAIN_MAX_NS for an
           answer that was given; a new life is told, by the stop's loop) */
        p->drained = false;
        p->drain_sent = false;
    }
    p->goodbye = false;
    s_set_up (sys, p, true);
    if (seen != sys->incarnation) /* greet back, or again */
        s_send_hello (g, p, rid, rid_len);
}

static void (*const s_handlers[TP__WIRE_KIND_MAX + 1]) (gw_in *) = {
    [TP__WIRE_USER] = s_in_user,
    [TP__WIRE_MONITOR] = s_in_monitor,
    [TP__WIRE_DEMONITOR] = s_in_unwatch,
    [TP__WIRE_DOWN] = s_in_unwatch,
    [TP__WIRE_LINK] = s_in_link,
    [TP__WIRE_UNLINK] = s_in_unwatch,
    [TP__WIRE_EXIT] = s_in_unwatch,
    [TP__WIRE_STOP] = s_in_stop,
    [TP__WIRE_LOOKUP] = s_in_lookup,
    [TP__WIRE_LOOKUP_REPLY] = s_in_lookup_reply,
    [TP__WIRE_HEARTBEAT] = s_in_heartbeat,
    [TP__WIRE_DRAIN] = s_in_drain,
    [TP__WIRE_DRAIN_ACK] = s_in_drain_ack,
    [TP__WIRE_BATCH] = s_in_batch,
};

/*  Kinds addressed to the node rather than to one of its actors. */
static bool
s_node_kind (uint32_t kind)
{
    return kind == TP__WIRE_LOOKUP || kind == TP__WIRE_HEARTBEAT
           || kind == TP__WIRE_DRAIN || kind == TP__WIRE_DRAIN_ACK
           || kind == TP__WIRE_BATCH;
}

/*  Greets a connection whose peer does not know us as we are: at most
    once per heartbeat for the same unknown routing id. */
static void
s_greet (tp__gw *g, gw_peer *p, const char *rid, size_t rid_len)
{
    uint64_t now = tp__now_ns ();
    uint64_t hb = (uint64_t) g->sys->heartbeat_ms * 1000000u;
    if (p) {
        if (p->greet_at && now - p->greet_at < hb)
            return;
        p->greet_at = now;
        s_send_hello (g, p, NULL, 0);
        return;
    }
    size_t name_len;
    uint32_t inc;
    if (!rid || !tp__wire_rid_ok (rid, rid_len, &name_len, &inc))
        return;
    /* a few unknown routing ids remembered, the oldest replaced */
    int slot = 0;
    for (int i = 0; i < GW_UNKNOWN; i++) {
        if (g->unknown_len[i] == rid_len
            && !memcmp (g->unknown[i], rid, rid_len)) {
            if (now - g->unknown_at[i] < hb)
                return;
            slot = i;
            break;
        }
        if (g->unknown_at[i] < g->unknown_at[slot])
            slot = i;
    }
    memcpy (g->unknown[slot], rid, rid_len);
    g->unknown_len[slot] = rid_len;
    g->unknown_at[slot] = now;
    s_send_hello (g, NULL, rid, rid_len);
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
    gw_in in = {.c = c, .rid = rid, .rid_len = rid_len};
    int rc = tp__wire_decode (data, len, &in.e);
    g->taken++;
    if (rc != 0) {
        if (rc == TP_ENOTSUP)
            s_bad (g, TP_BAD_VERSION, "unknown protocol version");
        else
            s_bad (g, TP_BAD_MALFORMED, "malformed envelope");
        return;
    }
    if (inner && (in.e.kind == TP__WIRE_HELLO || in.e.kind == TP__WIRE_BATCH)) {
        s_bad (g, TP_BAD_MALFORMED, "HELLO or BATCH inside a BATCH");
        return;
    }
    if (in.e.kind == TP__WIRE_HELLO) {
        s_on_hello (c, p, rid, rid_len, &in.e);
        return;
    }
    if (!p && rid)
        p = s_peer_by_rid_or_life (g, rid, rid_len);
    if (p && !inner) { /* (a HELLO's bytes are not counted for its peer) */
        atomic_fetch_add_explicit (&p->bytes_in, len, memory_order_relaxed);
        atomic_fetch_add_explicit (&p->frames_in, 1, memory_order_relaxed);
    }
    if (in.e.kind == TP__WIRE_DRAIN && in.e.body_len && p && p->dealer
        && !p->up) {
        s_on_refused (c, p, &in.e); /* it refuses our greeting */
        return;
    }
    if (p && p->refused) {
        tp_log (sys, TP_LOG_DEBUG, "dropped a frame (kind %u) from %s: a "
                "connection refused", (unsigned) in.e.kind,
                p->name_len ? p->name : p->endpoint);
        return; /* a connection we refused: its frames are not bad, only
                   not wanted (counted once, in peers_refused) */
    }
    if (!p || !p->node) {
        s_bad_uncharged (g, TP_BAD_BEFORE_HELLO, "frame before HELLO");
        s_greet (g, p, rid, rid_len); /* so that it greets again */
        return;
    }
    /* A peer speaks for itself only: its routing id and from_node agree. */
    if (in.e.from_node_len != p->name_len
        || memcmp (in.e.from_node, p->name, p->name_len) != 0) {
        s_bad (g, TP_BAD_SPOOFED, "from_node is not the connected peer");
        return;
    }
    if (!inner) /* (one clock read per frame, not per item of a BATCH) */
        p->last_rx = tp__now_ns ();
    if (!p->up) {
        if (p->goodbye) {
            tp_log (sys, TP_LOG_DEBUG, "dropped a frame (kind %u) from %s: "
                    "it said goodbye", (unsigned) in.e.kind, p->name);
            return; /* it said goodbye (DRAIN): this life has left, and
                       what it sent after is no sign of life (its last
                       heartbeats would bring it back, and a stopping node
                       would then wait for it) */
        }
        /* Known but judged down (a pause, a lost link): it is alive after
           all, on the same incarnation (a new one greets first). */
        s_set_up (sys, p, true);
        s_send_hello (g, p, NULL, 0);
    }
    if (in.e.to_inc && in.e.to_inc != sys->incarnation) {
        /* for an earlier life of this node: never our actors */
        if (!inner || !s_node_kind (in.e.kind))
            s_greet (g, p, NULL, 0);
        if (!s_node_kind (in.e.kind)) {
            if (in.e.kind == TP__WIRE_USER) { /* (a dead letter here too) */
                tp_ref old = {tp__node_intern (g->name, g->name_len,
                                               in.e.to_inc),
                              in.e.to_index, in.e.to_gen};
                tp__dead_note (c, old, in.e.tag, tp__tag_noproc);
                if (in.e.flags & TP__WIRE_F_REQUEST) /* (asker: at once) */
                    tp__fail_request (c, old,
                                      (tp_ref){p->node, in.e.from_index,
                                               in.e.from_gen},
                                      in.e.corr, tp__tag_noproc);
            }
            return;
        }
    }
    in.p = p;
    in.from = (tp_ref){p->node, in.e.from_index, in.e.from_gen};
    in.to = (tp_ref){sys->node, in.e.to_index, in.e.to_gen};
    s_handlers[in.e.kind](&in);
}

/* ------------------------------------------------------------------ */
/*  Limits: peers that send bad frames are quarantined                 */

/*  The key a connection to our ROUTER is quarantined by: the node name
    of its routing id (so that a restart of the same process stays out),
    or the whole id when it names no node. */
static size_t
s_rid_key (const char *rid, size_t rid_len)
{
    size_t name_len;
    uint32_t inc;
    return tp__wire_rid_ok (rid, rid_len, &name_len, &inc) ? name_len
                                                           : rid_len;
}

/*  Is the connection (p: a peer we connected to; else routing id rid)
    in quarantine? An expired quarantine ends here or at the beat. */
static bool
s_quarantined (tp__gw *g, gw_peer *p, const char *rid, size_t rid_len)
{
    uint64_t now = tp__now_ns ();
    if (p) {
        if (p->quarantine_until > now)
            return true;
        p->quarantine_until = 0;
        return false;
    }
    size_t n = s_rid_key (rid, rid_len);
    for (int i = 0; i < GW_QUARANTINE; i++)
        if (g->quar[i].until && g->quar[i].len == n
            && memcmp (g->quar[i].key, rid, n) == 0) {
            if (g->quar[i].until > now)
                return true;
            g->quar[i].until = 0;
            g->nquar--;
            return false;
        }
    return false;
}

/*  Writes a printable form of the routing id (bytes outside ASCII's
    printable range as \xNN) into out. */
static void
s_rid_text (const char *rid, size_t len, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < len && o + 5 < cap; i++) {
        unsigned char ch = (unsigned char) rid[i];
        if (ch >= 0x20 && ch < 0x7f)
            out[o++] = (char) ch;
        else
            o += (size_t) snprintf (out + o, cap - o, "\\x%02x", ch);
    }
    out[o] = '\0';
}

/*  Cuts the connection off for peer_quarantine_ms: its frames are read
    and dropped unparsed (ZeroMQ cannot close one connection of a ROUTER;
    a peer we connected to is not greeted meanwhile), and if its node is
    up it goes down as if silent (watches end with noconnect). */
static void
s_quarantine (tp__ctx *c, gw_peer *p, const char *rid, size_t rid_len,
              uint32_t bad)
{
    tp_system *sys = c->sys;
    tp__gw *g = sys->gw;
    uint64_t until = tp__now_ns ()
                     + (uint64_t) sys->peer_quarantine_ms * 1000000u;
    char who[4 * TP__WIRE_RID_MAX + 8];
    if (p && p->name_len)
        snprintf (who, sizeof who, "node %s", p->name);
    else if (rid)
        s_rid_text (rid, rid_len, who, sizeof who);
    else
        snprintf (who, sizeof who, "the node at %s", p ? p->endpoint : "?");
    if (p && p->dealer)
        p->quarantine_until = until;
    if (rid) {
        size_t n = s_rid_key (rid, rid_len);
        int slot = -1;
        for (int i = 0; i < GW_QUARANTINE && slot < 0; i++)
            if (g->quar[i].until && g->quar[i].len == n
                && memcmp (g->quar[i].key, rid, n) == 0)
                slot = i;
        for (int i = 0; i < GW_QUARANTINE && slot < 0; i++)
            if (!g->quar[i].until)
                slot = i;
        if (slot < 0) { /* full: the one that ends first makes room */
            slot = 0;
            for (int i = 1; i < GW_QUARANTINE; i++)
                if (g->quar[i].until < g->quar[slot].until)
                    slot = i;
        }
        if (!g->quar[slot].until)
            g->nquar++;
        memcpy (g->quar[slot].key, rid, n);
        g->quar[slot].len = n;
        g->quar[slot].until = until;
    }
    atomic_fetch_add (&g->quarantines, 1);
    tp_log (sys, TP_LOG_WARN,
            "quarantined %s for %d ms: %u bad frames within a second "
            "(tp_system_opts.peer_bad_per_s is %d)",
            who, sys->peer_quarantine_ms, bad, sys->peer_bad_per_s);
    if (p && p->up)
        s_peer_down (c, p, true, false);
    s_changed (sys);
}

/*  n bad frames came on the connection: past peer_bad_per_s within a
    second, it is quarantined. A connection with no peer entry counts in
    a small table of its own (the oldest makes room). */
static void
s_charge_bad (tp__ctx *c, gw_peer *p, const char *rid, size_t rid_len,
              uint32_t n)
{
    tp__gw *g = c->sys->gw;
    int limit = c->sys->peer_bad_per_s;
    if (limit < 0)
        return;
    if (!p && rid)
        p = s_peer_by_rid_or_life (g, rid, rid_len);
    uint64_t now = tp__now_ns ();
    uint64_t *win;
    uint32_t *cnt;
    if (p) {
        win = &p->bad_win;
        cnt = &p->bad_n;
    }
    else if (rid) {
        size_t k = s_rid_key (rid, rid_len);
        int slot = 0;
        for (int i = 0; i < GW_SUSPECTS; i++) {
            if (g->sus[i].len == k && memcmp (g->sus[i].key, rid, k) == 0) {
                slot = i;
                break;
            }
            if (g->sus[i].win < g->sus[slot].win)
                slot = i;
        }
        if (g->sus[slot].len != k || memcmp (g->sus[slot].key, rid, k)) {
            memcpy (g->sus[slot].key, rid, k);
            g->sus[slot].len = k;
            g->sus[slot].win = now;
            g->sus[slot].n = 0;
        }
        win = &g->sus[slot].win;
        cnt = &g->sus[slot].n;
    }
    else
        return;
    if (now - *win > 1000000000u) {
        *win = now;
        *cnt = 0;
    }
    *cnt += n;
    if (*cnt > (uint32_t) limit) {
        uint32_t bad = *cnt;
        *cnt = 0;
        s_quarantine (c, p, rid, rid_len, bad);
    }
}

/*  A frame as read from a socket (p: a peer we connected to; else the
    ROUTER's routing id rid); `why`: not a frame at all (its parts were
    wrong). Quarantined connections are dropped here, unparsed, and the
    bad frames of the others are charged to them. */
static void
s_on_wire (tp__ctx *c, gw_peer *p, const char *rid, size_t rid_len,
           const void *data, size_t len, const char *why)
{
    tp__gw *g = c->sys->gw;
    if (TP__UNLIKELY (p ? p->quarantine_until != 0 : g->nquar > 0)
        && s_quarantined (g, p, rid, rid_len)) {
        atomic_fetch_add_explicit (&g->frames_quarantined, 1,
                                   memory_order_relaxed);
        g->taken++;
        return;
    }
    uint32_t bad = g->bad_now;
    if (TP__UNLIKELY (why != NULL))
        s_bad (g, TP_BAD_MALFORMED, why);
    else
        s_on_frame (c, p, rid, rid_len, data, len, false);
    if (TP__UNLIKELY (g->bad_now != bad))
        s_charge_bad (c, p, rid, rid_len, g->bad_now - bad);
}

/* ------------------------------------------------------------------ */
/*  Liveness                                                           */

static void
s_beat (tp__ctx *c, uint64_t now)
{
    tp_system *sys = c->sys;
    tp__gw *g = sys->gw;
    uint64_t hb = (uint64_t) sys->heartbeat_ms * 1000000u;
    if (g->last_beat && now - g->last_beat > 2 * hb) {
        /* This node's own clock jumped (it was stopped or starved): the
           silence is ours, not the peers'. Give them a fresh window. */
        for (int i = 0; i < g->npeers; i++)
            if (g->peers[i]->last_rx < now - hb)
                g->peers[i]->last_rx = now - hb;
    }
    g->last_beat = now;
    for (int i = 0; i < GW_QUARANTINE && g->nquar; i++)
        if (g->quar[i].until && g->quar[i].until <= now) {
            g->quar[i].until = 0;
            g->nquar--;
        }
    for (int i = 0; i < g->npeers; i++) {
        gw_peer *p = g->peers[i];
        if (now - p->asks_flip > GW_ASK_TTL_NS / 2) {
            /* asks older than a period and a half no longer count */
            tp__idmap_free (&p->asks[1]);
            p->asks[1] = p->asks[0];
            memset (&p->asks[0], 0, sizeof p->asks[0]);
            p->asks_flip = now;
        }
        if (p->quarantine_until) {
            if (p->quarantine_until > now)
                continue; /* (a peer we connected to: not greeted) */
            p->quarantine_until = 0;
        }
        bool unread = p->dealer ? p->hot : g->router_hot;
        bool not_read = p->stalled || (!p->dealer && g->router_stalled);
        uint64_t quiet = now - p->last_rx;
        /* judge on receipts: never while we do not read it (flow
           control), not while its frames wait unread (up to a bound, for
           a ROUTER that others keep busy) */
        if (p->up && quiet > GW_DOWN_AFTER * hb && !not_read
            && (!unread || quiet > 2 * GW_DOWN_AFTER * hb))
            s_peer_down (c, p, true, false);
        if (!p->up && !p->dealer
            && (p->goodbye
                || (now > p->down_at
                    && now - p->down_at > GW_FORGET_AFTER * hb))) {
            s_forget (g, p);
            i--;
            continue;
        }
        if (p->dealer && (!p->up || p->refused)) {
            if (!atomic_load_explicit (&sys->stopping, memory_order_relaxed))
                s_send_hello (g, p, NULL, 0); /* (a stopping node greets
                                                 nobody: it is leaving) */
        }
        else if (p->up)
            s_send_control (g, p, TP__WIRE_HEARTBEAT);
    }
    g->next_beat = now + hb;
}

/* ------------------------------------------------------------------ */
/*  Reading                                                            */

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
        s_on_wire (c, NULL, zmq_msg_data (&rid), zmq_msg_size (&rid),
                   zmq_msg_data (&body), zmq_msg_size (&body),
                   ok ? NULL : "frame without exactly two parts");
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
            bool more = true;
            while (more)
                more = zmq_msg_recv (&f, p->dealer, ZMQ_DONTWAIT) >= 0
                       && zmq_msg_more (&f);
            s_on_wire (c, p, NULL, 0, NULL, 0, "multi-part frame");
        }
        else
            s_on_wire (c, p, NULL, 0, zmq_msg_data (&f), zmq_msg_size (&f),
                       NULL);
        zmq_msg_close (&f);
        /* Actors have work: run it first and leave the socket hot. The
           read that finds it empty (a system call inside libzmq) then
           comes after their turns, where it also serves as the check a
           send needs (s_send_raw): one such read instead of two per
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
    if (g->pf_cap < 2 + g->npeers) {
        g->pf_cap = 2 * (2 + g->npeers);
        g->pf = tp__realloc (g->pf, (size_t) g->pf_cap * sizeof *g->pf);
        g->pf_who = tp__realloc (g->pf_who, (size_t) g->pf_cap
                                                * sizeof *g->pf_who);
    }
    struct pollfd *pf = g->pf;
    gw_peer **who = g->pf_who;
    int n = 0;
    if (extra >= 0)
        pf[n++] = (struct pollfd){extra, POLLIN, 0};
    int first = n;
    if (g->router_fd >= 0)
        pf[n++] = (struct pollfd){g->router_fd, POLLIN, 0};
    int first_peer = n;
    for (int i = 0; i < g->npeers; i++)
        if (g->peers[i]->dealer && g->peers[i]->fd >= 0) {
            who[n] = g->peers[i];
            pf[n++] = (struct pollfd){g->peers[i]->fd, POLLIN, 0};
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
        if (g->peers[i]->hot && g->peers[i]->dealer)
            return true;
    return false;
}

/*  Milliseconds until the next heartbeat is due (0 if it is). */
static long
s_gw_wait_ms (tp_system *sys, uint64_t now)
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
static void
s_gw_serve (tp__ctx *c)
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
    for (int i = 0; i < g->npeers; i++) { /* flow control first */
        if (g->peers[i]->held_n)
            s_held_flush (g, g->peers[i]);
        if (g->peers[i]->stalled)
            s_stall_check (c, g->peers[i]);
    }
    if (g->router_hot && !g->router_stalled)
        s_read_router (c, max);
    for (int i = 0; i < g->npeers; i++)
        if (g->peers[i]->dealer && g->peers[i]->hot && !g->peers[i]->stalled)
            s_read_dealer (c, g->peers[i], max);
    now = tp__now_ns ();
    if (now >= g->next_beat)
        s_beat (c, now);
}

/*  Sleeps up to ms (-1: until the next heartbeat) until c's PULL socket
    or one of the node's sockets has input. Returns false at once if a
    node socket is hot (serve it first). Returns true when the PULL
    socket may have frames (drain it with force). */
static bool
s_gw_sleep (tp__ctx *c, long ms)
{
    tp__gw *g = c->sys->gw;
    if (s_any_hot (g))
        return false;
    long beat = s_gw_wait_ms (c->sys, tp__now_ns ());
    if (ms < 0 || ms > beat)
        ms = beat;
    for (int i = 0; i < g->npeers && ms > 1; i++)
        if (g->peers[i]->stalled || g->peers[i]->held_n)
            ms = 1; /* (no event tells that an actor caught up) */
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
        s_gw_serve (c);
        tp__flush (c);
        woke = false;
        if (!c->shutdown && atomic_load (&c->inbound) <= c->consumed)
            woke = s_gw_sleep (c, -1);
    }
    tp__tl_ctx = NULL;
    atomic_store (&c->finished, 1);
    return NULL;
}


static void s_gw_control (tp__ctx *c, int cmd, tp_msg *m);

/*  What the ctx that carries the gateway calls (core/runtime.h). */
static const tp__transport s_transport = {
    .forward = s_gw_forward,
    .control = s_gw_control,
    .serve = s_gw_serve,
    .sleep = s_gw_sleep,
    .flush = s_gw_flush,
};

/* ------------------------------------------------------------------ */
/*  Shutdown                                                           */

/*  Tells the peer's actors that watch ours (monitors, links) that ours
    end with reason shutdown: this node is stopping cleanly. */
static void
s_watches_shutdown (tp__gw *g, gw_peer *p)
{
    tp__env e;
    tp_msg *m = tp__msg_alloc ();
    for (gw_watch *w = p->watches; w; w = w->next) {
        if (w->kind == GW_MON_OUT)
            continue; /* ours watching theirs: the peer needs no word */
        tp__msg_free (m);
        m = tp__msg_alloc ();
        bool link = w->kind == GW_LINK;
        s_env_init (&e, g, link ? TP__WIRE_EXIT : TP__WIRE_DOWN, p);
        if (link)
            tp_msg_pack (m, "t", tp__tag_shutdown);
        else
            tp_msg_pack (m, "rt", w->local, tp__tag_shutdown);
        e.to_index = w->remote.index;
        e.to_gen = w->remote.gen;
        e.from_index = w->local.index;
        e.from_gen = w->local.gen;
        e.tag = tp__tag_sys;
        e.corr = link ? 0 : (uint64_t) w->id;
        e.body = m->body;
        e.body_len = m->size;
        s_send_env (g, p, &e);
    }
    tp__msg_free (m);
}

/*  Final phase of tp_system_destroy, after every other runtime thread
    has stopped: forward what is left, tell the peers' watchers that our
    actors end with "shutdown", tell peers we are going (DRAIN), wait
    (bounded) for their DRAIN_ACK, which proves they received every
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
    tp__ctl (tp__ctx_control (sys), c, TP__CTL_SHUTDOWN, 0);
    pthread_join (c->thread, NULL);
    c->joined = true;
    tp__tl_ctx = c; /* this thread now plays the gateway */
    tp__ctx_drain (c, true, INT32_MAX);
    tp__flush (c);
    /* Our actors are gone: what peers hold in for them is dead letters,
       and no peer stays unread for a backlog that will never drain (its
       DRAIN_ACK would wait in the socket we do not read, for 30 s). */
    for (int i = 0; i < g->npeers; i++)
        s_held_in_drop (c, g->peers[i]);
    int waiting = 0;
    for (int i = 0; i < g->npeers; i++)
        if (g->peers[i]->up) {
            s_watches_shutdown (g, g->peers[i]);
            s_send_control (g, g->peers[i], TP__WIRE_DRAIN);
            g->peers[i]->drain_sent = true;
            waiting++;
        }
    /* Wait for every answering peer to acknowledge. A peer that stops
       answering is declared down by the usual heartbeat rule, which ends
       the wait for it; TP__DRAIN_MAX_NS bounds the whole. */
    uint64_t start = tp__now_ns (), end = start + TP__DRAIN_MAX_NS;
    uint64_t next_say = start + 5000000000ull;
    while (waiting > 0 && tp__now_ns () < end) {
        uint64_t now = tp__now_ns ();
        if (now >= next_say) { /* (which peers a long stop waits for) */
            next_say = now + 5000000000ull;
            for (int i = 0; i < g->npeers; i++) {
                gw_peer *p = g->peers[i];
                if (p->up && !p->drained)
                    tp_log (sys, TP_LOG_WARN,
                            "stopping: still waiting for node %s to "
                            "acknowledge (heard from %" PRIu64 " ms ago%s%s)",
                            p->name, (now - p->last_rx) / 1000000u,
                            p->stalled ? ", not read: stalled" : "",
                            g->router_stalled ? ", ROUTER not read" : "");
            }
        }
        if (!s_any_hot (g)) {
            long wait_ms = s_gw_wait_ms (sys, tp__now_ns ());
            s_poll_fds (g, -1, wait_ms < 50 ? wait_ms : 50);
        }
        s_gw_serve (c);
        tp__flush (c);
        waiting = 0;
        for (int i = 0; i < g->npeers; i++) {
            gw_peer *p = g->peers[i];
            if (p->up && !p->drain_sent) { /* (up meanwhile: told too) */
                s_watches_shutdown (g, p);
                s_send_control (g, p, TP__WIRE_DRAIN);
                p->drain_sent = true;
            }
            if (p->up && !p->drained && p->rid_len && !p->dealer
                && !s_still_there (g, p)) {
                s_peer_down (c, p, true, true); /* (its connection is gone:
                                                   nobody will answer) */
                continue;
            }
            if (p->up && !p->drained)
                waiting++;
        }
    }
    tp__tl_ctx = NULL;
    int zero = 0;
    for (int i = 0; i < g->npeers; i++)
        if (g->peers[i]->dealer) {
            zmq_setsockopt (g->peers[i]->dealer, ZMQ_LINGER, &zero,
                            sizeof zero);
            zmq_close (g->peers[i]->dealer);
            g->peers[i]->dealer = NULL;
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
    for (int i = 0; i < g->npeers; i++) {
        gw_peer *p = g->peers[i];
        s_watches_free (p);
        tp__idmap_free (&p->asks[0]);
        tp__idmap_free (&p->asks[1]);
        if (p->node)
            tp__node_pin (p->node, -1);
        while (p->held_n) {
            zmq_msg_close (&p->held[p->held_head]);
            p->held_head = (p->held_head + 1) % p->held_cap;
            p->held_n--;
        }
        free (p->held);
        while (p->in_head) {
            gw_held_in *h = p->in_head;
            p->in_head = h->next;
            tp__msg_free (h->m);
            free (h);
        }
        free (p->out);
        free (p);
    }
    free (g->peers);
    free (g->pf);
    free (g->pf_who);
    free (g);
    sys->gw = NULL;
}

/* ------------------------------------------------------------------ */
/*  Start, bind and connect                                            */

/*  Sets the options every node socket has. Returns 0 or TP_EZMQ. */
static int
s_sock_opts (void *s, const char *rid, size_t rid_len)
{
    int zero = 0, hwm = TP__GW_HWM;
    int64_t maxmsg = TP__WIRE_MAX_FRAME;
    /* Bounded queues (flow control): a frame ZeroMQ refuses at its
       high-water mark is held by the gateway (s_held_push), never
       dropped by ZeroMQ; a node that holds too much for a peer makes
       local senders wait (tp__route). */
    if (zmq_setsockopt (s, ZMQ_SNDHWM, &hwm, sizeof hwm)
        || zmq_setsockopt (s, ZMQ_RCVHWM, &hwm, sizeof hwm)
        || zmq_setsockopt (s, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg)
        || zmq_setsockopt (s, ZMQ_LINGER, &zero, sizeof zero)
        || zmq_setsockopt (s, ZMQ_ROUTING_ID, rid, rid_len))
        return TP_EZMQ;
    return 0;
}

/*  Starts the gateway (once). Caller holds no lock. Returns 0, TP_EZMQ,
    TP_ESYS (no thread) or TP_ESTOPPED. */
int
tp__gw_start (tp_system *sys)
{
    static pthread_mutex_t once = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock (&once);
    int rc = 0;
    if (atomic_load (&sys->gw_ctx))
        goto done;
    if (atomic_load (&sys->stopping)) {
        rc = TP_ESTOPPED;
        goto done;
    }
    tp__gw *g = tp__calloc (1, sizeof *g);
    g->sys = sys;
    snprintf (g->name, sizeof g->name, "%s", tp_node_name (sys->node));
    g->name_len = strlen (g->name);
    g->rid_len = tp__wire_rid (g->name, g->name_len, sys->incarnation, g->rid);
    g->router = zmq_socket (sys->zctx, ZMQ_ROUTER);
    int one = 1;
    /* Routing ids carry the incarnation (name/xxxxxxxx), so every life of
       a peer has a connection of its own: a restart is a new routing id,
       never a handover, and a second live process with a name that is up
       can be told apart and refused (s_on_hello). ROUTER_MANDATORY: an
       unknown routing id is an error we see (and the probe that tells
       whether a peer's connection is still there). */
    if (!g->router || s_sock_opts (g->router, g->rid, g->rid_len)
        || zmq_setsockopt (g->router, ZMQ_ROUTER_MANDATORY, &one, sizeof one)
        || (rc = tp__curve_start (sys, g->router)) != 0) {
        if (g->router)
            zmq_close (g->router);
        free (g);
        rc = rc ? rc : TP_EZMQ;
        goto done;
    }
    g->router_fd = s_fd_of (g->router);
    g->router_hot = true;
    tp__ctx *c = sys->ctxs[0];
    pthread_mutex_lock (&sys->lock);
    sys->gw = g; /* (before the gateway's thread starts: it reads it) */
    pthread_mutex_unlock (&sys->lock);
    if (sys->gw_thread) {
        int crc;
        c = tp__ctx_new (sys, TP__CTX_GATEWAY, &crc);
        if (c)
            atomic_store_explicit (&c->tr, &s_transport, memory_order_release);
        if (!c || pthread_create (&c->thread, NULL, s_gw_loop, c)) {
            pthread_mutex_lock (&sys->lock);
            sys->gw = NULL;
            pthread_mutex_unlock (&sys->lock);
            if (c) {
                tp__ctx_close (c);
                pthread_mutex_lock (&sys->lock);
                c->kind = TP__CTX_THREAD; /* recycled like a thread ctx */
                c->joined = true;
                atomic_store (&c->finished, 1);
                pthread_mutex_unlock (&sys->lock);
            }
            zmq_close (g->router);
            free (g);
            rc = c ? TP_ESYS : TP_EZMQ;
            goto done;
        }
        c->has_thread = true;
    }
    /* Hosted by worker 0 (decision 19) its loop polls these sockets. The
       release stores hand the sockets over to that thread; the command
       that follows (bind or connect) wakes it. */
    atomic_store_explicit (&c->tr, &s_transport, memory_order_release);
    atomic_store_explicit (&sys->gw_ctx, c, memory_order_release);
done:
    pthread_mutex_unlock (&once);
    return rc;
}

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

/*  The error of a failed zmq_bind / zmq_connect. */
static int
s_endpoint_error (int err)
{
    switch (err) {
    case EADDRINUSE:
        return TP_EADDRINUSE;
    case EINVAL:
    case EPROTONOSUPPORT:
    case ENOCOMPATPROTO:
    case EADDRNOTAVAIL:
    case ENODEV:
    case ENOENT:
    case EACCES:
        return TP_EENDPOINT;
    default:
        return TP_EZMQ;
    }
}

static int
s_connect (tp__ctx *c, const char *ep, const char *key)
{
    tp_system *sys = c->sys;
    tp__gw *g = sys->gw;
    for (int i = 0; i < g->npeers; i++) {
        gw_peer *p = g->peers[i];
        if (strcmp (p->endpoint, ep) == 0) {
            if (p->refused) { /* asked again: find out again */
                s_set_refused (sys, p, 0, 0);
                s_send_hello (g, p, NULL, 0);
            }
            return 0; /* connected already: the caller waits for it */
        }
    }
    void *d = zmq_socket (sys->zctx, ZMQ_DEALER);
    int ivl = 100, rc = d ? s_sock_opts (d, g->rid, g->rid_len) : TP_EZMQ;
    if (rc == 0 && zmq_setsockopt (d, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl))
        rc = TP_EZMQ;
    if (rc == 0)
        rc = tp__curve_client (sys, d, key);
    if (rc == 0 && zmq_connect (d, ep) != 0)
        rc = s_endpoint_error (errno);
    gw_peer *p = rc == 0 ? s_peer_new (g) : NULL;
    if (rc == 0 && !p)
        rc = TP_ELIMIT;
    if (rc) {
        if (d)
            zmq_close (d);
        return rc;
    }
    pthread_mutex_lock (&sys->lock);
    snprintf (p->endpoint, sizeof p->endpoint, "%s", ep);
    p->dealer = d;
    p->fd = s_fd_of (d);
    p->hot = true;
    pthread_mutex_unlock (&sys->lock);
    s_send_hello (g, p, NULL, 0);
    return 0;
}

/*  Stops connecting to ep (tp_node_disconnect): our DEALER closes; the
    peer goes down here unless it connected to us as well (then it stays,
    on that connection). Returns 0 or TP_ENOTFOUND. */
static int
s_disconnect (tp__ctx *c, const char *ep)
{
    tp_system *sys = c->sys;
    tp__gw *g = sys->gw;
    gw_peer *p = NULL;
    for (int i = 0; i < g->npeers && !p; i++)
        if (g->peers[i]->dealer && strcmp (g->peers[i]->endpoint, ep) == 0)
            p = g->peers[i];
    if (!p)
        return TP_ENOTFOUND;
    s_batch_flush (g, p);
    bool other = p->rid_len > 0 && p->up;
    if (!other && p->up)
        s_peer_down (c, p, false, false);
    s_held_drop (g, p);
    int zero = 0;
    zmq_setsockopt (p->dealer, ZMQ_LINGER, &zero, sizeof zero);
    zmq_close (p->dealer);
    pthread_mutex_lock (&sys->lock);
    p->dealer = NULL;
    p->fd = -1;
    p->hot = false;
    p->endpoint[0] = '\0';
    p->refused = false;
    pthread_mutex_unlock (&sys->lock);
    if (!other && !p->up && !p->watches && !p->in_head && !p->stalled)
        s_forget (g, p);
    else if (!other)
        p->down_at = tp__now_ns (); /* (forgotten by the beat) */
    s_changed (sys);
    return 0;
}

static void
s_gw_control (tp__ctx *c, int cmd, tp_msg *m)
{
    tp__gw *g = c->sys->gw;
    char ep[256], key[41] = "";
    const char *s, *k = NULL;
    size_t n, kn = 0;
    if (tp_msg_unpack (m, "s?s", &s, &n, &k, &kn) != 0 || n == 0
        || n >= sizeof ep || kn >= sizeof key) {
        s_reply (c, m, TP_EINVAL, NULL);
        tp__msg_free (m);
        return;
    }
    memcpy (ep, s, n);
    ep[n] = '\0';
    if (k) {
        memcpy (key, k, kn);
        key[kn] = '\0';
    }
    if (cmd == TP__CTL_GW_GONE) {
        /* a child process we watched ended: its peer is down now, not
           after three silent heartbeats (no reply: nobody waits) */
        gw_peer *p = s_peer_by_name (g, ep, n, NULL);
        if (p && p->up)
            s_peer_down (c, p, true, true);
        tp__msg_free (m);
        return;
    }
    if (cmd == TP__CTL_GW_DISCONNECT) {
        s_reply (c, m, s_disconnect (c, ep), NULL);
        tp__msg_free (m);
        return;
    }
    if (cmd == TP__CTL_GW_BIND) {
        char bound[256];
        size_t blen = sizeof bound;
        int rc = 0;
        if (g->nendpoints >= 8)
            rc = TP_ELIMIT;
        else if (zmq_bind (g->router, ep) != 0)
            rc = s_endpoint_error (errno);
        else {
            g->nendpoints++;
            if (zmq_getsockopt (g->router, ZMQ_LAST_ENDPOINT, bound, &blen))
                snprintf (bound, sizeof bound, "%s", ep);
        }
        s_reply (c, m, rc, rc ? NULL : bound);
    }
    else
        s_reply (c, m, s_connect (c, ep, k ? key : NULL), NULL);
    tp__msg_free (m);
}

/* ------------------------------------------------------------------ */
/*  What other threads may ask (under sys->lock)                       */

uint32_t
tp__gw_peer_at (tp_system *sys, const char *endpoint, int *refused)
{
    tp__gw *g = sys->gw;
    *refused = 0;
    for (int i = 0; g && i < g->npeers; i++) {
        gw_peer *p = g->peers[i];
        if (strcmp (p->endpoint, endpoint) == 0) {
            if (p->refused && p->refusals >= 2)
                *refused = p->refused_rc;
            return p->up && !p->refused ? p->node : 0;
        }
    }
    return 0;
}

bool
tp__gw_node_up (tp_system *sys, uint32_t node, uint32_t *exact)
{
    tp__gw *g = sys->gw;
    if (!g)
        return false;
    gw_peer *p = s_peer_by_node (g, node);
    if (!p || !p->up || p->refused)
        return false;
    if (exact)
        *exact = p->node;
    return true;
}

int
tp__gw_peers (tp_system *sys, tp_peer_info *out, int cap)
{
    tp__gw *g = sys->gw;
    int n = 0;
    for (int i = 0; g && i < g->npeers; i++) {
        gw_peer *p = g->peers[i];
        if (!p->name_len)
            continue; /* (not greeted yet: no name to show) */
        if (n < cap) {
            tp_peer_info *o = &out[n];
            memset (o, 0, sizeof *o);
            snprintf (o->name, sizeof o->name, "%s", p->name);
            o->node = p->node;
            o->incarnation = p->incarnation;
            o->up = p->up && !p->refused;
            o->up_since_ms = p->up_since;
            o->bytes_in = atomic_load_explicit (&p->bytes_in,
                                                memory_order_relaxed);
            o->bytes_out = atomic_load_explicit (&p->bytes_out,
                                                 memory_order_relaxed);
            o->frames_in = atomic_load_explicit (&p->frames_in,
                                                 memory_order_relaxed);
            o->frames_out = atomic_load_explicit (&p->frames_out,
                                                  memory_order_relaxed);
            snprintf (o->endpoint, sizeof o->endpoint, "%s", p->endpoint);
        }
        n++;
    }
    return n;
}

int
tp__gw_up_nodes (tp_system *sys, uint32_t *out, int cap)
{
    tp__gw *g = sys->gw;
    int n = 0;
    for (int i = 0; g && i < g->npeers; i++)
        if (g->peers[i]->up && !g->peers[i]->refused) {
            if (n < cap)
                out[n] = g->peers[i]->node;
            n++;
        }
    return n;
}

void
tp__gw_stats (tp_system *sys, tp_node_stats *st)
{
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
    st->peers_refused = atomic_load (&g->peers_refused);
    st->peers_forgotten = atomic_load (&g->peers_forgotten);
    st->frames_held = atomic_load (&g->held_frames);
    st->stalls = atomic_load (&g->stalls);
    st->curve_refused = atomic_load (&sys->curve_refused);
    st->quarantines = atomic_load (&g->quarantines);
    for (int i = 0; i < TP_BAD_CAUSES; i++)
        st->bad_by_cause[i] = atomic_load (&g->bad_by[i]);
    st->frames_quarantined = atomic_load (&g->frames_quarantined);
    st->watches_refused = atomic_load (&g->watches_refused);
    st->asks_refused = atomic_load (&g->asks_refused);
    tp__node_charges (&st->names_recycled, &st->names_refused);
    pthread_mutex_lock (&sys->lock);
    st->peers_held = (uint64_t) g->npeers;
    pthread_mutex_unlock (&sys->lock);
}
