/*  core/spawn.c: tp_spawn: a new actor, its slot, its home (placement
    on a worker, or a thread ctx of its own that it starts), its name and
    its link to the spawner; callable from any thread.
*/
#include "runtime.h"

/*  Where a new actor lives: a worker (by its spawn options) or a thread
    of its own. */
/*  TP_PLACE_AUTO from an actor on worker cur: next to its spawner while
    nothing waits to run there (a child that talks with its parent stays
    on the same worker: no thread hop), else on the worker with the least
    to do, counting what runs, what waits and what was placed there and
    has not arrived yet (a burst of spawns spreads instead of landing all
    on the first idle worker). Ties stay near. */
static int
s_pick_auto (tp_system *sys, tp__ctx *cur)
{
    if (cur->rq_n == 0)
        return cur->id;
    int best = cur->id;
    int best_load = cur->rq_n + 1; /* (+1: the spawner, running) */
    for (int i = 0; i < sys->nworkers; i++) {
        tp__ctx *w = sys->ctxs[i];
        if (w == cur)
            continue;
        int load = atomic_load_explicit (&w->rq_pub, memory_order_relaxed)
                   + atomic_load_explicit (&w->incoming, memory_order_relaxed)
                   + !atomic_load_explicit (&w->idle_pub, memory_order_relaxed);
        if (load < best_load) {
            best_load = load;
            best = i;
        }
    }
    return best;
}

static int
s_pick_worker (tp_system *sys, tp__ctx *cur, const tp_spawn_opts *o)
{
    bool on_worker = cur && cur->sys == sys && cur->kind == TP__CTX_WORKER;
    switch (o ? o->place : TP_PLACE_AUTO) {
    case TP_PLACE_WORKER:
        return o->worker;
    case TP_PLACE_SPREAD: {
        int best = 0, bestn = INT32_MAX;
        uint32_t start = atomic_fetch_add (&sys->rr, 1);
        for (int k = 0; k < sys->nworkers; k++) {
            int i = (int) ((start + (uint32_t) k) % (uint32_t) sys->nworkers);
            int n = atomic_load_explicit (&sys->ctxs[i]->nactors,
                                          memory_order_relaxed);
            if (n < bestn) {
                bestn = n;
                best = i;
            }
        }
        return best;
    }
    case TP_PLACE_NEAR:
        if (on_worker)
            return cur->id;
        return (int) (atomic_fetch_add (&sys->rr, 1) % (uint32_t) sys->nworkers);
    case TP_PLACE_AUTO:
    default:
        if (on_worker)
            return s_pick_auto (sys, cur);
        return (int) (atomic_fetch_add (&sys->rr, 1) % (uint32_t) sys->nworkers);
    }
}

int
tp__spawn (tp_system *sys, const tp_behavior *b, void *arg,
           const tp_spawn_opts *o, tp_ref *ref)
{
    return tp__spawn_w (sys, b, arg, o, ref, NULL);
}

void
tp__init_wait_unref (tp__init_wait *w)
{
    bool last = --w->refs == 0;
    pthread_mutex_unlock (&w->lock);
    if (last) {
        pthread_cond_destroy (&w->cond);
        pthread_mutex_destroy (&w->lock);
        free (w);
    }
}

void
tp__init_done (tp__init_wait *w, bool ok)
{
    if (!w)
        return;
    pthread_mutex_lock (&w->lock);
    w->state = ok ? 1 : 2;
    pthread_cond_broadcast (&w->cond);
    tp__init_wait_unref (w);
}

int
tp__spawn_w (tp_system *sys, const tp_behavior *b, void *arg,
             const tp_spawn_opts *o, tp_ref *ref, tp__init_wait *w)
{
    if (!sys || !b || !b->receive)
        return TP_EINVAL;
    if (o) {
        if (o->kind != TP_LOOP && o->kind != TP_THREAD)
            return TP_EINVAL;
        if (o->place == TP_PLACE_WORKER
            && (o->worker < 0 || o->worker >= sys->nworkers))
            return TP_EINVAL;
        if (o->place > TP_PLACE_WORKER || o->capacity > INT32_MAX / 2)
            return TP_EINVAL;
        if (o->name && (!*o->name || strlen (o->name) > 63))
            return TP_EINVAL;
    }
    if (atomic_load (&sys->stopping))
        return TP_ESTOPPED;
    tp__ctx *cur = tp__tl_ctx && tp__tl_ctx->sys == sys ? tp__tl_ctx : NULL;
    tp_actor *spawner = cur ? tp__tl_actor : NULL;
    /* a loop actor is handed to its worker by a control record: from a
       foreign thread, that needs the thread's ctx (before anything is
       made, so that a failure undoes nothing) */
    tp__ctx *from = cur;
    if (!from && !(o && o->kind == TP_THREAD)
        && !(from = tp__ctx_external (sys)))
        return TP_ELIMIT;

    tp_actor *a = tp__calloc (1, sizeof *a);
    a->b = b;
    a->arg = arg;
    a->init_wait = w; /* (the caller holds it until we return 0) */
    a->tick_stride = 1;
    uint32_t idx = tp__slot_acquire (sys);
    tp__slot *s = tp__slot_get (sys, idx);
    uint32_t gen = atomic_load (&s->gen) + 1;
    tp_ref me = {sys->node, idx, gen};
    a->ref = me;
    a->slot = s;
    if (spawner) {
        a->spawner = spawner->ref;
        a->spawner_name = spawner->b->name;
    }

    tp__ctx *home;
    bool thread = o && o->kind == TP_THREAD;
    if (thread) {
        int crc;
        home = tp__ctx_new (sys, TP__CTX_THREAD, &crc);
        if (!home) {
            tp__slot_release (sys, idx);
            free (a);
            return crc;
        }
        home->thread_actor = a;
        a->flags |= TP__A_THREAD;
    }
    else
        home = sys->ctxs[s_pick_worker (sys, cur, o)];
    a->ctx = home;
    if (o && o->link && spawner) {
        a->link_to = spawner->ref;
        tp__peer_add (&spawner->links, me, 0);
    }
    atomic_store_explicit (&s->actor, a, memory_order_relaxed);
    atomic_store_explicit (&s->home, home->id, memory_order_relaxed);
    atomic_store_explicit (&s->cap, o ? o->capacity : 0, memory_order_relaxed);
    /* s->pending is not zeroed here: tp__actor_terminate zeroed it when
       the slot's last actor ended (a fresh slot is zero), and what it has
       gained since is a late reservation for that actor which its sender
       gives back (s_unreserve_stale in route.c). Zeroing it now would wipe
       a reservation still to be given back, and the give-back would then
       take a place from this actor. */
    atomic_store_explicit (&s->processed, 0, memory_order_relaxed);
    atomic_store_explicit (&s->queued, 0, memory_order_relaxed);
    atomic_store_explicit (&s->names, 0, memory_order_relaxed);
    atomic_store_explicit (&s->bname, b->name ? b->name : "",
                           memory_order_relaxed);
    atomic_store_explicit (&s->gen, gen, memory_order_seq_cst);
    atomic_fetch_add_explicit (&home->nactors, 1, memory_order_relaxed);
    atomic_fetch_add (&sys->live, 1);
    atomic_fetch_add_explicit (&sys->spawned, 1, memory_order_relaxed);

    int rc = 0;
    if (o && o->name)
        rc = tp_register (sys, o->name, me);
    if (rc == 0 && thread)
        rc = tp__ctx_start (home);
    if (rc) {
        /* Nobody can know the ref yet and init has not run: undo quietly,
           so a failed spawn calls no callback. */
        if (o && o->name)
            tp__registry_forget (sys, me);
        if (o && o->link && spawner)
            tp__peer_remove (&spawner->links, me, 0, true);
        atomic_store (&s->actor, NULL);
        atomic_fetch_add (&s->gen, 1);
        atomic_fetch_sub (&home->nactors, 1);
        tp__slot_release (sys, idx);
        if (thread) {
            tp__ctx_close (home);
            home->thread_actor = NULL;
            pthread_mutex_lock (&sys->lock);
            home->joined = true;
            atomic_store (&home->finished, 1);
            pthread_mutex_unlock (&sys->lock);
        }
        free (a);
        tp__live_dec (sys);
        return rc;
    }
    if (!thread) {
        if (home == cur)
            tp__actor_adopt (cur, a);
        else {
            atomic_fetch_add_explicit (&home->incoming, 1,
                                       memory_order_relaxed);
            tp__ctl (from, home, TP__CTL_SPAWN,
                     ((uint64_t) idx << 32) | (uint64_t) gen);
        }
    }
    if (thread)
        atomic_fetch_add_explicit (&sys->live_thread, 1, memory_order_relaxed);
    if (ref)
        *ref = me; /* not a->ref: a may already have run and ended */
    return 0;
}
