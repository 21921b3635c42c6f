/*  examples/async_await.c: async/await -> tp_call from main.

    In Node.js, `await` lets straight-line code wait for a promise:

        async function main() {
            const sum  = await calc.add(2, 3);
            const prod = await calc.mul(sum, 10);
            try {
                await withTimeout(disk.read("big.bin"), 100);
            } catch (e) { console.log(e.code); }           // ETIMEDOUT
        }

    In troupe, code that is not an actor (main, a library callback, a
    signal thread) uses tp_call: it sends a request and BLOCKS the calling
    thread until the reply comes or the timeout passes. The actors go on
    running on their own threads meanwhile. There are two rejected
    promises: TP_ETIMEDOUT when the actor is too slow, and TP_EDOWN at
    once when it is dead or ends before it answers (the reply is then a
    _fail notice that says why: its exit reason, or noproc).

    Only outside actors: inside an actor tp_call returns TP_ESTATE, since
    blocking there would stall every actor of that worker. Actors use
    tp_ask (see promise_chain.c).

    Run: make examples && build/release/examples/async_await
*/
#include <stdio.h>
#include <time.h>
#include <troupe/troupe.h>

/*  "calc", a loop actor: add(a, b) -> result(a+b); mul(a, b) -> result(a*b) */
static void
calc_receive (tp_actor *self, tp_msg *msg)
{
    int64_t a, b;
    if (tp_msg_unpack (msg, "II", &a, &b) != 0)
        return; /* not for us */
    if (tp_msg_is (msg, "add"))
        tp_reply (self, msg, tp_tag ("result"), "I", a + b);
    else if (tp_msg_is (msg, "mul"))
        tp_reply (self, msg, tp_tag ("result"), "I", a * b);
}

/*  "disk", a THREAD actor: read(name) blocks 300 ms (a slow disk), then
    -> bytes(n). Blocking is fine here: the actor has an OS thread of its
    own, so no other actor waits behind it. */
static void
disk_receive (tp_actor *self, tp_msg *msg)
{
    if (tp_msg_is (msg, "read")) {
        nanosleep (&(struct timespec){0, 300 * 1000000L}, NULL);
        tp_reply (self, msg, tp_tag ("bytes"), "U", (uint64_t) 1048576);
    }
}

static const tp_behavior calc = {.name = "calc", .receive = calc_receive};
static const tp_behavior disk = {.name = "disk", .receive = disk_receive};

/*  One awaited call that returns an int64: returns 0 or a TP_E* code. */
static int
s_await_int (tp_system *sys, tp_ref to, const char *op, int64_t a, int64_t b,
             int64_t *out)
{
    tp_msg *reply = NULL;
    int rc = tp_call (sys, to, tp_tag (op), 1000, &reply, "II", a, b);
    if (rc != 0) {
        tp_msg_destroy (&reply); /* (TP_EDOWN gives the _fail notice) */
        return rc;
    }
    rc = tp_msg_unpack (reply, "I", out);
    tp_msg_destroy (&reply); /* main owns the reply */
    return rc;
}

int
main (void)
{
    tp_system *sys = tp_system_new (NULL);
    if (!sys)
        return 1;
    int failures = 0;
    tp_ref c, d;
    tp_spawn (sys, &calc, NULL, NULL, &c);
    tp_spawn (sys, &disk, NULL, &(tp_spawn_opts){.kind = TP_THREAD}, &d);

    /*  const sum = await calc.add(2, 3); const prod = await calc.mul(sum, 10) */
    int64_t sum = 0, prod = 0;
    int rc = s_await_int (sys, c, "add", 2, 3, &sum);
    printf ("await calc.add(2, 3)        -> %s, %lld\n", tp_errname (rc),
            (long long) sum);
    failures += rc != 0 || sum != 5;
    rc = s_await_int (sys, c, "mul", sum, 10, &prod);
    printf ("await calc.mul(sum, 10)     -> %s, %lld\n", tp_errname (rc),
            (long long) prod);
    failures += rc != 0 || prod != 50;

    /*  try { await disk.read() with 100 ms } catch (e) { ... } */
    tp_msg *reply = NULL;
    rc = tp_call (sys, d, tp_tag ("read"), 100, &reply, "s", "big.bin");
    printf ("await disk.read(), 100 ms   -> %s (%s)\n", tp_errname (rc),
            tp_strerror (rc));
    failures += rc != TP_ETIMEDOUT;
    tp_msg_destroy (&reply); /* NULL after a failed call: a no-op */

    /*  The same read with room to finish. The late answer to the first
        read arrives meanwhile and is discarded: each call only takes the
        reply to its own request. */
    rc = tp_call (sys, d, tp_tag ("read"), 2000, &reply, "s", "big.bin");
    uint64_t bytes = 0;
    if (rc == 0) {
        rc = tp_msg_unpack (reply, "U", &bytes);
        tp_msg_destroy (&reply);
    }
    printf ("await disk.read(), 2000 ms  -> %s, %llu bytes\n",
            tp_errname (rc), (unsigned long long) bytes);
    failures += rc != 0 || bytes != 1048576;

    /*  A dead actor never answers, and says so at once: stop calc, then
        await it. */
    tp_system_stop (sys, c, 0);
    rc = s_await_int (sys, c, "add", 1, 1, &sum);
    printf ("await (stopped) calc.add()  -> %s\n", tp_errname (rc));
    failures += rc != TP_EDOWN;

    tp_system_destroy (&sys); /* stops disk too */
    printf ("async_await: %s\n", failures ? "FAILED" : "ok");
    return failures ? 1 : 0;
}
