/*  tests/test_metrics.c: the Prometheus endpoint (core/metrics.h) as a
    monitoring system sees it: scraped with curl over HTTP, parsed with
    Python's prometheus_client (Debian's python3-prometheus-client, a
    parser written for the format), and checked to move as traffic flows:
    messages, peers' bytes and frames, dead letters by cause, a deep
    mailbox, bad frames by cause. */
#include <criterion/criterion.h>

#include "testutil.h"

#include "rawpeer.h"

static _Atomic long s_release;

/*  A slow consumer: 10 ms of work per message (scaled with the test's
    bounds; on the clock: it works, it does not sleep), until the test
    lets it go. */
static void
slow_receive (tp_actor *self, tp_msg *msg)
{
    (void) self;
    (void) msg;
    uint64_t until = tt_now_ms () + (uint64_t) tt_ms (10);
    while (tt_now_ms () < until && !atomic_load (&s_release))
        ;
}
static const tp_behavior slow_b = {"slow", NULL, slow_receive, NULL};

static void
sink_receive (tp_actor *self, tp_msg *msg)
{
    (void) self;
    (void) msg;
}
static const tp_behavior sink_b = {"sink", NULL, sink_receive, NULL};

/*  Scrapes http://127.0.0.1:port/metrics with curl into out; returns the
    HTTP status curl saw. */
static int
s_scrape (int port, const char *path, const char *method, char *out,
          size_t cap)
{
    char cmd[256];
    snprintf (cmd, sizeof cmd,
              "curl -s -m 10 -X %s -o /dev/stdout -w '\\n%%{http_code} "
              "%%{content_type}' http://127.0.0.1:%d%s",
              method, port, path);
    FILE *p = popen (cmd, "r");
    cr_assert_not_null (p);
    size_t n = fread (out, 1, cap - 1, p);
    out[n] = '\0';
    pclose (p);
    char *last = strrchr (out, '\n');
    cr_assert_not_null (last, "no answer from curl: %s", out);
    int code = atoi (last + 1);
    return code;
}

/*  The value of the sample `name{labels}` in exposition text, or -1. */
static double
s_value (const char *text, const char *sample)
{
    size_t n = strlen (sample);
    for (const char *l = text; l && *l; l = strchr (l, '\n') ? strchr (l, '\n') + 1 : NULL)
        if (!strncmp (l, sample, n) && l[n] == ' ')
            return atof (l + n + 1);
    return -1;
}

/*  Scrapes and parses with prometheus_client (every sample of every
    family: a format error raises); returns the text in out. */
static void
s_scrape_checked (int port, char *out, size_t cap)
{
    int code = s_scrape (port, "/metrics", "GET", out, cap);
    cr_assert_eq (code, 200, "%s", out);
    cr_assert (strstr (strrchr (out, '\n'), "text/plain; version=0.0.4"),
               "content type: %s", strrchr (out, '\n'));
    *strrchr (out, '\n') = '\0';
    char path[] = "/tmp/tp-metrics-XXXXXX";
    int fd = mkstemp (path);
    cr_assert_geq (fd, 0);
    cr_assert_eq (write (fd, out, strlen (out)), (ssize_t) strlen (out));
    close (fd);
    char cmd[512];
    snprintf (cmd, sizeof cmd,
              "/usr/bin/python3 -c 'import sys; from prometheus_client.parser "
              "import text_string_to_metric_families as f; "
              "n = sum (len (m.samples) for m in f (open (sys.argv[1]).read ())); "
              "print (n)' %s",
              path);
    FILE *p = popen (cmd, "r");
    char line[64] = "";
    cr_assert_not_null (fgets (line, sizeof line, p), "the parser said nothing");
    int st = pclose (p);
    unlink (path);
    cr_assert_eq (st, 0, "prometheus_client could not parse the exposition");
    cr_assert_gt (atoi (line), 30, "samples parsed: %s", line);
}

Test (metrics, a_scrape_shows_the_counters_move, .timeout = 300)
{
    char ep[256];
    tp_system_opts oa = {.workers = 2, .node_name = "m1"};
    tp_system *a = tp_system_new (&oa);
    tp_system_opts ob = {.workers = 1, .node_name = "m2"};
    tp_system *b = tp_system_new (&ob);
    cr_assert (a && b);
    cr_assert_eq (tp_node_bind (a, "tcp://127.0.0.1:*", ep, sizeof ep), 0);
    tp_metrics *m = NULL;
    int port = 0;
    cr_assert_eq (tp_metrics_start (a, "127.0.0.1:0", &m, &port), 0);
    cr_assert_gt (port, 0);
    static char t0[1 << 16], t1[1 << 16];
    s_scrape_checked (port, t0, sizeof t0);
    cr_assert_geq (s_value (t0, "troupe_node_info{node=\"m1\"}"), 1);
    cr_assert_eq (s_value (t0, "troupe_peers_up"), 0);

    /* traffic: 1000 messages from another node to a sink here */
    tp_spawn_opts sn = {.name = "sink"};
    tp_ref sink;
    cr_assert_eq (tp_spawn (a, &sink_b, NULL, &sn, &sink), 0);
    cr_assert_eq (tp_node_connect (b, ep, tt_ms (5000), NULL), 0);
    tp_ref remote;
    cr_assert_eq (tp_whereis_at (b, "sink", "m1", tt_ms (5000), &remote), 0);
    for (int i = 0; i < 1000; i++)
        cr_assert_eq (tp_send (b, remote, tp_tag ("x"), "i", i), 0);
    tp_ref none_here = {tp_system_node (a), 999999, 1};
    cr_assert_eq (tp_send (a, none_here, tp_tag ("lost"), NULL), 0);
    tp_actor_stats as;
    uint64_t end = tt_now_ms () + (uint64_t) tt_ms (5000);
    do
        cr_assert_eq (tp_actor_stats_get (a, sink, &as), 0);
    while (as.processed < 1000 && tt_now_ms () < end
           && tp_node_wait (a, &(uint64_t){0}, 10) >= -100);
    cr_assert_geq (as.processed, 1000);

    /* a deep mailbox: 2000 messages for a slow consumer (20 s of work:
       the scrape below must find it deep, however long it waits) */
    tp_spawn_opts bo = {.place = TP_PLACE_WORKER, .worker = 1};
    tp_ref blk;
    cr_assert_eq (tp_spawn (a, &slow_b, NULL, &bo, &blk), 0);
    for (int i = 0; i < 2000; i++)
        cr_assert_eq (tp_send (a, blk, tp_tag ("x"), NULL), 0);
    tp_mailbox_info top[4];
    end = tt_now_ms () + (uint64_t) tt_ms (5000);
    while (tt_now_ms () < end
           && !(tp_system_mailboxes (a, top, 4) > 0 && top[0].queued >= 128))
        tp_node_wait (a, &(uint64_t){0}, 5);
    cr_assert_geq (top[0].queued, 128, "the slow one's mailbox");
    cr_assert (tp_ref_eq (top[0].ref, blk));

    /* a bad frame from a raw peer */
    tt_raw raw;
    tt_raw_open (&raw, "rawm", ep, tp_node_incarnation (tp_system_node (a)));
    cr_assert_eq (zmq_send (raw.d, "junk", 4, 0), 4);
    tp_node_stats ns;
    end = tt_now_ms () + (uint64_t) tt_ms (5000);
    for (tp_node_stats_get (a, &ns); ns.frames_bad == 0 && tt_now_ms () < end;
         tp_node_stats_get (a, &ns))
        tp_node_wait (a, &(uint64_t){0}, 10);
    cr_assert_geq (ns.frames_bad, 1, "the junk frame was not counted");

    s_scrape_checked (port, t1, sizeof t1);
    double msgs0 = s_value (t0, "troupe_messages_total"),
           msgs1 = s_value (t1, "troupe_messages_total");
    cr_assert_geq (msgs1 - msgs0, 1000, "messages %g -> %g", msgs0, msgs1);
    cr_assert_eq (s_value (t1, "troupe_peers_up"), 1);
    cr_assert_eq (s_value (t1, "troupe_peer_up{peer=\"m2\"}"), 1);
    cr_assert_gt (s_value (t1, "troupe_peer_bytes_in_total{peer=\"m2\"}"),
                  1000 * 4);
    cr_assert_gt (s_value (t1, "troupe_peer_frames_in_total{peer=\"m2\"}"), 0);
    cr_assert_geq (s_value (t1, "troupe_dead_letters_total{cause=\"noproc\"}"),
                   1);
    cr_assert_eq (s_value (t1, "troupe_frames_bad_total{cause=\"malformed\"}"),
                  1, "%s", t1);
    cr_assert_geq (s_value (t1, "troupe_actors{kind=\"loop\"}"), 2);
    cr_assert_eq (s_value (t1, "troupe_actors{kind=\"thread\"}"), 0);
    char want[256], ref[TP_REF_STRLEN];
    tp_ref_format (blk, ref, sizeof ref);
    snprintf (want, sizeof want,
              "troupe_mailbox_depth{actor=\"%s\",behavior=\"slow\"}", ref);
    cr_assert_geq (s_value (t1, want), 64, "%s not deep in:\n%s", want, t1);
    tt_set (&s_release, 1);

    /* the other paths answer as HTTP says */
    char out[4096];
    cr_assert_eq (s_scrape (port, "/nope", "GET", out, sizeof out), 404);
    cr_assert_eq (s_scrape (port, "/metrics", "POST", out, sizeof out), 405);
    cr_assert_eq (s_scrape (port, "/", "GET", out, sizeof out), 200);
    /* bad addresses, and a port in use */
    tp_metrics *m2 = NULL;
    cr_assert_eq (tp_metrics_start (a, "nonsense", &m2, NULL), TP_EINVAL);
    cr_assert_eq (tp_metrics_start (a, "127.0.0.1:99999", &m2, NULL),
                  TP_EINVAL);
    char inuse[64];
    snprintf (inuse, sizeof inuse, "127.0.0.1:%d", port);
    cr_assert_eq (tp_metrics_start (a, inuse, &m2, NULL), TP_EADDRINUSE);
    cr_assert_null (m2);
    tp_metrics_stop (&m);
    cr_assert_null (m);
    tt_raw_close (&raw);
    tp_system_destroy (&b);
    tp_system_destroy (&a);
    TT_NO_FAILURES ();
}
