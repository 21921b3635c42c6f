/*  Tests troupe_client against real troupe-node processes (make check):
        node examples/clients/node/test_client.js BUILD_DIR
    Every wait is bounded; every process it starts is stopped. */
"use strict";
const { spawn } = require ("child_process");
const fs = require ("fs");
const os = require ("os");
const path = require ("path");
const zmq = require ("zeromq");
const { Client, Down, Timeout } = require ("./troupe_client");

const BUILD = path.resolve (process.argv[2] || "build/release");
const NODE = path.join (BUILD, "tools", "troupe-node");
const MODULE = path.join (BUILD, "modules", "libcounter.so");
const procs = [];
const sleep = (ms) => new Promise ((r) => setTimeout (r, ms));

async function startNode (name, tmp, extra = [], endpoint = "tcp://127.0.0.1:*") {
    const ready = path.join (tmp, name + ".ready");
    fs.rmSync (ready, { force: true });
    const p = spawn (NODE, ["--name", name, "--bind", endpoint, "--module", MODULE,
                            "--heartbeat", "200", "--ready-file", ready, ...extra],
                     { stdio: ["ignore", "ignore", "ignore"] });
    procs.push (p);
    for (let waited = 0; !fs.existsSync (ready); waited += 10) {
        if (waited > 10000 || p.exitCode !== null)
            throw new Error (`troupe-node ${name} did not start`);
        await sleep (10);
    }
    return [p, fs.readFileSync (ready, "utf8").trim ()];
}

function check (cond, what) {
    if (!cond)
        throw new Error ("FAILED: " + what);
    console.log ("ok   " + what);
}

async function rejects (promise, Kind) {
    try {
        await promise;
        return null;
    } catch (e) {
        return e instanceof Kind ? e : null;
    }
}

async function main () {
    const tmp = fs.mkdtempSync (path.join (os.tmpdir (), "tp-nodeclient-"));
    try {
        let [p, ep] = await startNode ("jshost", tmp);
        const c = new Client (ep, { heartbeatMs: 200 });
        check ((await c.connect ()) === "jshost", "HELLO: greeted by jshost");
        let counter = await c.lookup ("counter");
        check (counter !== null, `lookup counter -> ${counter}`);
        check ((await c.lookup ("nobody")) === null, "lookup of an unknown name -> null");
        let r = await c.ask (counter, "add", [5]);
        check (r.tag === "total" && Number (r.values[0]) === 5, "ask add 5 -> total(5)");
        c.tell (counter, "add", 10);
        r = await c.ask (counter, "get");
        check (Number (r.values[0]) === 15, "tell add 10, ask get -> 15");
        check ((await c.ask (counter, "add", ["x"])).tag === "error", "a bad body -> error reply");
        await sleep (1000); /* (1 s idle: heartbeats keep the link) */
        check (Number ((await c.ask (counter, "get")).values[0]) === 15, "alive after 1 s idle");
        const mon = c.monitor (counter);
        c.stop (counter, "upgrade");
        check ((await c.waitDown (mon)) === "upgrade", "monitor: DOWN upgrade after STOP");
        const t0 = Date.now ();
        const down = await rejects (c.ask (counter, "get", [], 5000), Down);
        check (down && down.reason === "noproc" && Date.now () - t0 < 2000,
               "ask to a dead actor -> Down(noproc) at once");
        p.kill ("SIGKILL");
        [p] = await startNode ("jshost", tmp, [], ep);
        for (let waited = 0; c.restarts === 0 && waited < 10000; waited += 50)
            await sleep (50);
        check (c.restarts === 1, "the restart is seen (a new incarnation)");
        counter = await c.lookup ("counter");
        check (Number ((await c.ask (counter, "add", [1])).values[0]) === 1,
               "after the restart: a new counter answers");
        await c.close ();
        p.kill ("SIGTERM");

        /* CURVE: a node with keys admits only the client's key */
        const nodeKeys = zmq.curveKeyPair (), cliKeys = zmq.curveKeyPair ();
        fs.writeFileSync (path.join (tmp, "node.secret"), nodeKeys.secretKey + "\n", { mode: 0o600 });
        fs.writeFileSync (path.join (tmp, "allow"), cliKeys.publicKey + "\n");
        const [p3, ep3] = await startNode ("jssecure", tmp, ["--key", path.join (tmp, "node.secret"),
                                                              "--allow", path.join (tmp, "allow")]);
        const s = new Client (ep3, { heartbeatMs: 200, secretKey: cliKeys.secretKey,
                                     publicKey: cliKeys.publicKey, serverKey: nodeKeys.publicKey });
        check ((await s.connect ()) === "jssecure", "CURVE: greeted with the allowed key");
        const sc = await s.lookup ("counter");
        check (Number ((await s.ask (sc, "add", [7])).values[0]) === 7, "CURVE: ask add 7 -> 7");
        await s.close ();
        const plain = new Client (ep3, { heartbeatMs: 200 });
        check (await rejects (plain.connect (1000), Timeout), "CURVE: a plaintext client gets nothing");
        await plain.close (0);
        const other = zmq.curveKeyPair ();
        const bad = new Client (ep3, { heartbeatMs: 200, secretKey: other.secretKey,
                                       publicKey: other.publicKey, serverKey: nodeKeys.publicKey });
        check (await rejects (bad.connect (1000), Timeout), "CURVE: an unknown key gets nothing");
        await bad.close (0);
        p3.kill ("SIGTERM");
        console.log ("node client: all checks passed");
    } finally {
        for (const q of procs)
            if (q.exitCode === null)
                q.kill ("SIGKILL");
        fs.rmSync (tmp, { recursive: true, force: true });
    }
}

main ().then (() => process.exit (0), (e) => { console.error (e.message); process.exit (1); });
