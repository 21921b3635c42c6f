/*  actors/supervisor.c: the supervisor actor (actors/supervisor.h).

    Built only on the public API. The supervisor links to every child and
    traps exits, so each end of a child arrives as _exit [r child, t
    reason]. What it does about an end is an operation: stop some
    children one at a time, in reverse start order (each: a stop with
    reason shutdown, then killed after its shutdown_ms), then start the
    ones marked again, in order (a restart), or answer and forget (a
    terminate_child), or end itself (a halt). Requests that come while
    an operation runs wait in a queue until it is over.
*/
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <troupe/supervisor.h>
#include <troupe/troupe.h>

/* ------------------------------------------------------------------ */
/*  State                                                              */

typedef struct {
    char id[TP_CHILD_ID_MAX + 1]; /* unique in the supervisor */
    const tp_behavior *b;         /* borrowed */
    void *arg;                    /* borrowed, given to every start */
    tp_spawn_opts opts;           /* name points at `name` below */
    char *name;                   /* copy of the registered name, or NULL */
    char *module, *config;        /* copies (process actors), or NULL */
    tp_restart restart;
    int shutdown_ms;              /* -1: no limit */
    tp_ref ref;                   /* nil while not running */
    uint32_t restarts;            /* starts after the first */
    bool want;                    /* start it when the operation ends */
    bool to_stop;                 /* stop it in this operation */
    uint64_t stop_seq;            /* nonzero while stopping (kill timer) */
    int64_t kill_timer;
} child_t;

enum { OP_NONE = 0, OP_RESTART, OP_TERM, OP_HALT };

typedef struct {
    tp_strategy strategy;
    int intensity;       /* restarts allowed per period (-1: none) */
    uint64_t period_ms;
    child_t **kids;      /* in start order */
    size_t nkids, capkids;
    uint64_t *hist;      /* times (ms) of the last restarts, a ring */
    size_t nhist, hist_at;
    uint64_t restarts;   /* restarts made, all children */
    int op;              /* OP_* running */
    tp_msg *op_req;      /* the request to answer when it ends, or NULL */
    tp_tag_t halt_reason;
    tp_msg **queue;      /* requests waiting for the operation to end */
    size_t nqueue, capqueue;
    uint64_t seq;        /* last stop_seq given */
} self_t;

static tp_tag_t T_EXIT, T_KILL, T_START, T_TERM, T_WHICH, T_HALT, T_OK,
    T_ERROR, T_CHILDREN, T_NORMAL, T_SHUTDOWN, T_KILLED;

static void
s_tags (void)
{
    T_EXIT = tp_tag ("_exit");
    T_KILL = tp_tag ("sup_kill");
    T_START = tp_tag ("sup_start");
    T_TERM = tp_tag ("sup_term");
    T_WHICH = tp_tag ("sup_which");
    T_HALT = tp_tag ("sup_halt");
    T_OK = tp_tag ("ok");
    T_ERROR = tp_tag ("error");
    T_CHILDREN = tp_tag ("children");
    T_NORMAL = tp_tag ("normal");
    T_SHUTDOWN = tp_tag ("shutdown");
    T_KILLED = tp_tag ("killed");
}

static pthread_once_t s_tags_once = PTHREAD_ONCE_INIT;

static uint64_t
s_now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

static const char *
s_tag_text (tp_tag_t t, char *buf, size_t cap)
{
    return tp_tag_name (t, buf, cap) == 0 ? buf : "?";
}

static bool s_is_supervisor (const tp_behavior *b);

/*  A valid child spec: an id of 1..63 bytes, a behaviour with receive. */
static bool
s_spec_valid (const tp_child_spec *c)
{
    bool process = c && c->opts.kind == TP_PROCESS;
    return c && c->id && c->id[0] && strlen (c->id) <= TP_CHILD_ID_MAX
           && (process ? c->opts.module != NULL
                       : c->behavior && c->behavior->receive)
           && c->restart >= TP_PERMANENT && c->restart <= TP_TEMPORARY
           && c->shutdown_ms >= -1;
}

static child_t *
s_child_new (const tp_child_spec *c)
{
    child_t *k = calloc (1, sizeof *k);
    if (!k)
        abort (); /* (the troupe out-of-memory policy) */
    snprintf (k->id, sizeof k->id, "%s", c->id);
    k->b = c->behavior;
    k->arg = c->arg;
    k->opts = c->opts;
    k->opts.link = true;
    k->name = c->opts.name ? strdup (c->opts.name) : NULL;
    k->opts.name = k->name;
    k->module = c->opts.module ? strdup (c->opts.module) : NULL;
    k->opts.module = k->module;
    k->config = c->opts.config ? strdup (c->opts.config) : NULL;
    k->opts.config = k->config;
    k->restart = c->restart;
    k->shutdown_ms = c->shutdown_ms == 0 ? 5000 : c->shutdown_ms;
    k->ref = TP_REF_NIL;
    return k;
}

static void
s_child_destroy (child_t **k_p)
{
    if (*k_p) {
        free ((*k_p)->name);
        free ((*k_p)->module);
        free ((*k_p)->config);
        free (*k_p);
        *k_p = NULL;
    }
}

static child_t *
s_self_find_id (self_t *self, const char *id, size_t len, size_t *at)
{
    for (size_t i = 0; i < self->nkids; i++)
        if (strlen (self->kids[i]->id) == len
            && memcmp (self->kids[i]->id, id, len) == 0) {
            if (at)
                *at = i;
            return self->kids[i];
        }
    return NULL;
}

static child_t *
s_self_find_ref (self_t *self, tp_ref ref, size_t *at)
{
    for (size_t i = 0; i < self->nkids; i++)
        if (!tp_ref_is_nil (self->kids[i]->ref)
            && tp_ref_eq (self->kids[i]->ref, ref)) {
            if (at)
                *at = i;
            return self->kids[i];
        }
    return NULL;
}

static void
s_self_add (self_t *self, child_t *k)
{
    if (self->nkids == self->capkids) {
        self->capkids = self->capkids ? 2 * self->capkids : 8;
        self->kids = realloc (self->kids, self->capkids * sizeof *self->kids);
        if (!self->kids)
            abort ();
    }
    self->kids[self->nkids++] = k;
}

static void
s_self_remove (self_t *self, size_t at)
{
    s_child_destroy (&self->kids[at]);
    memmove (self->kids + at, self->kids + at + 1,
             (self->nkids - at - 1) * sizeof *self->kids);
    self->nkids--;
}

static self_t *
s_self_new (const tp_sup_spec *spec)
{
    self_t *self = calloc (1, sizeof *self);
    if (!self)
        abort ();
    self->strategy = spec->strategy;
    self->intensity = spec->intensity == 0 ? 3 : spec->intensity;
    self->period_ms = spec->period_ms > 0 ? (uint64_t) spec->period_ms : 5000;
    size_t nh = self->intensity > 0 ? (size_t) self->intensity + 1 : 1;
    self->hist = calloc (nh, sizeof *self->hist);
    if (!self->hist)
        abort ();
    self->nhist = nh;
    for (size_t i = 0; i < spec->nchildren; i++)
        s_self_add (self, s_child_new (&spec->children[i]));
    return self;
}

static void
s_self_destroy (self_t **self_p)
{
    self_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->nkids; i++)
        s_child_destroy (&self->kids[i]);
    free (self->kids);
    free (self->hist);
    for (size_t i = 0; i < self->nqueue; i++)
        tp_msg_destroy (&self->queue[i]);
    free (self->queue);
    tp_msg_destroy (&self->op_req);
    free (self);
    *self_p = NULL;
}

/* ------------------------------------------------------------------ */
/*  Starting and stopping children                                     */

/*  Starts child k (linked to the supervisor). Returns tp_spawn's code. */
static int
s_self_start_child (tp_actor *me, self_t *self, child_t *k)
{
    (void) self;
    int rc = tp_spawn (tp_system_of (me), k->b, k->arg, &k->opts, &k->ref);
    if (rc) {
        k->ref = TP_REF_NIL;
        tp_log (tp_system_of (me), TP_LOG_ERROR,
                "child %s could not be started: %s", k->id, tp_strerror (rc));
    }
    return rc;
}

/*  Asks running child k to end: a stop with reason shutdown (a child
    supervisor halts its subtree in order), then killed after its
    shutdown_ms. */
static void
s_self_stop_child (tp_actor *me, self_t *self, child_t *k)
{
    k->stop_seq = ++self->seq;
    if (s_is_supervisor (k->b))
        tp_tell (me, k->ref, T_HALT, NULL);
    else
        tp_stop (me, k->ref, T_SHUTDOWN);
    k->kill_timer = k->shutdown_ms >= 0
                        ? tp_after (me, k->shutdown_ms, T_KILL, "U",
                                    k->stop_seq)
                        : 0;
}

static void s_self_op_done (tp_actor *me, self_t *self);

/*  Stops the next child of the operation (the last in start order that
    is marked and running), or ends the operation when none is left. */
static void
s_self_stop_next (tp_actor *me, self_t *self)
{
    for (size_t i = self->nkids; i-- > 0;) {
        child_t *k = self->kids[i];
        if (k->stop_seq)
            return; /* (one at a time: wait for it) */
        if (k->to_stop && !tp_ref_is_nil (k->ref)) {
            s_self_stop_child (me, self, k);
            return;
        }
        k->to_stop = false;
    }
    s_self_op_done (me, self);
}

/*  Begins operation op, stopping the children marked to_stop. */
static void
s_self_op_begin (tp_actor *me, self_t *self, int op)
{
    self->op = op;
    s_self_stop_next (me, self);
}

/*  Gives up or ends: stops every child in reverse order, then ends with
    reason. Answers req (owned; may be NULL) just before. */
static void
s_self_halt (tp_actor *me, self_t *self, tp_tag_t reason, tp_msg *req)
{
    if (self->op == OP_HALT) { /* (already on its way) */
        tp_msg_destroy (&req);
        return;
    }
    if (req) {
        tp_msg_destroy (&self->op_req);
        self->op_req = req;
    }
    self->halt_reason = reason;
    for (size_t i = 0; i < self->nkids; i++) {
        self->kids[i]->to_stop = true;
        self->kids[i]->want = false;
    }
    s_self_op_begin (me, self, OP_HALT);
}

static void s_self_handle_request (tp_actor *me, self_t *self, tp_msg *req,
                                   bool owned);

static void
s_self_op_done (tp_actor *me, self_t *self)
{
    int op = self->op;
    self->op = OP_NONE;
    if (op == OP_HALT) {
        if (self->op_req)
            tp_reply (me, self->op_req, T_OK, NULL);
        tp_msg_destroy (&self->op_req);
        tp_exit (me, self->halt_reason);
        return;
    }
    if (op == OP_TERM) {
        const char *id;
        size_t len, at;
        if (self->op_req && tp_msg_unpack (self->op_req, "s", &id, &len) == 0
            && s_self_find_id (self, id, len, &at))
            s_self_remove (self, at);
        if (self->op_req)
            tp_reply (me, self->op_req, T_OK, NULL);
        tp_msg_destroy (&self->op_req);
    }
    /* Starts what is marked, in order (a restart, or children that ended
       while another operation ran). */
    for (size_t i = 0; i < self->nkids; i++) {
        child_t *k = self->kids[i];
        if (!k->want)
            continue;
        k->want = false;
        if (!tp_ref_is_nil (k->ref))
            continue;
        if (s_self_start_child (me, self, k) != 0) {
            s_self_halt (me, self, T_SHUTDOWN, NULL);
            return;
        }
        k->restarts++;
        self->restarts++;
        tp_system_note_restart (tp_system_of (me));
    }
    /* Then the requests that waited. */
    while (self->op == OP_NONE && self->nqueue) {
        tp_msg *req = self->queue[0];
        memmove (self->queue, self->queue + 1,
                 --self->nqueue * sizeof *self->queue);
        s_self_handle_request (me, self, req, true);
    }
}

/*  One more restart now: false if that is more than the intensity allows
    in the period (the supervisor gives up). */
static bool
s_self_note_restart (self_t *self)
{
    if (self->intensity < 0)
        return false;
    uint64_t now = s_now_ms ();
    self->hist[self->hist_at] = now;
    self->hist_at = (self->hist_at + 1) % self->nhist;
    size_t recent = 0;
    for (size_t i = 0; i < self->nhist; i++)
        if (self->hist[i] && now - self->hist[i] <= self->period_ms)
            recent++;
    return recent <= (size_t) self->intensity;
}

/* ------------------------------------------------------------------ */
/*  Events                                                             */

/*  _exit [r actor, t reason]: a child (or the actor we are linked to
    above us) ended. */
static void
s_self_handle_exit (tp_actor *me, self_t *self, tp_ref who, tp_tag_t reason)
{
    tp_system *sys = tp_system_of (me);
    char why[TP_TAG_MAX_LEN + 1];
    size_t at;
    child_t *k = s_self_find_ref (self, who, &at);
    if (!k) {
        /* not a child: the parent we are linked to ended */
        if (reason != T_NORMAL)
            s_self_halt (me, self, reason, NULL);
        return;
    }
    k->ref = TP_REF_NIL;
    if (k->stop_seq) { /* an end we asked for */
        k->stop_seq = 0;
        k->to_stop = false;
        if (k->kill_timer > 0)
            tp_cancel (me, k->kill_timer);
        k->kill_timer = 0;
        if (self->op == OP_NONE)
            return; /* (a kill timer's child that ended on its own) */
        s_self_stop_next (me, self);
        return;
    }
    bool again = k->restart == TP_PERMANENT
                 || (k->restart == TP_TRANSIENT && reason != T_NORMAL
                     && reason != T_SHUTDOWN);
    if (!again) {
        tp_log (sys, TP_LOG_INFO, "child %s ended (%s), not restarted (%s)",
                k->id, s_tag_text (reason, why, sizeof why),
                k->restart == TP_TEMPORARY ? "temporary" : "transient");
        if (k->restart == TP_TEMPORARY && self->op == OP_NONE)
            s_self_remove (self, at);
        return;
    }
    if (self->op == OP_HALT)
        return;
    if (!s_self_note_restart (self)) {
        tp_log (sys, TP_LOG_ERROR,
                "child %s ended (%s): more than %d restarts in %llu ms, "
                "giving up",
                k->id, s_tag_text (reason, why, sizeof why), self->intensity,
                (unsigned long long) self->period_ms);
        s_self_halt (me, self, T_SHUTDOWN, NULL);
        return;
    }
    tp_log (sys, TP_LOG_INFO, "child %s ended (%s): restarting (%s, restart "
            "%u of this child)",
            k->id, s_tag_text (reason, why, sizeof why),
            self->strategy == TP_ONE_FOR_ONE   ? "one_for_one"
            : self->strategy == TP_ONE_FOR_ALL ? "one_for_all"
                                               : "rest_for_one",
            k->restarts + 1);
    k->want = true;
    if (self->strategy != TP_ONE_FOR_ONE)
        for (size_t i = self->strategy == TP_ONE_FOR_ALL ? 0 : at;
             i < self->nkids; i++) {
            child_t *o = self->kids[i];
            if (o == k || o->restart == TP_TEMPORARY)
                continue;
            o->want = true;
            o->to_stop = true;
        }
    if (self->op == OP_NONE)
        s_self_op_begin (me, self, OP_RESTART);
}

static void
s_self_handle_kill (tp_actor *me, self_t *self, uint64_t seq)
{
    for (size_t i = 0; i < self->nkids; i++) {
        child_t *k = self->kids[i];
        if (k->stop_seq == seq && !tp_ref_is_nil (k->ref)) {
            char why[TP_TAG_MAX_LEN + 1];
            tp_log (tp_system_of (me), TP_LOG_WARN,
                    "child %s did not end within %d ms of %s: killed", k->id,
                    k->shutdown_ms, s_tag_text (T_SHUTDOWN, why, sizeof why));
            k->kill_timer = 0;
            tp_stop (me, k->ref, T_KILLED);
        }
    }
}

static void
s_reply_error (tp_actor *me, const tp_msg *req, int rc)
{
    if (tp_msg_is_request (req))
        tp_reply (me, req, T_ERROR, "i", rc);
}

/*  sup_start [U spec] / sup_term [s id] / sup_which / sup_halt. owned:
    req is a copy the supervisor owns (a request that waited). */
static void
s_self_handle_request (tp_actor *me, self_t *self, tp_msg *req, bool owned)
{
    tp_tag_t tag = tp_msg_tag (req);
    if (self->op != OP_NONE && tag != T_WHICH) {
        if (tag == T_HALT) { /* (a halt never waits: it takes over) */
            s_self_halt (me, self, T_SHUTDOWN, owned ? req : tp_msg_dup (req));
            return;
        }
        if (self->nqueue == self->capqueue) {
            self->capqueue = self->capqueue ? 2 * self->capqueue : 8;
            self->queue = realloc (self->queue,
                                   self->capqueue * sizeof *self->queue);
            if (!self->queue)
                abort ();
        }
        self->queue[self->nqueue++] = owned ? req : tp_msg_dup (req);
        return;
    }
    if (tag == T_START) {
        uint64_t p = 0;
        const tp_child_spec *c = NULL;
        if (tp_msg_unpack (req, "U", &p) == 0)
            c = (const tp_child_spec *) (uintptr_t) p;
        if (!s_spec_valid (c))
            s_reply_error (me, req, TP_EINVAL);
        else if (s_self_find_id (self, c->id, strlen (c->id), NULL))
            s_reply_error (me, req, TP_EEXIST);
        else {
            child_t *k = s_child_new (c);
            int rc = s_self_start_child (me, self, k);
            if (rc) {
                s_child_destroy (&k);
                s_reply_error (me, req, rc);
            }
            else {
                s_self_add (self, k);
                if (tp_msg_is_request (req))
                    tp_reply (me, req, T_OK, "r", k->ref);
            }
        }
    }
    else if (tag == T_TERM) {
        const char *id;
        size_t len;
        child_t *k = NULL;
        if (tp_msg_unpack (req, "s", &id, &len) == 0)
            k = s_self_find_id (self, id, len, NULL);
        if (!k)
            s_reply_error (me, req, TP_ENOTFOUND);
        else {
            k->to_stop = true;
            k->want = false;
            self->op_req = owned ? req : tp_msg_dup (req);
            s_self_op_begin (me, self, OP_TERM);
            return; /* (the operation owns req now) */
        }
    }
    else if (tag == T_WHICH) {
        tp_msg *r = tp_msg_new (T_CHILDREN, "Ui", self->restarts,
                                (int) self->nkids);
        for (size_t i = 0; r && i < self->nkids; i++) {
            char text[TP_REF_STRLEN] = "";
            if (!tp_ref_is_nil (self->kids[i]->ref))
                tp_ref_format (self->kids[i]->ref, text, sizeof text);
            tp_msg_pack (r, "[ssu]", self->kids[i]->id, text,
                         self->kids[i]->restarts);
        }
        if (r && tp_msg_is_request (req))
            tp_reply_msg (me, req, &r);
        tp_msg_destroy (&r);
    }
    else if (tag == T_HALT) {
        s_self_halt (me, self, T_SHUTDOWN, owned ? req : tp_msg_dup (req));
        return;
    }
    if (owned)
        tp_msg_destroy (&req);
}

/* ------------------------------------------------------------------ */
/*  The behaviour                                                      */

static int
s_init (tp_actor *me, const tp_sup_spec *spec)
{
    pthread_once (&s_tags_once, s_tags);
    if (!spec)
        return -1;
    for (size_t i = 0; i < spec->nchildren; i++)
        if (!s_spec_valid (&spec->children[i]))
            return -1;
    self_t *self = s_self_new (spec);
    tp_set_state (me, self);
    tp_trap_exit (me, true);
    for (size_t i = 0; i < self->nkids; i++)
        if (s_self_start_child (me, self, self->kids[i]) != 0)
            return -1; /* (the ones started end with us: linked) */
    return 0;
}

static int
s_sup_init (tp_actor *me, void *arg)
{
    return s_init (me, arg);
}

static void
s_sup_receive (tp_actor *me, tp_msg *msg)
{
    self_t *self = tp_state (me);
    tp_tag_t tag = tp_msg_tag (msg);
    if (tag == T_EXIT) {
        tp_ref who;
        tp_tag_t reason;
        if (tp_msg_unpack (msg, "rt", &who, &reason) == 0)
            s_self_handle_exit (me, self, who, reason);
    }
    else if (tag == T_KILL) {
        uint64_t seq;
        if (tp_msg_unpack (msg, "U", &seq) == 0)
            s_self_handle_kill (me, self, seq);
    }
    else if (tag == T_START || tag == T_TERM || tag == T_WHICH
             || tag == T_HALT)
        s_self_handle_request (me, self, msg, false);
}

static void
s_sup_terminate (tp_actor *me, tp_tag_t reason)
{
    (void) reason;
    self_t *self = tp_state (me);
    s_self_destroy (&self);
}

const tp_behavior tp_supervisor_behavior = {"supervisor", s_sup_init,
                                            s_sup_receive, s_sup_terminate};

/*  The same, for tp_supervisor_start: its arg is a heap copy of the spec
    (the caller's may be gone when init runs), freed here. */
typedef struct {
    tp_sup_spec spec;
    tp_child_spec *children;
    char **ids, **names, **modules, **configs;
} owned_spec_t;

static void
s_owned_free (owned_spec_t *o)
{
    if (!o)
        return;
    for (size_t i = 0; i < o->spec.nchildren; i++) {
        free (o->ids[i]);
        free (o->names[i]);
        free (o->modules[i]);
        free (o->configs[i]);
    }
    free (o->ids);
    free (o->names);
    free (o->modules);
    free (o->configs);
    free (o->children);
    free (o);
}

static int
s_owned_init (tp_actor *me, void *arg)
{
    int rc = s_init (me, &((owned_spec_t *) arg)->spec);
    return rc;
}

static void
s_owned_terminate (tp_actor *me, tp_tag_t reason)
{
    s_sup_terminate (me, reason);
    s_owned_free (tp_arg (me));
}

static const tp_behavior s_owned_behavior = {"supervisor", s_owned_init,
                                             s_sup_receive, s_owned_terminate};

static bool
s_is_supervisor (const tp_behavior *b)
{
    return b == &tp_supervisor_behavior || b == &s_owned_behavior;
}

static char *
s_strdup0 (const char *s)
{
    return s ? strdup (s) : NULL;
}

int
tp_supervisor_start (tp_system *sys, const tp_sup_spec *spec,
                     const tp_spawn_opts *opts, tp_ref *ref)
{
    if (!sys || !spec || (spec->nchildren && !spec->children)
        || spec->strategy < TP_ONE_FOR_ONE || spec->strategy > TP_REST_FOR_ONE
        || spec->intensity < -1 || spec->period_ms < 0)
        return TP_EINVAL;
    for (size_t i = 0; i < spec->nchildren; i++) {
        if (!s_spec_valid (&spec->children[i]))
            return TP_EINVAL;
        for (size_t j = 0; j < i; j++)
            if (strcmp (spec->children[i].id, spec->children[j].id) == 0)
                return TP_EINVAL;
    }
    owned_spec_t *o = calloc (1, sizeof *o);
    size_t n = spec->nchildren;
    if (!o || !(o->children = calloc (n ? n : 1, sizeof *o->children))
        || !(o->ids = calloc (n ? n : 1, sizeof *o->ids))
        || !(o->names = calloc (n ? n : 1, sizeof *o->names))
        || !(o->modules = calloc (n ? n : 1, sizeof *o->modules))
        || !(o->configs = calloc (n ? n : 1, sizeof *o->configs)))
        abort ();
    o->spec = *spec;
    o->spec.children = o->children;
    for (size_t i = 0; i < n; i++) {
        o->children[i] = spec->children[i];
        o->children[i].id = o->ids[i] = s_strdup0 (spec->children[i].id);
        o->children[i].opts.name = o->names[i]
            = s_strdup0 (spec->children[i].opts.name);
        o->children[i].opts.module = o->modules[i]
            = s_strdup0 (spec->children[i].opts.module);
        o->children[i].opts.config = o->configs[i]
            = s_strdup0 (spec->children[i].opts.config);
    }
    int rc = tp_spawn (sys, &s_owned_behavior, o, opts, ref);
    if (rc)
        s_owned_free (o); /* (a spawn that fails runs no callback) */
    return rc;
}

/* ------------------------------------------------------------------ */
/*  Calls from foreign threads                                         */

/*  "ok" -> 0, "error" [i rc] -> rc. Consumes *r. */
static int
s_answer (int rc, tp_msg **r)
{
    if (rc == 0 && !tp_msg_is (*r, "ok")) {
        int code = TP_EPROTO;
        rc = tp_msg_unpack (*r, "i", &code) == 0 ? code : TP_EPROTO;
    }
    if (rc == 0 && !tp_msg_is (*r, "ok"))
        rc = TP_EPROTO;
    return rc;
}

int
tp_supervisor_start_child (tp_system *sys, tp_ref sup,
                           const tp_child_spec *spec, int timeout_ms,
                           tp_ref *child)
{
    if (!s_spec_valid (spec))
        return TP_EINVAL;
    pthread_once (&s_tags_once, s_tags);
    tp_msg *r = NULL;
    int rc = tp_call (sys, sup, T_START, timeout_ms, &r, "U",
                      (uint64_t) (uintptr_t) spec);
    if (rc == 0 && tp_msg_is (r, "ok")) {
        tp_ref c = TP_REF_NIL;
        rc = tp_msg_unpack (r, "r", &c);
        if (child)
            *child = c;
    }
    else
        rc = s_answer (rc, &r);
    tp_msg_destroy (&r);
    return rc;
}

int
tp_supervisor_terminate_child (tp_system *sys, tp_ref sup, const char *id,
                               int timeout_ms)
{
    if (!id)
        return TP_EINVAL;
    pthread_once (&s_tags_once, s_tags);
    tp_msg *r = NULL;
    int rc = s_answer (tp_call (sys, sup, T_TERM, timeout_ms, &r, "s", id), &r);
    tp_msg_destroy (&r);
    return rc;
}

int
tp_supervisor_stop (tp_system *sys, tp_ref sup, int timeout_ms)
{
    pthread_once (&s_tags_once, s_tags);
    tp_msg *r = NULL;
    int rc = s_answer (tp_call (sys, sup, T_HALT, timeout_ms, &r, NULL), &r);
    tp_msg_destroy (&r);
    if (rc == 0) /* (answered just before it ends: wait for the end) */
        rc = tp_system_wait_for (sys, sup, timeout_ms, NULL);
    return rc;
}

int
tp_supervisor_which_children (tp_system *sys, tp_ref sup, tp_child_info *out,
                              size_t cap, size_t *n, uint64_t *restarts,
                              int timeout_ms)
{
    if (!n || (cap && !out))
        return TP_EINVAL;
    pthread_once (&s_tags_once, s_tags);
    tp_msg *r = NULL;
    int rc = tp_call (sys, sup, T_WHICH, timeout_ms, &r, NULL);
    if (rc) {
        tp_msg_destroy (&r);
        return rc;
    }
    /* [U restarts, i n] then n x [s id, s ref, u restarts] */
    tp_reader rd;
    tp_reader_init (&rd, r);
    uint64_t total = 0;
    int count = 0;
    rc = tp_msg_is (r, "children") ? tp_reader_next (&rd, "Ui", &total, &count)
                                   : TP_EPROTO;
    for (int i = 0; rc == 0 && i < count; i++) {
        const char *id, *text;
        size_t il, tl;
        unsigned rs;
        rc = tp_reader_next (&rd, "[ssu]", &id, &il, &text, &tl, &rs);
        if (rc || (size_t) i >= cap)
            continue;
        tp_child_info *ci = &out[i];
        snprintf (ci->id, sizeof ci->id, "%.*s", (int) il, id);
        char buf[TP_REF_STRLEN + 1];
        snprintf (buf, sizeof buf, "%.*s", (int) tl, text);
        if (!tl || tp_ref_parse (buf, &ci->ref) != 0)
            ci->ref = TP_REF_NIL;
        ci->restarts = rs;
    }
    tp_msg_destroy (&r);
    if (rc == 0) {
        *n = (size_t) count;
        if (restarts)
            *restarts = total;
    }
    return rc;
}
