/*  actors/logger.h: a logger actor, the sink of tp_log lines.

    tp_log writes each line on the thread that logs, to stderr. With a
    logger, the lines become messages to one actor (a thread actor: its
    writes may block) that writes them to a file in the order it gets
    them, so no caller waits on a disk. troupe-node --log PATH uses it.

    Lines logged after the logger ends go to stderr. It is meant to live
    as long as its system (stopping it early is allowed; stop it from an
    actor or main once tp_logger_start has returned). Built only on the
    public API.
*/
#ifndef TP_LOGGER_H_INCLUDED
#define TP_LOGGER_H_INCLUDED

#include "actor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tp_logger_opts {
    const char *path;   /* appended to; NULL or "-": stderr. Copied */
    tp_log_level level; /* lines less severe are dropped (TP_LOG_INFO = 2;
                           0 is TP_LOG_ERROR) */
} tp_logger_opts;

/*  Opens opts->path, starts the logger and makes it the sink of sys's
    log lines (tp_system_set_log). On success *ref (if not NULL) is its
    ref. Returns 0, TP_ESYS (the file cannot be opened; nothing changed)
    or tp_spawn's codes. Safe from any thread. */
TP_EXPORT int
tp_logger_start (tp_system *sys, const tp_logger_opts *opts, tp_ref *ref);

#ifdef __cplusplus
}
#endif

#endif
