"""troupe_client: a Python client of troupe nodes (docs/PROTOCOL.md, v2).

One DEALER socket to one node, with or without CURVE. The client greets
the node (HELLO), keeps the link alive (HEARTBEAT), looks actors up by
name, tells, asks (with a timeout; a `_fail` reply raises Down), monitors
(DOWN), notices a restarted node (a HELLO with another incarnation), and
says goodbye (DRAIN). Single-threaded: frames are read while a call
waits, and by poll().

    from troupe_client import Client
    with Client("tcp://127.0.0.1:5555") as c:
        counter = c.lookup("counter")
        print(c.ask(counter, "add", 5))      # ('total', [5])

Needs pyzmq and msgpack (Debian: python3-zmq, python3-msgpack).
"""
import os
import random
import time

import msgpack
import zmq

VERSION = 2
HELLO, USER, MONITOR, DEMONITOR, DOWN, LINK, UNLINK, EXIT, STOP, LOOKUP, \
    LOOKUP_REPLY, HEARTBEAT, DRAIN, DRAIN_ACK, BATCH = range(1, 16)
F_REQUEST, F_REPLY = 1, 2


# ---- tags (section 5) ----------------------------------------------------

def _code(ch):
    if "0" <= ch <= "9":
        return ord(ch) - ord("0") + 1
    if "A" <= ch <= "Z":
        return ord(ch) - ord("A") + 11
    if ch == "_":
        return 37
    if "a" <= ch <= "z":
        return ord(ch) - ord("a") + 38
    raise ValueError("bad tag character %r" % ch)


_CHARS = {}
for _c in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz":
    _CHARS[_code(_c)] = _c


def tag(name):
    """The atom of a tag name (1-10 of [0-9A-Za-z_])."""
    if not 1 <= len(name) <= 10:
        raise ValueError("a tag has 1 to 10 characters: %r" % name)
    v = 0
    for ch in name:
        v = (v << 6) | _code(ch)
    return v


def tag_name(v):
    """The name of an atom (None if it is not one)."""
    out = []
    while v:
        d = v & 63
        if d == 0:
            return None
        out.append(_CHARS[d])
        v >>= 6
    return "".join(reversed(out)) or None


# ---- refs (section 6.1) --------------------------------------------------

class Ref:
    """An actor of some node: (node name, incarnation, index, gen)."""

    def __init__(self, node, inc, index, gen):
        self.node, self.inc, self.index, self.gen = node, inc, index, gen

    def is_nil(self):
        return self.gen == 0

    def __eq__(self, other):
        return isinstance(other, Ref) and (self.node, self.inc, self.index,
                                           self.gen) == (other.node, other.inc,
                                                         other.index, other.gen)

    def __hash__(self):
        return hash((self.node, self.inc, self.index, self.gen))

    def __repr__(self):
        if self.is_nil():
            return "Ref(nil)"
        return "%s/%d.%d:%08x" % (self.node, self.index, self.gen, self.inc)


def _ext_hook(code, data):
    if code != 1 or len(data) < 12:
        return msgpack.ExtType(code, data)
    index = int.from_bytes(data[0:4], "big")
    gen = int.from_bytes(data[4:8], "big")
    inc = int.from_bytes(data[8:12], "big")
    return Ref(data[12:].decode("ascii"), inc, index, gen)


def _default(obj):
    if isinstance(obj, Ref):
        payload = (obj.index.to_bytes(4, "big") + obj.gen.to_bytes(4, "big")
                   + obj.inc.to_bytes(4, "big"))
        if not obj.is_nil():
            payload += obj.node.encode("ascii")
        return msgpack.ExtType(1, payload)
    raise TypeError("cannot pack %r" % (obj,))


def pack_body(values):
    """A body: msgpack values back to back (not an array)."""
    return b"".join(msgpack.packb(v, default=_default, use_bin_type=True)
                    for v in values)


def unpack_body(data):
    u = msgpack.Unpacker(ext_hook=_ext_hook, raw=False)
    u.feed(data)
    return list(u)


# ---- errors --------------------------------------------------------------

class Timeout(Exception):
    """No answer in time."""


class Down(Exception):
    """The actor asked will not answer: it ended, was dead, or its node
    went down or restarted (reason is a tag name: noproc, sigsegv...)."""

    def __init__(self, actor, reason):
        Exception.__init__(self, "%r: %s" % (actor, reason))
        self.actor, self.reason = actor, reason


# ---- the client ----------------------------------------------------------

class Client:
    def __init__(self, endpoint, name=None, heartbeat_ms=500,
                 secret_key=None, public_key=None, server_key=None):
        """endpoint: the node's. name: this client's node name (default
        pyclient-PID). With CURVE: secret_key and public_key (this client's,
        Z85 str) and server_key (the node's public key)."""
        self.endpoint = endpoint
        self.name = name or "pyclient-%d" % os.getpid()
        self.inc = random.randrange(1, 2 ** 32)
        self.heartbeat_ms = heartbeat_ms
        self.node = None        # the node's name, once greeted
        self.node_inc = 0       # its incarnation
        self.restarts = 0       # times it came back as a new incarnation
        self._corr = 0
        self._replies = {}      # corr -> (flags, tag, values, from ref)
        self._downs = {}        # monitor id -> reason
        self._inbox = []        # tells to this client: (tag, values)
        self._last_tx = 0.0
        self._ctx = zmq.Context.instance()
        self._sock = self._ctx.socket(zmq.DEALER)
        self._sock.setsockopt(zmq.LINGER, 0)
        self._sock.setsockopt(zmq.MAXMSGSIZE, 16777216)
        self._sock.setsockopt(zmq.ROUTING_ID, ("%s/%08x" % (self.name,
                                                            self.inc)).encode())
        if server_key:
            self._sock.curve_secretkey = secret_key.encode()
            self._sock.curve_publickey = public_key.encode()
            self._sock.curve_serverkey = server_key.encode()

    # -- frames --

    def _send(self, kind, to_index=0, to_gen=0, tag_=0, corr=0, flags=0,
              body=b"", from_index=0, from_gen=0):
        env = [VERSION, kind, to_index, to_gen, self.node_inc, self.name,
               from_index, from_gen, tag_, corr, flags, body]
        self._sock.send(msgpack.packb(env, use_bin_type=True))
        self._last_tx = time.monotonic()

    def _hello(self, seen):
        self._send(HELLO, body=msgpack.packb(
            [self.name, self.inc, self.heartbeat_ms, seen]))

    def _on_frame(self, data):
        try:
            env = msgpack.unpackb(data, raw=False)
        except Exception:
            return  # (not ours to judge: the node checks its own side)
        if not isinstance(env, list) or len(env) != 12 or env[0] != VERSION:
            return
        kind, body = env[1], env[11]
        if kind == BATCH:
            u = msgpack.Unpacker(raw=False)
            u.feed(body)
            for item in u:
                self._on_frame(item)
            return
        if kind == HELLO:
            name, inc = msgpack.unpackb(body)[:2]
            if self.node_inc and inc != self.node_inc:
                self.restarts += 1   # a new life: its asks will not answer
                for corr in list(self._replies):
                    if self._replies[corr] is None:
                        self._replies[corr] = ("restart",)
            self.node, self.node_inc = name, inc
            if msgpack.unpackb(body)[3] != self.inc:
                self._hello(inc)
        elif kind in (USER, LOOKUP_REPLY) and env[10] == F_REPLY:
            if env[9] in self._replies:
                self._replies[env[9]] = (env[10], env[8], unpack_body(body),
                                         Ref(env[5], self.node_inc, env[6],
                                             env[7]))
        elif kind == USER:
            self._inbox.append((tag_name(env[8]), unpack_body(body)))
        elif kind == DOWN:
            values = unpack_body(body)
            self._downs[env[9]] = tag_name(values[1]) if len(values) > 1 else "?"
        elif kind == DRAIN:
            self._send(DRAIN_ACK)
        # HEARTBEAT, DRAIN_ACK: the link lives; nothing to do

    def poll(self, timeout=0.0):
        """Reads what has come (waits up to timeout seconds for the first
        frame); sends a heartbeat when due. Returns frames read."""
        n = 0
        end = time.monotonic() + timeout
        while True:
            if time.monotonic() - self._last_tx > self.heartbeat_ms / 2000.0 \
                    and self.node_inc:
                self._send(HEARTBEAT)
            left = max(0.0, end - time.monotonic())
            wait = min(left, self.heartbeat_ms / 2000.0)
            if self._sock.poll(int(wait * 1000)):
                self._on_frame(self._sock.recv())
                n += 1
                end = time.monotonic()  # (then drain what is there)
                continue
            if time.monotonic() >= end:
                return n

    def _wait(self, cond, timeout):
        end = time.monotonic() + timeout
        while not cond():
            left = end - time.monotonic()
            if left <= 0:
                raise Timeout()
            self.poll(min(left, 0.05))

    # -- the API --

    def connect(self, timeout=5.0):
        """Connects and greets; returns the node's name."""
        self._sock.connect(self.endpoint)
        self._hello(0)
        self._wait(lambda: self.node is not None, timeout)
        return self.node

    def lookup(self, name, timeout=5.0):
        """The ref registered under name on the node, or None."""
        self._corr += 1
        corr = self._corr
        self._replies[corr] = None
        self._send(LOOKUP, tag_=tag("_sys"), corr=corr,
                   body=msgpack.packb(name))
        self._wait(lambda: self._replies[corr] is not None, timeout)
        r = self._replies.pop(corr)
        if r[0] == "restart":
            raise Down(None, "restarted")
        ref = r[2][0] if r[2] else None
        return None if ref is None or ref.is_nil() else ref

    def tell(self, ref, tag_, *values):
        self._send(USER, ref.index, ref.gen, tag(tag_), 0, 0, pack_body(values))

    def ask(self, ref, tag_, *values, timeout=5.0):
        """Asks ref; returns (reply tag, [values]). Raises Down when the
        actor will not answer (a _fail reply, or a node restart), Timeout."""
        self._corr += 1
        corr = self._corr
        self._replies[corr] = None
        self._send(USER, ref.index, ref.gen, tag(tag_), corr, F_REQUEST,
                   pack_body(values))
        try:
            self._wait(lambda: self._replies[corr] is not None, timeout)
        except Timeout:
            self._replies.pop(corr, None)
            raise
        r = self._replies.pop(corr)
        if r[0] == "restart":
            raise Down(ref, "restarted")
        name = tag_name(r[1])
        if name == "_fail":
            raise Down(r[2][0] if r[2] else ref,
                       tag_name(r[2][1]) if len(r[2]) > 1 else "?")
        return name, r[2]

    def monitor(self, ref):
        """Starts watching ref; returns the monitor id (see wait_down)."""
        self._corr += 1
        self._send(MONITOR, ref.index, ref.gen, tag("_sys"), self._corr)
        return self._corr

    def wait_down(self, monitor_id, timeout=5.0):
        """Waits for the DOWN of a monitor; returns the reason's name."""
        self._wait(lambda: monitor_id in self._downs, timeout)
        return self._downs.pop(monitor_id)

    def stop(self, ref, reason="normal"):
        self._send(STOP, ref.index, ref.gen, tag("_sys"),
                   body=msgpack.packb(tag(reason)))

    def close(self, timeout=1.0):
        """Says goodbye (DRAIN), waits for DRAIN_ACK a moment, closes."""
        if self.node_inc:
            self._send(DRAIN)
            try:
                self.poll(timeout)
            except zmq.ZMQError:
                pass
        self._sock.close()

    def __enter__(self):
        self.connect()
        return self

    def __exit__(self, *exc):
        self.close()
