/*  fuzz/fuzz_wire.c: libFuzzer target for the node envelope decoder.

    Arbitrary bytes, as a frame from the network would be, go to
    tp__wire_decode; a frame that decodes is encoded again and must decode
    to the same fields. Any crash, sanitizer report or abort() is a bug.

    Build and run: make fuzz   (or see fuzz/fuzz.mk)
*/
#include "wire.h"

#define S_CHECK(cond)                                                         \
    do {                                                                      \
        if (!(cond)) {                                                        \
            fprintf (stderr, "fuzz_wire: check failed: %s\n", #cond);         \
            abort ();                                                         \
        }                                                                     \
    } while (0)

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    tp__env e, d;
    if (tp__wire_decode (data, size, &e) != 0)
        return 0;
    uint8_t *buf;
    size_t len;
    S_CHECK (tp__wire_encode (&e, &buf, &len) == 0);
    S_CHECK (tp__wire_decode (buf, len, &d) == 0);
    S_CHECK (d.kind == e.kind && d.to_index == e.to_index
             && d.to_gen == e.to_gen && d.from_index == e.from_index
             && d.from_gen == e.from_gen && d.tag == e.tag && d.corr == e.corr
             && d.flags == e.flags && d.body_len == e.body_len
             && d.from_node_len == e.from_node_len);
    S_CHECK (memcmp (d.from_node, e.from_node, d.from_node_len) == 0);
    S_CHECK (d.body_len == 0 || memcmp (d.body, e.body, d.body_len) == 0);
    free (buf);
    return 0;
}
