/*  actors/logger.c: the logger actor (actors/logger.h). Built only on
    the public API. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <troupe/logger.h>
#include <troupe/troupe.h>

typedef struct {
    FILE *f;            /* where the lines go (owned unless stderr) */
    tp_log_level level; /* the sink's level, restored to stderr at the end */
    tp_ref me;          /* the sink's arg points here */
    tp_system *sys;
} self_t;

/*  The sink: on the logging thread, one message per line. */
static void
s_sink (void *arg, tp_log_level level, const char *line)
{
    self_t *self = arg;
    if (tp_send (self->sys, self->me, tp_tag ("log"), "is", (int) level, line)
        != 0)
        fprintf (stderr, "%s\n", line); /* (full, or stopping: not lost) */
}

static int
s_init (tp_actor *me, void *arg)
{
    tp_set_state (me, arg);
    return 0;
}

static void
s_receive (tp_actor *me, tp_msg *msg)
{
    self_t *self = tp_state (me);
    const char *line;
    size_t len;
    int level;
    if (tp_msg_is (msg, "log")
        && tp_msg_unpack (msg, "is", &level, &line, &len) == 0) {
        fprintf (self->f, "%.*s\n", (int) len, line);
        fflush (self->f);
    }
}

static void
s_terminate (tp_actor *me, tp_tag_t reason)
{
    (void) reason;
    self_t *self = tp_arg (me);
    /* lines from now on: stderr again (before the state goes) */
    tp_system_set_log (self->sys, self->level, NULL, NULL);
    if (self->f && self->f != stderr)
        fclose (self->f);
    free (self);
}

static const tp_behavior s_logger_b = {"logger", s_init, s_receive,
                                       s_terminate};

int
tp_logger_start (tp_system *sys, const tp_logger_opts *opts, tp_ref *ref)
{
    if (!sys)
        return TP_EINVAL;
    self_t *self = calloc (1, sizeof *self);
    if (!self)
        abort (); /* (troupe's out-of-memory policy) */
    self->sys = sys;
    self->level = opts ? opts->level : TP_LOG_INFO;
    const char *path = opts ? opts->path : NULL;
    self->f = !path || !strcmp (path, "-") ? stderr : fopen (path, "a");
    if (!self->f) {
        free (self);
        return TP_ESYS;
    }
    tp_spawn_opts so = {.kind = TP_THREAD, .name = "_logger"};
    int rc = tp_spawn (sys, &s_logger_b, self, &so, &self->me);
    if (rc) {
        if (self->f != stderr)
            fclose (self->f);
        free (self);
        return rc;
    }
    if (ref)
        *ref = self->me;
    /* the sink now: lines wait in its mailbox until it runs */
    tp_system_set_log (sys, self->level, s_sink, self);
    return 0;
}
