/*  tests/test_discovery.c: nodes that know only an etcd address find each
    other (actors/discovery.h), with a real etcd-server on loopback (free
    ports, a data directory of its own, stopped by pid): three troupe-node
    processes form a full mesh, one killed leaves when its lease expires,
    started again it rejoins; a name claimed cluster-wide on one node is
    refused on another until released. Skipped, saying so, when Debian's
    etcd-server is not installed. The static and DNS providers are tested
    at the end. */
#include <criterion/criterion.h>

#include "testutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "discovery.h"
#include <fcntl.h>

#define ETCD "/usr/bin/etcd"
#define TTL_S 2

static char s_build[512], s_dir[64], s_url[64];
#define S_UNUSED_FAIL() (void) tt_fail
static pid_t s_etcd, s_dnsmasq;

/*  A loopback port bound (not listening) by *fd, which keeps it. */
static int
s_bound_port (int *fd)
{
    *fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl (INADDR_LOOPBACK)};
    cr_assert_eq (bind (*fd, (struct sockaddr *) &a, sizeof a), 0);
    socklen_t l = sizeof a;
    getsockname (*fd, (struct sockaddr *) &a, &l);
    return ntohs (a.sin_port);
}

static int
s_free_port (void)
{
    int fd;
    int port = s_bound_port (&fd);
    close (fd);
    return port;
}

/*  Runs cmd; true if it exits 0. */
static bool
s_ok (const char *fmt, ...)
{
    char cmd[1024];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (cmd, sizeof cmd, fmt, ap);
    va_end (ap);
    int st = system (cmd);
    return st != -1 && WIFEXITED (st) && WEXITSTATUS (st) == 0;
}

static void
s_etcd_start (void)
{
    tt_build_dir (s_build, sizeof s_build);
    snprintf (s_dir, sizeof s_dir, "/tmp/tp-etcd-XXXXXX");
    cr_assert_not_null (mkdtemp (s_dir));
    int cport = s_free_port (), pport = s_free_port ();
    while (pport == cport) /* (two picks may agree) */
        pport = s_free_port ();
    snprintf (s_url, sizeof s_url, "http://127.0.0.1:%d", cport);
    char peer[64], cluster[96], data[128];
    snprintf (peer, sizeof peer, "http://127.0.0.1:%d", pport);
    snprintf (cluster, sizeof cluster, "t=%s", peer);
    snprintf (data, sizeof data, "%s/data", s_dir);
    s_etcd = fork ();
    cr_assert_geq (s_etcd, 0);
    if (s_etcd == 0) {
        prctl (PR_SET_PDEATHSIG, SIGKILL);
        int null = open ("/dev/null", O_WRONLY);
        dup2 (null, 1);
        dup2 (null, 2);
        execl (ETCD, ETCD, "--name", "t", "--data-dir", data,
               "--listen-client-urls", s_url, "--advertise-client-urls", s_url,
               "--listen-peer-urls", peer, "--initial-advertise-peer-urls",
               peer, "--initial-cluster", cluster, "--log-level", "error",
               (char *) NULL);
        _exit (127);
    }
    /* ready when it answers its health check (bounded) */
    uint64_t end = tt_now_ms () + (uint64_t) tt_ms (20000);
    bool up = false;
    while (!up && tt_now_ms () < end) {
        up = s_ok ("curl -s -m 1 %s/health | grep -q true", s_url);
        if (!up) /* (a process's readiness: polled, bounded) */
            poll (NULL, 0, 50);
    }
    cr_assert (up, "etcd did not answer at %s", s_url);
}

static void
s_etcd_stop (void)
{
    if (s_etcd > 0) {
        kill (s_etcd, SIGTERM);
        waitpid (s_etcd, NULL, 0);
        s_etcd = 0;
    }
    if (s_dir[0])
        s_ok ("rm -rf %s", s_dir);
    s_dir[0] = '\0';
}

/*  A test's end, passed or not: the servers it started go (dnsmasq
    changes its credentials, which clears PR_SET_PDEATHSIG). */
static void
s_servers_stop (void)
{
    s_etcd_stop ();
    if (s_dnsmasq > 0) {
        kill (s_dnsmasq, SIGTERM);
        waitpid (s_dnsmasq, NULL, 0);
        s_dnsmasq = 0;
    }
}

typedef struct {
    char name[8];
    char ready[96];
    char ep[256];
    pid_t pid;
} node_t;

static void
s_node_start (node_t *n)
{
    char exe[600], ttl[8];
    snprintf (exe, sizeof exe, "%s/tools/troupe-node", s_build);
    snprintf (ttl, sizeof ttl, "%d", TTL_S);
    unlink (n->ready);
    n->pid = fork ();
    cr_assert_geq (n->pid, 0);
    if (n->pid == 0) {
        prctl (PR_SET_PDEATHSIG, SIGKILL); /* (never outlives the test) */
        char log[128];
        snprintf (log, sizeof log, "%.60s/%.7s.log", s_dir, n->name);
        int lfd = open (log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        dup2 (lfd, 2);
        execl (exe, exe, "--name", n->name, "--bind",
               n->ep[0] ? n->ep : "tcp://127.0.0.1:*", "--etcd", s_url,
               "--cluster", "t", "--lease-ttl", ttl, "--heartbeat", "100",
               "--discovery-interval", "100", "--ready-file", n->ready,
               (char *) NULL);
        _exit (127);
    }
    cr_assert (tt_wait_file (n->ready, 10000), "%s did not start", n->name);
    FILE *f = fopen (n->ready, "r");
    char ep[256] = "";
    cr_assert_not_null (fgets (ep, sizeof ep, f));
    fclose (f);
    ep[strcspn (ep, "\n")] = '\0';
    snprintf (n->ep, sizeof n->ep, "%s", ep);
}

/*  Does the system (the test's own member) see endpoint ep among the
    members, and is the node named name up? */
static bool
s_sees (tp_discovery *d, const char *ep)
{
    char members[16][256];
    int n = tp_discovery_members (d, members, 16);
    for (int i = 0; i < n && i < 16; i++)
        if (!strcmp (members[i], ep))
            return true;
    return false;
}

/*  Node `who` has every name of `names` up (its _node's peers). */
static bool
s_mesh_at (tp_system *sys, const char *who, const char *const *names, int n)
{
    tp_ref svc;
    if (tp_whereis_at (sys, "_node", who, 1000, &svc) != 0
        || tp_ref_is_nil (svc))
        return false;
    tp_msg *r = NULL;
    if (tp_call (sys, svc, tp_tag ("peers"), 1000, &r, NULL) != 0)
        return false;
    int found = 0;
    for (int k = 0; k < n; k++) {
        tp_reader rd;
        tp_reader_init (&rd, r);
        while (!tp_reader_done (&rd)) {
            const char *name, *ep;
            size_t nl, el;
            uint64_t inc, since, in, out;
            bool up;
            if (tp_reader_next (&rd, "[sUbUUUs]", &name, &nl, &inc, &up, &since,
                                &in, &out, &ep, &el))
                break;
            if (up && nl == strlen (names[k]) && !memcmp (name, names[k], nl)) {
                found++;
                break;
            }
        }
    }
    tp_msg_destroy (&r);
    return found == n;
}

/*  The nodes' logs, for a failure's report. */
static void
s_show_logs (const node_t *n, int count)
{
    for (int i = 0; i < count; i++) {
        char log[128];
        snprintf (log, sizeof log, "%.60s/%.7s.log", s_dir, n[i].name);
        tt_show_log (log, n[i].name);
    }
}

Test (discovery, nodes_that_know_only_etcd_form_a_mesh_leave_and_rejoin,
      .timeout = 120, .fini = s_servers_stop)
{
    S_UNUSED_FAIL ();
    if (access (ETCD, X_OK) != 0)
        cr_skip_test ("etcd-server is not installed (make deps installs it): "
                      "the etcd discovery test does not run");
    s_etcd_start ();
    node_t n[3] = {{.name = "e1"}, {.name = "e2"}, {.name = "e3"}};
    for (int i = 0; i < 3; i++)
        snprintf (n[i].ready, sizeof n[i].ready, "%.60s/%.7s.ready", s_dir,
                  n[i].name);
    /* the test's own node joins the cluster too, to look at it */
    tp_system_opts o = {.workers = 1, .node_name = "eobs", .heartbeat_ms = 100};
    tp_system *sys = tp_system_new (&o);
    char ep[256];
    cr_assert_eq (tp_node_bind (sys, "tcp://127.0.0.1:*", ep, sizeof ep), 0);
    tp_discovery_opts dopts = {.provider = "etcd", .etcd = s_url,
                               .prefix = "/troupe/t", .advertise = ep,
                               .ttl_s = TTL_S, .interval_ms = 100};
    tp_discovery *d = NULL;
    cr_assert_eq (tp_discovery_start (sys, &dopts, &d), 0);
    uint64_t t0 = tt_now_ms ();
    for (int i = 0; i < 3; i++)
        s_node_start (&n[i]);
    static const char *const all[] = {"e1", "e2", "e3", "eobs"};
    uint64_t end = tt_now_ms () + (uint64_t) tt_ms (20000);
    bool mesh = false;
    while (!mesh && tt_now_ms () < end) {
        mesh = true;
        for (int i = 0; i < 3 && mesh; i++) {
            const char *others[3];
            int k = 0;
            for (int j = 0; j < 4; j++)
                if (strcmp (all[j], n[i].name))
                    others[k++] = all[j];
            mesh = s_mesh_at (sys, n[i].name, others, 3);
        }
        if (!mesh)
            poll (NULL, 0, 20); /* (between looks at three processes) */
    }
    uint64_t t_mesh = tt_now_ms () - t0;
    if (!mesh)
        s_show_logs (n, 3);
    cr_assert (mesh, "no full mesh after 20 s");
    for (int i = 0; i < 3; i++) /* (and the test's member sees them all) */
        while (!s_sees (d, n[i].ep) && tt_now_ms () < end)
            poll (NULL, 0, 20);
    t_mesh = tt_now_ms () - t0;
    for (int i = 0; i < 3; i++)
        cr_assert (s_sees (d, n[i].ep), "%s is not among the members seen",
                   n[i].ep);
    /* kill -9 one: its lease expires, the others drop it */
    kill (n[1].pid, SIGKILL);
    waitpid (n[1].pid, NULL, 0);
    uint64_t t1 = tt_now_ms ();
    end = t1 + (uint64_t) tt_ms (20000);
    while (s_sees (d, n[1].ep) && tt_now_ms () < end)
        poll (NULL, 0, 20);
    uint64_t t_leave = tt_now_ms () - t1;
    cr_assert (!s_sees (d, n[1].ep), "the killed node never left");
    /* started again (same endpoint, a new life): it rejoins */
    uint64_t t2 = tt_now_ms ();
    s_node_start (&n[1]);
    static const char *const back[] = {"e1", "e3", "eobs"};
    end = t2 + (uint64_t) tt_ms (20000);
    while (!s_mesh_at (sys, "e2", back, 3) && tt_now_ms () < end)
        poll (NULL, 0, 20);
    uint64_t t_rejoin = tt_now_ms () - t2;
    cr_assert (s_mesh_at (sys, "e2", back, 3), "the restarted node did not "
                                               "rejoin");
    fprintf (stderr,
             "discovery (etcd, lease %d s, looks every 100 ms): full mesh of "
             "4 in %" PRIu64 " ms; a node killed -9 left in %" PRIu64
             " ms; restarted, it rejoined in %" PRIu64 " ms\n",
             TTL_S, t_mesh, t_leave, t_rejoin);

    /* a name claimed on one node is refused on another until released */
    tp_system_opts o2 = {.workers = 1, .node_name = "eobs2",
                         .heartbeat_ms = 100};
    tp_system *sys2 = tp_system_new (&o2);
    char ep2[256];
    cr_assert_eq (tp_node_bind (sys2, "tcp://127.0.0.1:*", ep2, sizeof ep2), 0);
    tp_discovery_opts d2opts = dopts;
    d2opts.advertise = ep2;
    tp_discovery *d2 = NULL;
    cr_assert_eq (tp_discovery_start (sys2, &d2opts, &d2), 0);
    tp_ref a_ref = {tp_system_node (sys), 7, 1};
    tp_ref b_ref = {tp_system_node (sys2), 9, 1};
    cr_assert_eq (tp_discovery_claim (d, "leader", a_ref), 0);
    cr_assert_eq (tp_discovery_claim (d, "leader", a_ref), 0, "idempotent");
    cr_assert_eq (tp_discovery_claim (d2, "leader", b_ref), TP_EEXIST);
    tp_ref who;
    cr_assert_eq (tp_discovery_whereis (d2, "leader", &who), 0);
    cr_assert (tp_ref_eq (who, a_ref) || (who.index == 7 && who.gen == 1),
               "whereis gave another ref");
    cr_assert_eq (tp_discovery_release (d2, "leader"), TP_ENOTFOUND,
                  "released by a node that does not hold it");
    cr_assert_eq (tp_discovery_release (d, "leader"), 0);
    cr_assert_eq (tp_discovery_claim (d2, "leader", b_ref), 0);
    cr_assert_eq (tp_discovery_claim (d, "leader", a_ref), TP_EEXIST);
    /* the holder goes: its claim goes with its lease (revoked at stop) */
    tp_discovery_stop (&d2);
    cr_assert_null (d2);
    cr_assert_eq (tp_discovery_claim (d, "leader", a_ref), 0);
    cr_assert_eq (tp_discovery_claim (d, "bad/name", a_ref), TP_EINVAL);

    tp_discovery_stop (&d);
    tp_system_destroy (&sys2);
    tp_system_destroy (&sys);
    for (int i = 0; i < 3; i++) {
        /* each stops promptly (its peers answer its DRAIN) and cleanly */
        int fd = (int) syscall (SYS_pidfd_open, n[i].pid, 0);
        cr_assert_geq (fd, 0);
        uint64_t t_stop = tt_now_ms ();
        kill (n[i].pid, SIGTERM);
        struct pollfd pf = {fd, POLLIN, 0};
        int ended = poll (&pf, 1, tt_ms (5000));
        close (fd);
        if (ended <= 0) {
            s_show_logs (n, 3);
            kill (n[i].pid, SIGKILL);
        }
        int st;
        waitpid (n[i].pid, &st, 0);
        cr_assert_gt (ended, 0, "%s took over %d ms to stop", n[i].name,
                      tt_ms (5000));
        if (tt_now_ms () - t_stop > 2000u) {
            fprintf (stderr, "discovery: %s took %" PRIu64 " ms to stop\n",
                     n[i].name, tt_now_ms () - t_stop);
            s_show_logs (n, 3);
        }
        if (!WIFEXITED (st) || WEXITSTATUS (st) != 0) {
            char log[128];
            snprintf (log, sizeof log, "%.60s/%.7s.log", s_dir, n[i].name);
            tt_show_log (log, n[i].name);
        }
        cr_assert (WIFEXITED (st) && WEXITSTATUS (st) == 0, "%s status %d",
                   n[i].name, st);
    }
    s_etcd_stop ();
}

Test (discovery, an_etcd_that_does_not_answer_is_said_so)
{
    tp_system *sys = tp_system_new (NULL);
    /* a port bound and not listening: connects are refused, and no other
       test (an etcd starting) can take it meanwhile */
    int fd;
    char url[64];
    snprintf (url, sizeof url, "http://127.0.0.1:%d", s_bound_port (&fd));
    tp_discovery_opts o = {.provider = "etcd", .etcd = url,
                           .advertise = "tcp://127.0.0.1:1"};
    tp_discovery *d = NULL;
    cr_assert_eq (tp_discovery_start (sys, &o, &d), TP_ENODE);
    cr_assert_null (d);
    tp_discovery_opts bad = {.provider = "etcd", .etcd = url,
                             .advertise = "tcp://*:5"};
    cr_assert_eq (tp_discovery_start (sys, &bad, &d), TP_EINVAL);
    tp_discovery_opts none = {.provider = "zookeeper", .seeds = "x"};
    cr_assert_eq (tp_discovery_start (sys, &none, &d), TP_EINVAL);
    close (fd);
    tp_system_destroy (&sys);
}

Test (discovery, seeds_and_dns_names_are_connected_to, .timeout = 60,
      .fini = s_servers_stop)
{
    /* b listens; a is given b by a seed list; c by DNS (localhost A
       records with b's port) */
    tp_system_opts ob = {.workers = 1, .node_name = "sb", .heartbeat_ms = 100};
    tp_system *b = tp_system_new (&ob);
    char ep[256];
    cr_assert_eq (tp_node_bind (b, "tcp://127.0.0.1:*", ep, sizeof ep), 0);
    int port = atoi (strrchr (ep, ':') + 1);
    tp_system_opts oa = {.workers = 1, .node_name = "sa", .heartbeat_ms = 100};
    tp_system *a = tp_system_new (&oa);
    tp_discovery_opts sa = {.provider = "static", .seeds = ep,
                            .interval_ms = 50};
    tp_discovery *da = NULL;
    cr_assert_eq (tp_discovery_start (a, &sa, &da), 0);
    cr_assert (tt_wait_peer (a, "sb", true, 10000), "the seed was not joined");
    tp_system_opts oc = {.workers = 1, .node_name = "sc", .heartbeat_ms = 100};
    tp_system *c = tp_system_new (&oc);
    tp_discovery_opts sc = {.provider = "dns", .dns_name = "127.0.0.1",
                            .dns_port = port, .interval_ms = 50};
    tp_discovery *dc = NULL;
    cr_assert_eq (tp_discovery_start (c, &sc, &dc), 0);
    cr_assert (tt_wait_peer (c, "sb", true, 10000),
               "the name's address was not joined");
    char m[4][256];
    cr_assert_geq (tp_discovery_members (dc, m, 4), 1);
    cr_assert_eq (tp_discovery_claim (dc, "x", (tp_ref){1, 1, 1}), TP_ENOTSUP);
    tp_discovery_stop (&da);
    tp_discovery_stop (&dc);
    tp_system_destroy (&a);
    tp_system_destroy (&c);

    /* SRV records (target and port), from a real DNS server: dnsmasq on
       loopback, asked directly (dns_server) */
    if (access ("/usr/sbin/dnsmasq", X_OK) == 0) {
        int dport = s_free_port ();
        char portarg[32], srv[128];
        snprintf (portarg, sizeof portarg, "--port=%d", dport);
        snprintf (srv, sizeof srv, "--srv-host=_troupe._tcp.tp.test,localhost,%d",
                  port);
        pid_t dm = s_dnsmasq = fork ();
        cr_assert_geq (dm, 0);
        if (dm == 0) {
            prctl (PR_SET_PDEATHSIG, SIGKILL);
            int null = open ("/dev/null", O_WRONLY);
            dup2 (null, 2);
            execl ("/usr/sbin/dnsmasq", "dnsmasq", "--keep-in-foreground",
                   "--no-resolv", "--no-hosts", "--conf-file=/dev/null",
                   "--listen-address=127.0.0.1", "--bind-interfaces",
                   "--pid-file=", "--user=root", portarg, srv, (char *) NULL);
            _exit (127);
        }
        char server[32];
        snprintf (server, sizeof server, "127.0.0.1:%d", dport);
        tp_system_opts od = {.workers = 1, .node_name = "sd",
                             .heartbeat_ms = 100};
        tp_system *sd = tp_system_new (&od);
        tp_discovery_opts so = {.provider = "dns",
                                .dns_name = "_troupe._tcp.tp.test",
                                .dns_server = server, .interval_ms = 50};
        tp_discovery *dd = NULL;
        cr_assert_eq (tp_discovery_start (sd, &so, &dd), 0);
        cr_assert (tt_wait_peer (sd, "sb", true, 10000),
                   "the SRV record's target was not joined");
        cr_assert_eq (tp_discovery_members (dd, m, 4), 1);
        char want[64];
        snprintf (want, sizeof want, "tcp://localhost:%d", port);
        cr_assert_str_eq (m[0], want);
        tp_discovery_stop (&dd);
        tp_system_destroy (&sd);
        s_servers_stop ();
    }
    else
        fprintf (stderr, "discovery: no dnsmasq (make deps installs "
                         "dnsmasq-base): SRV records not tested\n");
    tp_system_destroy (&b);
}
