/*  core/wire.c: encode and decode node envelopes (see wire.h and
    docs/PROTOCOL.md).

    Both directions apply the same field rules (s_env_ok), so any frame
    that decodes re-encodes, and anything the encoder writes decodes.

    ENCODING drives msgpack-c's msgpack_packer over a fixed buffer for
    the head (everything before the body bytes; at most
    TP__WIRE_HEAD_MAX), so a sender can write head and body straight
    into a ZeroMQ message. msgpack-c packs every integer in its shortest
    form: the output is canonical.

    DECODING first looks at the array header and the first element by
    hand, so that a frame of another version is told apart (TP_ENOTSUP)
    whatever its shape; then tp_unpack_raw (core/pack.c) checks the
    whole envelope against "[uuuuusuuUUux]": exactly 12 elements, each of
    its type, every length within the frame, nothing after the array.
    Neither step allocates, and neither reads outside [frame, frame+len).
*/
#include "wire.h"

static const char *const s_kind_names[] = {
    "?",      "HELLO", "USER",   "MONITOR",      "DEMONITOR",
    "DOWN",   "LINK",  "UNLINK", "EXIT",         "STOP",
    "LOOKUP", "LOOKUP_REPLY",    "HEARTBEAT",    "DRAIN",
    "DRAIN_ACK", "BATCH"};

_Static_assert (sizeof (unsigned) == sizeof (uint32_t),
                "tp_unpack_raw's 'u' reads exactly the uint32 fields");
_Static_assert (sizeof s_kind_names / sizeof *s_kind_names
                    == TP__WIRE_KIND_MAX + 1,
                "one name per kind");

const char *
tp__wire_kind_name (uint32_t kind)
{
    return kind >= 1 && kind <= TP__WIRE_KIND_MAX ? s_kind_names[kind] : "?";
}

bool
tp__wire_node_name_ok (const char *name, size_t len)
{
    if (!name || len == 0 || len > TP_NODE_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) name[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z')
              || (c >= 'A' && c <= 'Z') || c == '_' || c == '.' || c == '-'))
            return false;
    }
    return true;
}

size_t
tp__wire_rid (const char *name, size_t len, uint32_t inc, char *out)
{
    static const char hex[] = "0123456789abcdef";
    if (len > TP_NODE_NAME_MAX)
        len = TP_NODE_NAME_MAX;
    memcpy (out, name, len);
    out[len] = '/';
    for (int i = 0; i < 8; i++)
        out[len + 1 + (size_t) i] = hex[(inc >> (28 - 4 * i)) & 15];
    return len + 9;
}

bool
tp__wire_rid_is (const char *rid, size_t len, const char *name,
                 size_t name_len, uint32_t inc)
{
    char want[TP__WIRE_RID_MAX];
    if (name_len > TP_NODE_NAME_MAX)
        return false;
    size_t n = tp__wire_rid (name, name_len, inc, want);
    return len == n && memcmp (rid, want, n) == 0;
}

bool
tp__wire_rid_ok (const char *rid, size_t len, size_t *name_len, uint32_t *inc)
{
    if (!rid || len < 10 || len > TP__WIRE_RID_MAX || rid[len - 9] != '/')
        return false;
    uint32_t v = 0;
    for (size_t i = len - 8; i < len; i++) {
        char c = rid[i];
        if (c >= '0' && c <= '9')
            v = (v << 4) | (uint32_t) (c - '0');
        else if (c >= 'a' && c <= 'f')
            v = (v << 4) | (uint32_t) (c - 'a' + 10);
        else
            return false;
    }
    if (!tp__wire_node_name_ok (rid, len - 9))
        return false;
    *name_len = len - 9;
    *inc = v;
    return true;
}

/*  Kinds addressed to the node itself rather than to one of its actors. */
static bool
s_to_node (uint32_t kind)
{
    return kind == TP__WIRE_HELLO || kind == TP__WIRE_LOOKUP
           || kind == TP__WIRE_HEARTBEAT || kind == TP__WIRE_DRAIN
           || kind == TP__WIRE_DRAIN_ACK || kind == TP__WIRE_BATCH;
}

/*  The field rules of a version 2 envelope, beyond msgpack types. */
static bool
s_env_ok (const tp__env *e)
{
    if (e->kind < 1 || e->kind > TP__WIRE_KIND_MAX)
        return false;
    if (!tp__wire_node_name_ok (e->from_node, e->from_node_len))
        return false;
    if (e->flags != 0 && e->flags != TP__WIRE_F_REQUEST
        && e->flags != TP__WIRE_F_REPLY)
        return false;
    if (e->kind == TP__WIRE_USER && e->tag == 0)
        return false;
    if (s_to_node (e->kind)) {
        if (e->to_index || e->to_gen)
            return false;
    }
    else if (e->to_inc == 0 || e->to_index == TP__WIRE_RESERVED_INDEX)
        return false; /* an actor is named with its node's incarnation */
    return true;
}

/* ------------------------------------------------------------------ */
/*  Encoding                                                           */

/*  A fixed output buffer for msgpack_packer (the envelope head). */
typedef struct {
    uint8_t *data;
    size_t size; /* bytes written */
    size_t cap;
} s_fbuf;

static int
s_fbuf_write (void *data, const char *buf, size_t len)
{
    s_fbuf *w = data;
    if (len > w->cap - w->size)
        return -1; /* cannot happen: TP__WIRE_HEAD_MAX bounds the head */
    memcpy (w->data + w->size, buf, len);
    w->size += len;
    return 0;
}

int
tp__wire_head (const tp__env *e, uint8_t *out, size_t *len)
{
    if (!e || !out || !len || !s_env_ok (e) || (!e->body && e->body_len))
        return TP_EINVAL;
    if (e->body_len > TP__WIRE_MAX_FRAME || e->body_len > TP_MSG_MAX_BODY)
        return TP_ETOOBIG;
    s_fbuf w = {out, 0, TP__WIRE_HEAD_MAX};
    msgpack_packer pk;
    msgpack_packer_init (&pk, &w, s_fbuf_write);
    msgpack_pack_array (&pk, 12);
    msgpack_pack_uint32 (&pk, TP__WIRE_VERSION);
    msgpack_pack_uint32 (&pk, e->kind);
    msgpack_pack_uint32 (&pk, e->to_index);
    msgpack_pack_uint32 (&pk, e->to_gen);
    msgpack_pack_uint32 (&pk, e->to_inc);
    msgpack_pack_str (&pk, e->from_node_len);
    msgpack_pack_str_body (&pk, e->from_node, e->from_node_len);
    msgpack_pack_uint32 (&pk, e->from_index);
    msgpack_pack_uint32 (&pk, e->from_gen);
    msgpack_pack_uint64 (&pk, e->tag);
    msgpack_pack_uint64 (&pk, e->corr);
    msgpack_pack_uint32 (&pk, e->flags);
    /* (a failed write leaves w.size short; the assert catches a head
       that TP__WIRE_HEAD_MAX does not bound) */
    msgpack_pack_bin (&pk, e->body_len);
    assert (w.size > 0 && w.size <= TP__WIRE_HEAD_MAX);
    if (w.size + e->body_len > TP__WIRE_MAX_FRAME)
        return TP_ETOOBIG;
    *len = w.size;
    return 0;
}

int
tp__wire_encode (const tp__env *e, uint8_t **buf, size_t *len)
{
    if (!buf || !len)
        return TP_EINVAL;
    uint8_t head[TP__WIRE_HEAD_MAX];
    size_t hlen;
    int rc = tp__wire_head (e, head, &hlen);
    if (rc)
        return rc;
    uint8_t *data = tp__malloc (hlen + e->body_len);
    memcpy (data, head, hlen);
    if (e->body_len)
        memcpy (data + hlen, e->body, e->body_len);
    *buf = data;
    *len = hlen + e->body_len;
    return 0;
}

int
tp__wire_batch_next (const uint8_t **p, size_t *left, const uint8_t **env,
                     size_t *env_len)
{
    if (*left == 0)
        return 1;
    const uint8_t *q = *p;
    size_t n;
    switch (q[0]) {
    case 0xc4: n = 1; break;
    case 0xc5: n = 2; break;
    case 0xc6: n = 4; break;
    default: return TP_EPROTO;
    }
    if (*left < 1 + n)
        return TP_EPROTO;
    uint64_t size = 0;
    for (size_t i = 0; i < n; i++)
        size = (size << 8) | q[1 + i];
    if (size == 0 || size > *left - 1 - n)
        return TP_EPROTO;
    *env = q + 1 + n;
    *env_len = (size_t) size;
    *p = q + 1 + n + size;
    *left -= 1 + n + size;
    return 0;
}

/* ------------------------------------------------------------------ */
/*  Decoding                                                           */

static uint64_t
s_get_be (const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

/*  Reads the head of a frame: an array header of any width with at least
    one element, then a nonnegative integer in any encoding. Sets
    *version to that integer. Returns 0 or TP_EPROTO. */
static int
s_peek_version (const uint8_t *p, size_t len, uint64_t *version)
{
    const uint8_t *end = p + len;
    size_t n;
    uint64_t count = 0;
    if (len == 0)
        return TP_EPROTO;
    if (*p >= 0x90 && *p <= 0x9f) {
        count = *p & 0x0f;
        n = 0;
    }
    else if (*p == 0xdc || *p == 0xdd)
        n = *p == 0xdc ? 2 : 4;
    else
        return TP_EPROTO;
    p++;
    if ((size_t) (end - p) < n)
        return TP_EPROTO;
    if (n) {
        count = s_get_be (p, n);
        p += n;
    }
    if (count == 0 || p == end)
        return TP_EPROTO;
    uint8_t c = *p++;
    if (c <= 0x7f) {
        *version = c;
        return 0;
    }
    if (c >= 0xcc && c <= 0xd3) { /* uint 8..64, int 8..64 */
        bool sign = c >= 0xd0;
        n = (size_t) 1 << (sign ? c - 0xd0 : c - 0xcc);
        if ((size_t) (end - p) < n)
            return TP_EPROTO;
        uint64_t v = s_get_be (p, n);
        if (sign && (v >> (8 * n - 1)) & 1)
            return TP_EPROTO; /* negative: not a version */
        *version = v;
        return 0;
    }
    return TP_EPROTO;
}

int
tp__wire_decode (const void *frame, size_t len, tp__env *out)
{
    if (!out || (!frame && len))
        return TP_EPROTO;
    if (len > TP__WIRE_MAX_FRAME)
        return TP_ETOOBIG;
    uint64_t version;
    if (s_peek_version (frame, len, &version) != 0)
        return TP_EPROTO;
    if (version != TP__WIRE_VERSION)
        return TP_ENOTSUP;

    unsigned ver, kind, to_index, to_gen, to_inc, from_index, from_gen, flags;
    const char *node;
    const void *body;
    size_t node_len, body_len;
    uint64_t tag, corr;
    if (tp_unpack_raw (frame, len, "[uuuuusuuUUux]", &ver, &kind, &to_index,
                       &to_gen, &to_inc, &node, &node_len, &from_index,
                       &from_gen, &tag, &corr, &flags, &body, &body_len)
        != 0)
        return TP_EPROTO;
    tp__env e = {
        .kind = kind,
        .to_index = to_index,
        .to_gen = to_gen,
        .to_inc = to_inc,
        .from_node = node,
        .from_node_len = node_len,
        .from_index = from_index,
        .from_gen = from_gen,
        .tag = tag,
        .corr = corr,
        .flags = flags,
        .body = body,
        .body_len = body_len,
    };
    if (!s_env_ok (&e))
        return TP_EPROTO;
    *out = e;
    return 0;
}

int
tp__wire_hello (const tp__env *e, const char *rid, size_t rid_len,
                tp__hello *h)
{
    unsigned inc = 0, hb = 0, seen = 0, lost = 0;
    memset (h, 0, sizeof *h);
    if ((tp_unpack_raw (e->body, e->body_len, "[suuu]", &h->name,
                        &h->name_len, &inc, &hb, &seen)
             != 0
         && tp_unpack_raw (e->body, e->body_len, "[suuuu]", &h->name,
                           &h->name_len, &inc, &hb, &seen, &lost)
                != 0)
        || inc == 0 || h->name_len != e->from_node_len
        || memcmp (h->name, e->from_node, h->name_len) != 0
        || (rid && !tp__wire_rid_is (rid, rid_len, h->name, h->name_len, inc)))
        return TP_EPROTO;
    h->inc = inc;
    h->heartbeat_ms = hb;
    h->seen = seen;
    h->lost = lost;
    return 0;
}
