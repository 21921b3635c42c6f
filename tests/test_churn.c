/*  tests/test_churn.c: a node left running while thousands of short-lived
    peers come and go, as a long-running troupe-node sees CLI runs and
    clients: each peer greets, asks, and then says goodbye (DRAIN) or just
    vanishes. The node must forget every one of them: its peer table and
    its memory stay flat, and a normal ask still works at the end. */
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

/*  Resident set size of this process, in KiB. */
static long
s_rss_kib (void)
{
    FILE *f = fopen ("/proc/self/statm", "r");
    long pages = 0, rss = 0;
    if (f) {
        if (fscanf (f, "%ld %ld", &pages, &rss) != 2)
            rss = 0;
        fclose (f);
    }
    return rss * (sysconf (_SC_PAGESIZE) / 1024);
}

typedef struct {
    int want_v;
    bool pong, hello, ack;
} s_seen;

static bool
s_on_env (const tp__env *e, void *arg)
{
    s_seen *s = arg;
    int v;
    if (e->kind == TP__WIRE_HELLO)
        s->hello = true;
    else if (e->kind == TP__WIRE_DRAIN_ACK)
        s->ack = true;
    else if (e->kind == TP__WIRE_USER && e->tag == tp_tag ("pong")
             && tp_unpack_raw (e->body, e->body_len, "i", &v) == 0)
        s->pong = v == s->want_v;
    return s->pong;
}

static bool
s_on_ack (const tp__env *e, void *arg)
{
    s_seen *s = arg;
    if (e->kind == TP__WIRE_DRAIN_ACK)
        s->ack = true;
    return s->ack;
}

/*  Waits (bounded) until the node holds no more than the peers that
    vanished in its last few heartbeats: the ones that said goodbye are
    forgotten at each beat. */
static void
s_settle (tp_system *sys)
{
    uint64_t seq = 0, end = tt_now_ms () + (uint64_t) tt_ms (10000);
    tp_node_stats st;
    for (;;) {
        tp_node_stats_get (sys, &st);
        uint64_t now = tt_now_ms ();
        if (st.peers_held <= 120 || now >= end)
            break;
        tp_node_wait (sys, &seq, (int) (end - now));
    }
    cr_assert_leq (st.peers_held, 120, "the node keeps %" PRIu64 " peers",
                   st.peers_held);
}

/*  One short-lived peer: greet, ask echo, then goodbye or vanish. */
static void
s_one_peer (void *zctx, const char *ep, uint32_t inc, tp_ref echo, int i)
{
    char name[32];
    snprintf (name, sizeof name, "cli-%d-%d", getpid (), i);
    tt_raw raw = {.zctx = zctx, .name = name, .inc = (uint32_t) i + 1,
                  .to_inc = inc};
    raw.d = zmq_socket (zctx, ZMQ_DEALER);
    int zero = 0;
    zmq_setsockopt (raw.d, ZMQ_LINGER, &zero, sizeof zero);
    tt_raw_set_rid (&raw);
    cr_assert_eq (zmq_connect (raw.d, ep), 0);
    tt_raw_hello (&raw, 0);
    tp_msg *b = tp_msg_new (tp_tag ("x"), "i", i);
    tp__env e = tt_raw_env (&raw, TP__WIRE_USER, echo, tp_tag ("ping"),
                            tp_msg_body (b), tp_msg_size (b));
    e.flags = TP__WIRE_F_REQUEST;
    e.corr = 1;
    tt_raw_send_env (&raw, &e);
    tp_msg_destroy (&b);
    s_seen seen = {.want_v = i + 1};
    cr_assert (tt_raw_recv (&raw, 5000, s_on_env, &seen),
               "peer %d got no answer", i);
    if (i % 10 != 0) { /* nine in ten say goodbye, as tp_system_destroy */
        tt_raw_send (&raw, TP__WIRE_DRAIN, TP_REF_NIL, 0, NULL, 0);
        if (!seen.ack)
            cr_assert (tt_raw_recv (&raw, 5000, s_on_ack, &seen),
                       "peer %d: no DRAIN_ACK", i);
    }
    zmq_close (raw.d);
}

Test (churn, ten_thousand_short_lived_peers_are_forgotten, .timeout = 300)
{
    /* fewer under sanitizers and valgrind, where each costs far more */
    const char *mul = getenv ("TP_TEST_TIMEOUT_MULTIPLIER");
    int n = mul && atoi (mul) > 1 ? 2000 : 10000;
    tp_system_opts o = {.workers = 2, .node_name = "long-runner",
                        .heartbeat_ms = 50};
    tp_system *sys = tp_system_new (&o);
    cr_assert_not_null (sys);
    char want[128], ep[256];
    snprintf (want, sizeof want, "ipc:///tmp/tp-churn-%d", getpid ());
    cr_assert_eq (tp_node_bind (sys, want, ep, sizeof ep), 0);
    tp_ref echo;
    tp_spawn_opts so = {.name = "echo"};
    cr_assert_eq (tp_spawn (sys, &echo_b, NULL, &so, &echo), 0);
    uint32_t inc = tp_node_incarnation (tp_system_node (sys));

    void *zctx = zmq_ctx_new ();
    int warm = n / 5;
    long rss_warm = 0;
    for (int i = 0; i < n; i++) {
        if (i % 1000 == 999)
            s_settle (sys); /* (bounds the peers in flight, and so RSS) */
        if (i == warm)
            rss_warm = s_rss_kib ();
        s_one_peer (zctx, ep, inc, echo, i);
    }
    s_settle (sys);
    long rss_end = s_rss_kib ();
    zmq_ctx_term (zctx);

    tp_node_stats st;
    tp_node_stats_get (sys, &st);
    fprintf (stderr,
             "churn: %d peers; RSS %ld KiB after %d, %ld KiB after %d; "
             "peers held %" PRIu64 ", forgotten %" PRIu64 ", refused %" PRIu64
             ", lost %" PRIu64 "\n",
             n, rss_warm, warm, rss_end, n, st.peers_held, st.peers_forgotten,
             st.peers_refused, st.nodes_down);
    cr_assert_eq (st.peers_refused, 0);
    /* the ones that said goodbye are gone at once; the ones that vanished
       go after a few heartbeats: never more than those at a time */
    cr_assert_leq (st.peers_held, (uint64_t) n / 10 + 1);
    cr_assert_geq (st.peers_forgotten, (uint64_t) (n - n / 10));
    cr_assert_lt (st.nodes_down, (uint64_t) n / 10 + 1,
                  "goodbyes are not losses");
    /* flat: the last 90% of the peers cost no memory that stayed */
    if (tt_memory_bounds ())
        cr_assert_lt (rss_end - rss_warm, 8 * 1024, "RSS grew by %ld KiB",
                      rss_end - rss_warm);

    /* and a normal node still gets its answer */
    tp_system_opts co = {.workers = 1, .node_name = "last-client"};
    tp_system *cli = tp_system_new (&co);
    cr_assert_eq (tp_node_connect (cli, ep, tt_ms (5000), NULL), 0);
    tp_ref e2;
    cr_assert_eq (tp_whereis_at (cli, "echo", "long-runner", tt_ms (5000),
                                 &e2),
                  0);
    tp_msg *r = NULL;
    cr_assert_eq (tp_call (cli, e2, tp_tag ("ping"), tt_ms (5000), &r, "i", 1),
                  0);
    tp_msg_destroy (&r);
    tp_system_destroy (&cli);
    TT_NO_FAILURES ();
    tp_system_destroy (&sys);
    unlink (ep + strlen ("ipc://"));
}
