/*  examples/supervision.c: a supervision tree that keeps the work going
    while its workers crash.

    Erlang/OTP's answer to failure is not to prevent crashes but to
    restart what crashed, from a known state, by a supervisor:

        init([]) -> {ok, {#{strategy => one_for_one, intensity => 20},
                          [#{id => loop, start => {sq, start_link, []}},
                           #{id => proc, start => {sq_port, start_link, []}}]}}.

    Here the tree has two workers that square numbers:

      - "sq_loop", a loop actor that ends itself with reason "boom" on
        every 7th job (a bug that C code can catch);
      - "sq_proc", a PROCESS actor: the flaky module
        (examples/modules/flaky.c) in a troupe-node child process, which
        dies of SIGSEGV on every 5th job (a bug that kills a C process).

    main hands out 60 jobs, alternating between the two, by name. A job
    whose worker crashed fails at once with TP_EDOWN (its reason says
    how: boom, sigsegv); main looks the name up again (the supervisor has
    restarted the worker by then, or does so within microseconds) and
    hands the job to the new one. At the end it checks every answer and
    prints the restarts. The supervisor's log lines (stderr) show each
    restart as it happens.

    Run: make examples tools && build/release/examples/supervision
    (troupe-node and the module are found next to this program, or set
    TROUPE_NODE and FLAKY_MODULE.)
*/
#include <libgen.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <troupe/supervisor.h>
#include <troupe/troupe.h>

/* ------------------------------------------------------------------ */
/*  sq_loop: "work" [i n] -> "done" [i 2n], but every 7th job: boom     */

static int
sq_init (tp_actor *self, void *arg)
{
    (void) arg;
    tp_set_state (self, calloc (1, sizeof (int))); /* jobs seen */
    return 0;
}

static void
sq_receive (tp_actor *self, tp_msg *msg)
{
    int *jobs = tp_state (self), n;
    if (tp_msg_is (msg, "work") && tp_msg_unpack (msg, "i", &n) == 0) {
        if (++*jobs % 7 == 0) {
            tp_exit (self, tp_tag ("boom")); /* unanswered: the asker hears */
            return;
        }
        tp_reply (self, msg, tp_tag ("done"), "i", 2 * n);
    }
}

static void
sq_terminate (tp_actor *self, tp_tag_t reason)
{
    (void) reason;
    free (tp_state (self));
}

static const tp_behavior sq_loop = {"sq_loop", sq_init, sq_receive,
                                    sq_terminate};

/* ------------------------------------------------------------------ */

/*  Paths of troupe-node and the module: from the environment, else next
    to this program (BUILD/examples/supervision -> BUILD/tools, modules). */
static void
s_paths (const char *argv0, char *module, size_t cap)
{
    char self[PATH_MAX];
    ssize_t len = readlink ("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0)
        snprintf (self, sizeof self, "%s", argv0);
    else
        self[len] = '\0';
    char *build = dirname (dirname (self));
    if (!getenv ("TROUPE_NODE")) {
        char node[PATH_MAX + 32];
        snprintf (node, sizeof node, "%s/tools/troupe-node", build);
        setenv ("TROUPE_NODE", node, 1);
    }
    const char *m = getenv ("FLAKY_MODULE");
    if (m)
        snprintf (module, cap, "%s", m);
    else
        snprintf (module, cap, "%s/modules/libflaky.so", build);
}

/*  Hands job n to the worker registered as `name` until one answers;
    counts the crashes it saw. Returns the answer, or -1. */
static int
s_job (tp_system *sys, const char *name, int n, int *crashes)
{
    for (int attempt = 0; attempt < 50; attempt++) {
        /* the worker by name: not there yet at the start (the supervisor
           starts its children on its own thread) or between a crash and
           its restart; wait for it, within 5 s */
        tp_ref w;
        struct timespec since, now;
        clock_gettime (CLOCK_MONOTONIC, &since);
        while (tp_ref_is_nil (w = tp_whereis (sys, name))) {
            clock_gettime (CLOCK_MONOTONIC, &now);
            if (now.tv_sec - since.tv_sec > 5) {
                printf ("job %2d: no %s\n", n, name);
                return -1;
            }
            sched_yield ();
        }
        tp_msg *r = NULL;
        int rc = tp_call (sys, w, tp_tag ("work"), 10000, &r, "i", n);
        int v = -1;
        if (rc == 0 && tp_msg_unpack (r, "i", &v) == 0) {
            tp_msg_destroy (&r);
            return v;
        }
        if (rc == TP_EDOWN) {
            tp_ref who;
            tp_tag_t why = 0;
            char t[16] = "?";
            if (tp_msg_unpack (r, "rt", &who, &why) == 0)
                tp_tag_name (why, t, sizeof t);
            printf ("job %2d: %s crashed (%s), handing the job to its "
                    "successor\n",
                    n, name, t);
            (*crashes)++;
        }
        tp_msg_destroy (&r);
        if (rc != TP_EDOWN) {
            printf ("job %2d: %s\n", n, tp_errname (rc));
            return -1;
        }
        /* (the restarted one comes under the same name, above) */
        while (tp_ref_eq (tp_whereis (sys, name), w))
            sched_yield ();
    }
    return -1;
}

int
main (int argc, char **argv)
{
    (void) argc;
    char module[PATH_MAX + 32];
    s_paths (argv[0], module, sizeof module);
    tp_system_opts o = {.node_name = "supdemo"};
    tp_system *sys = tp_system_new (&o);
    if (!sys)
        return 1;

    const tp_child_spec kids[] = {
        {.id = "sq_loop", .behavior = &sq_loop, .opts = {.name = "sq_loop"},
         .restart = TP_PERMANENT},
        {.id = "sq_proc",
         .opts = {.kind = TP_PROCESS, .module = module, .config = "every=5",
                  .name = "sq_proc"},
         .restart = TP_PERMANENT, .shutdown_ms = 2000},
    };
    tp_sup_spec spec = {.strategy = TP_ONE_FOR_ONE, .intensity = 20,
                        .period_ms = 10000, .children = kids, .nchildren = 2};
    tp_ref sup;
    if (tp_supervisor_start (sys, &spec, NULL, &sup) != 0)
        return 1;

    int failures = 0, crashes = 0;
    long sum = 0, want = 0;
    for (int n = 1; n <= 60; n++) {
        int v = s_job (sys, n % 2 ? "sq_loop" : "sq_proc", n, &crashes);
        if (v != 2 * n) {
            printf ("job %2d: wrong answer %d\n", n, v);
            failures++;
        }
        sum += v;
        want += 2 * n;
    }

    tp_child_info ci[2];
    size_t nkids = 0;
    uint64_t restarts = 0;
    if (tp_supervisor_which_children (sys, sup, ci, 2, &nkids, &restarts,
                                      5000)
        != 0)
        failures++;
    for (size_t i = 0; i < nkids && i < 2; i++)
        printf ("child %-8s restarted %u times\n", ci[i].id, ci[i].restarts);
    printf ("60 jobs, sum %ld (want %ld), %d crashes seen, %llu restarts\n",
            sum, want, crashes, (unsigned long long) restarts);
    failures += sum != want || crashes < 2 || restarts < (uint64_t) crashes;

    tp_supervisor_stop (sys, sup, 5000); /* in order: sq_proc, then sq_loop */
    tp_system_destroy (&sys);
    printf ("supervision: %s\n", failures ? "FAILED" : "ok");
    return failures ? 1 : 0;
}
