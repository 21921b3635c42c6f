/*  tests/shim/shim_main.c: runs the tests registered through the
    criterion shim (see shim/criterion/criterion.h), in order, each in a
    plain forked child (so that tests keep criterion's isolation).
    Accepts and ignores criterion's command-line options, except
    --filter SUITE/NAME-PREFIX. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "criterion/criterion.h"

#define TT_SHIM_MAX 512

typedef struct {
    const char *suite, *name;
    tt_shim_fn fn;
} tt_shim_test;
static tt_shim_test s_tests[TT_SHIM_MAX];
static int s_ntests;

void
tt_shim_register (const char *suite, const char *name, tt_shim_fn fn)
{
    if (s_ntests < TT_SHIM_MAX)
        s_tests[s_ntests++] = (tt_shim_test){suite, name, fn};
}

int
main (int argc, char **argv)
{
    const char *filter = NULL;
    for (int i = 1; i < argc; i++)
        if (strcmp (argv[i], "--filter") == 0 && i + 1 < argc)
            filter = argv[++i];
    int run = 0, failed = 0;
    for (int k = 0; k < s_ntests; k++) {
        char full[256];
        snprintf (full, sizeof full, "%s/%s", s_tests[k].suite, s_tests[k].name);
        if (filter) {
            size_t n = strcspn (filter, "*");
            if (strncmp (full, filter, n) != 0)
                continue;
        }
        fflush (stderr);
        pid_t pid = fork ();
        if (pid == 0) {
            s_tests[k].fn ();
            exit (0);
        }
        int st = 0;
        waitpid (pid, &st, 0);
        run++;
        if (!WIFEXITED (st) || WEXITSTATUS (st) != 0) {
            failed++;
            fprintf (stderr, "[FAIL] %s (status %d)\n", full, st);
        }
    }
    fprintf (stderr, "[====] %s: %d tests, %d failed (shim runner)\n", argv[0],
             run, failed);
    return failed ? 1 : 0;
}
