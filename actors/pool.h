/*  actors/pool.h: a worker pool (Node's Piscina, Akka's routers).

    A pool is an actor that owns N workers (loop, thread or process
    actors, all of one behaviour or module) and hands each request it is
    asked to one of them:

        tp_pool_opts po = {.behavior = &resize_b, .size = 4,
                           .worker = {.kind = TP_THREAD}};
        tp_ref pool;
        tp_pool_start (sys, &po, NULL, &pool);
        ... tp_ask (self, pool, tp_tag ("resize"), 5000, cont, arg, "s", path)

    - A request (made with tp_ask or tp_call; any tag but the pool's own
      ones below) is queued, then given to a free worker: the least
      loaded one (TP_POOL_LEAST_LOADED, default: a worker runs at most
      `per_worker` jobs at once, default 1) or the next one in turn
      (TP_POOL_ROUND_ROBIN, no limit per worker). The worker answers it
      as it would any request (tp_reply); the caller gets that answer.
      Tells (not requests) go to the next worker in turn.
    - The queue is bounded (`max_queue`, default 10000): past it, the
      request is answered at once with "error" [i TP_EFULL] — callers see
      it, nothing is dropped silently.
    - A worker that ends is replaced (a new one spawned, at most
      `max_restarts` in 5 s, then the pool ends with reason shutdown);
      its jobs in flight are given again to another worker, up to
      `max_retries` times each (default 1), then answered with "error"
      [i TP_EDOWN]. Jobs must therefore be safe to run twice.
    - Requests to the pool itself:
        pool_stats -> "pool_stats" [U submitted, U done, U failed,
                                    U retried, U restarts, i size,
                                    i busy, i queued]
      (busy: workers running a job now; utilisation is busy / size).

    The answer passes through the pool (it asks the worker for the
    caller): one more local hop for the reply, and the pool knows at once
    that the worker is free and whether the job failed.

    Built only on the public API. The pool's workers are linked to it:
    a pool that ends takes them with it.
*/
#ifndef TP_POOL_H_INCLUDED
#define TP_POOL_H_INCLUDED

#include <stdint.h>

#include "actor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    TP_POOL_LEAST_LOADED = 0,
    TP_POOL_ROUND_ROBIN
} tp_pool_dispatch;

typedef struct tp_pool_opts {
    const tp_behavior *behavior; /* the workers' (borrowed; NULL for
                                    process workers: worker.module) */
    void *arg;                   /* each worker's spawn arg (borrowed) */
    tp_spawn_opts worker;        /* kind, capacity, module, config; name
                                    and link are ignored */
    int size;                    /* workers: 0 = one per worker thread */
    tp_pool_dispatch dispatch;
    int per_worker;              /* jobs at once per worker (least
                                    loaded): 0 = 1 */
    uint32_t max_queue;          /* queued jobs: 0 = 10000 */
    int max_retries;             /* times a job is given again after its
                                    worker died: 0 = 1, -1 = never */
    int max_restarts;            /* worker replacements in 5 s: 0 = 100 */
    int job_timeout_ms;          /* per job (then "error" [i
                                    TP_ETIMEDOUT]): 0 = none */
} tp_pool_opts;

/*  Starts a pool with opts (copied) as an actor with spawn options
    spawn (NULL: defaults; a name registers the pool); its workers start
    at once. On success *ref is the pool's ref. Returns tp_spawn's codes,
    TP_EINVAL for bad options. Safe from any thread. */
TP_EXPORT int
tp_pool_start (tp_system *sys, const tp_pool_opts *opts,
               const tp_spawn_opts *spawn, tp_ref *ref);

typedef struct tp_pool_stats {
    uint64_t submitted, done, failed, retried, restarts;
    int size, busy, queued;
} tp_pool_stats;

/*  Fills *st from the pool (a tp_call: from a foreign thread or a thread
    actor). Returns 0 or a tp_call error. */
TP_EXPORT int
tp_pool_stats_get (tp_system *sys, tp_ref pool, tp_pool_stats *st,
                   int timeout_ms);

#ifdef __cplusplus
}
#endif

#endif
