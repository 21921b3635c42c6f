/*  core/runtime.h: internal types of the runtime (system, execution
    contexts, actors, slots, timers). Private; never installed.

    Vocabulary:
      ctx     an execution context: one thread and one ZeroMQ PULL socket.
              A worker ctx runs many loop actors; a thread ctx runs one
              thread actor; an external ctx belongs to a foreign thread
              (main) and is used to send and to wait for tp_call replies.
      slot    the system-wide entry an actor ref points at. Slots live in
              pages that are never freed before the system, so any thread
              may read a slot at any time; the generation tells whether the
              ref is still the actor living there (odd = alive).
      record  one message as it crosses between ctxs inside a batch frame.
*/
#ifndef TP_RUNTIME_H_INCLUDED
#define TP_RUNTIME_H_INCLUDED

#include "private.h"

#define TP__SLOT_PAGE_BITS 12
#define TP__SLOT_PAGE (1u << TP__SLOT_PAGE_BITS)
#define TP__SLOT_PAGES 4096 /* 16M actors per system */
#define TP__MAX_CTX 8192    /* workers + live thread actors + foreign threads */
#define TP__CTL_INDEX UINT32_MAX /* record addressed to the ctx itself */
#define TP__ZC_MIN 1024     /* bodies this big cross threads zero-copy */
#define TP__FLUSH_BYTES (64u * 1024u)
#define TP__BACKLOG_MAX 64  /* unread frames in a ctx before senders pace */
#define TP__CHECK_NS 1000000u /* longest work between two loop checks */

typedef struct tp__ctx tp__ctx;
typedef struct tp__timer tp__timer;
typedef struct tp__gw tp__gw;

/*  A transport a ctx carries besides its inproc PULL socket: the node
    gateway (core/gateway.c), which installs it on the ctx it rides
    (worker 0, or a thread of its own). The ctx's loop calls these and
    knows nothing else of what is behind them. */
typedef struct tp__transport {
    /* a message for a ref of another node (consumes m) */
    void (*forward) (tp__ctx *c, tp_ref to, tp_msg *m);
    /* a control record for the transport (TP__CTL_GW_*; consumes m) */
    void (*control) (tp__ctx *c, int cmd, tp_msg *m);
    /* once per loop turn: read what arrived, keep time; never blocks */
    void (*serve) (tp__ctx *c);
    /* idle: sleeps up to ms (-1: as long as the transport allows) on the
       PULL socket and the transport's own fds; true if the PULL socket
       may have input */
    bool (*sleep) (tp__ctx *c, long ms);
    /* sends what the transport batched (it set c->tr_dirty) */
    void (*flush) (tp__ctx *c);
} tp__transport;

/*  System message kinds (tp_msg.aux when flags has TP__MSG_SYS). */
enum {
    TP__SYS_MONITOR = 1, /* corr = monitor id; from = watcher */
    TP__SYS_DEMONITOR,   /* corr = monitor id; from = watcher */
    TP__SYS_DOWN,        /* corr = monitor id; body [r actor, t reason] */
    TP__SYS_LINK,        /* from = linker */
    TP__SYS_UNLINK,      /* from = unlinker */
    TP__SYS_EXIT,        /* from = dying actor; body [t reason] */
    TP__SYS_STOP,        /* body [t reason] */
    TP__SYS_ASK_TIMEOUT, /* corr = ask id (to self, from the timer) */
    TP__SYS_TICK,        /* periodic timer tick; corr = timer id */
    TP__SYS_LOOKUP,      /* to {node, 0, 0}: body [name]; corr = request */
};

/*  Control commands (records with dst index TP__CTL_INDEX). */
enum {
    TP__CTL_SPAWN = 1, /* corr = (uintptr_t) actor to adopt */
    TP__CTL_SHUTDOWN,  /* stop every actor, close, leave the loop */
    TP__CTL_WAKE,      /* nothing: just wakes the ctx */
    TP__CTL_GW_BIND,   /* to the gateway: body [s endpoint]; answered */
    TP__CTL_GW_CONNECT, /* to the gateway: body [s endpoint]; answered */
    TP__CTL_NODEDOWN,  /* from the gateway: corr = node id; body [U ns when]:
                          asks to that node end with TP_EDOWN */
    TP__CTL_GW_GONE,   /* to the gateway: body [s node name]: that node's
                          process has ended (core/process.c): down now */
    TP__CTL_GW_DISCONNECT /* to the gateway: body [s endpoint]; answered */
};

typedef struct tp__slot {
    _Atomic uint32_t gen;          /* odd while an actor lives here */
    _Atomic int32_t home;          /* ctx id of the living actor */
    _Atomic (tp_actor *) actor;    /* only dereferenced by the home ctx */
    _Atomic uint32_t cap;          /* mailbox bound (0 = none) */
    _Atomic int32_t pending;       /* bounded: sent and not yet run */
    _Atomic uint64_t processed;    /* written by home ctx only */
    _Atomic uint32_t queued;       /* mailbox depth, home ctx writes */
    _Atomic uint32_t names;        /* registry names of the living actor */
    _Atomic (const char *) bname;  /* its behaviour's name (static) */
    uint32_t next_free;            /* free-list link (under slot lock) */
} tp__slot;

/*  A link or monitor entry kept by an actor. */
typedef struct tp__peer {
    struct tp__peer *next;
    tp_ref ref;   /* the other actor */
    int64_t id;   /* monitor id (0 for links) */
} tp__peer;

/*  A map from nonzero 64-bit ids to pointers (core/idmap.c). */
typedef struct tp__idmap {
    uint64_t *ids;  /* 0 = empty */
    void **vals;
    size_t cap, n;  /* cap a power of two (or 0), n <= cap / 2 */
    unsigned shift; /* 64 - log2 (cap) */
} tp__idmap;

/*  A pending ask: in its ctx's map by request id, and in its actor's
    list (so that the actor's end cancels them all). */
typedef struct tp__ask {
    struct tp__ask *next, *prev;
    tp_actor *owner;
    tp_ref to;     /* asked (its node going down ends the ask) */
    uint64_t corr;
    tp_cont_fn cont;
    void *arg;
    int64_t timer; /* timeout timer id, 0 = none */
} tp__ask;

enum {
    TP__A_QUEUED = 1 << 0,   /* on the run queue */
    TP__A_ADOPTED = 1 << 1,  /* known to its ctx */
    TP__A_STARTED = 1 << 2,  /* init has run */
    TP__A_EXITING = 1 << 3,  /* tp_exit called or stop received */
    TP__A_TRAP = 1 << 4,     /* traps exits */
    TP__A_DEAD = 1 << 5,     /* terminated */
    TP__A_THREAD = 1 << 6,   /* thread actor */
    TP__A_NODEMON = 1 << 7,  /* subscribed to node events */
};

struct tp_actor {
    tp_actor *run_next;          /* run-queue link */
    tp_msg *mb_head;             /* mailbox (FIFO) */
    tp_msg *mb_tail;
    tp__ctx *ctx;                /* home ctx (set at spawn, never changes) */
    const tp_behavior *b;        /* behaviour, borrowed */
    void *state;                 /* private state */
    void *arg;                   /* spawn argument */
    tp__peer *links;             /* linked actors */
    tp__peer *watchers;          /* who monitors me */
    tp__peer *monitors;          /* whom I monitor */
    tp__ask *asks;               /* my pending asks */
    tp__timer *timers;           /* my timers */
    tp_tag_t reason;             /* exit reason once EXITING */
    tp_ref ref;                  /* my ref */
    uint32_t flags;              /* TP__A_* */
    uint32_t queued;             /* mailbox depth */
    tp_ref link_to;              /* spawn option: link to spawner */
    struct tp__init_wait *init_wait; /* tp_spawn_sync's waiter, until init
                                    has run (or the actor ended first) */
    tp_ref spawner;              /* who spawned me (nil: outside actors) */
    const char *spawner_name;    /* its behaviour's name, borrowed */
    tp__slot *slot;              /* my slot */
    uint32_t tick_stride;        /* messages between clock reads in a
                                    turn of several (tp__ctx_tick adapts
                                    it) */
    const tp_msg *cur_req;       /* the request receive runs, or NULL */
    bool cur_done;               /* ... was answered or forwarded */
    uint32_t nowed;              /* entries on the owed list */
    struct tp__owed *owed_head;  /* requests received and not answered */
    struct tp__owed *owed_tail;  /* (oldest first): failed at my end */
};

/*  A request an actor received and has not answered yet (it keeps it to
    answer later, or ignores it): when the actor ends, the asker gets a
    _fail reply with the reason. At most TP__OWED_MAX per actor; past it
    the oldest is forgotten (its asker waits for its timeout). */
typedef struct tp__owed {
    struct tp__owed *next, *prev;
    tp_ref asker;
    uint64_t corr;
} tp__owed;
#define TP__OWED_MAX 4096u

struct tp__timer {
    tp__timer *next_in_actor; /* actor's timer list (doubly linked) */
    tp__timer *prev_in_actor;
    tp_actor *actor;
    uint64_t deadline;        /* ns, monotonic */
    uint64_t seq;             /* tie-break: creation order */
    uint64_t interval;        /* ns; 0 = once */
    int64_t id;
    tp_msg *msg;              /* message to deliver (once) or template */
    size_t heap_idx;
};

typedef struct tp__outbuf {
    uint8_t *data;
    size_t len, cap;
    uint32_t records;
    bool dirty;
    bool woke;  /* since the last flush, a record went at once: a turn's
                   first (worker ctxs), or the wake-up of a sleeping
                   destination (external ctxs); see tp__inproc_put */
} tp__outbuf;

enum { TP__CTX_WORKER = 0, TP__CTX_THREAD, TP__CTX_EXTERNAL, TP__CTX_GATEWAY };

struct tp__ctx {
    tp_system *sys;
    int id;
    int kind;                     /* TP__CTX_* */
    _Atomic uint32_t gen;         /* bumped when the id is reused */
    _Atomic int alive;            /* 1 while the PULL socket is open */
    pthread_t thread;
    pthread_t owner;              /* external: the foreign thread */
    bool has_thread;
    bool joined;                  /* thread joined (under sys->lock) */
    _Atomic int finished;         /* thread ctx: loop left, join me */
    uint64_t processed;           /* messages run here (owner writes) */
    _Atomic uint64_t processed_pub; /* the same, readable by others */
    void *pull;                   /* PULL socket bound to my endpoint */
    int pull_fd;                  /* its ZMQ_FD, -1 until needed */
    bool pull_armed;              /* last read of pull came back empty */
    bool tr_dirty;                /* the transport has batches to send */
    _Atomic (const tp__transport *) tr; /* the transport I carry, or NULL */
    void **push;                  /* PUSH socket per destination ctx id */
    uint32_t *push_gen;           /* gen of the destination when connected */
    tp__outbuf *out;              /* batch per destination ctx id */
    int *dirty;                   /* destination ids with pending batches */
    int ndirty;
    int nout;                     /* size of push/push_gen/out arrays */
    uint64_t consumed;            /* frames I have read */
    /* Written by other threads on every flush to me: a line of its own,
       so that senders do not steal the lines of the fields above. */
    _Alignas (64) _Atomic uint64_t inbound; /* frames sent to me */
    /* Written by me, read by senders: a line of its own too. */
    _Alignas (64) _Atomic uint64_t consumed_pub; /* consumed, published */
    /* Written by me when I start or stop waiting, read by senders as a
       batch starts: a line of its own, away from consumed_pub. */
    _Alignas (64) _Atomic int idle_pub; /* 1 spinning, 2 sleeping, else 0 */
    _Alignas (64) int backlogged; /* dst with too many unread frames, -1 */
    tp_actor *rq_head, *rq_tail;  /* run queue */
    int rq_n;                     /* its length */
    /* For placement (core/spawn.c), read by spawners on other threads:
       my run queue's length, published as it changes, and the actors
       placed here that I have not adopted yet. A line of their own. */
    _Alignas (64) _Atomic int rq_pub;
    _Atomic int incoming;
    tp__timer **heap;             /* timer min-heap */
    size_t nheap, capheap;
    /* The work between two looks at timers, gateway and inbox is bounded
       by time, not by turns (tp__ctx_tick): */
    uint64_t tick_at;             /* `processed` at which to read the clock */
    uint64_t tick_last;           /* ns of the last read */
    uint64_t check_at;            /* ns by which the loop must look */
    uint32_t tick_stride;         /* messages between reads, adapted */
    bool tick_idle;               /* idle since the last read */
    bool preempt;                 /* look now: end the turn and the turns */
    uint64_t timer_seq;
    int64_t timer_next_id;
    tp__idmap timer_ids;          /* timer id -> tp__timer */
    tp__idmap asks;               /* request id -> tp__ask (my actors') */
    uint64_t corr_next;
    _Atomic int nactors;          /* actors homed here (placement) */
    bool shutdown;                /* leaving the loop */
    tp_actor *thread_actor;       /* thread ctx: its one actor */
    tp_ref inbox;                 /* external: ref replies come to */
    /* External: its batches are flushed by workers too (core/inproc.c),
       so its outbound state is under out_lock; ext_deferred: it holds
       records that wait for a flush. */
    pthread_mutex_t out_lock;
    _Atomic int ext_deferred;
    tp_msg *in_head, *in_tail;    /* external: received replies */
    /* External, during tp_call: the node of the actor called (0: a local
       one, or no call), read by the gateway when a node goes down, and
       when the call began (older NODEDOWN records are stale) */
    _Atomic uint32_t call_node;
    uint64_t call_start;
    /* Thread ctx, during a tp_call of its actor: the request and whom
       it went to (a NODEDOWN for that node fails it) */
    uint64_t call_corr;
    tp_ref call_to;
};

typedef struct tp__name {
    struct tp__name *next;
    char *name;
    tp_ref ref;
} tp__name;

struct tp_system {
    struct tp_system *next_sys;   /* the process's live systems (system.c) */
    uint64_t id;                  /* process-unique, for endpoint names */
    uint32_t node;                /* node id (name + incarnation), pinned */
    uint32_t incarnation;         /* nonzero, random per system */
    int nworkers;
    int batch;
    int spin_us;                  /* idle spin before sleeping; 0 = none */
    void *zctx;                   /* ZeroMQ context */
    tp__ctx *ctxs[TP__MAX_CTX];   /* by id; structs live until destroy */
    int max_ctx;                  /* ctx ids in use at most (max_threads) */
    tp__ctx *spare;               /* external ctx of no thread (destroy) */
    _Atomic int nctx;             /* high-water mark of ctx ids */
    pthread_mutex_t lock;         /* ctx table, external list, stopping */
    _Atomic int stopping;
    _Atomic int ext_pending;      /* some external ctx has deferred records */
    _Atomic uint32_t rr;          /* round-robin placement cursor */
    /* slots */
    _Atomic (tp__slot *) pages[TP__SLOT_PAGES];
    pthread_mutex_t slot_lock;
    uint32_t slot_free;           /* free-list head (UINT32_MAX = empty) */
    _Atomic uint32_t slot_top;    /* high-water mark of used indices */
    /* counters */
    _Atomic uint64_t live;
    _Atomic uint64_t spawned;
    _Atomic uint64_t dead_letters;
    _Atomic uint64_t dead_by[3];  /* by cause (TP__DEAD_*) */
    _Atomic uint64_t ask_timeouts; /* asks and calls ended by their timeout */
    _Atomic uint64_t live_thread; /* thread actors alive */
    _Atomic uint64_t live_process; /* process actors alive (their proxies) */
    _Atomic uint64_t late_replies; /* replies to asks that were over */
    _Atomic uint64_t restarts;     /* tp_system_note_restart */
    _Atomic uint64_t unpack_errors; /* tp_msg_unpack failures in actors */
    _Atomic uint64_t messages;
    pthread_mutex_t wait_lock;
    pthread_cond_t wait_cond;
    /* registry */
    pthread_mutex_t reg_lock;
    tp__name **reg;
    size_t reg_buckets;
    _Atomic size_t reg_count;
    /* nodes (core/gateway.c) */
    _Atomic (tp__ctx *) gw_ctx;   /* the gateway, once started */
    struct tp__gw *gw;            /* its state (owned by its thread) */
    int heartbeat_ms;
    int max_peers;                /* peers the gateway holds at once */
    size_t peer_queue;            /* bytes held for one peer (flow control) */
    uint32_t remote_backlog;      /* mailbox depth that stops network reads */
    int peer_bad_per_s;           /* limits per peer (tp_system_opts) */
    int peer_quarantine_ms;
    uint32_t peer_max_watches, peer_max_asks, peer_max_names;
    _Atomic uint8_t gw_full[4096];/* by node id & 4095: its queue is full */
    bool gw_thread;               /* gateway on a thread of its own */
    bool report_alive;            /* destroy lists the actors it stops */
    uint64_t node_seq;            /* peer up/down, bad frame (under lock) */
    pthread_cond_t node_cond;     /* signalled on node_seq (monotonic) */
    /* CurveZMQ (core/gateway.c): keys, the allow-list, the ZAP thread */
    bool curve;
    char curve_secret[41], curve_public[41];
    uint8_t (*curve_allow)[32];   /* binary public keys */
    int ncurve_allow;
    pthread_t zap_thread;
    bool zap_started;
    _Atomic uint64_t curve_refused;
    /* process actors (core/process.c): the host thread, once started,
       and how tp_system_destroy ends it (set with it: system.c calls
       process.c only through this) */
    _Atomic (struct tp__proc *) proc;
    void (*proc_shutdown) (tp_system *sys);
    /* actors told of node up/down (tp_node_monitor) */
    pthread_mutex_t nodemon_lock;
    tp_ref *nodemons;
    int nnodemons, capnodemons;
    /* log (core/log.c) */
    pthread_mutex_t log_lock;     /* held while a line is written */
    tp_log_fn log_fn;             /* NULL: stderr */
    void *log_arg;
    _Atomic int log_max;          /* lines above this level are dropped */
    /* dead-letter watcher */
    pthread_mutex_t dl_lock;
    tp_ref dl_watcher;
    _Atomic int dl_on;
};

/*  Thread-local: the ctx of the calling runtime thread, and the actor
    whose callback is running (NULL outside callbacks). */
extern TP__TLS tp__ctx *tp__tl_ctx;
extern TP__TLS tp_actor *tp__tl_actor;

/* idmap.c */
/*  Sets id (nonzero) to val. */
void tp__idmap_put (tp__idmap *m, uint64_t id, void *val);
/*  The value of id, or NULL. */
void *tp__idmap_get (const tp__idmap *m, uint64_t id);
/*  Removes id; returns its value, or NULL if it was not there. */
void *tp__idmap_del (tp__idmap *m, uint64_t id);
void tp__idmap_free (tp__idmap *m);

/* slot.c */
uint64_t tp__now_ns (void);
/*  *dl = now on clock + timeout_ms (just now when timeout_ms < 0), for
    pthread_cond_timedwait. */
void tp__deadline (struct timespec *dl, clockid_t clock, int timeout_ms);
tp__slot *tp__slot_get (tp_system *sys, uint32_t index);
uint32_t tp__slot_acquire (tp_system *sys);
void tp__slot_release (tp_system *sys, uint32_t index);
void tp__live_dec (tp_system *sys);

/*  Why a dead letter was one (tp_system_stats.dead_noproc ...). */
enum { TP__DEAD_NOPROC = 0, TP__DEAD_NOCONNECT, TP__DEAD_DROPPED };

/*  The one place where dead letters are counted (tp_system_stats). */
static inline void
tp__dead_count (tp_system *sys, uint64_t n, int cause)
{
    atomic_fetch_add_explicit (&sys->dead_letters, n, memory_order_relaxed);
    atomic_fetch_add_explicit (&sys->dead_by[cause], n, memory_order_relaxed);
}

/*  Appends a to the run queue of c (a must not be on it). */
static inline void
tp__rq_push (tp__ctx *c, tp_actor *a)
{
    a->run_next = NULL;
    if (c->rq_tail)
        c->rq_tail->run_next = a;
    else
        c->rq_head = a;
    c->rq_tail = a;
    atomic_store_explicit (&c->rq_pub, ++c->rq_n, memory_order_relaxed);
}

/*  Takes the actor at the head of c's run queue (there is one). */
static inline tp_actor *
tp__rq_pop (tp__ctx *c)
{
    tp_actor *a = c->rq_head;
    c->rq_head = a->run_next;
    if (!c->rq_head)
        c->rq_tail = NULL;
    atomic_store_explicit (&c->rq_pub, --c->rq_n, memory_order_relaxed);
    return a;
}

/*  Empties c's run queue (shutdown). */
static inline void
tp__rq_clear (tp__ctx *c)
{
    c->rq_head = c->rq_tail = NULL;
    c->rq_n = 0;
    atomic_store_explicit (&c->rq_pub, 0, memory_order_relaxed);
}

/*  Makes a known to c, its home, and runnable (its first turn runs init). */
static inline void
tp__actor_adopt (tp__ctx *c, tp_actor *a)
{
    a->flags |= TP__A_ADOPTED;
    if (!(a->flags & TP__A_QUEUED)) {
        a->flags |= TP__A_QUEUED;
        tp__rq_push (c, a);
    }
}

/*  The transport c carries (NULL for most ctxs). */
static inline const tp__transport *
tp__tr (tp__ctx *c)
{
    return atomic_load_explicit (&c->tr, memory_order_acquire);
}

/* ctx.c */
/*  Creates (or recycles) a ctx of the given kind and binds its socket.
    Returns NULL with *rc TP_ELIMIT (max_threads ctxs are in use) or
    TP_EZMQ. Takes sys->lock. */
tp__ctx *tp__ctx_new (tp_system *sys, int kind, int *rc);
/*  Closes every socket of the ctx (its own thread, or the destroying
    thread once the owner is gone). */
void tp__ctx_close (tp__ctx *ctx);
void tp__ctx_free (tp__ctx *ctx);

/* external.c */
/*  The ctx the calling thread uses to send into sys: its own runtime ctx
    on a runtime thread, else a per-thread external ctx made on first use,
    recycled when the thread exits, closed by tp_system_destroy. NULL
    when none can be made (max_threads in use, or ZeroMQ fails): the
    caller returns TP_ELIMIT. */
tp__ctx *tp__ctx_external (tp_system *sys);
/*  As tp__ctx_external, but never NULL: the spare ctx made with the
    system when no other can be had. For tp_system_destroy only (one
    thread at a time). */
tp__ctx *tp__ctx_control (tp_system *sys);
/*  Makes sys->spare (tp_system_new). NULL if ZeroMQ fails. */
tp__ctx *tp__ctx_spare_new (tp_system *sys);
/*  sys is live (tp_system_new) / going (tp_system_destroy): a thread that
    exits from now on recycles / leaves alone its external ctx there. */
void tp__systems_add (tp_system *sys);
void tp__systems_remove (tp_system *sys);
/*  Forgets the calling thread's cached external ctx of sys. */
void tp__ext_forget (tp_system *sys);

/* inproc.c */
/*  The inproc endpoint of ctx id in its life gen (bound by its PULL
    socket, connected to by senders). */
void tp__endpoint (tp_system *sys, int id, uint32_t gen, char *buf, size_t cap);
/*  Appends m (consumed) for `to`, an actor living on ctx dst (or, for the
    gateway's ctx, one of another node); sent at the next flush, or now
    if the batch is full. */
void tp__inproc_put (tp__ctx *c, int dst, tp_ref to, tp_msg *msg);
/*  Sends a control record (TP__CTL_*) to ctx `to`: arg travels in corr;
    tp__ctl_msg sends msg (consumed) with its sender, corr and body. */
void tp__ctl (tp__ctx *from, tp__ctx *to, int cmd, uint64_t arg);
void tp__ctl_msg (tp__ctx *from, tp__ctx *to, int cmd, tp_msg *msg);
/*  Sends everything c has batched: the transport's (if it carries one),
    then every inproc batch. A foreign thread flooding a ctx waits here. */
void tp__flush (tp__ctx *ctx);
/*  True when ctx dst waits for work (spins or sleeps): a sender's
    batch for it should go at the end of this turn, not after several. */
bool tp__inproc_dst_idle (tp__ctx *c, int dst);
/*  The sender c made a destination too far behind (c->backlogged):
    yields, bounded, until it catches up. */
void tp__inproc_pace (tp__ctx *c);
/*  A worker's share of external senders' batching: flushes what foreign
    threads' ctxs hold back (sys->ext_pending), so that a burst of
    tp_send from main goes in a few frames and never waits for main's
    next call. Cheap when nothing is pending. Returns false if a ctx was
    busy (its owner held it): then look again before sleeping. */
bool tp__inproc_ext_flush (tp_system *sys);

/*  A read of c's PULL socket in progress (tp__inproc_read_begin). */
typedef struct tp__inread {
    bool force;        /* read until EAGAIN, not by the inbound hint */
    bool open;         /* frame is a batch being read record by record */
    int max_frames, got;
    size_t max_bytes, bytes;
    uint64_t avail;    /* the inbound hint at the last look */
    size_t off;        /* next record in frame */
    zmq_msg_t frame;
} tp__inread;
void tp__inproc_read_begin (tp__ctx *c, tp__inread *rd, bool force,
                            int max_frames, size_t max_bytes);
/*  The next message read, with the ref it is for in *to ({0,
    TP__CTL_INDEX, 0} for a control record, its command in aux); NULL
    when the read is over (rd->got frames were read). Caller owns it. */
tp_msg *tp__inproc_read (tp__ctx *c, tp__inread *rd, tp_ref *to);

/*  True when frames were sent to c that it has not read. */
static inline bool
tp__inproc_pending (tp__ctx *c)
{
    return atomic_load_explicit (&c->inbound, memory_order_acquire)
           > c->consumed;
}

/* route.c */
/*  Routes m to `to`. Consumes m on success; on TP_EFULL / TP_ETIMEDOUT
    the caller keeps it; TP_ETOOBIG (a body over TP_NODE_MAX_BODY for
    another node) too. wait_ms: -1 wait while full, 0 fail at once. */
int tp__route (tp__ctx *from, tp_ref to, tp_msg *msg, int wait_ms);
/*  m arrived on c for `to` (an actor of c, or of another node on the
    gateway's ctx): its mailbox, the transport, or a dead letter. */
void tp__deliver (tp__ctx *c, tp_ref to, tp_msg *msg);
/*  Appends m to external ctx c's list of received messages. */
void tp__ext_push (tp__ctx *c, tp_msg *m);
/*  Puts m on a's mailbox (a lives on c) and makes a runnable. */
void tp__enqueue (tp__ctx *ctx, tp_actor *a, tp_msg *msg);
/*  Sends a runtime message of kind `aux` (TP__SYS_*) from `from` to `to`,
    body packed from fmt (NULL: empty). System messages ignore mailbox
    bounds, so this cannot fail; a dead `to` is handled as a dead letter. */
void tp__sys_send (tp__ctx *c, tp_ref from, tp_ref to, int aux,
                   uint64_t corr, const char *fmt, ...);
/*  A runtime message for a dead `to`: the answer the protocol promises
    (DOWN / EXIT noproc), then m is freed. */
/*  m (consumed) cannot be delivered to `to`: a dead letter; a request
    is answered with a _fail reply saying noproc. */
void tp__dead_letter (tp__ctx *ctx, tp_ref to, tp_msg *msg);
/*  As tp__dead_letter, with the reason the _fail reply gives. */
void tp__dead_letter_why (tp__ctx *ctx, tp_ref to, tp_msg *msg,
                          tp_tag_t reason);
/*  Answers request corr of asker, which `to` will never answer, with a
    _fail reply [r to, t reason] (the asker's ask ends with TP_EDOWN).
    Nothing for an asker of no node (a tp_send from outside actors) or
    corr 0; a client of another node asking from (0, 0) is answered. */
void tp__fail_request (tp__ctx *ctx, tp_ref to, tp_ref asker, uint64_t corr,
                       tp_tag_t reason);
/*  The status of an ask ended by _fail reply m: TP_ELIMIT when its reason
    is `limit` (the node asked holds its peer_max_asks of ours), else
    TP_EDOWN. */
int tp__fail_status (const tp_msg *m);
/*  A message for `to` with tag was lost where it no longer exists as a
    tp_msg (a frame for a peer that went away): counted and reported. */
void tp__dead_note (tp__ctx *ctx, tp_ref to, tp_tag_t tag, tp_tag_t why);

/* loop.c */
/*  The thread body of worker and thread ctxs; tp__ctx_start starts it.
    Returns 0 or TP_ESYS. */
void *tp__ctx_loop (void *arg);
int tp__ctx_start (tp__ctx *ctx);
/*  External ctx: waits up to timeout_ms for frames and reads them into
    c->in_head. Returns frames read (0 on timeout). */
int tp__ctx_recv_external (tp__ctx *ctx, int timeout_ms);
/*  Reads (and hands on) up to max_frames frames; force: zmq_poll said
    readable. Returns frames read. */
int tp__ctx_drain (tp__ctx *c, bool force, int max_frames);

/* process.c */

/* nodemon.c */
/*  Adds ref to the actors told of node events (once). */
void tp__node_monitor_add (tp_system *sys, tp_ref ref);
/*  Removes ref from the node-event subscribers. */
void tp__node_unmonitor (tp_system *sys, tp_ref ref);
/*  Tells every actor subscribed with tp_node_monitor that node `node`
    (name len bytes) came up (reason 0) or went down for reason. From
    the gateway's ctx c. */
void tp__node_event (tp__ctx *c, uint32_t node, const char *name, size_t len,
                     tp_tag_t reason);

/* spawn.c */
/*  What tp_spawn_sync waits on: the actor tells it once, when its init
    has returned (ok) or it ended without running init; each side drops
    its reference, the last one frees it. */
typedef struct tp__init_wait {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int state; /* 0 running, 1 init returned 0, 2 init failed or never ran */
    int refs;
} tp__init_wait;
/*  Tells w (if not NULL) the outcome and drops the actor's reference. */
void tp__init_done (tp__init_wait *w, bool ok);
/*  With w->lock held: drops one reference and unlocks; the last frees w. */
void tp__init_wait_unref (tp__init_wait *w);
/*  tp_spawn of a loop or thread actor (tp_spawn, core/process.c, sends
    TP_PROCESS elsewhere first); _w: with tp_spawn_sync's waiter w (whose
    actor reference the actor holds once this returns 0). */
int tp__spawn_w (tp_system *sys, const tp_behavior *b, void *arg,
                 const tp_spawn_opts *o, tp_ref *ref, tp__init_wait *w);
int tp__spawn (tp_system *sys, const tp_behavior *b, void *arg,
               const tp_spawn_opts *opts, tp_ref *ref);

/* log.c */
/*  The level named s (error, warn, info, debug; any case), or fallback. */
int tp__log_level_parse (const char *s, int fallback);

/* registry.c */
void tp__registry_forget (tp_system *sys, tp_ref ref);
void tp__registry_free (tp_system *sys);

/* system.c */
/*  Waits on external ctx c for the reply to request corr sent to `to`
    (TP_REF_NIL: no actor), up to timeout_ms. Returns 0 (caller owns
    *reply), TP_ETIMEDOUT, or TP_EDOWN with *reply the _fail notice
    [r to, t reason] (caller owns it) when `to` ended or its node went
    down first. */
int tp__ext_wait_reply (tp__ctx *c, tp_ref to, uint64_t corr, int timeout_ms,
                        tp_msg **reply);

/* gateway.c */
int tp__gw_start (tp_system *sys);

/*  Under sys->lock: the node id of the peer connected at endpoint if it
    is up (0 if not); *refused is set to TP_ENAMETAKEN or TP_ELIMIT when
    the connection was refused, by us (its name is up on another
    connection) or twice in a row by it (ours is up there, or it is full),
    else to 0. */
uint32_t tp__gw_peer_at (tp_system *sys, const char *endpoint, int *refused);
/*  Under sys->lock: true if a peer for node (exact id, or by name for an
    id without incarnation) is up; *exact (if not NULL) its exact id. */
bool tp__gw_node_up (tp_system *sys, uint32_t node, uint32_t *exact);
/*  Under sys->lock: writes the ids of up to cap peers that are up into
    out; returns how many are up (may exceed cap). */
int tp__gw_up_nodes (tp_system *sys, uint32_t *out, int cap);
/*  Under sys->lock: fills up to cap entries of out with the peers held
    (greeted ones); returns how many there are (may exceed cap). */
int tp__gw_peers (tp_system *sys, tp_peer_info *out, int cap);
/*  Checks and copies opts' CURVE keys into sys (false: say why on
    stderr, the system is not made). */
bool tp__curve_setup (tp_system *sys, const char *secret,
                      const char *const *allow);
/*  Stops the ZAP thread (after the context is shut down). */
void tp__curve_shutdown (tp_system *sys);
/*  Makes router a CURVE server with a ZAP handler and a monitor (a
    thread), if sys has keys. 0, TP_EZMQ or TP_ESYS. */
int tp__curve_start (tp_system *sys, void *router);
/*  Makes dealer a CURVE client of server_key, if sys has keys. TP_EINVAL:
    a key without CURVE here, none with it, or a malformed one. */
int tp__curve_client (tp_system *sys, void *dealer, const char *server_key);
/*  Adds the gateway's counters to *st (nothing before it starts). */
void tp__gw_stats (tp_system *sys, tp_node_stats *st);
void tp__gw_shutdown (tp_system *sys);
void tp__gw_free (tp_system *sys);

/* actor.c */
/*  Adds ref (with id, for monitors) to list / removes the first entry
    matching ref (when match_ref) and id (when id != 0): true if one was. */
tp__peer *tp__peer_add (tp__peer **list, tp_ref ref, int64_t id);
bool tp__peer_remove (tp__peer **list, tp_ref ref, int64_t id, bool match_ref);
void tp__actor_run (tp__ctx *ctx, tp_actor *a);
/*  An ask with a message m flagged by the caller (a runtime message,
    e.g. a LOOKUP to a node): consumes m, on failure too. As tp_ask_msg. */
int tp__ask_raw (tp_actor *self, tp_ref to, tp_msg *m, int timeout_ms,
                 tp_cont_fn cont, void *arg);
/*  Node `node` went down (a TP__CTL_NODEDOWN record): every ask of c's
    actors to an actor of that node gets a _fail reply (noconnect). */
void tp__asks_node_down (tp__ctx *c, uint32_t node);
/*  Writes one line about a (alive at shutdown) to stderr. Home thread. */
void tp__actor_report (tp_actor *a);
void tp__actor_terminate (tp__ctx *ctx, tp_actor *a, tp_tag_t reason,
                          bool notify);
void tp__sys_undeliverable (tp__ctx *ctx, tp_ref to, tp_msg *msg);
int tp__stop_from (tp__ctx *c, tp_ref target, tp_tag_t reason);

/* timer.c */
/*  Reads the clock after *stride messages of work, adapts *stride so that
    reads come about every TP__TICK_NS of work, and returns true (setting
    c->preempt) when the loop's checks are due: the caller ends its turn. */
bool tp__ctx_tick (tp__ctx *c, uint32_t *stride);
int64_t tp__timer_add (tp__ctx *ctx, tp_actor *a, uint64_t delay_ns,
                       uint64_t interval_ns, tp_msg *msg);
int tp__timer_cancel (tp__ctx *ctx, tp_actor *a, int64_t id);
void tp__timer_cancel_all (tp__ctx *ctx, tp_actor *a);
int tp__timer_fire (tp__ctx *ctx, uint64_t now);
int64_t tp__timer_next_ms (tp__ctx *ctx, uint64_t now);
bool tp__timer_active (tp_actor *a, int64_t id);
/*  True if a's timer id is the timeout of one of its asks. */
bool tp__timer_is_ask (tp_actor *a, int64_t id);

/* well-known tags, computed once */
extern tp_tag_t tp__tag_normal, tp__tag_shutdown, tp__tag_killed,
    tp__tag_noproc, tp__tag_init, tp__tag_down, tp__tag_exit, tp__tag_dead,
    tp__tag_sys, tp__tag_error, tp__tag_fail, tp__tag_noconnect, tp__tag_limit;
void tp__tags_init (void);

#endif
