/*  core/curve.c: CurveZMQ for node links (docs/security.md).

    A node with a secret key makes its ROUTER a CURVE server and each
    DEALER it connects a CURVE client (core/gateway.c sets the options).
    Who may connect is decided here, by a ZAP handler (RFC 27) on the
    system's ZeroMQ context: a thread with a REP socket at
    inproc://zeromq.zap.01 that admits a CURVE client only if its public
    key is in the allow-list. The same thread reads the ROUTER's monitor
    for failed handshakes, which count every refusal: a key not allowed
    (ZAP says 400), a peer that speaks plaintext, a bad handshake. The
    thread ends when the context is terminated (tp_system_destroy).
*/
#include "runtime.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#define ZAP_EP "inproc://zeromq.zap.01"
#define LOGGED_MAX 20 /* refusals logged; later ones are only counted */

bool
tp__curve_setup (tp_system *sys, const char *secret, const char *const *allow)
{
    if (!secret)
        return true;
    if (!zmq_has ("curve")) {
        fprintf (stderr, "troupe: CURVE asked for, but this libzmq was built "
                         "without it (zmq_has (\"curve\") is 0)\n");
        return false;
    }
    if (tp__key_parse (secret, strlen (secret), NULL, NULL) != 0
        || zmq_curve_public (sys->curve_public, secret) != 0) {
        fprintf (stderr, "troupe: the CURVE secret key is not 40 characters "
                         "of Z85\n");
        return false;
    }
    memcpy (sys->curve_secret, secret, 41);
    int n = 0;
    while (allow && allow[n])
        n++;
    sys->curve_allow = tp__calloc ((size_t) (n ? n : 1), 32);
    for (int i = 0; i < n; i++)
        if (strlen (allow[i]) != 40
            || tp__key_parse (allow[i], 40, NULL, sys->curve_allow[i]) != 0) {
            fprintf (stderr, "troupe: allowed key %d is not 40 characters of "
                             "Z85\n",
                     i + 1);
            free (sys->curve_allow);
            sys->curve_allow = NULL;
            return false;
        }
    sys->ncurve_allow = n;
    sys->curve = true;
    return true;
}

int
tp_curve_keypair (char public_key[41], char secret_key[41])
{
    if (!public_key || !secret_key)
        return TP_EINVAL;
    if (!zmq_has ("curve") || zmq_curve_keypair (public_key, secret_key))
        return TP_ENOTSUP;
    return 0;
}

/*  Receives one ZAP request (frames into f[], at most 8; more are read
    and dropped) and answers it (core/zap.c decides). */
static void
s_zap_serve (tp_system *sys, void *zap, int *logged)
{
    zmq_msg_t f[8];
    tp__zap_frame fr[8];
    int n = 0;
    bool more = true;
    while (more) {
        zmq_msg_t extra, *m = n < 8 ? &f[n] : &extra;
        zmq_msg_init (m);
        if (zmq_msg_recv (m, zap, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close (m);
            break;
        }
        more = zmq_msg_more (m);
        if (n < 8) {
            fr[n].data = zmq_msg_data (m);
            fr[n].size = zmq_msg_size (m);
        }
        else
            zmq_msg_close (m); /* (a ninth frame and on: dropped) */
        n++;
    }
    int kept = n < 8 ? n : 8;
    tp__zap_verdict v;
    tp__zap_decide (fr, kept, (const uint8_t (*)[32]) sys->curve_allow,
                    sys->ncurve_allow, &v);
    bool ok = v.ok;
    if (!ok && (*logged)++ < LOGGED_MAX)
        tp_log (sys, TP_LOG_WARN,
                "refused a CURVE connection from %s: key %s is not allowed%s",
                v.addr, v.key,
                *logged == LOGGED_MAX ? " (further ones are only counted)"
                                      : "");
    /* the answer: version, request id, status code, text, user id, meta */
    const char *code = ok ? "200" : "400";
    const char *text = ok ? "OK" : "key not allowed";
    zmq_send (zap, "1.0", 3, ZMQ_SNDMORE);
    if (n >= 2)
        zmq_send (zap, zmq_msg_data (&f[1]), zmq_msg_size (&f[1]), ZMQ_SNDMORE);
    else
        zmq_send (zap, "", 0, ZMQ_SNDMORE);
    zmq_send (zap, code, 3, ZMQ_SNDMORE);
    zmq_send (zap, text, strlen (text), ZMQ_SNDMORE);
    zmq_send (zap, "", 0, ZMQ_SNDMORE);
    zmq_send (zap, "", 0, 0);
    for (int i = 0; i < kept; i++)
        zmq_msg_close (&f[i]);
}

/*  Reads one monitor event; counts (and logs) a failed handshake. */
static void
s_mon_serve (tp_system *sys, void *mon, int *logged)
{
    zmq_msg_t ev, ep;
    zmq_msg_init (&ev);
    zmq_msg_init (&ep);
    if (zmq_msg_recv (&ev, mon, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close (&ev);
        zmq_msg_close (&ep);
        return;
    }
    if (zmq_msg_more (&ev))
        zmq_msg_recv (&ep, mon, 0);
    uint16_t event = 0;
    if (zmq_msg_size (&ev) >= 2)
        memcpy (&event, zmq_msg_data (&ev), 2);
    if (event & (ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL
                 | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
                 | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)) {
        atomic_fetch_add_explicit (&sys->curve_refused, 1,
                                   memory_order_relaxed);
        if (event != ZMQ_EVENT_HANDSHAKE_FAILED_AUTH /* (ZAP logged it) */
            && (*logged)++ < LOGGED_MAX)
            tp_log (sys, TP_LOG_WARN,
                    "refused a connection at %.*s: no CURVE handshake "
                    "(plaintext or a bad one)%s",
                    (int) zmq_msg_size (&ep), (const char *) zmq_msg_data (&ep),
                    *logged == LOGGED_MAX ? " (further ones are only counted)"
                                          : "");
    }
    zmq_msg_close (&ev);
    zmq_msg_close (&ep);
}

typedef struct {
    tp_system *sys;
    void *zap, *mon;
} zap_arg;

static void *
s_zap_loop (void *arg)
{
    zap_arg *a = arg;
    int zap_logged = 0, mon_logged = 0;
    for (;;) {
        zmq_pollitem_t it[2] = {{a->zap, 0, ZMQ_POLLIN, 0},
                                {a->mon, 0, ZMQ_POLLIN, 0}};
        if (zmq_poll (it, a->mon ? 2 : 1, -1) < 0) {
            if (errno == ETERM)
                break;
            continue;
        }
        if (it[0].revents & ZMQ_POLLIN)
            s_zap_serve (a->sys, a->zap, &zap_logged);
        if (a->mon && (it[1].revents & ZMQ_POLLIN))
            s_mon_serve (a->sys, a->mon, &mon_logged);
    }
    int zero = 0;
    zmq_setsockopt (a->zap, ZMQ_LINGER, &zero, sizeof zero);
    zmq_close (a->zap);
    if (a->mon) {
        zmq_setsockopt (a->mon, ZMQ_LINGER, &zero, sizeof zero);
        zmq_close (a->mon);
    }
    free (a);
    return NULL;
}

int
tp__curve_start (tp_system *sys, void *router)
{
    if (!sys->curve)
        return 0;
    int one = 1;
    const char domain[] = "troupe";
    if (zmq_setsockopt (router, ZMQ_CURVE_SERVER, &one, sizeof one)
        || zmq_setsockopt (router, ZMQ_CURVE_SECRETKEY, sys->curve_secret, 40)
        || zmq_setsockopt (router, ZMQ_ZAP_DOMAIN, domain, sizeof domain - 1))
        return TP_EZMQ;
    /* (ZMQ_ZAP_ENFORCE_DOMAIN, 93, is a draft option: where libzmq has it,
       a handler that is missing refuses instead of admitting; with the
       handler here, CURVE asks it every time either way) */
    zmq_setsockopt (router, 93, &one, sizeof one);
    zap_arg *a = tp__calloc (1, sizeof *a);
    a->sys = sys;
    a->zap = zmq_socket (sys->zctx, ZMQ_REP);
    if (!a->zap || zmq_bind (a->zap, ZAP_EP) != 0) {
        if (a->zap)
            zmq_close (a->zap);
        free (a);
        return TP_EZMQ;
    }
    char mon_ep[64];
    snprintf (mon_ep, sizeof mon_ep, "inproc://tp%" PRIu64 ".curve-mon",
              sys->id);
    if (zmq_socket_monitor (router, mon_ep,
                            ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL
                                | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
                                | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
        == 0) {
        a->mon = zmq_socket (sys->zctx, ZMQ_PAIR);
        if (a->mon && zmq_connect (a->mon, mon_ep) != 0) {
            zmq_close (a->mon);
            a->mon = NULL;
        }
    }
    if (pthread_create (&sys->zap_thread, NULL, s_zap_loop, a)) {
        zmq_close (a->zap);
        if (a->mon)
            zmq_close (a->mon);
        free (a);
        return TP_ESYS;
    }
    sys->zap_started = true;
    return 0;
}

int
tp__curve_client (tp_system *sys, void *dealer, const char *server_key)
{
    if (!sys->curve)
        return server_key ? TP_EINVAL : 0;
    if (!server_key || strlen (server_key) != 40
        || tp__key_parse (server_key, 40, NULL, NULL) != 0)
        return TP_EINVAL;
    if (zmq_setsockopt (dealer, ZMQ_CURVE_SERVERKEY, server_key, 40)
        || zmq_setsockopt (dealer, ZMQ_CURVE_PUBLICKEY, sys->curve_public, 40)
        || zmq_setsockopt (dealer, ZMQ_CURVE_SECRETKEY, sys->curve_secret, 40))
        return TP_EZMQ;
    return 0;
}

void
tp__curve_shutdown (tp_system *sys)
{
    if (sys->zap_started) {
        pthread_join (sys->zap_thread, NULL);
        sys->zap_started = false;
    }
    free (sys->curve_allow);
    sys->curve_allow = NULL;
}

int
tp_curve_key_read (const char *path, char key[41])
{
    if (!path || !key)
        return TP_EINVAL;
    FILE *f = fopen (path, "r");
    if (!f)
        return TP_ENOTFOUND;
    char line[128];
    bool got = fgets (line, sizeof line, f) != NULL;
    fclose (f);
    if (!got)
        return TP_EINVAL;
    return tp__key_parse (line, strlen (line), key, NULL);
}

static int
s_write_key (const char *path, const char *key, mode_t mode, bool exclusive)
{
    int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC | (exclusive ? O_EXCL : 0),
                   mode);
    if (fd < 0)
        return errno == EEXIST ? TP_EEXIST : TP_ESYS;
    char line[42];
    memcpy (line, key, 40);
    line[40] = '\n';
    bool ok = write (fd, line, 41) == 41 && fchmod (fd, mode) == 0;
    return close (fd) == 0 && ok ? 0 : TP_ESYS;
}

int
tp_curve_keys_write (const char *base, char public_key[41])
{
    if (!base || !*base || strlen (base) > 4000)
        return TP_EINVAL;
    char pub[41], sec[41];
    int rc = tp_curve_keypair (pub, sec);
    if (rc)
        return rc;
    char path[4096 + 16];
    snprintf (path, sizeof path, "%s.secret", base);
    rc = s_write_key (path, sec, 0600, true);
    if (rc == 0) {
        snprintf (path, sizeof path, "%s.public", base);
        rc = s_write_key (path, pub, 0644, false);
    }
    if (rc == 0 && public_key)
        memcpy (public_key, pub, 41);
    return rc;
}
