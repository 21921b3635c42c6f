#!/bin/sh
# Runs the clients in other languages against real troupe-node processes
# (examples/clients/*/test_client.*). Python: Debian's interpreter, by its
# path (the first python3 on PATH may not see Debian's python3-* packages).
build=$1
fail=0
if /usr/bin/python3 -c 'import zmq, msgpack' 2>/dev/null; then
    timeout 120 /usr/bin/python3 examples/clients/python/test_client.py "$build" \
        || { echo "tests/clients.sh: the python client FAILED"; fail=1; }
else
    echo "tests/clients.sh: python3-zmq or python3-msgpack missing (make deps)"
    fail=1
fi
if [ -d examples/clients/node/node_modules ] && command -v node >/dev/null; then
    timeout 120 node examples/clients/node/test_client.js "$build" \
        || { echo "tests/clients.sh: the node client FAILED"; fail=1; }
else
    echo "tests/clients.sh: node or the client's npm packages missing (make deps)"
    fail=1
fi
[ "$fail" -eq 0 ]
