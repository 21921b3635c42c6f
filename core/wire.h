/*  core/wire.h: the node wire format (docs/PROTOCOL.md), version 1.

    One ZeroMQ message = one frame = one msgpack array, the envelope:
        [version, kind, to_index, to_gen, from_node, from_index, from_gen,
         tag, corr, flags, body]
    Pure functions: no sockets, no runtime. Decoding is strict, bounds
    checked, allocation free, and never aborts on any input. */
#ifndef TP_WIRE_H_INCLUDED
#define TP_WIRE_H_INCLUDED

#include "private.h"

#define TP__WIRE_VERSION 1
#define TP__WIRE_MAX_FRAME (16u * 1024u * 1024u)

enum {
    TP__WIRE_HELLO = 1,    /* body [node_name, incarnation, heartbeat_ms] */
    TP__WIRE_USER,         /* tell / ask / reply, per flags */
    TP__WIRE_MONITOR,      /* corr = monitor id */
    TP__WIRE_DEMONITOR,    /* corr = monitor id */
    TP__WIRE_DOWN,         /* corr = monitor id; body: ref, reason */
    TP__WIRE_LINK,
    TP__WIRE_UNLINK,
    TP__WIRE_EXIT,         /* body: reason */
    TP__WIRE_STOP,         /* body: reason */
    TP__WIRE_LOOKUP,       /* body: name; corr = request id */
    TP__WIRE_LOOKUP_REPLY, /* body: ref (nil if unknown); corr */
    TP__WIRE_HEARTBEAT,
    TP__WIRE_DRAIN,        /* sender is going; all earlier frames sent */
    TP__WIRE_DRAIN_ACK,    /* every frame before the DRAIN was received */
    TP__WIRE_KIND_MAX = TP__WIRE_DRAIN_ACK
};

enum { TP__WIRE_F_REQUEST = 1, TP__WIRE_F_REPLY = 2 };

typedef struct tp__env {
    uint32_t kind;
    uint32_t to_index, to_gen;
    const char *from_node; /* not NUL-terminated when decoded */
    size_t from_node_len;
    uint32_t from_index, from_gen;
    uint64_t tag, corr;
    uint32_t flags;
    const uint8_t *body;
    size_t body_len;
} tp__env;

/*  Encodes e into a new buffer (*buf, caller frees with free()). Returns
    0 or TP_EINVAL (bad kind, node name, flags) or TP_ETOOBIG. */
int tp__wire_encode (const tp__env *e, uint8_t **buf, size_t *len);

/*  Decodes one frame; pointers in *out borrow from frame. Returns 0,
    TP_EPROTO (malformed), TP_ENOTSUP (other version) or TP_ETOOBIG. */
int tp__wire_decode (const void *frame, size_t len, tp__env *out);

/*  Returns the name of a kind ("USER"), or "?". */
const char *tp__wire_kind_name (uint32_t kind);

/*  Returns true if name (len bytes) is a valid node name. */
bool tp__wire_node_name_ok (const char *name, size_t len);

#endif
