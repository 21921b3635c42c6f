/*  tests/testutil.h: helpers shared by the criterion tests.

    Every wait is bounded. Bounds scale with TP_TEST_TIMEOUT_MULTIPLIER
    (set by `make sanitize`, `make tsan`, `make valgrind`), as libuv's
    UV_TEST_TIMEOUT_MULTIPLIER does.
*/
#ifndef TP_TESTUTIL_H_INCLUDED
#define TP_TESTUTIL_H_INCLUDED

#include <inttypes.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "troupe.h"

/*  Checks made inside actor callbacks (other threads than the test's,
    where criterion's cr_assert must not be used) count failures here;
    each test ends with TT_NO_FAILURES (). */
static _Atomic long tt_fail;
#define TT_CHECK(c)                                                           \
    do {                                                                      \
        if (!(c)) {                                                           \
            atomic_fetch_add (&tt_fail, 1);                                   \
            fprintf (stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, \
                     #c);                                                     \
        }                                                                     \
    } while (0)
#define TT_NO_FAILURES()                                                      \
    cr_assert_eq (atomic_load (&tt_fail), 0, "%ld checks failed in actors",   \
                  atomic_load (&tt_fail))

/*  Returns ms scaled by the environment multiplier. */
static inline int
tt_ms (int ms)
{
    const char *m = getenv ("TP_TEST_TIMEOUT_MULTIPLIER");
    int k = m ? atoi (m) : 1;
    return ms * (k > 0 ? k : 1);
}

static inline uint64_t
tt_now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

/*  Waits until *flag >= want or ms (scaled) pass, polling every 1 ms.
    Returns true if the condition held in time. */
static inline bool
tt_wait_ge (_Atomic long *flag, long want, int ms)
{
    uint64_t end = tt_now_ms () + (uint64_t) tt_ms (ms);
    while (atomic_load (flag) < want) {
        if (tt_now_ms () > end)
            return false;
        struct timespec ts = {0, 1000000};
        nanosleep (&ts, NULL);
    }
    return true;
}

#endif
