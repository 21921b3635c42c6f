/*  tests/test_system.c: system lifecycle, shutdown, dead letters, bounded
    mailboxes, stats, registry. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>

#include "testutil.h"

static _Atomic long g_received, g_terminated;

static void
count_receive (tp_actor *self, tp_msg *msg)
{
    tt_add (&g_received, 1);
    if (tp_msg_is (msg, "stop"))
        tp_exit (self, 0);
    if (tp_msg_is (msg, "ask"))
        tp_reply (self, msg, tp_tag ("ok"), NULL);
}

static void
count_terminate (tp_actor *self, tp_tag_t reason)
{
    tt_add (&g_terminated, 1);
}

static const tp_behavior counter = {"counter", NULL, count_receive,
                                    count_terminate};

static void
s_reset (void)
{
    tt_set (&g_received, 0);
    tt_set (&g_terminated, 0);
}

Test (system, new_and_destroy_with_defaults)
{
    tp_system *sys = tp_system_new (NULL);
    cr_assert_not_null (sys);
    cr_assert_geq (tp_system_workers (sys), 1);
    cr_assert_str_eq (tp_node_name (tp_system_node (sys)), "nonode");
    tp_system_destroy (&sys);
    cr_assert_null (sys);
    tp_system_destroy (&sys); /* NULL is accepted */
    tp_system_destroy (NULL);
}

Test (system, rejects_bad_options)
{
    tp_system_opts bad = {.workers = -1};
    cr_assert_null (tp_system_new (&bad));
    tp_system_opts bad_name = {.node_name = "no spaces"};
    cr_assert_null (tp_system_new (&bad_name));
    tp_system_opts named = {.node_name = "alpha", .workers = 1};
    tp_system *sys = tp_system_new (&named);
    cr_assert_not_null (sys);
    cr_assert_str_eq (tp_node_name (tp_system_node (sys)), "alpha");
    tp_system_destroy (&sys);
}

Test (system, spawn_and_stop_100000_loop_actors, .timeout = 120)
{
    s_reset ();
    tp_system_opts so = {.workers = 2};
    tp_system *sys = tp_system_new (&so);
    enum { N = 100000 };
    tp_ref *refs = malloc (N * sizeof *refs);
    for (int i = 0; i < N; i++)
        cr_assert_eq (tp_spawn (sys, &counter, NULL, NULL, &refs[i]), 0);
    tp_system_stats st;
    tp_system_stats_get (sys, &st);
    cr_assert_eq (st.actors_spawned, N);
    for (int i = 0; i < N; i++)
        cr_assert_eq (tp_send (sys, refs[i], tp_tag ("stop"), NULL), 0);
    cr_assert_eq (tp_system_wait (sys, tt_ms (60000)), 0);
    cr_assert_eq (atomic_load (&g_terminated), N);
    cr_assert_eq (atomic_load (&g_received), N);
    tp_system_stats_get (sys, &st);
    cr_assert_eq (st.actors_live, 0);
    cr_assert_eq (st.dead_letters, 0);
    /* slots are reused: a second wave does not grow the table */
    for (int i = 0; i < 1000; i++) {
        tp_ref r;
        cr_assert_eq (tp_spawn (sys, &counter, NULL, NULL, &r), 0);
        cr_assert_lt (r.index, (uint32_t) N + 16);
        for (int j = 0; j < 3 && i < 3; j++)
            cr_assert (!tp_ref_eq (r, refs[j]), "stale ref names a new actor");
    }
    tp_system_destroy (&sys);
    cr_assert_eq (atomic_load (&g_terminated), N + 1000);
    free (refs);
}

/* Shutdown with messages in flight: many senders blast each other while
   the system is destroyed. Everything must be freed (valgrind/ASan) and
   every actor terminated exactly once. */
static void
blaster_receive (tp_actor *self, tp_msg *msg)
{
    tp_ref peer;
    if (tp_msg_unpack (msg, "r", &peer) == 0) { /* small hops only */
        /* one small and one big (zero-copy path) message per hop */
        static char big[4096];
        tp_tell (self, peer, tp_tag ("hop"), "r", tp_self (self));
        tp_tell (self, peer, tp_tag ("hop"), "rx", tp_self (self), big,
                 sizeof big);
    }
    tt_add (&g_received, 1);
}

static void
blaster_terminate (tp_actor *self, tp_tag_t reason)
{
    TT_CHECK (reason == tp_tag ("shutdown"));
    tt_add (&g_terminated, 1);
}

static const tp_behavior blaster = {"blaster", NULL, blaster_receive,
                                    blaster_terminate};

Test (system, shutdown_with_messages_in_flight_frees_everything,
      .timeout = 60)
{
    s_reset ();
    tp_system_opts so = {.workers = 2};
    tp_system *sys = tp_system_new (&so);
    enum { N = 16 };
    tp_ref r[N];
    for (int i = 0; i < N; i++) {
        tp_spawn_opts o = {.place = TP_PLACE_SPREAD,
                           .kind = i % 4 == 3 ? TP_THREAD : TP_LOOP};
        cr_assert_eq (tp_spawn (sys, &blaster, NULL, &o, &r[i]), 0);
    }
    for (int i = 0; i < N; i++)
        cr_assert_eq (tp_send (sys, r[i], tp_tag ("go"), "r", r[(i + 1) % N]),
                      0);
    cr_assert (tt_wait_ge (&g_received, 5000, 10000));
    tp_system_destroy (&sys);
    cr_assert_eq (atomic_load (&g_terminated), N);
    TT_NO_FAILURES ();
}

/* ---- dead letters -------------------------------------------------- */

static _Atomic long g_dead_notices;
static tp_ref g_dead_to;
static tp_tag_t g_dead_tag;

static void
dl_receive (tp_actor *self, tp_msg *msg)
{
    if (tp_msg_is (msg, "_dead")) {
        TT_CHECK (tp_msg_unpack (msg, "rt", &g_dead_to, &g_dead_tag) == 0);
        tt_add (&g_dead_notices, 1);
    }
}

static const tp_behavior dl_watcher = {"dl", NULL, dl_receive, NULL};

Test (system, dead_letters_are_counted_and_observable, .timeout = 30)
{
    s_reset ();
    tp_system *sys = tp_system_new (NULL);
    tp_ref t, w;
    cr_assert_eq (tp_spawn (sys, &counter, NULL, NULL, &t), 0);
    cr_assert_eq (tp_spawn (sys, &dl_watcher, NULL, NULL, &w), 0);
    cr_assert_eq (tp_system_watch_dead_letters (sys, w), 0);
    cr_assert_eq (tp_send (sys, t, tp_tag ("stop"), NULL), 0);
    cr_assert (tt_wait_ge (&g_terminated, 1, 5000));
    /* sending to the dead ref succeeds for the sender ... */
    cr_assert_eq (tp_send (sys, t, tp_tag ("hello"), "i", 1), 0);
    cr_assert_eq (tp_send (sys, t, tp_tag ("hello"), "i", 2), 0);
    /* (t's terminate callback runs before its slot is released, so these
       two may be found dead by t's worker, after a later send's notice:
       wait for them before the next one) */
    cr_assert (tt_wait_ge (&g_dead_notices, 2, 5000));
    /* ... and to a ref that never existed */
    tp_ref never = t;
    never.index = 999999;
    cr_assert_eq (tp_send (sys, never, tp_tag ("hello"), NULL), 0);
    cr_assert (tt_wait_ge (&g_dead_notices, 3, 5000));
    cr_assert (tp_ref_eq (g_dead_to, never));
    cr_assert_eq (g_dead_tag, tp_tag ("hello"));
    tp_system_stats st;
    tp_system_stats_get (sys, &st);
    cr_assert_eq (st.dead_letters, 3);
    tp_system_destroy (&sys);
    TT_NO_FAILURES ();
}

/* ---- bounded mailboxes --------------------------------------------- */

static _Atomic long g_gate;   /* the slow actor blocks while 0 */
static _Atomic long g_inside; /* receive calls entered */

static void
slow_receive (tp_actor *self, tp_msg *msg)
{
    tt_add (&g_inside, 1);
    TT_CHECK (tt_wait_ge (&g_gate, 1, 30000)); /* the test opens it */
    tt_add (&g_received, 1);
}

static const tp_behavior slow = {"slow", NULL, slow_receive, NULL};

Test (mailbox, bounded_send_fails_with_efull_and_sender_keeps_message,
      .timeout = 30)
{
    s_reset ();
    tt_set (&g_gate, 0);
    tp_system *sys = tp_system_new (NULL);
    tp_spawn_opts o = {.kind = TP_THREAD, .capacity = 4};
    tp_ref r;
    cr_assert_eq (tp_spawn (sys, &slow, NULL, &o, &r), 0);
    /* the first message is taken out of the mailbox and blocks receive */
    tt_set (&g_inside, 0);
    cr_assert_eq (tp_send (sys, r, tp_tag ("m"), "i", -1), 0);
    cr_assert (tt_wait_ge (&g_inside, 1, 5000));
    int ok = 0, full = 0;
    for (int i = 0; i < 10; i++) {
        tp_msg *m = tp_msg_new (tp_tag ("m"), "i", i);
        int rc = tp_send_msg (sys, r, &m);
        if (rc == 0) {
            cr_assert_null (m);
            ok++;
        }
        else {
            cr_assert_eq (rc, TP_EFULL);
            cr_assert_not_null (m, "message lost on failure");
            tp_msg_destroy (&m);
            full++;
        }
    }
    cr_assert_eq (ok, 4);
    cr_assert_eq (full, 6);
    tp_actor_stats st;
    cr_assert_eq (tp_actor_stats_get (sys, r, &st), 0);
    cr_assert_eq (st.capacity, 4);
    /* a waiting send gets through once the receiver drains */
    tt_set (&g_gate, 1);
    tp_msg *m = tp_msg_new (tp_tag ("m"), "i", 99);
    for (int i = 0; i < 8; i++) {
        tp_msg *n = tp_msg_new (tp_tag ("m"), "i", i);
        cr_assert_eq (tp_send_wait (sys, r, &n, tt_ms (5000)), 0);
    }
    cr_assert_eq (tp_send_wait (sys, r, &m, tt_ms (5000)), 0);
    cr_assert (tt_wait_ge (&g_received, 14, 5000), "received %ld",
               atomic_load (&g_received));
    tp_system_destroy (&sys);
    TT_NO_FAILURES ();
}

Test (mailbox, waiting_send_times_out_and_keeps_message, .timeout = 30)
{
    s_reset ();
    tt_set (&g_gate, 0);
    tp_system *sys = tp_system_new (NULL);
    tp_spawn_opts o = {.kind = TP_THREAD, .capacity = 1};
    tp_ref r;
    cr_assert_eq (tp_spawn (sys, &slow, NULL, &o, &r), 0);
    tp_msg *a = tp_msg_new (tp_tag ("m"), NULL);
    tp_msg *b = tp_msg_new (tp_tag ("m"), NULL);
    tt_set (&g_inside, 0);
    cr_assert_eq (tp_send (sys, r, tp_tag ("m"), NULL), 0);
    cr_assert (tt_wait_ge (&g_inside, 1, 5000)); /* receive is blocked */
    cr_assert_eq (tp_send_msg (sys, r, &a), 0);  /* fills the mailbox */
    /* 0: do not wait */
    cr_assert_eq (tp_send_wait (sys, r, &b, 0), TP_EFULL);
    cr_assert_not_null (b);
    uint64_t t0 = tt_now_ms ();
    cr_assert_eq (tp_send_wait (sys, r, &b, 30), TP_ETIMEDOUT);
    cr_assert_geq (tt_now_ms () - t0, 29);
    cr_assert_not_null (b);
    tp_msg_destroy (&b);
    tt_set (&g_gate, 1);
    tp_system_destroy (&sys);
    TT_NO_FAILURES ();
}

/* ---- registry ------------------------------------------------------ */

static _Atomic long s_reg_downs;

static void
reg_watch_receive (tp_actor *self, tp_msg *msg)
{
    tp_ref r;
    if (tp_msg_is (msg, "watch") && tp_msg_unpack (msg, "r", &r) == 0)
        TT_CHECK (tp_monitor (self, r) > 0);
    else if (tp_msg_is (msg, "_down"))
        tt_add (&s_reg_downs, 1);
}
static const tp_behavior reg_watch = {"watch", NULL, reg_watch_receive, NULL};

Test (registry, register_whereis_and_unregister_on_death, .timeout = 30)
{
    s_reset ();
    tp_system *sys = tp_system_new (NULL);
    tp_ref a, b;
    cr_assert_eq (tp_spawn (sys, &counter, NULL, NULL, &a), 0);
    cr_assert_eq (tp_spawn (sys, &counter, NULL, NULL, &b), 0);
    cr_assert (tp_ref_is_nil (tp_whereis (sys, "svc")));
    cr_assert_eq (tp_register (sys, "svc", a), 0);
    cr_assert_eq (tp_register (sys, "svc", b), TP_EEXIST);
    cr_assert_eq (tp_register (sys, "other", a), 0); /* two names, one actor */
    cr_assert (tp_ref_eq (tp_whereis (sys, "svc"), a));
    cr_assert_eq (tp_register (sys, "", a), TP_EINVAL);
    cr_assert_eq (tp_unregister (sys, "nope"), TP_ENOTFOUND);
    cr_assert_eq (tp_unregister (sys, "other"), 0);
    cr_assert (tp_ref_is_nil (tp_whereis (sys, "other")));
    /* death removes the name, and the name becomes free (the _down is
       sent after the names are gone; the terminate callback runs before) */
    tp_ref w;
    cr_assert_eq (tp_spawn (sys, &reg_watch, NULL, NULL, &w), 0);
    cr_assert_eq (tp_send (sys, w, tp_tag ("watch"), "r", a), 0);
    cr_assert_eq (tp_send (sys, a, tp_tag ("stop"), NULL), 0);
    cr_assert (tt_wait_ge (&s_reg_downs, 1, 5000));
    cr_assert (tp_ref_is_nil (tp_whereis (sys, "svc")));
    cr_assert_eq (tp_register (sys, "svc", a), TP_EDEAD);
    cr_assert_eq (tp_register (sys, "svc", b), 0);
    cr_assert (tp_ref_eq (tp_whereis (sys, "svc"), b));
    tp_system_destroy (&sys);
}

Test (registry, spawn_with_name_registers_before_first_message, .timeout = 30)
{
    s_reset ();
    tp_system *sys = tp_system_new (NULL);
    tp_spawn_opts o = {.name = "named"};
    tp_ref r;
    cr_assert_eq (tp_spawn (sys, &counter, NULL, &o, &r), 0);
    cr_assert (tp_ref_eq (tp_whereis (sys, "named"), r));
    tp_ref r2;
    cr_assert_eq (tp_spawn (sys, &counter, NULL, &o, &r2), TP_EEXIST);
    tp_msg *reply = NULL;
    cr_assert_eq (tp_call (sys, tp_whereis (sys, "named"), tp_tag ("ask"),
                           tt_ms (5000), &reply, NULL),
                  0);
    tp_msg_destroy (&reply);
    tp_system_stats st;
    tp_system_stats_get (sys, &st);
    cr_assert_eq (st.actors_live, 1, "failed spawn left an actor");
    tp_system_destroy (&sys);
    cr_assert_eq (atomic_load (&g_terminated), 1,
                  "failed spawn ran terminate");
}

/* ---- stats ------------------------------------------------------- */

Test (stats, actor_stats_count_processed_messages, .timeout = 30)
{
    s_reset ();
    tp_system *sys = tp_system_new (NULL);
    tp_ref r;
    cr_assert_eq (tp_spawn (sys, &counter, NULL, NULL, &r), 0);
    for (int i = 0; i < 100; i++)
        cr_assert_eq (tp_send (sys, r, tp_tag ("x"), NULL), 0);
    tp_msg *reply = NULL;
    cr_assert_eq (tp_call (sys, r, tp_tag ("ask"), tt_ms (5000), &reply, NULL),
                  0);
    tp_msg_destroy (&reply);
    /* the counts are published when the turn ends, and the reply may
       have left before that: look until they are (bounded) */
    tp_actor_stats st;
    uint64_t end = tt_now_ms () + (uint64_t) tt_ms (5000);
    do
        cr_assert_eq (tp_actor_stats_get (sys, r, &st), 0);
    while ((st.processed != 101 || st.mailbox != 0) && tt_now_ms () < end
           && sched_yield () == 0);
    cr_assert_eq (st.processed, 101);
    cr_assert_eq (st.mailbox, 0);
    cr_assert_eq (st.thread, false);
    tp_system_stats ss;
    tp_system_stats_get (sys, &ss);
    cr_assert_eq (ss.actors_live, 1);
    tp_system_destroy (&sys);
}

/* ---- many foreign threads ------------------------------------------ */

typedef struct {
    tp_system *sys;
    tp_ref to;
} th_arg;

static void *
s_caller_thread (void *p)
{
    th_arg *a = p;
    for (int i = 0; i < 200; i++) {
        tp_msg *reply = NULL;
        TT_CHECK (tp_call (a->sys, a->to, tp_tag ("ask"), tt_ms (5000), &reply,
                           NULL)
                  == 0);
        tp_msg_destroy (&reply);
    }
    return NULL;
}

Test (call, concurrent_calls_from_many_threads, .timeout = 60)
{
    s_reset ();
    tp_system *sys = tp_system_new (NULL);
    tp_ref r;
    cr_assert_eq (tp_spawn (sys, &counter, NULL, NULL, &r), 0);
    th_arg a = {sys, r};
    pthread_t t[6];
    for (int i = 0; i < 6; i++)
        pthread_create (&t[i], NULL, s_caller_thread, &a);
    for (int i = 0; i < 6; i++)
        pthread_join (t[i], NULL);
    cr_assert_eq (atomic_load (&g_received), 1200);
    tp_system_destroy (&sys);
    TT_NO_FAILURES ();
}

static void
idle_receive (tp_actor *self, tp_msg *msg)
{
    (void) self;
    (void) msg;
}
static const tp_behavior idle_b = {"idler", NULL, idle_receive, NULL};

/*  With report_alive, tp_system_destroy names every actor it stops. */
Test (system, destroy_reports_actors_still_alive_when_asked, .timeout = 30)
{
    char path[64];
    snprintf (path, sizeof path, "/tmp/tp-report-%d", getpid ());
    tp_system_opts o = {.workers = 1, .report_alive = true};
    tp_system *sys = tp_system_new (&o);
    cr_assert_not_null (sys);
    tp_ref a, t;
    cr_assert_eq (tp_spawn (sys, &idle_b, NULL, NULL, &a), 0);
    tp_spawn_opts to = {.kind = TP_THREAD};
    cr_assert_eq (tp_spawn (sys, &idle_b, NULL, &to, &t), 0);
    fflush (stderr);
    int saved = dup (2);
    int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    cr_assert_geq (fd, 0);
    dup2 (fd, 2);
    close (fd);
    tp_system_destroy (&sys);
    fflush (stderr);
    dup2 (saved, 2);
    close (saved);
    char text[4096] = "";
    FILE *f = fopen (path, "r");
    cr_assert_not_null (f);
    size_t n = fread (text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose (f);
    unlink (path);
    cr_assert_not_null (strstr (text, "alive at shutdown"), "%s", text);
    cr_assert_not_null (strstr (text, "\"idler\" (loop actor)"), "%s", text);
    cr_assert_not_null (strstr (text, "\"idler\" (thread actor)"), "%s", text);
    cr_assert_not_null (strstr (text, "spawned outside any actor"), "%s", text);
}

#include "runtime.h"

static void
s_echo_once_receive (tp_actor *self, tp_msg *msg)
{
    if (tp_msg_is_request (msg))
        tp_reply (self, msg, tp_tag ("ok"), NULL);
}
static const tp_behavior echo_once = {"echo", NULL, s_echo_once_receive,
                                      NULL};

typedef struct {
    tp_system *sys;
    tp_ref to;
    _Atomic long ok;
} s_thread_job;

static void *
s_short_thread (void *arg)
{
    s_thread_job *j = arg;
    tp_msg *r = NULL;
    if (tp_call (j->sys, j->to, tp_tag ("ping"), tt_ms (5000), &r, NULL) == 0)
        atomic_fetch_add (&j->ok, 1);
    tp_msg_destroy (&r);
    return NULL;
}

/*  A thread per request, as a server without a pool writes it: each
    foreign thread that called in gets a context, and gives it back when
    it exits, so 300 of them leave the context table small. */
Test (system, short_lived_foreign_threads_give_their_contexts_back,
      .timeout = 120)
{
    tp_system_opts o = {.workers = 1};
    tp_system *sys = tp_system_new (&o);
    s_thread_job j = {.sys = sys};
    cr_assert_eq (tp_spawn (sys, &echo_once, NULL, NULL, &j.to), 0);
    /* each thread on a stack of its own, kept to the end: the threads
       then have distinct ids, as in a program whose thread ids do not
       happen to repeat (glibc reuses cached stacks, and with them ids) */
    enum { N = 300, STACK = 2 * 1024 * 1024 }; /* (TSan wants big stacks) */
    char *stacks = malloc ((size_t) N * STACK);
    cr_assert_not_null (stacks);
    for (int i = 0; i < N; i++) {
        pthread_attr_t a;
        pthread_attr_init (&a);
        pthread_attr_setstack (&a, stacks + (size_t) i * STACK, STACK);
        pthread_t t;
        cr_assert_eq (pthread_create (&t, &a, s_short_thread, &j), 0);
        pthread_join (t, NULL);
        pthread_attr_destroy (&a);
    }
    cr_assert_eq (atomic_load (&j.ok), N);
    int ctxs = atomic_load (&sys->nctx);
    cr_assert_lt (ctxs, 16, "%d contexts for %d threads come and gone", ctxs,
                  N);
    tp_system_destroy (&sys);
    free (stacks);
}

typedef struct {
    tp_system *sys;
    tp_ref to;
    int rc;                 /* of the thread's tp_send */
    _Atomic long sent;
    _Atomic long leave;
} s_holder;

/*  Sends once, then holds its context until told to leave. */
static void *
s_holding_thread (void *arg)
{
    s_holder *h = arg;
    h->rc = tp_send (h->sys, h->to, tp_tag ("ping"), NULL);
    tt_set (&h->sent, 1);
    TT_CHECK (tt_wait_ge (&h->leave, 1, 30000));
    return NULL;
}

/*  max_threads bounds the threads a system serves: one thread too many
    gets TP_ELIMIT (no abort), a thread actor too; a thread that exits
    gives its place back; destroy works with the table full. */
Test (system, one_thread_more_than_max_threads_gets_elimit, .timeout = 60)
{
    tp_system_opts bad = {.workers = 2, .max_threads = 3};
    cr_assert_null (tp_system_new (&bad), "below workers + 2");
    tp_system_opts o = {.workers = 1, .max_threads = 4};
    tp_system *sys = tp_system_new (&o); /* worker 0 and the spare: 2 */
    cr_assert_not_null (sys);
    tp_ref echo;
    cr_assert_eq (tp_spawn (sys, &echo_once, NULL, NULL, &echo), 0); /* 3 */
    s_holder h1 = {.sys = sys, .to = echo}, h2 = h1;
    pthread_t t1, t2;
    cr_assert_eq (pthread_create (&t1, NULL, s_holding_thread, &h1), 0);
    cr_assert (tt_wait_ge (&h1.sent, 1, 5000));
    cr_assert_eq (h1.rc, 0, "the fourth context");
    cr_assert_eq (pthread_create (&t2, NULL, s_holding_thread, &h2), 0);
    cr_assert (tt_wait_ge (&h2.sent, 1, 5000));
    cr_assert_eq (h2.rc, TP_ELIMIT, "a fifth: %d", h2.rc);
    tp_spawn_opts th = {.kind = TP_THREAD};
    cr_assert_eq (tp_spawn (sys, &echo_once, NULL, &th, NULL), TP_ELIMIT);
    /* main still works, and a thread that leaves gives its place back */
    tp_msg *r = NULL;
    cr_assert_eq (tp_call (sys, echo, tp_tag ("ping"), tt_ms (5000), &r, NULL),
                  0);
    tp_msg_destroy (&r);
    tt_set (&h1.leave, 1);
    pthread_join (t1, NULL);
    s_holder h3 = {.sys = sys, .to = echo};
    pthread_t t3;
    tt_set (&h3.leave, 1);
    cr_assert_eq (pthread_create (&t3, NULL, s_holding_thread, &h3), 0);
    pthread_join (t3, NULL);
    cr_assert_eq (h3.rc, 0, "a place given back: %d", h3.rc);
    tt_set (&h2.leave, 1);
    pthread_join (t2, NULL);
    tp_system_destroy (&sys);
}

/*  A foreign thread's sends are batched and flushed by the workers: a
    burst from main arrives in full although main makes no further call
    (it only waits on a flag), whether the worker was asleep, spinning or
    busy in a long turn when the burst came. */
static _Atomic long g_burst;

static void
burst_receive (tp_actor *self, tp_msg *msg)
{
    (void) self;
    if (tp_msg_is (msg, "busy")) {
        uint64_t end = tt_now_ms () + 200; /* a long turn */
        while (tt_now_ms () < end)
            ;
        return;
    }
    tt_add (&g_burst, 1);
}
static const tp_behavior burst_b = {"burst", NULL, burst_receive, NULL};

Test (system, a_burst_from_main_arrives_without_another_call, .timeout = 60)
{
    tp_system_opts o = {.workers = 1};
    tp_system *sys = tp_system_new (&o);
    tp_ref to, other;
    cr_assert_eq (tp_spawn (sys, &burst_b, NULL, NULL, &to), 0);
    cr_assert_eq (tp_spawn (sys, &burst_b, NULL, NULL, &other), 0);
    long want = 0;
    for (int round = 0; round < 30; round++) {
        if (round % 3 == 1) /* the worker busy in another actor's turn */
            cr_assert_eq (tp_send (sys, other, tp_tag ("busy"), NULL), 0);
        int n = 1 + round * 97;
        for (int i = 0; i < n; i++)
            cr_assert_eq (tp_send (sys, to, tp_tag ("hit"), "i", i), 0);
        want += n;
        /* no troupe call until the burst has arrived */
        cr_assert (tt_wait_ge (&g_burst, want, 10000), "round %d: %ld of %ld",
                   round, atomic_load (&g_burst), want);
        if (round % 3 == 2) { /* let the worker fall asleep */
            uint64_t end = tt_now_ms () + 5;
            while (tt_now_ms () < end)
                ;
        }
    }
    tp_system_destroy (&sys);
}

/*  A worker that ends after a timer, with reason "done", while a helper
    lives on: tp_system_wait_for returns for the worker alone. */
static int
timed_init (tp_actor *self, void *arg)
{
    (void) arg;
    return tp_after (self, 50, tp_tag ("end"), NULL) > 0 ? 0 : -1;
}

static void
timed_receive (tp_actor *self, tp_msg *msg)
{
    if (tp_msg_is (msg, "end"))
        tp_exit (self, tp_tag ("done"));
}
static const tp_behavior timed_b = {"timed", timed_init, timed_receive, NULL};

Test (system, wait_for_one_actor_while_helpers_live_on, .timeout = 30)
{
    tp_system *sys = tp_system_new (NULL);
    s_reset ();
    tp_ref helper, worker;
    cr_assert_eq (tp_spawn (sys, &counter, NULL, NULL, &helper), 0);
    cr_assert_eq (tp_spawn (sys, &timed_b, NULL, NULL, &worker), 0);
    tp_tag_t why = 0;
    cr_assert_eq (tp_system_wait_for (sys, worker, tt_ms (10000), &why), 0);
    cr_assert_eq (why, tp_tag ("done"));
    /* the helper still answers; waiting for it times out */
    tp_msg *r = NULL;
    cr_assert_eq (tp_call (sys, helper, tp_tag ("ask"), tt_ms (5000), &r, NULL),
                  0);
    tp_msg_destroy (&r);
    uint64_t t0 = tt_now_ms ();
    cr_assert_eq (tp_system_wait_for (sys, helper, 50, &why), TP_ETIMEDOUT);
    cr_assert_geq (tt_now_ms () - t0, 49);
    /* a dead ref: noproc at once */
    cr_assert_eq (tp_system_wait_for (sys, worker, tt_ms (10000), &why), 0);
    cr_assert_eq (why, tp_tag ("noproc"));
    cr_assert_eq (tp_system_wait_for (sys, TP_REF_NIL, 10, NULL), TP_EINVAL);
    /* the monitor of the timed-out wait was removed: stopping the helper
       sends no notice that a later wait could take for its own */
    cr_assert_eq (tp_system_stop (sys, helper, tp_tag ("bye")), 0);
    cr_assert_eq (tp_system_wait_for (sys, helper, tt_ms (10000), &why), 0);
    cr_assert (why == tp_tag ("bye") || why == tp_tag ("noproc"));
    tp_system_destroy (&sys);
}

/* ---- unpack failures in behaviours are counted ---------------------- */

static _Atomic long g_bad_seen;

static void
strict_receive (tp_actor *self, tp_msg *msg)
{
    (void) self;
    int a, b;
    if (tp_msg_unpack (msg, "ii", &a, &b) != 0)
        tt_add (&g_bad_seen, 1);
}
static const tp_behavior strict_b = {"strict", NULL, strict_receive, NULL};

Test (stats, unpack_failures_in_behaviours_are_counted, .timeout = 30)
{
    tp_system *sys = tp_system_new (NULL);
    tp_ref a;
    cr_assert_eq (tp_spawn (sys, &strict_b, NULL, NULL, &a), 0);
    cr_assert_eq (tp_send (sys, a, tp_tag ("add"), "ii", 1, 2), 0);
    cr_assert_eq (tp_send (sys, a, tp_tag ("add"), "s", "two"), 0);
    cr_assert_eq (tp_send (sys, a, tp_tag ("add"), "i", 1), 0);
    cr_assert (tt_wait_ge (&g_bad_seen, 2, 5000));
    tp_system_stats st;
    tp_system_stats_get (sys, &st);
    cr_assert_eq (st.unpack_errors, 2);
    /* outside actors: not counted (the caller sees the code) */
    tp_msg *m = tp_msg_new (tp_tag ("x"), "s", "no");
    int v;
    cr_assert_neq (tp_msg_unpack (m, "i", &v), 0);
    tp_msg_destroy (&m);
    tp_system_stats_get (sys, &st);
    cr_assert_eq (st.unpack_errors, 2);
    tp_system_destroy (&sys);
    TT_NO_FAILURES ();
}

/* ---- tp_spawn_sync ----------------------------------------------------- */

static _Atomic long s_init_go;

static int
sync_init (tp_actor *self, void *arg)
{
    (void) self;
    const char *how = arg;
    if (how && !strcmp (how, "fail"))
        return -1;
    if (how && !strcmp (how, "slow"))
        tt_wait_ge (&s_init_go, 1, 10000); /* (until the test lets it go) */
    return 0;
}

static _Atomic long s_sync_from_actor;
static const tp_behavior sync_b; /* (defined below) */

static void
sync_receive (tp_actor *self, tp_msg *msg)
{
    if (tp_msg_is (msg, "try")) { /* a loop actor may not block its worker */
        tp_ref r;
        tt_set (&s_sync_from_actor,
                tp_spawn_sync (tp_system_of (self), &sync_b, NULL, NULL, 1000,
                               &r)
                        == TP_ESTATE
                    ? 1
                    : 2);
    }
}
static const tp_behavior sync_b = {"sync", sync_init, sync_receive, NULL};

Test (spawn_sync, waits_for_init_and_tells_how_it_went, .timeout = 30)
{
    tp_system_opts o = {.workers = 2};
    tp_system *sys = tp_system_new (&o);
    cr_assert_not_null (sys);
    tp_ref r = TP_REF_NIL;
    cr_assert_eq (tp_spawn_sync (sys, &sync_b, NULL, NULL, tt_ms (5000), &r),
                  0);
    tp_actor_stats st;
    cr_assert_eq (tp_actor_stats_get (sys, r, &st), 0, "it runs");
    /* a failed init: TP_EDOWN, and the ref names a dead actor */
    cr_assert_eq (tp_spawn_sync (sys, &sync_b, "fail", NULL, tt_ms (5000), &r),
                  TP_EDOWN);
    cr_assert_neq (tp_actor_stats_get (sys, r, &st), 0);
    tp_spawn_opts th = {.kind = TP_THREAD};
    cr_assert_eq (tp_spawn_sync (sys, &sync_b, "fail", &th, tt_ms (5000), &r),
                  TP_EDOWN);
    cr_assert_eq (tp_spawn_sync (sys, &sync_b, NULL, &th, tt_ms (5000), &r), 0);
    /* an init still running at the bound: TP_ETIMEDOUT, and it lives on */
    cr_assert_eq (tp_spawn_sync (sys, &sync_b, "slow", &th, 50, &r),
                  TP_ETIMEDOUT);
    tt_set (&s_init_go, 1);
    cr_assert_eq (tp_actor_stats_get (sys, r, &st), 0, "the slow one lives");
    /* bad arguments; and from a loop actor, TP_ESTATE */
    cr_assert_eq (tp_spawn_sync (sys, &sync_b, NULL, NULL, 0, &r), TP_EINVAL);
    cr_assert_eq (tp_spawn_sync (sys, &sync_b, NULL, NULL, -2, &r), TP_EINVAL);
    tp_ref loop;
    cr_assert_eq (tp_spawn (sys, &sync_b, NULL, NULL, &loop), 0);
    cr_assert_eq (tp_send (sys, loop, tp_tag ("try"), NULL), 0);
    cr_assert (tt_wait_ge (&s_sync_from_actor, 1, 5000));
    cr_assert_eq (atomic_load (&s_sync_from_actor), 1);
    tp_system_destroy (&sys);
}
