/*  tests/fuzz/fuzz_wire.c: libFuzzer target for the node envelope codec.

    Arbitrary bytes, as a frame from the network would be, go to
    tp__wire_decode, which must return 0 or one of its error codes. A
    frame that decodes must:
      - have its borrowed pointers inside the input;
      - obey the version 2 address rules: node-level kinds have to_index
        = to_gen = 0, actor-level kinds a nonzero to_inc and a to_index
        other than TP__WIRE_RESERVED_INDEX;
      - encode again (the encoder accepts whatever the decoder accepts),
        into no more bytes than the input (the encoding is the shortest);
      - decode from that encoding to the same fields;
      - encode from those fields to the same bytes (canonical), which
        begin with a 12-element array and version 2.
    Any crash, sanitizer report or abort() is a bug.

    Build and run: make fuzz   (see tests/fuzz/fuzz.mk; seeds in tests/fuzz/corpus/wire,
    written by tests/fuzz/gen_wire_corpus.c)
*/
#include "wire.h"

#define S_CHECK(cond)                                                         \
    do {                                                                      \
        if (!(cond)) {                                                        \
            fprintf (stderr, "fuzz_wire: check failed: %s\n", #cond);         \
            abort ();                                                         \
        }                                                                     \
    } while (0)

static bool
s_same (const tp__env *a, const tp__env *b)
{
    return a->kind == b->kind && a->to_index == b->to_index
           && a->to_gen == b->to_gen && a->to_inc == b->to_inc
           && a->from_index == b->from_index
           && a->from_gen == b->from_gen && a->tag == b->tag
           && a->corr == b->corr && a->flags == b->flags
           && a->from_node_len == b->from_node_len
           && memcmp (a->from_node, b->from_node, a->from_node_len) == 0
           && a->body_len == b->body_len
           && (a->body_len == 0 || memcmp (a->body, b->body, a->body_len) == 0);
}

static bool
s_node_kind (uint32_t kind)
{
    return kind == TP__WIRE_HELLO || kind == TP__WIRE_LOOKUP
           || kind == TP__WIRE_HEARTBEAT || kind == TP__WIRE_DRAIN
           || kind == TP__WIRE_DRAIN_ACK || kind == TP__WIRE_BATCH;
}

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    tp__env e, d;
    /* the bytes as a routing id: accepted only in canonical form */
    size_t nl;
    uint32_t inc;
    if (tp__wire_rid_ok ((const char *) data, size, &nl, &inc)) {
        char rid[TP__WIRE_RID_MAX];
        S_CHECK (tp__wire_rid ((const char *) data, nl, inc, rid) == size);
        S_CHECK (memcmp (rid, data, size) == 0);
        S_CHECK (tp__wire_rid_is ((const char *) data, size,
                                  (const char *) data, nl, inc));
    }
    int rc = tp__wire_decode (data, size, &e);
    if (rc != 0) {
        S_CHECK (rc == TP_EPROTO || rc == TP_ENOTSUP || rc == TP_ETOOBIG);
        return 0;
    }
    const uint8_t *end = data + size;
    S_CHECK ((const uint8_t *) e.from_node > data
             && (const uint8_t *) e.from_node + e.from_node_len <= end);
    S_CHECK (e.body >= data && e.body + e.body_len <= end);
    S_CHECK (e.kind >= 1 && e.kind <= TP__WIRE_KIND_MAX);
    S_CHECK (strcmp (tp__wire_kind_name (e.kind), "?") != 0);
    if (s_node_kind (e.kind))
        S_CHECK (e.to_index == 0 && e.to_gen == 0);
    else
        S_CHECK (e.to_inc != 0 && e.to_index != TP__WIRE_RESERVED_INDEX);

    uint8_t *buf, *again;
    size_t len, again_len;
    S_CHECK (tp__wire_encode (&e, &buf, &len) == 0);
    S_CHECK (len <= size);
    S_CHECK (len >= 2 && buf[0] == 0x9c && buf[1] == TP__WIRE_VERSION);
    uint8_t head[TP__WIRE_HEAD_MAX];
    size_t hlen;
    S_CHECK (tp__wire_head (&e, head, &hlen) == 0);
    S_CHECK (hlen + e.body_len == len && memcmp (head, buf, hlen) == 0);
    S_CHECK (tp__wire_decode (buf, len, &d) == 0);
    S_CHECK (s_same (&e, &d));
    S_CHECK (tp__wire_encode (&d, &again, &again_len) == 0);
    S_CHECK (again_len == len && memcmp (again, buf, len) == 0);
    free (again);
    free (buf);

    if (e.kind == TP__WIRE_BATCH) {
        /* walk the items as the gateway does: every item stays inside the
           body, and the walk ends (at the end or on the first bad item) */
        const uint8_t *p = e.body, *env;
        size_t left = e.body_len, elen;
        for (;;) {
            const uint8_t *before = p;
            int r = tp__wire_batch_next (&p, &left, &env, &elen);
            if (r != 0) {
                S_CHECK (r == 1 || (r == TP_EPROTO && p == before));
                break;
            }
            S_CHECK (env > before && env + elen <= e.body + e.body_len);
            S_CHECK (p == env + elen && elen > 0);
            r = tp__wire_decode (env, elen, &d);
            S_CHECK (r == 0 || r == TP_EPROTO || r == TP_ENOTSUP
                     || r == TP_ETOOBIG);
        }
    }
    return 0;
}
