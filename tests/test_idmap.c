/*  tests/test_idmap.c: the id map behind asks and timers (core/idmap.c),
    against a plain array, through growth and long runs of deletes (the
    backward shift must leave every remaining id reachable). */
#include <criterion/criterion.h>

#include "runtime.h"

static uint64_t
s_rand (uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

Test (idmap, agrees_with_an_array_through_a_million_random_operations)
{
    enum { IDS = 5000 };
    static void *ref[IDS + 1];
    memset (ref, 0, sizeof ref);
    tp__idmap m = {0};
    uint64_t rng = 0x12345678u;
    size_t live = 0;
    for (int op = 0; op < 1000000; op++) {
        uint64_t id = 1 + s_rand (&rng) % IDS;
        void *v = (void *) (uintptr_t) (s_rand (&rng) | 1);
        switch (s_rand (&rng) % 3) {
        case 0:
            if (!ref[id])
                live++;
            tp__idmap_put (&m, id, v);
            ref[id] = v;
            break;
        case 1:
            cr_assert_eq (tp__idmap_del (&m, id), ref[id], "del %" PRIu64, id);
            if (ref[id])
                live--;
            ref[id] = NULL;
            break;
        default:
            cr_assert_eq (tp__idmap_get (&m, id), ref[id], "get %" PRIu64, id);
        }
        cr_assert_eq (m.n, live);
    }
    for (uint64_t id = 1; id <= IDS; id++)
        cr_assert_eq (tp__idmap_get (&m, id), ref[id]);
    cr_assert_leq (2 * m.n, m.cap);
    tp__idmap_free (&m);
}

Test (idmap, counter_ids_in_and_out_stay_fast_and_small)
{
    /* ids from a counter, as request ids are: a sliding window of 1000
       live ids over 2 million; the map must not grow with the total */
    tp__idmap m = {0};
    for (uint64_t id = 1; id <= 2000000; id++) {
        tp__idmap_put (&m, id, (void *) (uintptr_t) id);
        if (id > 1000)
            cr_assert_eq (tp__idmap_del (&m, id - 1000),
                          (void *) (uintptr_t) (id - 1000));
    }
    cr_assert_eq (m.n, 1000);
    cr_assert_leq (m.cap, 4096, "cap %zu", m.cap);
    for (uint64_t id = 2000000 - 999; id <= 2000000; id++)
        cr_assert_eq (tp__idmap_get (&m, id), (void *) (uintptr_t) id);
    cr_assert_null (tp__idmap_get (&m, 5));
    cr_assert_null (tp__idmap_get (&m, 0));
    cr_assert_null (tp__idmap_del (&m, 0));
    tp__idmap_free (&m);
    cr_assert_null (tp__idmap_get (&m, 1)); /* empty again */
}
