/*  tests/fuzz/fuzz_unpack.c: libFuzzer target for the msgpack reader.

    Feeds arbitrary bytes, as a message body from the network would be,
    to tp_unpack_raw with several formats, to tp_msg_validate and to
    tp_msg_format, and checks that they agree with each other. Any crash,
    sanitizer report or abort() here is a bug.

    Refs are also treated as values a user would route: each top-level
    value that unpacks as a ref (ext type 1: index, gen, incarnation,
    node name) is printed with tp_ref_format and parsed back with
    tp_ref_parse, which must give the same ref while its node id is live
    (and fail on the "?/index.gen" of a reclaimed one); packed again it
    unpacks to the same ref, and tp_msg_format prints it as
    tp_ref_format does. Names interned from the inputs fill the node
    table over a run, so its reclaiming is fuzzed too.

    Build and run (from the top of the tree):
        clang -g -O1 -fsanitize=fuzzer,address,undefined -Icore \
            core/alloc.c core/error.c core/ref.c core/msg.c core/pack.c \
            tests/fuzz/fuzz_unpack.c -o fuzz_unpack \
            $(pkg-config --cflags --libs libzmq msgpack)
        ./fuzz_unpack -max_total_time=60 tests/fuzz/corpus/unpack
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

/*  r came out of a body: its text form, packed form and printed form
    agree. */
static void
s_check_ref (tp_ref r)
{
    char text[TP_REF_STRLEN];
    int n = tp_ref_format (r, text, sizeof text);
    S_CHECK (n > 0 && (size_t) n < sizeof text && strlen (text) == (size_t) n);
    tp_ref back = {7, 7, 7};
    if (tp_ref_is_nil (r)) {
        S_CHECK (strcmp (text, "nil") == 0);
        S_CHECK (tp_ref_parse (text, &back) == 0 && tp_ref_is_nil (back));
        return;
    }
    S_CHECK (r.gen != 0);
    if (!tp_node_name (r.node)) {
        /* reclaimed since it was unpacked: printed without a name */
        S_CHECK (text[0] == '?' && text[1] == '/');
        S_CHECK (tp_ref_parse (text, &back) == TP_EINVAL);
        return;
    }
    uint32_t inc = tp_node_incarnation (r.node);
    S_CHECK ((strchr (text, ':') != NULL) == (inc != 0));
    S_CHECK (tp_ref_parse (text, &back) == 0);
    S_CHECK (tp_ref_eq (back, r));
    S_CHECK (tp_node_incarnation (back.node) == inc);

    /* packed again, it unpacks to the same ref, and prints as above */
    tp_msg *m = tp_msg_new (tp_tag ("r"), "r", r);
    S_CHECK (m);
    tp_ref again;
    S_CHECK (tp_msg_unpack (m, "r", &again) == 0 && tp_ref_eq (again, r));
    char shown[TP_REF_STRLEN + 8];
    size_t len = tp_msg_format (m, shown, sizeof shown);
    S_CHECK (len == (size_t) n + 3 && memcmp (shown, "r(", 2) == 0
             && memcmp (shown + 2, text, (size_t) n) == 0
             && shown[n + 2] == ')');
    tp_msg_destroy (&m);
}

/*  Unpacks each of the first n (< 64) top-level values as a ref, skipping
    the others, and checks every one that is a ref. */
static void
s_check_refs (const uint8_t *data, size_t size, int n)
{
    char fmt[65];
    for (int k = 0; k < n; k++) {
        memset (fmt, '*', (size_t) n);
        fmt[k] = 'r';
        fmt[n] = '\0';
        tp_ref r;
        int rc = tp_unpack_raw (data, size, fmt, &r);
        S_CHECK (rc == 0 || rc == TP_EMISMATCH || rc == TP_EPROTO);
        if (rc == 0)
            s_check_ref (r);
    }
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
    if (n > 0 && n < 64)
        s_check_refs (data, size, n);

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
