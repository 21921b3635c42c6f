/*  tests/test_wire.c: the node envelope codec (core/wire.c), against the
    rules of docs/PROTOCOL.md.

    Every frame handed to tp__wire_decode is a malloc'd copy of exactly
    its length, so that AddressSanitizer and valgrind see any read past
    the end.
*/
#include <criterion/criterion.h>

#include "wire.h"

/* ------------------------------------------------------------------ */
/*  Helpers                                                            */

/*  Decodes a fresh copy of exactly len bytes of data. The copy is freed
    before returning: only the result code and scalar fields may be used. */
static int
s_decode (const void *data, size_t len, tp__env *out)
{
    uint8_t *copy = malloc (len ? len : 1);
    cr_assert_not_null (copy);
    if (len)
        memcpy (copy, data, len);
    int rc = tp__wire_decode (copy, len, out);
    free (copy);
    return rc;
}

/*  A valid envelope of the given kind: node-level kinds have no
    destination, every other field is nonzero. */
static tp__env
s_env (uint32_t kind)
{
    static const uint8_t body[] = {0x2a, 0xa1, 'x'};
    tp__env e = {0};
    e.kind = kind;
    e.to_index = 3;
    e.to_gen = 7;
    if (kind == TP__WIRE_HELLO || kind == TP__WIRE_LOOKUP
        || kind == TP__WIRE_HEARTBEAT || kind == TP__WIRE_DRAIN
        || kind == TP__WIRE_DRAIN_ACK || kind == TP__WIRE_BATCH)
        e.to_index = e.to_gen = 0;
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

static void
s_assert_env_eq (const tp__env *a, const tp__env *b)
{
    cr_assert_eq (a->kind, b->kind);
    cr_assert_eq (a->to_index, b->to_index);
    cr_assert_eq (a->to_gen, b->to_gen);
    cr_assert_eq (a->from_node_len, b->from_node_len);
    cr_assert_eq (memcmp (a->from_node, b->from_node, a->from_node_len), 0);
    cr_assert_eq (a->from_index, b->from_index);
    cr_assert_eq (a->from_gen, b->from_gen);
    cr_assert_eq (a->tag, b->tag);
    cr_assert_eq (a->corr, b->corr);
    cr_assert_eq (a->flags, b->flags);
    cr_assert_eq (a->body_len, b->body_len);
    if (a->body_len)
        cr_assert_eq (memcmp (a->body, b->body, a->body_len), 0);
}

/*  Encodes e (which must be valid), decodes the result, checks that the
    fields survived and that the decoded pointers lie inside the frame. */
static void
s_round_trip (const tp__env *e)
{
    uint8_t *buf;
    size_t len;
    tp__env d;
    cr_assert_eq (tp__wire_encode (e, &buf, &len), 0, "kind %u", e->kind);
    cr_assert_leq (len, e->body_len + TP__WIRE_HEAD_MAX);
    cr_assert_eq (tp__wire_decode (buf, len, &d), 0, "kind %u", e->kind);
    s_assert_env_eq (&d, e);
    cr_assert (d.from_node > (const char *) buf
               && d.from_node + d.from_node_len <= (const char *) buf + len);
    cr_assert (d.body >= buf && d.body + d.body_len == buf + len);
    free (buf);
}

/*  Hand-built envelopes: one value per element, of any msgpack type. */
typedef enum { F_UINT, F_INT, F_STR, F_BIN, F_NIL, F_BOOL, F_FLOAT, F_ARRAY,
               F_MAP, F_EXT } s_ftype;

typedef struct {
    s_ftype type;
    uint64_t u;    /* F_UINT value, F_ARRAY / F_MAP count */
    int64_t i;     /* F_INT value */
    const char *s; /* F_STR / F_BIN / F_EXT bytes */
    size_t len;
} s_field;

#define U(v) ((s_field){F_UINT, (v), 0, NULL, 0})
#define I(v) ((s_field){F_INT, 0, (v), NULL, 0})
#define STR(s) ((s_field){F_STR, 0, 0, (s), sizeof (s) - 1})
#define BIN(s) ((s_field){F_BIN, 0, 0, (s), sizeof (s) - 1})
#define NIL ((s_field){F_NIL, 0, 0, NULL, 0})
#define BOOL ((s_field){F_BOOL, 0, 0, NULL, 0})
#define FLOAT ((s_field){F_FLOAT, 0, 0, NULL, 0})
#define ARRAY ((s_field){F_ARRAY, 0, 0, NULL, 0})
#define MAP ((s_field){F_MAP, 0, 0, NULL, 0})
#define EXT ((s_field){F_EXT, 0, 0, "\0\0\0\0\0\0\0\0", 8})

/*  A valid USER envelope, element by element. */
static s_field
s_good (int i)
{
    switch (i) {
    case 0: return U (1);
    case 1: return U (TP__WIRE_USER);
    case 2: return U (3);
    case 3: return U (7);
    case 4: return STR ("alpha");
    case 5: return U (5);
    case 6: return U (9);
    case 7: return U (14085356); /* "ping" */
    case 8: return U (42);
    case 9: return U (TP__WIRE_F_REQUEST);
    default: return BIN ("\x2a");
    }
}

/*  Packs n fields as a msgpack array of n (or of `count` elements when
    count >= 0, to lie about the size) into a malloc'd buffer. */
static uint8_t *
s_frame (const s_field *f, size_t n, long count, size_t *len)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init (&sb);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array (&pk, count >= 0 ? (size_t) count : n);
    for (size_t i = 0; i < n; i++) {
        switch (f[i].type) {
        case F_UINT: msgpack_pack_uint64 (&pk, f[i].u); break;
        case F_INT: msgpack_pack_int64 (&pk, f[i].i); break;
        case F_STR:
            msgpack_pack_str (&pk, f[i].len);
            msgpack_pack_str_body (&pk, f[i].s, f[i].len);
            break;
        case F_BIN:
            msgpack_pack_bin (&pk, f[i].len);
            msgpack_pack_bin_body (&pk, f[i].s, f[i].len);
            break;
        case F_NIL: msgpack_pack_nil (&pk); break;
        case F_BOOL: msgpack_pack_true (&pk); break;
        case F_FLOAT: msgpack_pack_double (&pk, 1.0); break;
        case F_ARRAY: msgpack_pack_array (&pk, 0); break;
        case F_MAP: msgpack_pack_map (&pk, 0); break;
        case F_EXT:
            msgpack_pack_ext (&pk, f[i].len, TP__EXT_REF);
            msgpack_pack_ext_body (&pk, f[i].s, f[i].len);
            break;
        }
    }
    *len = sb.size;
    return (uint8_t *) sb.data;
}

/*  Decodes the valid envelope with element `pos` replaced by v. */
static int
s_decode_with (int pos, s_field v)
{
    s_field f[11];
    for (int i = 0; i < 11; i++)
        f[i] = i == pos ? v : s_good (i);
    size_t len;
    uint8_t *buf = s_frame (f, 11, -1, &len);
    tp__env d;
    int rc = s_decode (buf, len, &d);
    free (buf);
    return rc;
}

/* ------------------------------------------------------------------ */
/*  Round trips                                                        */

Test (wire, every_kind_round_trips_with_every_flag)
{
    static const uint32_t flags[] = {0, TP__WIRE_F_REQUEST, TP__WIRE_F_REPLY};
    for (uint32_t k = 1; k <= TP__WIRE_KIND_MAX; k++)
        for (size_t f = 0; f < 3; f++) {
            tp__env e = s_env (k);
            e.flags = flags[f];
            s_round_trip (&e);
        }
}

Test (wire, extreme_values_round_trip)
{
    char name[TP_NODE_NAME_MAX + 1];
    memset (name, 'z', TP_NODE_NAME_MAX);
    uint8_t body[70000];
    for (size_t i = 0; i < sizeof body; i++)
        body[i] = (uint8_t) i;
    tp__env e = s_env (TP__WIRE_USER);
    e.to_index = e.to_gen = e.from_index = e.from_gen = UINT32_MAX;
    e.from_node = name;
    e.from_node_len = TP_NODE_NAME_MAX;
    e.tag = UINT64_MAX;
    e.corr = UINT64_MAX;
    e.flags = TP__WIRE_F_REPLY;
    e.body = body;
    e.body_len = sizeof body;
    s_round_trip (&e);
    /* every field at its widest takes exactly TP__WIRE_HEAD_MAX bytes */
    uint8_t *buf;
    size_t len;
    cr_assert_eq (tp__wire_encode (&e, &buf, &len), 0);
    cr_assert_eq (len - sizeof body, TP__WIRE_HEAD_MAX);
    free (buf);
    /* and the smallest values */
    e = s_env (TP__WIRE_STOP);
    e.to_index = e.to_gen = e.from_index = e.from_gen = 0;
    e.from_node = "n";
    e.from_node_len = 1;
    e.tag = e.corr = 0;
    e.flags = 0;
    e.body = NULL;
    e.body_len = 0;
    s_round_trip (&e);
}

Test (wire, empty_body_round_trips)
{
    tp__env e = s_env (TP__WIRE_HEARTBEAT), d;
    e.body = NULL;
    e.body_len = 0;
    s_round_trip (&e);
    e.body = (const uint8_t *) "unused";
    uint8_t *buf;
    size_t len;
    cr_assert_eq (tp__wire_encode (&e, &buf, &len), 0);
    cr_assert_eq (tp__wire_decode (buf, len, &d), 0);
    cr_assert_eq (d.body_len, 0);
    free (buf);
}

/*  The example frame of docs/PROTOCOL.md §11, byte for byte. */
Test (wire, encoding_matches_the_protocol_examples)
{
    static const uint8_t tell[] = {
        0x9b, 0x01, 0x02, 0x03, 0x01, 0xa5, 'a',  'l',  'p',  'h',  'a', 0x05,
        0x01, 0xce, 0x00, 0xd6, 0xec, 0xec, 0x00, 0x00, 0xc4, 0x01, 0x2a};
    tp__env e = {0};
    e.kind = TP__WIRE_USER;
    e.to_index = 3;
    e.to_gen = 1;
    e.from_node = "alpha";
    e.from_node_len = 5;
    e.from_index = 5;
    e.from_gen = 1;
    e.tag = tp_tag ("ping");
    e.body = (const uint8_t *) "\x2a";
    e.body_len = 1;
    uint8_t *buf;
    size_t len;
    cr_assert_eq (tp__wire_encode (&e, &buf, &len), 0);
    cr_assert_eq (len, sizeof tell);
    cr_assert_arr_eq (buf, tell, sizeof tell);
    free (buf);

    static const uint8_t hello[] = {
        0x9b, 0x01, 0x01, 0x00, 0x00, 0xa4, 'b',  'e',  't',  'a',  0x00,
        0x00, 0x00, 0x00, 0x00, 0xc4, 0x12, 0x93, 0xa4, 'b',  'e',  't',
        'a',  0xcf, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0xcd,
        0x01, 0xf4};
    tp__env d;
    cr_assert_eq (tp__wire_decode (hello, sizeof hello, &d), 0);
    cr_assert_eq (d.kind, TP__WIRE_HELLO);
    cr_assert_eq (d.from_node_len, 4);
    cr_assert_eq (memcmp (d.from_node, "beta", 4), 0);
    cr_assert_eq (d.body_len, 18);
    const char *name;
    size_t name_len;
    uint64_t incarnation;
    unsigned heartbeat_ms;
    cr_assert_eq (tp_unpack_raw (d.body, d.body_len, "[sUu]", &name,
                                 &name_len, &incarnation, &heartbeat_ms),
                  0);
    cr_assert_eq (incarnation, 0x0123456789abcdefull);
    cr_assert_eq (heartbeat_ms, 500);
    cr_assert_eq (tp__wire_encode (&d, &buf, &len), 0);
    cr_assert_eq (len, sizeof hello);
    cr_assert_arr_eq (buf, hello, sizeof hello);
    free (buf);
}

Test (wire, tags_follow_the_documented_atom_encoding)
{
    cr_assert_eq (tp_tag ("a"), 38);
    cr_assert_eq (tp_tag ("ab"), 2471);
    cr_assert_eq (tp_tag ("ping"), 14085356);
    cr_assert_eq (tp_tag ("noconnect"), 14586727713647161ull);
    cr_assert_eq (tp_tag ("zzzzzzzzzz"), (1ull << 60) - 1);
}

/*  Any msgpack integer encoding that holds the value is accepted, as are
    wide array, str and bin headers; re-encoding gives the shortest form. */
Test (wire, decode_accepts_any_integer_encoding_and_encodes_canonically)
{
    static const uint8_t wide[] = {
        0xdc, 0x00, 0x0b,                         /* array 16 of 11 */
        0xcf, 0, 0, 0, 0, 0, 0, 0, 1,             /* version, uint 64 */
        0xd0, 0x02,                               /* kind, int 8 */
        0xcd, 0x00, 0x03,                         /* to_index, uint 16 */
        0xd3, 0, 0, 0, 0, 0, 0, 0, 7,             /* to_gen, int 64 */
        0xda, 0x00, 0x05, 'a', 'l', 'p', 'h', 'a', /* str 16 */
        0xce, 0, 0, 0, 5,                         /* from_index, uint 32 */
        0xd1, 0x00, 0x09,                         /* from_gen, int 16 */
        0xcf, 0, 0, 0, 0, 0, 0xd6, 0xec, 0xec,    /* tag "ping", uint 64 */
        0xd2, 0, 0, 0, 42,                        /* corr, int 32 */
        0xcc, 0x01,                               /* flags, uint 8 */
        0xc6, 0, 0, 0, 1, 0x2a};                  /* bin 32 */
    uint8_t *copy = malloc (sizeof wide);
    memcpy (copy, wide, sizeof wide);
    tp__env d;
    cr_assert_eq (tp__wire_decode (copy, sizeof wide, &d), 0);
    tp__env e = {0};
    e.kind = TP__WIRE_USER;
    e.to_index = 3;
    e.to_gen = 7;
    e.from_node = "alpha";
    e.from_node_len = 5;
    e.from_index = 5;
    e.from_gen = 9;
    e.tag = tp_tag ("ping");
    e.corr = 42;
    e.flags = TP__WIRE_F_REQUEST;
    e.body = (const uint8_t *) "\x2a";
    e.body_len = 1;
    s_assert_env_eq (&d, &e);

    uint8_t *a, *b;
    size_t alen, blen;
    cr_assert_eq (tp__wire_encode (&d, &a, &alen), 0);
    free (copy);
    cr_assert_eq (tp__wire_encode (&e, &b, &blen), 0);
    cr_assert_eq (alen, blen);
    cr_assert_arr_eq (a, b, alen);
    cr_assert_lt (alen, sizeof wide);
    free (a);
    free (b);
}

/* ------------------------------------------------------------------ */
/*  Encoding rejects what decoding would reject                        */

Test (wire, encode_rejects_invalid_fields_and_writes_nothing)
{
    uint8_t sentinel = 0, *buf = &sentinel;
    size_t len = 12345;
    tp__env e;
#define S_REJECT(rc_)                                                         \
    do {                                                                      \
        cr_assert_eq (tp__wire_encode (&e, &buf, &len), (rc_));               \
        cr_assert_eq (buf, &sentinel);                                        \
        cr_assert_eq (len, 12345);                                            \
    } while (0)
    e = s_env (0);
    S_REJECT (TP_EINVAL);
    e = s_env (TP__WIRE_KIND_MAX + 1);
    S_REJECT (TP_EINVAL);
    e = s_env (TP__WIRE_USER);
    e.flags = TP__WIRE_F_REQUEST | TP__WIRE_F_REPLY;
    S_REJECT (TP_EINVAL);
    for (int bit = 2; bit < 32; bit++) {
        e.flags = 1u << bit;
        S_REJECT (TP_EINVAL);
    }
    e = s_env (TP__WIRE_USER);
    e.from_node = "bad name";
    e.from_node_len = 8;
    S_REJECT (TP_EINVAL);
    e.from_node_len = 0;
    S_REJECT (TP_EINVAL);
    e.from_node = NULL;
    e.from_node_len = 5;
    S_REJECT (TP_EINVAL);
    char long_name[TP_NODE_NAME_MAX + 1];
    memset (long_name, 'a', sizeof long_name);
    e.from_node = long_name;
    e.from_node_len = sizeof long_name;
    S_REJECT (TP_EINVAL);
    e = s_env (TP__WIRE_USER);
    e.tag = 0;
    S_REJECT (TP_EINVAL);
    e = s_env (TP__WIRE_USER);
    e.body = NULL;
    S_REJECT (TP_EINVAL);
    static const uint32_t node_kinds[] = {TP__WIRE_HELLO, TP__WIRE_LOOKUP,
                                          TP__WIRE_HEARTBEAT, TP__WIRE_DRAIN,
                                          TP__WIRE_DRAIN_ACK, TP__WIRE_BATCH};
    for (size_t i = 0; i < sizeof node_kinds / sizeof *node_kinds; i++) {
        e = s_env (node_kinds[i]);
        e.to_index = 1;
        S_REJECT (TP_EINVAL);
        e = s_env (node_kinds[i]);
        e.to_gen = 1;
        S_REJECT (TP_EINVAL);
    }
#undef S_REJECT
    e = s_env (TP__WIRE_USER);
    cr_assert_eq (tp__wire_encode (NULL, &buf, &len), TP_EINVAL);
    cr_assert_eq (tp__wire_encode (&e, NULL, &len), TP_EINVAL);
    cr_assert_eq (tp__wire_encode (&e, &buf, NULL), TP_EINVAL);
}

Test (wire, encode_fills_a_frame_to_the_limit_and_no_further)
{
    tp__env e = s_env (TP__WIRE_USER), d;
    e.body = NULL;
    e.body_len = 0;
    uint8_t *buf;
    size_t len;
    cr_assert_eq (tp__wire_encode (&e, &buf, &len), 0);
    free (buf);
    /* an empty body is "c4 00"; a body this big has a 5-byte bin 32 head */
    size_t max_body = TP__WIRE_MAX_FRAME - (len - 2 + 5);
    uint8_t *body = calloc (1, max_body + 1);
    cr_assert_not_null (body);
    body[max_body - 1] = 0x7f;
    e.body = body;
    e.body_len = max_body;
    cr_assert_eq (tp__wire_encode (&e, &buf, &len), 0);
    cr_assert_eq (len, TP__WIRE_MAX_FRAME);
    cr_assert_eq (tp__wire_decode (buf, len, &d), 0);
    cr_assert_eq (d.body_len, max_body);
    cr_assert_eq (d.body[max_body - 1], 0x7f);
    free (buf);
    e.body_len = max_body + 1;
    cr_assert_eq (tp__wire_encode (&e, &buf, &len), TP_ETOOBIG);
    free (body);
    /* refused before any allocation */
    e.body_len = (size_t) TP_MSG_MAX_BODY + 1;
    cr_assert_eq (tp__wire_encode (&e, &buf, &len), TP_ETOOBIG);
}

/* ------------------------------------------------------------------ */
/*  Decoding rejects                                                   */

Test (wire, decode_rejects_every_truncation)
{
    for (uint32_t k = 1; k <= TP__WIRE_KIND_MAX; k++) {
        tp__env e = s_env (k), d;
        uint8_t *buf;
        size_t len;
        cr_assert_eq (tp__wire_encode (&e, &buf, &len), 0);
        for (size_t n = 0; n < len; n++)
            cr_assert_eq (s_decode (buf, n, &d), TP_EPROTO,
                          "kind %u: prefix of %zu bytes", k, n);
        cr_assert_eq (s_decode (buf, len, &d), 0);
        free (buf);
    }
}

Test (wire, decode_rejects_trailing_bytes)
{
    tp__env e = s_env (TP__WIRE_USER), d;
    uint8_t *buf;
    size_t len;
    cr_assert_eq (tp__wire_encode (&e, &buf, &len), 0);
    uint8_t *more = malloc (2 * len);
    memcpy (more, buf, len);
    memcpy (more + len, buf, len);
    cr_assert_eq (s_decode (more, 2 * len, &d), TP_EPROTO); /* two frames */
    static const uint8_t tails[] = {0x00, 0xc0, 0xc1, 0x91, 0xff};
    for (size_t i = 0; i < sizeof tails; i++) {
        more[len] = tails[i];
        cr_assert_eq (s_decode (more, len + 1, &d), TP_EPROTO, "tail %02x",
                      tails[i]);
    }
    free (more);
    free (buf);
}

Test (wire, decode_rejects_wrong_array_lengths)
{
    s_field f[12];
    for (int i = 0; i < 12; i++)
        f[i] = s_good (i < 11 ? i : 10);
    tp__env d;
    for (size_t n = 1; n <= 12; n++) {
        size_t len;
        uint8_t *buf = s_frame (f, n, -1, &len);
        cr_assert_eq (s_decode (buf, len, &d), n == 11 ? 0 : TP_EPROTO,
                      "array of %zu", n);
        free (buf);
    }
    /* an empty array, and headers that disagree with the elements */
    cr_assert_eq (s_decode ("\x90", 1, &d), TP_EPROTO);
    size_t len;
    uint8_t *buf = s_frame (f, 11, 10, &len);
    cr_assert_eq (s_decode (buf, len, &d), TP_EPROTO);
    free (buf);
    buf = s_frame (f, 11, 12, &len);
    cr_assert_eq (s_decode (buf, len, &d), TP_EPROTO);
    free (buf);
}

Test (wire, decode_rejects_a_wrong_type_in_each_position)
{
    const s_field wrong[] = {NIL, BOOL, FLOAT, I (-1), I (INT64_MIN),
                             STR ("x"), BIN ("x"), ARRAY, MAP, EXT,
                             U (1ull << 32), U (UINT64_MAX)};
    for (int pos = 0; pos < 11; pos++) {
        cr_assert_eq (s_decode_with (pos, s_good (pos)), 0);
        for (size_t w = 0; w < sizeof wrong / sizeof *wrong; w++) {
            s_ftype want = pos == 4 ? F_STR : pos == 10 ? F_BIN : F_UINT;
            if (wrong[w].type == want
                && (want != F_UINT || pos == 7 || pos == 8))
                continue; /* a right type (tag and corr are uint64) */
            int expect = pos == 0 && wrong[w].type == F_UINT ? TP_ENOTSUP
                                                              : TP_EPROTO;
            cr_assert_eq (s_decode_with (pos, wrong[w]), expect,
                          "element %d, wrong value %zu", pos, w);
        }
    }
}

Test (wire, decode_rejects_other_versions_with_enotsup)
{
    static const uint64_t versions[] = {0, 2, 3, 127, 128, 255, 65536,
                                        1ull << 32, 1ull << 63, UINT64_MAX};
    for (size_t i = 0; i < sizeof versions / sizeof *versions; i++)
        cr_assert_eq (s_decode_with (0, U (versions[i])), TP_ENOTSUP,
                      "version %" PRIu64, versions[i]);
    /* another version may have another shape */
    tp__env d;
    cr_assert_eq (s_decode ("\x91\x02", 2, &d), TP_ENOTSUP);
    cr_assert_eq (s_decode ("\x93\x02\xc0\xc1", 4, &d), TP_ENOTSUP);
    cr_assert_eq (s_decode ("\xdc\x00\x20\xcd\x01\x00", 6, &d), TP_ENOTSUP);
    /* version 1 in a wider encoding is version 1 */
    cr_assert_eq (s_decode ("\x91\xd0\x01", 3, &d), TP_EPROTO); /* [1] */
    cr_assert_eq (s_decode ("\x91\xd0\x02", 3, &d), TP_ENOTSUP);
    /* not an integer, or a negative one: not a version at all */
    cr_assert_eq (s_decode ("\x91\xff", 2, &d), TP_EPROTO);
    cr_assert_eq (s_decode ("\x91\xd0\x80", 3, &d), TP_EPROTO);
    cr_assert_eq (s_decode ("\x91\xc0", 2, &d), TP_EPROTO);
    cr_assert_eq (s_decode ("\x91", 1, &d), TP_EPROTO);
    cr_assert_eq (s_decode ("\x91\xcd\x00", 3, &d), TP_EPROTO);
}

Test (wire, decode_rejects_unknown_kinds)
{
    static const uint64_t kinds[] = {0, TP__WIRE_KIND_MAX + 1, 16, 255, 65535,
                                     UINT32_MAX, 1ull << 32 | TP__WIRE_USER};
    for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++)
        cr_assert_eq (s_decode_with (1, U (kinds[i])), TP_EPROTO,
                      "kind %" PRIu64, kinds[i]);
    for (uint32_t k = 1; k <= TP__WIRE_KIND_MAX; k++) {
        bool to_node = k == TP__WIRE_HELLO || k == TP__WIRE_LOOKUP
                       || k == TP__WIRE_HEARTBEAT || k == TP__WIRE_DRAIN
                       || k == TP__WIRE_DRAIN_ACK || k == TP__WIRE_BATCH;
        /* the valid frame has a destination, which node-level kinds lack */
        cr_assert_eq (s_decode_with (1, U (k)), to_node ? TP_EPROTO : 0,
                      "kind %u", k);
    }
}

Test (wire, decode_rejects_node_level_kinds_with_a_destination)
{
    static const uint32_t node_kinds[] = {TP__WIRE_HELLO, TP__WIRE_LOOKUP,
                                          TP__WIRE_HEARTBEAT, TP__WIRE_DRAIN,
                                          TP__WIRE_DRAIN_ACK, TP__WIRE_BATCH};
    for (size_t i = 0; i < sizeof node_kinds / sizeof *node_kinds; i++) {
        s_field f[11];
        for (int j = 0; j < 11; j++)
            f[j] = s_good (j);
        f[1] = U (node_kinds[i]);
        tp__env d;
        size_t len;
        for (int dest = 1; dest < 4; dest++) {
            f[2] = U (dest & 1);
            f[3] = U (dest >> 1);
            uint8_t *buf = s_frame (f, 11, -1, &len);
            cr_assert_eq (s_decode (buf, len, &d), TP_EPROTO);
            free (buf);
        }
        f[2] = f[3] = U (0);
        uint8_t *buf = s_frame (f, 11, -1, &len);
        cr_assert_eq (s_decode (buf, len, &d), 0);
        free (buf);
    }
}

Test (wire, decode_rejects_user_messages_without_a_tag)
{
    cr_assert_eq (s_decode_with (7, U (0)), TP_EPROTO);
    /* other kinds may carry tag 0 */
    s_field f[11];
    for (int j = 0; j < 11; j++)
        f[j] = s_good (j);
    f[1] = U (TP__WIRE_STOP);
    f[7] = U (0);
    size_t len;
    uint8_t *buf = s_frame (f, 11, -1, &len);
    tp__env d;
    cr_assert_eq (s_decode (buf, len, &d), 0);
    free (buf);
}

Test (wire, decode_checks_node_names)
{
    static const struct {
        const char *name;
        size_t len;
        bool ok;
    } cases[] = {
        {"a", 1, true},
        {"0123456789", 10, true},
        {"ABCXYZabcxyz_.-", 15, true},
        {"", 0, false},
        {"a b", 3, false},
        {"a/b", 3, false},
        {"a@b", 3, false},
        {"a:b", 3, false},
        {"a\0b", 3, false},
        {"\xff", 1, false},
        {"caf\xc3\xa9", 5, false},
        {"tab\t", 4, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        s_field v = {F_STR, 0, 0, cases[i].name, cases[i].len};
        cr_assert_eq (s_decode_with (4, v), cases[i].ok ? 0 : TP_EPROTO,
                      "name %zu", i);
        cr_assert_eq (tp__wire_node_name_ok (cases[i].name, cases[i].len),
                      cases[i].ok);
    }
    char name[TP_NODE_NAME_MAX + 1];
    memset (name, 'n', sizeof name);
    s_field v = {F_STR, 0, 0, name, TP_NODE_NAME_MAX};
    cr_assert_eq (s_decode_with (4, v), 0);
    v.len = TP_NODE_NAME_MAX + 1;
    cr_assert_eq (s_decode_with (4, v), TP_EPROTO);
    cr_assert_not (tp__wire_node_name_ok (NULL, 3));
}

Test (wire, decode_rejects_unknown_flag_bits)
{
    cr_assert_eq (s_decode_with (9, U (0)), 0);
    cr_assert_eq (s_decode_with (9, U (TP__WIRE_F_REQUEST)), 0);
    cr_assert_eq (s_decode_with (9, U (TP__WIRE_F_REPLY)), 0);
    cr_assert_eq (s_decode_with (9, U (3)), TP_EPROTO); /* both */
    for (int bit = 2; bit < 64; bit++)
        cr_assert_eq (s_decode_with (9, U (1ull << bit)), TP_EPROTO,
                      "bit %d", bit);
}

Test (wire, decode_rejects_frames_that_are_not_arrays)
{
    static const struct {
        const char *bytes;
        size_t len;
    } cases[] = {
        {"", 0},
        {"\xc0", 1},                 /* nil */
        {"\x01", 1},                 /* the version alone */
        {"\xc3", 1},                 /* true */
        {"\xa5hello", 6},            /* str */
        {"\xc4\x01\x9b", 3},         /* bin holding an array header */
        {"\xcb\x3f\xf0\0\0\0\0\0\0", 9}, /* float 64 */
        {"\xd4\x01\x00", 3},         /* fixext 1 */
        {"\x81\x01\x02", 3},         /* map of one pair */
        {"\xc1", 1},                 /* never used */
        {"\xc1\x9b", 2},
    };
    tp__env d;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        cr_assert_eq (s_decode (cases[i].bytes, cases[i].len, &d), TP_EPROTO,
                      "case %zu", i);
    /* a map with the 11 values as keys */
    s_field f[11];
    for (int j = 0; j < 11; j++)
        f[j] = s_good (j);
    size_t len;
    uint8_t *buf = s_frame (f, 11, -1, &len);
    buf[0] = 0x80 | 5; /* fixmap of 5 pairs + 1 stray value */
    cr_assert_eq (s_decode (buf, len, &d), TP_EPROTO);
    free (buf);
    cr_assert_eq (tp__wire_decode (NULL, 0, &d), TP_EPROTO);
    cr_assert_eq (tp__wire_decode (NULL, 5, &d), TP_EPROTO);
    cr_assert_eq (tp__wire_decode ("\x90", 1, NULL), TP_EPROTO);
}

Test (wire, decode_rejects_huge_declared_lengths)
{
    static const struct {
        const char *bytes;
        size_t len;
    } cases[] = {
        {"\xdd\xff\xff\xff\xff\x01", 6},          /* array 32 */
        {"\xdc\xff\xff\x01\x02", 5},              /* array 16 */
        {"\xdd\x00\x00\x00\x0b\x01", 6},          /* 11, but nothing after */
        {"\x9b\x01\x02\x00\x00\xdb\xff\xff\xff\xff" "abc", 13}, /* str 32 */
        {"\x9b\x01\x02\x00\x00\xda\xff\xff" "abc", 11},         /* str 16 */
        {"\x9b\x01\x02\x00\x00\xd9\xff" "abc", 10},             /* str 8 */
        {"\x9b\x01\x02\x03\x07\xa1x\x00\x00\x01\x00\x00"
         "\xc6\xff\xff\xff\xff\x2a", 18},                       /* bin 32 */
        {"\x9b\x01\x02\x03\x07\xa1x\x00\x00\x01\x00\x00"
         "\xc5\x01\x00\x2a", 16},                               /* bin 16 */
        {"\x9b\x01\x02\x03\x07\xa1x\x00\x00\x01\x00\x00"
         "\xc4\x02\x2a", 15},                                   /* bin 8 */
    };
    tp__env d;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        cr_assert_eq (s_decode (cases[i].bytes, cases[i].len, &d), TP_EPROTO,
                      "case %zu", i);
    /* the last frame above with an honest body length decodes */
    cr_assert_eq (s_decode ("\x9b\x01\x02\x03\x07\xa1x\x00\x00\x01\x00\x00"
                            "\xc4\x01\x2a",
                            15, &d),
                  0);
}

Test (wire, decode_rejects_oversized_frames_before_reading_them)
{
    tp__env d;
    /* the length alone decides: the bytes are never looked at */
    cr_assert_eq (tp__wire_decode ("\x9b", TP__WIRE_MAX_FRAME + 1u, &d),
                  TP_ETOOBIG);
    cr_assert_eq (tp__wire_decode ("\x9b", SIZE_MAX, &d), TP_ETOOBIG);
}

Test (wire, decode_writes_nothing_on_failure)
{
    tp__env d, before;
    memset (&d, 0xa5, sizeof d);
    before = d;
    cr_assert_eq (s_decode_with (9, U (4)), TP_EPROTO);
    s_field f[11];
    for (int j = 0; j < 11; j++)
        f[j] = s_good (j);
    f[9] = U (4); /* everything valid up to the last check */
    size_t len;
    uint8_t *buf = s_frame (f, 11, -1, &len);
    cr_assert_eq (s_decode (buf, len, &d), TP_EPROTO);
    cr_assert_eq (memcmp (&d, &before, sizeof d), 0);
    cr_assert_eq (s_decode (buf, len - 1, &d), TP_EPROTO);
    cr_assert_eq (memcmp (&d, &before, sizeof d), 0);
    free (buf);
}

Test (wire, kind_names_name_every_kind)
{
    static const char *const names[] = {
        "HELLO", "USER",   "MONITOR",      "DEMONITOR", "DOWN",
        "LINK",  "UNLINK", "EXIT",         "STOP",      "LOOKUP",
        "LOOKUP_REPLY",    "HEARTBEAT",    "DRAIN",     "DRAIN_ACK",
        "BATCH"};
    cr_assert_eq (sizeof names / sizeof *names, TP__WIRE_KIND_MAX);
    for (uint32_t k = 1; k <= TP__WIRE_KIND_MAX; k++)
        cr_assert_str_eq (tp__wire_kind_name (k), names[k - 1]);
    cr_assert_str_eq (tp__wire_kind_name (0), "?");
    cr_assert_str_eq (tp__wire_kind_name (TP__WIRE_KIND_MAX + 1), "?");
    cr_assert_str_eq (tp__wire_kind_name (UINT32_MAX), "?");
}

/* ---- tp__wire_head and BATCH bodies --------------------------------- */

Test (wire, head_plus_body_is_the_encoding)
{
    for (uint32_t k = 1; k <= TP__WIRE_KIND_MAX; k++) {
        tp__env e = s_env (k);
        uint8_t head[TP__WIRE_HEAD_MAX], *buf;
        size_t hlen, len;
        cr_assert_eq (tp__wire_head (&e, head, &hlen), 0, "kind %u", k);
        cr_assert_eq (tp__wire_encode (&e, &buf, &len), 0);
        cr_assert_eq (len, hlen + e.body_len);
        cr_assert_eq (memcmp (buf, head, hlen), 0);
        cr_assert_eq (memcmp (buf + hlen, e.body, e.body_len), 0);
        free (buf);
    }
    tp__env bad = s_env (TP__WIRE_USER);
    bad.tag = 0;
    uint8_t head[TP__WIRE_HEAD_MAX];
    size_t hlen = 12345;
    cr_assert_eq (tp__wire_head (&bad, head, &hlen), TP_EINVAL);
    cr_assert_eq (hlen, 12345, "nothing written on failure");
}

/*  Appends env as a bin item of the given width (1, 2 or 4 length bytes). */
static size_t
s_put_bin (uint8_t *out, const uint8_t *env, size_t len, int width)
{
    size_t n = 0;
    out[n++] = width == 1 ? 0xc4 : width == 2 ? 0xc5 : 0xc6;
    for (int i = width - 1; i >= 0; i--)
        out[n++] = (uint8_t) (len >> (8 * i));
    memcpy (out + n, env, len);
    return n + len;
}

Test (wire, batch_items_walk_in_order)
{
    uint8_t body[1024];
    size_t blen = 0;
    uint32_t kinds[] = {TP__WIRE_USER, TP__WIRE_EXIT, TP__WIRE_USER};
    int widths[] = {1, 2, 4};
    for (int i = 0; i < 3; i++) {
        tp__env e = s_env (kinds[i]);
        e.corr = (uint64_t) i;
        uint8_t *buf;
        size_t len;
        cr_assert_eq (tp__wire_encode (&e, &buf, &len), 0);
        blen += s_put_bin (body + blen, buf, len, widths[i]);
        free (buf);
    }
    const uint8_t *p = body, *env;
    size_t left = blen, elen;
    for (int i = 0; i < 3; i++) {
        cr_assert_eq (tp__wire_batch_next (&p, &left, &env, &elen), 0);
        tp__env d;
        cr_assert_eq (s_decode (env, elen, &d), 0);
        cr_assert_eq (d.kind, kinds[i]);
        cr_assert_eq (d.corr, (uint64_t) i);
    }
    cr_assert_eq (left, 0);
    cr_assert_eq (tp__wire_batch_next (&p, &left, &env, &elen), 1);
}

Test (wire, batch_walk_rejects_bad_items)
{
    const uint8_t *env;
    size_t elen;
    static const struct {
        uint8_t b[8];
        size_t n;
    } bad[] = {
        {{0x91, 0x01}, 2},             /* not a bin */
        {{0xc4, 0x00}, 2},             /* empty item */
        {{0xc4, 0x05, 1, 2}, 4},       /* longer than what is left */
        {{0xc5, 0x00}, 2},             /* truncated length */
        {{0xc6, 0xff, 0xff, 0xff, 0xff, 0}, 6}, /* 4 GiB claimed */
        {{0xc4}, 1},                   /* header only */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        const uint8_t *p = bad[i].b;
        size_t left = bad[i].n;
        cr_assert_eq (tp__wire_batch_next (&p, &left, &env, &elen), TP_EPROTO,
                      "case %zu", i);
        cr_assert_eq (p, bad[i].b, "case %zu: no progress on error", i);
        cr_assert_eq (left, bad[i].n);
    }
}
