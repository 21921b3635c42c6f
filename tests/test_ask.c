/*  tests/test_ask.c: ask with continuations, reply, blocking call. */
#include <criterion/criterion.h>

#include "testutil.h"

/* An adder answers "add"(a, b) with "sum"(a + b); ignores "ignore". */
static void
adder_receive (tp_actor *self, tp_msg *msg)
{
    int a, b;
    if (tp_msg_is (msg, "add")) {
        TT_CHECK (tp_msg_is_request (msg));
        TT_CHECK (tp_msg_unpack (msg, "ii", &a, &b) == 0);
        TT_CHECK (tp_reply (self, msg, tp_tag ("sum"), "i", a + b) == 0);
    }
    else if (tp_msg_is (msg, "plain")) {
        /* not a request: reply must refuse */
        TT_CHECK (!tp_msg_is_request (msg));
        TT_CHECK (tp_reply (self, msg, tp_tag ("sum"), "i", 0) == TP_EINVAL);
    }
}
static const tp_behavior adder = {"adder", NULL, adder_receive, NULL};

/* The asker: on "go"(adder) asks 1+2, then chains 3+4 from the first
   continuation, then asks an "ignore" with a short timeout. Results go
   into the shared record. */
typedef struct {
    tp_ref adder;
    _Atomic long sum1, sum2, timeouts, cancels, steps;
} ask_rec;

static void s_cont2 (tp_actor *self, int status, tp_msg *reply, void *arg);
static void s_cont3 (tp_actor *self, int status, tp_msg *reply, void *arg);

static void
s_cont1 (tp_actor *self, int status, tp_msg *reply, void *arg)
{
    ask_rec *r = arg;
    int s = 0;
    TT_CHECK (status == 0);
    TT_CHECK (reply && tp_msg_is (reply, "sum"));
    TT_CHECK (tp_msg_unpack (reply, "i", &s) == 0);
    TT_CHECK (tp_ref_eq (tp_msg_from (reply), r->adder));
    atomic_store (&r->sum1, s);
    tt_add (&r->steps, 1);
    TT_CHECK (tp_ask (self, r->adder, tp_tag ("add"), 5000, s_cont2, r, "ii",
                      3, 4)
              == 0);
}

static void
s_cont2 (tp_actor *self, int status, tp_msg *reply, void *arg)
{
    ask_rec *r = arg;
    int s = 0;
    TT_CHECK (status == 0);
    TT_CHECK (tp_msg_unpack (reply, "i", &s) == 0);
    atomic_store (&r->sum2, s);
    tt_add (&r->steps, 1);
    TT_CHECK (tp_ask (self, r->adder, tp_tag ("ignore"), 20, s_cont3, r, NULL)
              == 0);
}

static void
s_cont3 (tp_actor *self, int status, tp_msg *reply, void *arg)
{
    ask_rec *r = arg;
    TT_CHECK (status == TP_ETIMEDOUT);
    TT_CHECK (reply == NULL);
    atomic_fetch_add (&r->timeouts, 1);
    tt_add (&r->steps, 1);
}

static void
asker_receive (tp_actor *self, tp_msg *msg)
{
    ask_rec *r = tp_arg (self);
    if (tp_msg_is (msg, "go")) {
        TT_CHECK (tp_msg_unpack (msg, "r", &r->adder) == 0);
        /* -1: no timeout (the reply still comes) */
        TT_CHECK (tp_ask (self, r->adder, tp_tag ("add"), -1, s_cont1, r,
                          "ii", 1, 2)
                  == 0);
        /* invalid asks fail and never call their continuation: 0 (an
           ask that does not wait) and anything below -1 */
        TT_CHECK (tp_ask (self, r->adder, tp_tag ("add"), 0, s_cont1, r, NULL)
                  == TP_EINVAL);
        TT_CHECK (tp_ask (self, r->adder, tp_tag ("add"), -2, s_cont1, r, NULL)
                  == TP_EINVAL);
        TT_CHECK (tp_ask (self, r->adder, 0, 10, s_cont1, r, NULL)
                  == TP_EINVAL);
    }
}
static const tp_behavior asker = {"asker", NULL, asker_receive, NULL};

static void
s_run_chain (tp_spawn_opts *oa, tp_spawn_opts *ob)
{
    tp_system_opts so = {.workers = 2};
    tp_system *sys = tp_system_new (&so);
    ask_rec r = {0};
    tp_ref a, b;
    cr_assert_eq (tp_spawn (sys, &adder, NULL, ob, &b), 0);
    cr_assert_eq (tp_spawn (sys, &asker, &r, oa, &a), 0);
    cr_assert_eq (tp_send (sys, a, tp_tag ("go"), "r", b), 0);
    cr_assert (tt_wait_ge (&r.steps, 3, 5000), "steps %ld",
               atomic_load (&r.steps));
    cr_assert_eq (atomic_load (&r.sum1), 3);
    cr_assert_eq (atomic_load (&r.sum2), 7);
    cr_assert_eq (atomic_load (&r.timeouts), 1);
    tp_system_destroy (&sys);
    TT_NO_FAILURES ();
}

Test (ask, chain_and_timeout_on_one_worker, .timeout = 30)
{
    tp_spawn_opts o = {.place = TP_PLACE_WORKER, .worker = 0};
    s_run_chain (&o, &o);
}

Test (ask, chain_and_timeout_across_workers, .timeout = 30)
{
    tp_spawn_opts o1 = {.place = TP_PLACE_WORKER, .worker = 0};
    tp_spawn_opts o2 = {.place = TP_PLACE_WORKER, .worker = 1};
    s_run_chain (&o1, &o2);
}

Test (ask, chain_and_timeout_with_thread_actors, .timeout = 30)
{
    tp_spawn_opts o = {.kind = TP_THREAD};
    s_run_chain (&o, &o);
}

/* ---- pending asks are cancelled when the asker ends --------------- */

static void
s_cancel_cont (tp_actor *self, int status, tp_msg *reply, void *arg)
{
    ask_rec *r = arg;
    TT_CHECK (status == TP_ECANCELED);
    tt_add (&r->cancels, 1);
}

static void
quitter_receive (tp_actor *self, tp_msg *msg)
{
    ask_rec *r = tp_arg (self);
    tp_ref silent;
    TT_CHECK (tp_msg_unpack (msg, "r", &silent) == 0);
    TT_CHECK (tp_ask (self, silent, tp_tag ("ignore"), 60000, s_cancel_cont,
                      r, NULL)
              == 0);
    tp_exit (self, 0);
}
static const tp_behavior quitter = {"quitter", NULL, quitter_receive, NULL};

Test (ask, pending_ask_gets_canceled_when_asker_exits, .timeout = 30)
{
    tp_system *sys = tp_system_new (NULL);
    ask_rec r = {0};
    tp_ref a, b;
    cr_assert_eq (tp_spawn (sys, &adder, NULL, NULL, &b), 0);
    cr_assert_eq (tp_spawn (sys, &quitter, &r, NULL, &a), 0);
    cr_assert_eq (tp_send (sys, a, tp_tag ("go"), "r", b), 0);
    cr_assert (tt_wait_ge (&r.cancels, 1, 5000));
    tp_system_destroy (&sys);
    TT_NO_FAILURES ();
}

/* ---- many asks in flight ------------------------------------------ */

enum { MANY = 50000, MANY_LOST = 1000 };

typedef struct {
    tp_ref adder;
    _Atomic long ok, bad, timeouts, cancels;
} many_rec;

static void
s_many_cont (tp_actor *self, int status, tp_msg *reply, void *arg)
{
    many_rec *r = tp_arg (self);
    intptr_t i = (intptr_t) arg;
    int sum = -1;
    if (i < 0) { /* one of the asks nobody answers */
        tt_add (status == TP_ETIMEDOUT ? &r->timeouts : &r->bad, 1);
        return;
    }
    if (status == 0 && tp_msg_unpack (reply, "i", &sum) == 0
        && sum == (int) i + 1)
        tt_add (&r->ok, 1);
    else
        tt_add (&r->bad, 1);
}

static void
many_receive (tp_actor *self, tp_msg *msg)
{
    many_rec *r = tp_arg (self);
    if (!tp_msg_is (msg, "go"))
        return;
    for (intptr_t i = 0; i < MANY; i++) {
        TT_CHECK (tp_ask (self, r->adder, tp_tag ("add"), 30000, s_many_cont,
                          (void *) i, "ii", (int) i, 1)
                  == 0);
        if (i % (MANY / MANY_LOST) == 0) /* interleaved: never answered */
            TT_CHECK (tp_ask (self, r->adder, tp_tag ("ignore"), 50,
                              s_many_cont, (void *) (intptr_t) -1, NULL)
                      == 0);
    }
    /* a user timer among 51,000 ask timeouts is still the user's */
    int64_t t = tp_after (self, 10000, tp_tag ("late"), NULL);
    TT_CHECK (t > 0);
    TT_CHECK (tp_cancel (self, t) == 0);
    TT_CHECK (tp_cancel (self, t) == TP_ENOTFOUND);
}
static const tp_behavior many_b = {"many", NULL, many_receive, NULL};

static void
s_many (int asker_worker, int adder_worker)
{
    tp_system_opts o = {.workers = 2};
    tp_system *sys = tp_system_new (&o);
    many_rec r = {0};
    tp_spawn_opts oa = {.place = TP_PLACE_WORKER, .worker = asker_worker};
    tp_spawn_opts ob = {.place = TP_PLACE_WORKER, .worker = adder_worker};
    tp_ref a;
    cr_assert_eq (tp_spawn (sys, &adder, NULL, &ob, &r.adder), 0);
    cr_assert_eq (tp_spawn (sys, &many_b, &r, &oa, &a), 0);
    cr_assert_eq (tp_send (sys, a, tp_tag ("go"), NULL), 0);
    cr_assert (tt_wait_ge (&r.ok, MANY, 30000), "%ld of %d answered",
               atomic_load (&r.ok), MANY);
    cr_assert (tt_wait_ge (&r.timeouts, MANY_LOST, 30000), "%ld timeouts",
               atomic_load (&r.timeouts));
    cr_assert_eq (atomic_load (&r.bad), 0);
    tp_system_destroy (&sys);
    TT_NO_FAILURES ();
}

/*  50,000 asks in flight from one actor: each continuation gets its own
    reply, the 1,000 nobody answers time out, and nothing else does. */
Test (ask, fifty_thousand_in_flight_on_one_worker, .timeout = 60)
{
    s_many (0, 0);
}

Test (ask, fifty_thousand_in_flight_across_workers, .timeout = 60)
{
    s_many (0, 1);
}

static void
s_cancel_many (tp_actor *self, int status, tp_msg *reply, void *arg)
{
    many_rec *r = tp_arg (self);
    (void) reply;
    (void) arg;
    tt_add (status == TP_ECANCELED ? &r->cancels : &r->bad, 1);
}

static void
many_quit_receive (tp_actor *self, tp_msg *msg)
{
    many_rec *r = tp_arg (self);
    (void) msg;
    for (intptr_t i = 0; i < MANY; i++)
        TT_CHECK (tp_ask (self, r->adder, tp_tag ("ignore"), 60000,
                          s_cancel_many, (void *) i, NULL)
                  == 0);
    tp_exit (self, 0);
}

Test (ask, an_asker_that_ends_cancels_fifty_thousand_asks, .timeout = 60)
{
    tp_system *sys = tp_system_new (NULL);
    many_rec r = {0};
    tp_ref a;
    cr_assert_eq (tp_spawn (sys, &adder, NULL, NULL, &r.adder), 0);
    static const tp_behavior quit_b = {"many-quit", NULL, many_quit_receive,
                                       NULL};
    cr_assert_eq (tp_spawn (sys, &quit_b, &r, NULL, &a), 0);
    cr_assert_eq (tp_send (sys, a, tp_tag ("go"), NULL), 0);
    cr_assert (tt_wait_ge (&r.cancels, MANY, 30000), "%ld canceled",
               atomic_load (&r.cancels));
    cr_assert_eq (atomic_load (&r.bad), 0);
    tp_system_destroy (&sys);
    TT_NO_FAILURES ();
}

/* ---- blocking call from main ---------------------------------------- */

Test (call, blocking_call_from_main_gets_the_reply, .timeout = 30)
{
    tp_system *sys = tp_system_new (NULL);
    tp_ref b;
    cr_assert_eq (tp_spawn (sys, &adder, NULL, NULL, &b), 0);
    for (int i = 0; i < 1000; i++) {
        tp_msg *reply = NULL;
        cr_assert_eq (tp_call (sys, b, tp_tag ("add"), tt_ms (5000), &reply,
                               "ii", i, 1),
                      0);
        int s = -1;
        cr_assert (tp_msg_is (reply, "sum"));
        cr_assert_eq (tp_msg_unpack (reply, "i", &s), 0);
        cr_assert_eq (s, i + 1);
        tp_msg_destroy (&reply);
        cr_assert_null (reply);
    }
    tp_system_destroy (&sys);
    TT_NO_FAILURES ();
}

Test (call, blocking_call_to_thread_actor, .timeout = 30)
{
    tp_system *sys = tp_system_new (NULL);
    tp_spawn_opts o = {.kind = TP_THREAD};
    tp_ref b;
    cr_assert_eq (tp_spawn (sys, &adder, NULL, &o, &b), 0);
    tp_msg *reply = NULL;
    cr_assert_eq (tp_call (sys, b, tp_tag ("add"), tt_ms (5000), &reply, "ii",
                           20, 22),
                  0);
    int s = 0;
    cr_assert_eq (tp_msg_unpack (reply, "i", &s), 0);
    cr_assert_eq (s, 42);
    tp_msg_destroy (&reply);
    tp_system_destroy (&sys);
}

Test (call, times_out_when_nobody_answers_and_drops_the_late_reply,
      .timeout = 30)
{
    tp_system *sys = tp_system_new (NULL);
    tp_ref b;
    cr_assert_eq (tp_spawn (sys, &adder, NULL, NULL, &b), 0);
    tp_msg *reply = (tp_msg *) 1;
    uint64_t t0 = tt_now_ms ();
    cr_assert_eq (tp_call (sys, b, tp_tag ("ignore"), 50, &reply, NULL),
                  TP_ETIMEDOUT);
    cr_assert_geq (tt_now_ms () - t0, 49);
    cr_assert_null (reply);
    /* the next call still matches its own reply */
    cr_assert_eq (tp_call (sys, b, tp_tag ("add"), tt_ms (5000), &reply, "ii",
                           1, 1),
                  0);
    tp_msg_destroy (&reply);
    tp_system_destroy (&sys);
}

/*  reply is the _fail notice of an ask to `to` that ended with TP_EDOWN
    for `reason`. */
static void
s_check_fail (const tp_msg *reply, tp_ref to, const char *reason)
{
    tp_ref who = TP_REF_NIL;
    tp_tag_t why = 0;
    TT_CHECK (reply && tp_msg_is (reply, "_fail"));
    TT_CHECK (tp_msg_unpack (reply, "rt", &who, &why) == 0);
    TT_CHECK (tp_ref_eq (who, to));
    TT_CHECK (why == tp_tag (reason));
}

Test (call, to_a_dead_actor_fails_at_once_with_noproc, .timeout = 30)
{
    tp_system *sys = tp_system_new (NULL);
    tp_ref b;
    cr_assert_eq (tp_spawn (sys, &adder, NULL, NULL, &b), 0);
    cr_assert_eq (tp_system_stop (sys, b, 0), 0);
    cr_assert_eq (tp_system_wait (sys, tt_ms (5000)), 0);
    tp_msg *reply = NULL;
    uint64_t t0 = tt_now_ms ();
    cr_assert_eq (tp_call (sys, b, tp_tag ("add"), 30000, &reply, "ii", 1, 1),
                  TP_EDOWN);
    cr_assert_lt (tt_now_ms () - t0, 5000);
    s_check_fail (reply, b, "noproc");
    tp_msg_destroy (&reply);
    tp_system_destroy (&sys);
    TT_NO_FAILURES ();
}

Test (call, rejects_bad_arguments)
{
    tp_system *sys = tp_system_new (NULL);
    tp_ref b;
    cr_assert_eq (tp_spawn (sys, &adder, NULL, NULL, &b), 0);
    tp_msg *reply = NULL;
    cr_assert_eq (tp_call (sys, b, 0, 10, &reply, NULL), TP_EINVAL);
    cr_assert_eq (tp_call (sys, b, tp_tag ("add"), 10, NULL, NULL), TP_EINVAL);
    cr_assert_eq (tp_call (sys, b, tp_tag ("add"), 10, &reply, "(bad"),
                  TP_EINVAL);
    tp_system_destroy (&sys);
}

static _Atomic long estate_seen;
static void
caller_receive (tp_actor *self, tp_msg *msg)
{
    tp_msg *reply = NULL;
    int rc = tp_call (tp_system_of (self), tp_self (self), tp_tag ("x"), 10,
                      &reply, NULL);
    TT_CHECK (rc == TP_ESTATE);
    tt_set (&estate_seen, 1);
}
static const tp_behavior caller = {"caller", NULL, caller_receive, NULL};

Test (call, from_inside_an_actor_is_refused, .timeout = 30)
{
    tp_system *sys = tp_system_new (NULL);
    tp_ref a;
    cr_assert_eq (tp_spawn (sys, &caller, NULL, NULL, &a), 0);
    cr_assert_eq (tp_send (sys, a, tp_tag ("go"), NULL), 0);
    cr_assert (tt_wait_ge (&estate_seen, 1, 5000));
    tp_system_destroy (&sys);
    TT_NO_FAILURES ();
}

/* plain (non-request) messages cannot be replied to */
Test (ask, reply_to_a_plain_message_is_refused, .timeout = 30)
{
    tp_system *sys = tp_system_new (NULL);
    tp_ref b;
    cr_assert_eq (tp_spawn (sys, &adder, NULL, NULL, &b), 0);
    cr_assert_eq (tp_send (sys, b, tp_tag ("plain"), NULL), 0);
    /* a call after it proves the plain message was processed */
    tp_msg *reply = NULL;
    cr_assert_eq (tp_call (sys, b, tp_tag ("add"), tt_ms (5000), &reply, "ii",
                           1, 1),
                  0);
    tp_msg_destroy (&reply);
    tp_system_destroy (&sys);
    TT_NO_FAILURES ();
}

/* ---- asks that fail fast ------------------------------------------- */

/*  A flaky server: "add" answers; "crash"(t reason) ends it with reason
    without answering; "keep" is kept (a dup) to answer later, which it
    never does; "slow" is answered 200 ms later (with any other slow one
    kept by then). Spawned with a ref as arg, it hands "add" on to that
    actor and ends. */
typedef struct {
    tp_msg *kept[16];
    int nkept;
    const tp_ref *fwd; /* spawn arg: hand "add" on to it, then end */
} flaky_t;

static _Atomic long flaky_kept; /* "keep" requests kept, all servers */

static int
flaky_init (tp_actor *self, void *arg)
{
    flaky_t *f = calloc (1, sizeof (flaky_t));
    f->fwd = arg;
    tp_set_state (self, f);
    return 0;
}

static void
flaky_receive (tp_actor *self, tp_msg *msg)
{
    flaky_t *f = tp_state (self);
    int a, b;
    tp_tag_t why;
    if (tp_msg_is (msg, "add") && f->fwd) {
        TT_CHECK (tp_forward (self, *f->fwd, msg) == 0);
        tp_exit (self, tp_tag ("handed_on"));
    }
    else if (tp_msg_is (msg, "add") && tp_msg_unpack (msg, "ii", &a, &b) == 0)
        TT_CHECK (tp_reply (self, msg, tp_tag ("sum"), "i", a + b) == 0);
    else if (tp_msg_is (msg, "crash") && tp_msg_unpack (msg, "t", &why) == 0)
        tp_exit (self, why);
    else if (tp_msg_is (msg, "keep") && f->nkept < 16) {
        f->kept[f->nkept++] = tp_msg_dup (msg);
        tt_add (&flaky_kept, 1);
    }
    else if (tp_msg_is (msg, "slow") && f->nkept < 16) {
        f->kept[f->nkept++] = tp_msg_dup (msg);
        TT_CHECK (tp_after (self, 200, tp_tag ("late"), NULL) > 0);
    }
    else if (tp_msg_is (msg, "late")) {
        for (int i = 0; i < f->nkept; i++) {
            TT_CHECK (tp_reply (self, f->kept[i], tp_tag ("sum"), "i", 0)
                      == 0);
            tp_msg_destroy (&f->kept[i]);
        }
        f->nkept = 0;
    }
}

static void
flaky_terminate (tp_actor *self, tp_tag_t reason)
{
    (void) reason;
    flaky_t *f = tp_state (self);
    for (int i = 0; f && i < f->nkept; i++)
        tp_msg_destroy (&f->kept[i]);
    free (f);
}

static const tp_behavior flaky = {"flaky", flaky_init, flaky_receive,
                                  flaky_terminate};

/*  The asker: on "go"(r server, s what, i n) asks `what` n times (with
    30 s timeouts), each continuation recording status and reason. For
    "queued", it first tells the server to crash, then asks n "add": the
    asks wait in the mailbox of a server that is ending. */
typedef struct {
    tp_ref server;
    _Atomic long ok, down, timedout, other;
    _Atomic long reason; /* the reason of the last TP_EDOWN */
    _Atomic long ms;     /* when the last continuation ran (tt_now_ms) */
} fail_rec;

static void
s_fail_cont (tp_actor *self, int status, tp_msg *reply, void *arg)
{
    (void) self;
    fail_rec *r = arg;
    tp_ref who;
    tp_tag_t why = 0;
    atomic_store (&r->ms, (long) tt_now_ms ());
    if (status == TP_EDOWN) {
        TT_CHECK (tp_msg_is (reply, "_fail"));
        TT_CHECK (tp_msg_unpack (reply, "rt", &who, &why) == 0);
        TT_CHECK (tp_ref_eq (who, r->server));
        atomic_store (&r->reason, (long) why);
        tt_add (&r->down, 1);
    }
    else if (status == 0)
        tt_add (&r->ok, 1);
    else if (status == TP_ETIMEDOUT)
        tt_add (&r->timedout, 1);
    else
        tt_add (&r->other, 1);
}

static void
fail_asker_receive (tp_actor *self, tp_msg *msg)
{
    fail_rec *r = tp_arg (self);
    const char *what;
    size_t len;
    int n;
    if (!tp_msg_is (msg, "go")
        || tp_msg_unpack (msg, "rsi", &r->server, &what, &len, &n) != 0)
        return;
    char w[16];
    snprintf (w, sizeof w, "%.*s", (int) len, what);
    if (strcmp (w, "queued") == 0) {
        TT_CHECK (tp_tell (self, r->server, tp_tag ("crash"), "t",
                           tp_tag ("boom"))
                  == 0);
        snprintf (w, sizeof w, "add");
    }
    for (int i = 0; i < n; i++)
        TT_CHECK ((strcmp (w, "add") == 0
                       ? tp_ask (self, r->server, tp_tag (w), 30000,
                                 s_fail_cont, r, "ii", 1, 2)
                       : tp_ask (self, r->server, tp_tag (w), 30000,
                                 s_fail_cont, r, "t", tp_tag ("boom")))
                  == 0);
}
static const tp_behavior fail_asker = {"fail-asker", NULL, fail_asker_receive,
                                       NULL};

/*  Spawns a flaky server and an asker (on worker 0 and 1 when `across`),
    and has the asker ask `what` n times. */
static tp_system *
s_fail_setup (fail_rec *r, bool across, const char *what, int n)
{
    tp_system_opts o = {.workers = 2};
    tp_system *sys = tp_system_new (&o);
    tp_spawn_opts os = {.place = TP_PLACE_WORKER, .worker = 0};
    tp_spawn_opts oa = {.place = TP_PLACE_WORKER, .worker = across ? 1 : 0};
    tp_ref a;
    cr_assert_eq (tp_spawn (sys, &flaky, NULL, &os, &r->server), 0);
    cr_assert_eq (tp_spawn (sys, &fail_asker, r, &oa, &a), 0);
    cr_assert_eq (tp_send (sys, a, tp_tag ("go"), "rsi", r->server, what, n),
                  0);
    return sys;
}

/*  The request in hand when the server ends, unanswered: the ask ends at
    once with TP_EDOWN and the server's reason, not after its 30 s. */
static void
s_dies_mid_request (bool across)
{
    fail_rec r = {0};
    uint64_t t0 = tt_now_ms ();
    tp_system *sys = s_fail_setup (&r, across, "crash", 1);
    cr_assert (tt_wait_ge (&r.down, 1, 10000), "no TP_EDOWN");
    uint64_t took = (uint64_t) atomic_load (&r.ms) - t0;
    cr_log_info ("ask to an actor that dies mid-request (%s): TP_EDOWN "
                 "after %" PRIu64 " ms (timeout 30000 ms)\n",
                 across ? "across workers" : "one worker", took);
    cr_assert_lt (took, 10000);
    cr_assert_eq (atomic_load (&r.reason), (long) tp_tag ("boom"));
    cr_assert_eq (atomic_load (&r.ok) + atomic_load (&r.timedout)
                      + atomic_load (&r.other),
                  0);
    tp_system_destroy (&sys);
    TT_NO_FAILURES ();
}

Test (failfast, an_ask_to_an_actor_that_dies_mid_request_fails_at_once,
      .timeout = 30)
{
    s_dies_mid_request (false);
}

Test (failfast, the_same_across_workers, .timeout = 30)
{
    s_dies_mid_request (true);
}

/*  Requests still queued in the mailbox of an actor that ends: every one
    of them fails with the actor's reason. (On one worker, so that all
    500 are queued before the crash runs; across workers some arrive
    after the end, and fail with noproc.) */
Test (failfast, asks_queued_behind_a_crash_all_fail_with_its_reason,
      .timeout = 30)
{
    fail_rec r = {0};
    tp_system *sys = s_fail_setup (&r, false, "queued", 500);
    cr_assert (tt_wait_ge (&r.down, 500, 10000), "%ld of 500 TP_EDOWN",
               atomic_load (&r.down));
    cr_assert_eq (atomic_load (&r.reason), (long) tp_tag ("boom"));
    cr_assert_eq (atomic_load (&r.ok) + atomic_load (&r.timedout), 0);
    tp_system_destroy (&sys);
    TT_NO_FAILURES ();
}

/*  Requests the server kept to answer later, when it ends in another
    turn: the askers hear at once. */
Test (failfast, kept_requests_fail_when_their_keeper_ends, .timeout = 30)
{
    fail_rec r = {0};
    tp_system *sys = s_fail_setup (&r, true, "keep", 10);
    cr_assert (tt_wait_ge (&flaky_kept, 10, 10000), "%ld of 10 kept",
               atomic_load (&flaky_kept));
    cr_assert_eq (atomic_load (&r.down), 0, "failed before the end");
    cr_assert_eq (tp_system_stop (sys, r.server, tp_tag ("upgrade")), 0);
    cr_assert (tt_wait_ge (&r.down, 10, 10000), "%ld of 10 TP_EDOWN",
               atomic_load (&r.down));
    cr_assert_eq (atomic_load (&r.reason), (long) tp_tag ("upgrade"));
    tp_system_destroy (&sys);
    TT_NO_FAILURES ();
}

/*  A request handed on with tp_forward is owed by the next actor: the
    forwarder's end fails nothing; the reply comes from the adder. */
Test (failfast, a_forwarded_request_is_not_failed_by_the_forwarder,
      .timeout = 30)
{
    tp_system *sys = tp_system_new (NULL);
    tp_ref f, add;
    cr_assert_eq (tp_spawn (sys, &adder, NULL, NULL, &add), 0);
    cr_assert_eq (tp_spawn (sys, &flaky, &add, NULL, &f), 0);
    tp_msg *reply = NULL;
    cr_assert_eq (tp_call (sys, f, tp_tag ("add"), tt_ms (5000), &reply, "ii",
                           1, 2),
                  0);
    int sum = 0;
    cr_assert (tp_msg_is (reply, "sum"));
    cr_assert_eq (tp_msg_unpack (reply, "i", &sum), 0);
    cr_assert_eq (sum, 3);
    cr_assert (tp_ref_eq (tp_msg_from (reply), add));
    tp_msg_destroy (&reply);
    tp_system_destroy (&sys);
    TT_NO_FAILURES ();
}

/*  A reply that comes after its call timed out is dropped and counted. */
Test (failfast, a_late_reply_is_dropped_and_counted, .timeout = 30)
{
    tp_system *sys = tp_system_new (NULL);
    tp_ref f;
    cr_assert_eq (tp_spawn (sys, &flaky, NULL, NULL, &f), 0);
    tp_msg *reply = NULL;
    cr_assert_eq (tp_call (sys, f, tp_tag ("slow"), 20, &reply, NULL),
                  TP_ETIMEDOUT);
    cr_assert_null (reply);
    /* the second slow request is answered with the first (one timer for
       both), just after it: the wait for the second drops the first */
    cr_assert_eq (tp_call (sys, f, tp_tag ("slow"), tt_ms (5000), &reply,
                           NULL),
                  0);
    tp_msg_destroy (&reply);
    tp_system_stats st;
    tp_system_stats_get (sys, &st);
    cr_assert_eq (st.late_replies, 1);
    tp_system_destroy (&sys);
    TT_NO_FAILURES ();
}

/* ---- a blocking call from a thread actor ---------------------------- */

typedef struct {
    tp_ref adder, flaky;
    _Atomic long sum, down, plain_seen, done;
} tcall_rec;

/*  A thread actor: on "go" calls the adder (blocking its own thread),
    while main's "plain" message waits in its mailbox; then calls a
    server that crashes on the request (TP_EDOWN, not the timeout). */
static void
tcaller_receive (tp_actor *self, tp_msg *msg)
{
    tcall_rec *r = tp_arg (self);
    tp_system *sys = tp_system_of (self);
    if (tp_msg_is (msg, "go")) {
        tp_msg *rep = NULL;
        int s = 0;
        TT_CHECK (tp_call (sys, r->adder, tp_tag ("add"), 5000, &rep, "ii",
                           20, 22)
                  == 0);
        TT_CHECK (rep && tp_msg_unpack (rep, "i", &s) == 0);
        tp_msg_destroy (&rep);
        atomic_store (&r->sum, s);
        /* (a "plain" that came meanwhile waits: it runs after "go") */
        TT_CHECK (atomic_load (&r->plain_seen) == 0);
        uint64_t t0 = tt_now_ms ();
        int rc = tp_call (sys, r->flaky, tp_tag ("crash"), 30000, &rep, "t",
                          tp_tag ("boom"));
        TT_CHECK (rc == TP_EDOWN);
        TT_CHECK (tt_now_ms () - t0 < 10000);
        tp_msg_destroy (&rep);
        tt_add (&r->down, 1);
    }
    else if (tp_msg_is (msg, "plain")) {
        tt_add (&r->plain_seen, 1);
        tt_add (&r->done, 1);
    }
}
static const tp_behavior tcaller = {"tcaller", NULL, tcaller_receive, NULL};

Test (call, from_a_thread_actor_blocks_only_its_thread, .timeout = 30)
{
    tp_system *sys = tp_system_new (NULL);
    tcall_rec r = {0};
    cr_assert_eq (tp_spawn (sys, &adder, NULL, NULL, &r.adder), 0);
    cr_assert_eq (tp_spawn (sys, &flaky, NULL, NULL, &r.flaky), 0);
    tp_spawn_opts o = {.kind = TP_THREAD};
    tp_ref t;
    cr_assert_eq (tp_spawn (sys, &tcaller, &r, &o, &t), 0);
    cr_assert_eq (tp_send (sys, t, tp_tag ("go"), NULL), 0);
    cr_assert_eq (tp_send (sys, t, tp_tag ("plain"), NULL), 0);
    cr_assert (tt_wait_ge (&r.down, 1, 10000));
    cr_assert (tt_wait_ge (&r.done, 1, 10000), "plain was lost");
    cr_assert_eq (atomic_load (&r.sum), 42);
    tp_system_destroy (&sys);
    TT_NO_FAILURES ();
}
