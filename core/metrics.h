/*  core/metrics.h: a system's counters in the Prometheus text exposition
    format (version 0.0.4), served over HTTP by libmicrohttpd.

        tp_metrics *m;
        int port;
        tp_metrics_start (sys, "127.0.0.1:9100", &m, &port);
        ...                     // curl http://127.0.0.1:9100/metrics
        tp_metrics_stop (&m);   // before tp_system_destroy

    The metrics (all named troupe_*; docs/deploy.md lists them): actors
    alive by kind, spawned, messages run, the deepest mailboxes, dead
    letters by cause, late replies, ask timeouts, restarts, unpack errors;
    for the node: peers up and held, per peer up, bytes and frames both
    ways, frames and bytes in all, bad frames by cause, nodes down,
    refusals, limits reached (quarantines, watches, asks, names), flow
    control (frames held, stalls). troupe-node serves them with
    --metrics ADDR.
*/
#ifndef TP_METRICS_H_INCLUDED
#define TP_METRICS_H_INCLUDED

#include <stddef.h>

#include "error.h"
#include "system.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tp_metrics tp_metrics;

/*  Serves GET /metrics (and GET / with a pointer to it) at addr, "HOST:PORT"
    with HOST an IPv4 address or a bracketed IPv6 one ("127.0.0.1:9100",
    "0.0.0.0:9100", "[::1]:0"; port 0 picks a free port), from a thread of
    its own that reads sys's counters at each request. On success *out is
    the server and *port (if not NULL) the port it listens on. Stop it
    with tp_metrics_stop before tp_system_destroy. Returns 0, TP_EINVAL (a
    bad address), TP_EADDRINUSE, or TP_ESYS (the server could not start). */
TP_EXPORT int
tp_metrics_start (tp_system *sys, const char *addr, tp_metrics **out,
                  int *port);

/*  Stops the server (waits for a request being answered) and frees it;
    sets *m to NULL. NULL or *m NULL: nothing. */
TP_EXPORT void
tp_metrics_stop (tp_metrics **m);

/*  Writes what GET /metrics answers into *text (malloc'd, NUL-terminated,
    the caller frees it) and its length into *len (if not NULL), for a
    program that serves or logs it its own way. Returns 0 or TP_EINVAL. */
TP_EXPORT int
tp_metrics_text (tp_system *sys, char **text, size_t *len);

#ifdef __cplusplus
}
#endif

#endif
