/*  core/msg.c: tag atoms and message nodes.

    TAG ATOMS. A tag is its name read as a base-64 number, one 6-bit
    digit per character, the first character most significant:

        v = 0; for each character c: v = (v << 6) | code (c)

    Character codes (0 is never a character, so "a" and "0a" differ):

        '0'..'9'  ->  1..10
        'A'..'Z'  -> 11..36
        '_'       -> 37
        'a'..'z'  -> 38..63

    The codes follow ASCII order, so tags of names of equal length sort
    like the names. Ten characters use 60 bits; a valid atom is nonzero,
    below 2^60, and has no zero digit below its highest nonzero digit.
    Examples: tp_tag("a") = 38, tp_tag("ab") = 38 * 64 + 39 = 2471.

    MESSAGE NODES come from a per-thread free list (no lock, no atomic):
    tp__msg_free pushes the node on the freeing thread's list, which may
    not be the allocating thread; that is fine, nodes are plain memory.
    The list is bounded (S_CACHE_MAX); excess nodes go back to free().
    The first push in a thread registers a pthread key whose destructor
    empties the list when the thread exits, so threads that troupe does
    not own do not leak their cache.
*/
#include "private.h"

#if defined(__SANITIZE_ADDRESS__)
#define S_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define S_ASAN 1
#endif
#endif
#ifdef S_ASAN
#include <sanitizer/asan_interface.h>
/*  Cached nodes are poisoned so that a use after tp__msg_free is still
    caught by AddressSanitizer although the memory is not freed. */
#define S_POISON(p, n) ASAN_POISON_MEMORY_REGION ((p), (n))
#define S_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION ((p), (n))
#else
#define S_POISON(p, n) ((void) (p), (void) (n))
#define S_UNPOISON(p, n) ((void) (p), (void) (n))
#endif

/* ------------------------------------------------------------------ */
/*  Tags                                                               */

static const char s_tag_chars[] =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz";

/*  Returns the 6-bit code of c, or 0 if c may not appear in a tag. */
static inline unsigned
s_tag_code (unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0' + 1;
    if (c >= 'A' && c <= 'Z')
        return c - 'A' + 11;
    if (c == '_')
        return 37;
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 38;
    return 0;
}

tp_tag_t
tp_tag (const char *name)
{
    if (!name)
        return 0;
    tp_tag_t v = 0;
    size_t i;
    for (i = 0; name[i]; i++) {
        unsigned code = s_tag_code ((unsigned char) name[i]);
        if (i == TP_TAG_MAX_LEN || code == 0)
            return 0;
        v = (v << 6) | code;
    }
    return v;
}

int
tp_tag_name (tp_tag_t tag, char *buf, size_t cap)
{
    char rev[TP_TAG_MAX_LEN];
    size_t len = 0;
    if (tag == 0 || tag >> (6 * TP_TAG_MAX_LEN))
        return TP_EINVAL;
    for (; tag; tag >>= 6) {
        unsigned code = (unsigned) (tag & 63);
        if (code == 0)
            return TP_EINVAL;
        rev[len++] = s_tag_chars[code - 1];
    }
    if (cap < len + 1)
        return TP_ETRUNC;
    for (size_t i = 0; i < len; i++)
        buf[i] = rev[len - 1 - i];
    buf[len] = '\0';
    return 0;
}

/* ------------------------------------------------------------------ */
/*  Message nodes                                                      */

#define S_CACHE_MAX 4096 /* nodes one thread keeps for reuse */

static TP__TLS tp_msg *s_cache;        /* this thread's free list */
static TP__TLS unsigned s_cache_len;   /* nodes on it */
static TP__TLS bool s_cache_keyed;     /* exit destructor armed */
static pthread_key_t s_cache_key;
static pthread_once_t s_cache_once = PTHREAD_ONCE_INIT;

static void
s_cache_destructor (void *unused)
{
    (void) unused;
    /*  Disarm first: if a later destructor frees a message here, the
        push arms the key again and pthread runs us once more. */
    s_cache_keyed = false;
    tp__msg_cache_flush ();
}

/*  Key destructors never run for the thread that calls exit() (usually
    main), so its cache is flushed by atexit instead. */
static void
s_cache_atexit (void)
{
    tp__msg_cache_flush ();
}

static void
s_cache_key_create (void)
{
    atexit (s_cache_atexit);
    if (pthread_key_create (&s_cache_key, s_cache_destructor))
        tp__oom ();
}

/*  Arms the calling thread's exit destructor. Once per thread (and
    again only if the destructor has already run). */
static void
s_cache_arm (void)
{
    pthread_once (&s_cache_once, s_cache_key_create);
    /*  Any non-NULL value makes pthread call the destructor. */
    if (pthread_setspecific (s_cache_key, &s_cache_keyed))
        tp__oom ();
    s_cache_keyed = true;
}

/*  Releases the body storage and leaves an empty inline body. */
static inline void
s_body_release (tp_msg *msg)
{
    if (msg->flags & TP__MSG_HEAP)
        free (msg->body);
    else if (msg->flags & TP__MSG_ZMQ)
        zmq_msg_close (&msg->u.zmsg);
    msg->flags &= (uint16_t) ~(TP__MSG_HEAP | TP__MSG_ZMQ);
    msg->body = msg->u.buf;
    msg->size = 0;
    msg->cap = TP__MSG_INLINE;
}

tp_msg *
tp__msg_alloc (void)
{
    tp_msg *msg = s_cache;
    if (TP__LIKELY (msg)) {
        S_UNPOISON (msg, sizeof *msg);
        s_cache = msg->next;
        s_cache_len--;
    }
    else
        msg = tp__malloc (sizeof *msg);
    msg->next = NULL;
    msg->tag = 0;
    msg->from = TP_REF_NIL;
    msg->size = 0;
    msg->corr = 0;
    msg->cap = TP__MSG_INLINE;
    msg->flags = 0;
    msg->aux = 0;
    msg->body = msg->u.buf;
    return msg;
}

void
tp__msg_free (tp_msg *msg)
{
    if (!msg)
        return;
    if (msg->flags & (TP__MSG_HEAP | TP__MSG_ZMQ))
        s_body_release (msg);
    msg->tag = 0; /* poison: tag 0 is never valid on a live message */
    if (TP__UNLIKELY (s_cache_len >= S_CACHE_MAX)) {
        free (msg);
        return;
    }
    if (TP__UNLIKELY (!s_cache_keyed))
        s_cache_arm ();
    msg->next = s_cache;
    s_cache = msg;
    s_cache_len++;
    S_POISON (msg, sizeof *msg);
}

void
tp__msg_cache_flush (void)
{
    tp_msg *msg = s_cache;
    while (msg) {
        S_UNPOISON (msg, sizeof *msg);
        tp_msg *next = msg->next;
        free (msg);
        msg = next;
    }
    s_cache = NULL;
    s_cache_len = 0;
}

int
tp__msg_reserve (tp_msg *msg, size_t extra)
{
    if (TP__UNLIKELY (extra > TP_MSG_MAX_BODY - msg->size))
        return TP_ETOOBIG;
    size_t need = msg->size + extra;
    if (TP__LIKELY (need <= msg->cap && !(msg->flags & TP__MSG_ZMQ)))
        return 0;

    /*  Grow geometrically; a ZeroMQ body is never written into, so it is
        moved to a heap buffer first. */
    size_t cap = (size_t) msg->cap * 2;
    if (cap < 256)
        cap = 256;
    if (cap < need)
        cap = need;
    if (cap > TP_MSG_MAX_BODY)
        cap = TP_MSG_MAX_BODY;
    if (msg->flags & TP__MSG_HEAP)
        msg->body = tp__realloc (msg->body, cap);
    else {
        uint8_t *body = tp__malloc (cap);
        if (msg->size)
            memcpy (body, msg->body, msg->size);
        if (msg->flags & TP__MSG_ZMQ)
            zmq_msg_close (&msg->u.zmsg);
        msg->flags = (uint16_t) ((msg->flags & ~TP__MSG_ZMQ) | TP__MSG_HEAP);
        msg->body = body;
    }
    msg->cap = (uint32_t) cap;
    return 0;
}

int
tp__msg_append (tp_msg *msg, const void *data, size_t len)
{
    if (TP__UNLIKELY (len > msg->cap - msg->size
                      || (msg->flags & TP__MSG_ZMQ))) {
        int rc = tp__msg_reserve (msg, len);
        if (rc)
            return rc;
    }
    if (len)
        memcpy (msg->body + msg->size, data, len);
    msg->size += (uint32_t) len;
    return 0;
}

void
tp__msg_adopt_heap (tp_msg *msg, void *data, size_t size)
{
    assert (size <= TP_MSG_MAX_BODY);
    assert (data || size == 0);
    s_body_release (msg);
    if (!data)
        return;
    msg->flags |= TP__MSG_HEAP;
    msg->body = data;
    msg->size = (uint32_t) size;
    msg->cap = (uint32_t) size;
}

void
tp__msg_detach_body (tp_msg *msg, void **data, size_t *size)
{
    *size = msg->size;
    if (msg->flags & TP__MSG_HEAP) {
        *data = msg->body;
        msg->flags &= (uint16_t) ~TP__MSG_HEAP;
    }
    else {
        *data = tp__malloc (msg->size);
        if (msg->size)
            memcpy (*data, msg->body, msg->size);
    }
    s_body_release (msg);
}

/* ------------------------------------------------------------------ */
/*  Public API                                                         */

tp_msg *
tp_msg_new_raw (tp_tag_t tag, const void *data, size_t size)
{
    if (tag == 0 || size > TP_MSG_MAX_BODY || (!data && size))
        return NULL;
    tp_msg *msg = tp__msg_alloc ();
    msg->tag = tag;
    if (tp__msg_append (msg, data, size)) {
        tp__msg_free (msg); /* not reached: size was checked */
        return NULL;
    }
    return msg;
}

tp_msg *
tp_msg_dup (const tp_msg *msg)
{
    assert (msg);
    tp_msg *copy = tp__msg_alloc ();
    copy->tag = msg->tag;
    copy->from = msg->from;
    copy->corr = msg->corr;
    copy->flags = (uint16_t) (msg->flags & ~(TP__MSG_HEAP | TP__MSG_ZMQ));
    copy->aux = msg->aux;
    int rc = tp__msg_append (copy, msg->body, msg->size);
    assert (rc == 0); /* bodies never exceed TP_MSG_MAX_BODY */
    (void) rc;
    return copy;
}

void
tp_msg_destroy (tp_msg **msg_p)
{
    if (msg_p && *msg_p) {
        tp__msg_free (*msg_p);
        *msg_p = NULL;
    }
}

tp_tag_t
tp_msg_tag (const tp_msg *msg)
{
    assert (msg);
    return msg->tag;
}

bool
tp_msg_is (const tp_msg *msg, const char *name)
{
    assert (msg);
    return msg->tag != 0 && msg->tag == tp_tag (name);
}

tp_ref
tp_msg_from (const tp_msg *msg)
{
    assert (msg);
    return msg->from;
}

bool
tp_msg_is_request (const tp_msg *msg)
{
    assert (msg);
    return (msg->flags & TP__MSG_REQUEST) != 0;
}

const void *
tp_msg_body (const tp_msg *msg)
{
    assert (msg);
    return msg->body;
}

size_t
tp_msg_size (const tp_msg *msg)
{
    assert (msg);
    return msg->size;
}
