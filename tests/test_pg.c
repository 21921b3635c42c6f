/*  tests/test_pg.c: actors/pg: groups on one node, then across two nodes
    (two systems of this process over tcp loopback): members seen
    everywhere, publish once per node, members removed when they end or
    their node goes, and groups that converge again after a restart. */
#include <criterion/criterion.h>

#include "pg.h"
#include "testutil.h"

static _Atomic long g_said; /* "say" messages received, all members */
static _Atomic long g_joined;

static int
member_init (tp_actor *self, void *arg)
{
    int rc = tp_pg_join (self, arg ? arg : "room");
    tt_add (&g_joined, 1);
    return rc;
}

static void
member_receive (tp_actor *self, tp_msg *msg)
{
    (void) self;
    if (tp_msg_is (msg, "say"))
        tt_add (&g_said, 1);
    else if (tp_msg_is (msg, "speak")) /* publish to the room */
        TT_CHECK (tp_pg_publish (self, "room", tp_tag ("say"), "s", "hi")
                  == 0);
    else if (tp_msg_is (msg, "bye"))
        tp_exit (self, 0);
}
static const tp_behavior member_b = {"member", member_init, member_receive,
                                     NULL};

/*  Waits (bounded) until sys's scope sees `want` members of group. */
static void
s_wait_members (tp_system *sys, const char *group, bool local, size_t want)
{
    uint64_t t0 = tt_now_ms ();
    size_t n = 0;
    for (;;) {
        cr_assert_eq (tp_pg_members (sys, group, local, NULL, 0, &n,
                                     tt_ms (5000)),
                      0);
        if (n == want)
            return;
        cr_assert_lt (tt_now_ms () - t0, (uint64_t) tt_ms (10000),
                      "%zu members of %s, want %zu", n, group, want);
    }
}

Test (pg, members_join_publish_and_leave_on_one_node, .timeout = 30)
{
    tp_system *sys = tp_system_new (NULL);
    atomic_store (&g_said, 0);
    cr_assert_eq (tp_pg_start (sys, NULL), 0);
    cr_assert_eq (tp_pg_start (sys, NULL), TP_EEXIST);
    tp_ref m[3];
    for (int i = 0; i < 3; i++)
        cr_assert_eq (tp_spawn (sys, &member_b, NULL, NULL, &m[i]), 0);
    s_wait_members (sys, "room", false, 3);
    tp_ref out[3];
    size_t n = 0;
    cr_assert_eq (tp_pg_members (sys, "room", true, out, 3, &n, tt_ms (5000)),
                  0);
    cr_assert_eq (n, 3);
    cr_assert_eq (tp_send (sys, m[0], tp_tag ("speak"), NULL), 0);
    cr_assert (tt_wait_ge (&g_said, 3, 5000));
    cr_assert_eq (tp_pg_send (sys, "room", tp_tag ("say"), "s", "from main"),
                  0);
    cr_assert (tt_wait_ge (&g_said, 6, 5000));
    /* a member that ends is no member */
    cr_assert_eq (tp_send (sys, m[1], tp_tag ("bye"), NULL), 0);
    s_wait_members (sys, "room", false, 2);
    cr_assert_eq (tp_pg_members (sys, "nosuch", false, NULL, 0, &n,
                                 tt_ms (5000)),
                  0);
    cr_assert_eq (n, 0);
    cr_assert_eq (tp_pg_send (sys, "", tp_tag ("say"), NULL), TP_EINVAL);
    tp_system_destroy (&sys);
    TT_NO_FAILURES ();
}

static tp_system *
s_node (const char *name, char *ep, size_t cap)
{
    tp_system_opts o = {.workers = 2, .node_name = name,
                        .heartbeat_ms = tt_ms (100)};
    tp_system *sys = tp_system_new (&o);
    cr_assert_not_null (sys);
    cr_assert_eq (tp_pg_start (sys, NULL), 0);
    if (ep)
        cr_assert_eq (tp_node_bind (sys, "tcp://127.0.0.1:*", ep, cap), 0);
    return sys;
}

Test (pg, groups_span_nodes_publish_once_per_node_and_converge,
      .timeout = 60)
{
    enum { FAR = 100 };
    char ep[256];
    atomic_store (&g_said, 0);
    atomic_store (&g_joined, 0);
    tp_system *a = s_node ("pga", ep, sizeof ep);
    tp_system *b = s_node ("pgb", NULL, 0);
    tp_ref am[2];
    for (int i = 0; i < 2; i++)
        cr_assert_eq (tp_spawn (a, &member_b, NULL, NULL, &am[i]), 0);
    for (int i = 0; i < FAR; i++)
        cr_assert_eq (tp_spawn (b, &member_b, NULL, NULL, NULL), 0);
    cr_assert_eq (tp_node_connect (b, ep, tt_ms (5000), NULL), 0);
    /* each side sees both sides' members */
    s_wait_members (a, "room", false, 2 + FAR);
    s_wait_members (b, "room", false, 2 + FAR);
    s_wait_members (a, "room", true, 2);

    /* 10 publishes from a to 102 members: one frame per publish to b,
       not one per member */
    tp_node_stats before, after;
    tp_node_stats_get (a, &before);
    for (int i = 0; i < 10; i++)
        cr_assert_eq (tp_send (a, am[0], tp_tag ("speak"), NULL), 0);
    cr_assert (tt_wait_ge (&g_said, 10 * (2 + FAR), 10000),
               "%ld of %d delivered", atomic_load (&g_said), 10 * (2 + FAR));
    tp_node_stats_get (a, &after);
    /* (bytes, not frames: frames are batched either way) */
    uint64_t bytes = after.bytes_out - before.bytes_out;
    cr_log_info ("pg: 10 publishes to %d members on another node: %llu "
                 "bytes out (heartbeats included)\n",
                 FAR, (unsigned long long) bytes);
    cr_assert_lt (bytes, 4000, "sent per member, not per node: %llu bytes "
                  "(1,000 envelopes would be 20,000 or more)",
                  (unsigned long long) bytes);

    /* b goes: its members leave a's view */
    tp_system_destroy (&b);
    s_wait_members (a, "room", false, 2);

    /* b comes back (a new incarnation): the groups converge again */
    b = s_node ("pgb", NULL, 0);
    for (int i = 0; i < 3; i++)
        cr_assert_eq (tp_spawn (b, &member_b, NULL, NULL, NULL), 0);
    cr_assert_eq (tp_node_connect (b, ep, tt_ms (5000), NULL), 0);
    s_wait_members (a, "room", false, 5);
    s_wait_members (b, "room", false, 5);
    tp_system_destroy (&b);
    tp_system_destroy (&a);
    TT_NO_FAILURES ();
}

/*  A member that joins and ends at once: churn. */
static int
brief_init (tp_actor *self, void *arg)
{
    (void) arg;
    tp_pg_join (self, "churn");
    tp_exit (self, 0);
    return 0;
}

static void
brief_receive (tp_actor *self, tp_msg *msg)
{
    (void) self;
    (void) msg;
}
static const tp_behavior brief_b = {"brief", brief_init, brief_receive, NULL};

/*  Thousands of short-lived members leave nothing behind, and bodies the
    scope does not expect (a hostile or broken sender) change nothing. */
Test (pg, churn_and_malformed_requests_leave_the_groups_right, .timeout = 60)
{
    tp_system *sys = tp_system_new (NULL);
    atomic_store (&g_said, 0);
    cr_assert_eq (tp_pg_start (sys, NULL), 0);
    tp_ref m;
    cr_assert_eq (tp_spawn (sys, &member_b, NULL, NULL, &m), 0);
    s_wait_members (sys, "room", false, 1);
    for (int i = 0; i < 3000; i++)
        cr_assert_eq (tp_spawn (sys, &brief_b, NULL, NULL, NULL), 0);
    s_wait_members (sys, "churn", false, 0);
    tp_ref scope = tp_whereis (sys, "_pg");
    /* malformed: wrong types, missing values, garbage syncs and fans */
    cr_assert_eq (tp_send (sys, scope, tp_tag ("pg_join"), "i", 5), 0);
    cr_assert_eq (tp_send (sys, scope, tp_tag ("pg_leave"), NULL), 0);
    cr_assert_eq (tp_send (sys, scope, tp_tag ("pg_pub"), "s", "room"), 0);
    cr_assert_eq (tp_send (sys, scope, tp_tag ("pg_pub"), "stx", "room",
                           (tp_tag_t) 0, "", (size_t) 0),
                  0);
    cr_assert_eq (tp_send (sys, scope, tp_tag ("pg_sync"), "bi", true,
                           1000000),
                  0);
    cr_assert_eq (tp_send (sys, scope, tp_tag ("pg_sync"), "s", "x"), 0);
    cr_assert_eq (tp_send (sys, scope, tp_tag ("pg_rjoin"), "is", 1, "x"), 0);
    cr_assert_eq (tp_send (sys, scope, tp_tag ("pg_fan"), "x", "\x01", 1), 0);
    tp_msg *r = NULL;
    cr_assert_eq (tp_call (sys, scope, tp_tag ("pg_members"), tt_ms (5000),
                           &r, "i", 3),
                  0);
    cr_assert (tp_msg_is (r, "error"));
    tp_msg_destroy (&r);
    /* the room is as it was, and still works */
    tp_ref out[2];
    size_t n = 0;
    cr_assert_eq (tp_pg_members (sys, "room", false, out, 2, &n, tt_ms (5000)),
                  0);
    cr_assert_eq (n, 1);
    cr_assert (tp_ref_eq (out[0], m));
    cr_assert_eq (tp_pg_send (sys, "room", tp_tag ("say"), "s", "still"), 0);
    cr_assert (tt_wait_ge (&g_said, 1, 5000));
    cr_assert_eq (atomic_load (&g_said), 1, "a malformed publish was delivered");
    tp_system_destroy (&sys);
    TT_NO_FAILURES ();
}
