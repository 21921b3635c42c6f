/*  tests/test_node_service.c: actors/node_service: the "_node" requests
    (ls, stats, peers, stop, unknown) asked from another node, as the
    troupe command does. */
#include <criterion/criterion.h>

#include "node_service.h"
#include "testutil.h"

static void
idle_receive (tp_actor *self, tp_msg *msg)
{
    (void) self;
    (void) msg;
}
static const tp_behavior idle_b = {"idle", NULL, idle_receive, NULL};

/*  Monitors the ref its arg points at from init; keeps the reason. */
static _Atomic long g_reason, g_downs;

static int
watch_init (tp_actor *self, void *arg)
{
    return tp_monitor (self, *(tp_ref *) arg) > 0 ? 0 : -1;
}

static void
watch_receive (tp_actor *self, tp_msg *msg)
{
    (void) self;
    uint64_t id;
    tp_ref who;
    tp_tag_t why;
    if (tp_msg_is (msg, "_down")
        && tp_msg_unpack (msg, "Urt", &id, &who, &why) == 0) {
        atomic_store (&g_reason, (long) why);
        tt_add (&g_downs, 1);
    }
    else if (tp_msg_is (msg, "ping"))
        tp_reply (self, msg, tp_tag ("pong"), NULL);
}
static const tp_behavior watch_b = {"watch", watch_init, watch_receive, NULL};

Test (node_service, answers_ls_stats_peers_and_stop_from_another_node,
      .timeout = 60)
{
    tp_system_opts oa = {.node_name = "svc_a"}, ob = {.node_name = "svc_b"};
    tp_system *a = tp_system_new (&oa), *b = tp_system_new (&ob);
    char ep[256];
    cr_assert_eq (tp_node_bind (a, "tcp://127.0.0.1:*", ep, sizeof ep), 0);
    cr_assert_eq (tp_node_service_start (a, NULL), 0);
    cr_assert_eq (tp_node_service_start (a, NULL), TP_EEXIST);
    tp_spawn_opts so = {.name = "victim"};
    tp_ref victim;
    cr_assert_eq (tp_spawn (a, &idle_b, NULL, &so, &victim), 0);
    tp_ref w;
    cr_assert_eq (tp_spawn (a, &watch_b, &victim, NULL, &w), 0);
    tp_msg *p = NULL; /* (a call: the watcher's init, its monitor, ran) */
    cr_assert_eq (tp_call (a, w, tp_tag ("ping"), tt_ms (5000), &p, NULL), 0);
    tp_msg_destroy (&p);
    cr_assert_eq (tp_node_connect (b, ep, tt_ms (5000), NULL), 0);
    tp_ref svc;
    cr_assert_eq (tp_whereis_at (b, "_node", "svc_a", tt_ms (5000), &svc), 0);
    cr_assert (!tp_ref_is_nil (svc));

    /* ls: [s name, r ref] pairs, victim and _node among them */
    tp_msg *r = NULL;
    cr_assert_eq (tp_call (b, svc, tp_tag ("ls"), tt_ms (5000), &r, NULL), 0);
    cr_assert (tp_msg_is (r, "names"));
    tp_reader rd;
    tp_reader_init (&rd, r);
    bool saw_victim = false, saw_node = false;
    while (!tp_reader_done (&rd)) {
        const char *name;
        size_t len;
        tp_ref ref;
        cr_assert_eq (tp_reader_next (&rd, "[sr]", &name, &len, &ref), 0);
        if (len == 6 && !memcmp (name, "victim", 6)) {
            saw_victim = true;
            cr_assert (tp_ref_eq (ref, victim));
        }
        saw_node |= len == 5 && !memcmp (name, "_node", 5);
    }
    cr_assert (saw_victim && saw_node);
    tp_msg_destroy (&r);

    /* stats: one map, the counters by name */
    cr_assert_eq (tp_call (b, svc, tp_tag ("stats"), tt_ms (5000), &r, NULL),
                  0);
    char text[2048];
    tp_msg_format (r, text, sizeof text);
    cr_assert_not_null (strstr (text, "\"actors_live\""), "%s", text);
    cr_assert_not_null (strstr (text, "\"unpack_errors\""), "%s", text);
    tp_msg_destroy (&r);

    /* peers: svc_b, up, with bytes both ways */
    cr_assert_eq (tp_call (b, svc, tp_tag ("peers"), tt_ms (5000), &r, NULL),
                  0);
    tp_reader_init (&rd, r);
    const char *name, *pep;
    size_t len, plen;
    uint64_t inc, since, in, out;
    bool up;
    cr_assert_eq (tp_reader_next (&rd, "[sUbUUUs]", &name, &len, &inc, &up,
                                  &since, &in, &out, &pep, &plen),
                  0);
    cr_assert (len == 5 && !memcmp (name, "svc_b", 5));
    cr_assert (up);
    cr_assert_eq ((uint32_t) inc,
                  tp_node_incarnation (tp_system_node (b)));
    cr_assert_gt (in, 0);
    cr_assert_gt (out, 0);
    cr_assert_gt (since, 0);
    cr_assert (tp_reader_done (&rd));
    tp_msg_destroy (&r);

    /* stop: the victim ends with the reason given */
    cr_assert_eq (tp_call (b, svc, tp_tag ("stop"), tt_ms (5000), &r, "rt",
                           victim, tp_tag ("upgrade")),
                  0);
    cr_assert (tp_msg_is (r, "ok"));
    tp_msg_destroy (&r);
    cr_assert (tt_wait_ge (&g_downs, 1, 5000), "the victim lives");
    cr_assert_eq (atomic_load (&g_reason), (long) tp_tag ("upgrade"));
    cr_assert (tp_ref_is_nil (tp_whereis (a, "victim")));

    /* a bad stop, an unknown request */
    cr_assert_eq (tp_call (b, svc, tp_tag ("stop"), tt_ms (5000), &r, "s",
                           "x"),
                  0);
    cr_assert (tp_msg_is (r, "error"));
    tp_msg_destroy (&r);
    cr_assert_eq (tp_call (b, svc, tp_tag ("what"), tt_ms (5000), &r, NULL),
                  0);
    cr_assert (tp_msg_is (r, "error"));
    tp_msg_destroy (&r);
    tp_system_destroy (&b);
    tp_system_destroy (&a);
    TT_NO_FAILURES ();
}
