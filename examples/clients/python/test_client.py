"""Tests troupe_client against real troupe-node processes (make check).

    /usr/bin/python3 examples/clients/python/test_client.py BUILD_DIR

Each step prints what it checked; any failure exits 1. Every process it
starts is stopped, every file it makes removed. Bounded: every wait has
a timeout."""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import zmq  # noqa: E402

from troupe_client import Client, Down, Timeout  # noqa: E402

BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build/release")
NODE = os.path.join(BUILD, "tools", "troupe-node")
MODULE = os.path.join(BUILD, "modules", "libcounter.so")
procs = []


def start_node(name, tmp, extra=(), endpoint="tcp://127.0.0.1:*"):
    ready = os.path.join(tmp, name + ".ready")
    if os.path.exists(ready):
        os.unlink(ready)
    p = subprocess.Popen([NODE, "--name", name, "--bind", endpoint, "--module",
                          MODULE, "--heartbeat", "200", "--ready-file", ready]
                         + list(extra), stderr=subprocess.DEVNULL)
    procs.append(p)
    end = time.monotonic() + 10
    while not os.path.exists(ready):
        if time.monotonic() > end or p.poll() is not None:
            raise SystemExit("troupe-node %s did not start" % name)
        time.sleep(0.01)
    with open(ready) as f:
        return p, f.read().strip()


def check(cond, what):
    if not cond:
        raise SystemExit("FAILED: " + what)
    print("ok   " + what)


def main():
    tmp = tempfile.mkdtemp(prefix="tp-pyclient-")
    try:
        p, ep = start_node("pyhost", tmp)
        c = Client(ep, heartbeat_ms=200)
        check(c.connect() == "pyhost", "HELLO: greeted by pyhost")
        counter = c.lookup("counter")
        check(counter is not None, "lookup counter -> %r" % (counter,))
        check(c.lookup("nobody") is None, "lookup of an unknown name -> None")
        check(c.ask(counter, "add", 5) == ("total", [5]), "ask add 5 -> total(5)")
        c.tell(counter, "add", 10)
        check(c.ask(counter, "get") == ("total", [15]), "tell add 10, ask get -> 15")
        check(c.ask(counter, "add", "x")[0] == "error", "a bad body -> error reply")
        # heartbeats keep the link across 1 s (5 intervals) of silence
        c.poll(1.0)
        check(c.ask(counter, "get") == ("total", [15]), "alive after 1 s idle")
        # monitor, then stop: DOWN with the reason; then asks fail at once
        mon = c.monitor(counter)
        c.stop(counter, "upgrade")
        check(c.wait_down(mon) == "upgrade", "monitor: DOWN upgrade after STOP")
        t0 = time.monotonic()
        try:
            c.ask(counter, "get", timeout=5)
            check(False, "an ask to a dead actor was answered")
        except Down as e:
            check(e.reason == "noproc" and time.monotonic() - t0 < 2,
                  "ask to a dead actor -> Down(noproc) at once")
        # restart detection: a new troupe-node on the same endpoint
        p.kill()
        p.wait()
        p2, ep2 = start_node("pyhost", tmp, endpoint=ep)
        end = time.monotonic() + 10
        while c.restarts == 0 and time.monotonic() < end:
            c.poll(0.1)
        check(c.restarts == 1, "the restart is seen (a new incarnation)")
        counter = c.lookup("counter")
        check(c.ask(counter, "add", 1) == ("total", [1]),
              "after the restart: a new counter answers")
        c.close()
        p2.terminate()
        p2.wait()

        # CURVE: a node with keys admits only the client's key
        node_pub, node_sec = (k.decode() for k in zmq.curve_keypair())
        cli_pub, cli_sec = (k.decode() for k in zmq.curve_keypair())
        with open(os.path.join(tmp, "node.secret"), "w") as f:
            f.write(node_sec + "\n")
        os.chmod(os.path.join(tmp, "node.secret"), 0o600)
        with open(os.path.join(tmp, "allow"), "w") as f:
            f.write(cli_pub + "\n")
        p3, ep3 = start_node("pysecure", tmp, ["--key",
                                               os.path.join(tmp, "node.secret"),
                                               "--allow",
                                               os.path.join(tmp, "allow")])
        s = Client(ep3, secret_key=cli_sec, public_key=cli_pub,
                   server_key=node_pub, heartbeat_ms=200)
        check(s.connect() == "pysecure", "CURVE: greeted with the allowed key")
        sc = s.lookup("counter")
        check(s.ask(sc, "add", 7) == ("total", [7]), "CURVE: ask add 7 -> 7")
        s.close()
        plain = Client(ep3, heartbeat_ms=200)
        try:
            plain.connect(timeout=1.0)
            check(False, "a plaintext client was greeted by a CURVE node")
        except Timeout:
            check(True, "CURVE: a plaintext client gets nothing")
        plain.close(timeout=0)
        other_pub, other_sec = (k.decode() for k in zmq.curve_keypair())
        bad = Client(ep3, secret_key=other_sec, public_key=other_pub,
                     server_key=node_pub, heartbeat_ms=200)
        try:
            bad.connect(timeout=1.0)
            check(False, "an unknown key was greeted")
        except Timeout:
            check(True, "CURVE: an unknown key gets nothing")
        bad.close(timeout=0)
        p3.terminate()
        p3.wait()
        print("python client: all checks passed")
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
                p.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
