/*  core/ref.h: actor references.

    A ref names an actor anywhere: the node it lives on plus a slot index
    and the generation of that slot. It is a small value: copy it, compare
    it with tp_ref_eq, print it, parse it back. Holding a ref to a dead
    actor is fine; sending to it is counted as a dead letter, never a
    use-after-free (the generation tells a reused slot from the old one).

    Text form: "<node>/<index>.<gen>", for example "nonode/42.1".
*/
#ifndef TP_REF_H_INCLUDED
#define TP_REF_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tp_ref {
    uint32_t node;  /* interned node name id; 0 only in the nil ref */
    uint32_t index; /* actor slot on that node */
    uint32_t gen;   /* slot generation; 0 only in the nil ref */
} tp_ref;

#define TP_REF_NIL ((tp_ref){0, 0, 0})
/*  Longest text form of a ref, including the NUL. */
#define TP_REF_STRLEN 96
/*  Longest node name. */
#define TP_NODE_NAME_MAX 63

/*  Returns true if a and b name the same actor. */
static inline bool
tp_ref_eq (tp_ref a, tp_ref b)
{
    return a.node == b.node && a.index == b.index && a.gen == b.gen;
}

/*  Returns true if r is the nil ref. */
static inline bool
tp_ref_is_nil (tp_ref r)
{
    return r.gen == 0;
}

/*  Writes the text form of r into buf. Returns the length written or
    TP_ETRUNC if cap is too small (TP_REF_STRLEN is always enough). The
    nil ref prints as "nil"; a node id this process does not know prints
    as "?" (which tp_ref_parse rejects). Safe from any thread. */
TP_EXPORT int
tp_ref_format (tp_ref r, char *buf, size_t cap);

/*  Parses the text form into *out. Returns 0 or TP_EINVAL. Safe from
    any thread. */
TP_EXPORT int
tp_ref_parse (const char *text, tp_ref *out);

/*  Returns the process-wide id of a node name (interning it on first
    use), or 0 if the name is empty, too long or holds characters outside
    [0-9A-Za-z_.-]. Ids are never reused while the process lives. Safe from
    any thread. */
TP_EXPORT uint32_t
tp_node_id (const char *name);

/*  Returns the name of a node id (borrowed, valid for the life of the
    process), or NULL if the id is unknown. Safe from any thread. */
TP_EXPORT const char *
tp_node_name (uint32_t node);

#ifdef __cplusplus
}
#endif

#endif
