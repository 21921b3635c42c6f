/*  tests/fuzz/fuzz_hello.c: libFuzzer target for the greeting path.

    The first frame a peer sends is a HELLO (docs/PROTOCOL.md section 10):
    the bytes go to tp__wire_decode and, as the gateway does, a HELLO's
    body to tp__wire_hello, with a routing id made from the input too.
    Whatever the bytes: no crash, no sanitizer report; an accepted HELLO
    names the envelope's from_node with a nonzero incarnation, its name
    points inside the input, and its routing id, when given, is the
    canonical name/incarnation. Seeds: tests/fuzz/corpus/hello (greetings
    with and without `lost`, and broken ones). Replayed in make check by
    tests/test_seeds.c.
*/
#include "wire.h"

#define S_CHECK(cond)                                                         \
    do {                                                                      \
        if (!(cond)) {                                                        \
            fprintf (stderr, "fuzz_hello: check failed: %s\n", #cond);        \
            abort ();                                                         \
        }                                                                     \
    } while (0)

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    tp__env e;
    if (tp__wire_decode (data, size, &e) != 0 || e.kind != TP__WIRE_HELLO)
        return 0;
    tp__hello h;
    /* without a routing id (a DEALER's view), then with the one the bytes
       would give if they were that peer's */
    if (tp__wire_hello (&e, NULL, 0, &h) == 0) {
        S_CHECK (h.inc != 0);
        S_CHECK (h.name_len == e.from_node_len
                 && memcmp (h.name, e.from_node, h.name_len) == 0);
        S_CHECK ((const uint8_t *) h.name >= data
                 && (const uint8_t *) h.name + h.name_len <= data + size);
        char rid[TP__WIRE_RID_MAX];
        size_t rl = tp__wire_rid (h.name, h.name_len, h.inc, rid);
        S_CHECK (tp__wire_hello (&e, rid, rl, &h) == 0);
        if (rl > 1) /* a routing id one byte short names another peer */
            S_CHECK (tp__wire_hello (&e, rid, rl - 1, &h) != 0);
    }
    return 0;
}
