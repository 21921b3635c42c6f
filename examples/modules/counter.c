/*  examples/modules/counter.c: an actor module for troupe-node.

    Build: make (gives build/release/modules/libcounter.so)
    Run:   build/release/tools/troupe-node --name alpha \
               --bind tcp://127.0.0.1:5555 --module build/release/modules/libcounter.so
    Use:   build/release/tools/troupe -e tcp://127.0.0.1:5555 ask counter add 5
           build/release/tools/troupe -e tcp://127.0.0.1:5555 ask counter get

    "add"(n) adds n and answers total(value); "get" answers total(value).
*/
#include <stdint.h>
#include <stdlib.h>
#include <troupe/troupe.h>

static int
counter_init (tp_actor *self, void *arg)
{
    (void) arg;
    int64_t *total = calloc (1, sizeof *total);
    if (!total)
        return -1;
    tp_set_state (self, total);
    return 0;
}

static void
counter_receive (tp_actor *self, tp_msg *msg)
{
    int64_t *total = tp_state (self);
    int64_t n = 0;
    if (tp_msg_is (msg, "add")) {
        if (tp_msg_unpack (msg, "I", &n) != 0) {
            tp_reply (self, msg, tp_tag ("error"), "s", "add expects one integer");
            return;
        }
        *total += n;
    }
    else if (!tp_msg_is (msg, "get")) {
        tp_reply (self, msg, tp_tag ("error"), "s", "unknown request");
        return;
    }
    tp_reply (self, msg, tp_tag ("total"), "I", *total);
}

static void
counter_terminate (tp_actor *self, tp_tag_t reason)
{
    (void) reason;
    free (tp_state (self));
}

static const tp_behavior counter = {"counter", counter_init, counter_receive,
                                    counter_terminate};

TP_MODULE ("counter", counter);
