/*  core/wire.h: the node wire format (docs/PROTOCOL.md), version 2.

    One ZeroMQ message = one frame = one msgpack array, the envelope
    (a BATCH envelope carries several others in its body):
        [version, kind, to_index, to_gen, to_inc, from_node, from_index,
         from_gen, tag, corr, flags, body]
    Pure functions: no sockets, no runtime, no global state; safe from any
    thread. Decoding is strict, bounds checked, allocation free, and
    never aborts on any input: frames come from the network.
*/
#ifndef TP_WIRE_H_INCLUDED
#define TP_WIRE_H_INCLUDED

#include "private.h"

#define TP__WIRE_VERSION 2
/*  to_index no envelope may carry (the runtime's own control records). */
#define TP__WIRE_RESERVED_INDEX UINT32_MAX
/*  Largest frame, envelope included (also the gateway's ZMQ_MAXMSGSIZE). */
#define TP__WIRE_MAX_FRAME (16u * 1024u * 1024u)
/*  Most envelope bytes around a body (every field at its widest): a body
    of up to TP__WIRE_MAX_FRAME - TP__WIRE_HEAD_MAX bytes always fits. */
#define TP__WIRE_HEAD_MAX 128
_Static_assert (TP__WIRE_MAX_FRAME - TP__WIRE_HEAD_MAX >= TP_NODE_MAX_BODY,
                "a body of TP_NODE_MAX_BODY bytes always fits a frame");

enum {
    TP__WIRE_HELLO = 1,    /* to the node; body [node_name, incarnation,
                              heartbeat_ms, seen] (one msgpack array):
                              seen is the receiver's incarnation if the
                              sender has it up, else 0 */
    TP__WIRE_USER,         /* tell / ask / reply, per flags; tag != 0 */
    TP__WIRE_MONITOR,      /* corr = monitor id; from = watcher */
    TP__WIRE_DEMONITOR,    /* corr = monitor id; from = watcher */
    TP__WIRE_DOWN,         /* corr = monitor id; from = watched;
                              body: ref, reason */
    TP__WIRE_LINK,         /* from = linker */
    TP__WIRE_UNLINK,       /* from = unlinker */
    TP__WIRE_EXIT,         /* from = ended actor; body: reason */
    TP__WIRE_STOP,         /* body: reason */
    TP__WIRE_LOOKUP,       /* to the node; body: name; corr = request id */
    TP__WIRE_LOOKUP_REPLY, /* to the asker; body: ref (nil if unknown);
                              corr = request id; flags = reply */
    TP__WIRE_HEARTBEAT,    /* to the node; empty */
    TP__WIRE_DRAIN,        /* to the node; sender is going, every earlier
                              frame of the connection has been sent */
    TP__WIRE_DRAIN_ACK,    /* to the node; every frame before the DRAIN
                              was received */
    TP__WIRE_BATCH,        /* to the node; body: two or more envelopes,
                              each wrapped as a msgpack bin, back to back;
                              none of them a BATCH */
    TP__WIRE_KIND_MAX = TP__WIRE_BATCH
};

/*  Envelope flags: at most one of the two is set. */
enum { TP__WIRE_F_REQUEST = 1, TP__WIRE_F_REPLY = 2 };

/*  One envelope. Encoding reads it; decoding fills it with pointers that
    borrow from the frame. */
typedef struct tp__env {
    uint32_t kind;         /* TP__WIRE_HELLO .. TP__WIRE_DRAIN_ACK */
    uint32_t to_index;     /* destination actor; 0, 0 for the node */
    uint32_t to_gen;
    uint32_t to_inc;       /* the destination node's incarnation as the
                              sender knows it; 0 only for node kinds */
    const char *from_node; /* sender's node name; not NUL-terminated when
                              decoded */
    size_t from_node_len;  /* 1 .. TP_NODE_NAME_MAX */
    uint32_t from_index;   /* sending actor; 0, 0 if none */
    uint32_t from_gen;
    uint64_t tag;          /* message tag (atom); nonzero for USER */
    uint64_t corr;         /* request / monitor id, 0 if none */
    uint32_t flags;        /* 0, TP__WIRE_F_REQUEST or TP__WIRE_F_REPLY */
    const uint8_t *body;   /* msgpack body bytes (NULL allowed if empty) */
    size_t body_len;
} tp__env;

/*  Encodes e into a new buffer: on success *buf holds *len bytes.
    Caller owns *buf and must free() it when done. Returns 0, TP_EINVAL
    (a field that tp__wire_decode would reject, or a NULL argument) or
    TP_ETOOBIG (the frame would exceed TP__WIRE_MAX_FRAME). On failure
    *buf and *len are not written. Integers are packed in their shortest
    msgpack form, so equal envelopes give equal bytes. */
int
tp__wire_encode (const tp__env *e, uint8_t **buf, size_t *len);

/*  Encodes the head of e: every byte of the envelope before the body
    bytes (the body's bin header included) into out, which has room for
    TP__WIRE_HEAD_MAX bytes; *len is set to the bytes written. The frame
    is the head followed by e->body_len body bytes. Same checks and
    errors as tp__wire_encode (e->body may be NULL here: it is not read,
    except that body NULL with body_len > 0 is TP_EINVAL). */
int
tp__wire_head (const tp__env *e, uint8_t *out, size_t *len);

/*  Walks the body of a BATCH: reads one bin item at *p (*left bytes
    remain), sets *env / *env_len to its bytes (an envelope to decode with
    tp__wire_decode) and advances *p and *left past it. Returns 0, 1 when
    *left is 0 (the end), or TP_EPROTO (not a bin, an empty bin, or a
    length past the end). Reads nothing outside [*p, *p + *left). */
int
tp__wire_batch_next (const uint8_t **p, size_t *left, const uint8_t **env,
                     size_t *env_len);

/*  Decodes one frame of len bytes. Returns 0, TP_EPROTO (not a valid
    version 2 envelope), TP_ENOTSUP (an array whose first element is a
    version other than 2) or TP_ETOOBIG (len > TP__WIRE_MAX_FRAME). On
    success the pointers in *out are borrowed; valid as long as frame is.
    On failure *out is not written. */
int
tp__wire_decode (const void *frame, size_t len, tp__env *out);

/*  Returns the name of a kind ("USER"), or "?" for an unknown one. */
const char *
tp__wire_kind_name (uint32_t kind);

/*  Returns true if name (len bytes, no NUL needed) is a valid node name:
    1 .. TP_NODE_NAME_MAX bytes of [0-9A-Za-z_.-]. */
bool
tp__wire_node_name_ok (const char *name, size_t len);

/*  Longest routing id: a node name, '/', 8 hex digits. */
#define TP__WIRE_RID_MAX (TP_NODE_NAME_MAX + 9)

/*  Writes the routing id a node uses on every connection it makes, name
    '/' incarnation as 8 lowercase hex digits (PROTOCOL.md §2), into out
    (TP__WIRE_RID_MAX bytes, not NUL-terminated). Returns its length. */
size_t
tp__wire_rid (const char *name, size_t len, uint32_t inc, char *out);

/*  True if rid (len bytes) is the routing id of node `name` (name_len
    bytes) in incarnation inc. */
bool
tp__wire_rid_is (const char *rid, size_t len, const char *name,
                 size_t name_len, uint32_t inc);

/*  True if rid has the shape of a routing id (a valid node name, '/',
    8 lowercase hex digits); *name_len is then the name's length and *inc
    the incarnation. */
bool
tp__wire_rid_ok (const char *rid, size_t len, size_t *name_len, uint32_t *inc);

/*  A HELLO's body (section 3): [node_name, incarnation, heartbeat_ms,
    seen] or the same with lost. */
typedef struct tp__hello {
    const char *name; /* borrowed from the envelope's body */
    size_t name_len;
    uint32_t inc, heartbeat_ms, seen, lost;
} tp__hello;

/*  Reads e's HELLO body into *h and checks it against e (its name is
    from_node, incarnation nonzero) and, if rid is not NULL, against the
    routing id it came with. Returns 0 or TP_EPROTO (a bad HELLO). */
int tp__wire_hello (const tp__env *e, const char *rid, size_t rid_len,
                    tp__hello *h);

#endif
