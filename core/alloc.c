/*  core/alloc.c: the out-of-memory policy in one place (see troupe.h). */
#include "private.h"

void
tp__oom (void)
{
    fputs ("troupe: out of memory\n", stderr);
    abort ();
}

void *
tp__malloc (size_t size)
{
    void *p = malloc (size ? size : 1);
    if (TP__UNLIKELY (!p))
        tp__oom ();
    return p;
}

void *
tp__calloc (size_t n, size_t size)
{
    void *p = calloc (n ? n : 1, size ? size : 1);
    if (TP__UNLIKELY (!p))
        tp__oom ();
    return p;
}

void *
tp__realloc (void *p, size_t size)
{
    void *q = realloc (p, size ? size : 1);
    if (TP__UNLIKELY (!q))
        tp__oom ();
    return q;
}

char *
tp__strdup (const char *s)
{
    size_t n = strlen (s) + 1;
    char *d = tp__malloc (n);
    memcpy (d, s, n);
    return d;
}
