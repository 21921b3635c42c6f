/*  fuzz/gen_wire_corpus.c: writes the seed corpus of fuzz_wire.

    One valid frame of each kind, with the body that kind carries in
    docs/PROTOCOL.md, made by the encoder itself; a frame in wide
    encodings; and a few broken frames (each rejected for one reason).
    Rebuild with `make fuzz-corpus`, or:
        gcc -std=c11 -Icore core/alloc.c core/error.c core/ref.c \
            core/msg.c core/pack.c core/wire.c fuzz/gen_wire_corpus.c \
            -o gen_wire_corpus $(pkg-config --cflags --libs libzmq msgpack)
        ./gen_wire_corpus fuzz/corpus/wire
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

/*  Writes the frame of kind with the given fields and a body packed from
    fmt (NULL: empty body); returns the frame (caller frees). */
static uint8_t *
s_frame (const char *name, uint32_t kind, tp_ref to, tp_ref from,
         tp_tag_t tag, uint64_t corr, uint32_t flags, size_t *len,
         const char *fmt, ...)
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
    const tp_ref alice = {tp_node_id ("alpha"), 5, 1};
    const tp_ref bob = {tp_node_id ("beta"), 3, 1};
    const tp_tag_t sys = tp_tag ("_sys");
    const tp_tag_t ping = tp_tag ("ping");
    size_t len;
    free (s_frame ("hello", TP__WIRE_HELLO, node, node, 0, 0, 0, &len,
                   "[sUu]", "alpha", (uint64_t) 0x0123456789abcdefull, 500u));
    uint8_t *tell = s_frame ("user_tell", TP__WIRE_USER, bob, alice, ping, 0,
                             0, &len, "i s", 42, "x");
    free (s_frame ("user_ask", TP__WIRE_USER, bob, alice, tp_tag ("add"), 7,
                   TP__WIRE_F_REQUEST, &len, "[i i]", 1, 2));
    free (s_frame ("user_reply", TP__WIRE_USER, alice, bob, tp_tag ("sum"), 7,
                   TP__WIRE_F_REPLY, &len, "i", 3));
    free (s_frame ("monitor", TP__WIRE_MONITOR, bob, alice, sys, 1, 0, &len,
                   NULL));
    free (s_frame ("demonitor", TP__WIRE_DEMONITOR, bob, alice, sys, 1, 0,
                   &len, NULL));
    free (s_frame ("down", TP__WIRE_DOWN, alice, bob, sys, 1, 0, &len, "r t",
                   bob, tp_tag ("noproc")));
    free (s_frame ("link", TP__WIRE_LINK, bob, alice, sys, 0, 0, &len, NULL));
    free (s_frame ("unlink", TP__WIRE_UNLINK, bob, alice, sys, 0, 0, &len,
                   NULL));
    free (s_frame ("exit", TP__WIRE_EXIT, alice, bob, sys, 0, 0, &len, "t",
                   tp_tag ("killed")));
    free (s_frame ("stop", TP__WIRE_STOP, bob, node, sys, 0, 0, &len, "t",
                   tp_tag ("shutdown")));
    free (s_frame ("lookup", TP__WIRE_LOOKUP, node, alice, sys, 9, 0, &len,
                   "s", "logger"));
    free (s_frame ("lookup_reply", TP__WIRE_LOOKUP_REPLY, alice, node, 0, 9,
                   TP__WIRE_F_REPLY, &len, "r", bob));
    free (s_frame ("lookup_reply_nil", TP__WIRE_LOOKUP_REPLY, alice, node, 0,
                   9, TP__WIRE_F_REPLY, &len, "r", TP_REF_NIL));
    free (s_frame ("heartbeat", TP__WIRE_HEARTBEAT, node, node, 0, 0, 0, &len,
                   NULL));
    free (s_frame ("drain", TP__WIRE_DRAIN, node, node, 0, 0, 0, &len, NULL));
    free (s_frame ("drain_ack", TP__WIRE_DRAIN_ACK, node, node, 0, 0, 0, &len,
                   NULL));

    /*  A BATCH of two items (a tell, then an exit), bin 8 and bin 32. */
    {
        size_t l1, l2;
        uint8_t *a = s_frame ("batch_item_tell", TP__WIRE_USER, bob, alice,
                              ping, 0, 0, &l1, "i", 1);
        uint8_t *b = s_frame ("batch_item_exit", TP__WIRE_EXIT, alice, bob, 0,
                              0, 0, &l2, "t", tp_tag ("normal"));
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
        tp__env e = {.kind = TP__WIRE_BATCH, .from_node = "alpha",
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
        0xdd, 0, 0, 0, 11, 0xcf, 0, 0, 0, 0, 0, 0, 0, 1, 0xd3, 0, 0, 0, 0, 0,
        0, 0, 2, 0xce, 0, 0, 0, 3, 0xd2, 0, 0, 0, 1, 0xdb, 0, 0, 0, 5, 'a',
        'l', 'p', 'h', 'a', 0xcd, 0, 5, 0xd1, 0, 1, 0xcf, 0, 0, 0, 0, 0, 0xd6,
        0xec, 0xec, 0xcc, 0, 0xd0, 0, 0xc6, 0, 0, 0, 1, 0x2a};
    s_write ("wide", wide, sizeof wide);

    /*  Broken frames, each for one reason (see tests/test_wire.c). */
    uint8_t bad[256];
    if (len > sizeof bad)
        return 1;
    s_write ("bad_truncated", tell, len / 2);
    memcpy (bad, tell, len);
    bad[len] = 0xc0;
    s_write ("bad_trailing", bad, len + 1);
    bad[1] = 2;
    s_write ("bad_version", bad, len);
    bad[1] = 1;
    bad[2] = 15;
    s_write ("bad_kind", bad, len);
    free (tell);
    static const uint8_t bad_flags[] = {0x9b, 1, 2, 3, 1, 0xa1, 'x', 5, 1,
                                        0x26, 0, 4, 0xc4, 0};
    s_write ("bad_flags", bad_flags, sizeof bad_flags);
    static const uint8_t bad_name[] = {0x9b, 1, 2, 3, 1, 0xa3, 'a', ' ', 'b',
                                       5, 1, 0x26, 0, 0, 0xc4, 0};
    s_write ("bad_name", bad_name, sizeof bad_name);
    static const uint8_t bad_length[] = {0x9a, 1, 2, 3, 1, 0xa1, 'x', 5, 1,
                                         0x26, 0, 0};
    s_write ("bad_length", bad_length, sizeof bad_length);
    static const uint8_t bad_huge[] = {0x9b, 1, 2, 3, 1, 0xa1, 'x', 5, 1,
                                       0x26, 0, 0, 0xc6, 0xff, 0xff, 0xff,
                                       0xff, 0x2a};
    s_write ("bad_huge_body", bad_huge, sizeof bad_huge);
    return 0;
}
