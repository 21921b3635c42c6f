/*  core/error.h: error codes shared by every troupe call.

    Every `int` function in troupe returns 0 on success or one of the
    negative TP_E* codes below. tp_strerror() turns a code into text.
    The table is an X-macro so the enum and the strings cannot drift.
*/
#ifndef TP_ERROR_H_INCLUDED
#define TP_ERROR_H_INCLUDED

#ifdef __cplusplus
extern "C" {
#endif

/* Public symbols are exported; the library is built -fvisibility=hidden. */
#if defined(__GNUC__)
#define TP_EXPORT __attribute__((visibility("default")))
#else
#define TP_EXPORT
#endif

#define TP_ERRNO_MAP(X)                                                       \
    X(EINVAL, -1, "invalid argument")                                        \
    X(EDEAD, -2, "no such actor (dead or never existed)")                    \
    X(ETIMEDOUT, -3, "timed out")                                            \
    X(EFULL, -4, "mailbox full")                                             \
    X(EMISMATCH, -5, "message body does not match the format")              \
    X(EPROTO, -6, "malformed msgpack or frame")                              \
    X(ETOOBIG, -7, "message or value too big")                               \
    X(EEXIST, -8, "name already registered")                                 \
    X(ENOTFOUND, -9, "not found")                                            \
    X(ESTOPPED, -10, "system is stopping")                                   \
    X(ECANCELED, -11, "canceled")                                            \
    X(ENOTSUP, -12, "not supported")                                         \
    X(ETRUNC, -13, "buffer too small")                                       \
    X(EZMQ, -14, "ZeroMQ call failed")                                       \
    X(ESTATE, -15, "call not allowed in this context")                       \
    X(ENODE, -16, "node unreachable")                                        \
    X(ELIMIT, -17, "limit reached (table full)")                              \
    X(ESYS, -18, "system call failed")                                       \
    X(EADDRINUSE, -19, "address in use")                                     \
    X(EENDPOINT, -20, "bad endpoint")                                        \
    X(ENAMETAKEN, -21, "node name already in use by another live node")     \
    X(EDOWN, -22, "the actor asked ended, or its node went down")

typedef enum {
    TP_OK = 0,
#define TP__ERR_ENUM(name, code, text) TP_##name = (code),
    TP_ERRNO_MAP(TP__ERR_ENUM)
#undef TP__ERR_ENUM
} tp_errno;

/*  Returns a static, NUL-terminated description of rc (0 or a TP_E* code).
    Unknown codes give "unknown error". Safe from any thread. */
TP_EXPORT const char *
tp_strerror (int rc);

/*  Returns the symbolic name of rc ("TP_EDEAD"), or "TP_E?" if unknown. */
TP_EXPORT const char *
tp_errname (int rc);

#ifdef __cplusplus
}
#endif

#endif
