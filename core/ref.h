/*  core/ref.h: actor references.

    A ref names an actor anywhere: the node it lives on plus a slot index
    and the generation of that slot. It is a small value: copy it, compare
    it with tp_ref_eq, print it, parse it back. Holding a ref to a dead
    actor is fine; sending to it is counted as a dead letter, never a
    use-after-free (the generation tells a reused slot from the old one).

    A ref's node id stands for a node name and that node's incarnation
    (a number it picks at start): after a node restarts, refs to its
    previous life are dead letters there, never its new actors.

    Text form: "<node>/<index>.<gen>:<incarnation>" with the incarnation
    as 8 lower-case hex digits, for example "alpha/42.1:9f86d081". The
    form without ":<incarnation>" names the actor in whichever
    incarnation of the node is connected (for refs typed by hand).
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
#define TP_REF_STRLEN 96 /* 63 + "/" + 10 + "." + 10 + ":" + 8 + NUL */
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
    as "?/index.gen" (which tp_ref_parse rejects). Safe from any thread. */
TP_EXPORT int
tp_ref_format (tp_ref r, char *buf, size_t cap);

/*  Parses the text form into *out. Returns 0 or TP_EINVAL. Safe from
    any thread. */
TP_EXPORT int
tp_ref_parse (const char *text, tp_ref *out);

/*  Returns the process-wide id of a node name without an incarnation
    (interning it on first use), or 0 if the name is empty, too long or
    holds characters outside [0-9A-Za-z_.-], or if the node table is full
    of nodes in use. Such an id means "whichever incarnation of that node
    is connected": tp_node_up, tp_whereis_at and sends to refs made with
    it reach the node's current incarnation. Safe from any thread. */
TP_EXPORT uint32_t
tp_node_id (const char *name);

/*  Returns the name of a node id (borrowed), or NULL if the id is
    unknown or was reclaimed. The pointer stays valid while the node is
    in use (this process's own node, a connected peer); a name kept for
    longer must be copied. Safe from any thread. */
TP_EXPORT const char *
tp_node_name (uint32_t node);

/*  Returns the incarnation of a node id: the nonzero number a node picks
    at start, so that a restarted node is told apart from its previous
    life; 0 for an id made from a name only, or an unknown id. Safe from
    any thread. */
TP_EXPORT uint32_t
tp_node_incarnation (uint32_t node);

#ifdef __cplusplus
}
#endif

#endif
