/*  tests/test_curve.c: CurveZMQ on node links: an allowed key works both
    ways; an unknown key, no key and plaintext are refused, nothing of
    theirs is delivered and the refusals are counted; a key changed by a
    restart. (Systems of this process over tcp loopback.) */
#include <criterion/criterion.h>
#include <sched.h>

#include "testutil.h"

static _Atomic long g_got; /* messages the echo received */

static void
echo_receive (tp_actor *self, tp_msg *msg)
{
    tt_add (&g_got, 1);
    if (tp_msg_is_request (msg))
        tp_reply (self, msg, tp_tag ("pong"), NULL);
}
static const tp_behavior echo_b = {"echo", NULL, echo_receive, NULL};

typedef struct {
    char pub[41], sec[41];
} keys_t;

static keys_t
s_keys (void)
{
    keys_t k;
    cr_assert_eq (tp_curve_keypair (k.pub, k.sec), 0);
    return k;
}

/*  A node named name with keys k that allows the keys in allow (NULL-
    terminated); binds if ep is not NULL. */
static tp_system *
s_node (const char *name, const keys_t *k, const char **allow, char *ep)
{
    tp_system_opts o = {.node_name = name, .heartbeat_ms = tt_ms (200),
                        .curve_secret = k ? k->sec : NULL,
                        .curve_allow = allow};
    tp_system *sys = tp_system_new (&o);
    cr_assert_not_null (sys);
    if (ep)
        cr_assert_eq (tp_node_bind (sys, "tcp://127.0.0.1:*", ep, 256), 0);
    return sys;
}

Test (curve, an_allowed_key_talks_and_the_others_are_refused, .timeout = 60)
{
    keys_t ka = s_keys (), kb = s_keys (), kc = s_keys ();
    const char *a_allows[] = {kb.pub, NULL};
    const char *b_allows[] = {ka.pub, NULL};
    const char *c_allows[] = {ka.pub, NULL};
    char ep[256];
    atomic_store (&g_got, 0);
    tp_system *a = s_node ("ca", &ka, a_allows, ep);
    tp_spawn_opts so = {.name = "echo"};
    cr_assert_eq (tp_spawn (a, &echo_b, NULL, &so, NULL), 0);

    /* b: allowed, knows a's key: works, a call both ways */
    tp_system *b = s_node ("cb", &kb, b_allows, NULL);
    cr_assert_eq (tp_node_connect (b, ep, 1000, NULL), TP_EINVAL,
                  "a CURVE node connected in plaintext");
    uint32_t node = 0;
    cr_assert_eq (tp_node_connect_key (b, ep, ka.pub, tt_ms (5000), &node), 0);
    tp_ref echo;
    cr_assert_eq (tp_whereis_at (b, "echo", "ca", tt_ms (5000), &echo), 0);
    tp_msg *r = NULL;
    cr_assert_eq (tp_call (b, echo, tp_tag ("ping"), tt_ms (5000), &r, NULL),
                  0);
    tp_msg_destroy (&r);
    long got = atomic_load (&g_got);

    /* c: a valid key that a does not allow: refused by ZAP */
    tp_system *c = s_node ("cc", &kc, c_allows, NULL);
    cr_assert_eq (tp_node_connect_key (c, ep, ka.pub, 500, NULL),
                  TP_ETIMEDOUT);
    /* d: plaintext: its handshake fails */
    tp_system *d = s_node ("cd", NULL, NULL, NULL);
    cr_assert_eq (tp_node_connect (d, ep, 500, NULL), TP_ETIMEDOUT);
    /* d again with a's key but no key of its own: refused at the call */
    cr_assert_eq (tp_node_connect_key (d, ep, ka.pub, 500, NULL), TP_EINVAL);

    tp_node_stats st;
    uint64_t t0 = tt_now_ms ();
    for (;;) { /* (the refusals are counted as the handshakes fail) */
        tp_node_stats_get (a, &st);
        if (st.curve_refused >= 2)
            break;
        cr_assert_lt (tt_now_ms () - t0, (uint64_t) tt_ms (5000),
                      "%llu refusals counted",
                      (unsigned long long) st.curve_refused);
        sched_yield ();
    }
    cr_assert_eq (st.peers_up, 1, "only b is up at a");
    cr_assert_eq (atomic_load (&g_got), got, "a refused peer reached an actor");
    tp_system_destroy (&d);
    tp_system_destroy (&c);
    tp_system_destroy (&b);
    tp_system_destroy (&a);
    TT_NO_FAILURES ();
}

Test (curve, a_key_changed_by_a_restart, .timeout = 60)
{
    keys_t ka = s_keys (), ka2 = s_keys (), kb = s_keys ();
    const char *a_allows[] = {kb.pub, NULL};
    const char *b_allows[] = {ka.pub, ka2.pub, NULL};
    char ep[256];
    tp_system *a = s_node ("ra", &ka, a_allows, ep);
    tp_system *b = s_node ("rb", &kb, b_allows, NULL);
    cr_assert_eq (tp_node_connect_key (b, ep, ka.pub, tt_ms (5000), NULL), 0);
    tp_system_destroy (&a);
    /* a restarts with a new key on the same endpoint */
    tp_system_opts o = {.node_name = "ra", .heartbeat_ms = tt_ms (200),
                        .curve_secret = ka2.sec, .curve_allow = a_allows};
    a = tp_system_new (&o);
    char ep2[256];
    cr_assert_eq (tp_node_bind (a, ep, ep2, sizeof ep2), 0);
    /* b's old connection expects the old key: a new one with the new key */
    tp_system *b2 = s_node ("rb2", &kb, b_allows, NULL);
    cr_assert_eq (tp_node_connect_key (b2, ep, ka.pub, 500, NULL),
                  TP_ETIMEDOUT, "the old key still works");
    tp_system_destroy (&b2);
    b2 = s_node ("rb3", &kb, b_allows, NULL);
    cr_assert_eq (tp_node_connect_key (b2, ep, ka2.pub, tt_ms (5000), NULL), 0);
    tp_system_destroy (&b2);
    tp_system_destroy (&b);
    tp_system_destroy (&a);
}

Test (curve, malformed_keys_make_no_system)
{
    tp_system_opts o = {.curve_secret = "short"};
    cr_assert_null (tp_system_new (&o));
    keys_t k = s_keys ();
    const char *bad[] = {"not a key", NULL};
    tp_system_opts o2 = {.curve_secret = k.sec, .curve_allow = bad};
    cr_assert_null (tp_system_new (&o2));
}
