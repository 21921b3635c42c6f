/*  examples/chat.c: a chat room across processes, with process groups.

    Socket.IO's rooms in Node.js:

        io.on("connection", (s) => { s.join("lobby");
                                     s.on("say", (t) => io.to("lobby").emit("say", t)); });

    Here every participant is an actor that joins the group "lobby"
    (actors/pg.h); a message published to the group reaches every member
    on every node, sent once per node. The program forks into three
    processes, each a node with one user (alice, bob, carol), each node
    connected to the others (a full mesh: bob connects to alice, carol to
    both; troupe does not connect peers of peers by itself). Each user says two lines; each prints
    what it hears. Every user must hear the 6 lines (its own included),
    each user's in the order said. Then carol leaves the room, alice says
    goodbye, and only alice and bob hear it.

    Run: make examples && build/release/examples/chat
*/
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <troupe/pg.h>
#include <troupe/troupe.h>

#define USERS 3
static const char *s_names[USERS] = {"alice", "bob", "carol"};

typedef struct {
    const char *me;
    _Atomic int heard;  /* lines heard */
    _Atomic int byes;   /* goodbyes heard */
    int last[USERS];    /* last line number heard from each user */
    _Atomic int out_of_order;
} user_t;

static void
user_receive (tp_actor *self, tp_msg *msg)
{
    user_t *u = tp_arg (self);
    const char *who, *text;
    size_t wl, tl;
    int line;
    if (tp_msg_is (msg, "say")
        && tp_msg_unpack (msg, "sis", &who, &wl, &line, &text, &tl) == 0) {
        printf ("  [%s hears] %.*s: %.*s\n", u->me, (int) wl, who, (int) tl,
                text);
        for (int i = 0; i < USERS; i++)
            if (strlen (s_names[i]) == wl && !memcmp (s_names[i], who, wl)) {
                if (line != u->last[i] + 1)
                    atomic_fetch_add (&u->out_of_order, 1);
                u->last[i] = line;
            }
        atomic_fetch_add (&u->heard, 1);
    }
    else if (tp_msg_is (msg, "bye")) {
        printf ("  [%s hears] the room closes\n", u->me);
        atomic_fetch_add (&u->byes, 1);
    }
    else if (tp_msg_is (msg, "talk")) { /* from main: say two lines */
        char line_text[64];
        for (int l = 1; l <= 2; l++) {
            snprintf (line_text, sizeof line_text, "hello from %s, line %d",
                      u->me, l);
            tp_pg_publish (self, "lobby", tp_tag ("say"), "sis", u->me, l,
                           line_text);
        }
    }
    else if (tp_msg_is (msg, "leave"))
        tp_pg_leave (self, "lobby");
}

static int
user_init (tp_actor *self, void *arg)
{
    (void) arg;
    return tp_pg_join (self, "lobby");
}

static const tp_behavior user_b = {"user", user_init, user_receive, NULL};

static uint64_t
s_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

/*  Waits (bounded) until *v >= want. */
static bool
s_wait (_Atomic int *v, int want, int ms)
{
    uint64_t end = s_ms () + (uint64_t) ms;
    while (atomic_load (v) < want)
        if (s_ms () > end)
            return false;
        else
            usleep (2000);
    return true;
}

/*  Waits until this node's scope sees n members of the lobby. */
static bool
s_wait_members (tp_system *sys, size_t n)
{
    uint64_t end = s_ms () + 10000;
    size_t got = 0;
    while (s_ms () < end) {
        if (tp_pg_members (sys, "lobby", false, NULL, 0, &got, 5000) == 0
            && got == n)
            return true;
        usleep (2000);
    }
    return false;
}

/*  One participant's process. go: read end of a pipe the parent writes
    one byte to per step (talk, leave); done: where it reports. */
static int
s_participant (int idx, char hubs[][256], int go, int done)
{
    tp_system_opts o = {.node_name = s_names[idx], .heartbeat_ms = 200};
    tp_system *sys = tp_system_new (&o);
    tp_pg_start (sys, NULL);
    char ep[256] = "";
    tp_node_bind (sys, "tcp://127.0.0.1:*", ep, sizeof ep);
    for (int j = 0; j < idx; j++) /* the ones before me */
        tp_node_connect (sys, hubs[j], 5000, NULL);
    static user_t u;
    u.me = s_names[idx];
    tp_ref me;
    tp_spawn (sys, &user_b, &u, NULL, &me);
    if (write (done, ep, strlen (ep) + 1) < 0)
        return 1;
    int rc = 0;
    /* everyone is in the room, everywhere: then talk */
    rc |= !s_wait_members (sys, USERS);
    char step;
    if (write (done, "r", 1) < 0 || read (go, &step, 1) != 1)
        return 1;
    tp_send (sys, me, tp_tag ("talk"), NULL);
    rc |= !s_wait (&u.heard, 2 * USERS, 10000);
    if (write (done, "h", 1) < 0 || read (go, &step, 1) != 1)
        return 1;
    if (idx == 2) /* carol leaves */
        tp_send (sys, me, tp_tag ("leave"), NULL);
    rc |= !s_wait_members (sys, USERS - 1);
    if (write (done, "l", 1) < 0 || read (go, &step, 1) != 1)
        return 1;
    if (idx == 0)
        tp_pg_send (sys, "lobby", tp_tag ("bye"), NULL);
    if (idx < 2)
        rc |= !s_wait (&u.byes, 1, 10000);
    else
        usleep (300000); /* (carol must hear nothing: give it a chance) */
    rc |= atomic_load (&u.out_of_order) != 0;
    rc |= idx == 2 && atomic_load (&u.byes) != 0;
    if (write (done, rc ? "F" : "k", 1) < 0 || read (go, &step, 1) != 1)
        return 1;
    tp_system_destroy (&sys);
    return rc;
}

int
main (void)
{
    setvbuf (stdout, NULL, _IOLBF, 0);
    printf ("chat: 3 processes, one user each, in the room \"lobby\"\n");
    int go[USERS][2], done[USERS][2];
    pid_t pid[USERS];
    char hub[USERS][256];
    for (int i = 0; i < USERS; i++) {
        if (pipe (go[i]) || pipe (done[i]))
            return 1;
        pid[i] = fork ();
        if (pid[i] == 0) {
            prctl (PR_SET_PDEATHSIG, SIGKILL);
            _exit (s_participant (i, hub, go[i][0], done[i][1]));
        }
        /* its endpoint, for the ones after it */
        size_t n = 0;
        char c;
        while (n < sizeof hub[i] - 1 && read (done[i][0], &c, 1) == 1 && c)
            hub[i][n++] = c;
        hub[i][n] = '\0';
        printf ("%s's node listens at %s%s\n", s_names[i], hub[i],
                i ? ", connected to the ones above" : "");
    }
    int fails = 0;
    const char *steps[] = {"everyone talks", "carol leaves",
                           "alice closes the room", "check"};
    for (int s = 0; s < 4; s++) {
        for (int i = 0; i < USERS; i++) { /* all reached the step */
            char c = 0;
            if (read (done[i][0], &c, 1) != 1 || c == 'F')
                fails++;
        }
        if (s < 3)
            printf ("-- %s\n", steps[s]);
        for (int i = 0; i < USERS; i++)
            if (write (go[i][1], "g", 1) < 0)
                fails++;
    }
    for (int i = 0; i < USERS; i++) {
        int st = 0;
        waitpid (pid[i], &st, 0);
        fails += !(WIFEXITED (st) && WEXITSTATUS (st) == 0);
    }
    printf ("chat: %s\n", fails ? "FAILED" : "ok (every user heard the 6 "
                                             "lines in order; carol, gone, "
                                             "not the goodbye)");
    return fails ? 1 : 0;
}
