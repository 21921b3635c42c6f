/*  core/ref.c: the node-name intern table and the text form of refs.

    Node names are interned once per process into a fixed table: ids run
    from 1 to S_NODE_MAX and are never reused, so a ref stays a 12-byte
    value and tp_node_name() can hand out borrowed pointers that live as
    long as the process.

    Reads are lock-free. A name is looked up in an open-addressing hash
    table of ids (linear probing, never more than half full). An insert,
    done under s_lock, first writes the name into s_names[id], then
    publishes the new count and finally the hash slot with release
    stores; a reader that sees the id with an acquire load therefore sees
    the whole name. Names are never changed or removed.
*/
#include "private.h"

#define S_NODE_MAX 4096   /* most node names one process can know */
#define S_NODE_SLOTS 8192 /* hash slots: a power of two, >= 2 * S_NODE_MAX */

/*  s_names[id] is the name of node id; entry 0 is unused. */
static char s_names[S_NODE_MAX + 1][TP_NODE_NAME_MAX + 1];
/*  Ids handed out so far: s_names[1 .. s_count] are published. */
static _Atomic uint32_t s_count;
/*  Hash slot -> node id, 0 when empty. */
static _Atomic uint32_t s_slots[S_NODE_SLOTS];
/*  Serializes inserts; readers never take it. */
static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;

/*  Returns the length of name if it is a valid node name, else 0. */
static size_t
s_name_len (const char *name)
{
    size_t len = 0;
    for (const char *p = name; *p; p++, len++) {
        char c = *p;
        bool ok = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z')
                  || (c >= 'a' && c <= 'z') || c == '_' || c == '.'
                  || c == '-';
        if (!ok || len == TP_NODE_NAME_MAX)
            return 0;
    }
    return len;
}

/*  FNV-1a, 32 bits. */
static uint32_t
s_hash (const char *name, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) {
        h ^= (uint8_t) name[i];
        h *= 16777619u;
    }
    return h;
}

/*  Returns the id of name, or 0 if it is not interned. Lock-free. */
static uint32_t
s_lookup (const char *name, size_t len, uint32_t hash)
{
    for (uint32_t i = hash & (S_NODE_SLOTS - 1);; i = (i + 1) & (S_NODE_SLOTS - 1)) {
        uint32_t id = atomic_load_explicit (&s_slots[i], memory_order_acquire);
        if (id == 0)
            return 0;
        if (memcmp (s_names[id], name, len) == 0 && s_names[id][len] == '\0')
            return id;
    }
}

uint32_t
tp_node_id (const char *name)
{
    if (!name)
        return 0;
    size_t len = s_name_len (name);
    if (len == 0)
        return 0;
    uint32_t hash = s_hash (name, len);
    uint32_t id = s_lookup (name, len, hash);
    if (TP__LIKELY (id))
        return id;

    pthread_mutex_lock (&s_lock);
    id = s_lookup (name, len, hash);
    uint32_t count = atomic_load_explicit (&s_count, memory_order_relaxed);
    if (id == 0 && count < S_NODE_MAX) {
        id = count + 1;
        memcpy (s_names[id], name, len + 1);
        atomic_store_explicit (&s_count, id, memory_order_release);
        uint32_t i = hash & (S_NODE_SLOTS - 1);
        while (atomic_load_explicit (&s_slots[i], memory_order_relaxed))
            i = (i + 1) & (S_NODE_SLOTS - 1);
        atomic_store_explicit (&s_slots[i], id, memory_order_release);
    }
    pthread_mutex_unlock (&s_lock);
    return id;
}

const char *
tp_node_name (uint32_t node)
{
    if (node == 0
        || node > atomic_load_explicit (&s_count, memory_order_acquire))
        return NULL;
    return s_names[node];
}

int
tp_ref_format (tp_ref r, char *buf, size_t cap)
{
    int n;
    if (tp_ref_is_nil (r))
        n = snprintf (buf, cap, "nil");
    else {
        const char *name = tp_node_name (r.node);
        n = snprintf (buf, cap, "%s/%" PRIu32 ".%" PRIu32, name ? name : "?",
                      r.index, r.gen);
    }
    if (n < 0 || (size_t) n >= cap) {
        if (cap)
            buf[0] = '\0';
        return TP_ETRUNC;
    }
    return n;
}

/*  Parses a canonical decimal u32 at *p (digits only, no sign, no
    leading zero) and advances *p past it. Returns 0 or TP_EINVAL. */
static int
s_parse_u32 (const char **p, uint32_t *out)
{
    const char *s = *p;
    uint64_t v = 0;
    if (*s < '0' || *s > '9' || (s[0] == '0' && s[1] >= '0' && s[1] <= '9'))
        return TP_EINVAL;
    for (; *s >= '0' && *s <= '9'; s++) {
        v = v * 10 + (uint64_t) (*s - '0');
        if (v > UINT32_MAX)
            return TP_EINVAL;
    }
    *out = (uint32_t) v;
    *p = s;
    return 0;
}

int
tp_ref_parse (const char *text, tp_ref *out)
{
    if (!text || !out)
        return TP_EINVAL;
    if (strcmp (text, "nil") == 0) {
        *out = TP_REF_NIL;
        return 0;
    }
    const char *slash = strchr (text, '/');
    if (!slash || slash == text || (size_t) (slash - text) > TP_NODE_NAME_MAX)
        return TP_EINVAL;
    char name[TP_NODE_NAME_MAX + 1];
    size_t len = (size_t) (slash - text);
    memcpy (name, text, len);
    name[len] = '\0';

    const char *p = slash + 1;
    uint32_t index, gen;
    if (s_parse_u32 (&p, &index) || *p != '.')
        return TP_EINVAL;
    p++;
    if (s_parse_u32 (&p, &gen) || *p != '\0' || gen == 0)
        return TP_EINVAL;

    /*  Only now, with the whole text checked, may the name be interned. */
    uint32_t node = tp_node_id (name);
    if (node == 0)
        return TP_EINVAL;
    out->node = node;
    out->index = index;
    out->gen = gen;
    return 0;
}
