/*  examples/callbacks.c: Node.js callbacks -> messages.

    In Node.js you hand a function to the file system and it is called
    later with (err, data):

        fs.writeFile("notes.txt", "buy milk", (err) => {
            fs.readFile("notes.txt", (err, data) => console.log(data));
        });
        fs.readFile("missing.txt", (err, data) => console.log(err.code));

    In troupe nothing calls into another actor's code. The caller SENDS a
    request message and returns; the service does the work and SENDS a
    message back; the caller "continues" in its own receive function, in
    the branch for that reply's tag. Node's (err, data) pair becomes two
    reply tags: "data" and "error".

    One difference is worth noticing: messages from one sender to one
    receiver arrive in the order they were sent. So the client below sends
    the write and the read back to back, with no nesting, and the read is
    still guaranteed to see the write.

    Run: make examples && build/release/examples/callbacks
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <troupe/troupe.h>

/* ------------------------------------------------------------------ */
/*  The "fs" service: a tiny in-memory file system.                    */
/*                                                                    */
/*      write(name, text)  ->  written(name)                          */
/*      read(name)         ->  data(name, text) | error(name, code)   */

#define FS_MAX_FILES 8

typedef struct {
    char *name[FS_MAX_FILES]; /* file names, NULL = free entry */
    char *text[FS_MAX_FILES]; /* file contents */
} fs_t;

static int
fs_init (tp_actor *self, void *arg)
{
    /*  State belongs to the actor: made in init, freed in terminate, and
        touched by nobody else. */
    tp_set_state (self, calloc (1, sizeof (fs_t)));
    return 0;
}

static void
fs_terminate (tp_actor *self, tp_tag_t reason)
{
    fs_t *fs = tp_state (self);
    if (!fs)
        return;
    for (int i = 0; i < FS_MAX_FILES; i++) {
        free (fs->name[i]);
        free (fs->text[i]);
    }
    free (fs);
}

static int
fs_find (fs_t *fs, const char *name)
{
    for (int i = 0; i < FS_MAX_FILES; i++)
        if (fs->name[i] && strcmp (fs->name[i], name) == 0)
            return i;
    return -1;
}

static void
fs_receive (tp_actor *self, tp_msg *msg)
{
    fs_t *fs = tp_state (self);
    tp_ref caller = tp_msg_from (msg); /* where the answer goes */
    char name[64], text[256];

    /*  "S" copies a string into our buffer and NUL-terminates it. A body
        that does not match the format is refused, never trusted. */
    if (tp_msg_is (msg, "write")
        && tp_msg_unpack (msg, "SS", name, sizeof name, text, sizeof text)
               == 0) {
        int i = fs_find (fs, name);
        for (int k = 0; i < 0 && k < FS_MAX_FILES; k++) /* a free entry */
            if (!fs->name[k])
                i = k;
        if (i < 0) {
            tp_tell (self, caller, tp_tag ("error"), "ss", name, "ENOSPC");
            return;
        }
        if (!fs->name[i])
            fs->name[i] = strdup (name);
        free (fs->text[i]);
        fs->text[i] = strdup (text);
        tp_tell (self, caller, tp_tag ("written"), "s", name);
    }
    else if (tp_msg_is (msg, "read")
             && tp_msg_unpack (msg, "S", name, sizeof name) == 0) {
        int i = fs_find (fs, name);
        if (i >= 0)
            tp_tell (self, caller, tp_tag ("data"), "ss", name, fs->text[i]);
        else
            tp_tell (self, caller, tp_tag ("error"), "ss", name, "ENOENT");
    }
}

static const tp_behavior fs_service = {
    .name = "fs", .init = fs_init, .receive = fs_receive,
    .terminate = fs_terminate};

/* ------------------------------------------------------------------ */
/*  The client: sends three requests, then handles the answers.        */

typedef struct {
    int replies;  /* answers received so far */
    int correct;  /* answers that were what we expected */
} verdict_t;

static void
client_receive (tp_actor *self, tp_msg *msg)
{
    verdict_t *v = tp_arg (self); /* given by main at spawn */
    const char *s, *t;            /* "s" unpacks borrowed, not NUL-ended */
    size_t slen, tlen;

    if (tp_msg_is (msg, "start")) {
        /*  The "function call" part of fs.readFile(...): a message.
            Nothing waits here; receive returns right after sending. */
        tp_ref fs;
        tp_msg_unpack (msg, "r", &fs);
        tp_tell (self, fs, tp_tag ("write"), "ss", "notes.txt", "buy milk");
        tp_tell (self, fs, tp_tag ("read"), "s", "notes.txt");
        tp_tell (self, fs, tp_tag ("read"), "s", "missing.txt");
        printf ("client: sent write + 2 reads, carrying on\n");
        return;
    }
    /*  The "callback" part: one branch per reply tag. */
    if (tp_msg_is (msg, "written")
        && tp_msg_unpack (msg, "s", &s, &slen) == 0) {
        printf ("client: written %.*s\n", (int) slen, s);
        v->correct++;
    }
    else if (tp_msg_is (msg, "data")
             && tp_msg_unpack (msg, "ss", &s, &slen, &t, &tlen) == 0) {
        printf ("client: data  %.*s = \"%.*s\"\n", (int) slen, s, (int) tlen,
                t);
        v->correct += tlen == 8 && memcmp (t, "buy milk", 8) == 0;
    }
    else if (tp_msg_is (msg, "error")
             && tp_msg_unpack (msg, "ss", &s, &slen, &t, &tlen) == 0) {
        printf ("client: error %.*s: %.*s\n", (int) slen, s, (int) tlen, t);
        v->correct += tlen == 6 && memcmp (t, "ENOENT", 6) == 0;
    }
    else
        return; /* not a reply we know: ignore it */

    if (++v->replies == 3) {
        /*  All answers are in: stop the service (the sender of this
            reply) and ourselves. main's tp_system_wait then returns. */
        tp_stop (self, tp_msg_from (msg), 0);
        tp_exit (self, 0);
    }
}

static const tp_behavior client = {.name = "client",
                                   .receive = client_receive};

int
main (void)
{
    tp_system *sys = tp_system_new (NULL);
    if (!sys)
        return 1;
    verdict_t v = {0, 0};
    tp_ref fs, cl;
    tp_spawn (sys, &fs_service, NULL, NULL, &fs);
    /*  The client writes into v; main reads it only after every actor has
        ended (tp_system_wait below), so nothing is shared while they run. */
    tp_spawn (sys, &client, &v, NULL, &cl);
    tp_send (sys, cl, tp_tag ("start"), "r", fs);

    int rc = tp_system_wait (sys, 5000);
    tp_system_destroy (&sys);
    printf ("callbacks: %d replies, %d as expected -> %s\n", v.replies,
            v.correct, rc == 0 && v.correct == 3 ? "ok" : "FAILED");
    return rc == 0 && v.correct == 3 ? 0 : 1;
}
