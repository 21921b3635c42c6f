/*  tests/soak/soak.c: the actors of the soak (tests/test_soak.c), as a
    troupe-node module, the way a user deploys actors.

    Each node's root ("soak") supervises a sink ("sink") and one source
    per peer ("src.<peer>"). A source streams sequence-numbered messages
    with a 200-byte payload to the sink of its peer node, looking the sink
    up by name and monitoring it; a sink checks every stream (one per
    source life, its "epoch") for order, gaps and payload. The root keeps
    what explains a gap: node events (tp_node_monitor), dead letters of
    stream messages (tp_system_watch_dead_letters) and sends that failed,
    each with its time (CLOCK_MONOTONIC, which all processes of a host
    share), and hands them to the test ("report"), which checks that every
    gap is explained.

    Config (troupe-node --arg): "self=n1 peers=n2,n3 period=5 burst=8".
    Requests the root answers:
      report            -> "report" (s_report: counters, then the
                           records since the last report)
      crash [s id]      -> "ok" [b found]: child id ("sink", "src.n2")
                           crashes (tp_exit with reason crash) and its
                           supervisor restarts it
      wait_rx [U n]     -> "ok" [U rx] once n more stream messages arrived
      mesh              -> "ok" once every peer is up here
      wait_down [s peer] -> "ok" once that peer is down here
      skip [s id]       -> "ok" [b found]: source id leaves one sequence
                           number out (the test's control: a gap that
                           nothing explains, which it must find)
*/
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <troupe/module.h>
#include <troupe/supervisor.h>
#include <troupe/troupe.h>

#define MAX_PEERS 4
#define PAYLOAD 200
#define MAX_REC 8192 /* records of each kind between two reports */
#define STREAMS 64   /* stream lives a sink remembers */
#define NAME 64

static uint64_t
s_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

typedef struct {
    char src[NAME];
    uint64_t epoch, from, to, ts0, ts1;
} gap_rec;

typedef struct {
    uint64_t t;
    char peer[NAME];
    int up;
} ev_rec;

typedef struct {
    uint64_t t;
    uint32_t n;
} drop_rec;

/*  What the children are told, in static storage: the root's init
    writes it before it starts them, and it is never freed, so that a
    child its supervisor restarts late (as the node stops) never reads
    freed memory. Each child copies what it needs in its init. (One root
    per process: troupe-node loads a module once.) */
typedef struct {
    tp_ref root;
    char name[NAME];
    int npeers;
    char peers[MAX_PEERS][NAME]; /* a source's arg: one of these */
    char ids[1 + MAX_PEERS][NAME];
    int period_ms, burst;
} soak_cfg;

static soak_cfg s_cfg;

typedef struct root {
    tp_child_spec kids[1 + MAX_PEERS];
    tp_ref sup;
    /* records since the last report */
    gap_rec *gaps;
    ev_rec *evs;
    drop_rec *drops;
    int ngaps, nevs, ndrops;
    uint64_t recs_lost; /* records past MAX_REC (the report says so) */
    /* counters since the node started */
    uint64_t rx, tx, tx_failed, dead, reorders, bad_payload, gaps_total,
        missing_total, sink_starts, src_starts;
    /* requests waiting */
    tp_msg *wait_rx;
    uint64_t wait_rx_until;
    tp_msg *wait_mesh;
    tp_msg *wait_down;
    char wait_down_peer[NAME];
} root;

/* ---- the sink ------------------------------------------------------- */

typedef struct {
    char src[NAME];
    uint64_t epoch, last, last_ts, used;
} stream;

typedef struct {
    tp_ref root;
    uint64_t started, clock;
    stream st[STREAMS];
    uint64_t rx, reorders, bad; /* since the last tick */
} sink;

static int
sink_init (tp_actor *self, void *arg)
{
    sink *k = calloc (1, sizeof *k);
    if (!k)
        return -1;
    (void) arg;
    k->root = s_cfg.root;
    k->started = s_now ();
    tp_set_state (self, k);
    tp_every (self, 50, tp_tag ("tick"));
    tp_tell (self, k->root, tp_tag ("started"), "s", "sink");
    return 0;
}

static stream *
s_stream (sink *k, const char *src, size_t len, uint64_t epoch, bool *fresh)
{
    stream *old = &k->st[0];
    for (int i = 0; i < STREAMS; i++) {
        stream *s = &k->st[i];
        if (s->used && s->epoch == epoch && strlen (s->src) == len
            && memcmp (s->src, src, len) == 0) {
            s->used = ++k->clock;
            *fresh = false;
            return s;
        }
        if (s->used < old->used)
            old = s;
    }
    memset (old, 0, sizeof *old);
    memcpy (old->src, src, len < NAME ? len : NAME - 1);
    old->epoch = epoch;
    old->used = ++k->clock;
    *fresh = true;
    return old;
}

static void
sink_receive (tp_actor *self, tp_msg *msg)
{
    sink *k = tp_state (self);
    if (tp_msg_is (msg, "seq")) {
        const char *src;
        size_t slen, plen;
        uint64_t epoch, t0, seq, ts;
        const uint8_t *pay;
        if (tp_msg_unpack (msg, "sUUUUx", &src, &slen, &epoch, &t0, &seq, &ts,
                           (const void **) &pay, &plen)
            != 0) {
            k->bad++;
            return;
        }
        bool ok = plen == PAYLOAD;
        for (size_t i = 0; ok && i < plen; i++)
            ok = pay[i] == (uint8_t) (seq * 31u + i);
        if (!ok)
            k->bad++;
        k->rx++;
        bool fresh;
        stream *s = s_stream (k, src, slen, epoch, &fresh);
        uint64_t from = 0, ts0 = 0;
        bool gap = false;
        if (fresh) {
            /* a life that began after this sink did starts at 0 */
            if (seq > 0 && t0 > k->started) {
                gap = true;
                from = 0;
                ts0 = t0;
            }
        }
        else if (seq <= s->last) {
            k->reorders++;
            return;
        }
        else if (seq > s->last + 1) {
            gap = true;
            from = s->last + 1;
            ts0 = s->last_ts;
        }
        if (gap)
            tp_tell (self, k->root, tp_tag ("gap"), "sUUUUU", s->src,
                     epoch, from, seq - 1, ts0, ts);
        s->last = seq;
        s->last_ts = ts;
    }
    else if (tp_msg_is (msg, "tick")) {
        if (k->rx || k->reorders || k->bad)
            tp_tell (self, k->root, tp_tag ("rx"), "UUU", k->rx,
                     k->reorders, k->bad);
        k->rx = k->reorders = k->bad = 0;
    }
    else if (tp_msg_is (msg, "crash"))
        tp_exit (self, tp_tag ("crash"));
}

static void
sink_stop (tp_actor *self, tp_tag_t reason)
{
    (void) reason;
    sink *k = tp_state (self);
    if (k && (k->rx || k->reorders || k->bad)) /* (its last counts) */
        tp_tell (self, k->root, tp_tag ("rx"), "UUU", k->rx, k->reorders,
                 k->bad);
    free (k);
}

static const tp_behavior sink_b = {"soak.sink", sink_init, sink_receive,
                                   sink_stop};

/* ---- a source -------------------------------------------------------- */

typedef struct {
    tp_ref root;
    char target[NAME];
    char name[NAME]; /* "<node>.src.<target>" */
    int burst;
    tp_ref sink;
    bool looking;
    uint64_t epoch, t0, seq, tx, failed;
    uint8_t pay[PAYLOAD];
} source;

static int
source_init (tp_actor *self, void *arg)
{
    source *s = calloc (1, sizeof *s);
    if (!s)
        return -1;
    s->root = s_cfg.root;
    s->burst = s_cfg.burst;
    snprintf (s->target, sizeof s->target, "%s", (const char *) arg);
    snprintf (s->name, sizeof s->name, "%.28s.src.%.28s", s_cfg.name,
              s->target);
    if (getrandom (&s->epoch, sizeof s->epoch, 0) != sizeof s->epoch)
        s->epoch = s_now () ^ (uint64_t) getpid ();
    s->t0 = s_now ();
    s->sink = TP_REF_NIL;
    tp_set_state (self, s);
    tp_node_monitor (self, true);
    tp_every (self, s_cfg.period_ms, tp_tag ("tick"));
    tp_tell (self, s->root, tp_tag ("started"), "s", "src");
    return 0;
}

static void
s_found (tp_actor *self, int status, tp_msg *reply, void *arg)
{
    (void) arg;
    source *s = tp_state (self);
    s->looking = false;
    tp_ref r;
    if (status == 0 && tp_msg_unpack (reply, "r", &r) == 0
        && !tp_ref_is_nil (r) && tp_ref_is_nil (s->sink)) {
        s->sink = r;
        tp_monitor (self, r);
    }
}

static void
source_receive (tp_actor *self, tp_msg *msg)
{
    source *s = tp_state (self);
    if (tp_msg_is (msg, "tick")) {
        if (tp_ref_is_nil (s->sink)) {
            if (!s->looking
                && tp_node_lookup (self, s->target, "sink", 1000, s_found,
                                   NULL)
                       == 0)
                s->looking = true;
        }
        else
            for (int i = 0; i < s->burst; i++) {
                for (size_t j = 0; j < PAYLOAD; j++)
                    s->pay[j] = (uint8_t) (s->seq * 31u + j);
                int rc = tp_tell (self, s->sink, tp_tag ("seq"), "sUUUUx",
                                  s->name, s->epoch, s->t0, s->seq, s_now (),
                                  s->pay, (size_t) PAYLOAD);
                s->seq++;
                if (rc == 0)
                    s->tx++;
                else
                    s->failed++;
            }
        if (s->tx || s->failed)
            tp_tell (self, s->root, tp_tag ("tx"), "UU", s->tx,
                     s->failed);
        s->tx = s->failed = 0;
    }
    else if (tp_msg_is (msg, "_down")) {
        tp_ref who;
        if (tp_msg_unpack (msg, "*r*", &who) == 0 && tp_ref_eq (who, s->sink))
            s->sink = TP_REF_NIL;
    }
    else if (tp_msg_is (msg, "_nodedown")) {
        const char *n;
        size_t len;
        if (tp_msg_unpack (msg, "s**", &n, &len) == 0
            && len == strlen (s->target)
            && memcmp (n, s->target, len) == 0)
            s->sink = TP_REF_NIL; /* (its _down comes too) */
    }
    else if (tp_msg_is (msg, "skip"))
        s->seq++;
    else if (tp_msg_is (msg, "crash"))
        tp_exit (self, tp_tag ("crash"));
}

static void
source_stop (tp_actor *self, tp_tag_t reason)
{
    (void) reason;
    free (tp_state (self));
}

static const tp_behavior source_b = {"soak.source", source_init,
                                     source_receive, source_stop};

/* ---- the root -------------------------------------------------------- */

static long
s_rss_kib (void)
{
    FILE *f = fopen ("/proc/self/status", "r");
    char line[256];
    long kib = 0;
    while (f && fgets (line, sizeof line, f))
        if (strncmp (line, "VmRSS:", 6) == 0)
            kib = atol (line + 6);
    if (f)
        fclose (f);
    return kib;
}

static long
s_fds (void)
{
    DIR *d = opendir ("/proc/self/fd");
    long n = 0;
    for (struct dirent *e; d && (e = readdir (d));)
        n += e->d_name[0] != '.';
    if (d)
        closedir (d);
    return n - 1; /* (the one opendir holds) */
}

static void
s_parse (soak_cfg *r, const char *cfg)
{
    r->period_ms = 5;
    r->burst = 8;
    snprintf (r->name, sizeof r->name, "node");
    char buf[512];
    snprintf (buf, sizeof buf, "%s", cfg ? cfg : "");
    for (char *save = NULL, *tok = strtok_r (buf, " ", &save); tok;
         tok = strtok_r (NULL, " ", &save)) {
        if (!strncmp (tok, "self=", 5))
            snprintf (r->name, sizeof r->name, "%s", tok + 5);
        else if (!strncmp (tok, "period=", 7))
            r->period_ms = atoi (tok + 7) > 0 ? atoi (tok + 7) : 5;
        else if (!strncmp (tok, "burst=", 6))
            r->burst = atoi (tok + 6) > 0 ? atoi (tok + 6) : 8;
        else if (!strncmp (tok, "peers=", 6)) {
            char *s2 = NULL;
            for (char *p = strtok_r (tok + 6, ",", &s2);
                 p && r->npeers < MAX_PEERS; p = strtok_r (NULL, ",", &s2))
                snprintf (r->peers[r->npeers++], NAME, "%s", p);
        }
    }
}

static bool
s_mesh_up (tp_actor *self)
{
    for (int i = 0; i < s_cfg.npeers; i++)
        if (!tp_node_up (tp_system_of (self), tp_node_id (s_cfg.peers[i])))
            return false;
    return true;
}

static int
root_init (tp_actor *self, void *arg)
{
    root *r = calloc (1, sizeof *r);
    if (!r)
        return -1;
    tp_set_state (self, r);
    r->gaps = calloc (MAX_REC, sizeof *r->gaps);
    r->evs = calloc (MAX_REC, sizeof *r->evs);
    r->drops = calloc (MAX_REC, sizeof *r->drops);
    if (!r->gaps || !r->evs || !r->drops)
        return -1;
    soak_cfg *c = &s_cfg;
    memset (c, 0, sizeof *c);
    c->root = tp_self (self);
    s_parse (c, arg);
    int n = 0;
    snprintf (c->ids[n], NAME, "sink");
    r->kids[n] = (tp_child_spec){.id = c->ids[n], .behavior = &sink_b,
                                 .opts = {.name = "sink"}};
    n++;
    for (int i = 0; i < c->npeers; i++, n++) {
        snprintf (c->ids[n], NAME, "src.%.50s", c->peers[i]);
        r->kids[n] = (tp_child_spec){.id = c->ids[n], .behavior = &source_b,
                                     .arg = c->peers[i],
                                     .opts = {.name = c->ids[n]}};
    }
    tp_sup_spec spec = {.strategy = TP_ONE_FOR_ONE, .intensity = 1000,
                        .period_ms = 1000, .children = r->kids,
                        .nchildren = (size_t) n};
    tp_node_monitor (self, true);
    tp_system_watch_dead_letters (tp_system_of (self), c->root);
    return tp_supervisor_start (tp_system_of (self), &spec, NULL, &r->sup);
}

/*  The report, a body of values: U rss_kib, U fds, U rx, U tx,
    U tx_failed, U dead, U reorders, U bad_payload, U gaps_total,
    U missing_total, U sink_starts, U src_starts, U records_lost,
    b mesh_up, U ngaps, U nevents, U ndrops, then ngaps x [s src, U epoch,
    U from, U to, U ts0, U ts1], nevents x [U t, s peer, b up], ndrops x
    [U t, U n]: the records since the last report. */
static void
s_report (tp_actor *self, root *r, const tp_msg *req)
{
    tp_msg *m = tp_msg_new (tp_tag ("report"), "UUUUUUUUUUUUUbUUU",
                            (uint64_t) s_rss_kib (), (uint64_t) s_fds (),
                            r->rx, r->tx, r->tx_failed, r->dead, r->reorders,
                            r->bad_payload, r->gaps_total, r->missing_total,
                            r->sink_starts, r->src_starts, r->recs_lost,
                            s_mesh_up (self), (uint64_t) r->ngaps,
                            (uint64_t) r->nevs, (uint64_t) r->ndrops);
    for (int i = 0; m && i < r->ngaps; i++)
        tp_msg_pack (m, "[sUUUUU]", r->gaps[i].src, r->gaps[i].epoch,
                     r->gaps[i].from, r->gaps[i].to, r->gaps[i].ts0,
                     r->gaps[i].ts1);
    for (int i = 0; m && i < r->nevs; i++)
        tp_msg_pack (m, "[Usb]", r->evs[i].t, r->evs[i].peer,
                     (int) r->evs[i].up);
    for (int i = 0; m && i < r->ndrops; i++)
        tp_msg_pack (m, "[UU]", r->drops[i].t, (uint64_t) r->drops[i].n);
    r->ngaps = r->nevs = r->ndrops = 0;
    r->recs_lost = 0;
    if (m)
        tp_reply_msg (self, req, &m);
}

static void
s_drop (root *r, uint32_t n)
{
    uint64_t now = s_now ();
    if (r->ndrops && now - r->drops[r->ndrops - 1].t < 10000000u) {
        r->drops[r->ndrops - 1].n += n; /* (one record per 10 ms) */
        r->drops[r->ndrops - 1].t = now;
        return;
    }
    if (r->ndrops == MAX_REC) {
        r->recs_lost++;
        return;
    }
    r->drops[r->ndrops++] = (drop_rec){now, n};
}

static void
root_receive (tp_actor *self, tp_msg *msg)
{
    root *r = tp_state (self);
    if (tp_msg_is (msg, "rx")) {
        uint64_t n, re, bad;
        if (tp_msg_unpack (msg, "UUU", &n, &re, &bad) == 0) {
            r->rx += n;
            r->reorders += re;
            r->bad_payload += bad;
        }
        if (r->wait_rx && r->rx >= r->wait_rx_until) {
            tp_reply (self, r->wait_rx, tp_tag ("ok"), "U", r->rx);
            tp_msg_destroy (&r->wait_rx);
        }
    }
    else if (tp_msg_is (msg, "tx")) {
        uint64_t n, failed;
        if (tp_msg_unpack (msg, "UU", &n, &failed) == 0) {
            r->tx += n;
            r->tx_failed += failed;
            if (failed)
                s_drop (r, (uint32_t) failed);
        }
    }
    else if (tp_msg_is (msg, "gap")) {
        gap_rec g;
        const char *src;
        size_t len;
        if (tp_msg_unpack (msg, "sUUUUU", &src, &len, &g.epoch, &g.from, &g.to,
                           &g.ts0, &g.ts1)
            != 0)
            return;
        snprintf (g.src, sizeof g.src, "%.*s", (int) len, src);
        r->gaps_total++;
        r->missing_total += g.to - g.from + 1;
        if (r->ngaps < MAX_REC)
            r->gaps[r->ngaps++] = g;
        else
            r->recs_lost++;
    }
    else if (tp_msg_is (msg, "_dead")) {
        tp_ref to;
        tp_tag_t tag;
        if (tp_msg_unpack (msg, "rt", &to, &tag) == 0
            && tag == tp_tag ("seq")) {
            r->dead++;
            s_drop (r, 1);
        }
    }
    else if (tp_msg_is (msg, "_nodeup") || tp_msg_is (msg, "_nodedown")) {
        const char *n;
        size_t len;
        if (tp_msg_unpack (msg, tp_msg_is (msg, "_nodeup") ? "sU" : "sUt", &n,
                           &len, NULL, NULL)
            != 0)
            return;
        if (r->nevs < MAX_REC) {
            ev_rec *e = &r->evs[r->nevs++];
            e->t = s_now ();
            snprintf (e->peer, sizeof e->peer, "%.*s", (int) len, n);
            e->up = tp_msg_is (msg, "_nodeup");
        }
        else
            r->recs_lost++;
        if (r->wait_mesh && s_mesh_up (self)) {
            tp_reply (self, r->wait_mesh, tp_tag ("ok"), NULL);
            tp_msg_destroy (&r->wait_mesh);
        }
        if (r->wait_down
            && !tp_node_up (tp_system_of (self),
                            tp_node_id (r->wait_down_peer))) {
            tp_reply (self, r->wait_down, tp_tag ("ok"), NULL);
            tp_msg_destroy (&r->wait_down);
        }
    }
    else if (tp_msg_is (msg, "started")) {
        const char *k;
        size_t len;
        if (tp_msg_unpack (msg, "s", &k, &len) == 0)
            *(len == 4 ? &r->sink_starts : &r->src_starts) += 1;
    }
    else if (tp_msg_is (msg, "report") && tp_msg_is_request (msg))
        s_report (self, r, msg);
    else if ((tp_msg_is (msg, "crash") || tp_msg_is (msg, "skip"))
             && tp_msg_is_request (msg)) {
        char id[NAME];
        tp_ref who = TP_REF_NIL;
        if (tp_msg_unpack (msg, "S", id, sizeof id) == 0)
            who = tp_whereis (tp_system_of (self), id);
        if (!tp_ref_is_nil (who))
            tp_tell (self, who, tp_msg_tag (msg), NULL);
        tp_reply (self, msg, tp_tag ("ok"), "b", !tp_ref_is_nil (who));
    }
    else if (tp_msg_is (msg, "wait_rx") && tp_msg_is_request (msg)) {
        uint64_t n;
        if (tp_msg_unpack (msg, "U", &n) != 0)
            return;
        tp_msg_destroy (&r->wait_rx); /* (one that timed out: replaced) */
        r->wait_rx_until = r->rx + n;
        r->wait_rx = tp_msg_dup (msg);
    }
    else if (tp_msg_is (msg, "wait_down") && tp_msg_is_request (msg)) {
        tp_msg_destroy (&r->wait_down);
        if (tp_msg_unpack (msg, "S", r->wait_down_peer,
                           sizeof r->wait_down_peer)
            != 0)
            return;
        if (!tp_node_up (tp_system_of (self), tp_node_id (r->wait_down_peer)))
            tp_reply (self, msg, tp_tag ("ok"), NULL);
        else
            r->wait_down = tp_msg_dup (msg);
    }
    else if (tp_msg_is (msg, "mesh") && tp_msg_is_request (msg)) {
        if (s_mesh_up (self))
            tp_reply (self, msg, tp_tag ("ok"), NULL);
        else {
            tp_msg_destroy (&r->wait_mesh);
            r->wait_mesh = tp_msg_dup (msg);
        }
    }
}

static void
root_stop (tp_actor *self, tp_tag_t reason)
{
    (void) reason;
    root *r = tp_state (self);
    if (!r)
        return;
    tp_msg_destroy (&r->wait_rx);
    tp_msg_destroy (&r->wait_mesh);
    tp_msg_destroy (&r->wait_down);
    free (r->gaps);
    free (r->evs);
    free (r->drops);
    free (r);
}

static const tp_behavior root_b = {"soak", root_init, root_receive,
                                   root_stop};

TP_MODULE ("soak", root_b);
