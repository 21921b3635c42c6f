/*  tests/test_process.c: process actors: a module's actor in a troupe-node
    child, reached by a normal ref; crashes (SIGSEGV, abort, exit) become
    its exit reason at once; a supervisor restarts it; a parent killed -9
    leaves no child behind. The module is examples/modules/flaky.c. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <libgen.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "supervisor.h"
#include "testutil.h"

static char g_module[4096];

/*  Finds the module and troupe-node next to this test binary
    (BUILD/tests/test_process -> BUILD/modules, BUILD/tools). */
static void
s_paths (void)
{
    char self[4096];
    ssize_t len = readlink ("/proc/self/exe", self, sizeof self - 1);
    cr_assert_gt (len, 0);
    self[len] = '\0';
    char *dir = dirname (dirname (self));
    snprintf (g_module, sizeof g_module, "%s/modules/libflaky.so", dir);
    char node[4096];
    snprintf (node, sizeof node, "%s/tools/troupe-node", dir);
    cr_assert_eq (access (g_module, R_OK), 0, "no %s", g_module);
    cr_assert_eq (access (node, X_OK), 0, "no %s", node);
    setenv ("TROUPE_NODE", node, 1);
    /* A sanitized troupe-node would catch the module's SIGSEGV and SIGABRT
       and exit with a code of its own: let the signals kill it, as they
       kill a production build (the children read these; this process
       read its own at start). */
    static const char *vars[] = {"ASAN_OPTIONS", "TSAN_OPTIONS",
                                 "UBSAN_OPTIONS"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) {
        const char *old = getenv (vars[i]);
        char buf[4096];
        snprintf (buf, sizeof buf, "%s%shandle_segv=0:handle_abort=0",
                  old ? old : "", old && *old ? ":" : "");
        if (!old || !strstr (old, "handle_segv=0"))
            setenv (vars[i], buf, 1);
    }
}

static tp_system *
s_system (void)
{
    s_paths ();
    /* (heartbeats scale like every bound: under valgrind this process
       is slow enough to look silent to its children) */
    tp_system_opts o = {.workers = 2, .node_name = "host",
                        .heartbeat_ms = tt_ms (500)};
    tp_system *sys = tp_system_new (&o);
    cr_assert_not_null (sys);
    tp_system_set_log (sys, TP_LOG_WARN, NULL, NULL);
    return sys;
}

/*  Asks ref "work" [i n]; returns the status, the answer in *out. */
static int
s_work (tp_system *sys, tp_ref ref, int n, int *out, tp_tag_t *why)
{
    tp_msg *r = NULL;
    int rc = tp_call (sys, ref, tp_tag ("work"), tt_ms (20000), &r, "i", n);
    if (rc == 0)
        cr_assert_eq (tp_msg_unpack (r, "i", out), 0);
    else if (rc == TP_EDOWN && why) {
        tp_ref who;
        cr_assert_eq (tp_msg_unpack (r, "rt", &who, why), 0);
    }
    tp_msg_destroy (&r);
    return rc;
}

Test (process, answers_asks_and_tells_like_any_actor, .timeout = 60)
{
    tp_system *sys = s_system ();
    tp_spawn_opts o = {.kind = TP_PROCESS, .module = g_module,
                       .name = "flaky"};
    tp_ref p;
    cr_assert_eq (tp_spawn (sys, NULL, NULL, &o, &p), 0);
    cr_assert (tp_ref_eq (tp_whereis (sys, "flaky"), p));
    int v = 0;
    /* (the first ask waits in the proxy until the child has called in) */
    cr_assert_eq (s_work (sys, p, 21, &v, NULL), 0);
    cr_assert_eq (v, 42);
    int pid = tp_process_pid (sys, p);
    cr_assert_gt (pid, 0);
    cr_assert_neq (pid, getpid ());
    tp_msg *r = NULL;
    cr_assert_eq (tp_call (sys, p, tp_tag ("pid"), tt_ms (5000), &r, NULL), 0);
    int theirs = 0;
    cr_assert_eq (tp_msg_unpack (r, "i", &theirs), 0);
    tp_msg_destroy (&r);
    cr_assert_eq (theirs, pid, "the actor runs in the child");
    /* a stop ends the child too */
    cr_assert_eq (tp_system_stop (sys, p, 0), 0);
    tp_tag_t why;
    cr_assert_eq (tp_system_wait_for (sys, p, tt_ms (5000), &why), 0);
    uint64_t t0 = tt_now_ms ();
    while (kill (pid, 0) == 0)
        cr_assert_lt (tt_now_ms () - t0, (uint64_t) tt_ms (5000),
                      "child %d outlived its actor", pid);
    tp_system_destroy (&sys);
}

/*  The process ends by `how`; the ask in flight fails at once with the
    reason `want`, and so does the actor. */
static void
s_dies (const char *how, const char *fmt, int arg, const char *want)
{
    tp_system *sys = s_system ();
    tp_spawn_opts o = {.kind = TP_PROCESS, .module = g_module};
    tp_ref p;
    cr_assert_eq (tp_spawn (sys, NULL, NULL, &o, &p), 0);
    int v;
    cr_assert_eq (s_work (sys, p, 1, &v, NULL), 0);
    tp_msg *r = NULL;
    uint64_t t0 = tt_now_ms ();
    cr_assert_eq (tp_call (sys, p, tp_tag (how), tt_ms (30000), &r, fmt, arg),
                  TP_EDOWN);
    uint64_t took = tt_now_ms () - t0;
    tp_ref who;
    tp_tag_t why = 0;
    cr_assert_eq (tp_msg_unpack (r, "rt", &who, &why), 0);
    tp_msg_destroy (&r);
    char t[16];
    tp_tag_name (why, t, sizeof t);
    cr_assert_eq (why, tp_tag (want), "reason %s, not %s", t, want);
    cr_log_info ("process actor: %s -> TP_EDOWN %s after %" PRIu64 " ms\n",
                 how, t, took);
    cr_assert_lt (took, (uint64_t) tt_ms (2000));
    cr_assert_eq (tp_system_wait_for (sys, p, tt_ms (5000), &why), 0);
    tp_system_destroy (&sys);
}

Test (process, a_segfault_is_reason_sigsegv_at_once, .timeout = 60)
{
    s_dies ("crash", NULL, 0, "sigsegv");
}

Test (process, an_abort_is_reason_sigabrt, .timeout = 60)
{
    s_dies ("abort", NULL, 0, "sigabrt");
}

Test (process, an_exit_is_reason_exit_n, .timeout = 60)
{
    s_dies ("exit", "i", 3, "exit3");
}

Test (process, a_missing_module_ends_the_actor, .timeout = 60)
{
    tp_system *sys = s_system ();
    tp_spawn_opts o = {.kind = TP_PROCESS, .module = "/nonexistent/lib.so"};
    tp_ref p;
    cr_assert_eq (tp_spawn (sys, NULL, NULL, &o, &p), 0);
    tp_tag_t why = 0;
    cr_assert_eq (tp_system_wait_for (sys, p, tt_ms (10000), &why), 0);
    cr_assert (why == tp_tag ("exit1") || why == tp_tag ("noproc"));
    tp_spawn_opts bad = {.kind = TP_PROCESS};
    cr_assert_eq (tp_spawn (sys, NULL, NULL, &bad, &p), TP_EINVAL);
    tp_system_destroy (&sys);
}

/*  A supervised process actor that segfaults is started again and
    answers the next ask; the config reaches the module's init. */
Test (process, a_supervisor_restarts_a_process_actor, .timeout = 120)
{
    tp_system *sys = s_system ();
    tp_child_spec kids[] = {
        {.id = "worker",
         .opts = {.kind = TP_PROCESS, .module = g_module, .config = "every=3",
                  .name = "worker"},
         .restart = TP_PERMANENT}};
    tp_sup_spec spec = {.strategy = TP_ONE_FOR_ONE, .intensity = 100,
                        .period_ms = 60000, .children = kids, .nchildren = 1};
    tp_ref sup;
    cr_assert_eq (tp_supervisor_start (sys, &spec, NULL, &sup), 0);
    int done = 0, crashes = 0;
    uint64_t worst = 0, sum = 0;
    int v;
    for (int i = 0; done < 10; i++) {
        cr_assert_lt (i, 100, "no progress");
        tp_ref w;
        uint64_t tw0 = tt_now_ms ();
        while (tp_ref_is_nil (w = tp_whereis (sys, "worker"))) {
            cr_assert_lt (tt_now_ms () - tw0, (uint64_t) tt_ms (10000),
                          "the worker is not registered");
            sched_yield ();
        }
        tp_tag_t why = 0;
        uint64_t t0 = tt_now_ms ();
        int rc = s_work (sys, w, i, &v, &why);
        if (rc == 0) {
            cr_assert_eq (v, 2 * i);
            done++;
            continue;
        }
        cr_assert_eq (rc, TP_EDOWN);
        cr_assert_eq (why, tp_tag ("sigsegv"));
        crashes++;
        /* restart latency: from the crash to the next answer */
        tp_ref w2;
        uint64_t tw = tt_now_ms ();
        while (tp_ref_is_nil (w2 = tp_whereis (sys, "worker"))
               || tp_ref_eq (w2, w)) {
            cr_assert_lt (tt_now_ms () - tw, (uint64_t) tt_ms (10000),
                          "not restarted");
            sched_yield ();
        }
        cr_assert_eq (s_work (sys, w2, 1000, &v, NULL), 0);
        cr_assert_eq (v, 2000);
        done++; /* (every=3: that was the first of the next process) */
        uint64_t lat = tt_now_ms () - t0;
        sum += lat;
        if (lat > worst)
            worst = lat;
    }
    cr_assert_geq (crashes, 2);
    cr_log_info ("process actor under a supervisor: %d segfaults, crash to "
                 "next answer %.1f ms on average, %" PRIu64 " ms at worst\n",
                 crashes, (double) sum / crashes, worst);
    cr_assert_eq (tp_supervisor_stop (sys, sup, tt_ms (10000)), 0);
    tp_system_destroy (&sys);
    TT_NO_FAILURES ();
}

/* ---- a parent killed -9 leaves no child ---------------------------- */

/*  The parent role (TT_PROC_PARENT=fd): starts three process actors,
    writes their pids to fd, then waits to be killed. */
__attribute__ ((constructor)) static void
s_parent_role (void)
{
    const char *fdtxt = getenv ("TT_PROC_PARENT");
    if (!fdtxt)
        return;
    int fd = atoi (fdtxt);
    tp_system_opts o = {.workers = 1, .node_name = "parent"};
    tp_system *sys = tp_system_new (&o);
    char line[256] = "";
    for (int i = 0; i < 3; i++) {
        tp_spawn_opts so = {.kind = TP_PROCESS, .module = getenv ("TT_MODULE")};
        tp_ref p;
        if (tp_spawn (sys, NULL, NULL, &so, &p) != 0)
            _exit (3);
        tp_msg *r = NULL;
        if (tp_call (sys, p, tp_tag ("pid"), 20000, &r, NULL) != 0)
            _exit (4);
        int pid = 0;
        tp_msg_unpack (r, "i", &pid);
        tp_msg_destroy (&r);
        snprintf (line + strlen (line), sizeof line - strlen (line), "%d ",
                  pid);
    }
    strcat (line, "\n");
    if (write (fd, line, strlen (line)) < 0)
        _exit (5);
    for (;;)
        pause ();
}

Test (process, children_die_with_a_parent_killed_9, .timeout = 60)
{
    s_paths ();
    /* orphans come to this process, so that their end can be waited for */
    cr_assert_eq (prctl (PR_SET_CHILD_SUBREAPER, 1), 0);
    char self[4096];
    ssize_t len = readlink ("/proc/self/exe", self, sizeof self - 1);
    cr_assert_gt (len, 0);
    self[len] = '\0';
    int fds[2];
    cr_assert_eq (pipe (fds), 0);
    sigset_t chld;
    sigemptyset (&chld);
    sigaddset (&chld, SIGCHLD);
    sigprocmask (SIG_BLOCK, &chld, NULL);
    pid_t parent = fork ();
    if (parent == 0) {
        sigprocmask (SIG_UNBLOCK, &chld, NULL);
        char fdtxt[16];
        snprintf (fdtxt, sizeof fdtxt, "%d", fds[1]);
        close (fds[0]);
        setenv ("TT_PROC_PARENT", fdtxt, 1);
        setenv ("TT_MODULE", g_module, 1);
        execl (self, "test_process", (char *) NULL);
        _exit (127);
    }
    close (fds[1]);
    FILE *f = fdopen (fds[0], "r");
    int pids[3] = {0, 0, 0};
    cr_assert_eq (fscanf (f, "%d %d %d", &pids[0], &pids[1], &pids[2]), 3,
                  "the parent did not start its children");
    fclose (f);
    for (int i = 0; i < 3; i++)
        cr_assert_eq (kill (pids[i], 0), 0, "child %d is not running", pids[i]);
    uint64_t t0 = tt_now_ms ();
    cr_assert_eq (kill (parent, SIGKILL), 0);
    cr_assert_eq (waitpid (parent, NULL, 0), parent);
    /* each orphan is reparented here and reaped: bounded, woken by
       SIGCHLD (blocked above, so none is missed between the looks) */
    int gone = 0;
    while (gone < 3) {
        int st;
        pid_t p = waitpid (-1, &st, WNOHANG);
        if (p > 0) {
            for (int i = 0; i < 3; i++)
                if (p == pids[i])
                    gone++;
            continue;
        }
        uint64_t spent = tt_now_ms () - t0;
        cr_assert_lt (spent, (uint64_t) tt_ms (5000),
                      "%d of 3 children outlived their parent", 3 - gone);
        uint64_t left = (uint64_t) tt_ms (5000) - spent;
        struct timespec ts = {(time_t) (left / 1000),
                              (long) (left % 1000) * 1000000L};
        sigtimedwait (&chld, NULL, &ts);
    }
    sigprocmask (SIG_UNBLOCK, &chld, NULL);
    cr_log_info ("process actor: 3 children gone %" PRIu64 " ms after their "
                 "parent was killed -9\n",
                 tt_now_ms () - t0);
}


/*  200 segfaults of a supervised process actor: every child process is
    reaped, and threads and fds come back to what they were. */
Test (process, two_hundred_crashes_leave_no_process_thread_or_fd,
      .timeout = 240)
{
    enum { CYCLES = 200 };
    tp_system *sys = s_system ();
    tp_child_spec kids[] = {
        {.id = "w", .opts = {.kind = TP_PROCESS, .module = g_module,
                             .name = "w"},
         .restart = TP_PERMANENT}};
    tp_sup_spec spec = {.strategy = TP_ONE_FOR_ONE, .intensity = 1000000,
                        .period_ms = 1000, .children = kids, .nchildren = 1};
    tp_ref sup;
    cr_assert_eq (tp_supervisor_start (sys, &spec, NULL, &sup), 0);
    int pids[CYCLES];
    int threads0 = 0, fds0 = 0;
    uint64_t t0 = tt_now_ms ();
    for (int i = 0; i < CYCLES; i++) {
        tp_ref w;
        uint64_t tw = tt_now_ms ();
        while (tp_ref_is_nil (w = tp_whereis (sys, "w"))) {
            cr_assert_lt (tt_now_ms () - tw, (uint64_t) tt_ms (10000));
            sched_yield (); /* (valgrind runs one thread at a time) */
        }
        int v = 0;
        tp_tag_t why = 0;
        int rc = s_work (sys, w, i, &v, &why);
        char t[16] = "";
        tp_tag_name (why, t, sizeof t);
        cr_assert_eq (rc, 0, "cycle %d: %s (%s)", i, tp_errname (rc), t);
        pids[i] = tp_process_pid (sys, w);
        cr_assert_gt (pids[i], 0);
        if (i == 1) { /* (after one cycle: caches and tables at size) */
            threads0 = tt_count_dir ("/proc/self/task");
            fds0 = tt_count_dir ("/proc/self/fd");
        }
        tp_msg *r = NULL;
        cr_assert_eq (tp_call (sys, w, tp_tag ("crash"), tt_ms (10000), &r,
                               NULL),
                      TP_EDOWN);
        tp_msg_destroy (&r);
        while (tp_ref_eq (tp_whereis (sys, "w"), w)) {
            cr_assert_lt (tt_now_ms () - tw, (uint64_t) tt_ms (10000));
            sched_yield ();
        }
    }
    uint64_t took = tt_now_ms () - t0;
    /* every crashed child is gone (reaped by the host thread) */
    for (int i = 0; i < CYCLES; i++) {
        uint64_t tk = tt_now_ms ();
        while (kill (pids[i], 0) == 0)
            cr_assert_lt (tt_now_ms () - tk, (uint64_t) tt_ms (5000),
                          "child %d (cycle %d) is still there", pids[i], i);
    }
    int threads1 = tt_count_dir ("/proc/self/task");
    int fds1 = tt_count_dir ("/proc/self/fd");
    cr_log_info ("process actor: %d segfault/restart cycles in %" PRIu64
                 " ms (%.1f ms each); threads %d -> %d, fds %d -> %d\n",
                 CYCLES, took, (double) took / CYCLES, threads0, threads1,
                 fds0, fds1);
    cr_assert_leq (threads1, threads0, "threads left behind");
    cr_assert_leq (fds1, fds0 + 4, "fds left behind: %d -> %d", fds0, fds1);
    cr_assert_eq (tp_supervisor_stop (sys, sup, tt_ms (10000)), 0);
    tp_system_destroy (&sys);
    TT_NO_FAILURES ();
}
