/*  tests/test_tools.c: the command-line tools as a user meets them:
    --help and --version, bad numbers and options, a module that cannot
    start, a ready file that cannot be written, a port in use, a config
    file with errors, and the CLI's exit codes (troupe(1), troupe-node(8)). */
#include <criterion/criterion.h>

#include "testutil.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

static char s_build[512];
#define S_UNUSED_FAIL() (void) tt_fail

static void
s_paths (void)
{
    tt_build_dir (s_build, sizeof s_build);
}

/*  Runs `cmd` (a shell line, tools named $NODE and $CLI) and returns its
    exit status; its stdout and stderr, together, in out. */
static int
s_run (char *out, size_t cap, const char *fmt, ...)
{
    char cmd[4096];
    int n = snprintf (cmd, sizeof cmd, "NODE=%s/tools/troupe-node "
                                        "CLI=%s/tools/troupe MOD=%s/modules; (",
                      s_build, s_build, s_build);
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (cmd + n, sizeof cmd - (size_t) n, fmt, ap);
    va_end (ap);
    strncat (cmd, ") 2>&1", sizeof cmd - strlen (cmd) - 1);
    FILE *p = popen (cmd, "r");
    cr_assert_not_null (p);
    size_t len = fread (out, 1, cap - 1, p);
    out[len] = '\0';
    int st = pclose (p);
    return WIFEXITED (st) ? WEXITSTATUS (st) : -1;
}

#define S_EXPECT(code, needle, ...)                                           \
    do {                                                                      \
        char out_[8192];                                                      \
        int rc_ = s_run (out_, sizeof out_, __VA_ARGS__);                      \
        cr_assert_eq (rc_, code, "exit %d, not %d, for: %s\n%s", rc_, code,   \
                      #__VA_ARGS__, out_);                                    \
        cr_assert (strstr (out_, needle), "'%s' not in the output of %s:\n%s", \
                   needle, #__VA_ARGS__, out_);                               \
    } while (0)

Test (tools, help_and_version_exit_0)
{
    S_UNUSED_FAIL ();
    s_paths ();
    S_EXPECT (0, "--heartbeat MS", "$NODE --help");
    S_EXPECT (0, "troupe-node 0.", "$NODE --version");
    S_EXPECT (0, "TIMEOUT_MS", "$CLI --help");
    S_EXPECT (0, "Exit:", "$CLI -h");
    S_EXPECT (0, "troupe 0.", "$CLI --version");
}

Test (tools, troupe_node_refuses_bad_input_with_a_clear_message)
{
    s_paths ();
    S_EXPECT (2, "--name is required", "$NODE");
    S_EXPECT (2, "workers: 'abc' is not a number", "$NODE --name x --workers abc");
    S_EXPECT (2, "heartbeat: '-1' is not a number",
              "$NODE --name x --heartbeat -1");
    S_EXPECT (2, "heartbeat: '5x'", "$NODE --name x --heartbeat 5x");
    S_EXPECT (2, "workers: '0'", "$NODE --name x --workers 0");
    S_EXPECT (2, "unknown option --bogus", "$NODE --name x --bogus 1");
    S_EXPECT (2, "--bind needs a value", "$NODE --name x --bind");
    S_EXPECT (2, "arg must follow a module", "$NODE --name x --arg y");
}

Test (tools, troupe_node_does_not_say_ready_when_it_cannot_start)
{
    s_paths ();
    /* a module whose init refuses its configuration */
    S_EXPECT (1, "its actor's init failed",
              "$NODE --name x --module $MOD/libflaky.so --arg nonsense "
              "--ready-file /tmp/tp-never-ready-$$ ; r=$?; "
              "test ! -e /tmp/tp-never-ready-$$ || echo READY; exit $r");
    S_EXPECT (1, "module /nonexistent.so", "$NODE --name x --module /nonexistent.so");
    /* a ready file it cannot write */
    S_EXPECT (1, "cannot write the ready file /nonexistent-dir/r",
              "$NODE --name x --bind tcp://127.0.0.1:* --ready-file "
              "/nonexistent-dir/r");
    /* a port in use: named */
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl (INADDR_LOOPBACK)};
    cr_assert_eq (bind (fd, (struct sockaddr *) &a, sizeof a), 0);
    cr_assert_eq (listen (fd, 1), 0);
    socklen_t al = sizeof a;
    getsockname (fd, (struct sockaddr *) &a, &al);
    S_EXPECT (1, "address in use", "$NODE --name x --bind tcp://127.0.0.1:%d",
              ntohs (a.sin_port));
    close (fd);
}

Test (tools, a_config_file_is_checked_line_by_line)
{
    s_paths ();
    char path[] = "/tmp/tp-conf-XXXXXX";
    int fd = mkstemp (path);
    cr_assert_geq (fd, 0);
    FILE *f = fdopen (fd, "w");
    fprintf (f, "# a node\nname = c1\nworkers = many\nbogus = 1\n"
                "heartbeat 200\n");
    fclose (f);
    char out[8192];
    int rc = s_run (out, sizeof out, "$NODE --config %s", path);
    cr_assert_eq (rc, 2, "%s", out);
    char want[256];
    snprintf (want, sizeof want, "%s:3: workers: 'many'", path);
    cr_assert (strstr (out, want), "%s", out);
    snprintf (want, sizeof want, "%s:4: unknown key 'bogus'", path);
    cr_assert (strstr (out, want), "%s", out);
    snprintf (want, sizeof want, "%s:5: expected key = value", path);
    cr_assert (strstr (out, want), "%s", out);
    unlink (path);
    /* the example config in the sources is valid (it names its module
       relative to the build: only parsed here, with --help after it) */
    S_EXPECT (0, "usage", "$NODE --config %s/../examples/troupe-node.conf "
                          "--help", TT_SRC_TESTS);
}

Test (tools, the_cli_exit_codes_tell_what_went_wrong, .timeout = 60)
{
    s_paths ();
    S_EXPECT (2, "bad timeout 'abc'", "$CLI -e tcp://127.0.0.1:1 -t abc ls");
    S_EXPECT (2, "no endpoint", "unset TROUPE_ENDPOINT; $CLI ls");
    S_EXPECT (2, "usage", "$CLI -e tcp://127.0.0.1:1 frobnicate");
    S_EXPECT (3, "cannot reach a node", "$CLI -e tcp://127.0.0.1:1 -t 300 ls");
    /* a live node: a missing actor is 3, an error reply 1, silence 4 */
    char ready[] = "/tmp/tp-cli-ready-XXXXXX";
    int fd = mkstemp (ready);
    close (fd);
    unlink (ready);
    char node[600], mod[600], mod2[600];
    snprintf (node, sizeof node, "%s/tools/troupe-node", s_build);
    snprintf (mod, sizeof mod, "%s/modules/libcounter.so", s_build);
    snprintf (mod2, sizeof mod2, "%s/modules/libflaky.so", s_build);
    char log[] = "/tmp/tp-cli-log-XXXXXX";
    int lfd = mkstemp (log);
    cr_assert_geq (lfd, 0);
    pid_t pid = fork ();
    if (pid == 0) {
        dup2 (lfd, 2);
        execl (node, node, "--name", "clinode", "--bind", "tcp://127.0.0.1:*",
               "--module", mod, "--module", mod2, "--ready-file", ready,
               (char *) NULL);
        _exit (127);
    }
    cr_assert (tt_wait_file (ready, 10000));
    char ep[256] = "";
    FILE *f = fopen (ready, "r");
    cr_assert_not_null (fgets (ep, sizeof ep, f));
    fclose (f);
    ep[strcspn (ep, "\n")] = '\0';
    S_EXPECT (0, "total", "$CLI -e %s ask counter add 2", ep);
    S_EXPECT (3, "no actor named 'nobody'", "$CLI -e %s ask nobody x", ep);
    S_EXPECT (1, "unknown request", "$CLI -e %s ask counter frob", ep);
    S_EXPECT (0, "", "$CLI -e %s send counter add 1", ep);
    S_EXPECT (2, "not JSON", "$CLI -e %s ask counter add '{'", ep);
    /* flaky does not answer what it does not know: 4 (the bound covers
       the connect and the lookup too) */
    S_EXPECT (4, "timed out", "$CLI -e %s -t %d ask flaky frob", ep,
              tt_ms (1000));
    kill (pid, SIGTERM);
    close (lfd);
    int st;
    waitpid (pid, &st, 0);
    if (!WIFEXITED (st) || WEXITSTATUS (st) != 0)
        tt_show_log (log, "troupe-node");
    cr_assert (WIFEXITED (st) && WEXITSTATUS (st) == 0, "status %d", st);
    unlink (ready);
    unlink (log);
}

Test (tools, troupe_node_serves_metrics_and_troupe_top_shows_them,
      .timeout = 60)
{
    s_paths ();
    S_EXPECT (1, "not HOST:PORT", "$NODE --name x --metrics nowhere");
    char ready[] = "/tmp/tp-top-ready-XXXXXX", log[] = "/tmp/tp-top-log-XXXXXX";
    close (mkstemp (ready));
    unlink (ready);
    int lfd = mkstemp (log);
    char node[600], mod[600];
    snprintf (node, sizeof node, "%s/tools/troupe-node", s_build);
    snprintf (mod, sizeof mod, "%s/modules/libcounter.so", s_build);
    pid_t pid = fork ();
    if (pid == 0) {
        dup2 (lfd, 2);
        execl (node, node, "--name", "topnode", "--bind", "tcp://127.0.0.1:*",
               "--module", mod, "--metrics", "127.0.0.1:0", "--ready-file",
               ready, (char *) NULL);
        _exit (127);
    }
    close (lfd);
    cr_assert (tt_wait_file (ready, 10000));
    char ep[256] = "", text[8192] = "";
    FILE *f = fopen (ready, "r");
    cr_assert_not_null (fgets (ep, sizeof ep, f));
    fclose (f);
    ep[strcspn (ep, "\n")] = '\0';
    f = fopen (log, "r");
    size_t n = fread (text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose (f);
    const char *at = strstr (text, "metrics at http://127.0.0.1:");
    cr_assert_not_null (at, "no metrics line in the log:\n%s", text);
    int port = atoi (at + strlen ("metrics at http://127.0.0.1:"));
    cr_assert_gt (port, 0);
    S_EXPECT (0, "total", "$CLI -e %s ask counter add 5", ep);
    S_EXPECT (0, "troupe_node_info{node=\"topnode\"} 1",
              "curl -s -m 10 http://127.0.0.1:%d/metrics", port);
    S_EXPECT (0, "troupe_peers_up",
              "curl -s -m 10 http://127.0.0.1:%d/metrics", port);
    S_EXPECT (0, "messages/s", "$CLI -e %s top 2", ep);
    S_EXPECT (0, "counter", "$CLI -e %s top 1", ep);
    S_EXPECT (2, "bad number of rounds", "$CLI -e %s top x", ep);
    kill (pid, SIGTERM);
    int st;
    waitpid (pid, &st, 0);
    if (!WIFEXITED (st) || WEXITSTATUS (st) != 0)
        tt_show_log (log, "troupe-node");
    cr_assert (WIFEXITED (st) && WEXITSTATUS (st) == 0, "status %d", st);
    unlink (ready);
    unlink (log);
}
