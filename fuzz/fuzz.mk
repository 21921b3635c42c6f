# fuzz/fuzz.mk: `make fuzz` builds the libFuzzer targets with clang and runs
# each for FUZZ_SECONDS (default 30) on a copy of its seed corpus (the tree's
# corpus is not modified). A crash fails the target; the crashing input is
# left in build/fuzz/ to become a regression test.
FUZZ_SECONDS ?= 30
FUZZ_DIR     := build/fuzz
FUZZ_CC      ?= clang
FUZZ_FLAGS   := -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Icore \
                $(shell pkg-config --cflags libzmq msgpack 2>/dev/null)
FUZZ_LIBS    := $(shell pkg-config --libs libzmq msgpack 2>/dev/null) -pthread
FUZZ_SRC     := core/alloc.c core/error.c core/ref.c core/msg.c core/pack.c core/wire.c
FUZZ_TARGETS := unpack wire

$(FUZZ_DIR)/fuzz_%: fuzz/fuzz_%.c $(FUZZ_SRC)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) $(FUZZ_SRC) $< -o $@ $(FUZZ_LIBS)

fuzz-deps:
	@command -v $(FUZZ_CC) >/dev/null 2>&1 && dpkg-query -W -f='$${Status}' libclang-rt-14-dev 2>/dev/null | grep -q 'install ok installed' || { \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq clang libclang-rt-14-dev >/dev/null; }

fuzz: deps fuzz-deps $(FUZZ_TARGETS:%=$(FUZZ_DIR)/fuzz_%)
	@for t in $(FUZZ_TARGETS); do \
	  work=$$(mktemp -d); cp fuzz/corpus/$$t/* $$work/; \
	  echo "fuzz: $$t for $(FUZZ_SECONDS) s"; \
	  ( cd $(FUZZ_DIR) && ./fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 $$work 2>&1 | tail -4 ) || { rm -rf $$work; exit 1; }; \
	  rm -rf $$work; \
	done
