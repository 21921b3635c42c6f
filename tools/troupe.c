/*  tools/troupe.c: the troupe command line, a client of a running node.

    troupe [-e ENDPOINT] [-t TIMEOUT_MS] send  ACTOR TAG [JSON...]
    troupe [-e ENDPOINT] [-t TIMEOUT_MS] ask   ACTOR TAG [JSON...]
    troupe [-e ENDPOINT] [-t TIMEOUT_MS] ls
    troupe [-e ENDPOINT] [-t TIMEOUT_MS] stats

    ACTOR is a name registered on the node (or a ref, node/index.gen).
    Each JSON argument becomes one msgpack value of the body, in order:
        troupe -e tcp://127.0.0.1:5555 ask counter add 2 '{"by": 3}'
    ask prints the reply as text; ls and stats query the node's "_node"
    service. The endpoint defaults to $TROUPE_ENDPOINT.

    Exit status: 0 success, 1 the node answered with an error or did not
    answer, 2 usage or input error.
*/
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <troupe/troupe.h>

#include "json.h"

static int
s_usage (void)
{
    fprintf (stderr,
             "usage: troupe [-e ENDPOINT] [-t TIMEOUT_MS] send ACTOR TAG [JSON...]\n"
             "       troupe [-e ENDPOINT] [-t TIMEOUT_MS] ask ACTOR TAG [JSON...]\n"
             "       troupe [-e ENDPOINT] [-t TIMEOUT_MS] ls\n"
             "       troupe [-e ENDPOINT] [-t TIMEOUT_MS] stats\n");
    return 2;
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

int
main (int argc, char **argv)
{
    const char *ep = getenv ("TROUPE_ENDPOINT");
    int timeout = 5000;
    int opt;
    while ((opt = getopt (argc, argv, "+e:t:h")) != -1) {
        if (opt == 'e')
            ep = optarg;
        else if (opt == 't')
            timeout = atoi (optarg);
        else
            return s_usage ();
    }
    if (optind >= argc || !ep)
        return s_usage ();
    const char *cmd = argv[optind];
    bool is_send = !strcmp (cmd, "send"), is_ask = !strcmp (cmd, "ask");
    bool is_ls = !strcmp (cmd, "ls"), is_stats = !strcmp (cmd, "stats");
    if (!is_send && !is_ask && !is_ls && !is_stats)
        return s_usage ();
    if ((is_send || is_ask) && argc - optind < 3)
        return s_usage ();

    char self[64];
    snprintf (self, sizeof self, "troupe-cli-%d", (int) getpid ());
    tp_system_opts o = {.workers = 1, .node_name = self, .spin_us = -1};
    tp_system *sys = tp_system_new (&o);
    if (!sys)
        return 1;
    int rc = 1;
    uint32_t node;
    int c = tp_node_connect (sys, ep, timeout, &node);
    if (c) {
        fprintf (stderr, "troupe: cannot reach a node at %s: %s\n", ep,
                 tp_strerror (c));
        goto done;
    }
    const char *who = (is_ls || is_stats) ? "_node" : argv[optind + 1];
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
            goto done;
        }
    }
    tp_msg *m = is_ls      ? tp_msg_new (tp_tag ("ls"), NULL)
                : is_stats ? tp_msg_new (tp_tag ("stats"), NULL)
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
        if (c)
            fprintf (stderr, "troupe: no reply: %s\n", tp_strerror (c));
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
