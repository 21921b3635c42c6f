# troupe: one hand-written Makefile.
#
#   make            library (shared + static + troupe.pc), examples, tests
#   make check      install missing deps, build, run every test
#   make demo       install missing deps, build, run the flagship demo
#                   (a word count over 3 processes, one killed -9 part-way)
#   make demo-workers  the web-workers speed-up table (one process)
#   make sanitize   tests under ASan + UBSan      (SANITIZER=address)
#   make tsan       tests under ThreadSanitizer   (SANITIZER=thread)
#   make valgrind   tests under valgrind memcheck
#   make bench      benchmarks (see bench/)
#   make install PREFIX=/usr/local
#   make clean      V=1 shows full command lines

VERSION_MAJOR := 0
VERSION       := 0.1.0
PREFIX        ?= /usr/local
CC            ?= gcc
V             ?= 0

ifeq ($(SANITIZER),address)
  BUILD   ?= build/asan
  SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else ifeq ($(SANITIZER),thread)
  BUILD   ?= build/tsan
  SANFLAGS := -fsanitize=thread
else
  BUILD   ?= build/release
  SANFLAGS :=
endif

PKGS      := libzmq msgpack libmicrohttpd libcurl jansson libsodium
TEST_PKGS := criterion
CFLAGS_PKG = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LIBS_PKG   = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lresolv
TEST_CFLAGS_PKG = $(shell pkg-config --cflags $(TEST_PKGS) 2>/dev/null)
TEST_LIBS_PKG   = $(shell pkg-config --libs $(TEST_PKGS) 2>/dev/null)

WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-unused-parameter
OPT     ?= -O2 -g
CFLAGS  ?=
BASE_CFLAGS := -std=c11 -D_GNU_SOURCE $(WARN) $(OPT) -pthread -fPIC $(SANFLAGS)
# The library, tests and fuzzers reach internals: -Icore.
ALL_CFLAGS := $(BASE_CFLAGS) -Icore $(CFLAGS_PKG) $(CFLAGS) -MMD -MP
# Examples, tools, modules and the benchmark are applications: they see only
# the public headers staged in $(BUILD)/include/troupe/ (what `make install`
# puts in $(PREFIX)/include/troupe/) and write #include <troupe/troupe.h>.
# Their rules depend on every staged header, so no -MMD.
APP_CFLAGS := $(BASE_CFLAGS) -I$(BUILD)/include $(CFLAGS_PKG) $(CFLAGS)
LDFLAGS ?=
ALL_LDFLAGS := -pthread $(SANFLAGS) $(LDFLAGS)

ifeq ($(V),1)
  Q :=
  say :=
else
  Q := @
  say = @printf '  %-7s %s\n' $(1) $(2);
endif

LIB_SRC  := $(wildcard core/*.c)
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
ACT_SRC  := $(wildcard actors/*.c)
ACT_OBJ  := $(ACT_SRC:%.c=$(BUILD)/%.o)
SONAME   := libtroupe.so.$(VERSION_MAJOR)
SHLIB    := $(BUILD)/lib/libtroupe.so.$(VERSION)
STLIB    := $(BUILD)/lib/libtroupe.a
PCFILE   := $(BUILD)/lib/troupe.pc
HEADERS  := core/troupe.h core/error.h core/ref.h core/msg.h core/system.h core/actor.h core/node.h core/module.h core/metrics.h
ACT_HEADERS := $(wildcard actors/*.h)
STAGED_HEADERS := $(HEADERS:core/%=$(BUILD)/include/troupe/%) $(ACT_HEADERS:actors/%=$(BUILD)/include/troupe/%)

EX_SRC   := $(wildcard examples/*.c)
EX_BIN   := $(EX_SRC:examples/%.c=$(BUILD)/examples/%)
BENCH_BIN := $(BUILD)/bench/troupe_bench
TEST_SRC := $(wildcard tests/test_*.c)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
TEST_HELP_SRC := $(filter-out tests/test_%.c,$(wildcard tests/*.c))
# ThreadSanitizer cannot run criterion's forked runner here (its arena
# mapping fails), so tsan builds link the same tests against an
# in-process shim (tests/shim/).
ifeq ($(SANITIZER),thread)
  TEST_CFLAGS_PKG := -Itests/shim
  TEST_LIBS_PKG :=
  TEST_HELP_SRC += tests/shim/shim_main.c
endif
TEST_HELP_OBJ := $(TEST_HELP_SRC:%.c=$(BUILD)/%.o)

.PHONY: fuzz-deps all lib examples tools tests check demo demo-workers sanitize tsan valgrind install uninstall clean deps bench bench-deps peers fuzz soak
all: lib examples tools tests $(BENCH_BIN)

lib: $(SHLIB) $(STLIB) $(PCFILE) $(STAGED_HEADERS)

# --- dependencies --------------------------------------------------------
DEB_PKGS := libzmq3-dev libmsgpack-dev libcriterion-dev pkg-config python3-zmq python3-msgpack libmicrohttpd-dev curl groff-base python3-prometheus-client libcurl4-openssl-dev libjansson-dev libsodium-dev etcd-server dnsmasq-base
deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	command -v npm >/dev/null 2>&1 || missing="$$missing nodejs npm"; \
	if [ -n "$$missing" ]; then \
	  echo "deps: installing$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi; \
	if [ ! -d examples/clients/node/node_modules ]; then \
	  echo "deps: npm packages of the Node.js client (examples/clients/node)"; \
	  (cd examples/clients/node && npm ci --no-audit --no-fund --loglevel=error >/dev/null); \
	fi

# --- library ---------------------------------------------------------------
$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(call say,CC,$<)$(CC) $(ALL_CFLAGS) -fvisibility=hidden -c $< -o $@

$(SHLIB): $(LIB_OBJ) $(ACT_OBJ)
	@mkdir -p $(dir $@)
	$(call say,LD,$@)$(CC) -shared -Wl,-soname,$(SONAME) -o $@ $^ $(ALL_LDFLAGS) $(LIBS_PKG)
	$(Q)ln -sf libtroupe.so.$(VERSION) $(BUILD)/lib/$(SONAME)
	$(Q)ln -sf $(SONAME) $(BUILD)/lib/libtroupe.so

$(STLIB): $(LIB_OBJ) $(ACT_OBJ)
	@mkdir -p $(dir $@)
	$(call say,AR,$@)rm -f $@ && ar rcs $@ $^

$(PCFILE): troupe.pc.in Makefile
	@mkdir -p $(dir $@)
	$(Q)sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' $< > $@

# --- public headers, staged as they are installed ------------------------------
# The public headers include each other with quotes ("error.h"), which find
# their siblings in include/troupe/ first, staged or installed; an
# application's <error.h> is glibc's.
$(HEADERS:core/%=$(BUILD)/include/troupe/%): $(BUILD)/include/troupe/%.h: core/%.h
	@mkdir -p $(dir $@)
	$(call say,STAGE,$@)cp $< $@
$(ACT_HEADERS:actors/%=$(BUILD)/include/troupe/%): $(BUILD)/include/troupe/%.h: actors/%.h
	@mkdir -p $(dir $@)
	$(call say,STAGE,$@)cp $< $@

# --- actors/: ready-made actors, built on the public API only ----------------
# (compiled as applications are: they see only the staged headers)
$(ACT_OBJ): $(BUILD)/actors/%.o: actors/%.c $(STAGED_HEADERS)
	@mkdir -p $(dir $@)
	$(call say,CC,$<)$(CC) $(APP_CFLAGS) -fvisibility=hidden -c $< -o $@

# Every staged header compiles on its own, and an application including
# <troupe/troupe.h> still gets glibc's <error.h> (tests/headers/app.c).
HDR_CHECK := $(BUILD)/tests/headers.ok
$(HDR_CHECK): tests/headers/app.c $(STAGED_HEADERS)
	@mkdir -p $(dir $@)
	$(call say,CHECK,$(BUILD)/include/troupe)for h in $(HEADERS:core/%=%); do \
	  printf '#include <troupe/%s>\n' $$h | \
	    $(CC) $(BASE_CFLAGS) $(CFLAGS) -I$(BUILD)/include -fsyntax-only -x c - || \
	    { echo "headers: troupe/$$h does not compile on its own"; exit 1; }; \
	done
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) -I$(BUILD)/include -fsyntax-only $<
	$(Q)for h in $(ACT_HEADERS:actors/%=%); do \
	  printf '#include <troupe/%s>\n' $$h | \
	    $(CC) $(BASE_CFLAGS) $(CFLAGS) -I$(BUILD)/include -fsyntax-only -x c - || \
	    { echo "headers: troupe/$$h does not compile on its own"; exit 1; }; \
	done
	$(Q)printf '#include <troupe/troupe.h>\nint f (void) { return TP_TAG ("ping") != 0; }\n' | \
	  $(CC) $(BASE_CFLAGS) $(CFLAGS) -I$(BUILD)/include -fsyntax-only -x c - || \
	  { echo "headers: TP_TAG of a short literal does not compile"; exit 1; }
	$(Q)! printf '#include <troupe/troupe.h>\nint f (void) { return TP_TAG ("much_too_long") != 0; }\n' | \
	  $(CC) $(BASE_CFLAGS) $(CFLAGS) -I$(BUILD)/include -fsyntax-only -x c - 2>/dev/null || \
	  { echo "headers: TP_TAG of an 11-character literal compiles"; exit 1; }
	$(Q)touch $@

# --- examples (linked against the shared library) ---------------------------
examples: $(EX_BIN)
$(BUILD)/examples/wordcount_cluster $(BUILD)/modules/libwordcount.so: examples/wordcount.h
$(BUILD)/examples/%: examples/%.c $(SHLIB) $(STAGED_HEADERS)
	@mkdir -p $(dir $@)
	$(call say,CCLD,$@)$(CC) $(APP_CFLAGS) $< -o $@ -L$(BUILD)/lib -ltroupe \
	  -Wl,-rpath,'$$ORIGIN/../lib' $(ALL_LDFLAGS) $(LIBS_PKG) -lm

# --- tools and modules (linked against the shared library) ------------------
TOOLS_BIN := $(BUILD)/tools/troupe-node $(BUILD)/tools/troupe
MODULES   := $(patsubst examples/modules/%.c,$(BUILD)/modules/lib%.so,$(wildcard examples/modules/*.c))
tools: $(TOOLS_BIN) $(MODULES)
$(BUILD)/tools/troupe-node: tools/troupe-node.c $(SHLIB) $(STAGED_HEADERS)
	@mkdir -p $(dir $@)
	$(call say,CCLD,$@)$(CC) $(APP_CFLAGS) $< -o $@ -L$(BUILD)/lib -ltroupe \
	  -Wl,-rpath,'$$ORIGIN/../lib' $(ALL_LDFLAGS) $(LIBS_PKG) -ldl
$(BUILD)/tools/troupe: tools/troupe.c tools/json.c tools/json.h $(SHLIB) $(STAGED_HEADERS)
	@mkdir -p $(dir $@)
	$(call say,CCLD,$@)$(CC) $(APP_CFLAGS) tools/troupe.c tools/json.c -o $@ \
	  -L$(BUILD)/lib -ltroupe -Wl,-rpath,'$$ORIGIN/../lib' $(ALL_LDFLAGS) $(LIBS_PKG)
$(BUILD)/modules/lib%.so: examples/modules/%.c $(SHLIB) $(STAGED_HEADERS)
	@mkdir -p $(dir $@)
	$(call say,CCLD,$@)$(CC) $(APP_CFLAGS) -shared $< -o $@ -L$(BUILD)/lib -ltroupe $(ALL_LDFLAGS)

# --- benchmarks ---------------------------------------------------------------
$(BUILD)/bench/troupe_bench: bench/troupe_bench.c bench/troupe_user.c bench/bench.h $(STLIB) $(STAGED_HEADERS)
	@mkdir -p $(dir $@)
	$(call say,CCLD,$@)$(CC) $(APP_CFLAGS) $(filter %.c,$^) -o $@ $(STLIB) $(ALL_LDFLAGS) $(LIBS_PKG)

# Peers (raw ZeroMQ, CAF, Erlang, Node.js): rules in bench/peers/peers.mk.
PEERS_BIN :=
-include bench/peers/peers.mk
include tests/fuzz/fuzz.mk
peers: $(PEERS_BIN)

BENCH_DEB := libcaf-dev erlang-base gnuplot-nox nodejs
bench-deps: deps
	@missing=""; for p in $(BENCH_DEB); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "bench-deps: installing$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

bench: bench-deps
	$(Q)$(MAKE) --no-print-directory lib $(BENCH_BIN)
	$(Q)$(MAKE) --no-print-directory peers
	$(Q)BUILD=$(BUILD) ./bench/run

# --- tests (linked statically so they can reach internals) ------------------
tests: $(TEST_BIN) $(HDR_CHECK)
$(BUILD)/tests/%.o: tests/%.c
	@mkdir -p $(dir $@)
	$(call say,CC,$<)$(CC) $(ALL_CFLAGS) $(TEST_CFLAGS_PKG) -Itests -Iactors -DTT_SRC_TESTS='"$(CURDIR)/tests"' -c $< -o $@
$(BUILD)/tests/test_%: $(BUILD)/tests/test_%.o $(TEST_HELP_OBJ) $(STLIB)
	$(call say,LD,$@)$(CC) $^ -o $@ $(ALL_LDFLAGS) $(LIBS_PKG) $(TEST_LIBS_PKG) -lm
# The soak's module, run by troupe-node (tests/test_soak.c).
tests: $(BUILD)/tests/libsoak.so
$(BUILD)/tests/libsoak.so: tests/soak/soak.c $(SHLIB) $(STAGED_HEADERS)
	@mkdir -p $(dir $@)
	$(call say,CCLD,$@)$(CC) $(APP_CFLAGS) -shared $< -o $@ -L$(BUILD)/lib -ltroupe $(ALL_LDFLAGS)

TEST_ARGS ?= --jobs 2
check: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)./tests/run.sh $(BUILD)/tests $(TEST_ARGS)
	$(Q)./tests/examples.sh $(BUILD)/examples
	$(Q)./tests/clients.sh $(BUILD)
	$(Q)./tests/install.sh
	$(Q)BUILD=$(BUILD) ./bench/run --smoke

# The soak for 10 minutes (make check runs it for 20 s): three node
# processes under faults, with its figures printed.
SOAK_SECONDS ?= 600
TP_SOAK_SEED ?= random
soak: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)TP_SOAK_SECONDS=$(SOAK_SECONDS) TP_SOAK_SEED=$(TP_SOAK_SEED) $(BUILD)/tests/test_soak --verbose=0

sanitize: deps
	$(Q)$(MAKE) --no-print-directory SANITIZER=address all
	$(Q)TP_TEST_TIMEOUT_MULTIPLIER=3 ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp ./tests/run.sh build/asan/tests $(TEST_ARGS)

tsan: deps
	$(Q)$(MAKE) --no-print-directory SANITIZER=thread all
	$(Q)TP_TEST_TIMEOUT_MULTIPLIER=5 TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$(CURDIR)/tests/tsan.supp" ./tests/run.sh build/tsan/tests $(TEST_ARGS)

valgrind: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)TP_TEST_TIMEOUT_MULTIPLIER=20 TP_VALGRIND=1 ./tests/run.sh $(BUILD)/tests --jobs 1

DEMO ?= web_workers
demo: deps
	$(Q)$(MAKE) --no-print-directory lib examples tools
	$(Q)$(BUILD)/examples/wordcount_cluster

# the web-workers speed-up table (one process, thread actors)
demo-workers: deps
	$(Q)$(MAKE) --no-print-directory lib examples
	$(Q)$(BUILD)/examples/$(DEMO)

# --- install ------------------------------------------------------------------
# Everything `make install` writes, relative to $(DESTDIR)$(PREFIX); `make
# uninstall` removes exactly these (and the directories only troupe uses).
MAN_PAGES  := docs/man/troupe.1 docs/man/troupe-node.8 docs/man/troupe.7
DOC_FILES  := README.md docs/guide.md docs/PROTOCOL.md docs/deploy.md docs/security.md docs/performance.md
INST_ROOT  := $(DESTDIR)$(PREFIX)
INST_FILES := $(addprefix include/troupe/,$(notdir $(STAGED_HEADERS))) \
              lib/libtroupe.so.$(VERSION) lib/$(SONAME) lib/libtroupe.so lib/libtroupe.a \
              lib/pkgconfig/troupe.pc bin/troupe bin/troupe-node \
              $(addprefix lib/troupe/modules/,$(notdir $(MODULES))) \
              share/man/man1/troupe.1 share/man/man8/troupe-node.8 share/man/man7/troupe.7 \
              $(addprefix share/doc/troupe/,$(notdir $(DOC_FILES)))
INST_DIRS  := include/troupe lib/troupe/modules lib/troupe share/doc/troupe

install: lib tools
	install -d $(INST_ROOT)/lib/pkgconfig $(INST_ROOT)/include/troupe \
	  $(INST_ROOT)/bin $(INST_ROOT)/lib/troupe/modules $(INST_ROOT)/share/man/man1 \
	  $(INST_ROOT)/share/man/man7 $(INST_ROOT)/share/man/man8 $(INST_ROOT)/share/doc/troupe
	install -m 644 $(STAGED_HEADERS) $(INST_ROOT)/include/troupe/
	install -m 755 $(SHLIB) $(INST_ROOT)/lib/
	ln -sf libtroupe.so.$(VERSION) $(INST_ROOT)/lib/$(SONAME)
	ln -sf $(SONAME) $(INST_ROOT)/lib/libtroupe.so
	install -m 644 $(STLIB) $(INST_ROOT)/lib/
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' troupe.pc.in > $(INST_ROOT)/lib/pkgconfig/troupe.pc
	install -m 755 $(TOOLS_BIN) $(INST_ROOT)/bin/
	install -m 755 $(MODULES) $(INST_ROOT)/lib/troupe/modules/
	install -m 644 docs/man/troupe.1 $(INST_ROOT)/share/man/man1/
	install -m 644 docs/man/troupe-node.8 $(INST_ROOT)/share/man/man8/
	install -m 644 docs/man/troupe.7 $(INST_ROOT)/share/man/man7/
	install -m 644 $(DOC_FILES) $(INST_ROOT)/share/doc/troupe/

uninstall:
	rm -f $(addprefix $(INST_ROOT)/,$(INST_FILES))
	-rmdir $(addprefix $(INST_ROOT)/,$(INST_DIRS)) 2>/dev/null || true

clean:
	rm -rf build

-include $(LIB_OBJ:.o=.d) $(ACT_OBJ:.o=.d) $(TEST_BIN:=.d) $(TEST_HELP_OBJ:.o=.d)
