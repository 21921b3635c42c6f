/*  actors/node_service.c: the "_node" service (actors/node_service.h).
    Built only on the public API. */
#include <stdlib.h>

#include <troupe/node_service.h>
#include <troupe/troupe.h>

static void
s_ls_one (const char *name, tp_ref ref, void *arg)
{
    /* (under the registry lock: only pack, call nothing of the registry) */
    tp_msg_pack ((tp_msg *) arg, "[sr]", name, ref);
}

static void
s_handle_ls (tp_actor *self, const tp_msg *req)
{
    tp_msg *out = tp_msg_new (tp_tag ("names"), NULL);
    tp_names_each (tp_system_of (self), s_ls_one, out);
    if (tp_reply_msg (self, req, &out) != 0)
        tp_msg_destroy (&out);
}

static void
s_handle_stats (tp_actor *self, const tp_msg *req)
{
    tp_system *sys = tp_system_of (self);
    tp_system_stats ss;
    tp_node_stats ns;
    tp_system_stats_get (sys, &ss);
    tp_node_stats_get (sys, &ns);
    tp_reply (self, req, tp_tag ("stats"),
              "{s:U s:U s:U s:U s:i s:U s:U s:U s:U s:U s:U s:U s:U s:U "
              "s:U s:U s:U s:U s:U s:U s:U s:U s:U s:U s:U s:U s:U "
              "s:U s:U s:U s:U s:U s:U}",
              "actors_live", ss.actors_live, "actors_spawned",
              ss.actors_spawned, "messages", ss.messages, "dead_letters",
              ss.dead_letters, "workers", ss.workers, "peers_up", ns.peers_up,
              "frames_in", ns.frames_in, "frames_out", ns.frames_out,
              "bytes_in", ns.bytes_in, "bytes_out", ns.bytes_out,
              "frames_bad", ns.frames_bad, "nodes_down", ns.nodes_down,
              "peers_held", ns.peers_held, "peers_forgotten",
              ns.peers_forgotten, "peers_refused", ns.peers_refused,
              "frames_held", ns.frames_held, "stalls", ns.stalls,
              "late_replies", ss.late_replies, "restarts", ss.restarts,
              "unpack_errors", ss.unpack_errors, "curve_refused",
              ns.curve_refused, "quarantines", ns.quarantines,
              "frames_quarantined", ns.frames_quarantined, "watches_refused",
              ns.watches_refused, "asks_refused", ns.asks_refused,
              "names_recycled", ns.names_recycled, "names_refused",
              ns.names_refused, "dead_noproc", ss.dead_noproc,
              "dead_noconnect", ss.dead_noconnect, "dead_dropped",
              ss.dead_dropped, "ask_timeouts", ss.ask_timeouts,
              "actors_thread", ss.actors_thread, "actors_process",
              ss.actors_process);
}

static void
s_handle_peers (tp_actor *self, const tp_msg *req)
{
    tp_system *sys = tp_system_of (self);
    int n = tp_node_peers (sys, NULL, 0);
    tp_peer_info *p = n > 0 ? calloc ((size_t) n, sizeof *p) : NULL;
    if (n > 0 && !p)
        abort (); /* (troupe's out-of-memory policy) */
    if (p) { /* (peers may have gone meanwhile: not more than were) */
        int now = tp_node_peers (sys, p, n);
        if (now < n)
            n = now;
    }
    tp_msg *out = tp_msg_new (tp_tag ("peers"), NULL);
    for (int i = 0; i < n; i++)
        tp_msg_pack (out, "[sUbUUUs]", p[i].name, (uint64_t) p[i].incarnation,
                     p[i].up, p[i].up_since_ms, p[i].bytes_in, p[i].bytes_out,
                     p[i].endpoint);
    free (p);
    if (tp_reply_msg (self, req, &out) != 0)
        tp_msg_destroy (&out);
}

static void
s_handle_stop (tp_actor *self, const tp_msg *req)
{
    tp_ref who;
    tp_tag_t why = 0;
    if (tp_msg_unpack (req, "r?t", &who, &why) != 0 || tp_ref_is_nil (who)) {
        tp_reply (self, req, tp_tag ("error"), "s", "stop takes [r actor, t reason]");
        return;
    }
    tp_stop (self, who, why);
    tp_reply (self, req, tp_tag ("ok"), NULL);
}

/*  "top" [?i n]: the n (default 10, at most 100) deepest mailboxes. */
static void
s_handle_top (tp_actor *self, const tp_msg *req)
{
    int n = 10;
    if (tp_msg_unpack (req, "?i", &n) != 0 || n < 1 || n > 100) {
        tp_reply (self, req, tp_tag ("error"), "s", "top takes [i n], 1..100");
        return;
    }
    tp_mailbox_info top[100];
    int live = tp_system_mailboxes (tp_system_of (self), top, n);
    tp_msg *out = tp_msg_new (tp_tag ("top"), "i", live);
    for (int i = 0; i < live && i < n; i++) {
        char ref[TP_REF_STRLEN];
        tp_ref_format (top[i].ref, ref, sizeof ref);
        tp_msg_pack (out, "[ssUU]", ref, top[i].behavior, top[i].queued,
                     top[i].processed);
    }
    if (tp_reply_msg (self, req, &out) != 0)
        tp_msg_destroy (&out);
}

static void
s_receive (tp_actor *self, tp_msg *msg)
{
    if (!tp_msg_is_request (msg))
        return;
    if (tp_msg_is (msg, "ls"))
        s_handle_ls (self, msg);
    else if (tp_msg_is (msg, "stats"))
        s_handle_stats (self, msg);
    else if (tp_msg_is (msg, "peers"))
        s_handle_peers (self, msg);
    else if (tp_msg_is (msg, "stop"))
        s_handle_stop (self, msg);
    else if (tp_msg_is (msg, "top"))
        s_handle_top (self, msg);
    else
        tp_reply (self, msg, tp_tag ("error"), "s", "unknown request");
}

static const tp_behavior s_node_b = {"_node", NULL, s_receive, NULL};

int
tp_node_service_start (tp_system *sys, tp_ref *ref)
{
    tp_spawn_opts o = {.name = "_node"};
    return tp_spawn (sys, &s_node_b, NULL, &o, ref);
}
