/*  tools/troupe.c: the troupe command line, a client of a running node.

    troupe [-e ENDPOINT] [-t TIMEOUT_MS] send  ACTOR TAG [JSON...]
    troupe [-e ENDPOINT] [-t TIMEOUT_MS] ask   ACTOR TAG [JSON...]
    troupe [-e ENDPOINT] [-t TIMEOUT_MS] ls
    troupe [-e ENDPOINT] [-t TIMEOUT_MS] stats
    troupe [-e ENDPOINT] [-t TIMEOUT_MS] peers
    troupe [-e ENDPOINT] [-t TIMEOUT_MS] stop  ACTOR [REASON]
    troupe keygen NAME

    ACTOR is a name registered on the node (or a ref, node/index.gen).
    Each JSON argument becomes one msgpack value of the body, in order:
        troupe -e tcp://127.0.0.1:5555 ask counter add 2 '{"by": 3}'
    ask prints the reply as text; ls, stats, peers and stop go to the
    node's "_node" service (actors/node_service.h): peers lists the nodes
    it holds, stop stops ACTOR with REASON (default normal). The endpoint
    defaults to $TROUPE_ENDPOINT. keygen writes a CURVE key pair, NAME.secret
    (mode 0600) and NAME.public. With a node that uses CURVE, give -k
    SECRET_FILE (this client's key, which the node must allow) and -s
    PUBLIC_FILE (the node's public key).

    Exit status (troupe(1)): 0 success; 1 the node answered with an error
    (or keygen could not write); 2 usage or input error; 3 no node at the
    endpoint, or no such actor there; 4 no answer within the timeout.
*/
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <troupe/troupe.h>

#include "json.h"

enum { S_OK = 0, S_REMOTE = 1, S_USAGE = 2, S_UNREACHABLE = 3, S_TIMEOUT = 4 };

/*  The exit status for a failed call to the node. */
static int
s_status (int rc)
{
    return rc == TP_ETIMEDOUT ? S_TIMEOUT
           : rc == TP_EDOWN || rc == TP_ENODE || rc == TP_ENOTFOUND
               ? S_UNREACHABLE
               : S_REMOTE;
}

static int
s_usage_to (FILE *out, int rc)
{
    fprintf (out,
             "usage: troupe [-e ENDPOINT] [-t TIMEOUT_MS] send ACTOR TAG [JSON...]\n"
             "       troupe [-e ENDPOINT] [-t TIMEOUT_MS] ask ACTOR TAG [JSON...]\n"
             "       troupe [-e ENDPOINT] [-t TIMEOUT_MS] ls\n"
             "       troupe [-e ENDPOINT] [-t TIMEOUT_MS] stats\n"
             "       troupe [-e ENDPOINT] [-t TIMEOUT_MS] peers\n"
             "       troupe [-e ENDPOINT] [-t TIMEOUT_MS] stop ACTOR [REASON]\n"
             "       troupe [-e ENDPOINT] [-t TIMEOUT_MS] top [ROUNDS]\n"
             "       troupe keygen NAME\n"
             "       troupe --help | --version\n"
             "  -e ENDPOINT     the node (default $TROUPE_ENDPOINT)\n"
             "  -t TIMEOUT_MS   wait for the node and each answer, 1-3600000 "
             "(default 5000)\n"
             "  -k SECRET_FILE  CURVE: this client's secret key\n"
             "  -s PUBLIC_FILE  CURVE: the node's public key (both or neither)\n"
             "Exit: 0 ok, 1 the node answered an error, 2 usage, 3 node or "
             "actor unreachable, 4 timeout.\n");
    return rc;
}

static int
s_usage (void)
{
    return s_usage_to (stderr, S_USAGE);
}

/*  Builds a message: tag plus one msgpack value per JSON argument. */
static tp_msg *
s_build (const char *tag, int argc, char **argv)
{
    tp_tag_t t = tp_tag (tag);
    if (!t) {
        fprintf (stderr, "troupe: bad tag '%s' (1-10 of [0-9A-Za-z_])\n", tag);
        return NULL;
    }
    msgpack_sbuffer sb;
    msgpack_sbuffer_init (&sb);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &sb, msgpack_sbuffer_write);
    for (int i = 0; i < argc; i++) {
        char err[128];
        if (json_to_msgpack (argv[i], &pk, err, sizeof err) != 0) {
            fprintf (stderr, "troupe: argument %d is not JSON: %s\n", i + 1,
                     err);
            msgpack_sbuffer_destroy (&sb);
            return NULL;
        }
    }
    tp_msg *m = tp_msg_new_raw (t, sb.data, sb.size);
    msgpack_sbuffer_destroy (&sb);
    return m;
}

static void
s_print (const tp_msg *m)
{
    size_t cap = 64 * 1024;
    char *buf = malloc (cap);
    if (!buf)
        return;
    tp_msg_format (m, buf, cap);
    printf ("%s\n", buf);
    free (buf);
}

/*  One line per peer: name, up or down, since, incarnation, bytes. */
static void
s_print_peers (const tp_msg *m)
{
    tp_reader rd;
    tp_reader_init (&rd, m);
    printf ("%-24s %-5s %-20s %-9s %12s %12s %s\n", "NODE", "STATE",
            "UP SINCE (UTC)", "INCARN.", "BYTES IN", "BYTES OUT", "ENDPOINT");
    while (!tp_reader_done (&rd)) {
        const char *name, *ep;
        size_t nl, el;
        uint64_t inc, since, in, out;
        bool up;
        if (tp_reader_next (&rd, "[sUbUUUs]", &name, &nl, &inc, &up, &since,
                            &in, &out, &ep, &el)
            != 0) {
            printf ("(malformed answer)\n");
            return;
        }
        char when[32] = "-";
        time_t t = (time_t) (since / 1000);
        struct tm tm;
        if (since && gmtime_r (&t, &tm))
            strftime (when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
        printf ("%-24.*s %-5s %-20s %08x  %12llu %12llu %.*s\n", (int) nl,
                name, up ? "up" : "down", when, (unsigned) inc,
                (unsigned long long) in, (unsigned long long) out, (int) el,
                ep);
    }
}

/*  One counter of a "stats" answer (a map of str to uint), or 0. */
static uint64_t
s_stat (const tp_msg *m, const char *key)
{
    tp_reader rd;
    tp_reader_init (&rd, m);
    uint32_t n;
    if (tp_reader_map (&rd, &n) != 0)
        return 0;
    for (uint32_t i = 0; i < n; i++) {
        const char *k;
        size_t kl;
        uint64_t v;
        if (tp_reader_next (&rd, "sU", &k, &kl, &v) != 0)
            return 0;
        if (kl == strlen (key) && !memcmp (k, key, kl))
            return v;
    }
    return 0;
}

/*  troupe top: the node's counters and deepest mailboxes, once a second
    (rounds times; 0: until interrupted). Returns an exit status. */
static int
s_top (tp_system *sys, tp_ref svc, const char *node, const char *ep,
       int timeout, int rounds)
{
    static const char *const keys[] = {"messages", "dead_letters",
                                       "frames_in", "frames_out",
                                       "bytes_in", "bytes_out"};
    enum { K = sizeof keys / sizeof *keys };
    uint64_t prev[K] = {0};
    struct timespec t_prev = {0, 0};
    bool tty = isatty (1);
    for (int round = 0; rounds == 0 || round < rounds; round++) {
        tp_msg *st = NULL, *top = NULL;
        int c = tp_call (sys, svc, tp_tag ("stats"), timeout, &st, NULL);
        if (c == 0)
            c = tp_call (sys, svc, tp_tag ("top"), timeout, &top, "i", 10);
        if (c) {
            fprintf (stderr, "troupe: no reply: %s\n", tp_strerror (c));
            tp_msg_destroy (&st);
            return s_status (c);
        }
        struct timespec now;
        clock_gettime (CLOCK_MONOTONIC, &now);
        double dt = round ? (double) (now.tv_sec - t_prev.tv_sec)
                                + (double) (now.tv_nsec - t_prev.tv_nsec) / 1e9
                          : 0;
        double rate[K];
        for (int k = 0; k < K; k++) {
            uint64_t v = s_stat (st, keys[k]);
            rate[k] = dt > 0 ? (double) (v - prev[k]) / dt : 0;
            prev[k] = v;
        }
        t_prev = now;
        if (tty)
            printf ("\033[H\033[2J");
        printf ("troupe top: node %s at %s (every 1 s%s)\n", node, ep,
                rounds ? "" : "; Ctrl-C ends");
        printf ("actors %" PRIu64 "  workers %" PRIu64 "  peers up %" PRIu64
                "  restarts %" PRIu64 "  ask timeouts %" PRIu64 "\n",
                s_stat (st, "actors_live"), s_stat (st, "workers"),
                s_stat (st, "peers_up"), s_stat (st, "restarts"),
                s_stat (st, "ask_timeouts"));
        printf ("messages/s %.0f  dead letters/s %.0f  frames/s in %.0f out "
                "%.0f  KiB/s in %.1f out %.1f\n",
                rate[0], rate[1], rate[2], rate[3], rate[4] / 1024,
                rate[5] / 1024);
        printf ("frames bad %" PRIu64 "  nodes down %" PRIu64
                "  quarantines %" PRIu64 "  stalls %" PRIu64 "\n",
                s_stat (st, "frames_bad"), s_stat (st, "nodes_down"),
                s_stat (st, "quarantines"), s_stat (st, "stalls"));
        printf ("\n%10s %12s  %-16s %s\n", "QUEUED", "PROCESSED", "BEHAVIOUR",
                "ACTOR");
        tp_reader rd;
        tp_reader_init (&rd, top);
        int live = 0;
        tp_reader_next (&rd, "i", &live);
        while (!tp_reader_done (&rd)) {
            const char *ref, *b;
            size_t rl, bl;
            uint64_t q, p;
            if (tp_reader_next (&rd, "[ssUU]", &ref, &rl, &b, &bl, &q, &p))
                break;
            printf ("%10" PRIu64 " %12" PRIu64 "  %-16.*s %.*s\n", q, p,
                    (int) bl, b, (int) rl, ref);
        }
        fflush (stdout);
        tp_msg_destroy (&st);
        tp_msg_destroy (&top);
        if (rounds == 0 || round + 1 < rounds) {
            struct timespec one = {1, 0};
            nanosleep (&one, NULL);
        }
    }
    return S_OK;
}

int
main (int argc, char **argv)
{
    const char *ep = getenv ("TROUPE_ENDPOINT");
    int timeout = 5000;
    int opt;
    const char *keyfile = NULL, *serverfile = NULL;
    static const struct option longs[] = {{"help", no_argument, NULL, 'h'},
                                          {"version", no_argument, NULL, 'V'},
                                          {NULL, 0, NULL, 0}};
    while ((opt = getopt_long (argc, argv, "+e:t:k:s:hV", longs, NULL)) != -1) {
        if (opt == 'h')
            return s_usage_to (stdout, S_OK);
        if (opt == 'V') {
            printf ("troupe %d.%d.%d\n", TP_VERSION_MAJOR, TP_VERSION_MINOR,
                    TP_VERSION_PATCH);
            return S_OK;
        }
        if (opt == 'e')
            ep = optarg;
        else if (opt == 't') {
            char *end;
            errno = 0;
            long t = strtol (optarg, &end, 10);
            if (errno || end == optarg || *end || t < 1 || t > 3600000) {
                fprintf (stderr, "troupe: bad timeout '%s' (1..3600000 ms)\n",
                         optarg);
                return S_USAGE;
            }
            timeout = (int) t;
        }
        else if (opt == 'k')
            keyfile = optarg;
        else if (opt == 's')
            serverfile = optarg;
        else
            return s_usage ();
    }
    if (optind < argc && !strcmp (argv[optind], "keygen")) {
        if (argc - optind != 2)
            return s_usage ();
        char pub[41];
        int krc = tp_curve_keys_write (argv[optind + 1], pub);
        if (krc == TP_EEXIST) {
            fprintf (stderr, "troupe: %s.secret exists: not overwritten\n",
                     argv[optind + 1]);
            return 1;
        }
        if (krc) {
            fprintf (stderr, "troupe: keygen %s: %s\n", argv[optind + 1],
                     tp_strerror (krc));
            return 1;
        }
        printf ("%s.secret (keep it: mode 0600), %s.public: %s\n",
                argv[optind + 1], argv[optind + 1], pub);
        return 0;
    }
    if (optind < argc && !ep) {
        fprintf (stderr, "troupe: no endpoint: give -e ENDPOINT or set "
                         "TROUPE_ENDPOINT\n");
        return S_USAGE;
    }
    if (optind >= argc)
        return s_usage ();
    char secret[41] = "", server[41] = "";
    if ((keyfile || serverfile)
        && (!keyfile || !serverfile || tp_curve_key_read (keyfile, secret)
            || tp_curve_key_read (serverfile, server))) {
        fprintf (stderr, "troupe: -k and -s take a secret key file and the "
                         "node's public key file (troupe keygen)\n");
        return 2;
    }
    const char *cmd = argv[optind];
    bool is_send = !strcmp (cmd, "send"), is_ask = !strcmp (cmd, "ask");
    bool is_ls = !strcmp (cmd, "ls"), is_stats = !strcmp (cmd, "stats");
    bool is_peers = !strcmp (cmd, "peers"), is_stop = !strcmp (cmd, "stop");
    bool is_top = !strcmp (cmd, "top");
    if (!is_send && !is_ask && !is_ls && !is_stats && !is_peers && !is_stop
        && !is_top)
        return s_usage ();
    int rounds = 0;
    if (is_top && argc - optind == 2) {
        char *end;
        long r = strtol (argv[optind + 1], &end, 10);
        if (*end || end == argv[optind + 1] || r < 1 || r > 1000000) {
            fprintf (stderr, "troupe: bad number of rounds '%s'\n",
                     argv[optind + 1]);
            return S_USAGE;
        }
        rounds = (int) r;
    }
    else if (is_top && argc - optind > 2)
        return s_usage ();
    if ((is_send || is_ask) && argc - optind < 3)
        return s_usage ();
    if (is_stop && (argc - optind < 2 || argc - optind > 3))
        return s_usage ();
    tp_tag_t reason = 0;
    if (is_stop && argc - optind == 3 && !(reason = tp_tag (argv[optind + 2]))) {
        fprintf (stderr, "troupe: bad reason '%s' (1-10 of [0-9A-Za-z_])\n",
                 argv[optind + 2]);
        return 2;
    }

    char self[64];
    snprintf (self, sizeof self, "troupe-cli-%d", (int) getpid ());
    tp_system_opts o = {.workers = 1, .node_name = self, .spin_us = -1,
                        .curve_secret = keyfile ? secret : NULL};
    tp_system *sys = tp_system_new (&o);
    if (!sys)
        return 1;
    int rc = 1;
    uint32_t node;
    int c = keyfile ? tp_node_connect_key (sys, ep, server, timeout, &node)
                    : tp_node_connect (sys, ep, timeout, &node);
    if (c) {
        fprintf (stderr, "troupe: cannot reach a node at %s: %s\n", ep,
                 tp_strerror (c));
        rc = c == TP_EINVAL || c == TP_EENDPOINT ? S_USAGE : S_UNREACHABLE;
        goto done;
    }
    const char *who = (is_ls || is_stats || is_peers || is_top)
                          ? "_node"
                          : argv[optind + 1];
    tp_ref to;
    if (strchr (who, '/')) {
        if (tp_ref_parse (who, &to) != 0) {
            fprintf (stderr, "troupe: bad ref '%s'\n", who);
            rc = 2;
            goto done;
        }
    }
    else {
        c = tp_whereis_at (sys, who, tp_node_name (node), timeout, &to);
        if (c || tp_ref_is_nil (to)) {
            fprintf (stderr, "troupe: no actor named '%s' on %s%s%s\n", who,
                     tp_node_name (node), c ? ": " : "",
                     c ? tp_strerror (c) : "");
            rc = c == TP_ETIMEDOUT ? S_TIMEOUT : S_UNREACHABLE;
            goto done;
        }
    }
    if (is_top) {
        rc = s_top (sys, to, tp_node_name (node), ep, timeout, rounds);
        goto done;
    }
    if (is_stop) { /* the actor's ref goes to the node's service */
        tp_ref svc;
        c = tp_whereis_at (sys, "_node", tp_node_name (node), timeout, &svc);
        if (c || tp_ref_is_nil (svc)) {
            fprintf (stderr, "troupe: no _node service on %s\n",
                     tp_node_name (node));
            rc = c == TP_ETIMEDOUT ? S_TIMEOUT : S_UNREACHABLE;
            goto done;
        }
        tp_msg *r = NULL;
        c = tp_call (sys, svc, tp_tag ("stop"), timeout, &r, "rt", to,
                     reason ? reason : tp_tag ("normal"));
        if (c) {
            fprintf (stderr, "troupe: no reply: %s\n", tp_strerror (c));
            rc = s_status (c);
        }
        else {
            rc = tp_msg_is (r, "ok") ? 0 : 1;
            if (rc)
                s_print (r);
        }
        tp_msg_destroy (&r);
        goto done;
    }
    tp_msg *m = is_ls      ? tp_msg_new (tp_tag ("ls"), NULL)
                : is_stats ? tp_msg_new (tp_tag ("stats"), NULL)
                : is_peers ? tp_msg_new (tp_tag ("peers"), NULL)
                           : s_build (argv[optind + 2], argc - optind - 3,
                                      argv + optind + 3);
    if (!m) {
        rc = 2;
        goto done;
    }
    if (is_send) {
        c = tp_send_msg (sys, to, &m);
        if (c) {
            fprintf (stderr, "troupe: send failed: %s\n", tp_strerror (c));
            tp_msg_destroy (&m);
        }
        else
            rc = 0;
    }
    else {
        tp_msg *reply = NULL;
        c = tp_call_msg (sys, to, &m, timeout, &reply);
        tp_msg_destroy (&m);
        if (c) {
            fprintf (stderr, "troupe: no reply: %s\n", tp_strerror (c));
            rc = s_status (c);
            tp_msg_destroy (&reply);
        }
        else if (is_peers && tp_msg_is (reply, "peers")) {
            s_print_peers (reply);
            rc = 0;
            tp_msg_destroy (&reply);
        }
        else {
            s_print (reply);
            rc = tp_msg_is (reply, "error") ? 1 : 0;
            tp_msg_destroy (&reply);
        }
    }
done:
    tp_system_destroy (&sys); /* drains: a send is delivered before exit */
    return rc;
}
