/*  bench/troupe_bench.c: troupe's side of `make bench` (see CONTRACT.md).

    Usage: troupe_bench <workload> [--n N] [--senders S] [--actors A]
                        [--hops H] [--tasks T] [--fib F] [--variant V]
    Prints CSV rows: workload,system,variant,metric,value,unit.

    Every workload is built only on the public API. The finishing actor
    takes the end time itself, so main's polling does not blur it.
*/
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <troupe/troupe.h>

#include "bench.h"

tb_params P = {0, 0, 1000, 1000000, 8, 32, NULL};

double
tb_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec * 1e-9;
}

_Atomic uint32_t g_done; /* a futex word */
double g_t0, g_t1;

void
tb_finish (void)
{
    g_t1 = tb_now ();
    atomic_store (&g_done, 1);
    syscall (SYS_futex, &g_done, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/*  Waits for g_done, asleep on it (a timer in the main thread would wake
    it every millisecond during the measurement); bounded: a benchmark
    that hangs is a failure. */
int
tb_wait_done (int seconds)
{
    double end = tb_now () + seconds;
    while (!atomic_load (&g_done)) {
        double left = end - tb_now ();
        if (left <= 0) {
            fprintf (stderr, "troupe_bench: timed out\n");
            return -1;
        }
        struct timespec ts = {(time_t) left,
                              (long) ((left - (double) (time_t) left) * 1e9)};
        syscall (SYS_futex, &g_done, FUTEX_WAIT_PRIVATE, 0, &ts, NULL, 0);
    }
    return 0;
}

tp_system *
tb_sys (int workers)
{
    tp_system_opts o = {.workers = workers};
    tp_system *sys = tp_system_new (&o);
    if (!sys) {
        fprintf (stderr, "troupe_bench: tp_system_new failed\n");
        exit (2);
    }
    atomic_store (&g_done, 0);
    return sys;
}

bool
tb_want (const char *variant)
{
    return !P.variant || strcmp (P.variant, variant) == 0;
}

void
tb_row (const char *wl, const char *variant, const char *metric, double v,
       const char *unit)
{
    printf ("%s,troupe,%s,%s,%.0f,%s\n", wl, variant, metric, v, unit);
    fflush (stdout);
}

void
tb_row_f (const char *wl, const char *variant, const char *metric, double v,
         const char *unit)
{
    printf ("%s,troupe,%s,%s,%.3f,%s\n", wl, variant, metric, v, unit);
    fflush (stdout);
}

tp_spawn_opts
tb_on (int worker)
{
    tp_spawn_opts o = {.place = TP_PLACE_WORKER, .worker = worker};
    return o;
}

static const tp_spawn_opts thread_opts = {.kind = TP_THREAD};

static int s_remote (const char *workload, const char *kind);

/* ---- pingpong ------------------------------------------------------ */

static tp_tag_t T_PING, T_PONG, T_GO, T_CNT, T_TOK, T_JOB, T_RES, T_HI;

typedef struct {
    tp_ref peer;
    long left;
} pp_state;

static void
pp_receive (tp_actor *self, tp_msg *msg)
{
    pp_state *s = tp_arg (self);
    int v = 0;
    if (tp_msg_tag (msg) == T_GO) {
        g_t0 = tb_now ();
        tp_tell (self, s->peer, T_PING, "i", 0);
        return;
    }
    tp_msg_unpack (msg, "i", &v);
    if (tp_msg_tag (msg) == T_PING) {
        tp_tell (self, tp_msg_from (msg), T_PONG, "i", v);
        return;
    }
    if (--s->left == 0) {
        tb_finish ();
        return;
    }
    tp_tell (self, s->peer, T_PING, "i", v + 1);
}

static const tp_behavior pp_b = {"pingpong", NULL, pp_receive, NULL};

static int
s_pingpong_one (const char *variant, int workers, const tp_spawn_opts *oa,
                const tp_spawn_opts *ob)
{
    if (!tb_want (variant))
        return 0;
    tp_system *sys = tb_sys (workers);
    pp_state a = {.left = P.n}, b = {0};
    tp_ref ra, rb;
    tp_spawn (sys, &pp_b, &b, ob, &rb);
    a.peer = rb;
    tp_spawn (sys, &pp_b, &a, oa, &ra);
    tp_send (sys, ra, T_GO, NULL);
    int rc = tb_wait_done (120);
    if (rc == 0)
        tb_row ("pingpong", variant, "roundtrips_per_s",
               (double) P.n / (g_t1 - g_t0), "1/s");
    tp_system_destroy (&sys);
    return rc;
}

static int
s_pingpong (void)
{
    if (!P.n)
        P.n = 200000;
    tp_spawn_opts w0 = tb_on (0), w1 = tb_on (1);
    int rc = 0;
    rc |= s_pingpong_one ("loop-1worker", 1, &w0, &w0);
    rc |= s_pingpong_one ("loop-2workers", 2, &w0, &w1);
    rc |= s_pingpong_one ("thread", 1, &thread_opts, &thread_opts);
    rc |= s_remote ("pingpong", "ipc");
    rc |= s_remote ("pingpong", "tcp");
    return rc;
}

/* ---- counting ------------------------------------------------------ */

typedef struct {
    long expect;
    long got;
    long bad;
} sink_state;

static void
sink_receive (tp_actor *self, tp_msg *msg)
{
    sink_state *s = tp_arg (self);
    int64_t v;
    if (tp_msg_tag (msg) != T_CNT || tp_msg_int (msg, &v) != 0)
        s->bad++;
    if (++s->got == s->expect)
        tb_finish ();
}

static const tp_behavior sink_b = {"sink", NULL, sink_receive, NULL};

typedef struct {
    tp_ref sink;
    long left;
} src_state;

/* Messages a source sends per turn: the same as the receiver's batch, so
   that on one worker the receiver keeps up and the mailbox stays short. */
static int CHUNK = 64;

/* Sends in chunks and re-arms itself, so one sender cannot starve the
   receiver when both share a worker. */
static void
src_receive (tp_actor *self, tp_msg *msg)
{
    src_state *s = tp_arg (self);
    for (int i = 0; i < CHUNK && s->left > 0; i++, s->left--)
        tp_tell_int (self, s->sink, T_CNT, s->left);
    if (s->left > 0)
        tp_tell (self, tp_self (self), T_GO, NULL);
}

static const tp_behavior src_b = {"source", NULL, src_receive, NULL};

static int
s_counting_one (const char *variant, int workers, const tp_spawn_opts *osink,
                const tp_spawn_opts *osrc)
{
    char v[64];
    snprintf (v, sizeof v, "%s-%ldsender%s", variant, P.senders,
              P.senders > 1 ? "s" : "");
    if (!tb_want (v) && !tb_want (variant))
        return 0;
    tp_system *sys = tb_sys (workers);
    sink_state sink = {.expect = P.n};
    src_state src[2];
    tp_ref rs, r[2];
    tp_spawn (sys, &sink_b, &sink, osink, &rs);
    for (int i = 0; i < P.senders; i++) {
        src[i] = (src_state){rs, P.n / P.senders};
        tp_spawn (sys, &src_b, &src[i], osrc, &r[i]);
    }
    g_t0 = tb_now ();
    for (int i = 0; i < P.senders; i++)
        tp_send (sys, r[i], T_GO, NULL);
    int rc = tb_wait_done (120);
    if (rc == 0 && sink.bad == 0)
        tb_row ("counting", v, "msgs_per_s", (double) P.n / (g_t1 - g_t0),
               "1/s");
    else
        rc = -1;
    tp_system_destroy (&sys);
    return rc;
}

static int
s_counting (void)
{
    if (!P.n)
        P.n = 2000000;
    long senders = P.senders;
    int rc = 0;
    tp_spawn_opts w0 = tb_on (0), w1 = tb_on (1);
    for (long s = 1; s <= 2; s++) {
        if (senders && senders != s)
            continue;
        P.senders = s;
        rc |= s_counting_one ("loop-1worker", 1, &w0, &w0);
        rc |= s_counting_one ("loop-2workers", 2, &w0, &w1);
        rc |= s_counting_one ("thread", 1, &thread_opts, &thread_opts);
        rc |= s_remote ("counting", "ipc");
        rc |= s_remote ("counting", "tcp");
    }
    P.senders = senders;
    return rc;
}

/* ---- ring ------------------------------------------------------------ */

typedef struct {
    tp_ref next;
} ring_state;

static void
ring_receive (tp_actor *self, tp_msg *msg)
{
    ring_state *s = tp_arg (self);
    int64_t left;
    if (tp_msg_tag (msg) == T_HI) {
        tp_msg_unpack (msg, "r", &s->next);
        tp_reply (self, msg, T_HI, NULL);
        return;
    }
    tp_msg_unpack (msg, "I", &left);
    if (left == 0)
        tb_finish ();
    else
        tp_tell (self, s->next, T_TOK, "I", left - 1);
}

static const tp_behavior ring_b = {"ring", NULL, ring_receive, NULL};

static int
s_ring_one (const char *variant, int workers)
{
    if (!tb_want (variant))
        return 0;
    tp_system *sys = tb_sys (workers);
    long n = P.actors;
    ring_state *st = calloc ((size_t) n, sizeof *st);
    tp_ref *r = calloc ((size_t) n, sizeof *r);
    for (long i = 0; i < n; i++) {
        /* two halves, one per worker: two crossings per lap */
        tp_spawn_opts o = tb_on ((int) (i * workers / n));
        tp_spawn (sys, &ring_b, &st[i], &o, &r[i]);
    }
    for (long i = 0; i < n; i++) {
        tp_msg *ok = NULL;
        if (tp_call (sys, r[i], T_HI, 5000, &ok, "r", r[(i + 1) % n]) != 0) {
            fprintf (stderr, "troupe_bench: ring set-up failed\n");
            return -1;
        }
        tp_msg_destroy (&ok);
    }
    g_t0 = tb_now ();
    tp_send (sys, r[0], T_TOK, "I", (int64_t) P.hops - 1);
    int rc = tb_wait_done (120);
    if (rc == 0)
        tb_row ("ring", variant, "hops_per_s", (double) P.hops / (g_t1 - g_t0),
               "1/s");
    tp_system_destroy (&sys);
    free (st);
    free (r);
    return rc;
}

static int
s_ring (void)
{
    return s_ring_one ("loop-1worker", 1) | s_ring_one ("loop-2workers", 2);
}

/* ---- spawn ----------------------------------------------------------- */

typedef struct {
    long expect, got;
} coll_state;

static void
coll_receive (tp_actor *self, tp_msg *msg)
{
    coll_state *s = tp_arg (self);
    if (++s->got == s->expect)
        tb_finish ();
}

static const tp_behavior coll_b = {"collector", NULL, coll_receive, NULL};

static int
child_init (tp_actor *self, void *arg)
{
    tp_ref *coll = arg;
    tp_tell (self, *coll, T_HI, NULL);
    tp_exit (self, 0);
    return 0;
}

static void
idle_receive (tp_actor *self, tp_msg *msg)
{
}

static const tp_behavior child_b = {"child", child_init, idle_receive, NULL};
static const tp_behavior idle_b = {"idle", NULL, idle_receive, NULL};

typedef struct {
    const tp_behavior *b;
    void *arg;
    long left;
} spawner_state;

/* Spawns in chunks from inside an actor (children land on its worker). */
static void
spawner_receive (tp_actor *self, tp_msg *msg)
{
    spawner_state *s = tp_arg (self);
    for (int i = 0; i < 10000 && s->left > 0; i++, s->left--)
        tp_spawn (tp_system_of (self), s->b, s->arg, NULL, NULL);
    if (s->left > 0)
        tp_tell (self, tp_self (self), T_GO, NULL);
    else if (s->b == &idle_b)
        tb_finish ();
}

static const tp_behavior spawner_b = {"spawner", NULL, spawner_receive, NULL};

long
tb_rss_bytes (void)
{
    long pages = 0, rss = 0;
    FILE *f = fopen ("/proc/self/statm", "r");
    if (f) {
        if (fscanf (f, "%ld %ld", &pages, &rss) != 2)
            rss = 0;
        fclose (f);
    }
    return rss * sysconf (_SC_PAGESIZE);
}

static int
s_spawn (void)
{
    if (!P.n)
        P.n = 1000000;
    int rc = 0;
    if (tb_want ("loop-1worker")) {
        tp_system *sys = tb_sys (1);
        coll_state cs = {.expect = P.n};
        tp_ref coll, sp;
        tp_spawn (sys, &coll_b, &cs, NULL, &coll);
        spawner_state ss = {&child_b, &coll, P.n};
        tp_spawn (sys, &spawner_b, &ss, NULL, &sp);
        g_t0 = tb_now ();
        tp_send (sys, sp, T_GO, NULL);
        rc |= tb_wait_done (120);
        if (rc == 0)
            tb_row ("spawn", "loop-1worker", "actors_per_s",
                   (double) P.n / (g_t1 - g_t0), "1/s");
        tp_system_destroy (&sys);
    }
    if (tb_want ("loop-1worker") || tb_want ("idle")) {
        tp_system *sys = tb_sys (1);
        tp_ref sp;
        spawner_state ss = {&idle_b, NULL, P.n};
        tp_spawn (sys, &spawner_b, &ss, NULL, &sp);
        long before = tb_rss_bytes ();
        tp_send (sys, sp, T_GO, NULL);
        rc |= tb_wait_done (120);
        long after = tb_rss_bytes ();
        if (rc == 0)
            tb_row ("spawn", "loop-1worker", "bytes_per_actor",
                   (double) (after - before) / (double) P.n, "B");
        tp_system_destroy (&sys);
    }
    return rc;
}

/* ---- forkjoin -------------------------------------------------------- */

static long
s_fib (long n)
{
    return n < 2 ? n : s_fib (n - 1) + s_fib (n - 2);
}

typedef struct {
    long left;
    long sum;
} join_state;

static void
task_receive (tp_actor *self, tp_msg *msg)
{
    int n;
    if (tp_msg_tag (msg) == T_HI) { /* set-up: proves the actor runs */
        tp_reply (self, msg, T_HI, NULL);
        return;
    }
    tp_msg_unpack (msg, "i", &n);
    tp_reply (self, msg, T_RES, "I", (int64_t) s_fib (n));
}

static const tp_behavior task_b = {"task", NULL, task_receive, NULL};

static void
s_join_cont (tp_actor *self, int status, tp_msg *reply, void *arg)
{
    join_state *s = arg;
    int64_t v = 0;
    if (status == 0)
        tp_msg_unpack (reply, "I", &v);
    s->sum += v;
    if (--s->left == 0)
        tb_finish ();
}

typedef struct {
    tp_ref *tasks;
    long ntasks;
    join_state join;
} fj_state;

static void
forker_receive (tp_actor *self, tp_msg *msg)
{
    fj_state *s = tp_arg (self);
    g_t0 = tb_now ();
    for (long i = 0; i < s->ntasks; i++)
        tp_ask (self, s->tasks[i], T_JOB, 600000, s_join_cont, &s->join, "i",
                (int) P.fib);
}

static const tp_behavior forker_b = {"forker", NULL, forker_receive, NULL};

/*  Runs P.tasks fib jobs on `par` workers (loop) or `par` thread actors,
    each task actor taking jobs in turn. Returns seconds or -1. */
static double
s_forkjoin_run (bool thread, int par)
{
    tp_system *sys = tb_sys (thread ? 1 : par);
    fj_state s = {.ntasks = P.tasks};
    s.join.left = P.tasks;
    s.tasks = calloc ((size_t) P.tasks, sizeof (tp_ref));
    tp_ref *workers = calloc ((size_t) par, sizeof (tp_ref));
    for (int i = 0; i < par; i++) {
        tp_spawn_opts o = thread ? thread_opts : tb_on (i);
        tp_spawn (sys, &task_b, NULL, &o, &workers[i]);
    }
    for (int i = 0; i < par; i++) {
        tp_msg *ok = NULL;
        if (tp_call (sys, workers[i], T_HI, 5000, &ok, NULL) == 0)
            tp_msg_destroy (&ok);
    }
    for (long i = 0; i < P.tasks; i++)
        s.tasks[i] = workers[i % par];
    tp_ref f;
    tp_spawn_opts of = tb_on (0);
    tp_spawn (sys, &forker_b, &s, thread ? NULL : &of, &f);
    tp_send (sys, f, T_GO, NULL);
    double secs = tb_wait_done (600) == 0 ? g_t1 - g_t0 : -1;
    long expect = s_fib (P.fib) * P.tasks;
    if (s.join.sum != expect)
        secs = -1;
    tp_system_destroy (&sys);
    free (s.tasks);
    free (workers);
    return secs;
}

static int
s_forkjoin (void)
{
    int rc = 0;
    for (int k = 0; k < 2; k++) {
        bool thread = k == 1;
        const char *kind = thread ? "thread" : "loop";
        if (P.variant && strncmp (P.variant, kind, strlen (kind)) != 0)
            continue;
        double t1 = s_forkjoin_run (thread, 1);
        double t2 = s_forkjoin_run (thread, 2);
        if (t1 < 0 || t2 < 0) {
            rc = -1;
            continue;
        }
        char v[64];
        snprintf (v, sizeof v, "%s-1", kind);
        tb_row_f ("forkjoin", v, "seconds", t1, "s");
        snprintf (v, sizeof v, "%s-2", kind);
        tb_row_f ("forkjoin", v, "seconds", t2, "s");
        tb_row_f ("forkjoin", kind, "speedup", t1 / t2, "x");
    }
    return rc;
}

/* ---- big ------------------------------------------------------------- */

typedef struct {
    tp_ref *all;
    long nall;
    long left;       /* pings still to send */
    uint64_t rng;
    _Atomic long *finished;
} big_state;

static long
s_rand (big_state *s)
{
    s->rng ^= s->rng << 13;
    s->rng ^= s->rng >> 7;
    s->rng ^= s->rng << 17;
    return (long) (s->rng % (uint64_t) s->nall);
}

static void
s_big_ping (tp_actor *self, big_state *s)
{
    tp_ref to;
    do
        to = s->all[s_rand (s)];
    while (tp_ref_eq (to, tp_self (self)));
    tp_tell (self, to, T_PING, NULL);
}

static void
big_receive (tp_actor *self, tp_msg *msg)
{
    big_state *s = tp_arg (self);
    tp_tag_t t = tp_msg_tag (msg);
    if (t == T_PING)
        tp_tell (self, tp_msg_from (msg), T_PONG, NULL);
    else if (t == T_PONG || t == T_GO) {
        if (s->left-- > 0)
            s_big_ping (self, s);
        else if (atomic_fetch_add (s->finished, 1) + 1 == s->nall)
            tb_finish ();
    }
}

static const tp_behavior big_b = {"big", NULL, big_receive, NULL};

static int
s_big (void)
{
    if (!P.n)
        P.n = 10000;
    long na = P.actors == 1000 ? 120 : P.actors;
    if (!tb_want ("loop-2workers"))
        return 0;
    tp_system *sys = tb_sys (2);
    _Atomic long finished = 0;
    tp_ref *all = calloc ((size_t) na, sizeof *all);
    big_state *st = calloc ((size_t) na, sizeof *st);
    for (long i = 0; i < na; i++) {
        st[i] = (big_state){all, na, P.n, 0x9e3779b97f4a7c15ull * (uint64_t) (i + 1),
                            &finished};
        tp_spawn (sys, &big_b, &st[i], NULL, &all[i]); /* round-robin */
    }
    g_t0 = tb_now ();
    for (long i = 0; i < na; i++)
        tp_send (sys, all[i], T_GO, NULL);
    int rc = tb_wait_done (120);
    if (rc == 0)
        tb_row ("big", "loop-2workers", "msgs_per_s",
               2.0 * (double) P.n * (double) na / (g_t1 - g_t0), "1/s");
    tp_system_destroy (&sys);
    free (all);
    free (st);
    return rc;
}

/* ---- remote (two processes) ------------------------------------------ */

/*  The peer process: node "benchsrv" with "pong" (answers ping with pong
    to the sender) and "sink" (counts cnt messages; "expect"(n, ref)
    arms it, and it tells ref "done" when n have arrived). */
typedef struct {
    long expect, got;
    tp_ref notify;
} rsink_state;

static void
rsink_receive (tp_actor *self, tp_msg *msg)
{
    rsink_state *s = tp_arg (self);
    if (tp_msg_tag (msg) == T_GO) {
        int64_t n;
        tp_msg_unpack (msg, "Ir", &n, &s->notify);
        s->expect = n;
        s->got = 0;
        tp_reply (self, msg, T_GO, NULL);
        return;
    }
    if (tp_msg_int (msg, NULL) != 0)
        fprintf (stderr, "troupe_bench: bad count message\n");
    if (++s->got == s->expect)
        tp_tell (self, s->notify, T_RES, NULL);
}

static const tp_behavior rsink_b = {"rsink", NULL, rsink_receive, NULL};

static void
rpong_receive (tp_actor *self, tp_msg *msg)
{
    int v = 0;
    tp_msg_unpack (msg, "i", &v);
    if (tp_msg_is_request (msg)) /* (tp_call from the other side's main) */
        tp_reply (self, msg, T_PONG, "i", v);
    else
        tp_tell (self, tp_msg_from (msg), T_PONG, "i", v);
}

static const tp_behavior rpong_b = {"rpong", NULL, rpong_receive, NULL};

static void __attribute__ ((noreturn))
s_remote_child (const char *ep, int fd)
{
    tp_system_opts o = {.workers = 1, .node_name = "benchsrv"};
    tp_system *sys = tp_system_new (&o);
    char bound[256];
    rsink_state rs = {0};
    tp_spawn_opts a = {.name = "pong"}, b = {.name = "sink"};
    if (!sys || tp_node_bind (sys, ep, bound, sizeof bound)
        || tp_spawn (sys, &rpong_b, NULL, &a, NULL)
        || tp_spawn (sys, &rsink_b, &rs, &b, NULL))
        _exit (3);
    dprintf (fd, "%s\n", bound);
    close (fd);
    char c;
    /* serve until the parent closes our stdin */
    while (read (0, &c, 1) > 0)
        ;
    tp_system_destroy (&sys);
    _exit (0);
}

typedef struct {
    pid_t pid;
    int in; /* our end of the child's stdin */
    char ep[256];
} rchild;

static int
s_remote_start (const char *kind, rchild *rc)
{
    char ep[256];
    if (!strcmp (kind, "tcp"))
        snprintf (ep, sizeof ep, "tcp://127.0.0.1:*");
    else
        snprintf (ep, sizeof ep, "ipc:///tmp/troupe-bench-%d.sock",
                  (int) getpid ());
    int out[2], in[2];
    if (pipe (out) || pipe (in))
        return -1;
    rc->pid = fork ();
    if (rc->pid == 0) {
        close (out[0]);
        close (in[1]);
        dup2 (in[0], 0);
        char sfd[16];
        snprintf (sfd, sizeof sfd, "%d", out[1]);
        setenv ("TP_BENCH_CHILD", ep, 1);
        setenv ("TP_BENCH_FD", sfd, 1);
        execl ("/proc/self/exe", "troupe_bench", (char *) NULL);
        _exit (127);
    }
    close (out[1]);
    close (in[0]);
    rc->in = in[1];
    FILE *f = fdopen (out[0], "r");
    if (!f || !fgets (rc->ep, sizeof rc->ep, f)) {
        if (f)
            fclose (f);
        return -1;
    }
    fclose (f);
    rc->ep[strcspn (rc->ep, "\n")] = '\0';
    return 0;
}

static void
s_remote_stop (rchild *rc)
{
    close (rc->in);
    waitpid (rc->pid, NULL, 0);
    if (!strncmp (rc->ep, "ipc://", 6))
        unlink (rc->ep + 6);
}

/*  Sends its share of cnt messages to the remote sink in chunks. When
    the node's queue to the sink is full (TP_EFULL: flow control), it
    stops this turn and tries again on the next, after the gateway had
    its turn to send. */
static void
rsrc_receive (tp_actor *self, tp_msg *msg)
{
    src_state *s = tp_arg (self);
    for (int i = 0; i < CHUNK && s->left > 0; i++, s->left--)
        if (tp_tell_int (self, s->sink, T_CNT, s->left) == TP_EFULL)
            break;
    if (s->left > 0)
        tp_tell (self, tp_self (self), T_GO, NULL);
}

static const tp_behavior rsrc_b = {"rsource", NULL, rsrc_receive, NULL};

static void
waiter_receive (tp_actor *self, tp_msg *msg)
{
    tb_finish ();
}

static const tp_behavior waiter_b = {"waiter", NULL, waiter_receive, NULL};

static int
s_remote (const char *workload, const char *kind)
{
    char variant[64];
    snprintf (variant, sizeof variant, "%s", kind);
    char from_main[64];
    snprintf (from_main, sizeof from_main, "%s-main", kind);
    bool counting = !strcmp (workload, "counting");
    if (counting)
        snprintf (variant, sizeof variant, "%s-%ldsender%s", kind,
                  P.senders ? P.senders : 1, P.senders > 1 ? "s" : "");
    if (!tb_want (variant) && !tb_want (kind) && !tb_want (from_main))
        return 0;
    rchild ch;
    if (s_remote_start (kind, &ch)) {
        fprintf (stderr, "troupe_bench: remote peer did not start\n");
        return -1;
    }
    tp_system_opts o = {.workers = 1, .node_name = "benchcli"};
    tp_system *sys = tp_system_new (&o);
    atomic_store (&g_done, 0);
    uint32_t node;
    tp_ref pong, sink;
    int rc = -1;
    if (tp_node_connect (sys, ch.ep, 5000, &node)
        || tp_whereis_at (sys, "pong", "benchsrv", 5000, &pong)
        || tp_whereis_at (sys, "sink", "benchsrv", 5000, &sink))
        goto out;
    if (!counting) {
        rc = 0;
        if (tb_want (variant) || !P.variant) {
            pp_state a = {.left = P.n, .peer = pong};
            tp_ref ra;
            tp_spawn (sys, &pp_b, &a, NULL, &ra);
            tp_send (sys, ra, T_GO, NULL);
            if ((rc = tb_wait_done (120)) == 0)
                tb_row ("pingpong", variant, "roundtrips_per_s",
                        (double) P.n / (g_t1 - g_t0), "1/s");
        }
        if (rc == 0 && (tb_want (from_main) || !P.variant)) {
            /* request/reply from main (tp_call), as a client program
               does: against raw ZeroMQ's two-process ping-pong */
            double t0 = tb_now ();
            for (long i = 0; i < P.n && rc == 0; i++) {
                tp_msg *r = NULL;
                rc = tp_call (sys, pong, T_PING, 5000, &r, "i", (int) i);
                tp_msg_destroy (&r);
            }
            if (rc == 0)
                tb_row ("pingpong", from_main, "roundtrips_per_s",
                        (double) P.n / (tb_now () - t0), "1/s");
        }
    }
    else {
        long senders = P.senders ? P.senders : 1;
        tp_ref w, r[2];
        src_state src[2];
        tp_spawn (sys, &waiter_b, NULL, NULL, &w);
        tp_msg *ok = NULL;
        if (tp_call (sys, sink, T_GO, 5000, &ok, "Ir", (int64_t) P.n, w))
            goto out;
        tp_msg_destroy (&ok);
        for (long i = 0; i < senders; i++) {
            src[i] = (src_state){sink, P.n / senders};
            tp_spawn (sys, &rsrc_b, &src[i], NULL, &r[i]);
        }
        g_t0 = tb_now ();
        for (long i = 0; i < senders; i++)
            tp_send (sys, r[i], T_GO, NULL);
        if ((rc = tb_wait_done (120)) == 0)
            tb_row ("counting", variant, "msgs_per_s",
                   (double) P.n / (g_t1 - g_t0), "1/s");
    }
out:
    if (rc)
        fprintf (stderr, "troupe_bench: remote %s over %s failed\n", workload,
                 kind);
    tp_system_destroy (&sys);
    s_remote_stop (&ch);
    return rc;
}

/* ---- main ------------------------------------------------------------ */

int
main (int argc, char **argv)
{
    if (getenv ("TP_BENCH_CHILD")) {
        T_PONG = tp_tag ("pong");
        T_GO = tp_tag ("go");
        T_RES = tp_tag ("res");
        s_remote_child (getenv ("TP_BENCH_CHILD"),
                        atoi (getenv ("TP_BENCH_FD")));
    }
    if (argc < 2) {
        fprintf (stderr, "usage: %s pingpong|counting|ring|spawn|forkjoin|big|"
                         "asks|hol|fanout|mapbody|flood|call|sends "
                         "[--n N] [--senders S] [--actors A] [--hops H] "
                         "[--tasks T] [--fib F] [--variant V]\n",
                 argv[0]);
        return 2;
    }
    for (int i = 2; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp (k, "--n"))
            P.n = atol (v);
        else if (!strcmp (k, "--senders"))
            P.senders = atol (v);
        else if (!strcmp (k, "--actors"))
            P.actors = atol (v);
        else if (!strcmp (k, "--hops"))
            P.hops = atol (v);
        else if (!strcmp (k, "--tasks"))
            P.tasks = atol (v);
        else if (!strcmp (k, "--fib"))
            P.fib = atol (v);
        else if (!strcmp (k, "--variant"))
            P.variant = v;
        else if (!strcmp (k, "--workers"))
            ; /* each variant fixes its own worker count */
        else {
            fprintf (stderr, "troupe_bench: unknown option %s\n", k);
            return 2;
        }
    }
    T_PING = tp_tag ("ping");
    T_PONG = tp_tag ("pong");
    T_GO = tp_tag ("go");
    T_CNT = tp_tag ("cnt");
    T_TOK = tp_tag ("tok");
    T_JOB = tp_tag ("job");
    T_RES = tp_tag ("res");
    T_HI = tp_tag ("hi");
    const char *w = argv[1];
    int rc;
    if (!strcmp (w, "pingpong"))
        rc = s_pingpong ();
    else if (!strcmp (w, "counting"))
        rc = s_counting ();
    else if (!strcmp (w, "ring"))
        rc = s_ring ();
    else if (!strcmp (w, "spawn"))
        rc = s_spawn ();
    else if (!strcmp (w, "forkjoin"))
        rc = s_forkjoin ();
    else if (!strcmp (w, "big"))
        rc = s_big ();
    else if (!strcmp (w, "asks"))
        rc = tb_asks ();
    else if (!strcmp (w, "hol"))
        rc = tb_hol ();
    else if (!strcmp (w, "fanout"))
        rc = tb_fanout ();
    else if (!strcmp (w, "mapbody"))
        rc = tb_mapbody ();
    else if (!strcmp (w, "flood"))
        rc = tb_flood ();
    else if (!strcmp (w, "call"))
        rc = tb_call ();
    else if (!strcmp (w, "sends"))
        rc = tb_sends ();
    else {
        fprintf (stderr, "troupe_bench: unknown workload %s\n", w);
        return 2;
    }
    return rc ? 1 : 0;
}
