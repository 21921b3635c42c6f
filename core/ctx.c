/*  core/ctx.c: execution contexts. A ctx is one runtime thread's world:
    its PULL socket (inproc://tp<sys>.<id>.<gen>), its run queue, its
    timers and the batches it sends (core/inproc.c). Worker ctxs run many
    loop actors, a thread ctx runs one thread actor, an external ctx
    belongs to a foreign thread (core/external.c); all but external ones
    run tp__ctx_loop (core/loop.c). Ids are recycled (gen tells uses apart).
*/
#include "runtime.h"

TP__TLS tp__ctx *tp__tl_ctx;
TP__TLS tp_actor *tp__tl_actor;

/*  Creates (or recycles) a ctx of the given kind and binds its socket.
    Returns NULL if the table is full or ZeroMQ fails. Takes sys->lock. */
tp__ctx *
tp__ctx_new (tp_system *sys, int kind, int *rc)
{
    *rc = 0;
    pthread_mutex_lock (&sys->lock);
    tp__ctx *c = NULL;
    int id = -1;
    int top = atomic_load (&sys->nctx);
    for (int i = sys->nworkers; i < top && id < 0; i++) {
        tp__ctx *o = sys->ctxs[i];
        if (o && o->kind == TP__CTX_THREAD && atomic_load (&o->finished)) {
            if (!o->joined) {
                pthread_join (o->thread, NULL);
                o->joined = true;
            }
            id = i;
            c = o;
        }
        else if (o && o->kind == TP__CTX_EXTERNAL
                 && atomic_load (&o->finished)) {
            /* a foreign thread that has exited (tp__ext_thread_gone): its
               sockets are no one's now, its inbox names nothing; what it
               held back goes first (workers flush under out_lock too) */
            tp__flush (o); /* (may pace: 2 ms at most) */
            pthread_mutex_lock (&o->out_lock);
            tp__ctx_close (o);
            atomic_store (&o->ext_deferred, 0);
            pthread_mutex_unlock (&o->out_lock);
            tp__slot *s = tp__slot_get (sys, o->inbox.index);
            if (s && atomic_load (&s->gen) == o->inbox.gen) {
                atomic_fetch_add (&s->gen, 1);
                tp__slot_release (sys, o->inbox.index);
            }
            id = i;
            c = o;
        }
    }
    if (id < 0) {
        if (top >= sys->max_ctx) {
            pthread_mutex_unlock (&sys->lock);
            *rc = TP_ELIMIT;
            return NULL;
        }
        id = top;
        c = tp__calloc (1, sizeof *c);
        /* adaptive: held for a put or a flush (microseconds), so a
           thread that finds it taken spins first instead of sleeping on
           a futex, which would cost it a wake-up each time a worker
           flushes for it */
        pthread_mutexattr_t ma;
        pthread_mutexattr_init (&ma);
        pthread_mutexattr_settype (&ma, PTHREAD_MUTEX_ADAPTIVE_NP);
        pthread_mutex_init (&c->out_lock, &ma);
        pthread_mutexattr_destroy (&ma);
        sys->ctxs[id] = c;
        atomic_store (&sys->nctx, top + 1);
    }
    else {
        /* Recycle the struct in place: other threads may be reading its
           gen and inbound counters right now, so those stay untouched. */
        atomic_store (&c->alive, 0);
        atomic_store (&c->finished, 0);
        atomic_store (&c->nactors, 0);
        c->has_thread = false;
        c->joined = false;
        c->pull = NULL;
        c->ndirty = 0;
        tp__rq_clear (c);
        atomic_store (&c->incoming, 0);
        c->nheap = 0;
        c->shutdown = false;
        c->thread_actor = NULL;
        c->in_head = c->in_tail = NULL;
        c->inbox = TP_REF_NIL;
        c->tr_dirty = false;
        atomic_store (&c->tr, NULL);
    }
    c->sys = sys;
    c->id = id;
    c->kind = kind;
    c->backlogged = -1;
    atomic_fetch_add (&c->gen, 1);
    c->consumed = atomic_load (&c->inbound);
    atomic_store (&c->consumed_pub, c->consumed);
    c->pull = zmq_socket (sys->zctx, ZMQ_PULL);
    c->pull_fd = -1;
    c->pull_armed = false;
    int zero = 0;
    char ep[96];
    tp__endpoint (sys, id, atomic_load (&c->gen), ep, sizeof ep);
    if (!c->pull || zmq_setsockopt (c->pull, ZMQ_LINGER, &zero, sizeof zero)
        || zmq_setsockopt (c->pull, ZMQ_RCVHWM, &zero, sizeof zero)
        || zmq_bind (c->pull, ep)) {
        if (c->pull)
            zmq_close (c->pull);
        c->pull = NULL;
        c->kind = TP__CTX_THREAD;
        c->joined = true;
        atomic_store (&c->finished, 1);
        pthread_mutex_unlock (&sys->lock);
        *rc = TP_EZMQ;
        return NULL;
    }
    atomic_store (&c->alive, 1);
    pthread_mutex_unlock (&sys->lock);
    return c;
}

/*  Closes every socket of the ctx. Called by its own thread (or by the
    destroying thread once the owner is gone). */
void
tp__ctx_close (tp__ctx *c)
{
    for (int i = 0; i < c->nout; i++) {
        if (c->push[i]) {
            zmq_close (c->push[i]);
            c->push[i] = NULL;
        }
        c->out[i].len = 0;
        c->out[i].records = 0;
        c->out[i].dirty = false;
    }
    c->ndirty = 0;
    if (c->pull) {
        zmq_close (c->pull);
        c->pull = NULL;
    }
    atomic_store (&c->alive, 0);
    for (tp_msg *m = c->in_head, *n; m; m = n) {
        n = m->next;
        tp__msg_free (m);
    }
    c->in_head = c->in_tail = NULL;
}

void
tp__ctx_free (tp__ctx *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->nout; i++)
        free (c->out[i].data);
    free (c->out);
    free (c->push);
    free (c->push_gen);
    free (c->dirty);
    free (c->heap);
    pthread_mutex_destroy (&c->out_lock);
    tp__idmap_free (&c->timer_ids);
    tp__idmap_free (&c->asks);
    free (c);
}
