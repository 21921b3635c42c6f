/*  examples/hello.c: two actors play ping-pong, main waits for the end.

    Run: make && build/release/examples/hello
*/
#include <stdio.h>
#include <troupe/troupe.h>

static void
ping_receive (tp_actor *self, tp_msg *msg)
{
    int n;
    if (tp_msg_is (msg, "start") || tp_msg_is (msg, "pong")) {
        tp_ref pong;
        if (tp_msg_is (msg, "start"))
            tp_msg_unpack (msg, "ri", &pong, &n);
        else {
            pong = tp_msg_from (msg);
            tp_msg_unpack (msg, "i", &n);
        }
        if (n == 0) {
            printf ("ping: done\n");
            tp_stop (self, pong, 0); /* stop the partner ... */
            tp_exit (self, 0);       /* ... and ourselves */
            return;
        }
        printf ("ping: %d\n", n);
        tp_tell (self, pong, tp_tag ("ping"), "i", n - 1);
    }
}

static void
pong_receive (tp_actor *self, tp_msg *msg)
{
    int n;
    if (tp_msg_is (msg, "ping") && tp_msg_unpack (msg, "i", &n) == 0) {
        printf ("pong: %d\n", n);
        tp_tell (self, tp_msg_from (msg), tp_tag ("pong"), "i", n);
    }
}

static const tp_behavior ping = {.name = "ping", .receive = ping_receive};
static const tp_behavior pong = {.name = "pong", .receive = pong_receive};

int
main (void)
{
    tp_system *sys = tp_system_new (NULL);
    tp_ref a, b;
    tp_spawn (sys, &pong, NULL, NULL, &b);
    tp_spawn (sys, &ping, NULL, NULL, &a);
    tp_send (sys, a, tp_tag ("start"), "ri", b, 3);
    int rc = tp_system_wait (sys, 5000); /* until both actors have ended */
    tp_system_destroy (&sys);
    return rc == 0 ? 0 : 1;
}
