/*  tests/test_logger.c: tp_log lines (from main and from actors) and the
    logger actor that writes them to a file, in order. */
#include <criterion/criterion.h>
#include <unistd.h>

#include "logger.h"
#include "testutil.h"

static _Atomic long g_logged;

static void
chatty_receive (tp_actor *self, tp_msg *msg)
{
    int i;
    if (tp_msg_is (msg, "log") && tp_msg_unpack (msg, "i", &i) == 0) {
        tp_log (tp_system_of (self), TP_LOG_INFO, "line %d from an actor", i);
        tp_log (tp_system_of (self), TP_LOG_DEBUG, "debug %d: dropped", i);
        tt_add (&g_logged, 1);
    }
}
static const tp_behavior chatty_b = {"chatty", NULL, chatty_receive, NULL};

typedef struct {
    int lines;
    char last[1200];
} sink_rec;

static void
s_sink (void *arg, tp_log_level level, const char *line)
{
    sink_rec *r = arg;
    (void) level;
    r->lines++;
    snprintf (r->last, sizeof r->last, "%s", line);
}

Test (log, lines_say_when_how_bad_which_node_and_actor, .timeout = 30)
{
    tp_system_opts o = {.node_name = "logn"};
    tp_system *sys = tp_system_new (&o);
    sink_rec r = {0};
    tp_system_set_log (sys, TP_LOG_INFO, s_sink, &r);
    tp_log (sys, TP_LOG_WARN, "from %s", "main");
    cr_assert_eq (r.lines, 1);
    cr_assert_not_null (strstr (r.last, " warn  logn: from main"), "%s",
                        r.last);
    cr_assert_eq (r.last[4], '-'); /* 2026-12-01T... */
    cr_assert_eq (r.last[10], 'T');
    tp_log (sys, TP_LOG_DEBUG, "dropped");
    cr_assert_eq (r.lines, 1);
    cr_assert (!tp_log_enabled (sys, TP_LOG_DEBUG));
    cr_assert (tp_log_enabled (sys, TP_LOG_ERROR));
    tp_system_set_log (sys, TP_LOG_INFO, NULL, NULL);
    tp_system_destroy (&sys);
}

Test (log, the_logger_actor_writes_every_line_in_order, .timeout = 30)
{
    char path[] = "/tmp/tp-log-XXXXXX";
    int fd = mkstemp (path);
    cr_assert_geq (fd, 0);
    close (fd);
    tp_system_opts o = {.node_name = "logn"};
    tp_system *sys = tp_system_new (&o);
    tp_logger_opts lo = {.path = path, .level = TP_LOG_INFO};
    cr_assert_eq (tp_logger_start (sys, &lo, NULL), 0);
    tp_ref a;
    cr_assert_eq (tp_spawn (sys, &chatty_b, NULL, NULL, &a), 0);
    for (int i = 0; i < 100; i++)
        cr_assert_eq (tp_send (sys, a, tp_tag ("log"), "i", i), 0);
    cr_assert (tt_wait_ge (&g_logged, 100, 5000));
    tp_system_destroy (&sys); /* (the logger writes what it has first) */
    FILE *f = fopen (path, "r");
    cr_assert_not_null (f);
    char line[1200];
    int next = 0;
    char ref[TP_REF_STRLEN];
    tp_ref_format (a, ref, sizeof ref);
    while (fgets (line, sizeof line, f)) {
        int i;
        const char *p = strstr (line, "line ");
        if (p && sscanf (p, "line %d", &i) == 1) {
            cr_assert_eq (i, next, "out of order: %s", line);
            next++;
            cr_assert_not_null (strstr (line, ref), "no actor ref: %s", line);
            cr_assert_not_null (strstr (line, " chatty: "), "%s", line);
        }
        cr_assert_null (strstr (line, "dropped"));
    }
    fclose (f);
    unlink (path);
    cr_assert_eq (next, 100, "%d of 100 lines", next);
    TT_NO_FAILURES ();
}
