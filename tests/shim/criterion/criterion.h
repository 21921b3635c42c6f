/*  tests/shim/criterion/criterion.h: a minimal, in-process stand-in for
    the part of criterion our tests use.

    Why: criterion runs every test in a forked child whose memory arena
    it maps at start-up; under ThreadSanitizer that mapping fails ("Could
    not initialize inheritable arena"), so `make tsan` builds the same
    test files against this header instead. Tests run one after another
    in one process; the first failed assertion prints and exits 1.
    Options such as .timeout are accepted and ignored (the CI job has its
    own time limit).
*/
#ifndef TP_CRITERION_SHIM_H
#define TP_CRITERION_SHIM_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*tt_shim_fn) (void);
void tt_shim_register (const char *suite, const char *name, tt_shim_fn fn);

struct tt_shim_opts {
    int timeout;
    int exit_code;
    int signal;
    const char *description;
    void (*init) (void);
    void (*fini) (void);
};

#define Test(suite, name, ...)                                                \
    static void suite##_##name##_impl (void);                                \
    __attribute__ ((constructor)) static void suite##_##name##_reg (void)    \
    {                                                                         \
        tt_shim_register (#suite, #name, suite##_##name##_impl);             \
    }                                                                         \
    static void suite##_##name##_impl (void)

#define TT_SHIM_FAIL(cond_text, ...)                                          \
    do {                                                                      \
        fprintf (stderr, "%s:%d: assertion failed: %s\n", __FILE__, __LINE__, \
                 cond_text);                                                  \
        fprintf (stderr, "  " __VA_ARGS__);                                   \
        fprintf (stderr, "\n");                                               \
        exit (1);                                                             \
    } while (0)

#define cr_assert(cond, ...)                                                  \
    do {                                                                      \
        if (!(cond))                                                          \
            TT_SHIM_FAIL (#cond, "" __VA_ARGS__);                            \
    } while (0)
#define cr_expect cr_assert
#define cr_assert_not(cond, ...) cr_assert (!(cond), __VA_ARGS__)
#define cr_assert_eq(a, b, ...) cr_assert ((a) == (b), __VA_ARGS__)
#define cr_assert_neq(a, b, ...) cr_assert ((a) != (b), __VA_ARGS__)
#define cr_assert_lt(a, b, ...) cr_assert ((a) < (b), __VA_ARGS__)
#define cr_assert_leq(a, b, ...) cr_assert ((a) <= (b), __VA_ARGS__)
#define cr_assert_gt(a, b, ...) cr_assert ((a) > (b), __VA_ARGS__)
#define cr_assert_geq(a, b, ...) cr_assert ((a) >= (b), __VA_ARGS__)
#define cr_assert_null(p, ...) cr_assert ((p) == NULL, __VA_ARGS__)
#define cr_assert_not_null(p, ...) cr_assert ((p) != NULL, __VA_ARGS__)
#define cr_assert_str_eq(a, b, ...) cr_assert (strcmp ((a), (b)) == 0, __VA_ARGS__)
#define cr_assert_str_neq(a, b, ...) cr_assert (strcmp ((a), (b)) != 0, __VA_ARGS__)
#define cr_assert_arr_eq(a, b, n, ...) cr_assert (memcmp ((a), (b), (n)) == 0, __VA_ARGS__)
#define cr_assert_float_eq(a, b, eps, ...)                                    \
    cr_assert (((a) - (b)) < (eps) && ((b) - (a)) < (eps), __VA_ARGS__)
#define cr_log_info(...) fprintf (stderr, __VA_ARGS__)
#define cr_skip_test(...)                                                     \
    do {                                                                      \
        fprintf (stderr, "  skipped: " __VA_ARGS__);                          \
        fprintf (stderr, "\n");                                               \
        return;                                                               \
    } while (0)

#endif
