/*  bench/peers/zmq_peer.c: raw ZeroMQ, the floor of each transport path
    for `make bench` (see bench/CONTRACT.md).

    Build (what bench/peers/peers.mk does):
        cc -O2 -std=gnu11 -Wall -Wextra $(pkg-config --cflags libzmq msgpack) \
           bench/peers/zmq_peer.c -o build/release/bench/zmq_peer \
           $(pkg-config --libs libzmq msgpack) -lmsgpackc -lpthread

    Usage: zmq_peer <workload> [--n N] [--senders S] [--actors A] [--hops H]
                    [--tasks T] [--fib F] [--workers W] [--variant V]
    Prints CSV rows workload,zeromq,variant,metric,value,unit on stdout.

    pingpong: two threads, one ZMQ_PAIR socket each (exclusive 1:1 pair: no
      envelope frames, no REQ/REP state machine), bounce one message n times.
      Plain: a fixed 12-byte record (u32 tag, u64 counter) copied in and out.
      -msgpack: each side packs [tag, counter] and the other side decodes it
      fully with msgpack_unpack_next and checks both fields.
    counting: S sender threads, each with its own ZMQ_PUSH socket connected
      to one ZMQ_PULL socket owned by the receiving (main) thread. Each
      message is a tag (= sender index) and a per-sender sequence number; the
      receiver decodes both and checks every sender's sequence is 0,1,2,...
    Transports: inproc://, ipc:// (socket file in a fresh mkdtemp dir that is
      removed again), tcp://127.0.0.1 on a free port (bound as port `*`, the
      real endpoint read back with ZMQ_LAST_ENDPOINT).
    -2proc variants (ipc and tcp only): the same, but with the far end (the
      pong side; the counting receiver) in a child process with its own
      ZeroMQ context, as troupe_bench's s_remote does with its peer node:
      fork + exec of /proc/self/exe, the role named by ZMQ_PEER_CHILD. The
      child binds and writes its endpoint back over a pipe (its stdout); the
      counting senders stay threads of the parent. The counting child writes
      "ready" once it has every sender's hello and "done" with its
      CLOCK_MONOTONIC time once it has counted all n; that time ends the
      timed region (the clock is system-wide). The child leaves when its
      stdin, a pipe from the parent, reaches end of file, and is reaped.
    Set-up (socket creation, connection, one warm-up message per peer, the
    child process's start) is outside the timed region.
    No socket is closed before its peer has received everything: a PUSH
    socket closed right after its last send (relying on ZMQ_LINGER) lost
    its last few thousand messages over ipc under CPU load (libzmq 4.3.4),
    so senders and the pong thread wait on a barrier until main is done.
*/
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <msgpack.h>
#include <zmq.h>

static struct {
    long n, senders;
    const char *variant;
} P;

static void *g_ctx;
static char g_tmpdir[256];
static int g_matched; /* did --variant pick something */

#define TAG_PING 1
#define TAG_PONG 2
#define TAG_HELLO 99
#define TAG_CNT 100 /* + sender index */
#define RECV_TIMEOUT_MS 30000

static double
s_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec * 1e-9;
}

static void
s_die (const char *what)
{
    fprintf (stderr, "zmq_peer: %s: %s\n", what, zmq_strerror (zmq_errno ()));
    exit (1);
}

static void
s_row (const char *wl, const char *variant, const char *metric, double v,
       const char *unit)
{
    printf ("%s,zeromq,%s,%s,%.0f,%s\n", wl, variant, metric, v, unit);
    fflush (stdout);
}

static int
s_want (const char *variant)
{
    if (P.variant && strcmp (P.variant, variant) != 0)
        return 0;
    g_matched = 1;
    return 1;
}

/* ---- transports ------------------------------------------------------ */

/*  The ipc socket files' paths, made when the temp dir is, so that the
    signal handler only has to call unlink and rmdir. */
static char g_sockpath[2][320];

static void
s_cleanup_tmpdir (void)
{
    if (!g_tmpdir[0])
        return;
    for (int i = 0; i < 2; i++)
        unlink (g_sockpath[i]); /* zmq usually removes it already on close */
    rmdir (g_tmpdir);
    g_tmpdir[0] = 0;
}

/*  SIGTERM (e.g. from `timeout`), SIGINT, SIGHUP: remove the temp dir. */
static void
s_on_signal (int sig)
{
    s_cleanup_tmpdir ();
    signal (sig, SIG_DFL);
    raise (sig);
}

/*  Makes the temp dir for ipc socket files, unless there is one. */
static void
s_tmpdir (void)
{
    if (g_tmpdir[0])
        return;
    snprintf (g_tmpdir, sizeof g_tmpdir, "%s/zmq_peer.XXXXXX",
              getenv ("TMPDIR") ? getenv ("TMPDIR") : "/tmp");
    if (!mkdtemp (g_tmpdir)) {
        perror ("zmq_peer: mkdtemp");
        exit (1);
    }
    snprintf (g_sockpath[0], sizeof g_sockpath[0], "%s/pingpong.sock",
              g_tmpdir);
    snprintf (g_sockpath[1], sizeof g_sockpath[1], "%s/counting.sock",
              g_tmpdir);
}

/*  Binds `s` for transport `tr`; writes the endpoint peers connect to. */
static void
s_bind (void *s, const char *tr, const char *name, char *ep, size_t cap)
{
    char want[320];
    if (!strcmp (tr, "inproc"))
        snprintf (want, sizeof want, "inproc://%s", name);
    else if (!strcmp (tr, "ipc")) {
        s_tmpdir ();
        snprintf (want, sizeof want, "ipc://%s/%s.sock", g_tmpdir, name);
    } else
        snprintf (want, sizeof want, "tcp://127.0.0.1:*");
    if (zmq_bind (s, want) != 0)
        s_die (want);
    size_t len = cap;
    if (zmq_getsockopt (s, ZMQ_LAST_ENDPOINT, ep, &len) != 0)
        s_die ("ZMQ_LAST_ENDPOINT");
}

static void *
s_socket (int type)
{
    void *s = zmq_socket (g_ctx, type);
    if (!s)
        s_die ("zmq_socket");
    /* a closed socket still flushes what it queued (the last pong, a
       sender's tail), but gives up after 2 s if the peer is gone */
    int linger = 2000, tmo = RECV_TIMEOUT_MS;
    zmq_setsockopt (s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt (s, ZMQ_RCVTIMEO, &tmo, sizeof tmo);
    zmq_setsockopt (s, ZMQ_SNDTIMEO, &tmo, sizeof tmo);
    return s;
}

/* ---- message codecs: a tag and one integer --------------------------- */

typedef struct {
    int mp; /* msgpack or the plain fixed record */
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_unpacked up;
} codec;

static void
codec_init (codec *c, int mp)
{
    c->mp = mp;
    msgpack_sbuffer_init (&c->sb);
    msgpack_packer_init (&c->pk, &c->sb, msgpack_sbuffer_write);
    msgpack_unpacked_init (&c->up);
}

static void
codec_fini (codec *c)
{
    msgpack_sbuffer_destroy (&c->sb);
    msgpack_unpacked_destroy (&c->up);
}

/*  Encodes (tag, v) and sends it. Returns 0 or -1. */
static int
codec_send (codec *c, void *s, uint32_t tag, uint64_t v)
{
    if (c->mp) {
        msgpack_sbuffer_clear (&c->sb);
        msgpack_pack_array (&c->pk, 2);
        msgpack_pack_uint32 (&c->pk, tag);
        msgpack_pack_uint64 (&c->pk, v);
        return zmq_send (s, c->sb.data, c->sb.size, 0) < 0 ? -1 : 0;
    }
    unsigned char buf[12];
    memcpy (buf, &tag, 4);
    memcpy (buf + 4, &v, 8);
    return zmq_send (s, buf, sizeof buf, 0) < 0 ? -1 : 0;
}

/*  Receives one message and decodes (tag, v). Returns 0, or -1 on a
    timeout, an error or a malformed message. */
static int
codec_recv (codec *c, void *s, uint32_t *tag, uint64_t *v)
{
    unsigned char buf[64];
    int n = zmq_recv (s, buf, sizeof buf, 0);
    if (n < 0 || n > (int) sizeof buf)
        return -1;
    if (!c->mp) {
        if (n != 12)
            return -1;
        memcpy (tag, buf, 4);
        memcpy (v, buf + 4, 8);
        return 0;
    }
    size_t off = 0;
    if (msgpack_unpack_next (&c->up, (const char *) buf, (size_t) n, &off)
            != MSGPACK_UNPACK_SUCCESS
        || off != (size_t) n)
        return -1;
    msgpack_object o = c->up.data;
    if (o.type != MSGPACK_OBJECT_ARRAY || o.via.array.size != 2
        || o.via.array.ptr[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER
        || o.via.array.ptr[1].type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return -1;
    *tag = (uint32_t) o.via.array.ptr[0].via.u64;
    *v = o.via.array.ptr[1].via.u64;
    return 0;
}

/* ---- two processes (the -2proc variants) ------------------------------ */

/*  The parent's side: starts the child, reads its endpoint, and later
    stops it. The child's stdin and stdout are pipes to the parent: stdout
    carries lines from the child (the bound endpoint first), and end of file
    on stdin tells the child the parent is done with it. The child's
    environment is built before fork (only async-signal-safe calls between
    fork and exec, the parent has ZeroMQ's I/O threads). PR_SET_PDEATHSIG:
    a child whose parent dies gets SIGTERM. The ipc socket file goes into
    the parent's temp dir, which the parent removes as for the other rows. */

extern char **environ;

typedef struct {
    pid_t pid;
    int in;    /* write end of the child's stdin */
    FILE *out; /* read end of the child's stdout */
    char ep[512];
} child;

/*  Makes `fd` the child's descriptor `to`, open across exec. */
static int
s_child_fd (int fd, int to)
{
    if (fd == to)
        return fcntl (to, F_SETFD, 0);
    return dup2 (fd, to) < 0 ? -1 : 0;
}

/*  Starts the child in role "pong" or "sink" and reads its endpoint into
    ch->ep. Returns 0 or -1; either way s_child_stop must follow. */
static int
s_child_start (const char *role, const char *tr, int mp, long senders,
               child *ch)
{
    memset (ch, 0, sizeof *ch);
    ch->pid = -1;
    ch->in = -1;
    if (!strcmp (tr, "ipc"))
        s_tmpdir ();
    char e[6][400];
    snprintf (e[0], sizeof e[0], "ZMQ_PEER_CHILD=%s", role);
    snprintf (e[1], sizeof e[1], "ZMQ_PEER_TR=%s", tr);
    snprintf (e[2], sizeof e[2], "ZMQ_PEER_MP=%d", mp);
    snprintf (e[3], sizeof e[3], "ZMQ_PEER_N=%ld", P.n);
    snprintf (e[4], sizeof e[4], "ZMQ_PEER_SENDERS=%ld", senders);
    snprintf (e[5], sizeof e[5], "ZMQ_PEER_DIR=%s", g_tmpdir);
    size_t ne = 0, k = 0;
    while (environ[ne])
        ne++;
    char **envp = calloc (ne + 7, sizeof *envp);
    if (!envp)
        return -1;
    for (size_t i = 0; i < ne; i++)
        if (strncmp (environ[i], "ZMQ_PEER_", 9) != 0)
            envp[k++] = environ[i];
    for (int i = 0; i < 6; i++)
        envp[k++] = e[i];
    envp[k] = NULL;
    char *argv[] = {(char *) "zmq_peer", NULL};
    int in[2], out[2];
    if (pipe2 (in, O_CLOEXEC) != 0) {
        free (envp);
        return -1;
    }
    if (pipe2 (out, O_CLOEXEC) != 0) {
        close (in[0]);
        close (in[1]);
        free (envp);
        return -1;
    }
    pid_t parent = getpid ();
    fflush (stdout);
    fflush (stderr);
    ch->pid = fork ();
    if (ch->pid == 0) {
        if (s_child_fd (in[0], 0) != 0 || s_child_fd (out[1], 1) != 0)
            _exit (127);
        prctl (PR_SET_PDEATHSIG, SIGTERM);
        if (getppid () != parent)
            _exit (127);
        execve ("/proc/self/exe", argv, envp);
        _exit (127);
    }
    free (envp);
    close (in[0]);
    close (out[1]);
    if (ch->pid < 0) {
        perror ("zmq_peer: fork");
        close (in[1]);
        close (out[0]);
        return -1;
    }
    ch->in = in[1];
    ch->out = fdopen (out[0], "r");
    if (!ch->out) {
        close (out[0]);
        return -1;
    }
    if (!fgets (ch->ep, sizeof ch->ep, ch->out))
        return -1;
    ch->ep[strcspn (ch->ep, "\n")] = '\0';
    return 0;
}

/*  Ends the child (at once if `kill_it`, else once it sees end of file on
    its stdin), reaps it and removes the temp dir. Returns 0 if it exited
    with status 0. */
static int
s_child_stop (child *ch, int kill_it)
{
    if (ch->pid > 0 && kill_it)
        kill (ch->pid, SIGTERM);
    if (ch->in >= 0)
        close (ch->in);
    if (ch->out)
        fclose (ch->out);
    int rc = -1, st = 0;
    if (ch->pid > 0) {
        pid_t r;
        while ((r = waitpid (ch->pid, &st, 0)) < 0 && errno == EINTR)
            ;
        if (r == ch->pid && WIFEXITED (st) && WEXITSTATUS (st) == 0)
            rc = 0;
        else if (!kill_it)
            fprintf (stderr, "zmq_peer: child process failed (status %#x)\n",
                     st);
    }
    ch->pid = -1;
    ch->in = -1;
    ch->out = NULL;
    s_cleanup_tmpdir ();
    return rc;
}

/* ---- pingpong --------------------------------------------------------- */

typedef struct {
    const char *ep;
    int mp;
    long n;
    pthread_barrier_t *done;
    int bad;
} pong_arg;

/*  The answering side: echoes every ping's counter back as a pong. */
static void *
pong_main (void *arg)
{
    pong_arg *a = arg;
    void *s = s_socket (ZMQ_PAIR);
    codec c;
    codec_init (&c, a->mp);
    if (zmq_connect (s, a->ep) != 0)
        s_die ("zmq_connect");
    /* n + 1: the warm-up exchange, then n timed ones */
    for (long i = 0; i <= a->n; i++) {
        uint32_t tag;
        uint64_t v;
        if (codec_recv (&c, s, &tag, &v) != 0 || tag != TAG_PING
            || codec_send (&c, s, TAG_PONG, v) != 0) {
            a->bad = 1;
            break;
        }
    }
    /* close only once the last pong is in: nothing rides on the linger */
    pthread_barrier_wait (a->done);
    codec_fini (&c);
    zmq_close (s);
    return NULL;
}

/*  The timed part of a ping-pong on socket s: one warm-up exchange (the
    connection is up once it comes back), then P.n timed ones. Returns 1
    on a lost or wrong message. */
static int
s_ping_loop (codec *c, void *s, double *t0, double *t1)
{
    uint32_t tag;
    uint64_t v;
    int bad = 0;
    if (codec_send (c, s, TAG_PING, 0) != 0
        || codec_recv (c, s, &tag, &v) != 0 || tag != TAG_PONG || v != 0)
        bad = 1;
    *t0 = s_now ();
    for (long i = 1; !bad && i <= P.n; i++) {
        if (codec_send (c, s, TAG_PING, (uint64_t) i) != 0
            || codec_recv (c, s, &tag, &v) != 0 || tag != TAG_PONG
            || v != (uint64_t) i)
            bad = 1;
    }
    *t1 = s_now ();
    return bad;
}

static int
s_pingpong_one (const char *tr, int mp)
{
    char variant[64];
    snprintf (variant, sizeof variant, "%s%s", tr, mp ? "-msgpack" : "");
    if (!s_want (variant))
        return 0;
    void *s = s_socket (ZMQ_PAIR);
    char ep[512];
    s_bind (s, tr, "pingpong", ep, sizeof ep);
    pthread_barrier_t done;
    pthread_barrier_init (&done, NULL, 2);
    pong_arg a = {ep, mp, P.n, &done, 0};
    pthread_t th;
    pthread_create (&th, NULL, pong_main, &a);
    codec c;
    codec_init (&c, mp);
    int bad = 0;
    double t0, t1;
    bad = s_ping_loop (&c, s, &t0, &t1);
    pthread_barrier_wait (&done);
    pthread_join (th, NULL);
    pthread_barrier_destroy (&done);
    codec_fini (&c);
    zmq_close (s);
    s_cleanup_tmpdir ();
    if (bad || a.bad) {
        fprintf (stderr, "zmq_peer: pingpong %s: lost or bad message\n",
                 variant);
        return -1;
    }
    s_row ("pingpong", variant, "roundtrips_per_s", (double) P.n / (t1 - t0),
           "1/s");
    return 0;
}

/*  The same over ipc or tcp, with the pong side in a child process (see
    s_child_main). */
static int
s_pingpong_2proc (const char *tr, int mp)
{
    char variant[64];
    snprintf (variant, sizeof variant, "%s%s-2proc", tr, mp ? "-msgpack" : "");
    if (!s_want (variant))
        return 0;
    child ch;
    int bad = 0;
    if (s_child_start ("pong", tr, mp, 1, &ch) != 0) {
        fprintf (stderr, "zmq_peer: pingpong %s: pong process did not start\n",
                 variant);
        s_child_stop (&ch, 1);
        return -1;
    }
    void *s = s_socket (ZMQ_PAIR);
    if (zmq_connect (s, ch.ep) != 0)
        s_die ("zmq_connect");
    codec c;
    codec_init (&c, mp);
    double t0, t1;
    bad = s_ping_loop (&c, s, &t0, &t1);
    codec_fini (&c);
    zmq_close (s); /* the last pong is in: nothing rides on the linger */
    if (s_child_stop (&ch, bad) != 0)
        bad = 1;
    if (bad) {
        fprintf (stderr, "zmq_peer: pingpong %s: lost or bad message\n",
                 variant);
        return -1;
    }
    s_row ("pingpong", variant, "roundtrips_per_s", (double) P.n / (t1 - t0),
           "1/s");
    return 0;
}

static int
s_pingpong (void)
{
    static const char *const trs[] = {"inproc", "ipc", "tcp"};
    int rc = 0;
    for (int mp = 0; mp <= 1; mp++)
        for (int t = 0; t < 3; t++)
            rc |= s_pingpong_one (trs[t], mp);
    for (int mp = 0; mp <= 1; mp++)
        for (int t = 1; t < 3; t++)
            rc |= s_pingpong_2proc (trs[t], mp);
    return rc;
}

/* ---- counting --------------------------------------------------------- */

typedef struct {
    const char *ep;
    int mp;
    uint32_t id;
    long count;
    pthread_barrier_t *go, *done;
    int bad;
} push_arg;

static void *
push_main (void *arg)
{
    push_arg *a = arg;
    void *s = s_socket (ZMQ_PUSH);
    codec c;
    codec_init (&c, a->mp);
    if (zmq_connect (s, a->ep) != 0)
        s_die ("zmq_connect");
    if (codec_send (&c, s, TAG_HELLO, a->id) != 0)
        a->bad = 1;
    pthread_barrier_wait (a->go); /* receiver has every hello: start */
    for (long i = 0; !a->bad && i < a->count; i++)
        if (codec_send (&c, s, TAG_CNT + a->id, (uint64_t) i) != 0)
            a->bad = 1;
    /* close only once the receiver has counted everything (or given up):
       nothing rides on the linger */
    pthread_barrier_wait (a->done);
    codec_fini (&c);
    zmq_close (s);
    return NULL;
}

static int
s_counting_one (const char *tr, int mp, long senders)
{
    char base[64], variant[80];
    snprintf (base, sizeof base, "%s%s", tr, mp ? "-msgpack" : "");
    snprintf (variant, sizeof variant, "%s-%ldsender%s", base, senders,
              senders > 1 ? "s" : "");
    if (!s_want (variant) && !s_want (base))
        return 0;
    void *s = s_socket (ZMQ_PULL);
    char ep[512];
    s_bind (s, tr, "counting", ep, sizeof ep);
    pthread_barrier_t go, done;
    pthread_barrier_init (&go, NULL, (unsigned) senders + 1);
    pthread_barrier_init (&done, NULL, (unsigned) senders + 1);
    push_arg a[2];
    pthread_t th[2];
    uint64_t expect[2] = {0, 0};
    for (long i = 0; i < senders; i++) {
        long share = P.n / senders + (i == 0 ? P.n % senders : 0);
        a[i] = (push_arg){ep, mp, (uint32_t) i, share, &go, &done, 0};
        pthread_create (&th[i], NULL, push_main, &a[i]);
    }
    codec c;
    codec_init (&c, mp);
    int bad = 0;
    uint32_t tag;
    uint64_t v;
    for (long i = 0; i < senders; i++)
        if (codec_recv (&c, s, &tag, &v) != 0 || tag != TAG_HELLO)
            bad = 1;
    double t0 = s_now ();
    pthread_barrier_wait (&go);
    long got = 0;
    for (; !bad && got < P.n; got++) {
        if (codec_recv (&c, s, &tag, &v) != 0 || tag < TAG_CNT
            || tag >= TAG_CNT + senders || v != expect[tag - TAG_CNT]++)
            bad = 1;
    }
    double t1 = s_now ();
    pthread_barrier_wait (&done);
    for (long i = 0; i < senders; i++) {
        pthread_join (th[i], NULL);
        bad |= a[i].bad || expect[i] != (uint64_t) a[i].count;
    }
    pthread_barrier_destroy (&go);
    pthread_barrier_destroy (&done);
    codec_fini (&c);
    zmq_close (s);
    s_cleanup_tmpdir ();
    if (bad) {
        fprintf (stderr,
                 "zmq_peer: counting %s: lost or bad message after %ld\n",
                 variant, got);
        return -1;
    }
    s_row ("counting", variant, "msgs_per_s", (double) P.n / (t1 - t0), "1/s");
    return 0;
}

/*  The same over ipc or tcp, with the receiver in a child process (see
    s_child_main) and the senders threads of this one. */
static int
s_counting_2proc (const char *tr, int mp, long senders)
{
    char base[64], variant[80];
    snprintf (base, sizeof base, "%s%s-2proc", tr, mp ? "-msgpack" : "");
    snprintf (variant, sizeof variant, "%s-%ldsender%s", base, senders,
              senders > 1 ? "s" : "");
    if (!s_want (variant) && !s_want (base))
        return 0;
    child ch;
    if (s_child_start ("sink", tr, mp, senders, &ch) != 0) {
        fprintf (stderr,
                 "zmq_peer: counting %s: receiver process did not start\n",
                 variant);
        s_child_stop (&ch, 1);
        return -1;
    }
    pthread_barrier_t go, done;
    pthread_barrier_init (&go, NULL, (unsigned) senders + 1);
    pthread_barrier_init (&done, NULL, (unsigned) senders + 1);
    push_arg a[2];
    pthread_t th[2];
    for (long i = 0; i < senders; i++) {
        long share = P.n / senders + (i == 0 ? P.n % senders : 0);
        a[i] = (push_arg){ch.ep, mp, (uint32_t) i, share, &go, &done, 0};
        pthread_create (&th[i], NULL, push_main, &a[i]);
    }
    int bad = 0, cbad = 1;
    long got = 0, nsec = 0;
    long long sec = 0;
    char line[128];
    /* "ready": the receiver has every sender's hello */
    if (!fgets (line, sizeof line, ch.out) || strcmp (line, "ready\n") != 0) {
        bad = 1;
        for (long i = 0; i < senders; i++)
            a[i].count = 0; /* read by the sender only after `go` */
    }
    double t0 = s_now ();
    pthread_barrier_wait (&go);
    /* "done got bad sec nsec": counted all n (or gave up) at that time */
    if (!bad
        && (!fgets (line, sizeof line, ch.out)
            || sscanf (line, "done %ld %d %lld %ld", &got, &cbad, &sec, &nsec)
                   != 4
            || cbad))
        bad = 1;
    double t1 = (double) sec + (double) nsec * 1e-9;
    /* the senders close their sockets only now: nothing rides on linger */
    pthread_barrier_wait (&done);
    for (long i = 0; i < senders; i++) {
        pthread_join (th[i], NULL);
        bad |= a[i].bad;
    }
    pthread_barrier_destroy (&go);
    pthread_barrier_destroy (&done);
    if (s_child_stop (&ch, bad) != 0)
        bad = 1;
    if (bad) {
        fprintf (stderr,
                 "zmq_peer: counting %s: lost or bad message after %ld\n",
                 variant, got);
        return -1;
    }
    s_row ("counting", variant, "msgs_per_s", (double) P.n / (t1 - t0), "1/s");
    return 0;
}

static int
s_counting (void)
{
    static const char *const trs[] = {"inproc", "ipc", "tcp"};
    int rc = 0;
    for (long senders = 1; senders <= 2; senders++) {
        if (P.senders && P.senders != senders)
            continue;
        for (int mp = 0; mp <= 1; mp++)
            for (int t = 0; t < 3; t++)
                rc |= s_counting_one (trs[t], mp, senders);
        for (int mp = 0; mp <= 1; mp++)
            for (int t = 1; t < 3; t++)
                rc |= s_counting_2proc (trs[t], mp, senders);
    }
    return rc;
}

/*  The child of a -2proc variant (ZMQ_PEER_CHILD=pong or sink, the rest of
    its parameters in ZMQ_PEER_*): binds one socket in its own context,
    writes the endpoint on stdout (a pipe to the parent), serves, and stays
    until stdin (the other pipe) reaches end of file, so that its socket is
    not closed before the parent is done. pong: echoes n + 1 pings (the
    warm-up, then n timed). sink: takes one hello per sender, writes
    "ready", counts n messages checking each sender's sequence, and writes
    "done <got> <bad> <sec> <nsec>", the CLOCK_MONOTONIC time it finished.
    Exits 0, or 1 if a message was lost or bad. It owns no temp dir: the
    ipc socket file is in the parent's. */
static int
s_child_main (const char *role)
{
    const char *tr = getenv ("ZMQ_PEER_TR"), *dir = getenv ("ZMQ_PEER_DIR");
    const char *mps = getenv ("ZMQ_PEER_MP"), *ns = getenv ("ZMQ_PEER_N"),
               *ss = getenv ("ZMQ_PEER_SENDERS");
    int pong = !strcmp (role, "pong");
    int mp = mps ? atoi (mps) : 0;
    long n = ns ? atol (ns) : 0, senders = ss ? atol (ss) : 0;
    if ((!pong && strcmp (role, "sink") != 0) || !tr
        || (strcmp (tr, "ipc") != 0 && strcmp (tr, "tcp") != 0) || n <= 0
        || senders < 1 || senders > 2
        || (!strcmp (tr, "ipc") && (!dir || !dir[0]))) {
        fprintf (stderr, "zmq_peer: bad child parameters (role %s)\n", role);
        return 2;
    }
    if (!strcmp (tr, "ipc"))
        snprintf (g_tmpdir, sizeof g_tmpdir, "%s", dir);
    g_ctx = zmq_ctx_new ();
    if (!g_ctx)
        s_die ("zmq_ctx_new");
    void *s = s_socket (pong ? ZMQ_PAIR : ZMQ_PULL);
    char ep[512];
    s_bind (s, tr, pong ? "pingpong" : "counting", ep, sizeof ep);
    dprintf (1, "%s\n", ep);
    codec c;
    codec_init (&c, mp);
    int bad = 0;
    uint32_t tag;
    uint64_t v;
    if (pong) {
        for (long i = 0; i <= n; i++)
            if (codec_recv (&c, s, &tag, &v) != 0 || tag != TAG_PING
                || codec_send (&c, s, TAG_PONG, v) != 0) {
                bad = 1;
                break;
            }
    } else {
        uint64_t expect[2] = {0, 0};
        long got = 0;
        for (long i = 0; !bad && i < senders; i++)
            if (codec_recv (&c, s, &tag, &v) != 0 || tag != TAG_HELLO)
                bad = 1;
        if (!bad)
            dprintf (1, "ready\n");
        for (; !bad && got < n; got++) {
            if (codec_recv (&c, s, &tag, &v) != 0 || tag < TAG_CNT
                || tag >= TAG_CNT + senders || v != expect[tag - TAG_CNT]++)
                bad = 1;
        }
        struct timespec t1;
        clock_gettime (CLOCK_MONOTONIC, &t1);
        for (long i = 0; i < senders; i++) {
            long share = n / senders + (i == 0 ? n % senders : 0);
            if (expect[i] != (uint64_t) share)
                bad = 1;
        }
        dprintf (1, "done %ld %d %lld %ld\n", got, bad, (long long) t1.tv_sec,
                 (long) t1.tv_nsec);
    }
    char b;
    ssize_t r;
    while ((r = read (0, &b, 1)) > 0 || (r < 0 && errno == EINTR))
        ;
    codec_fini (&c);
    zmq_close (s);
    zmq_ctx_term (g_ctx);
    if (bad)
        fprintf (stderr, "zmq_peer: %s process: lost or bad message\n", role);
    return bad;
}

/* ---- main ------------------------------------------------------------- */

static void
s_na (const char *wl, const char *reason)
{
    g_matched = 1;
    s_row (wl, "raw", "na", 0, reason);
}

int
main (int argc, char **argv)
{
    if (getenv ("ZMQ_PEER_CHILD"))
        return s_child_main (getenv ("ZMQ_PEER_CHILD"));
    if (argc < 2 || (argc % 2) != 0) {
        fprintf (stderr, "usage: %s pingpong|counting|ring|spawn|forkjoin|big "
                         "[--n N] [--senders S] [--actors A] [--hops H] "
                         "[--tasks T] [--fib F] [--workers W] [--variant V]\n",
                 argv[0]);
        return 2;
    }
    for (int i = 2; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp (k, "--n"))
            P.n = atol (v);
        else if (!strcmp (k, "--senders"))
            P.senders = atol (v);
        else if (!strcmp (k, "--variant"))
            P.variant = v;
        else if (!strcmp (k, "--actors") || !strcmp (k, "--hops")
                 || !strcmp (k, "--tasks") || !strcmp (k, "--fib")
                 || !strcmp (k, "--workers"))
            ; /* not used by any workload zeromq runs */
        else {
            fprintf (stderr, "zmq_peer: unknown option %s\n", k);
            return 2;
        }
    }
    if (P.senders < 0 || P.senders > 2) {
        fprintf (stderr, "zmq_peer: --senders must be 1 or 2\n");
        return 2;
    }
    const char *w = argv[1];
    g_ctx = zmq_ctx_new ();
    if (!g_ctx)
        s_die ("zmq_ctx_new");
    atexit (s_cleanup_tmpdir);
    signal (SIGTERM, s_on_signal);
    signal (SIGINT, s_on_signal);
    signal (SIGHUP, s_on_signal);
    int rc = 0;
    if (!strcmp (w, "pingpong")) {
        if (!P.n)
            P.n = 200000;
        rc = s_pingpong ();
    } else if (!strcmp (w, "counting")) {
        if (!P.n)
            P.n = 2000000;
        rc = s_counting ();
    } else if (!strcmp (w, "ring"))
        s_na (w, "no actor model: sockets only");
    else if (!strcmp (w, "spawn"))
        s_na (w, "no actor model: nothing to spawn");
    else if (!strcmp (w, "forkjoin"))
        s_na (w, "no actor model or scheduler");
    else if (!strcmp (w, "big"))
        s_na (w, "no actor model: sockets only");
    else if (!strcmp (w, "asks") || !strcmp (w, "hol")
             || !strcmp (w, "fanout") || !strcmp (w, "mapbody")
             || !strcmp (w, "flood") || !strcmp (w, "call")
             || !strcmp (w, "sends"))
        s_na (w, "no actor model: sockets only");
    else {
        fprintf (stderr, "zmq_peer: unknown workload %s\n", w);
        rc = 2;
    }
    zmq_ctx_term (g_ctx);
    if (rc == 0 && !g_matched) {
        fprintf (stderr, "zmq_peer: no %s variant named %s\n", w, P.variant);
        return 2;
    }
    return rc == 2 ? 2 : rc ? 1 : 0;
}
