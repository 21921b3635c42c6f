/*  tests/test_timer.c: tp_after, tp_every, tp_cancel. */
#include <criterion/criterion.h>

#include "testutil.h"

typedef struct {
    int order[16];
    _Atomic long n;
    _Atomic long ticks;
    _Atomic long done;
    int64_t every_id;
    int64_t cancel_id;
    uint64_t t_start;
    uint64_t t_first;
} tm_rec;

static int
tm_init (tp_actor *self, void *arg)
{
    tm_rec *r = arg;
    r->t_start = tt_now_ms ();
    /* Set out of order; equal deadlines keep creation order. */
    TT_CHECK (tp_after (self, 30, tp_tag ("t"), "i", 3) > 0);
    TT_CHECK (tp_after (self, 10, tp_tag ("t"), "i", 1) > 0);
    TT_CHECK (tp_after (self, 20, tp_tag ("t"), "i", 2) > 0);
    TT_CHECK (tp_after (self, 30, tp_tag ("t"), "i", 4) > 0);
    TT_CHECK (tp_after (self, 0, tp_tag ("t"), "i", 0) > 0);
    r->cancel_id = tp_after (self, 15, tp_tag ("t"), "i", 99);
    TT_CHECK (r->cancel_id > 0);
    TT_CHECK (tp_cancel (self, r->cancel_id) == 0);
    TT_CHECK (tp_cancel (self, r->cancel_id) == TP_ENOTFOUND);
    TT_CHECK (tp_after (self, -1, tp_tag ("t"), NULL) == TP_EINVAL);
    TT_CHECK (tp_every (self, 0, tp_tag ("tick")) == TP_EINVAL);
    r->every_id = tp_every (self, 5, tp_tag ("tick"));
    TT_CHECK (r->every_id > 0);
    tp_set_state (self, r);
    return 0;
}

static void
tm_receive (tp_actor *self, tp_msg *msg)
{
    tm_rec *r = tp_state (self);
    if (tp_msg_is (msg, "t")) {
        int v = -1;
        TT_CHECK (tp_msg_unpack (msg, "i", &v) == 0);
        long i = atomic_load (&r->n);
        if (i == 0)
            r->t_first = tt_now_ms ();
        if (i < 16)
            r->order[i] = v;
        tt_set (&r->n, i + 1);
    }
    else if (tp_msg_is (msg, "tick")) {
        if (atomic_fetch_add (&r->ticks, 1) + 1 == 3) {
            TT_CHECK (tp_cancel (self, r->every_id) == 0);
            /* one more message after the cancel proves no tick follows */
            TT_CHECK (tp_after (self, 40, tp_tag ("end"), NULL) > 0);
        }
    }
    else if (tp_msg_is (msg, "end"))
        tt_set (&r->done, 1);
}

static const tp_behavior tm = {"timers", tm_init, tm_receive, NULL};

static void
s_timers (tp_spawn_opts *o)
{
    tp_system *sys = tp_system_new (NULL);
    tm_rec r = {0};
    cr_assert_eq (tp_spawn (sys, &tm, &r, o, NULL), 0);
    cr_assert (tt_wait_ge (&r.done, 1, 5000));
    cr_assert (tt_wait_ge (&r.n, 5, 5000));
    cr_assert_eq (atomic_load (&r.n), 5, "cancelled timer fired");
    for (int i = 0; i < 5; i++)
        cr_assert_eq (r.order[i], i, "timer %d fired as %d", i, r.order[i]);
    cr_assert_eq (atomic_load (&r.ticks), 3, "ticks after cancel: %ld",
                  atomic_load (&r.ticks));
    tp_system_destroy (&sys);
    TT_NO_FAILURES ();
}

Test (timer, fire_in_deadline_order_and_cancel_works_on_loop_actor,
      .timeout = 30)
{
    s_timers (NULL);
}

Test (timer, fire_in_deadline_order_and_cancel_works_on_thread_actor,
      .timeout = 30)
{
    tp_spawn_opts o = {.kind = TP_THREAD};
    s_timers (&o);
}

/* A timer never fires early. */
typedef struct {
    uint64_t set_at;
    _Atomic long early, fired;
} early_rec;

static int
early_init (tp_actor *self, void *arg)
{
    early_rec *r = arg;
    r->set_at = tt_now_ms ();
    tp_after (self, 25, tp_tag ("t"), NULL);
    return 0;
}

static void
early_receive (tp_actor *self, tp_msg *msg)
{
    early_rec *r = tp_arg (self);
    if (tt_now_ms () - r->set_at < 25)
        atomic_fetch_add (&r->early, 1);
    atomic_fetch_add (&r->fired, 1);
    tp_exit (self, 0);
}

static const tp_behavior early_b = {"early", early_init, early_receive, NULL};

Test (timer, never_fires_before_its_deadline, .timeout = 30)
{
    tp_system *sys = tp_system_new (NULL);
    early_rec r = {0};
    cr_assert_eq (tp_spawn (sys, &early_b, &r, NULL, NULL), 0);
    cr_assert_eq (tp_system_wait (sys, tt_ms (5000)), 0);
    cr_assert_eq (atomic_load (&r.fired), 1);
    cr_assert_eq (atomic_load (&r.early), 0);
    tp_system_destroy (&sys);
}

/* Timers of an actor that ends are freed and never delivered. */
static int
dying_init (tp_actor *self, void *arg)
{
    tp_after (self, 60000, tp_tag ("late"), "s", "never");
    tp_every (self, 1, tp_tag ("tick"));
    tp_after (self, 10, tp_tag ("die"), NULL);
    return 0;
}

static void
dying_receive (tp_actor *self, tp_msg *msg)
{
    if (tp_msg_is (msg, "die"))
        tp_exit (self, 0);
}

static const tp_behavior dying = {"dying", dying_init, dying_receive, NULL};

Test (timer, end_with_their_actor, .timeout = 30)
{
    tp_system *sys = tp_system_new (NULL);
    cr_assert_eq (tp_spawn (sys, &dying, NULL, NULL, NULL), 0);
    cr_assert_eq (tp_system_wait (sys, tt_ms (5000)), 0);
    tp_system_destroy (&sys); /* valgrind: the 60 s timer is freed */
}
