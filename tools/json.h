/*  tools/json.h: JSON text to msgpack, for the troupe command line.

    A small strict parser (RFC 8259 values: objects, arrays, strings with
    escapes including \uXXXX and surrogate pairs, numbers, true, false,
    null) that writes msgpack with msgpack-c's packer as it reads. Integers
    that fit int64/uint64 become msgpack ints, other numbers doubles. */
#ifndef TP_TOOLS_JSON_H_INCLUDED
#define TP_TOOLS_JSON_H_INCLUDED

#include <msgpack.h>
#include <stddef.h>

/*  Parses one JSON value from text (whitespace around it allowed, nothing
    else) and packs it with pk. Returns 0, or -1 with a message in err. */
int json_to_msgpack (const char *text, msgpack_packer *pk, char *err,
                     size_t errlen);

#endif
