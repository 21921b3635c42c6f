/*  tests/test_monitor.c: monitors, links, trap_exit, stop reasons. */
#include <criterion/criterion.h>

#include "testutil.h"

typedef struct {
    _Atomic long downs, exits, terminated;
    tp_tag_t down_reason, exit_reason, term_reason;
    tp_ref down_who, exit_who;
    int64_t mon_id, down_id;
} watch_rec;

static watch_rec W;

/* A target that exits with the reason it is told. */
static void
target_receive (tp_actor *self, tp_msg *msg)
{
    if (tp_msg_is (msg, "die")) {
        tp_tag_t reason = 0;
        TT_CHECK (tp_msg_unpack (msg, "t", &reason) == 0);
        tp_exit (self, reason);
    }
}

static void
target_terminate (tp_actor *self, tp_tag_t reason)
{
    if (tp_arg (self) == &W) {
        W.term_reason = reason;
        tt_add (&W.terminated, 1);
    }
}

static const tp_behavior target = {"target", NULL, target_receive,
                                   target_terminate};

/* A watcher: "watch"(ref) monitors, "link"(ref) links, "trap"(bool). */
static void
watcher_receive (tp_actor *self, tp_msg *msg)
{
    tp_ref r;
    int on;
    if (tp_msg_is (msg, "watch")) {
        TT_CHECK (tp_msg_unpack (msg, "r", &r) == 0);
        W.mon_id = tp_monitor (self, r);
        TT_CHECK (W.mon_id > 0);
    }
    else if (tp_msg_is (msg, "unwatch")) {
        TT_CHECK (tp_demonitor (self, W.mon_id) == 0);
        TT_CHECK (tp_demonitor (self, W.mon_id) == TP_ENOTFOUND);
    }
    else if (tp_msg_is (msg, "link")) {
        TT_CHECK (tp_msg_unpack (msg, "r", &r) == 0);
        TT_CHECK (tp_link (self, r) == 0);
    }
    else if (tp_msg_is (msg, "unlink")) {
        TT_CHECK (tp_msg_unpack (msg, "r", &r) == 0);
        TT_CHECK (tp_unlink (self, r) == 0);
    }
    else if (tp_msg_is (msg, "kill")) {
        tp_tag_t why;
        TT_CHECK (tp_msg_unpack (msg, "rt", &r, &why) == 0);
        TT_CHECK (tp_tell (self, r, tp_tag ("die"), "t", why) == 0);
    }
    else if (tp_msg_is (msg, "trap")) {
        TT_CHECK (tp_msg_unpack (msg, "b", &on) == 0);
        tp_trap_exit (self, on);
    }
    else if (tp_msg_is (msg, "_down")) {
        uint64_t id;
        TT_CHECK (tp_msg_unpack (msg, "Urt", &id, &W.down_who, &W.down_reason)
                  == 0);
        W.down_id = (int64_t) id;
        tt_add (&W.downs, 1);
    }
    else if (tp_msg_is (msg, "_exit")) {
        TT_CHECK (tp_msg_unpack (msg, "rt", &W.exit_who, &W.exit_reason) == 0);
        tt_add (&W.exits, 1);
    }
}

static void
watcher_terminate (tp_actor *self, tp_tag_t reason)
{
    W.term_reason = reason;
    tt_add (&W.terminated, 1);
}

static const tp_behavior watcher = {"watcher", NULL, watcher_receive,
                                    watcher_terminate};

static tp_system *
s_sys (void)
{
    memset (&W, 0, sizeof W);
    tp_system_opts so = {.workers = 2};
    return tp_system_new (&so);
}

/* Sends and then proves it was processed with a call (FIFO per sender). */
static void
s_sync_send (tp_system *sys, tp_ref to, const char *tag, const char *fmt,
             tp_ref arg)
{
    cr_assert_eq (tp_send (sys, to, tp_tag (tag), fmt, arg), 0);
}

/*  Spawns a target *t and a watcher *w (default placement). */
static void
s_pair (tp_system *sys, tp_ref *t, tp_ref *w)
{
    cr_assert_eq (tp_spawn (sys, &target, NULL, NULL, t), 0);
    cr_assert_eq (tp_spawn (sys, &watcher, NULL, NULL, w), 0);
}

/*  Has the watcher w tell t to die with reason: what w sent t before
    (monitor, link) reaches t first, messages from one sender to one
    receiver being FIFO, so no wait is needed in between. */
static void
s_kill_via (tp_system *sys, tp_ref w, tp_ref t, const char *reason)
{
    cr_assert_eq (tp_send (sys, w, tp_tag ("kill"), "rt", t, tp_tag (reason)),
                  0);
}

Test (monitor, down_notice_carries_the_exit_reason, .timeout = 30)
{
    tp_system *sys = s_sys ();
    tp_ref t, w;
    tp_spawn_opts o1 = {.place = TP_PLACE_WORKER, .worker = 0};
    tp_spawn_opts o2 = {.place = TP_PLACE_WORKER, .worker = 1};
    cr_assert_eq (tp_spawn (sys, &target, NULL, &o1, &t), 0);
    cr_assert_eq (tp_spawn (sys, &watcher, NULL, &o2, &w), 0);
    s_sync_send (sys, w, "watch", "r", t);
    s_kill_via (sys, w, t, "boom");
    cr_assert (tt_wait_ge (&W.downs, 1, 5000));
    cr_assert_eq (W.down_reason, tp_tag ("boom"));
    cr_assert (tp_ref_eq (W.down_who, t));
    cr_assert_eq (W.down_id, W.mon_id);
    tp_system_destroy (&sys);
    TT_NO_FAILURES ();
}

Test (monitor, of_a_dead_actor_reports_noproc, .timeout = 30)
{
    tp_system *sys = s_sys ();
    tp_ref t, w;
    cr_assert_eq (tp_spawn (sys, &target, NULL, NULL, &t), 0);
    cr_assert_eq (tp_system_stop (sys, t, 0), 0);
    cr_assert_eq (tp_system_wait (sys, tt_ms (5000)), 0);
    cr_assert_eq (tp_spawn (sys, &watcher, NULL, NULL, &w), 0);
    s_sync_send (sys, w, "watch", "r", t);
    cr_assert (tt_wait_ge (&W.downs, 1, 5000));
    cr_assert_eq (W.down_reason, tp_tag ("noproc"));
    tp_system_destroy (&sys);
    TT_NO_FAILURES ();
}

Test (monitor, demonitor_suppresses_the_notice, .timeout = 30)
{
    tp_system *sys = s_sys ();
    tp_ref t, w;
    s_pair (sys, &t, &w);
    s_sync_send (sys, w, "watch", "r", t);
    s_sync_send (sys, w, "unwatch", NULL, t);
    /* a second monitor whose notice must arrive: proves the first did not */
    s_sync_send (sys, w, "watch", "r", t);
    s_kill_via (sys, w, t, "x");
    cr_assert (tt_wait_ge (&W.downs, 1, 5000));
    tp_system_destroy (&sys);
    cr_assert_eq (atomic_load (&W.downs), 1);
    cr_assert_eq (W.down_id, W.mon_id);
    TT_NO_FAILURES ();
}

Test (link, exit_propagates_to_linked_actor, .timeout = 30)
{
    tp_system *sys = s_sys ();
    tp_ref t, w;
    s_pair (sys, &t, &w);
    s_sync_send (sys, w, "link", "r", t);
    s_kill_via (sys, w, t, "crash");
    cr_assert (tt_wait_ge (&W.terminated, 1, 5000));
    cr_assert_eq (W.term_reason, tp_tag ("crash"));
    cr_assert_eq (tp_system_wait (sys, tt_ms (5000)), 0);
    tp_system_destroy (&sys);
    TT_NO_FAILURES ();
}

Test (link, normal_exit_does_not_propagate, .timeout = 30)
{
    tp_system *sys = s_sys ();
    tp_ref t, w;
    s_pair (sys, &t, &w);
    s_sync_send (sys, w, "link", "r", t);
    s_sync_send (sys, w, "watch", "r", t);
    s_kill_via (sys, w, t, "normal");
    cr_assert (tt_wait_ge (&W.downs, 1, 5000));
    /* the EXIT signal was sent before the down notice; both from t */
    tp_actor_stats st;
    cr_assert_eq (tp_actor_stats_get (sys, w, &st), 0, "watcher died");
    tp_system_destroy (&sys);
    cr_assert_eq (W.term_reason, tp_tag ("shutdown"));
    TT_NO_FAILURES ();
}

Test (link, trapped_exit_arrives_as_message, .timeout = 30)
{
    tp_system *sys = s_sys ();
    tp_ref t, w;
    s_pair (sys, &t, &w);
    cr_assert_eq (tp_send (sys, w, tp_tag ("trap"), "b", 1), 0);
    s_sync_send (sys, w, "link", "r", t);
    s_kill_via (sys, w, t, "crash");
    cr_assert (tt_wait_ge (&W.exits, 1, 5000));
    cr_assert_eq (W.exit_reason, tp_tag ("crash"));
    cr_assert (tp_ref_eq (W.exit_who, t));
    tp_actor_stats st;
    cr_assert_eq (tp_actor_stats_get (sys, w, &st), 0, "trapping actor died");
    tp_system_destroy (&sys);
    TT_NO_FAILURES ();
}

Test (link, killed_is_not_trappable, .timeout = 30)
{
    tp_system *sys = s_sys ();
    tp_ref t, w;
    s_pair (sys, &t, &w);
    cr_assert_eq (tp_send (sys, w, tp_tag ("trap"), "b", 1), 0);
    s_sync_send (sys, w, "link", "r", t);
    s_kill_via (sys, w, t, "killed");
    cr_assert (tt_wait_ge (&W.terminated, 1, 5000));
    cr_assert_eq (W.term_reason, tp_tag ("killed"));
    tp_system_destroy (&sys);
    TT_NO_FAILURES ();
}

Test (link, unlink_stops_propagation, .timeout = 30)
{
    tp_system *sys = s_sys ();
    tp_ref t, w;
    s_pair (sys, &t, &w);
    s_sync_send (sys, w, "link", "r", t);
    s_sync_send (sys, w, "unlink", "r", t);
    s_sync_send (sys, w, "watch", "r", t);
    s_kill_via (sys, w, t, "crash");
    cr_assert (tt_wait_ge (&W.downs, 1, 5000));
    tp_actor_stats st;
    cr_assert_eq (tp_actor_stats_get (sys, w, &st), 0, "unlinked actor died");
    tp_system_destroy (&sys);
    TT_NO_FAILURES ();
}

Test (link, to_a_dead_actor_exits_with_noproc, .timeout = 30)
{
    tp_system *sys = s_sys ();
    tp_ref t, w;
    cr_assert_eq (tp_spawn (sys, &target, NULL, NULL, &t), 0);
    cr_assert_eq (tp_system_stop (sys, t, 0), 0);
    cr_assert_eq (tp_system_wait (sys, tt_ms (5000)), 0);
    cr_assert_eq (tp_spawn (sys, &watcher, NULL, NULL, &w), 0);
    s_sync_send (sys, w, "link", "r", t);
    cr_assert (tt_wait_ge (&W.terminated, 1, 5000));
    cr_assert_eq (W.term_reason, tp_tag ("noproc"));
    tp_system_destroy (&sys);
    TT_NO_FAILURES ();
}

/* spawn with .link = true links child to the spawning actor */
static void
spawner_receive (tp_actor *self, tp_msg *msg)
{
    tp_spawn_opts o = {.link = true};
    tp_ref c;
    TT_CHECK (tp_spawn (tp_system_of (self), &target, NULL, &o, &c) == 0);
    TT_CHECK (tp_tell (self, c, tp_tag ("die"), "t", tp_tag ("crash")) == 0);
}
static const tp_behavior spawner = {"spawner", NULL, spawner_receive,
                                    watcher_terminate};

Test (link, spawn_link_ties_child_to_parent, .timeout = 30)
{
    tp_system *sys = s_sys ();
    tp_ref p;
    cr_assert_eq (tp_spawn (sys, &spawner, NULL, NULL, &p), 0);
    cr_assert_eq (tp_send (sys, p, tp_tag ("go"), NULL), 0);
    cr_assert (tt_wait_ge (&W.terminated, 1, 5000));
    cr_assert_eq (W.term_reason, tp_tag ("crash"));
    cr_assert_eq (tp_system_wait (sys, tt_ms (5000)), 0);
    tp_system_destroy (&sys);
    TT_NO_FAILURES ();
}

Test (stop, stop_from_outside_runs_terminate_with_the_reason, .timeout = 30)
{
    tp_system *sys = s_sys ();
    tp_ref t;
    cr_assert_eq (tp_spawn (sys, &target, &W, NULL, &t), 0);
    cr_assert_eq (tp_system_stop (sys, t, tp_tag ("enough")), 0);
    cr_assert (tt_wait_ge (&W.terminated, 1, 5000));
    cr_assert_eq (W.term_reason, tp_tag ("enough"));
    tp_system_destroy (&sys);
}
