/*  core/log.c: tp_log, the one way the runtime, the ready-made actors
    and the tools write a line about what happened. Each line says when
    (UTC, milliseconds), how bad, on which node, and in which actor (the
    one whose callback runs on the calling thread), then the text.
*/
#include "runtime.h"

#include <strings.h>
#include <time.h>

static const char *s_level_names[] = {"error", "warn", "info", "debug"};

int
tp__log_level_parse (const char *s, int fallback)
{
    for (int i = 0; s && i < 4; i++)
        if (strcasecmp (s, s_level_names[i]) == 0)
            return i;
    return fallback;
}

void
tp_system_set_log (tp_system *sys, tp_log_level max, tp_log_fn fn, void *arg)
{
    if (!sys)
        return;
    pthread_mutex_lock (&sys->log_lock);
    sys->log_fn = fn;
    sys->log_arg = arg;
    pthread_mutex_unlock (&sys->log_lock);
    atomic_store (&sys->log_max, (int) max);
}

bool
tp_log_enabled (tp_system *sys, tp_log_level level)
{
    return sys && (int) level <= atomic_load_explicit (&sys->log_max,
                                                       memory_order_relaxed);
}

void
tp_vlog (tp_system *sys, tp_log_level level, const char *fmt, va_list ap)
{
    if (!tp_log_enabled (sys, level) || (int) level < 0 || !fmt)
        return;
    char line[1024];
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r (&ts.tv_sec, &tm);
    size_t n = strftime (line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
    char node[TP_NODE_NAME_MAX + 1] = "?";
    tp__node_name_copy (sys->node, node);
    n += (size_t) snprintf (line + n, sizeof line - n, ".%03ldZ %-5s %s",
                            ts.tv_nsec / 1000000L, s_level_names[level], node);
    tp_actor *a = tp__tl_actor;
    if (a && a->ctx && a->ctx->sys == sys && n < sizeof line) {
        char me[TP_REF_STRLEN];
        tp_ref_format (a->ref, me, sizeof me);
        n += (size_t) snprintf (line + n, sizeof line - n, " %s %s", me,
                                a->b->name ? a->b->name : "?");
    }
    if (n < sizeof line - 2) {
        line[n++] = ':';
        line[n++] = ' ';
        vsnprintf (line + n, sizeof line - n, fmt, ap);
    }
    line[sizeof line - 1] = '\0';
    size_t len = strlen (line);
    while (len && line[len - 1] == '\n')
        line[--len] = '\0';
    pthread_mutex_lock (&sys->log_lock);
    if (sys->log_fn)
        sys->log_fn (sys->log_arg, level, line);
    else
        fprintf (stderr, "%s\n", line);
    pthread_mutex_unlock (&sys->log_lock);
}

void
tp_log (tp_system *sys, tp_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    tp_vlog (sys, level, fmt, ap);
    va_end (ap);
}
