/*  tests/test_curve.c: CurveZMQ on node links: an allowed key works both
    ways; an unknown key, no key and plaintext are refused, nothing of
    theirs is delivered and the refusals are counted; a key changed by a
    restart. (Systems of this process over tcp loopback.) */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

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

/*  The tools with keys: troupe keygen, troupe-node --key --allow, the CLI
    with -k -s (answered) and without (refused, counted). */
static int
s_sh (const char *cmd)
{
    int st = system (cmd);
    return WIFEXITED (st) ? WEXITSTATUS (st) : -1;
}

Test (curve, the_tools_with_and_without_keys, .timeout = 60)
{
    char exe[512];
    tt_build_dir (exe, sizeof exe); /* BUILD */
    char dir[] = "/tmp/tp-curve-XXXXXX";
    cr_assert_not_null (mkdtemp (dir));
    char cmd[4096];
    snprintf (cmd, sizeof cmd,
              "cd %s && %s/tools/troupe keygen node >/dev/null && "
              "%s/tools/troupe keygen cli >/dev/null && "
              "%s/tools/troupe keygen stranger >/dev/null && "
              "test \"$(stat -c %%a node.secret)\" = 600 && "
              "! %s/tools/troupe keygen node 2>/dev/null",
              dir, exe, exe, exe, exe);
    cr_assert_eq (s_sh (cmd), 0, "keygen");
    char ready[600];
    snprintf (ready, sizeof ready, "%s/ready", dir);
    pid_t pid = fork ();
    if (pid == 0) {
        char node[700], key[700], allow[700], mod[700];
        snprintf (node, sizeof node, "%s/tools/troupe-node", exe);
        snprintf (key, sizeof key, "%s/node.secret", dir);
        snprintf (allow, sizeof allow, "%s/cli.public", dir);
        snprintf (mod, sizeof mod, "%s/modules/libcounter.so", exe);
        int null = open ("/dev/null", O_WRONLY);
        dup2 (null, 2);
        prctl (PR_SET_PDEATHSIG, SIGKILL);
        execl (node, node, "--name", "secure", "--bind", "tcp://127.0.0.1:*",
               "--key", key, "--allow", allow, "--module", mod,
               "--ready-file", ready, (char *) NULL);
        _exit (127);
    }
    cr_assert (tt_wait_file (ready, 10000), "no ready file");
    FILE *f = fopen (ready, "r");
    char ep[256] = "";
    cr_assert (f && fgets (ep, sizeof ep, f));
    fclose (f);
    ep[strcspn (ep, "\n")] = '\0';
    snprintf (cmd, sizeof cmd,
              "%s/tools/troupe -e %s -k %s/cli.secret -s %s/node.public "
              "ask counter add 3 >/dev/null 2>&1",
              exe, ep, dir, dir);
    cr_assert_eq (s_sh (cmd), 0, "the allowed CLI was not answered");
    snprintf (cmd, sizeof cmd,
              "%s/tools/troupe -t 500 -e %s ask counter add 3 >/dev/null 2>&1",
              exe, ep);
    cr_assert_eq (s_sh (cmd), 3, "a plaintext CLI was answered (or not told unreachable)");
    snprintf (cmd, sizeof cmd,
              "%s/tools/troupe -t 500 -e %s -k %s/stranger.secret "
              "-s %s/node.public ask counter add 3 >/dev/null 2>&1",
              exe, ep, dir, dir);
    cr_assert_eq (s_sh (cmd), 3, "an unknown key was answered (or not told unreachable)");
    snprintf (cmd, sizeof cmd,
              "%s/tools/troupe -e %s -k %s/cli.secret -s %s/node.public "
              "ask counter get 2>/dev/null | grep -q 'total(3)'",
              exe, ep, dir, dir);
    cr_assert_eq (s_sh (cmd), 0, "the refused ones were delivered");
    kill (pid, SIGTERM);
    waitpid (pid, NULL, 0);
    snprintf (cmd, sizeof cmd, "rm -rf %s", dir);
    s_sh (cmd);
}

/*  The cost of CURVE: round trips from main to an echo on another node,
    plaintext and CURVE, in alternating rounds (printed; the figure is
    not a test bound). */
static double
s_round_trips (tp_system *client, tp_ref echo, int n)
{
    uint64_t t0 = tt_now_ms ();
    for (int i = 0; i < n; i++) {
        tp_msg *r = NULL;
        cr_assert_eq (tp_call (client, echo, tp_tag ("ping"), tt_ms (5000), &r,
                               NULL),
                      0);
        tp_msg_destroy (&r);
    }
    uint64_t ms = tt_now_ms () - t0;
    return ms ? n * 1000.0 / (double) ms : 0;
}

Test (curve, round_trip_cost_against_plaintext, .timeout = 120)
{
    keys_t ka = s_keys (), kb = s_keys ();
    const char *a_allows[] = {kb.pub, NULL};
    const char *b_allows[] = {ka.pub, NULL};
    char ep_s[256], ep_p[256];
    tp_system *sa = s_node ("qa", &ka, a_allows, ep_s);
    tp_system *sb = s_node ("qb", &kb, b_allows, NULL);
    tp_system *pa = s_node ("pa", NULL, NULL, ep_p);
    tp_system *pb = s_node ("pb", NULL, NULL, NULL);
    tp_spawn_opts so = {.name = "echo"};
    cr_assert_eq (tp_spawn (sa, &echo_b, NULL, &so, NULL), 0);
    cr_assert_eq (tp_spawn (pa, &echo_b, NULL, &so, NULL), 0);
    cr_assert_eq (tp_node_connect_key (sb, ep_s, ka.pub, tt_ms (5000), NULL),
                  0);
    cr_assert_eq (tp_node_connect (pb, ep_p, tt_ms (5000), NULL), 0);
    tp_ref es, ep;
    cr_assert_eq (tp_whereis_at (sb, "echo", "qa", tt_ms (5000), &es), 0);
    cr_assert_eq (tp_whereis_at (pb, "echo", "pa", tt_ms (5000), &ep), 0);
    double best_s = 0, best_p = 0;
    for (int round = 0; round < 3; round++) {
        double p = s_round_trips (pb, ep, 2000), c = s_round_trips (sb, es, 2000);
        best_p = p > best_p ? p : best_p;
        best_s = c > best_s ? c : best_s;
    }
    cr_log_info ("curve: round trips from main over tcp loopback, best of 3 "
                 "rounds of 2000: plaintext %.0f/s, CURVE %.0f/s (%.2fx)\n",
                 best_p, best_s, best_p > 0 ? best_s / best_p : 0);
    cr_assert_gt (best_s, 0);
    tp_system_destroy (&pb);
    tp_system_destroy (&pa);
    tp_system_destroy (&sb);
    tp_system_destroy (&sa);
}
