/*  tests/test_hostile.c: refs and frames nobody should have made.

    Refs come from text (tp_ref_parse), from message bodies and from the
    network, so a ref may name a dead slot with any generation, a slot
    never used, or the index the runtime reserves for its own control
    records. Every such send is a dead letter, counted and reported,
    never a dereference, and the system goes on serving. */
#include <criterion/criterion.h>

#include "testutil.h"

static _Atomic long s_dead;  /* dead-letter notices seen */
static _Atomic long s_downs; /* _down notices seen by the spy */

static void
dl_receive (tp_actor *self, tp_msg *msg)
{
    (void) self;
    if (tp_msg_is (msg, "_dead"))
        tt_add (&s_dead, 1);
}
static const tp_behavior dl_b = {"dl", NULL, dl_receive, NULL};

static void
echo_receive (tp_actor *self, tp_msg *msg)
{
    int v = 0;
    if (tp_msg_is (msg, "ping") && tp_msg_unpack (msg, "i", &v) == 0
        && tp_msg_is_request (msg))
        tp_reply (self, msg, tp_tag ("pong"), "i", v + 1);
}
static const tp_behavior echo_b = {"echo", NULL, echo_receive, NULL};

/*  The spy monitors the ref it is told to ("watch" [r]) and sends a
    "hit" to every ref it is told to ("send" [r]), from inside a worker. */
static void
spy_receive (tp_actor *self, tp_msg *msg)
{
    tp_ref r;
    if (tp_msg_is (msg, "watch") && tp_msg_unpack (msg, "r", &r) == 0)
        TT_CHECK (tp_monitor (self, r) > 0);
    else if (tp_msg_is (msg, "send") && tp_msg_unpack (msg, "r", &r) == 0)
        TT_CHECK (tp_tell (self, r, tp_tag ("hit"), NULL) == 0);
    else if (tp_msg_is (msg, "_down"))
        tt_add (&s_downs, 1);
}
static const tp_behavior spy_b = {"spy", NULL, spy_receive, NULL};

static void
s_call_echo (tp_system *sys, tp_ref echo)
{
    tp_msg *r = NULL;
    cr_assert_eq (tp_call (sys, echo, tp_tag ("ping"), tt_ms (5000), &r, "i",
                           41),
                  0);
    int v = 0;
    cr_assert_eq (tp_msg_unpack (r, "i", &v), 0);
    cr_assert_eq (v, 42);
    tp_msg_destroy (&r);
}

Test (hostile, refs_to_dead_or_unused_slots_are_dead_letters_with_any_gen,
      .timeout = 30)
{
    tp_system_opts o = {.workers = 1};
    tp_system *sys = tp_system_new (&o);
    cr_assert_not_null (sys);
    tp_ref dl, spy, victim, echo;
    cr_assert_eq (tp_spawn (sys, &dl_b, NULL, NULL, &dl), 0);
    cr_assert_eq (tp_system_watch_dead_letters (sys, dl), 0);
    cr_assert_eq (tp_spawn (sys, &spy_b, NULL, NULL, &spy), 0);
    cr_assert_eq (tp_spawn (sys, &echo_b, NULL, NULL, &victim), 0);
    cr_assert_eq (tp_send (sys, spy, tp_tag ("watch"), "r", victim), 0);
    cr_assert_eq (tp_system_stop (sys, victim, 0), 0);
    cr_assert (tt_wait_ge (&s_downs, 1, 5000), "victim did not end");

    uint32_t node = tp_system_node (sys);
    tp_ref bad[] = {
        {node, victim.index, victim.gen + 1},  /* the dead slot's own gen */
        {node, victim.index, victim.gen + 3},  /* a gen the slot may reach */
        {node, victim.index, 2},
        {node, 3000, 1},                       /* never used, same page */
        {node, 3000, 2},
        {node, 70000000u, 1},                  /* beyond every page */
        {node, UINT32_MAX, 1},                 /* the control index */
        {node, UINT32_MAX, 0},
    };
    int n = (int) (sizeof bad / sizeof *bad);
    long want = 0;
    for (int i = 0; i < n; i++) {
        /* from outside (an external ctx) ... */
        cr_assert_eq (tp_send (sys, bad[i], tp_tag ("hit"), NULL), 0);
        /* ... and from an actor on the worker the slot belongs to */
        cr_assert_eq (tp_send (sys, spy, tp_tag ("send"), "r", bad[i]), 0);
        want += 2;
    }
    /* the same refs, typed as text */
    char text[TP_REF_STRLEN];
    tp_ref parsed;
    snprintf (text, sizeof text, "%s/%" PRIu32 ".%" PRIu32,
              tp_node_name (node), victim.index, victim.gen + 1);
    cr_assert_eq (tp_ref_parse (text, &parsed), 0);
    cr_assert_eq (tp_send (sys, parsed, tp_tag ("hit"), NULL), 0);
    want++;
    cr_assert (tt_wait_ge (&s_dead, want, 5000), "dead letters: %ld of %ld",
               atomic_load (&s_dead), want);

    /* a monitor of a dead slot's ref answers noproc, it does not crash */
    cr_assert_eq (tp_send (sys, spy, tp_tag ("watch"), "r", bad[0]), 0);
    cr_assert (tt_wait_ge (&s_downs, 2, 5000));

    cr_assert_eq (tp_spawn (sys, &echo_b, NULL, NULL, &echo), 0);
    s_call_echo (sys, echo);
    tp_system_stats st;
    tp_system_stats_get (sys, &st);
    cr_assert_geq (st.dead_letters, (uint64_t) want);
    TT_NO_FAILURES ();
    tp_system_destroy (&sys);
}
