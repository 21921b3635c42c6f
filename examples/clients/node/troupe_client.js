/*  troupe_client: a Node.js client of troupe nodes (docs/PROTOCOL.md, v2).

    One DEALER socket to one node, plaintext or CurveZMQ: greet (HELLO),
    heartbeats, lookup, tell, ask (a `_fail` reply rejects with a Down
    error at once), monitor (DOWN), stop, restart detection (a HELLO with
    another incarnation), goodbye (DRAIN). Promises all the way:

        const { Client } = require ("./troupe_client");
        const c = new Client ("tcp://127.0.0.1:5555");
        await c.connect ();
        const counter = await c.lookup ("counter");
        console.log (await c.ask (counter, "add", 5));   // { tag: 'total', values: [5] }
        await c.close ();

    Needs the npm packages zeromq (6) and @msgpack/msgpack (3).
*/
"use strict";
const zmq = require ("zeromq");
const { encode, decode, decodeMulti, ExtensionCodec } = require ("@msgpack/msgpack");

const VERSION = 2;
const K = { HELLO: 1, USER: 2, MONITOR: 3, DEMONITOR: 4, DOWN: 5, LINK: 6,
            UNLINK: 7, EXIT: 8, STOP: 9, LOOKUP: 10, LOOKUP_REPLY: 11,
            HEARTBEAT: 12, DRAIN: 13, DRAIN_ACK: 14, BATCH: 15 };
const F_REQUEST = 1, F_REPLY = 2;

/* ---- tags (section 5): BigInt atoms of up to 60 bits ------------------- */

const CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz";

function tag (name) {
    if (name.length < 1 || name.length > 10)
        throw new Error ("a tag has 1 to 10 characters: " + name);
    let v = 0n;
    for (const ch of name) {
        const code = CHARS.indexOf (ch);
        if (code < 0)
            throw new Error ("bad tag character: " + ch);
        v = (v << 6n) | BigInt (code + 1);
    }
    return v;
}

function tagName (v) {
    v = BigInt (v);
    let out = "";
    while (v > 0n) {
        const d = Number (v & 63n);
        if (d === 0)
            return null;
        out = CHARS[d - 1] + out;
        v >>= 6n;
    }
    return out || null;
}

/* (a Number up to 32 bits, else a BigInt: with useBigInt64, @msgpack/msgpack
   writes a larger Number as a float64, which is not a tag) */
function wireInt (v) {
    return typeof v === "bigint" && v <= 0xffffffffn ? Number (v) : v;
}

/* ---- refs (section 6.1): ext type 1 ------------------------------------ */

class Ref {
    constructor (node, inc, index, gen) {
        Object.assign (this, { node, inc, index, gen });
    }
    isNil () { return this.gen === 0; }
    toString () {
        return this.isNil () ? "nil" : `${this.node}/${this.index}.${this.gen}:`
                                           + this.inc.toString (16).padStart (8, "0");
    }
}

const codec = new ExtensionCodec ();
codec.register ({
    type: 1,
    encode: (obj) => {
        if (!(obj instanceof Ref))
            return null;
        const name = obj.isNil () ? Buffer.alloc (0) : Buffer.from (obj.node, "ascii");
        const b = Buffer.alloc (12 + name.length);
        b.writeUInt32BE (obj.index, 0);
        b.writeUInt32BE (obj.gen, 4);
        b.writeUInt32BE (obj.inc >>> 0, 8);
        name.copy (b, 12);
        return b;
    },
    decode: (data) => {
        const b = Buffer.from (data.buffer, data.byteOffset, data.byteLength);
        return new Ref (b.subarray (12).toString ("ascii"), b.readUInt32BE (8),
                        b.readUInt32BE (0), b.readUInt32BE (4));
    },
});
const OPTS = { extensionCodec: codec, useBigInt64: true };

function packBody (values) {
    return Buffer.concat (values.map ((v) => Buffer.from (encode (v, OPTS))));
}

function unpackBody (data) {
    return data && data.length ? Array.from (decodeMulti (data, OPTS)) : [];
}

class Down extends Error {
    constructor (actor, reason) {
        super (`${actor}: ${reason}`);
        this.name = "Down";
        this.actor = actor;
        this.reason = reason;
    }
}

class Timeout extends Error {
    constructor () { super ("timed out"); this.name = "Timeout"; }
}

/* ---- the client --------------------------------------------------------- */

class Client {
    /*  endpoint: the node's. opts: name (default nodeclient-PID),
        heartbeatMs (500), and for CURVE: secretKey, publicKey (this
        client's), serverKey (the node's public key), Z85 strings. */
    constructor (endpoint, opts = {}) {
        this.endpoint = endpoint;
        this.name = opts.name || `nodeclient-${process.pid}`;
        this.inc = (Math.floor (Math.random () * 0xfffffffe) + 1) >>> 0;
        this.heartbeatMs = opts.heartbeatMs || 500;
        this.node = null;
        this.nodeInc = 0;
        this.restarts = 0;
        this.corr = 0;
        this.pending = new Map ();   /* corr -> {resolve, reject, timer, ref} */
        this.downs = new Map ();     /* monitor id -> reason (or a waiter) */
        this.greeted = null;         /* resolve of connect () */
        this.lastTx = 0;
        const sockOpts = { routingId: `${this.name}/${this.inc.toString (16).padStart (8, "0")}`,
                           linger: 0, maxMessageSize: 16777216 };
        if (opts.serverKey)
            Object.assign (sockOpts, { curveSecretKey: opts.secretKey,
                                       curvePublicKey: opts.publicKey,
                                       curveServerKey: opts.serverKey });
        this.sock = new zmq.Dealer (sockOpts);
        this.sending = Promise.resolve ();
        this.closed = false;
    }

    send (kind, toIndex = 0, toGen = 0, tagV = 0n, corr = 0, flags = 0,
          body = Buffer.alloc (0)) {
        const env = [VERSION, kind, toIndex, toGen, this.nodeInc, this.name, 0, 0,
                     wireInt (tagV), corr, flags, body];
        this.lastTx = Date.now ();
        /* one send at a time (zeromq.js refuses a second one while the
           first is in progress), in order */
        const frame = Buffer.from (encode (env, OPTS));
        this.sending = this.sending.then (() => this.sock.send (frame))
                           .catch (() => {});
    }

    hello (seen) {
        this.send (K.HELLO, 0, 0, 0n, 0, 0,
                   Buffer.from (encode ([this.name, this.inc, this.heartbeatMs, seen])));
    }

    onFrame (data) {
        let env;
        try {
            env = decode (data, OPTS);
        } catch (e) {
            return;
        }
        if (!Array.isArray (env) || env.length !== 12 || Number (env[0]) !== VERSION)
            return;
        const kind = Number (env[1]), body = env[11];
        if (kind === K.BATCH) {
            for (const item of decodeMulti (body, OPTS))
                this.onFrame (item);
            return;
        }
        if (kind === K.HELLO) {
            const [name, inc, , seen] = decode (body, OPTS).map ((x) => typeof x === "bigint" ? Number (x) : x);
            if (this.nodeInc && inc !== this.nodeInc) {
                this.restarts++;             /* a new life: no answer will come */
                for (const [corr, p] of this.pending) {
                    this.pending.delete (corr);
                    clearTimeout (p.timer);
                    p.reject (new Down (p.ref, "restarted"));
                }
            }
            this.node = name;
            this.nodeInc = inc;
            if (seen !== this.inc)
                this.hello (inc);
            if (this.greeted)
                this.greeted ();
            return;
        }
        const corr = Number (env[9]), flags = Number (env[10]);
        if ((kind === K.USER || kind === K.LOOKUP_REPLY) && flags === F_REPLY) {
            const p = this.pending.get (corr);
            if (!p)
                return;
            this.pending.delete (corr);
            clearTimeout (p.timer);
            const values = unpackBody (body), t = tagName (env[8]);
            if (kind === K.LOOKUP_REPLY)
                p.resolve (values[0] && !values[0].isNil () ? values[0] : null);
            else if (t === "_fail")
                p.reject (new Down (values[0], tagName (values[1])));
            else
                p.resolve ({ tag: t, values });
        }
        else if (kind === K.DOWN) {
            const values = unpackBody (body), why = tagName (values[1]);
            const w = this.downs.get (corr);
            if (typeof w === "function")
                w (why);
            else
                this.downs.set (corr, why);
        }
        else if (kind === K.DRAIN)
            this.send (K.DRAIN_ACK);
        else if (kind === K.DRAIN_ACK && this.drained)
            this.drained ();
    }

    async reader () {
        try {
            for await (const [frame] of this.sock)
                this.onFrame (frame);
        } catch (e) {
            /* (closed) */
        }
    }

    /*  Connects and greets; resolves with the node's name. */
    connect (timeoutMs = 5000) {
        this.sock.connect (this.endpoint);
        this.reader ();
        this.beat = setInterval (() => {
            if (this.nodeInc && Date.now () - this.lastTx >= this.heartbeatMs / 2)
                this.send (K.HEARTBEAT);
        }, Math.max (10, this.heartbeatMs / 4));
        return new Promise ((resolve, reject) => {
            const timer = setTimeout (() => reject (new Timeout ()), timeoutMs);
            this.greeted = () => { clearTimeout (timer); this.greeted = null; resolve (this.node); };
            this.hello (0);
        });
    }

    request (kind, ref, tagV, body, flags, timeoutMs) {
        const corr = ++this.corr;
        return new Promise ((resolve, reject) => {
            const timer = setTimeout (() => {
                this.pending.delete (corr);
                reject (new Timeout ());
            }, timeoutMs);
            this.pending.set (corr, { resolve, reject, timer, ref });
            this.send (kind, ref ? ref.index : 0, ref ? ref.gen : 0, tagV, corr, flags, body);
        });
    }

    /*  The ref registered under name on the node, or null. */
    lookup (name, timeoutMs = 5000) {
        return this.request (K.LOOKUP, null, tag ("_sys"), Buffer.from (encode (name)),
                             0, timeoutMs);
    }

    tell (ref, tagName_, ...values) {
        this.send (K.USER, ref.index, ref.gen, tag (tagName_), 0, 0, packBody (values));
    }

    /*  Resolves with { tag, values }; rejects with Down (the actor will not
        answer: it ended, was dead, or its node restarted) or Timeout. */
    ask (ref, tagName_, values = [], timeoutMs = 5000) {
        return this.request (K.USER, ref, tag (tagName_), packBody (values),
                             F_REQUEST, timeoutMs);
    }

    monitor (ref) {
        const id = ++this.corr;
        this.send (K.MONITOR, ref.index, ref.gen, tag ("_sys"), id);
        return id;
    }

    /*  Resolves with the reason of monitor id's DOWN. */
    waitDown (id, timeoutMs = 5000) {
        if (this.downs.has (id)) {
            const why = this.downs.get (id);
            this.downs.delete (id);
            return Promise.resolve (why);
        }
        return new Promise ((resolve, reject) => {
            const timer = setTimeout (() => reject (new Timeout ()), timeoutMs);
            this.downs.set (id, (why) => { clearTimeout (timer); this.downs.delete (id); resolve (why); });
        });
    }

    stop (ref, reason = "normal") {
        this.send (K.STOP, ref.index, ref.gen, tag ("_sys"), 0, 0,
                   Buffer.from (encode (wireInt (tag (reason)), OPTS)));
    }

    /*  Says goodbye (DRAIN), waits up to waitMs for DRAIN_ACK, closes. */
    async close (waitMs = 1000) {
        if (this.closed)
            return;
        this.closed = true;
        clearInterval (this.beat);
        if (this.nodeInc) {
            await new Promise ((resolve) => {
                const timer = setTimeout (resolve, waitMs);
                this.drained = () => { clearTimeout (timer); resolve (); };
                this.send (K.DRAIN);
            });
        }
        for (const [, p] of this.pending)
            clearTimeout (p.timer);
        await this.sending;
        this.sock.close ();
    }
}

module.exports = { Client, Ref, Down, Timeout, tag, tagName };
