# tests/fuzz/fuzz.mk: libFuzzer targets, included by the top Makefile.
#
#   make fuzz                 build fuzz_unpack, fuzz_wire, fuzz_hello and fuzz_curve with
#                             clang and run each for FUZZ_SECONDS (default 60)
#   make fuzz FUZZ_SECONDS=60
#   make fuzz-corpus          rewrite the seed corpora from tests/fuzz/gen_*.c
#
# Each fuzzer runs on a temporary copy of its seed corpus (tests/fuzz/corpus/NAME),
# so the tree is never modified. A crash, sanitizer report, failed check or
# hang (-timeout) fails the target; the log is build/fuzz/NAME.log and the
# input that failed is kept as build/fuzz/NAME-crash-* (or -timeout-*, ...):
# copy it into tests/fuzz/corpus/NAME once fixed, and tests/test_seeds.c
# replays it in make check with every other seed.
# The fuzzers link only the pure parts of the library, not the runtime.

FUZZ_SECONDS ?= 60
FUZZ_DIR     := build/fuzz
FUZZ_CC      ?= clang
FUZZ_FLAGS   := -g -O1 -fno-omit-frame-pointer \
                -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
                -D_GNU_SOURCE -Icore $(shell pkg-config --cflags libzmq msgpack 2>/dev/null)
FUZZ_LIBS    := $(shell pkg-config --libs libzmq msgpack 2>/dev/null) -pthread
FUZZ_SRC     := core/alloc.c core/error.c core/ref.c core/msg.c core/pack.c core/wire.c core/zap.c
FUZZ_TARGETS := unpack wire hello curve
FUZZ_BIN     := $(FUZZ_TARGETS:%=$(FUZZ_DIR)/fuzz_%)

.PHONY: fuzz fuzz-deps fuzz-corpus

$(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_SRC) $(wildcard core/*.h)
	@mkdir -p $(dir $@)
	$(call say,FUZZCC,$@)$(FUZZ_CC) $(FUZZ_FLAGS) $(FUZZ_SRC) $< -o $@ $(FUZZ_LIBS)

fuzz-deps:
	@command -v $(FUZZ_CC) >/dev/null 2>&1 && dpkg-query -W -f='$${Status}' libclang-rt-14-dev 2>/dev/null | grep -q 'install ok installed' || { \
	  echo "fuzz-deps: installing clang libclang-rt-14-dev"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq clang libclang-rt-14-dev >/dev/null; }

fuzz: deps fuzz-deps
	$(Q)$(MAKE) --no-print-directory $(FUZZ_BIN)
	@for t in $(FUZZ_TARGETS); do \
	  work=$$(mktemp -d "$${TMPDIR:-/tmp}/tp-fuzz.XXXXXX") || exit 1; \
	  cp tests/fuzz/corpus/$$t/* "$$work"/; \
	  echo "fuzz: $$t for $(FUZZ_SECONDS) s"; \
	  $(FUZZ_DIR)/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 \
	    -print_final_stats=1 -artifact_prefix=$(FUZZ_DIR)/$$t- "$$work" \
	    > $(FUZZ_DIR)/$$t.log 2>&1; \
	  rc=$$?; rm -rf "$$work"; \
	  grep -E '^(Done|stat::number_of_executed_units|stat::peak_rss_mb)' $(FUZZ_DIR)/$$t.log; \
	  if [ $$rc -ne 0 ]; then \
	    tail -n 40 $(FUZZ_DIR)/$$t.log; \
	    echo "fuzz: $$t FAILED (exit $$rc); log $(FUZZ_DIR)/$$t.log, input $(FUZZ_DIR)/$$t-*"; \
	    exit 1; \
	  fi; \
	done

# Seed generators are plain C programs built with the normal compiler.
FUZZ_GEN_FLAGS := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -g -Icore \
                  $(shell pkg-config --cflags libzmq msgpack 2>/dev/null)
fuzz-corpus: deps
	@mkdir -p $(FUZZ_DIR) tests/fuzz/corpus/unpack tests/fuzz/corpus/wire
	$(call say,CCLD,$(FUZZ_DIR)/gen_corpus)$(CC) $(FUZZ_GEN_FLAGS) $(FUZZ_SRC) tests/fuzz/gen_corpus.c -o $(FUZZ_DIR)/gen_corpus $(FUZZ_LIBS)
	$(call say,CCLD,$(FUZZ_DIR)/gen_wire_corpus)$(CC) $(FUZZ_GEN_FLAGS) $(FUZZ_SRC) tests/fuzz/gen_wire_corpus.c -o $(FUZZ_DIR)/gen_wire_corpus $(FUZZ_LIBS)
	$(Q)$(FUZZ_DIR)/gen_corpus tests/fuzz/corpus/unpack
	$(Q)$(FUZZ_DIR)/gen_wire_corpus tests/fuzz/corpus/wire
