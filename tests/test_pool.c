/*  tests/test_pool.c: actors/pool: results by ask, least-loaded and
    round-robin dispatch, a bounded queue, workers that die replaced and
    their jobs retried, stats, and the speed-up of CPU-bound jobs. */
#include <criterion/criterion.h>
#include <time.h>

#include "pool.h"
#include "testutil.h"

/* ---- the worker: "sq" [i n] -> "sq" [i n*n]; "spin" [i ms] busy for ms,
   then "spun" [i worker index]; "die" ends it with reason boom; every
   worker counts its jobs in g_jobs[] by a slot it takes at init -------- */

static _Atomic long g_jobs[16];
static _Atomic int g_slots;
static _Atomic long g_inits;
static _Atomic long g_release; /* lets "hold" jobs end */

static int
w_init (tp_actor *self, void *arg)
{
    (void) arg;
    int *slot = malloc (sizeof *slot);
    *slot = atomic_fetch_add (&g_slots, 1) % 16;
    tp_set_state (self, slot);
    tt_add (&g_inits, 1);
    return 0;
}

static void
s_spin_ms (int ms)
{
    struct timespec t0, t;
    clock_gettime (CLOCK_MONOTONIC, &t0);
    do
        clock_gettime (CLOCK_MONOTONIC, &t);
    while ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000
           < ms);
}

static void
w_receive (tp_actor *self, tp_msg *msg)
{
    int *slot = tp_state (self);
    int n;
    if (tp_msg_is (msg, "sq") && tp_msg_unpack (msg, "i", &n) == 0) {
        atomic_fetch_add (&g_jobs[*slot], 1);
        tp_reply (self, msg, tp_tag ("sq"), "i", n * n);
    }
    else if (tp_msg_is (msg, "spin") && tp_msg_unpack (msg, "i", &n) == 0) {
        atomic_fetch_add (&g_jobs[*slot], 1);
        s_spin_ms (n);
        tp_reply (self, msg, tp_tag ("spun"), "i", *slot);
    }
    else if (tp_msg_is (msg, "hold") && tp_msg_unpack (msg, "i", &n) == 0) {
        /* busy the way a blocking call is: waiting, not on a core, until
           the test lets it go (g_release), within n ms */
        atomic_fetch_add (&g_jobs[*slot], 1);
        TT_CHECK (tt_wait_ge (&g_release, 1, n));
        tp_reply (self, msg, tp_tag ("spun"), "i", *slot);
    }
    else if (tp_msg_is (msg, "die"))
        tp_exit (self, tp_tag ("boom"));
}

static void
w_terminate (tp_actor *self, tp_tag_t reason)
{
    (void) reason;
    free (tp_state (self));
}

static const tp_behavior worker_b = {"worker", w_init, w_receive,
                                     w_terminate};

static _Atomic char g_seen[4096];

static void
s_reset (void)
{
    for (int i = 0; i < 4096; i++)
        atomic_store (&g_seen[i], 0);
    for (int i = 0; i < 16; i++)
        atomic_store (&g_jobs[i], 0);
    atomic_store (&g_slots, 0);
    atomic_store (&g_inits, 0);
    atomic_store (&g_release, 0);
}

/*  The caller: on "go" [r pool, s tag, i n, i arg] asks the pool n times
    at once; counts answers and errors. */
typedef struct {
    _Atomic long ok, errors, other, sum, done;
    _Atomic long err_code;
    uint64_t t0, t1;
} caller_rec;

static void
s_cont (tp_actor *self, int status, tp_msg *reply, void *arg)
{
    (void) self;
    caller_rec *r = arg;
    int v = 0;
    if (status == 0 && tp_msg_is (reply, "error")
        && tp_msg_unpack (reply, "i", &v) == 0) {
        atomic_store (&r->err_code, v);
        tt_add (&r->errors, 1);
    }
    else if (status == 0 && tp_msg_unpack (reply, "i", &v) == 0) {
        atomic_fetch_add (&r->sum, v);
        tt_add (&r->ok, 1);
    }
    else
        tt_add (&r->other, 1);
    r->t1 = tt_now_ms ();
    tt_add (&r->done, 1);
}

static void
caller_receive (tp_actor *self, tp_msg *msg)
{
    caller_rec *r = tp_arg (self);
    tp_ref pool;
    const char *tag;
    size_t len;
    int n, a;
    if (!tp_msg_is (msg, "go")
        || tp_msg_unpack (msg, "rsii", &pool, &tag, &len, &n, &a) != 0)
        return;
    char t[16];
    snprintf (t, sizeof t, "%.*s", (int) len, tag);
    r->t0 = tt_now_ms ();
    for (int i = 0; i < n; i++)
        TT_CHECK (tp_ask (self, pool, tp_tag (t), 60000, s_cont, r, "i",
                          a >= 0 ? a : i)
                  == 0);
}
static const tp_behavior caller_b = {"caller", NULL, caller_receive, NULL};

static tp_ref
s_caller (tp_system *sys, caller_rec *r, tp_ref pool, const char *tag, int n,
          int arg)
{
    tp_ref c;
    cr_assert_eq (tp_spawn (sys, &caller_b, r, NULL, &c), 0);
    cr_assert_eq (tp_send (sys, c, tp_tag ("go"), "rsii", pool, tag, n, arg),
                  0);
    return c;
}

Test (pool, answers_every_job_by_ask, .timeout = 60)
{
    tp_system *sys = tp_system_new (NULL);
    s_reset ();
    tp_pool_opts po = {.behavior = &worker_b, .size = 4};
    tp_ref pool;
    cr_assert_eq (tp_pool_start (sys, &po, NULL, &pool), 0);
    caller_rec r = {0};
    s_caller (sys, &r, pool, "sq", 1000, -1);
    cr_assert (tt_wait_ge (&r.done, 1000, 20000));
    cr_log_info ("pool: 1000 asks through a pool of 4 loop workers, from "
                 "one actor: %llu ms from the first ask to the last answer\n",
                 (unsigned long long) (r.t1 - r.t0));
    long want = 0;
    for (long i = 0; i < 1000; i++)
        want += i * i;
    cr_assert_eq (atomic_load (&r.ok), 1000);
    cr_assert_eq (atomic_load (&r.sum), want);
    /* from main too */
    tp_msg *m = NULL;
    cr_assert_eq (tp_call (sys, pool, tp_tag ("sq"), tt_ms (5000), &m, "i", 12),
                  0);
    int v = 0;
    cr_assert_eq (tp_msg_unpack (m, "i", &v), 0);
    cr_assert_eq (v, 144);
    tp_msg_destroy (&m);
    tp_pool_stats st;
    cr_assert_eq (tp_pool_stats_get (sys, pool, &st, tt_ms (5000)), 0);
    cr_assert_eq (st.submitted, 1001);
    cr_assert_eq (st.done, 1001);
    cr_assert_eq (st.failed, 0);
    cr_assert_eq (st.size, 4);
    cr_assert_eq (st.queued, 0);
    int used = 0;
    for (int i = 0; i < 16; i++)
        used += atomic_load (&g_jobs[i]) > 0;
    cr_assert_eq (used, 4, "every worker took jobs");
    tp_system_destroy (&sys);
    TT_NO_FAILURES ();
}

/*  Least loaded: a worker stuck in a long job gets no more; the others
    take the rest. */
Test (pool, least_loaded_skips_a_busy_worker, .timeout = 60)
{
    tp_system_opts so = {.workers = 2};
    tp_system *sys = tp_system_new (&so);
    s_reset ();
    tp_pool_opts po = {.behavior = &worker_b, .size = 2,
                       .worker = {.kind = TP_THREAD}};
    tp_ref pool;
    cr_assert_eq (tp_pool_start (sys, &po, NULL, &pool), 0);
    cr_assert (tt_wait_ge (&g_inits, 2, 5000));
    caller_rec slow = {0}, fast = {0};
    s_caller (sys, &slow, pool, "hold", 1, 10000); /* held (the wait scales itself) */
    /* (wait until it runs: one worker is busy) */
    uint64_t t0 = tt_now_ms ();
    for (;;) {
        tp_pool_stats st;
        cr_assert_eq (tp_pool_stats_get (sys, pool, &st, tt_ms (5000)), 0);
        if (st.busy == 1)
            break;
        cr_assert_lt (tt_now_ms () - t0, (uint64_t) tt_ms (5000));
    }
    s_caller (sys, &fast, pool, "spin", 20, 1);
    cr_assert (tt_wait_ge (&fast.done, 20, 20000));
    cr_assert_eq (atomic_load (&slow.done), 0,
                  "the held job ended before it was let go");
    tt_set (&g_release, 1);
    cr_assert (tt_wait_ge (&slow.done, 1, 10000));
    cr_assert_eq (atomic_load (&slow.ok), 1, "the held job failed");
    tp_system_destroy (&sys);
    TT_NO_FAILURES ();
}

Test (pool, a_full_queue_answers_efull_at_once, .timeout = 60)
{
    tp_system *sys = tp_system_new (NULL);
    s_reset ();
    tp_pool_opts po = {.behavior = &worker_b, .size = 1, .max_queue = 10,
                       .worker = {.kind = TP_THREAD}};
    tp_ref pool;
    cr_assert_eq (tp_pool_start (sys, &po, NULL, &pool), 0);
    caller_rec r = {0};
    /* 1 running + 10 queued; the other 9 are refused */
    s_caller (sys, &r, pool, "spin", 20, 50);
    cr_assert (tt_wait_ge (&r.done, 20, 20000));
    cr_assert_eq (atomic_load (&r.errors), 9);
    cr_assert_eq (atomic_load (&r.err_code), TP_EFULL);
    cr_assert_eq (atomic_load (&r.ok), 11);
    tp_system_destroy (&sys);
    TT_NO_FAILURES ();
}

/*  Workers that die mid-job are replaced and the job is given again:
    every caller gets its answer. Job n kills its worker the first time
    it runs when n is a multiple of g_die_every (every time when that is
    1), so each such job is retried exactly once. */
static _Atomic long g_die_every;

static void
flaky_receive (tp_actor *self, tp_msg *msg)
{
    int *slot = tp_state (self);
    int n;
    if (tp_msg_is (msg, "sq") && tp_msg_unpack (msg, "i", &n) == 0) {
        atomic_fetch_add (&g_jobs[*slot], 1);
        long every = atomic_load (&g_die_every);
        if (n % every == 0
            && (every == 1 || !atomic_exchange (&g_seen[n % 4096], 1))) {
            tp_exit (self, tp_tag ("boom")); /* mid-job, unanswered */
            return;
        }
        tp_reply (self, msg, tp_tag ("sq"), "i", n * n);
    }
}
static const tp_behavior flaky_worker_b = {"flaky", w_init, flaky_receive,
                                           w_terminate};

Test (pool, dead_workers_are_replaced_and_their_jobs_retried, .timeout = 60)
{
    tp_system *sys = tp_system_new (NULL);
    s_reset ();
    atomic_store (&g_die_every, 7);
    tp_pool_opts po = {.behavior = &flaky_worker_b, .size = 3,
                       .max_retries = 3, .max_restarts = 10000};
    tp_ref pool;
    cr_assert_eq (tp_pool_start (sys, &po, NULL, &pool), 0);
    caller_rec r = {0};
    s_caller (sys, &r, pool, "sq", 2000, -1);
    cr_assert (tt_wait_ge (&r.done, 2000, 30000), "%ld of 2000",
               atomic_load (&r.done));
    long want = 0;
    for (long i = 0; i < 2000; i++)
        want += i * i;
    cr_assert_eq (atomic_load (&r.ok), 2000, "%ld errors, %ld other",
                  atomic_load (&r.errors), atomic_load (&r.other));
    cr_assert_eq (atomic_load (&r.sum), want);
    tp_pool_stats st;
    cr_assert_eq (tp_pool_stats_get (sys, pool, &st, tt_ms (5000)), 0);
    cr_assert_eq (st.restarts, 286, "jobs 0, 7, ... 1995 kill a worker");
    cr_assert_eq (st.retried, 286, "each of them given again once");
    cr_log_info ("pool: 2000 jobs, %llu worker deaths, %llu jobs retried, "
                 "all answered\n",
                 (unsigned long long) st.restarts,
                 (unsigned long long) st.retried);
    tp_system_destroy (&sys);
    TT_NO_FAILURES ();
}

Test (pool, a_job_that_kills_every_worker_fails_after_its_retries,
      .timeout = 60)
{
    tp_system *sys = tp_system_new (NULL);
    s_reset ();
    atomic_store (&g_die_every, 1); /* every job kills its worker */
    tp_pool_opts po = {.behavior = &flaky_worker_b, .size = 2,
                       .max_retries = 2};
    tp_ref pool;
    cr_assert_eq (tp_pool_start (sys, &po, NULL, &pool), 0);
    tp_msg *m = NULL;
    cr_assert_eq (tp_call (sys, pool, tp_tag ("sq"), tt_ms (10000), &m, "i", 3),
                  0);
    int code = 0;
    cr_assert (tp_msg_is (m, "error"));
    cr_assert_eq (tp_msg_unpack (m, "i", &code), 0);
    cr_assert_eq (code, TP_EDOWN);
    tp_msg_destroy (&m);
    tp_pool_stats st;
    cr_assert_eq (tp_pool_stats_get (sys, pool, &st, tt_ms (5000)), 0);
    cr_assert_eq (st.retried, 2);
    cr_assert_eq (st.failed, 1);
    tp_system_destroy (&sys);
    TT_NO_FAILURES ();
}

Test (pool, bad_options_are_refused)
{
    tp_system *sys = tp_system_new (NULL);
    tp_pool_opts po = {0};
    tp_ref pool;
    cr_assert_eq (tp_pool_start (sys, &po, NULL, &pool), TP_EINVAL);
    po.behavior = &worker_b;
    po.size = -1;
    cr_assert_eq (tp_pool_start (sys, &po, NULL, &pool), TP_EINVAL);
    po.size = 1;
    po.worker.kind = TP_PROCESS; /* without a module */
    cr_assert_eq (tp_pool_start (sys, &po, NULL, &pool), TP_EINVAL);
    tp_system_destroy (&sys);
}

/*  16 jobs of 40 ms of CPU on a pool of one, then of two thread workers:
    the speed-up is printed (the target is in make bench, not here). */
Test (pool, cpu_bound_jobs_run_in_parallel, .timeout = 60)
{
    double secs[2];
    for (int k = 0; k < 2; k++) {
        tp_system_opts so = {.workers = 2};
        tp_system *sys = tp_system_new (&so);
        s_reset ();
        tp_pool_opts po = {.behavior = &worker_b, .size = k + 1,
                           .worker = {.kind = TP_THREAD}};
        tp_ref pool;
        cr_assert_eq (tp_pool_start (sys, &po, NULL, &pool), 0);
        cr_assert (tt_wait_ge (&g_inits, k + 1, 5000));
        caller_rec r = {0};
        s_caller (sys, &r, pool, "spin", 16, 40);
        cr_assert (tt_wait_ge (&r.done, 16, 20000));
        cr_assert_eq (atomic_load (&r.ok), 16);
        secs[k] = (double) (r.t1 - r.t0) / 1000.0;
        tp_system_destroy (&sys);
    }
    cr_log_info ("pool: 16 x 40 ms jobs: %.3f s on 1 worker, %.3f s on 2 "
                 "(%.2fx)\n",
                 secs[0], secs[1], secs[0] / secs[1]);
    TT_NO_FAILURES ();
}
