/*  examples/supervise.c: monitors and links -> a supervisor that restarts.

    In Node.js a cluster primary restarts workers that die:

        let restarts = 0;
        cluster.on("exit", (worker, code) => {
            if (restarts++ < 3) cluster.fork();    // bounded restarts
            else console.log("giving up");
        });

    troupe has two ways to hear that an actor ended, and both carry the
    REASON it ended with (a tag: normal, shutdown, or whatever the actor
    passed to tp_exit):

      - a MONITOR (tp_monitor) is one-way: the watcher gets a message
        _down [U monitor id, r actor, t reason]; the watched actor never
        knows.
      - a LINK (tp_link, or .link = true at spawn) is two-way fate
        sharing: when either ends with a reason other than normal, the
        other ends too, with the same reason. That is how a crashed
        worker takes its helpers down with it, and how children never
        outlive their supervisor. An actor that TRAPS EXITS
        (tp_trap_exit) is not stopped: it gets _exit [r actor, t reason]
        instead, and decides what to do. That is a supervisor.

    Here the supervisor traps exits, links to its child AND monitors it
    (to show both notices), and restarts it up to 3 times. The child
    always crashes, so after the third restart the supervisor gives up.

    Run: make examples && build/release/examples/supervise
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <troupe/troupe.h>

#define MAX_RESTARTS 3

/* ------------------------------------------------------------------ */
/*  The child: works a little, then crashes with reason "boom".        */

static int
child_init (tp_actor *self, void *arg)
{
    char me[TP_REF_STRLEN];
    tp_ref_format (tp_self (self), me, sizeof me);
    printf ("child %s: life %d, working\n", me, (int) (intptr_t) arg);
    tp_after (self, 30, tp_tag ("work"), "");
    return 0;
}

static void
child_receive (tp_actor *self, tp_msg *msg)
{
    if (tp_msg_is (msg, "work")) {
        /*  Something went wrong: end with a reason other than normal.
            Everyone linked to us or monitoring us is told "boom". */
        printf ("child: crashing with reason boom\n");
        tp_exit (self, tp_tag ("boom"));
    }
}

static const tp_behavior child = {.name = "child",
                                  .init = child_init,
                                  .receive = child_receive};

/* ------------------------------------------------------------------ */
/*  The supervisor                                                     */

typedef struct {
    int crashes;  /* children that ended abnormally */
    int restarts; /* children started again */
    int downs;    /* _down notices */
    int exits;    /* _exit notices */
} verdict_t;

typedef struct {
    tp_ref child;   /* the current child */
    int life;       /* 1 for the first child, 2 after one restart, ... */
    int notices;    /* notices (_down, _exit) received about this child */
} sup_t;

/*  Spawns the next child, linked to us, registered as "worker", and
    monitored. Returns 0 or a TP_E* code. */
static int
s_start_child (tp_actor *self)
{
    sup_t *s = tp_state (self);
    s->life++;
    s->notices = 0;
    tp_spawn_opts o = {.link = true, .name = "worker"};
    int rc = tp_spawn (tp_system_of (self), &child,
                       (void *) (intptr_t) s->life, &o, &s->child);
    if (rc == 0 && tp_monitor (self, s->child) < 0)
        rc = TP_EINVAL;
    return rc;
}

static int
sup_init (tp_actor *self, void *arg)
{
    tp_set_state (self, calloc (1, sizeof (sup_t)));
    tp_trap_exit (self, true); /* linked exits arrive as _exit messages */
    return s_start_child (self);
}

static void
sup_terminate (tp_actor *self, tp_tag_t reason)
{
    free (tp_state (self));
}

/*  Both notices about the current child are in: restart it or give up. */
static void
s_child_ended (tp_actor *self, tp_tag_t reason)
{
    verdict_t *v = tp_arg (self);
    if (reason == tp_tag ("normal"))
        return; /* finished its job: nothing to restart */
    v->crashes++;
    if (v->restarts == MAX_RESTARTS) {
        printf ("supervisor: %d restarts used up, giving up\n", MAX_RESTARTS);
        tp_exit (self, 0);
        return;
    }
    v->restarts++;
    if (s_start_child (self) != 0) {
        printf ("supervisor: cannot restart the child\n");
        tp_exit (self, tp_tag ("error"));
        return;
    }
    /*  The name "worker" was dropped when the old child ended and now
        names the new one: clients that look it up find the new child. */
    char now[TP_REF_STRLEN];
    tp_ref_format (tp_whereis (tp_system_of (self), "worker"), now,
                   sizeof now);
    printf ("supervisor: restart %d of %d, \"worker\" is now %s\n",
            v->restarts, MAX_RESTARTS, now);
}

static void
sup_receive (tp_actor *self, tp_msg *msg)
{
    sup_t *s = tp_state (self);
    verdict_t *v = tp_arg (self);
    uint64_t mon;
    tp_ref who;
    tp_tag_t reason;
    char why[TP_TAG_MAX_LEN + 1], ref[TP_REF_STRLEN];

    if (tp_msg_is (msg, "_down")
        && tp_msg_unpack (msg, "Urt", &mon, &who, &reason) == 0)
        v->downs++;
    else if (tp_msg_is (msg, "_exit")
             && tp_msg_unpack (msg, "rt", &who, &reason) == 0)
        v->exits++;
    else
        return;
    tp_tag_name (reason, why, sizeof why);
    tp_ref_format (who, ref, sizeof ref);
    printf ("supervisor: %s from %s, reason %s\n",
            tp_msg_is (msg, "_down") ? "_down" : "_exit", ref, why);
    /*  The two notices may come in either order; act once both are in. */
    if (tp_ref_eq (who, s->child) && ++s->notices == 2)
        s_child_ended (self, reason);
}

static const tp_behavior supervisor = {.name = "supervisor",
                                       .init = sup_init,
                                       .receive = sup_receive,
                                       .terminate = sup_terminate};

int
main (void)
{
    tp_system *sys = tp_system_new (NULL);
    if (!sys)
        return 1;
    verdict_t v = {0, 0, 0, 0}; /* read only once every actor has ended */
    tp_spawn (sys, &supervisor, &v, NULL, NULL);
    int rc = tp_system_wait (sys, 5000);
    tp_system_destroy (&sys);
    int want = MAX_RESTARTS + 1; /* the first life plus each restart */
    int ok = rc == 0 && v.crashes == want && v.restarts == MAX_RESTARTS
             && v.downs == want && v.exits == want;
    printf ("supervise: %d crashes, %d restarts, %d _down, %d _exit -> %s\n",
            v.crashes, v.restarts, v.downs, v.exits, ok ? "ok" : "FAILED");
    return ok ? 0 : 1;
}
