/*  core/actor.h: behaviours, spawning, and everything an actor can do.

    An actor is a behaviour (three callbacks) plus private state. It runs
    one message at a time and shares no memory with other actors.

    LOOP actors (the default) are multiplexed on the worker threads, many
    per worker, each worker an event loop. THREAD actors get an OS thread
    of their own: use them for blocking calls and long CPU work. Both have
    the same refs and the same API; a sender never knows which it talks to.

    The calls below whose first parameter is `tp_actor *self` may only be
    made from inside that actor's own callbacks (init, receive, terminate,
    continuations): self is borrowed from the runtime and is only valid
    there. They are not safe from other threads.

    Reserved tags delivered by troupe to receive:
        _down   [U monitor id, r actor, t reason]   a monitored actor ended
        _exit   [r actor, t reason]                 a linked actor ended and
                                                    this actor traps exits
        _dead   [r to, t tag]                       dead-letter notice (see
                                                    tp_system_watch_dead_letters)
    Reasons are tags: normal, shutdown, killed, noproc, init, error, or
    any tag the stopping code chose.
*/
#ifndef TP_ACTOR_H_INCLUDED
#define TP_ACTOR_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "msg.h"
#include "ref.h"
#include "system.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tp_behavior {
    const char *name; /* shown in stats and logs; may be NULL */
    /*  Runs first, on the actor's own thread, before any message. arg is
        the pointer given to tp_spawn. Return 0 to start, anything else to
        stop at once with reason "init" (terminate still runs). May be NULL. */
    int (*init) (tp_actor *self, void *arg);
    /*  Runs once per message. msg is borrowed: valid until receive
        returns; copy what must outlive it (tp_msg_dup). Required. */
    void (*receive) (tp_actor *self, tp_msg *msg);
    /*  Runs exactly once when the actor ends, whatever the reason, even if
        init never ran (then tp_state(self) is NULL; tp_arg(self) still
        gives the spawn argument so it can be freed). Free the state here.
        May be NULL. */
    void (*terminate) (tp_actor *self, tp_tag_t reason);
} tp_behavior;

typedef enum {
    TP_LOOP = 0, /* multiplexed on a worker thread (default) */
    TP_THREAD,   /* own OS thread */
    TP_PROCESS   /* a module's actor in a child process (see tp_spawn) */
} tp_actor_kind;

typedef enum {
    TP_PLACE_AUTO = 0, /* from a loop actor: its worker while nothing else
                          waits to run there, else the worker with the
                          least to do (a fan-out runs in parallel, a lone
                          child stays near); from outside: round-robin */
    TP_PLACE_NEAR,     /* same worker as the spawner (round-robin outside) */
    TP_PLACE_SPREAD,   /* the worker with the fewest actors */
    TP_PLACE_WORKER    /* the worker given in .worker */
} tp_placement;

typedef struct tp_spawn_opts {
    tp_actor_kind kind;  /* TP_LOOP or TP_THREAD */
    tp_placement place;  /* loop actors only */
    int worker;          /* with TP_PLACE_WORKER: 0 .. workers-1 */
    uint32_t capacity;   /* mailbox bound; 0 = unbounded */
    const char *name;    /* if set, registered before the first message */
    bool link;           /* link to the spawning actor (spawn from an actor) */
    const char *module;  /* TP_PROCESS: path of the module (TP_MODULE) */
    const char *config;  /* TP_PROCESS: string given to the module actor's
                            init as its arg (NULL: arg NULL); copied */
} tp_spawn_opts;

/*  Spawns an actor running behaviour b. arg is passed to init (the actor
    does not own it unless the behaviour says so). opts may be NULL for a
    loop actor with default placement. On success *ref (if not NULL) is
    the new actor's ref; init runs asynchronously on the actor's thread.
    Returns 0, TP_EINVAL (no receive callback, bad options), TP_EEXIST
    (opts->name taken; nothing was spawned), TP_ESTOPPED (system stopping),
    TP_ELIMIT (tp_system_opts.max_threads in use: no thread actor, or no
    context for a foreign thread that calls), TP_ESYS (no thread could be
    started) or TP_EZMQ (a thread actor's socket could not be made).
    Safe from any thread, including actors. behaviour b is borrowed and
    must outlive the actor (normally a static const). */
TP_EXPORT int
tp_spawn (tp_system *sys, const tp_behavior *b, void *arg,
          const tp_spawn_opts *opts, tp_ref *ref);
/*  As tp_spawn, then waits until the actor's init has returned (as
    Erlang's start_link): returns 0 once it has returned 0; TP_EDOWN if it
    failed (the actor ended with reason init) or the actor ended before it
    ran; TP_ETIMEDOUT if init still runs after timeout_ms (> 0, or -1 for
    no bound; the actor lives on). *ref (if not NULL) is set whenever the
    spawn itself succeeded. Other errors as tp_spawn, and TP_EINVAL for a
    process actor or a timeout of 0, TP_ESTATE from a loop actor (it
    would block its worker). Safe from foreign threads and thread actors. */
TP_EXPORT int
tp_spawn_sync (tp_system *sys, const tp_behavior *b, void *arg,
               const tp_spawn_opts *opts, int timeout_ms, tp_ref *ref);

/*  PROCESS ACTORS: with opts->kind TP_PROCESS, b and arg are not used
    (pass NULL): the actor is the one of module opts->module, run by a
    troupe-node child process ($TROUPE_NODE, else troupe-node on PATH)
    that this system starts, connects over ipc and owns. *ref is a local
    ref that stands for it (placement, capacity, name and link options
    apply to it): sends, asks, monitors, links and supervisors work as
    for any actor; messages sent before the child has started wait for
    it. When the process ends, the actor ends at once with reason normal
    (exit 0), exit<N> (exit code N) or sig<name> (sigsegv, sigabrt,
    sigkill, ...), and a request it had not answered fails with TP_EDOWN
    and that reason. When the actor is stopped, the process gets SIGTERM
    (SIGKILL 2 s later). A child never outlives this process
    (PR_SET_PDEATHSIG and a pipe it watches). The system binds its node
    to an abstract ipc endpoint on the first process actor (a node named
    by tp_system_opts.node_name; its peers are the children). Returns as
    above, TP_EINVAL without opts->module. A child that cannot start
    (no troupe-node, a module that does not load) ends the actor with
    reason nostart or exit<N>. */

/*  Returns the pid of the child process behind process actor ref, or
    TP_ENOTFOUND (not a process actor, not started yet, or ended). Safe
    from any thread. */
TP_EXPORT int
tp_process_pid (tp_system *sys, tp_ref ref);

/*  Returns the actor's own ref. */
TP_EXPORT tp_ref
tp_self (tp_actor *self);

/*  Returns the system the actor belongs to. */
TP_EXPORT tp_system *
tp_system_of (tp_actor *self);

/*  Returns / sets the private state pointer (NULL until set). */
TP_EXPORT void *
tp_state (tp_actor *self);
TP_EXPORT void
tp_set_state (tp_actor *self, void *state);

/*  Returns the arg given to tp_spawn. */
TP_EXPORT void *
tp_arg (tp_actor *self);

/*  Returns the worker index the actor runs on, or -1 for a thread actor. */
TP_EXPORT int
tp_worker_index (tp_actor *self);

/*  Sends tag plus a body packed from fmt to `to` (fire and forget).
    Returns 0, TP_EINVAL (bad tag or format) or TP_EFULL (to has a bounded
    mailbox that is full; nothing was sent). A dead receiver is a dead
    letter: counted, and the call still returns 0.
    When it leaves: to an actor of the same worker, on its mailbox at
    once (it runs after this turn). To another worker or node, the first
    message of this turn for that worker goes at once, whatever the rest
    of the turn does; later ones in the same turn are batched and go when
    the turn ends (or 64 KiB are batched, or tp_flush). */
TP_EXPORT int
tp_tell (tp_actor *self, tp_ref to, tp_tag_t tag, const char *fmt, ...);

/*  Sends now what this turn has batched for other workers and nodes
    (see tp_tell), e.g. before a long computation in the same turn. */
TP_EXPORT void
tp_flush (tp_actor *self);

/*  tp_tell (self, to, tag, "I", v) without the format string: the same
    message (the body is v as one msgpack integer, in its shortest form)
    and the same results. For hot loops; tp_msg_int reads it back. */
TP_EXPORT int
tp_tell_int (tp_actor *self, tp_ref to, tp_tag_t tag, int64_t v);

/*  Sends a built message. Takes ownership of *msg_p on success and sets
    it to NULL; on failure (TP_EFULL, TP_EINVAL) the caller keeps it and
    may retry. */
TP_EXPORT int
tp_tell_msg (tp_actor *self, tp_ref to, tp_msg **msg_p);

/*  As tp_tell_msg, but waits up to timeout_ms (-1 = forever, 0 = not at
    all) for room in a full bounded mailbox, or in a full queue to another
    node (flow control). This blocks the calling thread: on a loop actor
    the whole worker waits. Returns 0, TP_ETIMEDOUT (caller keeps it), or
    TP_EFULL at once when the receiver runs on the caller's own thread
    (waiting could only deadlock). */
TP_EXPORT int
tp_tell_wait (tp_actor *self, tp_ref to, tp_msg **msg_p, int timeout_ms);

/*  Forwards a received (borrowed) message to `to`, keeping its original
    sender and request id so the final receiver can tp_reply directly to
    the asker. The message is copied; msg stays valid. Returns as tp_tell. */
TP_EXPORT int
tp_forward (tp_actor *self, tp_ref to, const tp_msg *msg);

/*  Continuation of tp_ask. status is
      0             reply set (borrowed, valid until the continuation
                    returns);
      TP_EDOWN      the actor asked will never answer: it ended before
                    it did (with the request in hand, kept to answer
                    later, or still in its mailbox), was dead already, or
                    its node went down. reply is the notice _fail
                    [r actor, t reason] (borrowed): reason is the actor's
                    exit reason, noproc or noconnect. It comes at once,
                    not at the timeout;
      TP_ELIMIT     reply is the _fail notice with reason `limit`: the
                    actor's node refused the request, as it holds its
                    peer_max_asks unanswered requests from this node
                    (tp_system_opts);
      TP_ETIMEDOUT  reply NULL: no answer in time (the actor lives, or a
                    request it got was forgotten: see below);
      TP_ECANCELED  reply NULL: the asking actor ends first.
    The answering side: a request is owed by the actor that received it
    until it answers it (tp_reply) or hands it on (tp_forward; the next
    actor owes it then), in the same turn or later from a copy
    (tp_msg_dup). An actor keeps the last 4096 requests it owes; an older
    one it never answered ends only by its timeout. */
typedef void (*tp_cont_fn) (tp_actor *self, int status, tp_msg *reply,
                            void *arg);

/*  Sends a request and returns at once; cont runs later on this actor
    with the reply, or with TP_ETIMEDOUT after timeout_ms (> 0, or -1 for
    no timeout; 0 is TP_EINVAL: an ask that does not wait is a tell).
    The continuation runs exactly once if the call returns 0, and never
    if it fails; with TP_EDOWN at once when the receiver is dead, ends
    first or is on a node that goes down (tp_cont_fn). The context is one
    pointer: for more, point arg at the asking actor's state, or at a
    record of it that lives until the continuation runs (no malloc per
    ask is needed when the state holds the records).
    Returns 0, TP_EINVAL or TP_EFULL. */
TP_EXPORT int
tp_ask (tp_actor *self, tp_ref to, tp_tag_t tag, int timeout_ms,
        tp_cont_fn cont, void *arg, const char *fmt, ...);

/*  As tp_ask with a built request; takes ownership of *msg_p on success. */
TP_EXPORT int
tp_ask_msg (tp_actor *self, tp_ref to, tp_msg **msg_p, int timeout_ms,
            tp_cont_fn cont, void *arg);

/*  Answers request `req` (a message received with tp_msg_is_request true)
    with tag and a body packed from fmt. Returns 0, TP_EINVAL if req is
    not a request or the format is bad. Replying twice sends twice; the
    asker keeps the first. */
TP_EXPORT int
tp_reply (tp_actor *self, const tp_msg *req, tp_tag_t tag, const char *fmt,
          ...);

/*  Answers request `req` with a built message (its tag and body). Takes
    ownership of *msg_p on success. Returns as tp_reply. */
TP_EXPORT int
tp_reply_msg (tp_actor *self, const tp_msg *req, tp_msg **msg_p);

/*  Sends tag + body to self after ms milliseconds (setTimeout). Returns a
    timer id > 0, or a negative TP_E* code. Timers with equal deadlines
    fire in the order they were set. Timers end with the actor. */
TP_EXPORT int64_t
tp_after (tp_actor *self, int ms, tp_tag_t tag, const char *fmt, ...);

/*  Sends tag (empty body) to self every ms milliseconds (setInterval)
    until cancelled. ms must be > 0. Returns a timer id > 0 or TP_E*. */
TP_EXPORT int64_t
tp_every (tp_actor *self, int ms, tp_tag_t tag);

/*  Cancels a timer of this actor. A cancelled timer never fires again
    (its message is not sent). Returns 0 or TP_ENOTFOUND (already fired
    once-only timer, or not this actor's). */
TP_EXPORT int
tp_cancel (tp_actor *self, int64_t timer);

/*  Watches `target`: when it ends, self receives _down [id, target,
    reason]. If target is already dead the notice comes at once with
    reason noproc. Returns a monitor id > 0 or a negative TP_E* code. */
TP_EXPORT int64_t
tp_monitor (tp_actor *self, tp_ref target);

/*  Removes a monitor; no _down for it arrives after this returns.
    Returns 0 or TP_ENOTFOUND. */
TP_EXPORT int
tp_demonitor (tp_actor *self, int64_t monitor);

/*  Links self and other both ways: when either ends with a reason other
    than normal, the other ends with the same reason, unless it traps
    exits, in which case it receives _exit [actor, reason] instead. Linking
    to a dead actor acts as if it ended with noproc. Returns 0 or TP_EINVAL. */
TP_EXPORT int
tp_link (tp_actor *self, tp_ref other);

/*  Removes a link both ways. Returns 0. */
TP_EXPORT int
tp_unlink (tp_actor *self, tp_ref other);

/*  Sets whether exits of linked actors arrive as _exit messages (true) or
    stop this actor (false, the default). Reason "killed" is never trapped. */
TP_EXPORT void
tp_trap_exit (tp_actor *self, bool on);

/*  Stops self with reason (0 = normal) once the current callback returns.
    Later messages are not delivered. */
TP_EXPORT void
tp_exit (tp_actor *self, tp_tag_t reason);

/*  Stops another actor with reason (0 = normal), as tp_system_stop, in
    order with the other messages this actor sent it. Returns 0. */
TP_EXPORT int
tp_stop (tp_actor *self, tp_ref target, tp_tag_t reason);

#ifdef __cplusplus
}
#endif

#endif
