/*  core/timer.c: per-ctx timers (tp_after, tp_every, ask timeouts).

    Each ctx keeps a binary min-heap ordered by (deadline, seq); seq is the
    creation order, so timers with equal deadlines fire in the order they
    were set. Each actor also lists its own timers (doubly linked) so that
    its death finds them without searching the heap, and the ctx maps
    timer ids to timers (c->timer_ids), so that cancel and the check of a
    tick are O(1) however many timers an actor has (an ask timeout each,
    for 100,000 asks in flight).
*/
#include "runtime.h"

static bool
s_before (const tp__timer *a, const tp__timer *b)
{
    return a->deadline < b->deadline
           || (a->deadline == b->deadline && a->seq < b->seq);
}

static void
s_set (tp__ctx *c, size_t i, tp__timer *t)
{
    c->heap[i] = t;
    t->heap_idx = i;
}

static void
s_up (tp__ctx *c, size_t i)
{
    tp__timer *t = c->heap[i];
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!s_before (t, c->heap[p]))
            break;
        s_set (c, i, c->heap[p]);
        i = p;
    }
    s_set (c, i, t);
}

static void
s_down (tp__ctx *c, size_t i)
{
    tp__timer *t = c->heap[i];
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        const tp__timer *best = t;
        if (l < c->nheap && s_before (c->heap[l], best)) {
            m = l;
            best = c->heap[l];
        }
        if (r < c->nheap && s_before (c->heap[r], best))
            m = r;
        if (m == i)
            break;
        s_set (c, i, c->heap[m]);
        i = m;
    }
    s_set (c, i, t);
}

static void
s_heap_remove (tp__ctx *c, tp__timer *t)
{
    size_t i = t->heap_idx;
    assert (i < c->nheap && c->heap[i] == t);
    c->nheap--;
    if (i == c->nheap)
        return;
    s_set (c, i, c->heap[c->nheap]);
    if (i > 0 && s_before (c->heap[i], c->heap[(i - 1) / 2]))
        s_up (c, i);
    else
        s_down (c, i);
}

static void
s_unlist (tp_actor *a, tp__timer *t)
{
    if (t->prev_in_actor)
        t->prev_in_actor->next_in_actor = t->next_in_actor;
    else
        a->timers = t->next_in_actor;
    if (t->next_in_actor)
        t->next_in_actor->prev_in_actor = t->prev_in_actor;
}

int64_t
tp__timer_add (tp__ctx *c, tp_actor *a, uint64_t delay_ns, uint64_t interval_ns,
               tp_msg *msg)
{
    if (c->nheap == c->capheap) {
        c->capheap = c->capheap ? c->capheap * 2 : 64;
        c->heap = tp__realloc (c->heap, c->capheap * sizeof *c->heap);
    }
    tp__timer *t = tp__malloc (sizeof *t);
    t->actor = a;
    t->deadline = tp__now_ns () + delay_ns;
    t->seq = ++c->timer_seq;
    t->interval = interval_ns;
    t->id = ++c->timer_next_id;
    t->msg = msg;
    t->prev_in_actor = NULL;
    t->next_in_actor = a->timers;
    if (a->timers)
        a->timers->prev_in_actor = t;
    a->timers = t;
    tp__idmap_put (&c->timer_ids, (uint64_t) t->id, t);
    c->heap[c->nheap] = t;
    t->heap_idx = c->nheap++;
    s_up (c, t->heap_idx);
    if (t->deadline < c->check_at)
        c->check_at = t->deadline; /* (a busy loop looks at it in time) */
    return t->id;
}

static void
s_timer_free (tp__timer *t)
{
    tp__msg_free (t->msg);
    free (t);
}

/*  a's timer with that id, or NULL. */
static tp__timer *
s_find (tp__ctx *c, tp_actor *a, int64_t id)
{
    tp__timer *t = id > 0 ? tp__idmap_get (&c->timer_ids, (uint64_t) id)
                          : NULL;
    return t && t->actor == a ? t : NULL;
}

int
tp__timer_cancel (tp__ctx *c, tp_actor *a, int64_t id)
{
    tp__timer *t = s_find (c, a, id);
    if (!t)
        return TP_ENOTFOUND;
    s_heap_remove (c, t);
    s_unlist (a, t);
    tp__idmap_del (&c->timer_ids, (uint64_t) id);
    s_timer_free (t);
    return 0;
}

bool
tp__timer_active (tp_actor *a, int64_t id)
{
    return s_find (a->ctx, a, id) != NULL;
}

bool
tp__timer_is_ask (tp_actor *a, int64_t id)
{
    tp__timer *t = s_find (a->ctx, a, id);
    return t && (t->msg->flags & TP__MSG_SYS)
           && t->msg->aux == TP__SYS_ASK_TIMEOUT;
}

void
tp__timer_cancel_all (tp__ctx *c, tp_actor *a)
{
    while (a->timers) {
        tp__timer *t = a->timers;
        a->timers = t->next_in_actor;
        if (c && t->heap_idx < c->nheap && c->heap[t->heap_idx] == t)
            s_heap_remove (c, t);
        if (c)
            tp__idmap_del (&c->timer_ids, (uint64_t) t->id);
        s_timer_free (t);
    }
}

/*  Fires every timer due at `now`: its message goes to the owning
    actor's mailbox. Then sets when the loop must look again however busy
    its actors are (c->check_at): at the next deadline, or TP__CHECK_NS
    from now if that comes first. Returns the number fired. */
int
tp__timer_fire (tp__ctx *c, uint64_t now)
{
    int fired = 0;
    while (c->nheap > 0 && c->heap[0]->deadline <= now) {
        tp__timer *t = c->heap[0];
        tp_actor *a = t->actor;
        fired++;
        if (t->interval) {
            tp_msg *m = tp_msg_dup (t->msg);
            m->flags |= t->msg->flags & TP__MSG_SYS;
            m->aux = t->msg->aux;
            m->corr = (uint64_t) t->id;
            /* Next deadline from the previous one, so the period does
               not drift; skip missed periods rather than bursting. */
            t->deadline += t->interval;
            if (t->deadline <= now)
                t->deadline = now + t->interval;
            t->seq = ++c->timer_seq;
            s_down (c, 0);
            tp__enqueue (c, a, m);
        }
        else {
            s_heap_remove (c, t);
            s_unlist (a, t);
            tp__idmap_del (&c->timer_ids, (uint64_t) t->id);
            tp_msg *m = t->msg;
            t->msg = NULL;
            s_timer_free (t);
            tp__enqueue (c, a, m);
        }
    }
    c->check_at = now + TP__CHECK_NS;
    if (c->nheap > 0 && c->heap[0]->deadline < c->check_at)
        c->check_at = c->heap[0]->deadline;
    return fired;
}

/*  Milliseconds until the next timer (rounded up), or -1 if none. */
int64_t
tp__timer_next_ms (tp__ctx *c, uint64_t now)
{
    if (c->nheap == 0)
        return -1;
    uint64_t d = c->heap[0]->deadline;
    if (d <= now)
        return 0;
    return (int64_t) ((d - now + 999999) / 1000000);
}

/* ------------------------------------------------------------------ */
/*  The loop's clock                                                  */

#define TP__TICK_NS 200000u /* work between two clock reads, about */
#define TP__TICK_STRIDE_MAX 128u /* messages between reads at most */


/*  The clock is read only every few messages: after a turn once
    c->tick_stride messages ran since the last read, and within a turn of
    several messages every a->tick_stride messages (tp__actor_run). Each
    stride is doubled while the time between reads is under
    TP__TICK_NS / 2, and cut in proportion when it is over TP__TICK_NS
    (not if the loop was idle meanwhile: that time was no work), so that
    cheap messages pay one read per TP__TICK_STRIDE_MAX and slow ones one
    read per message. A read at or after c->check_at (TP__CHECK_NS after the
    last look, or the next timer if sooner) stops the work: the turn ends
    (the actor goes back on the run queue), the turns stop at the next
    flush point (after every turn while messages are slow), the timers
    fire, and the loop comes round to the gateway and the inbox. */
bool
tp__ctx_tick (tp__ctx *c, uint32_t *stride)
{
    uint64_t now = tp__now_ns ();
    uint64_t dt = now - c->tick_last;
    uint32_t s = *stride;
    if (dt < TP__TICK_NS / 2) {
        if (s < TP__TICK_STRIDE_MAX)
            s *= 2;
    }
    else if (dt > TP__TICK_NS && !c->tick_idle) {
        uint64_t k = (uint64_t) s * TP__TICK_NS / dt;
        s = k ? (uint32_t) k : 1;
    }
    *stride = s;
    c->tick_last = now;
    c->tick_idle = false;
    if (now < c->check_at)
        return false;
    c->preempt = true;
    return true;
}
