/*  actors/router.h: routers (Akka's group routers), usable without a pool.

    A router is an actor that passes every message it gets on to one or
    all of its routees, keeping the sender and the request id
    (tp_forward), so that the routee answers the caller directly:

      TP_ROUTE_ROUND_ROBIN  the next routee in turn;
      TP_ROUTE_RANDOM       one chosen at random;
      TP_ROUTE_BROADCAST    every routee (a request is then answered by
                            each: the asker keeps the first answer, the
                            others are late replies);
      TP_ROUTE_HASH         consistent hashing of the message's key: the
                            same key goes to the same routee while the
                            set of routees stays the same, and only about
                            1/N of the keys move when one joins or leaves
                            (64 points per routee on a 64-bit ring). The
                            key is the body's first value (its msgpack
                            bytes), or what opts.key returns.

    Routees are refs (local or remote). The router monitors each one: a
    routee that ends is removed. Requests to the router itself:
        router_add [r routee]  -> "ok"
        router_del [r routee]  -> "ok" or "error" [i TP_ENOTFOUND]
        router_ls              -> "routees" [i n, then n x r routee]
    With no routee, a message is a dead letter, and a request is
    answered "error" [i TP_ENOTFOUND].

    Built only on the public API.
*/
#ifndef TP_ROUTER_H_INCLUDED
#define TP_ROUTER_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#include "actor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    TP_ROUTE_ROUND_ROBIN = 0,
    TP_ROUTE_RANDOM,
    TP_ROUTE_BROADCAST,
    TP_ROUTE_HASH
} tp_route_strategy;

typedef struct tp_router_opts {
    tp_route_strategy strategy;
    const tp_ref *routees; /* the first ones (copied); more with router_add */
    size_t nroutees;
    /*  TP_ROUTE_HASH: the key of msg (NULL: the bytes of its body's first
        value). Runs on the router's thread; must not keep msg. */
    uint64_t (*key) (const tp_msg *msg);
} tp_router_opts;

/*  Starts a router with opts (copied) and spawn options spawn (NULL:
    defaults). On success *ref is its ref. Returns tp_spawn's codes or
    TP_EINVAL. Safe from any thread. */
TP_EXPORT int
tp_router_start (tp_system *sys, const tp_router_opts *opts,
                 const tp_spawn_opts *spawn, tp_ref *ref);

/*  The routee that TP_ROUTE_HASH picks for key among routees (n > 0), as
    the router does: for tests and for clients that route by themselves.
    Returns its index. */
TP_EXPORT size_t
tp_router_hash_pick (const tp_ref *routees, size_t n, uint64_t key);

#ifdef __cplusplus
}
#endif

#endif
