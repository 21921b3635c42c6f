/*  tests/test_seeds.c: every seed (and every crash kept, once fixed) of
    the fuzz corpora replayed through the same checks as the fuzzers, in
    make check: tests/fuzz/corpus/{unpack,wire,hello}. A failed check
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
