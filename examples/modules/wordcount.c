/*  examples/modules/wordcount.c: the module each node of the distributed
    demo runs (examples/wordcount_cluster.c, `make demo`).

    Its actor "wc" starts a pool (actors/pool.h) registered as "wc_pool",
    one loop worker per worker thread of the node. Ask the pool
        "count" [U seed]  ->  "counts" [x 64 counts (uint32, little-endian),
                                        U words]
    and one of its workers makes document `seed` and counts its words
    (examples/wordcount.h).
*/
#include <stdlib.h>
#include <troupe/pool.h>
#include <troupe/troupe.h>

#include "../wordcount.h"

static int
counter_init (tp_actor *self, void *arg)
{
    (void) arg;
    char *buf = malloc ((size_t) WC_WORDS * 12); /* scratch: one document */
    if (!buf)
        return -1;
    tp_set_state (self, buf);
    return 0;
}

static void
counter_receive (tp_actor *self, tp_msg *msg)
{
    uint64_t seed;
    if (!tp_msg_is (msg, "count") || tp_msg_unpack (msg, "U", &seed) != 0) {
        if (tp_msg_is_request (msg))
            tp_reply (self, msg, tp_tag ("error"), "i", TP_EMISMATCH);
        return;
    }
    wc_counts c;
    wc_job (seed, tp_state (self), &c);
    uint8_t le[WC_VOCAB * 4];
    for (int k = 0; k < WC_VOCAB; k++)
        for (int b = 0; b < 4; b++)
            le[4 * k + b] = (uint8_t) (c.count[k] >> (8 * b));
    tp_reply (self, msg, tp_tag ("counts"), "xU", le, sizeof le, c.total);
}

static void
counter_terminate (tp_actor *self, tp_tag_t reason)
{
    (void) reason;
    free (tp_state (self));
}

static const tp_behavior counter_b = {"wc_worker", counter_init,
                                      counter_receive, counter_terminate};

/*  The module's actor: starts the pool, and lives as long as the node. */
static int
wc_init (tp_actor *self, void *arg)
{
    (void) arg;
    tp_pool_opts po = {.behavior = &counter_b,
                       .worker = {.place = TP_PLACE_SPREAD}};
    tp_spawn_opts so = {.name = "wc_pool", .link = true};
    return tp_pool_start (tp_system_of (self), &po, &so, NULL) == 0 ? 0 : -1;
}

static void
wc_receive (tp_actor *self, tp_msg *msg)
{
    (void) self;
    (void) msg;
}

static const tp_behavior wc_b = {"wc", wc_init, wc_receive, NULL};
TP_MODULE ("wc", wc_b);
