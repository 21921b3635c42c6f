/*  tests/fuzz/gen_corpus.c: writes the seed corpus of fuzz_unpack.

    Seeds are bodies made by the packer itself plus a few hand-made
    byte strings for encodings the packer never writes. Refs are ext
    type 1 of 12 bytes (index, gen, incarnation, all u32 big-endian) and
    the node name. Rebuild with:
        gcc -std=c11 -Icore core/alloc.c core/error.c core/ref.c \
            core/msg.c core/pack.c tests/fuzz/gen_corpus.c -o gen_corpus \
            $(pkg-config --cflags --libs libzmq msgpack)
        ./gen_corpus tests/fuzz/corpus/unpack
*/
#include "private.h"

static const char *s_dir;

static void
s_write (const char *name, const void *data, size_t size)
{
    char path[512];
    snprintf (path, sizeof path, "%s/%s", s_dir, name);
    FILE *f = fopen (path, "wb");
    if (!f || fwrite (data, 1, size, f) != size || fclose (f)) {
        perror (path);
        exit (1);
    }
}

static void
s_write_msg (const char *name, tp_msg *msg)
{
    if (!msg) {
        fprintf (stderr, "gen_corpus: %s: pack failed\n", name);
        exit (1);
    }
    s_write (name, tp_msg_body (msg), tp_msg_size (msg));
    tp_msg_destroy (&msg);
}

int
main (int argc, char **argv)
{
    if (argc != 2) {
        fprintf (stderr, "usage: gen_corpus DIR\n");
        return 2;
    }
    s_dir = argv[1];
    tp_tag_t tag = tp_tag ("seed");
    tp_ref ref = {tp_node_id ("nonode"), 3, 1};
    tp_ref inc_ref, far_ref;
    if (tp_ref_parse ("nonode/3.1:9f86d081", &inc_ref)
        || tp_ref_parse ("far-away.node_1/4294967295.2:ffffffff", &far_ref)) {
        fprintf (stderr, "gen_corpus: tp_ref_parse failed\n");
        return 1;
    }
    uint8_t bin[40];
    for (size_t i = 0; i < sizeof bin; i++)
        bin[i] = (uint8_t) i;

    s_write_msg ("ints", tp_msg_new (tag, "i i I U u", 42, -1, INT64_MIN,
                                     UINT64_MAX, 300u));
    s_write_msg ("string_double", tp_msg_new (tag, "sd", "hello", 0.5));
    s_write_msg ("nested", tp_msg_new (tag, "[i{s:[bn]}x]", 1, "k", 1, bin,
                                       (size_t) 4));
    s_write_msg ("ref_tag", tp_msg_new (tag, "r t r", ref, tp_tag ("normal"),
                                        TP_REF_NIL));
    s_write_msg ("refs", tp_msg_new (tag, "r r [r r] {s:r} r", inc_ref,
                                     far_ref, ref, inc_ref, "k", far_ref,
                                     TP_REF_NIL));
    s_write_msg ("map", tp_msg_new (tag, "{s:i s:s s:d}", "a", 1, "b", "c",
                                    "d", 2.5));
    s_write_msg ("long_str", tp_msg_new (tag, "sx",
                                         "a string longer than thirty-one "
                                         "bytes, so str 8",
                                         bin, sizeof bin));

    /*  Encodings the packer never writes. */
    const uint8_t float32[] = {0xca, 0x3f, 0xc0, 0x00, 0x00};
    const uint8_t ext_types[] = {0xd4, 0x05, 0x00, 0xd8, 0x07, 1, 2, 3, 4,
                                 5,    6,    7,    8,    9,    10, 11, 12,
                                 13,   14,   15,   16,   0xc8, 0,    2, 9,
                                 1,    2};
    const uint8_t wide_heads[] = {0xdc, 0, 2,    0x01, 0x02, 0xde, 0, 1,
                                  0xa1, 'k', 0xc0, 0xda, 0, 1, 'z'};
    const uint8_t deep[] = {0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91,
                            0x90};
    const uint8_t truncated[] = {0x93, 0x01, 0xcd, 0x01};
    const uint8_t reserved[] = {0x01, 0xc1};
    s_write ("float32", float32, sizeof float32);
    s_write ("ext_types", ext_types, sizeof ext_types);
    s_write ("wide_heads", wide_heads, sizeof wide_heads);
    s_write ("deep", deep, sizeof deep);
    s_write ("truncated", truncated, sizeof truncated);
    s_write ("reserved", reserved, sizeof reserved);
    /*  Ref payloads that are malformed: the version 1 8-byte head, a nil
        ref with an incarnation, a bad name character. */
    const uint8_t bad_refs[] = {
        0xd7, 1, 0, 0, 0, 3, 0, 0, 0, 1,                      /* v1 head */
        0xc7, 10, 1, 0, 0, 0, 3, 0, 0, 0, 1, 'n', '1',        /* v1 ref */
        0xc7, 12, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,      /* nil + inc */
        0xc7, 13, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, '/'}; /* name */
    s_write ("bad_refs", bad_refs, sizeof bad_refs);
    return 0;
}
