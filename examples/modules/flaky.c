/*  examples/modules/flaky.c: a module actor that crashes the way C code
    crashes, for process actors and supervision (examples/supervision.c,
    tests/test_process.c).

    Config (the spawn's opts.config, or troupe-node --arg): "every=N"
    makes every Nth "work" request crash the process with SIGSEGV
    (0 or no config: never); any other config makes its init fail (as a
    module given a configuration it cannot read should).

    "work" [i n]   -> "done" [i 2n]      (or SIGSEGV, see above)
    "crash"        -> SIGSEGV            (a write through a null pointer)
    "abort"        -> SIGABRT
    "exit" [i c]   -> exit(c)
    "pid"          -> "pid" [i getpid()]
*/
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <troupe/troupe.h>

typedef struct {
    int every; /* crash on every Nth work request (0: never) */
    int works; /* work requests so far */
} flaky_t;

/*  (not a bug that UBSan should catch first: a sanitized build of this
    module must die of SIGSEGV too) */
__attribute__ ((no_sanitize ("undefined"))) static void
s_segfault (void)
{
    volatile int *volatile nowhere = NULL;
    *nowhere = 1; /* the bug a C program really has */
}

static int
flaky_init (tp_actor *self, void *arg)
{
    flaky_t *f = calloc (1, sizeof *f);
    if (!f)
        return -1;
    const char *config = arg;
    if (config && (sscanf (config, "every=%d", &f->every) != 1
                   || f->every < 0)) {
        free (f); /* a configuration it cannot read: it does not start */
        return -1;
    }
    tp_set_state (self, f);
    return 0;
}

static void
flaky_receive (tp_actor *self, tp_msg *msg)
{
    flaky_t *f = tp_state (self);
    int n = 0;
    if (tp_msg_is (msg, "work") && tp_msg_unpack (msg, "i", &n) == 0) {
        f->works++;
        if (f->every > 0 && f->works % f->every == 0)
            s_segfault ();
        tp_reply (self, msg, tp_tag ("done"), "i", 2 * n);
    }
    else if (tp_msg_is (msg, "crash"))
        s_segfault ();
    else if (tp_msg_is (msg, "abort"))
        abort ();
    else if (tp_msg_is (msg, "exit") && tp_msg_unpack (msg, "i", &n) == 0)
        exit (n);
    else if (tp_msg_is (msg, "pid"))
        tp_reply (self, msg, tp_tag ("pid"), "i", (int) getpid ());
}

static void
flaky_terminate (tp_actor *self, tp_tag_t reason)
{
    (void) reason;
    free (tp_state (self));
}

static const tp_behavior flaky = {"flaky", flaky_init, flaky_receive,
                                  flaky_terminate};
TP_MODULE ("flaky", flaky);
