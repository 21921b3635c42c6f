/*  examples/readme.c: the example in README.md, compiled and run by make. */
#include <stdio.h>
#include <troupe/troupe.h>

/*  A loop actor: answers add(a, b) with sum(a + b). */
static void
adder_receive (tp_actor *self, tp_msg *msg)
{
    int a, b;
    if (tp_msg_is (msg, "add") && tp_msg_unpack (msg, "ii", &a, &b) == 0)
        tp_reply (self, msg, tp_tag ("sum"), "i", a + b);
}

static const tp_behavior adder = {.name = "adder", .receive = adder_receive};

int
main (void)
{
    tp_system *sys = tp_system_new (NULL); /* one worker thread per core */
    tp_ref ref;
    tp_spawn (sys, &adder, NULL, NULL, &ref);

    tp_msg *reply; /* await adder.add(2, 3), for at most 1000 ms */
    int sum = 0, rc = tp_call (sys, ref, tp_tag ("add"), 1000, &reply, "ii", 2, 3);
    if (rc == 0) {
        rc = tp_msg_unpack (reply, "i", &sum);
        tp_msg_destroy (&reply); /* the caller owns the reply */
    }
    printf ("2 + 3 = %d (%s)\n", sum, tp_strerror (rc));
    tp_system_destroy (&sys); /* stops the adder, frees everything */
    return rc == 0 && sum == 5 ? 0 : 1;
}
