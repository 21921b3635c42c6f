# bench/peers/peers.mk: build rules for the peer benchmark programs.
# Included from the top Makefile (`include bench/peers/peers.mk`), which
# defines BUILD (e.g. build/release). Each peer keeps its rules in its own
# marked block.

# ==== zeromq + caf peers (zmq_peer.c, caf_peer.cpp) =========================
# Needs: libzmq3-dev, libmsgpack-dev (msgpack-c 4.0), libcaf-dev (CAF 0.17).
ZMQ_PEER_BIN := $(BUILD)/bench/zmq_peer
CAF_PEER_BIN := $(BUILD)/bench/caf_peer
PEERS_BIN    += $(ZMQ_PEER_BIN) $(CAF_PEER_BIN)

ZMQ_PEER_CFLAGS = -O2 -std=gnu11 -Wall -Wextra -pthread \
                  $(shell pkg-config --cflags libzmq msgpack 2>/dev/null)
ZMQ_PEER_LIBS   = $(or $(shell pkg-config --libs libzmq msgpack 2>/dev/null),-lzmq -lmsgpackc) \
                  -pthread
# CAF 0.17 ships no pkg-config file: headers in /usr/include/caf, libs in
# the multiarch dir, found by the compiler's default search paths.
CAF_PEER_CXXFLAGS = -O2 -std=c++17 -Wall -Wextra -pthread
CAF_PEER_LIBS     = -lcaf_io -lcaf_core -pthread

.PHONY: peers-zmq-caf
peers-zmq-caf: $(ZMQ_PEER_BIN) $(CAF_PEER_BIN)

$(ZMQ_PEER_BIN): bench/peers/zmq_peer.c
	@mkdir -p $(dir $@)
	$(CC) $(ZMQ_PEER_CFLAGS) $< -o $@ $(ZMQ_PEER_LIBS)

$(CAF_PEER_BIN): bench/peers/caf_peer.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(CAF_PEER_CXXFLAGS) $< -o $@ $(CAF_PEER_LIBS)
# ==== end zeromq + caf peers ================================================
