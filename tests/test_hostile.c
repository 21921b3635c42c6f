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
static _Atomic long s_dead_for;   /* notices for s_dead_index */
static _Atomic uint32_t s_dead_index = UINT32_MAX;

static void
dl_receive (tp_actor *self, tp_msg *msg)
{
    (void) self;
    tp_ref to;
    tp_tag_t tag;
    if (tp_msg_is (msg, "_dead")) {
        if (tp_msg_unpack (msg, "rt", &to, &tag) == 0
            && to.index == atomic_load (&s_dead_index))
            tt_add (&s_dead_for, 1);
        tt_add (&s_dead, 1);
    }
}
static const tp_behavior dl_b = {"dl", NULL, dl_receive, NULL};

static _Atomic long s_echo_runs; /* echo's receive calls */

static void
echo_receive (tp_actor *self, tp_msg *msg)
{
    tt_add (&s_echo_runs, 1); /* (before any reply: exact when it comes) */
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

/* ---- peers that lie ----------------------------------------------------- */

#include "rawpeer.h"

/*  A node bound on a fresh ipc endpoint with an echo actor and a spy
    that monitors it, for the raw-peer tests. */
typedef struct {
    tp_system *sys;
    char ep[256];
    tp_ref echo, spy;
    uint32_t inc;
} s_node_t;

static void
s_node_up (s_node_t *n, const char *name)
{
    tp_system_opts o = {.workers = 2, .node_name = name, .heartbeat_ms = 100};
    n->sys = tp_system_new (&o);
    cr_assert_not_null (n->sys);
    char want[128];
    snprintf (want, sizeof want, "ipc:///tmp/tp-hostile-%d-%s", getpid (),
              name);
    cr_assert_eq (tp_node_bind (n->sys, want, n->ep, sizeof n->ep), 0);
    cr_assert_eq (tp_spawn (n->sys, &echo_b, NULL, NULL, &n->echo), 0);
    cr_assert_eq (tp_spawn (n->sys, &spy_b, NULL, NULL, &n->spy), 0);
    cr_assert_eq (tp_send (n->sys, n->spy, tp_tag ("watch"), "r", n->echo), 0);
    n->inc = tp_node_incarnation (tp_system_node (n->sys));
}

static void
s_node_down (s_node_t *n)
{
    tp_system_destroy (&n->sys);
    unlink (n->ep + strlen ("ipc://"));
}

/*  Connects raw peer `name` to node n and waits until n has it up;
    rcvhwm > 0 bounds what the raw peer queues unread. */
static void
s_raw_greeted (s_node_t *n, tt_raw *raw, const char *name, int rcvhwm)
{
    tt_raw_open (raw, name, n->ep, n->inc);
    if (rcvhwm > 0)
        zmq_setsockopt (raw->d, ZMQ_RCVHWM, &rcvhwm, sizeof rcvhwm);
    tt_raw_hello (raw, n->inc);
    cr_assert (tt_wait_peer (n->sys, name, true, 5000), "%s not up", name);
}

/*  Counts DOWN frames (into *arg) until the LOOKUP_REPLY. */
static bool
s_count_down_until_reply (const tp__env *e, void *arg)
{
    if (e->kind == TP__WIRE_DOWN)
        (*(int *) arg)++;
    return e->kind == TP__WIRE_LOOKUP_REPLY;
}

/*  A LOOKUP round trip: every frame the node sent the raw peer before
    its answer has arrived by the time it returns. Returns how many of
    those were DOWNs. */
static int
s_raw_sync (tt_raw *r)
{
    tp_msg *q = tp_msg_new (tp_tag ("x"), "s", "nobody");
    tt_raw_send (r, TP__WIRE_LOOKUP, TP_REF_NIL, 0, tp_msg_body (q),
                 tp_msg_size (q));
    tp_msg_destroy (&q);
    int downs = 0;
    cr_assert (tt_raw_recv (r, 5000, s_count_down_until_reply, &downs),
               "no LOOKUP_REPLY");
    return downs;
}

Test (hostile, exit_down_unlink_demonitor_without_a_watch_are_ignored,
      .timeout = 30)
{
    s_node_t n;
    s_node_up (&n, "target");
    tt_raw raw;
    s_raw_greeted (&n, &raw, "evil", 0);
    tp_msg *why = tp_msg_new (tp_tag ("x"), "t", tp_tag ("boom"));
    /* EXIT for an actor that never linked with the peer */
    tt_raw_send (&raw, TP__WIRE_EXIT, n.echo, tp_tag ("_sys"),
                 tp_msg_body (why), tp_msg_size (why));
    /* DOWN for a monitor the spy never made of the peer (id 0 and a
       real-looking one), as if the peer's actor 1.1 had ended */
    tp_msg *down = tp_msg_new (tp_tag ("x"), "rt", n.echo, tp_tag ("boom"));
    for (uint64_t id = 0; id < 3; id++) {
        tp__env e = tt_raw_env (&raw, TP__WIRE_DOWN, n.spy, tp_tag ("_sys"),
                                tp_msg_body (down), tp_msg_size (down));
        e.corr = id;
        tt_raw_send_env (&raw, &e);
    }
    tt_raw_send (&raw, TP__WIRE_UNLINK, n.echo, tp_tag ("_sys"), NULL, 0);
    tt_raw_send (&raw, TP__WIRE_DEMONITOR, n.echo, tp_tag ("_sys"), NULL, 0);
    tp_msg_destroy (&why);
    tp_msg_destroy (&down);
    s_raw_sync (&raw); /* the node has read all of the above */
    /* both actors still live and the spy saw no _down */
    s_call_echo (n.sys, n.echo);
    tp_actor_stats as;
    cr_assert_eq (tp_actor_stats_get (n.sys, n.spy, &as), 0);
    cr_assert_eq (atomic_load (&s_downs), 0, "a forged DOWN was delivered");
    /* a real link is honoured: LINK, then EXIT ends the actor */
    tt_raw_send (&raw, TP__WIRE_LINK, n.echo, tp_tag ("_sys"), NULL, 0);
    why = tp_msg_new (tp_tag ("x"), "t", tp_tag ("boom"));
    tt_raw_send (&raw, TP__WIRE_EXIT, n.echo, tp_tag ("_sys"),
                 tp_msg_body (why), tp_msg_size (why));
    tp_msg_destroy (&why);
    cr_assert (tt_wait_ge (&s_downs, 1, 5000), "a linked EXIT was ignored");
    tt_raw_close (&raw);
    TT_NO_FAILURES ();
    s_node_down (&n);
}

Test (hostile, a_vanished_peers_monitors_are_dropped_with_it, .timeout = 30)
{
    s_node_t n;
    s_node_up (&n, "target");
    tt_raw raw;
    s_raw_greeted (&n, &raw, "w1", 0);
    for (uint64_t id = 1; id <= 100; id++) {
        tp__env e = tt_raw_env (&raw, TP__WIRE_MONITOR, n.echo,
                                tp_tag ("_sys"), NULL, 0);
        e.corr = id;
        tt_raw_send_env (&raw, &e);
    }
    s_raw_sync (&raw);
    tt_raw_close (&raw); /* vanishes without a goodbye */
    cr_assert (tt_wait_peer (n.sys, "w1", false, 5000), "w1 never went down");
    /* the next process named w1 gets none of the old one's DOWNs */
    tt_raw_open_as (&raw, "w1", 78, n.ep, n.inc);
    tt_raw_hello (&raw, n.inc);
    cr_assert (tt_wait_peer (n.sys, "w1", true, 5000));
    cr_assert_eq (tp_system_stop (n.sys, n.echo, 0), 0);
    cr_assert (tt_wait_ge (&s_downs, 1, 5000));
    /* any DOWN to w1 left before the spy's _down (same terminate call):
       so it comes before the answer to a LOOKUP sent now */
    int downs = s_raw_sync (&raw);
    cr_assert_eq (downs, 0, "%d stray DOWNs reached the next w1", downs);
    tt_raw_close (&raw);
    TT_NO_FAILURES ();
    s_node_down (&n);
}

static bool
s_is_hello (const tp__env *e, void *arg)
{
    (void) arg;
    return e->kind == TP__WIRE_HELLO;
}

Test (hostile, frames_for_an_earlier_incarnation_reach_no_actor, .timeout = 30)
{
    s_node_t n;
    s_node_up (&n, "target");
    tt_raw raw;
    s_raw_greeted (&n, &raw, "evil", 0);
    tp_ref dl;
    cr_assert_eq (tp_spawn (n.sys, &dl_b, NULL, NULL, &dl), 0);
    cr_assert_eq (tp_system_watch_dead_letters (n.sys, dl), 0);
    tp_system_stats st0, st;
    tp_system_stats_get (n.sys, &st0);
    s_call_echo (n.sys, n.echo); /* (so the spy's monitor has been run) */
    tp_actor_stats as;
    long runs0 = atomic_load (&s_echo_runs);
    /* an ask to echo's slot in "the node's previous life" */
    raw.to_inc = n.inc ^ 0x5a5a5a5au;
    tp_msg *b = tp_msg_new (tp_tag ("x"), "i", 1);
    tp__env e = tt_raw_env (&raw, TP__WIRE_USER, n.echo, tp_tag ("ping"),
                            tp_msg_body (b), tp_msg_size (b));
    e.flags = TP__WIRE_F_REQUEST;
    e.corr = 9;
    tt_raw_send_env (&raw, &e);
    tp_msg_destroy (&b);
    /* answered with a HELLO (so that the peer learns the incarnation),
       never with a pong */
    cr_assert (tt_raw_recv (&raw, 5000, s_is_hello, NULL), "no HELLO back");
    raw.to_inc = n.inc;
    s_raw_sync (&raw);
    tp_system_stats_get (n.sys, &st);
    cr_assert_eq (st.dead_letters, st0.dead_letters + 1);
    cr_assert (tt_wait_ge (&s_dead, 1, 5000), "the watcher was not told");
    cr_assert_eq (tp_actor_stats_get (n.sys, n.echo, &as), 0);
    /* (echo's own count, not as.processed: that one is published when a
       turn ends, after the reply to s_call_echo may have left) */
    cr_assert_eq (atomic_load (&s_echo_runs), runs0,
                  "the ask reached the actor");
    tt_raw_close (&raw);
    s_node_down (&n);
}

/*  Messages a node held for a peer that stopped reading, then left: each
    one is a dead letter, counted once and reported to the watcher like a
    local one (the watcher of a node hears of its remote losses too). */
Test (hostile, messages_held_for_a_peer_that_leaves_reach_the_watcher,
      .timeout = 60)
{
    s_node_t n;
    s_node_up (&n, "target");
    tp_ref dl;
    cr_assert_eq (tp_spawn (n.sys, &dl_b, NULL, NULL, &dl), 0);
    cr_assert_eq (tp_system_watch_dead_letters (n.sys, dl), 0);
    /* a watcher on another node is refused: it would be told by the
       gateway about the gateway's own losses */
    tp_ref far = {tp_node_id ("elsewhere"), 1, 1};
    cr_assert_eq (tp_system_watch_dead_letters (n.sys, far), TP_EINVAL);
    tt_raw raw;
    s_raw_greeted (&n, &raw, "sink", 10); /* reads nothing from now on */
    tp_ref target = {tp_node_id ("sink"), 5, 1};
    atomic_store (&s_dead_index, target.index);
    tp_system_stats st0, st;
    tp_system_stats_get (n.sys, &st0);
    char body[1000];
    memset (body, 'x', sizeof body);
    long sent = 0;
    int rc = 0;
    while (sent < 200000) { /* until the node's queue for sink is full */
        tp_msg *m = tp_msg_new_raw (tp_tag ("job"), body, sizeof body);
        rc = tp_send_msg (n.sys, target, &m);
        tp_msg_destroy (&m);
        if (rc)
            break;
        if (++sent % 500 == 0) /* alive, so only its reading stops */
            tt_raw_send (&raw, TP__WIRE_HEARTBEAT, TP_REF_NIL, 0, NULL, 0);
    }
    cr_assert_eq (rc, TP_EFULL, "sent %ld, rc %d", sent, rc);
    tp_node_stats ns;
    tp_node_stats_get (n.sys, &ns);
    cr_assert_gt (ns.frames_held, 0);
    /* sink says goodbye and goes; what the node held for it is lost */
    tt_raw_send (&raw, TP__WIRE_DRAIN, TP_REF_NIL, 0, NULL, 0);
    tt_raw_close (&raw);
    cr_assert (tt_wait_peer (n.sys, "sink", false, 5000), "sink stays up");
    cr_assert (tt_wait_ge (&s_dead_for, 1000, 10000),
               "%ld notices for sink's actor", atomic_load (&s_dead_for));
    tp_system_stats_get (n.sys, &st);
    long lost = (long) (st.dead_letters - st0.dead_letters);
    cr_assert (tt_wait_ge (&s_dead_for, lost, 10000), "%ld notices, %ld lost",
               atomic_load (&s_dead_for), lost);
    cr_assert_eq (atomic_load (&s_dead_for), lost, "counted once each");
    cr_assert_leq (lost, sent);
    fprintf (stderr, "hostile: %ld sent to a peer that left, %ld reported "
                     "dead, %" PRIu64 " frames were held\n",
             sent, lost, ns.frames_held);
    s_call_echo (n.sys, n.echo);
    s_node_down (&n);
}

/*  Pending asks live in their worker's map by request id (core/idmap.c):
    a peer that sends replies with guessed ids to one actor must complete
    no ask of another actor on the same worker. */
static _Atomic long s_fa_ok, s_fa_cancel, s_fa_other;

static void
s_fa_cont (tp_actor *self, int status, tp_msg *reply, void *arg)
{
    (void) self;
    (void) reply;
    (void) arg;
    tt_add (status == 0              ? &s_fa_ok
            : status == TP_ECANCELED ? &s_fa_cancel
                                     : &s_fa_other,
            1);
}

static void
fa_asker_receive (tp_actor *self, tp_msg *msg)
{
    tp_ref silent, back;
    if (!tp_msg_is (msg, "go")
        || tp_msg_unpack (msg, "rr", &silent, &back) != 0)
        return;
    for (int i = 0; i < 1000; i++)
        TT_CHECK (tp_ask (self, silent, tp_tag ("q"), 60000, s_fa_cont, NULL,
                          NULL)
                  == 0);
    tp_tell (self, back, tp_tag ("asked"), NULL);
}
static const tp_behavior fa_asker_b = {"fa-asker", NULL, fa_asker_receive,
                                       NULL};

static _Atomic long s_fa_asked;
static void
fa_main_receive (tp_actor *self, tp_msg *msg)
{
    (void) self;
    if (tp_msg_is (msg, "asked"))
        tt_add (&s_fa_asked, 1);
}
static const tp_behavior fa_main_b = {"fa-main", NULL, fa_main_receive, NULL};

Test (hostile, forged_replies_complete_no_other_actors_asks, .timeout = 60)
{
    s_node_t n;
    s_node_up (&n, "target");
    tp_actor_stats es;
    cr_assert_eq (tp_actor_stats_get (n.sys, n.echo, &es), 0);
    tp_spawn_opts same = {.place = TP_PLACE_WORKER, .worker = es.worker};
    tp_ref silent, asker, back;
    cr_assert_eq (tp_spawn (n.sys, &dl_b, NULL, NULL, &silent), 0);
    cr_assert_eq (tp_spawn (n.sys, &fa_asker_b, NULL, &same, &asker), 0);
    cr_assert_eq (tp_spawn (n.sys, &fa_main_b, NULL, NULL, &back), 0);
    /* (the asker tells `back` when its asks are out) */
    cr_assert_eq (tp_send (n.sys, asker, tp_tag ("go"), "rr", silent, back),
                  0);
    cr_assert (tt_wait_ge (&s_fa_asked, 1, 5000));
    /* replies to echo (the asker's neighbour) with every small id */
    tt_raw raw;
    s_raw_greeted (&n, &raw, "forger", 0);
    for (uint64_t id = 1; id <= 5000; id++) {
        tp__env e = tt_raw_env (&raw, TP__WIRE_USER, n.echo, tp_tag ("ans"),
                                NULL, 0);
        e.flags = TP__WIRE_F_REPLY;
        e.corr = id;
        tt_raw_send_env (&raw, &e);
    }
    s_raw_sync (&raw); /* the node has read them all */
    s_call_echo (n.sys, n.echo); /* (and echo's worker has run them) */
    cr_assert_eq (atomic_load (&s_fa_ok), 0, "%ld asks completed by forgery",
                  atomic_load (&s_fa_ok));
    /* the asks are still pending: ending the asker cancels all 1000 */
    cr_assert_eq (tp_system_stop (n.sys, asker, 0), 0);
    cr_assert (tt_wait_ge (&s_fa_cancel, 1000, 5000), "%ld canceled",
               atomic_load (&s_fa_cancel));
    cr_assert_eq (atomic_load (&s_fa_other), 0);
    tt_raw_close (&raw);
    TT_NO_FAILURES ();
    s_node_down (&n);
}

/* ---- two nodes in one process -------------------------------------------- */

Test (hostile, remote_control_index_and_too_big_bodies_fail_cleanly,
      .timeout = 30)
{
    s_node_t a, b;
    s_node_up (&a, "alpha");
    s_node_up (&b, "bravo");
    uint32_t bn;
    cr_assert_eq (tp_node_connect (a.sys, b.ep, tt_ms (5000), &bn), 0);
    /* the control index, from each of alpha's workers (worker 0 hosts
       the gateway; worker 1 hands records over) and from outside */
    tp_ref bad = {bn, UINT32_MAX, 1};
    for (int w = 0; w < 2; w++) {
        tp_spawn_opts so = {.place = TP_PLACE_WORKER, .worker = w};
        tp_ref s;
        cr_assert_eq (tp_spawn (a.sys, &spy_b, NULL, &so, &s), 0);
        cr_assert_eq (tp_send (a.sys, s, tp_tag ("send"), "r", bad), 0);
        cr_assert_eq (tp_send (a.sys, s, tp_tag ("watch"), "r", bad), 0);
    }
    cr_assert_eq (tp_send (a.sys, bad, tp_tag ("hit"), NULL), 0);
    /* each watch of it is answered (not a wedged gateway) */
    cr_assert (tt_wait_ge (&s_downs, 2, 5000), "downs %ld",
               atomic_load (&s_downs));
    /* alpha still reaches bravo both ways */
    tp_ref echo_b_at_a;
    cr_assert_eq (tp_whereis_at (a.sys, "nobody", "bravo", tt_ms (5000),
                                 &echo_b_at_a),
                  0);
    tp_ref be = b.echo;
    be.node = bn;
    tp_msg *r = NULL;
    cr_assert_eq (tp_call (a.sys, be, tp_tag ("ping"), tt_ms (5000), &r, "i",
                           1),
                  0);
    tp_msg_destroy (&r);
    /* a body that cannot fit a frame fails at the call */
    size_t bigsz = TP_NODE_MAX_BODY + 1;
    void *bytes = calloc (1, bigsz);
    tp_msg *big = tp_msg_new_raw (tp_tag ("big"), bytes, bigsz);
    free (bytes);
    cr_assert_not_null (big);
    cr_assert_eq (tp_send_msg (a.sys, be, &big), TP_ETOOBIG);
    cr_assert_not_null (big, "the caller keeps the message on failure");
    tp_msg_destroy (&big);
    TT_NO_FAILURES ();
    s_node_down (&a);
    s_node_down (&b);
}

/*  A peer that asks and never reads: what the node holds for it is
    bounded (ZeroMQ's queue, then peer_queue twice over), replies past it
    are counted as dead letters, and the node keeps serving others. */
Test (hostile, a_peer_that_asks_and_never_reads_costs_bounded_memory,
      .timeout = 60)
{
    s_node_t n;
    s_node_up (&n, "target");
    tt_raw raw;
    s_raw_greeted (&n, &raw, "sponge", 10);
    long rss0 = 0, rss1 = 0;
    FILE *f = fopen ("/proc/self/statm", "r");
    cr_assert (f && fscanf (f, "%*d %ld", &rss0) == 1);
    fclose (f);
    tp_msg *b = tp_msg_new (tp_tag ("x"), "i", 1);
    tp__env e = tt_raw_env (&raw, TP__WIRE_USER, n.echo, tp_tag ("ping"),
                            tp_msg_body (b), tp_msg_size (b));
    e.flags = TP__WIRE_F_REQUEST;
    enum { N = 300000 };
    uint8_t *buf;
    size_t len;
    for (int i = 0; i < N; i++) {
        e.corr = (uint64_t) i + 1;
        cr_assert_eq (tp__wire_encode (&e, &buf, &len), 0);
        cr_assert_eq (zmq_send (raw.d, buf, len, 0), (int) len);
        free (buf);
    }
    tp_msg_destroy (&b);
    /* the node has answered (or dropped) every ask when another client's
       call, queued behind them on the echo actor, comes back */
    tp_system_opts o = {.workers = 1, .node_name = "other"};
    tp_system *cli = tp_system_new (&o);
    cr_assert_eq (tp_node_connect (cli, n.ep, tt_ms (5000), NULL), 0);
    tp_ref echo;
    cr_assert_eq (tp_whereis_at (cli, "nobody", "target", tt_ms (5000), &echo),
                  0);
    echo = n.echo;
    echo.node = tp_node_id ("target");
    tp_msg *r = NULL;
    cr_assert_eq (tp_call (cli, echo, tp_tag ("ping"), tt_ms (30000), &r, "i",
                           1),
                  0);
    tp_msg_destroy (&r);
    f = fopen ("/proc/self/statm", "r");
    cr_assert (f && fscanf (f, "%*d %ld", &rss1) == 1);
    fclose (f);
    long grew = (rss1 - rss0) * (sysconf (_SC_PAGESIZE) / 1024);
    tp_node_stats st;
    tp_node_stats_get (n.sys, &st);
    tp_system_stats ss;
    tp_system_stats_get (n.sys, &ss);
    fprintf (stderr, "sponge: %d asks, RSS +%ld KiB, frames held %" PRIu64
                     ", dead letters %" PRIu64 "\n",
             N, grew, st.frames_held, ss.dead_letters);
    if (tt_memory_bounds ())
        cr_assert_lt (grew, 48 * 1024, "RSS grew by %ld KiB", grew);
    cr_assert_gt (ss.dead_letters, 0, "replies past the bound are counted");
    tp_system_destroy (&cli);
    tt_raw_close (&raw);
    s_node_down (&n);
}

/*  tp_node_bind says what failed. */
/*  Two live processes named w1 call one node: the second is refused
    (TP_ENAMETAKEN on its side, a log line and peers_refused on the
    node's), the first keeps its link however long the second insists,
    and once the first leaves, the second comes up by itself. */
Test (hostile, a_second_live_node_calling_in_with_a_name_that_is_up_is_refused,
      .timeout = 60)
{
    s_node_t t;
    s_node_up (&t, "target");
    tp_system_opts o = {.workers = 1, .node_name = "w1", .heartbeat_ms = 100};
    tp_system *a = tp_system_new (&o);
    tp_system *b = tp_system_new (&o);
    cr_assert (a && b);
    tp_spawn_opts so = {.name = "echo"};
    cr_assert_eq (tp_spawn (a, &echo_b, NULL, &so, NULL), 0);
    cr_assert_eq (tp_spawn (b, &echo_b, NULL, &so, NULL), 0);
    cr_assert_eq (tp_node_connect (a, t.ep, tt_ms (5000), NULL), 0);
    cr_assert_eq (tp_node_connect (b, t.ep, tt_ms (5000), NULL), TP_ENAMETAKEN);
    tp_node_stats ns;
    tp_node_stats_get (t.sys, &ns);
    cr_assert_geq (ns.peers_refused, 1);
    uint32_t an = tp_node_id ("w1");
    tp_ref echo;
    cr_assert_eq (tp_whereis_at (t.sys, "echo", "w1", tt_ms (5000), &echo), 0);
    an = echo.node;
    cr_assert_eq (tp_node_incarnation (an),
                  tp_node_incarnation (tp_system_node (a)), "not a's w1");
    /* b greets again every beat: for ten beats, a stays the w1 */
    uint64_t end = tt_now_ms () + 10 * 100;
    int calls = 0;
    while (tt_now_ms () < end) {
        tp_msg *r = NULL;
        cr_assert_eq (tp_call (t.sys, echo, tp_tag ("ping"), tt_ms (5000), &r,
                               "i", calls),
                      0, "call %d to a's echo failed", calls);
        tp_msg_destroy (&r);
        calls++;
    }
    cr_assert (tp_node_up (t.sys, an), "a's link was taken over");
    /* a leaves: b's next greeting is let in */
    tp_system_destroy (&a);
    cr_assert_eq (tp_node_connect (b, t.ep, tt_ms (5000), NULL), 0);
    cr_assert_eq (tp_whereis_at (t.sys, "echo", "w1", tt_ms (5000), &echo), 0);
    cr_assert_eq (tp_node_incarnation (echo.node),
                  tp_node_incarnation (tp_system_node (b)));
    tp_system_destroy (&b);
    TT_NO_FAILURES ();
    s_node_down (&t);
}

Test (hostile, bind_errors_name_their_cause, .timeout = 30)
{
    tp_system_opts o = {.workers = 1, .node_name = "binder"};
    tp_system *sys = tp_system_new (&o);
    tp_system_opts o2 = {.workers = 1, .node_name = "binder2"};
    tp_system *other = tp_system_new (&o2);
    char ep[256];
    cr_assert_eq (tp_node_bind (sys, "tcp://127.0.0.1:*", ep, sizeof ep), 0);
    cr_assert_eq (tp_node_bind (other, ep, NULL, 0), TP_EADDRINUSE, "%s", ep);
    cr_assert_eq (tp_node_bind (other, "bogus://nowhere", NULL, 0),
                  TP_EENDPOINT);
    cr_assert_eq (tp_node_bind (other, "tcp://no-such-host.invalid:1", NULL, 0),
                  TP_EENDPOINT);
    tp_system_destroy (&other);
    tp_system_destroy (&sys);
}
