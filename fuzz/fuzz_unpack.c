/*  fuzz/fuzz_unpack.c: libFuzzer target for the msgpack reader.

    Feeds arbitrary bytes, as a message body from the network would be,
    to tp_unpack_raw with several formats, to tp_msg_validate and to
    tp_msg_format, and checks that they agree with each other. Any crash,
    sanitizer report or abort() here is a bug.

    Build and run (from the top of the tree):
        clang -g -O1 -fsanitize=fuzzer,address,undefined -Icore \
            core/alloc.c core/error.c core/ref.c core/msg.c core/pack.c \
            fuzz/fuzz_unpack.c -o fuzz_unpack \
            $(pkg-config --cflags --libs libzmq msgpack)
        ./fuzz_unpack -max_total_time=60 fuzz/corpus/unpack
*/
#include "private.h"

#define S_CHECK(cond)                                                         \
    do {                                                                      \
        if (!(cond)) {                                                        \
            fprintf (stderr, "fuzz_unpack: check failed: %s\n", #cond);       \
            abort ();                                                         \
        }                                                                     \
    } while (0)

static bool
s_is_code (int rc)
{
    return rc == 0 || rc == TP_EMISMATCH || rc == TP_EPROTO
           || rc == TP_ETRUNC;
}

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    int i;
    int64_t I;
    unsigned u;
    uint64_t U;
    double d;
    bool b;
    const char *s;
    const void *x;
    size_t len, xlen;
    tp_ref r;
    char buf[8];

    /*  Every format char, flat, nested and optional. */
    S_CHECK (s_is_code (tp_unpack_raw (data, size, "i?sd", &i, &s, &len, &d)));
    S_CHECK (s_is_code (tp_unpack_raw (data, size, "t[iu]{s:*}?", &U, &i, &u,
                                       &s, &len)));
    S_CHECK (s_is_code (tp_unpack_raw (data, size, "IUbnx", &I, &U, &b, &x,
                                       &xlen)));
    S_CHECK (s_is_code (tp_unpack_raw (data, size, "r?S", &r, buf,
                                       sizeof buf)));
    S_CHECK (s_is_code (tp_unpack_raw (data, size, "[*[*]{**}]", NULL)));
    S_CHECK (s_is_code (tp_unpack_raw (data, size, "?dddd", &d, &d, &d, &d)));

    tp_msg *msg = tp_msg_new_raw (tp_tag ("fuzz"), data, size);
    S_CHECK (msg);
    int n = tp_msg_validate (msg);
    S_CHECK (n >= 0 || n == TP_EPROTO);

    /*  validate and unpack agree: n values are exactly n '*'s. */
    if (n >= 0 && n < 64) {
        char fmt[65];
        memset (fmt, '*', (size_t) n);
        fmt[n] = '\0';
        S_CHECK (tp_msg_unpack (msg, fmt) == 0);
        S_CHECK (tp_msg_unpack (msg, n ? fmt + 1 : "*") == TP_EMISMATCH);
    }
    if (n < 0)
        S_CHECK (tp_msg_unpack (msg, "*") != 0);

    char text[200];
    size_t tlen = tp_msg_format (msg, text, sizeof text);
    S_CHECK (tlen < sizeof text && strlen (text) == tlen);
    S_CHECK ((n < 0) == (strcmp (text, "fuzz(<malformed>)") == 0));

    /*  A copy reads the same. */
    tp_msg *copy = tp_msg_dup (msg);
    S_CHECK (tp_msg_validate (copy) == n);
    tp_msg_destroy (&copy);
    tp_msg_destroy (&msg);
    return 0;
}
