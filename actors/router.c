/*  actors/router.c: the router actor (actors/router.h).

    Built only on the public API (and msgpack-c, to find the extent of
    a body's first value).
*/
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include <troupe/router.h>
#include <troupe/troupe.h>

#define POINTS 64 /* ring points per routee */

typedef struct {
    uint64_t h;  /* position on the ring */
    size_t who;  /* routee index */
} point_t;

typedef struct {
    tp_route_strategy strategy;
    uint64_t (*key) (const tp_msg *msg);
    tp_ref *r;        /* routees */
    int64_t *mon;     /* their monitors */
    size_t n, cap;
    size_t next;      /* round robin */
    uint64_t rnd;     /* random: xorshift state */
    point_t *ring;    /* hash: n * POINTS points, sorted */
} self_t;

static pthread_once_t s_once = PTHREAD_ONCE_INIT;
static tp_tag_t T_ADD, T_DEL, T_LS, T_DOWN, T_OK, T_ERROR, T_ROUTEES;

static void
s_tags (void)
{
    T_ADD = tp_tag ("router_add");
    T_DEL = tp_tag ("router_del");
    T_LS = tp_tag ("router_ls");
    T_DOWN = tp_tag ("_down");
    T_OK = tp_tag ("ok");
    T_ERROR = tp_tag ("error");
    T_ROUTEES = tp_tag ("routees");
}

static uint64_t
s_fnv (const void *p, size_t n, uint64_t h)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}

static uint64_t
s_mix (uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

/*  A routee's place on the ring: from its text form, so that every
    process that routes by the same refs picks the same routee. */
static uint64_t
s_ref_hash (tp_ref r)
{
    char text[TP_REF_STRLEN];
    int n = tp_ref_format (r, text, sizeof text);
    return s_fnv (text, n > 0 ? (size_t) n : 0, 0xcbf29ce484222325ULL);
}

static int
s_point_cmp (const void *a, const void *b)
{
    const point_t *x = a, *y = b;
    return x->h < y->h ? -1 : x->h > y->h ? 1 : (x->who > y->who) - (x->who < y->who);
}

static point_t *
s_ring (const tp_ref *r, size_t n)
{
    point_t *p = malloc ((n ? n : 1) * POINTS * sizeof *p);
    if (!p)
        abort ();
    for (size_t i = 0; i < n; i++) {
        uint64_t base = s_ref_hash (r[i]);
        for (int v = 0; v < POINTS; v++)
            p[i * POINTS + (size_t) v]
                = (point_t){s_mix (base + (uint64_t) v * 0x9E3779B97F4A7C15ULL),
                            i};
    }
    qsort (p, n * POINTS, sizeof *p, s_point_cmp);
    return p;
}

static size_t
s_ring_pick (const point_t *p, size_t npoints, uint64_t key)
{
    uint64_t h = s_mix (key);
    size_t lo = 0, hi = npoints; /* first point >= h, wrapping */
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (p[mid].h < h)
            lo = mid + 1;
        else
            hi = mid;
    }
    return p[lo == npoints ? 0 : lo].who;
}

size_t
tp_router_hash_pick (const tp_ref *routees, size_t n, uint64_t key)
{
    if (!routees || !n)
        return 0;
    point_t *p = s_ring (routees, n);
    size_t who = s_ring_pick (p, n * POINTS, key);
    free (p);
    return who;
}

/*  The default key: the msgpack bytes of the body's first value. */
static uint64_t
s_body_key (const tp_msg *msg)
{
    const char *body = tp_msg_body (msg);
    size_t size = tp_msg_size (msg), off = 0;
    msgpack_unpacked u;
    msgpack_unpacked_init (&u);
    size_t len = size;
    if (size && msgpack_unpack_next (&u, body, size, &off)
                    == MSGPACK_UNPACK_SUCCESS)
        len = off;
    msgpack_unpacked_destroy (&u);
    return s_fnv (body, len, 0xcbf29ce484222325ULL);
}

static void
s_self_rebuild (self_t *self)
{
    free (self->ring);
    self->ring = self->strategy == TP_ROUTE_HASH ? s_ring (self->r, self->n)
                                                 : NULL;
}

static void
s_self_add (tp_actor *me, self_t *self, tp_ref r)
{
    for (size_t i = 0; i < self->n; i++)
        if (tp_ref_eq (self->r[i], r))
            return;
    if (self->n == self->cap) {
        self->cap = self->cap ? 2 * self->cap : 8;
        self->r = realloc (self->r, self->cap * sizeof *self->r);
        self->mon = realloc (self->mon, self->cap * sizeof *self->mon);
        if (!self->r || !self->mon)
            abort ();
    }
    self->r[self->n] = r;
    self->mon[self->n] = tp_monitor (me, r);
    self->n++;
    s_self_rebuild (self);
}

static bool
s_self_del (tp_actor *me, self_t *self, tp_ref r, bool demonitor)
{
    for (size_t i = 0; i < self->n; i++)
        if (tp_ref_eq (self->r[i], r)) {
            if (demonitor)
                tp_demonitor (me, self->mon[i]);
            self->n--;
            memmove (self->r + i, self->r + i + 1,
                     (self->n - i) * sizeof *self->r);
            memmove (self->mon + i, self->mon + i + 1,
                     (self->n - i) * sizeof *self->mon);
            if (self->next > i)
                self->next--;
            s_self_rebuild (self);
            return true;
        }
    return false;
}

static void
s_self_route (tp_actor *me, self_t *self, tp_msg *msg)
{
    if (!self->n) {
        if (tp_msg_is_request (msg))
            tp_reply (me, msg, T_ERROR, "i", TP_ENOTFOUND);
        return;
    }
    size_t who = 0;
    switch (self->strategy) {
    case TP_ROUTE_BROADCAST:
        for (size_t i = 0; i < self->n; i++)
            tp_forward (me, self->r[i], msg);
        return;
    case TP_ROUTE_RANDOM:
        self->rnd ^= self->rnd << 13;
        self->rnd ^= self->rnd >> 7;
        self->rnd ^= self->rnd << 17;
        who = (size_t) (self->rnd % self->n);
        break;
    case TP_ROUTE_HASH:
        who = s_ring_pick (self->ring, self->n * POINTS,
                           self->key ? self->key (msg) : s_body_key (msg));
        break;
    case TP_ROUTE_ROUND_ROBIN:
    default:
        who = self->next++ % self->n;
        break;
    }
    tp_forward (me, self->r[who], msg);
}

static self_t *
s_self_new (const tp_router_opts *o, tp_ref me)
{
    self_t *self = calloc (1, sizeof *self);
    if (!self)
        abort (); /* (troupe's out-of-memory policy) */
    self->strategy = o->strategy;
    self->key = o->key;
    self->rnd = (uint64_t) me.index * 0x9E3779B97F4A7C15ULL + me.gen + 1;
    return self;
}

static void
s_self_destroy (self_t **self_p)
{
    self_t *self = *self_p;
    if (self) {
        free (self->r);
        free (self->mon);
        free (self->ring);
        free (self);
        *self_p = NULL;
    }
}

static int
s_init (tp_actor *me, void *arg)
{
    pthread_once (&s_once, s_tags);
    tp_router_opts *o = arg;
    self_t *self = s_self_new (o, tp_self (me));
    tp_set_state (me, self);
    for (size_t i = 0; i < o->nroutees; i++)
        s_self_add (me, self, o->routees[i]);
    s_self_rebuild (self);
    return 0;
}

static void
s_receive (tp_actor *me, tp_msg *msg)
{
    self_t *self = tp_state (me);
    tp_tag_t tag = tp_msg_tag (msg);
    tp_ref r;
    uint64_t id;
    tp_tag_t why;
    if (tag == T_DOWN) {
        if (tp_msg_unpack (msg, "Urt", &id, &r, &why) == 0)
            s_self_del (me, self, r, false);
    }
    else if (tag == T_ADD && tp_msg_unpack (msg, "r", &r) == 0) {
        s_self_add (me, self, r);
        if (tp_msg_is_request (msg))
            tp_reply (me, msg, T_OK, NULL);
    }
    else if (tag == T_DEL && tp_msg_unpack (msg, "r", &r) == 0) {
        bool was = s_self_del (me, self, r, true);
        if (tp_msg_is_request (msg)) {
            if (was)
                tp_reply (me, msg, T_OK, NULL);
            else
                tp_reply (me, msg, T_ERROR, "i", TP_ENOTFOUND);
        }
    }
    else if (tag == T_LS && tp_msg_is_request (msg)) {
        tp_msg *out = tp_msg_new (T_ROUTEES, "i", (int) self->n);
        for (size_t i = 0; i < self->n; i++)
            tp_msg_pack (out, "r", self->r[i]);
        if (tp_reply_msg (me, msg, &out) != 0)
            tp_msg_destroy (&out);
    }
    else
        s_self_route (me, self, msg);
}

static void
s_terminate (tp_actor *me, tp_tag_t reason)
{
    (void) reason;
    self_t *self = tp_state (me);
    s_self_destroy (&self);
    tp_router_opts *o = tp_arg (me);
    if (o) {
        free ((void *) o->routees);
        free (o);
    }
}

static const tp_behavior s_router_b = {"router", s_init, s_receive,
                                       s_terminate};

int
tp_router_start (tp_system *sys, const tp_router_opts *opts,
                 const tp_spawn_opts *spawn, tp_ref *ref)
{
    if (!sys || !opts || opts->strategy > TP_ROUTE_HASH
        || (opts->nroutees && !opts->routees))
        return TP_EINVAL;
    pthread_once (&s_once, s_tags);
    tp_router_opts *o = malloc (sizeof *o);
    tp_ref *r = malloc ((opts->nroutees ? opts->nroutees : 1) * sizeof *r);
    if (!o || !r)
        abort ();
    *o = *opts;
    if (opts->nroutees)
        memcpy (r, opts->routees, opts->nroutees * sizeof *r);
    o->routees = r;
    int rc = tp_spawn (sys, &s_router_b, o, spawn, ref);
    if (rc) {
        free (r);
        free (o);
    }
    return rc;
}
