/*  tests/test_msg.c: tags, messages, packing and unpacking. */
#include "private.h"

#include <criterion/criterion.h>
#include <limits.h>
#include <malloc.h>

/*  Unpacks a byte array literal. */
#define RAW(bytes, ...) tp_unpack_raw ((bytes), sizeof (bytes), __VA_ARGS__)

static tp_msg *
s_new (const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    tp_msg *msg = tp_msg_newv (tp_tag ("test"), fmt, ap);
    va_end (ap);
    cr_assert_not_null (msg);
    return msg;
}

static void
s_expect_bytes (const tp_msg *msg, const uint8_t *bytes, size_t size)
{
    cr_assert_eq (tp_msg_size (msg), size);
    cr_assert_arr_eq (tp_msg_body (msg), bytes, size);
}

/* ------------------------------------------------------------------ */
/*  Tags                                                               */

Test (tag, round_trips_names)
{
    const char *names[] = {"a",     "ping",       "_down",      "0",
                           "Z",     "zzzzzzzzzz", "0000000000", "A_b9",
                           "result", "__________"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char buf[TP_TAG_MAX_LEN + 1];
        tp_tag_t tag = tp_tag (names[i]);
        cr_assert_neq (tag, 0, "%s", names[i]);
        cr_assert_eq (tp_tag_name (tag, buf, sizeof buf), 0, "%s", names[i]);
        cr_assert_str_eq (buf, names[i]);
    }
}

Test (tag, values_follow_the_published_mapping)
{
    cr_assert_eq (tp_tag ("0"), 1);
    cr_assert_eq (tp_tag ("9"), 10);
    cr_assert_eq (tp_tag ("A"), 11);
    cr_assert_eq (tp_tag ("Z"), 36);
    cr_assert_eq (tp_tag ("_"), 37);
    cr_assert_eq (tp_tag ("a"), 38);
    cr_assert_eq (tp_tag ("z"), 63);
    cr_assert_eq (tp_tag ("ab"), 38 * 64 + 39);
    /* p=53 i=46 n=51 g=44 */
    cr_assert_eq (tp_tag ("ping"), ((53ull * 64 + 46) * 64 + 51) * 64 + 44);
    cr_assert_eq (tp_tag ("zzzzzzzzzz"), (1ull << 60) - 1);
}

Test (tag, leading_zero_digit_makes_a_different_tag)
{
    cr_assert_neq (tp_tag ("0a"), tp_tag ("a"));
    cr_assert_neq (tp_tag ("00"), tp_tag ("0"));
}

Test (tag, rejects_too_long)
{
    cr_assert_neq (tp_tag ("abcdefghij"), 0);
    cr_assert_eq (tp_tag ("abcdefghijk"), 0);
    cr_assert_eq (tp_tag ("abcdefghijklmnopqrstuvwxyz"), 0);
}

Test (tag, rejects_bad_characters)
{
    const char *bad[] = {"pi ng", "a-b", "a.b", "a/b", "\xc3\xa9", "a\x01",
                         "tab\t", "ping!"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        cr_assert_eq (tp_tag (bad[i]), 0, "%s", bad[i]);
}

Test (tag, rejects_empty_and_null)
{
    cr_assert_eq (tp_tag (""), 0);
    cr_assert_eq (tp_tag (NULL), 0);
}

Test (tag, name_rejects_invalid_atoms)
{
    char buf[16];
    cr_assert_eq (tp_tag_name (0, buf, sizeof buf), TP_EINVAL);
    cr_assert_eq (tp_tag_name (1ull << 60, buf, sizeof buf), TP_EINVAL);
    cr_assert_eq (tp_tag_name (UINT64_MAX, buf, sizeof buf), TP_EINVAL);
    /* digits 38, 0, 39: a zero digit below a nonzero one */
    cr_assert_eq (tp_tag_name ((38ull << 12) | 39, buf, sizeof buf),
                  TP_EINVAL);
    /* a zero lowest digit */
    cr_assert_eq (tp_tag_name (38ull << 6, buf, sizeof buf), TP_EINVAL);
}

Test (tag, name_reports_short_buffer)
{
    char buf[8];
    cr_assert_eq (tp_tag_name (tp_tag ("ping"), buf, 4), TP_ETRUNC);
    cr_assert_eq (tp_tag_name (tp_tag ("ping"), NULL, 0), TP_ETRUNC);
    cr_assert_eq (tp_tag_name (tp_tag ("ping"), buf, 5), 0);
    cr_assert_str_eq (buf, "ping");
}

/* ------------------------------------------------------------------ */
/*  Messages                                                           */

Test (msg, new_rejects_tag_zero)
{
    cr_assert_null (tp_msg_new (0, NULL));
    cr_assert_null (tp_msg_new (0, "i", 1));
    cr_assert_null (tp_msg_new (tp_tag ("x y"), ""));
}

Test (msg, new_with_null_or_empty_format_has_empty_body)
{
    tp_msg *a = tp_msg_new (tp_tag ("ping"), NULL);
    tp_msg *b = tp_msg_new (tp_tag ("ping"), "");
    cr_assert_not_null (a);
    cr_assert_not_null (b);
    cr_assert_eq (tp_msg_size (a), 0);
    cr_assert_eq (tp_msg_size (b), 0);
    cr_assert_eq (tp_msg_tag (a), tp_tag ("ping"));
    cr_assert_eq (tp_msg_unpack (a, ""), 0);
    cr_assert_eq (tp_msg_unpack (a, NULL), 0);
    tp_msg_destroy (&a);
    tp_msg_destroy (&b);
}

Test (msg, new_returns_null_on_bad_format)
{
    cr_assert_null (tp_msg_new (tp_tag ("ping"), "iq", 1));
    cr_assert_null (tp_msg_new (tp_tag ("ping"), "s", (const char *) NULL));
}

Test (msg, fresh_message_has_nil_sender_and_is_not_a_request)
{
    tp_msg *msg = s_new ("i", 1);
    cr_assert (tp_ref_is_nil (tp_msg_from (msg)));
    cr_assert_not (tp_msg_is_request (msg));
    msg->flags |= TP__MSG_REQUEST;
    cr_assert (tp_msg_is_request (msg));
    tp_msg_destroy (&msg);
}

Test (msg, is_compares_tag_with_name)
{
    tp_msg *msg = tp_msg_new (tp_tag ("ping"), NULL);
    cr_assert (tp_msg_is (msg, "ping"));
    cr_assert_not (tp_msg_is (msg, "pong"));
    cr_assert_not (tp_msg_is (msg, ""));
    cr_assert_not (tp_msg_is (msg, NULL));
    cr_assert_not (tp_msg_is (msg, "not a tag"));
    tp_msg_destroy (&msg);
}

Test (msg, destroy_accepts_null_and_clears_pointer)
{
    tp_msg_destroy (NULL);
    tp_msg *msg = NULL;
    tp_msg_destroy (&msg);
    msg = s_new ("i", 1);
    tp_msg_destroy (&msg);
    cr_assert_null (msg);
    tp_msg_destroy (&msg);
}

Test (msg, new_raw_copies_bytes)
{
    uint8_t bytes[] = {0x01, 0xa1, 'x'};
    tp_msg *msg = tp_msg_new_raw (tp_tag ("raw"), bytes, sizeof bytes);
    cr_assert_not_null (msg);
    bytes[0] = 0x02;
    const uint8_t expect[] = {0x01, 0xa1, 'x'};
    s_expect_bytes (msg, expect, sizeof expect);
    int i;
    const char *s;
    size_t len;
    cr_assert_eq (tp_msg_unpack (msg, "is", &i, &s, &len), 0);
    cr_assert_eq (i, 1);
    cr_assert_eq (len, 1);
    tp_msg_destroy (&msg);

    msg = tp_msg_new_raw (tp_tag ("raw"), NULL, 0);
    cr_assert_not_null (msg);
    cr_assert_eq (tp_msg_size (msg), 0);
    tp_msg_destroy (&msg);
}

Test (msg, new_raw_rejects_tag_zero_and_oversize)
{
    uint8_t byte = 0;
    cr_assert_null (tp_msg_new_raw (0, &byte, 1));
    cr_assert_null (tp_msg_new_raw (tp_tag ("raw"), &byte,
                                    (size_t) TP_MSG_MAX_BODY + 1));
    cr_assert_null (tp_msg_new_raw (tp_tag ("raw"), NULL, 1));
}

Test (msg, dup_copies_tag_body_sender_and_correlation)
{
    tp_msg *msg = s_new ("is", 7, "seven");
    msg->from = (tp_ref){tp_node_id ("dupnode"), 4, 2};
    msg->corr = 99;
    msg->flags |= TP__MSG_REQUEST;
    tp_msg *copy = tp_msg_dup (msg);
    cr_assert_neq (copy, msg);
    cr_assert_eq (tp_msg_tag (copy), tp_msg_tag (msg));
    cr_assert (tp_ref_eq (tp_msg_from (copy), tp_msg_from (msg)));
    cr_assert_eq (copy->corr, 99);
    cr_assert (tp_msg_is_request (copy));
    cr_assert_neq (tp_msg_body (copy), tp_msg_body (msg));
    s_expect_bytes (copy, tp_msg_body (msg), tp_msg_size (msg));
    tp_msg_destroy (&msg);
    int i;
    char s[8];
    cr_assert_eq (tp_msg_unpack (copy, "iS", &i, s, sizeof s), 0);
    cr_assert_eq (i, 7);
    cr_assert_str_eq (s, "seven");
    tp_msg_destroy (&copy);
}

Test (msg, dup_of_heap_body_is_independent)
{
    char big[1000];
    memset (big, 'q', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    tp_msg *msg = s_new ("s", big);
    cr_assert (msg->flags & TP__MSG_HEAP);
    tp_msg *copy = tp_msg_dup (msg);
    cr_assert_neq (tp_msg_body (copy), tp_msg_body (msg));
    s_expect_bytes (copy, tp_msg_body (msg), tp_msg_size (msg));
    cr_assert_eq (tp_msg_pack (msg, "i", 1), 0);
    cr_assert_eq (tp_msg_size (copy) + 1, tp_msg_size (msg));
    tp_msg_destroy (&msg);
    tp_msg_destroy (&copy);
}

/* ------------------------------------------------------------------ */
/*  Packing and unpacking                                              */

Test (pack, appends_to_existing_body)
{
    tp_msg *msg = s_new ("i", 1);
    cr_assert_eq (tp_msg_pack (msg, "i", 2), 0);
    cr_assert_eq (tp_msg_pack (msg, NULL), 0);
    cr_assert_eq (tp_msg_pack (msg, ""), 0);
    const uint8_t expect[] = {0x01, 0x02};
    s_expect_bytes (msg, expect, sizeof expect);
    tp_msg_destroy (&msg);
}

Test (pack, uses_compact_msgpack_encodings)
{
    tp_msg *msg = s_new ("[iii] n b b {s:i}", 1, -1, 300, 1, 0, "a", 5);
    const uint8_t expect[] = {0x93, 0x01, 0xff, 0xcd, 0x01, 0x2c, 0xc0,
                              0xc3, 0xc2, 0x81, 0xa1, 'a',  0x05};
    s_expect_bytes (msg, expect, sizeof expect);
    tp_msg_destroy (&msg);
}

Test (pack, round_trips_nil_and_bool)
{
    tp_msg *msg = s_new ("nbb", 1, 0);
    bool t = false, f = true;
    cr_assert_eq (tp_msg_unpack (msg, "nbb", &t, &f), 0);
    cr_assert (t);
    cr_assert_not (f);
    tp_msg_destroy (&msg);
}

Test (pack, round_trips_integer_extremes)
{
    tp_msg *msg = s_new ("iiii II uu UU t", INT_MIN, INT_MAX, 0, -1,
                         INT64_MIN, INT64_MAX, 0u, UINT_MAX, (uint64_t) 0,
                         UINT64_MAX, tp_tag ("zzzzzzzzzz"));
    int i[4];
    int64_t I[2];
    unsigned u[2];
    uint64_t U[2];
    tp_tag_t t;
    cr_assert_eq (tp_msg_unpack (msg, "iiii II uu UU t", &i[0], &i[1], &i[2],
                                 &i[3], &I[0], &I[1], &u[0], &u[1], &U[0],
                                 &U[1], &t),
                  0);
    cr_assert_eq (i[0], INT_MIN);
    cr_assert_eq (i[1], INT_MAX);
    cr_assert_eq (i[2], 0);
    cr_assert_eq (i[3], -1);
    cr_assert_eq (I[0], INT64_MIN);
    cr_assert_eq (I[1], INT64_MAX);
    cr_assert_eq (u[0], 0);
    cr_assert_eq (u[1], UINT_MAX);
    cr_assert_eq (U[0], 0);
    cr_assert_eq (U[1], UINT64_MAX);
    cr_assert_eq (t, tp_tag ("zzzzzzzzzz"));
    tp_msg_destroy (&msg);
}

Test (pack, round_trips_doubles)
{
    tp_msg *msg = s_new ("ddd", 1.5, -0.1, 1e300);
    double d[3];
    cr_assert_eq (tp_msg_unpack (msg, "ddd", &d[0], &d[1], &d[2]), 0);
    cr_assert_eq (d[0], 1.5);
    cr_assert_eq (d[1], -0.1);
    cr_assert_eq (d[2], 1e300);
    tp_msg_destroy (&msg);
}

Test (unpack, d_accepts_integers_and_float32)
{
    const uint8_t body[] = {0x05, 0xfb, 0xcf, 0xff, 0xff, 0xff, 0xff, 0xff,
                            0xff, 0xff, 0xff, 0xca, 0x3f, 0xc0, 0x00, 0x00};
    double d[4];
    cr_assert_eq (RAW (body, "dddd", &d[0], &d[1], &d[2], &d[3]), 0);
    cr_assert_eq (d[0], 5.0);
    cr_assert_eq (d[1], -5.0);
    cr_assert_eq (d[2], 18446744073709551615.0);
    cr_assert_eq (d[3], 1.5);
}

Test (pack, s_unpacks_as_borrowed_pointer_into_the_body)
{
    tp_msg *msg = s_new ("ss", "hello", "");
    const char *s, *e;
    size_t len, elen;
    cr_assert_eq (tp_msg_unpack (msg, "ss", &s, &len, &e, &elen), 0);
    cr_assert_eq (len, 5);
    cr_assert_eq (memcmp (s, "hello", 5), 0);
    cr_assert_eq (elen, 0);
    const char *body = tp_msg_body (msg);
    cr_assert (s > body && s + len <= body + tp_msg_size (msg));
    tp_msg_destroy (&msg);
}

Test (pack, S_packs_counted_strings_and_unpacks_into_a_buffer)
{
    tp_msg *msg = s_new ("SS", "abcdef", (size_t) 3, NULL, (size_t) 0);
    char a[4], b[1];
    cr_assert_eq (tp_msg_unpack (msg, "SS", a, sizeof a, b, sizeof b), 0);
    cr_assert_str_eq (a, "abc");
    cr_assert_str_eq (b, "");
    tp_msg_destroy (&msg);
}

Test (pack, x_round_trips_binary_including_empty)
{
    const uint8_t data[] = {0, 1, 2, 0xff, 0};
    tp_msg *msg = s_new ("xx", data, sizeof data, NULL, (size_t) 0);
    const void *p, *q;
    size_t len, qlen;
    cr_assert_eq (tp_msg_unpack (msg, "xx", &p, &len, &q, &qlen), 0);
    cr_assert_eq (len, sizeof data);
    cr_assert_arr_eq (p, data, sizeof data);
    cr_assert_eq (qlen, 0);
    tp_msg_destroy (&msg);
}

/*  A ref from its text form ("name/index.gen" or with ":xxxxxxxx"). */
static tp_ref
s_ref (const char *text)
{
    tp_ref r;
    cr_assert_eq (tp_ref_parse (text, &r), 0, "%s", text);
    return r;
}

/*  Interns n names never used before (in this process), enough to make
    the node table reclaim every entry that is not pinned: the clock
    hand needs two passes over the 4095 entries to take an entry that
    was used just before. */
static void
s_churn (int n)
{
    static int next;
    char name[32];
    for (int i = 0; i < n; i++) {
        snprintf (name, sizeof name, "msg-churn-%d", next++);
        cr_assert_neq (tp_node_id (name), 0, "%s", name);
    }
}

Test (pack, ref_round_trips_through_a_body)
{
    tp_ref a = {tp_node_id ("node-a.example"), 42, 7};
    tp_ref b = {tp_node_id ("abcdefgh"), UINT32_MAX, UINT32_MAX};
    tp_ref c = s_ref ("node-a.example/42.7:deadbeef");
    tp_ref d = s_ref ("abcdefgh/4294967295.4294967295:ffffffff");
    tp_ref e = s_ref ("abcdefgh/1.1:00000001");
    tp_msg *msg = s_new ("r r r r r r", a, b, TP_REF_NIL, c, d, e);
    tp_ref ra, rb, rn = {1, 1, 1}, rc, rd, re;
    cr_assert_eq (tp_msg_unpack (msg, "rrrrrr", &ra, &rb, &rn, &rc, &rd, &re),
                  0);
    cr_assert (tp_ref_eq (ra, a));
    cr_assert (tp_ref_eq (rb, b));
    cr_assert (tp_ref_is_nil (rn));
    cr_assert (tp_ref_eq (rn, TP_REF_NIL));
    /* a ref with an incarnation unpacks to the same id, not to the
       name-only id */
    cr_assert (tp_ref_eq (rc, c));
    cr_assert (tp_ref_eq (rd, d));
    cr_assert (tp_ref_eq (re, e));
    cr_assert_neq (rc.node, ra.node);
    cr_assert_eq (tp_node_incarnation (rc.node), 0xdeadbeef);
    cr_assert_eq (tp_node_incarnation (rd.node), 0xffffffff);
    cr_assert_eq (tp_node_incarnation (re.node), 1);
    cr_assert_eq (tp_node_incarnation (ra.node), 0);
    cr_assert_str_eq (tp_node_name (rc.node), "node-a.example");
    tp_msg_destroy (&msg);
}

Test (pack, ref_is_ext_with_index_gen_incarnation_and_node_name)
{
    /* no incarnation: 12-byte head, then the name (ext 8 of 14) */
    tp_msg *msg = s_new ("r", (tp_ref){tp_node_id ("n1"), 3, 1});
    const uint8_t plain[] = {0xc7, 14, TP__EXT_REF, 0, 0, 0, 3, 0, 0, 0, 1,
                             0,    0,  0,           0, 'n', '1'};
    s_expect_bytes (msg, plain, sizeof plain);
    tp_msg_destroy (&msg);
    /* an incarnation is the third u32, big-endian */
    msg = s_new ("r", s_ref ("n1/3.1:0000002a"));
    const uint8_t inc[] = {0xc7, 14, TP__EXT_REF, 0,    0,   0,  3, 0, 0,
                           0,    1,  0,           0, 0,    0x2a, 'n', '1'};
    s_expect_bytes (msg, inc, sizeof inc);
    tp_msg_destroy (&msg);
    /* a 4-byte name makes 16 bytes: fixext 16 */
    msg = s_new ("r", s_ref ("beta/258.16777216:9f86d081"));
    const uint8_t fix16[] = {0xd8, TP__EXT_REF, 0,   0,    1,    2,
                             1,    0,           0,   0,    0x9f, 0x86,
                             0xd0, 0x81,        'b', 'e',  't',  'a'};
    s_expect_bytes (msg, fix16, sizeof fix16);
    tp_msg_destroy (&msg);
    /* the nil ref is 12 zero bytes (ext 8 of 12) */
    msg = s_new ("r", TP_REF_NIL);
    const uint8_t nil[] = {0xc7, 12, TP__EXT_REF, 0, 0, 0, 0, 0, 0, 0, 0,
                           0,    0,  0,           0};
    s_expect_bytes (msg, nil, sizeof nil);
    tp_msg_destroy (&msg);
}

Test (unpack, ref_with_unknown_node_name_is_interned)
{
    const uint8_t body[] = {0xc7, 20,  TP__EXT_REF, 0,   0,   0,   9,
                            0,    0,   0,           2,   0,   0,   0,
                            0,    'f', 'a',         'r', 'a', 'w', 'a',
                            'y',  '9'};
    tp_ref r;
    cr_assert_eq (RAW (body, "r", &r), 0);
    cr_assert_str_eq (tp_node_name (r.node), "faraway9");
    cr_assert_eq (r.node, tp_node_id ("faraway9"));
    cr_assert_eq (tp_node_incarnation (r.node), 0);
    cr_assert_eq (r.index, 9);
    cr_assert_eq (r.gen, 2);
}

Test (unpack, ref_with_an_incarnation_is_interned_with_it)
{
    uint8_t body[] = {0xc7, 20,  TP__EXT_REF, 0,    0,   0,    9,
                      0,    0,   0,           2,    0x0b, 0xad, 0xf0,
                      0x0d, 'f', 'a',         'r',  'a', 'w',  'a',
                      'y',  '9'};
    tp_ref r, again, other;
    cr_assert_eq (RAW (body, "r", &r), 0);
    cr_assert_str_eq (tp_node_name (r.node), "faraway9");
    cr_assert_eq (tp_node_incarnation (r.node), 0x0badf00d);
    cr_assert_eq (r.index, 9);
    cr_assert_eq (r.gen, 2);
    cr_assert_neq (r.node, tp_node_id ("faraway9"));
    cr_assert (tp_ref_eq (r, s_ref ("faraway9/9.2:0badf00d")));
    cr_assert_eq (RAW (body, "r", &again), 0);
    cr_assert (tp_ref_eq (again, r), "the same bytes, the same id");
    body[14] = 0x0e; /* another incarnation: another id */
    cr_assert_eq (RAW (body, "r", &other), 0);
    cr_assert_neq (other.node, r.node);
    cr_assert_eq (tp_node_incarnation (other.node), 0x0badf00e);
    cr_assert_str_eq (tp_node_name (other.node), "faraway9");
}

Test (unpack, rejects_bad_ref_payloads)
{
    tp_ref r;
    const uint8_t not_ext[] = {0x01};
    const uint8_t other_ext[] = {0xc7, 14, 2, 0, 0, 0, 1, 0, 0,
                                 0,    1,  0, 0, 0, 0, 'a', 'b'};
    const uint8_t short_ext[] = {0xd6, TP__EXT_REF, 0, 0, 0, 1};
    /* version 1 refs had an 8-byte head */
    const uint8_t v1_head[] = {0xd7, TP__EXT_REF, 0, 0, 0, 1, 0, 0, 0, 1};
    const uint8_t v1_named[] = {0xc7, 10, TP__EXT_REF, 0, 0, 0, 3,
                                0,    0,  0,           1, 'n', '1'};
    const uint8_t v1_nil[] = {0xd7, TP__EXT_REF, 0, 0, 0, 0, 0, 0, 0, 0};
    const uint8_t head_11[] = {0xc7, 11, TP__EXT_REF, 0, 0, 0, 0,
                               0,    0,  0,           0, 0, 0, 0};
    const uint8_t no_name[] = {0xc7, 12, TP__EXT_REF, 0, 0, 0, 1, 0, 0,
                               0,    1,  0,           0, 0, 7};
    const uint8_t nil_named[] = {0xc7, 13, TP__EXT_REF, 0, 0, 0, 0, 0, 0,
                                 0,    0,  0,           0, 0, 0, 'a'};
    const uint8_t nil_index[] = {0xc7, 12, TP__EXT_REF, 0, 0, 0, 1, 0, 0,
                                 0,    0,  0,           0, 0, 0};
    const uint8_t nil_inc[] = {0xc7, 12, TP__EXT_REF, 0, 0, 0, 0, 0, 0,
                               0,    0,  0,           0, 0, 1};
    const uint8_t bad_char[] = {0xc7, 13, TP__EXT_REF, 0, 0, 0, 1, 0, 0,
                                0,    1,  0,           0, 0, 0, '/'};
    const uint8_t colon[] = {0xc7, 14, TP__EXT_REF, 0, 0, 0, 1, 0, 0,
                             0,    1,  0,           0, 0, 0, 'a', ':'};
    const uint8_t nul_char[] = {0xc7, 14, TP__EXT_REF, 0, 0, 0, 1, 0, 0,
                                0,    1,  0,           0, 0, 0, 'a', 0};
    cr_assert_eq (RAW (not_ext, "r", &r), TP_EMISMATCH);
    cr_assert_eq (RAW (other_ext, "r", &r), TP_EMISMATCH);
    cr_assert_eq (RAW (short_ext, "r", &r), TP_EPROTO);
    cr_assert_eq (RAW (v1_head, "r", &r), TP_EPROTO);
    cr_assert_eq (RAW (v1_named, "r", &r), TP_EPROTO);
    cr_assert_eq (RAW (v1_nil, "r", &r), TP_EPROTO);
    cr_assert_eq (RAW (head_11, "r", &r), TP_EPROTO);
    cr_assert_eq (RAW (no_name, "r", &r), TP_EPROTO);
    cr_assert_eq (RAW (nil_named, "r", &r), TP_EPROTO);
    cr_assert_eq (RAW (nil_index, "r", &r), TP_EPROTO);
    cr_assert_eq (RAW (nil_inc, "r", &r), TP_EPROTO);
    cr_assert_eq (RAW (bad_char, "r", &r), TP_EPROTO);
    cr_assert_eq (RAW (colon, "r", &r), TP_EPROTO);
    cr_assert_eq (RAW (nul_char, "r", &r), TP_EPROTO);

    /* the name: 1 .. TP_NODE_NAME_MAX bytes */
    uint8_t lng[3 + 12 + TP_NODE_NAME_MAX + 1] = {0xc7, 0, TP__EXT_REF};
    lng[9] = 1; /* gen 1 */
    memset (lng + 15, 'n', TP_NODE_NAME_MAX + 1);
    lng[1] = 12 + TP_NODE_NAME_MAX;
    cr_assert_eq (tp_unpack_raw (lng, sizeof lng - 1, "r", &r), 0);
    cr_assert_eq (strlen (tp_node_name (r.node)), TP_NODE_NAME_MAX);
    lng[1] = 12 + TP_NODE_NAME_MAX + 1;
    cr_assert_eq (tp_unpack_raw (lng, sizeof lng, "r", &r), TP_EPROTO);

    /* the payloads that are no ref print as other ext values */
    char buf[64];
    tp_msg *msg = tp_msg_new_raw (tp_tag ("e"), v1_named, sizeof v1_named);
    tp_msg_format (msg, buf, sizeof buf);
    cr_assert_str_eq (buf, "e(<ext 1 10>)");
    tp_msg_destroy (&msg);
    msg = tp_msg_new_raw (tp_tag ("e"), nil_inc, sizeof nil_inc);
    tp_msg_format (msg, buf, sizeof buf);
    cr_assert_str_eq (buf, "e(<ext 1 12>)");
    tp_msg_destroy (&msg);
}

Test (unpack, ref_of_a_reclaimed_node_gets_a_new_id)
{
    tp_ref old = s_ref ("gone-node/5.3:00c0ffee");
    tp_msg *msg = s_new ("r", old);
    s_churn (20000);
    cr_assert_null (tp_node_name (old.node), "reclaimed by the churn");
    /* the bytes still name the node: unpacking interns it again */
    tp_ref r;
    cr_assert_eq (tp_msg_unpack (msg, "r", &r), 0);
    cr_assert_neq (r.node, old.node);
    cr_assert_str_eq (tp_node_name (r.node), "gone-node");
    cr_assert_eq (tp_node_incarnation (r.node), 0x00c0ffee);
    cr_assert_eq (r.index, 5);
    cr_assert_eq (r.gen, 3);
    cr_assert_null (tp_node_name (old.node), "an old id never comes back");
    tp_msg_destroy (&msg);
}

Test (unpack, ref_fails_with_elimit_when_every_node_entry_is_pinned)
{
    /* pin every entry of the table (names already there included) */
    enum { S_MAX = 4096 };
    static uint32_t pinned[S_MAX];
    int n = 0;
    char name[32];
    for (;; n++) {
        cr_assert_lt (n, S_MAX, "the table holds at most 4095 nodes");
        snprintf (name, sizeof name, "pin-%d", n);
        uint32_t id = tp__node_intern (name, strlen (name), 0);
        if (id == 0)
            break;
        cr_assert_eq (tp__node_pin (id, 1), 0);
        pinned[n] = id;
    }
    cr_assert_gt (n, 0);
    const uint8_t body[] = {0xc7, 15, TP__EXT_REF, 0, 0, 0, 1, 0,   0,
                            0,    1,  0,           0, 0, 0, 'n', 'e', 'w'};
    tp_ref r = {7, 7, 7};
    cr_assert_eq (RAW (body, "r", &r), TP_ELIMIT);
    cr_assert (tp_ref_eq (r, ((tp_ref){7, 7, 7})));
    /* a pinned node and the nil ref still unpack */
    tp_msg *msg = s_new ("r r", (tp_ref){pinned[0], 1, 1}, TP_REF_NIL);
    tp_ref a, b;
    cr_assert_eq (tp_msg_unpack (msg, "r r", &a, &b), 0);
    cr_assert_eq (a.node, pinned[0]);
    cr_assert (tp_ref_is_nil (b));
    tp_msg_destroy (&msg);
    /* unpinned entries make room again */
    for (int i = 0; i < n; i++)
        cr_assert_eq (tp__node_pin (pinned[i], -1), 0);
    cr_assert_eq (RAW (body, "r", &r), 0);
    cr_assert_str_eq (tp_node_name (r.node), "new");
}

Test (pack, rejects_ref_with_unknown_node_id)
{
    tp_msg *msg = s_new ("i", 1);
    tp_ref bogus = {4000000, 1, 1};
    cr_assert_null (tp_node_name (bogus.node));
    cr_assert_eq (tp_msg_pack (msg, "r", bogus), TP_EINVAL);
    cr_assert_eq (tp_msg_size (msg), 1);
    /* nor one whose node was reclaimed */
    tp_ref gone = s_ref ("reclaimed/1.1:00000005");
    s_churn (20000);
    cr_assert_null (tp_node_name (gone.node));
    cr_assert_eq (tp_msg_pack (msg, "i r", 2, gone), TP_EINVAL);
    cr_assert_eq (tp_msg_size (msg), 1);
    tp_msg_destroy (&msg);
}

Test (pack, nested_arrays_and_maps_round_trip)
{
    tp_msg *msg = s_new ("[i [s s] {s:i, s:[b n]}] i", 1, "a", "b", "k", 2,
                         "l", 1, 3);
    int one, two, three;
    bool yes;
    char a[2], b[2], k[2], l[2];
    cr_assert_eq (tp_msg_unpack (msg, "[i[SS]{S:i S:[bn]}]i", &one, a,
                                 sizeof a, b, sizeof b, k, sizeof k, &two, l,
                                 sizeof l, &yes, &three),
                  0);
    cr_assert_eq (one, 1);
    cr_assert_str_eq (a, "a");
    cr_assert_str_eq (b, "b");
    cr_assert_str_eq (k, "k");
    cr_assert_eq (two, 2);
    cr_assert_str_eq (l, "l");
    cr_assert (yes);
    cr_assert_eq (three, 3);
    tp_msg_destroy (&msg);
}

Test (pack, empty_array_and_map_round_trip)
{
    tp_msg *msg = s_new ("[]{}[[]]");
    const uint8_t expect[] = {0x90, 0x80, 0x91, 0x90};
    s_expect_bytes (msg, expect, sizeof expect);
    cr_assert_eq (tp_msg_unpack (msg, "[] {} [[]]"), 0);
    tp_msg_destroy (&msg);
}

Test (pack, format_ignores_spaces_commas_and_colons)
{
    tp_msg *a = s_new ("{s:i, s:i}", "x", 1, "y", 2);
    tp_msg *b = s_new ("{sisi}", "x", 1, "y", 2);
    s_expect_bytes (a, tp_msg_body (b), tp_msg_size (b));
    int x, y;
    cr_assert_eq (tp_msg_unpack (a, " { s : i ,\ts:i } ", NULL, NULL, &x, NULL,
                                 NULL, &y),
                  0);
    cr_assert_eq (x + y, 3);
    tp_msg_destroy (&a);
    tp_msg_destroy (&b);
}

Test (pack, big_arrays_get_wide_headers)
{
    tp_msg *msg = s_new ("[iiiiiiiiiiiiiiiii]", 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
                         11, 12, 13, 14, 15, 16, 17);
    const uint8_t *body = tp_msg_body (msg);
    cr_assert_eq (body[0], 0xdc);
    cr_assert_eq (body[1], 0);
    cr_assert_eq (body[2], 17);
    cr_assert_eq (tp_msg_unpack (msg, "[*****************]"), 0);
    cr_assert_eq (tp_msg_unpack (msg, "[****************]"), TP_EMISMATCH);
    tp_msg_destroy (&msg);
}

/*  Headers are written when a container closes: nested wide ones, maps,
    and 32-bit counts come out byte for byte as msgpack-c writes them. */
static int
s_sbuf_write (void *data, const char *buf, size_t len)
{
    return msgpack_sbuffer_write (data, buf, len);
}

Test (pack, nested_wide_headers_match_msgpack_c)
{
    tp_msg *msg = s_new ("[i[iiiiiiiiiiiiiiiii]{s:d,s:[]}i]", 1, 1, 2, 3, 4, 5,
                         6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, "x", 0.5,
                         "empty", 2);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init (&sb);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &sb, s_sbuf_write);
    msgpack_pack_array (&pk, 4);
    msgpack_pack_int (&pk, 1);
    msgpack_pack_array (&pk, 17);
    for (int i = 1; i <= 17; i++)
        msgpack_pack_int (&pk, i);
    msgpack_pack_map (&pk, 2);
    msgpack_pack_str_with_body (&pk, "x", 1);
    msgpack_pack_double (&pk, 0.5);
    msgpack_pack_str_with_body (&pk, "empty", 5);
    msgpack_pack_array (&pk, 0);
    msgpack_pack_int (&pk, 2);
    cr_assert_eq (tp_msg_size (msg), sb.size);
    cr_assert_eq (memcmp (tp_msg_body (msg), sb.data, sb.size), 0);
    tp_msg_destroy (&msg);
    msgpack_sbuffer_clear (&sb);

    /* a map of 16 pairs and an array of 70,000 nils: 3- and 5-byte heads */
    enum { NILS = 70000 };
    char *fmt = malloc (NILS + 64);
    strcpy (fmt, "{snsnsnsnsnsnsnsnsnsnsnsnsnsnsnsn}[");
    size_t at = strlen (fmt);
    memset (fmt + at, 'n', NILS);
    strcpy (fmt + at + NILS, "]");
    const char *k = "k";
    msg = s_new (fmt, k, k, k, k, k, k, k, k, k, k, k, k, k, k, k, k);
    msgpack_pack_map (&pk, 16);
    for (int i = 0; i < 16; i++) {
        msgpack_pack_str_with_body (&pk, "k", 1);
        msgpack_pack_nil (&pk);
    }
    msgpack_pack_array (&pk, NILS);
    for (int i = 0; i < NILS; i++)
        msgpack_pack_nil (&pk);
    cr_assert_eq (tp_msg_size (msg), sb.size);
    cr_assert_eq (memcmp (tp_msg_body (msg), sb.data, sb.size), 0);
    cr_assert_eq (((const uint8_t *) tp_msg_body (msg))[0], 0xde);
    tp_msg_destroy (&msg);
    free (fmt);
    msgpack_sbuffer_destroy (&sb);
}

/*  Formats are compiled once per thread and address: a buffer that is
    reused for another format is compiled again, and a format that cannot
    be compiled (too long, big containers, '?') works the long way. */
Test (pack, a_reused_format_buffer_is_compiled_again)
{
    char fmt[64];
    for (int round = 0; round < 3; round++) {
        strcpy (fmt, "{s:i}");
        tp_msg *m = s_new (fmt, "a", 7);
        const char *k;
        size_t kl;
        int v = 0;
        cr_assert_eq (tp_msg_unpack (m, fmt, &k, &kl, &v), 0);
        cr_assert_eq (v, 7);
        tp_msg_destroy (&m);
        strcpy (fmt, "[ii]"); /* same address, other text */
        m = s_new (fmt, 1, 2);
        const uint8_t *b = tp_msg_body (m);
        cr_assert_eq (b[0], 0x92);
        int x = 0, y = 0;
        cr_assert_eq (tp_msg_unpack (m, fmt, &x, &y), 0);
        cr_assert (x == 1 && y == 2);
        strcpy (fmt, "[i]"); /* a shorter text: not the old program */
        cr_assert_eq (tp_msg_unpack (m, fmt, &x), TP_EMISMATCH);
        strcpy (fmt, "[ii]?i");
        cr_assert_eq (tp_msg_unpack (m, fmt, &x, &y, &v), 0);
        tp_msg_destroy (&m);
    }
    /* longer than a program holds: the same bytes */
    const char *lng = "[i, i, i, i, i, i, i, i, i, i, i, i, i, i, i, i, i, i, i, i]";
    tp_msg *m = s_new (lng, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
                       16, 17, 18, 19, 20);
    cr_assert_eq (((const uint8_t *) tp_msg_body (m))[0], 0xdc);
    int a[20];
    cr_assert_eq (tp_msg_unpack (m, lng, &a[0], &a[1], &a[2], &a[3], &a[4],
                                 &a[5], &a[6], &a[7], &a[8], &a[9], &a[10],
                                 &a[11], &a[12], &a[13], &a[14], &a[15],
                                 &a[16], &a[17], &a[18], &a[19]),
                  0);
    cr_assert_eq (a[19], 20);
    tp_msg_destroy (&m);
}

Test (pack, body_larger_than_inline_round_trips)
{
    char big[1000];
    memset (big, 'z', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    tp_msg *msg = s_new ("isi", 1, big, 2);
    cr_assert_gt (tp_msg_size (msg), TP__MSG_INLINE);
    int a, b;
    const char *s;
    size_t len;
    cr_assert_eq (tp_msg_unpack (msg, "isi", &a, &s, &len, &b), 0);
    cr_assert_eq (len, sizeof big - 1);
    cr_assert_eq (memcmp (s, big, len), 0);
    cr_assert_eq (a + b, 3);
    tp_msg_destroy (&msg);
}

Test (pack, megabyte_binary_round_trips)
{
    size_t size = 4u << 20;
    uint8_t *data = malloc (size);
    for (size_t i = 0; i < size; i++)
        data[i] = (uint8_t) (i * 7);
    tp_msg *msg = s_new ("x", data, size);
    cr_assert_eq (tp_msg_size (msg), size + 5);
    const void *p;
    size_t len;
    cr_assert_eq (tp_msg_unpack (msg, "x", &p, &len), 0);
    cr_assert_eq (len, size);
    cr_assert_eq (memcmp (p, data, size), 0);
    cr_assert_eq (tp_msg_validate (msg), 1);
    free (data);
    tp_msg_destroy (&msg);
}

Test (pack, many_small_appends_grow_the_body)
{
    tp_msg *msg = s_new (NULL);
    for (int i = 0; i < 100000; i++)
        cr_assert_eq (tp_msg_pack (msg, "i", i), 0);
    cr_assert_eq (tp_msg_validate (msg), 100000);
    tp_msg_destroy (&msg);
}

Test (pack, rejects_value_past_max_body)
{
    /*  The length is checked before any byte of the value is read, so a
        small buffer with a too large length is enough here. */
    static const char small[16];
    tp_msg *msg = s_new ("i", 1);
    cr_assert_eq (tp_msg_pack (msg, "ix", 2, small, (size_t) TP_MSG_MAX_BODY),
                  TP_ETOOBIG);
    cr_assert_eq (tp_msg_size (msg), 1);
    cr_assert_eq (tp_msg_pack (msg, "S", small, SIZE_MAX), TP_ETOOBIG);
    cr_assert_eq (tp_msg_size (msg), 1);
    cr_assert_eq (tp__msg_reserve (msg, TP_MSG_MAX_BODY), TP_ETOOBIG);
    cr_assert_eq (tp__msg_reserve (msg, SIZE_MAX), TP_ETOOBIG);
    cr_assert_eq (tp__msg_reserve (msg, TP_MSG_MAX_BODY - 1), 0);
    cr_assert_eq (tp_msg_size (msg), 1);
    tp_msg_destroy (&msg);
}

Test (pack, rejects_malformed_formats)
{
    const char *bad[] = {"q",   "[i",   "i]",  "{i}", "[i}", "{s:i]", "*",
                         "?i",  "i?",   "]",   "}",   "[[i]", "{[]}",
                         "i)",  "[i]]", "{s:i s}", "\x01\x91i", "[i\x02",
                         "\x02"};
    tp_msg *msg = s_new ("n");
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cr_assert_eq (tp_msg_pack (msg, bad[i], 1, 2, 3), TP_EINVAL, "%s",
                      bad[i]);
        cr_assert_eq (tp_msg_size (msg), 1, "%s", bad[i]);
    }
    tp_msg_destroy (&msg);
}

Test (pack, rejects_null_string)
{
    tp_msg *msg = s_new (NULL);
    cr_assert_eq (tp_msg_pack (msg, "s", (const char *) NULL), TP_EINVAL);
    cr_assert_eq (tp_msg_pack (msg, "S", (const char *) NULL, (size_t) 1),
                  TP_EINVAL);
    cr_assert_eq (tp_msg_pack (msg, "x", (const void *) NULL, (size_t) 1),
                  TP_EINVAL);
    cr_assert_eq (tp_msg_size (msg), 0);
    tp_msg_destroy (&msg);
}

Test (pack, is_atomic_on_error)
{
    char big[500];
    memset (big, 'b', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    tp_msg *msg = s_new ("i", 7);
    /* fails after two values were written */
    cr_assert_eq (tp_msg_pack (msg, "iis", 1, 2, (const char *) NULL),
                  TP_EINVAL);
    cr_assert_eq (tp_msg_size (msg), 1);
    /* fails after growing the body to the heap */
    cr_assert_eq (tp_msg_pack (msg, "[s]q", big), TP_EINVAL);
    cr_assert_eq (tp_msg_size (msg), 1);
    /* a bad format is reported as such even when a value fails first */
    cr_assert_eq (tp_msg_pack (msg, "sq", (const char *) NULL), TP_EINVAL);
    cr_assert_eq (tp_msg_pack (msg, "xq", big, (size_t) TP_MSG_MAX_BODY),
                  TP_EINVAL);
    cr_assert_eq (tp_msg_size (msg), 1);
    int i;
    cr_assert_eq (tp_msg_unpack (msg, "i", &i), 0);
    cr_assert_eq (i, 7);
    tp_msg_destroy (&msg);
}

Test (unpack, rejects_wrong_type)
{
    tp_msg *msg = s_new ("isbn", 1, "s", 1);
    int i;
    bool b;
    const char *s;
    const void *p;
    size_t len;
    cr_assert_eq (tp_msg_unpack (msg, "ssbn", &s, &len, &s, &len, &b),
                  TP_EMISMATCH);
    cr_assert_eq (tp_msg_unpack (msg, "iibn", &i, &i, &b), TP_EMISMATCH);
    cr_assert_eq (tp_msg_unpack (msg, "isin", &i, &s, &len, &i),
                  TP_EMISMATCH);
    cr_assert_eq (tp_msg_unpack (msg, "isbb", &i, &s, &len, &b, &b),
                  TP_EMISMATCH);
    cr_assert_eq (tp_msg_unpack (msg, "ixbn", &i, &p, &len, &b),
                  TP_EMISMATCH);
    cr_assert_eq (tp_msg_unpack (msg, "[i]sbn", &i, &s, &len, &b),
                  TP_EMISMATCH);
    cr_assert_eq (tp_msg_unpack (msg, "dsbn", NULL, &s, &len, &b), 0);
    tp_msg_destroy (&msg);

    msg = s_new ("d", 1.0);
    cr_assert_eq (tp_msg_unpack (msg, "i", &i), TP_EMISMATCH);
    tp_msg_destroy (&msg);
}

Test (unpack, i_rejects_values_out_of_int_range)
{
    tp_msg *msg = s_new ("I", (int64_t) INT_MAX + 1);
    int i = 5;
    cr_assert_eq (tp_msg_unpack (msg, "i", &i), TP_EMISMATCH);
    tp_msg_destroy (&msg);
    msg = s_new ("I", (int64_t) INT_MIN - 1);
    cr_assert_eq (tp_msg_unpack (msg, "i", &i), TP_EMISMATCH);
    tp_msg_destroy (&msg);
    msg = s_new ("U", UINT64_MAX);
    cr_assert_eq (tp_msg_unpack (msg, "i", &i), TP_EMISMATCH);
    cr_assert_eq (i, 5);
    tp_msg_destroy (&msg);
}

Test (unpack, u_rejects_negative_and_too_big)
{
    unsigned u;
    tp_msg *msg = s_new ("i", -1);
    cr_assert_eq (tp_msg_unpack (msg, "u", &u), TP_EMISMATCH);
    tp_msg_destroy (&msg);
    msg = s_new ("U", (uint64_t) UINT_MAX + 1);
    cr_assert_eq (tp_msg_unpack (msg, "u", &u), TP_EMISMATCH);
    tp_msg_destroy (&msg);
}

Test (unpack, I_and_U_accept_any_int_that_fits)
{
    int64_t I;
    uint64_t U;
    tp_msg *msg = s_new ("U", (uint64_t) INT64_MAX + 1);
    cr_assert_eq (tp_msg_unpack (msg, "I", &I), TP_EMISMATCH);
    cr_assert_eq (tp_msg_unpack (msg, "U", &U), 0);
    tp_msg_destroy (&msg);
    msg = s_new ("i", -1);
    cr_assert_eq (tp_msg_unpack (msg, "U", &U), TP_EMISMATCH);
    cr_assert_eq (tp_msg_unpack (msg, "t", &U), TP_EMISMATCH);
    cr_assert_eq (tp_msg_unpack (msg, "I", &I), 0);
    cr_assert_eq (I, -1);
    tp_msg_destroy (&msg);
}

Test (unpack, accepts_every_integer_encoding)
{
    /* int8 5, int16 -300, int32 70000, int64 -1, uint8 200, uint16 60000,
       uint32 5, uint64 7, positive fixint 3, negative fixint -32 */
    const uint8_t body[] = {0xd0, 0x05, 0xd1, 0xfe, 0xd4, 0xd2, 0x00, 0x01,
                            0x11, 0x70, 0xd3, 0xff, 0xff, 0xff, 0xff, 0xff,
                            0xff, 0xff, 0xff, 0xcc, 0xc8, 0xcd, 0xea, 0x60,
                            0xce, 0,    0,    0,    5,    0xcf, 0,    0,
                            0,    0,    0,    0,    0,    7,    0x03, 0xe0};
    int i[10];
    cr_assert_eq (RAW (body, "iiiiiiiiii", &i[0], &i[1], &i[2], &i[3], &i[4],
                       &i[5], &i[6], &i[7], &i[8], &i[9]),
                  0);
    const int expect[] = {5, -300, 70000, -1, 200, 60000, 5, 7, 3, -32};
    cr_assert_arr_eq (i, expect, sizeof expect);
    unsigned u;
    const uint8_t positive_int8[] = {0xd0, 0x05};
    cr_assert_eq (RAW (positive_int8, "u", &u), 0);
    cr_assert_eq (u, 5);
}

Test (unpack, rejects_leftover_values)
{
    tp_msg *msg = s_new ("ii", 1, 2);
    int i;
    cr_assert_eq (tp_msg_unpack (msg, "i", &i), TP_EMISMATCH);
    cr_assert_eq (tp_msg_unpack (msg, ""), TP_EMISMATCH);
    cr_assert_eq (tp_msg_unpack (msg, NULL), TP_EMISMATCH);
    cr_assert_eq (tp_msg_unpack (msg, "i?", &i), TP_EMISMATCH);
    tp_msg_destroy (&msg);
}

Test (unpack, rejects_missing_values)
{
    tp_msg *msg = s_new ("i", 1);
    int i, j;
    cr_assert_eq (tp_msg_unpack (msg, "ii", &i, &j), TP_EMISMATCH);
    cr_assert_eq (tp_msg_unpack (msg, "i*", &i), TP_EMISMATCH);
    cr_assert_eq (tp_msg_unpack (msg, "i[]", &i), TP_EMISMATCH);
    tp_msg_destroy (&msg);
}

Test (unpack, rejects_wrong_array_and_map_sizes)
{
    tp_msg *msg = s_new ("[ii]{si}", 1, 2, "a", 3);
    cr_assert_eq (tp_msg_unpack (msg, "[i]{si}", NULL, NULL, NULL, NULL),
                  TP_EMISMATCH);
    cr_assert_eq (tp_msg_unpack (msg, "[iii]{si}", NULL, NULL, NULL, NULL,
                                 NULL, NULL),
                  TP_EMISMATCH);
    cr_assert_eq (tp_msg_unpack (msg, "[ii]{sisi}", NULL, NULL, NULL, NULL,
                                 NULL, NULL, NULL, NULL),
                  TP_EMISMATCH);
    cr_assert_eq (tp_msg_unpack (msg, "{ii}{si}", NULL, NULL, NULL, NULL),
                  TP_EMISMATCH);
    cr_assert_eq (tp_msg_unpack (msg, "[**]{**}"), 0);
    tp_msg_destroy (&msg);
}

Test (unpack, optional_allows_a_missing_tail)
{
    tp_msg *msg = s_new ("i", 1);
    int a = 0, b = 42;
    const char *s = "untouched";
    size_t len = 99;
    cr_assert_eq (tp_msg_unpack (msg, "i?is[i]", &a, &b, &s, &len, NULL), 0);
    cr_assert_eq (a, 1);
    cr_assert_eq (b, 42);
    cr_assert_str_eq (s, "untouched");
    cr_assert_eq (len, 99);
    tp_msg_destroy (&msg);

    msg = s_new (NULL);
    cr_assert_eq (tp_msg_unpack (msg, "?i", &a), 0);
    cr_assert_eq (tp_msg_unpack (msg, "?"), 0);
    tp_msg_destroy (&msg);
}

Test (unpack, optional_allows_a_partial_tail)
{
    tp_msg *msg = s_new ("ii", 1, 2);
    int a = 0, b = 0, c = 42;
    cr_assert_eq (tp_msg_unpack (msg, "i?ii", &a, &b, &c), 0);
    cr_assert_eq (a + b, 3);
    cr_assert_eq (c, 42);
    tp_msg_destroy (&msg);
}

Test (unpack, optional_values_that_are_present_must_match)
{
    tp_msg *msg = s_new ("is", 1, "x");
    int a, b;
    cr_assert_eq (tp_msg_unpack (msg, "i?i", &a, &b), TP_EMISMATCH);
    cr_assert_eq (tp_msg_unpack (msg, "i?[s]", &a, NULL, NULL),
                  TP_EMISMATCH);
    tp_msg_destroy (&msg);
}

Test (unpack, rejects_misplaced_or_repeated_optional)
{
    tp_msg *msg = s_new ("[i]", 1);
    cr_assert_eq (tp_msg_unpack (msg, "[?i]", NULL), TP_EINVAL);
    cr_assert_eq (tp_msg_unpack (msg, "[i?]", NULL), TP_EINVAL);
    cr_assert_eq (tp_msg_unpack (msg, "*??"), TP_EINVAL);
    cr_assert_eq (tp_msg_unpack (msg, "*?i?i"), TP_EINVAL);
    tp_msg_destroy (&msg);
}

Test (unpack, S_reports_a_short_buffer)
{
    tp_msg *msg = s_new ("s", "hello");
    char buf[5] = "zzzz";
    cr_assert_eq (tp_msg_unpack (msg, "S", buf, sizeof buf), TP_ETRUNC);
    cr_assert_str_eq (buf, "hell");
    cr_assert_eq (tp_msg_unpack (msg, "S", NULL, (size_t) 0), TP_ETRUNC);
    char fits[6];
    cr_assert_eq (tp_msg_unpack (msg, "S", fits, sizeof fits), 0);
    cr_assert_str_eq (fits, "hello");
    tp_msg_destroy (&msg);
}

Test (unpack, star_skips_any_value)
{
    tp_msg *msg = s_new ("i[i{s:[nn]}x]s", 1, 2, "k", "bin", (size_t) 3, "end");
    const char *s;
    size_t len;
    cr_assert_eq (tp_msg_unpack (msg, "**s", &s, &len), 0);
    cr_assert_eq (len, 3);
    cr_assert_eq (memcmp (s, "end", 3), 0);
    cr_assert_eq (tp_msg_unpack (msg, "*[*{*:*}*]*"), 0);
    cr_assert_eq (tp_msg_unpack (msg, "*[*{*:[**]}*]*"), 0);
    tp_msg_destroy (&msg);
}

Test (unpack, null_outputs_are_not_written)
{
    tp_ref r = {tp_node_id ("x"), 1, 1};
    tp_msg *msg = s_new ("biIuUdsxrt", 1, 2, (int64_t) 3, 4u, (uint64_t) 5,
                         6.0, "s", "x", (size_t) 1, r, (tp_tag_t) 7);
    cr_assert_eq (tp_msg_unpack (msg, "biIuUdsxrt", NULL, NULL, NULL, NULL,
                                 NULL, NULL, NULL, NULL, NULL, NULL, NULL,
                                 NULL),
                  0);
    tp_msg_destroy (&msg);
}

Test (unpack, truncated_msgpack_is_eproto)
{
    tp_msg *msg = s_new ("s", "a string that is long enough for str8 ........");
    const uint8_t *body = tp_msg_body (msg);
    for (size_t n = 1; n < tp_msg_size (msg); n++)
        cr_assert_eq (tp_unpack_raw (body, n, "*"), TP_EPROTO, "%zu", n);
    tp_msg_destroy (&msg);

    const uint8_t cut_array[] = {0x92, 0x01};
    cr_assert_eq (RAW (cut_array, "[ii]", NULL, NULL), TP_EPROTO);
    const uint8_t cut_uint[] = {0xcd, 0x01};
    cr_assert_eq (RAW (cut_uint, "i", NULL), TP_EPROTO);
    const uint8_t cut_ext[] = {0xc7, 0x05, 0x01};
    cr_assert_eq (RAW (cut_ext, "*"), TP_EPROTO);
    const uint8_t cut_ext_type[] = {0xc7, 0x00};
    cr_assert_eq (RAW (cut_ext_type, "*"), TP_EPROTO);
}

Test (unpack, every_prefix_of_a_body_fails_cleanly)
{
    tp_ref r = {tp_node_id ("prefixnode"), 1, 2};
    tp_msg *msg = s_new ("[i{s:[d b]} x] r I s", -7, "k", 0.5, 1, "bin",
                         (size_t) 3, r, INT64_MIN, "tail");
    const uint8_t *body = tp_msg_body (msg);
    size_t size = tp_msg_size (msg);
    for (size_t n = 0; n < size; n++) {
        int rc = tp_unpack_raw (body, n, "[i{s:[db]}x]rIs", NULL, NULL, NULL,
                                NULL, NULL, NULL, NULL, NULL, NULL, NULL,
                                NULL);
        cr_assert (rc == TP_EPROTO || rc == TP_EMISMATCH, "%zu: %d", n, rc);
    }
    tp_msg_destroy (&msg);
}

Test (unpack, reserved_byte_is_eproto)
{
    const uint8_t body[] = {0xc1};
    cr_assert_eq (RAW (body, "*"), TP_EPROTO);
    cr_assert_eq (RAW (body, "i", NULL), TP_EPROTO);
}

Test (unpack, impossible_counts_are_eproto)
{
    const uint8_t array[] = {0xdd, 0xff, 0xff, 0xff, 0xff, 0x01};
    const uint8_t map[] = {0xdf, 0x00, 0x00, 0x00, 0x02, 0x01, 0x01, 0x01};
    const uint8_t str[] = {0xdb, 0xff, 0xff, 0xff, 0xff, 'a'};
    cr_assert_eq (RAW (array, "*"), TP_EPROTO);
    cr_assert_eq (RAW (map, "*"), TP_EPROTO);
    cr_assert_eq (RAW (str, "*"), TP_EPROTO);
}

Test (unpack, leftover_garbage_is_eproto)
{
    const uint8_t body[] = {0x01, 0xc1};
    int i;
    cr_assert_eq (RAW (body, "i", &i), TP_EPROTO);
}

Test (unpack, bad_format_is_einval_whatever_the_body)
{
    tp_msg *msg = s_new ("i", 1);
    int i;
    cr_assert_eq (tp_msg_unpack (msg, "q"), TP_EINVAL);
    cr_assert_eq (tp_msg_unpack (msg, "iq", &i), TP_EINVAL);
    cr_assert_eq (tp_msg_unpack (msg, "sq", NULL, NULL), TP_EINVAL);
    cr_assert_eq (tp_msg_unpack (msg, "i?i]", &i, &i), TP_EINVAL);
    cr_assert_eq (tp_msg_unpack (msg, "[i", &i), TP_EINVAL);
    cr_assert_eq (tp_msg_unpack (msg, "i}", &i), TP_EINVAL);
    cr_assert_eq (tp_msg_unpack (msg, "{i}", &i), TP_EINVAL);
    tp_msg_destroy (&msg);
}

Test (unpack, raw_accepts_an_empty_buffer)
{
    cr_assert_eq (tp_unpack_raw (NULL, 0, ""), 0);
    cr_assert_eq (tp_unpack_raw (NULL, 0, "?i", NULL), 0);
    cr_assert_eq (tp_unpack_raw (NULL, 0, "i", NULL), TP_EMISMATCH);
    cr_assert_eq (tp_unpack_raw (NULL, 1, ""), TP_EINVAL);
}

/*  Writes depth nested one-element arrays around a nil. */
static size_t
s_nest (uint8_t *buf, int depth)
{
    memset (buf, 0x91, (size_t) depth);
    buf[depth] = 0xc0;
    return (size_t) depth + 1;
}

Test (unpack, nesting_is_limited_to_64_levels)
{
    uint8_t buf[100];
    size_t n = s_nest (buf, 64);
    cr_assert_eq (tp_unpack_raw (buf, n, "*"), 0);
    n = s_nest (buf, 65);
    cr_assert_eq (tp_unpack_raw (buf, n, "*"), TP_EPROTO);
    /* an empty array at level 65 counts too */
    memset (buf, 0x91, 64);
    buf[64] = 0x90;
    cr_assert_eq (tp_unpack_raw (buf, 65, "*"), TP_EPROTO);
}

/* ------------------------------------------------------------------ */
/*  Validate                                                           */

Test (validate, counts_top_level_values)
{
    tp_msg *msg = s_new ("i[ii]{s:n}s", 1, 2, 3, "k", "s");
    cr_assert_eq (tp_msg_validate (msg), 4);
    tp_msg_destroy (&msg);
}

Test (validate, empty_body_has_zero_values)
{
    tp_msg *msg = s_new (NULL);
    cr_assert_eq (tp_msg_validate (msg), 0);
    tp_msg_destroy (&msg);
}

Test (validate, rejects_truncated_or_reserved_bytes)
{
    const uint8_t cut[] = {0x01, 0x92, 0x01};
    const uint8_t reserved[] = {0x01, 0xc1};
    tp_msg *msg = tp_msg_new_raw (tp_tag ("v"), cut, sizeof cut);
    cr_assert_eq (tp_msg_validate (msg), TP_EPROTO);
    tp_msg_destroy (&msg);
    msg = tp_msg_new_raw (tp_tag ("v"), reserved, sizeof reserved);
    cr_assert_eq (tp_msg_validate (msg), TP_EPROTO);
    tp_msg_destroy (&msg);
}

Test (validate, rejects_nesting_beyond_the_limit)
{
    uint8_t buf[100];
    tp_msg *msg = tp_msg_new_raw (tp_tag ("v"), buf, s_nest (buf, 64));
    cr_assert_eq (tp_msg_validate (msg), 1);
    tp_msg_destroy (&msg);
    msg = tp_msg_new_raw (tp_tag ("v"), buf, s_nest (buf, 65));
    cr_assert_eq (tp_msg_validate (msg), TP_EPROTO);
    tp_msg_destroy (&msg);
}

/* ------------------------------------------------------------------ */
/*  Format                                                             */

Test (format, prints_readable_text)
{
    tp_ref r = {tp_node_id ("nonode"), 3, 1};
    tp_msg *msg = tp_msg_new (tp_tag ("ping"), "is[ii]{s:b}r", 42, "x", 1, 2,
                              "a", 1, r);
    char buf[128];
    size_t n = tp_msg_format (msg, buf, sizeof buf);
    cr_assert_str_eq (buf, "ping(42, \"x\", [1, 2], {\"a\": true}, nonode/3.1)");
    cr_assert_eq (n, strlen (buf));
    tp_msg_destroy (&msg);
}

Test (format, prints_a_ref_with_its_incarnation)
{
    tp_ref a = s_ref ("nonode/3.1:0000002a");
    tp_ref b = s_ref ("n-1.x/4294967295.4294967295:ffffffff");
    tp_msg *msg = tp_msg_new (tp_tag ("ping"), "r [r] r", a, b,
                              (tp_ref){tp_node_id ("nonode"), 3, 1});
    char buf[128];
    size_t n = tp_msg_format (msg, buf, sizeof buf);
    cr_assert_str_eq (buf, "ping(nonode/3.1:0000002a, "
                           "[n-1.x/4294967295.4294967295:ffffffff], "
                           "nonode/3.1)");
    cr_assert_eq (n, strlen (buf));
    tp_msg_destroy (&msg);
    /* as tp_ref_format does */
    char text[TP_REF_STRLEN];
    cr_assert_gt (tp_ref_format (a, text, sizeof text), 0);
    cr_assert_str_eq (text, "nonode/3.1:0000002a");
    /* a ref is printed from its bytes: the node need not be known */
    const uint8_t body[] = {0xc7, 15,   TP__EXT_REF, 0,   0,   0,   1,
                            0,    0,    0,           2,   0x9f, 0x86, 0xd0,
                            0x81, 'f',  'a',         'r'};
    msg = tp_msg_new_raw (tp_tag ("e"), body, sizeof body);
    tp_msg_format (msg, buf, sizeof buf);
    cr_assert_str_eq (buf, "e(far/1.2:9f86d081)");
    tp_msg_destroy (&msg);
}

Test (format, prints_scalars_binary_and_nil_ref)
{
    uint8_t data[12] = {0};
    tp_msg *msg = tp_msg_new (tp_tag ("v"), "nbi I U x r", 0, -5, INT64_MIN,
                              UINT64_MAX, data, sizeof data, TP_REF_NIL);
    char buf[256];
    tp_msg_format (msg, buf, sizeof buf);
    cr_assert_str_eq (buf, "v(nil, false, -5, -9223372036854775808, "
                           "18446744073709551615, <bin 12>, nil)");
    tp_msg_destroy (&msg);
}

Test (format, prints_floats_so_they_read_back)
{
    tp_msg *msg = tp_msg_new (tp_tag ("f"), "dddd", 1.0, 0.1, -2.5e-300,
                              1.0 / 3);
    char buf[256];
    tp_msg_format (msg, buf, sizeof buf);
    cr_assert_str_eq (buf,
                      "f(1.0, 0.1, -2.5e-300, 0.3333333333333333)");
    tp_msg_destroy (&msg);
    const uint8_t f32[] = {0xca, 0x3d, 0xcc, 0xcc, 0xcd}; /* 0.1f */
    msg = tp_msg_new_raw (tp_tag ("f"), f32, sizeof f32);
    tp_msg_format (msg, buf, sizeof buf);
    cr_assert_str_eq (buf, "f(0.1)");
    tp_msg_destroy (&msg);
}

Test (format, escapes_strings)
{
    tp_msg *msg = tp_msg_new (tp_tag ("s"), "S", "a\"b\\c\nd\te\x01\0f",
                              (size_t) 12);
    char buf[128];
    tp_msg_format (msg, buf, sizeof buf);
    cr_assert_str_eq (buf, "s(\"a\\\"b\\\\c\\nd\\te\\x01\\x00f\")");
    tp_msg_destroy (&msg);
}

Test (format, prints_other_ext_types_and_bad_refs)
{
    /* another type; a ref of 4 bytes; a version 1 ref (8-byte head) */
    const uint8_t body[] = {0xd4, 0x05, 0x00, 0xd6, TP__EXT_REF, 0, 0, 0,
                            1,    0xd7, TP__EXT_REF, 0, 0, 0, 1, 0, 0, 0, 1};
    tp_msg *msg = tp_msg_new_raw (tp_tag ("e"), body, sizeof body);
    char buf[128];
    tp_msg_format (msg, buf, sizeof buf);
    cr_assert_str_eq (buf, "e(<ext 5 1>, <ext 1 4>, <ext 1 8>)");
    tp_msg_destroy (&msg);
}

Test (format, truncates_with_dots)
{
    tp_msg *msg = tp_msg_new (tp_tag ("ping"), "ii", 12345, 67890);
    char buf[12];
    size_t n = tp_msg_format (msg, buf, sizeof buf);
    cr_assert_str_eq (buf, "ping(123...");
    cr_assert_eq (n, 11);
    char exact[19]; /* "ping(12345, 67890)" is 18 characters */
    n = tp_msg_format (msg, exact, sizeof exact);
    cr_assert_str_eq (exact, "ping(12345, 67890)");
    cr_assert_eq (n, 18);
    tp_msg_destroy (&msg);
}

Test (format, stops_early_on_huge_bodies)
{
    tp_msg *msg = s_new (NULL);
    for (int i = 0; i < 10000; i++)
        tp_msg_pack (msg, "[s]", "abc");
    char buf[32];
    size_t n = tp_msg_format (msg, buf, sizeof buf);
    cr_assert_eq (n, sizeof buf - 1);
    cr_assert_str_eq (buf + n - 3, "...");
    tp_msg_destroy (&msg);
}

Test (format, handles_tiny_buffers)
{
    tp_msg *msg = tp_msg_new (tp_tag ("ping"), "i", 1);
    char buf[4] = "zzz";
    cr_assert_eq (tp_msg_format (msg, buf, 0), 0);
    cr_assert_eq (buf[0], 'z');
    cr_assert_eq (tp_msg_format (msg, buf, 1), 0);
    cr_assert_str_eq (buf, "");
    cr_assert_eq (tp_msg_format (msg, buf, 3), 2);
    cr_assert_str_eq (buf, "pi");
    cr_assert_eq (tp_msg_format (msg, buf, 4), 3);
    cr_assert_str_eq (buf, "...");
    tp_msg_destroy (&msg);
}

Test (format, marks_malformed_bodies)
{
    const uint8_t body[] = {0x01, 0x92, 0x01};
    tp_msg *msg = tp_msg_new_raw (tp_tag ("ping"), body, sizeof body);
    char buf[64];
    tp_msg_format (msg, buf, sizeof buf);
    cr_assert_str_eq (buf, "ping(<malformed>)");
    tp_msg_destroy (&msg);
}

Test (format, prints_an_invalid_tag_as_a_number)
{
    tp_msg *msg = tp_msg_new (38ull << 6, NULL);
    char buf[64];
    tp_msg_format (msg, buf, sizeof buf);
    cr_assert_str_eq (buf, "<tag 2432>()");
    tp_msg_destroy (&msg);
}

/* ------------------------------------------------------------------ */
/*  Message nodes and bodies (internal API)                            */

Test (node, alloc_reuses_a_freed_node)
{
    tp_msg *a = tp__msg_alloc ();
    tp__msg_free (a);
    tp_msg *b = tp__msg_alloc ();
    cr_assert_eq (a, b);
    cr_assert_eq (b->tag, 0);
    cr_assert_eq (b->size, 0);
    cr_assert_eq (b->body, b->u.buf);
    cr_assert (tp_ref_is_nil (b->from));
    tp__msg_free (b);
    tp__msg_free (NULL);
}

Test (node, many_alloc_free_cycles_reuse_the_same_nodes)
{
    enum { N = 100 };
    tp_msg *first[N], *msgs[N];
    for (int i = 0; i < N; i++)
        first[i] = msgs[i] = tp__msg_alloc ();
    for (int i = 0; i < N; i++)
        tp__msg_free (msgs[i]);
    for (int round = 0; round < 1000; round++) {
        for (int i = 0; i < N; i++) {
            msgs[i] = tp__msg_alloc ();
            bool known = false;
            for (int j = 0; j < N && !known; j++)
                known = msgs[i] == first[j];
            cr_assert (known, "round %d: a node not from the cache", round);
        }
        for (int i = 0; i < N; i++)
            tp__msg_free (msgs[i]);
    }
}

Test (node, cache_is_bounded_and_flush_empties_it)
{
    enum { N = 10000 };
    tp_msg **msgs = malloc (N * sizeof *msgs);
    for (int i = 0; i < N; i++)
        msgs[i] = tp__msg_alloc ();
    for (int i = 0; i < N; i++)
        tp__msg_free (msgs[i]);
    tp__msg_cache_flush ();
    tp__msg_cache_flush ();
    free (msgs);
}

Test (node, small_messages_do_not_malloc_once_the_cache_is_warm)
{
    tp_msg *warm = tp_msg_new (tp_tag ("warm"), "iii", 1, 2, 3);
    tp_msg_destroy (&warm);
    int failures = 0;
    /*  No assertion inside the loop: criterion may allocate in one. */
    struct mallinfo2 before = mallinfo2 ();
    for (int i = 0; i < 1000; i++) {
        tp_msg *msg = tp_msg_new (tp_tag ("add"), "iii", i, i + 1, -i);
        int a, b, c;
        if (tp_msg_unpack (msg, "iii", &a, &b, &c) || a != i || c != -i
            || msg->body != msg->u.buf)
            failures++;
        tp_msg_destroy (&msg);
    }
    struct mallinfo2 after = mallinfo2 ();
    cr_assert_eq (failures, 0);
    cr_assert_eq (after.uordblks, before.uordblks);
    cr_assert_eq (after.hblkhd, before.hblkhd);
}

Test (node, append_moves_a_growing_body_to_the_heap)
{
    tp_msg *msg = tp__msg_alloc ();
    uint8_t bytes[TP__MSG_INLINE];
    memset (bytes, 7, sizeof bytes);
    cr_assert_eq (tp__msg_append (msg, bytes, sizeof bytes), 0);
    cr_assert_eq (msg->body, msg->u.buf);
    cr_assert_eq (tp__msg_append (msg, bytes, 1), 0);
    cr_assert (msg->flags & TP__MSG_HEAP);
    cr_assert_eq (msg->size, TP__MSG_INLINE + 1);
    cr_assert_arr_eq (msg->body, bytes, sizeof bytes);
    cr_assert_eq (tp__msg_append (msg, NULL, 0), 0);
    tp__msg_free (msg);
}

Test (node, adopt_heap_replaces_the_body)
{
    tp_msg *msg = tp_msg_new (tp_tag ("a"), "s", "old body");
    uint8_t *data = malloc (2);
    data[0] = 0x2a;
    data[1] = 0xc3;
    tp__msg_adopt_heap (msg, data, 2);
    cr_assert_eq (tp_msg_body (msg), data);
    int i;
    bool b;
    cr_assert_eq (tp_msg_unpack (msg, "ib", &i, &b), 0);
    cr_assert_eq (i, 42);
    /* adopting over a heap body frees the old one */
    tp__msg_adopt_heap (msg, malloc (1), 0);
    cr_assert_eq (tp_msg_size (msg), 0);
    tp__msg_adopt_heap (msg, NULL, 0);
    cr_assert_eq (msg->body, msg->u.buf);
    tp_msg_destroy (&msg);
}

Test (node, detach_body_hands_over_a_heap_buffer)
{
    char big[200];
    memset (big, 'h', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    tp_msg *msg = tp_msg_new (tp_tag ("d"), "s", big);
    const void *body = tp_msg_body (msg);
    size_t size = tp_msg_size (msg);
    void *data;
    size_t len;
    tp__msg_detach_body (msg, &data, &len);
    cr_assert_eq (data, body);
    cr_assert_eq (len, size);
    cr_assert_eq (tp_msg_size (msg), 0);
    cr_assert_eq (msg->body, msg->u.buf);
    cr_assert_not (msg->flags & TP__MSG_HEAP);
    cr_assert_eq (tp_unpack_raw (data, len, "*"), 0);
    free (data);
    tp_msg_destroy (&msg);
}

Test (node, detach_body_copies_an_inline_body)
{
    tp_msg *msg = tp_msg_new (tp_tag ("d"), "i", 5);
    void *data;
    size_t len;
    tp__msg_detach_body (msg, &data, &len);
    cr_assert_eq (len, 1);
    cr_assert_eq (*(uint8_t *) data, 5);
    cr_assert_eq (tp_msg_size (msg), 0);
    free (data);
    tp__msg_detach_body (msg, &data, &len);
    cr_assert_eq (len, 0);
    free (data);
    tp_msg_destroy (&msg);
}

/*  Makes msg's body a ZeroMQ message holding bytes, as the runtime does
    for a zero-copy receive. */
static void
s_zmq_body (tp_msg *msg, const void *bytes, size_t size)
{
    cr_assert_eq (zmq_msg_init_size (&msg->u.zmsg, size), 0);
    memcpy (zmq_msg_data (&msg->u.zmsg), bytes, size);
    msg->body = zmq_msg_data (&msg->u.zmsg);
    msg->size = msg->cap = (uint32_t) size;
    msg->flags |= TP__MSG_ZMQ;
}

Test (node, zmq_bodies_are_read_copied_grown_and_closed)
{
    uint8_t bytes[300];
    memset (bytes, 0x01, sizeof bytes); /* 300 fixints */
    tp_msg *msg = tp__msg_alloc ();
    msg->tag = tp_tag ("z");
    s_zmq_body (msg, bytes, sizeof bytes);
    cr_assert_eq (tp_msg_validate (msg), 300);
    tp_msg *copy = tp_msg_dup (msg);
    cr_assert_not (copy->flags & TP__MSG_ZMQ);
    cr_assert_eq (tp_msg_validate (copy), 300);
    tp_msg_destroy (&copy);
    cr_assert_eq (tp_msg_pack (msg, "i", 2), 0);
    cr_assert_not (msg->flags & TP__MSG_ZMQ);
    cr_assert (msg->flags & TP__MSG_HEAP);
    cr_assert_eq (tp_msg_validate (msg), 301);
    tp_msg_destroy (&msg);

    /* a small (inline in zmq_msg_t) zmq body, freed unchanged */
    msg = tp__msg_alloc ();
    s_zmq_body (msg, bytes, 3);
    cr_assert_eq (tp_unpack_raw (msg->body, msg->size, "iii", NULL, NULL,
                                 NULL),
                  0);
    tp__msg_free (msg);

    /* and detached */
    msg = tp__msg_alloc ();
    s_zmq_body (msg, bytes, sizeof bytes);
    void *data;
    size_t len;
    tp__msg_detach_body (msg, &data, &len);
    cr_assert_eq (len, sizeof bytes);
    cr_assert_arr_eq (data, bytes, sizeof bytes);
    cr_assert_not (msg->flags & TP__MSG_ZMQ);
    free (data);
    tp__msg_free (msg);
}

/* ------------------------------------------------------------------ */
/*  Threads                                                            */

enum { S_HANDOVER = 20000 };

/*  A one-slot-at-a-time handover queue between two threads. */
typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    tp_msg *head;
    int sent;
    int received;
} s_queue_t;

static void *
s_producer (void *arg)
{
    s_queue_t *q = arg;
    for (int i = 0; i < S_HANDOVER; i++) {
        tp_msg *msg = tp_msg_new (tp_tag ("n"), i % 10 ? "i" : "[is]", i,
                                  "a string long enough to need the heap: "
                                  "0123456789012345678901234567890123456789");
        pthread_mutex_lock (&q->lock);
        msg->next = q->head;
        q->head = msg;
        q->sent++;
        pthread_cond_signal (&q->cond);
        pthread_mutex_unlock (&q->lock);
    }
    return NULL;
}

static void *
s_consumer (void *arg)
{
    s_queue_t *q = arg;
    pthread_mutex_lock (&q->lock);
    while (q->received < S_HANDOVER) {
        while (!q->head)
            pthread_cond_wait (&q->cond, &q->lock);
        tp_msg *msg = q->head;
        q->head = NULL;
        pthread_mutex_unlock (&q->lock);
        while (msg) {
            tp_msg *next = msg->next;
            q->received++;
            tp_msg_destroy (&msg);
            msg = next;
        }
        pthread_mutex_lock (&q->lock);
    }
    pthread_mutex_unlock (&q->lock);
    return NULL;
}

Test (thread, messages_freed_by_another_thread_are_counted_and_cached)
{
    s_queue_t q = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL,
                   0, 0};
    pthread_t producer, consumer;
    cr_assert_eq (pthread_create (&consumer, NULL, s_consumer, &q), 0);
    cr_assert_eq (pthread_create (&producer, NULL, s_producer, &q), 0);
    pthread_join (producer, NULL);
    pthread_join (consumer, NULL);
    cr_assert_eq (q.sent, S_HANDOVER);
    cr_assert_eq (q.received, S_HANDOVER);
    cr_assert_null (q.head);
}

static void *
s_foreign (void *arg)
{
    (void) arg;
    for (int i = 0; i < 100; i++) {
        tp_msg *msg = tp_msg_new (tp_tag ("f"), "i", i);
        tp_msg_destroy (&msg);
    }
    return NULL; /* no tp__msg_cache_flush: the key destructor does it */
}

Test (thread, foreign_threads_do_not_leak_their_cache)
{
    for (int i = 0; i < 8; i++) {
        pthread_t t;
        cr_assert_eq (pthread_create (&t, NULL, s_foreign, NULL), 0);
        pthread_join (t, NULL);
    }
}

/* ---- the one-integer fast path ---------------------------------------- */

static const int64_t s_ints[] = {
    0,           1,          31,         32,          127,
    128,         255,        256,        65535,       65536,
    4294967295,  4294967296, INT64_MAX,  -1,          -31,
    -32,         -33,        -128,       -129,        -32768,
    -32769,      INT32_MIN,  (int64_t) INT32_MIN - 1, INT64_MIN};

Test (msg, pack_int64_writes_what_msgpack_c_writes)
{
    for (size_t i = 0; i < sizeof s_ints / sizeof *s_ints; i++) {
        msgpack_sbuffer sb;
        msgpack_sbuffer_init (&sb);
        msgpack_packer pk;
        msgpack_packer_init (&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_int64 (&pk, s_ints[i]);
        uint8_t out[9];
        size_t n = tp__pack_int64 (out, s_ints[i]);
        cr_assert_eq (n, sb.size, "%" PRId64, s_ints[i]);
        cr_assert_eq (memcmp (out, sb.data, n), 0, "%" PRId64, s_ints[i]);
        msgpack_sbuffer_destroy (&sb);
        /* and the format engine writes the same */
        tp_msg *m = tp_msg_new (tp_tag ("n"), "I", s_ints[i]);
        cr_assert_eq (tp_msg_size (m), n);
        cr_assert_eq (memcmp (tp_msg_body (m), out, n), 0);
        tp_msg_destroy (&m);
    }
}

Test (msg, int_reads_what_unpack_I_reads)
{
    for (size_t i = 0; i < sizeof s_ints / sizeof *s_ints; i++) {
        tp_msg *m = tp_msg_new (tp_tag ("n"), "I", s_ints[i]);
        int64_t a = 7, b = 9;
        cr_assert_eq (tp_msg_int (m, &a), 0);
        cr_assert_eq (tp_msg_unpack (m, "I", &b), 0);
        cr_assert_eq (a, s_ints[i]);
        cr_assert_eq (b, s_ints[i]);
        cr_assert_eq (tp_msg_int (m, NULL), 0);
        int c;
        bool fits = s_ints[i] >= INT_MIN && s_ints[i] <= INT_MAX;
        cr_assert_eq (tp_msg_unpack (m, "i", &c), fits ? 0 : TP_EMISMATCH);
        if (fits)
            cr_assert_eq (c, (int) s_ints[i]);
        tp_msg_destroy (&m);
    }
}

Test (msg, int_fails_as_unpack_I_fails)
{
    static const struct {
        uint8_t b[12];
        size_t n;
    } bodies[] = {
        {{0}, 0},                                 /* empty */
        {{0x01, 0x02}, 2},                        /* two integers */
        {{0xcd, 0x00, 0x05}, 3},                  /* wide but valid */
        {{0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 9},
        {{0xcd, 0x01}, 2},                        /* truncated */
        {{0xa1, 'x'}, 2},                         /* a string */
        {{0xc1}, 1},                              /* never used byte */
        {{0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0}, 9},   /* INT64_MIN, valid */
        {{0x05, 0xc1}, 2},                        /* garbage after */
    };
    for (size_t i = 0; i < sizeof bodies / sizeof *bodies; i++) {
        tp_msg *m = tp_msg_new_raw (tp_tag ("n"), bodies[i].b, bodies[i].n);
        cr_assert_not_null (m);
        int64_t a = 11, b = 11;
        int ra = tp_msg_int (m, &a);
        int rb = tp_msg_unpack (m, "I", &b);
        cr_assert_eq (ra, rb, "body %zu: %d vs %d", i, ra, rb);
        if (ra == 0)
            cr_assert_eq (a, b, "body %zu", i);
        tp_msg_destroy (&m);
    }
}

/* ---- the reader: bodies of any length -------------------------------- */

Test (reader, walks_an_array_of_any_length_and_a_map)
{
    tp_msg *m = tp_msg_new (tp_tag ("x"), NULL);
    /* [ [s i] x 100 ], then {s:i s:i}, then a trailing int */
    cr_assert_eq (tp_msg_pack (m, "["), TP_EINVAL); /* (formats stay whole) */
    tp_msg_destroy (&m);
    /* built with msgpack bytes: an array header of 100, then pairs */
    uint8_t buf[4096];
    size_t n = 0;
    buf[n++] = 0xdc; /* array 16 */
    buf[n++] = 0;
    buf[n++] = 100;
    for (int i = 0; i < 100; i++) {
        buf[n++] = 0x92; /* fixarray 2 */
        buf[n++] = 0xa1; /* fixstr 1 */
        buf[n++] = (uint8_t) ('a' + i % 26);
        buf[n++] = (uint8_t) i; /* positive fixint */
    }
    buf[n++] = 0x82; /* fixmap 2 */
    buf[n++] = 0xa1;
    buf[n++] = 'k';
    buf[n++] = 1;
    buf[n++] = 0xa1;
    buf[n++] = 'l';
    buf[n++] = 2;
    buf[n++] = 7;
    m = tp_msg_new_raw (tp_tag ("x"), buf, n);
    tp_reader rd;
    tp_reader_init (&rd, m);
    uint32_t count = 0;
    cr_assert_eq (tp_reader_map (&rd, &count), TP_EMISMATCH);
    cr_assert_eq (tp_reader_array (&rd, &count), 0);
    cr_assert_eq (count, 100);
    int sum = 0;
    for (uint32_t i = 0; i < count; i++) {
        const char *s;
        size_t len;
        int v;
        cr_assert_eq (tp_reader_next (&rd, "[si]", &s, &len, &v), 0);
        cr_assert_eq (len, 1);
        cr_assert_eq (s[0], 'a' + (int) i % 26);
        sum += v;
    }
    cr_assert_eq (sum, 4950);
    /* a wrong format leaves the reader where it was */
    int a, b;
    cr_assert_eq (tp_reader_next (&rd, "i", &a), TP_EMISMATCH);
    cr_assert_eq (tp_reader_map (&rd, &count), 0);
    cr_assert_eq (count, 2);
    const char *k1, *k2;
    size_t l1, l2;
    cr_assert_eq (tp_reader_next (&rd, "si si", &k1, &l1, &a, &k2, &l2, &b),
                  0);
    cr_assert_eq (a + b, 3);
    cr_assert (!tp_reader_done (&rd));
    cr_assert_eq (tp_reader_skip (&rd), 0);
    cr_assert (tp_reader_done (&rd));
    cr_assert_eq (tp_reader_skip (&rd), TP_EMISMATCH);
    cr_assert_eq (tp_reader_next (&rd, "i", &a), TP_EMISMATCH);
    tp_msg_destroy (&m);
}

Test (reader, never_reads_past_a_truncated_body)
{
    uint8_t buf[] = {0xdc, 0x00, 0x10, 0x92, 0xa1}; /* cut in the middle */
    tp_reader rd;
    tp_reader_init_raw (&rd, buf, sizeof buf);
    uint32_t n;
    cr_assert_eq (tp_reader_array (&rd, &n), TP_EPROTO); /* 16 cannot fit */
    tp_reader_init_raw (&rd, buf + 3, 2);
    const char *s;
    size_t len;
    int v;
    cr_assert_neq (tp_reader_next (&rd, "[si]", &s, &len, &v), 0);
    cr_assert_eq (tp_reader_skip (&rd), TP_EPROTO);
    tp_reader_init_raw (&rd, NULL, 0);
    cr_assert (tp_reader_done (&rd));
}

Test (tag, the_checked_literal_macro_gives_the_same_tag)
{
    cr_assert_eq (TP_TAG ("ping"), tp_tag ("ping"));
    cr_assert_eq (TP_TAG ("abcdefghij"), tp_tag ("abcdefghij"));
    cr_assert_eq (tp_tag ("abcdefghijk"), 0); /* 11: not a tag at run time */
}
