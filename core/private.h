/*  core/private.h: the one private header. Gathers system includes and
    the internal types shared between the core .c files. Never installed.
*/
#ifndef TP_PRIVATE_H_INCLUDED
#define TP_PRIVATE_H_INCLUDED

#define _GNU_SOURCE 1

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <msgpack.h>
#include <zmq.h>

#include "troupe.h"

#define TP__TLS __thread __attribute__((tls_model ("initial-exec")))
#define TP__LIKELY(x) __builtin_expect (!!(x), 1)
#define TP__UNLIKELY(x) __builtin_expect (!!(x), 0)

/*  Hand-overs through libzmq (not built with TSan) are invisible to TSan:
    a body we wrote in one thread and hand to ZeroMQ without a copy is
    read in another. These mark the hand-over for `make tsan`. */
#if defined(__SANITIZE_THREAD__)
void __tsan_acquire (void *addr);
void __tsan_release (void *addr);
#define TP__TSAN_RELEASE(p) __tsan_release ((void *) (p))
#define TP__TSAN_ACQUIRE(p) __tsan_acquire ((void *) (p))
#else
#define TP__TSAN_RELEASE(p) ((void) (p))
#define TP__TSAN_ACQUIRE(p) ((void) (p))
#endif

/*  Out-of-memory policy (see troupe.h): abort with a message. */
void tp__oom (void) __attribute__((noreturn));
void *tp__malloc (size_t size);
void *tp__calloc (size_t n, size_t size);
void *tp__realloc (void *p, size_t size);
char *tp__strdup (const char *s);

/* ------------------------------------------------------------------ */
/*  Messages                                                           */

/*  Bytes of body stored inside the message node itself. A message whose
    body fits here needs no allocation beyond the node, and nodes come
    from a per-thread free list, so the common small message allocates
    nothing at all. */
#define TP__MSG_INLINE 72

enum {
    TP__MSG_REQUEST = 1 << 0, /* made by tp_ask/tp_call: expects a reply */
    TP__MSG_REPLY = 1 << 1,   /* made by tp_reply: corr names the request */
    TP__MSG_SYS = 1 << 2,     /* runtime control message (link, stop...) */
    TP__MSG_HEAP = 1 << 3,    /* body is a malloc'd buffer we own */
    TP__MSG_ZMQ = 1 << 4,     /* body lives in u.zmsg (zero-copy receive) */
    TP__MSG_TIMER = 1 << 5,   /* sent by a timer (runtime bookkeeping) */
    TP__MSG_BOUNDED = 1 << 6, /* counted against a bounded mailbox */
};

struct tp_msg {
    tp_msg *next;    /* mailbox or free-list link */
    tp_tag_t tag;    /* atom */
    tp_ref from;     /* sender, nil if none */
    uint32_t size;   /* body bytes used */
    uint64_t corr;   /* request/reply correlation id, 0 if none */
    uint32_t cap;    /* body capacity */
    uint16_t flags;  /* TP__MSG_* */
    uint16_t aux;    /* runtime scratch (system message kind) */
    uint8_t *body;   /* u.buf, a heap buffer, or zmq_msg_data(&u.zmsg) */
    union {
        uint8_t buf[TP__MSG_INLINE];
        zmq_msg_t zmsg;
    } u;
};

/*  Returns a fresh message node (tag 0, empty inline body, nil sender)
    from the calling thread's free list, or malloc. Never NULL. */
tp_msg *tp__msg_alloc (void);

/*  Releases body storage and returns the node to the calling thread's
    free list (bounded; excess goes back to free()). Accepts NULL. */
void tp__msg_free (tp_msg *msg);

/*  Makes room for at least extra more body bytes. Returns 0 or
    TP_ETOOBIG when size + extra > TP_MSG_MAX_BODY. */
int tp__msg_reserve (tp_msg *msg, size_t extra);

/*  Appends raw bytes to the body (grows as needed). 0 or TP_ETOOBIG. */
int tp__msg_append (tp_msg *msg, const void *data, size_t len);

/*  Takes over the heap buffer `data` (allocated with malloc, size bytes)
    as the body of msg, replacing any previous body. */
void tp__msg_adopt_heap (tp_msg *msg, void *data, size_t size);

/*  Detaches a heap body from msg for zero-copy handover: on return *data
    is a malloc'd buffer of *size bytes the caller owns (free with
    free()), and msg has an empty inline body. If the body was inline, it
    is copied to a new heap buffer. */
void tp__msg_detach_body (tp_msg *msg, void **data, size_t *size);

/*  Writes d as one msgpack integer in its shortest form (the bytes
    msgpack_pack_int64 writes) into out; returns the length, 1..9. */
size_t tp__pack_int64 (uint8_t out[9], int64_t d);

/*  A tp_msg_unpack of a user message failed: counted in
    tp_system_stats.unpack_errors when an actor's callback runs on this
    thread (core/actor.c). */
void tp__unpack_failed (void);

/*  Frees every node cached by the calling thread. Called by runtime
    threads before they exit; foreign threads are flushed by a
    pthread key destructor. */
void tp__msg_cache_flush (void);

/* ------------------------------------------------------------------ */
/*  The node table (core/ref.c)                                        */

/*  Returns the id of node `name` (len bytes, no NUL needed) in
    incarnation inc (0: the name only), interning it if needed, or 0 if
    the name is invalid or every entry of the table is pinned. */
uint32_t tp__node_intern (const char *name, size_t len, uint32_t inc);
/*  As tp__node_intern, for a name read from a message that node `origin`
    sent (0: none): a new entry is charged to the origin. An origin with a
    charge_max holds at most that many: past it, its oldest unpinned
    entry makes room (so a peer that sends refs to ever new nodes churns
    its own share of the table only); 0 when all of them are pinned. */
uint32_t tp__node_intern_by (const char *name, size_t len, uint32_t inc,
                             uint32_t origin);
/*  Sets the most entries id may have charged to it (0: any). Returns 0
    or TP_ENOTFOUND. */
int tp__node_charge_max (uint32_t id, uint32_t max);
/*  Process-wide counts: entries recycled for their origin's new ones,
    and interns refused because all of an origin's entries were pinned. */
void tp__node_charges (uint64_t *recycled, uint64_t *refused);
/*  Adds delta (+1 / -1) to the pins of id: a pinned id is never
    reclaimed. Returns 0 or TP_ENOTFOUND (id reclaimed or never made). */
int tp__node_pin (uint32_t id, int delta);
/*  Copies the name of node into out; false if the id is not live. */
bool tp__node_name_copy (uint32_t node, char out[TP_NODE_NAME_MAX + 1]);
/*  As tp__node_name_copy, and *inc (if not NULL) its incarnation, both
    of the same id (one look under the table's lock). */
bool tp__node_get (uint32_t node, char out[TP_NODE_NAME_MAX + 1],
                   uint32_t *inc);
/*  True if a and b are live ids of the same name (any incarnations). */
bool tp__node_same_name (uint32_t a, uint32_t b);

/* ------------------------------------------------------------------ */
/*  CURVE input (core/zap.c)                                           */

/*  Reads a key's text: 40 characters of Z85, with one trailing "\n" or
    "\r\n" allowed. On 0, z85 (if not NULL) holds the text, NUL-ended,
    and bin (if not NULL) the 32 bytes; TP_EINVAL otherwise (nothing
    written). */
int tp__key_parse (const char *text, size_t len, char z85[41], uint8_t bin[32]);

typedef struct {
    const void *data;
    size_t size;
} tp__zap_frame;

typedef struct {
    bool ok;       /* admit the connection */
    char addr[64]; /* the peer's address, printable, for the log */
    char key[41];  /* its public key in Z85, or "?" */
} tp__zap_verdict;

/*  Decides ZAP request f[0..n-1] (RFC 27: version 1.0, request id,
    domain, address, routing id, mechanism, credentials): ok only for
    exactly 7 frames, mechanism CURVE and a 32-byte client key in allow
    (nallow keys). */
void tp__zap_decide (const tp__zap_frame *f, int n, const uint8_t (*allow)[32],
                     int nallow, tp__zap_verdict *v);

/* ------------------------------------------------------------------ */
/*  Msgpack ext types used by troupe                                   */

#define TP__EXT_REF 1 /* payload: u32 index BE, u32 gen BE, u32 incarnation
                         BE, node name (nil: 12 zero bytes, no name) */

#endif
