/*  examples/promise_chain.c: a promise chain -> chained tp_ask continuations.

    In Node.js:

        const chain = (id) =>
            users.get(id)                              // a promise
                .then(user => orders.list(user.name))  // another one
                .then(list => list.reduce((a, b) => a + b))
                .then(total => console.log(total))
                .catch(err => console.error(err));     // "no such user"
        chain(42);
        chain(7);

        withTimeout(blackhole.ping(), 100)             // never settles
            .then(() => console.log("answered?!"))
            .catch(err => console.error(err));         // ETIMEDOUT

    In troupe, tp_ask(self, to, tag, timeout_ms, cont, arg, fmt, ...) is
    the promise: it sends a request and returns at once; later the runtime
    runs cont ON THIS ACTOR with (status, reply). A .then() is a
    continuation that makes the next tp_ask; the .catch() is the branch
    every continuation takes when status is not 0 (TP_ETIMEDOUT when no
    answer came in time) or the reply is an "error". The continuation runs
    exactly once, so a chain never hangs: the timeout is its floor. The
    `arg` given to tp_ask comes back to the continuation: here it names
    the chain, as a closure variable would in JavaScript.

    The services are found by name (tp_whereis), as you would require()
    a module, instead of passing refs around.

    Run: make examples && build/release/examples/promise_chain
*/
#include <stdio.h>
#include <troupe/troupe.h>

/* ------------------------------------------------------------------ */
/*  Services                                                           */

/*  "users": user(id) -> user(name) | error(reason) */
static void
users_receive (tp_actor *self, tp_msg *msg)
{
    int id;
    if (tp_msg_is (msg, "user") && tp_msg_unpack (msg, "i", &id) == 0) {
        if (id == 42)
            tp_reply (self, msg, tp_tag ("user"), "s", "ada");
        else
            tp_reply (self, msg, tp_tag ("error"), "s", "no such user");
    }
}

/*  "orders": orders(name) -> orders([amount, amount, amount]) */
static void
orders_receive (tp_actor *self, tp_msg *msg)
{
    if (tp_msg_is (msg, "orders"))
        tp_reply (self, msg, tp_tag ("orders"), "[ddd]", 12.5, 30.0, 7.25);
}

/*  "blackhole": takes every request and never answers. */
static void
blackhole_receive (tp_actor *self, tp_msg *msg)
{
}

static const tp_behavior users = {.name = "users", .receive = users_receive};
static const tp_behavior orders = {.name = "orders",
                                   .receive = orders_receive};
static const tp_behavior blackhole = {.name = "blackhole",
                                      .receive = blackhole_receive};

/* ------------------------------------------------------------------ */
/*  The client: runs three chains at the same time                     */

#define CHAINS 3

typedef struct {
    int settled;   /* chains finished (either way) */
    double total;  /* what chain(42) computed */
    int rejected;  /* 1 once chain(7) took its .catch branch */
    int timed_out; /* 1 once the blackhole chain took its .catch branch */
} verdict_t;

static void s_then_user (tp_actor *self, int status, tp_msg *reply, void *arg);
static void s_then_orders (tp_actor *self, int status, tp_msg *reply,
                           void *arg);
static void s_then_pong (tp_actor *self, int status, tp_msg *reply,
                         void *arg);

/*  Every chain ends here, like .finally(): when all have settled, the
    client stops the services and itself. */
static void
s_settle (tp_actor *self)
{
    verdict_t *v = tp_arg (self);
    if (++v->settled < CHAINS)
        return;
    tp_system *sys = tp_system_of (self);
    tp_stop (self, tp_whereis (sys, "users"), 0);
    tp_stop (self, tp_whereis (sys, "orders"), 0);
    tp_stop (self, tp_whereis (sys, "blackhole"), 0);
    tp_exit (self, 0);
}

/*  .catch(err): status is TP_ETIMEDOUT (no answer in time), TP_ECANCELED
    (this actor is ending) or 0 with an "error" reply. */
static void
s_catch (tp_actor *self, const char *chain, int status, tp_msg *reply)
{
    char why[64] = "";
    if (status == 0)
        tp_msg_unpack (reply, "S", why, sizeof why);
    printf ("%s: .catch: %s\n", chain,
            status ? tp_strerror (status) : why);
    s_settle (self);
}

/*  chain(id), step 0: users.get(id). label is a static string, so it can
    travel as the continuation's arg for as long as the chain lives. */
static void
s_start_chain (tp_actor *self, const char *label, int id)
{
    tp_system *sys = tp_system_of (self);
    printf ("%s: users.get(%d)\n", label, id);
    tp_ask (self, tp_whereis (sys, "users"), tp_tag ("user"), 1000,
            s_then_user, (void *) label, "i", id);
}

/*  chain(id), .then(user => orders.list(user.name)) */
static void
s_then_user (tp_actor *self, int status, tp_msg *reply, void *arg)
{
    const char *label = arg;
    char name[32];
    if (status != 0 || !tp_msg_is (reply, "user")
        || tp_msg_unpack (reply, "S", name, sizeof name) != 0) {
        verdict_t *v = tp_arg (self);
        v->rejected = status == 0 && tp_msg_is (reply, "error");
        s_catch (self, label, status, reply);
        return;
    }
    printf ("%s: .then: user is %s, asking for orders\n", label, name);
    /*  The reply is borrowed: anything needed later is copied out (name)
        or sent on, as here. The next link of the chain is one more ask. */
    tp_ask (self, tp_whereis (tp_system_of (self), "orders"),
            tp_tag ("orders"), 1000, s_then_orders, arg, "s", name);
}

/*  chain(id), .then(list => sum).then(total => print) */
static void
s_then_orders (tp_actor *self, int status, tp_msg *reply, void *arg)
{
    const char *label = arg;
    double a, b, c;
    if (status != 0 || tp_msg_unpack (reply, "[ddd]", &a, &b, &c) != 0) {
        s_catch (self, label, status, reply);
        return;
    }
    verdict_t *v = tp_arg (self);
    v->total = a + b + c;
    printf ("%s: .then: orders %.2f + %.2f + %.2f = %.2f\n", label, a, b,
            c, v->total);
    s_settle (self);
}

/*  withTimeout(blackhole.ping(), 100): ask with a short timeout */
static void
s_start_blackhole (tp_actor *self)
{
    printf ("blackhole: ping() with a 100 ms timeout\n");
    tp_ask (self, tp_whereis (tp_system_of (self), "blackhole"),
            tp_tag ("ping"), 100, s_then_pong, NULL, "");
}

static void
s_then_pong (tp_actor *self, int status, tp_msg *reply, void *arg)
{
    if (status != 0) {
        verdict_t *v = tp_arg (self);
        v->timed_out = status == TP_ETIMEDOUT;
        s_catch (self, "blackhole", status, reply);
        return;
    }
    printf ("blackhole: .then: answered?!\n"); /* never happens */
    s_settle (self);
}

static void
client_receive (tp_actor *self, tp_msg *msg)
{
    if (tp_msg_is (msg, "start")) {
        /*  All chains start now and run interleaved, on one actor, with
            no locks: each continuation is just one more message turn. */
        s_start_chain (self, "chain(42)", 42);
        s_start_chain (self, "chain(7)", 7);
        s_start_blackhole (self);
    }
}

static const tp_behavior client = {.name = "client",
                                   .receive = client_receive};

int
main (void)
{
    tp_system *sys = tp_system_new (NULL);
    if (!sys)
        return 1;
    /*  .name registers each service before its first message. */
    tp_spawn (sys, &users, NULL, &(tp_spawn_opts){.name = "users"}, NULL);
    tp_spawn (sys, &orders, NULL, &(tp_spawn_opts){.name = "orders"}, NULL);
    tp_spawn (sys, &blackhole, NULL, &(tp_spawn_opts){.name = "blackhole"},
              NULL);

    verdict_t v = {0, 0.0, 0, 0}; /* read only once every actor ended */
    tp_ref cl;
    tp_spawn (sys, &client, &v, NULL, &cl);
    tp_send (sys, cl, tp_tag ("start"), "");

    int rc = tp_system_wait (sys, 5000);
    tp_system_destroy (&sys);
    int ok = rc == 0 && v.settled == CHAINS && v.total == 49.75
             && v.rejected && v.timed_out;
    printf ("promise_chain: total %.2f, rejection caught: %s, timeout "
            "caught: %s -> %s\n",
            v.total, v.rejected ? "yes" : "no", v.timed_out ? "yes" : "no",
            ok ? "ok" : "FAILED");
    return ok ? 0 : 1;
}
