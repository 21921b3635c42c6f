/*  tests/test_seeds.c: every seed (and every crash kept, once fixed) of
    the fuzz corpora replayed through the same checks as the fuzzers, in
    make check: tests/fuzz/corpus/{unpack,wire,hello,curve}. A failed check
    aborts, which criterion reports as a crash of the test. */
#include <criterion/criterion.h>
#include <dirent.h>

#include "testutil.h"

#define TT_UNUSED_FAIL() (void) tt_fail

/* the fuzz targets, each under a name of its own */
#define LLVMFuzzerTestOneInput s_fuzz_wire
#include "fuzz/fuzz_wire.c"
#undef LLVMFuzzerTestOneInput
#undef S_CHECK
#define LLVMFuzzerTestOneInput s_fuzz_hello
#include "fuzz/fuzz_hello.c"
#undef LLVMFuzzerTestOneInput
#undef S_CHECK
#define LLVMFuzzerTestOneInput s_fuzz_curve
#include "fuzz/fuzz_curve.c"
#undef LLVMFuzzerTestOneInput
#undef S_CHECK

typedef int (*one_fn) (const uint8_t *, size_t);

/*  Runs fn on every file of tests/fuzz/corpus/name; returns how many. */
static int
s_replay (const char *name, one_fn fn)
{
    char dir[512];
    snprintf (dir, sizeof dir, "%s/fuzz/corpus/%s", TT_SRC_TESTS, name);
    DIR *d = opendir (dir);
    cr_assert_not_null (d, "no corpus %s", dir);
    int n = 0;
    for (struct dirent *e; (e = readdir (d));) {
        if (e->d_name[0] == '.')
            continue;
        char path[1024];
        snprintf (path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen (path, "rb");
        cr_assert_not_null (f);
        static uint8_t buf[1 << 20];
        size_t len = fread (buf, 1, sizeof buf, f);
        fclose (f);
        /* (a copy of its own size, so that a read past the end is seen
           by the sanitizers) */
        uint8_t *copy = malloc (len ? len : 1);
        memcpy (copy, buf, len);
        fn (copy, len);
        free (copy);
        n++;
    }
    closedir (d);
    return n;
}

Test (seeds, the_wire_corpus_passes_the_fuzzer_checks)
{
    TT_UNUSED_FAIL ();
    cr_assert_gt (s_replay ("wire", s_fuzz_wire), 10);
}

Test (seeds, the_hello_corpus_passes_the_fuzzer_checks)
{
    cr_assert_gt (s_replay ("hello", s_fuzz_hello), 5);
    /* and the wire checks hold for greetings too */
    cr_assert_gt (s_replay ("hello", s_fuzz_wire), 5);
}

Test (seeds, the_curve_corpus_passes_the_fuzzer_checks)
{
    cr_assert_gt (s_replay ("curve", s_fuzz_curve), 10);
}

Test (seeds, zap_requests_and_key_texts_are_decided_strictly)
{
    static const uint8_t zero[32], other[32] = {1};
    const uint8_t allow[1][32] = {{0}};
    tp__zap_frame f[7] = {{"1.0", 3}, {"9", 1},      {"", 0},
                          {"127.0.0.1", 9}, {"", 0}, {"CURVE", 5},
                          {zero, 32}};
    tp__zap_verdict v;
    tp__zap_decide (f, 7, allow, 1, &v);
    cr_assert (v.ok);
    cr_assert_str_eq (v.addr, "127.0.0.1");
    cr_assert_eq (strlen (v.key), 40);
    f[6].data = other;
    tp__zap_decide (f, 7, allow, 1, &v);
    cr_assert (!v.ok, "a key not allowed");
    f[6].data = zero;
    f[0].data = "2.0";
    tp__zap_decide (f, 7, allow, 1, &v);
    cr_assert (!v.ok, "another ZAP version");
    f[0].data = "1.0";
    f[5] = (tp__zap_frame){"PLAIN", 5};
    tp__zap_decide (f, 7, allow, 1, &v);
    cr_assert (!v.ok, "another mechanism");
    f[5] = (tp__zap_frame){"CURVE", 5};
    tp__zap_decide (f, 6, allow, 1, &v);
    cr_assert (!v.ok, "no credentials");
    tp__zap_decide (f, 7, allow, 0, &v);
    cr_assert (!v.ok, "an empty allow-list admits nobody");
    f[3] = (tp__zap_frame){"\x01\xff", 2};
    tp__zap_decide (f, 7, allow, 1, &v);
    cr_assert_str_eq (v.addr, "??");

    char z[41];
    uint8_t bin[32];
    const char *k = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
    cr_assert_eq (tp__key_parse (k, 40, z, bin), 0);
    cr_assert_str_eq (z, k);
    char line[48];
    snprintf (line, sizeof line, "%s\r\n", k);
    cr_assert_eq (tp__key_parse (line, strlen (line), z, NULL), 0);
    cr_assert_eq (tp__key_parse (k, 39, z, NULL), TP_EINVAL);
    cr_assert_eq (tp__key_parse ("%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%",
                                 40, z, NULL),
                  TP_EINVAL, "a key past 2^32 per group wraps: refused");
    snprintf (line, sizeof line, "%s", k);
    line[7] = '"';
    cr_assert_eq (tp__key_parse (line, 40, z, NULL), TP_EINVAL);
}

Test (seeds, the_unpack_corpus_decodes_without_harm)
{
    /* (fuzz_unpack's checks need formats from the input: its seeds go
       through the wire decoder and tp_msg_validate here) */
    char dir[512];
    snprintf (dir, sizeof dir, "%s/fuzz/corpus/unpack", TT_SRC_TESTS);
    DIR *d = opendir (dir);
    cr_assert_not_null (d);
    int n = 0;
    for (struct dirent *e; (e = readdir (d));) {
        if (e->d_name[0] == '.')
            continue;
        char path[1024];
        snprintf (path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen (path, "rb");
        static uint8_t buf[1 << 20];
        size_t len = f ? fread (buf, 1, sizeof buf, f) : 0;
        if (f)
            fclose (f);
        tp_msg *m = tp_msg_new_raw (tp_tag ("x"), buf, len);
        (void) tp_msg_validate (m);
        tp_reader rd;
        tp_reader_init (&rd, m);
        while (!tp_reader_done (&rd) && tp_reader_skip (&rd) == 0)
            ;
        tp_msg_destroy (&m);
        s_fuzz_wire (buf, len);
        n++;
    }
    closedir (d);
    cr_assert_gt (n, 5);
}
