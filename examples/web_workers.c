/*  examples/web_workers.c: web workers -> actors that really run in parallel.

    In Node.js one event loop never runs two callbacks at once; CPU work
    is sent to worker threads:

        const parts = os.cpus().length;
        const counts = await Promise.all([...Array(parts)].map((_, i) =>
            run(new Worker("./count_primes.js", {workerData: {i, parts}}))));
        const total = counts.reduce((a, b) => a + b);

    troupe gives you the same parallelism two ways, with the same code:

      - THREAD actors (.kind = TP_THREAD): each gets an OS thread of its
        own, exactly a web worker;
      - LOOP actors spread over the worker threads (.place =
        TP_PLACE_SPREAD puts each new actor on the worker that has the
        fewest), which is how many small actors share all the cores.

    The job: count the primes below LIMIT by trial division (about 1.1 s
    on one core of the 2-core machine it was written on). The numbers are cut into blocks of BLOCK; part i
    of K takes blocks i, i+K, i+2K, ... so every part gets a fair mix of
    small (cheap) and big (dear) numbers. A coordinator fans the parts
    out with tp_ask and sums the replies (the Promise.all of
    promise_all.c); main times one tp_call to it, first with 1 part, then
    with K = the number of cores, for both kinds of actor, and checks
    every count against a sieve. Plain pthreads doing the same split give
    the baseline: what the cores can do right now, with no troupe at all
    (if other programs keep the cores busy, every speedup drops alike).

    Note: a loop actor that computes for a second holds its worker for
    that second; other loop actors on the same worker wait. That is fine
    for this demo, where each worker runs one job; in a real program,
    long CPU work belongs in thread actors (or in small slices).

    Run: make demo-workers    (builds, then runs this program)
         build/release/examples/web_workers [limit]
*/
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <troupe/troupe.h>

#define LIMIT 7000000 /* default: count the primes below this */
#define BLOCK 10000   /* numbers per block */
#define MAX_PARTS 64
#define CALL_MS 60000 /* generous: valgrind is several times slower */

/* ------------------------------------------------------------------ */
/*  The job: pure CPU work, identical for both kinds of actor.         */

static bool
s_is_prime (uint64_t n)
{
    if (n < 2)
        return false;
    if (n < 4)
        return true;
    if (n % 2 == 0)
        return false;
    for (uint64_t d = 3; d * d <= n; d += 2)
        if (n % d == 0)
            return false;
    return true;
}

/*  Counts the primes below limit in blocks part, part+parts, ... */
static uint64_t
s_count_part (uint64_t limit, unsigned part, unsigned parts)
{
    uint64_t primes = 0;
    for (uint64_t lo = (uint64_t) part * BLOCK; lo < limit;
         lo += (uint64_t) parts * BLOCK)
        for (uint64_t n = lo; n < lo + BLOCK && n < limit; n++)
            primes += s_is_prime (n);
    return primes;
}

/*  The job actor: count(limit, part, parts) -> counted(primes) */
static void
job_receive (tp_actor *self, tp_msg *msg)
{
    uint64_t limit;
    unsigned part, parts;
    if (tp_msg_is (msg, "count")
        && tp_msg_unpack (msg, "Uuu", &limit, &part, &parts) == 0)
        tp_reply (self, msg, tp_tag ("counted"), "U",
                  s_count_part (limit, part, parts));
}

static const tp_behavior job = {.name = "job", .receive = job_receive};

/* ------------------------------------------------------------------ */
/*  The coordinator: spawns its jobs, fans out, sums, answers main.     */

typedef struct {
    tp_actor_kind kind; /* TP_THREAD or TP_LOOP for the jobs */
    int parts;          /* how many jobs */
} pool_opts_t;

typedef struct {
    tp_ref job[MAX_PARTS]; /* our jobs */
    int parts;             /* how many */
    tp_msg *req;           /* main's request, answered when all are in */
    int pending;           /* replies still to come */
    uint64_t primes;       /* their sum so far */
    bool failed;           /* a part failed or timed out */
} pool_t;

static int
pool_init (tp_actor *self, void *arg)
{
    const pool_opts_t *o = arg; /* borrowed: copy what we keep */
    pool_t *p = calloc (1, sizeof *p);
    tp_set_state (self, p);
    p->parts = o->parts;
    for (int i = 0; i < p->parts; i++) {
        /*  .link: should the pool fail (say init returns an error), the
            jobs it already made end with it instead of lingering. */
        tp_spawn_opts so = {
            .kind = o->kind, .place = TP_PLACE_SPREAD, .link = true};
        int rc = tp_spawn (tp_system_of (self), &job, NULL, &so, &p->job[i]);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/*  Frees the state, and main's request if we end before answering it. */
static void
pool_terminate (tp_actor *self, tp_tag_t reason)
{
    pool_t *p = tp_state (self);
    if (!p)
        return;
    tp_msg_destroy (&p->req);
    free (p);
}

static void
s_on_part (tp_actor *self, int status, tp_msg *reply, void *arg)
{
    pool_t *p = tp_state (self);
    uint64_t n;
    if (status == 0 && tp_msg_unpack (reply, "U", &n) == 0)
        p->primes += n;
    else
        p->failed = true;
    if (--p->pending > 0)
        return;
    /*  Last part: answer main, then stop the jobs and ourselves, so the
        next measurement starts on empty workers. */
    if (p->failed)
        tp_reply (self, p->req, tp_tag ("failed"), "");
    else
        tp_reply (self, p->req, tp_tag ("primes"), "U", p->primes);
    tp_msg_destroy (&p->req);
    for (int i = 0; i < p->parts; i++)
        tp_stop (self, p->job[i], 0);
    tp_exit (self, 0);
}

static void
pool_receive (tp_actor *self, tp_msg *msg)
{
    pool_t *p = tp_state (self);
    uint64_t limit;
    if (!tp_msg_is (msg, "count") || p->req
        || tp_msg_unpack (msg, "U", &limit) != 0)
        return;
    p->req = tp_msg_dup (msg); /* answered in s_on_part */
    for (int i = 0; i < p->parts; i++) {
        if (tp_ask (self, p->job[i], tp_tag ("count"), CALL_MS, s_on_part,
                    NULL, "Uuu", limit, (unsigned) i, (unsigned) p->parts)
            == 0)
            p->pending++;
        else
            p->failed = true;
    }
    if (p->pending == 0) {
        tp_reply (self, p->req, tp_tag ("failed"), "");
        tp_exit (self, 0);
    }
}

static const tp_behavior pool = {.name = "pool",
                                 .init = pool_init,
                                 .receive = pool_receive,
                                 .terminate = pool_terminate};

/* ------------------------------------------------------------------ */
/*  main: run, time, compare                                           */

static double
s_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + ts.tv_nsec / 1e9;
}

/*  Counts the primes below limit with `parts` jobs of the given kind.
    Sets *secs to the wall time of the call. Returns the count, or -1. */
static int64_t
s_run (tp_system *sys, tp_actor_kind kind, int parts, uint64_t limit,
       double *secs)
{
    pool_opts_t o = {kind, parts};
    tp_ref p;
    /*  The pool is a thread actor: it only waits, and off the workers it
        does not count when TP_PLACE_SPREAD balances the loop jobs. */
    tp_spawn_opts so = {.kind = TP_THREAD};
    if (tp_spawn (sys, &pool, &o, &so, &p) != 0)
        return -1;
    tp_msg *reply = NULL;
    double t0 = s_now ();
    int rc = tp_call (sys, p, tp_tag ("count"), CALL_MS, &reply, "U", limit);
    *secs = s_now () - t0;
    uint64_t primes = 0;
    if (rc == 0 && (!tp_msg_is (reply, "primes")
                    || tp_msg_unpack (reply, "U", &primes) != 0))
        rc = TP_EMISMATCH;
    tp_msg_destroy (&reply);
    /*  pool_init borrows o, which lives on this stack frame: wait until
        the pool and its jobs have ended before returning. */
    if (tp_system_wait (sys, CALL_MS) != 0 || rc != 0) {
        fprintf (stderr, "web_workers: run failed: %s\n", tp_strerror (rc));
        return -1;
    }
    return (int64_t) primes;
}

/*  The baseline: the same parts on plain pthreads, no troupe. */
typedef struct {
    pthread_t thread;
    uint64_t limit, primes;
    unsigned part, parts;
} s_plain_t;

static void *
s_plain_main (void *arg)
{
    s_plain_t *t = arg;
    t->primes = s_count_part (t->limit, t->part, t->parts);
    return NULL;
}

static int64_t
s_run_plain (int parts, uint64_t limit, double *secs)
{
    s_plain_t t[MAX_PARTS];
    uint64_t primes = 0;
    int started = 0;
    double t0 = s_now ();
    for (int i = 0; i < parts; i++) {
        t[i] = (s_plain_t){.limit = limit, .part = (unsigned) i,
                           .parts = (unsigned) parts};
        if (pthread_create (&t[i].thread, NULL, s_plain_main, &t[i]) == 0)
            started++;
    }
    for (int i = 0; i < started; i++) {
        pthread_join (t[i].thread, NULL);
        primes += t[i].primes;
    }
    *secs = s_now () - t0;
    return started == parts ? (int64_t) primes : -1;
}

/*  The reference answer, computed the fast way (sieve of Eratosthenes). */
static int64_t
s_sieve (uint64_t limit)
{
    char *composite = calloc (limit + 1, 1);
    if (!composite)
        return -1;
    int64_t n = 0;
    for (uint64_t i = 2; i < limit; i++) {
        if (composite[i])
            continue;
        n++;
        for (uint64_t j = i * i; j < limit; j += i)
            composite[j] = 1;
    }
    free (composite);
    return n;
}

int
main (int argc, char **argv)
{
    uint64_t limit = argc > 1 ? strtoull (argv[1], NULL, 10) : LIMIT;
    long cores = sysconf (_SC_NPROCESSORS_ONLN);
    int k = cores < 1 ? 1 : cores > MAX_PARTS ? MAX_PARTS : (int) cores;
    if (limit < 2) {
        fprintf (stderr, "usage: web_workers [limit >= 2]\n");
        return 2;
    }
    /*  Default options: one worker thread per core for loop actors. */
    tp_system *sys = tp_system_new (NULL);
    if (!sys)
        return 1;
    int64_t expect = s_sieve (limit);

    printf ("web_workers: count the primes below %llu by trial division\n",
            (unsigned long long) limit);
    printf ("machine: %ld core%s; troupe: %d worker thread%s for loop "
            "actors\n\n",
            cores, cores == 1 ? "" : "s", tp_system_workers (sys),
            tp_system_workers (sys) == 1 ? "" : "s");
    printf ("  %-14s %7s %10s %10s %9s\n", "actors", "workers", "time (s)",
            "primes", "speedup");
    printf ("  %-14s %7s %10s %10s %9s\n", "--------------", "-------",
            "--------", "--------", "-------");

    /*  kind -1 is the pthread baseline. */
    static const struct {
        int kind;
        const char *name;
    } kinds[] = {{-1, "plain pthreads"},
                 {TP_THREAD, "thread actors"},
                 {TP_LOOP, "loop actors"}};
    double t1[3] = {0, 0, 0}, tk[3] = {0, 0, 0};
    bool agree = true;
    for (int i = 0; i < 3; i++) {
        int n[2] = {1, k};
        for (int j = 0; j < (k > 1 ? 2 : 1); j++) {
            double secs = 0;
            int64_t got = kinds[i].kind < 0
                              ? s_run_plain (n[j], limit, &secs)
                              : s_run (sys, (tp_actor_kind) kinds[i].kind,
                                       n[j], limit, &secs);
            if (j == 0)
                t1[i] = secs;
            tk[i] = secs;
            agree = agree && got == expect;
            printf ("  %-14s %7d %10.3f %10lld %8.2fx%s\n", kinds[i].name,
                    n[j], secs, (long long) got, t1[i] / secs,
                    got == expect ? "" : "  WRONG");
        }
    }
    tp_system_destroy (&sys);

    printf ("\n");
    for (int i = 0; i < 3; i++)
        printf ("%-14s 1 -> %d workers: %.2fx speedup (%.3f s -> %.3f s)%s\n",
                kinds[i].name, k, t1[i] / tk[i], t1[i], tk[i],
                i == 0 ? "  [baseline]" : "");
    if (k == 1)
        printf ("(one core: nothing to run in parallel, so no speedup)\n");
    printf ("%s: %lld primes below %llu in every run (sieve agrees)\n",
            agree ? "ok" : "FAILED", (long long) expect,
            (unsigned long long) limit);
    return agree ? 0 : 1;
}
