/*  tests/test_wire.c: the node envelope codec (core/wire.c). */
#include <criterion/criterion.h>

#include "wire.h"

static tp__env
s_env (uint32_t kind)
{
    static const uint8_t body[] = {0x2a, 0xa1, 'x'};
    tp__env e = {0};
    e.kind = kind;
    e.to_index = 3;
    e.to_gen = 7;
    e.from_node = "alpha.node-1";
    e.from_node_len = strlen (e.from_node);
    e.from_index = 5;
    e.from_gen = 9;
    e.tag = tp_tag ("ping");
    e.corr = 0xfedcba9876543210ull;
    e.flags = TP__WIRE_F_REQUEST;
    e.body = body;
    e.body_len = sizeof body;
    return e;
}

Test (wire, every_kind_round_trips)
{
    for (uint32_t k = 1; k <= TP__WIRE_KIND_MAX; k++) {
        tp__env e = s_env (k), d;
        uint8_t *buf;
        size_t len;
        cr_assert_eq (tp__wire_encode (&e, &buf, &len), 0);
        cr_assert_eq (tp__wire_decode (buf, len, &d), 0, "kind %u", k);
        cr_assert_eq (d.kind, k);
        cr_assert_eq (d.to_index, 3);
        cr_assert_eq (d.to_gen, 7);
        cr_assert_eq (d.from_node_len, e.from_node_len);
        cr_assert_eq (memcmp (d.from_node, e.from_node, d.from_node_len), 0);
        cr_assert_eq (d.from_index, 5);
        cr_assert_eq (d.from_gen, 9);
        cr_assert_eq (d.tag, e.tag);
        cr_assert_eq (d.corr, e.corr);
        cr_assert_eq (d.flags, TP__WIRE_F_REQUEST);
        cr_assert_eq (d.body_len, e.body_len);
        cr_assert_eq (memcmp (d.body, e.body, d.body_len), 0);
        cr_assert_str_neq (tp__wire_kind_name (k), "?");
        free (buf);
    }
}

Test (wire, empty_body_round_trips)
{
    tp__env e = s_env (TP__WIRE_HEARTBEAT), d;
    e.body = NULL;
    e.body_len = 0;
    uint8_t *buf;
    size_t len;
    cr_assert_eq (tp__wire_encode (&e, &buf, &len), 0);
    cr_assert_eq (tp__wire_decode (buf, len, &d), 0);
    cr_assert_eq (d.body_len, 0);
    free (buf);
}

Test (wire, encode_rejects_bad_fields)
{
    uint8_t *buf;
    size_t len;
    tp__env e = s_env (0);
    cr_assert_eq (tp__wire_encode (&e, &buf, &len), TP_EINVAL);
    e = s_env (TP__WIRE_KIND_MAX + 1);
    cr_assert_eq (tp__wire_encode (&e, &buf, &len), TP_EINVAL);
    e = s_env (TP__WIRE_USER);
    e.flags = 4;
    cr_assert_eq (tp__wire_encode (&e, &buf, &len), TP_EINVAL);
    e = s_env (TP__WIRE_USER);
    e.from_node = "bad name";
    e.from_node_len = 8;
    cr_assert_eq (tp__wire_encode (&e, &buf, &len), TP_EINVAL);
    e.from_node_len = 0;
    cr_assert_eq (tp__wire_encode (&e, &buf, &len), TP_EINVAL);
}

Test (wire, every_truncation_is_rejected)
{
    tp__env e = s_env (TP__WIRE_USER), d;
    uint8_t *buf;
    size_t len;
    cr_assert_eq (tp__wire_encode (&e, &buf, &len), 0);
    for (size_t n = 0; n < len; n++) {
        /* a fresh copy of exactly n bytes, so ASan sees any over-read */
        uint8_t *cut = malloc (n ? n : 1);
        memcpy (cut, buf, n);
        cr_assert_neq (tp__wire_decode (cut, n, &d), 0, "prefix %zu accepted", n);
        free (cut);
    }
    free (buf);
}

Test (wire, trailing_bytes_are_rejected)
{
    tp__env e = s_env (TP__WIRE_USER), d;
    uint8_t *buf;
    size_t len;
    cr_assert_eq (tp__wire_encode (&e, &buf, &len), 0);
    uint8_t *more = malloc (len + 1);
    memcpy (more, buf, len);
    more[len] = 0xc0;
    cr_assert_eq (tp__wire_decode (more, len + 1, &d), TP_EPROTO);
    free (more);
    free (buf);
}

/* hand-made frames: 9b = array of 11 */
Test (wire, wrong_shapes_and_types_are_rejected)
{
    tp__env d;
    static const struct {
        const char *bytes;
        size_t len;
        int rc;
    } cases[] = {
        {"", 0, TP_EPROTO},
        {"\xc0", 1, TP_EPROTO},                  /* nil */
        {"\x93\x01\x02\x03", 4, TP_EPROTO},      /* array of 3 */
        {"\x9b\x07\x02\x00\x00\xa1x\x00\x00\x00\x00\x00\xc4\x00", 14, TP_ENOTSUP},
        {"\x9b\x01\x0f\x00\x00\xa1x\x00\x00\x00\x00\x00\xc4\x00", 14, TP_EPROTO}, /* kind 15 */
        {"\x9b\x01\x00\x00\x00\xa1x\x00\x00\x00\x00\x00\xc4\x00", 14, TP_EPROTO}, /* kind 0 */
        {"\x9b\x01\x02\x00\x00\xa1 \x00\x00\x00\x00\x00\xc4\x00", 14, TP_EPROTO}, /* bad name */
        {"\x9b\x01\x02\x00\x00\xa0\x00\x00\x00\x00\x00\xc4\x00", 13, TP_EPROTO},  /* empty name */
        {"\x9b\x01\x02\x00\x00\xa1x\x00\x00\x00\x00\x04\xc4\x00", 14, TP_EPROTO}, /* flag bit 2 */
        {"\x9b\x01\x02\x00\x00\xa1x\x00\x00\x00\x00\x00\xa0", 13, TP_EPROTO},     /* body not bin */
        {"\x9b\x01\x02\xff\x00\xa1x\x00\x00\x00\x00\x00\xc4\x00", 14, TP_EPROTO}, /* negative index */
        {"\x9b\x01\x02\x00\x00\x01\x00\x00\x00\x00\x00\xc4\x00", 13, TP_EPROTO},  /* name not str */
        {"\x9b\x01\x02\x00\x00\xa1x\x00\x00\x00\x00\x00\xc6\xff\xff\xff\xff", 17, TP_EPROTO},
        {"\xdd\xff\xff\xff\xff", 5, TP_EPROTO},  /* huge array */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        uint8_t *copy = malloc (cases[i].len ? cases[i].len : 1);
        memcpy (copy, cases[i].bytes, cases[i].len);
        cr_assert_eq (tp__wire_decode (copy, cases[i].len, &d), cases[i].rc,
                      "case %zu", i);
        free (copy);
    }
    /* the well-formed reference frame of the cases above decodes */
    cr_assert_eq (tp__wire_decode ("\x9b\x01\x02\x00\x00\xa1x\x00\x00\x00\x00\x00\xc4\x00",
                                   14, &d),
                  0);
}

Test (wire, oversized_frames_are_rejected)
{
    tp__env d;
    cr_assert_eq (tp__wire_decode ("", TP__WIRE_MAX_FRAME + 1u, &d), TP_ETOOBIG);
}
