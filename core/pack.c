/*  core/pack.c: the format-string engine (see the table in msg.h).

    PACKING drives msgpack-c's msgpack_packer, whose write callback
    appends to the message body. A pack is atomic: on any error the body
    size goes back to what it was before the call.

    UNPACKING never builds a msgpack_object tree. A small cursor reader
    (s_rd, s_read) decodes one value header at a time straight from the
    body bytes, checking every length against the bytes that are left,
    so that a tag plus a small body unpacks with no allocation, and no
    input, however broken, makes it read out of bounds or abort. Arrays
    and maps may nest at most S_MAX_DEPTH deep.

    Format strings: '[' and '{' find their element count by scanning
    ahead to the matching bracket (a nested bracket counts as one
    element; in '{' pairs are elements / 2). '?' is allowed once, at the
    top level. A malformed format always gives TP_EINVAL, whatever the
    body holds: when a call fails for another reason, the whole format is
    checked before the error is returned.
*/
#include "private.h"

#include <limits.h>
#include <math.h>

#define S_MAX_DEPTH 64 /* deepest array/map nesting accepted */

/* ------------------------------------------------------------------ */
/*  Format strings                                                     */

/*  Format characters by class: 1 a value, 2 '*' (a value when
    unpacking), 3 ignored; 0 anything else (brackets, '?', junk). */
static const uint8_t s_fmt_class[256] = {
    ['n'] = 1, ['b'] = 1, ['i'] = 1, ['I'] = 1, ['u'] = 1, ['U'] = 1,
    ['d'] = 1, ['s'] = 1, ['S'] = 1, ['x'] = 1, ['r'] = 1, ['t'] = 1,
    ['*'] = 2, [' '] = 3, [','] = 3, [':'] = 3, ['\t'] = 3, ['\n'] = 3,
};

/*  Returns true for the format characters that are ignored. */
static inline bool
s_fmt_space (char c)
{
    return s_fmt_class[(uint8_t) c] == 3;
}

/*  Returns true for a format character that stands for one value
    (brackets aside). '*' only exists when unpacking. */
static inline bool
s_fmt_value (char c, bool unpack)
{
    uint8_t k = s_fmt_class[(uint8_t) c];
    return k == 1 || (k == 2 && unpack);
}

/*  Counts the elements of the array or map whose contents start at p,
    up to the bracket close that matches it; sets *end to that bracket.
    depth is the nesting level of these contents (1 for a top-level
    bracket). Returns the element count (pairs for a map) or TP_EINVAL. */
static int
s_fmt_count (const char *p, char close, bool unpack, int depth,
             const char **end)
{
    int count = 0;
    if (depth > S_MAX_DEPTH)
        return TP_EINVAL;
    for (;; p++) {
        char c = *p;
        if (c == ']' || c == '}') {
            if (c != close || (close == '}' && count % 2))
                return TP_EINVAL;
            *end = p;
            return close == '}' ? count / 2 : count;
        }
        if (c == '[' || c == '{') {
            int rc = s_fmt_count (p + 1, c == '[' ? ']' : '}', unpack,
                                  depth + 1, &p);
            if (rc < 0)
                return rc;
            count++;
        }
        else if (s_fmt_value (c, unpack))
            count++;
        else if (!s_fmt_space (c))
            return TP_EINVAL; /* includes '\0', '?' and junk */
    }
}

/*  Checks a whole format. Returns 0 or TP_EINVAL. */
static int
s_fmt_check (const char *fmt, bool unpack)
{
    bool optional = false;
    for (const char *p = fmt; *p; p++) {
        char c = *p;
        if (c == '[' || c == '{') {
            int rc = s_fmt_count (p + 1, c == '[' ? ']' : '}', unpack, 1, &p);
            if (rc < 0)
                return rc;
        }
        else if (c == '?' && unpack && !optional)
            optional = true;
        else if (!s_fmt_value (c, unpack) && !s_fmt_space (c))
            return TP_EINVAL;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/*  Packing                                                            */

static int
s_pack_write (void *data, const char *buf, size_t len)
{
    tp_msg *msg = data;
    /*  Hot path: msgpack-c hands us scalars of at most 9 bytes; copy them
        inline rather than through a memcpy call. */
    if (TP__LIKELY (len <= 9 && len <= msg->cap - msg->size
                    && !(msg->flags & TP__MSG_ZMQ))) {
        uint8_t *d = msg->body + msg->size;
        for (size_t i = 0; i < len; i++)
            d[i] = (uint8_t) buf[i];
        msg->size += (uint32_t) len;
        return 0;
    }
    return tp__msg_append (msg, buf, len);
}

static inline void
s_put_be32 (uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t) (v >> 24);
    p[1] = (uint8_t) (v >> 16);
    p[2] = (uint8_t) (v >> 8);
    p[3] = (uint8_t) v;
}

/*  Packs a str ('s', 'S') or bin ('x') of len bytes. */
static int
s_pack_bytes (msgpack_packer *pk, tp_msg *msg, const void *data, size_t len,
              bool bin)
{
    if (!data && len)
        return TP_EINVAL;
    /*  Checked before anything is read or written; reserving the whole
        value at once also saves a second growth of the body. */
    int rc = tp__msg_reserve (msg, len > TP_MSG_MAX_BODY ? len : len + 5);
    if (rc)
        return rc;
    if (bin) {
        rc = msgpack_pack_bin (pk, len);
        return rc ? rc : msgpack_pack_bin_body (pk, data, len);
    }
    rc = msgpack_pack_str (pk, len);
    return rc ? rc : msgpack_pack_str_body (pk, data, len);
}

/*  Packs a ref as ext TP__EXT_REF: u32 index BE, u32 gen BE, u32
    incarnation BE, node name. The nil ref is 12 zero bytes and no name. */
static int
s_pack_ref (msgpack_packer *pk, tp_ref r)
{
    uint8_t head[12] = {0};
    char name[TP_NODE_NAME_MAX + 1] = "";
    if (!tp_ref_is_nil (r)) {
        uint32_t inc;
        if (!tp__node_get (r.node, name, &inc))
            return TP_EINVAL;
        s_put_be32 (head, r.index);
        s_put_be32 (head + 4, r.gen);
        s_put_be32 (head + 8, inc);
    }
    size_t len = strlen (name);
    int rc = msgpack_pack_ext (pk, sizeof head + len, TP__EXT_REF);
    if (rc == 0)
        rc = msgpack_pack_ext_body (pk, head, sizeof head);
    if (rc == 0 && len)
        rc = msgpack_pack_ext_body (pk, name, len);
    return rc;
}

static inline void
s_put_be (uint8_t *p, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t) v;
}

size_t
tp__pack_int64 (uint8_t out[9], int64_t d)
{
    if (d >= 0) {
        uint64_t u = (uint64_t) d;
        if (u < 128) {
            out[0] = (uint8_t) u;
            return 1;
        }
        int n = u < 256 ? 1 : u < 65536 ? 2 : u < (1ull << 32) ? 4 : 8;
        out[0] = n == 1 ? 0xcc : n == 2 ? 0xcd : n == 4 ? 0xce : 0xcf;
        s_put_be (out + 1, u, n);
        return 1 + (size_t) n;
    }
    if (d >= -32) {
        out[0] = (uint8_t) (int8_t) d;
        return 1;
    }
    int n = d >= -128 ? 1 : d >= -32768 ? 2 : d >= INT32_MIN ? 4 : 8;
    out[0] = n == 1 ? 0xd0 : n == 2 ? 0xd1 : n == 4 ? 0xd2 : 0xd3;
    s_put_be (out + 1, (uint64_t) d, n);
    return 1 + (size_t) n;
}

/*  Appends one integer without msgpack_packer (the common case). */
static inline int
s_pack_int64 (tp_msg *msg, int64_t d)
{
    if (TP__LIKELY (msg->cap - msg->size >= 9)) {
        msg->size += (uint32_t) tp__pack_int64 (msg->body + msg->size, d);
        return 0;
    }
    uint8_t b[9];
    size_t n = tp__pack_int64 (b, d);
    return tp__msg_append (msg, b, n);
}

/*  Appends n (at most 9) bytes. */
static inline int
s_pack_small (tp_msg *msg, const uint8_t *b, size_t n)
{
    if (TP__LIKELY (msg->cap - msg->size >= n
                    && !(msg->flags & TP__MSG_ZMQ))) {
        memcpy (msg->body + msg->size, b, n);
        msg->size += (uint32_t) n;
        return 0;
    }
    return tp__msg_append (msg, b, n);
}

static inline int
s_pack_uint64 (tp_msg *msg, uint64_t u)
{
    if (u <= INT64_MAX)
        return s_pack_int64 (msg, (int64_t) u);
    uint8_t b[9] = {0xcf};
    s_put_be (b + 1, u, 8);
    return s_pack_small (msg, b, 9);
}

static inline int
s_pack_double (tp_msg *msg, double v)
{
    uint64_t u;
    memcpy (&u, &v, sizeof u);
    uint8_t b[9] = {0xcb};
    s_put_be (b + 1, u, 8);
    return s_pack_small (msg, b, 9);
}

/*  A str of fewer than 32 bytes (a map key, a name): header and bytes in
    one append. */
static inline int
s_pack_short_str (tp_msg *msg, const char *s, size_t len)
{
    int rc = msg->cap - msg->size > len && !(msg->flags & TP__MSG_ZMQ)
                 ? 0
                 : tp__msg_reserve (msg, len + 1);
    if (rc)
        return rc;
    msg->body[msg->size] = (uint8_t) (0xa0 | len);
    memcpy (msg->body + msg->size + 1, s, len);
    msg->size += (uint32_t) len + 1;
    return 0;
}

/*  An array or map being packed: its header is written when it closes,
    in the byte kept for it at `at` (moved along when it needs 3 or 5). */
typedef struct {
    uint32_t at;    /* offset of the header byte kept */
    uint32_t count; /* values packed in it so far */
    char close;     /* ']' or '}' */
} s_open;

/*  Closes o: writes its header. Returns 0, TP_EINVAL (a map with a key
    and no value) or TP_ETOOBIG. */
static int
s_pack_close (tp_msg *msg, const s_open *o)
{
    bool map = o->close == '}';
    if (map && o->count % 2)
        return TP_EINVAL;
    uint32_t n = map ? o->count / 2 : o->count;
    if (n < 16) {
        msg->body[o->at] = (uint8_t) ((map ? 0x80 : 0x90) | n);
        return 0;
    }
    size_t extra = n < 65536 ? 2 : 4;
    int rc = tp__msg_reserve (msg, extra);
    if (rc)
        return rc;
    uint8_t *h = msg->body + o->at;
    memmove (h + 1 + extra, h + 1, msg->size - o->at - 1);
    msg->size += (uint32_t) extra;
    if (extra == 2) {
        h[0] = map ? 0xde : 0xdc;
        s_put_be (h + 1, n, 2);
    }
    else {
        h[0] = map ? 0xdf : 0xdd;
        s_put_be (h + 1, n, 4);
    }
    return 0;
}

static int
s_pack (tp_msg *msg, const char *fmt, va_list *ap)
{
    msgpack_packer pk;
    msgpack_packer_init (&pk, msg, s_pack_write);
    s_open open[S_MAX_DEPTH + 1];
    int depth = 0; /* open[1 .. depth] are open */
    int rc = 0;
    for (const char *p = fmt; *p && rc == 0; p++) {
        bool value = true;
        switch (*p) {
        case 'n':
            rc = msgpack_pack_nil (&pk);
            break;
        case 'b':
            rc = va_arg (*ap, int) ? msgpack_pack_true (&pk)
                                   : msgpack_pack_false (&pk);
            break;
        case 'i':
            rc = s_pack_int64 (msg, va_arg (*ap, int));
            break;
        case 'I':
            rc = s_pack_int64 (msg, va_arg (*ap, int64_t));
            break;
        case 'u':
            rc = s_pack_int64 (msg, va_arg (*ap, unsigned));
            break;
        case 'U':
            rc = s_pack_uint64 (msg, va_arg (*ap, uint64_t));
            break;
        case 't':
            rc = s_pack_uint64 (msg, va_arg (*ap, tp_tag_t));
            break;
        case 'd':
            rc = s_pack_double (msg, va_arg (*ap, double));
            break;
        case 's': {
            const char *s = va_arg (*ap, const char *);
            size_t len = s ? strlen (s) : 0;
            rc = !s             ? TP_EINVAL
                 : len < 32     ? s_pack_short_str (msg, s, len)
                                : s_pack_bytes (&pk, msg, s, len, false);
            break;
        }
        case 'S':
        case 'x': {
            const void *data = va_arg (*ap, const void *);
            size_t len = va_arg (*ap, size_t);
            rc = s_pack_bytes (&pk, msg, data, len, *p == 'x');
            break;
        }
        case 'r':
            rc = s_pack_ref (&pk, va_arg (*ap, tp_ref));
            break;
        case '[':
        case '{':
            /* the header is written when it closes: keep a byte for it */
            value = false;
            if (depth == 0) {
                /* the whole container is checked before any of its
                   arguments is read (a bad format reads none) */
                const char *end;
                if (s_fmt_count (p + 1, *p == '[' ? ']' : '}', false, 1,
                                 &end)
                    < 0) {
                    rc = TP_EINVAL;
                    break;
                }
            }
            if (depth > 0)
                open[depth].count++;
            if (msg->cap == msg->size || (msg->flags & TP__MSG_ZMQ))
                rc = tp__msg_reserve (msg, 1);
            if (rc)
                break;
            depth++;
            open[depth] = (s_open){msg->size, 0, *p == '[' ? ']' : '}'};
            msg->body[msg->size++] = 0;
            break;
        case ']':
        case '}':
            value = false;
            if (depth == 0 || *p != open[depth].close)
                rc = TP_EINVAL;
            else
                rc = s_pack_close (msg, &open[depth--]);
            break;
        default:
            value = false;
            if (!s_fmt_space (*p))
                rc = TP_EINVAL;
        }
        if (value && depth > 0)
            open[depth].count++;
    }
    if (rc == 0 && depth != 0)
        rc = TP_EINVAL; /* an array or map left open */
    return rc;
}

int
tp_msg_vpack (tp_msg *msg, const char *fmt, va_list ap)
{
    assert (msg);
    if (!fmt || !*fmt)
        return 0;
    if (fmt[1] == '\0' && (fmt[0] == 'i' || fmt[0] == 'I')) {
        /* one integer: no format engine (same bytes as below) */
        va_list aq;
        va_copy (aq, ap);
        int64_t d = fmt[0] == 'i' ? va_arg (aq, int) : va_arg (aq, int64_t);
        va_end (aq);
        return s_pack_int64 (msg, d);
    }
    uint32_t size = msg->size;
    va_list aq;
    va_copy (aq, ap);
    int rc = s_pack (msg, fmt, &aq);
    va_end (aq);
    if (TP__UNLIKELY (rc)) {
        msg->size = size;
        if (s_fmt_check (fmt, false))
            rc = TP_EINVAL;
    }
    return rc;
}

int
tp_msg_pack (tp_msg *msg, const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    int rc = tp_msg_vpack (msg, fmt, ap);
    va_end (ap);
    return rc;
}

tp_msg *
tp_msg_new (tp_tag_t tag, const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    tp_msg *msg = tp_msg_newv (tag, fmt, ap);
    va_end (ap);
    return msg;
}

tp_msg *
tp_msg_newv (tp_tag_t tag, const char *fmt, va_list ap)
{
    if (tag == 0)
        return NULL;
    tp_msg *msg = tp__msg_alloc ();
    msg->tag = tag;
    if (fmt && *fmt && tp_msg_vpack (msg, fmt, ap)) {
        tp__msg_free (msg);
        return NULL;
    }
    return msg;
}

/* ------------------------------------------------------------------ */
/*  Reading msgpack                                                    */

/*  A cursor over untrusted msgpack bytes. */
typedef struct {
    const uint8_t *p;   /* next byte to read */
    const uint8_t *end; /* one past the last byte */
    uint32_t origin;    /* node that sent the bytes (refs are charged to
                           it: tp__node_intern_by), or 0 */
} s_rd;

typedef enum {
    S_NIL,
    S_BOOL,
    S_UINT,  /* any integer >= 0, whatever its encoding */
    S_INT,   /* any integer < 0 */
    S_FLOAT, /* float 32 or float 64 */
    S_STR,
    S_BIN,
    S_ARRAY,
    S_MAP,
    S_EXT
} s_kind;

/*  One decoded value header. */
typedef struct {
    s_kind kind;
    int8_t ext;          /* S_EXT: the ext type */
    bool f32;            /* S_FLOAT: encoded as float 32 */
    uint32_t len;        /* str/bin/ext bytes, array items, map pairs */
    const uint8_t *data; /* str/bin/ext bytes (len of them, in bounds) */
    union {
        bool b;
        uint64_t u;
        int64_t i;
        double d;
    } v;
} s_val;

static inline uint64_t
s_get_be (const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

/*  Reads one value header at rd. Strings, binaries and ext payloads are
    consumed whole; the items of an array or map are left for the
    caller. Returns 0 or TP_EPROTO (truncated, reserved byte, or a count
    that the bytes left cannot possibly hold). */
static int
s_read (s_rd *rd, s_val *v)
{
    const uint8_t *p = rd->p;
    const uint8_t *end = rd->end;
    size_t n = 0;      /* bytes of the length or value field after c */
    size_t len = 0;    /* payload bytes (str, bin, ext) */
    bool ext = false;  /* an ext type byte precedes the payload */
    if (p == end)
        return TP_EPROTO;
    uint8_t c = *p++;

    if (c <= 0x7f) {
        v->kind = S_UINT;
        v->v.u = c;
    }
    else if (c >= 0xe0) {
        v->kind = S_INT;
        v->v.i = (int8_t) c;
    }
    else if (c <= 0x8f) {
        v->kind = S_MAP;
        v->len = c & 0x0f;
    }
    else if (c <= 0x9f) {
        v->kind = S_ARRAY;
        v->len = c & 0x0f;
    }
    else if (c <= 0xbf) {
        v->kind = S_STR;
        len = c & 0x1f;
    }
    else {
        switch (c) {
        case 0xc0:
            v->kind = S_NIL;
            break;
        case 0xc2:
        case 0xc3:
            v->kind = S_BOOL;
            v->v.b = c == 0xc3;
            break;
        case 0xc4: case 0xc5: case 0xc6:
            v->kind = S_BIN;
            n = (size_t) 1 << (c - 0xc4);
            break;
        case 0xc7: case 0xc8: case 0xc9:
            v->kind = S_EXT;
            n = (size_t) 1 << (c - 0xc7);
            ext = true;
            break;
        case 0xca:
        case 0xcb:
            v->kind = S_FLOAT;
            v->f32 = c == 0xca;
            n = c == 0xca ? 4 : 8;
            break;
        case 0xcc: case 0xcd: case 0xce: case 0xcf:
            v->kind = S_UINT;
            n = (size_t) 1 << (c - 0xcc);
            break;
        case 0xd0: case 0xd1: case 0xd2: case 0xd3:
            v->kind = S_INT;
            n = (size_t) 1 << (c - 0xd0);
            break;
        case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8:
            v->kind = S_EXT;
            len = (size_t) 1 << (c - 0xd4);
            ext = true;
            break;
        case 0xd9: case 0xda: case 0xdb:
            v->kind = S_STR;
            n = (size_t) 1 << (c - 0xd9);
            break;
        case 0xdc:
        case 0xdd:
            v->kind = S_ARRAY;
            n = c == 0xdc ? 2 : 4;
            break;
        case 0xde:
        case 0xdf:
            v->kind = S_MAP;
            n = c == 0xde ? 2 : 4;
            break;
        default: /* 0xc1 is never used */
            return TP_EPROTO;
        }
    }

    if (n) {
        if ((size_t) (end - p) < n)
            return TP_EPROTO;
        uint64_t x = s_get_be (p, n);
        p += n;
        switch (v->kind) {
        case S_UINT:
            v->v.u = x;
            break;
        case S_INT: {
            /*  Sign-extend from n bytes; a value >= 0 is an S_UINT. */
            int64_t i = n == 8 ? (int64_t) x
                               : (int64_t) (x ^ (1ull << (8 * n - 1)))
                                     - (int64_t) (1ull << (8 * n - 1));
            if (i >= 0) {
                v->kind = S_UINT;
                v->v.u = (uint64_t) i;
            }
            else
                v->v.i = i;
            break;
        }
        case S_FLOAT:
            if (n == 4) {
                uint32_t bits = (uint32_t) x;
                float f;
                memcpy (&f, &bits, sizeof f);
                v->v.d = f;
            }
            else
                memcpy (&v->v.d, &x, sizeof v->v.d);
            break;
        case S_ARRAY:
        case S_MAP:
            v->len = (uint32_t) x;
            break;
        default: /* S_STR, S_BIN, S_EXT: a payload length */
            len = (size_t) x;
        }
    }

    if (v->kind == S_STR || v->kind == S_BIN || v->kind == S_EXT) {
        if (ext) {
            if (p == end)
                return TP_EPROTO;
            v->ext = (int8_t) *p++;
        }
        if ((size_t) (end - p) < len)
            return TP_EPROTO;
        v->data = p;
        v->len = (uint32_t) len;
        p += len;
    }
    /*  Every item takes at least one byte: reject impossible counts now,
        so that no loop over them can run long on a short body. */
    else if ((v->kind == S_ARRAY && v->len > (size_t) (end - p))
             || (v->kind == S_MAP && v->len > (size_t) (end - p) / 2))
        return TP_EPROTO;
    rd->p = p;
    return 0;
}

/*  Skips one whole value whose container nesting level is depth.
    Returns 0 or TP_EPROTO. */
static int
s_skip (s_rd *rd, int depth)
{
    s_val v;
    int rc = s_read (rd, &v);
    if (rc || (v.kind != S_ARRAY && v.kind != S_MAP))
        return rc;
    if (depth >= S_MAX_DEPTH)
        return TP_EPROTO;
    uint64_t items = v.kind == S_MAP ? 2 * (uint64_t) v.len : v.len;
    for (uint64_t i = 0; i < items; i++)
        if ((rc = s_skip (rd, depth + 1)))
            return rc;
    return 0;
}

/*  Decodes a ref ext. Returns 0, TP_EMISMATCH (not a ref) or TP_EPROTO
    (a ref ext with a bad payload). Does not intern: it checks the
    payload and returns the name's bytes. */
static int
s_ref_decode (const s_val *v, uint32_t *index, uint32_t *gen, uint32_t *inc,
              const uint8_t **name, size_t *name_len)
{
    if (v->kind != S_EXT || v->ext != TP__EXT_REF)
        return TP_EMISMATCH;
    if (v->len < 12 || v->len > 12 + TP_NODE_NAME_MAX)
        return TP_EPROTO;
    *index = (uint32_t) s_get_be (v->data, 4);
    *gen = (uint32_t) s_get_be (v->data + 4, 4);
    *inc = (uint32_t) s_get_be (v->data + 8, 4);
    *name = v->data + 12;
    *name_len = v->len - 12;
    if (*gen == 0)
        return *index == 0 && *inc == 0 && *name_len == 0 ? 0 : TP_EPROTO;
    if (*name_len == 0)
        return TP_EPROTO;
    for (size_t i = 0; i < *name_len; i++) {
        uint8_t c = (*name)[i];
        if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z')
              || (c >= 'a' && c <= 'z') || c == '_' || c == '.' || c == '-'))
            return TP_EPROTO;
    }
    return 0;
}

static int
s_ref_read (const s_val *v, uint32_t origin, tp_ref *out)
{
    uint32_t index, gen, inc;
    const uint8_t *name;
    size_t len;
    int rc = s_ref_decode (v, &index, &gen, &inc, &name, &len);
    if (rc)
        return rc;
    if (gen == 0) {
        *out = TP_REF_NIL;
        return 0;
    }
    uint32_t node = tp__node_intern_by ((const char *) name, len, inc, origin);
    if (node == 0)
        return TP_ELIMIT; /* every entry of the node table (or of the
                             sender's share of it) is pinned */
    out->node = node;
    out->index = index;
    out->gen = gen;
    return 0;
}

/* ------------------------------------------------------------------ */
/*  Unpacking                                                          */

/*  Sets *x to an integer value that fits int64_t; false otherwise. */
static inline bool
s_as_int64 (const s_val *v, int64_t *x)
{
    if (v->kind == S_INT)
        *x = v->v.i;
    else if (v->kind == S_UINT && v->v.u <= INT64_MAX)
        *x = (int64_t) v->v.u;
    else
        return false;
    return true;
}

/*  The values small bodies are made of, read without the full decoder:
    a positive fixint, a fixstr, a float 64, a fixmap or fixarray. Returns
    false for anything else (s_read then decides). */
static inline bool
s_read_fast (s_rd *rd, s_val *v)
{
    const uint8_t *p = rd->p;
    size_t left = (size_t) (rd->end - p);
    if (TP__UNLIKELY (left == 0))
        return false;
    uint8_t c = *p;
    if (c <= 0x7f) {
        v->kind = S_UINT;
        v->v.u = c;
        rd->p = p + 1;
        return true;
    }
    if (c >= 0xa0 && c <= 0xbf) {
        size_t len = c & 0x1f;
        if (len >= left)
            return false;
        v->kind = S_STR;
        v->data = p + 1;
        v->len = (uint32_t) len;
        rd->p = p + 1 + len;
        return true;
    }
    if (c == 0xcb && left >= 9) {
        uint64_t x = s_get_be (p + 1, 8);
        v->kind = S_FLOAT;
        v->f32 = false;
        memcpy (&v->v.d, &x, sizeof v->v.d);
        rd->p = p + 9;
        return true;
    }
    if (c >= 0x80 && c <= 0x9f) {
        /* (at most 15 items: each takes a byte, as s_read checks) */
        uint32_t n = c & 0x0f;
        bool map = c <= 0x8f;
        if ((map ? 2 * n : n) > left - 1)
            return false;
        v->kind = map ? S_MAP : S_ARRAY;
        v->len = n;
        rd->p = p + 1;
        return true;
    }
    return false;
}

#define S_READ()                                                              \
    do {                                                                      \
        if (!s_read_fast (rd, &v)) {                                          \
            int rc_ = s_read (rd, &v);                                        \
            if (rc_)                                                          \
                return rc_;                                                   \
        }                                                                     \
    } while (0)

#define S_EXPECT(cond)                                                        \
    do {                                                                      \
        if (!(cond))                                                          \
            return TP_EMISMATCH;                                              \
    } while (0)

/*  Unpacks rd according to fmt. Output pointers that are NULL are not
    written. */
static int
s_unpack (s_rd *rd, const char *fmt, va_list *ap, bool prefix)
{
    /*  The arrays and maps open: how many values each holds (its header)
        and how many the format has read from it; they must agree when it
        closes. (A malformed format is told from a mismatch afterwards,
        by s_vunpack.) */
    struct {
        uint64_t want, got;
        char close;
    } open[S_MAX_DEPTH + 1];
    int depth = 0;
    bool optional = false;
    for (const char *p = fmt; *p; p++) {
        char c = *p;
        s_val v;
        if (s_fmt_space (c))
            continue;
        if (c == ']' || c == '}') {
            if (depth == 0 || c != open[depth].close)
                return TP_EINVAL;
            if (open[depth].got != open[depth].want)
                return TP_EMISMATCH;
            depth--;
            continue;
        }
        if (c == '?') {
            if (optional || depth)
                return TP_EINVAL;
            optional = true;
            continue;
        }
        /*  At the top level a value may be missing; inside an array the
            header promised it, so its absence is a truncation. */
        if (depth == 0 && rd->p == rd->end)
            return optional ? s_fmt_check (fmt, true) : TP_EMISMATCH;
        if (depth > 0) {
            if (open[depth].got == open[depth].want)
                return TP_EMISMATCH; /* more than the header holds */
            open[depth].got++;
        }

        switch (c) {
        case 'n':
            S_READ ();
            S_EXPECT (v.kind == S_NIL);
            break;
        case 'b': {
            bool *out = va_arg (*ap, bool *);
            S_READ ();
            S_EXPECT (v.kind == S_BOOL);
            if (out)
                *out = v.v.b;
            break;
        }
        case 'i': {
            int *out = va_arg (*ap, int *);
            int64_t x;
            S_READ ();
            S_EXPECT (s_as_int64 (&v, &x) && x >= INT_MIN && x <= INT_MAX);
            if (out)
                *out = (int) x;
            break;
        }
        case 'I': {
            int64_t *out = va_arg (*ap, int64_t *);
            int64_t x;
            S_READ ();
            S_EXPECT (s_as_int64 (&v, &x));
            if (out)
                *out = x;
            break;
        }
        case 'u': {
            unsigned *out = va_arg (*ap, unsigned *);
            S_READ ();
            S_EXPECT (v.kind == S_UINT && v.v.u <= UINT_MAX);
            if (out)
                *out = (unsigned) v.v.u;
            break;
        }
        case 'U':
        case 't': {
            uint64_t *out = va_arg (*ap, uint64_t *);
            S_READ ();
            S_EXPECT (v.kind == S_UINT);
            if (out)
                *out = v.v.u;
            break;
        }
        case 'd': {
            double *out = va_arg (*ap, double *);
            S_READ ();
            double d;
            if (v.kind == S_FLOAT)
                d = v.v.d;
            else if (v.kind == S_UINT)
                d = (double) v.v.u;
            else {
                S_EXPECT (v.kind == S_INT);
                d = (double) v.v.i;
            }
            if (out)
                *out = d;
            break;
        }
        case 's': {
            const char **out = va_arg (*ap, const char **);
            size_t *len = va_arg (*ap, size_t *);
            S_READ ();
            S_EXPECT (v.kind == S_STR);
            if (out)
                *out = (const char *) v.data;
            if (len)
                *len = v.len;
            break;
        }
        case 'x': {
            const void **out = va_arg (*ap, const void **);
            size_t *len = va_arg (*ap, size_t *);
            S_READ ();
            S_EXPECT (v.kind == S_BIN);
            if (out)
                *out = v.data;
            if (len)
                *len = v.len;
            break;
        }
        case 'S': {
            char *buf = va_arg (*ap, char *);
            size_t cap = va_arg (*ap, size_t);
            S_READ ();
            S_EXPECT (v.kind == S_STR);
            if (v.len >= cap) {
                if (cap) {
                    memcpy (buf, v.data, cap - 1);
                    buf[cap - 1] = '\0';
                }
                return TP_ETRUNC;
            }
            memcpy (buf, v.data, v.len);
            buf[v.len] = '\0';
            break;
        }
        case 'r': {
            tp_ref *out = va_arg (*ap, tp_ref *);
            tp_ref r;
            S_READ ();
            int rc = s_ref_read (&v, rd->origin, &r);
            if (rc)
                return rc;
            if (out)
                *out = r;
            break;
        }
        case '*': {
            int rc = s_skip (rd, depth);
            if (rc)
                return rc;
            break;
        }
        case '[':
        case '{':
            if (depth == S_MAX_DEPTH)
                return TP_EINVAL;
            S_READ ();
            S_EXPECT (v.kind == (c == '[' ? S_ARRAY : S_MAP));
            depth++;
            open[depth].want = c == '[' ? v.len : 2 * (uint64_t) v.len;
            open[depth].got = 0;
            open[depth].close = c == '[' ? ']' : '}';
            break;
        default:
            return TP_EINVAL;
        }
    }
    if (depth)
        return TP_EINVAL; /* an array or map left open */
    if (!prefix && rd->p != rd->end) {
        /*  Leftover values; or leftover garbage, which is worse. */
        while (rd->p != rd->end)
            if (s_skip (rd, 0))
                return TP_EPROTO;
        return TP_EMISMATCH;
    }
    return 0;
}

#undef S_READ
#undef S_EXPECT

static int
s_vunpack (const void *data, size_t size, uint32_t origin, const char *fmt,
           va_list ap)
{
    s_rd rd = {NULL, NULL, origin};
    if (data) {
        rd.p = data;
        rd.end = rd.p + size;
    }
    va_list aq;
    va_copy (aq, ap);
    int rc = s_unpack (&rd, fmt ? fmt : "", &aq, false);
    va_end (aq);
    if (TP__UNLIKELY (rc) && rc != TP_EINVAL && fmt && s_fmt_check (fmt, true))
        rc = TP_EINVAL;
    return rc;
}

/*  The runtime's (core/actor.c) counts the failure for the actor whose
    callback runs; this one, for the parts of the library linked without
    the runtime (the fuzzers, the seed generators), does nothing. */
__attribute__ ((weak)) void
tp__unpack_failed (void)
{
}

int
tp_msg_vunpack (const tp_msg *msg, const char *fmt, va_list ap)
{
    assert (msg);
    int rc = s_vunpack (msg->body, msg->size, msg->from.node, fmt, ap);
    if (TP__UNLIKELY (rc) && !(msg->flags & TP__MSG_SYS))
        tp__unpack_failed (); /* (counted when an actor's callback runs) */
    return rc;
}

static inline bool s_int_fast (const uint8_t *p, uint32_t n, int64_t *v);

int
tp_msg_unpack (const tp_msg *msg, const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    int64_t x;
    if (fmt && (fmt[0] == 'i' || fmt[0] == 'I') && !fmt[1]
        && s_int_fast (msg->body, msg->size, &x)
        && (fmt[0] == 'I' || (x >= INT_MIN && x <= INT_MAX))) {
        /* one integer: no format engine (same result as below) */
        if (fmt[0] == 'i') {
            int *out = va_arg (ap, int *);
            if (out)
                *out = (int) x;
        }
        else {
            int64_t *out = va_arg (ap, int64_t *);
            if (out)
                *out = x;
        }
        va_end (ap);
        return 0;
    }
    int rc = tp_msg_vunpack (msg, fmt, ap);
    va_end (ap);
    return rc;
}

/*  Reads a body that is exactly one integer that fits int64; anything
    else (and every error) goes to the general path. */
static inline bool
s_int_fast (const uint8_t *p, uint32_t n, int64_t *v)
{
    if (n == 0)
        return false;
    uint8_t c = p[0];
    if (c <= 0x7f || c >= 0xe0) { /* positive or negative fixint */
        *v = c <= 0x7f ? (int64_t) c : (int64_t) (int8_t) c;
        return n == 1;
    }
    int w;
    bool sign;
    switch (c) {
    case 0xcc: w = 1; sign = false; break;
    case 0xcd: w = 2; sign = false; break;
    case 0xce: w = 4; sign = false; break;
    case 0xcf: w = 8; sign = false; break;
    case 0xd0: w = 1; sign = true; break;
    case 0xd1: w = 2; sign = true; break;
    case 0xd2: w = 4; sign = true; break;
    case 0xd3: w = 8; sign = true; break;
    default: return false;
    }
    if (n != 1u + (uint32_t) w)
        return false;
    uint64_t u = s_get_be (p + 1, (size_t) w);
    if (!sign) {
        if (u > INT64_MAX)
            return false;
        *v = (int64_t) u;
        return true;
    }
    if (w < 8 && (u >> (8 * w - 1)) & 1)
        u |= ~0ull << (8 * w); /* sign-extend */
    *v = (int64_t) u;
    return true;
}

int
tp_msg_int (const tp_msg *msg, int64_t *v)
{
    assert (msg);
    int64_t x;
    if (TP__LIKELY (s_int_fast (msg->body, msg->size, &x))) {
        if (v)
            *v = x;
        return 0;
    }
    return tp_msg_unpack (msg, "I", v);
}

int
tp_unpack_raw (const void *data, size_t size, const char *fmt, ...)
{
    if (!data && size)
        return TP_EINVAL;
    va_list ap;
    va_start (ap, fmt);
    int rc = s_vunpack (data, size, 0, fmt, ap);
    va_end (ap);
    return rc;
}

int
tp_msg_validate (const tp_msg *msg)
{
    assert (msg);
    s_rd rd = {msg->body, msg->body + msg->size, 0};
    int count = 0;
    while (rd.p != rd.end) {
        if (s_skip (&rd, 0) || count == INT_MAX)
            return TP_EPROTO;
        count++;
    }
    return count;
}

/* ------------------------------------------------------------------ */
/*  Readable text                                                      */

/*  Output for tp_msg_format: keeps what fits, remembers what did not. */
typedef struct {
    char *buf;
    size_t room; /* bytes of text buf can hold (cap - 1) */
    size_t len;  /* bytes written */
    bool full;   /* something did not fit */
} s_out;

static void
s_put (s_out *o, const char *s, size_t n)
{
    if (o->full)
        return;
    if (n > o->room - o->len) {
        n = o->room - o->len;
        o->full = true;
    }
    memcpy (o->buf + o->len, s, n);
    o->len += n;
}

static void
s_puts (s_out *o, const char *s)
{
    s_put (o, s, strlen (s));
}

static void
s_printf (s_out *o, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

static void
s_printf (s_out *o, const char *fmt, ...)
{
    char tmp[64];
    va_list ap;
    va_start (ap, fmt);
    int n = vsnprintf (tmp, sizeof tmp, fmt, ap);
    va_end (ap);
    if (n > 0)
        s_put (o, tmp, (size_t) n < sizeof tmp ? (size_t) n : sizeof tmp - 1);
}

/*  Prints the shortest text that reads back as the same number, with a
    ".0" when it would otherwise look like an integer. */
static void
s_print_double (s_out *o, double d, bool f32)
{
    char tmp[40];
    for (int prec = f32 ? 6 : 15; prec <= (f32 ? 9 : 17); prec++) {
        snprintf (tmp, sizeof tmp, "%.*g", prec, d);
        if (f32 ? strtof (tmp, NULL) == (float) d : strtod (tmp, NULL) == d)
            break;
    }
    s_puts (o, tmp);
    if (isfinite (d) && !strpbrk (tmp, ".e"))
        s_puts (o, ".0");
}

static void
s_print_str (s_out *o, const uint8_t *s, size_t len)
{
    s_put (o, "\"", 1);
    size_t run = 0; /* bytes before s[i] that need no escape */
    for (size_t i = 0; i < len && !o->full; i++) {
        uint8_t c = s[i];
        if (c >= 0x20 && c != 0x7f && c != '"' && c != '\\') {
            run++;
            continue;
        }
        s_put (o, (const char *) s + i - run, run);
        run = 0;
        switch (c) {
        case '"': s_puts (o, "\\\""); break;
        case '\\': s_puts (o, "\\\\"); break;
        case '\n': s_puts (o, "\\n"); break;
        case '\r': s_puts (o, "\\r"); break;
        case '\t': s_puts (o, "\\t"); break;
        default: s_printf (o, "\\x%02x", c);
        }
    }
    s_put (o, (const char *) s + len - run, run);
    s_put (o, "\"", 1);
}

/*  Prints one value. The body has been validated, so reads succeed and
    nesting is bounded; stops early once the output is full. */
static void
s_print_value (s_out *o, s_rd *rd)
{
    s_val v;
    if (s_read (rd, &v)) {
        s_puts (o, "<malformed>");
        return;
    }
    switch (v.kind) {
    case S_NIL:
        s_puts (o, "nil");
        break;
    case S_BOOL:
        s_puts (o, v.v.b ? "true" : "false");
        break;
    case S_UINT:
        s_printf (o, "%" PRIu64, v.v.u);
        break;
    case S_INT:
        s_printf (o, "%" PRId64, v.v.i);
        break;
    case S_FLOAT:
        s_print_double (o, v.v.d, v.f32);
        break;
    case S_STR:
        s_print_str (o, v.data, v.len);
        break;
    case S_BIN:
        s_printf (o, "<bin %" PRIu32 ">", v.len);
        break;
    case S_ARRAY:
    case S_MAP:
        s_put (o, v.kind == S_ARRAY ? "[" : "{", 1);
        for (uint32_t i = 0; i < v.len && !o->full; i++) {
            if (i)
                s_puts (o, ", ");
            s_print_value (o, rd);
            if (v.kind == S_MAP) {
                s_puts (o, ": ");
                s_print_value (o, rd);
            }
        }
        s_put (o, v.kind == S_ARRAY ? "]" : "}", 1);
        break;
    case S_EXT: {
        uint32_t index, gen, inc;
        const uint8_t *name;
        size_t len;
        if (s_ref_decode (&v, &index, &gen, &inc, &name, &len))
            s_printf (o, "<ext %d %" PRIu32 ">", v.ext, v.len);
        else if (gen == 0)
            s_puts (o, "nil");
        else {
            s_put (o, (const char *) name, len);
            s_printf (o, "/%" PRIu32 ".%" PRIu32, index, gen);
            if (inc)
                s_printf (o, ":%08" PRIx32, inc);
        }
        break;
    }
    }
}

size_t
tp_msg_format (const tp_msg *msg, char *buf, size_t cap)
{
    assert (msg);
    if (cap == 0)
        return 0;
    s_out o = {buf, cap - 1, 0, false};

    char name[TP_TAG_MAX_LEN + 1];
    if (tp_tag_name (msg->tag, name, sizeof name) == 0)
        s_puts (&o, name);
    else
        s_printf (&o, "<tag %" PRIu64 ">", msg->tag);
    s_put (&o, "(", 1);

    s_rd rd = {msg->body, msg->body + msg->size, 0};
    bool ok = true;
    while (ok && rd.p != rd.end)
        ok = s_skip (&rd, 0) == 0;
    if (!ok)
        s_puts (&o, "<malformed>");
    else {
        rd.p = msg->body;
        for (bool first = true; rd.p != rd.end && !o.full; first = false) {
            if (!first)
                s_puts (&o, ", ");
            s_print_value (&o, &rd);
        }
    }
    s_put (&o, ")", 1);

    if (o.full && o.len >= 3)
        memcpy (buf + o.len - 3, "...", 3);
    buf[o.len] = '\0';
    return o.len;
}

/* ------------------------------------------------------------------ */
/*  The reader: bodies of any length, read piece by piece              */

void
tp_reader_init (tp_reader *r, const tp_msg *msg)
{
    r->p = msg && msg->size ? msg->body : NULL;
    r->end = r->p ? r->p + msg->size : NULL;
    r->origin = msg ? msg->from.node : 0;
}

void
tp_reader_init_raw (tp_reader *r, const void *data, size_t size)
{
    r->p = data && size ? data : NULL;
    r->end = r->p ? r->p + size : NULL;
    r->origin = 0;
}

int
tp_reader_next (tp_reader *r, const char *fmt, ...)
{
    if (!r || !fmt || s_fmt_check (fmt, true))
        return TP_EINVAL;
    s_rd rd = {r->p, r->end, r->origin};
    va_list ap;
    va_start (ap, fmt);
    int rc = s_unpack (&rd, fmt, &ap, true);
    va_end (ap);
    if (rc == 0)
        r->p = rd.p; /* (a failure leaves the reader where it was) */
    return rc;
}

static int
s_reader_header (tp_reader *r, s_kind kind, uint32_t *n)
{
    if (!r || !n)
        return TP_EINVAL;
    if (r->p == r->end)
        return TP_EMISMATCH;
    s_rd rd = {r->p, r->end, 0};
    s_val v;
    int rc = s_read (&rd, &v);
    if (rc)
        return rc;
    if (v.kind != kind)
        return TP_EMISMATCH;
    *n = v.len;
    r->p = rd.p;
    return 0;
}

int
tp_reader_array (tp_reader *r, uint32_t *n)
{
    return s_reader_header (r, S_ARRAY, n);
}

int
tp_reader_map (tp_reader *r, uint32_t *n)
{
    return s_reader_header (r, S_MAP, n);
}

int
tp_reader_skip (tp_reader *r)
{
    if (!r)
        return TP_EINVAL;
    if (r->p == r->end)
        return TP_EMISMATCH;
    s_rd rd = {r->p, r->end, 0};
    if (s_skip (&rd, 0))
        return TP_EPROTO;
    r->p = rd.p;
    return 0;
}

bool
tp_reader_done (const tp_reader *r)
{
    return !r || r->p == r->end;
}
