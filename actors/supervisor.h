/*  actors/supervisor.h: supervisors, the OTP way ("let it crash").

    A supervisor is an actor that starts its children from specifications,
    watches them (it links to each and traps exits) and restarts them when
    they end, by a strategy:

      TP_ONE_FOR_ONE   only the child that ended is restarted;
      TP_ONE_FOR_ALL   every other child is stopped (in reverse start
                       order), then all are started again (in order);
      TP_REST_FOR_ONE  the children started after the one that ended are
                       stopped (in reverse order), then it and they are
                       started again (in order).

    Whether a child that ended is restarted depends on its restart type:
    TP_PERMANENT always; TP_TRANSIENT only if its reason was not normal or
    shutdown; TP_TEMPORARY never (its specification is dropped).

    Restart intensity: if more than `intensity` restarts happen within
    `period_ms`, the supervisor gives up: it stops every child (in reverse
    order) and ends with reason shutdown, and its own supervisor (it is a
    child like any other) decides what happens next.

    Children start in order when the supervisor starts; on a stop they
    are stopped in reverse order: each gets a stop with reason shutdown
    and `shutdown_ms` to end, then a stop with reason killed (which no
    actor can trap). A loop actor that is inside a long callback ends
    when the callback returns: C cannot preempt it.

    Supervisors nest: a child specification whose behavior is
    &tp_supervisor_behavior and whose arg points at a tp_sup_spec is a
    supervisor of its own (stopped in order, as a whole subtree).

    Names: a child spawned with opts.name is registered again when it is
    restarted. Between its end and its restart (the time for its _exit to
    reach the supervisor and a spawn: microseconds on an idle machine) the
    name resolves to nothing and messages sent to its old ref are dead
    letters (asks fail at once with TP_EDOWN). Look names up again after
    TP_EDOWN.

    Every restart and every give-up is logged (tp_log, info and error)
    with the child id, the reason and the count.

    Children on other nodes (started through a node daemon) are not
    supervised yet.

    Built only on the public API (troupe.h); all of it runs inside the
    supervisor actor, so the calls below are safe from any foreign thread.
*/
#ifndef TP_SUPERVISOR_H_INCLUDED
#define TP_SUPERVISOR_H_INCLUDED

#include <stddef.h>

#include "actor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    TP_PERMANENT = 0, /* always restarted */
    TP_TRANSIENT,     /* restarted unless it ended normal or shutdown */
    TP_TEMPORARY      /* never restarted; forgotten when it ends */
} tp_restart;

typedef enum {
    TP_ONE_FOR_ONE = 0,
    TP_ONE_FOR_ALL,
    TP_REST_FOR_ONE
} tp_strategy;

/*  Longest child id (bytes, without the NUL). */
#define TP_CHILD_ID_MAX 63

typedef struct tp_child_spec {
    const char *id;              /* unique in its supervisor; copied */
    const tp_behavior *behavior; /* borrowed: must outlive the supervisor
                                    (NULL for a TP_PROCESS child: its
                                    opts.module names it) */
    void *arg;                   /* given to init at each start; borrowed */
    tp_spawn_opts opts;          /* kind, placement, capacity, name (copied);
                                    .link is set by the supervisor */
    tp_restart restart;
    int shutdown_ms;             /* time to end after shutdown before
                                    killed: 0 = 5000, -1 = no limit */
} tp_child_spec;

typedef struct tp_sup_spec {
    tp_strategy strategy;
    int intensity;                  /* restarts allowed in a period: 0 = 3,
                                       -1 = none (the first end gives up) */
    int period_ms;                  /* 0 = 5000 */
    const tp_child_spec *children;  /* started in this order; copied */
    size_t nchildren;
} tp_sup_spec;

/*  The supervisor's behaviour; its spawn arg is a const tp_sup_spec *,
    copied in init (so a child spec may point at a spec that lives as long
    as that child spec). init fails (reason init) on an invalid spec or if
    a child cannot be spawned (the children started so far end with it). */
TP_EXPORT extern const tp_behavior tp_supervisor_behavior;

/*  Starts a supervisor for spec (copied; the behaviours it names are
    borrowed) with spawn options opts (NULL: defaults; a name registers
    the supervisor). On success *ref is its ref; its children start in
    order on its own thread. Returns what tp_spawn returns, or TP_EINVAL
    for a spec with no valid child ids or behaviours (checked here too).
    Safe from any thread, including actors. */
TP_EXPORT int
tp_supervisor_start (tp_system *sys, const tp_sup_spec *spec,
                     const tp_spawn_opts *opts, tp_ref *ref);

/*  Adds a child to a running supervisor and starts it (dynamic
    children). spec is copied. On success *child (if not NULL) is its ref.
    Returns 0, TP_EEXIST (that id is taken), TP_EINVAL, the tp_spawn
    error, or a tp_call error (TP_EDOWN: no such supervisor). Blocking:
    from a foreign thread only (TP_ESTATE from an actor; actors send the
    request "sup_start" [U (uintptr_t) spec] with tp_ask, answered "ok"
    [r child] or "error" [i rc], the spec read before the answer). */
TP_EXPORT int
tp_supervisor_start_child (tp_system *sys, tp_ref sup,
                           const tp_child_spec *spec, int timeout_ms,
                           tp_ref *child);

/*  Stops child `id` (shutdown, then killed after its shutdown_ms) and
    forgets its specification; returns when it has ended. Returns 0,
    TP_ENOTFOUND, or a tp_call error. From a foreign thread (actors: the
    request "sup_term" [s id], answered "ok" or "error" [i rc]). */
TP_EXPORT int
tp_supervisor_terminate_child (tp_system *sys, tp_ref sup, const char *id,
                               int timeout_ms);

typedef struct tp_child_info {
    char id[TP_CHILD_ID_MAX + 1];
    tp_ref ref;        /* nil while it is not running */
    uint32_t restarts; /* times this child was started again */
} tp_child_info;

/*  Writes up to cap children (in start order) into out and sets *n to how
    many the supervisor has (may exceed cap); *restarts (if not NULL) to
    the restarts it made in all. Returns 0 or a tp_call error. From a
    foreign thread (actors: the request "sup_which", answered
    "children" [U restarts, i n, then n x [s id, s ref text, u restarts]]). */
TP_EXPORT int
tp_supervisor_which_children (tp_system *sys, tp_ref sup, tp_child_info *out,
                              size_t cap, size_t *n, uint64_t *restarts,
                              int timeout_ms);

/*  Stops the supervisor in order: its children in reverse start order
    (each as terminate_child does), then itself with reason shutdown; and
    waits for that. Returns 0 or a tp_call error. From a foreign thread
    (actors: the request "sup_halt", answered "ok" just before it ends).
    A plain tp_stop also ends the supervisor; its children then end
    through their links, all at once rather than in order. */
TP_EXPORT int
tp_supervisor_stop (tp_system *sys, tp_ref sup, int timeout_ms);

#ifdef __cplusplus
}
#endif

#endif
