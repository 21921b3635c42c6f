/*  tools/troupe-node.c: a daemon that hosts actors from modules.

    troupe-node --name NAME [--bind EP]... [--connect EP]...
                [--module PATH [--arg STRING]]... [--workers N]
                [--config FILE] [--heartbeat MS] [--ready-file PATH]
                [--report-to REF] [--parent-fd FD] [--log PATH]
                [--key SECRET_FILE [--allow PUBLIC_KEYS_FILE]...
                 [--connect EP --server-key PUBLIC_FILE]...]

    Loads each module (a shared library exporting tp_module_entry, see
    core/module.h), spawns its actor under the module's name, binds and
    connects the node, and serves until SIGTERM or SIGINT, then shuts down
    cleanly (every actor stopped, messages it accepted delivered).

    The config file holds the same settings as lines `key = value`
    (name, bind, connect, module, arg, workers, heartbeat); `#` starts a
    comment. Command-line flags are applied after the file. --arg gives
    the module before it its configuration: the string is its actor's
    init arg (NULL without --arg).

    CURVE (docs/security.md): --key gives the node's secret key (a file
    written by `troupe keygen`); then only the public keys listed in the
    --allow files (one per line) may connect, and each --connect needs the
    other node's public key file after it (--server-key).

    Process actors (tp_spawn with TP_PROCESS) run troupe-node as a child:
    --report-to REF: once connected and the first module's actor runs,
    tell REF "_proc_up" [r actor]; --parent-fd FD: the read end of a pipe
    from the parent: when it closes (the parent is gone), stop.

    Every node also runs the service actor "_node" (actors/node_service.h),
    which answers the troupe command line (ls, stats, peers, stop), and
    the process-group scope "_pg" (actors/pg.h).

    Logs go through tp_log: to stderr, or with --log PATH (config key
    log) to that file through a logger actor (actors/logger.h), one line
    per event, in tp_log's format. Before the system exists, and after
    it has stopped, lines go to stderr as:
        2026-11-25T07:00:00Z troupe-node[alpha] info: bound tcp://127.0.0.1:5555
*/
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/signalfd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <troupe/discovery.h>
#include <troupe/logger.h>
#include <troupe/node_service.h>
#include <troupe/pg.h>
#include <troupe/troupe.h>

#define MAX_LIST 16

typedef struct {
    const char *name;
    const char *bind[MAX_LIST];
    int nbind;
    const char *connect[MAX_LIST];
    int nconnect;
    const char *module[MAX_LIST];
    const char *arg[MAX_LIST];
    int nmodule;
    const char *report_to;
    int parent_fd;
    const char *log;
    int workers;
    int heartbeat;
    const char *ready_file;
    const char *metrics;               /* HOST:PORT for /metrics */
    const char *seeds, *dns, *dns_server, *etcd, *cluster, *advertise;
    int lease_ttl, discovery_ms;       /* (discovery, actors/discovery.h) */
    const char *key;                   /* secret key file (CURVE) */
    const char *allow[MAX_LIST];       /* files of allowed public keys */
    int nallow;
    const char *server_key[MAX_LIST];  /* per --connect: its public key */
} node_opts;

static const char *s_name = "?";
static tp_system *s_sys; /* once it exists, lines go through tp_log */

static void
s_log (const char *level, const char *fmt, ...)
{
    if (s_sys) {
        char text[1024];
        va_list ap;
        va_start (ap, fmt);
        vsnprintf (text, sizeof text, fmt, ap);
        va_end (ap);
        tp_log (s_sys,
                !strcmp (level, "error")  ? TP_LOG_ERROR
                : !strcmp (level, "warn") ? TP_LOG_WARN
                                          : TP_LOG_INFO,
                "troupe-node: %s", text);
        return;
    }
    char ts[32];
    time_t now = time (NULL);
    struct tm tm;
    gmtime_r (&now, &tm);
    strftime (ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    fprintf (stderr, "%s troupe-node[%s] %s: ", ts, s_name, level);
    va_list ap;
    va_start (ap, fmt);
    vfprintf (stderr, fmt, ap);
    va_end (ap);
    fputc ('\n', stderr);
}

/* ---- options ------------------------------------------------------------ */

static char *
s_trim (char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    char *e = s + strlen (s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n'
                     || e[-1] == '\r'))
        *--e = '\0';
    return s;
}

/*  Strings from the config file, freed at exit. */
static char *s_owned[4 * MAX_LIST + 8];
static int s_nowned;

static char s_why[256]; /* what s_set found wrong */

/*  Reads a whole decimal number in [lo, hi] into *out; false otherwise. */
static bool
s_number (const char *v, long lo, long hi, int *out)
{
    char *end;
    errno = 0;
    long n = strtol (v, &end, 10);
    if (errno || end == v || *end || n < lo || n > hi)
        return false;
    *out = (int) n;
    return true;
}

/*  Sets option key (without dashes) to val. Returns 0, -1 for an unknown
    key (or one past its list's room), -2 for a bad value (s_why says
    what is wrong). */
static int
s_set (node_opts *o, const char *key, const char *val)
{
    static const struct {
        const char *key;
        size_t off;
        long lo, hi;
    } nums[] = {
        {"workers", offsetof (node_opts, workers), 1, 1024},
        {"heartbeat", offsetof (node_opts, heartbeat), 1, 3600000},
        {"parent-fd", offsetof (node_opts, parent_fd), 0, INT_MAX},
        {"lease-ttl", offsetof (node_opts, lease_ttl), 1, 3600},
        {"discovery-interval", offsetof (node_opts, discovery_ms), 10, 3600000},
    };
    for (size_t i = 0; i < sizeof nums / sizeof *nums; i++)
        if (!strcmp (key, nums[i].key)) {
            if (!s_number (val, nums[i].lo, nums[i].hi,
                           (int *) ((char *) o + nums[i].off))) {
                snprintf (s_why, sizeof s_why,
                          "%s: '%s' is not a number in %ld..%ld", key, val,
                          nums[i].lo, nums[i].hi);
                return -2;
            }
            return 0;
        }
    if ((!strcmp (key, "arg") || !strcmp (key, "server-key"))
        && !(!strcmp (key, "arg") ? o->nmodule : o->nconnect)) {
        snprintf (s_why, sizeof s_why, "%s must follow a %s", key,
                  !strcmp (key, "arg") ? "module" : "connect");
        return -2;
    }
    if (!*val) {
        snprintf (s_why, sizeof s_why, "%s: empty value", key);
        return -2;
    }
    char *v = strdup (val);
    if (!v || s_nowned >= (int) (sizeof s_owned / sizeof *s_owned)) {
        free (v);
        snprintf (s_why, sizeof s_why, "too many settings");
        return -2;
    }
    s_owned[s_nowned++] = v;
    if (!strcmp (key, "name"))
        o->name = v;
    else if (!strcmp (key, "bind") && o->nbind < MAX_LIST)
        o->bind[o->nbind++] = v;
    else if (!strcmp (key, "connect") && o->nconnect < MAX_LIST)
        o->connect[o->nconnect++] = v;
    else if (!strcmp (key, "module") && o->nmodule < MAX_LIST)
        o->module[o->nmodule++] = v;
    else if (!strcmp (key, "arg") && o->nmodule > 0)
        o->arg[o->nmodule - 1] = v;
    else if (!strcmp (key, "report-to"))
        o->report_to = v;
    else if (!strcmp (key, "log"))
        o->log = v;
    else if (!strcmp (key, "key"))
        o->key = v;
    else if (!strcmp (key, "allow") && o->nallow < MAX_LIST)
        o->allow[o->nallow++] = v;
    else if (!strcmp (key, "server-key") && o->nconnect > 0)
        o->server_key[o->nconnect - 1] = v;
    else if (!strcmp (key, "ready-file"))
        o->ready_file = v;
    else if (!strcmp (key, "metrics"))
        o->metrics = v;
    else if (!strcmp (key, "seeds"))
        o->seeds = v;
    else if (!strcmp (key, "dns"))
        o->dns = v;
    else if (!strcmp (key, "dns-server"))
        o->dns_server = v;
    else if (!strcmp (key, "etcd"))
        o->etcd = v;
    else if (!strcmp (key, "cluster"))
        o->cluster = v;
    else if (!strcmp (key, "advertise"))
        o->advertise = v;
    else {
        s_nowned--;
        free (v);
        return -1;
    }
    return 0;
}

static int
s_config (node_opts *o, const char *path)
{
    FILE *f = fopen (path, "r");
    if (!f) {
        s_log ("error", "cannot open config %s: %s", path, strerror (errno));
        return -1;
    }
    char line[1024];
    int ln = 0, rc = 0;
    while (fgets (line, sizeof line, f)) {
        ln++;
        char *hash = strchr (line, '#');
        if (hash)
            *hash = '\0';
        char *l = s_trim (line);
        if (!*l)
            continue;
        char *eq = strchr (l, '=');
        if (!eq) {
            s_log ("error", "%s:%d: expected key = value", path, ln);
            rc = -1;
            continue;
        }
        *eq = '\0';
        const char *key = s_trim (l);
        int src = !strcmp (key, "config") ? -1
                                           : s_set (o, key, s_trim (eq + 1));
        if (src == -1)
            s_log ("error", "%s:%d: unknown key '%s' (or too many of it)", path,
                   ln, key);
        else if (src)
            s_log ("error", "%s:%d: %s", path, ln, s_why);
        if (src)
            rc = -1;
    }
    fclose (f);
    return rc;
}

static void
s_usage (FILE *out)
{
    fprintf (out,
             "usage: troupe-node --name NAME [options]\n"
             "       troupe-node --help | --version\n"
             "Hosts actors from modules as a troupe node (troupe-node(8)).\n"
             "  --name NAME         node name, 1-63 of [0-9A-Za-z_.-] "
             "(required)\n"
             "  --bind EP           listen on EP (tcp://HOST:PORT, tcp://HOST:*,"
             " ipc://PATH); up to 8\n"
             "  --connect EP        connect to the node at EP (kept up); up to 16\n"
             "  --module PATH       load the module and spawn its actor; up to 16\n"
             "  --arg STRING        the config string of the module before it\n"
             "  --workers N         worker threads, 1-1024 (default: one per "
             "core)\n"
             "  --heartbeat MS      heartbeat interval, 1-3600000 (default 500;"
             " down after 3)\n"
             "  --config FILE       settings as `key = value` lines (the option"
             " names)\n"
             "  --ready-file PATH   write the bound endpoint there once up\n"
             "  --log PATH          log there instead of stderr\n"
             "  --metrics ADDR      serve Prometheus metrics at "
             "http://ADDR/metrics (HOST:PORT)\n"
             "Membership (find the other nodes; one of):\n"
             "  --seeds EP,EP...    a static seed list\n"
             "  --dns NAME[:PORT]   SRV records of NAME, or its A/AAAA records "
             "with PORT\n"
             "  --dns-server IP:PORT  ask that DNS server (default: the "
             "system's)\n"
             "  --etcd URL          an etcd v3 cluster (http://HOST:2379): "
             "register, watch\n"
             "  --cluster NAME      etcd key prefix /troupe/NAME (default "
             "default)\n"
             "  --advertise EP      this node's endpoint for the others "
             "(default: the first bound)\n"
             "  --lease-ttl S       etcd lease, 1-3600 (default 10)\n"
             "  --discovery-interval MS  how often members are looked up "
             "(default 1000)\n"
             "  --key FILE          CURVE secret key (troupe keygen); then:\n"
             "  --allow FILE        public keys allowed to connect, one per "
             "line\n"
             "  --server-key FILE   public key of the --connect before it\n"
             "  --report-to REF, --parent-fd FD   (for process actors)\n"
             "Environment: TP_LOG (error, warn, info, debug), TP_SPIN_US.\n"
             "Exit: 0 stopped cleanly, 1 could not start, 2 usage error.\n");
}


int
main (int argc, char **argv)
{
    node_opts o = {.parent_fd = -1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp (a, "--help") || !strcmp (a, "-h")) {
            s_usage (stdout);
            return 0;
        }
        if (!strcmp (a, "--version") || !strcmp (a, "-V")) {
            printf ("troupe-node %d.%d.%d\n", TP_VERSION_MAJOR,
                    TP_VERSION_MINOR, TP_VERSION_PATCH);
            return 0;
        }
        if (strncmp (a, "--", 2) != 0) {
            fprintf (stderr, "troupe-node: unexpected argument '%s'\n", a);
            s_usage (stderr);
            return 2;
        }
        if (i + 1 >= argc) {
            fprintf (stderr, "troupe-node: %s needs a value\n", a);
            return 2;
        }
        const char *v = argv[++i];
        int src = !strcmp (a, "--config") ? (s_config (&o, v) ? -3 : 0)
                                          : s_set (&o, a + 2, v);
        if (src == -1) {
            fprintf (stderr, "troupe-node: unknown option %s (or too many "
                             "of it)\n", a);
            s_usage (stderr);
            return 2;
        }
        if (src == -2)
            fprintf (stderr, "troupe-node: --%s\n", s_why);
        if (src)
            return 2;
    }
    if (!o.name) {
        fprintf (stderr, "troupe-node: --name is required\n");
        s_usage (stderr);
        return 2;
    }
    s_name = o.name;
    /* SIGTERM and SIGINT are read from a signalfd by this thread: blocked
       here, before any thread starts, so that every thread inherits it
       and none takes them */
    sigset_t stop_sigs;
    sigemptyset (&stop_sigs);
    sigaddset (&stop_sigs, SIGTERM);
    sigaddset (&stop_sigs, SIGINT);
    pthread_sigmask (SIG_BLOCK, &stop_sigs, NULL);
    int sfd = signalfd (-1, &stop_sigs, SFD_CLOEXEC);
    if (o.parent_fd >= 0) /* (the parent's end is gone: stop at once) */
        fcntl (o.parent_fd, F_SETFD, FD_CLOEXEC);
    /* CURVE: our secret key, and the public keys we admit */
    char secret[41] = "";
    static char allowed[256][41];
    const char *allow_list[257];
    int nallowed = 0;
    if (o.key && tp_curve_key_read (o.key, secret) != 0) {
        s_log ("error", "cannot read a key from %s", o.key);
        return 2;
    }
    for (int i = 0; i < o.nallow; i++) {
        FILE *f = fopen (o.allow[i], "r");
        char line[256];
        while (f && nallowed < 256 && fgets (line, sizeof line, f)) {
            char *t = s_trim (line);
            if (*t && *t != '#' && strlen (t) == 40)
                snprintf (allowed[nallowed++], 41, "%s", t);
        }
        if (!f) {
            s_log ("error", "cannot open %s", o.allow[i]);
            return 2;
        }
        fclose (f);
    }
    for (int i = 0; i < nallowed; i++)
        allow_list[i] = allowed[i];
    allow_list[nallowed] = NULL;
    tp_system_opts so = {.workers = o.workers, .node_name = o.name,
                         .heartbeat_ms = o.heartbeat,
                         .curve_secret = o.key ? secret : NULL,
                         .curve_allow = allow_list};
    tp_system *sys = tp_system_new (&so);
    if (!sys) {
        s_log ("error", "cannot create the system (bad name or options)");
        return 1;
    }
    s_sys = sys;
    int rc = 0;
    if (o.log) {
        tp_logger_opts lo = {.path = o.log, .level = TP_LOG_INFO};
        int lrc = tp_logger_start (sys, &lo, NULL);
        if (lrc) {
            s_log ("error", "cannot log to %s: %s", o.log, tp_strerror (lrc));
            rc = 1;
        }
    }
    tp_ref first = TP_REF_NIL;
    tp_node_service_start (sys, NULL); /* ("_node": troupe ls, stats ...) */
    tp_pg_start (sys, NULL);           /* ("_pg": process groups) */
    for (int i = 0; i < o.nmodule && rc == 0; i++) {
        void *h = dlopen (o.module[i], RTLD_NOW | RTLD_LOCAL);
        const tp_module *m = h ? dlsym (h, "tp_module_entry") : NULL;
        if (!m || m->abi != TP_MODULE_ABI || !m->behavior || !m->name) {
            s_log ("error", "module %s: %s", o.module[i],
                   !h ? dlerror () : "no valid tp_module_entry");
            rc = 1;
            break;
        }
        tp_spawn_opts mo = {.kind = m->kind, .name = m->name};
        tp_ref r;
        /* (its init must succeed before the node says it is ready) */
        int src = tp_spawn_sync (sys, m->behavior, (void *) o.arg[i], &mo,
                                 30000, &r);
        if (src) {
            s_log ("error", "module %s: %s", o.module[i],
                   src == TP_EDOWN       ? "its actor's init failed"
                   : src == TP_ETIMEDOUT ? "its actor's init did not "
                                           "return within 30 s"
                   : src == TP_EEXIST    ? "its name is taken"
                                         : tp_strerror (src));
            rc = 1;
            break;
        }
        char rs[TP_REF_STRLEN];
        tp_ref_format (r, rs, sizeof rs);
        s_log ("info", "module %s: actor '%s' is %s", o.module[i], m->name, rs);
        if (i == 0)
            first = r;
        /* the library stays loaded for the life of the process */
    }
    char bound[256] = "";
    for (int i = 0; i < o.nbind && rc == 0; i++) {
        int b = tp_node_bind (sys, o.bind[i], bound, sizeof bound);
        if (b) {
            s_log ("error", "bind %s: %s", o.bind[i], tp_strerror (b));
            rc = 1;
        }
        else
            s_log ("info", "bound %s", bound);
    }
    for (int i = 0; i < o.nconnect && rc == 0; i++) {
        uint32_t peer;
        char skey[41] = "";
        int c = 0;
        if (o.server_key[i] && tp_curve_key_read (o.server_key[i], skey) != 0)
            c = TP_EINVAL;
        else if (o.key)
            c = o.server_key[i]
                    ? tp_node_connect_key (sys, o.connect[i], skey, 5000, &peer)
                    : TP_EINVAL;
        else
            c = tp_node_connect (sys, o.connect[i], 5000, &peer);
        if (c)
            s_log ("warn", "connect %s: %s (will keep trying)", o.connect[i],
                   tp_strerror (c));
        else
            s_log ("info", "connected to %s at %s", tp_node_name (peer),
                   o.connect[i]);
    }
    tp_metrics *mx = NULL;
    if (rc == 0 && o.metrics) {
        int mport = 0;
        int mrc = tp_metrics_start (sys, o.metrics, &mx, &mport);
        if (mrc) {
            s_log ("error", "metrics at %s: %s", o.metrics,
                   mrc == TP_EINVAL ? "not HOST:PORT (an IPv4 address, or "
                                      "[IPv6])"
                                    : tp_strerror (mrc));
            rc = 1;
        }
        else
            s_log ("info", "metrics at http://%.*s:%d/metrics",
                   (int) (strrchr (o.metrics, ':') - o.metrics), o.metrics,
                   mport);
    }
    tp_discovery *disc = NULL;
    if (rc == 0 && (o.seeds || o.dns || o.etcd)) {
        char prefix[300], dname[256];
        snprintf (prefix, sizeof prefix, "/troupe/%s",
                  o.cluster ? o.cluster : "default");
        tp_discovery_opts dopts = {
            .provider = o.etcd ? "etcd" : o.dns ? "dns" : "static",
            .seeds = o.seeds, .etcd = o.etcd, .prefix = prefix,
            .advertise = o.advertise ? o.advertise : bound[0] ? bound : NULL,
            .ttl_s = o.lease_ttl, .interval_ms = o.discovery_ms,
            .dns_server = o.dns_server};
        if (o.dns) { /* NAME:PORT (A records) or NAME (SRV) */
            snprintf (dname, sizeof dname, "%s", o.dns);
            char *colon = strrchr (dname, ':');
            if (colon && colon[1]) {
                *colon = '\0';
                dopts.dns_port = atoi (colon + 1);
            }
            dopts.dns_name = dname;
        }
        int drc = tp_discovery_start (sys, &dopts, &disc);
        if (drc) {
            s_log ("error", "discovery (%s): %s", dopts.provider,
                   drc == TP_ENODE ? "the engine did not answer"
                                   : tp_strerror (drc));
            rc = 1;
        }
        else
            s_log ("info", "discovery: %s%s%s, advertised as %s",
                   dopts.provider, o.etcd ? " at " : "", o.etcd ? o.etcd : "",
                   dopts.advertise ? dopts.advertise : "(nothing)");
    }
    if (rc == 0 && o.report_to) {
        tp_ref to;
        int prc = tp_ref_parse (o.report_to, &to);
        if (prc == 0)
            prc = tp_send (sys, to, tp_tag ("_proc_up"), "r", first);
        if (prc) {
            s_log ("error", "report to %s: %s", o.report_to, tp_strerror (prc));
            rc = 1;
        }
    }
    if (rc == 0) {
        if (o.ready_file) {
            /* written aside, then renamed: a reader never sees half of it */
            char tmp[4096];
            snprintf (tmp, sizeof tmp, "%s.tmp", o.ready_file);
            FILE *f = fopen (tmp, "w");
            bool ok = f && fprintf (f, "%s\n", bound) >= 0;
            if (f && fclose (f) != 0)
                ok = false;
            if (!ok || rename (tmp, o.ready_file) != 0) {
                s_log ("error", "cannot write the ready file %s: %s",
                       o.ready_file, strerror (errno));
                unlink (tmp);
                rc = 1;
            }
        }
    }
    if (rc == 0) {
        s_log ("info", "ready");
        struct pollfd pf[2] = {{sfd, POLLIN, 0}, {o.parent_fd, POLLIN, 0}};
        for (;;) {
            if (poll (pf, o.parent_fd >= 0 ? 2 : 1, -1) < 0 && errno != EINTR)
                break;
            if (pf[0].revents & POLLIN)
                break; /* SIGTERM or SIGINT */
            if (o.parent_fd >= 0 && (pf[1].revents & (POLLIN | POLLHUP))) {
                char c;
                if (read (o.parent_fd, &c, 1) <= 0) {
                    s_log ("info", "the parent process is gone");
                    break;
                }
            }
        }
        s_log ("info", "shutting down");
    }
    s_log ("info", "stopping");
    tp_discovery_stop (&disc); /* (etcd: the node leaves at once) */
    tp_metrics_stop (&mx);
    s_sys = NULL; /* (the last lines: straight to stderr) */
    tp_system_destroy (&sys);
    if (sfd >= 0)
        close (sfd);
    s_log ("info", "stopped");
    while (s_nowned > 0)
        free (s_owned[--s_nowned]);
    return rc;
}
