/*  tests/fuzz/gen_wire_corpus.c: writes the seed corpus of fuzz_wire.

    One valid version 2 frame of each kind, with the body that kind
    carries in docs/PROTOCOL.md, made by the encoder itself; a frame in
    wide encodings; and a few broken frames (each rejected for one
    reason), version 1 frames among them.
    Rebuild with `make fuzz-corpus`, or:
        gcc -std=c11 -Icore core/alloc.c core/error.c core/ref.c \
            core/msg.c core/pack.c core/wire.c tests/fuzz/gen_wire_corpus.c \
            -o gen_wire_corpus $(pkg-config --cflags --libs libzmq msgpack)
        ./gen_wire_corpus tests/fuzz/corpus/wire
*/
#include "wire.h"

static const char *s_dir;

static void
s_write (const char *name, const void *data, size_t size)
{
    /*  Every seed is what its name says: "bad_" ones are rejected. */
    tp__env e;
    bool ok = tp__wire_decode (data, size, &e) == 0;
    if (ok != (strncmp (name, "bad_", 4) != 0)) {
        fprintf (stderr, "gen_wire_corpus: %s %s\n", name,
                 ok ? "decodes" : "does not decode");
        exit (1);
    }
    char path[512];
    snprintf (path, sizeof path, "%s/%s", s_dir, name);
    FILE *f = fopen (path, "wb");
    if (!f || fwrite (data, 1, size, f) != size || fclose (f)) {
        perror (path);
        exit (1);
    }
}

/*  The incarnations of the two nodes of the seeds: frames go from alpha
    to beta, whose actors are addressed with beta's incarnation. */
#define S_ALPHA_INC 0x9f86d081u
#define S_BETA_INC 0x01234567u

/*  Writes the frame of kind with the given fields and a body packed from
    fmt (NULL: empty body); returns the frame (caller frees). to_inc is
    the destination's incarnation (0 only for node-level kinds). */
static uint8_t *
s_frame (const char *name, uint32_t kind, tp_ref to, uint32_t to_inc,
         tp_ref from, tp_tag_t tag, uint64_t corr, uint32_t flags,
         size_t *len, const char *fmt, ...)
{
    tp_msg *body = tp_msg_new (tp_tag ("seed"), NULL);
    if (fmt) {
        va_list ap;
        va_start (ap, fmt);
        int rc = tp_msg_vpack (body, fmt, ap);
        va_end (ap);
        if (rc) {
            fprintf (stderr, "gen_wire_corpus: %s: %s\n", name,
                     tp_strerror (rc));
            exit (1);
        }
    }
    tp__env e = {0};
    e.kind = kind;
    e.to_index = to.index;
    e.to_gen = to.gen;
    e.to_inc = to_inc;
    e.from_node = "alpha";
    e.from_node_len = 5;
    e.from_index = from.index;
    e.from_gen = from.gen;
    e.tag = tag;
    e.corr = corr;
    e.flags = flags;
    e.body = tp_msg_body (body);
    e.body_len = tp_msg_size (body);
    uint8_t *buf;
    int rc = tp__wire_encode (&e, &buf, len);
    tp_msg_destroy (&body);
    if (rc) {
        fprintf (stderr, "gen_wire_corpus: %s: %s\n", name, tp_strerror (rc));
        exit (1);
    }
    s_write (name, buf, *len);
    return buf;
}

int
main (int argc, char **argv)
{
    if (argc != 2) {
        fprintf (stderr, "usage: gen_wire_corpus DIR\n");
        return 2;
    }
    s_dir = argv[1];
    const tp_ref node = {0, 0, 0};          /* the node itself */
    /* refs as the gateway writes them: with their node's incarnation */
    tp_ref alice, bob;
    if (tp_ref_parse ("alpha/5.1:9f86d081", &alice)
        || tp_ref_parse ("beta/3.1:01234567", &bob))
        return 1;
    const uint32_t A = S_ALPHA_INC, B = S_BETA_INC;
    const tp_tag_t sys = tp_tag ("_sys");
    const tp_tag_t ping = tp_tag ("ping");
    size_t len;
    /* a first greeting (it knows no incarnation of beta: to_inc 0, seen
       0), and an answer that has beta up */
    free (s_frame ("hello", TP__WIRE_HELLO, node, 0, node, 0, 0, 0, &len,
                   "[suuu]", "alpha", A, 500u, 0u));
    free (s_frame ("hello_seen", TP__WIRE_HELLO, node, B, node, 0, 0, 0, &len,
                   "[suuu]", "alpha", A, 500u, B));
    size_t tell_len; /* (len is overwritten by every later frame) */
    uint8_t *tell = s_frame ("user_tell", TP__WIRE_USER, bob, B, alice, ping,
                             0, 0, &tell_len, "i s", 42, "x");
    free (s_frame ("user_ask", TP__WIRE_USER, bob, B, alice, tp_tag ("add"),
                   7, TP__WIRE_F_REQUEST, &len, "[i i]", 1, 2));
    free (s_frame ("user_reply", TP__WIRE_USER, alice, A, bob, tp_tag ("sum"),
                   7, TP__WIRE_F_REPLY, &len, "i", 3));
    free (s_frame ("user_refs", TP__WIRE_USER, bob, B, alice, tp_tag ("refs"),
                   0, 0, &len, "r [r r] r", alice, bob,
                   (tp_ref){tp_node_id ("gamma"), 9, 3}, TP_REF_NIL));
    free (s_frame ("monitor", TP__WIRE_MONITOR, bob, B, alice, sys, 1, 0,
                   &len, NULL));
    free (s_frame ("demonitor", TP__WIRE_DEMONITOR, bob, B, alice, sys, 1, 0,
                   &len, NULL));
    free (s_frame ("down", TP__WIRE_DOWN, alice, A, bob, sys, 1, 0, &len,
                   "r t", bob, tp_tag ("noproc")));
    free (s_frame ("link", TP__WIRE_LINK, bob, B, alice, sys, 0, 0, &len,
                   NULL));
    free (s_frame ("unlink", TP__WIRE_UNLINK, bob, B, alice, sys, 0, 0, &len,
                   NULL));
    free (s_frame ("exit", TP__WIRE_EXIT, alice, A, bob, sys, 0, 0, &len, "t",
                   tp_tag ("killed")));
    free (s_frame ("stop", TP__WIRE_STOP, bob, B, node, sys, 0, 0, &len, "t",
                   tp_tag ("shutdown")));
    free (s_frame ("lookup", TP__WIRE_LOOKUP, node, B, alice, sys, 9, 0, &len,
                   "s", "logger"));
    free (s_frame ("lookup_reply", TP__WIRE_LOOKUP_REPLY, alice, A, node, 0,
                   9, TP__WIRE_F_REPLY, &len, "r", bob));
    free (s_frame ("lookup_reply_nil", TP__WIRE_LOOKUP_REPLY, alice, A, node,
                   0, 9, TP__WIRE_F_REPLY, &len, "r", TP_REF_NIL));
    free (s_frame ("heartbeat", TP__WIRE_HEARTBEAT, node, B, node, 0, 0, 0,
                   &len, NULL));
    free (s_frame ("drain", TP__WIRE_DRAIN, node, B, node, 0, 0, 0, &len,
                   NULL));
    free (s_frame ("drain_ack", TP__WIRE_DRAIN_ACK, node, 0, node, 0, 0, 0,
                   &len, NULL));
    /* the widest values: to_index just below the reserved one */
    free (s_frame ("user_extremes", TP__WIRE_USER,
                   (tp_ref){1, TP__WIRE_RESERVED_INDEX - 1, UINT32_MAX},
                   UINT32_MAX, (tp_ref){1, UINT32_MAX, UINT32_MAX},
                   (1ull << 60) - 1, UINT64_MAX, TP__WIRE_F_REPLY, &len,
                   NULL));

    /*  A BATCH of two items (a tell, then an exit), bin 8 and bin 32. */
    {
        size_t l1, l2;
        uint8_t *a = s_frame ("batch_item_tell", TP__WIRE_USER, bob, B, alice,
                              ping, 0, 0, &l1, "i", 1);
        uint8_t *b = s_frame ("batch_item_exit", TP__WIRE_EXIT, alice, A, bob,
                              0, 0, 0, &l2, "t", tp_tag ("normal"));
        uint8_t items[512];
        size_t n = 0;
        if (l1 > 255 || l1 + l2 + 7 > sizeof items)
            return 1;
        items[n++] = 0xc4;
        items[n++] = (uint8_t) l1;
        memcpy (items + n, a, l1);
        n += l1;
        items[n++] = 0xc6;
        items[n++] = 0;
        items[n++] = 0;
        items[n++] = (uint8_t) (l2 >> 8);
        items[n++] = (uint8_t) l2;
        memcpy (items + n, b, l2);
        n += l2;
        tp__env e = {.kind = TP__WIRE_BATCH, .to_inc = B, .from_node = "alpha",
                     .from_node_len = 5, .body = items, .body_len = n};
        uint8_t *f;
        size_t fl;
        if (tp__wire_encode (&e, &f, &fl) != 0)
            return 1;
        s_write ("batch", f, fl);
        free (f);
        free (a);
        free (b);
    }

    /*  The tell again in the widest encodings (valid). */
    static const uint8_t wide[] = {
        0xdd, 0, 0, 0, 12,                   /* array 32 of 12 */
        0xcf, 0, 0, 0, 0, 0, 0, 0, 2,        /* version, uint 64 */
        0xd3, 0, 0, 0, 0, 0, 0, 0, 2,        /* kind, int 64 */
        0xce, 0, 0, 0, 3,                    /* to_index, uint 32 */
        0xd2, 0, 0, 0, 1,                    /* to_gen, int 32 */
        0xcf, 0, 0, 0, 0, 0x01, 0x23, 0x45, 0x67, /* to_inc, uint 64 */
        0xdb, 0, 0, 0, 5, 'a', 'l', 'p', 'h', 'a', /* str 32 */
        0xcd, 0, 5,                          /* from_index, uint 16 */
        0xd1, 0, 1,                          /* from_gen, int 16 */
        0xcf, 0, 0, 0, 0, 0, 0xd6, 0xec, 0xec, /* tag "ping", uint 64 */
        0xcc, 0,                             /* corr, uint 8 */
        0xd0, 0,                             /* flags, int 8 */
        0xc6, 0, 0, 0, 1, 0x2a};             /* body, bin 32 */
    s_write ("wide", wide, sizeof wide);

    /*  Broken frames, each for one reason (see tests/test_wire.c). The
        tell is 9c 02 02 03 01 ce 01 23 45 67 a5 "alpha" ... */
    uint8_t bad[256];
    len = tell_len;
    if (len >= sizeof bad || tell[0] != 0x9c || tell[5] != 0xce)
        return 1;
    s_write ("bad_truncated", tell, len / 2);
    memcpy (bad, tell, len);
    bad[len] = 0xc0;
    s_write ("bad_trailing", bad, len + 1);
    bad[1] = 3;
    s_write ("bad_version", bad, len);
    bad[1] = 2;
    bad[2] = TP__WIRE_KIND_MAX + 1;
    s_write ("bad_kind", bad, len);
    bad[2] = TP__WIRE_USER;
    memset (bad + 6, 0, 4); /* to_inc 0, as a uint 32 */
    s_write ("bad_no_inc", bad, len);
    free (tell);
    static const uint8_t bad_reserved[] = {
        0x9c, 2, 2, 0xce, 0xff, 0xff, 0xff, 0xff, 1, 0x2a, 0xa1, 'x', 5, 1,
        0x26, 0, 0, 0xc4, 0};
    s_write ("bad_reserved_index", bad_reserved, sizeof bad_reserved);
    static const uint8_t bad_node_dest[] = {
        0x9c, 2, TP__WIRE_HEARTBEAT, 3, 1, 0x2a, 0xa1, 'x', 0, 0, 0, 0, 0,
        0xc4, 0};
    s_write ("bad_node_dest", bad_node_dest, sizeof bad_node_dest);
    static const uint8_t bad_flags[] = {0x9c, 2, 2, 3, 1, 0x2a, 0xa1, 'x', 5,
                                        1, 0x26, 0, 4, 0xc4, 0};
    s_write ("bad_flags", bad_flags, sizeof bad_flags);
    static const uint8_t bad_name[] = {0x9c, 2, 2, 3, 1, 0x2a, 0xa3, 'a', ' ',
                                       'b', 5, 1, 0x26, 0, 0, 0xc4, 0};
    s_write ("bad_name", bad_name, sizeof bad_name);
    static const uint8_t bad_length[] = {0x9b, 2, 2, 3, 1, 0x2a, 0xa1, 'x', 5,
                                         1, 0x26, 0, 0};
    s_write ("bad_length", bad_length, sizeof bad_length);
    static const uint8_t bad_huge[] = {0x9c, 2, 2, 3, 1, 0x2a, 0xa1, 'x', 5,
                                       1, 0x26, 0, 0, 0xc6, 0xff, 0xff, 0xff,
                                       0xff, 0x2a};
    s_write ("bad_huge_body", bad_huge, sizeof bad_huge);
    /* version 1 frames (11 elements, no to_inc): the version 1 tell and
       HELLO of docs/PROTOCOL.md */
    static const uint8_t bad_v1_tell[] = {
        0x9b, 0x01, 0x02, 0x03, 0x01, 0xa5, 'a',  'l',  'p',  'h',  'a', 0x05,
        0x01, 0xce, 0x00, 0xd6, 0xec, 0xec, 0x00, 0x00, 0xc4, 0x01, 0x2a};
    s_write ("bad_v1_tell", bad_v1_tell, sizeof bad_v1_tell);
    static const uint8_t bad_v1_hello[] = {
        0x9b, 0x01, 0x01, 0x00, 0x00, 0xa4, 'b',  'e',  't',  'a',  0x00,
        0x00, 0x00, 0x00, 0x00, 0xc4, 0x12, 0x93, 0xa4, 'b',  'e',  't',
        'a',  0xcf, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0xcd,
        0x01, 0xf4};
    s_write ("bad_v1_hello", bad_v1_hello, sizeof bad_v1_hello);
    return 0;
}
