/*  tests/testutil.h: helpers shared by the criterion tests.

    Every wait is bounded. Bounds scale with TP_TEST_TIMEOUT_MULTIPLIER
    (set by `make sanitize`, `make tsan`, `make valgrind`), as libuv's
    UV_TEST_TIMEOUT_MULTIPLIER does.
*/
#ifndef TP_TESTUTIL_H_INCLUDED
#define TP_TESTUTIL_H_INCLUDED

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/futex.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/syscall.h>
#include <unistd.h>
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

/*  True where memory figures mean something: not under ASan or TSan
    (freed memory waits in their quarantine) nor valgrind. Tests that
    bound RSS check it there only; the behaviour is tested everywhere. */
static inline bool
tt_memory_bounds (void)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    return false;
#else
    return getenv ("TP_VALGRIND") == NULL;
#endif
}

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

/*  Event flags. Actors (any thread) change a flag with tt_add / tt_set;
    the test waits with tt_wait_ge, asleep on a futex until a change
    brings the flag to what it waits for, or the bound passes. A waiter
    registers (flag, want) in one of a few slots first, so that a change
    nobody waits for costs no system call. Registration, then check; change,
    then look at the slots: with sequentially consistent atomics one side
    always sees the other, so no wake-up is lost. */
#define TT_WAITERS 4
static _Atomic uint32_t tt_seq; /* bumped on each wake-up */
static _Atomic (_Atomic long *) tt_wflag[TT_WAITERS];
static _Atomic long tt_wwant[TT_WAITERS];

static inline void
tt__changed (_Atomic long *flag, long v)
{
    for (int i = 0; i < TT_WAITERS; i++)
        if (atomic_load (&tt_wflag[i]) == flag && v >= atomic_load (&tt_wwant[i])) {
            atomic_fetch_add (&tt_seq, 1);
            syscall (SYS_futex, &tt_seq, FUTEX_WAKE_PRIVATE, INT_MAX, NULL,
                     NULL, 0);
            return;
        }
}

/*  Adds n to *flag and wakes a waiter it satisfies; returns the new value. */
static inline long
tt_add (_Atomic long *flag, long n)
{
    long v = atomic_fetch_add (flag, n) + n;
    tt__changed (flag, v);
    return v;
}

/*  Sets *flag to v and wakes a waiter it satisfies. */
static inline void
tt_set (_Atomic long *flag, long v)
{
    atomic_store (flag, v);
    tt__changed (flag, v);
}

/*  Waits until *flag >= want or ms (scaled) pass. Returns true if the
    condition held in time. Safe from any thread, TT_WAITERS at a time. */
static inline bool
tt_wait_ge (_Atomic long *flag, long want, int ms)
{
    /* A slot is taken with a placeholder, then given its wanted value,
       then its flag: a waker never reads the want of another waiter (a
       waiter on another thread used to overwrite it, and then missed its
       wake-up until its timeout). */
    static _Atomic long reserved;
    int slot = -1;
    for (int i = 0; slot < 0; i = (i + 1) % TT_WAITERS) {
        _Atomic long *none = NULL;
        if (atomic_compare_exchange_strong (&tt_wflag[i], &none, &reserved))
            slot = i;
    }
    atomic_store (&tt_wwant[slot], want);
    atomic_store (&tt_wflag[slot], flag);
    uint64_t end = tt_now_ms () + (uint64_t) tt_ms (ms);
    bool ok;
    for (;;) {
        uint32_t seq = atomic_load (&tt_seq);
        if ((ok = atomic_load (flag) >= want))
            break;
        uint64_t now = tt_now_ms ();
        if (now >= end)
            break;
        uint64_t left = end - now;
        struct timespec ts = {(time_t) (left / 1000),
                              (long) (left % 1000) * 1000000L};
        syscall (SYS_futex, &tt_seq, FUTEX_WAIT_PRIVATE, seq, &ts, NULL, 0);
    }
    atomic_store (&tt_wflag[slot], NULL);
    return ok;
}

/*  Waits until the file at path exists with something in it (a process
    we started writes it when ready), or ms (scaled) pass: inotify on its
    directory, no polling. Returns true if it did in time. */
static inline bool
tt_wait_file (const char *path, int ms)
{
    char dir[4096];
    snprintf (dir, sizeof dir, "%s", path);
    char *slash = strrchr (dir, '/');
    if (!slash)
        snprintf (dir, sizeof dir, ".");
    else
        *(slash == dir ? slash + 1 : slash) = '\0';
    int fd = inotify_init1 (IN_CLOEXEC);
    if (fd < 0)
        return false;
    bool ok = false;
    uint64_t end = tt_now_ms () + (uint64_t) tt_ms (ms);
    if (inotify_add_watch (fd, dir, IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE)
        >= 0)
        for (;;) {
            FILE *f = fopen (path, "r"); /* after the watch: nothing missed */
            if (f) {
                ok = fgetc (f) != EOF;
                fclose (f);
                if (ok)
                    break;
            }
            uint64_t now = tt_now_ms ();
            if (now >= end)
                break;
            struct pollfd p = {fd, POLLIN, 0};
            if (poll (&p, 1, (int) (end - now)) > 0) {
                char buf[4096];
                if (read (fd, buf, sizeof buf) < 0 && errno != EAGAIN)
                    break;
            }
        }
    close (fd);
    return ok;
}

/*  Writes the build directory (the test binary lives in BUILD/tests/)
    into out: where the tools, modules and libraries a test runs are. */
static inline void
tt_build_dir (char *out, size_t cap)
{
    char exe[4096];
    ssize_t n = readlink ("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        abort (); /* (Linux: /proc is always there for a test) */
    exe[n] = '\0';
    for (int i = 0; i < 2; i++) {
        char *slash = strrchr (exe, '/');
        if (slash)
            *slash = '\0';
    }
    size_t len = strlen (exe);
    if (len >= cap)
        abort (); /* (a buffer too small for the path: the test's bug) */
    memcpy (out, exe, len + 1);
}

/*  Copies the last 4 KiB of the file at path (a child's log) to stderr,
    headed by what: so a child that ended badly says why in the test's
    output (a sanitizer's report, an error line). */
static inline void
tt_show_log (const char *path, const char *what)
{
    FILE *f = fopen (path, "r");
    if (!f) {
        fprintf (stderr, "%s: (no log at %s)\n", what, path);
        return;
    }
    char buf[4096];
    fseek (f, 0, SEEK_END);
    long size = ftell (f);
    fseek (f, size > (long) sizeof buf - 1 ? size - (long) sizeof buf + 1 : 0,
           SEEK_SET);
    size_t n = fread (buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose (f);
    fprintf (stderr, "%s: the end of its log (%s):\n%s\n", what, path, buf);
}

/*  Waits (bounded) until node `name` is up at sys, or down with up
    false, on the node's own events (tp_node_wait). */
static inline bool
tt_wait_peer (tp_system *sys, const char *name, bool up, int ms)
{
    uint64_t seq = 0, end = tt_now_ms () + (uint64_t) tt_ms (ms);
    while (tp_node_up (sys, tp_node_id (name)) != up) {
        uint64_t now = tt_now_ms ();
        if (now >= end || tp_node_wait (sys, &seq, (int) (end - now)) != 0)
            return tp_node_up (sys, tp_node_id (name)) == up;
    }
    return true;
}

/*  Entries of a /proc directory (threads: /proc/self/task, fds:
    /proc/self/fd), "." and ".." aside. */
static inline int
tt_count_dir (const char *path)
{
    DIR *d = opendir (path);
    int n = 0;
    for (struct dirent *e; d && (e = readdir (d));)
        n += e->d_name[0] != '.';
    if (d)
        closedir (d);
    return n;
}

/*  A field of /proc/self/status in KiB ("VmRSS", "VmHWM"), 0 if none. */
static inline long
tt_status_kib (const char *field)
{
    FILE *f = fopen ("/proc/self/status", "r");
    char line[256];
    long kib = 0;
    size_t n = strlen (field);
    while (f && fgets (line, sizeof line, f))
        if (strncmp (line, field, n) == 0 && line[n] == ':') {
            kib = atol (line + n + 1);
            break;
        }
    if (f)
        fclose (f);
    return kib;
}

#endif
