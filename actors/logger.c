/*  actors/logger.c: the logger actor (actors/logger.h). Built only on
    the public API.

    The sink (on the logging thread) appends the line to a queue the
    logger owns, under a mutex, and wakes the logger with a message when
    the queue was empty; the logger writes what is queued. The queue, not
    the mailbox, holds the lines, so the logger's end (even at system
    shutdown, which drops mailboxes) writes every line that came before. */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <troupe/logger.h>
#include <troupe/troupe.h>

typedef struct line {
    struct line *next;
    char text[];
} line_t;

typedef struct {
    FILE *f;             /* where the lines go (owned unless stderr) */
    tp_log_level level;  /* the sink's level (kept when it is removed) */
    tp_ref me;
    tp_system *sys;
    pthread_mutex_t lock; /* the queue */
    line_t *head, *tail;
} self_t;

static void
s_sink (void *arg, tp_log_level level, const char *text)
{
    (void) level;
    self_t *self = arg;
    size_t n = strlen (text);
    line_t *l = malloc (sizeof *l + n + 1);
    if (!l)
        abort (); /* (troupe's out-of-memory policy) */
    memcpy (l->text, text, n + 1);
    l->next = NULL;
    pthread_mutex_lock (&self->lock);
    bool was_empty = !self->head;
    if (self->tail)
        self->tail->next = l;
    else
        self->head = l;
    self->tail = l;
    pthread_mutex_unlock (&self->lock);
    if (was_empty) /* (a wake-up per batch, not per line) */
        tp_send (self->sys, self->me, tp_tag ("wake"), NULL);
}

/*  Writes every queued line. */
static void
s_self_write (self_t *self)
{
    pthread_mutex_lock (&self->lock);
    line_t *l = self->head;
    self->head = self->tail = NULL;
    pthread_mutex_unlock (&self->lock);
    while (l) {
        line_t *next = l->next;
        fprintf (self->f, "%s\n", l->text);
        free (l);
        l = next;
    }
    fflush (self->f);
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
    if (tp_msg_is (msg, "wake"))
        s_self_write (tp_state (me));
}

static void
s_terminate (tp_actor *me, tp_tag_t reason)
{
    (void) reason;
    self_t *self = tp_arg (me);
    /* lines from now on: stderr again; then what came before, written */
    tp_system_set_log (self->sys, self->level, NULL, NULL);
    s_self_write (self);
    if (self->f != stderr)
        fclose (self->f);
    pthread_mutex_destroy (&self->lock);
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
        abort ();
    self->sys = sys;
    self->level = opts ? opts->level : TP_LOG_INFO;
    pthread_mutex_init (&self->lock, NULL);
    const char *path = opts ? opts->path : NULL;
    self->f = !path || !strcmp (path, "-") ? stderr : fopen (path, "a");
    if (!self->f) {
        pthread_mutex_destroy (&self->lock);
        free (self);
        return TP_ESYS;
    }
    tp_spawn_opts so = {.kind = TP_THREAD, .name = "_logger"};
    int rc = tp_spawn (sys, &s_logger_b, self, &so, &self->me);
    if (rc) {
        if (self->f != stderr)
            fclose (self->f);
        pthread_mutex_destroy (&self->lock);
        free (self);
        return rc;
    }
    if (ref)
        *ref = self->me;
    tp_system_set_log (sys, self->level, s_sink, self);
    return 0;
}
