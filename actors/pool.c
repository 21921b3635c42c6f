/*  actors/pool.c: the worker pool actor (actors/pool.h).

    Built only on the public API. The pool traps exits and links to its
    workers. A job is the caller's request, kept (a copy) until it is
    answered: the pool asks a worker for the caller, and the
    continuation answers the caller, or gives the job again when its
    worker died (the ask then ends with TP_EDOWN at once).
*/
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <troupe/pool.h>
#include <troupe/troupe.h>

/* ------------------------------------------------------------------ */
/*  State                                                              */

typedef struct job {
    struct job *next;
    tp_msg *req;    /* copy of the caller's request (owned) */
    int tries;      /* times given to a worker */
    tp_ref worker;  /* running it (nil while queued) */
    struct self *self;
} job_t;

typedef struct {
    tp_ref ref;     /* nil while being replaced */
    int load;       /* jobs running on it */
    bool ending;    /* a job of it failed with TP_EDOWN: it has ended,
                       its _exit is on the way; given no more jobs */
} worker_t;

typedef struct self {
    tp_pool_opts o;     /* copied; module and config point below */
    char *module, *config;
    worker_t *w;
    int size;
    job_t *head, *tail; /* the queue */
    uint32_t nqueued;
    int busy;           /* workers with load > 0 */
    int rr;             /* next worker in turn */
    uint64_t submitted, done, failed, retried, restarts;
    uint64_t *hist;     /* times (ms) of the last replacements, a ring */
    int nhist, hist_at;
} self_t;

static pthread_once_t s_once = PTHREAD_ONCE_INIT;
static tp_tag_t T_EXIT, T_STATS, T_ERROR, T_SHUTDOWN;

static void
s_tags (void)
{
    T_EXIT = tp_tag ("_exit");
    T_STATS = tp_tag ("pool_stats");
    T_ERROR = tp_tag ("error");
    T_SHUTDOWN = tp_tag ("shutdown");
}

static uint64_t
s_now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

static void *
s_alloc (size_t n)
{
    void *p = calloc (1, n);
    if (!p)
        abort (); /* (troupe's out-of-memory policy) */
    return p;
}

static char *
s_dup (const char *s)
{
    if (!s)
        return NULL;
    char *d = strdup (s);
    if (!d)
        abort ();
    return d;
}

static self_t *
s_self_new (const tp_pool_opts *o, int workers)
{
    self_t *self = s_alloc (sizeof *self);
    self->o = *o;
    self->module = s_dup (o->worker.module);
    self->config = s_dup (o->worker.config);
    self->o.worker.module = self->module;
    self->o.worker.config = self->config;
    self->o.worker.name = NULL;
    self->o.worker.link = true;
    if (self->o.per_worker <= 0)
        self->o.per_worker = 1;
    if (!self->o.max_queue)
        self->o.max_queue = 10000;
    if (self->o.max_retries == 0)
        self->o.max_retries = 1;
    if (self->o.max_restarts <= 0)
        self->o.max_restarts = 100;
    self->size = o->size > 0 ? o->size : workers;
    self->w = s_alloc ((size_t) self->size * sizeof *self->w);
    self->nhist = self->o.max_restarts + 1;
    self->hist = s_alloc ((size_t) self->nhist * sizeof *self->hist);
    return self;
}

static void
s_job_destroy (job_t **j_p)
{
    if (*j_p) {
        tp_msg_destroy (&(*j_p)->req);
        free (*j_p);
        *j_p = NULL;
    }
}

static void
s_self_destroy (self_t **self_p)
{
    self_t *self = *self_p;
    if (!self)
        return;
    while (self->head) {
        job_t *j = self->head;
        self->head = j->next;
        s_job_destroy (&j); /* (owed: the callers hear the pool's end) */
    }
    free (self->w);
    free (self->hist);
    free (self->module);
    free (self->config);
    free (self);
    *self_p = NULL;
}

/* ------------------------------------------------------------------ */
/*  Workers and jobs                                                   */

static int
s_self_spawn (tp_actor *me, self_t *self, int i)
{
    int rc = tp_spawn (tp_system_of (me), self->o.behavior, self->o.arg,
                       &self->o.worker, &self->w[i].ref);
    if (rc) {
        self->w[i].ref = TP_REF_NIL;
        tp_log (tp_system_of (me), TP_LOG_ERROR,
                "worker %d could not be started: %s", i,
                tp_strerror (rc));
    }
    self->w[i].load = 0;
    self->w[i].ending = false;
    return rc;
}

static int
s_self_find (self_t *self, tp_ref ref)
{
    for (int i = 0; i < self->size; i++)
        if (!tp_ref_is_nil (self->w[i].ref) && tp_ref_eq (self->w[i].ref, ref))
            return i;
    return -1;
}

/*  The worker for the next job, or -1 (all busy, or none alive). */
static int
s_self_pick (self_t *self)
{
    int best = -1;
    for (int k = 0; k < self->size; k++) {
        int i = (self->rr + k) % self->size;
        worker_t *w = &self->w[i];
        if (tp_ref_is_nil (w->ref) || w->ending)
            continue;
        if (self->o.dispatch == TP_POOL_ROUND_ROBIN) {
            best = i;
            break;
        }
        if (w->load < self->o.per_worker
            && (best < 0 || w->load < self->w[best].load))
            best = i;
    }
    if (best >= 0)
        self->rr = (best + 1) % self->size;
    return best;
}

static void s_job_cont (tp_actor *me, int status, tp_msg *reply, void *arg);

static void
s_load (self_t *self, int i, int delta)
{
    int before = self->w[i].load;
    self->w[i].load += delta;
    self->busy += (self->w[i].load > 0) - (before > 0);
}

/*  Gives queued jobs to free workers. */
static void
s_self_pump (tp_actor *me, self_t *self)
{
    while (self->head) {
        int i = s_self_pick (self);
        if (i < 0)
            return;
        job_t *j = self->head;
        self->head = j->next;
        if (!self->head)
            self->tail = NULL;
        self->nqueued--;
        j->next = NULL;
        j->tries++;
        j->worker = self->w[i].ref;
        tp_msg *q = tp_msg_dup (j->req);
        int rc = tp_ask_msg (me, j->worker, &q,
                             self->o.job_timeout_ms > 0 ? self->o.job_timeout_ms
                                                        : -1,
                             s_job_cont, j);
        if (rc) { /* (a full bounded mailbox, say: answered as failed) */
            tp_msg_destroy (&q);
            tp_reply (me, j->req, T_ERROR, "i", rc);
            self->failed++;
            s_job_destroy (&j);
            continue;
        }
        s_load (self, i, +1);
    }
}

static void
s_self_enqueue (self_t *self, job_t *j, bool front)
{
    if (front) {
        j->next = self->head;
        self->head = j;
        if (!self->tail)
            self->tail = j;
    }
    else {
        j->next = NULL;
        if (self->tail)
            self->tail->next = j;
        else
            self->head = j;
        self->tail = j;
    }
    self->nqueued++;
}

static void
s_job_cont (tp_actor *me, int status, tp_msg *reply, void *arg)
{
    job_t *j = arg;
    self_t *self = tp_state (me);
    if (status == TP_ECANCELED || !self) { /* the pool ends */
        s_job_destroy (&j);
        return;
    }
    int i = s_self_find (self, j->worker);
    if (i >= 0) {
        s_load (self, i, -1);
        if (status == TP_EDOWN) /* (its _exit is on the way) */
            self->w[i].ending = true;
    }
    j->worker = TP_REF_NIL;
    if (status == 0) {
        tp_msg *r = tp_msg_dup (reply);
        if (tp_reply_msg (me, j->req, &r) != 0)
            tp_msg_destroy (&r);
        self->done++;
        s_job_destroy (&j);
    }
    else if (status == TP_EDOWN && self->o.max_retries >= 0
             && j->tries <= self->o.max_retries) {
        self->retried++; /* its worker died: again, first in line */
        s_self_enqueue (self, j, true);
    }
    else {
        tp_reply (me, j->req, T_ERROR, "i", status);
        self->failed++;
        s_job_destroy (&j);
    }
    s_self_pump (me, self);
}

/*  One more replacement now: false past max_restarts in 5 s. */
static bool
s_self_note_restart (self_t *self)
{
    uint64_t now = s_now_ms ();
    self->hist[self->hist_at] = now;
    self->hist_at = (self->hist_at + 1) % self->nhist;
    int recent = 0;
    for (int i = 0; i < self->nhist; i++)
        recent += self->hist[i] && now - self->hist[i] <= 5000;
    return recent <= self->o.max_restarts;
}

static void
s_self_handle_exit (tp_actor *me, self_t *self, tp_ref who, tp_tag_t reason)
{
    int i = s_self_find (self, who);
    if (i < 0) { /* not a worker: whoever we are linked to above */
        if (reason != tp_tag ("normal"))
            tp_exit (me, reason);
        return;
    }
    char t[16];
    if (!s_self_note_restart (self)) {
        tp_log (tp_system_of (me), TP_LOG_ERROR,
                "worker %d ended (%s): more than %d replacements in 5 s, "
                "giving up",
                i, tp_tag_name (reason, t, sizeof t) == 0 ? t : "?",
                self->o.max_restarts);
        tp_exit (me, T_SHUTDOWN);
        return;
    }
    tp_log (tp_system_of (me), TP_LOG_INFO, "worker %d ended (%s): replaced",
            i, tp_tag_name (reason, t, sizeof t) == 0 ? t : "?");
    /* (its jobs in flight come back through their continuations) */
    self->busy -= self->w[i].load > 0;
    self->w[i].load = 0;
    self->restarts++;
    tp_system_note_restart (tp_system_of (me));
    if (s_self_spawn (me, self, i) != 0) {
        tp_exit (me, T_SHUTDOWN);
        return;
    }
    s_self_pump (me, self);
}

static void
s_self_handle_job (tp_actor *me, self_t *self, tp_msg *msg)
{
    if (!tp_msg_is_request (msg)) { /* a tell: the next worker in turn */
        for (int k = 0; k < self->size; k++) {
            int i = (self->rr + k) % self->size;
            if (!tp_ref_is_nil (self->w[i].ref)) {
                self->rr = (i + 1) % self->size;
                tp_forward (me, self->w[i].ref, msg);
                return;
            }
        }
        return;
    }
    self->submitted++;
    if (self->nqueued >= self->o.max_queue) {
        tp_reply (me, msg, T_ERROR, "i", TP_EFULL);
        self->failed++;
        return;
    }
    job_t *j = s_alloc (sizeof *j);
    j->req = tp_msg_dup (msg);
    j->worker = TP_REF_NIL;
    j->self = self;
    s_self_enqueue (self, j, false);
    s_self_pump (me, self);
}

/* ------------------------------------------------------------------ */
/*  The behaviour                                                      */

static int
s_init (tp_actor *me, void *arg)
{
    pthread_once (&s_once, s_tags);
    tp_pool_opts *o = arg;
    tp_system_stats st;
    tp_system_stats_get (tp_system_of (me), &st);
    self_t *self = s_self_new (o, st.workers > 0 ? st.workers : 1);
    tp_set_state (me, self);
    tp_trap_exit (me, true);
    for (int i = 0; i < self->size; i++)
        if (s_self_spawn (me, self, i) != 0)
            return -1;
    return 0;
}

static void
s_receive (tp_actor *me, tp_msg *msg)
{
    self_t *self = tp_state (me);
    tp_tag_t tag = tp_msg_tag (msg);
    if (tag == T_EXIT) {
        tp_ref who;
        tp_tag_t reason;
        if (tp_msg_unpack (msg, "rt", &who, &reason) == 0)
            s_self_handle_exit (me, self, who, reason);
    }
    else if (tag == T_STATS && tp_msg_is_request (msg))
        tp_reply (me, msg, T_STATS, "UUUUUiii", self->submitted, self->done,
                  self->failed, self->retried, self->restarts, self->size,
                  self->busy, (int) self->nqueued);
    else
        s_self_handle_job (me, self, msg);
}

static void
s_terminate (tp_actor *me, tp_tag_t reason)
{
    (void) reason;
    self_t *self = tp_state (me);
    s_self_destroy (&self);
    tp_pool_opts *o = tp_arg (me);
    if (o) {
        free ((char *) o->worker.module);
        free ((char *) o->worker.config);
        free (o);
    }
}

static const tp_behavior s_pool_b = {"pool", s_init, s_receive, s_terminate};

int
tp_pool_start (tp_system *sys, const tp_pool_opts *opts,
               const tp_spawn_opts *spawn, tp_ref *ref)
{
    if (!sys || !opts || opts->size < 0 || opts->per_worker < 0
        || opts->max_retries < -1 || opts->job_timeout_ms < 0
        || (opts->dispatch != TP_POOL_LEAST_LOADED
            && opts->dispatch != TP_POOL_ROUND_ROBIN))
        return TP_EINVAL;
    if (opts->worker.kind == TP_PROCESS ? !opts->worker.module
                                        : !opts->behavior
                                              || !opts->behavior->receive)
        return TP_EINVAL;
    pthread_once (&s_once, s_tags);
    /* (a copy that init reads: the caller's may be gone by then) */
    tp_pool_opts *o = s_alloc (sizeof *o);
    *o = *opts;
    o->worker.module = s_dup (opts->worker.module);
    o->worker.config = s_dup (opts->worker.config);
    int rc = tp_spawn (sys, &s_pool_b, o, spawn, ref);
    if (rc) {
        free ((char *) o->worker.module);
        free ((char *) o->worker.config);
        free (o);
    }
    return rc;
}

int
tp_pool_stats_get (tp_system *sys, tp_ref pool, tp_pool_stats *st,
                   int timeout_ms)
{
    if (!st)
        return TP_EINVAL;
    pthread_once (&s_once, s_tags);
    tp_msg *r = NULL;
    int rc = tp_call (sys, pool, T_STATS, timeout_ms, &r, NULL);
    if (rc == 0
        && tp_msg_unpack (r, "UUUUUiii", &st->submitted, &st->done,
                          &st->failed, &st->retried, &st->restarts, &st->size,
                          &st->busy, &st->queued)
               != 0)
        rc = TP_EPROTO;
    tp_msg_destroy (&r);
    return rc;
}
