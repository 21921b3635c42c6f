/*  core/registry.c: local names (tp_register / tp_whereis).

    A chained hash table under one mutex. Names are few and looked up
    rarely compared to messages, so simplicity wins. An actor's names are
    removed when it ends: the dying actor bumps its slot generation, then
    scans the table if it is not empty. tp_register counts the entry
    before it checks the generation, so one of the two always sees the
    other (both use sequentially consistent atomics).
*/
#include "runtime.h"

static size_t
s_hash (const char *s)
{
    size_t h = 1469598103934665603u;
    for (; *s; s++)
        h = (h ^ (unsigned char) *s) * 1099511628211u;
    return h;
}

static void
s_rehash (tp_system *sys)
{
    size_t nb = sys->reg_buckets ? sys->reg_buckets * 2 : 64;
    tp__name **t = tp__calloc (nb, sizeof *t);
    for (size_t i = 0; i < sys->reg_buckets; i++)
        while (sys->reg[i]) {
            tp__name *e = sys->reg[i];
            sys->reg[i] = e->next;
            size_t b = s_hash (e->name) & (nb - 1);
            e->next = t[b];
            t[b] = e;
        }
    free (sys->reg);
    sys->reg = t;
    sys->reg_buckets = nb;
}

static tp__name **
s_find (tp_system *sys, const char *name)
{
    if (!sys->reg_buckets)
        return NULL;
    tp__name **pp = &sys->reg[s_hash (name) & (sys->reg_buckets - 1)];
    for (; *pp; pp = &(*pp)->next)
        if (strcmp ((*pp)->name, name) == 0)
            return pp;
    return NULL;
}

int
tp_register (tp_system *sys, const char *name, tp_ref ref)
{
    if (!sys || !name || !*name || strlen (name) > 63)
        return TP_EINVAL;
    if (ref.node != sys->node)
        return TP_EDEAD;
    tp__slot *s = tp__slot_get (sys, ref.index);
    if (!s)
        return TP_EDEAD;
    pthread_mutex_lock (&sys->reg_lock);
    atomic_fetch_add (&sys->reg_count, 1);
    /* counted before the generation is checked: an actor that ends
       meanwhile either fails this check or sees the count and removes
       its names (tp__actor_terminate), never neither */
    atomic_fetch_add (&s->names, 1);
    int rc = 0;
    if (atomic_load (&s->gen) != ref.gen || !(ref.gen & 1))
        rc = TP_EDEAD;
    else {
        tp__name **pp = s_find (sys, name);
        if (pp) {
            tp__slot *o = tp__slot_get (sys, (*pp)->ref.index);
            if (o && atomic_load (&o->gen) == (*pp)->ref.gen)
                rc = TP_EEXIST;
            else
                (*pp)->ref = ref; /* stale entry: take it over */
            atomic_fetch_sub (&sys->reg_count, 1);
            if (rc)
                atomic_fetch_sub (&s->names, 1);
        }
        else {
            if (atomic_load (&sys->reg_count) > sys->reg_buckets)
                s_rehash (sys);
            tp__name *e = tp__malloc (sizeof *e);
            e->name = tp__strdup (name);
            e->ref = ref;
            size_t b = s_hash (name) & (sys->reg_buckets - 1);
            e->next = sys->reg[b];
            sys->reg[b] = e;
            pthread_mutex_unlock (&sys->reg_lock);
            return 0;
        }
    }
    if (rc == TP_EDEAD) {
        atomic_fetch_sub (&sys->reg_count, 1);
        atomic_fetch_sub (&s->names, 1);
    }
    pthread_mutex_unlock (&sys->reg_lock);
    return rc;
}

int
tp_unregister (tp_system *sys, const char *name)
{
    if (!sys || !name)
        return TP_EINVAL;
    pthread_mutex_lock (&sys->reg_lock);
    tp__name **pp = s_find (sys, name);
    int rc = TP_ENOTFOUND;
    if (pp) {
        tp__name *e = *pp;
        *pp = e->next;
        tp__slot *o = tp__slot_get (sys, e->ref.index);
        if (o && atomic_load (&o->gen) == e->ref.gen)
            atomic_fetch_sub (&o->names, 1);
        free (e->name);
        free (e);
        atomic_fetch_sub (&sys->reg_count, 1);
        rc = 0;
    }
    pthread_mutex_unlock (&sys->reg_lock);
    return rc;
}

tp_ref
tp_whereis (tp_system *sys, const char *name)
{
    tp_ref r = TP_REF_NIL;
    if (!sys || !name)
        return r;
    pthread_mutex_lock (&sys->reg_lock);
    tp__name **pp = s_find (sys, name);
    if (pp)
        r = (*pp)->ref;
    pthread_mutex_unlock (&sys->reg_lock);
    return r;
}

/*  Removes every name of ref (called after its generation was bumped). */
void
tp__registry_forget (tp_system *sys, tp_ref ref)
{
    if (atomic_load (&sys->reg_count) == 0)
        return;
    pthread_mutex_lock (&sys->reg_lock);
    for (size_t i = 0; i < sys->reg_buckets; i++)
        for (tp__name **pp = &sys->reg[i]; *pp;) {
            tp__name *e = *pp;
            if (tp_ref_eq (e->ref, ref)) {
                *pp = e->next;
                free (e->name);
                free (e);
                atomic_fetch_sub (&sys->reg_count, 1);
            }
            else
                pp = &e->next;
        }
    pthread_mutex_unlock (&sys->reg_lock);
}

void
tp__registry_free (tp_system *sys)
{
    for (size_t i = 0; i < sys->reg_buckets; i++)
        while (sys->reg[i]) {
            tp__name *e = sys->reg[i];
            sys->reg[i] = e->next;
            free (e->name);
            free (e);
        }
    free (sys->reg);
    sys->reg = NULL;
    sys->reg_buckets = 0;
}

int
tp_names_each (tp_system *sys, tp_name_fn fn, void *arg)
{
    int n = 0;
    pthread_mutex_lock (&sys->reg_lock);
    for (size_t i = 0; i < sys->reg_buckets; i++)
        for (tp__name *e = sys->reg[i]; e; e = e->next) {
            if (fn)
                fn (e->name, e->ref, arg);
            n++;
        }
    pthread_mutex_unlock (&sys->reg_lock);
    return n;
}
