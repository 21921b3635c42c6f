/*  actors/pg.h: process groups across nodes, after Erlang's pg.

    A group is a name with members: actors of any node. Each node runs a
    scope actor, "_pg" (tp_pg_start; troupe-node starts one), which keeps
    the members of every group: its own node's (an actor joins and
    leaves for itself; its end removes it, through a monitor) and the
    other nodes' (told by their scopes). Scopes find each other when
    their nodes connect, exchange what they hold, and tell each other
    every join and leave after that; a node that goes down takes its
    members with it, and one that comes back (or restarts) sends them
    again. The view is eventually consistent, per node, as pg's is: no
    cluster-wide lock (Erlang's `global` hangs on them), and for a moment
    after a change two nodes may answer members() differently.

    Publishing sends ONE message per node that has members, not one per
    member: the scope of that node hands it to its local members.

        tp_pg_join (self, "chat");                     // in init
        tp_pg_publish (self, "chat", tp_tag ("say"), "s", text);

    Members receive the published tag and body; the sender they see is
    their own node's scope (put the publisher's ref in the body if they
    need it). Order: what one publisher publishes to a group arrives at
    each member in the order it was published. Topics: tp_pg_subscribe
    and tp_pg_unsubscribe are join and leave by another name.

    Requests to a scope (from any node, by tp_ask or tp_call):
        pg_members [s group] -> "members" [i n, then n x r member]
        pg_local   [s group] -> "members" (this node's members only)
        pg_groups            -> "groups"  [i n, then n x s group]

    Built only on the public API.
*/
#ifndef TP_PG_H_INCLUDED
#define TP_PG_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

#include "actor.h"

#ifdef __cplusplus
extern "C" {
#endif

/*  Longest group name (bytes). */
#define TP_PG_NAME_MAX 63

/*  Starts this node's scope and registers it as "_pg". Returns
    tp_spawn's codes (TP_EEXIST: it runs already). Safe from any thread. */
TP_EXPORT int
tp_pg_start (tp_system *sys, tp_ref *ref);

/*  self joins / leaves group (an actor may join a group several times;
    it leaves it as many times). Returns 0, TP_EINVAL (bad name) or
    TP_ENOTFOUND (no scope on this node: tp_pg_start). From self's
    callbacks; the scope applies it asynchronously, in order with self's
    other messages to it. */
TP_EXPORT int
tp_pg_join (tp_actor *self, const char *group);
TP_EXPORT int
tp_pg_leave (tp_actor *self, const char *group);

/*  Sends tag + a body packed from fmt to every member of group, on every
    node: once to each member of this node, and once to each other node
    that has members (its scope hands it on). Returns 0, TP_EINVAL or
    TP_ENOTFOUND (no scope). From an actor's callbacks. */
TP_EXPORT int
tp_pg_publish (tp_actor *self, const char *group, tp_tag_t tag,
               const char *fmt, ...);

/*  As tp_pg_publish, from outside actors (main, a foreign thread). */
TP_EXPORT int
tp_pg_send (tp_system *sys, const char *group, tp_tag_t tag,
            const char *fmt, ...);

/*  Topics: the same as join and leave. */
TP_EXPORT int
tp_pg_subscribe (tp_actor *self, const char *topic);
TP_EXPORT int
tp_pg_unsubscribe (tp_actor *self, const char *topic);

/*  Writes up to cap members of group (all nodes; local_only: this node's)
    into out, sets *n to how many there are. Blocking (tp_call): from
    foreign threads or thread actors. Returns 0 or a tp_call error. */
TP_EXPORT int
tp_pg_members (tp_system *sys, const char *group, bool local_only,
               tp_ref *out, size_t cap, size_t *n, int timeout_ms);

#ifdef __cplusplus
}
#endif

#endif
