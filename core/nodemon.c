/*  core/nodemon.c: the actors told of node up and down
    (tp_node_monitor): the list, and the telling. Below both the actors
    (an actor's end takes it off the list) and the gateway (which tells);
    calls only the routing beneath. */
#include "runtime.h"

void
tp__node_monitor_add (tp_system *sys, tp_ref ref)
{
    pthread_mutex_lock (&sys->nodemon_lock);
    if (sys->nnodemons == sys->capnodemons) {
        sys->capnodemons = sys->capnodemons ? 2 * sys->capnodemons : 8;
        sys->nodemons = tp__realloc (sys->nodemons, (size_t) sys->capnodemons
                                                        * sizeof *sys->nodemons);
    }
    sys->nodemons[sys->nnodemons++] = ref;
    pthread_mutex_unlock (&sys->nodemon_lock);
}

void
tp__node_unmonitor (tp_system *sys, tp_ref ref)
{
    pthread_mutex_lock (&sys->nodemon_lock);
    for (int i = 0; i < sys->nnodemons; i++)
        if (tp_ref_eq (sys->nodemons[i], ref)) {
            sys->nodemons[i] = sys->nodemons[--sys->nnodemons];
            break;
        }
    pthread_mutex_unlock (&sys->nodemon_lock);
}

void
tp__node_event (tp__ctx *c, uint32_t node, const char *name, size_t len,
                tp_tag_t reason)
{
    tp_system *sys = c->sys;
    pthread_mutex_lock (&sys->nodemon_lock);
    int n = sys->nnodemons;
    tp_ref *to = n ? tp__malloc ((size_t) n * sizeof *to) : NULL;
    if (n)
        memcpy (to, sys->nodemons, (size_t) n * sizeof *to);
    pthread_mutex_unlock (&sys->nodemon_lock);
    for (int i = 0; i < n; i++) {
        tp_msg *m = tp__msg_alloc ();
        if (reason) {
            m->tag = tp_tag ("_nodedown");
            tp_msg_pack (m, "SUt", name, len, (uint64_t) node, reason);
        }
        else {
            m->tag = tp_tag ("_nodeup");
            tp_msg_pack (m, "SU", name, len, (uint64_t) node);
        }
        if (tp__route (c, to[i], m, 0))
            tp__msg_free (m);
    }
    free (to);
}
