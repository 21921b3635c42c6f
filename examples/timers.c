/*  examples/timers.c: setTimeout / setInterval -> tp_after / tp_every / tp_cancel.

    In Node.js:

        setTimeout(greet, 100, "hello");           // once, with an argument
        const t = setTimeout(oops, 50);
        clearTimeout(t);                           // never runs
        let n = 0;
        const iv = setInterval(() => {
            if (++n === 5) clearInterval(iv);      // stop after 5 ticks
        }, 40);

    In troupe a timer does not call a function: it sends a MESSAGE to the
    actor that set it, and the actor handles it in receive like any other.

        tp_after (self, ms, tag, fmt, ...)  setTimeout: one message, with
                                            a body packed from fmt
        tp_every (self, ms, tag)            setInterval: an empty message
                                            every ms
        tp_cancel (self, id)                clearTimeout / clearInterval:
                                            a cancelled timer never fires
                                            again

    Timers belong to the actor: they can only be set from its callbacks
    and they all end with it, so a finished actor never gets a stray tick.

    Run: make examples && build/release/examples/timers
*/
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <troupe/troupe.h>

typedef struct {
    int ticks;     /* interval ticks received */
    int once;      /* 1 when the one-shot fired */
    int never;     /* 1 if the cancelled timer fired (it must not) */
    int cancel_ok; /* cancels that returned what they should */
} verdict_t;

typedef struct {
    double t0;       /* start time, ms */
    int64_t once;    /* id of the one-shot timer */
    int64_t every;   /* id of the interval */
} clock_state_t;

static double
s_now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int
clock_init (tp_actor *self, void *arg)
{
    verdict_t *v = arg;
    clock_state_t *c = calloc (1, sizeof *c);
    tp_set_state (self, c);
    c->t0 = s_now_ms ();

    /*  setTimeout(greet, 100, "hello"): the body travels with the timer. */
    c->once = tp_after (self, 100, tp_tag ("once"), "s", "hello");

    /*  const t = setTimeout(oops, 50); clearTimeout(t); */
    int64_t never = tp_after (self, 50, tp_tag ("never"), "");
    int rc = tp_cancel (self, never);
    v->cancel_ok += rc == 0;

    /*  const iv = setInterval(tick, 40); */
    c->every = tp_every (self, 40, tp_tag ("tick"));
    printf ("%6.1f ms  set once(100 ms), every(40 ms); cancel(never) -> %s\n",
            s_now_ms () - c->t0, tp_errname (rc));
    return c->once > 0 && never > 0 && c->every > 0 ? 0 : -1;
}

static void
clock_receive (tp_actor *self, tp_msg *msg)
{
    clock_state_t *c = tp_state (self);
    verdict_t *v = tp_arg (self);
    double now = s_now_ms () - c->t0;
    char word[16];

    if (tp_msg_is (msg, "tick")) {
        printf ("%6.1f ms  tick %d\n", now, ++v->ticks);
        if (v->ticks == 5) {
            /*  clearInterval(iv). No tick is delivered after this, even
                one that was already due. Then wait a while to prove it. */
            int rc = tp_cancel (self, c->every);
            printf ("%6.1f ms  cancel(every) -> %s; waiting 150 ms for "
                    "stray ticks\n",
                    now, tp_errname (rc));
            v->cancel_ok += rc == 0;
            tp_after (self, 150, tp_tag ("bye"), "");
        }
    }
    else if (tp_msg_is (msg, "once")
             && tp_msg_unpack (msg, "S", word, sizeof word) == 0) {
        v->once = 1;
        /*  A one-shot timer is gone once it has fired: cancelling it now
            finds nothing (clearTimeout would silently do nothing). */
        int rc = tp_cancel (self, c->once);
        printf ("%6.1f ms  once(\"%s\"); cancel(once) now -> %s\n", now, word,
                tp_errname (rc));
        v->cancel_ok += rc == TP_ENOTFOUND;
    }
    else if (tp_msg_is (msg, "never")) {
        printf ("%6.1f ms  never: a cancelled timer fired!\n", now);
        v->never = 1;
    }
    else if (tp_msg_is (msg, "bye")) {
        printf ("%6.1f ms  bye: %d ticks in all\n", now, v->ticks);
        tp_exit (self, 0);
    }
}

static void
clock_terminate (tp_actor *self, tp_tag_t reason)
{
    free (tp_state (self));
}

static const tp_behavior clock_b = {.name = "clock",
                                    .init = clock_init,
                                    .receive = clock_receive,
                                    .terminate = clock_terminate};

int
main (void)
{
    tp_system *sys = tp_system_new (NULL);
    if (!sys)
        return 1;
    verdict_t v = {0, 0, 0, 0}; /* read only once the clock has ended */
    tp_spawn (sys, &clock_b, &v, NULL, NULL);
    int rc = tp_system_wait (sys, 5000);
    tp_system_destroy (&sys);
    int ok = rc == 0 && v.ticks == 5 && v.once && !v.never
             && v.cancel_ok == 3;
    printf ("timers: %s\n", ok ? "ok" : "FAILED");
    return ok ? 0 : 1;
}
