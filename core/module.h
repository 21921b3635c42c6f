/*  core/module.h: actor modules for tools/troupe-node.

    A module is a shared library that exports one tp_module named
    `tp_module_entry`; troupe-node loads it with --module, spawns one actor
    running its behaviour and registers it under the module's name. The
    actor's init gets the module's configuration string as its arg
    (troupe-node --arg, or opts.config of a process actor), or NULL.
    Write it with the TP_MODULE macro:

        static const tp_behavior counter = {"counter", NULL, counter_recv, NULL};
        TP_MODULE ("counter", counter);

    and build it with `cc -shared -fPIC $(pkg-config --cflags troupe)`.
*/
#ifndef TP_MODULE_H_INCLUDED
#define TP_MODULE_H_INCLUDED

#include <stdint.h>

#include "actor.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TP_MODULE_ABI 1

typedef struct tp_module {
    uint32_t abi;               /* TP_MODULE_ABI */
    const char *name;           /* registered name of the actor */
    const tp_behavior *behavior;
    tp_actor_kind kind;         /* TP_LOOP or TP_THREAD */
} tp_module;

#define TP_MODULE(name_, behavior_)                                           \
    TP_EXPORT const tp_module tp_module_entry = {TP_MODULE_ABI, (name_),      \
                                                 &(behavior_), TP_LOOP}

/*  As TP_MODULE, for an actor that runs on a thread of its own (blocking
    calls, long computations). */
#define TP_MODULE_THREAD(name_, behavior_)                                    \
    TP_EXPORT const tp_module tp_module_entry = {TP_MODULE_ABI, (name_),      \
                                                 &(behavior_), TP_THREAD}

#ifdef __cplusplus
}
#endif

#endif
