/*  bench/peers/caf_peer.cpp: the CAF (C++ Actor Framework 0.17) peer of
    `make bench` (see bench/CONTRACT.md).

    Build (what bench/peers/peers.mk does; needs Debian's libcaf-dev 0.17.6,
    which ships no pkg-config file: headers in /usr/include/caf, libs in
    /usr/lib/x86_64-linux-gnu):
        c++ -O2 -std=c++17 -Wall -Wextra -pthread bench/peers/caf_peer.cpp \
            -o build/release/bench/caf_peer -lcaf_io -lcaf_core -pthread

    Usage: caf_peer <workload> [--n N] [--senders S] [--actors A] [--hops H]
                    [--tasks T] [--fib F] [--workers W] [--variant V]
    Prints CSV rows workload,caf,variant,metric,value,unit on stdout.

    Every actor is event-based (spawned from a function returning a
    behavior). Each run has its own actor_system whose work-stealing
    scheduler gets exactly K threads through the config key
    "scheduler.max-threads"; the variant names K (`1thread`, `2threads`).
    --workers W, if given, replaces the default of 2 threads for the
    2-thread variants (the variant name then says W).
    The actor that accounts for the last message reads the clock itself and
    then tells main (a scoped_actor, blocked in receive) that it is done.

    pingpong  1thread and 2threads; the counter is checked on every pong.
    counting  2threads-1sender, 2threads-2senders; (tag, int64) messages,
              each sender's sequence checked by the receiver.
    ring      2threads; main's first send counts as one of the hops.
    spawn     2threads; one actor spawns the children in a credit window
              and collects their messages (see SPAWN_CHUNK). Then n idle
              actors: RSS (/proc/self/statm) after minus before, over n.
    forkjoin  1thread and 2threads seconds (median of 3 alternating runs),
              speedup = 1thread / 2threads, reported under `2threads`.
    big       2threads; Savina Big, pings + pongs counted and checked.

    The newer workloads name their variants as CONTRACT.md does (`1worker`,
    `2workers`; a worker is a scheduler thread):
    asks      1worker and 2workers; one handler issues all n
              request(...).then(...) with a 30 s timeout each; each
              continuation checks its answer (2i+1), and the sum is checked.
              bytes_per_ask from /proc/self/statm before / right after the
              sends, read inside that handler.
    hol       2workers (both event-based; B is stolen by the idle worker)
              and detached (B on its own thread, A on 1 worker); see
              hol_one. A spins 100 ms on the steady clock after each send.
    fanout    1worker and 2workers seconds (median of 3 alternating runs,
              as forkjoin), speedup under `2workers`; the coordinator
              plain-spawns `tasks` workers and request(...).then's each.
    mapbody   1worker-struct: a typed struct {a, b, s, d} with inspect,
              announced with add_message_type (what a CAF user sends);
              1worker-settings: a caf::settings (CAF's string-keyed map of
              config_values), the literal "map of four fields". The
              receiver acks every 100 bodies, the sender keeps 2 chunks in
              flight (see REC_CHUNK: a self-re-arming sender never yields).
    flood     1worker; all n sends in one handler. bytes_per_msg = (VmHWM,
              reset first through /proc/self/clear_refs, - RSS before) / n.
    call      2workers; main's scoped_actor request(...).receive(...), 30 s
              timeout, one call at a time, nearest-rank percentiles.
    sends     1worker; Savina fjthrput from outside the actors: main (not
              an actor; no scoped_actor involved) calls caf::anon_send n
              times, (tag, i) for i = 0..n-1 to receiver i % actors, all
              event-based on the one worker. Each receiver knows its share,
              checks that its i come in order (j, j+A, ...), and reads the
              clock when it has its whole share; timed from before the
              first send to the latest of those reads; main's scoped_actor
              waits for every receiver's report.
*/
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include "caf/all.hpp"

namespace {

// ---- atoms (own names: caf 0.17.6 already has caf::ping_atom etc.) -------

using go_atom = caf::atom_constant<caf::atom("b_go")>;
using ping_atom = caf::atom_constant<caf::atom("b_ping")>;
using pong_atom = caf::atom_constant<caf::atom("b_pong")>;
using cnt_atom = caf::atom_constant<caf::atom("b_cnt")>;
using tok_atom = caf::atom_constant<caf::atom("b_tok")>;
using next_atom = caf::atom_constant<caf::atom("b_next")>;
using hi_atom = caf::atom_constant<caf::atom("b_hi")>;
using job_atom = caf::atom_constant<caf::atom("b_job")>;
using done_atom = caf::atom_constant<caf::atom("b_done")>;
using ack_atom = caf::atom_constant<caf::atom("b_ack")>;

// ---- parameters, clock, output --------------------------------------------

struct params {
  long n = 0, senders = 0, actors = 0, hops = 1000000, tasks = 0, fib = 32;
  long workers = 2;
  const char* variant = nullptr;
} P;

bool g_matched = false; // did --variant pick anything

double now() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

// Written by the actor that starts/ends a timed region, read by main after
// it has received that actor's done message (which orders the accesses).
double g_t0, g_t1;

bool want(const std::string& variant) {
  if (P.variant && variant != P.variant)
    return false;
  g_matched = true;
  return true;
}

void row(const char* wl, const std::string& variant, const char* metric,
         double v, const char* unit, bool frac = false) {
  std::printf(frac ? "%s,caf,%s,%s,%.3f,%s\n" : "%s,caf,%s,%s,%.0f,%s\n", wl,
              variant.c_str(), metric, v, unit);
  std::fflush(stdout);
}

std::string threads_name(long k) {
  return std::to_string(k) + (k == 1 ? "thread" : "threads");
}

// One actor system per run, with exactly `threads` scheduler threads.
struct sys_config : caf::actor_system_config {
  explicit sys_config(long threads) {
    set("scheduler.max-threads", static_cast<int64_t>(threads));
  }
};

bool check_threads(caf::actor_system& sys, long threads) {
  if (static_cast<long>(sys.scheduler().num_workers()) == threads)
    return true;
  std::fprintf(stderr, "caf_peer: wanted %ld scheduler threads, got %zu\n",
               threads, sys.scheduler().num_workers());
  return false;
}

// Waits (bounded) for one (done_atom, int64_t) message; false on timeout.
bool wait_done(caf::scoped_actor& self, int64_t* val, int secs = 120) {
  bool ok = false;
  self->receive(
    [&](done_atom, int64_t v) {
      ok = true;
      if (val)
        *val = v;
    },
    caf::after(std::chrono::seconds(secs)) >> [&] {
      std::fprintf(stderr, "caf_peer: timed out\n");
    });
  return ok;
}

void kill_all(const std::vector<caf::actor>& v) {
  for (auto& a : v)
    if (a)
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
}

// ---- pingpong ---------------------------------------------------------------

struct ping_state {
  int64_t i = 0;
  int64_t bad = 0;
};

caf::behavior pong_actor(caf::event_based_actor* self) {
  return {
    [=](ping_atom, int64_t v) {
      self->send(caf::actor_cast<caf::actor>(self->current_sender()),
                 pong_atom::value, v);
    },
  };
}

caf::behavior ping_actor(caf::stateful_actor<ping_state>* self,
                         caf::actor pong, int64_t n, caf::actor main) {
  return {
    [=](go_atom) {
      g_t0 = now();
      self->state.i = 1;
      self->send(pong, ping_atom::value, int64_t{1});
    },
    [=](pong_atom, int64_t v) {
      auto& s = self->state;
      if (v != s.i)
        s.bad++;
      if (s.i == n) {
        g_t1 = now();
        self->send(main, done_atom::value, s.bad);
        self->quit();
        return;
      }
      self->send(pong, ping_atom::value, ++s.i);
    },
  };
}

int pingpong_one(long threads) {
  auto variant = threads_name(threads);
  if (!want(variant))
    return 0;
  sys_config cfg{threads};
  caf::actor_system sys{cfg};
  if (!check_threads(sys, threads))
    return 1;
  caf::scoped_actor self{sys};
  auto pong = sys.spawn(pong_actor);
  auto ping = sys.spawn(ping_actor, pong, static_cast<int64_t>(P.n),
                        caf::actor_cast<caf::actor>(self));
  self->send(ping, go_atom::value);
  int64_t bad = -1;
  bool ok = wait_done(self, &bad) && bad == 0;
  kill_all({ping, pong});
  if (!ok) {
    std::fprintf(stderr, "caf_peer: pingpong %s: lost or bad message\n",
                 variant.c_str());
    return 1;
  }
  row("pingpong", variant, "roundtrips_per_s", P.n / (g_t1 - g_t0), "1/s");
  return 0;
}

int pingpong() {
  if (!P.n)
    P.n = 200000;
  int rc = pingpong_one(1);
  if (P.workers != 1)
    rc |= pingpong_one(P.workers);
  return rc;
}

// ---- counting ---------------------------------------------------------------

// The receiver decodes (tag, integer) and checks each sender's sequence,
// telling senders apart by the message's sender.
struct sink_state {
  int64_t got = 0, bad = 0;
  caf::strong_actor_ptr src[2];
  int64_t next[2] = {0, 0};
};

caf::behavior sink_actor(caf::stateful_actor<sink_state>* self, int64_t expect,
                         caf::actor main) {
  return {
    [=](cnt_atom, int64_t seq) {
      auto& s = self->state;
      auto& from = self->current_sender();
      int k = from == s.src[0] ? 0 : from == s.src[1] ? 1 : -1;
      if (k < 0 && (!s.src[0] || !s.src[1])) {
        k = s.src[0] ? 1 : 0;
        s.src[k] = from;
      }
      if (k < 0 || seq != s.next[k]++)
        s.bad++;
      if (++s.got == expect) {
        g_t1 = now();
        self->send(main, done_atom::value, s.bad);
      }
    },
  };
}

struct src_state {
  int64_t seq = 0;
};

// Sends in chunks of 100 and re-arms itself, so that a sender sharing a
// thread with the receiver cannot starve it.
caf::behavior src_actor(caf::stateful_actor<src_state>* self, caf::actor sink,
                        int64_t count) {
  return {
    [=](go_atom) {
      auto& s = self->state;
      for (int i = 0; i < 100 && s.seq < count; i++)
        self->send(sink, cnt_atom::value, s.seq++);
      if (s.seq < count)
        self->send(self, go_atom::value);
      else
        self->quit();
    },
  };
}

int counting_one(long threads, long senders) {
  auto base = threads_name(threads);
  auto variant = base + "-" + std::to_string(senders)
                 + (senders == 1 ? "sender" : "senders");
  if (!want(variant) && !want(base))
    return 0;
  sys_config cfg{threads};
  caf::actor_system sys{cfg};
  if (!check_threads(sys, threads))
    return 1;
  caf::scoped_actor self{sys};
  auto sink = sys.spawn(sink_actor, static_cast<int64_t>(P.n),
                        caf::actor_cast<caf::actor>(self));
  std::vector<caf::actor> srcs;
  for (long i = 0; i < senders; i++) {
    long share = P.n / senders + (i == 0 ? P.n % senders : 0);
    srcs.push_back(sys.spawn(src_actor, sink, static_cast<int64_t>(share)));
  }
  g_t0 = now();
  for (auto& s : srcs)
    self->send(s, go_atom::value);
  int64_t bad = -1;
  bool ok = wait_done(self, &bad) && bad == 0;
  srcs.push_back(sink);
  kill_all(srcs);
  if (!ok) {
    std::fprintf(stderr, "caf_peer: counting %s: lost or bad message\n",
                 variant.c_str());
    return 1;
  }
  row("counting", variant, "msgs_per_s", P.n / (g_t1 - g_t0), "1/s");
  return 0;
}

int counting() {
  if (!P.n)
    P.n = 2000000;
  int rc = 0;
  for (long s = 1; s <= 2; s++)
    if (!P.senders || P.senders == s)
      rc |= counting_one(P.workers, s);
  return rc;
}

// ---- ring -------------------------------------------------------------------

struct ring_state {
  caf::actor next;
};

caf::behavior ring_actor(caf::stateful_actor<ring_state>* self,
                         caf::actor main) {
  return {
    [=](next_atom, caf::actor next) {
      self->state.next = std::move(next);
      return ack_atom::value;
    },
    [=](tok_atom, int64_t left) {
      if (left == 0) {
        g_t1 = now();
        self->send(main, done_atom::value, int64_t{0});
      } else {
        self->send(self->state.next, tok_atom::value, left - 1);
      }
    },
  };
}

int ring() {
  long threads = P.workers;
  auto variant = threads_name(threads);
  if (!want(variant))
    return 0;
  long n = P.actors ? P.actors : 1000;
  sys_config cfg{threads};
  caf::actor_system sys{cfg};
  if (!check_threads(sys, threads))
    return 1;
  caf::scoped_actor self{sys};
  std::vector<caf::actor> nodes;
  for (long i = 0; i < n; i++)
    nodes.push_back(sys.spawn(ring_actor, caf::actor_cast<caf::actor>(self)));
  bool ok = true;
  for (long i = 0; i < n && ok; i++)
    self->request(nodes[i], std::chrono::seconds(10), next_atom::value,
                  nodes[(i + 1) % n])
      .receive([](ack_atom) {}, [&](caf::error&) { ok = false; });
  // P.hops messages in all: main's first send counts as one hop.
  g_t0 = now();
  self->send(nodes[0], tok_atom::value, static_cast<int64_t>(P.hops - 1));
  ok = ok && wait_done(self, nullptr);
  kill_all(nodes);
  if (!ok) {
    std::fprintf(stderr, "caf_peer: ring failed\n");
    return 1;
  }
  row("ring", variant, "hops_per_s", P.hops / (g_t1 - g_t0), "1/s");
  return 0;
}

// ---- spawn ------------------------------------------------------------------

long rss_bytes() {
  long pages = 0, rss = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &rss) != 2)
      rss = 0;
    std::fclose(f);
  }
  return rss * sysconf(_SC_PAGESIZE);
}

// Sends one message to the collector and ends (no behavior: it terminates
// right after its initialization).
void child_actor(caf::event_based_actor* self, caf::actor coll) {
  self->send(coll, hi_atom::value);
}

// Says hello once initialized, then waits for a message that never comes.
caf::behavior idle_actor(caf::event_based_actor* self, caf::actor coll) {
  self->send(coll, hi_atom::value);
  return {
    [](hi_atom) {},
  };
}

// Chunk and window of the spawner: CAF 0.17's work-stealing queue finds a
// stolen job's predecessor by walking the victim's queue from its head, so
// a queue of 10^5..10^6 freshly spawned actors makes every steal O(queue)
// and the run quadratic (it did not finish 10^6 in 120 s). The spawner
// therefore keeps at most SPAWN_WINDOW * SPAWN_CHUNK children unaccounted.
constexpr int64_t SPAWN_CHUNK = 100;
constexpr int64_t SPAWN_WINDOW = 4;

struct spawner_state {
  int64_t spawned = 0, got = 0;
};

// Spawner and collector in one: spawns a chunk of children whenever a
// chunk's worth of hellos has come in. With `keep`, children are idle
// actors whose handles it stores there (so they stay alive).
caf::behavior spawner_actor(caf::stateful_actor<spawner_state>* self,
                            int64_t n, std::vector<caf::actor>* keep,
                            caf::actor main) {
  auto chunk = [=] {
    auto& s = self->state;
    caf::actor me = caf::actor_cast<caf::actor>(self);
    for (int64_t i = 0; i < SPAWN_CHUNK && s.spawned < n; i++, s.spawned++) {
      if (keep)
        (*keep)[static_cast<size_t>(s.spawned)] = self->spawn(idle_actor, me);
      else
        self->spawn(child_actor, me);
    }
  };
  return {
    [=](go_atom) {
      g_t0 = now();
      for (int64_t i = 0; i < SPAWN_WINDOW; i++)
        chunk();
    },
    [=](hi_atom) {
      auto& s = self->state;
      if (++s.got == n) {
        g_t1 = now();
        self->send(main, done_atom::value, int64_t{0});
        self->quit();
      } else if (s.got % SPAWN_CHUNK == 0) {
        chunk();
      }
    },
  };
}

int spawn() {
  if (!P.n)
    P.n = 1000000;
  long threads = P.workers;
  auto variant = threads_name(threads);
  if (!want(variant))
    return 0;
  int rc = 0;
  {
    sys_config cfg{threads};
    caf::actor_system sys{cfg};
    if (!check_threads(sys, threads))
      return 1;
    caf::scoped_actor self{sys};
    auto sp = sys.spawn(spawner_actor, static_cast<int64_t>(P.n),
                        static_cast<std::vector<caf::actor>*>(nullptr),
                        caf::actor_cast<caf::actor>(self));
    self->send(sp, go_atom::value);
    if (wait_done(self, nullptr))
      row("spawn", variant, "actors_per_s", P.n / (g_t1 - g_t0), "1/s");
    else
      rc = 1;
    kill_all({sp});
  }
  {
    sys_config cfg{threads};
    caf::actor_system sys{cfg};
    caf::scoped_actor self{sys};
    // The handles keep the idle actors alive; their storage is touched
    // before the first reading so that it is not counted.
    std::vector<caf::actor> idle(static_cast<size_t>(P.n),
                                 caf::actor{nullptr});
    auto sp = sys.spawn(spawner_actor, static_cast<int64_t>(P.n), &idle,
                        caf::actor_cast<caf::actor>(self));
    long before = rss_bytes();
    self->send(sp, go_atom::value);
    if (wait_done(self, nullptr)) {
      // every idle actor has run its initialization and is waiting
      long after = rss_bytes();
      row("spawn", variant, "bytes_per_actor",
          static_cast<double>(after - before) / P.n, "B");
    } else {
      rc = 1;
    }
    kill_all({sp});
    // Dropping the last handles makes the idle actors unreachable, and CAF
    // ends them (twice as fast as 10^6 exit messages).
    idle.clear();
  }
  return rc;
}

// ---- forkjoin ---------------------------------------------------------------

long fib(long n) {
  return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

caf::behavior task_actor(caf::event_based_actor*) {
  return {
    [](job_atom, int64_t n) -> int64_t { return fib(n); },
  };
}

struct forker_state {
  int64_t left = 0, sum = 0;
};

caf::behavior forker_actor(caf::stateful_actor<forker_state>* self,
                           std::vector<caf::actor> tasks, caf::actor main) {
  return {
    [=](go_atom) {
      g_t0 = now();
      self->state.left = static_cast<int64_t>(tasks.size());
      for (auto& t : tasks)
        self->request(t, caf::infinite, job_atom::value,
                      static_cast<int64_t>(P.fib))
          .then([=](int64_t v) {
            self->state.sum += v;
            if (--self->state.left == 0) {
              g_t1 = now();
              self->send(main, done_atom::value, self->state.sum);
              self->quit();
            }
          });
    },
  };
}

// Runs P.tasks fib jobs (one task actor each) on `threads` threads; returns
// seconds, or -1 on a failure or a wrong sum.
double forkjoin_run(long threads, int64_t expect) {
  sys_config cfg{threads};
  caf::actor_system sys{cfg};
  if (!check_threads(sys, threads))
    return -1;
  caf::scoped_actor self{sys};
  std::vector<caf::actor> tasks;
  for (long i = 0; i < P.tasks; i++)
    tasks.push_back(sys.spawn(task_actor));
  auto f = sys.spawn(forker_actor, tasks, caf::actor_cast<caf::actor>(self));
  self->send(f, go_atom::value);
  int64_t sum = -1;
  bool ok = wait_done(self, &sum, 600);
  tasks.push_back(f);
  kill_all(tasks);
  if (!ok || sum != expect) {
    std::fprintf(stderr, "caf_peer: forkjoin on %ld threads failed\n",
                 threads);
    return -1;
  }
  return g_t1 - g_t0;
}

int forkjoin() {
  auto v1 = threads_name(1), v2 = threads_name(P.workers);
  bool one = !P.variant || v1 == P.variant;
  bool two = !P.variant || v2 == P.variant;
  if (!one && !two)
    return 0;
  g_matched = true;
  if (!P.tasks)
    P.tasks = 8;
  // the expected sum, computed up front (also warms this core up)
  int64_t expect = fib(P.fib) * P.tasks;
  // At the defaults a run lasts only tens of ms, and on this VM single
  // runs scatter by up to 2x: alternate the two configurations three
  // times and report each one's median.
  double r1[3] = {0, 0, 0}, r2[3] = {0, 0, 0};
  for (int i = 0; i < 3; i++) {
    if (one && (r1[i] = forkjoin_run(1, expect)) < 0)
      return 1;
    if (two && (r2[i] = forkjoin_run(P.workers, expect)) < 0)
      return 1;
  }
  auto median = [](double* r) {
    std::sort(r, r + 3);
    return r[1];
  };
  double t1 = median(r1), t2 = median(r2);
  if (one)
    row("forkjoin", v1, "seconds", t1, "s", true);
  if (two)
    row("forkjoin", v2, "seconds", t2, "s", true);
  if (one && two)
    row("forkjoin", v2, "speedup", t1 / t2, "x", true);
  return 0;
}

// ---- big --------------------------------------------------------------------

// Per-actor bookkeeping, written only by its own actor, read by main after
// the done message; padded against false sharing.
struct alignas(64) big_slot {
  int64_t left = 0;     // pings still to send
  int64_t pongs = 0;    // pongs received
  int64_t served = 0;   // pings answered
  uint64_t rng = 0;
};

struct big_shared {
  std::vector<caf::actor> all;
  std::vector<big_slot> slots;
  std::atomic<long> finished{0};
  caf::actor main;
};

caf::behavior big_actor(caf::event_based_actor* self,
                        std::shared_ptr<big_shared> sh, size_t idx) {
  auto next_ping = [=] {
    auto& s = sh->slots[idx];
    if (s.left == 0) {
      if (sh->finished.fetch_add(1) + 1 == static_cast<long>(sh->all.size())) {
        g_t1 = now();
        self->send(sh->main, done_atom::value, int64_t{0});
      }
      return; // stays alive: others still ping it
    }
    s.left--;
    size_t to;
    do {
      s.rng ^= s.rng << 13;
      s.rng ^= s.rng >> 7;
      s.rng ^= s.rng << 17;
      to = static_cast<size_t>(s.rng % sh->all.size());
    } while (to == idx);
    self->send(sh->all[to], ping_atom::value);
  };
  return {
    [=](ping_atom) {
      sh->slots[idx].served++;
      self->send(caf::actor_cast<caf::actor>(self->current_sender()),
                 pong_atom::value);
    },
    [=](pong_atom) {
      sh->slots[idx].pongs++;
      next_ping();
    },
    [=](go_atom) { next_ping(); },
  };
}

int big() {
  if (!P.n)
    P.n = 10000;
  long threads = P.workers;
  auto variant = threads_name(threads);
  if (!want(variant))
    return 0;
  long na = P.actors ? P.actors : 120;
  if (na < 2) {
    std::fprintf(stderr, "caf_peer: big needs at least 2 actors\n");
    return 2;
  }
  sys_config cfg{threads};
  caf::actor_system sys{cfg};
  if (!check_threads(sys, threads))
    return 1;
  caf::scoped_actor self{sys};
  auto sh = std::make_shared<big_shared>();
  sh->main = caf::actor_cast<caf::actor>(self);
  sh->slots.resize(static_cast<size_t>(na));
  for (long i = 0; i < na; i++) {
    sh->slots[i].left = P.n;
    sh->slots[i].rng = 0x9e3779b97f4a7c15ull * static_cast<uint64_t>(i + 1);
    sh->all.push_back(sys.spawn(big_actor, sh, static_cast<size_t>(i)));
  }
  g_t0 = now();
  for (auto& a : sh->all)
    self->send(a, go_atom::value);
  bool ok = wait_done(self, nullptr);
  // Done means every actor has had all its pongs, so every ping was served
  // before it: the counters are final (ordered by `finished` and the done
  // message).
  int64_t pongs = 0, served = 0;
  for (auto& s : sh->slots) {
    pongs += s.pongs;
    served += s.served;
  }
  kill_all(sh->all); // their behaviors, and so their share of sh, go away
  sh->all.clear();
  if (!ok || pongs != na * P.n || served != na * P.n) {
    std::fprintf(stderr, "caf_peer: big: %ld pongs, %ld pings served, "
                         "expected %ld each\n",
                 static_cast<long>(pongs), static_cast<long>(served),
                 na * P.n);
    return 1;
  }
  row("big", variant, "msgs_per_s", 2.0 * na * P.n / (g_t1 - g_t0), "1/s");
  return 0;
}

// ---- helpers of the newer workloads -----------------------------------------

// Variant names of the newer workloads follow CONTRACT.md's `1worker` /
// `2workers` (a worker = one thread of CAF's work-stealing scheduler).
std::string workers_name(long k) {
  return std::to_string(k) + (k == 1 ? "worker" : "workers");
}

int64_t now_ns() {
  using namespace std::chrono;
  return duration_cast<nanoseconds>(steady_clock::now().time_since_epoch())
    .count();
}

// Busy for `d` on the calling thread: a CPU loop reading the clock, no sleep.
void spin_for(std::chrono::nanoseconds d) {
  auto end = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < end) {
    // spin
  }
}

// Nearest-rank percentile of a sorted, non-empty vector.
double percentile(const std::vector<double>& sorted, double p) {
  size_t n = sorted.size();
  size_t k = static_cast<size_t>(std::ceil(p * static_cast<double>(n)));
  return sorted[k == 0 ? 0 : std::min(k, n) - 1];
}

// A field "VmXXX:  123 kB" of /proc/self/status, in bytes (0 if absent).
long proc_status_bytes(const char* field) {
  long kb = 0;
  size_t len = std::strlen(field);
  if (FILE* f = std::fopen("/proc/self/status", "r")) {
    char line[256];
    while (std::fgets(line, sizeof line, f))
      if (std::strncmp(line, field, len) == 0 && line[len] == ':') {
        kb = std::atol(line + len + 1);
        break;
      }
    std::fclose(f);
  }
  return kb * 1024;
}

// Resets the peak RSS (VmHWM) to the current RSS (Linux >= 4.0); false if
// the kernel refused, in which case VmHWM is the peak since process start.
bool reset_peak_rss() {
  FILE* f = std::fopen("/proc/self/clear_refs", "w");
  if (!f)
    return false;
  bool ok = std::fputs("5", f) >= 0;
  return std::fclose(f) == 0 && ok;
}

using ask_atom = caf::atom_constant<caf::atom("b_ask")>;
using hol_atom = caf::atom_constant<caf::atom("b_hol")>;
using lat_atom = caf::atom_constant<caf::atom("b_lat")>;
using call_atom = caf::atom_constant<caf::atom("b_call")>;

// ---- asks -------------------------------------------------------------------

// The responder answers each request at once (the handler's result is the
// response); 2v+1 lets the asker check that each answer is its own.
caf::behavior responder_actor(caf::event_based_actor*) {
  return {
    [](ask_atom, int64_t v) -> int64_t { return 2 * v + 1; },
  };
}

struct asker_state {
  int64_t left = 0, bad = 0, sum = 0;
};

long g_rss0, g_rss1; // written by the asker, read by main after done

// One handler issues all n requests (request(...).then, 30 s timeout each),
// so all n are outstanding at once; each continuation checks its own answer.
// Cost that shows at n = 10^5: CAF 0.17 keeps the pending `then` handlers in
// scheduled_actor::multiplexed_responses_, a detail::unordered_flat_map (an
// unsorted std::vector, "O(n) lookup"); taking the oldest entry out shifts
// all the others, so n outstanding requests cost O(n^2) (10^4: 0.07 s,
// 10^5: ~4.7 s). Each timeout also goes through the clock thread (a
// 64-slot ring buffer), once set and once cancelled.
caf::behavior asker_actor(caf::stateful_actor<asker_state>* self,
                          caf::actor resp, int64_t n, caf::actor main) {
  auto one_done = [=] {
    if (--self->state.left == 0) {
      g_t1 = now();
      auto& s = self->state;
      self->send(main, done_atom::value,
                 s.bad != 0 || s.sum != n * n ? int64_t{1} : int64_t{0});
      self->quit();
    }
  };
  return {
    [=](go_atom) {
      self->state.left = n;
      g_rss0 = rss_bytes();
      g_t0 = now();
      for (int64_t i = 0; i < n; i++)
        self->request(resp, std::chrono::seconds(30), ask_atom::value, i)
          .then(
            [=](int64_t r) {
              if (r != 2 * i + 1)
                self->state.bad++;
              self->state.sum += r;
              one_done();
            },
            [=](caf::error& e) {
              if (self->state.bad++ == 0)
                std::fprintf(stderr, "caf_peer: asks: request %ld: %s\n",
                             static_cast<long>(i),
                             self->system().render(e).c_str());
              one_done();
            });
      g_rss1 = rss_bytes(); // right after the n sends
    },
  };
}

int asks_one(long threads) {
  auto variant = workers_name(threads);
  if (!want(variant))
    return 0;
  sys_config cfg{threads};
  caf::actor_system sys{cfg};
  if (!check_threads(sys, threads))
    return 1;
  caf::scoped_actor self{sys};
  auto resp = sys.spawn(responder_actor);
  auto asker = sys.spawn(asker_actor, resp, static_cast<int64_t>(P.n),
                         caf::actor_cast<caf::actor>(self));
  self->send(asker, go_atom::value);
  int64_t bad = -1;
  bool ok = wait_done(self, &bad) && bad == 0;
  kill_all({asker, resp});
  if (!ok) {
    std::fprintf(stderr, "caf_peer: asks %s: lost or wrong answers\n",
                 variant.c_str());
    return 1;
  }
  double secs = g_t1 - g_t0;
  row("asks", variant, "seconds", secs, "s", true);
  row("asks", variant, "asks_per_s", P.n / secs, "1/s");
  row("asks", variant, "bytes_per_ask",
      static_cast<double>(g_rss1 - g_rss0) / P.n, "B");
  return 0;
}

int asks() {
  if (!P.n)
    P.n = 100000;
  int rc = asks_one(1);
  if (P.workers != 1)
    rc |= asks_one(P.workers);
  return rc;
}

// ---- hol --------------------------------------------------------------------

// B takes the time as soon as it gets the message and tells A the delay.
caf::behavior hol_b_actor(caf::event_based_actor* self) {
  return {
    [=](hol_atom, int64_t sent_ns) {
      int64_t delay = now_ns() - sent_ns;
      self->send(caf::actor_cast<caf::actor>(self->current_sender()),
                 lat_atom::value, delay);
    },
  };
}

struct hol_a_state {
  std::vector<double> lat_us;
};

// A sends one message to B, then stays busy in the same handler for 100 ms;
// the next round starts when B's report is in (one round at a time).
caf::behavior hol_a_actor(caf::stateful_actor<hol_a_state>* self,
                          caf::actor b, int64_t n, caf::actor main,
                          std::vector<double>* out) {
  auto round = [=] {
    self->send(b, hol_atom::value, now_ns());
    spin_for(std::chrono::milliseconds(100));
  };
  return {
    [=](go_atom) { round(); },
    [=](lat_atom, int64_t delay_ns) {
      auto& v = self->state.lat_us;
      v.push_back(delay_ns / 1e3);
      if (static_cast<int64_t>(v.size()) == n) {
        *out = v;
        self->send(main, done_atom::value, int64_t{0});
        self->quit();
        return;
      }
      round();
    },
  };
}

// CAF has no pinning, so "A on one worker, B on another" is made so:
//   2workers  both event-based on a 2-thread scheduler. While A spins in
//             its handler it holds one worker; B, made runnable by A's
//             send, goes to that worker's own queue (CAF's internal
//             enqueue, no wake-up) and can only run on the other worker,
//             which takes it when it next polls/steals. Between rounds that
//             worker has been idle ~100 ms, so it is in CAF's relaxed stage
//             (a 10 ms timed wait, then a steal attempt): this is CAF's
//             stock answer to "another worker is idle".
//   detached  B spawned `detached` (its own thread, asleep on its mailbox),
//             A on a 1-thread scheduler: A's send wakes B's thread directly.
//             This is CAF's explicit placement for such an actor.
int hol_one(const std::string& variant, long threads, bool detached_b) {
  if (!want(variant))
    return 0;
  sys_config cfg{threads};
  caf::actor_system sys{cfg};
  if (!check_threads(sys, threads))
    return 1;
  caf::scoped_actor self{sys};
  auto b = detached_b ? sys.spawn<caf::detached>(hol_b_actor)
                      : sys.spawn(hol_b_actor);
  std::vector<double> lat;
  auto a = sys.spawn(hol_a_actor, b, static_cast<int64_t>(P.n),
                     caf::actor_cast<caf::actor>(self), &lat);
  self->send(a, go_atom::value);
  bool ok = wait_done(self, nullptr);
  kill_all({a, b});
  if (!ok || lat.size() != static_cast<size_t>(P.n)) {
    std::fprintf(stderr, "caf_peer: hol %s: %zu of %ld rounds\n",
                 variant.c_str(), lat.size(), P.n);
    return 1;
  }
  std::sort(lat.begin(), lat.end());
  row("hol", variant, "hol_p50_us", percentile(lat, 0.5), "us", true);
  row("hol", variant, "hol_max_us", lat.back(), "us", true);
  return 0;
}

int hol() {
  if (!P.n)
    P.n = 20;
  long w = P.workers < 2 ? 2 : P.workers;
  int rc = hol_one(workers_name(w), w, false);
  rc |= hol_one("detached", 1, true);
  return rc;
}

// ---- fanout -----------------------------------------------------------------

// One job: `ms` milliseconds of CPU, then the job's id as the answer; the
// worker is done after that.
caf::behavior fan_worker_actor(caf::event_based_actor* self) {
  return {
    [=](job_atom, int64_t ms, int64_t id) -> int64_t {
      spin_for(std::chrono::milliseconds(ms));
      self->quit();
      return id;
    },
  };
}

struct fan_state {
  int64_t left = 0, sum = 0, got = 0;
};

// The Promise.all shape: spawn `tasks` workers (plain spawn: default
// options, the scheduler places them), one request each, and count the
// answers in the continuations. Timed from before the first spawn.
caf::behavior fan_coord_actor(caf::stateful_actor<fan_state>* self,
                              int64_t tasks, int64_t ms, caf::actor main) {
  return {
    [=](go_atom) {
      g_t0 = now();
      self->state.left = tasks;
      for (int64_t i = 0; i < tasks; i++) {
        auto w = self->spawn(fan_worker_actor);
        self->request(w, caf::infinite, job_atom::value, ms, i)
          .then([=](int64_t id) {
            auto& s = self->state;
            s.sum += id;
            s.got++;
            if (--s.left == 0) {
              g_t1 = now();
              bool ok = s.got == tasks && s.sum == tasks * (tasks - 1) / 2;
              self->send(main, done_atom::value, int64_t{ok ? 0 : 1});
              self->quit();
            }
          });
      }
    },
  };
}

double fanout_run(long threads) {
  sys_config cfg{threads};
  caf::actor_system sys{cfg};
  if (!check_threads(sys, threads))
    return -1;
  caf::scoped_actor self{sys};
  auto c = sys.spawn(fan_coord_actor, static_cast<int64_t>(P.tasks),
                     static_cast<int64_t>(P.n),
                     caf::actor_cast<caf::actor>(self));
  self->send(c, go_atom::value);
  int64_t bad = -1;
  bool ok = wait_done(self, &bad) && bad == 0;
  kill_all({c});
  if (!ok) {
    std::fprintf(stderr, "caf_peer: fanout on %ld workers failed\n", threads);
    return -1;
  }
  return g_t1 - g_t0;
}

int fanout() {
  if (!P.n)
    P.n = 20;
  if (!P.tasks)
    P.tasks = 16;
  auto v1 = workers_name(1), v2 = workers_name(P.workers);
  bool one = !P.variant || v1 == P.variant;
  bool two = P.workers != 1 && (!P.variant || v2 == P.variant);
  if (!one && !two)
    return 0;
  g_matched = true;
  // as forkjoin: three alternating runs, each configuration's median
  double r1[3] = {0, 0, 0}, r2[3] = {0, 0, 0};
  for (int i = 0; i < 3; i++) {
    if (one && (r1[i] = fanout_run(1)) < 0)
      return 1;
    if (two && (r2[i] = fanout_run(P.workers)) < 0)
      return 1;
  }
  auto median = [](double* r) {
    std::sort(r, r + 3);
    return r[1];
  };
  double t1 = median(r1), t2 = median(r2);
  if (one)
    row("fanout", v1, "seconds", t1, "s", true);
  if (two)
    row("fanout", v2, "seconds", t2, "s", true);
  if (one && two)
    row("fanout", v2, "speedup", t1 / t2, "x", true);
  return 0;
}

// ---- mapbody ----------------------------------------------------------------

// The body as a CAF 0.17 user writes a record: a typed struct with an
// inspect overload, announced with add_message_type (what serialization
// and remote actors need; locally the struct travels by value). CAF 0.17's
// inspect has no field names, the C++ member names play that part.
struct rec {
  int64_t a = 0;
  int64_t b = 0;
  std::string s;
  double d = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, rec& x) {
  return f(caf::meta::type_name("rec"), x.a, x.b, x.s, x.d);
}

const char S16[] = "0123456789abcdef"; // the 16-byte string
static_assert(sizeof S16 == 17, "16 bytes and a NUL");

struct rec_config : sys_config {
  explicit rec_config(long threads) : sys_config(threads) {
    add_message_type<rec>("rec");
  }
};

struct rec_sink_state {
  int64_t next = 0, bad = 0;
  double dsum = 0;
  caf::actor src;
};

// Flow control: the receiver acks every REC_CHUNK bodies and the sender
// keeps at most REC_WINDOW chunks unacknowledged. A sender that re-arms
// itself with a message to self (as counting's do) would not yield on one
// worker: CAF's default max-throughput is unbounded, so the self-message
// keeps it running until all n sit in the receiver's mailbox (10^6 structs
// took 190 MB, 10^6 settings 860 MB) and the run would measure a flood.
constexpr int64_t REC_CHUNK = 100;
constexpr int64_t REC_WINDOW = 2;

bool rec_ok(int64_t want_a, int64_t a, int64_t b, const std::string* s,
            const double* d) {
  return a == want_a && b == 2 * a && s && s->size() == 16
         && std::memcmp(s->data(), S16, 16) == 0 && d && *d == a / 3.0;
}

// The receiver decodes all four fields, checks a against its count (and
// the other three against a).
caf::behavior rec_sink_actor(caf::stateful_actor<rec_sink_state>* self,
                             int64_t n, caf::actor main) {
  auto count = [=](bool good, double d) {
    auto& s = self->state;
    if (!good)
      s.bad++;
    s.dsum += d;
    if (++s.next == n) {
      g_t1 = now();
      self->send(main, done_atom::value, s.bad);
    } else if (s.next % REC_CHUNK == 0) {
      self->send(s.src, ack_atom::value);
    }
  };
  return {
    [=](next_atom, caf::actor src) {
      self->state.src = std::move(src);
      return ack_atom::value;
    },
    [=](const rec& r) {
      count(rec_ok(self->state.next, r.a, r.b, &r.s, &r.d), r.d);
    },
    // the `settings` variant: CAF's string-keyed map of config_values
    [=](const caf::settings& m) {
      auto a = caf::get_if<int64_t>(caf::get_if(&m, "a"));
      auto b = caf::get_if<int64_t>(caf::get_if(&m, "b"));
      auto str = caf::get_if<std::string>(caf::get_if(&m, "s"));
      auto d = caf::get_if<double>(caf::get_if(&m, "d"));
      count(a && b && rec_ok(self->state.next, *a, *b, str, d), d ? *d : 0);
    },
  };
}

struct rec_src_state {
  int64_t i = 0;
};

// Sends one chunk of bodies per credit (REC_WINDOW at the start, then one
// per ack of the receiver).
caf::behavior rec_src_actor(caf::stateful_actor<rec_src_state>* self,
                            caf::actor sink, int64_t n, bool use_settings) {
  auto chunk = [=] {
    auto& s = self->state;
    for (int64_t k = 0; k < REC_CHUNK && s.i < n; k++, s.i++) {
      int64_t i = s.i;
      if (use_settings) {
        caf::settings m;
        m.emplace("a", i);
        m.emplace("b", i * 2);
        m.emplace("s", std::string(S16, 16));
        m.emplace("d", i / 3.0);
        self->send(sink, std::move(m));
      } else {
        self->send(sink, rec{i, i * 2, std::string(S16, 16), i / 3.0});
      }
    }
  };
  return {
    [=](go_atom) {
      g_t0 = now();
      for (int64_t k = 0; k < REC_WINDOW; k++)
        chunk();
    },
    [=](ack_atom) { chunk(); },
  };
}

int mapbody_one(const std::string& variant, bool use_settings) {
  if (!want(variant))
    return 0;
  rec_config cfg{1};
  caf::actor_system sys{cfg};
  if (!check_threads(sys, 1))
    return 1;
  caf::scoped_actor self{sys};
  auto sink = sys.spawn(rec_sink_actor, static_cast<int64_t>(P.n),
                        caf::actor_cast<caf::actor>(self));
  auto src = sys.spawn(rec_src_actor, sink, static_cast<int64_t>(P.n),
                       use_settings);
  self->request(sink, std::chrono::seconds(10), next_atom::value, src)
    .receive([](ack_atom) {}, [](caf::error&) {});
  self->send(src, go_atom::value);
  int64_t bad = -1;
  bool ok = wait_done(self, &bad) && bad == 0;
  kill_all({src, sink});
  if (!ok) {
    std::fprintf(stderr, "caf_peer: mapbody %s: lost or bad bodies\n",
                 variant.c_str());
    return 1;
  }
  row("mapbody", variant, "msgs_per_s", P.n / (g_t1 - g_t0), "1/s");
  return 0;
}

int mapbody() {
  if (!P.n)
    P.n = 1000000;
  int rc = mapbody_one("1worker-struct", false);
  rc |= mapbody_one("1worker-settings", true);
  return rc;
}

// ---- flood ------------------------------------------------------------------

struct flood_sink_state {
  int64_t got = 0, bad = 0;
};

caf::behavior flood_sink_actor(caf::stateful_actor<flood_sink_state>* self,
                               int64_t n, caf::actor main) {
  return {
    [=](cnt_atom, int64_t v) {
      auto& s = self->state;
      if (v != s.got) // CAF keeps one sender's order
        s.bad++;
      if (++s.got == n) {
        g_t1 = now();
        self->send(main, done_atom::value, s.bad);
      }
    },
  };
}

// All n sends in one handler: on the single worker the receiver cannot run
// before this handler has returned, so all n wait in its mailbox.
caf::behavior flood_src_actor(caf::event_based_actor* self, caf::actor sink,
                              int64_t n) {
  return {
    [=](go_atom) {
      g_t0 = now();
      for (int64_t i = 0; i < n; i++)
        self->send(sink, cnt_atom::value, i);
      self->quit();
    },
  };
}

int flood() {
  if (!P.n)
    P.n = 6000000;
  std::string variant = workers_name(1);
  if (!want(variant))
    return 0;
  sys_config cfg{1};
  caf::actor_system sys{cfg};
  if (!check_threads(sys, 1))
    return 1;
  caf::scoped_actor self{sys};
  auto sink = sys.spawn(flood_sink_actor, static_cast<int64_t>(P.n),
                        caf::actor_cast<caf::actor>(self));
  auto src = sys.spawn(flood_src_actor, sink, static_cast<int64_t>(P.n));
  if (!reset_peak_rss())
    std::fprintf(stderr, "caf_peer: flood: cannot reset VmHWM, peak is "
                         "since process start\n");
  long before = rss_bytes();
  self->send(src, go_atom::value);
  int64_t bad = -1;
  bool ok = wait_done(self, &bad) && bad == 0;
  long peak = proc_status_bytes("VmHWM");
  kill_all({src, sink});
  if (!ok || peak == 0) {
    std::fprintf(stderr, "caf_peer: flood: lost or reordered messages\n");
    return 1;
  }
  row("flood", variant, "bytes_per_msg",
      static_cast<double>(peak - before) / P.n, "B");
  row("flood", variant, "msgs_per_s", P.n / (g_t1 - g_t0), "1/s");
  return 0;
}

// ---- call -------------------------------------------------------------------

caf::behavior callee_actor(caf::event_based_actor*) {
  return {
    [](call_atom, int64_t v) -> int64_t { return v + 1; },
  };
}

// main is a scoped_actor: request(...).receive(...) blocks it until the
// answer (30 s timeout per call, as tp_call has one), one call at a time,
// each one timed. The callee is event-based on the usual scheduler
// (P.workers threads). The timeout is not free in CAF 0.17: it is set and
// cancelled through the clock thread, which on 2 cores raised p50 from
// ~45 us (caf::infinite) to ~125 us here.
int call() {
  if (!P.n)
    P.n = 100000;
  long threads = P.workers;
  auto variant = workers_name(threads);
  if (!want(variant))
    return 0;
  sys_config cfg{threads};
  caf::actor_system sys{cfg};
  if (!check_threads(sys, threads))
    return 1;
  caf::scoped_actor self{sys};
  auto srv = sys.spawn(callee_actor);
  std::vector<double> lat(static_cast<size_t>(P.n));
  int64_t bad = 0;
  for (int64_t i = 0; i < P.n; i++) {
    int64_t t = now_ns();
    self->request(srv, std::chrono::seconds(30), call_atom::value, i)
      .receive([&](int64_t r) { bad += r != i + 1; },
               [&](caf::error& e) {
                 if (bad++ == 0)
                   std::fprintf(stderr, "caf_peer: call %ld: %s\n",
                                static_cast<long>(i),
                                sys.render(e).c_str());
               });
    lat[static_cast<size_t>(i)] = (now_ns() - t) / 1e3;
  }
  kill_all({srv});
  if (bad) {
    std::fprintf(stderr, "caf_peer: call: %ld bad answers\n",
                 static_cast<long>(bad));
    return 1;
  }
  std::sort(lat.begin(), lat.end());
  row("call", variant, "call_p50_us", percentile(lat, 0.5), "us", true);
  row("call", variant, "call_p99_us", percentile(lat, 0.99), "us", true);
  row("call", variant, "call_p999_us", percentile(lat, 0.999), "us", true);
  return 0;
}

// ---- sends ------------------------------------------------------------------

struct sends_state {
  int64_t next = 0, left = 0, bad = 0;
};

// Receiver j of A gets i = j, j+A, j+2A, ... (share of them) from main, in
// that order (CAF keeps one sender's order; anon_send's null sender counts
// as one). When it has them all it reads the clock into *t_end and tells
// main; a message beyond its share counts as bad but is not reported on
// its own (main has its report already, or times out).
caf::behavior sends_recv_actor(caf::stateful_actor<sends_state>* self,
                               int64_t first, int64_t stride, int64_t share,
                               double* t_end, caf::actor main) {
  self->state.next = first;
  self->state.left = share;
  return {
    [=](cnt_atom, int64_t v) {
      auto& s = self->state;
      if (v != s.next || s.left <= 0)
        s.bad++;
      s.next += stride;
      if (--s.left == 0) {
        *t_end = now();
        self->send(main, done_atom::value, s.bad);
      }
    },
  };
}

int sends() {
  if (!P.n)
    P.n = 6000000;
  long na = P.actors ? P.actors : 60;
  std::string variant = workers_name(1);
  if (!want(variant))
    return 0;
  sys_config cfg{1};
  caf::actor_system sys{cfg};
  if (!check_threads(sys, 1))
    return 1;
  caf::scoped_actor self{sys};
  auto main_actor = caf::actor_cast<caf::actor>(self);
  std::vector<caf::actor> recvs;
  std::vector<double> t_end(static_cast<size_t>(na), 0.0);
  long reporting = 0; // receivers with a share (all, unless n < actors)
  for (long j = 0; j < na; j++) {
    int64_t share = j < P.n ? (P.n - 1 - j) / na + 1 : 0;
    reporting += share > 0;
    recvs.push_back(sys.spawn(sends_recv_actor, static_cast<int64_t>(j),
                              static_cast<int64_t>(na), share,
                              &t_end[static_cast<size_t>(j)], main_actor));
  }
  if (!reset_peak_rss())
    std::fprintf(stderr, "caf_peer: sends: cannot reset VmHWM, peak is "
                         "since process start\n");
  long before = rss_bytes();
  g_t0 = now();
  for (int64_t i = 0, j = 0; i < P.n; i++) {
    caf::anon_send(recvs[static_cast<size_t>(j)], cnt_atom::value, i);
    if (++j == na)
      j = 0;
  }
  double t_sent = now();
  bool ok = true;
  int64_t bad = 0;
  for (long k = 0; k < reporting && ok; k++) {
    int64_t b = -1;
    ok = wait_done(self, &b);
    bad += b;
  }
  long peak = proc_status_bytes("VmHWM");
  kill_all(recvs);
  if (!ok || bad != 0) {
    std::fprintf(stderr, "caf_peer: sends: %s (%ld out of place)\n",
                 ok ? "messages out of place" : "lost messages",
                 static_cast<long>(bad));
    return 1;
  }
  g_t1 = *std::max_element(t_end.begin(), t_end.end());
  std::fprintf(stderr, "caf_peer: sends: main's %ld anon_sends took %.3f s "
                       "of %.3f; peak RSS +%ld B\n",
               P.n, t_sent - g_t0, g_t1 - g_t0, peak - before);
  row("sends", variant, "msgs_per_s", P.n / (g_t1 - g_t0), "1/s");
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc % 2 != 0) {
    std::fprintf(stderr,
                 "usage: %s pingpong|counting|ring|spawn|forkjoin|big|asks|hol|"
                 "fanout|mapbody|flood|call|sends "
                 "[--n N] [--senders S] [--actors A] [--hops H] [--tasks T] "
                 "[--fib F] [--workers W] [--variant V]\n",
                 argv[0]);
    return 2;
  }
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    const char* v = argv[i + 1];
    if (k == "--n")
      P.n = std::atol(v);
    else if (k == "--senders")
      P.senders = std::atol(v);
    else if (k == "--actors")
      P.actors = std::atol(v);
    else if (k == "--hops")
      P.hops = std::atol(v);
    else if (k == "--tasks")
      P.tasks = std::atol(v);
    else if (k == "--fib")
      P.fib = std::atol(v);
    else if (k == "--workers")
      P.workers = std::atol(v);
    else if (k == "--variant")
      P.variant = v;
    else {
      std::fprintf(stderr, "caf_peer: unknown option %s\n", k.c_str());
      return 2;
    }
  }
  if (P.senders < 0 || P.senders > 2 || P.workers < 1 || P.n < 0
      || P.hops < 1 || P.tasks < 0 || P.actors < 0) {
    std::fprintf(stderr, "caf_peer: parameter out of range\n");
    return 2;
  }
  std::string w = argv[1];
  int rc;
  if (w == "pingpong")
    rc = pingpong();
  else if (w == "counting")
    rc = counting();
  else if (w == "ring")
    rc = ring();
  else if (w == "spawn")
    rc = spawn();
  else if (w == "forkjoin")
    rc = forkjoin();
  else if (w == "big")
    rc = big();
  else if (w == "asks")
    rc = asks();
  else if (w == "hol")
    rc = hol();
  else if (w == "fanout")
    rc = fanout();
  else if (w == "mapbody")
    rc = mapbody();
  else if (w == "flood")
    rc = flood();
  else if (w == "call")
    rc = call();
  else if (w == "sends")
    rc = sends();
  else {
    std::fprintf(stderr, "caf_peer: unknown workload %s\n", w.c_str());
    return 2;
  }
  if (rc == 0 && !g_matched) {
    std::fprintf(stderr, "caf_peer: no %s variant named %s\n", w.c_str(),
                 P.variant);
    return 2;
  }
  return rc == 2 ? 2 : rc ? 1 : 0;
}
