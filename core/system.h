/*  core/system.h: the troupe system, and calls made from outside actors.

    One tp_system per process (tests may create several in sequence). It
    owns the ZeroMQ context, the worker threads that run loop actors, the
    threads of thread actors, the registry of names and the timers.

    Functions here are for code that is not an actor: main(), a signal
    thread, a library callback. They are safe from any thread unless a
    comment says otherwise, except that no call may race with
    tp_system_destroy on the same system. Each foreign thread that calls
    in gets a context of its own (a ZeroMQ socket and a reply inbox),
    given back when the thread exits; at most 8192 contexts (workers,
    thread actors and foreign threads alive at once) exist per system.
*/
#ifndef TP_SYSTEM_H_INCLUDED
#define TP_SYSTEM_H_INCLUDED

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "msg.h"
#include "ref.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tp_system tp_system;
typedef struct tp_actor tp_actor;

typedef struct tp_system_opts {
    int workers;           /* worker threads for loop actors; 0 = one per core */
    const char *node_name; /* node name; NULL = "nonode" */
    int batch;             /* messages an actor may run per turn; 0 = 64 */
    int spin_us;           /* how long an idle worker (and a thread waiting
                              in tp_call) spins before it sleeps, in
                              microseconds; 0 = 50, -1 = never.
                              Spinning trades idle CPU for latency: a reply
                              that comes while spinning costs no wake-up.
                              The TP_SPIN_US environment variable overrides. */
    int heartbeat_ms;      /* node heartbeat interval; 0 = 500. A peer
                              silent for 3 intervals is declared down. */
    bool gateway_thread;   /* false (default): worker 0 carries the node
                              gateway, so its actors reach the network
                              without a thread hop, but a turn on worker 0
                              longer than 3 heartbeats makes peers declare
                              this node down. true: the gateway gets a
                              thread of its own (one more hop each way). */
    bool report_alive;     /* tp_system_destroy writes one line to stderr
                              per actor it has to stop (ref, behaviour,
                              kind, queued messages, spawner), as CZMQ's
                              zsys_shutdown reports sockets left open.
                              Also on with TP_REPORT_ALIVE=1. */
    int max_peers;         /* nodes the gateway holds at once (up, or down
                              and not yet forgotten); 0 = 1024. A greeting
                              beyond it is refused for that peer only
                              (counted in tp_node_stats.peers_refused). */
    size_t peer_queue;     /* flow control: bytes a node holds for one peer
                              that does not read (beyond ZeroMQ's 100
                              frames); 0 = 4 MiB. Past it, sends to that
                              peer's actors fail with TP_EFULL (or wait, in
                              tp_send_wait / tp_tell_wait) until it reads. */
    unsigned remote_backlog; /* flow control: a local actor holding this
                              many messages makes the node stop reading the
                              peer that sends to it, until it has run half
                              of them (the peer then waits, see
                              peer_queue); 0 = 4096. */
    int max_threads;       /* threads the system serves at once: workers,
                              thread actors, the gateway's thread, and
                              foreign threads that call in (each has a
                              context until it exits), plus one kept for
                              tp_system_destroy; 0 = 8192, the most; at
                              least workers + 2. Past it, tp_spawn of a
                              thread actor, and any call from one more
                              foreign thread, returns TP_ELIMIT. */
    /*  CurveZMQ on every node link (docs/security.md). With curve_secret
        (this node's secret key, 40 characters of Z85, e.g. from `troupe
        keygen`), the node accepts only CURVE connections from the public
        keys in curve_allow (a NULL-terminated list of Z85 keys; NULL or
        empty: nobody), and connects only with tp_node_connect_key (it must
        know the other node's public key). tp_system_new returns NULL when
        a key is malformed or libzmq has no CURVE (zmq_has ("curve")),
        saying why on stderr. NULL (default): plaintext, for trusted
        networks and loopback only. Both copied. */
    const char *curve_secret;
    const char *const *curve_allow;
    /*  Limits on what one peer node may do here (docs/security.md,
        "Hostile peers"). Reaching one affects that peer only and is
        counted in tp_node_stats. 0 = the default given. */
    int peer_bad_per_s;    /* bad frames (malformed, unknown, spoofed) one
                              connection may send within a second; one
                              more and it is quarantined; 0 = 20, -1 = no
                              limit */
    int peer_quarantine_ms; /* how long: its frames are read and dropped
                              unparsed, and its node is down here (its
                              watches end with noconnect); 0 = 10000 */
    int peer_max_watches;  /* monitors and links between its actors and
                              ours; one more MONITOR is answered with a
                              DOWN, one more LINK with an EXIT, reason
                              `limit`; 0 = 65536 */
    int peer_max_asks;     /* its requests our actors have not answered
                              yet; one more fails at once (its asker gets
                              TP_ELIMIT). An ask counts until it is
                              answered, or for 30-60 s (its count ends, not
                              the ask); 0 = 65536 */
    int peer_max_names;    /* node-table entries made for refs to other
                              nodes in its messages (the table holds 4095
                              nodes per process); past it, its oldest such
                              entry makes room (refs to that node held
                              here go dead); 0 = 256 */
} tp_system_opts;

typedef struct tp_system_stats {
    uint64_t actors_live;    /* actors alive now */
    uint64_t actors_spawned; /* actors ever spawned */
    uint64_t dead_letters;   /* messages addressed to dead actors */
    uint64_t messages;       /* messages processed by all actors */
    int workers;             /* worker threads */
    uint64_t late_replies;   /* replies that came after their ask or call
                                was over (timed out, or ended by
                                TP_EDOWN), dropped */
    uint64_t restarts;       /* children restarted by supervisors
                                (tp_system_note_restart) */
    uint64_t unpack_errors;  /* tp_msg_unpack calls that failed inside an
                                actor's callback (a body it did not
                                expect), runtime messages aside */
    /* dead_letters by cause (they add up to it): */
    uint64_t dead_noproc;    /* to an actor that is gone or never was */
    uint64_t dead_noconnect; /* to a node not up, or lost with a link */
    uint64_t dead_dropped;   /* dropped as a system or an actor stopped */
    uint64_t ask_timeouts;   /* asks and calls that ended by their
                                timeout (TP_ETIMEDOUT) */
    uint64_t actors_thread;  /* thread actors alive now (in actors_live) */
    uint64_t actors_process; /* process actors alive now (in actors_live;
                                the rest are loop actors) */
} tp_system_stats;

/*  One actor's mailbox, for tp_system_mailboxes. */
typedef struct tp_mailbox_info {
    tp_ref ref;
    const char *behavior; /* its behaviour's name (static), or "" */
    uint64_t queued;      /* messages waiting */
    uint64_t processed;   /* messages it has run */
} tp_mailbox_info;

typedef struct tp_actor_stats {
    uint64_t processed; /* messages this actor has run */
    uint64_t mailbox;   /* messages waiting in its mailbox */
    uint32_t capacity;  /* mailbox bound, 0 = unbounded */
    int worker;         /* worker index, -1 for a thread actor */
    bool thread;        /* true for a thread actor */
} tp_actor_stats;

/*  Creates a system and starts its worker threads. opts may be NULL for
    the defaults. Returns NULL if ZeroMQ cannot be set up or opts are
    invalid (workers < 0 or > 1024, max_threads < 0, > 8192 or under
    workers + 2, bad node name).
    Caller owns return value and must destroy it with tp_system_destroy. */
TP_EXPORT tp_system *
tp_system_new (const tp_system_opts *opts);

/*  Shuts the system down and sets *sys_p to NULL. Accepts NULL.
    Shutdown, in order: every actor is stopped with reason "shutdown" (its
    terminate callback runs on its own thread; pending ask continuations
    get TP_ECANCELED first); messages still queued or in flight are
    dropped and freed; local monitors and links fire no notices (remote ones hear
    "shutdown" from the node's gateway before it drains); worker and
    actor threads are joined; ZeroMQ is terminated; all memory is freed.
    A thread actor blocked inside its receive callback delays shutdown
    until that callback returns. Must not be called from an actor. */
TP_EXPORT void
tp_system_destroy (tp_system **sys_p);

/*  Counts one restart of a supervised child in tp_system_stats.restarts
    (actors/supervisor.c calls it; a supervisor of your own should too,
    so that stats and tools see its restarts). Safe from any thread. */
TP_EXPORT void
tp_system_note_restart (tp_system *sys);

/*  Log lines (tp_log). Levels, most severe first. */
typedef enum {
    TP_LOG_ERROR = 0,
    TP_LOG_WARN,
    TP_LOG_INFO,
    TP_LOG_DEBUG
} tp_log_level;

/*  Receives each log line (NUL-terminated, no newline; borrowed for the
    call). Calls are serialized: one line at a time per system. */
typedef void (*tp_log_fn) (void *arg, tp_log_level level, const char *line);

/*  Writes one line: "2026-12-01T14:03:07.123Z info  node-a <ref> <name>:
    text" — the time (UTC, ms), the level, the node's name, and when
    called from an actor's callback that actor's ref and behaviour name,
    then the text from fmt (printf; cut at about 1000 bytes). Lines go to
    stderr unless tp_system_set_log gave a sink. Lines less severe than
    the system's level are dropped: the level is info by default, or the
    TP_LOG environment variable (error, warn, info, debug). The runtime,
    actors/ and the tools log through this call. Safe from any thread. */
TP_EXPORT void
tp_log (tp_system *sys, tp_log_level level, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

/*  As tp_log with a va_list. */
TP_EXPORT void
tp_vlog (tp_system *sys, tp_log_level level, const char *fmt, va_list ap);

/*  True if a line of this level would be written (to skip building an
    expensive one). */
TP_EXPORT bool
tp_log_enabled (tp_system *sys, tp_log_level level);

/*  Sets the level (lines less severe are dropped) and the sink: fn (NULL
    = stderr) is called with arg for each line, on the thread that logs,
    one call at a time. fn must not call tp_log. Safe from any thread. */
TP_EXPORT void
tp_system_set_log (tp_system *sys, tp_log_level max, tp_log_fn fn,
                   void *arg);

/*  Blocks until no actor is alive or timeout_ms passes (-1 = forever).
    Returns 0 or TP_ETIMEDOUT. Useful in main() after spawning the actors
    that do the work and stop themselves. */
TP_EXPORT int
tp_system_wait (tp_system *sys, int timeout_ms);

/*  Blocks until actor ref (local or on another node) ends, or timeout_ms
    passes (-1 = forever), while every other actor goes on running: main
    waits for the one that does the work, not for long-lived helpers
    (a node service, a logger). On 0, *reason (if not NULL) is its exit
    reason: noproc if it was dead already, noconnect if its node went
    down. Returns 0, TP_ETIMEDOUT, TP_EINVAL (nil ref), TP_ESTOPPED,
    TP_ELIMIT (no context for one more foreign thread) or TP_ESTATE from
    an actor's thread. Safe from any foreign thread. */
TP_EXPORT int
tp_system_wait_for (tp_system *sys, tp_ref ref, int timeout_ms,
                    tp_tag_t *reason);

/*  Writes the actors with the deepest mailboxes, deepest first, into
    out (at most cap; their behaviour names are static strings). Reads
    every actor's slot without stopping the system (a consistent-enough
    view, as the stats). Returns how many actors live (which may exceed
    cap), or TP_EINVAL. Safe from any thread. */
TP_EXPORT int
tp_system_mailboxes (tp_system *sys, tp_mailbox_info *out, int cap);

/*  Fills *stats with counters for the whole system. Counters are read
    without stopping the system, so they are a consistent-enough view. */
TP_EXPORT void
tp_system_stats_get (tp_system *sys, tp_system_stats *stats);

/*  Fills *stats for one actor. The counts are published when the actor's
    turn ends (a store per message would make its slot's cache line
    bounce between workers), while a reply it sends in that turn may
    leave at once (tp_tell): after tp_call returns, `processed` can lag
    by the rest of that turn. Returns 0 or TP_EDEAD. */
TP_EXPORT int
tp_actor_stats_get (tp_system *sys, tp_ref ref, tp_actor_stats *stats);

/*  Returns the number of worker threads. */
TP_EXPORT int
tp_system_workers (tp_system *sys);

/*  Returns this system's node id (see tp_node_name). */
TP_EXPORT uint32_t
tp_system_node (tp_system *sys);

/*  Sends a message from outside any actor: tag and a body packed from
    fmt. The receiver sees a nil sender. Returns 0, TP_EINVAL (bad tag or
    format), TP_EFULL (bounded mailbox full), TP_ELIMIT (this thread
    would be one foreign thread more than tp_system_opts.max_threads
    allows), TP_ESTOPPED; TP_EDEAD is NOT returned for
    a dead receiver: that is a dead letter, counted, and the call returns
    0 (as Erlang's `!`), so that senders never depend on timing. */
TP_EXPORT int
tp_send (tp_system *sys, tp_ref to, tp_tag_t tag, const char *fmt, ...);

/*  Sends a built message from outside any actor. Takes ownership of
    *msg_p on success (sets it to NULL); on failure the caller still owns
    it. Same return values as tp_send. */
TP_EXPORT int
tp_send_msg (tp_system *sys, tp_ref to, tp_msg **msg_p);

/*  As tp_send_msg, but when the receiver's bounded mailbox (or the queue
    to its node, see tp_system_opts.peer_queue) is full it waits up to
    timeout_ms (-1 = forever, 0 = not at all: TP_EFULL) for room. Returns TP_ETIMEDOUT
    (caller still owns the message) if no room appeared in time. */
TP_EXPORT int
tp_send_wait (tp_system *sys, tp_ref to, tp_msg **msg_p, int timeout_ms);

/*  Blocking request from outside any actor (the "await"): sends tag and
    a body packed from fmt as a request and waits up to timeout_ms for
    the reply (-1: no timeout). On success *reply is the reply message.
    Caller owns *reply and must destroy it when done.
    Returns 0, TP_EDOWN (the receiver ended before it answered, was dead
    already, or its node went down: at once, not at the timeout; *reply
    is then the notice _fail [r receiver, t reason], with reason the
    receiver's exit reason, noproc or noconnect, and the caller owns it
    too), TP_ETIMEDOUT (alive, but no reply in time; *reply NULL),
    TP_EINVAL, TP_EFULL, TP_ELIMIT (as for tp_send; or the receiver's
    node refused the request, holding its peer_max_asks unanswered ones
    from this node: *reply is then _fail with reason `limit`, owned by the
    caller), TP_ESTOPPED (the
    system is shutting down), or TP_ESTATE when called from a loop
    actor (it would block every actor of its worker: use tp_ask there).
    From a THREAD actor's callbacks it blocks that thread only, which is
    its own: the request goes out as the actor's; messages that arrive
    meanwhile wait in its mailbox for after the callback, and its timers
    wait too. (Two thread actors that call each other at once wait for
    their timeouts.) A reply
    that arrives after the timeout is discarded and counted
    (tp_system_stats.late_replies). tp_msg_destroy (&reply) after any
    return is always right. */
TP_EXPORT int
tp_call (tp_system *sys, tp_ref to, tp_tag_t tag, int timeout_ms,
         tp_msg **reply, const char *fmt, ...);

/*  As tp_call with a built request. Takes ownership of *msg_p on success.
    On TP_ETIMEDOUT the request was sent, so it is consumed too. */
TP_EXPORT int
tp_call_msg (tp_system *sys, tp_ref to, tp_msg **msg_p, int timeout_ms,
             tp_msg **reply);

/*  Stops actor ref with reason (a tag; 0 means "normal") from outside.
    The actor finishes the message it is running, then terminates.
    Returns 0 (a dead target is a dead letter, as for tp_send), TP_ELIMIT
    (as for tp_send) or TP_ESTOPPED. */
TP_EXPORT int
tp_system_stop (tp_system *sys, tp_ref ref, tp_tag_t reason);

/*  Returns the ref registered under name, or the nil ref. Safe from any
    thread, including actors. */
TP_EXPORT tp_ref
tp_whereis (tp_system *sys, const char *name);

/*  Registers ref under name (at most 63 bytes). The name is removed
    when the actor ends. Returns 0, TP_EEXIST (name taken by a live
    actor), TP_EDEAD (ref is not a live local actor) or TP_EINVAL. */
TP_EXPORT int
tp_register (tp_system *sys, const char *name, tp_ref ref);

/*  Removes name from the registry. Returns 0 or TP_ENOTFOUND. */
TP_EXPORT int
tp_unregister (tp_system *sys, const char *name);

/*  Called by tp_names_each for each registered name. */
typedef void (*tp_name_fn) (const char *name, tp_ref ref, void *arg);

/*  Calls fn for every registered name, in no particular order, while
    holding the registry lock: fn must not call registry functions.
    Returns the number of names. */
TP_EXPORT int
tp_names_each (tp_system *sys, tp_name_fn fn, void *arg);

/*  Makes ref, an actor of this system, receive a "_dead" notice for each
    dead letter: body [ref to, tag tag]. Dead letters include messages for
    other nodes that this node dropped (a peer that left with messages
    batched or held for it). Pass the nil ref to stop. Notices about
    notices are never sent. Returns 0, or TP_EINVAL for a ref of another
    node. */
TP_EXPORT int
tp_system_watch_dead_letters (tp_system *sys, tp_ref ref);

#ifdef __cplusplus
}
#endif

#endif
