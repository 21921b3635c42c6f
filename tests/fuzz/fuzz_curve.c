/*  tests/fuzz/fuzz_curve.c: libFuzzer target for troupe's CURVE-side
    input (core/zap.c). libzmq runs the CurveZMQ handshake; what reaches
    troupe's code from the peer is the ZAP request libzmq makes of it (the
    peer's address and public key among its frames), and from files and
    options the text of keys. The input is read as ZAP frames, each a
    length byte then that many bytes (at most 8 frames), decided against
    an allow-list of two keys (32 zero bytes and 32 0xff: reachable by a
    fuzzer), and the whole input is also read as a key's text.

    Checks, whatever the bytes: a request is admitted only with exactly 7
    frames, version 1.0, mechanism CURVE and an allowed 32-byte key; the
    address is printable and NUL-terminated; a key text accepted decodes
    to bytes that encode back to the same text. Seeds:
    tests/fuzz/corpus/curve. Replayed in make check by tests/test_seeds.c. */
#include "private.h"

#define S_CHECK(cond)                                                         \
    do {                                                                      \
        if (!(cond)) {                                                        \
            fprintf (stderr, "fuzz_curve: check failed: %s\n", #cond);        \
            abort ();                                                         \
        }                                                                     \
    } while (0)

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    static const uint8_t allow[2][32] = {
        {0},
        {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
         0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
         0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};
    tp__zap_frame f[8];
    int n = 0;
    size_t at = 0;
    while (at < size && n < 8) {
        size_t len = data[at++];
        if (len > size - at)
            len = size - at;
        f[n].data = data + at;
        f[n].size = len;
        n++;
        at += len;
    }
    tp__zap_verdict v;
    tp__zap_decide (f, n, allow, 2, &v);
    S_CHECK (memchr (v.addr, '\0', sizeof v.addr) != NULL);
    for (const char *c = v.addr; *c; c++)
        S_CHECK (*c >= 0x20 && *c < 0x7f);
    S_CHECK (strlen (v.key) == 40 || strcmp (v.key, "?") == 0);
    if (v.ok) {
        S_CHECK (n == 7);
        S_CHECK (f[0].size == 3 && memcmp (f[0].data, "1.0", 3) == 0);
        S_CHECK (f[5].size == 5 && memcmp (f[5].data, "CURVE", 5) == 0);
        S_CHECK (f[6].size == 32
                 && (memcmp (f[6].data, allow[0], 32) == 0
                     || memcmp (f[6].data, allow[1], 32) == 0));
    }
    /* (an allowed key in a well-formed request is always admitted) */
    if (n == 7 && f[0].size == 3 && !memcmp (f[0].data, "1.0", 3)
        && f[5].size == 5 && !memcmp (f[5].data, "CURVE", 5)
        && f[6].size == 32 && !memcmp (f[6].data, allow[0], 32))
        S_CHECK (v.ok);

    char z85[41];
    uint8_t bin[32];
    if (tp__key_parse ((const char *) data, size, z85, bin) == 0) {
        S_CHECK (strlen (z85) == 40 && memcmp (z85, data, 40) == 0);
        char back[41];
        S_CHECK (zmq_z85_encode (back, bin, 32) != NULL);
        S_CHECK (strcmp (back, z85) == 0);
    }
    return 0;
}
