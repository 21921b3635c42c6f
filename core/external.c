/*  core/external.c: external ctxs, how threads that are not the
    runtime's (main, a thread pool, a thread per request) talk to a
    system, and the process's list of live systems that lets a thread's
    exit recycle its ctxs.
*/
#include "runtime.h"


static TP__TLS struct {
    uint64_t sys_id;
    tp__ctx *ctx;
} tl_ext;

/*  Foreign threads come and go (a thread pool, a thread per request):
    each one that called into a system has an external ctx there, and
    when the thread exits, a key destructor marks those ctxs finished so
    that tp__ctx_new recycles them. The destructor finds the systems
    through s_systems (under s_systems_lock), so a system destroyed first
    is simply not found. */
static pthread_mutex_t s_systems_lock = PTHREAD_MUTEX_INITIALIZER;
static tp_system *s_systems;
static pthread_key_t s_ext_key;
static pthread_once_t s_ext_once = PTHREAD_ONCE_INIT;

typedef struct {
    int n, cap;
    struct {
        uint64_t sys_id;
        int ctx_id;
        uint32_t ctx_gen;
    } *e;
} s_ext_list;

static void
s_ext_gone (void *arg)
{
    s_ext_list *l = arg;
    pthread_mutex_lock (&s_systems_lock);
    for (int i = 0; i < l->n; i++)
        for (tp_system *sys = s_systems; sys; sys = sys->next_sys)
            if (sys->id == l->e[i].sys_id) {
                pthread_mutex_lock (&sys->lock);
                tp__ctx *c = sys->ctxs[l->e[i].ctx_id];
                if (c && c->kind == TP__CTX_EXTERNAL
                    && atomic_load (&c->gen) == l->e[i].ctx_gen)
                    atomic_store (&c->finished, 1);
                pthread_mutex_unlock (&sys->lock);
            }
    pthread_mutex_unlock (&s_systems_lock);
    free (l->e);
    free (l);
}

static void
s_ext_key_make (void)
{
    if (pthread_key_create (&s_ext_key, s_ext_gone) != 0)
        tp__oom ();
}

/*  Remembers that the calling thread has external ctx c in sys. */
static void
s_ext_note (tp_system *sys, tp__ctx *c)
{
    pthread_once (&s_ext_once, s_ext_key_make);
    s_ext_list *l = pthread_getspecific (s_ext_key);
    if (!l) {
        l = tp__calloc (1, sizeof *l);
        pthread_setspecific (s_ext_key, l);
    }
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 4;
        l->e = tp__realloc (l->e, (size_t) l->cap * sizeof *l->e);
    }
    l->e[l->n].sys_id = sys->id;
    l->e[l->n].ctx_id = c->id;
    l->e[l->n].ctx_gen = atomic_load (&c->gen);
    l->n++;
}

/*  Gives c the slot its replies come to (tp_call). */
static void
s_ext_inbox (tp_system *sys, tp__ctx *c)
{
    uint32_t idx = tp__slot_acquire (sys);
    tp__slot *s = tp__slot_get (sys, idx);
    uint32_t gen = atomic_load (&s->gen) + 1;
    atomic_store (&s->home, c->id);
    atomic_store (&s->actor, NULL);
    atomic_store (&s->cap, 0);
    atomic_store (&s->gen, gen);
    c->inbox = (tp_ref){sys->node, idx, gen};
}

tp__ctx *
tp__ctx_spare_new (tp_system *sys)
{
    int rc;
    tp__ctx *c = tp__ctx_new (sys, TP__CTX_EXTERNAL, &rc);
    if (c) /* (no owner: no thread finds it, and it is never finished) */
        s_ext_inbox (sys, c);
    return c;
}

/*  Returns the ctx the calling thread uses to send into sys: its own
    runtime ctx on a runtime thread, else a per-thread external ctx made
    on first use, recycled when the thread exits, closed by
    tp_system_destroy. */
tp__ctx *
tp__ctx_external (tp_system *sys)
{
    if (tp__tl_ctx && tp__tl_ctx->sys == sys)
        return tp__tl_ctx;
    if (tl_ext.sys_id == sys->id)
        return tl_ext.ctx;
    pthread_t me = pthread_self ();
    pthread_mutex_lock (&sys->lock);
    int top = atomic_load (&sys->nctx);
    for (int i = 0; i < top; i++) {
        tp__ctx *c = sys->ctxs[i];
        if (c && c->kind == TP__CTX_EXTERNAL && pthread_equal (c->owner, me)
            && !atomic_load (&c->finished)) {
            pthread_mutex_unlock (&sys->lock);
            tl_ext.sys_id = sys->id;
            tl_ext.ctx = c;
            return c;
        }
    }
    pthread_mutex_unlock (&sys->lock);
    int rc;
    tp__ctx *c = tp__ctx_new (sys, TP__CTX_EXTERNAL, &rc);
    if (!c)
        return NULL;
    pthread_mutex_lock (&sys->lock);
    c->owner = me; /* read by other threads under the lock */
    pthread_mutex_unlock (&sys->lock);
    s_ext_inbox (sys, c);
    s_ext_note (sys, c);
    tl_ext.sys_id = sys->id;
    tl_ext.ctx = c;
    return c;
}

void
tp__systems_add (tp_system *sys)
{
    pthread_mutex_lock (&s_systems_lock);
    sys->next_sys = s_systems;
    s_systems = sys;
    pthread_mutex_unlock (&s_systems_lock);
}

void
tp__systems_remove (tp_system *sys)
{
    pthread_mutex_lock (&s_systems_lock);
    for (tp_system **pp = &s_systems; *pp; pp = &(*pp)->next_sys)
        if (*pp == sys) {
            *pp = sys->next_sys;
            break;
        }
    pthread_mutex_unlock (&s_systems_lock);
}

void
tp__ext_forget (tp_system *sys)
{
    if (tl_ext.sys_id == sys->id)
        tl_ext.sys_id = 0;
}

tp__ctx *
tp__ctx_control (tp_system *sys)
{
    tp__ctx *c = tp__ctx_external (sys);
    return c ? c : sys->spare;
}
