/*  bench/troupe_user.c: workloads written the way a user writes them:
    default options, realistic bodies, many requests in flight, latency
    while the sender is busy (CONTRACT.md rows asks, hol, fanout, mapbody,
    flood, call). Public API only.
*/
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

static tp_tag_t T_GO, T_REQ, T_ANS, T_JOB, T_RES, T_MAP, T_NUM, T_HIT;

static void
s_tags (void)
{
    T_GO = tp_tag ("go");
    T_REQ = tp_tag ("req");
    T_ANS = tp_tag ("ans");
    T_JOB = tp_tag ("job");
    T_RES = tp_tag ("res");
    T_MAP = tp_tag ("map");
    T_NUM = tp_tag ("num");
    T_HIT = tp_tag ("hit");
}

/*  Keeps the CPU busy for ms milliseconds (no sleep), as real work does. */
static void
s_busy_ms (double ms)
{
    double end = tb_now () + ms / 1000.0;
    while (tb_now () < end)
        ;
}

static int
s_cmp_double (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

/*  Resets the peak RSS the kernel keeps (VmHWM) to the RSS now. */
static void
s_peak_reset (void)
{
    FILE *f = fopen ("/proc/self/clear_refs", "w");
    if (f) {
        fputs ("5", f);
        fclose (f);
    }
}

/*  Peak RSS of the process since the last s_peak_reset (VmHWM), bytes. */
static long
s_peak_rss (void)
{
    FILE *f = fopen ("/proc/self/status", "r");
    char line[256];
    long kb = 0;
    while (f && fgets (line, sizeof line, f))
        if (sscanf (line, "VmHWM: %ld kB", &kb) == 1)
            break;
    if (f)
        fclose (f);
    return kb * 1024;
}

/* ---- asks: many requests in flight from one actor ------------------- */

typedef struct {
    tp_ref responder;
    long n, got, bad;
    long rss_before, rss_after;
} asker_state;

static void
answer_receive (tp_actor *self, tp_msg *msg)
{
    int64_t v;
    if (tp_msg_is_request (msg) && tp_msg_int (msg, &v) == 0)
        tp_reply (self, msg, T_ANS, "I", v);
}

static const tp_behavior answer_b = {"answer", NULL, answer_receive, NULL};

static void
s_answered (tp_actor *self, int status, tp_msg *reply, void *arg)
{
    asker_state *s = tp_arg (self);
    int64_t v;
    if (status != 0 || tp_msg_int (reply, &v) != 0
        || v != (int64_t) (intptr_t) arg)
        s->bad++;
    if (++s->got == s->n)
        tb_finish ();
}

static void
asker_receive (tp_actor *self, tp_msg *msg)
{
    asker_state *s = tp_arg (self);
    if (tp_msg_tag (msg) != T_GO)
        return;
    s->rss_before = tb_rss_bytes ();
    g_t0 = tb_now ();
    for (long i = 0; i < s->n; i++)
        if (tp_ask (self, s->responder, T_REQ, 30000, s_answered,
                    (void *) (intptr_t) i, "I", (int64_t) i)
            != 0)
            s->bad++;
    s->rss_after = tb_rss_bytes ();
}

static const tp_behavior asker_b = {"asker", NULL, asker_receive, NULL};

static int
s_asks_one (const char *variant, int workers)
{
    if (!tb_want (variant))
        return 0;
    tp_system *sys = tb_sys (workers);
    asker_state s = {.n = P.n};
    tp_spawn_opts oa = tb_on (0), ob = tb_on (workers - 1);
    tp_ref asker;
    tp_spawn (sys, &answer_b, NULL, &ob, &s.responder);
    tp_spawn (sys, &asker_b, &s, &oa, &asker);
    tp_send (sys, asker, T_GO, NULL);
    int rc = tb_wait_done (300);
    if (rc == 0 && s.bad == 0) {
        double secs = g_t1 - g_t0;
        tb_row_f ("asks", variant, "seconds", secs, "s");
        tb_row ("asks", variant, "asks_per_s", (double) s.n / secs, "1/s");
        tb_row ("asks", variant, "bytes_per_ask",
                (double) (s.rss_after - s.rss_before) / (double) s.n, "B");
    }
    else
        fprintf (stderr, "troupe_bench: asks %s: %ld of %ld, %ld bad\n",
                 variant, s.got, s.n, s.bad);
    tp_system_destroy (&sys);
    return rc == 0 && s.bad == 0 ? 0 : -1;
}

int
tb_asks (void)
{
    s_tags ();
    if (!P.n)
        P.n = 100000;
    int rc = s_asks_one ("1worker", 1);
    if (s_asks_one ("2workers", 2))
        rc = -1;
    return rc;
}

/* ---- hol: a send, then a busy sender -------------------------------- */

typedef struct {
    tp_ref b;
    long rounds, done;
    double sent_at;  /* written by A before the send */
    double *lat;     /* per round, us */
} hol_state;

static void
hol_b_receive (tp_actor *self, tp_msg *msg)
{
    hol_state *s = tp_arg (self);
    if (tp_msg_tag (msg) != T_HIT)
        return;
    s->lat[s->done] = (tb_now () - s->sent_at) * 1e6;
    tp_reply (self, msg, T_ANS, NULL);
}

static const tp_behavior hol_b = {"hol-b", NULL, hol_b_receive, NULL};

static void s_hol_round (tp_actor *self, hol_state *s);

static void
s_hol_back (tp_actor *self, int status, tp_msg *reply, void *arg)
{
    (void) reply;
    (void) arg;
    hol_state *s = tp_arg (self);
    if (status != 0) {
        fprintf (stderr, "troupe_bench: hol: no answer (%d)\n", status);
        return;
    }
    if (++s->done == s->rounds)
        tb_finish ();
    else
        s_hol_round (self, s);
}

static void
s_hol_round (tp_actor *self, hol_state *s)
{
    s->sent_at = tb_now ();
    tp_ask (self, s->b, T_HIT, 30000, s_hol_back, NULL, NULL);
    s_busy_ms (100); /* the rest of the turn: work */
}

static void
hol_a_receive (tp_actor *self, tp_msg *msg)
{
    if (tp_msg_tag (msg) == T_GO)
        s_hol_round (self, tp_arg (self));
}

static const tp_behavior hol_a = {"hol-a", NULL, hol_a_receive, NULL};

int
tb_hol (void)
{
    s_tags ();
    if (!P.n)
        P.n = 20;
    if (!tb_want ("loop-2workers"))
        return 0;
    tp_system *sys = tb_sys (2);
    hol_state s = {.rounds = P.n};
    s.lat = calloc ((size_t) P.n, sizeof *s.lat);
    tp_spawn_opts oa = tb_on (0), ob = tb_on (1);
    tp_ref a;
    tp_spawn (sys, &hol_b, &s, &ob, &s.b);
    tp_spawn (sys, &hol_a, &s, &oa, &a);
    tp_send (sys, a, T_GO, NULL);
    int rc = tb_wait_done (120);
    if (rc == 0) {
        qsort (s.lat, (size_t) s.rounds, sizeof *s.lat, s_cmp_double);
        tb_row_f ("hol", "loop-2workers", "hol_p50_us", s.lat[s.rounds / 2],
                  "us");
        tb_row_f ("hol", "loop-2workers", "hol_max_us", s.lat[s.rounds - 1],
                  "us");
    }
    tp_system_destroy (&sys);
    free (s.lat);
    return rc;
}

/* ---- fanout: Promise.all with default options ----------------------- */

typedef struct {
    long tasks, ms, got;
    double sum;
} fan_state;

static void
job_receive (tp_actor *self, tp_msg *msg)
{
    int64_t ms;
    if (tp_msg_tag (msg) != T_JOB || tp_msg_int (msg, &ms) != 0)
        return;
    s_busy_ms ((double) ms);
    tp_tell (self, tp_msg_from (msg), T_RES, "I", ms);
}

static const tp_behavior job_b = {"job", NULL, job_receive, NULL};

static void
coord_receive (tp_actor *self, tp_msg *msg)
{
    fan_state *s = tp_arg (self);
    tp_tag_t t = tp_msg_tag (msg);
    if (t == T_GO) {
        g_t0 = tb_now ();
        for (long i = 0; i < s->tasks; i++) {
            tp_ref w;
            if (tp_spawn (tp_system_of (self), &job_b, NULL, NULL, &w) == 0)
                tp_tell_int (self, w, T_JOB, s->ms);
        }
    }
    else if (t == T_RES) {
        int64_t ms = 0;
        tp_msg_unpack (msg, "I", &ms);
        s->sum += (double) ms;
        if (++s->got == s->tasks)
            tb_finish ();
    }
}

static const tp_behavior coord_b = {"coord", NULL, coord_receive, NULL};

static double
s_fanout_run (int workers)
{
    tp_system *sys = tb_sys (workers);
    fan_state s = {.tasks = P.tasks, .ms = P.n};
    tp_ref c;
    tp_spawn (sys, &coord_b, &s, NULL, &c); /* default options, as users */
    tp_send (sys, c, T_GO, NULL);
    double secs = tb_wait_done (120) == 0 ? g_t1 - g_t0 : -1;
    if (s.sum != (double) (P.tasks * P.n))
        secs = -1;
    tp_system_destroy (&sys);
    return secs;
}

int
tb_fanout (void)
{
    s_tags ();
    if (!P.n)
        P.n = 20;
    if (P.tasks == 8) /* (the forkjoin default: fanout's is 16) */
        P.tasks = 16;
    double t1 = s_fanout_run (1);
    double t2 = s_fanout_run (2);
    if (t1 < 0 || t2 < 0)
        return -1;
    tb_row_f ("fanout", "1worker", "seconds", t1, "s");
    tb_row_f ("fanout", "2workers", "seconds", t2, "s");
    tb_row_f ("fanout", "default", "speedup", t1 / t2, "x");
    return 0;
}

/* ---- mapbody: a 4-field map through the format helpers -------------- */

typedef struct {
    tp_ref to;
    long n, sent, got, bad;
} map_state;

#define MAP_CHUNK 1000

static void
map_src_receive (tp_actor *self, tp_msg *msg)
{
    map_state *s = tp_arg (self);
    if (tp_msg_tag (msg) != T_GO)
        return;
    static const char str[] = "0123456789abcdef";
    for (int k = 0; k < MAP_CHUNK && s->sent < s->n; k++, s->sent++) {
        int i = (int) s->sent;
        tp_tell (self, s->to, T_MAP, "{s:i,s:i,s:s,s:d}", "a", i, "b", 2 * i,
                 "s", str, "d", i / 3.0);
    }
    if (s->sent < s->n)
        tp_tell (self, tp_self (self), T_GO, NULL); /* let the sink run */
}

static const tp_behavior map_src_b = {"map-src", NULL, map_src_receive, NULL};

static void
map_sink_receive (tp_actor *self, tp_msg *msg)
{
    map_state *s = tp_arg (self);
    const char *ka, *kb, *ks, *kd, *str;
    size_t la, lb, ls, ld, lstr;
    int a, b;
    double d;
    if (tp_msg_unpack (msg, "{s:i,s:i,s:s,s:d}", &ka, &la, &a, &kb, &lb, &b,
                       &ks, &ls, &str, &lstr, &kd, &ld, &d)
            != 0
        || la != 1 || *ka != 'a' || lb != 1 || *kb != 'b' || ls != 1
        || *ks != 's' || ld != 1 || *kd != 'd' || lstr != 16 || b != 2 * a
        || a != (int) s->got)
        s->bad++;
    if (++s->got == s->n)
        tb_finish ();
}

static const tp_behavior map_sink_b = {"map-sink", NULL, map_sink_receive,
                                       NULL};

int
tb_mapbody (void)
{
    s_tags ();
    if (!P.n)
        P.n = 1000000;
    if (!tb_want ("loop-1worker"))
        return 0;
    tp_system *sys = tb_sys (1);
    map_state s = {.n = P.n};
    tp_ref src;
    tp_spawn (sys, &map_sink_b, &s, NULL, &s.to);
    tp_spawn (sys, &map_src_b, &s, NULL, &src);
    g_t0 = tb_now ();
    tp_send (sys, src, T_GO, NULL);
    int rc = tb_wait_done (120);
    if (rc == 0 && s.bad == 0)
        tb_row ("mapbody", "loop-1worker", "msgs_per_s",
                (double) s.n / (g_t1 - g_t0), "1/s");
    else
        fprintf (stderr, "troupe_bench: mapbody: %ld bad\n", s.bad);
    tp_system_destroy (&sys);
    return rc == 0 && s.bad == 0 ? 0 : -1;
}

/* ---- flood: one turn sends everything ------------------------------- */

typedef struct {
    tp_ref to;
    long n, got, sum_ok;
} flood_state;

static void
flood_src_receive (tp_actor *self, tp_msg *msg)
{
    flood_state *s = tp_arg (self);
    if (tp_msg_tag (msg) != T_GO)
        return;
    for (long i = 0; i < s->n; i++)
        tp_tell_int (self, s->to, T_NUM, i);
}

static const tp_behavior flood_src_b = {"flood-src", NULL, flood_src_receive,
                                        NULL};

static void
flood_sink_receive (tp_actor *self, tp_msg *msg)
{
    flood_state *s = tp_arg (self);
    int64_t v;
    if (tp_msg_int (msg, &v) == 0 && v == s->got)
        s->sum_ok++;
    if (++s->got == s->n)
        tb_finish ();
}

static const tp_behavior flood_sink_b = {"flood-sink", NULL,
                                         flood_sink_receive, NULL};

/*  The same flood, kept flat the documented way: the receiver's mailbox
    is bounded, and the producer, told TP_EFULL, ends its turn and goes on
    in its next one (a message to itself), so the receiver runs between. */
typedef struct {
    tp_ref to;
    long n, sent;
} paced_state;

static void
paced_src_receive (tp_actor *self, tp_msg *msg)
{
    paced_state *s = tp_arg (self);
    if (tp_msg_tag (msg) != T_GO)
        return;
    while (s->sent < s->n && tp_tell_int (self, s->to, T_NUM, s->sent) == 0)
        s->sent++;
    if (s->sent < s->n)
        tp_tell (self, tp_self (self), T_GO, NULL); /* full: later */
}

static const tp_behavior paced_src_b = {"paced-src", NULL, paced_src_receive,
                                        NULL};

/*  One flood run: producer src_b and the sink, whose mailbox holds cap
    (0: unbounded). The producer's state is src_state, whose *src_to is
    set to the sink, or (NULL) the sink's own flood_state. */
static int
s_flood_one (const char *variant, const tp_behavior *src_b, void *src_state,
             tp_ref *src_to, uint32_t cap)
{
    tp_system *sys = tb_sys (1);
    flood_state s = {.n = P.n};
    tp_spawn_opts so = {.capacity = cap};
    tp_ref src;
    tp_spawn (sys, &flood_sink_b, &s, &so, &s.to);
    if (src_to)
        *src_to = s.to;
    tp_spawn (sys, src_b, src_state ? src_state : &s, NULL, &src);
    s_peak_reset ();
    long before = tb_rss_bytes ();
    g_t0 = tb_now ();
    tp_send (sys, src, T_GO, NULL);
    int rc = tb_wait_done (120);
    long peak = s_peak_rss ();
    if (rc == 0 && s.sum_ok == s.n) {
        tb_row ("flood", variant, "bytes_per_msg",
                (double) (peak - before) / (double) s.n, "B");
        tb_row ("flood", variant, "msgs_per_s", (double) s.n / (g_t1 - g_t0),
                "1/s");
    }
    tp_system_destroy (&sys);
    return rc == 0 && s.sum_ok == s.n ? 0 : -1;
}

int
tb_flood (void)
{
    s_tags ();
    if (!P.n)
        P.n = 6000000;
    int rc = 0;
    if (tb_want ("loop-1worker"))
        rc = s_flood_one ("loop-1worker", &flood_src_b, NULL, NULL, 0);
    if (rc == 0 && tb_want ("loop-1worker-bounded")) {
        paced_state ps = {.n = P.n};
        rc = s_flood_one ("loop-1worker-bounded", &paced_src_b, &ps, &ps.to,
                          1000);
    }
    return rc;
}

/* ---- sends: from a foreign thread ------------------------------------ */

/*  (On a line of its own, and the target in a copy beside it: the
    sender reads P in its loop, and a counter next to P would bounce
    between the two cores.) */
static _Alignas (64) struct {
    _Atomic long counted;
    long want;
} g_sends;

static void
count_receive (tp_actor *self, tp_msg *msg)
{
    (void) self;
    int64_t v;
    if (tp_msg_int (msg, &v) == 0
        && atomic_fetch_add_explicit (&g_sends.counted, 1,
                                      memory_order_relaxed)
                   + 1
               == g_sends.want)
        tb_finish ();
}

static const tp_behavior count_b = {"count", NULL, count_receive, NULL};

int
tb_sends (void)
{
    s_tags ();
    if (!P.n)
        P.n = 6000000;
    long na = P.actors == 1000 ? 60 : P.actors; /* (1000: the ring default) */
    if (!tb_want ("loop-1worker"))
        return 0;
    tp_system *sys = tb_sys (1);
    atomic_store (&g_sends.counted, 0);
    g_sends.want = P.n;
    tp_ref *to = calloc ((size_t) na, sizeof *to);
    for (long i = 0; i < na; i++)
        tp_spawn (sys, &count_b, NULL, NULL, &to[i]);
    g_t0 = tb_now ();
    int rc = 0;
    for (long i = 0; i < P.n && rc == 0; i++)
        rc = tp_send (sys, to[i % na], T_NUM, "I", (int64_t) i);
    if (rc == 0)
        rc = tb_wait_done (120);
    if (rc == 0)
        tb_row ("sends", "loop-1worker", "msgs_per_s",
                (double) P.n / (g_t1 - g_t0), "1/s");
    tp_system_destroy (&sys);
    free (to);
    return rc ? -1 : 0;
}

/* ---- call: tp_call from main, latency ------------------------------- */

/*  The same request/reply from an actor (tp_ask, one at a time), on the
    answering actor's worker or on another one. */
typedef struct {
    tp_ref to;
    long n, done;
    double sent_at;
    double *lat;
    int bad;
} caller_state;

static void s_call_next (tp_actor *self, caller_state *s);

static void
s_call_back (tp_actor *self, int status, tp_msg *reply, void *arg)
{
    (void) arg;
    caller_state *s = tp_arg (self);
    int64_t v = -1;
    s->lat[s->done] = (tb_now () - s->sent_at) * 1e6;
    if (status != 0 || tp_msg_int (reply, &v) != 0 || v != s->done)
        s->bad++;
    if (++s->done == s->n)
        tb_finish ();
    else
        s_call_next (self, s);
}

static void
s_call_next (tp_actor *self, caller_state *s)
{
    s->sent_at = tb_now ();
    if (tp_ask (self, s->to, T_REQ, 5000, s_call_back, NULL, "I",
                (int64_t) s->done)
        != 0)
        s->bad++;
}

static void
caller_receive (tp_actor *self, tp_msg *msg)
{
    if (tp_msg_tag (msg) == T_GO)
        s_call_next (self, tp_arg (self));
}

static const tp_behavior caller_b = {"caller", NULL, caller_receive, NULL};

static int
s_call_from_actor (const char *variant, int answer_worker)
{
    if (!tb_want (variant))
        return 0;
    tp_system *sys = tb_sys (2);
    caller_state s = {.n = P.n};
    s.lat = malloc ((size_t) P.n * sizeof *s.lat);
    tp_spawn_opts oa = tb_on (0), ob = tb_on (answer_worker);
    tp_ref c;
    tp_spawn (sys, &answer_b, NULL, &ob, &s.to);
    tp_spawn (sys, &caller_b, &s, &oa, &c);
    tp_send (sys, c, T_GO, NULL);
    int rc = tb_wait_done (120);
    if (rc == 0 && s.bad == 0) {
        qsort (s.lat, (size_t) P.n, sizeof *s.lat, s_cmp_double);
        /* (rows of their own: "call" compares calls from outside) */
        tb_row_f ("asklat", variant, "ask_p50_us", s.lat[P.n / 2], "us");
        tb_row_f ("asklat", variant, "ask_p99_us", s.lat[P.n * 99 / 100],
                  "us");
        tb_row_f ("asklat", variant, "ask_p999_us", s.lat[P.n * 999 / 1000],
                  "us");
    }
    tp_system_destroy (&sys);
    free (s.lat);
    return rc == 0 && s.bad == 0 ? 0 : -1;
}

int
tb_call (void)
{
    s_tags ();
    if (!P.n)
        P.n = 100000;
    int arc = s_call_from_actor ("actor-1worker", 0);
    if (s_call_from_actor ("actor-2workers", 1))
        arc = -1;
    if (!tb_want ("main"))
        return arc;
    tp_system *sys = tb_sys (0); /* default workers */
    tp_ref to;
    tp_spawn (sys, &answer_b, NULL, NULL, &to);
    double *lat = malloc ((size_t) P.n * sizeof *lat);
    int rc = 0;
    for (long i = 0; i < P.n && rc == 0; i++) {
        double t = tb_now ();
        tp_msg *r = NULL;
        rc = tp_call (sys, to, T_REQ, 5000, &r, "I", (int64_t) i);
        lat[i] = (tb_now () - t) * 1e6;
        int64_t v = -1;
        if (rc == 0 && (tp_msg_int (r, &v) != 0 || v != i))
            rc = -1;
        tp_msg_destroy (&r);
    }
    if (rc == 0) {
        qsort (lat, (size_t) P.n, sizeof *lat, s_cmp_double);
        tb_row_f ("call", "main", "call_p50_us", lat[P.n / 2], "us");
        tb_row_f ("call", "main", "call_p99_us", lat[P.n * 99 / 100], "us");
        tb_row_f ("call", "main", "call_p999_us", lat[P.n * 999 / 1000],
                  "us");
    }
    else
        fprintf (stderr, "troupe_bench: call failed: %s\n", tp_strerror (rc));
    free (lat);
    tp_system_destroy (&sys);
    return rc || arc ? -1 : 0;
}
