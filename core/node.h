/*  core/node.h: nodes, the same actors across processes and machines.

    A system is a node named by tp_system_opts.node_name. Once it binds an
    endpoint or connects to a peer, a gateway thread carries messages for
    refs of other nodes over ZeroMQ (tcp:// or ipc://): tell, ask, reply,
    monitor, link and stop work on remote refs with the same calls as on
    local ones. The wire protocol is docs/PROTOCOL.md.

    Delivery across nodes is at-most-once, FIFO per sender->receiver pair
    while the connection lasts. A peer silent for 3 heartbeat intervals is
    down: monitors of its actors get _down with reason noconnect,
    linked actors get an exit with reason noconnect, and asks to it
    end at once with TP_EDOWN (reason noconnect). Traffic resumes when the peer answers again, on the same
    life. A node that restarts is a new incarnation (a new node id): refs
    to its previous life are dead letters, monitors of them get noconnect
    at once. A node that stops cleanly tells its remote watchers and
    linked actors "shutdown". (The reason is "noconnect", not Erlang's
    "noconnection": tags hold 10 characters.)

    Flow control: a peer that does not read, or whose actors have a
    backlog, makes sends to its actors wait (tp_send_wait, tp_tell_wait)
    or fail with TP_EFULL (tp_send, tp_tell) instead of growing either
    process (tp_system_opts.peer_queue, remote_backlog).

    All functions here are safe from any thread except where noted.
*/
#ifndef TP_NODE_H_INCLUDED
#define TP_NODE_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#include <stdbool.h>

#include "actor.h"
#include "error.h"
#include "ref.h"
#include "system.h"

#ifdef __cplusplus
extern "C" {
#endif

/*  Largest message body that can be sent to an actor of another node:
    a send with a bigger body fails at the call with TP_ETOOBIG (a frame
    holds at most 16 MiB, envelope included). */
#define TP_NODE_MAX_BODY (16u * 1024u * 1024u - 256u)

/*  Causes of bad frames (tp_node_stats.bad_by_cause; tp_bad_cause_name). */
enum {
    TP_BAD_MALFORMED = 0, /* not an envelope, a bad BATCH, wrong parts */
    TP_BAD_VERSION,       /* another protocol version */
    TP_BAD_HELLO,         /* a bad greeting */
    TP_BAD_BEFORE_HELLO,  /* a frame from a connection that has not greeted */
    TP_BAD_SPOOFED,       /* a from_node that is not the connected peer */
    TP_BAD_TOO_BIG,       /* a body past the limits */
    TP_BAD_CAUSES
};

/*  The name of a TP_BAD_* cause ("malformed", "version", "hello",
    "before_hello", "spoofed", "too_big"), or "?" */
TP_EXPORT const char *
tp_bad_cause_name (int cause);

typedef struct tp_node_stats {
    uint64_t peers_up;       /* peers answering now */
    uint64_t frames_in;      /* frames received from peers */
    uint64_t frames_out;     /* frames sent to peers */
    uint64_t bytes_in;       /* bytes received */
    uint64_t bytes_out;      /* bytes sent */
    uint64_t frames_bad;     /* malformed, truncated, unknown or spoofed:
                                counted and dropped */
    uint64_t nodes_down;     /* times a peer was declared down (lost, not
                                a peer that said goodbye with DRAIN) */
    uint64_t peers_held;     /* peer entries held now (up, or down and not
                                yet forgotten) */
    uint64_t peers_forgotten;/* peer entries freed (drained, or down for
                                10 heartbeats, or evicted for a new one) */
    uint64_t peers_refused;  /* greetings refused: max_peers reached, or a
                                name already up on another connection */
    uint64_t frames_held;    /* frames kept for a peer that did not read
                                (flow control; sent when it reads) */
    uint64_t stalls;         /* times a peer was not read because a local
                                actor had a backlog (flow control) */
    uint64_t curve_refused;  /* connections refused by CURVE: a key not
                                allowed (ZAP), or a peer without CURVE or
                                with a bad handshake */
    /* limits per peer (tp_system_opts.peer_*, docs/security.md) */
    uint64_t quarantines;    /* connections quarantined for bad frames */
    uint64_t frames_quarantined; /* frames dropped unread from them */
    uint64_t watches_refused;/* monitors and links refused (peer_max_watches) */
    uint64_t asks_refused;   /* requests refused (peer_max_asks) */
    uint64_t names_recycled; /* node-table entries that made room for newer
                                ones of the same peer (peer_max_names);
                                counted for the whole process */
    uint64_t names_refused;  /* refs not unpacked: all of that peer's
                                entries were pinned (process-wide) */
    uint64_t bad_by_cause[TP_BAD_CAUSES]; /* frames_bad by cause */
} tp_node_stats;

/*  Binds the node's gateway to endpoint ("tcp://127.0.0.1:*",
    "tcp://0.0.0.0:5555", "ipc:///run/app/node.sock"), starting the gateway
    on first use. With a wildcard port, the endpoint actually bound is
    written to bound (if not NULL; 256 bytes are always enough). Returns 0,
    TP_EINVAL, TP_EADDRINUSE, TP_EENDPOINT (bad transport, host or path),
    TP_ELIMIT (8 endpoints bound already), TP_ETRUNC (cap too small),
    TP_EZMQ (another ZeroMQ failure), TP_ESTATE (called from an actor) or
    TP_ESTOPPED. */
TP_EXPORT int
tp_node_bind (tp_system *sys, const char *endpoint, char *bound, size_t cap);

/*  Connects to the node listening at endpoint and waits up to timeout_ms
    for its greeting. On success *node (if not NULL) is the peer's node id
    (see tp_node_name). The connection is kept and re-made by ZeroMQ if the
    peer restarts. timeout_ms 0 only tells whether that peer is up now.
    Returns 0, TP_EINVAL, TP_ETIMEDOUT (no answer: the connection attempt
    continues in the background), TP_ENAMETAKEN (two live nodes of one
    name: the node there has a name that is up here on another connection,
    or it refused us because our name is up there on another connection;
    logged), TP_EENDPOINT, TP_ELIMIT (max_peers held here, or the node
    there refused us because it holds its max_peers), TP_EZMQ, TP_ESTATE
    (called from an actor) or TP_ESTOPPED. A refused connection greets
    again every heartbeat, so it comes up once the conflict is gone. */
TP_EXPORT int
tp_node_connect (tp_system *sys, const char *endpoint, int timeout_ms,
                 uint32_t *node);

/*  Stops connecting to the node at endpoint (made by tp_node_connect):
    the connection closes and is not re-made; the node goes down here (its
    watches end with noconnect, asks to it fail) unless it has connected
    to this node as well, in which case it stays up on that connection.
    For membership that drops nodes that left (core/discovery). Returns 0,
    TP_ENOTFOUND (not connected to that endpoint), TP_EINVAL, TP_ESTATE
    (from an actor). */
TP_EXPORT int
tp_node_disconnect (tp_system *sys, const char *endpoint);

/*  Asks node `node_name` for the actor registered there under `name`
    and waits up to timeout_ms. On success *ref is that actor's ref (the
    nil ref if the name is not registered there). Returns 0, TP_ENODE (no
    such peer connected), TP_ETIMEDOUT or TP_EINVAL. Not from an actor
    (TP_ESTATE). */
TP_EXPORT int
tp_whereis_at (tp_system *sys, const char *name, const char *node_name,
               int timeout_ms, tp_ref *ref);

/*  Looks name up on this node, then asks every connected peer in turn,
    sharing timeout_ms among them. On success *ref is the first actor found
    (the nil ref if no node has the name). A name written "name@node" asks
    that node only, as tp_whereis_at. Returns 0, TP_ETIMEDOUT, TP_EINVAL or
    TP_ESTATE (called from an actor). */
TP_EXPORT int
tp_whereis_any (tp_system *sys, const char *name, int timeout_ms, tp_ref *ref);

/*  Returns true if node `node` is connected and answering. */
TP_EXPORT bool
tp_node_up (tp_system *sys, uint32_t node);

/*  Waits until this node's view of its peers changes: a peer goes up or
    down, or a bad frame is counted (tp_node_stats.frames_bad). *seq is
    the caller's last seen state; start with 0, which returns at once.
    On return *seq holds the current state. Wait for a condition by
    checking it, then calling this, in a loop. timeout_ms < 0 waits
    without bound. Returns 0 (changed), TP_ETIMEDOUT or TP_EINVAL. Safe
    from any thread; not from a loop actor (it blocks its worker). */
TP_EXPORT int
tp_node_wait (tp_system *sys, uint64_t *seq, int timeout_ms);

/*  Fills *stats for the gateway (all zero before it starts). */
TP_EXPORT void
tp_node_stats_get (tp_system *sys, tp_node_stats *stats);

typedef struct tp_peer_info {
    char name[TP_NODE_NAME_MAX + 1];
    uint32_t node;           /* its node id here (name + incarnation) */
    uint32_t incarnation;
    bool up;                 /* answering now */
    uint64_t up_since_ms;    /* wall clock (ms since 1970) it last came up */
    uint64_t bytes_in;       /* frame bytes from it / to it, this life */
    uint64_t bytes_out;
    uint64_t frames_in;      /* frames from it / to it, this life */
    uint64_t frames_out;
    char endpoint[256];      /* where we connected to it ("" if it called) */
} tp_peer_info;

/*  Writes up to cap of the peers this node holds (up, or down and not yet
    forgotten) into out and returns how many there are (may exceed cap;
    0 before any bind or connect). Safe from any thread. */
TP_EXPORT int
tp_node_peers (tp_system *sys, tp_peer_info *out, int cap);

/*  As tp_node_connect, to a node that uses CURVE: server_key is its
    public key (40 characters of Z85), which this node must know (this
    node must have a curve_secret too, and the other node must allow this
    node's public key). A node that does not admit us never comes up:
    TP_ETIMEDOUT. Returns as tp_node_connect, or TP_EINVAL for a bad key
    or a node without CURVE. tp_node_connect on a node with CURVE is
    TP_EINVAL: a secure node only makes secure links. */
TP_EXPORT int
tp_node_connect_key (tp_system *sys, const char *endpoint,
                     const char *server_key, int timeout_ms, uint32_t *node);

/*  Writes a new CurveZMQ key pair: 40 characters of Z85 and a NUL each.
    Returns 0, or TP_ENOTSUP when libzmq has no CURVE. */
TP_EXPORT int
tp_curve_keypair (char public_key[41], char secret_key[41]);

/*  Reads a CURVE key from a file: the first line, 40 characters of Z85
    (a file `troupe keygen` or tp_curve_keys_write made). Returns 0,
    TP_ENOTFOUND (no such file) or TP_EINVAL (not a key). */
TP_EXPORT int
tp_curve_key_read (const char *path, char key[41]);

/*  Makes a key pair and writes it as base.secret (mode 0600, created, not
    overwritten) and base.public; *public_key (if not NULL) gets the
    public key. Returns 0, TP_EEXIST (base.secret exists), TP_ENOTSUP (no
    CURVE) or TP_ESYS (a file could not be written). */
TP_EXPORT int
tp_curve_keys_write (const char *base, char public_key[41]);

/*  Subscribes self to node events, as Erlang's net_kernel:monitor_nodes
    (on = false: unsubscribes). self then receives
        _nodeup   [s name, U node id]            a peer came up (or back)
        _nodedown [s name, U node id, t reason]  a peer went down:
                  noconnect (silent, or its process ended), shutdown (it
                  said goodbye)
    for every peer, in the order the gateway saw them. The subscription
    ends with the actor. Returns 0 or TP_EINVAL. From self's callbacks. */
TP_EXPORT int
tp_node_monitor (tp_actor *self, bool on);

/*  Looks up `name` on node `node_name` from inside an actor, without
    blocking (tp_whereis_at is for foreign threads): cont runs later on
    self with status 0 and a reply whose body is [r ref] (the nil ref if
    the name is not registered there), TP_ETIMEDOUT, TP_EDOWN (the node
    went down first) or TP_ECANCELED, as an ask's continuation. Returns 0
    (cont will run once), TP_ENODE (no such peer up), TP_EINVAL (bad
    arguments, or this node's own name: use tp_whereis). */
TP_EXPORT int
tp_node_lookup (tp_actor *self, const char *node_name, const char *name,
                int timeout_ms, tp_cont_fn cont, void *arg);

#ifdef __cplusplus
}
#endif

#endif
