/*  core/slot.c: what every other file of the runtime stands on: the
    actor slot table, the well-known tags, the clock and the live-actor
    count. Calls nothing of the runtime above it.
*/
#include "runtime.h"

tp_tag_t tp__tag_normal, tp__tag_shutdown, tp__tag_killed, tp__tag_noproc,
    tp__tag_init, tp__tag_down, tp__tag_exit, tp__tag_dead, tp__tag_sys,
    tp__tag_error, tp__tag_fail, tp__tag_noconnect, tp__tag_limit;

static void
s_tags_init (void)
{
    tp__tag_normal = tp_tag ("normal");
    tp__tag_shutdown = tp_tag ("shutdown");
    tp__tag_killed = tp_tag ("killed");
    tp__tag_noproc = tp_tag ("noproc");
    tp__tag_init = tp_tag ("init");
    tp__tag_down = tp_tag ("_down");
    tp__tag_exit = tp_tag ("_exit");
    tp__tag_dead = tp_tag ("_dead");
    tp__tag_sys = tp_tag ("_sys");
    tp__tag_error = tp_tag ("error");
    tp__tag_fail = tp_tag ("_fail");
    tp__tag_noconnect = tp_tag ("noconnect");
    tp__tag_limit = tp_tag ("limit");
}

/*  Computes the well-known tags once per process (systems may be made
    while another one's threads read them). */
void
tp__tags_init (void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once (&once, s_tags_init);
}

uint64_t
tp__now_ns (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

/* ------------------------------------------------------------------ */
/*  Slots                                                              */

tp__slot *
tp__slot_get (tp_system *sys, uint32_t index)
{
    uint32_t page = index >> TP__SLOT_PAGE_BITS;
    if (TP__UNLIKELY (page >= TP__SLOT_PAGES))
        return NULL;
    tp__slot *p = atomic_load_explicit (&sys->pages[page], memory_order_acquire);
    if (TP__UNLIKELY (!p))
        return NULL;
    return &p[index & (TP__SLOT_PAGE - 1)];
}

uint32_t
tp__slot_acquire (tp_system *sys)
{
    pthread_mutex_lock (&sys->slot_lock);
    uint32_t idx = sys->slot_free;
    if (idx != UINT32_MAX) {
        sys->slot_free = tp__slot_get (sys, idx)->next_free;
    }
    else {
        idx = atomic_load (&sys->slot_top);
        uint32_t page = idx >> TP__SLOT_PAGE_BITS;
        if (page >= TP__SLOT_PAGES) {
            fputs ("troupe: actor table full\n", stderr);
            tp__oom ();
        }
        if (!atomic_load (&sys->pages[page]))
            atomic_store_explicit (&sys->pages[page],
                                   tp__calloc (TP__SLOT_PAGE, sizeof (tp__slot)),
                                   memory_order_release);
        atomic_store (&sys->slot_top, idx + 1);
    }
    pthread_mutex_unlock (&sys->slot_lock);
    return idx;
}

void
tp__slot_release (tp_system *sys, uint32_t index)
{
    pthread_mutex_lock (&sys->slot_lock);
    tp__slot *s = tp__slot_get (sys, index);
    s->next_free = sys->slot_free;
    sys->slot_free = index;
    pthread_mutex_unlock (&sys->slot_lock);
}

/* ------------------------------------------------------------------ */
/*  Counters                                                           */

void
tp__live_dec (tp_system *sys)
{
    if (atomic_fetch_sub (&sys->live, 1) == 1) {
        pthread_mutex_lock (&sys->wait_lock);
        pthread_cond_broadcast (&sys->wait_cond);
        pthread_mutex_unlock (&sys->wait_lock);
    }
}

void
tp__deadline (struct timespec *dl, clockid_t clock, int timeout_ms)
{
    clock_gettime (clock, dl);
    if (timeout_ms < 0)
        return;
    dl->tv_sec += timeout_ms / 1000;
    dl->tv_nsec += (long) (timeout_ms % 1000) * 1000000L;
    if (dl->tv_nsec >= 1000000000L) {
        dl->tv_sec++;
        dl->tv_nsec -= 1000000000L;
    }
}
