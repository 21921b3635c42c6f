/*  tests/test_wire.c: the node envelope codec (core/wire.c), version 2,
    against the rules of docs/PROTOCOL.md.

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

/*  The kinds addressed to the node itself (to_index = to_gen = 0). */
static const uint32_t s_node_kinds[] = {TP__WIRE_HELLO, TP__WIRE_LOOKUP,
                                        TP__WIRE_HEARTBEAT, TP__WIRE_DRAIN,
                                        TP__WIRE_DRAIN_ACK, TP__WIRE_BATCH};
#define S_NODE_KINDS (sizeof s_node_kinds / sizeof *s_node_kinds)

static bool
s_is_node_kind (uint32_t kind)
{
    for (size_t i = 0; i < S_NODE_KINDS; i++)
        if (s_node_kinds[i] == kind)
            return true;
    return false;
}

/*  The destination node's incarnation in the helpers' envelopes. */
#define S_INC 0x9f86d081u

/*  A valid envelope of the given kind: node-level kinds have no
    destination, every other field is nonzero (to_inc too: node-level
    kinds may carry one). */
static tp__env
s_env (uint32_t kind)
{
    static const uint8_t body[] = {0x2a, 0xa1, 'x'};
    tp__env e = {0};
    e.kind = kind;
    e.to_index = 3;
    e.to_gen = 7;
    if (s_is_node_kind (kind))
        e.to_index = e.to_gen = 0;
    e.to_inc = S_INC;
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
    cr_assert_eq (a->to_inc, b->to_inc);
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
/*  A nil ref (12 zero bytes): an ext value where none belongs. */
#define EXT ((s_field){F_EXT, 0, 0, "\0\0\0\0\0\0\0\0\0\0\0\0", 12})

/*  Positions of the envelope's elements. */
enum { P_VERSION, P_KIND, P_TO_INDEX, P_TO_GEN, P_TO_INC, P_FROM_NODE,
       P_FROM_INDEX, P_FROM_GEN, P_TAG, P_CORR, P_FLAGS, P_BODY, P_COUNT };
_Static_assert (P_COUNT == 12, "a version 2 envelope has 12 elements");

/*  A valid USER envelope, element by element. */
static s_field
s_good (int i)
{
    switch (i) {
    case P_VERSION: return U (2);
    case P_KIND: return U (TP__WIRE_USER);
    case P_TO_INDEX: return U (3);
    case P_TO_GEN: return U (7);
    case P_TO_INC: return U (S_INC);
    case P_FROM_NODE: return STR ("alpha");
    case P_FROM_INDEX: return U (5);
    case P_FROM_GEN: return U (9);
    case P_TAG: return U (14085356); /* "ping" */
    case P_CORR: return U (42);
    case P_FLAGS: return U (TP__WIRE_F_REQUEST);
    default: return BIN ("\x2a");
    }
}

/*  The valid envelope, element by element, into f[P_COUNT]. */
static void
s_good_all (s_field *f)
{
    for (int i = 0; i < P_COUNT; i++)
        f[i] = s_good (i);
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

/*  Decodes the P_COUNT fields f; on success *out (if not NULL) holds
    the scalar fields. */
static int
s_decode_fields (const s_field *f, tp__env *out)
{
    size_t len;
    uint8_t *buf = s_frame (f, P_COUNT, -1, &len);
    tp__env d;
    int rc = s_decode (buf, len, &d);
    free (buf);
    if (rc == 0 && out)
        *out = d;
    return rc;
}

/*  Decodes the valid envelope with element `pos` replaced by v. */
static int
s_decode_with (int pos, s_field v)
{
    s_field f[P_COUNT];
    s_good_all (f);
    f[pos] = v;
    return s_decode_fields (f, NULL);
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
    /* UINT32_MAX is the reserved index: the widest to_index is one less,
       which takes the same 5 bytes */
    e.to_index = TP__WIRE_RESERVED_INDEX - 1;
    e.to_gen = e.to_inc = e.from_index = e.from_gen = UINT32_MAX;
    e.from_node = name;
    e.from_node_len = TP_NODE_NAME_MAX;
    e.tag = UINT64_MAX;
    e.corr = UINT64_MAX;
    e.flags = TP__WIRE_F_REPLY;
    e.body = body;
    e.body_len = sizeof body;
    s_round_trip (&e);
    /* every field at its widest: array 1, version 1, kind 1, to_index,
       to_gen and to_inc 5 each, from_node 2 + 63, from_index and
       from_gen 5 each, tag and corr 9 each, flags 1, bin 32 header 5:
       117 bytes, within TP__WIRE_HEAD_MAX */
    uint8_t *buf;
    size_t len;
    cr_assert_eq (tp__wire_encode (&e, &buf, &len), 0);
    cr_assert_eq (len - sizeof body, 117);
    cr_assert_leq (len - sizeof body, TP__WIRE_HEAD_MAX);
    uint8_t head[TP__WIRE_HEAD_MAX];
    size_t hlen;
    cr_assert_eq (tp__wire_head (&e, head, &hlen), 0);
    cr_assert_eq (hlen, 117);
    free (buf);
    /* and the smallest values (an actor-level kind needs to_inc >= 1) */
    e = s_env (TP__WIRE_STOP);
    e.to_index = e.to_gen = e.from_index = e.from_gen = 0;
    e.to_inc = 1;
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

Test (wire, destination_incarnation_extremes_round_trip)
{
    static const uint32_t incs[] = {1,          0x7f,       0x80,
                                    0xff,       0x100,      0xffff,
                                    0x10000,    0x7fffffff, 0x80000000u,
                                    0xfffffffe, UINT32_MAX};
    for (size_t i = 0; i < sizeof incs / sizeof *incs; i++)
        for (uint32_t k = 1; k <= TP__WIRE_KIND_MAX; k++) {
            tp__env e = s_env (k);
            e.to_inc = incs[i];
            s_round_trip (&e);
        }
    /* shortest forms: a fixint, then uint 8, 16 and 32 */
    static const struct {
        uint32_t inc;
        size_t bytes;
    } widths[] = {{1, 1},       {0x7f, 1},       {0x80, 2},
                  {0xff, 2},    {0x100, 3},      {0xffff, 3},
                  {0x10000, 5}, {UINT32_MAX, 5}};
    tp__env e = s_env (TP__WIRE_USER);
    e.to_inc = 1;
    uint8_t *buf;
    size_t base;
    cr_assert_eq (tp__wire_encode (&e, &buf, &base), 0);
    free (buf);
    for (size_t i = 0; i < sizeof widths / sizeof *widths; i++) {
        size_t len;
        e.to_inc = widths[i].inc;
        cr_assert_eq (tp__wire_encode (&e, &buf, &len), 0);
        cr_assert_eq (len, base - 1 + widths[i].bytes, "to_inc %" PRIx32,
                      widths[i].inc);
        free (buf);
    }
}

Test (wire, node_level_kinds_accept_any_destination_incarnation)
{
    static const uint32_t incs[] = {0, 1, 0x80, 0x10000, S_INC, UINT32_MAX};
    for (size_t k = 0; k < S_NODE_KINDS; k++)
        for (size_t i = 0; i < sizeof incs / sizeof *incs; i++) {
            tp__env e = s_env (s_node_kinds[k]);
            e.to_inc = incs[i]; /* 0: the sender does not know it yet */
            s_round_trip (&e);
            s_field f[P_COUNT];
            s_good_all (f);
            f[P_KIND] = U (s_node_kinds[k]);
            f[P_TO_INDEX] = f[P_TO_GEN] = U (0);
            f[P_TO_INC] = U (incs[i]);
            tp__env d;
            cr_assert_eq (s_decode_fields (f, &d), 0,
                          "kind %u, to_inc %" PRIx32, s_node_kinds[k],
                          incs[i]);
            cr_assert_eq (d.to_inc, incs[i]);
        }
}

/*  The example frames of docs/PROTOCOL.md §13, byte for byte. The node
    `alpha` (incarnation 0x9f86d081) talks to `beta` (0x01234567). */
Test (wire, encoding_matches_the_protocol_examples)
{
    /* a tell of ping(42) from alpha's actor 5.1 to beta's actor 3.1 */
    static const uint8_t tell[] = {
        0x9c,                               /* array of 12 */
        0x02,                               /* version 2 */
        0x02,                               /* kind USER */
        0x03, 0x01,                         /* to_index 3, to_gen 1 */
        0xce, 0x01, 0x23, 0x45, 0x67,       /* to_inc: beta's incarnation */
        0xa5, 'a',  'l',  'p',  'h',  'a',  /* from_node "alpha" */
        0x05, 0x01,                         /* from_index 5, from_gen 1 */
        0xce, 0x00, 0xd6, 0xec, 0xec,       /* tag "ping" */
        0x00,                               /* corr 0 */
        0x00,                               /* flags 0: a tell */
        0xc4, 0x01, 0x2a};                  /* body: bin 1, the value 42 */
    cr_assert_eq (sizeof tell, 28);
    tp__env e = {0};
    e.kind = TP__WIRE_USER;
    e.to_index = 3;
    e.to_gen = 1;
    e.to_inc = 0x01234567;
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
    tp__env d;
    cr_assert_eq (tp__wire_decode (tell, sizeof tell, &d), 0);
    s_assert_env_eq (&d, &e);

    /* beta's first HELLO to alpha: it knows no incarnation of alpha yet
       (to_inc 0, seen 0) */
    static const uint8_t hello[] = {
        0x9c, 0x02, 0x01,             /* array of 12, version 2, HELLO */
        0x00, 0x00, 0x00,             /* to_index 0, to_gen 0, to_inc 0 */
        0xa4, 'b',  'e',  't',  'a',  /* from_node "beta" */
        0x00, 0x00,                   /* from_index 0, from_gen 0 */
        0x00, 0x00, 0x00,             /* tag 0, corr 0, flags 0 */
        0xc4, 0x0f,                   /* body: bin of 15 bytes */
        0x94,                         /*   array of 4 */
        0xa4, 'b',  'e',  't',  'a',  /*   node_name "beta" */
        0xce, 0x01, 0x23, 0x45, 0x67, /*   incarnation 0x01234567 */
        0xcd, 0x01, 0xf4,             /*   heartbeat_ms 500 */
        0x00};                        /*   seen 0 */
    cr_assert_eq (sizeof hello, 33);
    /* and its answer once it has alpha up: seen is alpha's incarnation */
    static const uint8_t answer[] = {
        0x9c, 0x02, 0x01, 0x00, 0x00, 0x00, 0xa4, 'b',  'e',  't',
        'a',  0x00, 0x00, 0x00, 0x00, 0x00, 0xc4, 0x13, 0x94, 0xa4,
        'b',  'e',  't',  'a',  0xce, 0x01, 0x23, 0x45, 0x67, 0xcd,
        0x01, 0xf4, 0xce, 0x9f, 0x86, 0xd0, 0x81};
    cr_assert_eq (sizeof answer, 37);
    static const struct {
        const uint8_t *bytes;
        size_t len;
        unsigned seen;
    } hellos[] = {{hello, sizeof hello, 0},
                  {answer, sizeof answer, 0x9f86d081u}};
    for (size_t i = 0; i < 2; i++) {
        /* the encoder writes these bytes from the fields */
        tp_msg *body = tp_msg_new (tp_tag ("x"), "[suuu]", "beta",
                                   0x01234567u, 500u, hellos[i].seen);
        cr_assert_not_null (body);
        tp__env h = {0};
        h.kind = TP__WIRE_HELLO;
        h.from_node = "beta";
        h.from_node_len = 4;
        h.body = tp_msg_body (body);
        h.body_len = tp_msg_size (body);
        cr_assert_eq (tp__wire_encode (&h, &buf, &len), 0);
        cr_assert_eq (len, hellos[i].len, "hello %zu", i);
        cr_assert_arr_eq (buf, hellos[i].bytes, len, "hello %zu", i);
        free (buf);
        tp_msg_destroy (&body);

        /* and the decoder reads the fields back */
        cr_assert_eq (tp__wire_decode (hellos[i].bytes, hellos[i].len, &d),
                      0);
        cr_assert_eq (d.kind, TP__WIRE_HELLO);
        cr_assert_eq (d.to_inc, 0);
        cr_assert_eq (d.from_node_len, 4);
        cr_assert_eq (memcmp (d.from_node, "beta", 4), 0);
        cr_assert_eq (d.body_len, i == 0 ? 15 : 19);
        const char *name;
        size_t name_len;
        unsigned incarnation, heartbeat_ms, seen;
        cr_assert_eq (tp_unpack_raw (d.body, d.body_len, "[suuu]", &name,
                                     &name_len, &incarnation, &heartbeat_ms,
                                     &seen),
                      0);
        cr_assert_eq (name_len, 4);
        cr_assert_eq (memcmp (name, "beta", 4), 0);
        cr_assert_eq (incarnation, 0x01234567u);
        cr_assert_eq (heartbeat_ms, 500);
        cr_assert_eq (seen, hellos[i].seen);
        cr_assert_eq (tp__wire_encode (&d, &buf, &len), 0);
        cr_assert_eq (len, hellos[i].len);
        cr_assert_arr_eq (buf, hellos[i].bytes, len);
        free (buf);
    }
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
        0xdc, 0x00, 0x0c,                         /* array 16 of 12 */
        0xcf, 0, 0, 0, 0, 0, 0, 0, 2,             /* version, uint 64 */
        0xd0, 0x02,                               /* kind, int 8 */
        0xcd, 0x00, 0x03,                         /* to_index, uint 16 */
        0xd3, 0, 0, 0, 0, 0, 0, 0, 7,             /* to_gen, int 64 */
        0xcf, 0, 0, 0, 0, 0, 0, 0, 0x2a,          /* to_inc, uint 64 */
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
    e.to_inc = 0x2a;
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
    for (size_t i = 0; i < S_NODE_KINDS; i++) {
        e = s_env (s_node_kinds[i]);
        e.to_index = 1;
        S_REJECT (TP_EINVAL);
        e = s_env (s_node_kinds[i]);
        e.to_gen = 1;
        S_REJECT (TP_EINVAL);
        e = s_env (s_node_kinds[i]);
        e.to_index = TP__WIRE_RESERVED_INDEX;
        S_REJECT (TP_EINVAL);
    }
    /* an actor is named with its node's incarnation, and never with the
       reserved index */
    for (uint32_t k = 1; k <= TP__WIRE_KIND_MAX; k++) {
        if (s_is_node_kind (k))
            continue;
        e = s_env (k);
        e.to_inc = 0;
        S_REJECT (TP_EINVAL);
        e = s_env (k);
        e.to_index = TP__WIRE_RESERVED_INDEX;
        S_REJECT (TP_EINVAL);
    }
    uint8_t head[TP__WIRE_HEAD_MAX];
    size_t hlen = 12345;
    e = s_env (TP__WIRE_USER);
    e.to_inc = 0;
    cr_assert_eq (tp__wire_head (&e, head, &hlen), TP_EINVAL);
    e = s_env (TP__WIRE_USER);
    e.to_index = TP__WIRE_RESERVED_INDEX;
    cr_assert_eq (tp__wire_head (&e, head, &hlen), TP_EINVAL);
    cr_assert_eq (hlen, 12345);
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
    s_field f[P_COUNT + 1];
    for (int i = 0; i <= P_COUNT; i++)
        f[i] = s_good (i < P_COUNT ? i : P_BODY);
    tp__env d;
    for (size_t n = 1; n <= P_COUNT + 1; n++) {
        size_t len;
        uint8_t *buf = s_frame (f, n, -1, &len);
        /* 11 elements (the version 1 shape) with version 2 is no frame */
        cr_assert_eq (s_decode (buf, len, &d), n == P_COUNT ? 0 : TP_EPROTO,
                      "array of %zu", n);
        free (buf);
    }
    /* an empty array, and headers that disagree with the elements */
    cr_assert_eq (s_decode ("\x90", 1, &d), TP_EPROTO);
    size_t len;
    uint8_t *buf = s_frame (f, P_COUNT, P_COUNT - 1, &len);
    cr_assert_eq (s_decode (buf, len, &d), TP_EPROTO);
    free (buf);
    buf = s_frame (f, P_COUNT, P_COUNT + 1, &len);
    cr_assert_eq (s_decode (buf, len, &d), TP_EPROTO);
    free (buf);
}

Test (wire, decode_rejects_a_wrong_type_in_each_position)
{
    const s_field wrong[] = {NIL, BOOL, FLOAT, I (-1), I (INT64_MIN),
                             STR ("x"), BIN ("x"), ARRAY, MAP, EXT,
                             U (1ull << 32), U (UINT64_MAX)};
    for (int pos = 0; pos < P_COUNT; pos++) {
        cr_assert_eq (s_decode_with (pos, s_good (pos)), 0);
        for (size_t w = 0; w < sizeof wrong / sizeof *wrong; w++) {
            s_ftype want = pos == P_FROM_NODE ? F_STR
                           : pos == P_BODY    ? F_BIN
                                              : F_UINT;
            if (wrong[w].type == want
                && (want != F_UINT || pos == P_TAG || pos == P_CORR))
                continue; /* a right type (tag and corr are uint64) */
            int expect = pos == P_VERSION && wrong[w].type == F_UINT
                             ? TP_ENOTSUP
                             : TP_EPROTO;
            cr_assert_eq (s_decode_with (pos, wrong[w]), expect,
                          "element %d, wrong value %zu", pos, w);
        }
    }
}

Test (wire, decode_rejects_other_versions_with_enotsup)
{
    static const uint64_t versions[] = {0, 1, 3, 127, 128, 255, 65536,
                                        1ull << 32, 1ull << 63, UINT64_MAX};
    for (size_t i = 0; i < sizeof versions / sizeof *versions; i++)
        cr_assert_eq (s_decode_with (P_VERSION, U (versions[i])), TP_ENOTSUP,
                      "version %" PRIu64, versions[i]);
    /* another version may have another shape */
    tp__env d;
    cr_assert_eq (s_decode ("\x91\x01", 2, &d), TP_ENOTSUP);
    cr_assert_eq (s_decode ("\x91\x03", 2, &d), TP_ENOTSUP);
    cr_assert_eq (s_decode ("\x93\x03\xc0\xc1", 4, &d), TP_ENOTSUP);
    cr_assert_eq (s_decode ("\xdc\x00\x20\xcd\x01\x00", 6, &d), TP_ENOTSUP);
    /* version 2 in a wider encoding is version 2 */
    cr_assert_eq (s_decode ("\x91\xd0\x02", 3, &d), TP_EPROTO); /* [2] */
    cr_assert_eq (s_decode ("\x91\xcc\x02", 3, &d), TP_EPROTO);
    cr_assert_eq (s_decode ("\x91\xd0\x01", 3, &d), TP_ENOTSUP);
    /* not an integer, or a negative one: not a version at all */
    cr_assert_eq (s_decode ("\x91\xff", 2, &d), TP_EPROTO);
    cr_assert_eq (s_decode ("\x91\xd0\x80", 3, &d), TP_EPROTO);
    cr_assert_eq (s_decode ("\x91\xc0", 2, &d), TP_EPROTO);
    cr_assert_eq (s_decode ("\x91", 1, &d), TP_EPROTO);
    cr_assert_eq (s_decode ("\x91\xcd\x00", 3, &d), TP_EPROTO);
}

/*  Version 1 frames (11 elements, no to_inc) are of another version. */
Test (wire, decode_rejects_version_1_frames_with_enotsup)
{
    /* the two examples of the version 1 docs/PROTOCOL.md §13 */
    static const uint8_t v1_tell[] = {
        0x9b, 0x01, 0x02, 0x03, 0x01, 0xa5, 'a',  'l',  'p',  'h',  'a', 0x05,
        0x01, 0xce, 0x00, 0xd6, 0xec, 0xec, 0x00, 0x00, 0xc4, 0x01, 0x2a};
    static const uint8_t v1_hello[] = {
        0x9b, 0x01, 0x01, 0x00, 0x00, 0xa4, 'b',  'e',  't',  'a',  0x00,
        0x00, 0x00, 0x00, 0x00, 0xc4, 0x12, 0x93, 0xa4, 'b',  'e',  't',
        'a',  0xcf, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0xcd,
        0x01, 0xf4};
    tp__env d, before;
    memset (&d, 0x5a, sizeof d);
    before = d;
    cr_assert_eq (s_decode (v1_tell, sizeof v1_tell, &d), TP_ENOTSUP);
    cr_assert_eq (s_decode (v1_hello, sizeof v1_hello, &d), TP_ENOTSUP);
    cr_assert_eq (memcmp (&d, &before, sizeof d), 0, "nothing written");
    /* a valid version 1 frame of every kind */
    for (uint32_t k = 1; k <= TP__WIRE_KIND_MAX; k++) {
        uint64_t dest = s_is_node_kind (k) ? 0 : 3;
        const s_field v1[11] = {U (1),    U (k),    U (dest), U (dest),
                                STR ("alpha"), U (5), U (9),
                                U (14085356), U (42), U (0),
                                BIN ("\x2a")};
        size_t len;
        uint8_t *buf = s_frame (v1, 11, -1, &len);
        cr_assert_eq (s_decode (buf, len, &d), TP_ENOTSUP, "kind %u", k);
        free (buf);
        /* the same frame saying version 2 lacks an element */
        s_field v2[11];
        memcpy (v2, v1, sizeof v2);
        v2[0] = U (2);
        buf = s_frame (v2, 11, -1, &len);
        cr_assert_eq (s_decode (buf, len, &d), TP_EPROTO, "kind %u", k);
        free (buf);
    }
    /* version 1 with the version 2 shape is still version 1 */
    cr_assert_eq (s_decode_with (P_VERSION, U (1)), TP_ENOTSUP);
}

Test (wire, decode_rejects_unknown_kinds)
{
    static const uint64_t kinds[] = {0, TP__WIRE_KIND_MAX + 1, 16, 255, 65535,
                                     UINT32_MAX, 1ull << 32 | TP__WIRE_USER};
    for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++)
        cr_assert_eq (s_decode_with (P_KIND, U (kinds[i])), TP_EPROTO,
                      "kind %" PRIu64, kinds[i]);
    for (uint32_t k = 1; k <= TP__WIRE_KIND_MAX; k++) {
        /* the valid frame has a destination, which node-level kinds lack */
        cr_assert_eq (s_decode_with (P_KIND, U (k)),
                      s_is_node_kind (k) ? TP_EPROTO : 0, "kind %u", k);
    }
}

Test (wire, decode_rejects_node_level_kinds_with_a_destination)
{
    for (size_t i = 0; i < S_NODE_KINDS; i++) {
        s_field f[P_COUNT];
        s_good_all (f);
        f[P_KIND] = U (s_node_kinds[i]);
        for (int dest = 1; dest < 4; dest++) {
            f[P_TO_INDEX] = U (dest & 1);
            f[P_TO_GEN] = U (dest >> 1);
            cr_assert_eq (s_decode_fields (f, NULL), TP_EPROTO);
        }
        f[P_TO_INDEX] = U (TP__WIRE_RESERVED_INDEX);
        f[P_TO_GEN] = U (0);
        cr_assert_eq (s_decode_fields (f, NULL), TP_EPROTO);
        f[P_TO_INDEX] = f[P_TO_GEN] = U (0);
        cr_assert_eq (s_decode_fields (f, NULL), 0);
    }
}

Test (wire, decode_rejects_actor_kinds_without_a_destination_incarnation)
{
    for (uint32_t k = 1; k <= TP__WIRE_KIND_MAX; k++) {
        if (s_is_node_kind (k))
            continue;
        s_field f[P_COUNT];
        s_good_all (f);
        f[P_KIND] = U (k);
        tp__env d;
        cr_assert_eq (s_decode_fields (f, &d), 0, "kind %u", k);
        cr_assert_eq (d.to_inc, S_INC);
        f[P_TO_INC] = U (0);
        cr_assert_eq (s_decode_fields (f, NULL), TP_EPROTO, "kind %u", k);
        /* the node itself as the destination does not change the rule */
        f[P_TO_INDEX] = f[P_TO_GEN] = U (0);
        cr_assert_eq (s_decode_fields (f, NULL), TP_EPROTO, "kind %u", k);
        f[P_TO_INC] = U (1);
        cr_assert_eq (s_decode_fields (f, NULL), 0, "kind %u", k);
    }
    /* to_inc 0 in a wide encoding, patched into an encoded frame: the
       to_inc of s_env is ce 9f 86 d0 81 */
    tp__env e = s_env (TP__WIRE_USER), d;
    uint8_t *buf;
    size_t len;
    cr_assert_eq (tp__wire_encode (&e, &buf, &len), 0);
    cr_assert_eq (memcmp (buf + 5, "\xce\x9f\x86\xd0\x81", 5), 0);
    memset (buf + 6, 0, 4); /* uint 32 of value 0 */
    cr_assert_eq (s_decode (buf, len, &d), TP_EPROTO);
    buf[9] = 1; /* uint 32 of value 1 */
    cr_assert_eq (s_decode (buf, len, &d), 0);
    cr_assert_eq (d.to_inc, 1);
    free (buf);
}

Test (wire, decode_rejects_the_reserved_index_for_actor_kinds)
{
    for (uint32_t k = 1; k <= TP__WIRE_KIND_MAX; k++) {
        if (s_is_node_kind (k))
            continue;
        s_field f[P_COUNT];
        s_good_all (f);
        f[P_KIND] = U (k);
        f[P_TO_INDEX] = U (TP__WIRE_RESERVED_INDEX);
        cr_assert_eq (s_decode_fields (f, NULL), TP_EPROTO, "kind %u", k);
        f[P_TO_GEN] = U (0);
        cr_assert_eq (s_decode_fields (f, NULL), TP_EPROTO, "kind %u", k);
        /* the index below it is an ordinary slot */
        f[P_TO_INDEX] = U (TP__WIRE_RESERVED_INDEX - 1);
        tp__env d;
        cr_assert_eq (s_decode_fields (f, &d), 0, "kind %u", k);
        cr_assert_eq (d.to_index, TP__WIRE_RESERVED_INDEX - 1);
        /* only the destination index is reserved: the generation and the
           sender may take any value */
        s_good_all (f);
        f[P_KIND] = U (k);
        f[P_TO_GEN] = U (UINT32_MAX);
        f[P_FROM_INDEX] = U (UINT32_MAX);
        cr_assert_eq (s_decode_fields (f, NULL), 0, "kind %u", k);
    }
}

Test (wire, decode_rejects_user_messages_without_a_tag)
{
    cr_assert_eq (s_decode_with (P_TAG, U (0)), TP_EPROTO);
    /* other kinds may carry tag 0 */
    s_field f[P_COUNT];
    s_good_all (f);
    f[P_KIND] = U (TP__WIRE_STOP);
    f[P_TAG] = U (0);
    cr_assert_eq (s_decode_fields (f, NULL), 0);
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
        cr_assert_eq (s_decode_with (P_FROM_NODE, v),
                      cases[i].ok ? 0 : TP_EPROTO, "name %zu", i);
        cr_assert_eq (tp__wire_node_name_ok (cases[i].name, cases[i].len),
                      cases[i].ok);
    }
    char name[TP_NODE_NAME_MAX + 1];
    memset (name, 'n', sizeof name);
    s_field v = {F_STR, 0, 0, name, TP_NODE_NAME_MAX};
    cr_assert_eq (s_decode_with (P_FROM_NODE, v), 0);
    v.len = TP_NODE_NAME_MAX + 1;
    cr_assert_eq (s_decode_with (P_FROM_NODE, v), TP_EPROTO);
    cr_assert_not (tp__wire_node_name_ok (NULL, 3));
}

Test (wire, decode_rejects_unknown_flag_bits)
{
    cr_assert_eq (s_decode_with (P_FLAGS, U (0)), 0);
    cr_assert_eq (s_decode_with (P_FLAGS, U (TP__WIRE_F_REQUEST)), 0);
    cr_assert_eq (s_decode_with (P_FLAGS, U (TP__WIRE_F_REPLY)), 0);
    cr_assert_eq (s_decode_with (P_FLAGS, U (3)), TP_EPROTO); /* both */
    for (int bit = 2; bit < 64; bit++)
        cr_assert_eq (s_decode_with (P_FLAGS, U (1ull << bit)), TP_EPROTO,
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
        {"\x02", 1},                 /* the version alone */
        {"\xc3", 1},                 /* true */
        {"\xa5hello", 6},            /* str */
        {"\xc4\x01\x9c", 3},         /* bin holding an array header */
        {"\xcb\x3f\xf0\0\0\0\0\0\0", 9}, /* float 64 */
        {"\xd4\x01\x00", 3},         /* fixext 1 */
        {"\x81\x02\x02", 3},         /* map of one pair */
        {"\xc1", 1},                 /* never used */
        {"\xc1\x9c", 2},
    };
    tp__env d;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        cr_assert_eq (s_decode (cases[i].bytes, cases[i].len, &d), TP_EPROTO,
                      "case %zu", i);
    /* a map with the 12 values as its keys and values */
    s_field f[P_COUNT];
    s_good_all (f);
    size_t len;
    uint8_t *buf = s_frame (f, P_COUNT, -1, &len);
    buf[0] = 0x80 | 6; /* fixmap of 6 pairs: a well-formed map */
    cr_assert_eq (s_decode (buf, len, &d), TP_EPROTO);
    buf[0] = 0x80 | 5; /* fixmap of 5 pairs + 2 stray values */
    cr_assert_eq (s_decode (buf, len, &d), TP_EPROTO);
    free (buf);
    cr_assert_eq (tp__wire_decode (NULL, 0, &d), TP_EPROTO);
    cr_assert_eq (tp__wire_decode (NULL, 5, &d), TP_EPROTO);
    cr_assert_eq (tp__wire_decode ("\x90", 1, NULL), TP_EPROTO);
}

Test (wire, decode_rejects_huge_declared_lengths)
{
    /* USER, to 3.7 on incarnation 1, from "x" 0.0, tag 1, corr 0, flags 0 */
#define S_HEAD "\x9c\x02\x02\x03\x07\x01\xa1x\x00\x00\x01\x00\x00"
    static const struct {
        const char *bytes;
        size_t len;
    } cases[] = {
        {"\xdd\xff\xff\xff\xff\x02", 6},          /* array 32 */
        {"\xdc\xff\xff\x02\x02", 5},              /* array 16 */
        {"\xdd\x00\x00\x00\x0c\x02", 6},          /* 12, but nothing after */
        /* USER to 0.0 on incarnation 1, then a str of a false length */
        {"\x9c\x02\x02\x00\x00\x01\xdb\xff\xff\xff\xff" "abc", 14}, /* 32 */
        {"\x9c\x02\x02\x00\x00\x01\xda\xff\xff" "abc", 12},         /* 16 */
        {"\x9c\x02\x02\x00\x00\x01\xd9\xff" "abc", 11},             /* 8 */
        /* S_HEAD, then a bin of a false length */
        {S_HEAD "\xc6\xff\xff\xff\xff\x2a", 19}, /* bin 32 */
        {S_HEAD "\xc5\x01\x00\x2a", 17},         /* bin 16 */
        {S_HEAD "\xc4\x02\x2a", 16},             /* bin 8 */
    };
    tp__env d;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        cr_assert_eq (s_decode (cases[i].bytes, cases[i].len, &d), TP_EPROTO,
                      "case %zu", i);
    /* the last frame above with an honest body length decodes */
    cr_assert_eq (s_decode (S_HEAD "\xc4\x01\x2a", 16, &d), 0);
    cr_assert_eq (d.to_inc, 1);
    cr_assert_eq (d.body_len, 1);
#undef S_HEAD
}

Test (wire, decode_rejects_oversized_frames_before_reading_them)
{
    tp__env d;
    /* the length alone decides: the bytes are never looked at */
    cr_assert_eq (tp__wire_decode ("\x9c", TP__WIRE_MAX_FRAME + 1u, &d),
                  TP_ETOOBIG);
    cr_assert_eq (tp__wire_decode ("\x9c", SIZE_MAX, &d), TP_ETOOBIG);
}

Test (wire, decode_writes_nothing_on_failure)
{
    tp__env d, before;
    memset (&d, 0xa5, sizeof d);
    before = d;
    cr_assert_eq (s_decode_with (P_FLAGS, U (4)), TP_EPROTO);
    s_field f[P_COUNT];
    s_good_all (f);
    f[P_FLAGS] = U (4); /* everything valid up to the last check */
    size_t len;
    uint8_t *buf = s_frame (f, P_COUNT, -1, &len);
    cr_assert_eq (s_decode (buf, len, &d), TP_EPROTO);
    cr_assert_eq (memcmp (&d, &before, sizeof d), 0);
    cr_assert_eq (s_decode (buf, len - 1, &d), TP_EPROTO);
    cr_assert_eq (memcmp (&d, &before, sizeof d), 0);
    free (buf);
    /* nor when only the new version 2 rules fail */
    s_good_all (f);
    f[P_TO_INC] = U (0);
    buf = s_frame (f, P_COUNT, -1, &len);
    cr_assert_eq (s_decode (buf, len, &d), TP_EPROTO);
    cr_assert_eq (memcmp (&d, &before, sizeof d), 0);
    free (buf);
    s_good_all (f);
    f[P_TO_INDEX] = U (TP__WIRE_RESERVED_INDEX);
    buf = s_frame (f, P_COUNT, -1, &len);
    cr_assert_eq (s_decode (buf, len, &d), TP_EPROTO);
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

Test (wire, routing_ids_are_name_slash_incarnation_and_parse_strictly)
{
    char rid[TP__WIRE_RID_MAX];
    size_t n = tp__wire_rid ("w1", 2, 0x0123abcdu, rid);
    cr_assert_eq (n, 11);
    cr_assert_eq (memcmp (rid, "w1/0123abcd", 11), 0);
    cr_assert (tp__wire_rid_is (rid, n, "w1", 2, 0x0123abcdu));
    cr_assert_not (tp__wire_rid_is (rid, n, "w1", 2, 0x0123abceu));
    cr_assert_not (tp__wire_rid_is (rid, n, "w2", 2, 0x0123abcdu));
    size_t nl = 0;
    uint32_t inc = 0;
    cr_assert (tp__wire_rid_ok (rid, n, &nl, &inc));
    cr_assert_eq (nl, 2);
    cr_assert_eq (inc, 0x0123abcdu);
    /* the longest name */
    char name[TP_NODE_NAME_MAX];
    memset (name, 'a', sizeof name);
    n = tp__wire_rid (name, sizeof name, UINT32_MAX, rid);
    cr_assert_eq (n, (size_t) TP__WIRE_RID_MAX);
    cr_assert (tp__wire_rid_ok (rid, n, &nl, &inc));
    cr_assert_eq (inc, UINT32_MAX);
    /* not routing ids: a bare name, upper-case or short hex, no name, a
       bad name, too long */
    const char *bad[] = {"w1", "w1/0123ABCD", "w1/0123abc", "/0123abcd",
                         "w 1/0123abcd", "w1-0123abcd", "w1/0123abcdx"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        cr_assert_not (tp__wire_rid_ok (bad[i], strlen (bad[i]), &nl, &inc),
                       "%s", bad[i]);
    char big[TP__WIRE_RID_MAX + 1];
    memset (big, 'a', sizeof big);
    memcpy (big + sizeof big - 9, "/00000001", 9);
    cr_assert_not (tp__wire_rid_ok (big, sizeof big, &nl, &inc));
    cr_assert_not (tp__wire_rid_ok (NULL, 0, &nl, &inc));
}
