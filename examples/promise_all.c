/*  examples/promise_all.c: Promise.all -> a coordinator actor fans out.

    In Node.js:

        const squares = await Promise.all(
            [1, 2, 3, 4].map((x, i) => workers[i].square(x)));
        // [1, 4, 9, 16], in input order, whatever order they finished in;
        // and if any one rejects, the whole Promise.all rejects at once.

    In troupe a coordinator actor plays Promise.all. It receives one
    request from main, makes N tp_asks to N worker actors (they all run at
    the same time), collects the replies in their continuations, and
    sends ONE combined reply back to main when the last one is in, or a
    rejection as soon as one fails. main simply awaits the coordinator
    with tp_call.

    Two idioms worth copying:
      - deferred reply: to answer a request later (after other messages),
        keep a copy of it (tp_msg_dup) and tp_reply to the copy;
      - per-ask context: the continuation's `arg` points at the slot of
        the result it fills in.

    Run: make examples && build/release/examples/promise_all
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <troupe/troupe.h>

#define N 4 /* workers, and items per Promise.all */

/* ------------------------------------------------------------------ */
/*  Worker: square(x) -> square(x*x) after a delay (a slow service), or  */
/*  error("negative input") at once.                                   */

typedef struct {
    tp_msg *pending; /* the request being worked on (our copy), or NULL */
    int64_t result;  /* its answer */
} worker_t;

static int
worker_init (tp_actor *self, void *arg)
{
    tp_set_state (self, calloc (1, sizeof (worker_t)));
    return 0;
}

static void
worker_terminate (tp_actor *self, tp_tag_t reason)
{
    worker_t *w = tp_state (self);
    if (w) {
        tp_msg_destroy (&w->pending); /* a request nobody will answer now */
        free (w);
    }
}

static void
worker_receive (tp_actor *self, tp_msg *msg)
{
    worker_t *w = tp_state (self);
    int x;
    if (tp_msg_is (msg, "square") && tp_msg_unpack (msg, "i", &x) == 0) {
        if (x < 0 || w->pending) {
            tp_reply (self, msg, tp_tag ("error"), "s",
                      x < 0 ? "negative input" : "busy");
            return;
        }
        /*  Answer later: msg is only borrowed until receive returns, so
            keep a copy, and come back when the timer fires. The delay is
            the spawn arg: worker 0 is the slowest, worker N-1 the fastest. */
        w->pending = tp_msg_dup (msg);
        w->result = (int64_t) x * x;
        tp_after (self, (int) (intptr_t) tp_arg (self), tp_tag ("done"), "");
    }
    else if (tp_msg_is (msg, "done") && w->pending) {
        tp_reply (self, w->pending, tp_tag ("square"), "I", w->result);
        tp_msg_destroy (&w->pending);
    }
}

static const tp_behavior worker = {.name = "worker",
                                   .init = worker_init,
                                   .receive = worker_receive,
                                   .terminate = worker_terminate};

/* ------------------------------------------------------------------ */
/*  Coordinator: all([x0..x3]) -> results([y0..y3]) | rejected(i, why)   */

typedef struct round_s round_t;

typedef struct {
    round_t *round; /* the Promise.all this item belongs to */
    int index;      /* its position in the input */
} item_t;

struct round_s {
    tp_msg *req;        /* main's request, kept to answer later */
    int pending;        /* continuations still to run */
    int resolved;       /* items answered so far */
    int settled;        /* 1 once main has its answer */
    int64_t value[N];   /* results, in input order */
    item_t item[N];     /* the continuation arg of each ask */
};

typedef struct {
    tp_ref worker[N]; /* our workers, spawned in init */
} coord_t;

static int
coord_init (tp_actor *self, void *arg)
{
    coord_t *c = calloc (1, sizeof *c);
    tp_set_state (self, c);
    for (int i = 0; i < N; i++) {
        /*  .link: if the coordinator dies abnormally, its workers die too.
            The arg is each worker's delay in ms: 200, 150, 100, 50. */
        tp_spawn_opts o = {.link = true};
        int rc = tp_spawn (tp_system_of (self), &worker,
                           (void *) (intptr_t) ((N - i) * 50), &o,
                           &c->worker[i]);
        if (rc != 0)
            return rc; /* the coordinator stops with reason "init" */
    }
    return 0;
}

static void
coord_terminate (tp_actor *self, tp_tag_t reason)
{
    free (tp_state (self));
}

/*  Runs once per ask, on the coordinator: the Promise.all bookkeeping. */
static void
s_on_item (tp_actor *self, int status, tp_msg *reply, void *arg)
{
    item_t *it = arg;
    round_t *r = it->round;
    r->pending--;
    if (!r->settled) {
        int64_t y;
        char why[64] = "";
        if (status == 0 && tp_msg_is (reply, "square")
            && tp_msg_unpack (reply, "I", &y) == 0) {
            printf ("  coordinator: item %d resolved -> %lld\n", it->index,
                    (long long) y);
            r->value[it->index] = y;
            if (++r->resolved == N) {
                r->settled = 1;
                tp_reply (self, r->req, tp_tag ("results"), "[IIII]",
                          r->value[0], r->value[1], r->value[2], r->value[3]);
            }
        }
        else {
            /*  First failure: reject the whole thing now. The other
                continuations still run later (exactly once each); they
                only do the bookkeeping below. */
            if (status == 0)
                tp_msg_unpack (reply, "S", why, sizeof why);
            else
                snprintf (why, sizeof why, "%s", tp_strerror (status));
            printf ("  coordinator: item %d rejected (%s)\n", it->index, why);
            r->settled = 1;
            tp_reply (self, r->req, tp_tag ("rejected"), "is", it->index, why);
        }
    }
    if (r->pending == 0) { /* the last continuation frees the round */
        tp_msg_destroy (&r->req);
        free (r);
    }
}

static void
coord_receive (tp_actor *self, tp_msg *msg)
{
    coord_t *c = tp_state (self);
    int x[N];
    if (!tp_msg_is (msg, "all")
        || tp_msg_unpack (msg, "[iiii]", &x[0], &x[1], &x[2], &x[3]) != 0)
        return;
    round_t *r = calloc (1, sizeof *r);
    r->req = tp_msg_dup (msg);
    for (int i = 0; i < N; i++) {
        r->item[i] = (item_t){r, i};
        /*  Fan out: N asks leave now; none waits for another. */
        if (tp_ask (self, c->worker[i], tp_tag ("square"), 1000, s_on_item,
                    &r->item[i], "i", x[i])
            == 0)
            r->pending++;
        else if (!r->settled) { /* could not even ask: reject */
            r->settled = 1;
            tp_reply (self, r->req, tp_tag ("rejected"), "is", i, "ask failed");
        }
    }
    if (r->pending == 0) {
        tp_msg_destroy (&r->req);
        free (r);
    }
}

static const tp_behavior coordinator = {.name = "coordinator",
                                        .init = coord_init,
                                        .receive = coord_receive,
                                        .terminate = coord_terminate};

/* ------------------------------------------------------------------ */

static double
s_now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int
main (void)
{
    tp_system *sys = tp_system_new (NULL);
    if (!sys)
        return 1;
    tp_ref coord;
    tp_spawn (sys, &coordinator, NULL, NULL, &coord);
    int failures = 0;
    char text[128];

    /*  Round 1: every item resolves. Workers answer in reverse order,
        the combined result is still in input order. */
    printf ("Promise.all([1, 2, 3, 4].map(square))\n");
    double t0 = s_now_ms ();
    tp_msg *reply = NULL;
    int rc = tp_call (sys, coord, tp_tag ("all"), 2000, &reply, "[iiii]", 1,
                      2, 3, 4);
    double ms = s_now_ms () - t0;
    int64_t y[N] = {0};
    if (rc == 0) {
        tp_msg_format (reply, text, sizeof text); /* readable text */
        printf ("  main: %s in %.0f ms (one after another: 500 ms)\n", text,
                ms);
        rc = tp_msg_is (reply, "results")
                     && tp_msg_unpack (reply, "[IIII]", &y[0], &y[1], &y[2],
                                       &y[3])
                            == 0
                 ? 0
                 : TP_EMISMATCH;
        tp_msg_destroy (&reply);
    }
    else
        printf ("  main: %s\n", tp_strerror (rc));
    failures += rc != 0 || y[0] != 1 || y[1] != 4 || y[2] != 9 || y[3] != 16;

    /*  Round 2: one item fails, so the whole Promise.all rejects at once,
        without waiting for the slow workers. */
    printf ("Promise.all([5, 6, -7, 8].map(square))\n");
    rc = tp_call (sys, coord, tp_tag ("all"), 2000, &reply, "[iiii]", 5, 6,
                  -7, 8);
    int bad = -1;
    if (rc == 0) {
        tp_msg_format (reply, text, sizeof text);
        printf ("  main: %s\n", text);
        if (!tp_msg_is (reply, "rejected")
            || tp_msg_unpack (reply, "i*", &bad) != 0)
            bad = -1;
        tp_msg_destroy (&reply);
    }
    else
        printf ("  main: %s\n", tp_strerror (rc));
    failures += rc != 0 || bad != 2;

    /*  Shutdown stops everyone; the slow workers' pending requests and the
        coordinator's pending asks (their continuations get TP_ECANCELED)
        are cleaned up by their own callbacks. */
    tp_system_destroy (&sys);
    printf ("promise_all: %s\n", failures ? "FAILED" : "ok");
    return failures ? 1 : 0;
}
