/*  actors/pg.c: the process-group scope actor (actors/pg.h).

    Built only on the public API. One scope per node, "_pg". It keeps
    every group's members with their node's name; monitors its own
    node's members; hears node up and down (tp_node_monitor); finds the
    other nodes' scopes by name (tp_node_lookup) and talks to them:
        pg_sync  [b answer, i n, n x [s group, r member]]  all I hold of mine
        pg_rjoin [s group, r member] / pg_rleave [s group, r member]
        pg_fan   [s group, t tag, x body]                  publish here
    Local actors send it pg_join / pg_leave [s group] and pg_pub [s group,
    t tag, x body].
*/
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <troupe/pg.h>
#include <troupe/troupe.h>

typedef struct {
    tp_ref ref;
    char node[TP_NODE_NAME_MAX + 1]; /* its node's name */
} member_t;

typedef struct {
    char name[TP_PG_NAME_MAX + 1];
    member_t *m;
    size_t n, cap;
} group_t;

typedef struct {
    char node[TP_NODE_NAME_MAX + 1];
    tp_ref scope; /* its "_pg" */
} peer_t;

typedef struct {
    tp_ref ref;     /* a member of this node */
    int64_t mon;    /* the monitor on it */
} local_t;

typedef struct {
    char me[TP_NODE_NAME_MAX + 1]; /* this node's name */
    group_t **g;
    size_t ng, capg;
    peer_t *p;
    size_t np, capp;
    local_t *l;
    size_t nl, capl;
} self_t;

static pthread_once_t s_once = PTHREAD_ONCE_INIT;
static tp_tag_t T_JOIN, T_LEAVE, T_PUB, T_SYNC, T_RJOIN, T_RLEAVE, T_FAN,
    T_DOWN, T_NODEUP, T_NODEDOWN, T_MEMBERS, T_LOCAL, T_GROUPS;

static void
s_tags (void)
{
    T_JOIN = tp_tag ("pg_join");
    T_LEAVE = tp_tag ("pg_leave");
    T_PUB = tp_tag ("pg_pub");
    T_SYNC = tp_tag ("pg_sync");
    T_RJOIN = tp_tag ("pg_rjoin");
    T_RLEAVE = tp_tag ("pg_rleave");
    T_FAN = tp_tag ("pg_fan");
    T_DOWN = tp_tag ("_down");
    T_NODEUP = tp_tag ("_nodeup");
    T_NODEDOWN = tp_tag ("_nodedown");
    T_MEMBERS = tp_tag ("pg_members");
    T_LOCAL = tp_tag ("pg_local");
    T_GROUPS = tp_tag ("pg_groups");
}

static void *
s_grow (void *p, size_t *cap, size_t size)
{
    *cap = *cap ? 2 * *cap : 8;
    p = realloc (p, *cap * size);
    if (!p)
        abort (); /* (troupe's out-of-memory policy) */
    return p;
}

static void
s_node_of (tp_ref r, char out[TP_NODE_NAME_MAX + 1])
{
    const char *n = tp_node_name (r.node);
    snprintf (out, TP_NODE_NAME_MAX + 1, "%s", n ? n : "?");
}

/* ------------------------------------------------------------------ */
/*  Groups                                                             */

static group_t *
s_self_group (self_t *self, const char *name, size_t len, bool make)
{
    for (size_t i = 0; i < self->ng; i++)
        if (strlen (self->g[i]->name) == len
            && memcmp (self->g[i]->name, name, len) == 0)
            return self->g[i];
    if (!make || len == 0 || len > TP_PG_NAME_MAX)
        return NULL;
    if (self->ng == self->capg)
        self->g = s_grow (self->g, &self->capg, sizeof *self->g);
    group_t *g = calloc (1, sizeof *g);
    if (!g)
        abort ();
    memcpy (g->name, name, len);
    self->g[self->ng++] = g;
    return g;
}

static void
s_group_add (group_t *g, tp_ref r, const char *node)
{
    if (g->n == g->cap)
        g->m = s_grow (g->m, &g->cap, sizeof *g->m);
    g->m[g->n].ref = r;
    snprintf (g->m[g->n].node, sizeof g->m[g->n].node, "%s", node);
    g->n++;
}

/*  Removes one membership of r in g (all of them if all). */
static int
s_group_del (group_t *g, tp_ref r, bool all)
{
    int gone = 0;
    for (size_t i = 0; i < g->n;)
        if (tp_ref_eq (g->m[i].ref, r)) {
            g->m[i] = g->m[--g->n];
            gone++;
            if (!all)
                break;
        }
        else
            i++;
    return gone;
}

/*  Drops every member of node `node`. */
static void
s_self_drop_node (self_t *self, const char *node)
{
    for (size_t k = 0; k < self->ng; k++) {
        group_t *g = self->g[k];
        for (size_t i = 0; i < g->n;)
            if (strcmp (g->m[i].node, node) == 0)
                g->m[i] = g->m[--g->n];
            else
                i++;
    }
}

static peer_t *
s_self_peer (self_t *self, const char *node)
{
    for (size_t i = 0; i < self->np; i++)
        if (strcmp (self->p[i].node, node) == 0)
            return &self->p[i];
    return NULL;
}

/*  Tells every other node's scope tag [s group, r member]. */
static void
s_self_tell_peers (tp_actor *me, self_t *self, tp_tag_t tag,
                   const char *group, tp_ref member)
{
    for (size_t i = 0; i < self->np; i++)
        tp_tell (me, self->p[i].scope, tag, "sr", group, member);
}

/*  All of this node's memberships, to scope `to`. */
static void
s_self_sync (tp_actor *me, self_t *self, tp_ref to, bool answer)
{
    size_t n = 0;
    for (size_t k = 0; k < self->ng; k++)
        for (size_t i = 0; i < self->g[k]->n; i++)
            n += strcmp (self->g[k]->m[i].node, self->me) == 0;
    tp_msg *m = tp_msg_new (T_SYNC, "bi", answer, (int) n);
    for (size_t k = 0; k < self->ng; k++)
        for (size_t i = 0; i < self->g[k]->n; i++)
            if (strcmp (self->g[k]->m[i].node, self->me) == 0)
                tp_msg_pack (m, "[sr]", self->g[k]->name,
                             self->g[k]->m[i].ref);
    if (tp_tell_msg (me, to, &m) != 0)
        tp_msg_destroy (&m);
}

/* ------------------------------------------------------------------ */
/*  Local members                                                      */

static void
s_self_watch (tp_actor *me, self_t *self, tp_ref r)
{
    for (size_t i = 0; i < self->nl; i++)
        if (tp_ref_eq (self->l[i].ref, r))
            return;
    if (self->nl == self->capl)
        self->l = s_grow (self->l, &self->capl, sizeof *self->l);
    self->l[self->nl].ref = r;
    self->l[self->nl].mon = tp_monitor (me, r);
    self->nl++;
}

static void
s_self_handle_join (tp_actor *me, self_t *self, const tp_msg *msg, bool join)
{
    const char *name;
    size_t len;
    tp_ref who = tp_msg_from (msg);
    if (tp_msg_unpack (msg, "s", &name, &len) != 0 || tp_ref_is_nil (who)
        || len == 0 || len > TP_PG_NAME_MAX)
        return;
    group_t *g = s_self_group (self, name, len, join);
    if (!g)
        return;
    if (join) {
        s_group_add (g, who, self->me);
        s_self_watch (me, self, who);
    }
    else if (!s_group_del (g, who, false))
        return;
    s_self_tell_peers (me, self, join ? T_RJOIN : T_RLEAVE, g->name, who);
}

/*  A local member ended: out of every group, everywhere. */
static void
s_self_handle_down (tp_actor *me, self_t *self, tp_ref who)
{
    for (size_t i = 0; i < self->nl; i++)
        if (tp_ref_eq (self->l[i].ref, who)) {
            self->l[i] = self->l[--self->nl];
            break;
        }
    for (size_t k = 0; k < self->ng; k++) {
        int gone = s_group_del (self->g[k], who, true);
        while (gone-- > 0)
            s_self_tell_peers (me, self, T_RLEAVE, self->g[k]->name, who);
    }
}

/* ------------------------------------------------------------------ */
/*  Other nodes                                                        */

typedef struct {
    char node[TP_NODE_NAME_MAX + 1];
} lookup_t;

static void
s_found (tp_actor *me, int status, tp_msg *reply, void *arg)
{
    lookup_t *lk = arg;
    self_t *self = tp_state (me);
    tp_ref scope = TP_REF_NIL;
    if (self && status == 0 && tp_msg_unpack (reply, "r", &scope) == 0
        && !tp_ref_is_nil (scope)) {
        peer_t *p = s_self_peer (self, lk->node);
        if (!p) {
            if (self->np == self->capp)
                self->p = s_grow (self->p, &self->capp, sizeof *self->p);
            p = &self->p[self->np++];
            snprintf (p->node, sizeof p->node, "%s", lk->node);
        }
        p->scope = scope;
        s_self_sync (me, self, scope, true);
    }
    free (lk);
}

static void
s_self_handle_nodeup (tp_actor *me, const char *name, size_t len)
{
    lookup_t *lk = calloc (1, sizeof *lk);
    if (!lk)
        abort ();
    snprintf (lk->node, sizeof lk->node, "%.*s", (int) len, name);
    if (tp_node_lookup (me, lk->node, "_pg", 10000, s_found, lk) != 0)
        free (lk); /* (gone again, or no scope there: nothing to do) */
}

static void
s_self_handle_nodedown (self_t *self, const char *name, size_t len)
{
    char node[TP_NODE_NAME_MAX + 1];
    snprintf (node, sizeof node, "%.*s", (int) len, name);
    for (size_t i = 0; i < self->np; i++)
        if (strcmp (self->p[i].node, node) == 0) {
            self->p[i] = self->p[--self->np];
            break;
        }
    s_self_drop_node (self, node);
}

/*  pg_sync from another scope: what it holds of its own node replaces
    what this scope held of that node. */
static void
s_self_handle_sync (tp_actor *me, self_t *self, const tp_msg *msg)
{
    tp_ref from = tp_msg_from (msg);
    char node[TP_NODE_NAME_MAX + 1];
    s_node_of (from, node);
    if (tp_ref_is_nil (from) || strcmp (node, self->me) == 0)
        return; /* (only another node's scope speaks for its node) */
    tp_reader rd;
    tp_reader_init (&rd, msg);
    bool answer;
    int n;
    if (tp_reader_next (&rd, "bi", &answer, &n) != 0 || n < 0)
        return;
    s_self_drop_node (self, node);
    for (int i = 0; i < n; i++) {
        const char *name;
        size_t len;
        tp_ref r;
        if (tp_reader_next (&rd, "[sr]", &name, &len, &r) != 0)
            break;
        group_t *g = s_self_group (self, name, len, true);
        if (g)
            s_group_add (g, r, node);
    }
    peer_t *p = s_self_peer (self, node);
    if (!p) { /* (it found us first) */
        if (self->np == self->capp)
            self->p = s_grow (self->p, &self->capp, sizeof *self->p);
        p = &self->p[self->np++];
        snprintf (p->node, sizeof p->node, "%s", node);
    }
    p->scope = from;
    if (answer)
        s_self_sync (me, self, from, false);
}

static void
s_self_handle_remote (self_t *self, const tp_msg *msg, bool join)
{
    const char *name;
    size_t len;
    tp_ref r;
    if (tp_msg_unpack (msg, "sr", &name, &len, &r) != 0
        || tp_ref_is_nil (tp_msg_from (msg)))
        return;
    char node[TP_NODE_NAME_MAX + 1];
    s_node_of (tp_msg_from (msg), node);
    if (strcmp (node, self->me) == 0)
        return; /* (this node's members join for themselves) */
    group_t *g = s_self_group (self, name, len, join);
    if (join && g)
        s_group_add (g, r, node);
    else if (g)
        s_group_del (g, r, false);
}

/* ------------------------------------------------------------------ */
/*  Publishing and questions                                           */

/*  Hands tag + body to this node's members of group, and (if `fan`) to
    each other node that has members, once. */
static void
s_self_publish (tp_actor *me, self_t *self, const tp_msg *msg, bool fan)
{
    const char *name;
    size_t len, blen;
    tp_tag_t tag;
    const void *body;
    if (tp_msg_unpack (msg, "stx", &name, &len, &tag, &body, &blen) != 0
        || !tag)
        return;
    group_t *g = s_self_group (self, name, len, false);
    if (!g)
        return;
    for (size_t i = 0; i < g->n; i++)
        if (strcmp (g->m[i].node, self->me) == 0) {
            tp_msg *m = tp_msg_new_raw (tag, body, blen);
            if (m && tp_tell_msg (me, g->m[i].ref, &m) != 0)
                tp_msg_destroy (&m);
        }
    if (!fan)
        return;
    for (size_t k = 0; k < self->np; k++) {
        bool has = false;
        for (size_t i = 0; i < g->n && !has; i++)
            has = strcmp (g->m[i].node, self->p[k].node) == 0;
        if (has)
            tp_tell (me, self->p[k].scope, T_FAN, "stx", g->name, tag, body,
                     blen);
    }
}

static void
s_self_handle_members (tp_actor *me, self_t *self, const tp_msg *req,
                       bool local)
{
    const char *name;
    size_t len;
    if (tp_msg_unpack (req, "s", &name, &len) != 0) {
        tp_reply (me, req, tp_tag ("error"), "i", TP_EINVAL);
        return;
    }
    group_t *g = s_self_group (self, name, len, false);
    size_t n = 0;
    for (size_t i = 0; g && i < g->n; i++)
        n += !local || strcmp (g->m[i].node, self->me) == 0;
    tp_msg *out = tp_msg_new (tp_tag ("members"), "i", (int) n);
    for (size_t i = 0; g && i < g->n; i++)
        if (!local || strcmp (g->m[i].node, self->me) == 0)
            tp_msg_pack (out, "r", g->m[i].ref);
    if (tp_reply_msg (me, req, &out) != 0)
        tp_msg_destroy (&out);
}

static void
s_self_handle_groups (tp_actor *me, self_t *self, const tp_msg *req)
{
    size_t n = 0;
    for (size_t k = 0; k < self->ng; k++)
        n += self->g[k]->n > 0;
    tp_msg *out = tp_msg_new (tp_tag ("groups"), "i", (int) n);
    for (size_t k = 0; k < self->ng; k++)
        if (self->g[k]->n)
            tp_msg_pack (out, "s", self->g[k]->name);
    if (tp_reply_msg (me, req, &out) != 0)
        tp_msg_destroy (&out);
}

/* ------------------------------------------------------------------ */
/*  The behaviour                                                      */

static self_t *
s_self_new (tp_ref me)
{
    self_t *self = calloc (1, sizeof *self);
    if (!self)
        abort (); /* (troupe's out-of-memory policy) */
    s_node_of (me, self->me);
    return self;
}

static void
s_self_destroy (self_t **self_p)
{
    self_t *self = *self_p;
    if (!self)
        return;
    for (size_t k = 0; k < self->ng; k++) {
        free (self->g[k]->m);
        free (self->g[k]);
    }
    free (self->g);
    free (self->p);
    free (self->l);
    free (self);
    *self_p = NULL;
}

static int
s_init (tp_actor *me, void *arg)
{
    (void) arg;
    pthread_once (&s_once, s_tags);
    self_t *self = s_self_new (tp_self (me));
    tp_set_state (me, self);
    tp_node_monitor (me, true);
    /* the nodes up already: as if they came up now */
    int n = tp_node_peers (tp_system_of (me), NULL, 0);
    if (n > 0) {
        tp_peer_info *p = calloc ((size_t) n, sizeof *p);
        if (!p)
            abort ();
        int got = tp_node_peers (tp_system_of (me), p, n);
        for (int i = 0; i < got && i < n; i++)
            if (p[i].up)
                s_self_handle_nodeup (me, p[i].name, strlen (p[i].name));
        free (p);
    }
    return 0;
}

static void
s_receive (tp_actor *me, tp_msg *msg)
{
    self_t *self = tp_state (me);
    tp_tag_t tag = tp_msg_tag (msg);
    const char *name;
    size_t len;
    uint64_t id;
    tp_ref who;
    tp_tag_t why;
    if (tag == T_JOIN || tag == T_LEAVE)
        s_self_handle_join (me, self, msg, tag == T_JOIN);
    else if (tag == T_PUB)
        s_self_publish (me, self, msg, true);
    else if (tag == T_FAN)
        s_self_publish (me, self, msg, false);
    else if (tag == T_DOWN) {
        if (tp_msg_unpack (msg, "Urt", &id, &who, &why) == 0)
            s_self_handle_down (me, self, who);
    }
    else if (tag == T_NODEUP) {
        if (tp_msg_unpack (msg, "sU", &name, &len, &id) == 0)
            s_self_handle_nodeup (me, name, len);
    }
    else if (tag == T_NODEDOWN) {
        if (tp_msg_unpack (msg, "sUt", &name, &len, &id, &why) == 0)
            s_self_handle_nodedown (self, name, len);
    }
    else if (tag == T_SYNC)
        s_self_handle_sync (me, self, msg);
    else if (tag == T_RJOIN || tag == T_RLEAVE)
        s_self_handle_remote (self, msg, tag == T_RJOIN);
    else if ((tag == T_MEMBERS || tag == T_LOCAL) && tp_msg_is_request (msg))
        s_self_handle_members (me, self, msg, tag == T_LOCAL);
    else if (tag == T_GROUPS && tp_msg_is_request (msg))
        s_self_handle_groups (me, self, msg);
}

static void
s_terminate (tp_actor *me, tp_tag_t reason)
{
    (void) reason;
    self_t *self = tp_state (me);
    s_self_destroy (&self);
}

static const tp_behavior s_pg_b = {"_pg", s_init, s_receive, s_terminate};

int
tp_pg_start (tp_system *sys, tp_ref *ref)
{
    pthread_once (&s_once, s_tags);
    tp_spawn_opts o = {.name = "_pg"};
    return tp_spawn (sys, &s_pg_b, NULL, &o, ref);
}

/* ------------------------------------------------------------------ */
/*  Calls                                                              */

static bool
s_name_ok (const char *group)
{
    return group && *group && strlen (group) <= TP_PG_NAME_MAX;
}

static int
s_scope_tell (tp_actor *self, tp_tag_t tag, const char *group)
{
    if (!self || !s_name_ok (group))
        return TP_EINVAL;
    pthread_once (&s_once, s_tags);
    tp_ref scope = tp_whereis (tp_system_of (self), "_pg");
    if (tp_ref_is_nil (scope))
        return TP_ENOTFOUND;
    return tp_tell (self, scope, tag, "s", group);
}

int
tp_pg_join (tp_actor *self, const char *group)
{
    pthread_once (&s_once, s_tags);
    return s_scope_tell (self, T_JOIN, group);
}

int
tp_pg_leave (tp_actor *self, const char *group)
{
    pthread_once (&s_once, s_tags);
    return s_scope_tell (self, T_LEAVE, group);
}

int
tp_pg_subscribe (tp_actor *self, const char *topic)
{
    return tp_pg_join (self, topic);
}

int
tp_pg_unsubscribe (tp_actor *self, const char *topic)
{
    return tp_pg_leave (self, topic);
}

/*  The pg_pub message for group: tag + a body packed from fmt. */
static tp_msg *
s_pub_msg (const char *group, tp_tag_t tag, const char *fmt, va_list ap,
           int *rc)
{
    tp_msg *body = tp_msg_newv (tag, fmt, ap);
    if (!body) {
        *rc = TP_EINVAL;
        return NULL;
    }
    tp_msg *m = tp_msg_new (T_PUB, "stx", group, tag, tp_msg_body (body),
                            tp_msg_size (body));
    tp_msg_destroy (&body);
    *rc = m ? 0 : TP_ETOOBIG;
    return m;
}

/*  Publishes from self (an actor) or, with self NULL, from outside. */
static int
s_publish (tp_system *sys, tp_actor *self, const char *group, tp_tag_t tag,
           const char *fmt, va_list ap)
{
    if (!sys || !s_name_ok (group) || !tag)
        return TP_EINVAL;
    pthread_once (&s_once, s_tags);
    tp_ref scope = tp_whereis (sys, "_pg");
    if (tp_ref_is_nil (scope))
        return TP_ENOTFOUND;
    int rc;
    tp_msg *m = s_pub_msg (group, tag, fmt, ap, &rc);
    if (!m)
        return rc;
    rc = self ? tp_tell_msg (self, scope, &m) : tp_send_msg (sys, scope, &m);
    tp_msg_destroy (&m);
    return rc;
}

int
tp_pg_publish (tp_actor *self, const char *group, tp_tag_t tag,
               const char *fmt, ...)
{
    if (!self)
        return TP_EINVAL;
    va_list ap;
    va_start (ap, fmt);
    int rc = s_publish (tp_system_of (self), self, group, tag, fmt, ap);
    va_end (ap);
    return rc;
}

int
tp_pg_send (tp_system *sys, const char *group, tp_tag_t tag,
            const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    int rc = s_publish (sys, NULL, group, tag, fmt, ap);
    va_end (ap);
    return rc;
}

int
tp_pg_members (tp_system *sys, const char *group, bool local_only,
               tp_ref *out, size_t cap, size_t *n, int timeout_ms)
{
    if (!sys || !s_name_ok (group) || !n || (cap && !out))
        return TP_EINVAL;
    pthread_once (&s_once, s_tags);
    tp_ref scope = tp_whereis (sys, "_pg");
    if (tp_ref_is_nil (scope))
        return TP_ENOTFOUND;
    tp_msg *r = NULL;
    int rc = tp_call (sys, scope, local_only ? T_LOCAL : T_MEMBERS, timeout_ms,
                      &r, "s", group);
    if (rc == 0) {
        tp_reader rd;
        tp_reader_init (&rd, r);
        int count = 0;
        rc = tp_reader_next (&rd, "i", &count);
        for (int i = 0; rc == 0 && i < count; i++) {
            tp_ref m;
            rc = tp_reader_next (&rd, "r", &m);
            if (rc == 0 && (size_t) i < cap)
                out[i] = m;
        }
        if (rc == 0)
            *n = (size_t) count;
    }
    tp_msg_destroy (&r);
    return rc;
}
