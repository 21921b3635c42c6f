'use strict';
/*  bench/peers/node_peer.js: the Node.js peer of `make bench` (see
    bench/CONTRACT.md): "web-worker parallelism", the actor model that
    Node offers out of the box. Node 20, built-in modules only.

    Usage: node bench/peers/node_peer.js <workload> [--n N] [--senders S]
               [--actors A] [--hops H] [--tasks T] [--fib F] [--workers W]
               [--variant V]
    Prints CSV rows workload,node,variant,metric,value,unit on stdout;
    diagnostics go to stderr. Exit 0 on success, 1 when a workload's own
    check fails (lost or wrong messages, wrong sums, a worker dying, a
    time-out), 2 on bad arguments.

    Variants:
      worker_threads  every actor is a Worker (its own OS thread, V8 isolate
                      and event loop); actors talk with postMessage over the
                      MessagePorts of MessageChannels (structured clone).
                      Control messages (go, done, timings) use the workers'
                      parentPort.
      event-loop      every actor is an object in the main thread with its
                      own MessageChannel as mailbox: port1 is listened on,
                      port2 is the address others post to. This is real
                      asynchronous message passing (each message is
                      serialized, queued and delivered by the event loop),
                      not a function call, but on one thread.

    Every message is a small array [tag, integer], decoded (tag and value
    checked) by its receiver. Times come from process.hrtime.bigint(),
    which is CLOCK_MONOTONIC in every thread of the process, so a worker
    can take the end time itself and send it to main. Set-up (starting the
    workers, wiring the channels, a "ready" message from each worker) is
    outside the timed region.

    pingpong  worker_threads: two workers joined by one MessageChannel.
              event-loop: two objects in the main thread holding the two
              ends of one MessageChannel. The counter is checked on every
              pong.
    counting  worker_threads-1sender / worker_threads-2senders: each sender
              worker has its own MessageChannel to the one receiver worker
              and fires its share of ['cnt', seq] messages in one loop with
              no flow control (measured: the receiver keeps up well enough
              that the queue stays bounded in practice; see the counting
              section). The receiver checks every sender's sequence and
              main checks the sum.
    ring      event-loop: 1000 objects, one MessageChannel each as
              mailbox; main's first send counts as one hop. worker_threads:
              a ring of workers, but only up to MAX_WORKERS actors; above
              that (the default 1000) the row is `na`: 1000 Workers are 1000
              OS threads and V8 isolates at about 9 MB each (measured: 120
              workers take 6 s and 1 GB to start), and the token would crawl
              anyway: a ring of 100 workers passes only ~10k hops/s here, so
              10^6 hops would take about 100 s.
    spawn     worker_threads: real workers (each posts ['hi'] to its
              parent and ends) only up to MAX_WORKERS, `na` above (10^6
              workers cannot exist). event-loop: an actor is an object with its own
              MessageChannel; the spawner keeps port1 (like a Worker's
              parentPort seen from its parent), the child posts one ['hi']
              on port2 and closes it (ends); the spawner is the collector
              and creates children in chunks of SPAWN_CHUNK within a window
              of SPAWN_WINDOW chunks, as the CAF peer does. bytes_per_actor
              needs all n actors alive at once: a live MessageChannel with a
              listener costs about 5 KB and 30 us here (measured at 10^5 to
              10^6: 10^6 took 60 s and 5.3 GB), so above SPAWN_LIVE_MAX it
              is an `na` row.
    forkjoin  a pool of 1 worker and a pool of W (default 2) workers,
              created and warmed up (fib JIT-compiled) before timing; main
              hands out the tasks ['job', fib] one at a time to whichever
              worker is free and sums the results. Variants `1worker` and
              `2workers` (seconds, median of 3 alternating runs, like the
              CAF peer), speedup = 1worker / 2workers, reported under
              `2workers`.
    big       event-loop: 120 objects in the main thread, one mailbox
              channel each; a ping carries the sender's index.
              worker_threads: a full mesh of MessageChannels, one per pair
              of workers (7140 for 120), so a pong goes back on the port
              the ping came from. It works, but 120 workers on 2 cores pass
              only ~35k messages/s (70 s for the default 2.4M pings + pongs,
              plus 6 s and 1.2 GB to start them), so it runs only up to
              BIG_WORKER_MAX_MSGS messages and MAX_WORKERS actors, and the
              default run prints an `na` row for it. Pings + pongs are
              counted and checked; each actor picks its targets with its own
              xorshift32 generator.

    The workloads users write (CONTRACT.md rows asks .. call). Variants are
    named as CONTRACT.md names them where it does (`1worker`, `2workers`: a
    worker is a worker thread, the one event loop its actors share), else
    as above. Requests and answers are the objects a Node programmer posts
    ({id, arg} and {id, result}) through the Rpc class below: ids in a Map,
    one setTimeout per request (RPC_TIMEOUT_MS, cleared on the answer),
    over a MessageChannel port of its own (not the parentPort that carries
    the control messages).

    asks      1worker: the asker and the responder are two objects in one
              worker thread, holding the two ends of a MessageChannel.
              2workers: two workers, the asker and the responder, joined
              by a MessageChannel (main only says go). The asker's 'go'
              handler makes all n requests in one loop (each its own id and
              its own 30 s timer: 10^5 timers cost little, Node keeps the
              timers of one duration in one list) and awaits Promise.all of
              them; each answer must be 2 * arg. bytes_per_ask: process RSS
              read by the asker before the first request and right after
              the last, over n.
    hol       2workers: A and B are two workers joined by a MessageChannel.
              For each round main tells A go; A reads performance.now(),
              posts ['hit', i, its timeOrigin, that time] to B, then stays
              in the same handler for HOL_BUSY_MS reading performance.now()
              in a loop. B reads performance.now() when the message is
              handled. performance.now() of two threads can be compared
              only through performance.timeOrigin (now() counts from the
              thread's time origin); Node 20 gives a worker the process's
              origin (checked: main, A and B report the same one), so the
              delay is (originB - originA) + (nowB - nowA), the difference
              of the two now()s, both from uv_hrtime (CLOCK_MONOTONIC). The
              same delay from process.hrtime.bigint() goes to stderr as a
              cross-check.
    fanout    the Promise.all shape: main, the coordinator, makes `tasks`
              jobs of n ms each and awaits Promise.all(jobs.map(run)).
              Workers cost ~10 ms and ~9 MB each to start, so what a Node
              programmer writes is a pool: `1worker` / `2workers` are pools
              of 1 and of W (default 2) worker threads, started and warmed
              up before timing (as in forkjoin), each job going to the next
              free thread: the variant is the number of threads that run
              jobs (the nearest thing to schedulers; Node cannot confine 16
              workers to one core). seconds: median of 3 alternating runs,
              speedup = 1worker / 2workers under `2workers`. Then
              `worker-per-task`: the contract's literal shape, a new Worker
              per job with default options (16 threads, the OS places them
              on the 2 cores), timed from the first new Worker to the last
              result (start-up included), median of 3; no speedup row. A
              job is n ms of the thread's own running time: a loop reading
              performance.now() that counts only steps shorter than
              CPU_GAP_MS, so that time a thread spends descheduled (16
              threads on 2 cores) is not counted as work done (see burnMs).
    mapbody   bodies {a: i, b: 2i, s: a 16-char string, d: i / 3}, plain
              objects sent by postMessage (structured clone, as users do).
              The receiver reads all four fields and checks a (the running
              count), b, the length of s and d. worker_threads: sender and
              receiver are two workers joined by a MessageChannel, the
              sender posts all n in one loop (the receiver, on its own
              thread, drains while the sender posts). event-loop: the
              contract's "same worker": both in the main thread on the two
              ends of one MessageChannel; the sender posts MAP_CHUNK bodies
              and continues in setImmediate (what Node code does so that a
              loop does not starve its thread, and what troupe's sender
              does), so the receiver runs between chunks.
    flood     the producer posts n ['num', i] in one synchronous loop; the
              receiver counts them and checks the sequence. event-loop: the
              contract's "same worker": both in the main thread, on the two
              ends of one MessageChannel, so none can be handled before the
              loop ends. worker_threads: two workers joined by a
              MessageChannel; the receiver on its own thread would drain
              concurrently, so it attaches its listener (starting its port)
              only when main has heard that the producer's loop ended.
              worker_threads runs only when --variant names it (see
              floodWorkers: no new figure, 16 s and 1.5 GB more).
              bytes_per_msg: (peak RSS - RSS before) / n, the peak being
              the largest of process.memoryUsage.rss() samples taken every
              FLOOD_SAMPLE messages in the producer's loop and in the
              receiver, and after both (the peak is at the end of the
              producer's loop: nothing is freed before); VmHWM from
              /proc/self/status goes to stderr as a cross-check.
              msgs_per_s: n over the first send to the last count.
    call      main: main awaits n requests to one worker, one at a time
              (const r = await rpc.request(i)), each timed with
              performance.now(); nearest-rank percentiles.
*/

const {
  Worker, isMainThread, parentPort, workerData, MessageChannel,
} = require('worker_threads');
const { performance } = require('perf_hooks');
const fs = require('fs');

// The most worker threads a single workload may start (see the header).
const MAX_WORKERS = 128;
// Big with one worker per actor runs only up to this many messages (pings +
// pongs): 120 workers manage only about BIG_WORKER_RATE messages per second
// on this 2-core machine (measured at the default 120 x 10000: 70 s of
// messaging), so the default run is an `na` row for worker_threads.
const BIG_WORKER_MAX_MSGS = 500000;
const BIG_WORKER_RATE = 35000;
// Spawn (event-loop): children per chunk, chunks in flight, and the largest
// n for which n live MessageChannels are created to measure bytes_per_actor.
const SPAWN_CHUNK = 100;
const SPAWN_WINDOW = 4;
const SPAWN_LIVE_MAX = 100000;
// Requests (asks, call): each has a timer of its own, as users write it.
const RPC_TIMEOUT_MS = 30000;
// hol: how long A stays busy after its send.
const HOL_BUSY_MS = 100;
// fanout's burnMs: a step between two clock reads longer than this (ms) is
// time the thread was not running.
const CPU_GAP_MS = 0.01;
// mapbody event-loop: bodies per chunk before the sender yields.
const MAP_CHUNK = 1000;
const MAP_STRING = '0123456789abcdef';
// flood: RSS is sampled once per this many messages sent or counted.
const FLOOD_SAMPLE = 65536;
// A workload that has not finished after this long has lost a message.
const WATCHDOG_MS = 240 * 1000;

const now = () => process.hrtime.bigint();
const secs = (t0, t1) => Number(t1 - t0) / 1e9;

function fib(n) {
  return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

// 32-bit xorshift; the state must not be 0.
function xorshift32(x) {
  x ^= x << 13;
  x ^= x >>> 17;
  x ^= x << 5;
  return x >>> 0;
}

function seed(i) {
  return (Math.imul(0x9e3779b9, i + 1) >>> 0) || 1;
}

function rss() {
  return process.memoryUsage.rss();
}

// Request/response over one MessagePort, as a Node programmer writes it:
// each request gets an id and a timer, its resolve waits in a Map under the
// id, the answer {id, result} is matched by id, clears the timer and
// resolves. The other end answers with rpcServe.
class Rpc {
  constructor(port, timeoutMs) {
    this.port = port;
    this.timeoutMs = timeoutMs;
    this.nextId = 0;
    this.pending = new Map();
    this.stray = 0; // answers to no pending request
    port.on('message', (m) => {
      const p = this.pending.get(m.id);
      if (!p) {
        this.stray++;
        return;
      }
      this.pending.delete(m.id);
      clearTimeout(p.timer);
      p.resolve(m.result);
    });
  }

  request(arg) {
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`request ${id} timed out after ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.pending.set(id, { resolve, timer });
      this.port.postMessage({ id, arg });
    });
  }
}

// The responder of asks and call: answers every request at once.
function rpcServe(port) {
  port.on('message', (m) => {
    port.postMessage({ id: m.id, result: 2 * m.arg });
  });
}

// asks: the asker's handler. All n requests go out in this one loop before
// any answer can be looked at; then the answers are awaited together.
async function askAll(rpc, n) {
  let got = 0, sum = 0, bad = 0, err = '';
  const all = new Array(n);
  const rss0 = rss();
  const t0 = now();
  for (let i = 0; i < n; i++)
    all[i] = rpc.request(i).then((r) => {
      if (r !== 2 * i)
        bad++;
      got++;
      sum += i;
    });
  const rss1 = rss();
  try {
    await Promise.all(all);
  } catch (e) {
    err = String(e && e.message || e);
  }
  const t1 = now();
  return ['done', t0, t1, rss0, rss1, got, sum, bad, rpc.pending.size, rpc.stray, err];
}

// Spends ms milliseconds of this thread's own running time in a loop that
// reads the clock (no sleep). With more threads than cores a thread is
// descheduled for whole time slices; a loop that ran to a wall-clock
// deadline would count that time as work, so only the short steps between
// two reads are added up and a step longer than CPU_GAP_MS is left out.
// Returns the ms counted.
function burnMs(ms) {
  let left = ms, last = performance.now();
  while (left > 0) {
    const t = performance.now();
    const d = t - last;
    if (d <= CPU_GAP_MS)
      left -= d;
    last = t;
  }
  return ms - left;
}

// ===========================================================================
// Worker side: one function per role, chosen by workerData.role. Each role
// sets up its listeners and then tells main it is ready.
// ===========================================================================

const roles = {
  // pingpong: sends ping i, expects pong i back, n times.
  ping(d) {
    const port = d.port;
    let i = 0, bad = 0, t0 = 0n;
    port.on('message', (m) => {
      if (m[0] !== 'pong' || m[1] !== i)
        bad++;
      if (i === d.n) {
        const t1 = now();
        parentPort.postMessage(['done', t0, t1, bad]);
        return;
      }
      port.postMessage(['ping', ++i]);
    });
    parentPort.on('message', (m) => {
      if (m[0] === 'go') {
        t0 = now();
        i = 1;
        port.postMessage(['ping', 1]);
      }
    });
  },

  pong(d) {
    const port = d.port;
    port.on('message', (m) => {
      port.postMessage(['pong', m[0] === 'ping' ? m[1] : -1]);
    });
  },

  // counting: fires its share in one loop when told to go.
  src(d) {
    const port = d.port, count = d.count;
    parentPort.on('message', (m) => {
      if (m[0] !== 'go')
        return;
      for (let i = 0; i < count; i++)
        port.postMessage(['cnt', i]);
    });
  },

  // counting: one port per sender, each sender's sequence checked.
  sink(d) {
    const n = d.n;
    let got = 0, sum = 0, bad = 0;
    d.ports.forEach((port) => {
      let next = 0;
      port.on('message', (m) => {
        if (m[0] !== 'cnt' || m[1] !== next)
          bad++;
        next++;
        sum += m[1];
        if (++got === n)
          parentPort.postMessage(['done', now(), sum, bad]);
      });
    });
  },

  // ring: passes the token on; the one that sees 0 left reports the time.
  ring(d) {
    const out = d.out;
    const hop = (m) => {
      if (m[0] !== 'tok') {
        parentPort.postMessage(['bad']);
        return;
      }
      if (m[1] === 0)
        parentPort.postMessage(['done', now()]);
      else
        out.postMessage(['tok', m[1] - 1]);
    };
    d.in.on('message', hop);
    parentPort.on('message', hop); // main's first send
  },

  // spawn (small n only): says hi; an idle child then waits forever,
  // the other kind ends (its event loop is empty).
  child(d) {
    parentPort.postMessage(['hi', d.i]);
    if (d.idle)
      parentPort.on('message', () => {});
    return 'no-ready';
  },

  // forkjoin: computes jobs.
  fib() {
    // warm-up: let V8 optimize fib before anything is timed
    for (let i = 0; i < 20; i++)
      fib(20);
    parentPort.on('message', (m) => {
      if (m[0] === 'job')
        parentPort.postMessage(['res', fib(m[1])]);
    });
  },

  // big: d.ports[j] is the channel to worker j (null at d.id).
  big(d) {
    const id = d.id, na = d.na, ports = d.ports;
    let left = d.n, pongs = 0, served = 0, bad = 0, rng = seed(id);
    const nextPing = () => {
      if (left === 0) {
        parentPort.postMessage(['fin', now()]);
        return;
      }
      left--;
      let to;
      do {
        rng = xorshift32(rng);
        to = rng % na;
      } while (to === id);
      ports[to].postMessage(['ping', id]);
    };
    ports.forEach((port, j) => {
      if (!port)
        return;
      port.on('message', (m) => {
        if (m[0] === 'ping') {
          if (m[1] !== j)
            bad++;
          served++;
          port.postMessage(['pong', id]);
        } else if (m[0] === 'pong') {
          if (m[1] !== j)
            bad++;
          pongs++;
          nextPing();
        } else {
          bad++;
        }
      });
    });
    parentPort.on('message', (m) => {
      if (m[0] === 'go')
        nextPing();
      else if (m[0] === 'report')
        parentPort.postMessage(['report', served, pongs, bad]);
    });
  },

  // asks 2workers: the asker (d.port: to the responder).
  asker(d) {
    const rpc = new Rpc(d.port, RPC_TIMEOUT_MS);
    parentPort.on('message', async (m) => {
      if (m[0] === 'go')
        parentPort.postMessage(await askAll(rpc, d.n));
    });
  },

  // asks 2workers, call: the responder.
  responder(d) {
    rpcServe(d.port);
  },

  // asks 1worker: asker and responder in this one thread, on the two ends
  // of one MessageChannel.
  asks1(d) {
    const ch = new MessageChannel();
    rpcServe(ch.port2);
    const rpc = new Rpc(ch.port1, RPC_TIMEOUT_MS);
    parentPort.on('message', async (m) => {
      if (m[0] === 'go') {
        const r = await askAll(rpc, d.n);
        ch.port1.close();
        parentPort.postMessage(r);
      }
    });
  },

  // hol: A posts to B, then stays busy in the same handler.
  holA(d) {
    const port = d.port, origin = performance.timeOrigin;
    performance.now(); // (the first call of each clock is slower)
    now();
    parentPort.on('message', (m) => {
      if (m[0] !== 'go')
        return;
      const t0 = performance.now();
      port.postMessage(['hit', m[1], origin, t0, now()]);
      while (performance.now() - t0 < HOL_BUSY_MS)
        ; // the rest of the handler: work
      parentPort.postMessage(['spun', m[1], origin]);
    });
  },

  // hol: B takes the time when the message is handled.
  holB(d) {
    performance.now();
    now();
    d.port.on('message', (m) => {
      const t1 = performance.now(), h1 = now();
      if (m[0] !== 'hit') {
        parentPort.postMessage(['bad']);
        return;
      }
      const us = ((performance.timeOrigin - m[2]) + (t1 - m[3])) * 1000;
      parentPort.postMessage(['got', m[1], us, Number(h1 - m[4]) / 1000,
        performance.timeOrigin]);
    });
  },

  // fanout, pool: runs the jobs it is handed.
  burner() {
    burnMs(5); // warm-up: let V8 optimize the loop before anything is timed
    parentPort.on('message', (m) => {
      if (m[0] === 'job')
        parentPort.postMessage(['res', m[1], burnMs(m[2])]);
    });
  },

  // fanout, worker-per-task: runs its one job and ends.
  task(d) {
    parentPort.postMessage(['res', d.i, burnMs(d.ms)]);
    return 'no-ready';
  },

  // mapbody worker_threads: the sender, all n in one loop.
  mapSrc(d) {
    const port = d.port, n = d.n;
    parentPort.on('message', (m) => {
      if (m[0] !== 'go')
        return;
      for (let i = 0; i < n; i++)
        port.postMessage({ a: i, b: i * 2, s: MAP_STRING, d: i / 3 });
    });
  },

  // mapbody worker_threads: the receiver.
  mapSink(d) {
    const n = d.n;
    let got = 0, bad = 0;
    d.port.on('message', (m) => {
      if (!mapOk(m, got))
        bad++;
      if (++got === n)
        parentPort.postMessage(['done', now(), bad]);
    });
  },

  // flood worker_threads: the producer, all n in one loop, RSS sampled.
  floodSrc(d) {
    const port = d.port, n = d.n;
    parentPort.on('message', (m) => {
      if (m[0] !== 'go')
        return;
      const t0 = now();
      let peak = rss();
      for (let i = 0; i < n; i++) {
        port.postMessage(['num', i]);
        if ((i & (FLOOD_SAMPLE - 1)) === 0) {
          const r = rss();
          if (r > peak)
            peak = r;
        }
      }
      parentPort.postMessage(['sent', t0, Math.max(peak, rss())]);
    });
  },

  // flood worker_threads: the receiver; its port is started (a listener
  // attached) only on main's 'drain', so the messages wait in its queue.
  floodSink(d) {
    const n = d.n;
    let got = 0, bad = 0, peak = 0;
    parentPort.on('message', (m) => {
      if (m[0] !== 'drain')
        return;
      d.port.on('message', (x) => {
        if (x[0] !== 'num' || x[1] !== got)
          bad++;
        if ((++got & (FLOOD_SAMPLE - 1)) === 0) {
          const r = rss();
          if (r > peak)
            peak = r;
        }
        if (got === n) {
          const t1 = now();
          parentPort.postMessage(['done', t1, Math.max(peak, rss()), bad]);
        }
      });
    });
  },
};

// mapbody: decodes all four fields of a body; a must be the running count.
function mapOk(m, i) {
  const a = m.a, b = m.b, str = m.s, d = m.d;
  return a === i && b === 2 * a && typeof str === 'string' && str.length === 16
    && d === a / 3;
}

function workerMain(d) {
  const role = roles[d.role];
  if (!role)
    throw new Error(`node_peer: unknown worker role ${d.role}`);
  if (role(d) !== 'no-ready')
    parentPort.postMessage(['ready']);
}

// ===========================================================================
// Main side.
// ===========================================================================

const P = {
  n: 0, senders: 0, actors: 0, hops: 1000000, tasks: 8, fib: 32, workers: 2,
  variant: null,
};
let matched = false; // did --variant pick anything
const given = {}; // the options given on the command line

function fail(why) {
  process.stderr.write(`node_peer: ${why}\n`);
  process.exit(1);
}

function want(variant) {
  if (P.variant && P.variant !== variant)
    return false;
  matched = true;
  return true;
}

function row(wl, variant, metric, v, unit, frac) {
  const s = frac ? v.toFixed(3) : v.toFixed(0);
  process.stdout.write(`${wl},node,${variant},${metric},${s},${unit}\n`);
}

// sends (Savina fjthrput from outside the actors) is not written for
// Node.js yet: say so rather than fail the run.
async function sends() {
  matched = true;
  naRow('sends', 'worker_threads', 'not written yet for Node.js');
  return 0;
}

function naRow(wl, variant, why) {
  process.stdout.write(`${wl},node,${variant},na,0,${why}\n`);
}

// A worker seen from main: a queue in front of its 'message' events (so
// that no message is lost while main is not waiting) and failure on an
// error or an exit main did not ask for.
class Peer {
  constructor(data, transfer, mayExit) {
    this.role = data.role;
    this.queue = [];
    this.waiters = [];
    this.ending = !!mayExit;
    this.w = new Worker(__filename, { workerData: data, transferList: transfer || [] });
    this.w.on('message', (m) => {
      const r = this.waiters.shift();
      if (r)
        r(m);
      else
        this.queue.push(m);
    });
    this.w.on('error', (e) => fail(`worker ${this.role}: ${e && e.stack || e}`));
    this.w.on('exit', (code) => {
      if (!this.ending)
        fail(`worker ${this.role} exited (code ${code})`);
    });
  }

  recv() {
    if (this.queue.length)
      return Promise.resolve(this.queue.shift());
    return new Promise((r) => this.waiters.push(r));
  }

  async expect(tag) {
    const m = await this.recv();
    if (m[0] !== tag)
      fail(`worker ${this.role}: got ${m[0]}, expected ${tag}`);
    return m;
  }

  post(m) {
    this.w.postMessage(m);
  }

  end() {
    this.ending = true;
    return this.w.terminate();
  }
}

// Starts workers (all at once) and waits until every one is ready.
async function startAll(specs) {
  const peers = specs.map(([data, transfer]) => new Peer(data, transfer));
  await Promise.all(peers.map((p) => p.expect('ready')));
  return peers;
}

function endAll(peers) {
  return Promise.all(peers.map((p) => p.end()));
}

// ---- pingpong --------------------------------------------------------------

async function pingpongWorkers() {
  if (!want('worker_threads'))
    return 0;
  const ch = new MessageChannel();
  const peers = await startAll([
    [{ role: 'ping', port: ch.port1, n: P.n }, [ch.port1]],
    [{ role: 'pong', port: ch.port2 }, [ch.port2]],
  ]);
  peers[0].post(['go']);
  const [, t0, t1, bad] = await peers[0].expect('done');
  await endAll(peers);
  if (bad !== 0) {
    process.stderr.write(`node_peer: pingpong worker_threads: ${bad} bad pongs\n`);
    return 1;
  }
  row('pingpong', 'worker_threads', 'roundtrips_per_s', P.n / secs(t0, t1), '1/s');
  return 0;
}

async function pingpongEventLoop() {
  if (!want('event-loop'))
    return 0;
  const n = P.n;
  const ch = new MessageChannel();
  // the pong actor holds port2, the ping actor port1
  const pong = { port: ch.port2 };
  pong.port.on('message', (m) => {
    pong.port.postMessage(['pong', m[0] === 'ping' ? m[1] : -1]);
  });
  const ping = { port: ch.port1, i: 0, bad: 0 };
  let t0, t1;
  await new Promise((resolve) => {
    ping.port.on('message', (m) => {
      if (m[0] !== 'pong' || m[1] !== ping.i)
        ping.bad++;
      if (ping.i === n) {
        t1 = now();
        resolve();
        return;
      }
      ping.port.postMessage(['ping', ++ping.i]);
    });
    t0 = now();
    ping.i = 1;
    ping.port.postMessage(['ping', 1]);
  });
  ch.port1.close();
  if (ping.bad !== 0) {
    process.stderr.write(`node_peer: pingpong event-loop: ${ping.bad} bad pongs\n`);
    return 1;
  }
  row('pingpong', 'event-loop', 'roundtrips_per_s', n / secs(t0, t1), '1/s');
  return 0;
}

async function pingpong() {
  if (!P.n)
    P.n = 200000;
  let rc = await pingpongWorkers();
  rc |= await pingpongEventLoop();
  return rc;
}

// ---- counting --------------------------------------------------------------

// Senders fire without flow control. Measured with 2000000 messages: the
// whole process peaks at about 0.25 GB RSS (1 sender) / 0.45 GB (2 senders),
// since the receiver drains its ports while the senders are still posting,
// so no credit window is needed.
async function countingOne(senders) {
  const base = 'worker_threads';
  const variant = `${base}-${senders}${senders === 1 ? 'sender' : 'senders'}`;
  if (!want(variant) && !want(base))
    return 0;
  const n = P.n;
  const shares = [];
  for (let k = 0; k < senders; k++)
    shares.push(Math.floor(n / senders) + (k === 0 ? n % senders : 0));
  const chans = shares.map(() => new MessageChannel());
  const sinkPorts = chans.map((c) => c.port1);
  const specs = [[{ role: 'sink', ports: sinkPorts, n }, sinkPorts]];
  chans.forEach((c, k) => {
    specs.push([{ role: 'src', port: c.port2, count: shares[k] }, [c.port2]]);
  });
  const peers = await startAll(specs);
  const sink = peers[0];
  const t0 = now();
  for (let k = 1; k < peers.length; k++)
    peers[k].post(['go']);
  const [, t1, sum, bad] = await sink.expect('done');
  await endAll(peers);
  const expect = shares.reduce((a, s) => a + s * (s - 1) / 2, 0);
  if (bad !== 0 || sum !== expect) {
    process.stderr.write(`node_peer: counting ${variant}: sum ${sum}, expected ${expect}, ${bad} out of sequence\n`);
    return 1;
  }
  row('counting', variant, 'msgs_per_s', n / secs(t0, t1), '1/s');
  return 0;
}

async function counting() {
  if (!P.n)
    P.n = 2000000;
  let rc = 0;
  for (let s = 1; s <= 2; s++)
    if (!P.senders || P.senders === s)
      rc |= await countingOne(s);
  return rc;
}

// ---- ring ------------------------------------------------------------------

async function ringWorkers(na) {
  if (!want('worker_threads'))
    return 0;
  if (na > MAX_WORKERS) {
    naRow('ring', 'worker_threads', `one OS thread and V8 isolate per actor: ${na} workers`);
    return 0;
  }
  // chans[i] goes from worker i to worker i+1
  const chans = [];
  for (let i = 0; i < na; i++)
    chans.push(new MessageChannel());
  const specs = [];
  for (let i = 0; i < na; i++) {
    const inp = chans[(i + na - 1) % na].port1, out = chans[i].port2;
    specs.push([{ role: 'ring', in: inp, out }, [inp, out]]);
  }
  const peers = await startAll(specs);
  const last = peers[(P.hops - 1) % na];
  const t0 = now();
  peers[0].post(['tok', P.hops - 1]);
  const m = await last.recv();
  await endAll(peers);
  if (m[0] !== 'done') {
    process.stderr.write('node_peer: ring worker_threads: bad token\n');
    return 1;
  }
  row('ring', 'worker_threads', 'hops_per_s', P.hops / secs(t0, m[1]), '1/s');
  return 0;
}

async function ringEventLoop(na) {
  if (!want('event-loop'))
    return 0;
  const mail = [];
  for (let i = 0; i < na; i++)
    mail.push(new MessageChannel());
  let t1 = 0n, bad = 0;
  let finish;
  const done = new Promise((r) => { finish = r; });
  for (let i = 0; i < na; i++) {
    const next = mail[(i + 1) % na].port2;
    mail[i].port1.on('message', (m) => {
      if (m[0] !== 'tok') {
        bad++;
        finish();
      } else if (m[1] === 0) {
        t1 = now();
        finish();
      } else {
        next.postMessage(['tok', m[1] - 1]);
      }
    });
  }
  const t0 = now();
  mail[0].port2.postMessage(['tok', P.hops - 1]);
  await done;
  for (const c of mail)
    c.port1.close();
  if (bad) {
    process.stderr.write('node_peer: ring event-loop: bad token\n');
    return 1;
  }
  row('ring', 'event-loop', 'hops_per_s', P.hops / secs(t0, t1), '1/s');
  return 0;
}

async function ring() {
  const na = P.actors || 1000;
  let rc = await ringWorkers(na);
  rc |= await ringEventLoop(na);
  return rc;
}

// ---- spawn -----------------------------------------------------------------

async function spawnWorkers() {
  const n = P.n;
  if (!want('worker_threads'))
    return 0;
  if (n > MAX_WORKERS) {
    naRow('spawn', 'worker_threads', `one OS thread and V8 isolate per actor: ${n} workers`);
    return 0;
  }
  // children that say hi and end
  let t0 = now();
  let kids = [];
  for (let i = 0; i < n; i++)
    kids.push(new Peer({ role: 'child', i, idle: false }, [], true));
  for (const k of kids)
    await k.expect('hi');
  let t1 = now();
  await endAll(kids);
  row('spawn', 'worker_threads', 'actors_per_s', n / secs(t0, t1), '1/s');
  // n idle children alive
  const before = rss();
  kids = [];
  for (let i = 0; i < n; i++)
    kids.push(new Peer({ role: 'child', i, idle: true }, []));
  for (const k of kids)
    await k.expect('hi');
  const after = rss();
  await endAll(kids);
  row('spawn', 'worker_threads', 'bytes_per_actor', (after - before) / n, 'B');
  return 0;
}

// The spawner, also the collector: keeps port1 of every child's channel,
// counts the hi's and starts a new chunk of children after every chunk's
// worth of hi's. With `keep`, children stay alive (port2 listened on and
// stored there) instead of closing their end.
function spawnRun(n, keep) {
  return new Promise((resolve) => {
    let spawned = 0, got = 0, bad = 0;
    function onHi(m) {
      if (m[0] !== 'hi')
        bad++;
      if (!keep)
        this.close();
      if (++got === n)
        resolve({ t1: now(), bad });
      else if (got % SPAWN_CHUNK === 0)
        chunk();
    }
    const idle = () => {};
    function chunk() {
      for (let i = 0; i < SPAWN_CHUNK && spawned < n; i++, spawned++) {
        const c = new MessageChannel();
        c.port1.on('message', onHi);
        // the child: says hi to its spawner, then ends or idles
        c.port2.postMessage(['hi', spawned]);
        if (keep) {
          c.port2.on('message', idle);
          c.port2.unref();
          c.port1.unref();
          keep[spawned] = c;
        } else {
          c.port2.close();
        }
      }
    }
    for (let i = 0; i < SPAWN_WINDOW; i++)
      chunk();
  });
}

async function spawnEventLoop() {
  const n = P.n;
  if (!want('event-loop'))
    return 0;
  let t0 = now();
  let r = await spawnRun(n, null);
  if (r.bad) {
    process.stderr.write('node_peer: spawn event-loop: bad hi\n');
    return 1;
  }
  row('spawn', 'event-loop', 'actors_per_s', n / secs(t0, r.t1), '1/s');
  if (n > SPAWN_LIVE_MAX) {
    naRow('spawn', 'event-loop',
      `bytes_per_actor needs ${n} live MessageChannels at about 5 KB and 30 us or more each`
      + ' (10^6 measured: 60 s and 5.3 GB)');
    return 0;
  }
  // storage for the handles touched before the first reading
  const keep = new Array(n).fill(null);
  const before = rss();
  t0 = now();
  r = await spawnRun(n, keep);
  const after = rss();
  for (const c of keep) {
    c.port1.close();
    c.port2.close();
  }
  if (r.bad) {
    process.stderr.write('node_peer: spawn event-loop: bad hi\n');
    return 1;
  }
  row('spawn', 'event-loop', 'bytes_per_actor', (after - before) / n, 'B');
  return 0;
}

async function spawn() {
  if (!P.n)
    P.n = 1000000;
  let rc = await spawnWorkers();
  rc |= await spawnEventLoop();
  return rc;
}

// ---- forkjoin --------------------------------------------------------------

// Runs P.tasks jobs on the pool, one job per free worker at a time;
// returns seconds, or -1 on a wrong sum.
async function forkjoinRun(pool, expect) {
  let sent = 0, sum = 0;
  const drive = async (w) => {
    while (sent < P.tasks) {
      sent++;
      w.post(['job', P.fib]);
      const m = await w.expect('res');
      sum += m[1];
    }
  };
  const t0 = now();
  await Promise.all(pool.map(drive));
  const t1 = now();
  return sum === expect ? secs(t0, t1) : -1;
}

async function forkjoin() {
  const W = P.workers;
  const v1 = '1worker', v2 = `${W}workers`;
  const one = !P.variant || P.variant === v1;
  const two = W > 1 && (!P.variant || P.variant === v2);
  if (!one && !two)
    return 0;
  matched = true;
  const expect = fib(P.fib) * P.tasks; // also warms this thread up
  const spec = () => [{ role: 'fib' }, []];
  const pool1 = one ? await startAll([spec()]) : [];
  const pool2 = two ? await startAll(Array.from({ length: W }, spec)) : [];
  // Single runs scatter: alternate the two pools three times, report
  // each one's median.
  const r1 = [], r2 = [];
  for (let i = 0; i < 3; i++) {
    if (one)
      r1.push(await forkjoinRun(pool1, expect));
    if (two)
      r2.push(await forkjoinRun(pool2, expect));
  }
  await endAll(pool1.concat(pool2));
  if (r1.concat(r2).some((t) => t < 0)) {
    process.stderr.write('node_peer: forkjoin: wrong sum\n');
    return 1;
  }
  const median = (r) => r.sort((a, b) => a - b)[1];
  if (one)
    row('forkjoin', v1, 'seconds', median(r1), 's', true);
  if (two)
    row('forkjoin', v2, 'seconds', median(r2), 's', true);
  if (one && two)
    row('forkjoin', v2, 'speedup', median(r1) / median(r2), 'x', true);
  return 0;
}

// ---- big -------------------------------------------------------------------

async function bigWorkers(na) {
  if (!want('worker_threads'))
    return 0;
  if (na > MAX_WORKERS) {
    naRow('big', 'worker_threads', `one OS thread and V8 isolate per actor: ${na} workers`);
    return 0;
  }
  const msgs = 2 * na * P.n;
  if (msgs > BIG_WORKER_MAX_MSGS) {
    naRow('big', 'worker_threads', `${msgs} cross-thread messages among ${na} workers`
      + ` at the ~${BIG_WORKER_RATE / 1000}k/s measured: about ${Math.round(msgs / BIG_WORKER_RATE)} s`);
    return 0;
  }
  // ports[i][j]: worker i's end of the channel between i and j
  const ports = Array.from({ length: na }, () => new Array(na).fill(null));
  for (let i = 0; i < na; i++)
    for (let j = i + 1; j < na; j++) {
      const c = new MessageChannel();
      ports[i][j] = c.port1;
      ports[j][i] = c.port2;
    }
  const specs = [];
  for (let i = 0; i < na; i++)
    specs.push([{ role: 'big', id: i, na, n: P.n, ports: ports[i] },
      ports[i].filter((p) => p)]);
  const peers = await startAll(specs);
  const t0 = now();
  for (const p of peers)
    p.post(['go']);
  let t1 = 0n;
  for (const p of peers) {
    const m = await p.expect('fin');
    if (m[1] > t1)
      t1 = m[1];
  }
  // every actor has had all its pongs, so every ping has been served
  let served = 0, pongs = 0, bad = 0;
  for (const p of peers) {
    p.post(['report']);
    const m = await p.expect('report');
    served += m[1];
    pongs += m[2];
    bad += m[3];
  }
  await endAll(peers);
  const total = na * P.n;
  if (served !== total || pongs !== total || bad !== 0) {
    process.stderr.write(`node_peer: big worker_threads: ${pongs} pongs, ${served} pings served, expected ${total} each, ${bad} bad\n`);
    return 1;
  }
  row('big', 'worker_threads', 'msgs_per_s', 2 * total / secs(t0, t1), '1/s');
  return 0;
}

async function bigEventLoop(na) {
  if (!want('event-loop'))
    return 0;
  const n = P.n;
  const mail = [];
  for (let i = 0; i < na; i++)
    mail.push(new MessageChannel());
  let finished = 0, served = 0, pongs = 0, bad = 0, t1 = 0n;
  let finish;
  const done = new Promise((r) => { finish = r; });
  const actors = [];
  for (let i = 0; i < na; i++) {
    const a = { id: i, left: n, rng: seed(i) };
    a.nextPing = () => {
      if (a.left === 0) {
        if (++finished === na) {
          t1 = now();
          finish();
        }
        return; // stays alive: others still ping it
      }
      a.left--;
      let to;
      do {
        a.rng = xorshift32(a.rng);
        to = a.rng % na;
      } while (to === i);
      mail[to].port2.postMessage(['ping', i]);
    };
    mail[i].port1.on('message', (m) => {
      if (m[0] === 'ping') {
        served++;
        mail[m[1]].port2.postMessage(['pong', i]);
      } else if (m[0] === 'pong') {
        pongs++;
        a.nextPing();
      } else {
        bad++;
      }
    });
    actors.push(a);
  }
  const t0 = now();
  for (const a of actors)
    a.nextPing();
  await done;
  for (const c of mail)
    c.port1.close();
  const total = na * n;
  if (served !== total || pongs !== total || bad !== 0) {
    process.stderr.write(`node_peer: big event-loop: ${pongs} pongs, ${served} pings served, expected ${total} each, ${bad} bad\n`);
    return 1;
  }
  row('big', 'event-loop', 'msgs_per_s', 2 * total / secs(t0, t1), '1/s');
  return 0;
}

async function big() {
  if (!P.n)
    P.n = 10000;
  const na = P.actors || 120;
  if (na < 2) {
    process.stderr.write('node_peer: big needs at least 2 actors\n');
    return 2;
  }
  let rc = await bigWorkers(na);
  rc |= await bigEventLoop(na);
  return rc;
}

// ---- asks ------------------------------------------------------------------

async function asksOne(variant, two) {
  if (!want(variant))
    return 0;
  const n = P.n;
  let peers;
  if (two) {
    const ch = new MessageChannel();
    peers = await startAll([
      [{ role: 'asker', port: ch.port1, n }, [ch.port1]],
      [{ role: 'responder', port: ch.port2 }, [ch.port2]],
    ]);
  } else {
    peers = await startAll([[{ role: 'asks1', n }, []]]);
  }
  const asker = peers[0];
  asker.post(['go']);
  const [, t0, t1, rss0, rss1, got, sum, bad, left, stray, err] = await asker.expect('done');
  await endAll(peers);
  const expect = n * (n - 1) / 2;
  if (err || got !== n || sum !== expect || bad || left || stray) {
    process.stderr.write(`node_peer: asks ${variant}: ${got} of ${n} answered (sum ${sum},`
      + ` expected ${expect}), ${bad} wrong, ${left} pending, ${stray} stray${err ? `: ${err}` : ''}\n`);
    return 1;
  }
  const sec = secs(t0, t1);
  row('asks', variant, 'seconds', sec, 's', true);
  row('asks', variant, 'asks_per_s', n / sec, '1/s');
  row('asks', variant, 'bytes_per_ask', (rss1 - rss0) / n, 'B');
  return 0;
}

async function asks() {
  if (!P.n)
    P.n = 100000;
  let rc = await asksOne('1worker', false);
  rc |= await asksOne('2workers', true);
  return rc;
}

// ---- hol -------------------------------------------------------------------

// Nearest-rank percentile of sorted samples.
function pct(sorted, p) {
  const k = Math.ceil(p * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, k)) - 1];
}

async function hol() {
  if (!P.n)
    P.n = 20;
  if (!want('2workers'))
    return 0;
  const ch = new MessageChannel();
  const [a, b] = await startAll([
    [{ role: 'holA', port: ch.port1 }, [ch.port1]],
    [{ role: 'holB', port: ch.port2 }, [ch.port2]],
  ]);
  const us = [], hr = [];
  const origins = new Set([performance.timeOrigin]);
  for (let i = 0; i < P.n; i++) {
    a.post(['go', i]);
    const [got, spun] = await Promise.all([b.recv(), a.expect('spun')]);
    if (got[0] !== 'got' || got[1] !== i || spun[1] !== i) {
      process.stderr.write(`node_peer: hol: round ${i}: B got ${got[0]} ${got[1]}, A ended round ${spun[1]}\n`);
      await endAll([a, b]);
      return 1;
    }
    us.push(got[2]);
    hr.push(got[3]);
    origins.add(got[4]).add(spun[2]);
  }
  await endAll([a, b]);
  us.sort((x, y) => x - y);
  hr.sort((x, y) => x - y);
  process.stderr.write(`node_peer: hol: ${origins.size === 1 ? 'one' : 'DIFFERENT'} time origin(s)`
    + ` in main, A and B; process.hrtime.bigint() gives p50 ${pct(hr, 0.5).toFixed(1)} us,`
    + ` max ${hr[hr.length - 1].toFixed(1)} us\n`);
  row('hol', '2workers', 'hol_p50_us', pct(us, 0.5), 'us', true);
  row('hol', '2workers', 'hol_max_us', us[us.length - 1], 'us', true);
  return 0;
}

// ---- fanout ----------------------------------------------------------------

// The coordinator's Promise.all over a pool: run(job) resolves with the
// job's result when a free worker has done it.
class Pool {
  constructor(peers) {
    this.idle = peers.slice();
    this.queue = [];
  }

  run(i, ms) {
    return new Promise((resolve) => {
      this.queue.push([i, ms, resolve]);
      this.pump();
    });
  }

  pump() {
    while (this.idle.length && this.queue.length) {
      const w = this.idle.shift();
      const [i, ms, resolve] = this.queue.shift();
      w.post(['job', i, ms]);
      w.expect('res').then((m) => {
        this.idle.push(w);
        resolve(m);
        this.pump();
      });
    }
  }
}

// Checks the results of one run: job i's result carries i and the ms it
// burnt. Returns the seconds, or -1.
function fanoutCheck(res, t0, t1, ms) {
  let ok = res.length === P.tasks;
  res.forEach((m, i) => {
    if (m[0] !== 'res' || m[1] !== i || !(m[2] >= ms))
      ok = false;
  });
  return ok ? secs(t0, t1) : -1;
}

async function fanoutPool(pool, ms) {
  const t0 = now();
  const res = await Promise.all(Array.from({ length: P.tasks }, (_, i) => pool.run(i, ms)));
  return fanoutCheck(res, t0, now(), ms);
}

// A new Worker per job, default options; timed with their start-up. The
// threads end by themselves; their exits are awaited after the clock.
async function fanoutPerTask(ms) {
  const exits = [];
  const t0 = now();
  const res = await Promise.all(Array.from({ length: P.tasks }, (_, i) => {
    const p = new Peer({ role: 'task', i, ms }, [], true);
    exits.push(new Promise((r) => p.w.once('exit', r)));
    return p.expect('res');
  }));
  const t1 = now();
  const codes = await Promise.all(exits);
  if (codes.some((c) => c !== 0))
    return -1;
  return fanoutCheck(res, t0, t1, ms);
}

async function fanout() {
  if (!P.n)
    P.n = 20;
  if (!given.tasks)
    P.tasks = 16;
  const W = P.workers, ms = P.n;
  const v1 = '1worker', v2 = `${W}workers`, v3 = 'worker-per-task';
  const one = !P.variant || P.variant === v1;
  const two = W > 1 && (!P.variant || P.variant === v2);
  const per = !P.variant || P.variant === v3;
  if (!one && !two && !per)
    return 0;
  matched = true;
  const spec = () => [{ role: 'burner' }, []];
  const peers1 = one ? await startAll([spec()]) : [];
  const peers2 = two ? await startAll(Array.from({ length: W }, spec)) : [];
  const pool1 = new Pool(peers1), pool2 = new Pool(peers2);
  burnMs(5); // (main does not burn, but warm it up alike)
  const r1 = [], r2 = [];
  for (let i = 0; i < 3; i++) {
    if (one)
      r1.push(await fanoutPool(pool1, ms));
    if (two)
      r2.push(await fanoutPool(pool2, ms));
  }
  await endAll(peers1.concat(peers2));
  const r3 = [];
  for (let i = 0; per && i < 3; i++)
    r3.push(await fanoutPerTask(ms));
  if (r1.concat(r2, r3).some((t) => t < 0)) {
    process.stderr.write('node_peer: fanout: a job is missing, wrong or short\n');
    return 1;
  }
  const median = (r) => r.sort((x, y) => x - y)[1];
  if (one)
    row('fanout', v1, 'seconds', median(r1), 's', true);
  if (two)
    row('fanout', v2, 'seconds', median(r2), 's', true);
  if (one && two)
    row('fanout', v2, 'speedup', median(r1) / median(r2), 'x', true);
  if (per)
    row('fanout', v3, 'seconds', median(r3), 's', true);
  return 0;
}

// ---- mapbody ---------------------------------------------------------------

async function mapbodyWorkers() {
  if (!want('worker_threads'))
    return 0;
  const n = P.n;
  const ch = new MessageChannel();
  const [src, sink] = await startAll([
    [{ role: 'mapSrc', port: ch.port1, n }, [ch.port1]],
    [{ role: 'mapSink', port: ch.port2, n }, [ch.port2]],
  ]);
  const t0 = now();
  src.post(['go']);
  const [, t1, bad] = await sink.expect('done');
  await endAll([src, sink]);
  if (bad) {
    process.stderr.write(`node_peer: mapbody worker_threads: ${bad} of ${n} bodies wrong\n`);
    return 1;
  }
  row('mapbody', 'worker_threads', 'msgs_per_s', n / secs(t0, t1), '1/s');
  return 0;
}

async function mapbodyEventLoop() {
  if (!want('event-loop'))
    return 0;
  const n = P.n;
  const ch = new MessageChannel();
  const out = ch.port1;
  let got = 0, bad = 0, t1 = 0n;
  const done = new Promise((resolve) => {
    ch.port2.on('message', (m) => {
      if (!mapOk(m, got))
        bad++;
      if (++got === n) {
        t1 = now();
        resolve();
      }
    });
  });
  let i = 0;
  const chunk = () => {
    for (let k = 0; k < MAP_CHUNK && i < n; k++, i++)
      out.postMessage({ a: i, b: i * 2, s: MAP_STRING, d: i / 3 });
    if (i < n)
      setImmediate(chunk); // let the receiver run
  };
  const t0 = now();
  chunk();
  await done;
  ch.port2.close();
  if (bad) {
    process.stderr.write(`node_peer: mapbody event-loop: ${bad} of ${n} bodies wrong\n`);
    return 1;
  }
  row('mapbody', 'event-loop', 'msgs_per_s', n / secs(t0, t1), '1/s');
  return 0;
}

async function mapbody() {
  if (!P.n)
    P.n = 1000000;
  let rc = await mapbodyWorkers();
  rc |= await mapbodyEventLoop();
  return rc;
}

// ---- flood -----------------------------------------------------------------

// Peak RSS of the process so far (VmHWM), for stderr; 0 if unknown.
function vmHwm() {
  try {
    const m = /VmHWM:\s*(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch (e) {
    return 0;
  }
}

function floodRows(variant, n, before, peak, t0, t1) {
  process.stderr.write(`node_peer: flood ${variant}: sampled peak RSS ${(peak / 1048576).toFixed(0)} MB,`
    + ` VmHWM ${(vmHwm() / 1048576).toFixed(0)} MB, before ${(before / 1048576).toFixed(0)} MB\n`);
  row('flood', variant, 'bytes_per_msg', (peak - before) / n, 'B');
  row('flood', variant, 'msgs_per_s', n / secs(t0, t1), '1/s');
}

async function floodEventLoop() {
  if (!want('event-loop'))
    return 0;
  const n = P.n;
  const ch = new MessageChannel();
  const out = ch.port1;
  let got = 0, bad = 0, peak = 0, t1 = 0n;
  const done = new Promise((resolve) => {
    ch.port2.on('message', (m) => {
      if (m[0] !== 'num' || m[1] !== got)
        bad++;
      if ((++got & (FLOOD_SAMPLE - 1)) === 0) {
        const r = rss();
        if (r > peak)
          peak = r;
      }
      if (got === n) {
        t1 = now();
        resolve();
      }
    });
  });
  const before = rss();
  const t0 = now();
  // the producer's handler: every message sent before any is handled
  for (let i = 0; i < n; i++) {
    out.postMessage(['num', i]);
    if ((i & (FLOOD_SAMPLE - 1)) === 0) {
      const r = rss();
      if (r > peak)
        peak = r;
    }
  }
  peak = Math.max(peak, rss());
  await done;
  peak = Math.max(peak, rss());
  ch.port2.close();
  if (bad) {
    process.stderr.write(`node_peer: flood event-loop: ${bad} of ${n} out of sequence\n`);
    return 1;
  }
  floodRows('event-loop', n, before, peak, t0, t1);
  return 0;
}

// Only when asked for (--variant worker_threads): at the default n it gives
// the same bytes_per_msg as event-loop (a message waits in the same C++
// MessagePort queue whichever thread posted it) but costs 16 s and 1.5 GB
// more (measured: 6 * 10^6 messages at ~370k/s; glibc's per-thread arenas
// do not reuse what event-loop freed).
async function floodWorkers() {
  if (P.variant !== 'worker_threads' || !want('worker_threads'))
    return 0;
  const n = P.n;
  const ch = new MessageChannel();
  const [src, sink] = await startAll([
    [{ role: 'floodSrc', port: ch.port1, n }, [ch.port1]],
    [{ role: 'floodSink', port: ch.port2, n }, [ch.port2]],
  ]);
  const before = rss();
  src.post(['go']);
  const [, t0, peakSent] = await src.expect('sent');
  sink.post(['drain']);
  const [, t1, peakRecv, bad] = await sink.expect('done');
  const peak = Math.max(peakSent, peakRecv, rss());
  await endAll([src, sink]);
  if (bad) {
    process.stderr.write(`node_peer: flood worker_threads: ${bad} of ${n} out of sequence\n`);
    return 1;
  }
  floodRows('worker_threads', n, before, peak, t0, t1);
  return 0;
}

async function flood() {
  if (!P.n)
    P.n = 6000000;
  let rc = await floodEventLoop();
  rc |= await floodWorkers();
  return rc;
}

// ---- call ------------------------------------------------------------------

async function call() {
  if (!P.n)
    P.n = 100000;
  if (!want('main'))
    return 0;
  const n = P.n;
  const ch = new MessageChannel();
  const [srv] = await startAll([[{ role: 'responder', port: ch.port2 }, [ch.port2]]]);
  const rpc = new Rpc(ch.port1, RPC_TIMEOUT_MS);
  const lat = new Float64Array(n);
  let bad = 0, err = '';
  try {
    for (let i = 0; i < n; i++) {
      const t = performance.now();
      const r = await rpc.request(i);
      lat[i] = (performance.now() - t) * 1000;
      if (r !== 2 * i)
        bad++;
    }
  } catch (e) {
    err = String(e && e.message || e);
  }
  ch.port1.close();
  await srv.end();
  if (err || bad || rpc.stray) {
    process.stderr.write(`node_peer: call: ${bad} wrong answers, ${rpc.stray} stray${err ? `: ${err}` : ''}\n`);
    return 1;
  }
  lat.sort();
  row('call', 'main', 'call_p50_us', pct(lat, 0.5), 'us', true);
  row('call', 'main', 'call_p99_us', pct(lat, 0.99), 'us', true);
  row('call', 'main', 'call_p999_us', pct(lat, 0.999), 'us', true);
  return 0;
}

// ---- command line ----------------------------------------------------------

function usage() {
  process.stderr.write('usage: node node_peer.js pingpong|counting|ring|spawn|forkjoin|big|'
    + 'asks|hol|fanout|mapbody|flood|call '
    + '[--n N] [--senders S] [--actors A] [--hops H] [--tasks T] [--fib F] '
    + '[--workers W] [--variant V]\n');
  process.exit(2);
}

async function main() {
  const argv = process.argv.slice(2);
  if (argv.length < 1 || (argv.length - 1) % 2 !== 0)
    usage();
  const keys = {
    '--n': 'n', '--senders': 'senders', '--actors': 'actors', '--hops': 'hops',
    '--tasks': 'tasks', '--fib': 'fib', '--workers': 'workers',
  };
  for (let i = 1; i < argv.length; i += 2) {
    const k = argv[i], v = argv[i + 1];
    if (k === '--variant') {
      P.variant = v;
    } else if (keys[k]) {
      if (!/^\d+$/.test(v)) {
        process.stderr.write(`node_peer: ${k} needs a non-negative integer\n`);
        process.exit(2);
      }
      P[keys[k]] = Number(v);
      given[keys[k]] = true;
    } else {
      process.stderr.write(`node_peer: unknown option ${k}\n`);
      process.exit(2);
    }
  }
  if (P.senders > 2 || P.workers < 1 || P.hops < 1 || P.tasks < 1
      || P.fib > 45 || P.n > 1e9 || P.hops > 1e12) {
    process.stderr.write('node_peer: parameter out of range\n');
    process.exit(2);
  }
  const workloads = {
    pingpong, counting, ring, spawn, forkjoin, big, asks, hol, fanout, mapbody, flood, call,
    sends,
  };
  const w = workloads[argv[0]];
  if (!w) {
    process.stderr.write(`node_peer: unknown workload ${argv[0]}\n`);
    process.exit(2);
  }
  const watchdog = setTimeout(() => fail(`${argv[0]}: timed out`), WATCHDOG_MS);
  const rc = await w();
  clearTimeout(watchdog);
  if (rc === 0 && !matched) {
    process.stderr.write(`node_peer: no ${argv[0]} variant named ${P.variant}\n`);
    process.exit(2);
  }
  process.exit(rc === 2 ? 2 : rc ? 1 : 0);
}

if (isMainThread) {
  main().catch((e) => fail(e && e.stack || String(e)));
} else {
  workerMain(workerData);
}
