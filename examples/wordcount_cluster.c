/*  examples/wordcount_cluster.c: the flagship demo (`make demo`).

    A word count spread over three processes, one of which is killed
    part-way, and finished by the other two:

      1. Three troupe-node processes start on loopback (n1, n2, n3), each
         running the wordcount module (examples/modules/wordcount.c): a
         pool of workers, one per worker thread, registered as "wc_pool".
      2. This program is a fourth node. Its coordinator actor hands out
         480 jobs ("count document #seed": 400,000 words each, made from
         the seed and counted, see examples/wordcount.h), at most 4 at a
         time per node, and adds up the answers.
      3. At a third of the way, n2 is killed with SIGKILL. Its jobs in
         flight fail at once with TP_EDOWN when n2 is declared down (three
         silent heartbeats of 200 ms); the coordinator hears _nodedown and
         gives those jobs to n1 and n3.
      4. The result is checked against the same count done in this one
         process, and both times are printed.

    Every process it starts is stopped before it exits (and would die
    with it anyway: PR_SET_PDEATHSIG).

    Run: make demo   (or: make && build/release/examples/wordcount_cluster)
*/
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <troupe/troupe.h>

#include "wordcount.h"

#define NODES 3
#define JOBS 480
#define PER_NODE 4   /* jobs in flight per node */
#define VICTIM 1     /* n2 */
#define HEARTBEAT_MS 200

typedef struct {
    char name[8];
    pid_t pid;
    char endpoint[256];
    tp_ref pool;
    bool alive;      /* (coordinator's view) */
    int inflight;
    _Atomic long done;
} node_t;

typedef struct {
    node_t node[NODES];
    uint64_t queue[JOBS]; /* seeds to hand out (a stack) */
    int nqueue;
    bool finished[JOBS];
    wc_counts sum;
    _Atomic long done;
    _Atomic long retried;
    _Atomic uint64_t first_retry_ms; /* when a job first came back failed */
} demo_t;

typedef struct {
    demo_t *d;
    int node;
    uint64_t seed;
} job_t;

static uint64_t
s_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

/* ------------------------------------------------------------------ */
/*  The coordinator actor                                              */

static void s_dispatch (tp_actor *self, demo_t *d);

static void
s_answer (tp_actor *self, int status, tp_msg *reply, void *arg)
{
    job_t *j = arg;
    demo_t *d = j->d;
    node_t *n = &d->node[j->node];
    n->inflight--;
    const void *blob;
    size_t len;
    uint64_t words;
    if (status == 0 && tp_msg_is (reply, "counts")
        && tp_msg_unpack (reply, "xU", &blob, &len, &words) == 0
        && len == WC_VOCAB * 4) {
        if (!d->finished[j->seed]) {
            const uint8_t *le = blob;
            for (int k = 0; k < WC_VOCAB; k++)
                d->sum.count[k] += (uint32_t) le[4 * k]
                                   | (uint32_t) le[4 * k + 1] << 8
                                   | (uint32_t) le[4 * k + 2] << 16
                                   | (uint32_t) le[4 * k + 3] << 24;
            d->sum.total += words;
            d->finished[j->seed] = true;
            atomic_fetch_add (&n->done, 1);
            atomic_fetch_add (&d->done, 1);
        }
    }
    else {
        /* the node died under it (TP_EDOWN), or it failed: again, elsewhere */
        if (status == TP_EDOWN)
            n->alive = false;
        d->queue[d->nqueue++] = j->seed;
        if (atomic_fetch_add (&d->retried, 1) == 0)
            atomic_store (&d->first_retry_ms, s_ms ());
    }
    free (j);
    if (atomic_load (&d->done) == JOBS)
        tp_exit (self, 0);
    else
        s_dispatch (self, d);
}

static void
s_dispatch (tp_actor *self, demo_t *d)
{
    for (bool more = true; more && d->nqueue > 0;) {
        more = false;
        for (int i = 0; i < NODES && d->nqueue > 0; i++) {
            node_t *n = &d->node[i];
            if (!n->alive || n->inflight >= PER_NODE)
                continue;
            job_t *j = malloc (sizeof *j);
            *j = (job_t){d, i, d->queue[--d->nqueue]};
            if (tp_ask (self, n->pool, tp_tag ("count"), 30000, s_answer, j,
                        "U", j->seed)
                != 0) {
                d->queue[d->nqueue++] = j->seed;
                free (j);
                n->alive = false;
                continue;
            }
            n->inflight++;
            more = true;
        }
    }
}

static int
coord_init (tp_actor *self, void *arg)
{
    tp_node_monitor (self, true); /* (to hear that a node went down) */
    s_dispatch (self, arg);
    return 0;
}

static void
coord_receive (tp_actor *self, tp_msg *msg)
{
    demo_t *d = tp_arg (self);
    const char *name;
    size_t len;
    uint64_t id;
    tp_tag_t why;
    if (tp_msg_is (msg, "_nodedown")
        && tp_msg_unpack (msg, "sUt", &name, &len, &id, &why) == 0)
        for (int i = 0; i < NODES; i++)
            if (strlen (d->node[i].name) == len
                && memcmp (d->node[i].name, name, len) == 0)
                d->node[i].alive = false; /* (its jobs come back TP_EDOWN) */
    s_dispatch (self, d);
}

static const tp_behavior coordinator = {"coordinator", coord_init,
                                        coord_receive, NULL};

/* ------------------------------------------------------------------ */
/*  The nodes                                                          */

static pid_t
s_start_node (const char *exe, const char *module, const char *name,
              const char *ready)
{
    char hb[16];
    snprintf (hb, sizeof hb, "%d", HEARTBEAT_MS);
    pid_t pid = fork ();
    if (pid == 0) {
        prctl (PR_SET_PDEATHSIG, SIGKILL); /* never outlive the demo */
        int null = open ("/dev/null", O_WRONLY);
        if (null >= 0) { /* (the nodes' own log lines: not for this screen) */
            dup2 (null, 1);
            dup2 (null, 2);
        }
        execl (exe, exe, "--name", name, "--bind", "tcp://127.0.0.1:*",
               "--module", module, "--workers", "2", "--heartbeat", hb,
               "--ready-file", ready, (char *) NULL);
        _exit (127);
    }
    return pid;
}

/*  Waits (bounded) for a node's ready file; reads its endpoint. */
static bool
s_wait_ready (const char *ready, char *ep, size_t cap, pid_t pid)
{
    uint64_t t0 = s_ms ();
    while (s_ms () - t0 < 15000) {
        FILE *f = fopen (ready, "r");
        if (f) {
            bool ok = fgets (ep, (int) cap, f) != NULL;
            fclose (f);
            ep[strcspn (ep, "\n")] = '\0';
            return ok && *ep;
        }
        if (waitpid (pid, NULL, WNOHANG) == pid)
            return false; /* it died */
        usleep (10000);
    }
    return false;
}

static void
s_bar (demo_t *d, bool tty, bool final)
{
    long done = atomic_load (&d->done);
    int w = 40, full = (int) (done * w / JOBS);
    char bar[64];
    for (int i = 0; i < w; i++)
        bar[i] = i < full ? '#' : '.';
    bar[w] = '\0';
    printf ("%s[%s] %3ld/%d jobs   n1 %3ld  n2 %3ld  n3 %3ld%s", tty ? "\r" : "  ",
            bar, done, JOBS, atomic_load (&d->node[0].done),
            atomic_load (&d->node[1].done), atomic_load (&d->node[2].done),
            tty && !final ? "" : "\n");
    fflush (stdout);
}

int
main (int argc, char **argv)
{
    (void) argc;
    char self[PATH_MAX];
    ssize_t sl = readlink ("/proc/self/exe", self, sizeof self - 1);
    snprintf (self + (sl > 0 ? sl : 0), sizeof self - (size_t) (sl > 0 ? sl : 0),
              "%s", sl > 0 ? "" : argv[0]);
    char *build = dirname (dirname (self));
    char exe[PATH_MAX + 32], module[PATH_MAX + 32];
    snprintf (exe, sizeof exe, "%s/tools/troupe-node", build);
    snprintf (module, sizeof module, "%s/modules/libwordcount.so", build);
    if (access (exe, X_OK) || access (module, R_OK)) {
        fprintf (stderr, "demo: %s or %s is missing (run make)\n", exe,
                 module);
        return 1;
    }
    bool tty = isatty (1);
    printf ("troupe demo: a word count over 3 processes, one of them killed "
            "part-way.\n\n");
    printf ("The job: %d documents of %d words each (%.0f million words), "
            "counted per word.\n",
            JOBS, WC_WORDS, JOBS * (double) WC_WORDS / 1e6);

    char dir[] = "/tmp/troupe-demo-XXXXXX";
    if (!mkdtemp (dir))
        return 1;
    static demo_t d;
    int rc = 1;
    tp_system *sys = NULL;
    char ready[NODES][PATH_MAX];
    for (int i = 0; i < NODES; i++) {
        node_t *n = &d.node[i];
        snprintf (n->name, sizeof n->name, "n%d", i + 1);
        snprintf (ready[i], sizeof ready[i], "%s/%s.ready", dir, n->name);
        n->pid = s_start_node (exe, module, n->name, ready[i]);
    }
    for (int i = 0; i < NODES; i++)
        if (!s_wait_ready (ready[i], d.node[i].endpoint,
                           sizeof d.node[i].endpoint, d.node[i].pid)) {
            fprintf (stderr, "demo: node %s did not start\n", d.node[i].name);
            goto cleanup;
        }
    printf ("Started 3 nodes (troupe-node processes, a pool of 2 workers "
            "each):\n");
    for (int i = 0; i < NODES; i++)
        printf ("  %s  pid %-7d %s\n", d.node[i].name, (int) d.node[i].pid,
                d.node[i].endpoint);

    tp_system_opts so = {.node_name = "demo", .heartbeat_ms = HEARTBEAT_MS};
    sys = tp_system_new (&so);
    if (!sys)
        goto cleanup;
    tp_system_set_log (sys, TP_LOG_ERROR, NULL, NULL);
    for (int i = 0; i < NODES; i++) {
        node_t *n = &d.node[i];
        if (tp_node_connect (sys, n->endpoint, 5000, NULL) != 0
            || tp_whereis_at (sys, "wc_pool", n->name, 5000, &n->pool) != 0
            || tp_ref_is_nil (n->pool)) {
            fprintf (stderr, "demo: cannot reach %s's pool\n", n->name);
            goto cleanup;
        }
        n->alive = true;
    }
    for (int i = 0; i < JOBS; i++)
        d.queue[d.nqueue++] = (uint64_t) (JOBS - 1 - i);
    printf ("\nThis process (node \"demo\") hands the jobs out, %d at a time "
            "per node:\n",
            PER_NODE);

    uint64_t t0 = s_ms ();
    tp_ref coord;
    if (tp_spawn (sys, &coordinator, &d, NULL, &coord) != 0)
        goto cleanup;
    bool killed = false;
    uint64_t killed_at = 0;
    long last_line = -1;
    while (atomic_load (&d.done) < JOBS) {
        if (tp_system_wait_for (sys, coord, 100, NULL) == 0)
            break;
        long done = atomic_load (&d.done);
        if (tty)
            s_bar (&d, tty, false);
        else if (done / (JOBS / 10) != last_line) {
            last_line = done / (JOBS / 10);
            s_bar (&d, tty, false);
        }
        if (!killed && done >= JOBS / 3) {
            kill (d.node[VICTIM].pid, SIGKILL);
            killed = true;
            killed_at = s_ms ();
            printf ("%s>>> kill -9 %d: node n2 is gone, with %d jobs in "
                    "flight. n1 and n3 will take them over.\n",
                    tty ? "\n" : "", (int) d.node[VICTIM].pid, PER_NODE);
        }
    }
    uint64_t wall = s_ms () - t0;
    s_bar (&d, tty, true);
    printf ("Done in %.2f s: n1 did %ld jobs, n2 %ld before it was killed, n3 "
            "%ld; %ld jobs were given again.\n",
            wall / 1000.0, atomic_load (&d.node[0].done),
            atomic_load (&d.node[1].done), atomic_load (&d.node[2].done),
            atomic_load (&d.retried));
    uint64_t back = atomic_load (&d.first_retry_ms);
    if (killed && back)
        printf ("(n2's jobs in flight failed with TP_EDOWN %.2f s after the "
                "kill: n2 was declared down after 3 silent heartbeats of %d "
                "ms)\n",
                (back - killed_at) / 1000.0, HEARTBEAT_MS);

    printf ("\nChecking: the same count in this one process ... ");
    fflush (stdout);
    uint64_t t1 = s_ms ();
    wc_counts one = {{0}, 0}, c;
    char *buf = malloc ((size_t) WC_WORDS * 12);
    for (uint64_t s = 0; s < JOBS; s++) {
        wc_job (s, buf, &c);
        for (int k = 0; k < WC_VOCAB; k++)
            one.count[k] += c.count[k];
        one.total += c.total;
    }
    free (buf);
    uint64_t single = s_ms () - t1;
    bool same = one.total == d.sum.total
                && memcmp (one.count, d.sum.count, sizeof one.count) == 0;
    printf ("%.2f s.\n", single / 1000.0);
    printf ("\n%llu words. Most frequent: ", (unsigned long long) d.sum.total);
    for (int k = 0; k < 5; k++)
        printf ("%s%s %u", k ? ", " : "", wc_vocab[k], d.sum.count[k]);
    printf (" ... \"troupe\" %u.\n", d.sum.count[WC_VOCAB - 1]);
    printf ("Verified: %s. Cluster %.2f s (with a node killed), one process "
            "%.2f s, on this machine's %ld cores.\n",
            same ? "the cluster's counts equal the single-process counts"
                 : "MISMATCH",
            wall / 1000.0, single / 1000.0, sysconf (_SC_NPROCESSORS_ONLN));
    rc = same && killed ? 0 : 1;

cleanup:
    tp_system_destroy (&sys);
    for (int i = 0; i < NODES; i++)
        if (d.node[i].pid > 0)
            kill (d.node[i].pid, SIGTERM);
    for (int i = 0; i < NODES; i++)
        if (d.node[i].pid > 0)
            waitpid (d.node[i].pid, NULL, 0);
    for (int i = 0; i < NODES; i++)
        unlink (ready[i]);
    rmdir (dir);
    printf ("All 3 node processes stopped. demo: %s\n", rc ? "FAILED" : "ok");
    return rc;
}
