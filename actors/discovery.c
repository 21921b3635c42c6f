/*  actors/discovery.c: cluster membership (actors/discovery.h) from a
    seed list, DNS, or etcd v3 through its JSON gateway (libcurl for
    HTTP, jansson for JSON, libsodium's base64 for etcd's keys and
    values). One thread per discovery looks the members up every
    interval and connects to new ones (tp_node_connect) and disconnects
    from gone ones (tp_node_disconnect); claims go straight to etcd from
    the caller's thread. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <resolv.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <troupe/discovery.h>
#include <troupe/troupe.h>

#define MEMBERS_MAX 1024
#define EP_MAX 256
#define NAMES_MAX 256

enum { P_STATIC, P_DNS, P_ETCD };

struct tp_discovery {
    tp_system *sys;
    int provider;
    char *seeds, *dns_name, *dns_server, *etcd, *prefix, *advertise;
    int dns_port, ttl_s, interval_ms;
    char self[TP_NODE_NAME_MAX + 1];
    /* etcd: the lease and what it holds */
    pthread_mutex_t lock; /* lease, claims, members */
    int64_t lease;
    uint64_t renew_at_ms;
    struct {
        char name[64];
        char ref[TP_REF_STRLEN];
    } claims[NAMES_MAX];
    int nclaims;
    /* members seen at the last look, and those we connected to */
    char (*members)[EP_MAX];
    int nmembers;
    char (*linked)[EP_MAX];
    int nlinked;
    /* the thread, and (etcd) the watch on the members' prefix, whose
       events wake it before its interval */
    pthread_t thread, watcher;
    pthread_cond_t cond;
    bool stop, started, watching, poke;
};

static uint64_t
s_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

static pthread_once_t s_once = PTHREAD_ONCE_INIT;
static bool s_ready;

static void
s_global_init (void)
{
    s_ready = curl_global_init (CURL_GLOBAL_DEFAULT) == 0 && sodium_init () >= 0;
}

/* ---- etcd over HTTP ---------------------------------------------------- */

typedef struct {
    char *p;
    size_t len;
} s_body;

static size_t
s_write (char *data, size_t size, size_t n, void *arg)
{
    s_body *b = arg;
    size_t add = size * n;
    if (b->len + add > (1u << 24))
        return 0; /* (an answer past 16 MiB: not etcd's) */
    char *p = realloc (b->p, b->len + add + 1);
    if (!p)
        return 0;
    memcpy (p + b->len, data, add);
    b->len += add;
    p[b->len] = '\0';
    b->p = p;
    return add;
}

/*  POSTs body (consumed) to etcd's path; *out (if not NULL) is the JSON
    answer. Returns 0 or TP_ENODE (no answer, not HTTP 200, not JSON). */
static int
s_post (tp_discovery *d, const char *path, json_t *body, json_t **out)
{
    char url[512];
    snprintf (url, sizeof url, "%s%s", d->etcd, path);
    char *text = json_dumps (body, JSON_COMPACT);
    json_decref (body);
    if (!text)
        return TP_ENODE;
    CURL *c = curl_easy_init ();
    s_body b = {NULL, 0};
    long code = 0;
    int rc = TP_ENODE;
    if (c) {
        struct curl_slist *h
            = curl_slist_append (NULL, "Content-Type: application/json");
        curl_easy_setopt (c, CURLOPT_URL, url);
        curl_easy_setopt (c, CURLOPT_POSTFIELDS, text);
        curl_easy_setopt (c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt (c, CURLOPT_WRITEFUNCTION, s_write);
        curl_easy_setopt (c, CURLOPT_WRITEDATA, &b);
        curl_easy_setopt (c, CURLOPT_TIMEOUT_MS, 3000L);
        curl_easy_setopt (c, CURLOPT_CONNECTTIMEOUT_MS, 1000L);
        curl_easy_setopt (c, CURLOPT_NOSIGNAL, 1L);
        if (curl_easy_perform (c) == CURLE_OK
            && curl_easy_getinfo (c, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK
            && code == 200) {
            json_t *j = b.p ? json_loads (b.p, 0, NULL) : NULL;
            if (j) {
                rc = 0;
                if (out)
                    *out = j;
                else
                    json_decref (j);
            }
        }
        curl_slist_free_all (h);
        curl_easy_cleanup (c);
    }
    free (b.p);
    free (text);
    return rc;
}

/*  base64 of n bytes of s, as a JSON string. */
static json_t *
s_b64 (const char *s, size_t n)
{
    size_t cap = sodium_base64_ENCODED_LEN (n, sodium_base64_VARIANT_ORIGINAL);
    char *out = malloc (cap);
    if (!out)
        return NULL;
    sodium_bin2base64 (out, cap, (const unsigned char *) s, n,
                       sodium_base64_VARIANT_ORIGINAL);
    json_t *j = json_string (out);
    free (out);
    return j;
}

static json_t *
s_b64s (const char *s)
{
    return s_b64 (s, strlen (s));
}

/*  Decodes the base64 JSON string j into out (NUL-terminated, at most cap
    - 1 bytes). Returns 0 or -1. */
static int
s_unb64 (json_t *j, char *out, size_t cap)
{
    const char *s = json_string_value (j);
    size_t n = 0;
    if (!s || sodium_base642bin ((unsigned char *) out, cap - 1, s, strlen (s),
                                 NULL, &n, NULL,
                                 sodium_base64_VARIANT_ORIGINAL)
                  != 0)
        return -1;
    out[n] = '\0';
    return 0;
}

/*  An int64 that etcd writes as a JSON string (or a number). */
static int64_t
s_i64 (json_t *j)
{
    if (json_is_integer (j))
        return (int64_t) json_integer_value (j);
    const char *s = json_string_value (j);
    return s ? strtoll (s, NULL, 10) : 0;
}

static void
s_key (tp_discovery *d, char *out, size_t cap, const char *kind,
       const char *name)
{
    snprintf (out, cap, "%s/%s/%s", d->prefix, kind, name);
}

/*  Under d->lock: a new lease, and our registration with it. */
static int
s_register (tp_discovery *d)
{
    json_t *r = NULL;
    int rc = s_post (d, "/v3/lease/grant",
                     json_pack ("{s:I}", "TTL", (json_int_t) d->ttl_s), &r);
    if (rc)
        return rc;
    d->lease = s_i64 (json_object_get (r, "ID"));
    json_decref (r);
    if (!d->lease)
        return TP_ENODE;
    char key[512];
    s_key (d, key, sizeof key, "members", d->self);
    rc = s_post (d, "/v3/kv/put",
                 json_pack ("{s:o s:o s:I}", "key", s_b64s (key), "value",
                            s_b64s (d->advertise), "lease",
                            (json_int_t) d->lease),
                 NULL);
    d->renew_at_ms = s_ms () + (uint64_t) d->ttl_s * 1000u / 3;
    return rc;
}

/*  Under d->lock: the txn that puts key = value with our lease only if
    nobody holds key. 1: put; 0: held (*held, if not NULL, its value);
    TP_ENODE. */
static int
s_put_if_free (tp_discovery *d, const char *key, const char *value,
               char *held, size_t cap)
{
    json_t *r = NULL;
    json_t *body = json_pack (
        "{s:[{s:o s:s s:s s:s}] s:[{s:{s:o s:o s:I}}] s:[{s:{s:o}}]}",
        "compare", "key", s_b64s (key), "result", "EQUAL", "target", "CREATE",
        "create_revision", "0", "success", "request_put", "key",
        s_b64s (key), "value", s_b64s (value), "lease", (json_int_t) d->lease,
        "failure", "request_range", "key", s_b64s (key));
    int rc = s_post (d, "/v3/kv/txn", body, &r);
    if (rc)
        return rc;
    int ok = json_is_true (json_object_get (r, "succeeded")) ? 1 : 0;
    if (!ok && held) {
        held[0] = '\0';
        json_t *resp = json_array_get (json_object_get (r, "responses"), 0);
        json_t *kvs = json_object_get (json_object_get (resp, "response_range"),
                                       "kvs");
        s_unb64 (json_object_get (json_array_get (kvs, 0), "value"), held, cap);
    }
    json_decref (r);
    return ok;
}

/*  Under d->lock: keeps the lease alive; a lease that expired (a long
    pause) is granted again, with the registration and the claims. */
static void
s_renew (tp_discovery *d)
{
    json_t *r = NULL;
    if (s_post (d, "/v3/lease/keepalive",
                json_pack ("{s:I}", "ID", (json_int_t) d->lease), &r)
        != 0)
        return; /* (etcd away: tried again at the next look) */
    json_t *res = json_object_get (r, "result");
    int64_t ttl = s_i64 (json_object_get (res ? res : r, "TTL"));
    json_decref (r);
    d->renew_at_ms = s_ms () + (uint64_t) d->ttl_s * 1000u / 3;
    if (ttl > 0)
        return;
    tp_log (d->sys, TP_LOG_WARN,
            "discovery: the etcd lease expired: registering again");
    if (s_register (d) != 0)
        return;
    for (int i = 0; i < d->nclaims; i++) {
        char key[512];
        s_key (d, key, sizeof key, "names", d->claims[i].name);
        if (s_put_if_free (d, key, d->claims[i].ref, NULL, 0) != 1)
            tp_log (d->sys, TP_LOG_WARN,
                    "discovery: the name %s was taken while our lease "
                    "was gone",
                    d->claims[i].name);
    }
}

/*  The endpoints registered under prefix/members (ours aside) into out.
    Returns how many, or TP_ENODE. */
static int
s_etcd_members (tp_discovery *d, char (*out)[EP_MAX], int cap)
{
    char from[512], to[512];
    s_key (d, from, sizeof from, "members", "");
    snprintf (to, sizeof to, "%s", from);
    to[strlen (to) - 1]++; /* ("/" + 1: the end of the prefix's range) */
    json_t *r = NULL;
    int rc = s_post (d, "/v3/kv/range",
                     json_pack ("{s:o s:o}", "key", s_b64s (from), "range_end",
                                s_b64s (to)),
                     &r);
    if (rc)
        return rc;
    int n = 0;
    json_t *kvs = json_object_get (r, "kvs");
    for (size_t i = 0; i < json_array_size (kvs) && n < cap; i++) {
        json_t *kv = json_array_get (kvs, i);
        char key[512], val[EP_MAX];
        if (s_unb64 (json_object_get (kv, "key"), key, sizeof key) != 0
            || s_unb64 (json_object_get (kv, "value"), val, sizeof val) != 0)
            continue;
        if (strcmp (key + strlen (from), d->self) == 0
            || strcmp (val, d->advertise) == 0)
            continue; /* (ourselves) */
        snprintf (out[n++], EP_MAX, "%s", val);
    }
    json_decref (r);
    return n;
}

/*  The watch stream's bytes: any event on the prefix wakes the loop,
    which then reads the members afresh (the range is the truth; the
    watch only says when to look). */
static size_t
s_watch_write (char *data, size_t size, size_t n, void *arg)
{
    tp_discovery *d = arg;
    (void) data;
    pthread_mutex_lock (&d->lock);
    d->poke = true;
    pthread_cond_broadcast (&d->cond);
    pthread_mutex_unlock (&d->lock);
    return size * n;
}

static int
s_watch_progress (void *arg, curl_off_t a, curl_off_t b, curl_off_t c,
                  curl_off_t e)
{
    (void) a;
    (void) b;
    (void) c;
    (void) e;
    tp_discovery *d = arg;
    pthread_mutex_lock (&d->lock);
    bool stop = d->stop;
    pthread_mutex_unlock (&d->lock);
    return stop; /* (non-zero ends the transfer) */
}

/*  etcd: keeps a watch open on prefix/members (POST /v3/watch, a stream
    of JSON objects), opened again if it breaks, until the discovery
    stops. */
static void *
s_watch_loop (void *arg)
{
    tp_discovery *d = arg;
    char from[512], to[512], url[512];
    s_key (d, from, sizeof from, "members", "");
    snprintf (to, sizeof to, "%s", from);
    to[strlen (to) - 1]++;
    snprintf (url, sizeof url, "%s/v3/watch", d->etcd);
    json_t *req = json_pack ("{s:{s:o s:o}}", "create_request", "key",
                             s_b64s (from), "range_end", s_b64s (to));
    char *text = req ? json_dumps (req, JSON_COMPACT) : NULL;
    json_decref (req);
    for (;;) {
        pthread_mutex_lock (&d->lock);
        bool stop = d->stop;
        pthread_mutex_unlock (&d->lock);
        if (stop || !text)
            break;
        CURL *c = curl_easy_init ();
        if (c) {
            curl_easy_setopt (c, CURLOPT_URL, url);
            curl_easy_setopt (c, CURLOPT_POSTFIELDS, text);
            curl_easy_setopt (c, CURLOPT_WRITEFUNCTION, s_watch_write);
            curl_easy_setopt (c, CURLOPT_WRITEDATA, d);
            curl_easy_setopt (c, CURLOPT_NOPROGRESS, 0L);
            curl_easy_setopt (c, CURLOPT_XFERINFOFUNCTION, s_watch_progress);
            curl_easy_setopt (c, CURLOPT_XFERINFODATA, d);
            curl_easy_setopt (c, CURLOPT_CONNECTTIMEOUT_MS, 1000L);
            curl_easy_setopt (c, CURLOPT_NOSIGNAL, 1L);
            curl_easy_perform (c); /* (returns when it breaks or we stop) */
            curl_easy_cleanup (c);
        }
        /* (a broken watch is opened again after an interval) */
        pthread_mutex_lock (&d->lock);
        struct timespec until;
        clock_gettime (CLOCK_MONOTONIC, &until);
        until.tv_sec += 1;
        if (!d->stop)
            pthread_cond_timedwait (&d->cond, &d->lock, &until);
        pthread_mutex_unlock (&d->lock);
    }
    free (text);
    return NULL;
}

/* ---- DNS and the seed list -------------------------------------------- */

static int
s_add (char (*out)[EP_MAX], int n, int cap, const char *ep)
{
    for (int i = 0; i < n; i++)
        if (strcmp (out[i], ep) == 0)
            return n;
    if (n < cap)
        snprintf (out[n++], EP_MAX, "%s", ep);
    return n;
}

static int
s_seed_members (tp_discovery *d, char (*out)[EP_MAX], int cap)
{
    int n = 0;
    char *copy = strdup (d->seeds), *save = NULL;
    for (char *t = strtok_r (copy, ", ", &save); t;
         t = strtok_r (NULL, ", ", &save))
        if (strcmp (t, d->advertise ? d->advertise : "") != 0)
            n = s_add (out, n, cap, t);
    free (copy);
    return n;
}

static int
s_dns_members (tp_discovery *d, char (*out)[EP_MAX], int cap)
{
    int n = 0;
    char ep[EP_MAX];
    if (d->dns_port) { /* A / AAAA records, one port */
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
        if (getaddrinfo (d->dns_name, NULL, &hints, &res) != 0)
            return TP_ENODE;
        for (struct addrinfo *a = res; a; a = a->ai_next) {
            char ip[INET6_ADDRSTRLEN];
            const void *addr
                = a->ai_family == AF_INET
                      ? (const void *) &((struct sockaddr_in *) a->ai_addr)
                            ->sin_addr
                      : (const void *) &((struct sockaddr_in6 *) a->ai_addr)
                            ->sin6_addr;
            if (!inet_ntop (a->ai_family, addr, ip, sizeof ip))
                continue;
            snprintf (ep, sizeof ep, a->ai_family == AF_INET6 ? "tcp://[%s]:%d"
                                                              : "tcp://%s:%d",
                      ip, d->dns_port);
            if (!d->advertise || strcmp (ep, d->advertise) != 0)
                n = s_add (out, n, cap, ep);
        }
        freeaddrinfo (res);
        return n;
    }
    /* SRV records: target and port each */
    struct __res_state st;
    memset (&st, 0, sizeof st);
    if (res_ninit (&st) != 0)
        return TP_ENODE;
    if (d->dns_server) { /* "IP:PORT": this server only */
        char host[64];
        const char *colon = strrchr (d->dns_server, ':');
        size_t hl = colon ? (size_t) (colon - d->dns_server) : 0;
        if (colon && hl < sizeof host) {
            memcpy (host, d->dns_server, hl);
            host[hl] = '\0';
            struct sockaddr_in sa = {.sin_family = AF_INET,
                                     .sin_port = htons ((uint16_t) atoi (colon + 1))};
            if (inet_pton (AF_INET, host, &sa.sin_addr) == 1) {
                st.nsaddr_list[0] = sa;
                st.nscount = 1;
            }
        }
    }
    unsigned char ans[4096];
    int len = res_nquery (&st, d->dns_name, C_IN, T_SRV, ans, sizeof ans);
    ns_msg msg;
    if (len < 0 || ns_initparse (ans, len, &msg) != 0) {
        res_nclose (&st);
        return len < 0 && h_errno == HOST_NOT_FOUND ? 0 : TP_ENODE;
    }
    for (int i = 0; i < ns_msg_count (msg, ns_s_an); i++) {
        ns_rr rr;
        if (ns_parserr (&msg, ns_s_an, i, &rr) != 0 || ns_rr_type (rr) != ns_t_srv
            || ns_rr_rdlen (rr) < 7)
            continue;
        const unsigned char *rd = ns_rr_rdata (rr);
        int port = (rd[4] << 8) | rd[5];
        char target[NS_MAXDNAME];
        if (dn_expand (ns_msg_base (msg), ns_msg_end (msg), rd + 6, target,
                       sizeof target)
            < 0)
            continue;
        if (strlen (target) > EP_MAX - 16)
            continue; /* (a name too long for an endpoint) */
        snprintf (ep, sizeof ep, "tcp://%.230s:%d", target, port);
        if (!d->advertise || strcmp (ep, d->advertise) != 0)
            n = s_add (out, n, cap, ep);
    }
    res_nclose (&st);
    return n;
}

/* ---- the loop ------------------------------------------------------------ */

static bool
s_has (char (*set)[EP_MAX], int n, const char *ep)
{
    for (int i = 0; i < n; i++)
        if (strcmp (set[i], ep) == 0)
            return true;
    return false;
}

/*  One look: the members now, connections to the new ones, disconnects
    from those gone (never for the seed list: seeds are kept). */
static void
s_look (tp_discovery *d)
{
    char (*now)[EP_MAX] = calloc (MEMBERS_MAX, EP_MAX);
    if (!now)
        return;
    int n;
    pthread_mutex_lock (&d->lock);
    if (d->provider == P_ETCD) {
        if (s_ms () >= d->renew_at_ms)
            s_renew (d);
        n = s_etcd_members (d, now, MEMBERS_MAX);
    }
    else
        n = d->provider == P_DNS ? s_dns_members (d, now, MEMBERS_MAX)
                                 : s_seed_members (d, now, MEMBERS_MAX);
    pthread_mutex_unlock (&d->lock);
    if (n < 0) { /* (the engine did not answer: the links stay as they are) */
        free (now);
        return;
    }
    /* the members are published before they are connected to: a peer
       that comes up through this look is already among them */
    pthread_mutex_lock (&d->lock);
    memcpy (d->members, now, (size_t) n * EP_MAX);
    d->nmembers = n;
    pthread_mutex_unlock (&d->lock);
    for (int i = 0; i < n; i++)
        if (!s_has (d->linked, d->nlinked, now[i])) {
            int rc = tp_node_connect (d->sys, now[i], 0, NULL);
            if (rc == 0 || rc == TP_ETIMEDOUT) { /* (it comes up meanwhile) */
                snprintf (d->linked[d->nlinked++], EP_MAX, "%s", now[i]);
                tp_log (d->sys, TP_LOG_INFO, "discovery: joined %s", now[i]);
            }
        }
    for (int i = 0; i < d->nlinked; i++)
        if (d->provider != P_STATIC && !s_has (now, n, d->linked[i])) {
            tp_node_disconnect (d->sys, d->linked[i]);
            tp_log (d->sys, TP_LOG_INFO, "discovery: %s left", d->linked[i]);
            memcpy (d->linked[i], d->linked[--d->nlinked], EP_MAX);
            i--;
        }
    free (now);
}

static void *
s_loop (void *arg)
{
    tp_discovery *d = arg;
    pthread_mutex_lock (&d->lock);
    while (!d->stop) {
        pthread_mutex_unlock (&d->lock);
        s_look (d);
        pthread_mutex_lock (&d->lock);
        struct timespec until;
        clock_gettime (CLOCK_MONOTONIC, &until);
        until.tv_sec += d->interval_ms / 1000;
        until.tv_nsec += (long) (d->interval_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        while (!d->stop && !d->poke
               && pthread_cond_timedwait (&d->cond, &d->lock, &until) == 0)
            ;
        d->poke = false;
    }
    pthread_mutex_unlock (&d->lock);
    return NULL;
}

/* ---- the API --------------------------------------------------------------- */

static char *
s_dup (const char *s)
{
    return s ? strdup (s) : NULL;
}

static void
s_free (tp_discovery *d)
{
    free (d->seeds);
    free (d->dns_name);
    free (d->dns_server);
    free (d->etcd);
    free (d->prefix);
    free (d->advertise);
    free (d->members);
    free (d->linked);
    pthread_cond_destroy (&d->cond);
    pthread_mutex_destroy (&d->lock);
    free (d);
}

int
tp_discovery_start (tp_system *sys, const tp_discovery_opts *o,
                    tp_discovery **out)
{
    if (!sys || !o || !out || o->ttl_s < 0 || o->interval_ms < 0
        || o->dns_port < 0 || o->dns_port > 65535)
        return TP_EINVAL;
    int p = !o->provider || !strcmp (o->provider, "static") ? P_STATIC
            : !strcmp (o->provider, "dns")                   ? P_DNS
            : !strcmp (o->provider, "etcd")                  ? P_ETCD
                                                             : -1;
    if (p < 0 || (p == P_STATIC && !o->seeds) || (p == P_DNS && !o->dns_name)
        || (p == P_ETCD && (!o->etcd || !o->advertise)))
        return TP_EINVAL;
    if (o->advertise && (strchr (o->advertise, '*') || strlen (o->advertise) >= EP_MAX))
        return TP_EINVAL; /* (others cannot reach a wildcard) */
    pthread_once (&s_once, s_global_init);
    if (!s_ready)
        return TP_ESYS;
    tp_discovery *d = calloc (1, sizeof *d);
    if (!d)
        return TP_ESYS;
    d->sys = sys;
    d->provider = p;
    d->seeds = s_dup (o->seeds);
    d->dns_name = s_dup (o->dns_name);
    d->dns_port = o->dns_port;
    d->dns_server = s_dup (o->dns_server);
    d->etcd = s_dup (o->etcd);
    d->prefix = s_dup (o->prefix ? o->prefix : "/troupe/default");
    d->advertise = s_dup (o->advertise);
    d->ttl_s = o->ttl_s ? o->ttl_s : 10;
    d->interval_ms = o->interval_ms ? o->interval_ms : 1000;
    d->members = calloc (MEMBERS_MAX, EP_MAX);
    d->linked = calloc (MEMBERS_MAX, EP_MAX);
    snprintf (d->self, sizeof d->self, "%s",
              tp_node_name (tp_system_node (sys)) ? tp_node_name (tp_system_node (sys))
                                                  : "?");
    pthread_mutex_init (&d->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init (&ca);
    pthread_condattr_setclock (&ca, CLOCK_MONOTONIC);
    pthread_cond_init (&d->cond, &ca);
    pthread_condattr_destroy (&ca);
    if (!d->members || !d->linked || !d->prefix) {
        s_free (d);
        return TP_ESYS;
    }
    if (p == P_ETCD) {
        pthread_mutex_lock (&d->lock);
        int rc = s_register (d);
        pthread_mutex_unlock (&d->lock);
        if (rc) {
            tp_log (sys, TP_LOG_ERROR, "discovery: etcd at %s did not answer",
                    d->etcd);
            s_free (d);
            return TP_ENODE;
        }
    }
    if (pthread_create (&d->thread, NULL, s_loop, d) != 0) {
        s_free (d);
        return TP_ESYS;
    }
    d->started = true;
    if (p == P_ETCD && pthread_create (&d->watcher, NULL, s_watch_loop, d) == 0)
        d->watching = true;
    *out = d;
    return 0;
}

void
tp_discovery_stop (tp_discovery **dp)
{
    if (!dp || !*dp)
        return;
    tp_discovery *d = *dp;
    pthread_mutex_lock (&d->lock);
    d->stop = true;
    pthread_cond_broadcast (&d->cond);
    pthread_mutex_unlock (&d->lock);
    if (d->started)
        pthread_join (d->thread, NULL);
    if (d->watching) /* (its transfer ends at its next progress call) */
        pthread_join (d->watcher, NULL);
    if (d->provider == P_ETCD && d->lease) /* (its keys go with it) */
        s_post (d, "/v3/lease/revoke",
                json_pack ("{s:I}", "ID", (json_int_t) d->lease), NULL);
    s_free (d);
    *dp = NULL;
}

int
tp_discovery_members (tp_discovery *d, char (*out)[256], int cap)
{
    if (!d || cap < 0 || (cap && !out))
        return TP_EINVAL;
    pthread_mutex_lock (&d->lock);
    int n = d->nmembers;
    for (int i = 0; i < n && i < cap; i++)
        memcpy (out[i], d->members[i], EP_MAX);
    pthread_mutex_unlock (&d->lock);
    return n;
}

static bool
s_name_ok (const char *name)
{
    size_t n = name ? strlen (name) : 0;
    if (n == 0 || n > 63)
        return false;
    for (size_t i = 0; i < n; i++)
        if (name[i] == '/' || (unsigned char) name[i] < 0x21)
            return false;
    return true;
}

int
tp_discovery_claim (tp_discovery *d, const char *name, tp_ref ref)
{
    if (!d || !s_name_ok (name) || tp_ref_is_nil (ref))
        return TP_EINVAL;
    if (d->provider != P_ETCD)
        return TP_ENOTSUP;
    char key[512], val[TP_REF_STRLEN], held[TP_REF_STRLEN];
    s_key (d, key, sizeof key, "names", name);
    tp_ref_format (ref, val, sizeof val);
    pthread_mutex_lock (&d->lock);
    int rc = s_put_if_free (d, key, val, held, sizeof held);
    if (rc == 1 || (rc == 0 && strcmp (held, val) == 0)) {
        bool have = false;
        for (int i = 0; i < d->nclaims && !have; i++)
            have = strcmp (d->claims[i].name, name) == 0;
        if (!have && d->nclaims < NAMES_MAX) {
            snprintf (d->claims[d->nclaims].name, 64, "%s", name);
            snprintf (d->claims[d->nclaims].ref, TP_REF_STRLEN, "%s", val);
            d->nclaims++;
        }
        rc = 0;
    }
    else if (rc == 0)
        rc = TP_EEXIST;
    pthread_mutex_unlock (&d->lock);
    return rc;
}

int
tp_discovery_release (tp_discovery *d, const char *name)
{
    if (!d || !s_name_ok (name))
        return TP_EINVAL;
    if (d->provider != P_ETCD)
        return TP_ENOTSUP;
    pthread_mutex_lock (&d->lock);
    int at = -1;
    for (int i = 0; i < d->nclaims && at < 0; i++)
        if (strcmp (d->claims[i].name, name) == 0)
            at = i;
    int rc = TP_ENOTFOUND;
    if (at >= 0) {
        char key[512];
        s_key (d, key, sizeof key, "names", name);
        json_t *r = NULL;
        /* deleted only while it is still ours */
        json_t *body = json_pack (
            "{s:[{s:o s:s s:s s:o}] s:[{s:{s:o}}]}", "compare", "key",
            s_b64s (key), "result", "EQUAL", "target", "VALUE", "value",
            s_b64s (d->claims[at].ref), "success", "request_delete_range",
            "key", s_b64s (key));
        rc = s_post (d, "/v3/kv/txn", body, &r);
        if (rc == 0) {
            rc = json_is_true (json_object_get (r, "succeeded")) ? 0
                                                                 : TP_ENOTFOUND;
            json_decref (r);
            d->claims[at] = d->claims[--d->nclaims];
        }
    }
    pthread_mutex_unlock (&d->lock);
    return rc;
}

int
tp_discovery_whereis (tp_discovery *d, const char *name, tp_ref *ref)
{
    if (!d || !s_name_ok (name) || !ref)
        return TP_EINVAL;
    if (d->provider != P_ETCD)
        return TP_ENOTSUP;
    *ref = TP_REF_NIL;
    char key[512], val[TP_REF_STRLEN];
    s_key (d, key, sizeof key, "names", name);
    json_t *r = NULL;
    int rc = s_post (d, "/v3/kv/range", json_pack ("{s:o}", "key", s_b64s (key)),
                     &r);
    if (rc)
        return rc;
    json_t *kvs = json_object_get (r, "kvs");
    if (json_array_size (kvs)
        && s_unb64 (json_object_get (json_array_get (kvs, 0), "value"), val,
                    sizeof val)
               == 0)
        tp_ref_parse (val, ref);
    json_decref (r);
    return 0;
}
