/*  tests/test_stress.c: volume and ordering under load.

    1,000,000 messages from 2 senders to 1 receiver, each carrying the
    sender's id and a sequence number: none may be lost, and each sender's
    messages must arrive in the order sent (per sender->receiver FIFO). */
#include <criterion/criterion.h>

#include "testutil.h"

#define TOTAL 1000000
#define CHUNK 1000

typedef struct {
    long next[2];         /* next expected sequence number per sender */
    _Atomic long got;     /* messages received */
    _Atomic long errors;  /* order violations */
} sink_state;

static void
sink_receive (tp_actor *self, tp_msg *msg)
{
    sink_state *s = tp_arg (self);
    int who;
    int64_t seq;
    if (tp_msg_unpack (msg, "iI", &who, &seq) != 0 || who < 0 || who > 1
        || seq != s->next[who])
        atomic_fetch_add (&s->errors, 1);
    else
        s->next[who]++;
    tt_add (&s->got, 1); /* publishes next[] to the test */
}

static const tp_behavior sink = {"sink", NULL, sink_receive, NULL};

typedef struct {
    tp_ref sink;
    int id;
    int64_t sent;
    int64_t total;
} src_state;

/* Sends CHUNK messages per turn, then asks itself for more, so that the
   worker stays fair to the receiver. */
static void
src_receive (tp_actor *self, tp_msg *msg)
{
    src_state *s = tp_arg (self);
    for (int i = 0; i < CHUNK && s->sent < s->total; i++, s->sent++)
        TT_CHECK (tp_tell (self, s->sink, tp_tag ("seq"), "iI", s->id, s->sent)
                  == 0);
    if (s->sent < s->total)
        tp_tell (self, tp_self (self), tp_tag ("more"), NULL);
}

static const tp_behavior src = {"src", NULL, src_receive, NULL};

static void
s_run (tp_spawn_opts *o_sink, tp_spawn_opts *o_a, tp_spawn_opts *o_b)
{
    tp_system_opts so = {.workers = 2};
    tp_system *sys = tp_system_new (&so);
    sink_state ss = {{0, 0}, 0, 0};
    tp_ref rs, ra, rb;
    cr_assert_eq (tp_spawn (sys, &sink, &ss, o_sink, &rs), 0);
    src_state a = {rs, 0, 0, TOTAL / 2}, b = {rs, 1, 0, TOTAL / 2};
    cr_assert_eq (tp_spawn (sys, &src, &a, o_a, &ra), 0);
    cr_assert_eq (tp_spawn (sys, &src, &b, o_b, &rb), 0);
    cr_assert_eq (tp_send (sys, ra, tp_tag ("more"), NULL), 0);
    cr_assert_eq (tp_send (sys, rb, tp_tag ("more"), NULL), 0);
    cr_assert (tt_wait_ge (&ss.got, TOTAL, 60000), "got %ld of %d",
               atomic_load (&ss.got), TOTAL);
    cr_assert_eq (atomic_load (&ss.errors), 0, "order violations");
    cr_assert_eq (ss.next[0], TOTAL / 2);
    cr_assert_eq (ss.next[1], TOTAL / 2);
    tp_system_stats st;
    tp_system_stats_get (sys, &st);
    cr_assert_eq (st.dead_letters, 0);
    tp_system_destroy (&sys);
    TT_NO_FAILURES ();
}

Test (stress, million_messages_two_loop_senders_one_local_one_remote,
      .timeout = 120)
{
    tp_spawn_opts w0 = {.place = TP_PLACE_WORKER, .worker = 0};
    tp_spawn_opts w1 = {.place = TP_PLACE_WORKER, .worker = 1};
    s_run (&w0, &w0, &w1);
}

Test (stress, million_messages_two_thread_senders, .timeout = 120)
{
    tp_spawn_opts w0 = {.place = TP_PLACE_WORKER, .worker = 0};
    tp_spawn_opts th = {.kind = TP_THREAD};
    s_run (&w0, &th, &th);
}

Test (stress, million_messages_into_a_thread_actor, .timeout = 120)
{
    tp_spawn_opts th = {.kind = TP_THREAD};
    tp_spawn_opts w0 = {.place = TP_PLACE_WORKER, .worker = 0};
    tp_spawn_opts w1 = {.place = TP_PLACE_WORKER, .worker = 1};
    s_run (&th, &w0, &w1);
}

/* Many actors, many hops: a ring of 1000 loop actors spread over both
   workers passes a token 100,000 hops; the count must be exact. */
typedef struct {
    tp_ref next;
    _Atomic long *hops;
    _Atomic long *done;
} ring_state;

static void
ring_receive (tp_actor *self, tp_msg *msg)
{
    ring_state *s = tp_arg (self);
    if (tp_msg_is (msg, "next")) {
        TT_CHECK (tp_msg_unpack (msg, "r", &s->next) == 0);
        tp_reply (self, msg, tp_tag ("ok"), NULL);
        return;
    }
    int64_t left;
    TT_CHECK (tp_msg_unpack (msg, "I", &left) == 0);
    atomic_fetch_add_explicit (s->hops, 1, memory_order_relaxed);
    if (left == 0)
        tt_set (s->done, 1);
    else
        tp_tell (self, s->next, tp_tag ("tok"), "I", left - 1);
}

static const tp_behavior ring_b = {"ring", NULL, ring_receive, NULL};

Test (stress, token_ring_of_1000_actors_over_two_workers, .timeout = 120)
{
    enum { N = 1000, HOPS = 100000 };
    tp_system_opts so = {.workers = 2};
    tp_system *sys = tp_system_new (&so);
    _Atomic long hops = 0, done = 0;
    ring_state *st = calloc (N, sizeof *st);
    tp_ref *r = calloc (N, sizeof *r);
    for (int i = 0; i < N; i++) {
        st[i].hops = &hops;
        st[i].done = &done;
        /* blocks of 100 per worker: some hops stay local, some cross */
        tp_spawn_opts o = {.place = TP_PLACE_WORKER, .worker = (i / 100) % 2};
        cr_assert_eq (tp_spawn (sys, &ring_b, &st[i], &o, &r[i]), 0);
    }
    /* calls, not sends: every link is in place before the token starts */
    for (int i = 0; i < N; i++) {
        tp_msg *ok = NULL;
        cr_assert_eq (tp_call (sys, r[i], tp_tag ("next"), tt_ms (5000), &ok,
                               "r", r[(i + 1) % N]),
                      0);
        tp_msg_destroy (&ok);
    }
    cr_assert_eq (tp_send (sys, r[0], tp_tag ("tok"), "I", (int64_t) HOPS - 1),
                  0);
    cr_assert (tt_wait_ge (&done, 1, 60000));
    cr_assert_eq (atomic_load (&hops), HOPS);
    tp_system_destroy (&sys);
    free (st);
    free (r);
    TT_NO_FAILURES ();
}
