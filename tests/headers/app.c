/*  tests/headers/app.c: an application's view of the installed headers.

    Compiled (never run) by `make tests` with -I$(BUILD)/include only, the
    way pkg-config's Cflags point at $(PREFIX)/include. troupe's public
    headers live in troupe/ and include each other with quotes, so they
    must not shadow a system header of the same name: <error.h> here is
    glibc's, whose error() troupe's error.h does not declare.
*/
#include <error.h>
#include <troupe/troupe.h>
#include <troupe/error.h>

#if !defined(TP_TROUPE_H_INCLUDED) || !defined(TP_ERROR_H_INCLUDED)
#error "troupe/troupe.h did not bring in troupe's error.h"
#endif

/* glibc's error(3), with its exact signature. */
void (*const app_error) (int, int, const char *, ...) = error;

/* troupe's error table, through the umbrella header. */
const char *
app_strerror (void)
{
    return tp_strerror (TP_EINVAL);
}
