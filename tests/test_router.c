/*  tests/test_router.c: actors/router: round robin, random, broadcast and
    consistent hashing; replies straight from the routee; routees that
    end are dropped. */
#include <criterion/criterion.h>

#include "router.h"
#include "testutil.h"

enum { R = 4 };
static _Atomic long g_got[R];
static _Atomic long g_total;

/*  A routee: counts what it gets in g_got[its arg]; answers "who" with
    its index; "key" [I k] is counted by key in g_key_at[k % 1024]. */
static _Atomic int g_key_at[1024];

static void
routee_receive (tp_actor *self, tp_msg *msg)
{
    intptr_t me = (intptr_t) tp_arg (self);
    int64_t k;
    atomic_fetch_add (&g_got[me], 1);
    if (tp_msg_is (msg, "key") && tp_msg_unpack (msg, "I", &k) == 0)
        atomic_store (&g_key_at[k % 1024], (int) me + 1);
    if (tp_msg_is_request (msg))
        tp_reply (self, msg, tp_tag ("who"), "i", (int) me);
    tt_add (&g_total, 1);
}
static const tp_behavior routee_b = {"routee", NULL, routee_receive, NULL};

static tp_system *
s_setup (tp_ref *rs, tp_route_strategy st, tp_ref *router)
{
    tp_system *sys = tp_system_new (NULL);
    for (int i = 0; i < R; i++) {
        atomic_store (&g_got[i], 0);
        cr_assert_eq (tp_spawn (sys, &routee_b, (void *) (intptr_t) i, NULL,
                                &rs[i]),
                      0);
    }
    atomic_store (&g_total, 0);
    for (int i = 0; i < 1024; i++)
        atomic_store (&g_key_at[i], 0);
    tp_router_opts o = {.strategy = st, .routees = rs, .nroutees = R};
    cr_assert_eq (tp_router_start (sys, &o, NULL, router), 0);
    return sys;
}

Test (router, round_robin_spreads_evenly_and_routees_answer_directly,
      .timeout = 30)
{
    tp_ref rs[R], router;
    tp_system *sys = s_setup (rs, TP_ROUTE_ROUND_ROBIN, &router);
    for (int i = 0; i < 400; i++)
        cr_assert_eq (tp_send (sys, router, tp_tag ("x"), NULL), 0);
    cr_assert (tt_wait_ge (&g_total, 400, 5000));
    for (int i = 0; i < R; i++)
        cr_assert_eq (atomic_load (&g_got[i]), 100);
    tp_msg *m = NULL;
    cr_assert_eq (tp_call (sys, router, tp_tag ("q"), tt_ms (5000), &m, NULL),
                  0);
    int who = -1;
    cr_assert_eq (tp_msg_unpack (m, "i", &who), 0);
    cr_assert (tp_ref_eq (tp_msg_from (m), rs[who]), "not from the routee");
    tp_msg_destroy (&m);
    tp_system_destroy (&sys);
    TT_NO_FAILURES ();
}

Test (router, random_reaches_every_routee, .timeout = 30)
{
    tp_ref rs[R], router;
    tp_system *sys = s_setup (rs, TP_ROUTE_RANDOM, &router);
    for (int i = 0; i < 400; i++)
        cr_assert_eq (tp_send (sys, router, tp_tag ("x"), NULL), 0);
    cr_assert (tt_wait_ge (&g_total, 400, 5000));
    for (int i = 0; i < R; i++)
        cr_assert_gt (atomic_load (&g_got[i]), 40, "routee %d got %ld", i,
                      atomic_load (&g_got[i]));
    tp_system_destroy (&sys);
}

Test (router, broadcast_reaches_all, .timeout = 30)
{
    tp_ref rs[R], router;
    tp_system *sys = s_setup (rs, TP_ROUTE_BROADCAST, &router);
    for (int i = 0; i < 50; i++)
        cr_assert_eq (tp_send (sys, router, tp_tag ("x"), NULL), 0);
    cr_assert (tt_wait_ge (&g_total, 50 * R, 5000));
    for (int i = 0; i < R; i++)
        cr_assert_eq (atomic_load (&g_got[i]), 50);
    tp_system_destroy (&sys);
}

/*  Same key, same routee, as tp_router_hash_pick says; a routee that
    leaves moves only its own keys. */
Test (router, consistent_hash_keeps_keys_and_moves_few, .timeout = 30)
{
    tp_ref rs[R], router;
    tp_system *sys = s_setup (rs, TP_ROUTE_HASH, &router);
    for (int64_t k = 0; k < 1024; k++)
        cr_assert_eq (tp_send (sys, router, tp_tag ("key"), "I", k), 0);
    cr_assert (tt_wait_ge (&g_total, 1024, 5000));
    int before[1024], per[R] = {0};
    for (int k = 0; k < 1024; k++) {
        before[k] = atomic_load (&g_key_at[k]) - 1;
        cr_assert_geq (before[k], 0);
        per[before[k]]++;
    }
    for (int i = 0; i < R; i++)
        cr_assert_gt (per[i], 1024 / R / 3, "routee %d holds %d keys", i,
                      per[i]);
    /* the router hashes a body's first value: the same as a client that
       hashes the msgpack bytes itself would pick */
    /* remove routee 2: only its keys move */
    tp_msg *m = NULL;
    cr_assert_eq (tp_call (sys, router, tp_tag ("router_del"), tt_ms (5000),
                           &m, "r", rs[2]),
                  0);
    tp_msg_destroy (&m);
    atomic_store (&g_total, 0);
    for (int64_t k = 0; k < 1024; k++)
        cr_assert_eq (tp_send (sys, router, tp_tag ("key"), "I", k), 0);
    cr_assert (tt_wait_ge (&g_total, 1024, 5000));
    int moved = 0;
    for (int k = 0; k < 1024; k++) {
        int now = atomic_load (&g_key_at[k]) - 1;
        cr_assert_neq (now, 2);
        if (before[k] != 2)
            cr_assert_eq (now, before[k], "key %d moved though its routee "
                          "stayed", k);
        moved += now != before[k];
    }
    cr_assert_eq (moved, per[2]);
    /* tp_router_hash_pick is stable and in range */
    for (uint64_t k = 0; k < 100; k++) {
        size_t a = tp_router_hash_pick (rs, R, k);
        cr_assert_lt (a, R);
        cr_assert_eq (a, tp_router_hash_pick (rs, R, k));
    }
    tp_system_destroy (&sys);
    TT_NO_FAILURES ();
}

Test (router, a_routee_that_ends_is_dropped, .timeout = 30)
{
    tp_ref rs[R], router;
    tp_system *sys = s_setup (rs, TP_ROUTE_ROUND_ROBIN, &router);
    cr_assert_eq (tp_system_stop (sys, rs[1], 0), 0);
    tp_tag_t why;
    cr_assert_eq (tp_system_wait_for (sys, rs[1], tt_ms (5000), &why), 0);
    /* (bounded look until the router has seen the _down) */
    uint64_t t0 = tt_now_ms ();
    int n = R;
    while (n != R - 1) {
        tp_msg *m = NULL;
        cr_assert_eq (tp_call (sys, router, tp_tag ("router_ls"), tt_ms (5000),
                               &m, NULL),
                      0);
        tp_reader rd;
        tp_reader_init (&rd, m);
        cr_assert_eq (tp_reader_next (&rd, "i", &n), 0);
        tp_msg_destroy (&m);
        cr_assert_lt (tt_now_ms () - t0, (uint64_t) tt_ms (5000));
    }
    atomic_store (&g_got[1], 0);
    atomic_store (&g_total, 0);
    for (int i = 0; i < 300; i++)
        cr_assert_eq (tp_send (sys, router, tp_tag ("x"), NULL), 0);
    cr_assert (tt_wait_ge (&g_total, 300, 5000));
    cr_assert_eq (atomic_load (&g_got[1]), 0);
    tp_system_destroy (&sys);
    TT_NO_FAILURES ();
}
