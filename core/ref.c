/*  core/ref.c: the node table and the text form of refs.

    A ref names its node by a 32-bit id, so that a ref stays a 12-byte
    value. An id stands for a node name plus an incarnation (the random
    number a node picks when it starts, as Erlang's "creation"): a node
    that restarts is a new id, and refs to its previous life route
    nowhere. Incarnation 0 means "the name only": what tp_node_id and the
    text form without an incarnation give.

    Ids are interned into a fixed table of S_NODE_MAX entries. Entries are
    reclaimed: the node's own system and each connected peer pin their id;
    an unpinned entry (a peer that went away, a name seen in a message)
    stays until the table is full and then makes room for a new one,
    oldest unused first. An id carries its entry's generation, so an id
    whose entry was reclaimed never names another node: tp_node_name
    returns NULL for it, and a send to it is a dead letter.

    Lookups, inserts and name copies take s_lock (a name is interned when
    a peer greets or a ref is unpacked, not per message).
    tp_node_incarnation reads without the lock, on the routing path: an
    entry's id is cleared before it is rewritten and set after, and the
    reader checks the id again after reading, so it sees the incarnation
    of the id it asked for or 0. tp_node_name hands out a pointer into the
    table without the lock: valid while the id is pinned.
*/
#include "private.h"

#define S_NODE_BITS 12
#define S_NODE_MAX (1u << S_NODE_BITS)    /* entries; index 0 is unused */
#define S_NODE_MASK (S_NODE_MAX - 1)
#define S_SLOTS (2u * S_NODE_MAX)         /* hash slots, a power of two */
#define S_EMPTY 0
#define S_TOMB UINT16_MAX

typedef struct {
    _Atomic uint32_t id;   /* (gen << S_NODE_BITS) | index; 0 when free */
    uint32_t gen;          /* generation of the next id for this entry */
    _Atomic uint32_t inc;  /* incarnation; 0 = the name only */
    _Atomic int32_t pins;  /* holders that must not lose the id */
    bool recent;           /* looked up since the clock hand passed */
    uint8_t len;
    /* charging (tp__node_intern_by): an entry interned from a message
       body is charged to the node the message came from, its origin.
       An origin holds the ring of entries charged to it, oldest first. */
    uint32_t charged_to;   /* the origin's id, or 0 */
    uint16_t ch_prev, ch_next; /* ring of the entries of one origin */
    uint16_t ch_head;      /* as origin: its oldest charged entry, or 0 */
    uint32_t charged;      /* as origin: entries charged to it */
    uint32_t charge_max;   /* as origin: at most this many; 0 = any */
    char name[TP_NODE_NAME_MAX + 1];
} s_entry;

static s_entry s_ent[S_NODE_MAX];
static uint16_t s_slots[S_SLOTS];   /* hash slot -> entry index */
static uint16_t s_free[S_NODE_MAX]; /* free entry indices (a stack) */
static uint32_t s_nfree;
static uint32_t s_hand = 1;         /* clock hand for reclaiming */
static uint32_t s_used;             /* hash slots not empty (live + tombs) */
static bool s_ready;
static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic uint64_t s_recycled; /* entries an origin's new ones replaced */
static _Atomic uint64_t s_refused;  /* interns refused: all pinned */

/*  Returns the length of name if it is a valid node name, else 0. */
static size_t
s_name_len (const char *name, size_t max)
{
    size_t len = 0;
    for (const char *p = name; len < max && *p; p++, len++) {
        char c = *p;
        bool ok = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z')
                  || (c >= 'a' && c <= 'z') || c == '_' || c == '.'
                  || c == '-';
        if (!ok || len == TP_NODE_NAME_MAX)
            return 0;
    }
    return len;
}

/*  FNV-1a over the name, then the incarnation. */
static uint32_t
s_hash (const char *name, size_t len, uint32_t inc)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) {
        h ^= (uint8_t) name[i];
        h *= 16777619u;
    }
    for (int i = 0; i < 4; i++, inc >>= 8) {
        h ^= inc & 0xffu;
        h *= 16777619u;
    }
    return h;
}

static void
s_init (void)
{
    if (s_ready)
        return;
    for (uint32_t i = S_NODE_MAX - 1; i >= 1; i--)
        s_free[s_nfree++] = (uint16_t) i;
    s_ready = true;
}

/*  Under s_lock: the hash slot holding entry `want` for (name, inc), or
    the slot where it would go (*found false). */
static uint32_t
s_find (const char *name, size_t len, uint32_t inc, bool *found)
{
    uint32_t i = s_hash (name, len, inc) & (S_SLOTS - 1), tomb = UINT32_MAX;
    for (;; i = (i + 1) & (S_SLOTS - 1)) {
        uint16_t x = s_slots[i];
        if (x == S_EMPTY) {
            *found = false;
            return tomb != UINT32_MAX ? tomb : i;
        }
        if (x == S_TOMB) {
            if (tomb == UINT32_MAX)
                tomb = i;
            continue;
        }
        s_entry *e = &s_ent[x];
        if (atomic_load_explicit (&e->inc, memory_order_relaxed) == inc
            && e->len == len && memcmp (e->name, name, len) == 0) {
            *found = true;
            return i;
        }
    }
}

/*  Under s_lock: rebuilds the hash without tombstones. */
static void
s_rehash (void)
{
    memset (s_slots, 0, sizeof s_slots);
    s_used = 0;
    for (uint32_t x = 1; x < S_NODE_MAX; x++) {
        s_entry *e = &s_ent[x];
        if (!atomic_load_explicit (&e->id, memory_order_relaxed))
            continue;
        bool found;
        uint32_t slot = s_find (e->name, e->len, e->inc, &found);
        s_slots[slot] = (uint16_t) x;
        s_used++;
    }
}

static s_entry *s_entry_of (uint32_t id);

/*  Under s_lock: takes entry x out of its origin's ring. */
static void
s_uncharge (uint32_t x)
{
    s_entry *e = &s_ent[x];
    s_entry *o = e->charged_to ? s_entry_of (e->charged_to) : NULL;
    e->charged_to = 0;
    if (!o)
        return;
    if (e->ch_next == x)
        o->ch_head = 0;
    else {
        s_ent[e->ch_prev].ch_next = e->ch_next;
        s_ent[e->ch_next].ch_prev = e->ch_prev;
        if (o->ch_head == x)
            o->ch_head = e->ch_next;
    }
    o->charged--;
}

/*  Under s_lock: entry x (live) leaves the table: its hash slot, its
    charge, and, if it was an origin, the charges of its entries (they
    stay, uncharged). */
static void
s_drop (uint32_t x)
{
    s_entry *e = &s_ent[x];
    bool found;
    uint32_t slot = s_find (e->name, e->len, e->inc, &found);
    assert (found);
    s_slots[slot] = S_TOMB;
    s_uncharge (x);
    for (uint16_t y = e->ch_head; y;) {
        uint16_t next = s_ent[y].ch_next;
        s_ent[y].charged_to = 0;
        y = next == e->ch_head ? 0 : next;
    }
    e->ch_head = 0;
    e->charged = 0;
    e->charge_max = 0;
    atomic_store_explicit (&e->id, 0, memory_order_relaxed);
}

/*  Under s_lock: frees an unpinned entry for reuse (the clock hand skips
    pinned entries and gives recently used ones a second chance). Returns
    its index, or 0 if every entry is pinned. */
static uint32_t
s_reclaim (void)
{
    for (uint32_t n = 0; n < 2 * S_NODE_MAX; n++) {
        uint32_t x = s_hand;
        s_hand = s_hand + 1 < S_NODE_MAX ? s_hand + 1 : 1;
        s_entry *e = &s_ent[x];
        if (atomic_load_explicit (&e->pins, memory_order_relaxed) > 0)
            continue;
        if (e->recent) {
            e->recent = false;
            continue;
        }
        s_drop (x);
        return x; /* (the release store of inc below publishes the 0) */
    }
    return 0;
}

/*  Under s_lock: origin o is at its charge_max: the oldest unpinned entry
    charged to it is dropped for the new one. Returns its index, or 0 if
    every one is pinned (nodes this node is connected to). */
static uint32_t
s_recycle (s_entry *o)
{
    uint16_t y = o->ch_head;
    for (uint32_t n = 0; y && n < o->charged; n++) {
        if (atomic_load_explicit (&s_ent[y].pins, memory_order_relaxed) == 0) {
            s_drop (y);
            s_recycled++;
            return y;
        }
        y = s_ent[y].ch_next;
    }
    return 0;
}

uint32_t
tp__node_intern (const char *name, size_t len, uint32_t inc)
{
    return tp__node_intern_by (name, len, inc, 0);
}

uint32_t
tp__node_intern_by (const char *name, size_t len, uint32_t inc,
                    uint32_t origin)
{
    if (!name || len == 0 || len > TP_NODE_NAME_MAX
        || s_name_len (name, len) != len)
        return 0;
    pthread_mutex_lock (&s_lock);
    s_init ();
    if (s_used >= S_SLOTS - S_SLOTS / 4)
        s_rehash ();
    bool found;
    uint32_t slot = s_find (name, len, inc, &found);
    uint32_t id = 0;
    if (found) {
        s_entry *e = &s_ent[s_slots[slot]];
        e->recent = true;
        id = atomic_load_explicit (&e->id, memory_order_relaxed);
    }
    else {
        s_entry *o = origin ? s_entry_of (origin) : NULL;
        uint32_t x;
        if (o && o->charge_max && o->charged >= o->charge_max) {
            x = s_recycle (o);
            if (!x)
                s_refused++;
            o = x ? s_entry_of (origin) : NULL; /* (o itself stays) */
        }
        else
            x = s_nfree ? s_free[--s_nfree] : s_reclaim ();
        if (o && !s_entry_of (origin))
            o = NULL; /* (the clock reclaimed the origin itself) */
        if (x) {
            s_entry *e = &s_ent[x];
            memcpy (e->name, name, len);
            e->name[len] = '\0';
            e->len = (uint8_t) len;
            /* release: whoever reads the new incarnation also sees the
               id cleared above (tp_node_incarnation checks it after) */
            atomic_store_explicit (&e->inc, inc, memory_order_release);
            e->recent = true;
            atomic_store_explicit (&e->pins, 0, memory_order_relaxed);
            id = (e->gen << S_NODE_BITS) | x;
            e->gen = (e->gen + 1) & ((1u << (32 - S_NODE_BITS)) - 1);
            if (s_slots[slot] == S_EMPTY)
                s_used++;
            s_slots[slot] = (uint16_t) x;
            if (o) { /* charged: the newest of o's ring */
                e->charged_to = origin;
                if (!o->ch_head) {
                    o->ch_head = (uint16_t) x;
                    e->ch_prev = e->ch_next = (uint16_t) x;
                }
                else {
                    uint16_t h = o->ch_head, t = s_ent[h].ch_prev;
                    e->ch_prev = t;
                    e->ch_next = h;
                    s_ent[t].ch_next = (uint16_t) x;
                    s_ent[h].ch_prev = (uint16_t) x;
                }
                o->charged++;
            }
            atomic_store_explicit (&e->id, id, memory_order_release);
        }
    }
    pthread_mutex_unlock (&s_lock);
    return id;
}

/*  The entry of a live id, or NULL. Lock-free. */
static s_entry *
s_entry_of (uint32_t id)
{
    uint32_t x = id & S_NODE_MASK;
    if (x == 0)
        return NULL;
    s_entry *e = &s_ent[x];
    return atomic_load_explicit (&e->id, memory_order_acquire) == id ? e : NULL;
}

int
tp__node_pin (uint32_t id, int delta)
{
    pthread_mutex_lock (&s_lock);
    s_entry *e = s_entry_of (id);
    int rc = e ? 0 : TP_ENOTFOUND;
    if (e) {
        int32_t was = atomic_fetch_add_explicit (&e->pins, delta,
                                                 memory_order_relaxed);
        assert (was + delta >= 0);
        (void) was;
        e->recent = true;
    }
    pthread_mutex_unlock (&s_lock);
    return rc;
}

uint32_t
tp_node_incarnation (uint32_t node)
{
    s_entry *e = s_entry_of (node); /* (acquire: the id, then its fields) */
    if (!e)
        return 0;
    uint32_t inc = atomic_load_explicit (&e->inc, memory_order_acquire);
    /* still the same id: the incarnation read was of that id */
    return atomic_load_explicit (&e->id, memory_order_relaxed) == node ? inc
                                                                       : 0;
}

bool
tp__node_same_name (uint32_t a, uint32_t b)
{
    if (a == b)
        return a != 0;
    char x[TP_NODE_NAME_MAX + 1], y[TP_NODE_NAME_MAX + 1];
    return tp__node_name_copy (a, x) && tp__node_name_copy (b, y)
           && strcmp (x, y) == 0;
}

bool
tp__node_get (uint32_t node, char out[TP_NODE_NAME_MAX + 1], uint32_t *inc)
{
    pthread_mutex_lock (&s_lock);
    s_entry *e = s_entry_of (node);
    if (e) {
        memcpy (out, e->name, (size_t) e->len + 1);
        if (inc)
            *inc = atomic_load_explicit (&e->inc, memory_order_relaxed);
    }
    pthread_mutex_unlock (&s_lock);
    return e != NULL;
}

bool
tp__node_name_copy (uint32_t node, char out[TP_NODE_NAME_MAX + 1])
{
    return tp__node_get (node, out, NULL);
}

uint32_t
tp_node_id (const char *name)
{
    if (!name)
        return 0;
    return tp__node_intern (name, strnlen (name, TP_NODE_NAME_MAX + 1), 0);
}

const char *
tp_node_name (uint32_t node)
{
    s_entry *e = s_entry_of (node);
    return e ? e->name : NULL;
}

int
tp_ref_format (tp_ref r, char *buf, size_t cap)
{
    int n;
    char name[TP_NODE_NAME_MAX + 1];
    uint32_t inc = 0;
    if (tp_ref_is_nil (r))
        n = snprintf (buf, cap, "nil");
    else if (!tp__node_get (r.node, name, &inc))
        n = snprintf (buf, cap, "?/%" PRIu32 ".%" PRIu32, r.index, r.gen);
    else {
        if (inc)
            n = snprintf (buf, cap, "%s/%" PRIu32 ".%" PRIu32 ":%08" PRIx32,
                          name, r.index, r.gen, inc);
        else
            n = snprintf (buf, cap, "%s/%" PRIu32 ".%" PRIu32, name, r.index,
                          r.gen);
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

/*  Parses exactly 8 lower-case hex digits, not all zero. */
static int
s_parse_inc (const char *s, uint32_t *out)
{
    uint32_t v = 0;
    for (int i = 0; i < 8; i++) {
        char c = s[i];
        if (c >= '0' && c <= '9')
            v = v << 4 | (uint32_t) (c - '0');
        else if (c >= 'a' && c <= 'f')
            v = v << 4 | (uint32_t) (c - 'a' + 10);
        else
            return TP_EINVAL;
    }
    if (s[8] != '\0' || v == 0)
        return TP_EINVAL;
    *out = v;
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
    size_t len = (size_t) (slash - text);
    const char *p = slash + 1;
    uint32_t index, gen, inc = 0;
    if (s_parse_u32 (&p, &index) || *p != '.')
        return TP_EINVAL;
    p++;
    if (s_parse_u32 (&p, &gen) || gen == 0)
        return TP_EINVAL;
    if (*p == ':') {
        if (s_parse_inc (p + 1, &inc))
            return TP_EINVAL;
    }
    else if (*p != '\0')
        return TP_EINVAL;

    /*  Only now, with the whole text checked, may the name be interned. */
    uint32_t node = tp__node_intern (text, len, inc);
    if (node == 0)
        return TP_EINVAL;
    out->node = node;
    out->index = index;
    out->gen = gen;
    return 0;
}

int
tp__node_charge_max (uint32_t id, uint32_t max)
{
    pthread_mutex_lock (&s_lock);
    s_entry *e = s_entry_of (id);
    if (e)
        e->charge_max = max;
    pthread_mutex_unlock (&s_lock);
    return e ? 0 : TP_ENOTFOUND;
}

void
tp__node_charges (uint64_t *recycled, uint64_t *refused)
{
    *recycled = atomic_load_explicit (&s_recycled, memory_order_relaxed);
    *refused = atomic_load_explicit (&s_refused, memory_order_relaxed);
}
