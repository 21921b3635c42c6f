/*  core/metrics.c: the Prometheus text exposition of a system's counters
    (core/metrics.h), and an HTTP endpoint for it on libmicrohttpd's own
    thread. Each scrape reads the counters afresh (tp_system_stats_get,
    tp_node_stats_get, tp_node_peers, tp_system_mailboxes: all safe from
    any thread); nothing is kept between scrapes. */
#include "private.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <sys/socket.h>

#define TOP_MAILBOXES 10 /* deepest mailboxes reported */
#define PEERS_MAX 1024   /* peers reported (tp_system_opts.max_peers) */

struct tp_metrics {
    tp_system *sys;
    struct MHD_Daemon *d;
};

/* ---- the text ------------------------------------------------------- */

typedef struct {
    char *p;
    size_t len, cap;
} s_buf;

static void __attribute__ ((format (printf, 2, 3)))
s_put (s_buf *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start (ap, fmt);
        int n = vsnprintf (b->p + b->len, b->cap - b->len, fmt, ap);
        va_end (ap);
        if (n < 0)
            return;
        if ((size_t) n < b->cap - b->len) {
            b->len += (size_t) n;
            return;
        }
        b->cap = 2 * b->cap + (size_t) n + 1;
        b->p = tp__realloc (b->p, b->cap);
    }
}

/*  A metric's HELP and TYPE lines. */
static void
s_head (s_buf *b, const char *name, const char *type, const char *help)
{
    s_put (b, "# HELP troupe_%s %s\n# TYPE troupe_%s %s\n", name, help, name,
           type);
}

static void
s_one (s_buf *b, const char *name, const char *type, const char *help,
       uint64_t v)
{
    s_head (b, name, type, help);
    s_put (b, "troupe_%s %" PRIu64 "\n", name, v);
}

/*  A label value, escaped as the format wants (\\, \", \n). */
static void
s_label (s_buf *b, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            s_put (b, "\\%c", *v);
        else if (*v == '\n')
            s_put (b, "\\n");
        else
            s_put (b, "%c", *v);
    }
}

int
tp_metrics_text (tp_system *sys, char **text, size_t *len)
{
    if (!sys || !text)
        return TP_EINVAL;
    s_buf b = {tp__malloc (4096), 0, 4096};
    b.p[0] = '\0';
    tp_system_stats ss;
    tp_node_stats ns;
    tp_system_stats_get (sys, &ss);
    memset (&ns, 0, sizeof ns);
    tp_node_stats_get (sys, &ns);
    const char *node = tp_node_name (tp_system_node (sys));

    s_head (&b, "actors", "gauge", "Actors alive, by kind.");
    uint64_t loops = ss.actors_live - ss.actors_thread - ss.actors_process;
    s_put (&b, "troupe_actors{kind=\"loop\"} %" PRIu64 "\n", loops);
    s_put (&b, "troupe_actors{kind=\"thread\"} %" PRIu64 "\n", ss.actors_thread);
    s_put (&b, "troupe_actors{kind=\"process\"} %" PRIu64 "\n",
           ss.actors_process);
    s_one (&b, "actors_spawned_total", "counter", "Actors spawned.",
           ss.actors_spawned);
    s_one (&b, "messages_total", "counter", "Messages run by actors.",
           ss.messages);
    s_one (&b, "workers", "gauge", "Worker threads for loop actors.",
           (uint64_t) ss.workers);
    s_head (&b, "dead_letters_total", "counter",
            "Messages that could not be delivered, by cause.");
    s_put (&b, "troupe_dead_letters_total{cause=\"noproc\"} %" PRIu64 "\n",
           ss.dead_noproc);
    s_put (&b, "troupe_dead_letters_total{cause=\"noconnect\"} %" PRIu64 "\n",
           ss.dead_noconnect);
    s_put (&b, "troupe_dead_letters_total{cause=\"dropped\"} %" PRIu64 "\n",
           ss.dead_dropped);
    s_one (&b, "late_replies_total", "counter",
           "Replies that came after their ask was over.", ss.late_replies);
    s_one (&b, "ask_timeouts_total", "counter",
           "Asks and calls that ended by their timeout.", ss.ask_timeouts);
    s_one (&b, "restarts_total", "counter", "Children restarted by supervisors.",
           ss.restarts);
    s_one (&b, "unpack_errors_total", "counter",
           "Bodies an actor could not unpack.", ss.unpack_errors);

    tp_mailbox_info top[TOP_MAILBOXES];
    int live = tp_system_mailboxes (sys, top, TOP_MAILBOXES);
    s_head (&b, "mailbox_depth", "gauge",
            "Messages waiting, for the actors with the deepest mailboxes.");
    for (int i = 0; i < live && i < TOP_MAILBOXES; i++) {
        char ref[TP_REF_STRLEN];
        tp_ref_format (top[i].ref, ref, sizeof ref);
        s_put (&b, "troupe_mailbox_depth{actor=\"");
        s_label (&b, ref);
        s_put (&b, "\",behavior=\"");
        s_label (&b, top[i].behavior);
        s_put (&b, "\"} %" PRIu64 "\n", top[i].queued);
    }

    /* the node */
    s_head (&b, "node_info", "gauge", "This node's name (value 1).");
    s_put (&b, "troupe_node_info{node=\"");
    s_label (&b, node ? node : "");
    s_put (&b, "\"} 1\n");
    s_one (&b, "peers_up", "gauge", "Peers answering now.", ns.peers_up);
    s_one (&b, "peers_held", "gauge",
           "Peer entries held (up, or down and not yet forgotten).",
           ns.peers_held);
    tp_peer_info *peers = tp__malloc (PEERS_MAX * sizeof *peers);
    int np = tp_node_peers (sys, peers, PEERS_MAX);
    if (np > PEERS_MAX)
        np = PEERS_MAX;
    static const struct {
        const char *name, *help;
    } per[] = {
        {"peer_up", "1 if the peer answers now."},
        {"peer_bytes_in_total", "Frame bytes from the peer, this life."},
        {"peer_bytes_out_total", "Frame bytes to the peer, this life."},
        {"peer_frames_in_total", "Frames from the peer, this life."},
        {"peer_frames_out_total", "Frames to the peer, this life."},
    };
    for (size_t k = 0; k < sizeof per / sizeof *per; k++) {
        s_head (&b, per[k].name, k ? "counter" : "gauge", per[k].help);
        for (int i = 0; i < np; i++) {
            uint64_t v = k == 0 ? peers[i].up
                         : k == 1 ? peers[i].bytes_in
                         : k == 2 ? peers[i].bytes_out
                         : k == 3 ? peers[i].frames_in
                                  : peers[i].frames_out;
            s_put (&b, "troupe_%s{peer=\"", per[k].name);
            s_label (&b, peers[i].name);
            s_put (&b, "\"} %" PRIu64 "\n", v);
        }
    }
    free (peers);
    s_one (&b, "frames_in_total", "counter", "Frames received from peers.",
           ns.frames_in);
    s_one (&b, "frames_out_total", "counter", "Frames sent to peers.",
           ns.frames_out);
    s_one (&b, "bytes_in_total", "counter", "Bytes received from peers.",
           ns.bytes_in);
    s_one (&b, "bytes_out_total", "counter", "Bytes sent to peers.",
           ns.bytes_out);
    s_head (&b, "frames_bad_total", "counter",
            "Frames dropped as bad, by cause.");
    for (int i = 0; i < TP_BAD_CAUSES; i++)
        s_put (&b, "troupe_frames_bad_total{cause=\"%s\"} %" PRIu64 "\n",
               tp_bad_cause_name (i), ns.bad_by_cause[i]);
    s_one (&b, "nodes_down_total", "counter", "Times a peer was declared down.",
           ns.nodes_down);
    s_one (&b, "peers_forgotten_total", "counter", "Peer entries freed.",
           ns.peers_forgotten);
    s_one (&b, "peers_refused_total", "counter",
           "Greetings refused (max_peers, a name up elsewhere).",
           ns.peers_refused);
    s_one (&b, "curve_refused_total", "counter",
           "Connections refused by CURVE.", ns.curve_refused);
    s_one (&b, "quarantines_total", "counter",
           "Connections quarantined for bad frames.", ns.quarantines);
    s_one (&b, "frames_quarantined_total", "counter",
           "Frames dropped unread from quarantined connections.",
           ns.frames_quarantined);
    s_one (&b, "watches_refused_total", "counter",
           "Monitors and links refused (peer_max_watches).",
           ns.watches_refused);
    s_one (&b, "asks_refused_total", "counter",
           "Requests refused (peer_max_asks).", ns.asks_refused);
    s_one (&b, "names_recycled_total", "counter",
           "Node-table entries a peer's newer ones replaced (process-wide).",
           ns.names_recycled);
    s_one (&b, "frames_held_total", "counter",
           "Frames kept for a peer that did not read.", ns.frames_held);
    s_one (&b, "stalls_total", "counter",
           "Times a peer was not read for a local backlog.", ns.stalls);
    *text = b.p;
    if (len)
        *len = b.len;
    return 0;
}

/* ---- the server ----------------------------------------------------- */

static enum MHD_Result
s_answer (void *cls, struct MHD_Connection *conn, const char *url,
          const char *method, const char *version, const char *upload,
          size_t *upload_len, void **req)
{
    (void) version;
    (void) upload;
    (void) upload_len;
    (void) req;
    tp_metrics *m = cls;
    struct MHD_Response *r;
    unsigned code = MHD_HTTP_OK;
    const char *type = "text/plain; version=0.0.4; charset=utf-8";
    if (strcmp (method, "GET") != 0 && strcmp (method, "HEAD") != 0) {
        static const char no[] = "only GET\n";
        code = MHD_HTTP_METHOD_NOT_ALLOWED;
        r = MHD_create_response_from_buffer (sizeof no - 1, (void *) no,
                                             MHD_RESPMEM_PERSISTENT);
    }
    else if (!strcmp (url, "/metrics")) {
        char *text;
        size_t len;
        if (tp_metrics_text (m->sys, &text, &len) != 0)
            return MHD_NO;
        r = MHD_create_response_from_buffer (len, text, MHD_RESPMEM_MUST_FREE);
    }
    else {
        static const char idx[] = "troupe: the metrics are at /metrics\n";
        code = strcmp (url, "/") ? MHD_HTTP_NOT_FOUND : MHD_HTTP_OK;
        r = MHD_create_response_from_buffer (sizeof idx - 1, (void *) idx,
                                             MHD_RESPMEM_PERSISTENT);
    }
    if (!r)
        return MHD_NO;
    MHD_add_response_header (r, "Content-Type", type);
    enum MHD_Result rc = MHD_queue_response (conn, code, r);
    MHD_destroy_response (r);
    return rc;
}

/*  Parses "HOST:PORT" ("[v6]:PORT" for IPv6) into *sa. */
static int
s_addr (const char *addr, struct sockaddr_storage *sa, socklen_t *len)
{
    char host[64];
    const char *colon = strrchr (addr, ':');
    if (!colon || colon == addr)
        return TP_EINVAL;
    size_t hl = (size_t) (colon - addr);
    const char *h = addr;
    if (*h == '[') {
        if (hl < 3 || addr[hl - 1] != ']')
            return TP_EINVAL;
        h++;
        hl -= 2;
    }
    if (hl >= sizeof host)
        return TP_EINVAL;
    memcpy (host, h, hl);
    host[hl] = '\0';
    char *end;
    long port = strtol (colon + 1, &end, 10);
    if (end == colon + 1 || *end || port < 0 || port > 65535)
        return TP_EINVAL;
    memset (sa, 0, sizeof *sa);
    struct sockaddr_in *v4 = (struct sockaddr_in *) sa;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *) sa;
    if (inet_pton (AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons ((uint16_t) port);
        *len = sizeof *v4;
        return 0;
    }
    if (inet_pton (AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons ((uint16_t) port);
        *len = sizeof *v6;
        return 0;
    }
    return TP_EINVAL;
}

int
tp_metrics_start (tp_system *sys, const char *addr, tp_metrics **out,
                  int *port)
{
    if (!sys || !addr || !out)
        return TP_EINVAL;
    struct sockaddr_storage sa;
    socklen_t sl;
    if (s_addr (addr, &sa, &sl) != 0)
        return TP_EINVAL;
    /* bound here, so that a port in use is told as such */
    int fd = socket (sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return TP_ESYS;
    int one = 1;
    setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind (fd, (struct sockaddr *) &sa, sl) != 0 || listen (fd, 64) != 0) {
        int e = errno;
        close (fd);
        return e == EADDRINUSE ? TP_EADDRINUSE : e == EADDRNOTAVAIL ? TP_EINVAL
                                                                    : TP_ESYS;
    }
    tp_metrics *m = tp__calloc (1, sizeof *m);
    m->sys = sys;
    m->d = MHD_start_daemon (MHD_USE_INTERNAL_POLLING_THREAD
                                 | MHD_USE_ERROR_LOG,
                             0, NULL, NULL, s_answer, m, MHD_OPTION_LISTEN_SOCKET,
                             fd, MHD_OPTION_CONNECTION_LIMIT, 64,
                             MHD_OPTION_CONNECTION_TIMEOUT, 10, MHD_OPTION_END);
    if (!m->d) {
        close (fd);
        free (m);
        return TP_ESYS;
    }
    if (port) {
        const union MHD_DaemonInfo *i
            = MHD_get_daemon_info (m->d, MHD_DAEMON_INFO_BIND_PORT);
        *port = i ? i->port : 0;
    }
    *out = m;
    return 0;
}

void
tp_metrics_stop (tp_metrics **mp)
{
    if (!mp || !*mp)
        return;
    MHD_stop_daemon ((*mp)->d); /* (closes the listening socket too) */
    free (*mp);
    *mp = NULL;
}
