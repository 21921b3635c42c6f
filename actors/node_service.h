/*  actors/node_service.h: the "_node" service, what `troupe ls`, `troupe
    stats`, `troupe peers` and `troupe stop` talk to (docs/PROTOCOL.md
    section 14.3 lists its requests and answers byte for byte).

    Any program that is a node can start it with one call; troupe-node
    does. Requests (tp_ask, tp_call, or any client of the wire protocol):
        ls            -> "names"  n x [s name, r ref]
        stats         -> "stats"  {s:U ...} the tp_system_stats and
                                  tp_node_stats counters, by name
        peers         -> "peers"  n x [s name, U incarnation, b up,
                                       U up_since_ms, U bytes_in,
                                       U bytes_out, s endpoint]
        stop [r actor, t reason]  -> "ok" (the stop is sent), or "error"
                                  [s text] for a ref of another node
    anything else -> "error" [s "unknown request"]. Tells are ignored.

    Built only on the public API.
*/
#ifndef TP_NODE_SERVICE_H_INCLUDED
#define TP_NODE_SERVICE_H_INCLUDED

#include "actor.h"

#ifdef __cplusplus
extern "C" {
#endif

/*  Spawns the service and registers it as "_node". On success *ref (if
    not NULL) is its ref. Returns tp_spawn's codes (TP_EEXIST: one runs
    already). Safe from any thread. */
TP_EXPORT int
tp_node_service_start (tp_system *sys, tp_ref *ref);

#ifdef __cplusplus
}
#endif

#endif
