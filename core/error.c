/*  core/error.c: text for the TP_E* codes, generated from TP_ERRNO_MAP
    so that the enum, the names and the strings cannot drift apart. */
#include "private.h"

const char *
tp_strerror (int rc)
{
    switch (rc) {
    case TP_OK:
        return "success";
#define TP__ERR_TEXT(name, code, text)                                        \
    case (code):                                                              \
        return (text);
        TP_ERRNO_MAP (TP__ERR_TEXT)
#undef TP__ERR_TEXT
    default:
        return "unknown error";
    }
}

const char *
tp_errname (int rc)
{
    switch (rc) {
    case TP_OK:
        return "TP_OK";
#define TP__ERR_NAME(name, code, text)                                        \
    case (code):                                                              \
        return "TP_" #name;
        TP_ERRNO_MAP (TP__ERR_NAME)
#undef TP__ERR_NAME
    default:
        return "TP_E?";
    }
}
