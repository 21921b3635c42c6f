/*  core/process.c: process actors (tp_spawn with kind TP_PROCESS).

    A process actor is an actor of a module (core/module.h) hosted by a
    troupe-node child process that this system starts and owns. What the
    caller gets is the ref of a local PROXY actor, so that the process
    actor is addressed, monitored, linked and supervised like any other:

      - the proxy forwards tells (tp_forward: the sender stays the
        sender) and asks on behalf of the asker (its request is answered
        with the module actor's reply) to the module actor, once the child
        has called in; what comes before waits in the proxy;
      - the child's end is the proxy's end, with a reason that names it:
        normal (exit 0), exit<N>, or sig<name> (sigsegv, sigabrt, sigkill,
        ...), read from a pidfd the moment the process ends, not after
        heartbeats; a request in flight then fails with TP_EDOWN and that
        reason (the proxy owed it);
      - the proxy's end (a stop, a supervisor's shutdown) ends the child:
        SIGTERM (troupe-node drains and exits), SIGKILL 2 s later.

    The HOST THREAD (one per system, started with the first process
    actor) does what may block: bind the node to an abstract ipc endpoint,
    fork and exec troupe-node, wait on the children's pidfds, signal them.
    The child is told the parent's endpoint and the proxy's ref
    (--connect, --report-to), gets PR_SET_PDEATHSIG(SIGKILL) before exec
    (the host thread forks, and lives as long as the system), and holds
    the read end of a pipe whose write end only this process has
    (--parent-fd): a parent that dies leaves no child behind.

    troupe-node is found at $TROUPE_NODE, else as "troupe-node" on PATH.
*/
#include "runtime.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define TP__KILL_AFTER_MS 2000
#define TP__POLL_MS 10 /* waitpid period for a child without a pidfd */

typedef struct proc_child {
    struct proc_child *next;
    tp_ref proxy;
    pid_t pid;
    int pidfd;
    int pipe_w;         /* write end of the parent pipe */
    char name[TP_NODE_NAME_MAX + 1]; /* its node name */
    uint64_t kill_at;   /* ns: SIGKILL then (0: not being stopped) */
} proc_child;

typedef struct proc_job {
    struct proc_job *next;
    int kind;           /* JOB_START, JOB_STOP */
    tp_ref proxy;
    char *module, *config;
} proc_job;

enum { JOB_START = 1, JOB_STOP };

struct tp__proc {
    tp_system *sys;
    pthread_t thread;
    pthread_mutex_t lock; /* jobs, children (read by tp_process_pid) */
    proc_job *jobs, *jobs_tail;
    proc_child *kids;
    int efd;              /* eventfd: a job or the end */
    bool quit;
    char endpoint[96];    /* where the children call in ("" until bound) */
    uint32_t seq;         /* child names */
};

/* ------------------------------------------------------------------ */
/*  The host thread                                                    */

static tp_tag_t
s_reason (const siginfo_t *si)
{
    char buf[16];
    if (si->si_code == CLD_EXITED) {
        if (si->si_status == 0)
            return tp__tag_normal;
        snprintf (buf, sizeof buf, "exit%d", si->si_status & 0xff);
        return tp_tag (buf);
    }
    static const struct {
        int sig;
        const char *name;
    } names[] = {{SIGSEGV, "sigsegv"}, {SIGABRT, "sigabrt"},
                 {SIGKILL, "sigkill"}, {SIGTERM, "sigterm"},
                 {SIGBUS, "sigbus"},   {SIGFPE, "sigfpe"},
                 {SIGILL, "sigill"},   {SIGINT, "sigint"},
                 {SIGHUP, "sighup"},   {SIGPIPE, "sigpipe"}};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (names[i].sig == si->si_status)
            return tp_tag (names[i].name);
    snprintf (buf, sizeof buf, "sig%d", si->si_status);
    return tp_tag (buf);
}

/*  The absolute path of troupe-node, or NULL. */
static char *
s_node_exe (void)
{
    const char *env = getenv ("TROUPE_NODE");
    if (env && *env)
        return access (env, X_OK) == 0 ? strdup (env) : NULL;
    const char *path = getenv ("PATH");
    if (!path)
        path = "/usr/local/bin:/usr/bin:/bin";
    char buf[4096];
    for (const char *p = path; *p;) {
        const char *e = strchr (p, ':');
        size_t n = e ? (size_t) (e - p) : strlen (p);
        snprintf (buf, sizeof buf, "%.*s/troupe-node", (int) n, p);
        if (n && access (buf, X_OK) == 0)
            return strdup (buf);
        p += n + (e ? 1 : 0);
    }
    return NULL;
}

/*  Starts troupe-node for job j. Returns the child, or NULL (the proxy
    is told why). Host thread. */
static proc_child *
s_start (struct tp__proc *h, proc_job *j)
{
    tp_system *sys = h->sys;
    if (!h->endpoint[0]) {
        char want[96];
        snprintf (want, sizeof want, "ipc://@troupe-%d-%" PRIu64 "-proc",
                  (int) getpid (), sys->id);
        int rc = tp_node_bind (sys, want, h->endpoint, sizeof h->endpoint);
        if (rc) {
            tp_log (sys, TP_LOG_ERROR, "process actor: cannot bind %s: %s",
                    want, tp_strerror (rc));
            h->endpoint[0] = '\0';
            return NULL;
        }
    }
    char *exe = s_node_exe ();
    if (!exe) {
        tp_log (sys, TP_LOG_ERROR, "process actor: no troupe-node (set "
                "TROUPE_NODE or PATH)");
        return NULL;
    }
    char me[TP_NODE_NAME_MAX + 1] = "p";
    tp__node_name_copy (sys->node, me);
    char name[TP_NODE_NAME_MAX + 1], report[TP_REF_STRLEN], hb[16], fdtxt[16];
    snprintf (name, sizeof name, "%.*s.p%u", 48, me, ++h->seq);
    tp_ref_format (j->proxy, report, sizeof report);
    snprintf (hb, sizeof hb, "%d", sys->heartbeat_ms);
    int p[2];
    if (pipe2 (p, O_CLOEXEC) != 0) {
        free (exe);
        return NULL;
    }
    snprintf (fdtxt, sizeof fdtxt, "%d", p[0]);
    char *argv[20];
    int n = 0;
    argv[n++] = exe;
    argv[n++] = "--name";
    argv[n++] = name;
    argv[n++] = "--connect";
    argv[n++] = h->endpoint;
    argv[n++] = "--module";
    argv[n++] = j->module;
    if (j->config) {
        argv[n++] = "--arg";
        argv[n++] = j->config;
    }
    argv[n++] = "--workers";
    argv[n++] = "1";
    argv[n++] = "--heartbeat";
    argv[n++] = hb;
    argv[n++] = "--report-to";
    argv[n++] = report;
    argv[n++] = "--parent-fd";
    argv[n++] = fdtxt;
    argv[n] = NULL;
    pid_t parent = getpid ();
    pid_t pid = fork ();
    if (pid == 0) {
        /* the child: only async-signal-safe calls until exec */
        prctl (PR_SET_PDEATHSIG, SIGKILL);
        if (getppid () != parent)
            _exit (127); /* (the parent died before prctl) */
        fcntl (p[0], F_SETFD, 0);
        execv (exe, argv);
        _exit (127);
    }
    close (p[0]);
    free (exe);
    if (pid < 0) {
        close (p[1]);
        return NULL;
    }
    /* (no pidfd, as under valgrind or before Linux 5.3: the host polls
       waitpid every TP__POLL_MS instead) */
    int pidfd = (int) syscall (SYS_pidfd_open, pid, 0);
    proc_child *k = tp__calloc (1, sizeof *k);
    k->proxy = j->proxy;
    k->pid = pid;
    k->pidfd = pidfd;
    k->pipe_w = p[1];
    snprintf (k->name, sizeof k->name, "%s", name);
    tp_log (sys, TP_LOG_INFO, "process actor: started %s (pid %d) for %s",
            name, (int) pid, j->module);
    return k;
}

static void
s_job_free (proc_job *j)
{
    free (j->module);
    free (j->config);
    free (j);
}

/*  Reaps child k if it has ended (its pidfd is readable, or a waitpid
    says so) and tells its proxy. */
static void
s_reap (struct tp__proc *h, proc_child *k)
{
    siginfo_t si;
    memset (&si, 0, sizeof si);
    if (k->pidfd >= 0) {
        if (waitid ((idtype_t) 3 /* P_PIDFD */, (id_t) k->pidfd, &si,
                    WEXITED)
            != 0)
            return;
    }
    else {
        int st;
        if (waitpid (k->pid, &st, WNOHANG) != k->pid)
            return;
        si.si_code = WIFEXITED (st) ? CLD_EXITED : CLD_KILLED;
        si.si_status = WIFEXITED (st) ? WEXITSTATUS (st) : WTERMSIG (st);
    }
    tp_tag_t why = s_reason (&si);
    char t[TP_TAG_MAX_LEN + 1];
    tp_log (h->sys, TP_LOG_INFO, "process actor: pid %d ended (%s)",
            (int) k->pid, tp_tag_name (why, t, sizeof t) == 0 ? t : "?");
    tp_send (h->sys, k->proxy, tp_tag ("_proc_end"), "t", why);
    /* its node is down now: the gateway need not wait for heartbeats */
    tp__ctx *me = tp__ctx_external (h->sys);
    tp__ctx *gw = atomic_load (&h->sys->gw_ctx);
    if (me && gw) {
        tp_msg *m = tp__msg_alloc ();
        tp_msg_pack (m, "s", k->name);
        tp__ctl_msg (me, gw, TP__CTL_GW_GONE, m);
    }
    if (k->pidfd >= 0)
        close (k->pidfd);
    close (k->pipe_w);
    pthread_mutex_lock (&h->lock);
    for (proc_child **pp = &h->kids; *pp; pp = &(*pp)->next)
        if (*pp == k) {
            *pp = k->next;
            break;
        }
    pthread_mutex_unlock (&h->lock);
    free (k);
}

static void *
s_host (void *arg)
{
    struct tp__proc *h = arg;
    for (;;) {
        pthread_mutex_lock (&h->lock);
        proc_job *jobs = h->jobs;
        h->jobs = h->jobs_tail = NULL;
        bool quit = h->quit;
        pthread_mutex_unlock (&h->lock);
        for (proc_job *j = jobs, *next; j; j = next) {
            next = j->next;
            if (j->kind == JOB_START && !quit) {
                proc_child *k = s_start (h, j);
                if (k) {
                    pthread_mutex_lock (&h->lock);
                    k->next = h->kids;
                    h->kids = k;
                    pthread_mutex_unlock (&h->lock);
                    tp_send (h->sys, j->proxy, tp_tag ("_proc_pid"), "i",
                             (int) k->pid);
                }
                else
                    tp_send (h->sys, j->proxy, tp_tag ("_proc_end"), "t",
                             tp_tag ("nostart"));
            }
            else if (j->kind == JOB_STOP) {
                for (proc_child *k = h->kids; k; k = k->next)
                    if (tp_ref_eq (k->proxy, j->proxy) && !k->kill_at) {
                        kill (k->pid, SIGTERM);
                        k->kill_at = tp__now_ns ()
                                     + TP__KILL_AFTER_MS * 1000000ull;
                    }
            }
            s_job_free (j);
        }
        uint64_t now = tp__now_ns ();
        if (quit) { /* the system ends: every child with it */
            for (proc_child *k = h->kids; k; k = k->next)
                if (!k->kill_at) {
                    kill (k->pid, SIGTERM);
                    k->kill_at = now + TP__KILL_AFTER_MS * 1000000ull;
                }
            if (!h->kids)
                break;
        }
        /* poll: the eventfd and every pidfd; wake for the next SIGKILL */
        int nk = 0;
        for (proc_child *k = h->kids; k; k = k->next)
            nk++;
        struct pollfd *fds = tp__calloc ((size_t) nk + 1, sizeof *fds);
        proc_child **who = tp__calloc ((size_t) nk + 1, sizeof *who);
        fds[0].fd = h->efd;
        fds[0].events = POLLIN;
        int i = 1;
        int64_t wait_ms = -1;
        for (proc_child *k = h->kids; k; k = k->next, i++) {
            fds[i].fd = k->pidfd; /* (-1: poll ignores it) */
            fds[i].events = POLLIN;
            who[i] = k;
            if (k->pidfd < 0 && (wait_ms < 0 || wait_ms > TP__POLL_MS))
                wait_ms = TP__POLL_MS;
            if (k->kill_at) {
                int64_t ms = k->kill_at > now
                                 ? (int64_t) ((k->kill_at - now) / 1000000u) + 1
                                 : 0;
                if (wait_ms < 0 || ms < wait_ms)
                    wait_ms = ms;
            }
        }
        int r = poll (fds, (nfds_t) nk + 1, (int) wait_ms);
        if (r > 0 && (fds[0].revents & POLLIN)) {
            uint64_t v;
            if (read (h->efd, &v, sizeof v) < 0) { /* (reset; EAGAIN ok) */
            }
        }
        for (int x = 1; x <= nk; x++)
            if ((r > 0 && (fds[x].revents & (POLLIN | POLLHUP)))
                || who[x]->pidfd < 0)
                s_reap (h, who[x]);
        now = tp__now_ns ();
        pthread_mutex_lock (&h->lock);
        for (proc_child *k = h->kids; k; k = k->next)
            if (k->kill_at && now >= k->kill_at) {
                kill (k->pid, SIGKILL);
                k->kill_at = UINT64_MAX; /* (sent once; reaped as usual) */
            }
        pthread_mutex_unlock (&h->lock);
        free (fds);
        free (who);
    }
    tp__msg_cache_flush ();
    return NULL;
}

static void
s_push (struct tp__proc *h, proc_job *j)
{
    pthread_mutex_lock (&h->lock);
    if (h->jobs_tail)
        h->jobs_tail->next = j;
    else
        h->jobs = j;
    h->jobs_tail = j;
    pthread_mutex_unlock (&h->lock);
    uint64_t one = 1;
    if (write (h->efd, &one, sizeof one) < 0) { /* (a full counter wakes) */
    }
}

static void s_process_shutdown (tp_system *sys);

/*  The host, started on first use. NULL if it cannot be. */
static struct tp__proc *
s_host_get (tp_system *sys)
{
    pthread_mutex_lock (&sys->lock);
    struct tp__proc *h = atomic_load (&sys->proc);
    if (!h && !atomic_load (&sys->stopping)) {
        h = tp__calloc (1, sizeof *h);
        h->sys = sys;
        pthread_mutex_init (&h->lock, NULL);
        h->efd = eventfd (0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (h->efd < 0 || pthread_create (&h->thread, NULL, s_host, h)) {
            if (h->efd >= 0)
                close (h->efd);
            pthread_mutex_destroy (&h->lock);
            free (h);
            h = NULL;
        }
        else {
            atomic_store (&sys->proc, h);
            sys->proc_shutdown = s_process_shutdown; /* (under the lock) */
        }
    }
    pthread_mutex_unlock (&sys->lock);
    return h;
}

/*  Ends every child process (SIGTERM, SIGKILL 2 s later) and joins the
    host thread: the first thing tp_system_destroy does (through
    sys->proc_shutdown). */
static void
s_process_shutdown (tp_system *sys)
{
    struct tp__proc *h = atomic_load (&sys->proc);
    if (!h)
        return;
    pthread_mutex_lock (&h->lock);
    h->quit = true;
    pthread_mutex_unlock (&h->lock);
    uint64_t one = 1;
    if (write (h->efd, &one, sizeof one) < 0) {
    }
    pthread_join (h->thread, NULL);
    for (proc_job *j = h->jobs, *n; j; j = n) {
        n = j->next;
        s_job_free (j);
    }
    close (h->efd);
    pthread_mutex_destroy (&h->lock);
    free (h);
    atomic_store (&sys->proc, NULL);
}

int
tp_process_pid (tp_system *sys, tp_ref ref)
{
    if (!sys)
        return TP_EINVAL;
    struct tp__proc *h = atomic_load (&sys->proc);
    int pid = TP_ENOTFOUND;
    if (!h)
        return pid;
    pthread_mutex_lock (&h->lock);
    for (proc_child *k = h->kids; k; k = k->next)
        if (tp_ref_eq (k->proxy, ref))
            pid = (int) k->pid;
    pthread_mutex_unlock (&h->lock);
    return pid;
}

/* ------------------------------------------------------------------ */
/*  The proxy actor                                                    */

typedef struct {
    char *module, *config; /* for the host's start job (owned) */
} proxy_arg;

typedef struct {
    tp_ref remote;        /* the module actor, nil until the child calls */
    tp_msg **held;        /* messages that came before it (owned) */
    size_t nheld, capheld;
    bool stopping;        /* a stop job was sent */
} proxy_t;

/*  An ask made for an asker: its request, to answer with the reply. */
typedef struct {
    tp_msg *req; /* dup of the asker's request (owned) */
} proxy_ask;

static void
s_proxy_cont (tp_actor *self, int status, tp_msg *reply, void *arg)
{
    proxy_ask *pa = arg;
    if (status == 0) {
        tp_msg *r = tp_msg_dup (reply);
        if (tp_reply_msg (self, pa->req, &r) != 0)
            tp_msg_destroy (&r);
    }
    /* else: still owed by the proxy, which ends soon with the child's
       reason; the asker hears it then */
    tp_msg_destroy (&pa->req);
    free (pa);
}

static void
s_proxy_pass (tp_actor *self, proxy_t *p, const tp_msg *msg)
{
    if (tp_msg_is_request (msg)) {
        proxy_ask *pa = tp__malloc (sizeof *pa);
        pa->req = tp_msg_dup (msg);
        tp_msg *q = tp_msg_dup (msg);
        if (tp_ask_msg (self, p->remote, &q, -1, s_proxy_cont, pa) != 0) {
            tp_msg_destroy (&q);
            tp_msg_destroy (&pa->req);
            free (pa);
        }
    }
    else
        tp_forward (self, p->remote, msg);
}

static int
s_proxy_init (tp_actor *self, void *arg)
{
    proxy_arg *pa = arg;
    tp_system *sys = tp_system_of (self);
    struct tp__proc *h = s_host_get (sys);
    if (!h)
        return -1;
    proxy_t *p = tp__calloc (1, sizeof *p);
    tp_set_state (self, p);
    proc_job *j = tp__calloc (1, sizeof *j);
    j->kind = JOB_START;
    j->proxy = tp_self (self);
    j->module = pa->module;
    j->config = pa->config;
    pa->module = pa->config = NULL; /* (the job owns them now) */
    s_push (h, j);
    atomic_fetch_add_explicit (&sys->live_process, 1, memory_order_relaxed);
    return 0;
}

static void
s_proxy_receive (tp_actor *self, tp_msg *msg)
{
    proxy_t *p = tp_state (self);
    tp_tag_t tag = tp_msg_tag (msg);
    tp_ref r;
    tp_tag_t why;
    uint64_t id;
    if (tag == tp_tag ("_proc_up") && tp_ref_is_nil (p->remote)
        && tp_msg_unpack (msg, "r", &r) == 0 && !tp_ref_is_nil (r)) {
        p->remote = r;
        tp_monitor (self, r);
        for (size_t i = 0; i < p->nheld; i++) {
            s_proxy_pass (self, p, p->held[i]);
            tp_msg_destroy (&p->held[i]);
        }
        p->nheld = 0;
    }
    else if (tag == tp_tag ("_proc_end") && tp_msg_unpack (msg, "t", &why) == 0)
        tp_exit (self, why);
    else if (tag == tp_tag ("_proc_pid")) {
        /* (the host keeps it: tp_process_pid) */
    }
    else if (tag == tp__tag_down
             && tp_msg_unpack (msg, "Urt", &id, &r, &why) == 0) {
        /* the module actor ended (its process may live on: ended below),
           or its node went down; a process that ends says why first */
        if (tp_ref_eq (r, p->remote))
            tp_exit (self, why);
    }
    else if (tag == tp_tag ("_proc_up")) {
        /* (a second one: ignored) */
    }
    else if (!tp_ref_is_nil (p->remote))
        s_proxy_pass (self, p, msg);
    else {
        if (p->nheld == p->capheld) {
            p->capheld = p->capheld ? 2 * p->capheld : 16;
            p->held = realloc (p->held, p->capheld * sizeof *p->held);
            if (!p->held)
                abort ();
        }
        /* (a request is owed meanwhile: answered once passed on, failed
           if the proxy ends first) */
        p->held[p->nheld++] = tp_msg_dup (msg);
    }
}

static void
s_proxy_terminate (tp_actor *self, tp_tag_t reason)
{
    (void) reason;
    proxy_t *p = tp_state (self);
    proxy_arg *pa = tp_arg (self);
    tp_system *sys = tp_system_of (self);
    struct tp__proc *h = atomic_load (&sys->proc);
    if (h && p) { /* (the child, if any, ends with us) */
        proc_job *j = tp__calloc (1, sizeof *j);
        j->kind = JOB_STOP;
        j->proxy = tp_self (self);
        s_push (h, j);
    }
    if (p) {
        atomic_fetch_sub_explicit (&sys->live_process, 1,
                                   memory_order_relaxed);
        for (size_t i = 0; i < p->nheld; i++)
            tp_msg_destroy (&p->held[i]);
        free (p->held);
        free (p);
    }
    if (pa) {
        free (pa->module);
        free (pa->config);
        free (pa);
    }
}

static const tp_behavior s_proxy_b = {"process", s_proxy_init,
                                      s_proxy_receive, s_proxy_terminate};

static int
s_process_spawn (tp_system *sys, const tp_spawn_opts *o, tp_ref *ref)
{
    if (!o->module || !*o->module)
        return TP_EINVAL;
    proxy_arg *pa = tp__calloc (1, sizeof *pa);
    pa->module = strdup (o->module);
    pa->config = o->config ? strdup (o->config) : NULL;
    if (!pa->module || (o->config && !pa->config))
        abort (); /* (the out-of-memory policy) */
    tp_spawn_opts lo = *o;
    lo.kind = TP_LOOP;
    lo.module = lo.config = NULL;
    int rc = tp__spawn (sys, &s_proxy_b, pa, &lo, ref);
    if (rc) {
        free (pa->module);
        free (pa->config);
        free (pa);
    }
    return rc;
}

/*  The public entry of every spawn: a process actor here, the others in
    core/spawn.c (so that this file calls spawn.c, never the reverse). */
int
tp_spawn (tp_system *sys, const tp_behavior *b, void *arg,
          const tp_spawn_opts *opts, tp_ref *ref)
{
    if (sys && opts && opts->kind == TP_PROCESS) {
        if (atomic_load (&sys->stopping))
            return TP_ESTOPPED;
        return s_process_spawn (sys, opts, ref);
    }
    return tp__spawn (sys, b, arg, opts, ref);
}

int
tp_spawn_sync (tp_system *sys, const tp_behavior *b, void *arg,
               const tp_spawn_opts *opts, int timeout_ms, tp_ref *ref)
{
    if (!sys || (opts && opts->kind == TP_PROCESS) || timeout_ms == 0
        || timeout_ms < -1)
        return TP_EINVAL;
    if (tp__tl_ctx && tp__tl_ctx->sys == sys
        && tp__tl_ctx->kind == TP__CTX_WORKER)
        return TP_ESTATE; /* (a loop actor would block its worker) */
    tp__init_wait *w = tp__calloc (1, sizeof *w);
    pthread_mutex_init (&w->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init (&ca);
    pthread_condattr_setclock (&ca, CLOCK_MONOTONIC);
    pthread_cond_init (&w->cond, &ca);
    pthread_condattr_destroy (&ca);
    w->refs = 2;
    tp_ref r;
    int rc = tp__spawn_w (sys, b, arg, opts, &r, w);
    if (rc) { /* (the actor never held it: both references go) */
        pthread_mutex_lock (&w->lock);
        w->refs = 1;
        tp__init_wait_unref (w);
        return rc;
    }
    if (ref)
        *ref = r;
    struct timespec until;
    clock_gettime (CLOCK_MONOTONIC, &until);
    if (timeout_ms > 0) {
        until.tv_sec += timeout_ms / 1000;
        until.tv_nsec += (long) (timeout_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
    }
    pthread_mutex_lock (&w->lock);
    int e = 0;
    while (w->state == 0 && e != ETIMEDOUT)
        e = timeout_ms < 0 ? pthread_cond_wait (&w->cond, &w->lock)
                           : pthread_cond_timedwait (&w->cond, &w->lock,
                                                     &until);
    int state = w->state;
    tp__init_wait_unref (w);
    return state == 1 ? 0 : state == 2 ? TP_EDOWN : TP_ETIMEDOUT;
}
