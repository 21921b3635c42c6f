/*  core/msg.h: tags and messages.

    A message is a tag plus a msgpack body. The tag says what the message
    is ("ping", "add", "result"); the body carries its arguments as a
    sequence of msgpack values (not wrapped in an array).

    TAGS are 64-bit atoms computed from short names: up to 10 characters
    from [0-9A-Za-z_]. tp_tag("ping") is a pure function of the string, so
    every process (and every language, see docs/PROTOCOL.md) computes the
    same value without a shared table, and tp_tag_name() turns it back
    into text. Tags that begin with '_' are reserved for troupe itself
    (_down, _exit, ...). Tag 0 is "no tag" and is never valid on a message.

    BODIES are written and read with a format string, in the spirit of
    jansson's json_pack/json_unpack. One character per value:

        pack (varargs)                 unpack (pointer varargs)
        n  nil                         n  nil (no argument)
        b  bool (int)                  b  bool *
        i  int                         i  int *          (range checked)
        I  int64_t                     I  int64_t *
        u  unsigned int                u  unsigned *     (range checked)
        U  uint64_t                    U  uint64_t *
        d  double                      d  double *       (ints accepted)
        s  const char * (NUL-term.)    s  const char **, size_t *  (borrowed)
        S  const char *, size_t        S  char *buf, size_t cap (copied,
                                          NUL-terminated; TP_ETRUNC if short)
        x  const void *, size_t        x  const void **, size_t *  (borrowed)
        r  tp_ref                      r  tp_ref *
        t  tp_tag_t (as uint64)        t  tp_tag_t *
        [  array begin (count of the values up to the matching ])
        ]  array end
        {  map begin (pairs up to the matching })
        }  map end
        *  (unpack only) skip one value of any type
        ?  (unpack only; once, at the top level) everything after
           this is optional: missing values leave their targets untouched

    Spaces, commas and colons in a format are ignored (write "{s:i, s:i}").
    Unpacking is strict: the body must hold exactly the values the format
    names (types and array/map sizes), otherwise TP_EMISMATCH and the
    output arguments may be partly written. A body that is not valid
    msgpack gives TP_EPROTO. Neither ever aborts: bodies from the network
    are untrusted.

    Borrowed pointers ('s', 'x') point into the message body and are valid
    until the message is destroyed (inside receive: until receive returns).

    Ownership: a tp_msg has exactly one owner. Sending it (tp_tell_msg,
    tp_send_msg) transfers ownership on success and sets the caller's
    pointer to NULL; on failure the caller still owns it.
*/
#ifndef TP_MSG_H_INCLUDED
#define TP_MSG_H_INCLUDED

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "ref.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef uint64_t tp_tag_t;
typedef struct tp_msg tp_msg;

/*  Largest body troupe accepts in one message (bytes). */
#define TP_MSG_MAX_BODY (64u * 1024u * 1024u)
/*  Longest tag name. */
#define TP_TAG_MAX_LEN 10

/*  Returns the atom for name, or 0 when name is NULL, empty, longer than
    TP_TAG_MAX_LEN or holds a character outside [0-9A-Za-z_]. Pure; safe
    from any thread. Cheap (a loop over at most 10 characters); hot code
    may still compute it once into a static. */
TP_EXPORT tp_tag_t
tp_tag (const char *name);

/*  Writes the name of tag into buf (NUL-terminated; buf needs at most
    TP_TAG_MAX_LEN + 1 bytes). Returns 0, TP_EINVAL if tag is not a valid
    atom, or TP_ETRUNC if cap is too small. */
TP_EXPORT int
tp_tag_name (tp_tag_t tag, char *buf, size_t cap);

/*  Creates an empty message with the given tag and body packed from fmt.
    Returns NULL if tag is 0, fmt is malformed or a value is too big.
    Caller owns return value and must destroy it when done. */
TP_EXPORT tp_msg *
tp_msg_new (tp_tag_t tag, const char *fmt, ...);

/*  As tp_msg_new with a va_list. */
TP_EXPORT tp_msg *
tp_msg_newv (tp_tag_t tag, const char *fmt, va_list ap);

/*  Creates a message whose body is a copy of size bytes of raw msgpack
    at data. The bytes are not validated here; tp_msg_unpack validates.
    Returns NULL if tag is 0 or size > TP_MSG_MAX_BODY.
    Caller owns return value and must destroy it when done. */
TP_EXPORT tp_msg *
tp_msg_new_raw (tp_tag_t tag, const void *data, size_t size);

/*  Returns a deep copy of msg (tag, body, sender, correlation): a copy of
    a request can still be answered with tp_reply, so an actor may keep a
    request and answer it later.
    Caller owns return value and must destroy it when done. */
TP_EXPORT tp_msg *
tp_msg_dup (const tp_msg *msg);

/*  Destroys the message and sets *msg_p to NULL. Accepts NULL and a
    pointer to NULL. Never call it on a message received in a receive
    callback: that one is borrowed. */
TP_EXPORT void
tp_msg_destroy (tp_msg **msg_p);

/*  Appends values packed from fmt to the body. Returns 0, TP_EINVAL on a
    malformed format, TP_ETOOBIG past TP_MSG_MAX_BODY (the body is then
    left as it was before the call). */
TP_EXPORT int
tp_msg_pack (tp_msg *msg, const char *fmt, ...);

/*  As tp_msg_pack with a va_list. */
TP_EXPORT int
tp_msg_vpack (tp_msg *msg, const char *fmt, va_list ap);

/*  Reads the body according to fmt (see the table above). Returns 0,
    TP_EMISMATCH, TP_EPROTO, TP_ETRUNC or TP_EINVAL (bad format). */
TP_EXPORT int
tp_msg_unpack (const tp_msg *msg, const char *fmt, ...);

/*  As tp_msg_unpack with a va_list. */
TP_EXPORT int
tp_msg_vunpack (const tp_msg *msg, const char *fmt, va_list ap);

/*  The fast path for the commonest body, one integer: the same result
    and errors as tp_msg_unpack (msg, "I", v), without a format string.
    v may be NULL (the body is only checked). */
TP_EXPORT int
tp_msg_int (const tp_msg *msg, int64_t *v);

/*  Unpacks raw msgpack bytes (not a message) with the same rules. */
TP_EXPORT int
tp_unpack_raw (const void *data, size_t size, const char *fmt, ...);

/*  Checks that the body is a sequence of well-formed msgpack values.
    Returns the number of top-level values (>= 0) or TP_EPROTO. */
TP_EXPORT int
tp_msg_validate (const tp_msg *msg);

/*  Returns the tag of msg. */
TP_EXPORT tp_tag_t
tp_msg_tag (const tp_msg *msg);

/*  Returns true if msg's tag is the atom of name: a readable test for
    receive callbacks (`if (tp_msg_is(msg, "ping"))`). */
TP_EXPORT bool
tp_msg_is (const tp_msg *msg, const char *name);

/*  Returns the sender of msg (nil for messages sent from outside any
    actor without a reply address). */
TP_EXPORT tp_ref
tp_msg_from (const tp_msg *msg);

/*  Returns true if msg is a request made with tp_ask or tp_call and
    therefore expects a tp_reply. */
TP_EXPORT bool
tp_msg_is_request (const tp_msg *msg);

/*  Returns a borrowed pointer to the body bytes; valid until the message
    is destroyed or packed into again. */
TP_EXPORT const void *
tp_msg_body (const tp_msg *msg);

/*  Returns the body size in bytes. */
TP_EXPORT size_t
tp_msg_size (const tp_msg *msg);

/*  Formats msg as readable text ("ping(42, \"x\")") into buf, truncating
    with "..." if needed. Returns the length written (excluding NUL). For
    logs and the CLI; malformed bodies print as "<malformed>". */
TP_EXPORT size_t
tp_msg_format (const tp_msg *msg, char *buf, size_t cap);

/*  READER: bodies whose length is only known when read (a list of
    results, a map of counters). A tp_reader walks a body value by value;
    each call reads what its format names, from where the reader is, and
    leaves the rest (not strict about what follows, as tp_msg_unpack is).

        tp_reader rd;
        uint32_t n;
        tp_reader_init (&rd, msg);
        if (tp_reader_array (&rd, &n) == 0)         // [ ... n items ... ]
            for (uint32_t i = 0; i < n; i++)
                if (tp_reader_next (&rd, "[si]", &name, &len, &count))
                    break;                            // TP_EMISMATCH ...

    Embedded (no allocation); borrowed pointers ('s', 'x') point into the
    message, valid while it lives. */
typedef struct tp_reader {
    const uint8_t *p;   /* next byte (private) */
    const uint8_t *end; /* one past the last (private) */
    uint32_t origin;    /* the message's sending node (private) */
} tp_reader;

/*  Starts reading msg's body (msg is borrowed, and must outlive r). */
TP_EXPORT void
tp_reader_init (tp_reader *r, const tp_msg *msg);

/*  Starts reading size bytes of msgpack at data (borrowed). */
TP_EXPORT void
tp_reader_init_raw (tp_reader *r, const void *data, size_t size);

/*  Reads the next values as fmt says (the format of tp_msg_unpack; its
    arrays and maps must be whole within fmt). Returns 0, TP_EMISMATCH
    (not those values, or not enough), TP_EPROTO (malformed msgpack) or
    TP_EINVAL (bad format); on failure the reader has not moved. */
TP_EXPORT int
tp_reader_next (tp_reader *r, const char *fmt, ...);

/*  The next value must be an array (map): *n is its number of items
    (pairs), which the next reads walk. Returns 0, TP_EMISMATCH or
    TP_EPROTO; on failure the reader has not moved. */
TP_EXPORT int
tp_reader_array (tp_reader *r, uint32_t *n);
TP_EXPORT int
tp_reader_map (tp_reader *r, uint32_t *n);

/*  Skips the next value (an array or map whole). 0, TP_EMISMATCH (none
    left) or TP_EPROTO. */
TP_EXPORT int
tp_reader_skip (tp_reader *r);

/*  True when the whole body has been read. */
TP_EXPORT bool
tp_reader_done (const tp_reader *r);

/*  A tag from a literal, checked when it is compiled: TP_TAG ("ping")
    is tp_tag ("ping"), and a literal longer than TP_TAG_MAX_LEN does not
    compile. (tp_tag itself returns 0 for a bad name: a clear error at
    the call that uses it, TP_EINVAL.) */
#ifdef __cplusplus
#define TP_TAG(lit) tp_tag (lit)
#else
#define TP_TAG(lit)                                                           \
    (__extension__ ({                                                         \
        _Static_assert (sizeof (lit) - 1 <= TP_TAG_MAX_LEN,                   \
                        "tag literal longer than 10 characters: " lit);       \
        tp_tag (lit);                                                         \
    }))
#endif

#ifdef __cplusplus
}
#endif

#endif
