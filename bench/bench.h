/*  bench/bench.h: what the two halves of troupe_bench share.

    troupe_bench.c has the original workloads and main; troupe_user.c has
    the workloads written the way a user writes them (default options,
    realistic bodies, latency under load). See CONTRACT.md.
*/
#ifndef TB_BENCH_H_INCLUDED
#define TB_BENCH_H_INCLUDED

#include <stdatomic.h>
#include <stdbool.h>

#include <troupe/troupe.h>

typedef struct {
    long n, senders, actors, hops, tasks, fib;
    const char *variant;
} tb_params;

/*  The command line's parameters (0: the workload's default). */
extern tb_params P;

/*  Set by the finishing actor: g_t1 and the futex word g_done. */
extern _Atomic uint32_t g_done;
extern double g_t0, g_t1;

/*  Monotonic seconds. */
double tb_now (void);
/*  Ends the timed region (g_t1) and wakes tb_wait_done. */
void tb_finish (void);
/*  Waits up to seconds for tb_finish. Returns 0, or -1 on timeout. */
int tb_wait_done (int seconds);
/*  A system with that many workers (exits on failure); resets g_done. */
tp_system *tb_sys (int workers);
/*  True if --variant is unset or equal to variant. */
bool tb_want (const char *variant);
/*  Prints one CSV row (value as an integer / with three decimals). */
void tb_row (const char *wl, const char *variant, const char *metric, double v,
             const char *unit);
void tb_row_f (const char *wl, const char *variant, const char *metric,
               double v, const char *unit);
/*  Spawn options placing an actor on that worker. */
tp_spawn_opts tb_on (int worker);
/*  Resident set size now, bytes. */
long tb_rss_bytes (void);

/*  The workloads of troupe_user.c; each returns 0 or -1 (its check
    failed or it timed out). */
int tb_asks (void);
int tb_hol (void);
int tb_fanout (void);
int tb_mapbody (void);
int tb_flood (void);
int tb_call (void);
int tb_sends (void);

#endif
