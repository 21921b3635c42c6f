/*  core/idmap.c: a map from nonzero 64-bit ids to pointers, for the
    bookkeeping that must stay O(1) however much of it there is: a ctx's
    pending asks (by request id) and its timers (by timer id).

    Open addressing with linear probing and backward-shift deletion (no
    tombstones, so a map that sees millions of puts and deletes stays as
    fast as a fresh one). The capacity is a power of two, at most half
    full. Ids come from counters, so a multiplicative hash spreads them.
    Owned by one thread (the ctx's); no locks.
*/
#include "runtime.h"

static inline size_t
s_slot (const tp__idmap *m, uint64_t id)
{
    return (size_t) ((id * 0x9e3779b97f4a7c15ull) >> m->shift);
}

static void
s_grow (tp__idmap *m)
{
    size_t old_cap = m->cap;
    uint64_t *old_ids = m->ids;
    void **old_vals = m->vals;
    m->cap = old_cap ? 2 * old_cap : 64;
    m->shift = 64;
    for (size_t c = m->cap; c > 1; c >>= 1)
        m->shift--;
    m->ids = tp__calloc (m->cap, sizeof *m->ids);
    m->vals = tp__malloc (m->cap * sizeof *m->vals);
    m->n = 0;
    for (size_t i = 0; i < old_cap; i++)
        if (old_ids[i])
            tp__idmap_put (m, old_ids[i], old_vals[i]);
    free (old_ids);
    free (old_vals);
}

void
tp__idmap_put (tp__idmap *m, uint64_t id, void *val)
{
    assert (id != 0);
    if (2 * (m->n + 1) > m->cap)
        s_grow (m);
    size_t mask = m->cap - 1;
    for (size_t i = s_slot (m, id);; i = (i + 1) & mask) {
        if (m->ids[i] == id) {
            m->vals[i] = val;
            return;
        }
        if (m->ids[i] == 0) {
            m->ids[i] = id;
            m->vals[i] = val;
            m->n++;
            return;
        }
    }
}

void *
tp__idmap_get (const tp__idmap *m, uint64_t id)
{
    if (!m->n || !id)
        return NULL;
    size_t mask = m->cap - 1;
    for (size_t i = s_slot (m, id);; i = (i + 1) & mask) {
        if (m->ids[i] == id)
            return m->vals[i];
        if (m->ids[i] == 0)
            return NULL;
    }
}

void *
tp__idmap_del (tp__idmap *m, uint64_t id)
{
    if (!m->n || !id)
        return NULL;
    size_t mask = m->cap - 1;
    size_t i = s_slot (m, id);
    while (m->ids[i] != id) {
        if (m->ids[i] == 0)
            return NULL;
        i = (i + 1) & mask;
    }
    void *val = m->vals[i];
    /* Backward shift: move later entries of the run up into the hole
       when their home slot does not lie after the hole. */
    for (size_t j = (i + 1) & mask; m->ids[j]; j = (j + 1) & mask) {
        size_t home = s_slot (m, m->ids[j]);
        if (((j - home) & mask) >= ((j - i) & mask)) {
            m->ids[i] = m->ids[j];
            m->vals[i] = m->vals[j];
            i = j;
        }
    }
    m->ids[i] = 0;
    m->n--;
    return val;
}

void
tp__idmap_free (tp__idmap *m)
{
    free (m->ids);
    free (m->vals);
    memset (m, 0, sizeof *m);
}
