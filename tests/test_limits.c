/*  tests/test_limits.c: what one peer node may do here (tp_system_opts
    peer_*): bad frames past a rate quarantine that connection, monitors
    and asks past a count are refused, refs to ever new nodes churn only
    the sender's share of the node table. Each test checks that reaching
    a limit hurts that peer only: an honest peer talks on throughout.

    Peers are raw ZeroMQ processes' worth of code (tests/rawpeer.h) or a
    second system in the same process, on loopback tcp. */
#include <criterion/criterion.h>

#include "testutil.h"

#include "rawpeer.h"

static void
echo_receive (tp_actor *self, tp_msg *msg)
{
    int v = 0;
    if (tp_msg_is (msg, "ping") && tp_msg_unpack (msg, "i", &v) == 0
        && tp_msg_is_request (msg))
        tp_reply (self, msg, tp_tag ("pong"), "i", v + 1);
}
static const tp_behavior echo_b = {"echo", NULL, echo_receive, NULL};

static tp_system *
s_node (const char *name, tp_system_opts o, char *ep, size_t cap)
{
    o.node_name = name;
    o.workers = o.workers ? o.workers : 1;
    tp_system *sys = tp_system_new (&o);
    cr_assert_not_null (sys);
    cr_assert_eq (tp_node_bind (sys, "tcp://127.0.0.1:*", ep, cap), 0);
    return sys;
}

/*  Waits until the node's stats satisfy fn, on node events (tp_node_wait)
    with a 10 ms re-look for counters that move without one. */
static bool
s_wait_stats (tp_system *sys, bool (*fn) (const tp_node_stats *, long),
              long arg, int ms, tp_node_stats *st)
{
    uint64_t seq = 0, end = tt_now_ms () + (uint64_t) tt_ms (ms);
    for (;;) {
        tp_node_stats_get (sys, st);
        if (fn (st, arg))
            return true;
        uint64_t now = tt_now_ms ();
        if (now >= end)
            return false;
        tp_node_wait (sys, &seq, (int) (end - now < 10 ? end - now : 10));
    }
}

static bool
s_quarantined (const tp_node_stats *st, long n)
{
    return st->quarantines >= (uint64_t) n;
}

static bool
s_bad_ge (const tp_node_stats *st, long n)
{
    return st->frames_bad >= (uint64_t) n;
}

static bool
s_seen_ge (const tp_node_stats *st, long n)
{
    return st->frames_bad + st->frames_quarantined >= (uint64_t) n;
}

/*  Sends a request "ping" v with request id corr from the raw peer. */
static void
s_raw_ask (tt_raw *r, tp_ref to, uint64_t corr, int v)
{
    tp_msg *b = tp_msg_new (tp_tag ("x"), "i", v);
    tp__env e = tt_raw_env (r, TP__WIRE_USER, to, tp_tag ("ping"),
                            tp_msg_body (b), tp_msg_size (b));
    e.corr = corr;
    e.flags = TP__WIRE_F_REQUEST;
    tt_raw_send_env (r, &e);
    tp_msg_destroy (&b);
}

/*  The request ids a pong may answer: a late pong to an earlier ask (a
    greeting retried, say) is not the one waited for. */
typedef struct {
    uint64_t lo, hi;
} corr_range;

#define S_GREET_CORR 1000 /* s_raw_greet's asks: 1000..1049 */

static bool
s_got_pong (const tp__env *e, void *arg)
{
    const corr_range *r = arg;
    return e->kind == TP__WIRE_USER && e->tag == tp_tag ("pong")
           && (!r || (e->corr >= r->lo && e->corr <= r->hi));
}

/*  A pong to a greeting's ask (s_raw_greet may have asked more than once
    and stopped at the first answer). */
static bool
s_greet_pong (const tp__env *e)
{
    return e->kind == TP__WIRE_USER && e->tag == tp_tag ("pong")
           && e->corr >= S_GREET_CORR && e->corr < S_GREET_CORR + 50;
}

/*  An honest raw peer: greets, then asks the echo until it answers. */
static void
s_raw_greet (tt_raw *r, tp_ref echo)
{
    bool ok = false;
    for (int i = 0; i < 50 && !ok; i++) {
        tt_raw_hello (r, 0);
        s_raw_ask (r, echo, S_GREET_CORR + (uint64_t) i, i);
        ok = tt_raw_recv (r, 200, s_got_pong,
                          &(corr_range){S_GREET_CORR, S_GREET_CORR + 49});
    }
    cr_assert (ok, "%s: no pong after greeting", r->name);
}

/* ---------------------------------------------------------------------- */

Test (limits, a_peer_sending_bad_frames_is_quarantined_and_others_talk_on,
      .timeout = 300)
{
    char ep[256];
    tp_system *sys = s_node ("lim", (tp_system_opts){.peer_bad_per_s = 10,
                                                     .peer_quarantine_ms
                                                     = 1500},
                             ep, sizeof ep);
    uint32_t inc = tp_node_incarnation (tp_system_node (sys));
    tp_ref echo;
    cr_assert_eq (tp_spawn (sys, &echo_b, NULL, NULL, &echo), 0);
    tt_raw good, evil;
    tt_raw_open (&good, "good", ep, inc);
    tt_raw_open (&evil, "evil", ep, inc);
    s_raw_greet (&good, echo);
    s_raw_greet (&evil, echo);
    cr_assert (tp_node_up (sys, tp_node_id ("evil")));

    /* 10 bad frames within a second are let be; the 11th quarantines */
    static const uint8_t junk[] = {0x93, 0x01, 0x02}; /* not an envelope */
    for (int i = 0; i < 10; i++)
        cr_assert_eq (zmq_send (evil.d, junk, sizeof junk, 0), (int) sizeof junk);
    tp_node_stats st;
    cr_assert (s_wait_stats (sys, s_bad_ge, 10, 5000, &st));
    s_raw_ask (&good, echo, 1, 1);
    cr_assert (tt_raw_recv (&good, 5000, s_got_pong, &(corr_range){1, 1}));
    tp_node_stats_get (sys, &st);
    cr_assert_eq (st.quarantines, 0);
    /* (the clock is read before the frame that quarantines is sent: the
       node may act on it before this thread runs on) */
    uint64_t t0 = tt_now_ms ();
    for (int i = 0; i < 40; i++)
        cr_assert_eq (zmq_send (evil.d, junk, sizeof junk, 0), (int) sizeof junk);
    cr_assert (s_wait_stats (sys, s_quarantined, 1, 5000, &st),
               "not quarantined: %lu bad frames", (unsigned long) st.frames_bad);
    cr_assert_eq (st.quarantines, 1);
    cr_assert (tt_wait_peer (sys, "evil", false, 5000),
               "a quarantined peer is down");
    cr_assert (tp_node_up (sys, tp_node_id ("good")));

    /* while quarantined, even good frames from evil are dropped unread,
       and the honest peer is served as before */
    uint64_t q0 = st.frames_quarantined;
    int pongs = 0;
    for (int i = 0; i < 20; i++) {
        s_raw_ask (&evil, echo, 5000 + (uint64_t) i, i);
        s_raw_ask (&good, echo, 2000 + (uint64_t) i, i);
        pongs += tt_raw_recv (&good, 5000, s_got_pong,
                              &(corr_range){2000 + (uint64_t) i,
                                            2000 + (uint64_t) i});
    }
    cr_assert_eq (pongs, 20);
    bool evil_heard = tt_raw_recv (&evil, 100, s_got_pong,
                                   &(corr_range){5000, 5019});
    tp_node_stats_get (sys, &st);
    if (tt_now_ms () - t0 < 1400) { /* (a slow machine may be past it) */
        cr_assert (!evil_heard, "a quarantined peer was answered");
        cr_assert_geq (st.frames_quarantined, q0 + 20);
    }

    /* the quarantine ends: evil greets again and is served */
    bool back = false;
    uint64_t end = tt_now_ms () + (uint64_t) tt_ms (10000);
    while (!back && tt_now_ms () < end) {
        tt_raw_hello (&evil, 0);
        s_raw_ask (&evil, echo, 9000, 7);
        back = tt_raw_recv (&evil, 100, s_got_pong, &(corr_range){9000, 9000});
    }
    cr_assert (back, "the peer was not let back after its quarantine");
    cr_assert_geq (tt_now_ms () - t0, 1400, "let back too early");
    cr_assert (tp_node_up (sys, tp_node_id ("evil")));
    tp_node_stats_get (sys, &st);
    cr_assert_eq (st.quarantines, 1);
    tt_raw_close (&good);
    tt_raw_close (&evil);
    tp_system_destroy (&sys);
}

Test (limits, a_connection_that_never_greets_is_quarantined_by_its_routing_id,
      .timeout = 300)
{
    char ep[256];
    tp_system *sys = s_node ("lim", (tp_system_opts){.peer_bad_per_s = 5},
                             ep, sizeof ep);
    uint32_t inc = tp_node_incarnation (tp_system_node (sys));
    tp_ref echo;
    cr_assert_eq (tp_spawn (sys, &echo_b, NULL, NULL, &echo), 0);
    /* a bare DEALER: ZeroMQ gives it a routing id that names no node */
    void *zctx = zmq_ctx_new ();
    void *bare = zmq_socket (zctx, ZMQ_DEALER);
    int zero = 0;
    zmq_setsockopt (bare, ZMQ_LINGER, &zero, sizeof zero);
    cr_assert_eq (zmq_connect (bare, ep), 0);
    tt_raw good;
    tt_raw_open (&good, "good", ep, inc);
    s_raw_greet (&good, echo);
    for (int i = 0; i < 100; i++)
        cr_assert_eq (zmq_send (bare, "garbage", 7, 0), 7);
    tp_node_stats st;
    cr_assert (s_wait_stats (sys, s_quarantined, 1, 5000, &st));
    /* the rest of its frames are dropped unparsed, not counted bad */
    for (int i = 0; i < 50; i++)
        s_raw_ask (&good, echo, (uint64_t) i + 1, i);
    int pongs = 0;
    while (pongs < 50 && tt_raw_recv (&good, 5000, s_got_pong,
                                      &(corr_range){1, 50}))
        pongs++;
    cr_assert_eq (pongs, 50);
    cr_assert (s_wait_stats (sys, s_seen_ge, 100, 5000, &st));
    cr_assert_eq (st.quarantines, 1);
    cr_assert_lt (st.frames_bad, 100, "dropped frames were parsed");
    cr_assert_eq (st.frames_bad + st.frames_quarantined, 100);
    cr_assert (tp_node_up (sys, tp_node_id ("good")));
    zmq_close (bare);
    zmq_ctx_term (zctx);
    tt_raw_close (&good);
    tp_system_destroy (&sys);
}

/* ---- monitors and links ------------------------------------------------ */

typedef struct {
    int downs_limit, exits_limit, other;
} down_acc;

static bool
s_count_down (const tp__env *e, void *arg)
{
    down_acc *a = arg;
    tp_tag_t why = 0;
    if (e->kind == TP__WIRE_DOWN
        && tp_unpack_raw (e->body, e->body_len, "*t", &why) == 0
        && why == tp_tag ("limit"))
        a->downs_limit++;
    else if (e->kind == TP__WIRE_EXIT
             && tp_unpack_raw (e->body, e->body_len, "t", &why) == 0
             && why == tp_tag ("limit"))
        a->exits_limit++;
    else if (e->kind != TP__WIRE_HEARTBEAT && e->kind != TP__WIRE_HELLO
             && !s_greet_pong (e))
        a->other++;
    return false; /* (collect for the whole window) */
}

/*  Counts DOWN envelopes until 10 have come. */
static bool
s_count_downs (const tp__env *e, void *arg)
{
    int *n = arg;
    *n += e->kind == TP__WIRE_DOWN;
    return *n >= 10;
}

static void
s_raw_watch (tt_raw *r, uint32_t kind, tp_ref to, uint64_t id)
{
    tp__env e = tt_raw_env (r, kind, to, 0, NULL, 0);
    e.corr = id;
    tt_raw_send_env (r, &e);
}

Test (limits, monitors_and_links_past_the_limit_are_answered_with_limit,
      .timeout = 300)
{
    char ep[256];
    /* (the raw peers send no heartbeats: a long interval keeps them up) */
    tp_system *sys = s_node ("lim", (tp_system_opts){.peer_max_watches = 10,
                                                     .heartbeat_ms
                                                     = tt_ms (5000)},
                             ep, sizeof ep);
    uint32_t inc = tp_node_incarnation (tp_system_node (sys));
    tp_ref echo;
    cr_assert_eq (tp_spawn (sys, &echo_b, NULL, NULL, &echo), 0);
    tt_raw a, b;
    tt_raw_open (&a, "pa", ep, inc);
    tt_raw_open (&b, "pb", ep, inc);
    s_raw_greet (&a, echo);
    s_raw_greet (&b, echo);
    /* pa: 8 monitors and 2 links are held; 4 more monitors and one more
       link are refused; a repeated monitor is not a new one */
    for (uint64_t id = 1; id <= 8; id++)
        s_raw_watch (&a, TP__WIRE_MONITOR, echo, id);
    s_raw_watch (&a, TP__WIRE_MONITOR, echo, 8);
    tp_ref t1 = echo, t2;
    tp_spawn_opts so = {0};
    cr_assert_eq (tp_spawn (sys, &echo_b, NULL, &so, &t2), 0);
    s_raw_watch (&a, TP__WIRE_LINK, t1, 0);
    s_raw_watch (&a, TP__WIRE_LINK, t2, 0);
    for (uint64_t id = 9; id <= 12; id++)
        s_raw_watch (&a, TP__WIRE_MONITOR, echo, id);
    tp_ref t3;
    cr_assert_eq (tp_spawn (sys, &echo_b, NULL, &so, &t3), 0);
    s_raw_watch (&a, TP__WIRE_LINK, t3, 0);
    down_acc acc = {0};
    tt_raw_recv (&a, 1500, s_count_down, &acc);
    cr_assert_eq (acc.downs_limit, 4);
    cr_assert_eq (acc.exits_limit, 1);
    cr_assert_eq (acc.other, 0);
    tp_node_stats st;
    tp_node_stats_get (sys, &st);
    cr_assert_eq (st.watches_refused, 5);
    /* pb has a quota of its own */
    for (uint64_t id = 1; id <= 10; id++)
        s_raw_watch (&b, TP__WIRE_MONITOR, echo, id);
    down_acc bcc = {0};
    tt_raw_recv (&b, 1000, s_count_down, &bcc);
    cr_assert_eq (bcc.downs_limit, 0);
    /* a DEMONITOR makes room again */
    s_raw_watch (&a, TP__WIRE_DEMONITOR, echo, 1);
    s_raw_watch (&a, TP__WIRE_MONITOR, echo, 13);
    down_acc acc2 = {0};
    tt_raw_recv (&a, 1000, s_count_down, &acc2);
    cr_assert_eq (acc2.downs_limit, 0);
    tp_node_stats_get (sys, &st);
    cr_assert_eq (st.watches_refused, 5);
    /* the watches held work: the echo's end reaches both peers' monitors */
    cr_assert_eq (tp_system_stop (sys, echo, tp_tag ("bye")), 0);
    int downs = 0; /* (tt_raw_recv opens BATCHes) */
    tt_raw_recv (&b, 10000, s_count_downs, &downs);
    cr_assert_eq (downs, 10, "pb monitors: %d", downs);
    tt_raw_close (&a);
    tt_raw_close (&b);
    tp_system_destroy (&sys);
}

/* ---- asks ---------------------------------------------------------------- */

/*  The holder keeps every request it gets until told "release", then
    answers them all. */
static _Atomic long s_held;

typedef struct {
    tp_msg *held[64];
    int n;
} holder;

static void
holder_receive (tp_actor *self, tp_msg *msg)
{
    holder *h = tp_state (self);
    if (tp_msg_is (msg, "ping") && tp_msg_is_request (msg) && h->n < 64) {
        h->held[h->n++] = tp_msg_dup (msg);
        tt_add (&s_held, 1);
    }
    else if (tp_msg_is (msg, "release")) {
        for (int i = 0; i < h->n; i++) {
            int v = 0;
            tp_msg_unpack (h->held[i], "i", &v);
            TT_CHECK (tp_reply (self, h->held[i], tp_tag ("pong"), "i", v + 1)
                      == 0);
            tp_msg_destroy (&h->held[i]);
        }
        h->n = 0;
    }
}
static int
holder_init (tp_actor *self, void *arg)
{
    (void) arg;
    tp_set_state (self, calloc (1, sizeof (holder)));
    return 0;
}
static void
holder_stop (tp_actor *self, tp_tag_t reason)
{
    (void) reason;
    holder *h = tp_state (self);
    for (int i = 0; h && i < h->n; i++)
        tp_msg_destroy (&h->held[i]);
    free (h);
}
static const tp_behavior holder_b = {"holder", holder_init, holder_receive,
                                     holder_stop};

static _Atomic long s_ok, s_limited, s_other;

static void
s_asked (tp_actor *self, int status, tp_msg *reply, void *arg)
{
    (void) self;
    (void) arg;
    if (status == 0 && tp_msg_is (reply, "pong"))
        tt_add (&s_ok, 1);
    else if (status == TP_ELIMIT && reply && tp_msg_is (reply, "_fail"))
        tt_add (&s_limited, 1);
    else {
        fprintf (stderr, "ask ended with %d\n", status);
        tt_add (&s_other, 1);
    }
}

/*  The asker asks `to` n times when told "go" [r to, i n]. */
static void
asker_receive (tp_actor *self, tp_msg *msg)
{
    tp_ref to;
    int n;
    if (tp_msg_is (msg, "go") && tp_msg_unpack (msg, "ri", &to, &n) == 0)
        for (int i = 0; i < n; i++)
            TT_CHECK (tp_ask (self, to, tp_tag ("ping"), tt_ms (20000),
                              s_asked, NULL, "i", i)
                      == 0);
}
static const tp_behavior asker_b = {"asker", NULL, asker_receive, NULL};

Test (limits, asks_past_the_limit_fail_at_once_with_elimit, .timeout = 300)
{
    char ep_a[256], ep_b[256];
    tp_system *a = s_node ("srv", (tp_system_opts){.peer_max_asks = 8}, ep_a,
                           sizeof ep_a);
    tp_system *b = s_node ("cli", (tp_system_opts){0}, ep_b, sizeof ep_b);
    tp_system *c = s_node ("other", (tp_system_opts){0}, ep_b, sizeof ep_b);
    tp_ref hold;
    tp_spawn_opts so = {.name = "hold"};
    cr_assert_eq (tp_spawn (a, &holder_b, NULL, &so, &hold), 0);
    cr_assert_eq (tp_node_connect (b, ep_a, tt_ms (5000), NULL), 0);
    cr_assert_eq (tp_node_connect (c, ep_a, tt_ms (5000), NULL), 0);
    tp_ref remote;
    cr_assert_eq (tp_whereis_at (b, "hold", "srv", tt_ms (5000), &remote), 0);
    tp_ref asker, asker_c;
    cr_assert_eq (tp_spawn (b, &asker_b, NULL, NULL, &asker), 0);
    cr_assert_eq (tp_spawn (c, &asker_b, NULL, NULL, &asker_c), 0);

    /* 12 asks from cli: 8 held, 4 fail at once with TP_ELIMIT */
    cr_assert_eq (tp_send (b, asker, tp_tag ("go"), "ri", remote, 12), 0);
    cr_assert (tt_wait_ge (&s_limited, 4, 5000), "limited: %ld",
               atomic_load (&s_limited));
    tp_node_stats st;
    tp_node_stats_get (a, &st);
    cr_assert_eq (st.asks_refused, 4);
    /* another node has a quota of its own: its 8 are held too */
    tp_ref remote_c;
    cr_assert_eq (tp_whereis_at (c, "hold", "srv", tt_ms (5000), &remote_c),
                  0);
    cr_assert_eq (tp_send (c, asker_c, tp_tag ("go"), "ri", remote_c, 8), 0);
    /* the answers free the count: 16 answered, then 8 more go through */
    cr_assert (tt_wait_ge (&s_held, 16, 5000), "held: %ld",
               atomic_load (&s_held));
    cr_assert_eq (tp_send (a, hold, tp_tag ("release"), NULL), 0);
    cr_assert (tt_wait_ge (&s_ok, 16, 5000), "answered: %ld",
               atomic_load (&s_ok));
    cr_assert_eq (tp_send (b, asker, tp_tag ("go"), "ri", remote, 8), 0);
    cr_assert (tt_wait_ge (&s_held, 24, 5000), "held: %ld",
               atomic_load (&s_held));
    cr_assert_eq (tp_send (a, hold, tp_tag ("release"), NULL), 0);
    cr_assert (tt_wait_ge (&s_ok, 24, 5000), "answered: %ld",
               atomic_load (&s_ok));
    cr_assert_eq (atomic_load (&s_limited), 4);
    cr_assert_eq (atomic_load (&s_other), 0);
    tp_node_stats_get (a, &st);
    cr_assert_eq (st.asks_refused, 4);
    TT_NO_FAILURES ();
    tp_system_destroy (&c);
    tp_system_destroy (&b);
    tp_system_destroy (&a);
}

/* ---- names ----------------------------------------------------------------- */

static _Atomic long s_refs, s_ref_errors;
static tp_ref s_first, s_kept;

static void
collector_receive (tp_actor *self, tp_msg *msg)
{
    (void) self;
    tp_ref r;
    int i;
    if (!tp_msg_is (msg, "ref"))
        return;
    if (tp_msg_unpack (msg, "ir", &i, &r) != 0) {
        tt_add (&s_ref_errors, 1);
        return;
    }
    if (i == 0)
        s_first = r;
    else if (i == -1)
        s_kept = r;
    tt_add (&s_refs, 1);
}
static const tp_behavior collector_b = {"coll", NULL, collector_receive, NULL};

Test (limits, refs_to_ever_new_nodes_churn_only_the_senders_share,
      .timeout = 300)
{
    char ep[256];
    tp_system *sys = s_node ("lim", (tp_system_opts){.peer_max_names = 16,
                                                     .heartbeat_ms = tt_ms (5000)},
                             ep, sizeof ep);
    uint32_t inc = tp_node_incarnation (tp_system_node (sys));
    tp_ref echo, coll;
    cr_assert_eq (tp_spawn (sys, &echo_b, NULL, NULL, &echo), 0);
    cr_assert_eq (tp_spawn (sys, &collector_b, NULL, NULL, &coll), 0);
    tt_raw good, evil;
    tt_raw_open (&good, "good", ep, inc);
    tt_raw_open (&evil, "evil", ep, inc);
    s_raw_greet (&good, echo);
    s_raw_greet (&evil, echo);
    /* good sends a ref to node "kept"; evil, refs to 500 new nodes */
    char name[32];
    for (int i = -1; i < 500; i++) {
        tt_raw *who = i < 0 ? &good : &evil;
        snprintf (name, sizeof name, i < 0 ? "kept" : "n%d", i);
        /* a ref as the peer writes it: ext TP__EXT_REF, u32 index, gen,
           incarnation, then the name */
        uint8_t body[64];
        size_t nl = strlen (name), n = 0;
        body[n++] = (uint8_t) (i < 0 ? 0xff : (i < 128 ? i : 0));
        if (i >= 128) { /* (an int 16 for the rest) */
            n--;
            body[n++] = 0xcd;
            body[n++] = (uint8_t) (i >> 8);
            body[n++] = (uint8_t) i;
        }
        body[n++] = 0xc7;
        body[n++] = (uint8_t) (12 + nl);
        body[n++] = TP__EXT_REF;
        const uint32_t f[3] = {5, 1, 0x1234};
        for (int k = 0; k < 3; k++)
            for (int s = 24; s >= 0; s -= 8)
                body[n++] = (uint8_t) (f[k] >> s);
        memcpy (body + n, name, nl);
        n += nl;
        tt_raw_send (who, TP__WIRE_USER, coll, tp_tag ("ref"), body, n);
        if (i < 0) { /* (good's arrives first) */
            cr_assert (tt_wait_ge (&s_refs, 1, 5000));
        }
    }
    cr_assert (tt_wait_ge (&s_refs, 501, 10000), "refs: %ld, errors %ld",
               atomic_load (&s_refs), atomic_load (&s_ref_errors));
    cr_assert_eq (atomic_load (&s_ref_errors), 0);
    tp_node_stats st;
    tp_node_stats_get (sys, &st);
    cr_assert_geq (st.names_recycled, 500 - 16, "recycled %lu",
                   (unsigned long) st.names_recycled);
    cr_assert_eq (st.names_refused, 0);
    /* evil's oldest names made room for its newer ones; good's stays */
    cr_assert_null (tp_node_name (s_first.node), "evil's first name lives");
    cr_assert_not_null (tp_node_name (s_kept.node), "good's name was churned");
    cr_assert_str_eq (tp_node_name (s_kept.node), "kept");
    tt_raw_close (&good);
    tt_raw_close (&evil);
    tp_system_destroy (&sys);
}
