/*  actors/discovery.h: cluster membership through engines that exist,
    so that nodes find each other without endpoints typed into each one.
    Failure detection stays troupe's own (heartbeats); discovery only says
    who belongs and where to reach it.

    Providers:
      static  a seed list of endpoints ("tcp://10.0.0.1:5555,tcp://...");
              connected to, and kept connected (the default).
      dns     a DNS name resolved every interval: SRV records
              ("_troupe._tcp.nodes.example": target and port each) or,
              with a port given, its A/AAAA records (what a Kubernetes
              headless Service gives). Names that appear are connected to,
              names that go are disconnected.
      etcd    an etcd v3 cluster (its JSON gateway, e.g. Debian's
              etcd-server): the node registers its endpoint under
              PREFIX/members/NAME with a lease it keeps alive, watches the
              prefix (each event makes it read the members at once; it
              reads them every interval as well), connects to members that
              appear and disconnects from those whose lease expired. Names can be
              claimed cluster-wide (one actor per name across the
              cluster) through etcd transactions.

    A discovery runs on a thread of its own and uses the public node API
    (tp_node_connect, tp_node_disconnect); stop it before
    tp_system_destroy.
*/
#ifndef TP_DISCOVERY_H_INCLUDED
#define TP_DISCOVERY_H_INCLUDED

#include "troupe.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tp_discovery tp_discovery;

typedef struct tp_discovery_opts {
    const char *provider;  /* "static" (NULL), "dns" or "etcd" */
    const char *seeds;     /* static: endpoints, comma-separated */
    const char *dns_name;  /* dns: an SRV name, or a host name with dns_port */
    int dns_port;          /* dns: 0 = dns_name is an SRV name */
    const char *dns_server; /* dns: "IPv4:PORT" of the server to ask;
                              NULL = the system's resolver */
    const char *etcd;      /* etcd: its client URL, "http://127.0.0.1:2379" */
    const char *prefix;    /* etcd: the cluster's key prefix; NULL =
                              "/troupe/default" */
    const char *advertise; /* this node's endpoint as others reach it
                              (etcd: registered; every provider: never
                              connected to) */
    int ttl_s;             /* etcd: lease time to live; 0 = 10 s */
    int interval_ms;       /* how often members are looked up; 0 = 1000 */
} tp_discovery_opts;

/*  Starts discovery for sys with opts (copied). With etcd the node is
    registered before this returns. On success *out is the discovery.
    Returns 0, TP_EINVAL (bad options: a provider without what it needs,
    an advertise endpoint with a wildcard), TP_ENODE (etcd did not answer,
    or refused the registration), TP_ESYS. */
TP_EXPORT int
tp_discovery_start (tp_system *sys, const tp_discovery_opts *opts,
                    tp_discovery **out);

/*  Stops it: with etcd, the registration and every name claimed are
    removed (the lease is revoked) so the others see the node leave at
    once rather than at its lease's end. The connections made stay (the
    system's own). Sets *d to NULL; NULL or *d NULL: nothing. */
TP_EXPORT void
tp_discovery_stop (tp_discovery **d);

/*  Writes up to cap member endpoints seen at the last look (other nodes
    only) into out (each at most 255 characters and a NUL) and returns how
    many there were (may exceed cap), or TP_EINVAL. */
TP_EXPORT int
tp_discovery_members (tp_discovery *d, char (*out)[256], int cap);

/*  etcd only: claims `name` for ref across the cluster: 0 if no node
    holds it (the claim then lives as long as this node's lease: its
    discovery stops, or it dies and the lease expires), TP_EEXIST if
    another does, TP_ENOTSUP for another provider, TP_ENODE if etcd did
    not answer. Claiming a name again for the same ref is 0. */
TP_EXPORT int
tp_discovery_claim (tp_discovery *d, const char *name, tp_ref ref);

/*  etcd only: releases a name this node claimed. Returns 0, TP_ENOTFOUND
    (not claimed by this node), TP_ENOTSUP, TP_ENODE. */
TP_EXPORT int
tp_discovery_release (tp_discovery *d, const char *name);

/*  etcd only: the ref a name is claimed for, anywhere in the cluster
    (*ref nil if nobody holds it). Returns 0, TP_ENOTSUP, TP_ENODE. */
TP_EXPORT int
tp_discovery_whereis (tp_discovery *d, const char *name, tp_ref *ref);

#ifdef __cplusplus
}
#endif

#endif
