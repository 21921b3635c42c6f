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

Test (node, ids_are_a_generation_and_an_index_from_1_to_4095)
{
    /*  An id is (generation << 12) | index. Earlier names may have taken
        any entries, so only the shape is certain. */
    uint32_t first = tp_node_id ("first");
    uint32_t second = tp_node_id ("second");
    cr_assert_neq (first & 4095, 0);
    cr_assert_neq (second & 4095, 0);
    cr_assert_neq (first & 4095, second & 4095, "two live names, two entries");
    cr_assert_eq (tp_node_id ("first"), first);
    cr_assert_eq (tp_node_id ("second"), second);
    cr_assert_eq (tp_node_incarnation (first), 0);
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
    /* index 0 is no entry, whatever the generation */
    cr_assert_null (tp_node_name (1u << 12));
    cr_assert_null (tp_node_name (UINT32_MAX & ~4095u));
    cr_assert_eq (tp_node_incarnation (1u << 12), 0);
    /* the next generation of a live entry is not live yet */
    uint32_t id = tp_node_id ("known");
    cr_assert_null (tp_node_name (id + (1u << 12)));
    cr_assert_eq (tp_node_incarnation (id + (1u << 12)), 0);
}

/*  Interns n names never used before in this process. Enough of them
    (2 x 4095 after the table is full) make the table reclaim every entry
    that is not pinned: the clock hand passes an entry once to clear its
    "recent" mark and takes it on the next pass. */
static void
s_churn (int n)
{
    static int next;
    char name[32];
    for (int i = 0; i < n; i++) {
        snprintf (name, sizeof name, "churn-%d", next++);
        uint32_t id = tp_node_id (name);
        cr_assert_neq (id, 0, "%s", name);
        cr_assert_neq (id & 4095, 0);
    }
}

Test (node, interning_far_more_names_than_the_table_holds_never_fails)
{
    char name[32];
    uint32_t prev = 0, first = 0;
    for (int i = 0; i < 20000; i++) {
        snprintf (name, sizeof name, "n%d", i);
        uint32_t id = tp_node_id (name);
        cr_assert_neq (id, 0, "%s", name);
        if (i == 0)
            first = id;
        cr_assert_str_eq (tp_node_name (id), name);
        cr_assert_eq (tp_node_id (name), id, "%s: looked up again", name);
        cr_assert_neq (id, prev);
        prev = id;
    }
    /* the oldest names were reclaimed to make room; their names intern
       again, under new ids */
    cr_assert_null (tp_node_name (first));
    uint32_t again = tp_node_id ("n0");
    cr_assert_neq (again, 0);
    cr_assert_neq (again, first);
    cr_assert_str_eq (tp_node_name (again), "n0");
}

Test (node, a_reclaimed_id_never_resolves_again)
{
    uint32_t victim = tp_node_id ("victim");
    tp_ref r;
    cr_assert_eq (tp_ref_parse ("victim/1.1:0000beef", &r), 0);
    uint32_t victim_inc = r.node;
    cr_assert_str_eq (tp_node_name (victim), "victim");
    s_churn (20000);
    cr_assert_null (tp_node_name (victim));
    cr_assert_eq (tp_node_incarnation (victim), 0);
    cr_assert_null (tp_node_name (victim_inc));
    cr_assert_eq (tp_node_incarnation (victim_inc), 0,
                  "a reclaimed id has no incarnation");
    /* the same name comes back as another id */
    uint32_t back = tp_node_id ("victim");
    cr_assert_neq (back, 0);
    cr_assert_neq (back, victim);
    cr_assert_str_eq (tp_node_name (back), "victim");
    cr_assert_eq (tp_ref_parse ("victim/1.1:0000beef", &r), 0);
    cr_assert_neq (r.node, victim_inc);
    cr_assert_eq (tp_node_incarnation (r.node), 0xbeef);
    /* and the old ids stay dead, even once their entries are reused */
    s_churn (20000);
    cr_assert_null (tp_node_name (victim));
    cr_assert_null (tp_node_name (victim_inc));
    char buf[TP_REF_STRLEN];
    tp_ref old = {victim_inc, 4, 2};
    cr_assert_eq (tp_ref_format (old, buf, sizeof buf), 5);
    cr_assert_str_eq (buf, "?/4.2");
}

Test (node, a_pinned_id_survives_any_churn)
{
    uint32_t id = tp_node_id ("held");
    cr_assert_eq (tp__node_pin (id, 1), 0);
    uint32_t loose = tp_node_id ("loose");
    s_churn (30000);
    cr_assert_str_eq (tp_node_name (id), "held");
    cr_assert_eq (tp_node_id ("held"), id);
    cr_assert_null (tp_node_name (loose), "an unpinned id is reclaimed");
    /* unpinned, it goes the way of the others */
    cr_assert_eq (tp__node_pin (id, -1), 0);
    s_churn (20000);
    cr_assert_null (tp_node_name (id));
    cr_assert_eq (tp__node_pin (id, 1), TP_ENOTFOUND);
}

Test (node, a_systems_own_node_survives_any_churn)
{
    tp_system_opts opts = {.workers = 1, .node_name = "sys-node.1"};
    tp_system *sys = tp_system_new (&opts);
    cr_assert_not_null (sys);
    uint32_t id = tp_system_node (sys);
    uint32_t inc = tp_node_incarnation (id);
    cr_assert_neq (inc, 0, "a system's node has its incarnation");
    cr_assert_neq (id, tp_node_id ("sys-node.1"));
    s_churn (30000);
    cr_assert_str_eq (tp_node_name (id), "sys-node.1");
    cr_assert_eq (tp_node_incarnation (id), inc);
    cr_assert_eq (tp_system_node (sys), id);
    /* its refs keep their text form */
    tp_ref r = {id, 7, 1}, back;
    char buf[TP_REF_STRLEN], want[TP_REF_STRLEN];
    snprintf (want, sizeof want, "sys-node.1/7.1:%08" PRIx32, inc);
    cr_assert_gt (tp_ref_format (r, buf, sizeof buf), 0);
    cr_assert_str_eq (buf, want);
    cr_assert_eq (tp_ref_parse (buf, &back), 0);
    cr_assert (tp_ref_eq (back, r));
    tp_system_destroy (&sys);
    /* once the system is gone, its id is an ordinary one */
    s_churn (20000);
    cr_assert_null (tp_node_name (id));
}

Test (node, ids_of_one_name_differ_by_incarnation)
{
    tp_ref plain, a, b, a2;
    cr_assert_eq (tp_ref_parse ("same/1.1", &plain), 0);
    cr_assert_eq (tp_ref_parse ("same/1.1:0000002a", &a), 0);
    cr_assert_eq (tp_ref_parse ("same/1.1:0000002b", &b), 0);
    cr_assert_eq (tp_ref_parse ("same/2.5:0000002a", &a2), 0);
    cr_assert_eq (plain.node, tp_node_id ("same"));
    cr_assert_neq (a.node, plain.node);
    cr_assert_neq (b.node, plain.node);
    cr_assert_neq (a.node, b.node);
    cr_assert_eq (a2.node, a.node, "one node id per (name, incarnation)");
    cr_assert_eq (tp_node_incarnation (plain.node), 0);
    cr_assert_eq (tp_node_incarnation (a.node), 0x2a);
    cr_assert_eq (tp_node_incarnation (b.node), 0x2b);
    cr_assert_str_eq (tp_node_name (plain.node), "same");
    cr_assert_str_eq (tp_node_name (a.node), "same");
    cr_assert_str_eq (tp_node_name (b.node), "same");
    cr_assert_not (tp_ref_eq (a, b));
    cr_assert_not (tp_ref_eq (a, plain));
}

Test (node, id_returns_zero_when_every_entry_is_pinned)
{
    enum { S_MAX = 4096 };
    static uint32_t pinned[S_MAX];
    char name[32];
    int n = 0;
    for (;; n++) {
        cr_assert_lt (n, S_MAX, "the table holds at most 4095 nodes");
        snprintf (name, sizeof name, "pin%d", n);
        uint32_t id = tp_node_id (name);
        if (id == 0)
            break;
        cr_assert_eq (tp__node_pin (id, 1), 0);
        pinned[n] = id;
    }
    cr_assert_gt (n, 0);
    cr_assert_eq (tp_node_id ("one-more"), 0);
    tp_ref r = {7, 7, 7};
    cr_assert_eq (tp_ref_parse ("one-more/1.1", &r), TP_EINVAL);
    cr_assert (tp_ref_eq (r, ((tp_ref){7, 7, 7})));
    /* the pinned names still resolve */
    cr_assert_eq (tp_node_id ("pin0"), pinned[0]);
    snprintf (name, sizeof name, "pin%d", n - 1);
    cr_assert_str_eq (tp_node_name (pinned[n - 1]), name);
    for (int i = 0; i < n; i++)
        cr_assert_eq (tp__node_pin (pinned[i], -1), 0);
    uint32_t id = tp_node_id ("one-more");
    cr_assert_neq (id, 0);
    cr_assert_str_eq (tp_node_name (id), "one-more");
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
        for (int j = 0; j < i; j++)
            cr_assert_neq (ids[0][j], ids[0][i], "%d and %d", j, i);
    }
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

Test (ref, format_prints_the_incarnation_in_hex)
{
    static const struct {
        const char *node;
        uint32_t inc;
        const char *text;
    } cases[] = {
        {"nonode", 0x2a, "nonode/42.1:0000002a"},
        {"nonode", 0x9f86d081, "nonode/42.1:9f86d081"},
        {"nonode", 1, "nonode/42.1:00000001"},
        {"nonode", UINT32_MAX, "nonode/42.1:ffffffff"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        uint32_t node = tp__node_intern (cases[i].node,
                                         strlen (cases[i].node), cases[i].inc);
        cr_assert_neq (node, 0);
        cr_assert_eq (tp_node_incarnation (node), cases[i].inc);
        char buf[TP_REF_STRLEN];
        cr_assert_eq (tp_ref_format ((tp_ref){node, 42, 1}, buf, sizeof buf),
                      (int) strlen (cases[i].text));
        cr_assert_str_eq (buf, cases[i].text);
    }
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
    /* with an incarnation: 9 more bytes */
    tp_ref i;
    cr_assert_eq (tp_ref_parse ("nonode/42.1:0000002a", &i), 0);
    cr_assert_eq (tp_ref_format (i, buf, 12), TP_ETRUNC);
    cr_assert_str_eq (buf, "");
    char big[21];
    cr_assert_eq (tp_ref_format (i, big, 20), TP_ETRUNC);
    cr_assert_eq (tp_ref_format (i, big, 21), 20);
    cr_assert_str_eq (big, "nonode/42.1:0000002a");
}

Test (ref, format_fits_the_longest_ref_in_TP_REF_STRLEN)
{
    char name[TP_NODE_NAME_MAX + 1];
    memset (name, 'x', TP_NODE_NAME_MAX);
    name[TP_NODE_NAME_MAX] = '\0';
    tp_ref r = {tp_node_id (name), UINT32_MAX, UINT32_MAX};
    char buf[TP_REF_STRLEN];
    cr_assert_eq (tp_ref_format (r, buf, sizeof buf), TP_NODE_NAME_MAX + 22);
    /* "/4294967295.4294967295" and ":ffffffff" */
    r.node = tp__node_intern (name, TP_NODE_NAME_MAX, UINT32_MAX);
    cr_assert_neq (r.node, 0);
    cr_assert_eq (tp_ref_format (r, buf, sizeof buf), TP_NODE_NAME_MAX + 31);
    cr_assert_lt (TP_NODE_NAME_MAX + 31, TP_REF_STRLEN);
    tp_ref back;
    cr_assert_eq (tp_ref_parse (buf, &back), 0);
    cr_assert (tp_ref_eq (back, r));
}

Test (ref, format_prints_an_unknown_node_as_a_question_mark)
{
    tp_ref r = {1u << 12, 1, 1}; /* index 0: never an entry */
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
        {tp__node_intern ("nonode", 6, 0x2a), 0, 1},
        {tp__node_intern ("a", 1, 1), 42, 7},
        {tp__node_intern ("host-1.example.org", 18, UINT32_MAX), UINT32_MAX,
         UINT32_MAX},
        {tp__node_intern ("a", 1, 0x80000000u), 3, 1},
    };
    for (size_t i = 0; i < sizeof refs / sizeof *refs; i++) {
        char buf[TP_REF_STRLEN];
        tp_ref out = {9, 9, 9};
        cr_assert_gt (tp_ref_format (refs[i], buf, sizeof buf), 0);
        cr_assert_eq (tp_ref_parse (buf, &out), 0, "%s", buf);
        cr_assert (tp_ref_eq (out, refs[i]), "%s", buf);
    }
    /* and text to ref to text */
    static const char *const texts[] = {
        "x/1.1", "x/1.1:0000002a", "x.y-z_0/4294967295.1:deadbeef", "nil",
        "x/0.4294967295:ffffffff"};
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
        tp_ref r;
        char buf[TP_REF_STRLEN];
        cr_assert_eq (tp_ref_parse (texts[i], &r), 0, "%s", texts[i]);
        cr_assert_gt (tp_ref_format (r, buf, sizeof buf), 0);
        cr_assert_str_eq (buf, texts[i]);
    }
}

Test (ref, parse_interns_an_unknown_node)
{
    tp_ref out;
    cr_assert_eq (tp_ref_parse ("far-away/3.2", &out), 0);
    cr_assert_str_eq (tp_node_name (out.node), "far-away");
    cr_assert_eq (out.node, tp_node_id ("far-away"));
    cr_assert_eq (out.index, 3);
    cr_assert_eq (out.gen, 2);
    cr_assert_eq (tp_ref_parse ("far-away/3.2:00abcdef", &out), 0);
    cr_assert_str_eq (tp_node_name (out.node), "far-away");
    cr_assert_eq (tp_node_incarnation (out.node), 0xabcdef);
    cr_assert_eq (out.node, tp__node_intern ("far-away", 8, 0xabcdef));
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
        "\xc3\xa9/1.1", long_name,  "a:1/1.1",    "a/1:1.1",
        ":0000002a",  "a/:0000002a",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        tp_ref out = {7, 7, 7};
        cr_assert_eq (tp_ref_parse (bad[i], &out), TP_EINVAL, "%s", bad[i]);
        cr_assert (tp_ref_eq (out, ((tp_ref){7, 7, 7})), "%s", bad[i]);
    }
    cr_assert_eq (tp_ref_parse (NULL, &(tp_ref){0, 0, 0}), TP_EINVAL);
    cr_assert_eq (tp_ref_parse ("a/1.1", NULL), TP_EINVAL);
}

Test (ref, parse_rejects_bad_incarnation_text)
{
    const char *bad[] = {
        "a/1.1:",           /* none */
        "a/1.1:0000002",    /* 7 digits */
        "a/1.1:00000002a",  /* 9 digits */
        "a/1.1:000000002a", /* 10 */
        "a/1.1:0000002A",   /* upper case */
        "a/1.1:DEADBEEF",
        "a/1.1:00000000",   /* zero: that is the form without ":" */
        "a/1.1:0000002a ",  /* trailing junk */
        "a/1.1:0000002ax",
        "a/1.1:0000002a:",
        "a/1.1:0000002a:0000002a",
        "a/1.1::0000002a",
        "a/1.1:+000002a",
        "a/1.1:-000002a",
        "a/1.1: 000002a",
        "a/1.1:0x00002a",
        "a/1.1:g000002a",
        "a/1.1:0000\0002a", /* a NUL inside */
        "a/1.1;0000002a",
        "a/1.0:0000002a",   /* the generation rule still holds */
        "nil:0000002a",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        tp_ref out = {7, 7, 7};
        cr_assert_eq (tp_ref_parse (bad[i], &out), TP_EINVAL, "%s", bad[i]);
        cr_assert (tp_ref_eq (out, ((tp_ref){7, 7, 7})), "%s", bad[i]);
    }
    tp_ref out;
    cr_assert_eq (tp_ref_parse ("a/1.1:0000002a", &out), 0);
    cr_assert_eq (tp_ref_parse ("a/1.1:ffffffff", &out), 0);
    cr_assert_eq (tp_ref_parse ("a/1.1:00000001", &out), 0);
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
    /*  While the table has free entries, new names take the next index
        (generation 0) in turn: a rejected text must not take one. Once
        the table is full (earlier tests in this process may have filled
        it), new names reuse reclaimed entries and the order tells
        nothing, so only the result is checked. */
    tp_ref out;
    uint32_t before = tp_node_id ("probe-rejected-parse");
    cr_assert_neq (before, 0);
    cr_assert_eq (tp_ref_parse ("junknode/1.x", &out), TP_EINVAL);
    cr_assert_eq (tp_ref_parse ("junknode2/1.1:0000002A", &out), TP_EINVAL);
    cr_assert_eq (tp_ref_parse ("junknode3/1.1:00000000", &out), TP_EINVAL);
    uint32_t after = tp_node_id ("after-rejected-parse");
    cr_assert_neq (after, 0);
    if (before >> 12 == 0 && (before & 4095) < 4095)
        cr_assert_eq (after, before + 1);
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
    cr_assert_str_eq (tp_errname (TP_EDOWN - 1), "TP_E?");
}
