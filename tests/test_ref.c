/*  tests/test_ref.c: node names, refs and their text form; error text. */
#include "private.h"

#include <criterion/criterion.h>

/* ------------------------------------------------------------------ */
/*  Node names                                                         */

Test (node, id_interns_a_name_once)
{
    uint32_t a = tp_node_id ("alpha");
    uint32_t b = tp_node_id ("beta");
    cr_assert_gt (a, 0);
    cr_assert_gt (b, 0);
    cr_assert_neq (a, b);
    cr_assert_eq (tp_node_id ("alpha"), a);
    cr_assert_eq (tp_node_id ("beta"), b);
}

Test (node, ids_start_at_one_and_count_up)
{
    /*  Each test runs in a fresh process, so this is the first name. */
    cr_assert_eq (tp_node_id ("first"), 1);
    cr_assert_eq (tp_node_id ("second"), 2);
    cr_assert_eq (tp_node_id ("first"), 1);
}

Test (node, name_returns_the_interned_name)
{
    uint32_t id = tp_node_id ("node-1.example_org");
    const char *name = tp_node_name (id);
    cr_assert_str_eq (name, "node-1.example_org");
    cr_assert_eq (tp_node_name (id), name, "the pointer is stable");
}

Test (node, id_accepts_the_longest_name)
{
    char name[TP_NODE_NAME_MAX + 1];
    memset (name, 'n', TP_NODE_NAME_MAX);
    name[TP_NODE_NAME_MAX] = '\0';
    uint32_t id = tp_node_id (name);
    cr_assert_gt (id, 0);
    cr_assert_str_eq (tp_node_name (id), name);
}

Test (node, id_rejects_invalid_names)
{
    char long_name[TP_NODE_NAME_MAX + 2];
    memset (long_name, 'n', TP_NODE_NAME_MAX + 1);
    long_name[TP_NODE_NAME_MAX + 1] = '\0';
    const char *bad[] = {"", "a b", "a/b", "a:b", "\xc3\xa9t\xc3\xa9", "a\n",
                         long_name};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        cr_assert_eq (tp_node_id (bad[i]), 0, "%s", bad[i]);
    cr_assert_eq (tp_node_id (NULL), 0);
}

Test (node, name_of_an_unknown_id_is_null)
{
    cr_assert_null (tp_node_name (0));
    cr_assert_null (tp_node_name (4000));
    cr_assert_null (tp_node_name (UINT32_MAX));
}

Test (node, id_returns_zero_when_the_table_is_full)
{
    uint32_t kept = tp_node_id ("kept");
    char name[32];
    int added = 0;
    for (;; added++) {
        snprintf (name, sizeof name, "n%d", added);
        if (tp_node_id (name) == 0)
            break;
        cr_assert_lt (added, 100000);
    }
    cr_assert_eq (added + 1, 4096, "the table holds 4096 names");
    cr_assert_eq (tp_node_id ("kept"), kept);
    cr_assert_eq (tp_node_id ("n0"), 2);
    cr_assert_str_eq (tp_node_name (4096), "n4094");
    cr_assert_eq (tp_node_id ("one-more"), 0);
}

enum { S_THREADS = 4, S_NAMES = 300 };

static void *
s_intern (void *arg)
{
    uint32_t *ids = arg;
    char name[32];
    for (int i = 0; i < S_NAMES; i++) {
        snprintf (name, sizeof name, "shared%d", i);
        ids[i] = tp_node_id (name);
    }
    return NULL;
}

Test (node, threads_interning_the_same_names_get_the_same_ids)
{
    static uint32_t ids[S_THREADS][S_NAMES];
    pthread_t threads[S_THREADS];
    for (int t = 0; t < S_THREADS; t++)
        cr_assert_eq (pthread_create (&threads[t], NULL, s_intern, ids[t]), 0);
    for (int t = 0; t < S_THREADS; t++)
        pthread_join (threads[t], NULL);
    for (int i = 0; i < S_NAMES; i++) {
        cr_assert_gt (ids[0][i], 0);
        for (int t = 1; t < S_THREADS; t++)
            cr_assert_eq (ids[t][i], ids[0][i]);
        char name[32];
        snprintf (name, sizeof name, "shared%d", i);
        cr_assert_str_eq (tp_node_name (ids[0][i]), name);
    }
    cr_assert_null (tp_node_name (S_NAMES + 1));
}

/* ------------------------------------------------------------------ */
/*  Refs                                                               */

Test (ref, eq_and_is_nil)
{
    tp_ref a = {1, 2, 3}, b = {1, 2, 3}, c = {1, 2, 4};
    cr_assert (tp_ref_eq (a, b));
    cr_assert_not (tp_ref_eq (a, c));
    cr_assert (tp_ref_is_nil (TP_REF_NIL));
    cr_assert_not (tp_ref_is_nil (a));
}

Test (ref, format_prints_node_index_and_gen)
{
    tp_ref r = {tp_node_id ("nonode"), 42, 1};
    char buf[TP_REF_STRLEN];
    cr_assert_eq (tp_ref_format (r, buf, sizeof buf), 11);
    cr_assert_str_eq (buf, "nonode/42.1");
}

Test (ref, format_prints_nil)
{
    char buf[TP_REF_STRLEN];
    cr_assert_eq (tp_ref_format (TP_REF_NIL, buf, sizeof buf), 3);
    cr_assert_str_eq (buf, "nil");
}

Test (ref, format_reports_a_short_buffer)
{
    tp_ref r = {tp_node_id ("nonode"), 42, 1};
    char buf[12];
    cr_assert_eq (tp_ref_format (r, buf, 11), TP_ETRUNC);
    cr_assert_str_eq (buf, "");
    cr_assert_eq (tp_ref_format (r, NULL, 0), TP_ETRUNC);
    cr_assert_eq (tp_ref_format (r, buf, 12), 11);
}

Test (ref, format_fits_the_longest_ref_in_TP_REF_STRLEN)
{
    char name[TP_NODE_NAME_MAX + 1];
    memset (name, 'x', TP_NODE_NAME_MAX);
    name[TP_NODE_NAME_MAX] = '\0';
    tp_ref r = {tp_node_id (name), UINT32_MAX, UINT32_MAX};
    char buf[TP_REF_STRLEN];
    cr_assert_eq (tp_ref_format (r, buf, sizeof buf), TP_NODE_NAME_MAX + 22);
}

Test (ref, format_prints_an_unknown_node_as_a_question_mark)
{
    tp_ref r = {3999, 1, 1};
    char buf[TP_REF_STRLEN];
    cr_assert_eq (tp_ref_format (r, buf, sizeof buf), 5);
    cr_assert_str_eq (buf, "?/1.1");
    tp_ref out;
    cr_assert_eq (tp_ref_parse (buf, &out), TP_EINVAL);
}

Test (ref, parse_round_trips_the_text_form)
{
    const tp_ref refs[] = {
        {tp_node_id ("nonode"), 0, 1},
        {tp_node_id ("a"), 42, 7},
        {tp_node_id ("host-1.example.org"), UINT32_MAX, UINT32_MAX},
        TP_REF_NIL,
    };
    for (size_t i = 0; i < sizeof refs / sizeof *refs; i++) {
        char buf[TP_REF_STRLEN];
        tp_ref out = {9, 9, 9};
        cr_assert_gt (tp_ref_format (refs[i], buf, sizeof buf), 0);
        cr_assert_eq (tp_ref_parse (buf, &out), 0, "%s", buf);
        cr_assert (tp_ref_eq (out, refs[i]), "%s", buf);
    }
}

Test (ref, parse_interns_an_unknown_node)
{
    tp_ref out;
    cr_assert_null (tp_node_name (tp_node_id ("x") + 1));
    cr_assert_eq (tp_ref_parse ("far-away/3.2", &out), 0);
    cr_assert_str_eq (tp_node_name (out.node), "far-away");
    cr_assert_eq (out.index, 3);
    cr_assert_eq (out.gen, 2);
}

Test (ref, parse_rejects_junk)
{
    char long_name[TP_NODE_NAME_MAX + 8];
    memset (long_name, 'n', TP_NODE_NAME_MAX + 1);
    strcpy (long_name + TP_NODE_NAME_MAX + 1, "/1.1");
    const char *bad[] = {
        "",           "nil ",       "Nil",        "nonode",     "nonode/",
        "nonode/1",   "nonode/1.",  "nonode/.1",  "nonode/1.0", "/1.1",
        "no de/1.1",  "a/1.1x",     "a/1.1 ",     " a/1.1",     "a/-1.1",
        "a/+1.1",     "a/1.-1",     "a/01.1",     "a/1.01",     "a/1..1",
        "a/1.1.1",    "a//1.1",     "a/b/1.1",    "a/0x1.1",    "a/1,1",
        "\xc3\xa9/1.1", long_name,
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        tp_ref out = {7, 7, 7};
        cr_assert_eq (tp_ref_parse (bad[i], &out), TP_EINVAL, "%s", bad[i]);
        cr_assert (tp_ref_eq (out, ((tp_ref){7, 7, 7})), "%s", bad[i]);
    }
    cr_assert_eq (tp_ref_parse (NULL, &(tp_ref){0, 0, 0}), TP_EINVAL);
    cr_assert_eq (tp_ref_parse ("a/1.1", NULL), TP_EINVAL);
}

Test (ref, parse_rejects_overflow)
{
    tp_ref out;
    cr_assert_eq (tp_ref_parse ("a/4294967295.4294967295", &out), 0);
    cr_assert_eq (tp_ref_parse ("a/4294967296.1", &out), TP_EINVAL);
    cr_assert_eq (tp_ref_parse ("a/1.4294967296", &out), TP_EINVAL);
    cr_assert_eq (tp_ref_parse ("a/99999999999999999999999.1", &out),
                  TP_EINVAL);
}

Test (ref, parse_does_not_intern_a_rejected_name)
{
    tp_ref out;
    uint32_t before = tp_node_id ("probe");
    cr_assert_eq (tp_ref_parse ("junknode/1.x", &out), TP_EINVAL);
    cr_assert_eq (tp_node_id ("after"), before + 1);
}

/* ------------------------------------------------------------------ */
/*  Error text                                                         */

Test (error, strerror_describes_every_code)
{
    cr_assert_str_eq (tp_strerror (0), "success");
    cr_assert_str_eq (tp_strerror (TP_EDEAD),
                      "no such actor (dead or never existed)");
    cr_assert_str_eq (tp_strerror (TP_ETRUNC), "buffer too small");
    for (int rc = TP_ENODE; rc < 0; rc++) {
        cr_assert_str_neq (tp_strerror (rc), "unknown error", "%d", rc);
        cr_assert_str_neq (tp_errname (rc), "TP_E?", "%d", rc);
    }
}

Test (error, errname_gives_the_symbol)
{
    cr_assert_str_eq (tp_errname (0), "TP_OK");
    cr_assert_str_eq (tp_errname (TP_EINVAL), "TP_EINVAL");
    cr_assert_str_eq (tp_errname (TP_EPROTO), "TP_EPROTO");
    cr_assert_str_eq (tp_errname (TP_ENODE), "TP_ENODE");
}

Test (error, unknown_codes_have_fallback_text)
{
    cr_assert_str_eq (tp_strerror (1), "unknown error");
    cr_assert_str_eq (tp_strerror (-1000), "unknown error");
    cr_assert_str_eq (tp_errname (-1000), "TP_E?");
    cr_assert_str_eq (tp_errname (TP_ENAMETAKEN - 1), "TP_E?");
}
