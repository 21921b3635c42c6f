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
*/

const {
  Worker, isMainThread, parentPort, workerData, MessageChannel,
} = require('worker_threads');

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
};

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

function rss() {
  return process.memoryUsage.rss();
}

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

// ---- command line ----------------------------------------------------------

function usage() {
  process.stderr.write('usage: node node_peer.js pingpong|counting|ring|spawn|forkjoin|big '
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
  const workloads = { pingpong, counting, ring, spawn, forkjoin, big };
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
