/*  core/troupe.h: the umbrella header. Include this one.

    troupe: actors in C that share nothing and exchange msgpack messages
    over ZeroMQ, on event-loop workers (loop actors) or on their own
    threads (thread actors).

    OUT-OF-MEMORY POLICY: troupe treats a failed allocation as fatal, as
    Redis does: it prints "troupe: out of memory" and aborts. Calls
    therefore never return an out-of-memory code. Input that comes from
    outside the process (frames, msgpack bodies) is never a reason to
    abort: it gets an error code and is counted.

    ERRORS: int functions return 0 or a negative TP_E* code (error.h);
    tp_strerror() gives the text. A call that fails has no effect and
    never runs the callback it was given.

    TIMEOUTS: every timeout_ms means the same: -1 waits without bound, 0
    does not wait (the call answers at once with what it has), > 0 waits
    that many milliseconds. tp_ask rejects 0 (TP_EINVAL): an ask that
    does not wait for its answer is a tell.
*/
#ifndef TP_TROUPE_H_INCLUDED
#define TP_TROUPE_H_INCLUDED

#define TP_VERSION_MAJOR 0
#define TP_VERSION_MINOR 1
#define TP_VERSION_PATCH 0

#include "error.h"
#include "ref.h"
#include "msg.h"
#include "system.h"
#include "actor.h"
#include "node.h"
#include "module.h"
#include "metrics.h"

#endif
